"""Training: one ``fit`` call with sensible defaults, a checkpoint cache, and seeds.

Every notebook trains through :func:`train_or_load`, so re-running a notebook reuses the weights it
trained before instead of training again. A cache entry is two files in ``config.cache_dir()``:
``<model name>-<hash>.weights.h5`` and ``<model name>-<hash>.json`` (the key, the history and the
SHA-256 of the weights). The weights file holds the model's weights only, not Adam's two slots per
trainable weight (three times the size): when training ends, the model is compiled again with a fresh
optimizer whose state is not built yet, exactly as a model loaded from the cache is, so the trained
model neither holds Adam's state in accelerator memory nor writes it to the cache. Entries written
with the optimizer's state, by earlier versions, still load (the state is skipped). The hash covers the key you give, the epochs, the learning rate and a hash
of the recipe itself (:func:`recipe_hash`: the model's architecture from ``get_config()``, the loss,
metrics and batch size, the shape of the data), so changing any of them trains afresh, whatever the
package version says. An entry whose weights do not match their recorded SHA-256, or that fails to
load, is reported and retrained, never used. A run that trained no step (empty data) leaves no
entry; a cache that cannot be written is reported and the trained model is still returned.

A run that lasts more than ``BACKUP_AFTER_SECONDS`` backs up its weights and optimizer after each
epoch (Keras ``BackupAndRestore``, which needs the optimizer to resume) into
``<model name>-<hash>.backup/`` in :func:`backup_dir`: beside the entry, except when the cache
lives on a Google Drive mount, where the backup (weights and Adam's state of every epoch) would fill
the Drive, so it goes to the runtime's local disk. The same call after a crash resumes from the last
finished epoch, and the folder is removed once training ends.

Example:

>>> from fcnlib import models, train  # doctest: +SKIP
>>> model, history = train.train_or_load(
...     lambda: models.fcn32s(2, width=0.25), {"model": "fcn32s", "data": "synthetic-binary"},
...     train_ds, val_ds, epochs=6, learning_rate=1e-3)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import fcnlib
from fcnlib import config, files, progress


def set_seed(seed: int, deterministic: bool = False) -> None:
    """Seeds Python, NumPy, TensorFlow and Keras so that a run can be repeated.

    Args:
        seed: Any integer.
        deterministic: Also make TensorFlow choose deterministic kernels
            (``tf.config.experimental.enable_op_determinism``). This is global for the rest of the
            process, can slow training down, and makes unseeded random ops an error.

    Example:

    >>> train.set_seed(0, deterministic=True)  # doctest: +SKIP

    Introduced in notebooks/00_setup_and_data.ipynb.
    """
    keras.utils.set_random_seed(config.count(seed, "seed", minimum=0))
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def _default_loss_and_metrics(model, loss, metrics):
    """Fills in ``metrics.segmentation_loss`` and ``metrics.StreamingMeanIoU`` where None."""
    from fcnlib import metrics as seg_metrics  # Imported late: train must import without it.

    num_classes = model.output_shape[-1]
    if loss is None:
        loss = seg_metrics.segmentation_loss(num_classes)
    if metrics is None:
        metrics = [seg_metrics.StreamingMeanIoU(num_classes)]
    return loss, metrics


def _compile(model, learning_rate, loss, metrics, jit_compile="auto"):
    loss, metrics = _default_loss_and_metrics(model, loss, metrics)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=metrics,
                  jit_compile=jit_compile)


def _check_jit_compile(jit_compile):
    if jit_compile not in ("auto", True, False):
        raise ValueError(f"jit_compile must be 'auto', True or False; got {jit_compile!r}.")


def fit(model, train_data, val_data=None, epochs=None, learning_rate=None, loss=None, metrics=None,
        verbose="auto", callbacks=None, batch_size=None, *, profile=None, jit_compile="auto") -> dict:
    """Trains a segmentation model with Adam and returns its history as a plain dict.

    A model that is not compiled yet is compiled with Adam, ``metrics.segmentation_loss`` (which
    ignores label 255) and ``metrics.StreamingMeanIoU``. A model you compiled yourself is trained as
    compiled, unless you pass ``loss``, ``metrics`` or ``learning_rate``. Progress is the Keras bar.

    Args:
        model: A Keras model whose output is ``(B, H, W, num_classes)``.
        train_data: A ``tf.data.Dataset`` of ``(image, mask)`` batches, or an ``(x, y)`` array pair.
        val_data: The same kinds, or None.
        epochs: Passes over ``train_data``; ``profile.epochs`` when None.
        learning_rate: Adam's learning rate; ``profile.learning_rate`` when None. Not needed for a
            model you compiled yourself.
        loss: A Keras loss; ``metrics.segmentation_loss(num_classes)`` when None.
        metrics: A list of Keras metrics; ``[metrics.StreamingMeanIoU(num_classes)]`` when None.
        verbose: Keras verbosity, 0, 1 or 2; ``"auto"`` means 2 (one line per epoch) for epochs of
            at most ``progress.LONG_EPOCH_BATCHES`` batches, else 1 (a bar per batch).
        callbacks: Keras callbacks, or None.
        batch_size: Only for array input; ``profile.batch_size`` when None.
        profile: A ``config.Profile`` that fills in ``epochs``, ``learning_rate`` and
            ``batch_size`` where they are None (e.g. ``config.get_profile()``); None to give them
            yourself. Training reads no profile of its own.
        jit_compile: Compile the training step with XLA: ``"auto"`` (Keras' choice: on for one GPU,
            off on a CPU and under a multi-device strategy), True or False. Applies to a model you
            compiled yourself too.

    Returns:
        ``{"loss": [...], "val_loss": [...], ...}``, one float per epoch.

    Example:

    >>> history = train.fit(model, train_ds, val_ds, profile=config.get_profile())  # doctest: +SKIP

    Introduced in notebooks/02_fully_convolutional.ipynb.
    """
    epochs = _from_profile(profile, "epochs", epochs)
    epochs = config.count(epochs, "epochs")
    if learning_rate is not None:
        learning_rate = config.positive(learning_rate, "learning_rate")
    if batch_size is not None:
        batch_size = config.count(batch_size, "batch_size")
    _check_jit_compile(jit_compile)
    x, y = _split(train_data, "train_data")
    _check_training_data(model, x, y, "train_data")
    if val_data is not None:
        _check_training_data(model, *_split(val_data, "val_data"), "val_data")
    if not model.compiled or loss is not None or metrics is not None or learning_rate is not None:
        _compile(model, _from_profile(profile, "learning_rate", learning_rate), loss, metrics,
                 jit_compile)
    elif jit_compile != "auto" and model.jit_compile != jit_compile:
        model.jit_compile = jit_compile  # Keras warns and keeps False if the model can't use XLA.
        model.make_train_function(force=True)
        model.make_test_function(force=True)
    if y is not None:
        batch_size = _from_profile(profile, "batch_size", batch_size)
    if val_data is not None:
        val_x, val_y = _split(val_data, "val_data")
        val_data = val_x if val_y is None else (val_x, val_y)
    # verbose="auto": one line per epoch when epochs are short, a bar per batch when they are long
    # (fcnlib.progress), so training on real data is never minutes of silence.
    if y is not None:
        steps = -(-len(x) // batch_size)
    else:
        steps = int(x.cardinality()) if hasattr(x, "cardinality") else -1
    verbose = progress.fit_verbosity(verbose, steps if steps >= 0 else None)
    # Arrays are shuffled every epoch; a dataset is expected to shuffle itself (make_dataset does).
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, validation_data=val_data,
                        shuffle=y is not None, verbose=verbose, callbacks=callbacks)
    return {name: [float(value) for value in values] for name, values in history.history.items()}


def _check_training_data(model, x, y, what):
    """Refuses images the model would train on silently wrong, by name, before any step runs.

    Raw ``uint8`` pixels (``metrics.evaluate`` and ``recipes.segment_images`` preprocess such images
    themselves, so a model trained on them would be scored on other inputs), one image without a batch
    axis, NaN or inf pixels, and mask values the model's output channels cannot hold.
    """
    from fcnlib import metrics as seg_metrics  # Imported late: train must import without it.

    if y is None:  # A dataset: its element types say whether the images are raw.
        spec = getattr(x, "element_spec", None)
        if isinstance(spec, tuple) and spec and getattr(spec[0], "dtype", None) == tf.uint8:
            raise ValueError(f"{what} yields uint8 images (raw pixels 0..255), but the series' models train on "
                             "VGG-preprocessed floats, and evaluate preprocesses uint8 images itself. Build the "
                             "dataset with pipeline.make_dataset, which preprocesses them.")
        return
    if hasattr(x, "element_spec") or hasattr(y, "element_spec"):
        raise ValueError(f"{what} is a pair holding a tf.data.Dataset; pass the dataset itself, which yields "
                         "(images, masks) batches, or an (images, masks) pair of arrays.")
    images, masks = np.asarray(x), np.asarray(y)
    seg_metrics._check_batch_axis(images, f"train.fit's {what}", "(image[None], mask[None])")
    if len(images) != len(masks):
        raise ValueError(f"{what} has {len(images)} images but {len(masks)} masks; every image needs its mask.")
    if images.dtype == np.uint8:
        raise ValueError(f"{what} holds uint8 images (raw pixels 0..255), but the series' models train on "
                         "VGG-preprocessed floats, and evaluate and segment_images preprocess uint8 images "
                         "themselves, so a model trained on raw pixels would be scored on other inputs. Pass "
                         "(pipeline.preprocess_vgg16(images), masks), or pipeline.make_dataset((images, masks), "
                         "batch_size).")
    seg_metrics._check_finite(images, f"train.fit's {what}")
    try:
        channels = model.output_shape[-1]
    except (AttributeError, ValueError):  # A subclassed or unbuilt model: Keras checks the labels.
        return
    if channels is None or masks.dtype.kind not in "biuf" or masks.size == 0:
        return
    labels = masks[masks != config.IGNORE_LABEL]
    bad = np.unique(labels[(labels < 0) | (labels >= max(int(channels), 2))])
    if bad.size:
        raise ValueError(f"{what}'s masks hold value(s) {bad[:10].tolist()}, but the model outputs {channels} "
                         f"channel(s), so it knows the classes 0..{max(int(channels), 2) - 1} (num_classes="
                         f"{channels}). Build the model with num_classes set to the number of classes in the "
                         "masks (void pixels are 255).")


def _from_profile(profile, name: str, value):
    """``value``, or the profile's setting of that name when it is None; refuses to guess."""
    if profile is not None and not isinstance(profile, config.Profile):
        raise ValueError(f"profile must be a config.Profile (e.g. config.get_profile()); got "
                         f"{profile!r}.")
    if value is not None:
        return value
    if profile is None:
        raise ValueError(f"{name} is None and no profile was given: pass {name}=... or "
                         "profile=config.get_profile().")
    return getattr(profile, name)


