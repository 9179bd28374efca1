"""The environment check every notebook's Setup section runs first.

It prints what a learner needs to know before anything trains: Python, TensorFlow and Keras versions,
whether a GPU is visible, which profile is active and where data and caches go. Version drift (for
example a Colab image that upgraded TensorFlow) shows up here as a clear message instead of a stack
trace three cells later.

:func:`setup` is what every notebook's Setup section calls: the check, then the notebook's
estimated training time (:mod:`fcnlib.budget`), then the data and weights the profile needs,
downloaded on first use. When they cannot be had (offline, a failed download, no space) it stops
right there with one message that names the way out, ``FCN_PROFILE=quick``, instead of a traceback
from inside fcnlib cells later.

Example:

>>> from fcnlib import environment
>>> profile = environment.setup("02")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import platform
import re
import shutil
from pathlib import Path

from fcnlib import budget, config, install

# The oldest versions the series supports, as pyproject.toml requires them (a test keeps the two
# equal); older ones fail with a message saying what to do.
MIN_TENSORFLOW = (2, 16)
MIN_KERAS = (3, 5)
QUICK_WAY_OUT = ("Run the series without downloads in the quick profile: set PROFILE_NAME = \"quick\" in "
                 "the first cell (or FCN_PROFILE=quick in the environment) and run again.")
# Where Colab keeps data and trained models between notebooks when Google Drive is used.
DRIVE_ROOT = Path("/content/drive/MyDrive/fcn-notebooks")
# The runtime's local disk on Colab: unpacked datasets and epoch backups, which Drive need not keep.
LOCAL_ROOT = Path("/content/fcn-local")


class SetupStopped(RuntimeError):
    """The notebook cannot go on in this profile; the message says why and what to do.

    Jupyter shows only the message (``_render_traceback_``), not a traceback from inside fcnlib.
    """

    def _render_traceback_(self):
        return ["SetupStopped: " + line if i == 0 else line
                for i, line in enumerate(str(self).splitlines())]


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


# How TensorFlow's C++ code logs (absl): "I0000 00:00:1796099555.782561   28413 port.cc:153] message",
# a letter for the level (Info, Warning, Error), then date, time, thread, file and line. While TensorFlow
# is imported, before logging is set up, absl writes such lines to stderr whatever TF_CPP_MIN_LOG_LEVEL
# says, after a line of its own that says so.
_ABSL_LINE = re.compile(r"^[IWE]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [^\s\]]+:\d+\] ")
_ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"


def is_startup_notice(line: str) -> bool:
    """Tells whether a line of stderr is a C++ log line or absl's preamble, as TensorFlow prints on import."""
    return line.startswith(_ABSL_PREAMBLE) or bool(_ABSL_LINE.match(line))


def import_tensorflow_quietly():
    """Imports TensorFlow without the C++ notices it prints while loading; anything else still shows.

    TensorFlow 2.21 prints, on import and in every notebook, absl's "All log messages before
    absl::InitializeLog() ..." line and "oneDNN custom operations are on ...", twice, even with
    ``TF_CPP_MIN_LOG_LEVEL=3`` and with ``TF_ENABLE_ONEDNN_OPTS=1`` (only turning oneDNN off, which
    trains about 1.8x slower here, stops them); GPU builds add lines such as "Unable to register
    cuDNN factory". They go straight to the process's stderr, so this holds that stream back while
    TensorFlow loads and passes on every line that is not such a notice (:func:`is_startup_notice`).
    Sets ``TF_CPP_MIN_LOG_LEVEL=3`` unless it is set already.

    It also sets ``TF_ENABLE_ONEDNN_OPTS=1`` unless it is set already. TensorFlow's Linux x86
    packages turn oneDNN on by default only on CPUs with AVX512_VNNI, AVX512_BF16 or AMX
    (https://github.com/tensorflow/tensorflow/releases/tag/v2.9.0,
    https://github.com/tensorflow/community/blob/master/rfcs/20210930-enable-onednn-ops.md); on a
    2-core CPU with AVX2 but no AVX-512 the quick FCN-32s trained 1.6-1.8x faster with it on (9-10 s
    against 16-17 s for two epochs of 256 images). ``TF_ENABLE_ONEDNN_OPTS=0`` keeps it off.

    Returns:
        The ``tensorflow`` module, or None when it cannot be imported (:func:`check` then says why).

    Example:

    >>> tf = environment.import_tensorflow_quietly()  # in a notebook's setup cell, before `import keras`
    """
    import sys
    import tempfile

    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            import tensorflow
        except ImportError:
            tensorflow = None
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        held.seek(0)
        text = held.read().decode("utf-8", errors="replace")
    kept = [line for line in text.splitlines() if not is_startup_notice(line)]
    if kept:
        print("\n".join(kept), file=sys.stderr)
    return tensorflow


def in_colab() -> bool:
    """Returns True inside Google Colab."""
    import sys

    return "google.colab" in sys.modules


