"""Tests for fcnlib.diagnose: every check fires on a broken case and stays silent on a sound one."""

import io

import keras
import numpy as np
import pytest
import tensorflow as tf

from fcnlib import diagnose

VGG_MEAN_BGR = np.array([103.939, 116.779, 123.68])


def names(findings):
    return sorted(f.name for f in findings)


def caffe(images):
    """Caffe preprocessing written out independently: RGB -> BGR, subtract the ImageNet mean."""
    return (images[..., ::-1].astype(np.float64) - VGG_MEAN_BGR).astype(np.float32)


def block_masks(n=2, size=16, classes=3):
    """Masks with large blocks of every class, background about 40 %."""
    masks = np.zeros((n, size, size), np.uint8)
    masks[:, : size // 2, size // 2:] = 1
    masks[:, size // 2:, : size // 2 + 2] = classes - 1
    return masks


def images_for(masks, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=masks.shape + (3,)).astype(np.uint8)


# ---------------------------------------------------------------------------------------- data


def test_check_data_silent_on_sound_data():
    masks = block_masks()
    assert diagnose.check_data(caffe(images_for(masks)), masks, num_classes=3) == []
    assert diagnose.check_data(caffe(images_for(masks)), masks[..., None], num_classes=3) == []


@pytest.mark.parametrize("transform, severity, word", [
    (lambda im: im / 255.0, "error", "[0, 1]"),
    (lambda im: im / 127.5 - 1.0, "error", "centred"),
    (lambda im: (im / 255.0 - 0.45) / 0.225, "error", "centred"),
    (lambda im: im.astype(np.float32), "warning", "raw"),
    (lambda im: im, "warning", "raw"),
])
def test_check_data_flags_inputs_not_caffe_preprocessed(transform, severity, word):
    masks = block_masks()
    findings = diagnose.check_data(transform(images_for(masks)), masks, num_classes=3)
    assert names(findings) == ["input_range"]
    assert findings[0].severity == severity and word in findings[0].diagnosis


def voc_like_mask(size=64):
    mask = np.zeros((size, size), np.uint8)
    quarter = size // 4
    mask[quarter:-quarter, quarter:-quarter] = 255  # A void outline around the object, as in VOC.
    mask[quarter + 1:-quarter - 1, quarter + 1:-quarter - 1] = 15
    return mask


def test_check_data_flags_bilinear_resized_masks_but_not_nearest():
    mask = voc_like_mask()[None, ..., None]
    images = caffe(images_for(np.zeros((1, 40, 40), np.uint8)))
    bilinear = tf.image.resize(mask, (40, 40), method="bilinear").numpy()
    nearest = tf.image.resize(mask, (40, 40), method="nearest").numpy().astype(np.uint8)
    fractional = diagnose.check_data(images, bilinear, num_classes=21)
    assert names(fractional) == ["mask_values"] and "fractional" in fractional[0].symptom
    rounded = np.round(bilinear).astype(np.uint8)
    stray = [f for f in diagnose.check_data(images, rounded, 21) if f.name == "mask_values"]
    expected = [v for v in np.unique(rounded).tolist() if 21 <= v < 255]
    assert len(stray) == 1 and stray[0].details["values"] == expected and len(expected) >= 2
    assert "mask_values" not in names(diagnose.check_data(images, nearest, num_classes=21))


def test_check_data_flags_binary_masks_saved_as_0_and_255():
    masks = block_masks(classes=2) * 255
    findings = diagnose.check_data(caffe(images_for(masks)), masks, num_classes=2)
    assert names(findings) == ["binary_mask_255"] and findings[0].severity == "error"
    assert diagnose.check_data(caffe(images_for(masks)), masks // 255, num_classes=1) == []


def test_check_data_reports_void_and_background_share():
    masks = np.zeros((2, 20, 20), np.uint8)
    masks[:, :2, :] = 255
    masks[:, 10:12, 10:12] = 1
    findings = {f.name: f for f in diagnose.check_data(caffe(images_for(masks)), masks, 2)}
    assert set(findings) == {"void_pixels", "background_share"}
    assert findings["void_pixels"].severity == "info" and "10.0%" in findings["void_pixels"].symptom
    labelled = (masks != 255).sum()
    expected = ((masks == 0).sum()) / labelled
    assert findings["background_share"].details["background_share"] == pytest.approx(expected)


def test_check_data_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="masks"):
        diagnose.check_data(np.zeros((2, 8, 8, 3)), np.zeros((2, 8, 9)), 2)


# ------------------------------------------------------------------------------------- one-hot


def test_check_one_hot_catches_to_categorical_of_void():
    mask = voc_like_mask(16)
    findings = diagnose.check_one_hot(keras.utils.to_categorical(mask), num_classes=21)
    assert names(findings) == ["one_hot_width"] and "255" in findings[0].diagnosis
    assert names(diagnose.check_one_hot(keras.utils.to_categorical(mask))) == ["one_hot_width"]


def test_check_one_hot_catches_all_zero_rows_from_tf_one_hot():
    mask = voc_like_mask(16)
    targets = tf.one_hot(np.where(mask == 15, 1, mask), 2).numpy()
    findings = diagnose.check_one_hot(targets, num_classes=2)
    assert names(findings) == ["one_hot_zero_rows"]
    share = (mask == 255).mean()
    assert f"{share:.1%}" in findings[0].symptom


def test_check_one_hot_silent_on_clean_targets_and_flags_resized_ones():
    mask = block_masks(1)
    clean = keras.utils.to_categorical(mask, 3)
    assert diagnose.check_one_hot(clean, num_classes=3) == []
    assert diagnose.check_data(caffe(images_for(mask)), clean, 3) == []
    blurred = tf.image.resize(clean, (11, 11), method="bilinear").numpy()
    assert names(diagnose.check_one_hot(blurred, 3)) == ["one_hot_not_one_hot"]


# --------------------------------------------------------------------------------------- model


def conv_model(classes=3, activation=None, last=None):
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(classes, 1, activation=activation)(x)
    if last is not None:
        x = last(x)
    return keras.Model(inputs, x)


def sparse_ce(from_logits=True):
    return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits, ignore_class=255)


def test_check_model_silent_on_logits_with_from_logits_loss():
    assert diagnose.check_model(conv_model(), loss=sparse_ce()) == []
    sigmoid = conv_model(1, activation="sigmoid")
    assert diagnose.check_model(sigmoid, loss=keras.losses.BinaryCrossentropy()) == []


@pytest.mark.parametrize("model", [
    lambda: conv_model(6, activation="softmax"),
    lambda: conv_model(6, last=keras.layers.Softmax()),
    lambda: conv_model(6, last=keras.layers.Activation("softmax")),
])
def test_check_model_flags_softmax_with_from_logits(model):
    model = model()
    model.compile("adam", loss=sparse_ce())
    findings = diagnose.check_model(model)
    assert names(findings) == ["probabilities_with_from_logits"]
    # The loss floor for 6 classes: softmax of probabilities in (0, 1) peaks at e / (e + 5).
    assert f"{-np.log(np.e / (np.e + 5)):.2f}" in findings[0].diagnosis
    assert diagnose.check_model(model, loss=sparse_ce(from_logits=False)) == []


def test_check_model_flags_logits_with_probability_loss():
    findings = diagnose.check_model(conv_model(), loss="sparse_categorical_crossentropy")
    assert names(findings) == ["logits_with_probability_loss"]
    assert names(diagnose.check_model(conv_model(), loss=sparse_ce(False))) == names(findings)


def test_check_model_flags_keras_mean_iou_fed_scores():
    metrics = pytest.importorskip("fcnlib.metrics")
    model = conv_model()
    model.compile("adam", sparse_ce(), metrics=[keras.metrics.MeanIoU(3, ignore_class=255)])
    assert names(diagnose.check_model(model)) == ["mean_iou_on_probabilities"]
    for ok in (keras.metrics.MeanIoU(3, sparse_y_pred=False), metrics.StreamingMeanIoU(3),
               keras.metrics.BinaryIoU()):
        assert diagnose.check_model(model, metrics=[ok]) == []
    # The diagnosis holds: a sigmoid channel fed to MeanIoU counts every pixel as class 0.
    plain = keras.metrics.MeanIoU(2)
    plain.update_state(np.array([[0, 1], [1, 1]]), np.array([[0.1, 0.9], [0.8, 0.7]])[..., None])
    assert plain.total_cm.numpy()[:, 1].sum() == 0


def backbone_model(freeze_bn, freeze_conv=True):
    inputs = keras.Input((None, None, 3))
    conv = keras.layers.Conv2D(4, 3, padding="same", name="block1_conv1")
    bn = keras.layers.BatchNormalization(name="block1_bn")
    x = bn(conv(inputs))
    outputs = keras.layers.Conv2D(3, 1, name="score")(keras.layers.ReLU()(x))
    conv.trainable = not freeze_conv
    bn.trainable = not freeze_bn
    return keras.Model(inputs, outputs)


def test_check_model_flags_trainable_batchnorm_after_frozen_layers():
    findings = diagnose.check_model(backbone_model(freeze_bn=False), loss=sparse_ce())
    assert names(findings) == ["batchnorm_in_frozen_backbone"]
    assert findings[0].details["layers"] == ["block1_bn"]
    assert diagnose.check_model(backbone_model(freeze_bn=True), loss=sparse_ce()) == []
    # Training everything, BN included, is sound.
    assert diagnose.check_model(backbone_model(False, freeze_conv=False), loss=sparse_ce()) == []
    # A whole backbone frozen as a nested model freezes its BN layers too.
    backbone = backbone_model(freeze_bn=False)
    backbone.trainable = False
    inputs = keras.Input((None, None, 3))
    outer = keras.Model(inputs, keras.layers.Conv2D(3, 1)(backbone(inputs)))
    assert diagnose.check_model(outer, loss=sparse_ce()) == []


def test_keras_runs_frozen_batchnorm_in_inference_mode():
    # The fact the diagnosis states: trainable=False BN uses moving statistics even in training.
    bn = keras.layers.BatchNormalization()
    x = np.random.default_rng(0).normal(5.0, 3.0, size=(8, 4)).astype(np.float32)
    bn(x)
    bn.trainable = False
    np.testing.assert_allclose(bn(x, training=True), bn(x, training=False))
    bn.trainable = True
    assert not np.allclose(bn(x, training=True), bn(x, training=False))


def test_check_model_flags_trainable_changed_after_compile_and_nothing_trainable():
    x, y = learnable_batch()
    model = conv_model()
    model.compile("adam", sparse_ce())
    model.train_on_batch(x, y)
    assert diagnose.check_model(model) == []
    model.layers[1].trainable = False
    findings = diagnose.check_model(model)
    assert names(findings) == ["trainable_changed_after_compile"]
    assert findings[0].details["layers"] == [model.layers[1].name]
    # The finding tells the truth: the frozen layer still trains until compile() runs again.
    kernel = model.layers[1].kernel.numpy().copy()
    model.train_on_batch(x, y)
    assert not np.allclose(kernel, model.layers[1].kernel.numpy())
    model.compile("adam", sparse_ce())
    assert diagnose.check_model(model) == []
    kernel = model.layers[1].kernel.numpy().copy()
    model.train_on_batch(x, y)
    np.testing.assert_array_equal(model.layers[1].kernel.numpy(), kernel)
    model.trainable = False
    model.compile("adam", sparse_ce())
    findings = diagnose.check_model(model)
    assert names(findings) == ["nothing_trainable"] and findings[0].severity == "error"


def test_check_model_flags_wrong_output_size_and_size_failures():
    inputs = keras.Input((None, None, 3))
    pooled = keras.layers.MaxPooling2D(2)(keras.layers.Conv2D(3, 3, padding="same")(inputs))
    assert names(diagnose.check_model(keras.Model(inputs, pooled), sparse_ce())) == ["output_size"]
    up = keras.layers.UpSampling2D(4)(keras.layers.MaxPooling2D(4)(pooled))
    skip = keras.layers.Add()([pooled, up])
    findings = diagnose.check_model(keras.Model(inputs, skip), sparse_ce())
    assert names(findings) == ["fails_on_input_size"]
    assert diagnose.check_model(keras.Model(inputs, skip), sparse_ce(), probe_size=None) == []
    # At a multiple of 32 the sizes agree, and only the halved output is left to report.
    assert names(diagnose.check_model(keras.Model(inputs, skip), sparse_ce(), probe_size=(64, 96))
                 ) == ["output_size"]


# ------------------------------------------------------------------------------ short training


def learnable_batch(classes=3, seed=0):
    """A batch whose labels follow from each pixel's colour, so a 1x1 conv can learn them."""
    x = np.random.default_rng(seed).normal(size=(4, 12, 12, 3)).astype(np.float32)
    y = (x[..., 0] > 0).astype(np.int32) + (x[..., 1] > 0.5).astype(np.int32) * (classes - 2)
    return x, y


def tape_losses(model, x, y, loss, optimizer, steps):
    """The reference: a plain GradientTape loop; the loss of each step, computed before its update."""
    losses = []
    for _ in range(steps):
        with tf.GradientTape() as tape:
            value = loss(y, model(x, training=True))
        grads = tape.gradient(value, model.trainable_weights)
        optimizer.apply_gradients(zip(grads, model.trainable_weights, strict=False))
        losses.append(float(value))
    return losses


def test_overfit_one_batch_records_the_loss_of_each_step():
    # train_on_batch returns the loss tracker's running mean: Keras 3.15 resets it in every call,
    # older versions average over all calls, which on a falling loss reads far too high. The
    # recorded curve must be each step's own loss on every version.
    keras.utils.set_random_seed(0)
    model = conv_model()
    x, y = learnable_batch()
    finding = diagnose.overfit_one_batch(model, x, y, steps=12, learning_rate=3e-2, loss=sparse_ce())
    reference = keras.models.clone_model(model)
    reference.set_weights(model.get_weights())
    expected = tape_losses(reference, x, y, sparse_ce(), keras.optimizers.Adam(3e-2), 12)
    assert expected[-1] < 0.9 * np.mean(expected)  # A running mean would read visibly higher.
    np.testing.assert_allclose(finding.details["losses"], expected, rtol=1e-4, atol=1e-5)


def test_overfit_one_batch_passes_a_sound_model_without_changing_it():
    keras.utils.set_random_seed(0)
    model = conv_model()
    before = [w.copy() for w in model.get_weights()]
    finding = diagnose.overfit_one_batch(model, *learnable_batch(), steps=40, learning_rate=3e-2,
                                         loss=sparse_ce())
    assert finding.severity == "info"
    losses = finding.details["losses"]
    assert len(losses) == 40 and losses[-1] < 0.5 * losses[0]
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def blind_model(classes=3):
    """A model whose output cannot depend on the input: a frozen all-zero layer feeds the head."""
    inputs = keras.Input((None, None, 3))
    zeros = keras.layers.Conv2D(2, 1, kernel_initializer="zeros", trainable=False)(inputs)
    return keras.Model(inputs, keras.layers.Conv2D(classes, 1)(zeros))


def test_overfit_one_batch_tells_class_frequencies_from_memorising():
    keras.utils.set_random_seed(0)
    x, y = learnable_batch()
    y[:, :2] = 255
    finding = diagnose.overfit_one_batch(blind_model(), x, y, steps=60, learning_rate=5e-2,
                                         loss=sparse_ce())
    # The constant prediction's loss is the entropy of the label frequencies, in NumPy.
    valid = y[y != 255]
    p = np.bincount(valid, minlength=3) / valid.size
    assert finding.details["constant_loss"] == pytest.approx(-(p * np.log(p)).sum(), rel=1e-4)
    assert finding.severity == "error" and "frequencies" in finding.diagnosis
    assert finding.details["losses"][-1] == pytest.approx(finding.details["constant_loss"], rel=0.1)


def test_overfit_one_batch_fails_on_softmax_twice_frozen_or_all_void():
    keras.utils.set_random_seed(0)
    x, y = learnable_batch(6)
    twice = conv_model(6, activation="softmax")
    stalled = diagnose.overfit_one_batch(twice, x, y, 40, 3e-2, loss=sparse_ce())
    assert stalled.severity == "error"
    # It stalls near the constant prediction, and the stall is blamed on the second softmax.
    assert stalled.details["losses"][-1] <= 1.2 * stalled.details["constant_loss"]
    assert "a second time" in stalled.diagnosis and "from_logits" in stalled.fix
    frozen = conv_model()
    frozen.trainable = False
    x3, y3 = learnable_batch()
    assert diagnose.overfit_one_batch(frozen, x3, y3, 5, loss=sparse_ce()).severity == "error"
    void = diagnose.overfit_one_batch(conv_model(), x3, np.full_like(y3, 255), 3, loss=sparse_ce())
    assert void.severity == "error" and "void" in void.diagnosis


def test_lr_range_check_flags_a_rate_far_off_and_accepts_a_good_one():
    keras.utils.set_random_seed(0)
    model, (x, y) = conv_model(), learnable_batch()
    kwargs = dict(learning_rates=(3e-2,), steps=10, loss=sparse_ce())
    low = diagnose.lr_range_check(model, x, y, current=1e-7, **kwargs)
    assert low.severity == "warning" and low.details["best"] == 3e-2
    assert low.details["ratios"][1e-7] == pytest.approx(1.0, abs=0.01)
    good = diagnose.lr_range_check(model, x, y, current=3e-2, **kwargs)
    assert good.severity == "info"
    model.compile(keras.optimizers.Adam(1e-7), sparse_ce())
    assert diagnose.lr_range_check(model, x, y, **kwargs).details["ratios"].keys() == {1e-7, 3e-2}
    model.trainable = False
    assert diagnose.lr_range_check(model, x, y, **kwargs).severity == "error"
    # The sweep is Adam: another optimizer's rate is not compared with it.
    model.trainable = True
    model.compile(keras.optimizers.Adadelta(1e-7), sparse_ce())
    assert diagnose.lr_range_check(model, x, y, **kwargs).details["ratios"].keys() == {3e-2}


def test_check_model_flags_adadelta_at_the_keras_default_rate():
    model = conv_model()
    model.compile(keras.optimizers.Adadelta(), sparse_ce())
    findings = diagnose.check_model(model)
    assert names(findings) == ["adadelta_learning_rate"]
    assert findings[0].details["learning_rate"] == pytest.approx(1e-3)
    model.compile(keras.optimizers.Adadelta(1.0), sparse_ce())
    assert diagnose.check_model(model) == []


def test_adadelta_at_the_default_rate_barely_trains():
    # The fact the diagnosis states, measured with an independent loop: in the same 40 steps the
    # loss falls at rate 1.0 and at Keras' default 0.001 by less than a twentieth as much.
    x, y = learnable_batch()
    drops = {}
    for rate in (1e-3, 1.0):
        keras.utils.set_random_seed(0)
        losses = tape_losses(conv_model(), x, y, sparse_ce(), keras.optimizers.Adadelta(rate), 40)
        drops[rate] = 1 - losses[-1] / losses[0]
    assert drops[1.0] > 0.05 and drops[1e-3] < drops[1.0] / 20, drops


# ------------------------------------------------------------------------------------- check_all


def test_check_all_combines_every_check_and_reports_a_failing_loss():
    keras.utils.set_random_seed(0)
    x, y = learnable_batch()
    model = conv_model()
    findings = diagnose.check_all(model, x, y, loss=sparse_ce(), steps=40, learning_rate=3e-2,
                                  learning_rates=(3e-2,))
    by_name = {f.name: f for f in findings}
    # Standard-normal inputs are no caffe-preprocessed images, and the two training runs report.
    assert set(by_name) == {"input_range", "overfit_one_batch", "learning_rate"}
    assert by_name["overfit_one_batch"].severity == "info"
    assert by_name["input_range"].severity == "error"
    # A loss without ignore_class meets 255: the checks report it instead of raising (CPU raises;
    # a GPU may return NaN, which overfit_one_batch reports as an error too).
    y[:, 0] = 255
    plain = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    findings = diagnose.check_all(model, x, y, loss=plain, steps=3, learning_rates=(1e-2,))
    failing = [f for f in findings if f.name in ("training_fails", "overfit_one_batch")]
    assert failing and all(f.severity == "error" for f in failing)
    if failing[0].name == "training_fails":  # TF's message, without its graph trace and label dump.
        assert "label value of 255" in failing[0].symptom and "Label values" not in failing[0].symptom


# -------------------------------------------------------------------------------------- report


def test_report_prints_errors_first_and_says_when_all_is_well():
    out = io.StringIO()
    diagnose.report([diagnose.Finding("b", "s1", "d1", "f1", "info"),
                     diagnose.Finding("a", "s2", "d2", "f2", "error")], file=out)
    text = out.getvalue()
    assert text.index("[ERROR] a") < text.index("[INFO] b")
    for part in ("Symptom:", "Diagnosis:", "Fix:", "s2", "d2", "f2", "2 finding(s)"):
        assert part in text
    out = io.StringIO()
    diagnose.report([], file=out)
    assert out.getvalue() == "No problems found.\n"


# ------------------------------------------------------------------------- one compiled copy


def wide_model(channels=256, classes=3):
    """About 1.2 M weights (4.7 MB) on a cheap computation: what TensorFlow keeps of a graph shows."""
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(channels, 1, activation="relu")(inputs)
    x = keras.layers.Conv2D(channels, 3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(channels, 3, padding="same", activation="relu")(x)
    return keras.Model(inputs, keras.layers.Conv2D(classes, 1)(x))


def resident_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def test_lr_range_check_starts_every_rate_afresh_and_compiles_once():
    # Every rate's curve is that of a fresh Adam from the model's weights (independent loop), and the
    # sweep reuses one compiled copy: TensorFlow keeps memory of every training graph it traced
    # (about five times the weights), so a copy per rate made each sweep grow the process by that
    # much per rate, and the debugging notebook past 2 GB.
    keras.utils.set_random_seed(0)
    model, (x, y) = conv_model(), learnable_batch()
    rates = (1e-3, 3e-2, 1e-1)
    finding = diagnose.lr_range_check(model, x, y, rates, steps=6, loss=sparse_ce())
    for rate in rates:
        reference = keras.models.clone_model(model)
        reference.set_weights(model.get_weights())
        expected = tape_losses(reference, x, y, sparse_ce(), keras.optimizers.Adam(rate), 6)
        assert finding.details["ratios"][rate] == pytest.approx(expected[-1] / expected[0], rel=1e-3)
    wide, x = wide_model(), x[:2, :4, :4]
    weights_mb = wide.count_params() * 4 / 2**20
    diagnose.lr_range_check(wide, x, y[:2, :4, :4], (1e-3,), steps=2, loss=sparse_ce())  # Warm-up.
    before = resident_mb()
    diagnose.lr_range_check(wide, x, y[:2, :4, :4], np.geomspace(1e-5, 1e-1, 8), steps=2,
                            loss=sparse_ce())
    grown = resident_mb() - before
    assert grown < 3 * 5 * weights_mb, f"8 rates grew the process by {grown:.0f} MB"


# ----------------------------------------------------------------- the backbone's preprocessing


def tf_mode(images):
    return images.astype(np.float32) / 127.5 - 1.0


def torch_mode(images):
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    return ((images / 255.0 - mean) / std).astype(np.float32)


@pytest.mark.parametrize("mode, right, wrong", [
    ("caffe", caffe, (tf_mode, torch_mode, lambda im: im / 255.0)),
    ("tf", tf_mode, (caffe, lambda im: im / 255.0, lambda im: im.astype(np.float32))),
    ("torch", torch_mode, (caffe, lambda im: im / 255.0, lambda im: im.astype(np.float32))),
])
def test_check_data_judges_inputs_by_the_backbones_own_preprocessing(mode, right, wrong):
    masks = block_masks()
    images = images_for(masks)
    assert diagnose.check_data(right(images), masks, 3, preprocessing=mode) == []
    for transform in wrong:
        findings = diagnose.check_data(transform(images), masks, 3, preprocessing=mode)
        assert names(findings) == ["input_range"] and findings[0].severity == "error"
    with pytest.raises(ValueError, match="'bgr'"):
        diagnose.check_data(right(images), masks, 3, preprocessing="bgr")


def test_expected_preprocessing_reads_the_backbone_from_layer_names():
    from fcnlib import deeplab, models, resnet

    tiny = 0.0625
    assert diagnose.expected_preprocessing(
        keras.applications.Xception(weights=None, include_top=False, input_shape=(71, 71, 3))) == "tf"
    assert diagnose.expected_preprocessing(
        keras.applications.ResNet50V2(weights=None, include_top=False, input_shape=(32, 32, 3))) == "tf"
    for model in (models.fcn8s(3, width=tiny, fc6_kernel=1), resnet.fcn_resnet50(3, width=tiny),
                  deeplab.deeplabv3_plus(3, width=tiny)):
        assert diagnose.expected_preprocessing(model) == "caffe", model.name
    assert diagnose.expected_preprocessing(conv_model()) is None


def test_check_one_hot_names_void_255_written_into_the_targets():
    mask = voc_like_mask(32)[None]
    targets = np.eye(21, dtype=np.float32)[np.where(mask == 255, 0, mask)]
    assert diagnose.check_one_hot(targets, 21) == []
    targets[mask == 255] = 255.0  # The learner's targets: 255 in every channel of a void pixel.
    findings = diagnose.check_one_hot(targets, 21)
    assert names(findings) == ["one_hot_void_255"] and findings[0].severity == "error"
    assert f"{(mask == 255).mean():.1%}" in findings[0].symptom
    images = caffe(images_for(mask))
    assert names(diagnose.check_data(images, targets, 21)) == ["one_hot_void_255"]
    assert names(diagnose.check_data(tf_mode(images_for(mask)), targets, 21)) == [
        "input_range", "one_hot_void_255"]


def _three_models():
    from fcnlib import deeplab, models, resnet

    tiny, short = 0.0625, (1, 1, 1, 1)  # One block per stage: a training graph traces in seconds.
    return {"fcn8s": models.fcn8s(3, width=tiny, fc6_kernel=1, dropout=0.0),
            # With skips: a 1/32 score map of a small test image has too few cells to memorise it.
            "fcn_resnet50": resnet.fcn_resnet50(3, width=tiny, blocks=short, skips=True),
            "deeplabv3_plus": deeplab.deeplabv3_plus(3, width=tiny, image_size=32, blocks=short)}


def test_check_all_finds_nothing_on_the_correct_set_up_of_each_model_and_each_bug():
    keras.utils.set_random_seed(0)
    masks = block_masks(n=2, size=32)
    x = caffe(images_for(masks))
    for name, model in _three_models().items():
        # check_all's own number of steps (40): at 24 the tiny ResNet FCN memorised the batch with
        # oneDNN off but stopped just short of the mark with it on (same seed, other rounding).
        findings = diagnose.check_all(model, x, masks, learning_rate=3e-3, learning_rates=(3e-3,))
        assert [f.name for f in findings if f.severity != "info"] == [], (name, findings)
        assert diagnose.check_data(tf_mode(images_for(masks)), masks, 3,
                                   preprocessing=diagnose.expected_preprocessing(model))
        twice = keras.Model(model.input, keras.layers.Softmax()(model.output))
        assert names(diagnose.check_model(twice, loss=sparse_ce(), probe_size=None)) == [
            "probabilities_with_from_logits"]


class _FixedLosses:
    """A stand-in trainer that returns a given loss curve, to test the verdict alone."""

    def __init__(self, model, losses):
        self.model, self._losses = model, losses

    def losses(self, x, y, learning_rate, steps):
        return list(self._losses)


@pytest.mark.parametrize("ratios, severity", [
    ([1.6, 1.0, 0.74, 0.8], "info"),  # The worst sound set-up measured: its best loss reached 0.73-0.74.
    ([1.6, 1.0, 0.95, 0.92], "error"),  # Softmax applied twice stalls at 0.92-0.95 of the frequency loss.
    ([1.6, 1.0, 0.86, 0.86], "error"),  # Just above the bar.
    ([1.6, 0.8, float("nan")], "error"),  # A run that ends in NaN fails, whatever it reached before.
])
def test_the_verdict_is_the_lowest_loss_against_the_class_frequency_loss(ratios, severity):
    x, y = learnable_batch()
    model = conv_model()
    constant = diagnose._constant_loss(model, y, sparse_ce())
    trainer = _FixedLosses(model, [r * constant for r in ratios])
    finding = diagnose._overfit_one_batch(trainer, x, y, len(ratios), 1e-3, sparse_ce())
    assert finding.severity == severity
    assert finding.details["best_loss"] == pytest.approx(min(r for r in ratios if r == r) * constant)


def test_a_model_keras_cannot_clone_is_reported_as_such_not_as_a_training_failure():
    inputs = keras.Input((None, None, 3))
    halved = keras.layers.Lambda(lambda t: t * 0.5)(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1)(halved))
    x, y = learnable_batch()
    findings = {f.name: f for f in diagnose.check_all(model, x, y, 3, loss=sparse_ce(), steps=2)}
    assert "training_fails" not in findings
    assert findings["cannot_clone"].severity == "warning" and "Lambda" in findings["cannot_clone"].diagnosis


def test_images_preprocessed_twice_are_named():
    from fcnlib import pipeline

    images = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3)).astype(np.uint8)
    once, twice = pipeline.preprocess_vgg16(images), pipeline.preprocess_vgg16(pipeline.preprocess_vgg16(images))
    masks = np.zeros((2, 16, 16), np.uint8)
    assert not [f for f in diagnose.check_data(once, masks, 2) if f.name == "input_range"]
    (finding,) = [f for f in diagnose.check_data(twice, masks, 2) if f.name == "input_range"]
    assert finding.severity == "error" and "preprocessed twice" in finding.diagnosis


def test_a_softmax_hidden_in_a_lambda_is_found_from_its_outputs():
    inputs = keras.Input((None, None, 3))
    logits = keras.layers.Conv2D(3, 1)(inputs)
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: keras.ops.softmax(t, axis=-1))(logits))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    names = [f.name for f in diagnose.check_model(model, probe_size=None)]
    assert "probabilities_with_from_logits" in names
    plain = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2.0)(logits))
    plain.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert "probabilities_with_from_logits" not in [f.name for f in diagnose.check_model(plain, probe_size=None)]
