"""Tests for fcnlib.backbone: layer names against keras.applications, weight loading by name."""

import keras
import numpy as np
import pytest

from fcnlib import backbone, config, models


def _weight_shapes(model):
    return [(layer.name, [tuple(w.shape) for w in layer.weights]) for layer in model.layers if layer.weights]


def _randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        layer.set_weights([rng.normal(0, 0.1, w.shape).astype("float32") for w in layer.weights])
    return model


def test_trunk_names_and_tap_strides_match_keras_vgg16():
    reference = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    inputs = keras.Input((64, 96, 3))
    taps = backbone.vgg16_trunk(inputs, width=0.125)
    model = keras.Model(inputs, taps["block5_pool"])
    ours = [layer.name for layer in model.layers[1:]]
    assert ours == [layer.name for layer in reference.layers[1:]]
    assert tuple(taps["block3_pool"].shape) == (None, 8, 12, 32)  # 1/8, 256 * 0.125 channels
    assert tuple(taps["block4_pool"].shape) == (None, 4, 6, 64)  # 1/16
    assert tuple(taps["block5_pool"].shape) == (None, 2, 3, 64)  # 1/32


@pytest.mark.slow
def test_full_width_classifier_has_the_layers_and_shapes_of_keras_vgg16():
    ours = backbone.vgg16_classifier((224, 224, 3), num_classes=1000, width=1.0)
    reference = keras.applications.VGG16(weights=None)
    assert _weight_shapes(ours) == _weight_shapes(reference)
    assert ours.count_params() == 138_357_544


def test_small_classifier_units_and_bad_inputs():
    model = backbone.vgg16_classifier((64, 64, 3), num_classes=4, width=0.0625)
    assert model.get_layer("fc1").units == 256 and model.output_shape == (None, 4)
    assert model.get_layer("flatten").output.shape[1] == 2 * 2 * 32
    with pytest.raises(ValueError, match="at least 32x32"):
        backbone.vgg16_classifier((None, None, 3))
    with pytest.raises(ValueError, match="width"):
        backbone.vgg16_classifier((64, 64, 3), width=0)


def test_fc_layers_reshape_into_fc6_fc7_and_compute_the_same_features():
    classifier = _randomize(backbone.vgg16_classifier((96, 96, 3), num_classes=5, width=0.0625))
    fcn = models.fcn32s(3, width=0.0625, fc6_kernel=3)
    copied = backbone.load_backbone_weights(fcn, classifier)
    conv_names = [layer.name for layer in classifier.layers if layer.name.startswith("block") and layer.weights]
    assert copied == conv_names + ["fc6", "fc7"]
    # Brute force: fc1's input row for position (i, j), channel c is (i * 3 + j) * 32 + c.
    fc1, fc6 = classifier.get_layer("fc1").kernel.numpy(), fcn.get_layer("fc6").kernel.numpy()
    for i, j, c in [(0, 0, 0), (1, 2, 5), (2, 1, 31)]:
        np.testing.assert_array_equal(fc6[i, j, c], fc1[(i * 3 + j) * 32 + c])
    # At 96 pixels fc6 (3x3, "same") sees the whole 3x3 map at the centre, as fc1 does.
    x = np.random.default_rng(1).normal(0, 50, (2, 96, 96, 3)).astype("float32")
    features = keras.Model(fcn.input, fcn.get_layer("fc7").output).predict(x, verbose=0)[:, 1, 1]
    expected = keras.Model(classifier.input, classifier.get_layer("fc2").output).predict(x, verbose=0)
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-4)


def test_load_backbone_weights_explains_mismatches_and_bad_names(tmp_path):
    classifier = backbone.vgg16_classifier((96, 96, 3), num_classes=5, width=0.0625)
    assert backbone.load_backbone_weights(classifier, None) == []
    with pytest.raises(ValueError, match="fc6_kernel"):
        backbone.load_backbone_weights(models.fcn32s(3, width=0.0625, fc6_kernel=7), classifier)
    with pytest.raises(ValueError, match="width"):
        backbone.load_backbone_weights(models.fcn32s(3, width=0.125, fc6_kernel=3), classifier)
    with pytest.raises(ValueError, match="'resnet'"):
        backbone.load_backbone_weights(classifier, "resnet")
    with pytest.raises(FileNotFoundError, match="nothere.keras"):
        backbone.load_backbone_weights(classifier, tmp_path / "nothere.keras")
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="dense")])
    with pytest.raises(ValueError, match="no VGG16 backbone layers"):
        backbone.load_backbone_weights(plain, classifier)