def check(profile: str | None = None, verbose: bool = True) -> config.Profile:
    """Checks versions, reports the machine and returns the active profile.

    Args:
        profile: Force a profile (``"quick"``, ``"gpu"``, ``"full"``); None reads ``FCN_PROFILE``
            or detects.
        verbose: Print the report.

    Returns:
        The active :class:`fcnlib.config.Profile`.

    Raises:
        ImportError: If TensorFlow is missing or too old, or Keras is not Keras 3, with the command
            that fixes it.
        SetupStopped: For an unknown profile or a yes/no variable that says neither, with the valid words.
    """
    try:
        import tensorflow as tf
    except ImportError as error:
        raise ImportError(f"TensorFlow is not installed: {install.install_hint()}") from error
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
    try:
        active = config.get_profile(profile)
    except ValueError as error:  # A typo in a profile name or a yes/no variable: the message is the answer.
        raise SetupStopped(str(error)) from None
    gpus = tf.config.list_physical_devices("GPU")
    if verbose:
        print(f"Python      {platform.python_version()}")
        print(f"TensorFlow  {tf.__version__}   Keras {keras.__version__} (backend {keras.backend.backend()})")
        print(f"GPU         {', '.join(g.name for g in gpus) if gpus else 'none (CPU only)'}")
        print(f"Colab       {'yes' if in_colab() else 'no'}")
        source = os.environ.get(config.PROFILE_ENV) and f"from {config.PROFILE_ENV}" or "detected"
        smoke = " smoke run (FCN_SMOKE): tiny, random weights, quality not checked;" if active.smoke else ""
        print(f"Profile     {active.name} ({source}):{smoke} {active.image_size}x{active.image_size} images, "
              f"VGG16 width {active.width}, backbone weights {active.backbone_weights!r}, "
              f"dataset {active.dataset!r}")
        print(f"Cache       {config.cache_dir()}")
    if active.name in ("gpu", "full") and not gpus and not active.smoke:
        print(f"Warning: the {active.name} profile on a CPU takes hours per notebook; set FCN_PROFILE=quick.")
    return active


def use_google_drive(root: Path = DRIVE_ROOT) -> None:
    """On Colab, mounts Google Drive and keeps the downloaded archives and the checkpoint cache there.

    Each Colab notebook runs in its own runtime, which forgets everything when it ends; with the
    archives and trained models on Drive, later notebooks load them instead of downloading and
    training again. What Drive need not keep stays on the runtime's local disk (``LOCAL_ROOT``):
    the unpacked datasets (VOC's 17,000 files are slow through the Drive mount; unpacking the
    archive from Drive takes a minute or two per runtime) and the epoch backups of a training run
    (weights and Adam's state, removed when it ends). Sets ``FCN_ARCHIVE_DIR`` and ``FCN_CACHE_DIR``
    under ``root``, ``FCN_DATA_DIR`` and ``FCN_BACKUP_DIR`` under ``LOCAL_ROOT``. The series needs
    about ``budget.drive_bytes("gpu")`` bytes of Drive (6.0 GB) in the gpu profile.
    """
    if not in_colab():
        print("Google Drive is only offered on Colab; keeping the local folders.")
        return
    from google.colab import drive  # Only importable on Colab.

    from fcnlib import download, train  # Imported here: they load TensorFlow.

    drive.mount("/content/drive")
    os.environ[download.ARCHIVE_DIR_ENV] = str(root / "data")
    os.environ[config.CACHE_DIR_ENV] = str(root / "cache")
    os.environ[config.DATA_DIR_ENV] = str(LOCAL_ROOT / "data")
    os.environ[train.BACKUP_DIR_ENV] = str(LOCAL_ROOT / "backups")
    print(f"Downloaded archives in {root / 'data'}, trained models in {root / 'cache'} (Google Drive, "
          f"about {budget.drive_bytes('gpu') / 1e9:.1f} GB for the series in the gpu profile); datasets "
          f"unpacked in {LOCAL_ROOT / 'data'} and epoch backups in {LOCAL_ROOT / 'backups'} (this "
          "runtime's disk).")


def _gigabytes(count: int) -> str:
    return f"{count / 1e9:.1f} GB"


def _voc_present(profile) -> bool:
    root = config.data_dir() / "voc"
    return any((root / layout / "ImageSets" / "Segmentation" / "val.txt").is_file()
               for layout in ("", "VOC2012", "VOCdevkit/VOC2012"))


def _stop(what: str, cause) -> SetupStopped:
    return SetupStopped(f"{what}\nCause: {cause}\n{QUICK_WAY_OUT}")