def _split(data, what):
    """Returns ``(x, y)`` for an array pair, ``(data, None)`` for a dataset or generator."""
    if isinstance(data, (tuple, list)):
        if len(data) != 2:
            raise ValueError(f"{what} must be a tf.data.Dataset or an (images, masks) pair; "
                             f"got a sequence of {len(data)} items.")
        return data[0], data[1]
    return data, None


def key_hash(key: dict, **extra) -> str:
    """Returns a 12-hex-digit hash of ``key``, ``extra`` and ``fcnlib.__version__``.

    The key is written as JSON with sorted keys, so the hash is the same in every run and process.
    :func:`train_or_load` passes the epochs, the learning rate and :func:`recipe_hash` as ``extra``.

    Raises:
        ValueError: If ``key`` is not a dict of JSON values (str, numbers, bools, None, lists, dicts).
    """
    if not isinstance(key, dict):
        raise ValueError(f"The cache key must be a dict of JSON values; got {type(key).__name__}.")
    try:
        text = _canonical({"key": key, "extra": extra, "fcnlib": fcnlib.__version__})
    except (TypeError, ValueError) as error:
        raise ValueError(f"The cache key {key!r} is not JSON-serialisable ({error}); describe "
                         "the run with strings and numbers only.") from error
    return files.sha256(text.encode("utf-8"))[:12]


