"""Tests for fcnlib.train: fit, the checkpoint cache, seeds, XLA, training under a strategy.

The command line is tested in test_cli.py, devices and precision in test_devices.py, the CI
workflows in test_packaging.py.
"""

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from fcnlib import config, train

NUM_CLASSES = 3


def build_tiny(name="tiny"):
    """Returns a two-layer conv net producing (B, H, W, 3) logits."""
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inputs)
    outputs = keras.layers.Conv2D(NUM_CLASSES, 1, name="score")(x)
    return keras.Model(inputs, outputs, name=name)


def tiny_data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4, 16, 16, 3)).astype("float32")
    y = rng.integers(0, NUM_CLASSES, size=(4, 16, 16)).astype("int32")
    y[:, 0, :] = 255
    return x, y


# A stand-in for metrics.segmentation_loss, so these tests don't depend on another module's defaults.
def sparse_loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255)


@pytest.fixture
def fit_calls(monkeypatch):
    """Counts calls of train.fit while still training for real."""
    calls = []
    real_fit = train.fit

    def counting_fit(*args, **kwargs):
        calls.append(kwargs.get("epochs"))
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(train, "fit", counting_fit)
    return calls


def cached(key, data, **kwargs):
    return train.train_or_load(build_tiny, key, data, epochs=1, learning_rate=1e-2,
                               loss=sparse_loss(), metrics=[], verbose=0, batch_size=2, **kwargs)


def cache_files():
    return sorted(p.name for p in config.cache_dir().iterdir())


def test_fit_compiles_with_adam_and_returns_a_history_dict():
    x, y = tiny_data()
    model = build_tiny()
    history = train.fit(model, (x, y), (x, y), epochs=2, learning_rate=0.05, loss=sparse_loss(),
                        metrics=[], verbose=0, batch_size=2)
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)
    assert set(history) == {"loss", "val_loss"}
    assert all(len(v) == 2 and all(isinstance(f, float) for f in v) for v in history.values())
    # The last validation loss is the model's cross-entropy over non-void pixels, computed in NumPy.
    logits = model.predict(x, verbose=0).astype("float64")
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    valid = y != 255
    expected = -np.take_along_axis(log_probs, np.where(valid, y, 0)[..., None], -1)[..., 0][valid]
    assert history["val_loss"][-1] == pytest.approx(expected.mean(), rel=1e-4)


def test_fit_takes_a_dataset_quietly():
    import warnings

    import tensorflow as tf

    x, y = tiny_data()
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = train.fit(build_tiny(), dataset, dataset, epochs=1, learning_rate=1e-3, loss=sparse_loss(),
                            metrics=[], verbose=0)
    assert set(history) == {"loss", "val_loss"}
    assert not [w for w in caught if "shuffle" in str(w.message)]


def test_fit_rejects_bad_epochs_and_data():
    x, y = tiny_data()
    with pytest.raises(ValueError, match="epochs"):
        train.fit(build_tiny(), (x, y), epochs=0, loss=sparse_loss(), metrics=[])
    with pytest.raises(ValueError, match="pair"):
        train.fit(build_tiny(), (x, y, y), epochs=1, loss=sparse_loss(), metrics=[])


def test_the_profile_reaches_training_through_arguments_only(monkeypatch):
    x, y = tiny_data()
    # The active profile is never read: a profile that cannot be loaded changes nothing.
    monkeypatch.setattr(config, "get_profile", lambda *a: pytest.fail("training read a profile"))
    with pytest.raises(ValueError, match="epochs is None and no profile"):
        train.fit(build_tiny(), (x, y), learning_rate=1e-2, loss=sparse_loss(), metrics=[])
    with pytest.raises(ValueError, match="learning_rate is None and no profile"):
        train.train_or_load(build_tiny, {"run": "p"}, (x, y), epochs=1)
    with pytest.raises(ValueError, match="batch_size is None and no profile"):
        train.fit(build_tiny(), (x, y), epochs=1, learning_rate=1e-2, loss=sparse_loss(), metrics=[])
    with pytest.raises(ValueError, match="config.Profile.*'quick'"):
        train.fit(build_tiny(), (x, y), epochs=1, profile="quick")
    # A given profile fills in what is None; given values win.
    profile = dataclasses.replace(config.QUICK, epochs=2, learning_rate=0.02, batch_size=4)
    model = build_tiny()
    history = train.fit(model, (x, y), loss=sparse_loss(), metrics=[], verbose=0, profile=profile)
    assert len(history["loss"]) == 2 and float(model.optimizer.learning_rate) == pytest.approx(0.02)
    model, history = train.train_or_load(build_tiny, {"run": "p"}, (x, y), learning_rate=0.03,
                                         loss=sparse_loss(), metrics=[], verbose=0, profile=profile)
    assert len(history["loss"]) == 2 and float(model.optimizer.learning_rate) == pytest.approx(0.03)