def ensure_data(notebook: str, profile: config.Profile, verbose: bool = True) -> None:
    """Downloads what ``notebook`` needs in ``profile`` and is missing; stops cleanly otherwise.

    Quick and smoke profiles need nothing. ``gpu`` and ``full`` need PASCAL VOC 2012 (2.0 GB, in
    ``FCN_DATA_DIR``) where the notebook reads data, and VGG16's ImageNet weights (553 MB, in
    ``~/.keras/models``) where it builds models; ``full`` asks for the SBD masks too (1.4 GB).

    Raises:
        SetupStopped: When something needed cannot be downloaded or stored, naming the way out.
    """
    from fcnlib import backbone, download  # TensorFlow is loaded by now (check() imported it).

    wanted = []
    if profile.dataset == "voc" and notebook in budget.NEEDS_DATA and not _voc_present(profile):
        wanted.append(("PASCAL VOC 2012 trainval", budget.VOC_BYTES, lambda: download.download_voc()))
    if (profile.dataset == "voc" and profile.train_split == "train_aug" and notebook in budget.NEEDS_DATA
            and not (config.data_dir() / "sbd" / "benchmark_RELEASE" / "dataset" / "train.txt").is_file()):
        wanted.append(("the SBD masks (optional: without them training uses VOC train)", budget.SBD_BYTES,
                       lambda: download.download_sbd()))
    if (profile.backbone_weights == "imagenet" and notebook in budget.NEEDS_BACKBONE
            and not backbone.imagenet_weights_cached()):
        wanted.append(("VGG16's ImageNet weights", backbone.IMAGENET_WEIGHTS_BYTES,
                       backbone.fetch_imagenet_weights))
    if not wanted:
        return
    if verbose:
        total = sum(size for _, size, _ in wanted)
        print(f"Downloads (first use only, verified): {', '.join(f'{name} ({_gigabytes(size)})' for name, size, _ in wanted)}; "
              f"{_gigabytes(total)} in all, into {config.data_dir()} and ~/.keras/models.")
    for name, size, fetch in wanted:
        target, archives = config.data_dir(), download.archive_dir()
        kept = {"PASCAL": ("voc", download.VOC_TRAINVAL), "the SBD": ("sbd", download.SBD_BENCHMARK)}
        subfolder, archive = next((v for k, v in kept.items() if name.startswith(k)), (None, None))
        # An archive kept from an earlier runtime (on Drive) needs no room of its own any more.
        archive_size = 0 if archive and (archives / subfolder / archive.filename).is_file() else size
        if archive is None:  # ImageNet weights: one file.
            needs = [(target, size, config.DATA_DIR_ENV)]
        elif archives == target:  # Archive + unpacked, in one folder.
            needs = [(target, archive_size + size, config.DATA_DIR_ENV)]
        else:  # The archive in FCN_ARCHIVE_DIR (Google Drive on Colab), unpacked in FCN_DATA_DIR.
            needs = [(archives, archive_size, download.ARCHIVE_DIR_ENV), (target, size, config.DATA_DIR_ENV)]
        for folder, needed, variable in needs:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                free = shutil.disk_usage(folder).free
            except OSError as error:
                raise _stop(f"Cannot use the folder {folder} for {name}.", error) from None
            if free < needed:
                raise _stop(f"Not enough space for {name} in {folder}: {_gigabytes(free)} free, "
                            f"about {_gigabytes(needed)} needed. Free space, or point {variable} "
                            "at a larger disk.", "disk space")
        try:
            fetch()
        except (OSError, ValueError) as error:
            if "SBD" in name:
                print(f"Could not get {name}; training uses VOC train. ({error})")
                continue
            raise _stop(f"Could not get {name}.", error) from None


def setup(notebook: str, profile: str | None = None, drive: bool = False,
          verbose: bool = True) -> config.Profile:
    """The Setup section of every notebook: checks, time estimate, data; returns the profile.

    Args:
        notebook: The notebook's number, ``"00"`` ... ``"08"``.
        profile: Force a profile; None reads ``FCN_PROFILE`` or detects (``gpu`` with a GPU).
        drive: On Colab, keep data and trained models in Google Drive (:func:`use_google_drive`).
        verbose: Print the report.

    Returns:
        The active :class:`fcnlib.config.Profile`.

    Raises:
        SetupStopped: When the profile's data or weights cannot be had; the message names
            ``FCN_PROFILE=quick``, which needs no download.
    """
    if notebook not in budget.NOTEBOOK_RECIPES:
        raise SetupStopped(f"Unknown notebook {notebook!r}: pass its two-digit number, one of "
                           f"{', '.join(budget.NOTEBOOK_RECIPES)}.")
    if drive:
        use_google_drive()
    active = check(profile, verbose)
    if verbose:
        print(f"Data        {config.data_dir()}")
        print(budget.describe(notebook, active))
        if in_colab() and not drive and active.dataset != "synthetic":
            print("Colab: each notebook is its own runtime. Pass drive=True to fcnlib.start in the first cell to keep "
                  "data and trained models in Google Drive for the next notebooks.")
    ensure_data(notebook, active, verbose)
    return active
