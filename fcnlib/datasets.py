"""Real segmentation data as ``tf.data`` pipelines: PASCAL VOC 2012 (+ SBD), Oxford-IIIT Pet, folders.

Every loader returns a ``tf.data.Dataset`` of ``(image, mask)`` pairs: ``image`` uint8 (H, W, 3),
``mask`` uint8 (H, W) holding class indices, 255 = void (ignored by losses and metrics). Sizes vary
from image to image; :func:`fcnlib.pipeline.make_dataset` resizes and batches.

The loaders check what is cheap to check at once — split lists, that every image has its mask —
and raise ``FileNotFoundError``/``ValueError`` naming the file. What needs reading (a corrupt file,
a mask value that is no class, an image and mask of different sizes) is checked as each pair is
read: iterating the dataset then fails with a ``tf.errors.InvalidArgumentError`` whose message names
the file, or at once with a plain ``ValueError`` when the loader is called with ``validate=True``.

Downloads live in :mod:`fcnlib.download`; ``download=True`` calls them for what is missing.

Example:

>>> from fcnlib import datasets, pipeline  # doctest: +SKIP
>>> train = datasets.load_voc(split="train_aug", download=True)  # doctest: +SKIP
>>> batches = pipeline.make_dataset(train, 8, training=True, image_size=320)  # doctest: +SKIP
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import scipy.io
import tensorflow as tf

from fcnlib import config, files
from fcnlib import download as _download  # Imported under another name: `download` is an argument.

VOC_SPLITS = ("train", "val", "trainval", "train_aug")
PETS_SPLITS = ("trainval", "test")
# Oxford-IIIT Pet trimap values, and the classes each ``border`` choice gives.
TRIMAP_PET, TRIMAP_BACKGROUND, TRIMAP_BORDER = 1, 2, 3
PETS_CLASSES = {"void": ("background", "pet"), "class": ("background", "pet", "border")}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".jfif", ".bmp", ".tif", ".tiff", ".webp")
MASK_SUFFIXES = (".png", ".bmp", ".tif", ".tiff", ".gif")  # Lossless formats only.
_HINT = "or use the embedded dataset, which needs no download: fcnlib.synthetic.splits()"
# Where each dataset's marker folder may sit under the root a user passes.
_VOC_LAYOUTS = ("", "VOC2012", "VOCdevkit/VOC2012")
_SBD_LAYOUTS = ("", "dataset", "benchmark_RELEASE/dataset")
_PETS_LAYOUTS = ("", "oxford-iiit-pet")
# The attribute that marks a dataset as read from files, pair by pair. Its value: (the number of
# pairs, the function that reads the pair of an index), so that a training pipeline can shuffle indices.
FILE_BACKED = "_fcnlib_file_pairs"


def load_voc(root=None, split="train", sbd_root=None, *, download=False, validate=False):
    """Loads PASCAL VOC 2012 segmentation, optionally augmented with the SBD masks.

    Splits: ``train`` (1,464), ``val`` (1,449), ``trainval`` and ``train_aug``: SBD train + SBD val
    + VOC train, minus every VOC val image (10,582), so it never overlaps ``val``. In ``train_aug``
    an image with a VOC mask (void borders included) uses it; the others use the SBD ``.mat`` mask.

    Args:
        root: The ``VOC2012`` folder, or a folder holding ``VOCdevkit/VOC2012``; by default
            ``<data_dir>/voc``.
        split: One of ``VOC_SPLITS``.
        sbd_root: For ``train_aug``: SBD's ``benchmark_RELEASE`` (or its ``dataset``) folder;
            by default ``<data_dir>/sbd``.
        download: Download what is missing (``download.download_voc``, ``download.download_sbd``).
        validate: Read every pair now and raise a ``ValueError`` for the first bad one.

    Returns:
        A ``tf.data.Dataset`` of (uint8 (H, W, 3), uint8 (H, W)) pairs, 21 classes, void = 255.

    Example:

    >>> val = load_voc(split="val")  # doctest: +SKIP

    Introduced in notebooks/00_setup_and_data.ipynb.
    """
    if split not in VOC_SPLITS:
        raise ValueError(f"Unknown VOC split {split!r}; choose one of {VOC_SPLITS}.")
    root = Path(root) if root is not None else config.data_dir() / "voc"
    voc = _locate(root, _VOC_LAYOUTS, "ImageSets/Segmentation",
                  _download.download_voc if download else None)
    if voc is None:
        raise FileNotFoundError(
            f"No PASCAL VOC 2012 under {root} (expected {root / 'VOCdevkit/VOC2012/ImageSets'}). "
            f"Call load_voc(..., download=True) or fcnlib.download.download_voc(), {_HINT}."
        )
    lists = voc / "ImageSets" / "Segmentation"

    def voc_pair(stem):
        return voc / "JPEGImages" / f"{stem}.jpg", voc / "SegmentationClass" / f"{stem}.png"

    if split != "train_aug":
        pairs = [voc_pair(stem) for stem in _read_list(lists / f"{split}.txt")]
    else:
        sbd_root = Path(sbd_root) if sbd_root is not None else config.data_dir() / "sbd"
        sbd = _locate(sbd_root, _SBD_LAYOUTS, "cls", _download.download_sbd if download else None)
        if sbd is None:
            raise FileNotFoundError(
                f"Split 'train_aug' needs the SBD, and there is none under {sbd_root} (expected "
                f"{sbd_root / 'benchmark_RELEASE/dataset/cls'}). Call load_voc(..., download=True) "
                f"or fcnlib.download.download_sbd(), use split='train', {_HINT}."
            )
        voc_train = _read_list(lists / "train.txt")
        sbd_ids = _read_list(sbd / "train.txt") + _read_list(sbd / "val.txt")
        val = set(_read_list(lists / "val.txt"))
        in_voc = set(voc_train)
        pairs = []
        for stem in sorted(set(sbd_ids + voc_train) - val):
            if stem in in_voc:
                pairs.append(voc_pair(stem))
            else:
                image = voc / "JPEGImages" / f"{stem}.jpg"
                image = image if image.exists() else sbd / "img" / f"{stem}.jpg"
                pairs.append((image, sbd / "cls" / f"{stem}.mat"))
    # VOC's and SBD's photographs are plain JPEGs (no EXIF rotation, no other format under a .jpg
    # name), so TensorFlow decodes them in the graph.
    return _pairs_dataset(pairs, len(config.VOC_CLASSES), validate, what=f"VOC split {split!r}",
                          jpeg_in_graph=True)


def load_oxford_pets(root=None, split="trainval", border="void", *, download=False, validate=False):
    """Loads the Oxford-IIIT Pet trimaps as masks: 0 background, 1 pet, and the border as chosen.

    The trimaps hold 1 (pet), 2 (background) and 3 (the uncertain border around the pet). With
    ``border="void"`` the border becomes 255 and is ignored (classes ``PETS_CLASSES["void"]``); with
    ``border="class"`` it is class 2 (``PETS_CLASSES["class"]``).

    Args:
        root: The folder holding ``images/`` and ``annotations/``; by default
            ``<data_dir>/oxford_pets``.
        split: ``"trainval"`` (3,680 images) or ``"test"`` (3,669): ``annotations/<split>.txt``.
        border: ``"void"`` or ``"class"``.
        download: Download what is missing (``download.download_pets``).
        validate: Read every pair now and raise a ``ValueError`` for the first bad one.

    Returns:
        A ``tf.data.Dataset`` of (uint8 (H, W, 3), uint8 (H, W)) pairs.

    Example:

    >>> pets = load_oxford_pets(split="test", border="class")  # doctest: +SKIP

    Introduced in notebooks/00_setup_and_data.ipynb.
    """
    if split not in PETS_SPLITS:
        raise ValueError(f"Unknown Oxford-IIIT Pet split {split!r}; choose one of {PETS_SPLITS}.")
    if border not in PETS_CLASSES:
        raise ValueError(f"border must be 'void' or 'class', got {border!r}.")
    root = Path(root) if root is not None else config.data_dir() / "oxford_pets"
    pets = _locate(root, _PETS_LAYOUTS, "annotations/trimaps",
                   _download.download_pets if download else None)
    if pets is None:
        raise FileNotFoundError(
            f"No Oxford-IIIT Pet data under {root} (expected {root / 'annotations/trimaps'} and "
            f"{root / 'images'}). Call load_oxford_pets(..., download=True) or "
            f"fcnlib.download.download_pets(), {_HINT}."
        )
    stems = _read_list(pets / "annotations" / f"{split}.txt")
    trimaps = pets / "annotations" / "trimaps"
    pairs = [(pets / "images" / f"{stem}.jpg", trimaps / f"{stem}.png") for stem in stems]
    lookup = np.full(256, -1, dtype=np.int16)
    lookup[[TRIMAP_PET, TRIMAP_BACKGROUND]] = [1, 0]
    lookup[TRIMAP_BORDER] = config.IGNORE_LABEL if border == "void" else 2

    def trimap_to_mask(trimap, path):
        mask = lookup[trimap]
        if (mask < 0).any():
            unknown = sorted(set(np.unique(trimap).tolist()) - {1, 2, 3})
            raise ValueError(
                f"Trimap {path} holds values {unknown}; Oxford-IIIT Pet trimaps use only 1 (pet), "
                "2 (background) and 3 (border)."
            )
        return mask.astype(np.uint8)

    num_classes = len(PETS_CLASSES[border])
    return _pairs_dataset(pairs, num_classes, validate, f"Pets split {split!r}", trimap_to_mask)


def read_classes(directory):
    """Returns the class names in ``<directory>/classes.txt`` (one a line), or None without one."""
    path = Path(directory) / "classes.txt"
    if not path.is_file():
        return None
    names = tuple(line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip())
    if not names:
        raise ValueError(f"{path} lists no class names; write one name per line (index = line).")
    return names


def parse_classes(classes):
    """Returns class names as a tuple, or a class count as an int, refusing what is neither.

    A string is a comma-separated list of names (``"background,sign"``), never a sequence of
    one-letter names. A count of 1 stands for a single sigmoid channel: background and object.

    Example:

    >>> parse_classes("background, sign")
    ('background', 'sign')
    """
    if isinstance(classes, (bool, np.bool_)) or not isinstance(classes, (str, int, np.integer, list, tuple)):
        raise ValueError(f"classes must be a list of names, a comma-separated string of names or a "
                         f"number of classes; got {classes!r} ({type(classes).__name__}).")
    if isinstance(classes, (int, np.integer)):
        if classes < 1:
            raise ValueError(f"classes={classes!r}: a dataset has at least one class (1 means a "
                             "single sigmoid channel: background and object).")
        return int(classes)
    names = classes.split(",") if isinstance(classes, str) else classes
    names = tuple(str(name).strip() for name in names)
    if len(names) < 2 or not all(names) or any("\n" in name for name in names):
        raise ValueError(f"classes={classes!r} gives the names {names}; give two or more non-empty "
                         "one-line names, background first, e.g. ['background', 'sign'] or "
                         "'background,sign'.")
    if len(set(names)) < len(names):
        raise ValueError(f"classes={classes!r} names a class twice; each index needs its own name.")
    return names


def load_folder(directory, split=None, classes=None, *, validate=False):
    """Loads your own images and masks, paired by file name stem.

    Layout (the one :func:`fcnlib.synthetic.write_folder` writes): ``<directory>/images/<stem>.jpg``
    (or .png …), ``<directory>/masks/<stem>.png`` — a palette or grayscale PNG of class indices,
    255 = void — optional ``<directory>/splits/<split>.txt`` (one stem a line) and
    ``<directory>/classes.txt`` (one class name a line).

    Args:
        directory: The folder.
        split: A split name (``splits/<split>.txt``), or None for every image.
        classes: Class names (a list, or one comma-separated string such as
            ``"background,sign"``), or their number; None reads ``classes.txt`` and, without it,
            leaves mask values unchecked.
        validate: Read every pair now and raise a ``ValueError`` for the first bad one.

    Returns:
        A ``tf.data.Dataset`` of (uint8 (H, W, 3), uint8 (H, W)) pairs, in stem order (or the
        split's order).

    Example:

    >>> data = load_folder("my_signs", "train", ["background", "sign"])  # doctest: +SKIP

    Introduced in notebooks/00_setup_and_data.ipynb.
    """
    root = Path(directory).expanduser()
    images, masks = _index(root / "images", IMAGE_SUFFIXES), _index(root / "masks", MASK_SUFFIXES)
    if split is None:
        stems = sorted(images)
        orphans = sorted(set(masks) - set(images))
        if orphans:
            raise ValueError(
                f"{len(orphans)} mask(s) have no image of the same stem, e.g. {masks[orphans[0]]}; "
                f"expected {root / 'images' / orphans[0]}.jpg or .png."
            )
    else:
        split_file = root / "splits" / f"{split}.txt"
        if not split_file.is_file():
            known = sorted(p.stem for p in (root / "splits").glob("*.txt"))
            raise FileNotFoundError(f"No split file {split_file}; splits found: {known or 'none'}.")
        stems = _read_list(split_file, whole_lines=True)
        missing = [s for s in stems if s not in images]
        if missing:
            raise FileNotFoundError(
                f"{split_file} lists {len(missing)} stem(s) with no image in {root / 'images'}, "
                f"e.g. {missing[0]!r}."
            )
    if not stems:
        raise ValueError(f"No images in {root / 'images'} (suffixes {IMAGE_SUFFIXES}).")
    unmasked = [s for s in stems if s not in masks]
    if unmasked:
        others = sorted(p.name for p in (root / "masks").glob("*") if _stem(p) == unmasked[0])
        raise FileNotFoundError(
            f"{len(unmasked)} image(s) have no mask, e.g. {images[unmasked[0]]}: expected "
            f"{root / 'masks' / unmasked[0]}.png (or {', '.join(MASK_SUFFIXES[1:])})"
            + (f"; found {', '.join(others)}, which is no lossless mask format." if others else ".")
        )
    classes = read_classes(root) if classes is None else parse_classes(classes)
    num_classes = None if classes is None else max(
        classes if isinstance(classes, int) else len(classes), 2)
    pairs = [(images[s], masks[s]) for s in stems]
    return _pairs_dataset(pairs, num_classes, validate, f"folder {root}")


def _locate(root, layouts, marker, fetch=None):
    """Returns the first ``root/layout`` holding ``marker``; if none, runs ``fetch(root)`` once."""
    for attempt in range(2):
        for layout in layouts:
            if (root / layout / marker).is_dir():
                return root / layout
        if attempt or not fetch:
            return None
        fetch(root)


def _read_list(path, whole_lines=False):
    """Reads a split list: the first word of each non-empty line (VOC, SBD and Pets formats).

    With ``whole_lines`` each line is one stem (an own folder's stems may hold spaces).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Missing split list {path}; the dataset copy is incomplete.")
    stems = [unicodedata.normalize("NFC", line.strip() if whole_lines else line.split()[0])
             for line in path.read_text(encoding="utf-8-sig").splitlines()  # -sig: a BOM is no stem.
             if line.strip() and not line.startswith("#")]
    if not stems:
        raise ValueError(f"Split list {path} names no images.")
    return stems


def _index(folder, suffixes):
    """Maps file stems to paths in ``folder``; refuses JPEG masks and ambiguous stems."""
    if not folder.is_dir():
        raise FileNotFoundError(f"No folder {folder}: expected images/ and masks/ side by side.")
    found = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        suffix = path.suffix.lower()
        if suffixes is MASK_SUFFIXES and suffix in (".jpg", ".jpeg"):
            raise ValueError(
                f"Mask {path} is a JPEG: lossy compression changes pixel values, so class indices "
                "turn into other classes at every edge. Save masks as PNG."
            )
        if suffix not in suffixes:
            continue
        stem = _stem(path)
        if stem in found:
            raise ValueError(f"Two files share the stem {stem!r}: {found[stem]}, {path}.")
        found[stem] = path
    return found


def _stem(path) -> str:
    """A file's stem in one Unicode form (NFC): macOS writes names decomposed (NFD), Windows composed."""
    return unicodedata.normalize("NFC", Path(path).stem)


def _read_label(path):
    """Reads a mask: a PNG of class indices or an SBD ``.mat`` (struct GTcls, field Segmentation)."""
    if path.suffix != ".mat":
        return files.read_mask(path)
    try:
        segmentation = np.asarray(
            scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)["GTcls"].Segmentation
        )
    except (KeyError, AttributeError, ValueError, TypeError, OSError) as error:
        raise ValueError(
            f"Cannot read SBD mask {path} ({error!r}); expected a MATLAB file holding a struct "
            "GTcls with a field Segmentation, as in benchmark_RELEASE/dataset/cls/."
        ) from error
    if segmentation.ndim != 2 or segmentation.min() < 0 or segmentation.max() > 255:
        raise ValueError(f"SBD mask {path}: GTcls.Segmentation must be 2-D, with values 0..255.")
    return segmentation.astype(np.uint8)


def _pairs_dataset(pairs, num_classes, validate, what, transform=None, jpeg_in_graph=False):
    """Builds the dataset: a range of indices mapped through a reader of one pair.

    Palette PNG masks in the VOC palette (VOC's own, and every mask :func:`files.write_mask` writes)
    are decoded by TensorFlow in the graph, in parallel and outside Python's global lock, and
    checked there (size, classes); :func:`files.png_voc_palette` decides, file by file. Every other
    mask (a grey ramp, an own palette, greyscale or RGB PNGs, a truncated file, SBD ``.mat`` files,
    Pets trimaps) is read by Python (:func:`files.read_mask`, SciPy) inside ``tf.py_function``,
    with all of its checks. With ``jpeg_in_graph``, complete ``.jpg`` images are decoded by
    ``tf.io.decode_jpeg`` in the graph; PIL reads them otherwise (it also applies a camera's EXIF
    rotation and reads other formats under a .jpg name, which ``tf.io`` does not) and reads every
    image that does not start and end like a JPEG, naming the file if it cannot. Both use libjpeg's
    accurate integer IDCT, so the pixels are the same.

    The dataset has known length and reads each pair on its own; it carries ``FILE_BACKED``, so
    that :func:`fcnlib.pipeline.make_dataset` caches its resized pairs and shuffles its indices.
    """
    missing = [str(p) for pair in pairs for p in pair if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{what}: {len(missing)} listed file(s) are missing, e.g. {missing[:3]}; every image "
            "needs its mask, of the same stem. Copy the missing files or take them off the list."
        )

    def read_image(index):
        return files.read_image(pairs[int(index)][0])

    def read_pair(index):
        image = read_image(index)
        return image, read_mask(index, image.shape)

    def read_mask(index, image_shape):
        image_path, mask_path = pairs[int(index)]
        image_shape = tuple(int(side) for side in image_shape)
        mask = _read_label(mask_path)
        if transform is not None:
            mask = transform(mask, mask_path)
        if image_shape[:2] != mask.shape:
            raise ValueError(
                f"Image {image_path} is {image_shape[0]}x{image_shape[1]} but its mask {mask_path} "
                f"is {mask.shape[0]}x{mask.shape[1]}; a mask must have its image's size."
            )
        if num_classes is not None:
            values = np.unique(mask)
            bad = values[(values >= num_classes) & (values != config.IGNORE_LABEL)]
            if bad.size:
                raise ValueError(
                    f"Mask {mask_path} holds {bad.tolist()}, which are no class: classes are "
                    f"0..{num_classes - 1} and {config.IGNORE_LABEL} is void. Check the class "
                    "list, or masks resized with interpolation."
                )
        return mask

    if validate:
        for index in range(len(pairs)):
            read_pair(index)

    in_graph = jpeg_in_graph and all(image.suffix.lower() in (".jpg", ".jpeg") for image, _ in pairs)
    image_paths = tf.constant([str(image) for image, _ in pairs])
    mask_paths = tf.constant([str(mask) for _, mask in pairs])
    # Which masks may be PNGs in the VOC palette; the others go to Python at once.
    png_masks = tf.constant([transform is None and mask.suffix.lower() == ".png" for _, mask in pairs])

    def graph_mask(contents, image_path, mask_path, image_shape):
        mask = files.decode_voc_mask(contents)
        shape, size = tf.shape(mask), tf.strings.as_string
        _assert(tf.reduce_all(tf.equal(shape, image_shape[:2])), lambda: [
            "Image ", image_path, " is ", size(image_shape[0]), "x", size(image_shape[1]), " but its mask ",
            mask_path, " is ", size(shape[0]), "x", size(shape[1]), "; a mask must have its image's size."])
        if num_classes is not None:
            def bad_values():
                values, _ = tf.unique(tf.reshape(mask, [-1]))
                bad = tf.sort(tf.boolean_mask(values, tf.logical_and(values >= num_classes,
                                                                     values != config.IGNORE_LABEL)))
                return ["Mask ", mask_path, " holds [", tf.strings.reduce_join(size(bad), separator=", "),
                        f"], which are no class: classes are 0..{num_classes - 1} and "
                        f"{config.IGNORE_LABEL} is void. Check the class list, or masks resized with "
                        "interpolation."]

            _assert(tf.logical_not(tf.reduce_any(tf.logical_and(
                mask >= num_classes, mask != config.IGNORE_LABEL))), bad_values)
        return mask

    def python_mask(index, image_shape):
        return tf.py_function(read_mask, [index, image_shape], tf.uint8)

    def load(index):
        image_path, mask_path = tf.gather(image_paths, index), tf.gather(mask_paths, index)
        if in_graph:
            contents = tf.io.read_file(image_path)
            image = tf.cond(files.jpeg_complete(contents),
                            lambda: tf.io.decode_jpeg(contents, channels=3, dct_method="INTEGER_ACCURATE"),
                            lambda: tf.py_function(read_image, [index], tf.uint8))
        else:
            image = tf.py_function(read_image, [index], tf.uint8)
        image.set_shape((None, None, 3))
        image_shape = tf.shape(image)

        def png_or_python():
            contents = tf.io.read_file(mask_path)
            return tf.cond(files.png_voc_palette(contents),
                           lambda: graph_mask(contents, image_path, mask_path, image_shape),
                           lambda: python_mask(index, image_shape))

        mask = tf.cond(tf.gather(png_masks, index), png_or_python, lambda: python_mask(index, image_shape))
        mask.set_shape((None, None))
        return image, mask

    indices = tf.data.Dataset.range(len(pairs))
    dataset = indices.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    setattr(dataset, FILE_BACKED, (len(pairs), load))
    return dataset


def _assert(condition, message):
    """In the graph: fails with the text ``message()`` joins when ``condition`` is False (built only then)."""
    text = tf.cond(condition, lambda: tf.constant(""), lambda: tf.strings.join(message()))
    tf.debugging.Assert(condition, [text])
