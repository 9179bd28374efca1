"""Profiles, paths and dataset facts: the one place every notebook and script reads settings from.

Three profiles exist, each one frozen set of settings that every notebook reads:

* ``quick`` runs the whole series on a laptop CPU in minutes: small images, a few hundred synthetic
  scenes, a quarter-width VGG16 whose weights ship in ``data/``. The default without a GPU.
* ``gpu`` runs it on real photographs in minutes per notebook on a free Colab T4: PASCAL VOC 2012
  (``train`` to train, ``val`` to validate and test), ImageNet VGG16 at 224x224, mixed precision,
  a few epochs. The default when TensorFlow sees a GPU.
* ``full`` is a paper-scale run (VOC + SBD, 320x320 crops, 30 epochs; hours per model). Never chosen
  automatically: ask for it with ``FCN_PROFILE=full`` or the command line.

The environment variable ``FCN_PROFILE`` overrides the choice. ``FCN_DATA_DIR`` moves downloads and
``FCN_CACHE_DIR`` moves the checkpoint cache. ``FCN_SMOKE=1`` shrinks any profile to a smoke run
(tiny images, random weights, one short epoch) that walks the profile's code path on a CPU: the
tests run every notebook that way, with a small VOC-layout tree in ``FCN_DATA_DIR``.

Example:

>>> from fcnlib import config
>>> profile = config.get_profile("quick")
>>> profile.image_size
96
"""

from __future__ import annotations

import dataclasses
import numbers
import os
import platform
from pathlib import Path

# Label value for "void" pixels (object borders, unlabelled regions), as in PASCAL VOC.
IGNORE_LABEL = 255

PROFILE_ENV = "FCN_PROFILE"
SMOKE_ENV = "FCN_SMOKE"
OFFLINE_ENV = "FCN_OFFLINE"  # Set: never touch the network (a download stops at once with a message).
DATA_DIR_ENV = "FCN_DATA_DIR"
CACHE_DIR_ENV = "FCN_CACHE_DIR"

# Where the series lives: the Colab and Binder badges, every notebook's setup cell (which pip-installs
# it from there on Colab), the README, the docs, pyproject.toml and CITATION.cff use this address, and
# tests/test_packaging.py checks that each of them agrees with it. Renaming the repository means
# changing it here and in those files.
REPO_URL = "https://github.com/fcnlib/fcn-notebooks"

# The repository root when fcnlib is used from a checkout (editable install, Binder);
# in an installed wheel it is site-packages, and FROM_CHECKOUT is False.
REPO_ROOT = Path(__file__).resolve().parent.parent
FROM_CHECKOUT = (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "data").is_dir()
# Small files that ship with the repository: the quick backbone's weights and their recipe. The
# top-level data/ is their source; the wheel carries it as the package fcnlib.data (pyproject.toml).
SHIPPED_DATA_DIR = REPO_ROOT / "data" if FROM_CHECKOUT else Path(__file__).resolve().parent / "data"
# Where the quick profile's pretrained VGG16-style classifier lives, and its SHA-256.
QUICK_BACKBONE_FILE = SHIPPED_DATA_DIR / "vgg16_quarter_synthetic.weights.h5"
QUICK_BACKBONE_SHA256_FILE = SHIPPED_DATA_DIR / "vgg16_quarter_synthetic.sha256"
# The same for notebook 08's ResNet50 (1/8 wide, one bottleneck block per stage, 64x64 input), with
# its recipe beside it.
QUICK_RESNET_FILE = SHIPPED_DATA_DIR / "resnet50_eighth_synthetic.weights.h5"
QUICK_RESNET_SHA256_FILE = SHIPPED_DATA_DIR / "resnet50_eighth_synthetic.sha256"

# Class names of the embedded synthetic traffic-sign scenes.
BINARY_CLASSES = ("background", "sign")
MULTICLASS_CLASSES = ("background", "stop", "give_way", "warning", "prohibitory", "mandatory")

# PASCAL VOC 2012: 20 object classes plus background; void pixels are IGNORE_LABEL.
VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)

# VGG16's convolution blocks (filters per layer) and fully connected units, at width 1.0.
VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
FC_UNITS = 4096

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
    train_split: str = "train"  # VOC split to train on: "train" (1,464 images) or "train_aug" (+ SBD).
    mixed_precision: bool = False  # Train in mixed_float16 (float32 weights) on a GPU.
    smoke: bool = False  # A smoke run: tiny sizes and random weights; quality claims are not checked.


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

GPU = Profile(
    name="gpu",
    image_size=224,  # VGG16's ImageNet size: notebook 01's dense baseline is the learner's exact model.
    num_train=1464,  # VOC 2012 segmentation train.
    num_val=300,  # The first 300 VOC 2012 val images: validation curves after each epoch.
    num_test=1449,  # All of VOC 2012 val: the test scores (as the paper, which reports on val).
    width=1.0,
    backbone_weights="imagenet",
    batch_size=16,
    epochs=4,  # The most for which fcnlib.budget keeps every notebook <= 10 T4 minutes in a fresh runtime.
    learning_rate=1e-4,
    dataset="voc",
    train_split="train",
    mixed_precision=True,
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
    train_split="train_aug",
    mixed_precision=True,
)

