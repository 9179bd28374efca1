"""The embedded dataset: synthetic street scenes with traffic signs, generated in seconds.

Each scene has a textured sky, buildings or fields, trees, pavement and road, cars and other
distractors painted in the sign colours (red boards, blue cars, plain red discs), zero to three signs
of five kinds at 8-45 % of the image side (some on poles, some partly hidden behind poles, leaves,
vans or branches), a cast shadow, a global change of brightness, contrast and colour, blur and noise.
Colour alone does not find the signs: a red-or-blue threshold scores a foreground IoU of about 0.22.
Signs cover about 13 % of the pixels, so predicting "all background" already scores about 87 % pixel
accuracy on the binary task (85 % background, 5 % void and 10 % signs in the multiclass masks at 96x96).

Two tasks share the same images:

- ``"binary"``: mask 0 = background, 1 = sign; no void.
- ``"multiclass"``: 0 = background, 1..5 = ``config.MULTICLASS_CLASSES`` (stop, give_way, warning,
  prohibitory, mandatory), and a VOC-style void band (``config.IGNORE_LABEL`` = 255) two pixels wide
  along every object outline, occluders' edges included. Hidden sign pixels are background.

Scene ``i`` of seed ``s`` is drawn from ``np.random.default_rng([s, i])`` alone, so the same seed gives
byte-identical data, and the first scenes do not depend on how many are asked for.

Example:

>>> from fcnlib import synthetic
>>> images, masks = synthetic.generate(4, image_size=96, task="multiclass", seed=0)
>>> images.shape, masks.shape
((4, 96, 96, 3), (4, 96, 96))
"""

from __future__ import annotations

import contextlib
import numbers
import os
import re
from pathlib import Path

import numpy as np

from fcnlib import _scene_painter, config, files, progress

TASKS = {"binary": config.BINARY_CLASSES, "multiclass": config.MULTICLASS_CLASSES}
# Fixed seeds of the profile splits; distinct, so that no scene is in two splits.
SPLIT_SEEDS = {"train": 1, "val": 2, "test": 3}
# A class counts as present in presence_labels when it covers at least this many pixels.
MIN_PRESENCE_PIXELS = 10


def _image_size(image_size) -> tuple[int, int]:
    sides = (image_size, image_size) if isinstance(image_size, numbers.Integral) else image_size
    sides = tuple(sides) if isinstance(sides, (tuple, list, np.ndarray)) else ()
    if len(sides) != 2 or not all(isinstance(side, numbers.Integral) for side in sides):
        raise ValueError(f"image_size must be an int or a pair (height, width) of ints; got {image_size!r}.")
    if min(sides) < 16:
        raise ValueError(f"image_size must be at least 16 pixels per side; got {image_size!r}.")
    return int(sides[0]), int(sides[1])


def void_band(labels: np.ndarray) -> np.ndarray:
    """Marks the pixels along every border between two classes as void (``config.IGNORE_LABEL``).

    A pixel becomes void when one of its 8 neighbours holds another class, so the band is two pixels
    wide, one on each side of the outline, as in PASCAL VOC's hand-drawn borders (which are wider).
    The image edge is no border.

    Args:
        labels: Class indices, shape (H, W).

    Returns:
        A copy of ``labels`` with the band set to 255.

    Example:

    >>> void_band(np.array([[0, 0, 0, 1, 1]] * 2, np.uint8))[0].tolist()
    [0, 0, 255, 255, 1]
    """
    padded = np.pad(labels, 1, mode="edge")
    height, width = labels.shape
    border = np.zeros(labels.shape, dtype=bool)
    for dy in range(3):
        for dx in range(3):
            border |= padded[dy:dy + height, dx:dx + width] != labels
    out = labels.copy()
    out[border] = config.IGNORE_LABEL
    return out


