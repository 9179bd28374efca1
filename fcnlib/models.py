"""The segmentation models of the series: the dense-reshape baseline and FCN-32s, FCN-16s, FCN-8s.

All FCNs share one VGG16 trunk and head (``fc6``, ``fc7``, ``score_fr``) and differ only in how the
1/32 class scores get back to full resolution: FCN-32s upsamples them 32x at once; FCN-16s first
adds scores from ``block4_pool`` (1/16); FCN-8s also adds scores from ``block3_pool`` (1/8). Layer
names follow the paper, so :func:`transfer_weights` moves a trained FCN-32s into an FCN-16s. Images
of any size work: they are padded to a multiple of 32 and the scores are cropped back.

The VGG16 trunk, the small classifiers and the loading of pretrained weights live in
:mod:`fcnlib.backbone` (``backbone.vgg16_trunk``, ``backbone.load_backbone_weights``);
:func:`transfer_weights`, which copies one trained model of this module into another, lives here.

Example:

>>> from fcnlib import models
>>> fcn = models.fcn8s(num_classes=6, width=0.25, fc6_kernel=3, weights="synthetic")
>>> fcn.output_shape
(None, None, None, 6)
"""

from __future__ import annotations

import contextlib

import keras

from fcnlib import backbone, config, layers

# The at-once FCN-8s multiplies the skip inputs by fixed factors (a reparameterisation that never learns,
# as the Scale layers with lr_mult 0 in the reference voc-fcn8s-atonce/net.py); the skip scores start at zero.
SKIP_SCALES = {"block4_pool": ("scale_pool4", 0.01), "block3_pool": ("scale_pool3", 0.0001)}


@contextlib.contextmanager
def shapes_only():
    """Builds models whose weights have shapes but no values, so that nothing big is allocated.

    Keras fills every weight when a layer is built: the learner's 340-million-parameter model holds
    1.3 GiB of float32 weights, and drawing their random values takes several times that in memory
    (docs/RUNTIMES.md). Inside this context Keras creates the weights uninitialised instead
    (``keras.StatelessScope`` with ``initialize_variables=False``): ``summary()``,
    ``count_params()`` and the weight shapes work, but the model holds no weight values, so it is
    for inspecting, not for predicting or training; build it with ``weights=None``. On exit, even
    after an error, the Keras session is cleared (``keras.backend.clear_session``), because the
    next Keras scope to close would otherwise initialise every weight built here; build the models
    that should run after it.

    Example:

    >>> with shapes_only():
    ...     model = dense_reshape_vgg16(weights=None)
    >>> model.count_params()
    339831616

    Introduced in notebooks/01_dense_baseline.ipynb.
    """
    try:
        with keras.StatelessScope(initialize_variables=False):
            yield
    finally:
        keras.backend.clear_session()


def dense_reshape_vgg16(input_shape=(224, 224, 3), num_classes=1, weights="imagenet",
                        freeze_backbone=True, width=1.0):
    """Builds the "dense reshape" baseline: VGG16 up to ``fc2``, one Dense layer, a Reshape.

    It is the model a learner tried first: every pixel's score is a separate output unit of a dense
    layer on the 4096 image features. With the defaults it has 339,831,616 parameters, of which
    205,571,072 (the new layer) are trainable.

    Args:
        input_shape: ``(H, W, 3)``, fixed.
        num_classes: 1 gives a sigmoid mask ``(H, W, 1)`` exactly like the learner's model; more
            gives ``(H, W, num_classes)`` logits.
        weights: Backbone weights, see ``backbone.load_backbone_weights``.
        freeze_backbone: Freeze every VGG16 layer, training only the new dense layer.
        width: VGG16 channel multiplier.

    Returns:
        A ``keras.Model`` named ``"dense_reshape_vgg16"``.

    Example:

    >>> model = dense_reshape_vgg16((96, 96, 3), weights=None, width=0.25)

    Introduced in notebooks/01_dense_baseline.ipynb.
    """
    height, width_px = tuple(input_shape)[:2]
    classifier = backbone.vgg16_classifier(input_shape, num_classes=1, width=width, weights=weights)
    features = classifier.get_layer("fc2").output
    activation = "sigmoid" if num_classes == 1 else None
    x = keras.layers.Dense(height * width_px * num_classes, activation=activation,
                           name="dense_mask")(features)
    outputs = keras.layers.Reshape((height, width_px, num_classes), name="reshape_mask")(x)
    model = keras.Model(classifier.input, outputs, name="dense_reshape_vgg16")
    for layer in model.layers:
        layer.trainable = not freeze_backbone or layer.name in ("dense_mask", "reshape_mask")
    return model