def test_fit_defaults_use_fcnlib_metrics():
    metrics = pytest.importorskip("fcnlib.metrics")
    x, y = tiny_data()
    model = build_tiny()
    history = train.fit(model, (x, y), (x, y), epochs=1, verbose=0, batch_size=2,
                        profile=config.QUICK)
    assert float(model.optimizer.learning_rate) == pytest.approx(config.QUICK.learning_rate)
    assert isinstance(model.loss, type(metrics.segmentation_loss(NUM_CLASSES)))
    assert any(isinstance(m, metrics.StreamingMeanIoU) for m in model.metrics[1].metrics)
    assert set(history) == {"loss", "mean_iou", "val_loss", "val_mean_iou"}


def test_cache_hit_gives_identical_weights_without_training(fit_calls, capsys):
    data = tiny_data()
    model, history = cached({"run": "a"}, data)
    assert fit_calls == [1]
    names = cache_files()
    assert len(names) == 2 and names[0].startswith("tiny-") and names[1].endswith(".weights.h5")
    weights_file = config.cache_dir() / names[1]
    sidecar = json.loads((config.cache_dir() / names[0]).read_text())
    assert sidecar["sha256"] == hashlib.sha256(weights_file.read_bytes()).hexdigest()
    assert sidecar["key"] == {"run": "a"} and sidecar["history"] == history
    capsys.readouterr()

    again, history_again = cached({"run": "a"}, data)
    assert fit_calls == [1]
    assert history_again == history
    for a, b in zip(model.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    out = capsys.readouterr().out
    assert "from cache" in out and str(weights_file) in out and out.count("\n") == 1
    assert again.compiled


def test_different_key_or_epochs_retrains(fit_calls):
    data = tiny_data()
    cached({"run": "a"}, data)
    cached({"run": "b"}, data)
    train.train_or_load(build_tiny, {"run": "a"}, data, epochs=2, learning_rate=1e-2,
                        loss=sparse_loss(), metrics=[], verbose=0, batch_size=2)
    assert fit_calls == [1, 1, 2]
    assert len(cache_files()) == 6


def test_key_hash_is_stable_and_order_independent():
    a = train.key_hash({"x": 1, "y": [1, 2]}, epochs=3)
    assert a == train.key_hash({"y": [1, 2], "x": 1}, epochs=3)
    assert a != train.key_hash({"x": 1, "y": [1, 2]}, epochs=4)
    assert len(a) == 12
    with pytest.raises(ValueError, match="JSON"):
        train.key_hash({"x": {1, 2}})
    with pytest.raises(ValueError, match="dict"):
        train.key_hash(["x"])


def build_unnamed(filters=4):
    """Like build_tiny, with automatic layer names (which depend on what was built before)."""
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Conv2D(NUM_CLASSES, 1)(x), name="unnamed")