def generate(num_images: int, image_size=96, task: str = "binary", seed: int = 0):
    """Generates synthetic street scenes with traffic signs and their masks.

    Args:
        num_images: How many scenes (at least 1).
        image_size: Side of square images, or a pair (height, width); any size from 16 up, not
            necessarily a multiple of 32.
        task: ``"binary"`` (0 background, 1 sign) or ``"multiclass"`` (0 background, 1..5 sign
            classes, 255 void band along object outlines). Both give the same images.
        seed: A non-negative int; the same seed gives byte-identical data.

    Returns:
        ``(images, masks)``: uint8 arrays of shape (N, H, W, 3) and (N, H, W).

    Example:

    >>> images, masks = generate(8, image_size=(64, 96))
    >>> sorted(np.unique(masks).tolist())
    [0, 1]

    Introduced in notebooks/00_setup_and_data.ipynb.
    """
    if not isinstance(num_images, numbers.Integral) or num_images < 1:
        raise ValueError(f"num_images must be a positive int; got {num_images!r}.")
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; choose one of {sorted(TASKS)}.")
    if not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}.")
    height, width = _image_size(image_size)
    images = np.empty((num_images, height, width, 3), dtype=np.uint8)
    masks = np.empty((num_images, height, width), dtype=np.uint8)
    with progress.Progress(num_images, f"Generating {num_images:,} synthetic scenes", unit="scenes") as bar:
        for index in range(num_images):
            rng = np.random.default_rng([int(seed), index])
            images[index], labels = _scene_painter.render_scene(rng, height, width)
            masks[index] = (labels > 0) if task == "binary" else void_band(labels)
            bar.update(index + 1)
    return images, masks


def splits(task: str = "binary", profile=None) -> dict:
    """Generates the train, val and test splits of the active profile.

    Sizes and image size come from ``config.get_profile(profile)`` (``num_train``, ``num_val``,
    ``num_test``, ``image_size``); each split has its own fixed seed (``SPLIT_SEEDS``), so the splits
    never share a scene and every run gets the same data. The quick profile (1,100 scenes of 96x96)
    takes a few seconds. The full profile's sizes are VOC's: 13,480 scenes of 320x320 take about
    4 GB and a few minutes; for synthetic data on a GPU, pass a smaller profile built with
    ``dataclasses.replace(config.FULL, num_train=..., ...)``.

    Args:
        task: ``"binary"`` or ``"multiclass"``.
        profile: A profile name, a :class:`config.Profile`, or None for the active profile.

    Returns:
        ``{"train": (images, masks), "val": (images, masks), "test": (images, masks)}``.

    Example:

    >>> data = splits("binary", profile="quick")  # doctest: +SKIP
    >>> data["train"][0].shape  # doctest: +SKIP
    (800, 96, 96, 3)

    Introduced in notebooks/00_setup_and_data.ipynb.
    """
    if not isinstance(profile, config.Profile):
        profile = config.get_profile(profile)
    sizes = {"train": profile.num_train, "val": profile.num_val, "test": profile.num_test}
    return {name: generate(size, profile.image_size, task, SPLIT_SEEDS[name])
            for name, size in sizes.items()}


