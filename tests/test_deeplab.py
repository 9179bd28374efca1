"""Tests for fcnlib.deeplab: DeepLabv3+'s parts at output stride 16, the atrous rates scaled to the
image, saving and loading. What DeepLab shares with the ResNet50 FCN (the trunk's names and weights,
any input size) is tested in tests/test_resnet.py."""

import keras
import numpy as np
import pytest

from fcnlib import deeplab

TINY = 0.0625


def test_deeplab_has_the_papers_parts_and_output_stride_16():
    model = deeplab.deeplabv3_plus(3, input_shape=(96, 96, 3), width=TINY)
    names = {layer.name for layer in model.layers}
    assert {"aspp_conv1x1", "aspp_conv_rate1", "aspp_conv_rate2", "aspp_conv_rate3", "aspp_pool",
            "aspp_project", "decoder_low", "decoder_conv1", "score", "upscore"} <= names
    assert model.get_layer("conv5_block3_out").output.shape[1:3] == (6, 6)  # 96 / 16
    assert model.get_layer("decoder_concat").output.shape[1:3] == (24, 24)  # 96 / 4
    assert model.get_layer("conv5_block1_2_conv").dilation_rate == (2, 2)
    assert model.get_layer("aspp_conv_rate3").dilation_rate == (3, 3)


def test_atrous_rates_keep_their_share_of_the_feature_map():
    assert deeplab.atrous_rates(513) == (6, 12, 18)
    assert deeplab.atrous_rates(None) == (6, 12, 18)
    assert deeplab.atrous_rates(96) == (1, 2, 3)
    assert deeplab.atrous_rates(224) == (3, 5, 8)
    assert deeplab.atrous_rates(32) == (1, 2, 3)  # Distinct branches even on tiny images.
    with pytest.raises(ValueError, match="rates"):
        deeplab.deeplabv3_plus(3, width=TINY, rates=(6, 12))
    with pytest.raises(ValueError, match="distinct"):
        deeplab.deeplabv3_plus(3, width=TINY, rates=(1, 1, 2))


def test_deeplab_saves_and_reloads(tmp_path):
    x = np.random.default_rng(3).normal(0, 50, (1, 40, 56, 3)).astype("float32")
    model = deeplab.deeplabv3_plus(3, width=TINY, image_size=96)  # Its ResizeToMatch layers are fcnlib's own.
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(again(x), model(x), atol=1e-5)