def test_a_changed_recipe_retrains_under_the_same_key(fit_calls):
    """The key holds a hash of the architecture, loss, batch size and data, not just the version."""
    data = tiny_data()

    def run(build, loss=None, batch_size=2, train_data=data):
        return train.train_or_load(build, {"run": "a"}, train_data, epochs=1, learning_rate=1e-2,
                                   loss=loss or sparse_loss(), metrics=[], verbose=0,
                                   batch_size=batch_size)

    run(build_unnamed)
    keras.layers.Dense(3)  # Shifts the automatic layer names of the next build.
    run(build_unnamed)
    assert fit_calls == [1]  # Same recipe, other automatic names: a cache hit.
    run(lambda: build_unnamed(filters=8))
    run(build_unnamed, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                                     ignore_class=255, reduction="sum"))
    run(build_unnamed, batch_size=4)
    run(build_unnamed, train_data=tiny_data(seed=1))
    assert fit_calls == [1, 1, 1, 1, 1]
    sidecars = [json.loads(p.read_text()) for p in config.cache_dir().glob("*.json")]
    assert len({sidecar["recipe"] for sidecar in sidecars}) == 5


def test_zero_training_steps_leave_no_cache_entry(fit_calls, capsys):
    import tensorflow as tf

    x, y = tiny_data()
    empty = tf.data.Dataset.from_tensor_slices((x[:0], y[:0])).batch(2)
    model, history = train.train_or_load(build_tiny, {"run": "empty"}, empty, epochs=2,
                                         learning_rate=1e-2, loss=sparse_loss(), metrics=[],
                                         verbose=0)
    assert isinstance(model, keras.Model) and not list(config.cache_dir().glob("*"))
    out = capsys.readouterr().out
    assert "trained zero steps" in out and "no cache entry" in out
    train.train_or_load(build_tiny, {"run": "empty"}, empty, epochs=2, learning_rate=1e-2,
                        loss=sparse_loss(), metrics=[], verbose=0)
    assert fit_calls == [2, 2]  # Nothing was loaded as if trained.


def test_unwritable_cache_returns_the_trained_model_and_says_where_to_point(
        tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("FCN_CACHE_DIR", str(blocker / "cache"))
    train.set_seed(0)
    model, history = cached({"run": "a"}, tiny_data())
    train.set_seed(0)
    untrained = build_tiny()
    assert len(history["loss"]) == 1 and model.compiled
    assert any(not np.array_equal(a, b)
               for a, b in zip(model.get_weights(), untrained.get_weights(), strict=True))
    out = capsys.readouterr().out
    assert "Could not write the checkpoint cache entry" in out
    assert "FCN_CACHE_DIR" in out and str(blocker / "cache") in out
    assert blocker.read_text().startswith("a file")


class _Disconnect(keras.callbacks.Callback):
    """Stops the process's training after an epoch, as a lost runtime would."""

    def __init__(self, after_epoch):
        super().__init__()
        self.after_epoch = after_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.after_epoch:
            raise KeyboardInterrupt("runtime disconnected")


class _Epochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(epoch)


def test_a_long_run_backs_up_each_epoch_and_resumes_after_a_disconnect(monkeypatch, capsys):
    monkeypatch.setattr(train, "BACKUP_AFTER_SECONDS", 0.0)
    data = tiny_data()

    def run(*callbacks):
        return train.train_or_load(build_tiny, {"run": "long"}, data, epochs=4, learning_rate=1e-2,
                                   loss=sparse_loss(), metrics=[], verbose=0, batch_size=2,
                                   callbacks=list(callbacks))

    with pytest.raises(KeyboardInterrupt):
        run(_Disconnect(after_epoch=1))
    backups = list(config.cache_dir().glob("tiny-*.backup"))
    assert len(backups) == 1 and (backups[0] / "latest.weights.h5").is_file()
    assert not list(config.cache_dir().glob("*.json"))  # No finished entry yet.
    epochs = _Epochs()
    model, history = run(epochs)
    assert epochs.seen == [2, 3]  # Resumed after the two backed-up epochs.
    assert len(history["loss"]) == 4
    assert "Resuming from the backup" in capsys.readouterr().out
    assert not backups[0].exists()  # Removed once training ended.
    assert len(list(config.cache_dir().glob("tiny-*.json"))) == 1


def test_a_short_run_writes_no_backup(monkeypatch):
    made = []
    real = train._Backup._save_model
    monkeypatch.setattr(train._Backup, "_save_model", lambda self: made.append(1) or real(self))
    cached({"run": "short"}, tiny_data())
    assert not made and not list(config.cache_dir().glob("*.backup"))


def _truncate(weights, sidecar):
    weights.write_bytes(weights.read_bytes()[:200])


def _flip_byte(weights, sidecar):
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))