def write_folder(root, images, masks, classes, split=None, *, overwrite=False) -> Path:
    """Writes scenes in the own-folder layout that ``datasets.load_folder`` reads.

    Files: ``images/<stem>.png``, ``masks/<stem>.png`` (palette PNGs of class indices),
    ``classes.txt`` (one name per line, index = line number) and, with ``split``,
    ``splits/<split>.txt`` (one stem per line). Stems are ``<split>_00000``... (``scene_00000``...
    without a split), so several splits can share a folder. Every file is written atomically.

    Scenes of the same split (or unsplit scenes) from an earlier call would be loaded together
    with the new ones, so they are refused, or with ``overwrite=True`` deleted first (their split
    list first of all). Two calls writing into one folder at once are refused as well.

    Args:
        root: The dataset folder (created if needed).
        images: uint8 (N, H, W, 3).
        masks: uint8 (N, H, W) of class indices below ``len(classes)``, or 255 for void.
        classes: Class names, background first (a list, or a comma-separated string).
        split: Optional split name such as ``"train"``.
        overwrite: Delete this split's scenes from an earlier call instead of refusing.

    Returns:
        ``root`` as a Path.

    Example:

    >>> images, masks = generate(4, task="multiclass")
    >>> classes = config.MULTICLASS_CLASSES
    >>> write_folder("my_signs", images, masks, classes, split="train")  # doctest: +SKIP

    Introduced in notebooks/00_setup_and_data.ipynb (the layout your own data can use).
    """
    from fcnlib import datasets  # Imported here: only this function needs the class-list parser.

    root, images, masks = Path(root), np.asarray(images), np.asarray(masks)
    classes = datasets.parse_classes(classes)
    if isinstance(classes, int):
        raise ValueError(f"classes must be names (background first), not a count; got {classes}.")
    classes = list(classes)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"images must be uint8 of shape (N, H, W, 3); got {images.dtype} {images.shape}."
        )
    if not len(images):
        raise ValueError(f"No images to write into {root}: images has shape {images.shape}.")
    if masks.shape != images.shape[:3]:
        raise ValueError(f"masks must have shape {images.shape[:3]} like the images; got {masks.shape}.")
    bad = np.setdiff1d(np.unique(masks), [*range(len(classes)), config.IGNORE_LABEL])
    if bad.size:
        raise ValueError(f"Mask values {bad.tolist()} are neither a class of {classes} nor void (255).")
    if split is not None and (not str(split) or any(c in str(split) for c in "/\\ \n")):
        raise ValueError(f"split must be a plain name such as 'train'; got {split!r}.")
    root.mkdir(parents=True, exist_ok=True)
    with _exclusive(root):
        class_file = root / "classes.txt"
        text = "\n".join(classes) + "\n"
        if class_file.exists() and class_file.read_text() != text:
            raise ValueError(f"{class_file} already lists other classes; write to a new folder or "
                             "use the same classes.")
        prefix = str(split or "scene")
        _clear_earlier(root, prefix, overwrite)
        digits = max(5, len(str(len(images) - 1)))
        stems = [f"{prefix}_{index:0{digits}d}" for index in range(len(images))]
        for stem, image, mask in zip(stems, images, masks, strict=False):
            files.write_image(root / "images" / f"{stem}.png", image)
            files.write_mask(root / "masks" / f"{stem}.png", mask)
        if split is not None:
            with files.atomic_path(root / "splits" / f"{split}.txt") as tmp:
                tmp.write_text("\n".join(stems) + "\n")
        with files.atomic_path(class_file) as tmp:
            tmp.write_text(text)
    return root


def _clear_earlier(root, prefix, overwrite):
    """Refuses (or, with ``overwrite``, deletes) the scenes ``prefix_NNNNN.png`` of an earlier call."""
    pattern = re.compile(rf"{re.escape(prefix)}_\d+\.png")
    earlier = [path for folder in (root / "images", root / "masks") if folder.is_dir()
               for path in sorted(folder.iterdir()) if pattern.fullmatch(path.name)]
    if not earlier:
        return
    if not overwrite:
        raise FileExistsError(
            f"{root} already holds {len(earlier)} file(s) of {prefix!r} scenes from an earlier "
            f"write, e.g. {earlier[0]}; load_folder would load them together with the new ones. "
            "Write to a new folder, or pass overwrite=True to delete them first."
        )
    # The split list goes first, so an interruption never leaves it naming deleted scenes.
    with contextlib.suppress(FileNotFoundError):
        (root / "splits" / f"{prefix}.txt").unlink()
    for path in earlier:
        path.unlink()


@contextlib.contextmanager
def _exclusive(root):
    """Holds an exclusive lock on the folder, so two writers never mix their scenes."""
    try:
        import fcntl
    except ImportError:  # Not on POSIX: no lock, as before.
        yield
        return
    descriptor = os.open(root, os.O_RDONLY)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FileExistsError(
                f"Another write_folder call is writing into {root} right now; wait for it to "
                "finish, or write to another folder."
            ) from None
        yield
    finally:
        os.close(descriptor)  # Closing releases the lock.