def recipe_hash(model, loss=None, metrics=None, batch_size=None, train_data=None) -> str:
    """Returns a 12-hex-digit hash of what a training run is made of, for the cache key.

    It covers the model's architecture (``model.get_config()``: layers, their settings, which are
    trainable, the dtype policy), the loss and metrics (their Keras configs), the batch size and
    the data's shape (the element spec and number of batches of a ``tf.data.Dataset``; the shape,
    dtype and bytes of arrays). Automatic layer names (``conv2d_7``) depend on what was built
    before in the process, so every layer name is replaced by the layer's position first.

    Example:

    >>> train.recipe_hash(models.fcn32s(2, width=0.25))  # doctest: +SKIP
    '3f0c9a51d2e4'
    """
    names = {layer.name: f"layer{index}" for index, layer in enumerate(model.layers)}
    recipe = {
        "model": _renamed(model.get_config(), names),
        "class": type(model).__name__,
        "loss": _describe(loss),
        "metrics": [_describe(metric) for metric in metrics or []],
        "batch_size": batch_size,
        "data": _data_spec(train_data),
    }
    text = json.dumps(recipe, sort_keys=True, separators=(",", ":"), default=repr)
    return files.sha256(text.encode("utf-8"))[:12]


def _renamed(value, names):
    if isinstance(value, dict):
        return {key: _renamed(item, names) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_renamed(item, names) for item in value]
    if isinstance(value, str):
        return names.get(value, value)
    return value


