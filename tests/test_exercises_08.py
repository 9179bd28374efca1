"""Shortcuts a student might submit for notebook 08's exercises fail; the reference solutions pass."""

import exercise_harness as harness

SHORTCUTS = {
    "ex08_1": {
        # The strides of a plain ResNet50, typed in from the layer names.
        "hard-coded": """
known = {"conv2": 4, "conv3": 8, "conv4": 16, "conv5": 32, "score": 32, "crop": 1}
return {name: known.get(name[:5], 1) for name in layer_names}
""",
        # fcnlib's trunk hands out its stages under their strides: read the stride from there.
        "library": """
taps = resnet.resnet50_trunk(keras.Input((size, size, 3)), WIDTH, blocks=BLOCKS)
stride_of = {id(tensor): key for key, tensor in taps.items() if isinstance(key, int)}
by_name = {key: stride_of[id(tensor)] for key, tensor in taps.items() if isinstance(key, str)}
return {name: by_name[name] for name in layer_names}
""",
        # Section 1's size check, reworded: the whole model's output against the input.
        "reworded lesson cell": """
out = model(np.zeros((1, size, size, 3), "float32"))
return {name: size // int(out.shape[1]) for name in layer_names}
""",
    },
    "ex08_2": {
        # Everything right but the masks, typed in as all background.
        "hard-coded": """
for layer in model.layers:
    layer.trainable = True
loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=IGNORE)
return model, pipeline.preprocess_vgg16(images), np.zeros(masks.shape, np.uint8), loss
""",
        # A model that diagnose passes, swapped in: fcnlib's d2l FCN on the same trunk weights.
        "library": """
swapped = resnet.fcn_resnet50(NUM_CLASSES, width=WIDTH, blocks=BLOCKS, weights=RESNET_WEIGHTS)
return swapped, pipeline.preprocess_vgg16(images), masks, fcnlib.metrics.segmentation_loss(NUM_CLASSES)
""",
        # The lesson's cause-4 cell, reworded: one-hot targets with void encoded as background.
        "reworded lesson cell": """
for layer in model.layers:
    layer.trainable = True
targets = np.eye(NUM_CLASSES, dtype="float32")[np.where(masks == IGNORE, 0, masks)]
return model, pipeline.preprocess_vgg16(images), targets, keras.losses.CategoricalCrossentropy(from_logits=True)
""",
    },
}
NO_SHORTCUT = {
    "ex08_1": {"lesson helper": "the lesson has no function that measures a stride; its sub-model of the trunk "
                                "(section 2) reads one layer's features, and section 1's size check is the "
                                "reworded lesson cell"},
    "ex08_2": {"lesson helper": "the task forbids no helper of the lesson: frozen_copy of the whole trunk copies "
                                "the learner's model with its weights and is a right fix"},
}

harness.shortcut_tests(globals(), "08")