def presence_labels(masks, num_classes: int, min_pixels: int = MIN_PRESENCE_PIXELS) -> np.ndarray:
    """Multi-hot labels of which sign classes appear in each mask: targets for a classifier.

    Args:
        masks: Class indices of shape (N, H, W); 255 (void) is not counted.
        num_classes: Number of classes including background (2 for binary, 6 for multiclass).
        min_pixels: A class is present when it covers at least this many pixels, so a sign hidden
            but for a sliver does not count.

    Returns:
        float32 (N, num_classes - 1): column ``c - 1`` is 1.0 where class ``c`` is present.

    Example:

    >>> _, masks = generate(2, task="multiclass")
    >>> presence_labels(masks, 6).shape
    (2, 5)

    Used by ``bench.pretrain`` to train the quick profile's backbone as a sign classifier.
    """
    masks = np.asarray(masks)
    if masks.ndim != 3 or not (np.issubdtype(masks.dtype, np.integer) or masks.dtype == bool):
        raise ValueError(f"masks must be integers of shape (N, H, W); got {masks.dtype} {masks.shape}.")
    if not isinstance(num_classes, numbers.Integral) or num_classes < 2:
        raise ValueError(
            f"num_classes must be an int of at least 2 (background included); got {num_classes!r}."
        )
    values = np.unique(masks)
    bad = values[(values < 0) | ((values >= num_classes) & (values != config.IGNORE_LABEL))]
    if bad.size:
        raise ValueError(f"Mask value {bad[0]} is outside 0..{num_classes - 1} and not void (255).")
    counts = [np.count_nonzero(masks == label, axis=(1, 2)) for label in range(1, num_classes)]
    return (np.stack(counts, axis=1) >= min_pixels).astype(np.float32)


def write_voc_tree(root, num_train: int = 8, num_val: int = 6, image_size=(80, 112), seed: int = 0) -> Path:
    """Writes synthetic scenes in PASCAL VOC 2012's layout, for the VOC code path without VOC.

    ``<root>/VOCdevkit/VOC2012`` gets ``JPEGImages/<stem>.jpg``, ``SegmentationClass/<stem>.png``
    (palette PNGs: background 0, the five sign classes as VOC classes 1-5, void 255 along the
    outlines) and ``ImageSets/Segmentation/{train,val,trainval}.txt`` with VOC-style stems
    (``2007_000000``...). ``datasets.load_voc(root, ...)`` and the ``gpu`` profile read it as they
    read VOC; the tests run every notebook on such a tree (``FCN_PROFILE=gpu FCN_SMOKE=1``).

    Args:
        root: Folder to write into (becomes ``FCN_DATA_DIR/voc`` for the profiles).
        num_train, num_val: Images in the two splits.
        image_size: ``(height, width)`` of every image; VOC's are about 500x375.
        seed: Seed of the scenes.

    Returns:
        The ``VOC2012`` folder.
    """
    from fcnlib import files  # Imported here: files is only needed when writing.

    for name, value in (("num_train", num_train), ("num_val", num_val)):
        if not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a positive int; got {value!r}.")
    voc = Path(root) / "VOCdevkit" / "VOC2012"
    images, masks = generate(num_train + num_val, image_size, "multiclass", seed)
    stems = [f"2007_{index:06d}" for index in range(num_train + num_val)]
    for stem, image, mask in zip(stems, images, masks, strict=False):
        files.write_image(voc / "JPEGImages" / f"{stem}.jpg", image)
        files.write_mask(voc / "SegmentationClass" / f"{stem}.png", mask)
    lists = voc / "ImageSets" / "Segmentation"
    lists.mkdir(parents=True, exist_ok=True)
    for split, chosen in (("train", stems[:num_train]), ("val", stems[num_train:]), ("trainval", stems)):
        with files.atomic_path(lists / f"{split}.txt") as tmp:
            tmp.write_text("".join(f"{stem}\n" for stem in chosen))
    return voc
