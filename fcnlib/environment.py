"""The environment check every notebook's Setup section runs first.

It prints what a learner needs to know before anything trains: Python, TensorFlow and Keras versions,
whether a GPU is visible, which profile is active and where data and caches go. Version drift (for
example a Colab image that upgraded TensorFlow) shows up here as a clear message instead of a stack
trace three cells later.

Example:

>>> from fcnlib import environment
>>> profile = environment.check()  # doctest: +SKIP
"""

from __future__ import annotations

import os
import platform

from fcnlib import config

# The oldest versions the series supports, as pyproject.toml requires them (a test keeps the two
# equal); older ones fail with a message saying what to do.
MIN_TENSORFLOW = (2, 16)
MIN_KERAS = (3, 5)


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def in_colab() -> bool:
    """Returns True inside Google Colab."""
    import sys

    return "google.colab" in sys.modules


def check(profile: str | None = None, verbose: bool = True) -> config.Profile:
    """Checks versions, reports the machine and returns the active profile.

    Args:
        profile: Force a profile (``"quick"`` / ``"full"``); None reads ``FCN_PROFILE`` or detects.
        verbose: Print the report.

    Returns:
        The active :class:`fcnlib.config.Profile`.

    Raises:
        ImportError: If TensorFlow is missing or too old, or Keras is not Keras 3, with the command
            that fixes it.
    """
    try:
        import tensorflow as tf
    except ImportError as error:
        raise ImportError(
            "TensorFlow is not installed. On a CPU machine run `pip install -e \".[cpu]\"`, on a GPU "
            "machine `pip install -e \".[gpu]\"` (Colab already has TensorFlow)."
        ) from error
    import keras

    if _version_tuple(tf.__version__) < MIN_TENSORFLOW:
        raise ImportError(
            f"TensorFlow {tf.__version__} is too old; the series needs >= "
            f"{'.'.join(map(str, MIN_TENSORFLOW))}. Run `pip install -U tensorflow`."
        )
    if _version_tuple(keras.__version__) < MIN_KERAS:
        kind = "Keras 2" if _version_tuple(keras.__version__) < (3, 0) else "too old"
        raise ImportError(
            f"Keras {keras.__version__} is {kind}; the series needs Keras >= "
            f"{'.'.join(map(str, MIN_KERAS))}. Run `pip install -U keras`."
        )
    active = config.get_profile(profile)
    gpus = tf.config.list_physical_devices("GPU")
    if verbose:
        print(f"Python      {platform.python_version()}")
        print(f"TensorFlow  {tf.__version__}   Keras {keras.__version__} (backend {keras.backend.backend()})")
        print(f"GPU         {', '.join(g.name for g in gpus) if gpus else 'none (CPU only)'}")
        print(f"Colab       {'yes' if in_colab() else 'no'}")
        source = os.environ.get(config.PROFILE_ENV) and f"from {config.PROFILE_ENV}" or "detected"
        print(f"Profile     {active.name} ({source}): {active.image_size}x{active.image_size} images, "
              f"VGG16 width {active.width}, backbone weights {active.backbone_weights!r}, "
              f"dataset {active.dataset!r}")
        print(f"Cache       {config.cache_dir()}")
    if active.name == "full" and not gpus:
        print("Warning: the full profile on a CPU takes hours per notebook; set FCN_PROFILE=quick.")
    return active