def _garbage_with_matching_sha(weights, sidecar):
    weights.write_bytes(b"not an HDF5 file")
    record = json.loads(sidecar.read_text())
    record["sha256"] = hashlib.sha256(b"not an HDF5 file").hexdigest()
    sidecar.write_text(json.dumps(record))


def _other_valid_weights(weights, sidecar):
    # A whole, loadable weights file that is not the one the sidecar vouches for.
    build_tiny().save_weights(weights)


def _other_key(weights, sidecar):
    record = json.loads(sidecar.read_text())
    record["key"] = {"run": "someone else"}
    sidecar.write_text(json.dumps(record))


def _broken_sidecar(weights, sidecar):
    sidecar.write_text("{ not json")


def _missing_sidecar(weights, sidecar):
    sidecar.unlink()


@pytest.mark.parametrize("damage", [_truncate, _flip_byte, _garbage_with_matching_sha,
                                    _other_valid_weights, _other_key, _broken_sidecar,
                                    _missing_sidecar])
def test_corrupt_checkpoint_is_reported_and_retrained(damage, fit_calls, capsys):
    data = tiny_data()
    cached({"run": "a"}, data)
    sidecar, weights = (config.cache_dir() / name for name in cache_files())
    damage(weights, sidecar)
    capsys.readouterr()
    model, _ = cached({"run": "a"}, data)
    out = capsys.readouterr().out
    assert fit_calls == [1, 1]
    assert "stale or corrupt" in out and str(weights) in out
    # The retrained entry is whole again and is used next time.
    cached({"run": "a"}, data)
    assert fit_calls == [1, 1]
    assert len(cache_files()) == 2


def test_cache_false_neither_reads_nor_writes(fit_calls):
    data = tiny_data()
    cached({"run": "a"}, data, cache=False)
    cached({"run": "a"}, data, cache=False)
    assert fit_calls == [1, 1]
    assert not config.cache_dir().exists() or cache_files() == []


def test_build_fn_must_return_a_model():
    with pytest.raises(ValueError, match="keras.Model"):
        train.train_or_load(lambda: "model", {"run": "a"}, tiny_data(), epochs=1, learning_rate=1e-2)


def run_python(code, tmp_path):
    """Runs ``code`` in a fresh interpreter (TF device settings need one) and returns its last line."""
    env = dict(os.environ, FCN_CACHE_DIR=str(tmp_path / "sub_cache"))
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


PRELUDE = """
    import json
    import keras, numpy as np, tensorflow as tf
    from fcnlib import train

    def build():
        inputs = keras.Input((None, None, 3))
        x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
        return keras.Model(inputs, keras.layers.Conv2D(3, 1)(x), name="tiny")

    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 16, 16, 3)).astype("float32")
    y = rng.integers(0, 3, size=(8, 16, 16)).astype("int32")
    loss = lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255)
"""


@pytest.mark.slow
def test_same_seed_gives_identical_training(tmp_path):
    result = run_python(PRELUDE + """
    def run(seed):
        train.set_seed(seed, deterministic=True)
        model = build()
        history = train.fit(model, (x, y), epochs=2, learning_rate=1e-2, loss=loss(), metrics=[],
                            verbose=0, batch_size=2)
        return history["loss"], float(sum(np.abs(w).sum() for w in model.get_weights()))
    print(json.dumps([run(0), run(0), run(1)]))
    """, tmp_path)
    first, second, other = result
    assert first == second
    assert first != other


