"""Tests for bench.published: the copied recipes keep the choices that define them, name their
layers after their source, and keras.io's mask resizing erodes objects as it does there."""

import dataclasses

import keras
import numpy as np

from bench import published
from fcnlib import config, layers, recipes

TINY = dataclasses.replace(config.QUICK, name="tiny", image_size=64, num_train=8, num_val=4,
                           num_test=4, batch_size=4, epochs=1)


def test_copied_recipes_keep_their_defining_choices():
    x = np.random.default_rng(0).normal(0, 50, (1, 50, 70, 3)).astype("float32")
    kio = published.keras_io_fcn8s(TINY)
    out = kio(x).numpy()
    assert out.shape == (1, 50, 70, 2)
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-5)  # Probabilities, not logits.
    assert not kio.get_layer("block1_conv1").trainable and not kio.get_layer("fc6").trainable
    assert kio.get_layer("kio_score").get_config()["activation"] == "relu"
    d2l = published.d2l_fcn(TINY)
    ups = [layer for layer in d2l.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert len(ups) == 1 and ups[0].kernel.shape[0] == 64 and ups[0].trainable
    np.testing.assert_allclose(ups[0].kernel.numpy(), layers.bilinear_kernel(64, 2, 2), atol=1e-6)
    fixed = published.d2l_fcn(TINY, upsampling="fixed")  # The bench's control: the same head, kernel frozen.
    assert not fixed.get_layer("d2l_transpose_conv").trainable and fixed.get_layer("d2l_final_conv").trainable
    assert len(fixed.trainable_weights) == len(d2l.trainable_weights) - 1  # Only the kernel (it has no bias).
    tf1 = published.tf1_blog_fcn8s(TINY)
    assert tf1(x).shape == (1, 50, 70, 2)
    kernels = sorted(layer.kernel.shape[0] for layer in tf1.layers
                     if isinstance(layer, keras.layers.Conv2DTranspose))
    assert kernels == [4, 4, 16]
    assert len(tf1.losses) == 6  # L2 on three 1x1 scores and three transposed convolutions.
    # Every layer a recipe adds to the series' trunk carries its source's prefix.
    trunk = {layer.name for layer in recipes.build("fcn32s", profile=TINY).layers}
    for prefix, model in (("kio_", kio), ("d2l_", d2l), ("tf1_", tf1)):
        added = [layer.name for layer in model.layers if layer.name not in trunk]
        assert len(added) >= 3 and all(name.startswith(prefix) for name in added), added


def test_bilinear_mask_data_erodes_objects_but_invents_no_class():
    data = published.bilinear_mask_data(TINY)
    masks = np.concatenate([y.numpy() for _, y in data])
    assert masks.shape == (8, 64, 64) and set(np.unique(masks)) <= {0, 1}
    import tensorflow as tf

    from fcnlib import synthetic
    _, big = synthetic.generate(8, 128, "binary", synthetic.SPLIT_SEEDS["train"])
    nearest = tf.image.resize(big[..., None], (64, 64), "nearest")[..., 0].numpy()
    # Truncating bilinear fractions shrinks every object: fewer foreground pixels than nearest.
    assert masks.sum() < nearest.sum()


def test_the_tutorial_unet_concatenates_every_scale_and_freezes_its_encoder_as_published():
    x = np.random.default_rng(1).normal(0, 50, (1, 50, 70, 3)).astype("float32")
    unet = published.tf_tutorial_unet(TINY)
    assert unet(x).shape == (1, 50, 70, 2)  # Any size: padded to a multiple of 32, cropped back.
    ups = [layer for layer in unet.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert [layer.name for layer in ups] == ["unet_up1", "unet_up2", "unet_up3", "unet_up4", "unet_last"]
    assert all(layer.strides == (2, 2) and layer.kernel.shape[:2] == (3, 3) for layer in ups)
    assert [layer.filters for layer in ups[:4]] == [int(f * TINY.width) for f in (512, 256, 128, 64)]
    concats = [layer for layer in unet.layers if isinstance(layer, keras.layers.Concatenate)]
    probe = keras.Model(unet.input, [layer.output for layer in concats])
    assert [tuple(out.shape[1:3]) for out in probe(x)] == [(4, 6), (8, 12), (16, 24), (32, 48)]  # 64x96 padded
    assert not unet.get_layer("block1_conv1").trainable and unet.get_layer("unet_up1").trainable
    tuned = published.BUILDERS["tf_tutorial_unet_fine_tuned"](TINY)
    assert tuned.get_layer("block1_conv1").trainable
    assert tuned.count_params() == unet.count_params()
    assert len(tuned.trainable_weights) > len(unet.trainable_weights)


def test_the_fcn32s_experiment_changes_only_the_score_start_and_the_upsampler():
    series = recipes.build("fcn32s", profile=TINY)
    for key, learned in (("fcn32s_glorot_score", False), ("fcn32s_learned_glorot_score", True)):
        model = published.EXPERIMENTS[key](TINY)
        assert [layer.name for layer in model.layers] == [layer.name for layer in series.layers]
        assert model.get_layer("upscore32").trainable is learned
        assert np.abs(model.get_layer("score_fr").kernel.numpy()).max() > 0  # Glorot, not zero
        assert not np.any(series.get_layer("score_fr").kernel.numpy())
        np.testing.assert_array_equal(model.get_layer("fc6").kernel.numpy(), series.get_layer("fc6").kernel.numpy())
