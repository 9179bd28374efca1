"""Shortcuts a student might submit for notebook 07's exercises fail; the reference solutions pass."""

import exercise_harness as harness

SHORTCUTS = {
    "ex07_1": {
        # The small example's answer typed in.
        "hard-coded": """
return (np.array([[[[1, 0, 0], [0, 0, 1]], [[0, 0, 0], [0, 1, 0]]]], np.float32),
        np.array([[[1, 1], [0, 1]]], np.float32))
""",
        # tf.one_hot already writes all-zero rows at 255, but lets invented labels through.
        "library": """
masks = np.asarray(masks)
return tf.one_hot(masks, num_classes).numpy(), (masks != ignore_label).astype("float32")
""",
        # The one-hot line of the lesson's soft_dice_by_hand, renamed.
        "reworded lesson cell": """
keep = (masks != ignore_label)[..., None]
encoded = np.eye(num_classes)[np.where(masks == ignore_label, 0, masks)] * keep
return encoded, keep[..., 0]
""",
    },
    "ex07_2": {
        # Right model and input, the masks typed in as all background.
        "hard-coded": """
model = recipes.build("fcn32s", TASK, profile=DEMO_PROFILE)
x = pipeline.preprocess_vgg16(tf.image.resize(images, (IMAGE_SIZE, IMAGE_SIZE)).numpy())
return model, x, np.zeros((len(images), IMAGE_SIZE, IMAGE_SIZE), np.uint8), 1e-3
""",
        # fcnlib's own sound data in place of the colleague's batch.
        "library": """
scenes, labels = synthetic.generate(len(images), IMAGE_SIZE, TASK, seed=SEED)
return recipes.build("fcn32s", TASK, profile=DEMO_PROFILE), pipeline.preprocess_vgg16(scenes), labels, LEARNING_RATE
""",
        # The lesson's fixed set-up (section 10), renamed: the colleague's 192-pixel batch as it comes.
        "reworded lesson cell": """
net = recipes.build("fcn32s", TASK, profile=DEMO_PROFILE)
return net, pipeline.preprocess_vgg16(images[:BATCH]), masks[:BATCH], LEARNING_RATE
""",
    },
    "ex07_4": {
        # A falling curve typed in, the model left untrained.
        "hard-coded": "return [float(v) for v in np.linspace(1.8, 0.5, steps)]",
        # fcnlib's check trains a copy and records the same kind of curve.
        "library": """
finding = diagnose.overfit_one_batch(model, x, y, steps=steps, learning_rate=learning_rate, loss=loss_fn)
return [float(v) for v in finding.details["losses"]]
""",
        # The lesson's overfit_losses helper, renamed: train_on_batch on a copy.
        "lesson helper": """
copy = keras.models.clone_model(model)
copy.set_weights(model.get_weights())
copy.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss_fn)
values = []
for _ in range(steps):
    copy.reset_metrics()
    values.append(float(copy.train_on_batch(x, y)))
return values
""",
        # The same lesson cell reworded to train the model itself.
        "reworded lesson cell": """
model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss_fn)
history = []
for _ in range(steps):
    model.reset_metrics()
    history.append(float(model.train_on_batch(x, y)))
return history
""",
    },
}
NO_SHORTCUT = {
    "ex07_1": {"lesson helper": "the lesson defines no one-hot encoder; its one encoding line, inside "
                                "soft_dice_by_hand, is the reworded lesson cell"},
    "ex07_2": {"lesson helper": "the task forbids no helper of the lesson; its helpers measure a set-up "
                                "(overfit_losses, constant_loss) and build none"},
}
TRAINS = {"ex07_2"}  # The reference trains a copy in overfit_one_batch: nbval runs it in the notebook.

harness.shortcut_tests(globals(), "07")