@pytest.mark.slow
def test_strategy_builds_in_scope_and_trains_on_two_devices(tmp_path):
    result = run_python("""
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    """ + PRELUDE + """
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    seen = []
    def build_in_scope():
        seen.append(tf.distribute.has_strategy() and tf.distribute.get_strategy() is strategy)
        return build()
    model, history = train.train_or_load(build_in_scope, {"run": "mirrored"}, (x, y), epochs=1,
                                         learning_rate=1e-2, strategy=strategy, loss=loss(),
                                         metrics=[], verbose=0, batch_size=4)
    replicas = len(model.weights[0].value.values)
    again, _ = train.train_or_load(build_in_scope, {"run": "mirrored"}, (x, y), epochs=1,
                                   learning_rate=1e-2, strategy=strategy, loss=loss(),
                                   metrics=[], verbose=0, batch_size=4)
    same = all(np.array_equal(a, b) for a, b in zip(model.get_weights(), again.get_weights()))
    print(json.dumps([seen, strategy.num_replicas_in_sync, replicas, len(history["loss"]), same]))
    """, tmp_path)
    assert result == [[True, True], 2, 2, 1, True]


# --- XLA (the training step's compiler; devices are tested in test_devices.py) ---


def test_jit_compile_is_passed_to_compile_and_checked():
    x, y = tiny_data()
    model = build_tiny()
    train.fit(model, (x, y), epochs=1, learning_rate=1e-3, loss=sparse_loss(), metrics=[], verbose=0,
              batch_size=2)
    import tensorflow as tf

    # Keras' "auto" uses XLA on one GPU, never on a CPU (this test also runs on the GPU runner).
    assert model.jit_compile is (len(tf.config.list_physical_devices("GPU")) == 1)
    xla = build_tiny()
    history = train.fit(xla, (x, y), epochs=1, learning_rate=1e-3, loss=sparse_loss(), metrics=[], verbose=0,
                        batch_size=2, jit_compile=True)
    assert xla.jit_compile is True and np.isfinite(history["loss"][0])
    # A model compiled by its owner keeps its optimizer and gets the new setting.
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=sparse_loss())
    train.fit(model, (x, y), epochs=1, verbose=0, batch_size=2, jit_compile=True)
    assert model.jit_compile is True and isinstance(model.optimizer, keras.optimizers.SGD)
    with pytest.raises(ValueError, match="jit_compile"):
        train.fit(build_tiny(), (x, y), epochs=1, jit_compile="yes")
    with pytest.raises(ValueError, match="jit_compile"):
        train.train_or_load(build_tiny, {"run": "a"}, (x, y), epochs=1, jit_compile="on")


def _h5_values(path):
    """Values stored in a .weights.h5 file, in total and under its optimizer's group."""
    import h5py

    totals = {"all": 0, "optimizer": 0}

    def visit(name, item):
        if isinstance(item, h5py.Dataset):
            totals["all"] += item.size
            if name.startswith("optimizer"):
                totals["optimizer"] += item.size

    with h5py.File(path, "r") as stream:
        stream.visititems(visit)
    return totals


class _KeepOptimizer(keras.callbacks.Callback):
    """Keeps weak references to the optimizer's variables as training ends."""

    def on_train_end(self, logs=None):
        import weakref

        self.refs = [weakref.ref(v) for v in self.model.optimizer.variables]
        self.slots = sum(int(np.prod(v.shape)) for v in self.model.optimizer.variables)


def test_training_ends_with_the_optimizer_state_released_and_the_entry_holds_weights_only():
    import gc

    from fcnlib import budget

    keep = _KeepOptimizer()
    model, _ = cached({"run": "release"}, tiny_data(), callbacks=[keep])
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert keep.slots == budget.adam_values(trainable)  # Adam's state while it trained...
    gc.collect()
    assert not [ref for ref in keep.refs if ref() is not None], "the trained optimizer's variables are freed"
    # ... and a fresh, unbuilt Adam afterwards: its step count and learning rate only.
    assert not model.optimizer.built
    assert sum(int(np.prod(v.shape)) for v in model.optimizer.variables) == budget.ADAM_SCALARS
    (entry,) = config.cache_dir().glob("tiny-*.weights.h5")
    stored = _h5_values(entry)
    assert model.count_params() <= stored["all"] <= model.count_params() + budget.ADAM_SCALARS
    assert stored["optimizer"] <= budget.ADAM_SCALARS
    # A later fit trains on from the weights with a new Adam, as after a cache hit.
    before = model.get_weights()
    model.fit(*tiny_data(), batch_size=2, epochs=1, verbose=0)
    assert model.optimizer.built and any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))


