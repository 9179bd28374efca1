"""Reading and writing images and masks, safely.

Every file this project writes goes through :func:`atomic_path`: it is written under a temporary name
in the target directory and renamed only once complete, so an interrupted run never leaves a
half-written file that a later run would take as finished.

Masks are single-channel arrays of class indices (``uint8``, ``255`` = void). On disk they are
palette PNGs (the VOC convention: pixel values are indices, the palette only colours them) or plain
grayscale PNGs holding the indices.

Readers apply the EXIF orientation a camera records (as every image viewer and annotation tool
does), scale deep images by their type's range, never by the image's own maximum, and refuse masks
that look like a common saving mistake: 0/255 black-and-white masks, lossy (JPEG) data, and
greyscale masks saved as RGB. Writers refuse arrays that would change on the way to ``uint8``.

:func:`sha256` is the project's one checksum: of downloads, of the shipped backbone weights, of
cache entries and cache keys.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fcnlib import config


def sha256(source) -> str:
    """Returns the SHA-256 hex digest of a file or of bytes in memory.

    Args:
        source: A path (``str`` or ``Path``), read in 1 MiB chunks so that a 2 GB archive is never
            in memory at once; or ``bytes``, a ``bytearray`` or a ``memoryview`` (encode text
            first).

    Example:

    >>> sha256(b"abc")[:16]
    'ba7816bf8f01cfea'
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return hashlib.sha256(source).hexdigest()
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(f"sha256 takes a path or bytes; got {type(source).__name__}.")
    digest = hashlib.sha256()
    with open(source, "rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside ``path``; renames it to ``path`` only if the block succeeds.

    Args:
        path: The final file path. Its directory is created if needed.

    Example:

    >>> with atomic_path("out/mask.png") as tmp:  # doctest: +SKIP
    ...     Image.fromarray(mask).save(tmp, format="PNG")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_beside(path)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _create_beside(path: Path) -> Path:
    """Creates an empty, uniquely named file beside ``path`` with the mode ``open()`` would give it.

    ``tempfile.mkstemp`` makes files of mode 0600, readable by their owner alone; this asks for 0666
    and lets the process's umask take away what it takes away for any new file.
    """
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.part"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"Could not create a temporary file beside {path}: every name tried exists.")


def _open(path) -> Image.Image:
    """Opens and decodes an image file, turned upright by its EXIF orientation."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such image file: {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"Image file is empty (0 bytes): {path}")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", Image.DecompressionBombWarning)
            image = Image.open(path)
            image.load()
    except Image.DecompressionBombError as error:
        raise ValueError(
            f"{path} is too large to decode safely ({error}) Shrink the image, or, if you trust the "
            "file, raise PIL.Image.MAX_IMAGE_PIXELS before reading it."
        ) from error
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ValueError(f"Cannot read image file {path}: {error}") from error
    for warning in caught:
        warnings.warn(f"{path}: {warning.message}", type(warning.message), stacklevel=3)
    upright = ImageOps.exif_transpose(image)  # A camera's rotation flag; a no-op without one.
    upright.format = image.format
    return upright


# Deep greyscale modes and the largest value of their type. PNG stores at most 16 bits, so a PNG
# opened as 32-bit "I" holds 16-bit data; other files in "I" have no fixed range.
_DEEP_MODES = {"I;16": 65535, "I;16B": 65535, "I;16L": 65535, "I;16N": 65535}


def read_image(path) -> np.ndarray:
    """Reads an image file as RGB ``uint8`` of shape (H, W, 3), upright by its EXIF orientation.

    Grayscale, palette, CMYK and 16-bit images are converted; an alpha channel is dropped. Deep
    images are scaled by their type's range (16-bit: ``value / 257``), so a dark photograph stays
    dark; floating-point images must hold values in [0, 1] (scaled by 255).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is empty, truncated, too large, not an image, a 32-bit integer
            image (no fixed range), or a float image outside [0, 1]; the message names the file.
    """
    image = _open(path)
    mode = image.mode
    if mode == "I" and image.format == "PNG":
        mode = "I;16"
    if mode in _DEEP_MODES:
        array = np.asarray(image).astype(np.float64) / _DEEP_MODES[mode] * 255
    elif mode == "F":
        array = np.asarray(image, dtype=np.float64)
        if not np.isfinite(array).all() or array.min(initial=0) < 0 or array.max(initial=0) > 1:
            finite = array[np.isfinite(array)]
            raise ValueError(
                f"{path} is a floating-point image with values {finite.min(initial=0):g}.."
                f"{finite.max(initial=0):g}{' and NaN or inf' if finite.size < array.size else ''}; "
                "only values in [0, 1] have a known brightness. Save it as an 8-bit image."
            )
        array = array * 255
    elif mode == "I":
        raise ValueError(
            f"{path} is a 32-bit integer image ({image.format}), which has no fixed brightness "
            "range; save it as an 8- or 16-bit image with the scaling you intend."
        )
    else:
        return np.array(image.convert("RGB"), dtype=np.uint8)  # A writable copy.
    array = np.round(array).astype(np.uint8)
    return np.repeat(array[..., None], 3, axis=-1)


# Formats that store pixel values exactly. JPEG (also under a .png name) and lossy WebP do not.
_LOSSLESS = ("PNG", "BMP", "GIF", "TIFF")


def read_mask(path, palette=None) -> np.ndarray:
    """Reads a mask file as class indices, ``uint8`` of shape (H, W).

    Grayscale PNGs give their pixel values directly; a 1-bit image gives 0 and 1. Palette PNGs give
    their indices where the colours agree with ``palette`` (VOC's by default) or are their own; where
    every colour is a class colour at another index (a re-ordered palette, any GIF), the colours decide.
    16-bit masks are accepted when every value fits in 0..255. An RGB mask is accepted when every
    colour is in ``palette`` (the VOC palette by default): it is a palette image saved as RGB, and
    is mapped back to indices.

    Three common saving mistakes are refused, because they would silently turn into wrong labels:
    a greyscale mask holding only 0 and 255 (a black-and-white mask: 255 is void, so no pixel would
    be an object; a palette PNG may use 0 and 255, as VOC does), lossy data (a JPEG, whatever its
    name), and a greyscale mask saved as RGB with values that are no palette colour.

    Raises:
        ValueError: If a value does not fit, a colour is not in the palette, or the mask looks
            like one of the mistakes above; names the file and the fix.
    """
    image = _open(path)
    compression = str(image.info.get("compression", "")).lower()
    if image.format not in _LOSSLESS or "jpeg" in compression:
        raise ValueError(
            f"Mask {path} holds {image.format or 'unknown'} data{' (JPEG-compressed)' if compression else ''}, "
            "which is lossy: compression changes pixel values, so class indices turn into other "
            "classes at every edge. Export the mask again, losslessly, as a PNG of class indices."
        )
    if image.mode == "1":
        return np.array(image, dtype=np.uint8)  # Booleans: 0 and 1.
    if image.mode in ("P", "L", "I;16", "I;16B", "I;16L", "I;16N", "I"):
        array = np.asarray(image)
        if array.min(initial=0) < 0 or array.max(initial=0) > 255:
            raise ValueError(
                f"Mask {path} holds values up to {array.max()}; class indices must be 0..255."
            )
        array = array.astype(np.uint8)  # A copy: arrays over PIL buffers are read-only.
        if image.mode == "P":
            return _palette_classes(image, array, palette, path)
        _refuse_black_and_white(array, path)
        return array
    if image.mode in ("RGB", "RGBA"):
        rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
        return rgb_to_indices(rgb, palette, source=path)
    raise ValueError(
        f"Mask {path} has image mode {image.mode!r}, which holds no class indices; save it as a "
        "palette or single-channel greyscale PNG of class indices (fcnlib.files.write_mask does)."
    )


def _palette_classes(image, array, palette, path) -> np.ndarray:
    """The classes of a palette image: its indices where its colours agree with ``palette``, else by colour.

    VOC's masks are palette PNGs whose indices are the classes and whose colours follow the VOC palette.
    An editor may re-order the palette (the colours stay, the indices change) and GIF renumbers it on
    save, so where every used colour is a class colour at another index, the colours decide. A palette
    that is a grey ramp (index i coloured (i, i, i)) is a greyscale mask stored as palette: it is checked
    like one (0/255 black and white is refused).
    """
    raw = list(image.getpalette() or [])
    colours = np.array(raw + [0] * (768 - len(raw)), np.uint8).reshape(-1, 3)[:256]
    reference = np.asarray(config.voc_palette() if palette is None else palette, np.uint8)
    used = np.unique(array)
    if all(u < len(reference) and (colours[u] == reference[u]).all() for u in used):
        return array  # The VOC convention: the index is the class.
    if all((colours[u] == u).all() for u in used):
        _refuse_black_and_white(array, path)
        return array
    lookup = {tuple(int(c) for c in colour): index for index, colour in reversed(list(enumerate(reference)))}
    found = {int(u): tuple(int(c) for c in colours[u]) for u in used}
    if all(colour in lookup for colour in found.values()):
        mapping = np.arange(256, dtype=np.uint8)
        for index, colour in found.items():
            mapping[index] = lookup[colour]
        if image.format != "GIF":  # GIF always renumbers; a PNG whose palette moved deserves a word.
            warnings.warn(f"Mask {path}: its palette is re-ordered (index and colour disagree with the "
                          "VOC palette), so it was read by colour. Save masks with files.write_mask to "
                          "keep index and colour together.", stacklevel=3)
        return mapping[array]
    if image.format == "GIF":
        raise ValueError(f"Mask {path} is a GIF whose colours are not the palette's classes: GIF renumbers "
                         "palette indices when it saves, so its indices are no classes. Save the mask as a "
                         "palette PNG of class indices (files.write_mask).")
    return array  # An own palette: the indices are the classes, as written.


def _refuse_black_and_white(mask, path):
    values = np.unique(mask)
    if values[-1] == 255 and set(values.tolist()) <= {0, 255}:
        raise ValueError(
            f"Mask {path} is greyscale and holds only 0 and 255: a black-and-white mask. Here 255 "
            "means void (ignored), so no pixel would be an object. Save the object as class 1, e.g. "
            "files.write_mask(path, (mask > 127).astype(np.uint8)); if 255 really marks void, save "
            "the mask as a palette PNG (write_mask does)."
        )


def rgb_to_indices(rgb: np.ndarray, palette=None, source="mask") -> np.ndarray:
    """Maps an RGB-coloured mask back to class indices through ``palette`` (VOC by default)."""
    palette = config.voc_palette() if palette is None else palette
    lookup = {tuple(colour): index for index, colour in reversed(list(enumerate(palette)))}
    codes = rgb.reshape(-1, 3).astype(np.int64) @ np.array([65536, 256, 1])
    uniques, inverse = np.unique(codes, return_inverse=True)
    indices = np.empty(len(uniques), dtype=np.uint8)
    for position, code in enumerate(uniques):
        colour = (int(code) >> 16, (int(code) >> 8) & 255, int(code) & 255)
        if colour not in lookup and (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
            grey = sorted({int(c) & 255 for c in uniques})
            raise ValueError(
                f"{source}: an RGB mask whose every pixel is grey (R = G = B), values {grey[:10]}; "
                "it looks like a greyscale mask saved as RGB. Save one channel as a greyscale PNG "
                "of class indices, e.g. Image.fromarray(mask[..., 0]).save(path)."
            )
        if colour not in lookup:
            raise ValueError(
                f"{source}: RGB colour {colour} is not in the palette, so it is no class; save masks "
                "as palette or grayscale PNGs of class indices."
            )
        indices[position] = lookup[colour]
    grey = (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
    if grey and uniques.max() > 0:
        warnings.warn(
            f"{source}: an RGB mask whose every pixel is grey (R = G = B) was read through the "
            f"palette as classes {sorted(set(indices.tolist()))}. If it is a greyscale mask of class "
            "indices saved as RGB, save one channel as a greyscale PNG instead.", stacklevel=3)
    return indices[inverse].reshape(rgb.shape[:2])


def _as_uint8(array, path, what):
    """Returns ``array`` as ``uint8`` if every value is an integer 0..255; refuses anything else."""
    array = np.asarray(array)
    if array.size == 0:
        raise ValueError(f"The {what} for {path} is empty (shape {array.shape}); nothing to write.")
    if array.dtype == bool:
        return array.astype(np.uint8)
    if array.dtype.kind not in "ui":
        raise ValueError(
            f"The {what} for {path} is {array.dtype}; write integers 0..255 (uint8): e.g. "
            "np.round(x * 255).astype(np.uint8) for an image scaled to [0, 1]."
        )
    low, high = int(array.min()), int(array.max())
    if low < 0 or high > 255:
        raise ValueError(
            f"The {what} for {path} holds values {low}..{high}, outside 0..255, which uint8 would "
            "wrap around; rescale or clip the values first."
        )
    return array.astype(np.uint8)


def write_image(path, image: np.ndarray) -> Path:
    """Writes an RGB ``uint8`` image (H, W, 3) atomically; the format follows the suffix (.png, .jpg).

    Raises:
        ValueError: For another suffix, shape, a float array or values outside 0..255 (which
            ``uint8`` would silently truncate or wrap); names the file.
    """
    path = Path(path)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"Unsupported image suffix for {path}; use .png or .jpg.")
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"An image must be RGB of shape (H, W, 3); got {image.shape} for {path}.")
    image = _as_uint8(image, path, "image")
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format=fmt, quality=95)
    return path


def write_mask(path, mask: np.ndarray, palette=None) -> Path:
    """Writes a mask of class indices atomically as a palette PNG (VOC colours by default).

    Raises:
        ValueError: For a shape other than (H, W), a float array, or values outside 0..255; names
            the file.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"A mask must be 2-D (H, W); got shape {mask.shape} for {path}.")
    mask = _as_uint8(mask, path, "mask")
    palette = config.voc_palette() if palette is None else palette
    image = Image.fromarray(mask, mode="P")
    image.putpalette([channel for colour in palette for channel in colour])
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return Path(path)


# Reading inside a tf.data graph. A tf.py_function that reads masks with PIL holds Python's global
# lock and costs about a millisecond a mask in Python code; the functions below read the common case
# (VOC's palette PNGs, plain JPEGs) with TensorFlow ops in parallel threads, and say when a file is
# not that case, so that the caller reads it with read_mask or read_image, with their checks.

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_PALETTE = 3  # IHDR colour type of a palette image.


def _voc_index_table() -> np.ndarray:
    """The VOC class index of each colour, by the top three bits of red, green and blue (512 entries).

    The VOC palette puts bit ``3j + c`` of the index at bit ``7 - j`` of channel ``c`` (j = 0, 1, 2),
    so the top three bits of the channels hold every bit of the index; the lower bits are zero.
    """
    table = np.zeros(512, np.uint8)
    for index, (r, g, b) in enumerate(config.voc_palette()):
        table[(r >> 5) | (g >> 5) << 3 | (b >> 5) << 6] = index
    return table


def png_voc_palette(contents):
    """In a tf.data graph: whether PNG bytes are a palette image that :func:`decode_voc_mask` reads exactly.

    True when the file is a complete PNG (signature, IHDR first, IEND last) of colour type palette
    whose palette (its first PLTE, before any IDAT) is the VOC palette or its start, and which holds
    no EXIF chunk (an orientation that :func:`read_mask` would apply). Then every pixel's colour is
    the VOC colour of its index, and the colour gives the index back. Anything else (a grey ramp, an
    own or re-ordered palette, a greyscale or RGB mask, a truncated or foreign file) is False: read it
    with :func:`read_mask`, which knows those cases and names the file when it refuses one. Chunk
    names are found by searching the bytes, not by walking the chunks (a loop costs more than the
    search in a tf.data graph); a name inside another chunk's data can only make the answer False.

    Args:
        contents: A scalar ``tf.string`` of the file's bytes.

    Returns:
        A scalar ``tf.bool`` tensor.
    """
    import tensorflow as tf

    data = tf.io.decode_raw(contents, tf.uint8)
    size = tf.size(data)

    def bytes_equal(start, expected: bytes):
        return tf.reduce_all(tf.equal(data[start:start + len(expected)], tf.constant(list(expected), tf.uint8)))

    def find(name):  # The first position of a 4-byte chunk name, or ``size`` if none.
        end = size - 3
        hits = tf.reduce_all(tf.stack([tf.equal(data[k:end + k], byte) for k, byte in enumerate(name)]), 0)
        return tf.cond(tf.reduce_any(hits), lambda: tf.cast(tf.argmax(hits), tf.int32), lambda: size)

    def check():
        words = tf.cast(data, tf.int32)
        structure = tf.reduce_all(tf.stack([
            bytes_equal(0, _PNG_SIGNATURE), bytes_equal(12, b"IHDR"), tf.equal(data[25], _PNG_PALETTE),
            bytes_equal(size - 8, b"IEND")]))
        palette, image_data, exif = find(b"PLTE"), find(b"IDAT"), find(b"eXIf")
        length = tf.reduce_sum(words[palette - 4:palette] * tf.constant([1 << 24, 1 << 16, 1 << 8, 1]))
        sized = tf.reduce_all(tf.stack([
            palette >= 4, palette < image_data, tf.equal(exif, size), length > 0, length <= 768,
            tf.equal(length % 3, 0), palette + 4 + length <= size]))
        reference = tf.constant(np.asarray(config.voc_palette(), np.uint8).reshape(-1))

        def same_palette():
            return tf.reduce_all(tf.equal(data[palette + 4:palette + 4 + length], reference[:length]))

        return tf.logical_and(structure, tf.cond(sized, same_palette, lambda: tf.constant(False)))

    return tf.cond(size >= 8 + 25 + 12 + 12, check, lambda: tf.constant(False))


def decode_voc_mask(contents):
    """In a tf.data graph: the class indices of a PNG for which :func:`png_voc_palette` is True.

    ``tf.io.decode_png`` turns a palette image into its colours; with the VOC palette each colour is
    one index, so the colours give the indices back (what :func:`read_mask` returns for that file).

    Returns:
        ``uint8`` (H, W).
    """
    import tensorflow as tf

    top = tf.bitwise.right_shift(tf.io.decode_png(contents, channels=3), 5)
    key = tf.cast(top[..., 0], tf.int32) + tf.cast(top[..., 1], tf.int32) * 8 + tf.cast(top[..., 2], tf.int32) * 64
    return tf.gather(tf.constant(_voc_index_table()), key)


def jpeg_complete(contents):
    """In a tf.data graph: whether bytes start and end like a JPEG (SOI and EOI markers).

    A truncated download or another format under a .jpg name is False: read it with
    :func:`read_image`, which decodes what it can and names the file when it cannot.
    """
    import tensorflow as tf

    size = tf.strings.length(contents)
    return tf.cond(size >= 4, lambda: tf.logical_and(
        tf.equal(tf.strings.substr(contents, 0, 2), b"\xff\xd8"),
        tf.equal(tf.strings.substr(contents, size - 2, 2), b"\xff\xd9")), lambda: tf.constant(False))
