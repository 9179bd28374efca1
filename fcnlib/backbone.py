"""The VGG16 backbone: the convolutional trunk, the classifier, and loading weights into both.

Layer names are those of ``keras.applications.VGG16`` (``block1_conv1`` ... ``block5_pool``,
``flatten``, ``fc1``, ``fc2``, ``predictions``), so weights move between models by name. A ``width``
multiplier scales every layer's channels: ``width=1`` is the real VGG16, ``width=0.25`` the quick
profile's small network, whose weights (trained on the synthetic scenes by ``python -m
bench.pretrain``) ship in ``data/``. :mod:`fcnlib.models` re-exports everything here.

Example:

>>> from fcnlib import backbone
>>> classifier = backbone.vgg16_classifier((96, 96, 3), num_classes=5, width=0.25)
>>> classifier.get_layer("fc1").units
1024
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import keras

from fcnlib import config, files

# Fully connected layers of the classifier and the convolutions that replace them in an FCN.
FC_TO_CONV = {"fc1": "fc6", "fc2": "fc7"}
REBUILD_COMMAND = "python -m bench.pretrain"


def _scaled(channels: int, width: float) -> int:
    return max(1, int(channels * width))


def _check_width(width):
    if not width > 0:
        raise ValueError(f"width must be positive (1.0 = the real VGG16); got {width!r}.")


def vgg16_trunk(inputs, width: float = 1.0) -> dict:
    """Applies VGG16's 13 convolutions and 5 poolings to ``inputs``.

    Args:
        inputs: A Keras tensor of shape ``(batch, H, W, 3)``, caffe-preprocessed.
        width: Multiplier on every block's channel count (1.0 = VGG16).

    Returns:
        A dict of the tensors an FCN taps: ``"block3_pool"`` (1/8 of the input size),
        ``"block4_pool"`` (1/16) and ``"block5_pool"`` (1/32).

    Example:

    >>> taps = vgg16_trunk(keras.Input((None, None, 3)), width=0.25)

    Introduced in notebooks/02_fully_convolutional.ipynb.
    """
    _check_width(width)
    x, taps = inputs, {}
    for block, filters in enumerate(config.VGG16_BLOCKS, start=1):
        for index, channels in enumerate(filters, start=1):
            x = keras.layers.Conv2D(
                _scaled(channels, width), 3, padding="same", activation="relu",
                name=f"block{block}_conv{index}",
            )(x)
        x = keras.layers.MaxPooling2D(2, strides=2, name=f"block{block}_pool")(x)
        taps[f"block{block}_pool"] = x
    return {name: taps[name] for name in ("block3_pool", "block4_pool", "block5_pool")}


def vgg16_classifier(input_shape=(96, 96, 3), num_classes=5, width=0.25, weights=None, name="vgg16"):
    """Builds the VGG16 image classifier, optionally narrower, with logits as output.

    With ``width=1``, a 224x224 input and 1000 classes it has the layers and the 138,357,544
    parameters of ``keras.applications.VGG16`` (whose last layer applies a softmax; this one
    outputs logits).

    Args:
        input_shape: ``(H, W, 3)`` with H, W at least 32 (``flatten`` needs a fixed size).
        num_classes: Units of the ``predictions`` layer.
        width: Channel multiplier; ``fc1`` and ``fc2`` get ``int(4096 * width)`` units.
        weights: None, ``"imagenet"``, ``"synthetic"`` or a path; see :func:`load_backbone_weights`.
        name: The model name.

    Returns:
        A ``keras.Model`` mapping images to ``(batch, num_classes)`` logits.

    Example:

    >>> model = vgg16_classifier((96, 96, 3), num_classes=5, width=0.25)

    Introduced in notebooks/02_fully_convolutional.ipynb.
    """
    height, width_px = tuple(input_shape)[:2]
    if height is None or width_px is None or min(height, width_px) < 32:
        raise ValueError(
            f"vgg16_classifier needs a fixed input of at least 32x32 pixels; got {input_shape}."
        )
    inputs = keras.Input(input_shape, name="image")
    x = vgg16_trunk(inputs, width)["block5_pool"]
    x = keras.layers.Flatten(name="flatten")(x)
    units = int(config.FC_UNITS * width)
    x = keras.layers.Dense(units, activation="relu", name="fc1")(x)
    x = keras.layers.Dense(units, activation="relu", name="fc2")(x)
    outputs = keras.layers.Dense(num_classes, name="predictions")(x)
    model = keras.Model(inputs, outputs, name=name)
    load_backbone_weights(model, weights)
    return model


def quick_classifier(pretrained: bool = False) -> keras.Model:
    """Builds the quick profile's classifier, the network whose weights ship in ``data/``.

    Args:
        pretrained: Load every layer, ``predictions`` included, from ``config.QUICK_BACKBONE_FILE``
            after checking its SHA-256 (``load_backbone_weights`` copies only the backbone).
    """
    size = config.QUICK.image_size
    model = vgg16_classifier(
        (size, size, 3), num_classes=len(config.MULTICLASS_CLASSES) - 1, width=config.QUICK.width
    )
    if pretrained:
        model.load_weights(_verified_quick_backbone())
    return model


def profile_classifier(profile, side: int) -> keras.Model:
    """The classifier whose fully connected layers a profile's FCN converts (notebook 02).

    Args:
        profile: A :class:`fcnlib.config.Profile`.
        side: The classifier's input side in pixels, for a profile without backbone weights.

    Returns:
        ImageNet VGG16 (``keras.applications.VGG16``, 1,000 softmax classes at 224 pixels) when the
        profile's backbone weights are ``"imagenet"``; the quick classifier with its shipped weights
        (five sign-presence logits at 96 pixels) for ``"synthetic"``; else (a smoke run) the same
        layers at the profile's width with random weights.
    """
    if profile.backbone_weights == "imagenet":
        return _source_model("imagenet")
    if profile.backbone_weights == "synthetic":
        return quick_classifier(pretrained=True)
    return vgg16_classifier((side, side, 3), num_classes=len(config.MULTICLASS_CLASSES) - 1, width=profile.width)


def verified_shipped_file(path, sha_path, rebuild_command=REBUILD_COMMAND) -> Path:
    """Returns ``path`` once its SHA-256 matches the first word of ``sha_path``.

    Raises:
        FileNotFoundError: If either file is missing (the message names it and the rebuild command).
        ValueError: If the digests differ (a damaged or stale file).
    """
    path, sha_path = Path(path), Path(sha_path)
    for needed in (path, sha_path):
        if not needed.is_file():
            raise FileNotFoundError(
                f"The shipped weights file {needed} is missing; rebuild it with `{rebuild_command}`."
            )
    expected = sha_path.read_text().split()[0] if sha_path.read_text().split() else ""
    actual = files.sha256(path)
    if actual != expected:
        raise ValueError(
            f"{path} has SHA-256 {actual}, but {sha_path} expects {expected or 'nothing'}; the file "
            f"is damaged or stale. Restore it from git or rebuild it with `{rebuild_command}`."
        )
    return path


def _verified_quick_backbone() -> Path:
    return verified_shipped_file(config.QUICK_BACKBONE_FILE, config.QUICK_BACKBONE_SHA256_FILE)


# keras.applications.VGG16's ImageNet weights (with the fc layers): its file name, URL and MD5, as in
# https://github.com/keras-team/keras/blob/master/keras/src/applications/vgg16.py
IMAGENET_WEIGHTS_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
IMAGENET_WEIGHTS_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
                        + IMAGENET_WEIGHTS_FILE)
IMAGENET_WEIGHTS_MD5 = "64373286793e3c8b2b4e3219cbf3544b"
IMAGENET_WEIGHTS_BYTES = 553_467_096


def imagenet_weights_cached() -> bool:
    """True when Keras' cache already holds VGG16's ImageNet weights (no download needed)."""
    keras_home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser()
    return (keras_home / "models" / IMAGENET_WEIGHTS_FILE).is_file()


def fetch_imagenet_weights() -> Path:
    """Downloads VGG16's ImageNet weights into Keras' cache (where ``VGG16(weights="imagenet")``
    looks), verified by Keras against their MD5; returns the file. Raises ``ConnectionError``."""
    if config.offline() and not imagenet_weights_cached():
        raise ConnectionError(f"VGG16's ImageNet weights are missing and {config.OFFLINE_ENV} is set.")
    try:
        return Path(keras.utils.get_file(IMAGENET_WEIGHTS_FILE, IMAGENET_WEIGHTS_URL,
                                         cache_subdir="models", file_hash=IMAGENET_WEIGHTS_MD5))
    except Exception as error:  # A failed download shows up as many different exceptions.
        raise ConnectionError(f"Could not download VGG16's ImageNet weights ({error}).") from error


def _source_model(weights) -> keras.Model:
    """Returns a model holding the backbone weights that ``weights`` names."""
    if isinstance(weights, keras.Model):
        return weights
    if weights == "imagenet":
        if config.offline() and not imagenet_weights_cached():
            raise ConnectionError(
                f"The ImageNet VGG16 weights are not in ~/.keras/models and {config.OFFLINE_ENV} is "
                "set, so they are not downloaded. Use weights='synthetic' offline."
            )
        try:
            return keras.applications.VGG16(weights="imagenet")
        except Exception as error:  # A failed download shows up as many different exceptions.
            raise ConnectionError(
                "Could not get the ImageNet VGG16 weights; the first use downloads them (528 MB) "
                f"into ~/.keras/models, which needs internet. Use weights='synthetic' offline. "
                f"Cause: {error}"
            ) from error
    if weights == "synthetic":
        path = _verified_quick_backbone()
    elif isinstance(weights, Path) or str(weights).endswith((".keras", ".h5")):
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(
                f"No backbone weights file {path}; pass None, 'imagenet', 'synthetic' or an "
                "existing .keras model or .weights.h5 file."
            )
        if path.suffix == ".keras":
            return keras.saving.load_model(path, compile=False)
    else:
        raise ValueError(
            f"Unknown weights {weights!r}; pass None, 'imagenet', 'synthetic', a model, or the path "
            "of a .keras or .weights.h5 file."
        )
    model = quick_classifier()
    try:
        model.load_weights(path)
    except Exception as error:
        raise ValueError(
            f"Cannot load {path} into the quick classifier (width {config.QUICK.width}, input "
            f"{config.QUICK.image_size}); a .weights.h5 file must come from `{REBUILD_COMMAND}`. "
            f"Cause: {error}"
        ) from error
    return model


def load_backbone_weights(model: keras.Model, weights) -> list[str]:
    """Copies VGG16 backbone weights into ``model`` by layer name.

    Every ``block*`` convolution is copied, and ``fc1`` / ``fc2``: unchanged into layers of those
    names, reshaped into ``fc6`` / ``fc7`` convolutions in an FCN (a dense layer on a flattened
    ``k x k x C`` map is a ``k x k`` convolution). The source's ``predictions`` layer is not copied.

    Args:
        model: The model to fill (a classifier, the dense baseline or an FCN).
        weights: None (do nothing), ``"imagenet"`` (keras.applications, downloaded once),
            ``"synthetic"`` (``config.QUICK_BACKBONE_FILE``, checked against its SHA-256), a path to
            a ``.keras`` model or to a ``.weights.h5`` file written by ``python -m bench.pretrain``,
            or a ``keras.Model`` with VGG16 layer names.

    Returns:
        The names of the layers of ``model`` that received weights.

    Raises:
        FileNotFoundError: If a weights file is missing.
        ValueError: If the checksum does not match, or a layer is missing or has other shapes in
            the source (e.g. another ``width``, or ``fc6_kernel`` not equal to the source's
            ``block5_pool`` size).
        ConnectionError: If the ImageNet weights cannot be downloaded.

    Example:

    >>> fcn = fcn32s(6, width=0.25, fc6_kernel=3)  # doctest: +SKIP
    >>> load_backbone_weights(fcn, "synthetic")  # doctest: +SKIP

    Introduced in notebooks/02_fully_convolutional.ipynb.
    """
    if weights is None:
        return []
    source = _source_model(weights)
    source_names = {layer.name for layer in source.layers}
    targets = {conv: fc for fc, conv in FC_TO_CONV.items()}
    copied = []
    for layer in model.layers:
        source_name = targets.get(layer.name, layer.name)
        if not layer.weights or not (source_name.startswith("block") or source_name in FC_TO_CONV):
            continue
        if source_name not in source_names:
            raise ValueError(f"The backbone weights have no layer {source_name!r} for {layer.name!r}.")
        values = source.get_layer(source_name).get_weights()
        shapes = [tuple(w.shape) for w in layer.weights]
        if [v.size for v in values] != [math.prod(s) for s in shapes]:
            raise ValueError(
                f"Layer {layer.name!r} has weight shapes {shapes} but the source layer "
                f"{source_name!r} has {[v.shape for v in values]}; check width and fc6_kernel (it "
                "must equal the source's block5_pool size, e.g. 3 for the quick backbone)."
            )
        layer.set_weights([v.reshape(s) for v, s in zip(values, shapes, strict=False)])
        copied.append(layer.name)
    if not copied:
        raise ValueError(f"Model {model.name!r} has no VGG16 backbone layers to load weights into.")
    return copied
