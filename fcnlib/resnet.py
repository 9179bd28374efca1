"""The ResNet50 backbone and the d2l FCN on it: a residual trunk with Keras' layer names.

``resnet50_trunk`` applies ResNet50 (He, Zhang, Ren and Sun, "Deep Residual Learning for Image
Recognition", https://arxiv.org/abs/1512.03385, the 50-layer "bottleneck" network of Table 1) with the
layer names of ``keras.applications.ResNet50`` (``conv1_conv``, ``conv2_block1_1_conv`` ...
``conv5_block3_out``), so that its ImageNet weights, or any saved ResNet50, load by name
(:func:`load_resnet50_weights`). A ``width`` multiplier scales every layer's channels for the quick
profile; at ``width=1.0`` the trunk is ResNet50. ``output_stride=16`` runs the last stage at 1/16
with dilated 3x3 convolutions (the "atrous" trunk of DeepLab, :mod:`fcnlib.deeplab`); the weights'
shapes do not change, so the same weights load.

ResNet50 in Keras expects caffe-style input (``keras.applications.resnet50.preprocess_input``:
RGB->BGR, ImageNet mean subtracted, no scaling), the same as VGG16, so
``pipeline.preprocess_vgg16`` is its preprocessing too.

Example:

>>> from fcnlib import resnet
>>> model = resnet.fcn_resnet50(6, width=0.125)
>>> model.output_shape
(None, None, None, 6)

Introduced in notebooks/08_beyond_vgg.ipynb.
"""

from __future__ import annotations

from pathlib import Path

import keras

from fcnlib import config, layers

# (filters of the bottleneck, blocks) of ResNet50's four residual stages, conv2 ... conv5.
RESNET50_STAGES = ((64, 3), (128, 4), (256, 6), (512, 3))
BN_EPSILON = 1.001e-5  # As keras.applications.ResNet50.
# The ResNet whose weights ship in data/ (config.QUICK_RESNET_FILE), trained on the synthetic scenes
# by `python -m bench.pretrain --backbone resnet50`: 1/8 of ResNet50's channels, one bottleneck block
# per stage (the first block of each of ResNet50's stages, with its layer names), 64x64 input.
QUICK_WIDTH = 0.125
QUICK_BLOCKS = (1, 1, 1, 1)
QUICK_IMAGE_SIZE = 64
REBUILD_COMMAND = "python -m bench.pretrain --backbone resnet50"


def _scaled(channels, width):
    return max(1, int(channels * width))


def _conv_bn(x, filters, kernel, name, strides=1, dilation=1, relu=True):
    x = keras.layers.Conv2D(filters, kernel, strides=strides, padding="same" if kernel > 1 else "valid",
                            dilation_rate=dilation, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x) if relu else x


def _bottleneck(x, filters, name, strides=1, dilation=1, shortcut_conv=False):
    """One bottleneck block (1x1, 3x3, 1x1 with 4x the filters) and its identity or 1x1 shortcut."""
    if shortcut_conv:
        shortcut = _conv_bn(x, 4 * filters, 1, f"{name}_0", strides=strides, relu=False)
    else:
        shortcut = x
    x = _conv_bn(x, filters, 1, f"{name}_1", strides=strides)
    x = _conv_bn(x, filters, 3, f"{name}_2", dilation=dilation)
    x = _conv_bn(x, 4 * filters, 1, f"{name}_3", relu=False)
    x = keras.layers.Add(name=f"{name}_add")([shortcut, x])
    return keras.layers.Activation("relu", name=f"{name}_out")(x)


def resnet50_trunk(inputs, width: float = 1.0, output_stride: int = 32, blocks=None) -> dict:
    """Applies ResNet50's stem and four residual stages to ``inputs``.

    Args:
        inputs: A Keras tensor ``(batch, H, W, 3)``, caffe-preprocessed; H and W multiples of 32
            (the builders pad to one) keep every stride exact.
        width: Multiplier on every layer's channels (1.0 = ResNet50, 2048 output channels).
        output_stride: 32 (ResNet50) or 16: the conv5 stage keeps 1/16 and dilates its 3x3
            convolutions by 2 instead (DeepLab's atrous trunk, same weights).
        blocks: Bottleneck blocks per stage; None = ResNet50's (3, 4, 6, 3). Fewer, e.g.
            ``(1, 1, 1, 1)``, keep the strides, channels and layer names (the first blocks of
            ResNet50's) but train and trace much faster: the quick profile's CPU choice.

    Returns:
        A dict of each stage's output under its stride: ``4`` (the last block of conv2), ``8``
        (conv3), ``16`` (conv4) and ``32`` (conv5; 1/16 with ``output_stride=16``), and under its
        layer name (``"conv2_block3_out"`` ... ``"conv5_block3_out"`` in ResNet50).

    Example:

    >>> taps = resnet50_trunk(keras.Input((None, None, 3)), width=0.125)

    Introduced in notebooks/08_beyond_vgg.ipynb.
    """
    if not width > 0:
        raise ValueError(f"width must be positive (1.0 = the real ResNet50); got {width!r}.")
    if output_stride not in (16, 32):
        raise ValueError(f"output_stride must be 16 or 32; got {output_stride!r}.")
    x = keras.layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
    x = keras.layers.Conv2D(_scaled(64, width), 7, strides=2, name="conv1_conv")(x)  # 1/2
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name="conv1_bn")(x)
    x = keras.layers.Activation("relu", name="conv1_relu")(x)
    x = keras.layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)  # 1/4
    blocks = tuple(blocks) if blocks is not None else tuple(n for _, n in RESNET50_STAGES)
    if len(blocks) != 4 or any(int(n) != n or n < 1 for n in blocks):
        raise ValueError(f"blocks must be four positive integers, one per stage; got {blocks!r}.")
    taps = {}
    for stage, ((filters, _), count) in enumerate(zip(RESNET50_STAGES, blocks, strict=False), start=2):
        atrous = output_stride == 16 and stage == 5
        strides = 1 if stage == 2 or atrous else 2  # 1/4, 1/8, 1/16, 1/32 (or 1/16, dilated)
        for block in range(1, count + 1):
            x = _bottleneck(x, _scaled(filters, width), f"conv{stage}_block{block}",
                            strides=strides if block == 1 else 1, dilation=2 if atrous else 1,
                            shortcut_conv=block == 1)
        taps[f"conv{stage}_block{count}_out"] = taps[2 ** stage] = x
    return taps


