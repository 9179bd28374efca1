"""Profiles, paths and dataset facts: the one place every notebook and script reads settings from.

Two profiles exist. ``quick`` runs the whole series on a laptop CPU in minutes: small images, a few
hundred synthetic scenes, a quarter-width VGG16 whose weights ship in ``data/``. ``full`` is the
paper's setting for a GPU with internet: ImageNet VGG16 at full width and a real dataset.

The profile is ``full`` when TensorFlow sees a GPU and ``quick`` otherwise; the environment variable
``FCN_PROFILE`` overrides the choice. ``FCN_DATA_DIR`` moves downloads and ``FCN_CACHE_DIR`` moves
the checkpoint cache.

Example:

>>> from fcnlib import config
>>> profile = config.get_profile("quick")
>>> profile.image_size
96
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

# Label value for "void" pixels (object borders, unlabelled regions), as in PASCAL VOC.
IGNORE_LABEL = 255

PROFILE_ENV = "FCN_PROFILE"
DATA_DIR_ENV = "FCN_DATA_DIR"
CACHE_DIR_ENV = "FCN_CACHE_DIR"

# The repository root when fcnlib is used from a checkout (editable install, Colab clone, Binder).
REPO_ROOT = Path(__file__).resolve().parent.parent
# Small files that ship with the repository: the quick backbone's weights and their recipe.
SHIPPED_DATA_DIR = REPO_ROOT / "data"
# Where the quick profile's pretrained VGG16-style classifier lives, and its SHA-256.
QUICK_BACKBONE_FILE = SHIPPED_DATA_DIR / "vgg16_quarter_synthetic.weights.h5"
QUICK_BACKBONE_SHA256_FILE = SHIPPED_DATA_DIR / "vgg16_quarter_synthetic.sha256"

# Class names of the embedded synthetic traffic-sign scenes.
BINARY_CLASSES = ("background", "sign")
MULTICLASS_CLASSES = ("background", "stop", "give_way", "warning", "prohibitory", "mandatory")

# PASCAL VOC 2012: 20 object classes plus background; void pixels are IGNORE_LABEL.
VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)

# Caffe-style VGG16 preprocessing (keras.applications.vgg16): RGB -> BGR, then these means subtracted.
VGG_MEAN_BGR = (103.939, 116.779, 123.68)


def voc_palette(num_colors: int = 256) -> list[tuple[int, int, int]]:
    """Returns the PASCAL VOC colour map: colour ``i`` for class ``i``, white-ish for 255.

    The VOC palette spreads the bits of the class index over the three channels, so neighbouring
    classes get distinct colours. Every palette PNG in this project (synthetic scenes written to disk,
    VOC masks) uses it.

    Args:
        num_colors: How many entries to return (256 for a full PNG palette).

    Returns:
        A list of ``(r, g, b)`` tuples.
    """
    palette = []
    for index in range(num_colors):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette.append((r, g, b))
    return palette


@dataclasses.dataclass(frozen=True)
class Profile:
    """The settings one run uses; read them, don't copy them into notebooks."""

    name: str
    image_size: int  # Side of the square training images, in pixels (a multiple of 32).
    num_train: int  # Training scenes.
    num_val: int  # Validation scenes, used for curves and model choice.
    num_test: int  # Held-out scenes, used only for the final comparison.
    width: float  # VGG16 width multiplier (1.0 = the real VGG16).
    backbone_weights: str  # "synthetic" (shipped quick backbone), "imagenet" or None.
    batch_size: int
    epochs: int  # Epochs for one FCN training run.
    learning_rate: float  # Adam learning rate.
    dataset: str  # "synthetic", "voc", "pets" or "folder".


QUICK = Profile(
    name="quick",
    image_size=96,
    num_train=800,
    num_val=100,
    num_test=200,
    width=0.25,
    backbone_weights="synthetic",
    batch_size=16,
    epochs=6,
    learning_rate=1e-3,
    dataset="synthetic",
)

FULL = Profile(
    name="full",
    image_size=320,
    num_train=10582,  # SBD + VOC train ("train_aug"), VOC val images removed.
    num_val=1449,
    num_test=1449,
    width=1.0,
    backbone_weights="imagenet",
    batch_size=8,
    epochs=30,
    learning_rate=1e-4,
    dataset="voc",
)

PROFILES = {"quick": QUICK, "full": FULL}


def _gpu_available() -> bool:
    import tensorflow as tf  # Imported here so config stays cheap to import.

    return bool(tf.config.list_physical_devices("GPU"))


def get_profile(name: str | None = None) -> Profile:
    """Returns the active profile.

    Args:
        name: ``"quick"`` or ``"full"``. When None, ``FCN_PROFILE`` decides, and without it the
            profile is ``full`` if TensorFlow sees a GPU, else ``quick``.

    Returns:
        A frozen :class:`Profile`.

    Raises:
        ValueError: For an unknown profile name, naming where it came from.
    """
    source = "argument"
    if name is None:
        name = os.environ.get(PROFILE_ENV)
        source = f"environment variable {PROFILE_ENV}"
    if name is None or name == "":
        return FULL if _gpu_available() else QUICK
    key = name.strip().lower()
    if key not in PROFILES:
        raise ValueError(
            f"Unknown profile {name!r} (from the {source}); choose one of {sorted(PROFILES)}."
        )
    return PROFILES[key]


def data_dir() -> Path:
    """Returns the directory for downloaded datasets and weights (``FCN_DATA_DIR`` or ``~/fcn_data``)."""
    return Path(os.environ.get(DATA_DIR_ENV) or Path.home() / "fcn_data").expanduser()


def cache_dir() -> Path:
    """Returns the checkpoint cache directory (``FCN_CACHE_DIR`` or ``<repo>/.cache/fcnlib``)."""
    default = REPO_ROOT / ".cache" / "fcnlib"
    return Path(os.environ.get(CACHE_DIR_ENV) or default).expanduser()
