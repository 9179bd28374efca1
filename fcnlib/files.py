"""Reading and writing images and masks, safely.

Every file this project writes goes through :func:`atomic_path`: it is written under a temporary name
in the target directory and renamed only once complete, so an interrupted run never leaves a
half-written file that a later run would take as finished.

Masks are single-channel arrays of class indices (``uint8``, ``255`` = void). On disk they are
palette PNGs (the VOC convention: pixel values are indices, the palette only colours them) or plain
grayscale PNGs holding the indices.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from fcnlib import config


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
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such image file: {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"Image file is empty (0 bytes): {path}")
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ValueError(f"Cannot read image file {path}: {error}") from error
    return image


def read_image(path) -> np.ndarray:
    """Reads an image file as RGB ``uint8`` of shape (H, W, 3).

    Grayscale, palette, CMYK and 16-bit images are converted; an alpha channel is dropped.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is empty, truncated or not an image; the message names the file.
    """
    image = _open(path)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        array = np.round(array / max(array.max(), 1) * 255).astype(np.uint8)
        return np.repeat(array[..., None], 3, axis=-1)
    return np.array(image.convert("RGB"), dtype=np.uint8)  # A writable copy.


def read_mask(path, palette=None) -> np.ndarray:
    """Reads a mask file as class indices, ``uint8`` of shape (H, W).

    Palette and grayscale PNGs give their pixel values directly. 16-bit masks are accepted when every
    value fits in 0..255. An RGB mask is accepted when every colour is in ``palette`` (the VOC palette
    by default): it is a palette image saved as RGB, and is mapped back to indices.

    Raises:
        ValueError: If a value does not fit or a colour is not in the palette; names the file.
    """
    image = _open(path)
    if image.mode in ("P", "L"):
        return np.array(image, dtype=np.uint8)  # A copy: arrays over PIL buffers are read-only.
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image)
        if array.min() < 0 or array.max() > 255:
            raise ValueError(
                f"Mask {path} holds values up to {array.max()}; class indices must be 0..255."
            )
        return array.astype(np.uint8)
    if image.mode in ("RGB", "RGBA"):
        rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
        return rgb_to_indices(rgb, palette, source=path)
    raise ValueError(f"Mask {path} has unsupported image mode {image.mode!r}.")


def rgb_to_indices(rgb: np.ndarray, palette=None, source="mask") -> np.ndarray:
    """Maps an RGB-coloured mask back to class indices through ``palette`` (VOC by default)."""
    palette = config.voc_palette() if palette is None else palette
    lookup = {tuple(colour): index for index, colour in reversed(list(enumerate(palette)))}
    codes = rgb.reshape(-1, 3).astype(np.int64) @ np.array([65536, 256, 1])
    uniques, inverse = np.unique(codes, return_inverse=True)
    indices = np.empty(len(uniques), dtype=np.uint8)
    for position, code in enumerate(uniques):
        colour = (int(code) >> 16, (int(code) >> 8) & 255, int(code) & 255)
        if colour not in lookup:
            raise ValueError(
                f"{source}: RGB colour {colour} is not in the palette, so it is no class; save masks "
                "as palette or grayscale PNGs of class indices."
            )
        indices[position] = lookup[colour]
    return indices[inverse].reshape(rgb.shape[:2])


def write_image(path, image: np.ndarray) -> Path:
    """Writes an RGB ``uint8`` image atomically; the format follows the suffix (.png, .jpg)."""
    path = Path(path)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"Unsupported image suffix for {path}; use .png or .jpg.")
    with atomic_path(path) as tmp:
        Image.fromarray(np.asarray(image, dtype=np.uint8)).save(tmp, format=fmt, quality=95)
    return path


def write_mask(path, mask: np.ndarray, palette=None) -> Path:
    """Writes a mask of class indices atomically as a palette PNG (VOC colours by default)."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"A mask must be 2-D (H, W); got shape {mask.shape} for {path}.")
    if mask.min(initial=0) < 0 or mask.max(initial=0) > 255:
        raise ValueError(f"Mask values for {path} must be within 0..255.")
    palette = config.voc_palette() if palette is None else palette
    image = Image.fromarray(mask.astype(np.uint8), mode="P")
    image.putpalette([channel for colour in palette for channel in colour])
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return Path(path)