def test_load_from_keras_file_and_pretrain_weights_file(tmp_path):
    source = _randomize(backbone.vgg16_classifier((64, 64, 3), num_classes=2, width=0.0625))
    source.save(tmp_path / "source.keras")
    target = backbone.vgg16_classifier((64, 64, 3), num_classes=7, width=0.0625)
    copied = backbone.load_backbone_weights(target, tmp_path / "source.keras")
    assert "fc2" in copied and "predictions" not in copied
    np.testing.assert_array_equal(target.get_layer("fc2").kernel, source.get_layer("fc2").kernel)
    quick = _randomize(backbone.quick_classifier(), seed=3)
    quick.save_weights(tmp_path / "quick.weights.h5")
    fcn = models.fcn8s(6, width=config.QUICK.width, fc6_kernel=3)
    backbone.load_backbone_weights(fcn, str(tmp_path / "quick.weights.h5"))
    np.testing.assert_array_equal(fcn.get_layer("block5_conv3").bias, quick.get_layer("block5_conv3").bias)
    (tmp_path / "junk.weights.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="junk.weights.h5.*bench.pretrain"):
        backbone.load_backbone_weights(fcn, tmp_path / "junk.weights.h5")


def test_synthetic_weights_are_checked_before_use(tmp_path, monkeypatch):
    weights, sha = tmp_path / "w.weights.h5", tmp_path / "w.sha256"
    monkeypatch.setattr(config, "QUICK_BACKBONE_FILE", weights)
    monkeypatch.setattr(config, "QUICK_BACKBONE_SHA256_FILE", sha)
    model = backbone.vgg16_classifier((64, 64, 3), num_classes=2, width=0.0625)
    with pytest.raises(FileNotFoundError, match="python -m bench.pretrain"):
        backbone.load_backbone_weights(model, "synthetic")
    weights.write_bytes(b"weights")
    sha.write_text("0" * 64 + "  w.weights.h5\n")
    with pytest.raises(ValueError, match="SHA-256.*python -m bench.pretrain"):
        backbone.load_backbone_weights(model, "synthetic")


def test_imagenet_without_internet_gives_a_clear_error(monkeypatch):
    def offline(**kwargs):
        raise OSError("URL fetch failure")

    monkeypatch.setattr(keras.applications, "VGG16", offline)
    model = backbone.vgg16_classifier((64, 64, 3), num_classes=2, width=0.0625)
    with pytest.raises(ConnectionError, match="internet.*URL fetch failure"):
        backbone.load_backbone_weights(model, "imagenet")


def test_pretrained_quick_classifier_loads_predictions_too():
    import h5py

    model = backbone.quick_classifier(pretrained=True)
    with h5py.File(config.QUICK_BACKBONE_FILE) as stored:  # Keras stores the 3rd dense layer so.
        kernel = stored["layers/dense_2/vars/0"][()]
    assert kernel.shape == (1024, 5)
    np.testing.assert_array_equal(np.asarray(model.get_layer("predictions").kernel), kernel)


def test_profile_classifier_is_the_profiles_own(monkeypatch):
    import dataclasses

    quick = backbone.profile_classifier(config.QUICK, 96)
    reference = backbone.quick_classifier(pretrained=True)
    for a, b in zip(quick.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    smoke = backbone.profile_classifier(config.smoke_version(config.GPU), 64)
    assert smoke.input_shape == (None, 64, 64, 3) and smoke.get_layer("predictions").units == 5
    monkeypatch.setenv("FCN_OFFLINE", "1")
    monkeypatch.setattr(backbone, "imagenet_weights_cached", lambda: False)
    with pytest.raises(ConnectionError, match="ImageNet VGG16 weights"):
        backbone.profile_classifier(dataclasses.replace(config.GPU, smoke=False), 224)
