"""DeepLabv3+ on the ResNet50 trunk: atrous last stage, ASPP with image pooling, a 4x decoder.

Chen, Zhu, Papandreou, Schroff and Adam, "Encoder-Decoder with Atrous Separable Convolution for
Semantic Image Segmentation", ECCV 2018 (https://arxiv.org/abs/1802.02611), on the ResNet50 backbone
of :mod:`fcnlib.resnet` (layer names of ``keras.applications.ResNet50``, so its weights load by
name). Encoder: output stride 16 (the conv5 stage dilated by 2), then Atrous Spatial Pyramid
Pooling: a 1x1 convolution, three dilated 3x3 convolutions and image-level pooling, concatenated and
projected to 256 channels. Decoder: the ASPP output upsampled 4x bilinearly, concatenated with the
1/4 low-level features reduced to 48 channels, two 3x3 convolutions, the class scores, and a last
4x bilinear upsampling. The paper's atrous separable convolutions are plain convolutions here, as in
its ResNet-101 variant.

**Atrous rates scale with the image.** The paper's rates (6, 12, 18) at output stride 16 are for
513-pixel crops, whose 1/16 feature map is 33 cells wide. On a 96-pixel image that map is 6 cells,
and a 3x3 kernel dilated by 12 or 18 would reach only zero padding beyond its centre: every branch
would degenerate into a 1x1 convolution. :func:`atrous_rates` keeps the rates' share of the feature
map instead: ``round(rate * image_size / 513)``, at least 1 and each above the one before, so the
three branches stay distinct (96 px: 1, 2, 3; 224 px: 3, 5, 8).

Example:

>>> from fcnlib import deeplab
>>> model = deeplab.deeplabv3_plus(6, input_shape=(96, 96, 3), width=0.125)
>>> deeplab.atrous_rates(96)
(1, 2, 3)

Introduced in notebooks/08_beyond_vgg.ipynb.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from fcnlib import layers, resnet

PAPER_RATES = (6, 12, 18)  # At output stride 16 ...
PAPER_CROP = 513  # ... for crops of this many pixels.
ASPP_CHANNELS = 256  # At width 1.0, as the paper.
LOW_LEVEL_CHANNELS = 48


def atrous_rates(image_size=None) -> tuple:
    """The ASPP dilation rates for square images of ``image_size`` pixels (the paper's at 513 or None)."""
    if image_size is None:
        return PAPER_RATES
    if not image_size >= 1:
        raise ValueError(f"image_size must be a positive number of pixels; got {image_size!r}.")
    rates = []
    for rate in PAPER_RATES:  # Rounded, at least 1, and each above the last: three distinct branches.
        rates.append(max(round(rate * image_size / PAPER_CROP), rates[-1] + 1 if rates else 1))
    return tuple(rates)


@keras.saving.register_keras_serializable(package="fcnlib")
class ResizeToMatch(keras.layers.Layer):
    """Resizes ``[tensor, reference]`` bilinearly to the reference's height and width (any size).

    A 1x1 tensor (ASPP's image pooling) becomes a constant map, as in the paper's implementation.
    """

    def call(self, inputs):
        tensor, reference = inputs
        # tf.image.resize takes a size tensor; keras.ops.image.resize needs Python ints, so a model
        # traced for unknown sizes (the second size predict sees) failed there.
        return tf.image.resize(tensor, tf.shape(reference)[1:3], method="bilinear")

    def compute_output_shape(self, input_shapes):
        tensor_shape, reference_shape = input_shapes
        return (tensor_shape[0], *reference_shape[1:3], tensor_shape[3])


def _conv_bn_relu(x, filters, kernel, name, dilation=1):
    x = keras.layers.Conv2D(filters, kernel, padding="same", dilation_rate=dilation, use_bias=False,
                            name=name)(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


def deeplabv3_plus(num_classes, input_shape=(None, None, 3), weights=None, width=1.0, rates=None,
                   image_size=None, blocks=None):
    """Builds DeepLabv3+ with a ResNet50 encoder (output stride 16) and the 4x decoder.

    Args:
        num_classes: Output channels (logits).
        input_shape: ``(H, W, 3)``, caffe-preprocessed; H and W may be None (any size: the input is
            padded to a multiple of 32 and the scores cropped back).
        weights: ResNet50 weights for the trunk, see :func:`resnet.load_resnet50_weights`.
        width: Channel multiplier of the trunk, the ASPP (256) and the decoder (48, 256).
        rates: The three ASPP dilation rates; None scales the paper's (6, 12, 18) to the image
            (:func:`atrous_rates` of ``image_size``, else of ``input_shape``'s height, else 513).
        image_size: The training images' side, used when ``input_shape`` leaves it open.
        blocks: Bottleneck blocks per stage (see :func:`resnet.resnet50_trunk`); None = ResNet50.

    Returns:
        A ``keras.Model`` named ``"deeplabv3_plus"``; layers ``aspp_*``, ``decoder_*``, ``score``,
        ``upscore``; output ``(batch, H, W, num_classes)`` logits.

    Example:

    >>> model = deeplabv3_plus(21, width=0.125, image_size=96)

    Introduced in notebooks/08_beyond_vgg.ipynb.
    """
    if int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer; got {num_classes!r}.")
    rates = tuple(rates) if rates is not None else atrous_rates(image_size or input_shape[0])
    if len(rates) != 3 or len(set(rates)) != 3 or any(int(r) != r or r < 1 for r in rates):
        raise ValueError(f"rates must be three distinct positive integers; got {rates!r}.")
    channels = max(1, int(ASPP_CHANNELS * width))
    inputs = keras.Input(input_shape, name="image")
    padded = layers.PadToMultiple(32, name="pad")(inputs)  # 1/1, sides a multiple of 32
    taps = resnet.resnet50_trunk(padded, width, output_stride=16, blocks=blocks)
    features, low = taps[32], taps[4]  # 1/16 (atrous conv5), 1/4
    branches = [_conv_bn_relu(features, channels, 1, "aspp_conv1x1")]  # 1/16
    for rate in rates:
        branches.append(_conv_bn_relu(features, channels, 3, f"aspp_conv_rate{rate}", rate))
    pooled = keras.layers.GlobalAveragePooling2D(keepdims=True, name="aspp_pool")(features)  # 1x1
    pooled = _conv_bn_relu(pooled, channels, 1, "aspp_pool_conv")
    branches.append(ResizeToMatch(name="aspp_pool_resize")([pooled, features]))  # 1/16
    x = keras.layers.Concatenate(name="aspp_concat")(branches)
    x = _conv_bn_relu(x, channels, 1, "aspp_project")
    x = keras.layers.Dropout(0.1, name="aspp_dropout")(x)
    x = ResizeToMatch(name="decoder_upsample")([x, low])  # 1/4
    low = _conv_bn_relu(low, max(1, int(LOW_LEVEL_CHANNELS * width)), 1, "decoder_low")  # 1/4
    x = keras.layers.Concatenate(name="decoder_concat")([x, low])
    x = _conv_bn_relu(x, channels, 3, "decoder_conv1")
    x = _conv_bn_relu(x, channels, 3, "decoder_conv2")
    x = keras.layers.Conv2D(num_classes, 1, name="score")(x)  # 1/4
    x = ResizeToMatch(name="upscore")([x, padded])  # 1/1
    outputs = layers.CropToMatch(name="crop")([x, inputs])  # the input's own size
    model = keras.Model(inputs, outputs, name="deeplabv3_plus")
    resnet.load_resnet50_weights(model, weights)
    return model


def for_profile(profile, num_classes=2) -> keras.Model:
    """The DeepLabv3+ a profile trains, rates scaled to its images (see :func:`resnet.for_profile`)."""
    imagenet = profile.backbone_weights == "imagenet"
    return deeplabv3_plus(num_classes, weights="imagenet" if imagenet else None,
                          width=1.0 if imagenet else profile.width, image_size=profile.image_size)
