"""Tests for fcnlib.resnet (and what it shares with fcnlib.deeplab): keras.applications.ResNet50's
names and weights, any input size, the d2l head's bilinear start."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from fcnlib import deeplab, layers, resnet

TINY = 0.0625


@pytest.fixture(scope="module")
def keras_resnet50():
    """keras.applications.ResNet50 (random weights, 64 px) with BatchNorm statistics made non-trivial."""
    model = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(64, 64, 3))
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 2.0, variance.shape)])
    return model


@pytest.fixture(scope="module")
def loaded(keras_resnet50, tmp_path_factory):
    """Both builders at width 1.0, their trunks loaded from keras_resnet50's saved weights file."""
    path = tmp_path_factory.mktemp("weights") / "resnet50.weights.h5"
    keras_resnet50.save_weights(path)
    return {"fcn_resnet50": resnet.fcn_resnet50(21, weights=path),
            "deeplabv3_plus": deeplab.deeplabv3_plus(21, weights=path)}


def _trunk_names(model):
    return {layer.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)}


@pytest.mark.parametrize("name", ["fcn_resnet50", "deeplabv3_plus"])
def test_builders_carry_keras_resnet50_layer_names_at_width_one(keras_resnet50, loaded, name):
    model = loaded[name]
    expected = _trunk_names(keras_resnet50)
    assert len(expected) == 174
    assert expected <= _trunk_names(model)
    for layer in ("conv1_conv", "conv3_block1_0_conv", "conv5_block3_3_bn"):
        assert [w.shape for w in model.get_layer(layer).weights] == \
            [w.shape for w in keras_resnet50.get_layer(layer).weights]


def test_saved_resnet50_weights_load_by_name_and_give_the_same_features(keras_resnet50, loaded):
    x = np.random.default_rng(1).normal(0, 50, (2, 64, 64, 3)).astype("float32")
    for name, tap in (("fcn_resnet50", "conv5_block3_out"),
                      ("deeplabv3_plus", "conv4_block6_out")):  # DeepLab's conv5 is atrous.
        model = loaded[name]
        features = keras.Model(model.input, model.get_layer(tap).output)(x)
        reference = keras.Model(keras_resnet50.input, keras_resnet50.get_layer(tap).output)(x)
        np.testing.assert_allclose(features, reference, rtol=1e-4, atol=1e-4)
    # DeepLab's dilated conv5 holds the same weights.
    np.testing.assert_array_equal(model.get_layer("conv5_block2_2_conv").get_weights()[0],
                                  keras_resnet50.get_layer("conv5_block2_2_conv").get_weights()[0])


def test_weights_of_another_width_are_refused_with_the_layer_name(keras_resnet50):
    with pytest.raises(ValueError, match="conv1_conv"):
        resnet.fcn_resnet50(3, width=0.5, weights=keras_resnet50)
    with pytest.raises(FileNotFoundError, match="missing.weights.h5"):
        resnet.fcn_resnet50(3, width=TINY, weights="missing.weights.h5")


BUILDERS = {
    "fcn_resnet50": lambda: resnet.fcn_resnet50(3, width=TINY),
    "fcn8s_resnet50": lambda: resnet.fcn_resnet50(3, width=TINY, skips=True),
    "deeplabv3_plus": lambda: deeplab.deeplabv3_plus(3, width=TINY, image_size=96),
}


@pytest.mark.parametrize("name", BUILDERS)
def test_output_has_the_input_size_for_odd_sizes(name):
    model = BUILDERS[name]()
    assert model.name == name
    for height, width in ((33, 47), (1, 1), (95, 64), (97, 31)):
        assert model(np.zeros((1, height, width, 3), "float32")).shape == (1, height, width, 3)


def test_d2l_head_starts_as_bilinear_upsampling_of_the_scores():
    model = resnet.fcn_resnet50(3, width=TINY)
    upscore = model.get_layer("upscore")
    assert (upscore.kernel_size, upscore.strides, upscore.trainable) == ((64, 64), (32, 32), True)
    x = np.random.default_rng(2).normal(0, 50, (1, 128, 128, 3)).astype("float32")
    scores = keras.Model(model.input, model.get_layer("score").output)(x)
    resized = tf.image.resize(scores, (128, 128), "bilinear")
    # Away from a border of 32 pixels, the transposed convolution equals bilinear resizing.
    np.testing.assert_allclose(model(x)[:, 32:-32, 32:-32], resized[:, 32:-32, 32:-32], atol=1e-4)
    skips = resnet.fcn_resnet50(3, width=TINY, skips=True)
    for name in ("score_conv4", "score_conv3"):
        assert not np.any(skips.get_layer(name).get_weights()[0]), f"{name} should start at zero"


def test_pad_and_crop_come_from_fcnlib_layers():
    model = resnet.fcn_resnet50(3, width=TINY)
    assert isinstance(model.get_layer("pad"), layers.PadToMultiple)
    assert isinstance(model.get_layer("crop"), layers.CropToMatch)


def test_for_profile_builds_the_profiles_models_without_imagenet_weights():
    import dataclasses

    from fcnlib import config

    profile = dataclasses.replace(config.QUICK, width=TINY)
    fcn, dl = resnet.for_profile(profile, 2), deeplab.for_profile(profile, 2)
    assert fcn.get_layer("conv1_conv").filters == 4 and dl.output_shape == (None, None, None, 2)
    assert dl.get_layer("aspp_conv_rate3").dilation_rate == (3, 3)  # Rates for 96-pixel scenes.
