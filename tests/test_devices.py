"""Tests for fcnlib.devices: the strategy for TPUs and several GPUs, and the precision policies
(checked as far as a CPU allows; the GPU runner runs them on its GPU).
"""

import keras
import numpy as np
import pytest

from fcnlib import devices, train


def build_tiny():
    """Returns a two-layer conv net producing (B, H, W, 3) logits."""
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inputs)
    return keras.Model(inputs, keras.layers.Conv2D(3, 1, name="score")(x), name="tiny")


def tiny_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 16, 16, 3)).astype("float32")
    return x, rng.integers(0, 3, size=(4, 16, 16)).astype("int32")


def sparse_loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255)


def test_precision_policy_is_set_for_the_block_and_restored():
    assert keras.mixed_precision.global_policy().name == "float32"
    with pytest.raises(RuntimeError):
        with devices.precision_policy("mixed_float16") as policy:
            assert policy.name == "mixed_float16"
            model = build_tiny()
            assert model.get_layer("score").compute_dtype == "float16"
            assert model.get_layer("score").variable_dtype == "float32"
            raise RuntimeError("the policy must be restored even when the block fails")
    assert keras.mixed_precision.global_policy().name == "float32"
    assert build_tiny().get_layer("score").compute_dtype == "float32"


def test_mixed_precision_trains_with_loss_scaling():
    x, y = tiny_data()
    with devices.precision_policy(devices.mixed_precision_policy()):
        model = build_tiny()
        history = train.fit(model, (x, y), epochs=1, learning_rate=1e-3, loss=sparse_loss(),
                            metrics=[], verbose=0, batch_size=2)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert np.isfinite(history["loss"][0])
    assert devices.mixed_precision_policy() == "mixed_float16"


@pytest.fixture
def no_tpu(monkeypatch):
    for name in devices.TPU_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(devices.glob, "glob", lambda pattern: [])


def test_no_tpu_resolver_without_a_tpu_and_one_with_tpu_name(no_tpu, monkeypatch):
    import tensorflow as tf

    assert devices._tpu_resolver() is None
    calls = []
    monkeypatch.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver",
                        lambda **kwargs: calls.append(kwargs) or "resolver")
    monkeypatch.setenv("TPU_NAME", "my-tpu")
    assert devices._tpu_resolver() == "resolver" and calls == [{}]
    monkeypatch.delenv("TPU_NAME")
    monkeypatch.setattr(devices.glob, "glob", lambda pattern: ["/dev/accel0"])
    assert devices._tpu_resolver() == "resolver" and calls[-1] == {"tpu": "local"}


def test_default_strategy_falls_back_when_the_tpu_fails(monkeypatch, capsys):
    import tensorflow as tf

    monkeypatch.setattr(devices, "_tpu_resolver", lambda: "resolver")

    def refuse(resolver):
        raise ValueError("no TPU here")

    monkeypatch.setattr(tf.config, "experimental_connect_to_cluster", refuse)
    strategy = devices.default_strategy()
    assert "could not be used (no TPU here)" in capsys.readouterr().out
    if len(tf.config.list_physical_devices("GPU")) > 1:
        assert isinstance(strategy, tf.distribute.MirroredStrategy)
    else:
        assert strategy is tf.distribute.get_strategy()  # One device: the default strategy.
    assert devices.mixed_precision_policy(strategy) == "mixed_float16"