def _check_fcn_arguments(num_classes, input_shape, upsampling, fc6_kernel, dropout):
    if int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer; got {num_classes!r}.")
    if len(input_shape) != 3 or input_shape[2] is None:
        raise ValueError(f"input_shape must be (H, W, channels) with known channels; got {input_shape}.")
    if any(size is not None and size < 1 for size in input_shape[:2]):
        raise ValueError(f"Images need at least 1x1 pixels; got input_shape {input_shape}.")
    if upsampling not in layers.UPSAMPLING_MODES:
        raise ValueError(f"Unknown upsampling {upsampling!r}; choose one of {layers.UPSAMPLING_MODES}.")
    if int(fc6_kernel) != fc6_kernel or fc6_kernel < 1:
        raise ValueError(f"fc6_kernel must be a positive integer; got {fc6_kernel!r}.")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout is a rate in [0, 1); got {dropout!r}.")


def _score(x, num_classes, name, initializer="zeros"):
    """A 1x1 class-score convolution, zero-initialised by default: a new one starts by adding nothing."""
    return keras.layers.Conv2D(num_classes, 1, kernel_initializer=initializer, name=name)(x)


def _fcn_trunk_and_head(num_classes, input_shape, width, upsampling, fc6_kernel, dropout,
                        skip_scaling, score_initializer="zeros"):
    """Builds the shared part of every FCN: padding, the VGG16 trunk and the scoring head."""
    _check_fcn_arguments(num_classes, input_shape, upsampling, fc6_kernel, dropout)
    inputs = keras.Input(input_shape, name="image")
    padded = layers.PadToMultiple(32, name="pad")(inputs)  # 1/1, sides a multiple of 32
    taps = backbone.vgg16_trunk(padded, width)  # 1/8, 1/16, 1/32
    if skip_scaling:
        for tap, (name, scale) in SKIP_SCALES.items():
            taps[tap] = keras.layers.Rescaling(scale, name=name)(taps[tap])  # 1/16 and 1/8
    units = int(config.FC_UNITS * width)
    x = keras.layers.Conv2D(units, fc6_kernel, padding="same", activation="relu",
                            name="fc6")(taps["block5_pool"])  # 1/32
    x = keras.layers.Dropout(dropout, name="drop6")(x)
    x = keras.layers.Conv2D(units, 1, activation="relu", name="fc7")(x)  # 1/32
    x = keras.layers.Dropout(dropout, name="drop7")(x)
    return inputs, taps, _score(x, num_classes, "score_fr", score_initializer)  # 1/32


def _finish(inputs, scores, name, weights):
    """Crops full-resolution scores back to the input size and loads the backbone weights."""
    outputs = layers.CropToMatch(name="crop")([scores, inputs])  # 1/1, the input's own size
    if scores.shape[-1] == 1:
        # One channel is a foreground probability everywhere in fcnlib (the losses, metrics and
        # predict_labels threshold it at 0.5), so a 1-class FCN ends in a sigmoid, not a logit.
        outputs = keras.layers.Activation("sigmoid", name="sigmoid")(outputs)
    model = keras.Model(inputs, outputs, name=name)
    backbone.load_backbone_weights(model, weights)
    return model


def fcn32s(num_classes, input_shape=(None, None, 3), weights=None, width=1.0, upsampling="fixed",
           fc6_kernel=7, dropout=0.5, skip_scaling=False, score_initializer="zeros"):
    """Builds FCN-32s: VGG16 scores at 1/32 resolution, upsampled 32x in one step.

    Args:
        num_classes: Output channels: logits, one per class; with 1, a sigmoid foreground
            probability (as the dense baseline and ``metrics.segmentation_loss(1)`` expect).
        input_shape: ``(H, W, 3)``; H and W may be None (any size of at least 1x1 pixel).
        weights: Backbone weights, see ``backbone.load_backbone_weights``.
        width: VGG16 channel multiplier.
        upsampling: ``"fixed"`` (bilinear, frozen), ``"learned"`` or ``"random"``.
        fc6_kernel: Kernel of ``fc6``; 7 for ImageNet VGG16, ``image_size // 32`` (3 at 96 pixels)
            for the quick backbone, so that ``fc1`` reshapes into it.
        dropout: Rate of ``drop6`` and ``drop7``.
        skip_scaling: Scale skip inputs (only used by FCN-16s and FCN-8s).
        score_initializer: Keras initializer of ``score_fr``: ``"zeros"`` as the paper's FCNs
            (Section 4.3), ``"glorot_uniform"`` as d2l's 1x1 convolution. A transposed convolution's
            kernel gradient is proportional to its input, so after a zero ``score_fr`` a learned
            upsampler starts without any; ``make bench`` measures what that costs.

    Returns:
        A ``keras.Model`` named ``"fcn32s"`` with output ``(batch, H, W, num_classes)``.

    Example:

    >>> model = fcn32s(6, width=0.25, fc6_kernel=3, weights="synthetic")

    Reference:
        Long, Shelhamer and Darrell, "Fully Convolutional Networks for Semantic Segmentation",
        CVPR 2015, https://arxiv.org/abs/1411.4038, Section 4.1 (FCN-32s).
        Layer names (``fc6``, ``fc7``, ``score_fr``) follow voc-fcn32s/net.py of the reference
        implementation, https://github.com/shelhamer/fcn.berkeleyvision.org (its ``upscore`` is
        ``upscore32`` here, named by its factor like ``upscore16`` and ``upscore8``).

    Introduced in notebooks/02_fully_convolutional.ipynb.
    """
    inputs, _, score_fr = _fcn_trunk_and_head(
        num_classes, input_shape, width, upsampling, fc6_kernel, dropout, skip_scaling, score_initializer
    )
    up = layers.upsample_layer(num_classes, 32, upsampling, name="upscore32")(score_fr)  # 1/1
    return _finish(inputs, up, "fcn32s", weights)