def quick_resnet_classifier(pretrained: bool = False) -> keras.Model:
    """Builds the small ResNet50 whose weights ship in ``data/``: a sign classifier on the trunk.

    ``resnet50_trunk`` at ``QUICK_WIDTH`` with ``QUICK_BLOCKS`` on ``QUICK_IMAGE_SIZE`` pixels,
    global average pooling and ``predictions`` (one logit per sign class present in a scene), as
    ``keras.applications.ResNet50``'s top. Its trunk expects caffe input (``pipeline.preprocess_vgg16``).

    Args:
        pretrained: Load every layer from ``config.QUICK_RESNET_FILE`` after checking its SHA-256.
    """
    inputs = keras.Input((QUICK_IMAGE_SIZE, QUICK_IMAGE_SIZE, 3), name="image")
    taps = resnet50_trunk(inputs, QUICK_WIDTH, blocks=QUICK_BLOCKS)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(taps[32])
    outputs = keras.layers.Dense(len(config.MULTICLASS_CLASSES) - 1, name="predictions")(x)
    model = keras.Model(inputs, outputs, name="resnet50_synthetic")
    if pretrained:
        from fcnlib import backbone

        model.load_weights(backbone.verified_shipped_file(
            config.QUICK_RESNET_FILE, config.QUICK_RESNET_SHA256_FILE, REBUILD_COMMAND))
    return model


def _source_model(weights):
    if isinstance(weights, keras.Model):
        return weights
    if weights == "synthetic":
        return quick_resnet_classifier(pretrained=True)
    if weights == "imagenet":
        return keras.applications.ResNet50(weights="imagenet", include_top=False)
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"No ResNet50 weights file {path}; pass None, 'imagenet', 'synthetic', "
                                "a model, or an existing .keras, .weights.h5 or Keras .h5 file.")
    if path.suffix == ".keras":
        return keras.saving.load_model(path, compile=False)
    if path.name.endswith(".weights.h5") or path.suffix == ".h5":
        if path.name.endswith(".weights.h5"):  # A file that `bench.pretrain --backbone resnet50` wrote?
            small = quick_resnet_classifier()
            try:
                small.load_weights(path)
                return small
            except Exception:
                pass
        source = keras.applications.ResNet50(weights=None, include_top=False)
        try:
            source.load_weights(path)
        except Exception as error:
            raise ValueError(f"{path} holds no weights of keras.applications.ResNet50(include_top="
                             f"False) at width 1.0, nor of resnet.quick_resnet_classifier(). Cause: {error}") from error
        return source
    raise ValueError(f"Unknown ResNet50 weights {weights!r}; pass None, 'imagenet', 'synthetic', a "
                     "model, or the path of a .keras, .weights.h5 or .h5 file.")