PROFILES = {"quick": QUICK, "gpu": GPU, "full": FULL}


def smoke_version(profile: Profile) -> Profile:
    """Returns ``profile`` shrunk to a smoke run of the same code path.

    Same dataset, split and precision; 64x64 images, VGG16 at 1/16 width with random weights, a
    handful of images, batches of 4 and one epoch. It proves that every file, shape and layer name
    on the path is right in seconds on a CPU; it says nothing about quality.
    """
    return dataclasses.replace(
        profile, image_size=64, num_train=8, num_val=4, num_test=4, width=0.0625,
        backbone_weights=None,  # No shipped or downloaded backbone has the smoke run's width.
        batch_size=4, epochs=1, smoke=True,
    )


def count(value, name: str, minimum: int = 1) -> int:
    """Checks a whole-number argument (NumPy integers too) and returns it as an int.

    Raises:
        ValueError: For a bool, a float, a string or a value below ``minimum``, naming the argument.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a whole number, got {value!r} ({type(value).__name__}).")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}.")
    return int(value)


def positive(value, name: str) -> float:
    """Checks a positive real argument such as a learning rate (NumPy numbers too) and returns a float.

    Raises:
        ValueError: For a bool, a string, NaN or a value not above zero, naming the argument.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r} ({type(value).__name__}).")
    return float(value)


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("", "0", "false", "no", "off")


def flag(name: str) -> bool:
    """Reads a yes/no environment variable: 1/0, true/false, yes/no or on/off, any case; unset is no.

    Raises:
        ValueError: For any other value, naming the variable, its value and the words it takes.
    """
    value = os.environ.get(name, "").strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ValueError(f"{name}={os.environ[name]!r} is neither yes nor no: set it to one of "
                     f"{', '.join(TRUE_WORDS)} (yes) or {', '.join(w for w in FALSE_WORDS if w)} (no), or unset it.")


def smoke_mode() -> bool:
    """True when ``FCN_SMOKE`` says yes (:func:`flag`): tiny sizes, random weights, one short epoch."""
    return flag(SMOKE_ENV)


def offline() -> bool:
    """True when ``FCN_OFFLINE`` says yes (:func:`flag`): downloads refuse at once."""
    return flag(OFFLINE_ENV)


def _gpu_available() -> bool:
    import tensorflow as tf  # Imported here so config stays cheap to import.

    return bool(tf.config.list_physical_devices("GPU"))


def get_profile(name: str | None = None) -> Profile:
    """Returns the active profile.

    Args:
        name: ``"quick"``, ``"gpu"`` or ``"full"``. When None, ``FCN_PROFILE`` decides, and without
            it the profile is ``gpu`` if TensorFlow sees a GPU, else ``quick`` (``full`` is never
            chosen automatically).

    Returns:
        A frozen :class:`Profile`; its :func:`smoke_version` when ``FCN_SMOKE`` is set.

    Raises:
        ValueError: For an unknown profile name, naming where it came from.
    """
    source = "argument"
    if name is None:
        name = os.environ.get(PROFILE_ENV)
        source = f"environment variable {PROFILE_ENV}"
    if name is None or name.strip() == "":
        profile = GPU if _gpu_available() else QUICK
    else:
        key = name.strip().lower()
        if key not in PROFILES:
            raise ValueError(
                f"Unknown profile {name!r} (from the {source}); choose one of {sorted(PROFILES)}."
            )
        profile = PROFILES[key]
    return smoke_version(profile) if smoke_mode() else profile


def data_dir() -> Path:
    """Returns the directory for downloaded datasets and weights (``FCN_DATA_DIR`` or ``~/fcn_data``)."""
    return Path(os.environ.get(DATA_DIR_ENV) or Path.home() / "fcn_data").expanduser()


def user_cache_dir(system: str | None = None) -> Path:
    """Returns this user's cache folder for fcnlib, by the platform's convention.

    Linux and other Unixes: ``$XDG_CACHE_HOME/fcnlib`` (default ``~/.cache/fcnlib``, the XDG Base
    Directory specification); macOS: ``~/Library/Caches/fcnlib``; Windows:
    ``%LOCALAPPDATA%\\fcnlib\\Cache``.

    Args:
        system: ``platform.system()``; None for this machine.
    """
    system = platform.system() if system is None else system
    if system == "Darwin":
        return Path.home() / "Library" / "Caches" / "fcnlib"
    if system == "Windows":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "fcnlib" / "Cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fcnlib"


def cache_dir() -> Path:
    """Returns the checkpoint cache directory.

    ``FCN_CACHE_DIR`` when set; else ``<repo>/.cache/fcnlib`` from a checkout, and
    :func:`user_cache_dir` when fcnlib is installed from a wheel (never site-packages).
    """
    default = REPO_ROOT / ".cache" / "fcnlib" if FROM_CHECKOUT else user_cache_dir()
    return Path(os.environ.get(CACHE_DIR_ENV) or default).expanduser()