def fcn16s(num_classes, input_shape=(None, None, 3), weights=None, width=1.0, upsampling="fixed",
           fc6_kernel=7, dropout=0.5, skip_scaling=False):
    """Builds FCN-16s: FCN-32s scores upsampled 2x, plus scores from ``block4_pool``, upsampled 16x.

    ``score_pool4`` starts at zero, so a fresh FCN-16s holding a trained FCN-32s's weights predicts
    what that FCN-32s predicts (upsampled in two bilinear steps instead of one). With
    ``skip_scaling`` the ``block4_pool`` features are multiplied by 0.01 first (the paper's at-once
    training). Arguments as in :func:`fcn32s`; the model is named ``"fcn16s"``.

    Example:

    >>> model = fcn16s(6, width=0.25, fc6_kernel=3)

    Reference:
        Long, Shelhamer and Darrell, "Fully Convolutional Networks for Semantic Segmentation",
        CVPR 2015, https://arxiv.org/abs/1411.4038, Section 4.2 (FCN-16s).
        Layer names (``upscore2``, ``score_pool4``, ``fuse_pool4``, ``upscore16``) follow
        voc-fcn16s/net.py of the reference implementation, https://github.com/shelhamer/fcn.berkeleyvision.org.

    Introduced in notebooks/05_skip_connections.ipynb.
    """
    inputs, taps, score_fr = _fcn_trunk_and_head(
        num_classes, input_shape, width, upsampling, fc6_kernel, dropout, skip_scaling
    )
    up2 = layers.upsample_layer(num_classes, 2, upsampling, name="upscore2")(score_fr)  # 1/16
    score_pool4 = _score(taps["block4_pool"], num_classes, "score_pool4")  # 1/16
    fuse = keras.layers.Add(name="fuse_pool4")([up2, score_pool4])  # 1/16
    up = layers.upsample_layer(num_classes, 16, upsampling, name="upscore16")(fuse)  # 1/1
    return _finish(inputs, up, "fcn16s", weights)


def fcn8s(num_classes, input_shape=(None, None, 3), weights=None, width=1.0, upsampling="fixed",
          fc6_kernel=7, dropout=0.5, skip_scaling=False):
    """Builds FCN-8s: FCN-16s's fused 1/16 scores upsampled 2x, plus scores from ``block3_pool``.

    ``score_pool4`` and ``score_pool3`` start at zero (see :func:`fcn16s`). With ``skip_scaling``,
    ``block4_pool`` is multiplied by 0.01 and ``block3_pool`` by 0.0001 before scoring. Arguments
    as in :func:`fcn32s`; the model is named ``"fcn8s"``.

    Example:

    >>> model = fcn8s(6, width=0.25, fc6_kernel=3)

    Reference:
        Long, Shelhamer and Darrell, "Fully Convolutional Networks for Semantic Segmentation",
        CVPR 2015, https://arxiv.org/abs/1411.4038, Section 4.2 (FCN-8s).
        Layer names (``score_pool3``, ``fuse_pool3``, ``upscore_pool4``, ``upscore8``) and the
        at-once skip scales follow voc-fcn8s/net.py and voc-fcn8s-atonce/net.py of the reference
        implementation, https://github.com/shelhamer/fcn.berkeleyvision.org.

    Introduced in notebooks/05_skip_connections.ipynb.
    """
    inputs, taps, score_fr = _fcn_trunk_and_head(
        num_classes, input_shape, width, upsampling, fc6_kernel, dropout, skip_scaling
    )
    up2 = layers.upsample_layer(num_classes, 2, upsampling, name="upscore2")(score_fr)  # 1/16
    score_pool4 = _score(taps["block4_pool"], num_classes, "score_pool4")  # 1/16
    fuse4 = keras.layers.Add(name="fuse_pool4")([up2, score_pool4])  # 1/16
    up4 = layers.upsample_layer(num_classes, 2, upsampling, name="upscore_pool4")(fuse4)  # 1/8
    score_pool3 = _score(taps["block3_pool"], num_classes, "score_pool3")  # 1/8
    fuse3 = keras.layers.Add(name="fuse_pool3")([up4, score_pool3])  # 1/8
    up = layers.upsample_layer(num_classes, 8, upsampling, name="upscore8")(fuse3)  # 1/1
    return _finish(inputs, up, "fcn8s", weights)


