"""Tests for fcnlib.models: sizes, staged-training start, surgery, against tf.image.resize and
brute-force window classification."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from fcnlib import backbone, layers, models

BUILDERS = {"fcn32s": models.fcn32s, "fcn16s": models.fcn16s, "fcn8s": models.fcn8s}
TINY = dict(width=0.0625, fc6_kernel=3)


def _randomize(model, names, seed=0):
    rng = np.random.default_rng(seed)
    for name in names:
        layer = model.get_layer(name)
        layer.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in layer.weights])


def _images(shape, seed=0):
    return np.random.default_rng(seed).normal(0, 50, shape).astype("float32")


def test_dense_reshape_baseline_has_the_learners_parameter_counts():
    with models.shapes_only():
        model = models.dense_reshape_vgg16(weights=None)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert (model.count_params(), trainable) == (339_831_616, 205_571_072)
    assert model.count_params() - trainable == 134_260_544
    assert model.name == "dense_reshape_vgg16" and model.output_shape == (None, 224, 224, 1)


def _weight_table(model):
    return [(layer.name, [tuple(w.shape) for w in layer.weights], layer.trainable) for layer in model.layers]


@pytest.mark.parametrize("build", [
    lambda: models.dense_reshape_vgg16((64, 32, 3), weights=None, width=0.0625),
    lambda: models.fcn8s(3, **TINY),
])
def test_shapes_only_gives_the_layers_and_shapes_of_a_fully_built_model(build):
    built = build()  # The reference: every weight allocated and initialised.
    with models.shapes_only():
        shaped = build()
    assert _weight_table(shaped) == _weight_table(built)
    assert shaped.count_params() == built.count_params() > 0
    assert shaped.output_shape == built.output_shape
    fresh = models.dense_reshape_vgg16((64, 32, 3), weights=None, width=0.0625)  # Afterwards, as usual.
    assert fresh.predict(np.zeros((1, 64, 32, 3), "float32"), verbose=0).shape == (1, 64, 32, 1)


def test_dense_reshape_small_outputs_and_freezing():
    model = models.dense_reshape_vgg16((64, 64, 3), weights=None, width=0.0625)
    y = model.predict(_images((2, 64, 64, 3)), verbose=0)
    assert y.shape == (2, 64, 64, 1) and y.min() >= 0 and y.max() <= 1  # Sigmoid, as the learner's.
    assert [layer.name for layer in model.layers if layer.trainable_weights] == ["dense_mask"]
    logits = models.dense_reshape_vgg16((64, 32, 3), num_classes=3, weights=None, width=0.0625,
                                        freeze_backbone=False)
    assert logits.output_shape == (None, 64, 32, 3)
    assert logits.get_layer("dense_mask").get_config()["activation"] == "linear"
    assert len(logits.trainable_weights) == 2 * 16  # Every kernel and bias: 13 convs, 3 dense.


@pytest.mark.parametrize("name", list(BUILDERS))
def test_any_input_size_gives_an_output_of_that_size(name):
    model = BUILDERS[name](3, **TINY)
    assert model.name == name and model.output_shape == (None, None, None, 3)
    for height, width in [(1, 1), (33, 47), (64, 64), (95, 130)]:
        assert model.predict(_images((1, height, width, 3)), verbose=0).shape == (1, height, width, 3)
    with pytest.raises(ValueError, match="at least 1x1"):
        BUILDERS[name](3, input_shape=(0, 8, 3), **TINY)
    with pytest.raises(ValueError, match="empty"):
        model(np.zeros((1, 0, 8, 3), "float32"))


def test_fixed_size_inputs_work_too():
    model = models.fcn8s(2, input_shape=(33, 47, 3), **TINY)
    assert model.output_shape == (None, 33, 47, 2)


def _resize_chain(scores, factors, size):
    for factor in factors:
        scores = tf.image.resize(scores, (scores.shape[1] * factor, scores.shape[2] * factor))
    return scores.numpy()[:, : size[0], : size[1]]


@pytest.mark.parametrize("name, factors", [("fcn32s", [32]), ("fcn16s", [2, 16]), ("fcn8s", [2, 2, 8])])
def test_fresh_skip_variants_start_from_the_transferred_fcn32s(name, factors):
    """Zero-initialised skip scores add exactly nothing, so staged training starts where FCN-32s
    ended: the same 1/32 scores, upsampled bilinearly (in two or three steps instead of one)."""
    trained = models.fcn32s(3, **TINY)
    _randomize(trained, ["fc6", "fc7", "score_fr"])
    fresh = BUILDERS[name](3, **TINY)
    copied = models.transfer_weights(trained, fresh)
    assert {"block5_conv3", "fc6", "fc7", "score_fr"} <= set(copied)
    x = _images((2, 160, 190, 3), seed=1)
    coarse = keras.Model(trained.input, trained.get_layer("score_fr").output).predict(x, verbose=0)
    assert coarse.shape == (2, 5, 6, 3) and np.abs(coarse).max() > 1
    expected = _resize_chain(coarse, factors, (160, 190))
    ours = fresh.predict(x, verbose=0)
    # Away from the border, where resizing repeats edge pixels and the transposed convs see zeros.
    inner = (slice(None), slice(32, -32), slice(32, -32))
    np.testing.assert_allclose(ours[inner], expected[inner], atol=1e-4, rtol=1e-5)
    skips = [layer.name for layer in fresh.layers if layer.name.startswith("score_pool")]
    for skip in skips:
        assert not keras.Model(fresh.input, fresh.get_layer(skip).output).predict(x, verbose=0).any()


@pytest.mark.parametrize("name", ["fcn16s", "fcn8s"])
def test_trained_skips_fuse_as_in_the_paper(name):
    """With non-zero skip scores, the output is rebuilt from the taps with NumPy 1x1 convolutions
    and tf.image.resize: upsample x2, add the pool4 scores, (x2, add the pool3 scores,) upsample."""
    model = BUILDERS[name](3, **TINY)
    skips = [("block4_pool", "score_pool4"), ("block3_pool", "score_pool3")][: 1 + (name == "fcn8s")]
    _randomize(model, ["fc6", "fc7", "score_fr"] + [score for _, score in skips])
    x = _images((1, 160, 192, 3), seed=3)
    names = ["score_fr"] + [pool for pool, _ in skips]
    scores, *pools = keras.Model(model.input, [model.get_layer(n).output for n in names]).predict(x, verbose=0)
    for pool, (_, score) in zip(pools, skips, strict=False):
        kernel, bias = model.get_layer(score).get_weights()
        scores = _resize_chain(scores, [2], pool.shape[1:3]) + pool @ kernel[0, 0] + bias
    expected = _resize_chain(scores, [160 // scores.shape[1]], (160, 192))  # x16 or x8
    inner = (slice(None), slice(32, -32), slice(32, -32))
    np.testing.assert_allclose(model.predict(x, verbose=0)[inner], expected[inner], atol=1e-3, rtol=1e-4)


def test_two_bilinear_steps_are_not_one():
    """A measured fact worth knowing: x2 then x16 bilinear blurs more than x32 at once."""
    coarse = _images((1, 5, 6, 1)) / 50
    one, two = _resize_chain(coarse, [32], (160, 192)), _resize_chain(coarse, [2, 16], (160, 192))
    assert np.abs(one - two)[:, 32:-32, 32:-32].max() > 0.1


@pytest.mark.parametrize("mode, trainable, bilinear", [
    ("fixed", False, True), ("learned", True, True), ("random", True, False),
])
def test_upsampling_modes(mode, trainable, bilinear):
    model = models.fcn8s(3, upsampling=mode, **TINY)
    for name, factor in [("upscore2", 2), ("upscore_pool4", 2), ("upscore8", 8)]:
        layer = model.get_layer(name)
        assert layer.trainable is trainable and layer.strides == (factor, factor)
        kernel = layer.kernel.numpy()
        assert np.allclose(kernel, layers.bilinear_kernel(2 * factor, 3, 3)) is bilinear
    upsamplers = {"upscore2", "upscore_pool4", "upscore8"}
    trainable_names = {w.path.split("/")[0] for w in model.trainable_weights}
    assert (upsamplers <= trainable_names) is trainable
    with pytest.raises(ValueError, match="'nearest'"):
        models.fcn32s(3, upsampling="nearest", **TINY)


def test_skip_scaling_scales_the_pool_features_before_scoring():
    model = models.fcn8s(3, skip_scaling=True, **TINY)
    plain = models.fcn8s(3, **TINY)
    assert not {"scale_pool4", "scale_pool3"} & {layer.name for layer in plain.layers}
    names = ["block4_pool", "scale_pool4", "block3_pool", "scale_pool3"]
    probe = keras.Model(model.input, [model.get_layer(n).output for n in names])
    pool4, scaled4, pool3, scaled3 = probe.predict(_images((1, 64, 64, 3)), verbose=0)
    np.testing.assert_allclose(scaled4, 0.01 * pool4, rtol=1e-6)
    np.testing.assert_allclose(scaled3, 0.0001 * pool3, rtol=1e-6)
    assert model.get_layer("score_pool4").input is model.get_layer("scale_pool4").output
    assert model.get_layer("score_pool3").input is model.get_layer("scale_pool3").output


def test_head_names_strides_and_errors():
    model = models.fcn8s(3, input_shape=(64, 96, 3), **TINY)
    expected = {"fc6": (2, 3), "fc7": (2, 3), "score_fr": (2, 3), "upscore2": (4, 6),
                "score_pool4": (4, 6), "fuse_pool4": (4, 6), "upscore_pool4": (8, 12),
                "score_pool3": (8, 12), "fuse_pool3": (8, 12), "upscore8": (64, 96)}
    for name, size in expected.items():
        assert tuple(model.get_layer(name).output.shape[1:3]) == size, name
    assert model.get_layer("drop6").rate == 0.5
    for bad in [dict(num_classes=0), dict(fc6_kernel=0), dict(dropout=1.0),
                dict(input_shape=(None, None))]:
        with pytest.raises(ValueError):
            models.fcn16s(**{"num_classes": 3, **TINY, **bad})


def test_saved_fcn_reloads(tmp_path):
    model = models.fcn8s(3, upsampling="learned", **TINY)
    _randomize(model, ["score_fr", "score_pool4", "score_pool3"])
    model.save(tmp_path / "fcn8s.keras")
    reloaded = keras.saving.load_model(tmp_path / "fcn8s.keras")
    x = _images((1, 40, 72, 3))
    np.testing.assert_array_equal(model.predict(x, verbose=0), reloaded.predict(x, verbose=0))


def test_convolutionalize_reproduces_the_classifier_on_every_window():
    classifier = backbone.vgg16_classifier((64, 64, 3), num_classes=4, width=0.0625)
    _randomize(classifier, ["fc1", "fc2", "predictions"])
    conv = models.convolutionalize(classifier)
    assert [conv.get_layer(n).kernel.shape[:2] for n in ("fc6", "fc7", "score")] == [(2, 2), (1, 1), (1, 1)]
    x = _images((2, 64, 64, 3))
    logits = classifier.predict(x, verbose=0)
    assert np.abs(logits).max() > 0.1
    scores = conv.predict(x, verbose=0)
    assert scores.shape == (2, 1, 1, 4)
    np.testing.assert_allclose(scores[:, 0, 0], logits, atol=1e-4, rtol=1e-4)
    # On a larger image, score (i, j) is the classifier's dense head, written out in NumPy, applied
    # to the flattened 2x2 window of block5_pool features at (i, j).
    big = _images((1, 128, 160, 3), seed=2)
    features, scores = keras.Model(conv.input, [conv.get_layer("block5_pool").output, conv.output]
                                   ).predict(big, verbose=0)
    assert features.shape[1:3] == (4, 5) and scores.shape == (1, 3, 4, 4)
    dense = [classifier.get_layer(n).get_weights() for n in ("fc1", "fc2", "predictions")]
    for i in range(3):
        for j in range(4):
            h = features[:, i : i + 2, j : j + 2].reshape(1, -1)
            for k, (kernel, bias) in enumerate(dense):
                h = h @ kernel + bias
                h = np.maximum(h, 0) if k < 2 else h
            np.testing.assert_allclose(scores[:, i, j], h, atol=1e-4, rtol=1e-4)
    assert models.convolutionalize(classifier, padding="same").predict(big, verbose=0).shape == (1, 4, 5, 4)
    with pytest.raises(ValueError, match="Flatten"):
        models.convolutionalize(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))


def test_transfer_weights_copies_by_name_and_shape():
    source = models.fcn32s(4, width=0.0625, fc6_kernel=3)
    _randomize(source, [layer.name for layer in source.layers if layer.weights])
    same_classes = models.fcn16s(4, width=0.0625, fc6_kernel=3)
    copied = models.transfer_weights(source, same_classes)
    assert copied[-3:] == ["fc6", "fc7", "score_fr"] and len(copied) == 16
    for name in copied:
        for ours, theirs in zip(same_classes.get_layer(name).weights, source.get_layer(name).weights, strict=False):
            np.testing.assert_array_equal(ours, theirs)
    assert not same_classes.get_layer("score_pool4").kernel.numpy().any()
    other_classes = models.fcn16s(5, width=0.0625, fc6_kernel=3)
    assert "score_fr" not in models.transfer_weights(source, other_classes)