def test_an_entry_written_with_the_optimizer_state_still_loads(monkeypatch, capsys):
    data = tiny_data()
    with monkeypatch.context() as patch:  # An entry as earlier versions wrote it: Adam's slots included.
        patch.setattr(train, "release_optimizer_state", lambda *args, **kwargs: None)
        trained, _ = cached({"run": "old entry"}, data)
    (entry,) = config.cache_dir().glob("tiny-*.weights.h5")
    assert _h5_values(entry)["optimizer"] > trained.count_params(), "the old entry holds Adam's slots"
    capsys.readouterr()
    loaded, _ = cached({"run": "old entry"}, data)
    assert "Loaded tiny from cache" in capsys.readouterr().out
    for a, b in zip(trained.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not loaded.optimizer.built  # The stored state is skipped, not loaded.


def test_on_drive_and_the_backup_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(train, "DRIVE_MOUNT", tmp_path / "drive")
    monkeypatch.delenv(train.BACKUP_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "local"))
    assert train.on_drive(tmp_path / "drive" / "MyDrive" / "cache") and train.on_drive(tmp_path / "drive")
    assert not train.on_drive(tmp_path / "drive-other") and not train.on_drive(tmp_path / "local")
    assert train.backup_dir() == config.cache_dir()  # Not on Drive: beside the entries.
    monkeypatch.setenv(config.CACHE_DIR_ENV, str(tmp_path / "drive" / "MyDrive" / "cache"))
    if sys.platform.startswith("linux"):
        assert train.backup_dir() == tmp_path / "local" / "fcnlib" / "backups"
    assert not train.on_drive(train.backup_dir())
    monkeypatch.setenv(train.BACKUP_DIR_ENV, str(tmp_path / "chosen"))
    assert train.backup_dir() == tmp_path / "chosen"


class _DriveWatch(keras.callbacks.Callback):
    """Lists every file under ``root`` at the end of each epoch."""

    def __init__(self, root):
        super().__init__()
        self.root, self.seen = root, []

    def on_epoch_end(self, epoch, logs=None):
        self.seen += [p for p in self.root.rglob("*") if p.is_file()]


def test_with_the_cache_on_drive_epoch_backups_stay_on_local_disk(monkeypatch, tmp_path, capsys):
    drive, local = tmp_path / "drive", tmp_path / "local"
    monkeypatch.setattr(train, "DRIVE_MOUNT", drive)
    monkeypatch.setattr(train, "BACKUP_AFTER_SECONDS", 0.0)
    monkeypatch.delenv(train.BACKUP_DIR_ENV, raising=False)
    monkeypatch.setenv(config.CACHE_DIR_ENV, str(drive / "MyDrive" / "cache"))
    monkeypatch.setenv(train.BACKUP_DIR_ENV, str(local / "backups"))  # As environment.use_google_drive sets it.
    data = tiny_data()

    def run(*callbacks):
        return train.train_or_load(build_tiny, {"run": "drive"}, data, epochs=3, learning_rate=1e-2,
                                   loss=sparse_loss(), metrics=[], verbose=0, batch_size=2,
                                   callbacks=list(callbacks))

    watch = _DriveWatch(drive)
    with pytest.raises(KeyboardInterrupt):
        run(watch, _Disconnect(after_epoch=0))
    (backup,) = (local / "backups").glob("tiny-*.backup")
    assert (backup / "latest.weights.h5").is_file()
    watch = _DriveWatch(drive)
    model, history = run(watch)
    assert "Resuming from the backup" in capsys.readouterr().out and len(history["loss"]) == 3
    assert watch.seen == [], f"written on Drive while training: {watch.seen}"
    assert not backup.exists(), "the backup is removed once training succeeded"
    assert sorted(p.suffix for p in (drive / "MyDrive" / "cache").iterdir()) == [".h5", ".json"]
