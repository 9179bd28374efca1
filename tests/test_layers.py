"""Tests for fcnlib.layers against brute-force loops, NumPy and tf.image.resize."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from fcnlib import layers


def _tent_by_loops(kernel_size):
    """The bilinear weights written out tap by tap: distance from the centre over the factor."""
    factor = (kernel_size + 1) // 2
    center = (kernel_size - 1) / 2  # The middle tap, or halfway between the two middle taps.
    weights = np.zeros((kernel_size, kernel_size))
    for i in range(kernel_size):
        for j in range(kernel_size):
            weights[i, j] = (1 - abs(i - center) / factor) * (1 - abs(j - center) / factor)
    return weights


@pytest.mark.parametrize("kernel_size", [1, 2, 3, 4, 5, 16, 64])
def test_bilinear_kernel_matches_loops_and_is_diagonal(kernel_size):
    kernel = layers.bilinear_kernel(kernel_size, 3, 3)
    assert kernel.shape == (kernel_size, kernel_size, 3, 3) and kernel.dtype == np.float32
    for c in range(3):
        np.testing.assert_allclose(kernel[:, :, c, c], _tent_by_loops(kernel_size), atol=1e-7)
    off_diagonal = kernel * (1 - np.eye(3))[None, None]
    assert not off_diagonal.any()


def test_bilinear_kernel_known_values():
    # The classic values: x2 upsampling taps 1/4, 3/4, 3/4, 1/4; an odd kernel peaks at 1.
    np.testing.assert_allclose(layers.bilinear_kernel(4, 1, 1)[0, :, 0, 0], [1 / 16, 3 / 16, 3 / 16, 1 / 16])
    np.testing.assert_allclose(layers.bilinear_kernel(3, 1, 1)[1, :, 0, 0], [0.5, 1, 0.5])


def test_bilinear_kernel_rejects_bad_arguments():
    with pytest.raises(ValueError, match="in_channels \\(3\\).*out_channels \\(4\\)"):
        layers.bilinear_kernel(4, 3, 4)
    with pytest.raises(ValueError, match="kernel_size"):
        layers.bilinear_kernel(0, 1, 1)


def _bilinear_transposed_conv(x, factor):
    layer = keras.layers.Conv2DTranspose(
        x.shape[-1], 2 * factor, strides=factor, padding="same", use_bias=False
    )
    layer.build(x.shape)
    layer.kernel.assign(layers.bilinear_kernel(2 * factor, x.shape[-1], x.shape[-1]))
    return layer(x).numpy()


@pytest.mark.parametrize("factor", [2, 4, 8, 16, 32])
def test_transposed_conv_equals_bilinear_resize_inside_half_factor_border(factor):
    x = np.random.default_rng(factor).uniform(1, 2, size=(1, 5, 6, 2)).astype(np.float32)
    ours = _bilinear_transposed_conv(x, factor)
    resized = tf.image.resize(x, (5 * factor, 6 * factor), method="bilinear").numpy()
    border = factor // 2
    inner = (slice(None), slice(border, -border), slice(border, -border))
    np.testing.assert_allclose(ours[inner], resized[inner], rtol=0, atol=2e-6)
    # The border of factor // 2 pixels is tight: the outermost rows and columns differ, because the
    # transposed convolution sees zeros beyond the edge while resizing repeats the edge pixel.
    assert np.abs(ours[0, border - 1] - resized[0, border - 1]).min() > 1e-3
    assert np.abs(ours[0, -border] - resized[0, -border]).min() > 1e-3


def test_initializer_fills_a_transposed_conv_and_round_trips_its_config():
    init = layers.BilinearInitializer()
    np.testing.assert_array_equal(init((8, 8, 2, 2)), _tent_by_loops(8)[:, :, None, None] * np.eye(2))
    restored = keras.initializers.deserialize(keras.initializers.serialize(init))
    assert isinstance(restored, layers.BilinearInitializer)
    assert restored.get_config() == init.get_config()
    with pytest.raises(ValueError, match="square"):
        init((4, 3, 1, 1))


@pytest.mark.parametrize("mode, trainable, bilinear", [
    ("fixed", False, True), ("learned", True, True), ("random", True, False),
])
def test_upsample_layer_modes(mode, trainable, bilinear):
    layer = layers.upsample_layer(3, 8, mode=mode, name="upscore8")
    layer.build((None, 4, 4, 3))
    assert layer.name == "upscore8" and layer.trainable is trainable
    assert (len(layer.trainable_weights), len(layer.weights)) == (int(trainable), 1)
    assert layer.kernel.shape == (16, 16, 3, 3)
    is_bilinear = np.allclose(layer.kernel.numpy(), layers.bilinear_kernel(16, 3, 3))
    assert is_bilinear is bilinear
    assert layer(np.ones((1, 3, 5, 3), "float32")).shape == (1, 24, 40, 3)


def test_upsample_layer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="'bicubic'"):
        layers.upsample_layer(3, 2, mode="bicubic")
    with pytest.raises(ValueError, match="factor"):
        layers.upsample_layer(3, 0)


def _pad_crop_model():
    image = keras.Input((None, None, 3))
    padded = layers.PadToMultiple(32, name="pad")(image)
    up = layers.upsample_layer(3, 2, mode="fixed", name="upscore2")(padded)
    small = keras.layers.MaxPooling2D(2)(up)  # Back to the padded size.
    return keras.Model(image, [padded, layers.CropToMatch(name="crop")([small, image])])


@pytest.mark.parametrize("height, width", [(1, 1), (33, 47), (64, 64), (95, 130)])
def test_pad_and_crop_are_exact_on_any_size(height, width):
    image = keras.Input((None, None, 3))
    padded = layers.PadToMultiple(32)(image)
    doubled = keras.layers.Rescaling(2.0)(padded)
    model = keras.Model(image, [padded, layers.CropToMatch()([doubled, image])])
    x = np.random.default_rng(0).uniform(1, 2, size=(2, height, width, 3)).astype(np.float32)
    padded, cropped = model.predict(x, verbose=0)
    target = (-(-height // 32) * 32, -(-width // 32) * 32)
    expected = np.pad(x, [(0, 0), (0, target[0] - height), (0, target[1] - width), (0, 0)])
    np.testing.assert_array_equal(padded, expected)
    np.testing.assert_array_equal(cropped, 2 * x)


def test_pad_and_crop_shapes_and_errors():
    image = keras.Input((33, 47, 3))
    padded = layers.PadToMultiple(32)(image)
    assert tuple(padded.shape) == (None, 64, 64, 3)
    assert tuple(layers.CropToMatch()([padded, image]).shape) == (None, 33, 47, 3)
    with pytest.raises(ValueError, match="empty"):
        layers.PadToMultiple(32)(np.zeros((1, 0, 5, 3), "float32"))
    with pytest.raises(ValueError, match="larger reference"):
        layers.CropToMatch()([image, padded])
    with pytest.raises(ValueError, match="multiple"):
        layers.PadToMultiple(0)


def test_saved_model_with_the_custom_objects_reloads(tmp_path):
    model = _pad_crop_model()
    model.get_layer("upscore2").kernel.assign(np.zeros((4, 4, 3, 3), "float32"))
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    x = np.random.default_rng(1).normal(size=(1, 40, 33, 3)).astype(np.float32)
    for ours, theirs in zip(model.predict(x, verbose=0), reloaded.predict(x, verbose=0), strict=False):
        np.testing.assert_array_equal(ours, theirs)
    up = reloaded.get_layer("upscore2")
    assert isinstance(up.kernel_initializer, layers.BilinearInitializer) and not up.trainable
    assert reloaded.get_layer("pad").multiple == 32
    assert not up.kernel.numpy().any()  # The saved (zeroed) weights, not a fresh initialisation.


def test_tolerance_scales_with_the_compute_dtype_and_the_values():
    assert layers.tolerance("float32") == pytest.approx(1e-5)
    assert layers.tolerance("float32", values=np.array([-10.0, 4.0])) == pytest.approx(1e-4)
    assert layers.tolerance("float32", "mixed_float16", values=10.0) == pytest.approx(0.1)  # The least precise side.
    assert layers.tolerance(keras.DTypePolicy("mixed_bfloat16")) > layers.tolerance("float16")
    with pytest.raises(ValueError, match="int8"):
        layers.tolerance("int8")


def test_notebook_05s_rebuild_check_holds_under_mixed_float16_with_trained_size_logits():
    # Notebook 05 checks that FCN-32s equals its score_fr map upsampled x32 by a fresh float32 layer.
    # In the gpu profile the FCN-32s computes in float16; with logits around +-10 the two differ by far
    # more than a float32 tolerance of 1e-4, and the check must follow the model's precision.
    from fcnlib import models

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(0)
        model = models.fcn32s(2, weights=None, width=0.0625, fc6_kernel=3)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    images = np.random.default_rng(0).normal(0, 50, (2, 96, 96, 3)).astype("float32")
    probe = keras.Model(model.input, model.get_layer("score_fr").output)
    score_fr = model.get_layer("score_fr")
    kernel = np.random.default_rng(1).normal(0, 1, score_fr.get_weights()[0].shape).astype("float32")
    score_fr.set_weights([kernel, np.zeros(2, "float32")])
    size = np.abs(np.asarray(probe(images), "float32")).max()
    score_fr.set_weights([kernel * 10 / size, np.zeros(2, "float32")])  # Trained-size logits: about +-10.

    scores = np.asarray(probe(images), "float32")
    logits = np.asarray(model(images), "float32")
    one_step = layers.upsample_layer(2, 32, "fixed", name="upscore32_float32")(scores).numpy()
    gap = np.abs(one_step - logits).max()
    assert model.get_layer("upscore32").compute_dtype == "float16" and 5 < np.abs(logits).max() < 20
    assert gap > 1e-4, "the old float32 tolerance would fail here"
    assert gap < layers.tolerance(model, "float32", values=logits), "the precision-aware tolerance holds"