def _describe(item):
    """A JSON-ready description of a loss or metric: its Keras config, or its qualified name."""
    if item is None or isinstance(item, str):
        return item
    try:
        return keras.saving.serialize_keras_object(item)
    except Exception:  # A plain function or an object Keras cannot serialise.
        return f"{getattr(item, '__module__', '')}.{getattr(item, '__qualname__', type(item).__name__)}"


def _data_spec(data):
    if data is None:
        return None
    if isinstance(data, tf.data.Dataset):
        return {"spec": repr(data.element_spec), "batches": int(data.cardinality())}
    x, y = _split(data, "train_data")
    spec = {}
    for name, array in (("x", x), ("y", y)):
        if hasattr(array, "shape") and hasattr(array, "dtype"):
            spec[name] = [list(array.shape), str(array.dtype),
                          files.sha256(memoryview(np.ascontiguousarray(array)).cast("B"))]
        else:
            spec[name] = type(array).__name__
    return spec


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _read_cache(model, weights_path: Path, sidecar_path: Path, record: dict):
    """Loads a cache entry into ``model``; returns its history, or a reason why it can't be used."""
    try:
        sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return None, f"unreadable {sidecar_path.name}: {error}"
    if not isinstance(sidecar, dict) or any(sidecar.get(k) != v for k, v in record.items()):
        return None, f"{sidecar_path.name} describes a different run"
    if sidecar.get("sha256") != files.sha256(weights_path):
        return None, f"SHA-256 of {weights_path.name} does not match {sidecar_path.name}"
    try:
        model.load_weights(weights_path)
    except Exception as error:  # h5py, Keras and OS errors all mean "don't use this file".
        return None, f"loading failed: {type(error).__name__}: {error}"
    return sidecar.get("history", {}), None


def _write_cache(model, weights_path: Path, sidecar_path: Path, record: dict, history: dict):
    # Keras insists on the ``.weights.h5`` suffix, so save under such a name beside the temporary
    # file and move it in; the weights go first and the sidecar, which vouches for them, last.
    try:
        with files.atomic_path(weights_path) as tmp:
            keras_tmp = tmp.with_name(tmp.name + ".weights.h5")
            try:
                model.save_weights(keras_tmp)
                os.replace(keras_tmp, tmp)
            finally:
                keras_tmp.unlink(missing_ok=True)
        sidecar = dict(record, history=history, sha256=files.sha256(weights_path))
        with files.atomic_path(sidecar_path) as tmp:
            tmp.write_text(json.dumps(sidecar, indent=2, sort_keys=True), encoding="utf-8")
    except OSError:
        if not sidecar_path.exists():  # Weights without their sidecar would never be used.
            with contextlib.suppress(OSError):
                weights_path.unlink(missing_ok=True)
        raise


# A run that lasts longer than this backs up each epoch; shorter runs would only lose seconds.
BACKUP_AFTER_SECONDS = 120.0
# Where epoch backups go when set (environment.use_google_drive sets it to the runtime's local disk).
BACKUP_DIR_ENV = "FCN_BACKUP_DIR"
# Where Colab mounts Google Drive (environment.use_google_drive); a cache below it is on Drive.
DRIVE_MOUNT = Path("/content/drive")


def on_drive(path) -> bool:
    """Tells whether ``path`` lies on the Google Drive mount (:data:`DRIVE_MOUNT`)."""
    path = Path(os.path.abspath(Path(path).expanduser()))
    mount = Path(os.path.abspath(DRIVE_MOUNT))
    return path == mount or mount in path.parents