def load_resnet50_weights(model: keras.Model, weights) -> list[str]:
    """Copies ResNet50 weights into every layer of ``model`` whose name starts with ``conv``/``pool``.

    Args:
        model: A model built on :func:`resnet50_trunk` (any head; heads have other names).
        weights: None (nothing), ``"imagenet"`` (``keras.applications.ResNet50``, downloaded once,
            98 MB), ``"synthetic"`` (the shipped :func:`quick_resnet_classifier`, checked against its
            SHA-256; only for ``width=QUICK_WIDTH`` and ``blocks=QUICK_BLOCKS``), a ``keras.Model``
            with ResNet50's layer names, or the path of a ``.keras`` model or of a ``.weights.h5`` /
            ``.h5`` file of ``ResNet50(include_top=False)``.

    Returns:
        The names of the layers that received weights.

    Raises:
        ValueError: If the source lacks a trunk layer or its shapes differ (another ``width``).

    Example:

    >>> load_resnet50_weights(fcn_resnet50(21), "imagenet")  # doctest: +SKIP
    """
    if weights is None:
        return []
    source = _source_model(weights)
    source_layers = {layer.name: layer for layer in source.layers}
    copied = []
    for layer in model.layers:
        if not layer.weights or not layer.name.startswith(("conv1_", "conv2_", "conv3_", "conv4_",
                                                           "conv5_")):
            continue
        other = source_layers.get(layer.name)
        if other is None:
            raise ValueError(f"The ResNet50 weights have no layer {layer.name!r}; check blocks (the "
                             f"shipped synthetic ResNet has {QUICK_BLOCKS}).")
        values = other.get_weights()
        shapes = [tuple(w.shape) for w in layer.weights]
        if [v.shape for v in values] != shapes:
            raise ValueError(f"Layer {layer.name!r} has weight shapes {shapes} but the source has "
                             f"{[v.shape for v in values]}; check width.")
        layer.set_weights(values)
        copied.append(layer.name)
    if not copied:
        raise ValueError(f"Model {model.name!r} has no ResNet50 layers to load weights into.")
    return copied


def _zero_score(x, num_classes, name):
    return keras.layers.Conv2D(num_classes, 1, kernel_initializer="zeros", name=name)(x)


def fcn_resnet50(num_classes, input_shape=(None, None, 3), weights=None, width=1.0, skips=False,
                 blocks=None):
    """Builds d2l's FCN: ResNet50, a 1x1 class-score layer, one 32x bilinear transposed convolution.

    The model of d2l's FCN chapter (https://d2l.ai/chapter_computer-vision/fcn.html): the ResNet
    body without its pooling and classifier, ``Conv2D(num_classes, 1)`` (``score``) and
    ``Conv2DTranspose(num_classes, kernel_size=64, strides=32, padding="same")`` initialised with
    the bilinear kernel and trained (``upscore``). With ``skips=True`` it is FCN-8s-shaped instead
    (Long, Shelhamer and Darrell, https://arxiv.org/abs/1411.4038): the 1/32 scores go up 2x, add
    zero-initialised scores of the conv4 stage (1/16), go up 2x, add scores of conv3 (1/8), and go
    up 8x. The input is padded to a multiple of 32 and the scores cropped back, so any size works.

    Args:
        num_classes: Output channels (logits).
        input_shape: ``(H, W, 3)``; H and W may be None.
        weights: ResNet50 weights for the trunk, see :func:`load_resnet50_weights`.
        width: Channel multiplier of the trunk (1.0 = ResNet50).
        skips: Add the conv4 and conv3 skip scores (FCN-8s style).
        blocks: Bottleneck blocks per stage (see :func:`resnet50_trunk`); None = ResNet50.

    Returns:
        A ``keras.Model`` named ``"fcn_resnet50"`` (``"fcn8s_resnet50"`` with skips) with output
        ``(batch, H, W, num_classes)``.

    Example:

    >>> model = fcn_resnet50(21, width=0.125, skips=True)

    Introduced in notebooks/08_beyond_vgg.ipynb.
    """
    if int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer; got {num_classes!r}.")
    inputs = keras.Input(input_shape, name="image")
    padded = layers.PadToMultiple(32, name="pad")(inputs)  # 1/1, sides a multiple of 32
    taps = resnet50_trunk(padded, width, blocks=blocks)
    score = keras.layers.Conv2D(num_classes, 1, name="score")(taps[32])  # 1/32
    if skips:
        x = layers.upsample_layer(num_classes, 2, "learned", name="upscore2")(score)  # 1/16
        x = keras.layers.Add(name="fuse_conv4")(
            [x, _zero_score(taps[16], num_classes, "score_conv4")])  # 1/16
        x = layers.upsample_layer(num_classes, 2, "learned", name="upscore_conv4")(x)  # 1/8
        x = keras.layers.Add(name="fuse_conv3")(
            [x, _zero_score(taps[8], num_classes, "score_conv3")])  # 1/8
        up = layers.upsample_layer(num_classes, 8, "learned", name="upscore")(x)  # 1/1
    else:
        up = layers.upsample_layer(num_classes, 32, "learned", name="upscore")(score)  # 1/1
    outputs = layers.CropToMatch(name="crop")([up, inputs])  # the input's own size
    model = keras.Model(inputs, outputs, name="fcn8s_resnet50" if skips else "fcn_resnet50")
    load_resnet50_weights(model, weights)
    return model


def for_profile(profile, num_classes=2, skips=False) -> keras.Model:
    """The ResNet50 FCN a profile trains: full ResNet50 with ImageNet weights when the profile's
    VGG16 is ImageNet's, else ``profile.width`` with random weights (the shipped synthetic ResNet,
    ``weights="synthetic"``, is smaller: ``QUICK_WIDTH`` and ``QUICK_BLOCKS``, notebook 08's)."""
    imagenet = profile.backbone_weights == "imagenet"
    return fcn_resnet50(num_classes, weights="imagenet" if imagenet else None,
                        width=1.0 if imagenet else profile.width, skips=skips)
