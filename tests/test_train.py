"""Tests for fcnlib.train: fit, the checkpoint cache, seeds and a two-device strategy."""

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
        history = train.fit(build_tiny(), dataset, dataset, epochs=1, loss=sparse_loss(),
                            metrics=[], verbose=0)
    assert set(history) == {"loss", "val_loss"}
    assert not [w for w in caught if "shuffle" in str(w.message)]


def test_fit_rejects_bad_epochs_and_data():
    x, y = tiny_data()
    with pytest.raises(ValueError, match="epochs"):
        train.fit(build_tiny(), (x, y), epochs=0, loss=sparse_loss(), metrics=[])
    with pytest.raises(ValueError, match="pair"):
        train.fit(build_tiny(), (x, y, y), epochs=1, loss=sparse_loss(), metrics=[])


def test_fit_defaults_use_fcnlib_metrics():
    metrics = pytest.importorskip("fcnlib.metrics")
    x, y = tiny_data()
    model = build_tiny()
    history = train.fit(model, (x, y), (x, y), epochs=1, verbose=0, batch_size=2)
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
        train.train_or_load(lambda: "model", {"run": "a"}, tiny_data(), epochs=1)


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