def backup_dir() -> Path:
    """The folder of epoch backups: ``FCN_BACKUP_DIR`` when set, else the cache folder, unless that
    lies on Google Drive: then ``config.user_cache_dir() / "backups"`` on the runtime's local disk.

    A backup holds the weights and Adam's state of the last epoch, three times an entry's size; on
    Drive it would take gigabytes of the 15 GB a free account has.
    """
    if os.environ.get(BACKUP_DIR_ENV):
        return Path(os.environ[BACKUP_DIR_ENV]).expanduser()
    cache = config.cache_dir()
    return config.user_cache_dir() / "backups" if on_drive(cache) else cache


def release_optimizer_state(model, learning_rate, loss=None, metrics=None, jit_compile="auto"):
    """Compiles ``model`` again with a fresh Adam, dropping the trained optimizer's state.

    Keras 3's ``compile`` replaces ``model.optimizer`` and drops the compiled train function
    (keras/src/trainers/trainer.py sets ``train_function = None``), and a new optimizer builds its
    slot variables only on its first training step, so the old slots (two per trainable weight) are
    freed and the next ``fit`` starts Adam afresh, as it does for a model loaded from the cache.
    The weights are untouched.
    """
    _compile(model, learning_rate, loss, metrics, jit_compile)


class _Backup(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` that saves only once the run has lasted ``BACKUP_AFTER_SECONDS``.

    It also keeps the history of the backed-up epochs (``history.json``), so a resumed run returns
    the history of all its epochs, and counts the steps this call trained.
    """

    def __init__(self, backup_dir: Path):
        super().__init__(str(backup_dir), double_checkpoint=True)
        self.folder = Path(backup_dir)
        self.restored_epoch = 0
        self.restored_history = {}
        self.steps = 0
        self._epochs = {}
        self._started = time.monotonic()

    def on_train_begin(self, logs=None):
        self._started = time.monotonic()
        super().on_train_begin(logs)
        metadata, saved = self.folder / "training_metadata.json", self.folder / "history.json"
        if metadata.is_file():
            self.restored_epoch = int(json.loads(metadata.read_text(encoding="utf-8"))["epoch"])
            if saved.is_file():
                self.restored_history = json.loads(saved.read_text(encoding="utf-8"))
            print(f"Resuming from the backup in {self.folder} after epoch {self.restored_epoch}.")

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        super().on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            self._epochs.setdefault(name, {})[epoch] = float(value)
        if time.monotonic() - self._started < BACKUP_AFTER_SECONDS:
            self._current_epoch = epoch + 1
            return
        super().on_epoch_end(epoch, logs)
        with files.atomic_path(self.folder / "history.json") as tmp:
            tmp.write_text(json.dumps(self.history(epoch + 1)), encoding="utf-8")

    def history(self, epochs: int) -> dict:
        """The history of epochs ``0 .. epochs-1``: restored ones first, then this call's."""
        merged = {}
        for name in set(self.restored_history) | set(self._epochs):
            values = list(self.restored_history.get(name, []))[: self.restored_epoch]
            values += [self._epochs.get(name, {}).get(e) for e in range(len(values), epochs)]
            merged[name] = [v for v in values if v is not None]
        return merged


class _StepCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1


def _backup_callback(folder: Path):
    """A :class:`_Backup` for ``folder``, or None (with the reason) when it cannot be created."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder.parent):
            pass
    except OSError as error:
        print(f"Cannot back up epochs in {folder} ({error}); training without a backup, so an "
              f"interrupted run starts again. Set {config.CACHE_DIR_ENV} to a writable folder.")
        return None
    return _Backup(folder)


def train_or_load(build_fn, key: dict, train_data, val_data=None, *, epochs=None, learning_rate=None,
                  strategy=None, cache=True, loss=None, metrics=None, verbose="auto",
                  callbacks=None, batch_size=None, profile=None, jit_compile="auto"):
    """Trains ``build_fn()`` once and reloads the weights on later calls with the same key.

    Args:
        build_fn: A function without arguments that returns a new, uncompiled Keras model.
        key: A dict of JSON values describing everything else that changes the result: data, model
            settings, seed. Epochs, learning rate and :func:`recipe_hash` (architecture, loss,
            metrics, batch size, data shape) are added to it.
        train_data, val_data: As for :func:`fit`.
        epochs, learning_rate: As for :func:`fit`; ``profile``'s values when None.
        strategy: A ``tf.distribute.Strategy``; the model is built and compiled in its scope.
        cache: False to train without reading or writing the cache (and without epoch backups).
        loss, metrics, verbose, callbacks, batch_size, profile, jit_compile: Passed to
            :func:`fit` (``profile`` fills in what is None, as there). XLA
            changes speed, not the result, so ``jit_compile`` is not part of the cache key.

    Returns:
        ``(model, history)``: the compiled model and its history dict (the stored one on a cache hit).
        Either way the model is compiled with a fresh Adam whose state is not built: a later
        ``fit`` starts the optimizer afresh (:func:`release_optimizer_state`).
        A run that trained no step (empty ``train_data``) is returned untrained, with a warning,
        and is not cached; a cache that cannot be written is reported and the model returned.

    Example:

    >>> build = lambda: models.fcn8s(2, width=0.25)  # doctest: +SKIP
    >>> model, history = train.train_or_load(build, {"model": "fcn8s"}, train_ds,
    ...                                      profile=config.get_profile())  # doctest: +SKIP

    Introduced in notebooks/02_fully_convolutional.ipynb.
    """
    if not callable(build_fn):
        raise ValueError(f"build_fn must be a function returning a new model; got {build_fn!r}.")
    _check_jit_compile(jit_compile)
    epochs = _from_profile(profile, "epochs", epochs)
    learning_rate = _from_profile(profile, "learning_rate", learning_rate)
    key_hash(key)  # Refuses a key that is not JSON before anything is built.
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        model = build_fn()
        if not isinstance(model, keras.Model):
            raise ValueError("build_fn must return a keras.Model; it returned "
                             f"{type(model).__name__}.")
        recipe = recipe_hash(model, loss, metrics, batch_size, train_data)
        digest = key_hash(key, epochs=epochs, learning_rate=learning_rate, recipe=recipe)
        stem = config.cache_dir() / f"{model.name}-{digest}"
        weights_path, sidecar_path = Path(f"{stem}.weights.h5"), Path(f"{stem}.json")
        record = {"key": json.loads(_canonical(key)), "epochs": epochs,
                  "learning_rate": learning_rate, "fcnlib": fcnlib.__version__, "model": model.name,
                  "recipe": recipe}
        if cache and (weights_path.exists() or sidecar_path.exists()):
            if not (weights_path.exists() and sidecar_path.exists()):
                history, reason = None, "one of the two cache files is missing"
            else:
                history, reason = _read_cache(model, weights_path, sidecar_path, record)
            if reason is None:
                _compile(model, learning_rate, loss, metrics, jit_compile)
                print(f"Loaded {model.name} from cache: {weights_path}")
                return model, history
            print(f"Ignoring stale or corrupt checkpoint {weights_path} ({reason}); retraining.")
            model = build_fn()  # A failed load may have changed some weights: start afresh.
        backup = backup_dir() / f"{stem.name}.backup"
        counter = _backup_callback(backup) if cache else None
        counter = counter or _StepCounter()
        history = fit(model, train_data, val_data, epochs=epochs, learning_rate=learning_rate,
                      loss=loss, metrics=metrics, verbose=verbose,
                      callbacks=[counter, *(callbacks or [])], batch_size=batch_size,
                      profile=profile, jit_compile=jit_compile)
        restored = getattr(counter, "restored_epoch", 0)
        if restored:
            history = counter.history(epochs)
        if cache:
            shutil.rmtree(backup, ignore_errors=True)  # Keras removes it at the end of fit; make sure.
        if counter.steps == 0 and restored < epochs:
            print(f"Warning: {model.name} trained zero steps: the training data is empty, so the "
                  "model is untrained and no cache entry was written. Check the dataset (its "
                  "split, file list and batch size) and run again.")
            return model, history
        # Training is over: Adam's state would only take accelerator memory (and cache space).
        release_optimizer_state(model, learning_rate, loss, metrics, jit_compile)
        if cache:
            try:
                _write_cache(model, weights_path, sidecar_path, record, history)
            except OSError as error:
                print(f"Could not write the checkpoint cache entry {weights_path} ({error}). The "
                      "trained model is returned, but a later run will train it again: set "
                      f"{config.CACHE_DIR_ENV} to a writable folder with room (now "
                      f"{config.cache_dir()}) and run again, or save it now with "
                      "model.save_weights(...).")
    return model, history

