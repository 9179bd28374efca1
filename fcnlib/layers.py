"""Upsampling pieces for fully convolutional networks: the bilinear kernel, its initializer, and the
two layers that let a model take images of any size.

A transposed convolution with kernel ``2 * s``, stride ``s`` and ``padding="same"`` that holds the
bilinear kernel computes exactly what ``tf.image.resize(method="bilinear")`` computes (TensorFlow 2's
half-pixel centres) for every even factor ``s``, except within ``s // 2`` pixels of the image border,
where the transposed convolution sees zero padding and resizing repeats the edge pixel.

Keras has no bilinear initializer, and the kernel layout of ``Conv2DTranspose`` is
``(kernel_h, kernel_w, out_channels, in_channels)``, the reverse of ``Conv2D``'s channel order. Both
are written out here because they are what notebook 04 teaches.

Example:

>>> from fcnlib import layers
>>> up = layers.upsample_layer(num_classes=6, factor=32, mode="fixed", name="upscore32")
>>> up.trainable
False
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

UPSAMPLING_MODES = ("fixed", "learned", "random")
# Relative tolerance of a comparison, per compute dtype: about 80 float32 steps, 10 float16 steps and
# 10 bfloat16 steps (machine epsilon 1.2e-7, 9.8e-4 and 7.8e-3) of the largest value compared.
RELATIVE_TOLERANCE = {"float64": 1e-12, "float32": 1e-5, "float16": 1e-2, "bfloat16": 8e-2}


def bilinear_kernel(kernel_size: int, in_channels: int, out_channels: int) -> np.ndarray:
    """Returns the bilinear interpolation kernel for a per-channel transposed convolution.

    Each channel is upsampled on its own: the kernel is a 2-D "tent" on the diagonal (input channel
    ``c`` to output channel ``c``) and zero elsewhere. For an even ``kernel_size = 2 * s`` the tent
    peaks between the two middle taps, which gives the half-pixel alignment of
    ``tf.image.resize``; for an odd size it peaks on the middle tap.

    Args:
        kernel_size: Side of the square kernel, ``2 * factor`` for an upsampling by ``factor``.
        in_channels: Channels going in; must equal ``out_channels``.
        out_channels: Channels coming out.

    Returns:
        A float32 array of shape ``(kernel_size, kernel_size, out_channels, in_channels)``, the layout
        of ``keras.layers.Conv2DTranspose`` kernels.

    Raises:
        ValueError: If ``kernel_size`` is not positive or the channel counts differ.

    Example:

    >>> bilinear_kernel(4, 1, 1)[:, :, 0, 0][0]
    array([0.0625, 0.1875, 0.1875, 0.0625], dtype=float32)

    Introduced in notebooks/04_bilinear_upsampling.ipynb.
    """
    if int(kernel_size) != kernel_size or kernel_size < 1:
        raise ValueError(f"kernel_size must be a positive integer; got {kernel_size!r}.")
    if in_channels != out_channels:
        raise ValueError(
            f"A bilinear upsampler maps each channel to itself, so in_channels ({in_channels}) must "
            f"equal out_channels ({out_channels}); score the classes with a 1x1 convolution first."
        )
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    taps = 1.0 - np.abs(np.arange(kernel_size) - center) / factor
    tent = np.outer(taps, taps)
    kernel = np.zeros((kernel_size, kernel_size, out_channels, in_channels), dtype=np.float32)
    channels = np.arange(in_channels)
    kernel[:, :, channels, channels] = tent[:, :, None]
    return kernel


@keras.saving.register_keras_serializable(package="fcnlib")
class BilinearInitializer(keras.initializers.Initializer):
    """Initializes a ``Conv2DTranspose`` kernel ``(k, k, out, in)`` with :func:`bilinear_kernel`.

    It has no settings, so ``get_config()`` is empty; being registered, a saved ``.keras`` model
    that uses it reloads with ``keras.saving.load_model``.

    Example:

    >>> layer = keras.layers.Conv2DTranspose(3, 8, strides=4, padding="same",
    ...                                      kernel_initializer=BilinearInitializer())
    """

    def __call__(self, shape, dtype=None):
        if len(shape) != 4 or shape[0] != shape[1]:
            raise ValueError(
                f"BilinearInitializer needs a square transposed-convolution kernel shape "
                f"(k, k, out, in); got {tuple(shape)}."
            )
        kernel = bilinear_kernel(shape[0], in_channels=shape[3], out_channels=shape[2])
        return keras.ops.convert_to_tensor(kernel, dtype=dtype or "float32")

    def get_config(self):
        return {}


def upsample_layer(num_classes: int, factor: int, mode: str = "fixed", name: str | None = None):
    """Returns a transposed convolution that upsamples class scores by ``factor``.

    Kernel ``2 * factor``, stride ``factor``, ``padding="same"``, no bias, so an ``(h, w)`` score map
    becomes ``(factor * h, factor * w)``.

    Args:
        num_classes: Channels in and out (one per class).
        factor: The upsampling factor (2, 8, 16, 32 in the FCNs).
        mode: ``"fixed"``: bilinear and frozen, as the reference implementation does for every
            upsampler (the paper learns the intermediate ones from a bilinear start and fixes only
            the final one); ``"learned"``: bilinear start, trainable; ``"random"``:
            Glorot-uniform start, trainable.
        name: The layer name, e.g. ``"upscore32"``.

    Returns:
        A ``keras.layers.Conv2DTranspose``.

    Raises:
        ValueError: For an unknown mode or a factor that is not a positive integer.

    Example:

    >>> up = upsample_layer(6, factor=8, mode="learned", name="upscore8")

    Introduced in notebooks/04_bilinear_upsampling.ipynb.
    """
    if mode not in UPSAMPLING_MODES:
        raise ValueError(f"Unknown upsampling mode {mode!r}; choose one of {UPSAMPLING_MODES}.")
    if int(factor) != factor or factor < 1:
        raise ValueError(f"The upsampling factor must be a positive integer; got {factor!r}.")
    initializer = "glorot_uniform" if mode == "random" else BilinearInitializer()
    layer = keras.layers.Conv2DTranspose(
        num_classes,
        kernel_size=2 * int(factor),
        strides=int(factor),
        padding="same",
        use_bias=False,
        kernel_initializer=initializer,
        name=name,
    )
    layer.trainable = mode != "fixed"
    return layer


def _check_spatial(shape, layer_name):
    for size in shape[1:3]:
        if size is not None and size < 1:
            raise ValueError(
                f"{layer_name}: input of spatial shape {tuple(shape[1:3])} is empty; images need at "
                "least 1x1 pixels."
            )


@keras.saving.register_keras_serializable(package="fcnlib")
class PadToMultiple(keras.layers.Layer):
    """Pads images at the bottom and right with zeros up to a multiple of ``multiple`` pixels.

    Five 2x2 poolings need sides divisible by 32, or the 1/16 and 1/8 score maps stop lining up
    with the upsampled coarse scores. Padding only at the bottom and right keeps pixel ``(i, j)``
    of the output of a model at pixel ``(i, j)`` of the input, so :class:`CropToMatch` crops from
    the top-left corner. After caffe preprocessing a zero is the mean colour. Works with unknown
    (``None``) height and width.

    Args:
        multiple: The side lengths to round up to (32 for VGG16's five poolings).

    Example:

    >>> PadToMultiple(32)(np.zeros((1, 33, 47, 3), "float32")).shape
    TensorShape([1, 64, 64, 3])
    """

    def __init__(self, multiple: int = 32, **kwargs):
        super().__init__(**kwargs)
        if int(multiple) != multiple or multiple < 1:
            raise ValueError(f"multiple must be a positive integer; got {multiple!r}.")
        self.multiple = int(multiple)

    def call(self, inputs):
        _check_spatial(inputs.shape, self.name)
        shape = tf.shape(inputs)
        pad_h = (-shape[1]) % self.multiple
        pad_w = (-shape[2]) % self.multiple
        return tf.pad(inputs, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]])

    def compute_output_shape(self, input_shape):
        _check_spatial(input_shape, self.name)
        rounded = [None if s is None else -(-s // self.multiple) * self.multiple
                   for s in input_shape[1:3]]
        return (input_shape[0], *rounded, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple}


@keras.saving.register_keras_serializable(package="fcnlib")
class CropToMatch(keras.layers.Layer):
    """Crops ``[tensor, reference]`` to the reference's height and width, from the top-left corner.

    The partner of :class:`PadToMultiple`: the upsampled scores of a padded image are cut back to the
    size of the original image. Works with unknown (``None``) height and width.

    Example:

    >>> big, image = np.zeros((1, 64, 64, 6), "float32"), np.zeros((1, 33, 47, 3), "float32")
    >>> CropToMatch()([big, image]).shape
    TensorShape([1, 33, 47, 6])
    """

    def call(self, inputs):
        tensor, reference = inputs
        shape = tf.shape(reference)
        return tensor[:, : shape[1], : shape[2], :]

    def compute_output_shape(self, input_shapes):
        tensor_shape, reference_shape = input_shapes
        for big, small in zip(tensor_shape[1:3], reference_shape[1:3], strict=True):
            if big is not None and small is not None and big < small:
                raise ValueError(
                    f"{self.name}: cannot crop a tensor of spatial shape {tuple(tensor_shape[1:3])} "
                    f"to the larger reference shape {tuple(reference_shape[1:3])}."
                )
        return (tensor_shape[0], *reference_shape[1:3], tensor_shape[3])


def _compute_dtypes(side) -> list[str]:
    """The compute dtypes behind one side of a comparison (model, layer, policy, dtype or array)."""
    if isinstance(side, keras.Model):
        return [dtype for layer in side.layers for dtype in _compute_dtypes(layer)] or ["float32"]
    if isinstance(side, keras.layers.Layer):
        return [side.compute_dtype]
    if isinstance(side, keras.DTypePolicy):
        return [side.compute_dtype]
    if isinstance(side, str) and side.startswith("mixed_"):
        return [keras.DTypePolicy(side).compute_dtype]
    if hasattr(side, "dtype"):  # Arrays and tensors.
        return [keras.backend.standardize_dtype(side.dtype)]
    return [keras.backend.standardize_dtype(side)]


def tolerance(*sides, values=None) -> float:
    """The absolute tolerance for "the same logits" between a model and its rebuild.

    Two computations of the same function differ by rounding: float32 sums of thousands of
    products differ in the last digits, and a model that computes in float16 (the ``mixed_float16``
    policy of the gpu profile) rounds every layer's output to about three decimal digits. The
    tolerance is the relative tolerance of the least precise compute dtype among ``sides``
    (:data:`RELATIVE_TOLERANCE`) times the size of the values compared, at least 1: 1e-4 for
    float32 logits around +-10, 0.1 for float16 ones.

    Args:
        *sides: What computed the values: models, layers, dtype policies or their names
            (``"mixed_float16"``), dtype names or arrays.
        values: The reference values (or their largest absolute value); None counts as 1.

    Returns:
        An absolute tolerance for ``abs(a - b).max() < tolerance(...)``.

    Example:

    >>> tolerance("float32", values=10.0)
    0.0001
    >>> round(tolerance("float32", "mixed_float16", values=np.array([-10.0, 3.0])), 6)
    0.1
    """
    dtypes = [dtype for side in sides for dtype in _compute_dtypes(side)] or ["float32"]
    unknown = sorted({dtype for dtype in dtypes if dtype not in RELATIVE_TOLERANCE})
    if unknown:
        raise ValueError(f"No tolerance for compute dtype {unknown[0]!r}; known: {sorted(RELATIVE_TOLERANCE)}.")
    relative = max(RELATIVE_TOLERANCE[dtype] for dtype in dtypes)
    size = 1.0 if values is None else float(np.max(np.abs(np.asarray(values, dtype=np.float64)), initial=0.0))
    return relative * max(1.0, size)