def convolutionalize(classifier: keras.Model, padding: str = "valid") -> keras.Model:
    """Turns a VGG-style classifier into a fully convolutional network with the same weights.

    The first dense layer after ``flatten`` becomes a convolution whose kernel covers the whole
    feature map it used to flatten; later dense layers become 1x1 convolutions (``fc1``, ``fc2``,
    ``predictions`` become ``fc6``, ``fc7``, ``score``). At the classifier's input size the result
    is a 1x1 map of the classifier's logits; a larger input gives a map of class scores, one per
    window, with a stride of 32 pixels for VGG16.

    Args:
        classifier: A chain of layers ending in ``flatten`` and dense layers, such as
            ``backbone.vgg16_classifier`` or ``keras.applications.VGG16``.
        padding: ``"valid"`` (every window inside the image) or ``"same"``.

    Returns:
        A ``keras.Model`` named ``"<classifier name>_conv"`` that accepts any input at least as
        large as the classifier's.

    Raises:
        ValueError: If the classifier has no ``flatten`` layer or a layer this function cannot
            carry over.

    Example:

    >>> scores = convolutionalize(backbone.vgg16_classifier((96, 96, 3), 5))(np.zeros((1, 160, 96, 3)))

    Reference:
        Long, Shelhamer and Darrell, "Fully Convolutional Networks for Semantic Segmentation",
        CVPR 2015, https://arxiv.org/abs/1411.4038, Section 3.1 (adapting classifiers for dense prediction).
        The names ``fc6``, ``fc7`` follow the reference implementation's net.py files, https://github.com/shelhamer/fcn.berkeleyvision.org
        (its surgery.py does the same reshaping of fully connected weights).

    Introduced in notebooks/02_fully_convolutional.ipynb.
    """
    names = {**backbone.FC_TO_CONV, "predictions": "score"}
    chain = [layer for layer in classifier.layers if not isinstance(layer, keras.layers.InputLayer)]
    if not any(isinstance(layer, keras.layers.Flatten) for layer in chain):
        raise ValueError(f"Model {classifier.name!r} has no Flatten layer to convolutionalize.")
    inputs = keras.Input((None, None, classifier.input_shape[-1]), name="image")
    x, kernel_size, copies = inputs, None, []
    for layer in chain:
        if isinstance(layer, keras.layers.Flatten):
            kernel_size = tuple(layer.input.shape[1:3])
            continue
        if isinstance(layer, keras.layers.Dense):
            units, activation = layer.units, layer.get_config()["activation"]
            new = keras.layers.Conv2D(units, kernel_size or 1, padding=padding,
                                      activation=activation, name=names.get(layer.name, layer.name))
            kernel_size = None
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.MaxPooling2D,
                                keras.layers.Dropout, keras.layers.Activation)):
            new = layer.__class__.from_config(layer.get_config())
        else:
            raise ValueError(f"convolutionalize cannot carry over layer {layer.name!r} "
                             f"({type(layer).__name__}).")
        x = new(x)
        copies.append((layer, new))
    model = keras.Model(inputs, x, name=f"{classifier.name}_conv")
    for old, new in copies:
        new.set_weights([v.reshape(w.shape) for v, w in zip(old.get_weights(), new.weights, strict=False)])
    return model


def transfer_weights(source: keras.Model, target: keras.Model) -> list[str]:
    """Copies the weights of every layer that ``source`` and ``target`` share by name and shape.

    FCN variants share layer names, so staged training (FCN-32s, then FCN-16s, then FCN-8s) moves
    the trained weights forward with one call; the new skip layers keep their zero start.

    Args:
        source: The trained model.
        target: The model to fill.

    Returns:
        The names of the layers copied (layers with no weights are not listed).

    Example:

    >>> copied = transfer_weights(trained_fcn32s, fresh_fcn16s)  # doctest: +SKIP

    Introduced in notebooks/05_skip_connections.ipynb.
    """
    source_layers = {layer.name: layer for layer in source.layers}
    copied = []
    for layer in target.layers:
        other = source_layers.get(layer.name)
        if other is None or not layer.weights:
            continue
        if [tuple(w.shape) for w in layer.weights] == [tuple(w.shape) for w in other.weights]:
            layer.set_weights(other.get_weights())
            copied.append(layer.name)
    return copied
