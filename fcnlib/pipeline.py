"""The tf.data input pipeline: checked arrays in, augmented and preprocessed batches out.

Two rules run through this module. Masks hold class indices, so they are only ever resized with
nearest-neighbour interpolation: bilinear resizing would blend labels 0 and 2 into a fake class 1.
And an image and its mask always go through the same random crop, flip and scale, drawn from
stateless random ops, so a seed reproduces a run exactly.

Introduced in notebooks/00_setup_and_data.ipynb, augmentation included.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from fcnlib import config, datasets

AUTOTUNE = tf.data.AUTOTUNE
# The VGG mean in RGB order: padding images with it gives zeros after preprocessing.
_MEAN_RGB = tuple(reversed(config.VGG_MEAN_BGR))


def preprocess_vgg16(images):
    """Caffe-style VGG16 preprocessing: RGB -> BGR, then the ImageNet mean subtracted.

    Equal to ``keras.applications.vgg16.preprocess_input``; written out so the two steps are visible.

    Args:
        images: RGB images (..., 3) with values 0..255, NumPy or tensor.

    Returns:
        ``float32`` of the same shape and kind (NumPy in, NumPy out).

    Example:

    >>> preprocess_vgg16(np.array([[255, 0, 0]], np.uint8)).astype(int).tolist()  # red -> BGR
    [[-103, -116, 131]]

    Introduced in notebooks/00_setup_and_data.ipynb.
    """
    if not isinstance(images, (tf.Tensor, tf.Variable, np.ndarray)):
        images = np.asarray(images)  # Lists and PIL images become arrays.
    if images.ndim < 3 or images.shape[-1] != 3:
        raise ValueError(f"preprocess_vgg16 expects RGB images (..., H, W, 3), got shape {tuple(images.shape)}.")
    mean = np.array(config.VGG_MEAN_BGR, np.float32)
    if isinstance(images, (tf.Tensor, tf.Variable)):
        return tf.cast(images, tf.float32)[..., ::-1] - mean
    return np.asarray(images, np.float32)[..., ::-1] - mean


def deprocess_vgg16(images) -> np.ndarray:
    """Undoes :func:`preprocess_vgg16` for display: BGR float back to RGB ``uint8``."""
    images = np.asarray(images, np.float32) + np.array(config.VGG_MEAN_BGR, np.float32)
    return np.clip(np.round(images[..., ::-1]), 0, 255).astype(np.uint8)


SCALES = {
    "raw": "raw RGB values 0..255 (uint8, or floats holding them)",
    "unit": "RGB scaled to [0, 1] (as tensorflow-datasets and many tutorials give them)",
    "preprocessed": "VGG-preprocessed (BGR, ImageNet mean subtracted: values about -124..152)",
}


def input_scale(images) -> str:
    """Which scale a batch of images is on: ``"raw"``, ``"unit"`` or ``"preprocessed"``.

    uint8 is raw. Floats with a negative value are preprocessed (the mean is subtracted); floats in
    [0, 1] are unit-scaled; other non-negative floats with values above 1 are raw pixels. A
    preprocessed batch without one negative value would need every pixel brighter than the ImageNet
    mean in every channel, which photographs and our scenes never are.
    """
    images = np.asarray(images)
    if images.dtype == np.uint8 or not images.size:
        return "raw"
    low, high = float(np.min(images)), float(np.max(images))
    if low < 0:
        return "preprocessed"
    return "unit" if high <= 1 else "raw"


def check_scale(images, expected: str, where: str) -> None:
    """Refuses images on another scale than ``expected``, naming the scale found and the fix.

    Args:
        images: A batch of images (NumPy or tensor).
        expected: ``"raw"`` or ``"preprocessed"`` (see :data:`SCALES`).
        where: The function the images were given to, for the message.

    Raises:
        ValueError: When :func:`input_scale` finds another scale (a constant batch passes as preprocessed).
    """
    found = input_scale(images)
    constant = expected == "preprocessed" and np.ptp(np.asarray(images)) == 0
    if found == expected or constant:  # A constant float batch may be preprocessed: let it through.
        return
    fixes = {("unit", "raw"): "multiply by 255 (and pass uint8)",
             ("preprocessed", "raw"): "pass the images before preprocess_vgg16, which runs inside",
             ("raw", "preprocessed"): "pass uint8 images, or call pipeline.preprocess_vgg16 first",
             ("unit", "preprocessed"): "multiply by 255, then call pipeline.preprocess_vgg16"}
    array = np.asarray(images)
    raise ValueError(f"{where} expects {SCALES[expected]}, but these images ({array.dtype}, values "
                     f"{float(np.min(array)):g}..{float(np.max(array)):g}) look {SCALES[found]}: "
                     f"{fixes[(found, expected)]}.")


def _check_arrays(images, masks):
    images, masks = np.asarray(images), np.asarray(masks)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (N, H, W, 3), got {images.shape}.")
    if masks.ndim == 4 and masks.shape[-1] == 1:
        masks = masks[..., 0]
    if masks.ndim != 3:
        raise ValueError(f"masks must have shape (N, H, W) (or (N, H, W, 1)), got {masks.shape}.")
    if images.shape[:3] != masks.shape:
        raise ValueError(f"images {images.shape} and masks {masks.shape} differ in number or size "
                         "(N, H, W); every image needs a mask of the same height and width.")
    if not len(images):
        raise ValueError(f"images holds no image (shape {images.shape}); pass at least one.")
    if images.dtype.kind == "f" and not np.isfinite(images).all():
        count = int(np.size(images) - np.isfinite(images).sum())
        raise ValueError(f"images hold {count} NaN or inf value(s), which have no colour; find "
                         "where they come from (a division by zero, a failed read) and fix them.")
    if images.dtype != np.uint8:
        low, high = (float(images.min()), float(images.max())) if images.size else (0.0, 0.0)
        if low < 0 or high > 255:
            raise ValueError(f"images ({images.dtype}) hold values {low:g}..{high:g}; pass raw RGB "
                             "values 0..255 (uint8), not preprocessed or normalised images.")
        if high > 0:  # An all-black batch is raw on any scale.
            check_scale(images, "raw", "from_arrays")
        images = np.round(images).astype(np.uint8)
    if masks.dtype != np.uint8:
        bad = masks[(masks < 0) | (masks > 255) | (masks != np.round(masks))]
        if bad.size:
            raise ValueError(f"masks ({masks.dtype}) hold value(s) {np.unique(bad)[:10].tolist()} "
                             "that are not class indices 0..255; resize masks with nearest "
                             "neighbour and mark void pixels with 255.")
        masks = masks.astype(np.uint8)
    return images, masks


def from_arrays(images, masks) -> tf.data.Dataset:
    """Checks image and mask arrays and wraps them as a dataset of (uint8 image, uint8 mask) pairs.

    Args:
        images: (N, H, W, 3) RGB, values 0..255.
        masks: (N, H, W) or (N, H, W, 1) class indices, 255 = void.

    Returns:
        A ``tf.data.Dataset`` of unbatched pairs ((H, W, 3) uint8, (H, W) uint8).

    Raises:
        ValueError: For wrong ranks, mismatched sizes, no images, NaN or inf pixels, or values
            outside 0..255; the message names the shapes or values.

    Example:

    >>> ds = from_arrays(np.zeros((2, 8, 8, 3), np.uint8), np.zeros((2, 8, 8), np.uint8))
    >>> ds.element_spec[1].shape
    TensorShape([8, 8])

    Introduced in notebooks/00_setup_and_data.ipynb.
    """
    images, masks = _check_arrays(images, masks)
    return tf.data.Dataset.from_tensor_slices((images, masks))


def _size(size):
    """An image size as (height, width): one whole number for a square, or a pair; each at least 1."""
    if np.ndim(size) == 0:
        side = config.count(size.item() if isinstance(size, np.ndarray) else size, "image_size")
        return side, side
    if len(size) != 2:
        raise ValueError(f"image_size must be one number or (height, width), got {size!r}.")
    return config.count(size[0], "image_size height"), config.count(size[1], "image_size width")


def augment(image, mask, seed, crop_size=None, flip=True, scale_range=(0.75, 1.25),
            mask_pad_value=config.IGNORE_LABEL):
    """Applies one random scale, crop (or pad) and horizontal flip to an image and its mask together.

    The image is resized bilinearly, the mask with nearest neighbour (no fake classes). Where the
    scaled scene is smaller than ``crop_size`` the image is padded with the VGG mean colour (zero
    after preprocessing) and the mask with ``mask_pad_value`` (void, skipped by the losses).

    Args:
        image: (H, W, 3) tensor, any dtype; returned in the same dtype.
        mask: (H, W) integer tensor.
        seed: An int or a shape-(2,) integer tensor for the stateless random ops.
        crop_size: Output (height, width) or int; None keeps (H, W).
        flip: Whether to flip left-right with probability 1/2.
        scale_range: (low, high) range of the random zoom factor; (1, 1) disables scaling.
        mask_pad_value: Mask value for padded pixels (use 0 for a task without void).

    Returns:
        ``(image, mask)`` of size ``crop_size``.

    Example:

    >>> image, mask = augment(images[0], masks[0], seed=(1, 2), crop_size=64)  # doctest: +SKIP

    Introduced in notebooks/00_setup_and_data.ipynb.
    """
    image, mask = tf.convert_to_tensor(image), tf.convert_to_tensor(mask)
    if image.shape.rank != 3 or mask.shape.rank != 2:
        raise ValueError(f"augment takes one image (H, W, 3) and one mask (H, W), got shapes "
                         f"{image.shape} and {mask.shape}.")
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64) + tf.zeros([2], tf.int64),
                                                   num=4)
    shape = tf.shape(mask)
    out_h, out_w = (shape[0], shape[1]) if crop_size is None else _size(crop_size)
    in_dtype = image.dtype
    pixels = tf.cast(image, tf.float32) - _MEAN_RGB  # Mean-centred, so zero padding pads the mean.
    labels = mask[..., None]
    low, high = scale_range
    if (low, high) != (1, 1):
        scale = tf.random.stateless_uniform([], seeds[0], low, high)
        size = tf.cast(tf.round(tf.cast(shape, tf.float32) * scale), tf.int32)
        pixels = tf.image.resize(pixels, size, method="bilinear")
        labels = tf.image.resize(labels, size, method="nearest")
    # Pad at the bottom and right up to the crop size, then crop at a random offset.
    size = tf.shape(labels)[:2]
    pad_h, pad_w = tf.maximum(out_h - size[0], 0), tf.maximum(out_w - size[1], 0)
    pixels = tf.pad(pixels, [[0, pad_h], [0, pad_w], [0, 0]])
    labels = tf.pad(labels, [[0, pad_h], [0, pad_w], [0, 0]],
                    constant_values=tf.cast(mask_pad_value, labels.dtype))
    top = tf.random.stateless_uniform([], seeds[1], 0, size[0] + pad_h - out_h + 1, tf.int32)
    left = tf.random.stateless_uniform([], seeds[2], 0, size[1] + pad_w - out_w + 1, tf.int32)
    pixels = pixels[top:top + out_h, left:left + out_w]
    labels = labels[top:top + out_h, left:left + out_w]
    if flip:
        do_flip = tf.random.stateless_uniform([], seeds[3]) < 0.5
        pixels = tf.cond(do_flip, lambda: pixels[:, ::-1], lambda: pixels)
        labels = tf.cond(do_flip, lambda: labels[:, ::-1], lambda: labels)
    pixels = pixels + _MEAN_RGB
    if in_dtype.is_integer:
        pixels = tf.saturate_cast(tf.round(pixels), in_dtype)
    image_out, mask_out = tf.cast(pixels, in_dtype), labels[..., 0]
    if crop_size is not None:
        image_out.set_shape(_size(crop_size) + (3,))
        mask_out.set_shape(_size(crop_size))
    elif image.shape[:2].is_fully_defined():
        image_out.set_shape(image.shape)
        mask_out.set_shape(mask.shape)
    return image_out, mask_out


def autotune_default() -> bool:
    """Whether :func:`make_dataset` turns on tf.data's autotuner when not told: only next to a GPU or TPU.

    The autotuner runs a thread that models the pipeline and re-optimises it while training. Next to
    an accelerator that thread uses a CPU the model does not need. On a CPU-only machine it competes
    with training for the same cores, and each new epoch waits while the last epoch's iterator shuts
    its autotuning thread down: on two cores the quick FCN-32s trains faster without it, to the same
    test IoU (``python -m bench --autotune``; the numbers are in bench/README.md).
    """
    return bool(tf.config.list_physical_devices("GPU") or tf.config.list_physical_devices("TPU"))


def _assert_raw(image, mask):
    """In the graph: a float image must hold raw values 0..255, not [0, 1] or preprocessed ones."""
    high, low = tf.reduce_max(image), tf.reduce_min(image)
    tf.debugging.Assert(tf.logical_and(low >= 0, tf.logical_or(high > 1, high <= 0)), [
        "make_dataset expects images with raw RGB values 0..255, but one float image holds values", low,
        "..", high, ": [0, 1] images need multiplying by 255; preprocessed ones are preprocessed again "
        "inside (pass the images before preprocess_vgg16)."], summarize=1)
    return image, mask


def make_dataset(source, batch_size, training=False, image_size=None, augment=False, seed=0,
                 shuffle_buffer=None, cache=None, autotune=None, drop_remainder=None) -> tf.data.Dataset:
    """Builds batches of (preprocessed float32 images, int32 masks) for ``fit`` and ``evaluate``.

    Steps: resize to ``image_size`` (bilinear images, nearest masks; skipped where the pairs have
    that size already); cache the resized pairs of files; if ``training``: shuffle and, when
    ``augment``, random scale/crop/flip per pair; then batch, :func:`preprocess_vgg16` on each
    batch, prefetch. Random choices depend only on ``seed`` (and the epoch), so runs repeat exactly.

    Pairs read from files (by :mod:`fcnlib.datasets`' loaders, through maps without random ops) are
    decoded and resized once: the first pass keeps the resized pairs in memory, where they fit, and
    later epochs shuffle and augment those (the shuffle moves references, no pixels). Their resized
    images are rounded back to ``uint8``, a quarter of the memory of floats. Files not cached are
    shuffled by index before they are read, when ``source`` is the loader's dataset itself. Arrays
    are in memory already: their batches are what they always were.

    Args:
        source: ``(images, masks)`` arrays (checked by :func:`from_arrays`) or a
            ``tf.data.Dataset`` of unbatched (image (H, W, 3), mask (H, W)) pairs.
        batch_size: Pairs per batch.
        training: Shuffle (and augment); False keeps the order and never augments.
        image_size: Int or (height, width) to resize to; needed when images differ in size.
        augment: Apply :func:`augment` (crop size = the output size) when ``training``.
        seed: Seed for shuffling and augmentation.
        shuffle_buffer: Shuffle buffer size, in pairs; None: every pair when they are cached (a
            full shuffle of references), else 1,000.
        cache: None: cache the resized pairs in memory when they are read from files and take at
            most :func:`cache_budget` bytes; True caches any source in memory after the first pass,
            a path caches on disk (``tf.data.Dataset.cache``; delete the files when the data
            change); False never caches.
        autotune: tf.data's autotuner (``tf.data.Options().autotune.enabled``); None:
            :func:`autotune_default`, on next to a GPU or TPU, off on a CPU-only machine. The batches
            are the same either way; only the parallelism and the speed differ.
        drop_remainder: Drop the last, smaller batch, so that every batch has one shape and a
            compiled model one program. None: when ``training`` on a ``tf.data.Dataset`` that
            holds at least one whole batch; batches of arrays keep their last one.

    Returns:
        A ``tf.data.Dataset`` of ``(float32 (B, H, W, 3), int32 (B, H, W))``.

    Example:

    >>> train = make_dataset((x_train, y_train), 16, training=True, augment=True)  # doctest: +SKIP

    Introduced in notebooks/00_setup_and_data.ipynb.
    """
    batch_size = config.count(batch_size, "batch_size")
    if shuffle_buffer is not None:
        shuffle_buffer = config.count(shuffle_buffer, "shuffle_buffer")
    if cache is not None and not isinstance(cache, (bool, str, os.PathLike)):
        raise ValueError(f"cache must be None, True, False or a file path, got {cache!r}.")
    arrays = not isinstance(source, tf.data.Dataset)
    if not arrays:
        spec = source.element_spec
        if not (isinstance(spec, tuple) and len(spec) == 2 and spec[0].shape.rank == 3
                and spec[1].shape.rank in (2, 3)):
            raise ValueError(f"The dataset must yield unbatched (image (H, W, 3), mask (H, W)) "
                             f"pairs, but its elements are {spec}.")
        files_read, count = _read_from_files(source), int(source.cardinality())
    else:
        source, files_read = from_arrays(*source), False
        count = len(source)
    dataset = _resized(source, image_size, arrays)
    if cache is None:
        cache = files_read and count >= 0 and count * _pair_bytes(dataset.element_spec) <= cache_budget()
    if cache:
        dataset = dataset.cache("" if cache is True else str(cache))
    if drop_remainder is None:
        drop_remainder = (training and not arrays
                          and (count >= batch_size or count == tf.data.INFINITE_CARDINALITY))
    if training:
        reader = getattr(source, datasets.FILE_BACKED, None)
        if not cache and reader is not None:
            # Straight from a loader: shuffle the indices (a few bytes each), then read in that order.
            number, load = reader
            indices = tf.data.Dataset.range(number).shuffle(number, seed=seed, reshuffle_each_iteration=True)
            dataset = _resized(indices.map(load, num_parallel_calls=AUTOTUNE, deterministic=True),
                               image_size, arrays)
        else:
            if shuffle_buffer is None:
                shuffle_buffer = count if cache and not arrays and count > 0 else 1000
            dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        if augment:
            # One random number per pair, new each epoch, seeds the stateless ops of that pair.
            keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
            dataset = tf.data.Dataset.zip(dataset, keys).map(
                lambda pair, key: _augment_pair(pair, key, seed), num_parallel_calls=AUTOTUNE)
    # Preprocessing runs on whole batches: one vectorised op per batch instead of one per pair
    # (the same numbers; per-pair maps cost more than the arithmetic on a 2-core CPU).
    dataset = dataset.batch(batch_size, drop_remainder=bool(drop_remainder)).map(
        lambda x, y: (preprocess_vgg16(x), tf.cast(y, tf.int32)), num_parallel_calls=AUTOTUNE)
    options = tf.data.Options()
    options.autotune.enabled = autotune_default() if autotune is None else bool(autotune)
    return dataset.prefetch(AUTOTUNE).with_options(options)


def _resized(source, image_size, arrays):
    """The pairs of ``source`` checked (float images raw), masks (H, W), resized to ``image_size``.

    Arrays (``source`` from :func:`from_arrays`) pass unchanged where they have that size, and keep
    float images after resizing; uint8 images of a ``tf.data`` source are rounded back to uint8.
    """
    dataset, spec = source, source.element_spec
    from_dataset = not arrays
    if from_dataset and spec[0].dtype.is_floating:  # Float pixels: each image must hold raw values 0..255.
        dataset = dataset.map(_assert_raw, num_parallel_calls=AUTOTUNE)
    if spec[1].shape.rank == 3:
        dataset = dataset.map(lambda x, y: (x, tf.squeeze(y, -1)), num_parallel_calls=AUTOTUNE)
    if image_size is not None and tuple(dataset.element_spec[0].shape[:2]) != _size(image_size):
        size = _size(image_size)
        as_uint8 = from_dataset and spec[0].dtype == tf.uint8

        def resize(x, y):
            x = tf.image.resize(x, size, method="bilinear")
            if as_uint8:  # Rounded, as if the photograph had been saved at this size.
                x = tf.saturate_cast(tf.round(x), tf.uint8)
            return x, tf.image.resize(y[..., None], size, method="nearest")[..., 0]

        return dataset.map(resize, num_parallel_calls=AUTOTUNE)
    if not dataset.element_spec[0].shape[:2].is_fully_defined():
        raise ValueError("The images differ in size, so they cannot be batched: pass image_size.")
    return dataset


def cache_budget() -> int:
    """The most bytes of resized pairs :func:`make_dataset` caches in memory unasked, per dataset.

    An eighth of the machine's memory, at most 2 GiB: on a 12.7 GB Colab machine 1.6 GB, which holds
    VOC train (1,464 pairs) at 320x320 (600 MB), not train_aug (10,582 pairs, 4.3 GB).
    """
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
    return min(2 << 30, total // 8) if total > 0 else 256 << 20


def _pair_bytes(spec) -> int:
    """Bytes of one (image, mask) pair of this element spec; a very large number for unknown sizes."""
    total = 0
    for part in spec:
        if not part.shape.is_fully_defined():
            return 1 << 62
        total += int(np.prod(part.shape.as_list())) * part.dtype.size
    return total


def _read_from_files(dataset) -> bool:
    """Whether ``dataset`` comes from one of fcnlib's file loaders through steps without random ops.

    Follows the chain of one-input datasets (map, take, skip, filter ...) back to a dataset marked
    ``datasets.FILE_BACKED``; a step with a stateful op (a random flip, a Python function) or with several
    inputs answers False: caching it would freeze its randomness or its other inputs.
    """
    try:
        while not hasattr(dataset, datasets.FILE_BACKED):
            inputs = dataset._inputs()
            if len(inputs) != 1 or _has_stateful_function(dataset):
                return False
            dataset = inputs[0]
        return True
    except Exception:  # A dataset kind that does not tell its inputs: not known to be files.
        return False


def _has_stateful_function(dataset) -> bool:
    for value in vars(dataset).values():
        graph = getattr(getattr(value, "function", None), "graph", None)
        if graph is not None and any(op.op_def.is_stateful for op in graph.get_operations()
                                     if op.type not in ("NoOp",)):
            return True
    return False


def _augment_pair(pair, key, seed):
    image, mask = pair
    return augment(image, mask, tf.stack([tf.cast(seed, tf.int64), key]),
                   crop_size=tuple(image.shape[:2]))
