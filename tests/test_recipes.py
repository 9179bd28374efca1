"""The shared recipes: class names, model shapes per profile, staged training through the cache."""

import dataclasses

import numpy as np
import pytest

from fcnlib import config, devices, recipes

# A profile small enough to train in seconds; its own settings go into every cache key.
TINY = dataclasses.replace(config.QUICK, name="tiny", image_size=64, num_train=16, num_val=8,
                           num_test=8, batch_size=8, epochs=1)


def test_class_names_follow_task_and_dataset():
    assert recipes.class_names("binary", "quick") == ("background", "sign")
    assert len(recipes.class_names("multiclass", "quick")) == 6
    assert len(recipes.class_names("multiclass", "full")) == 21
    assert recipes.class_names("binary", "full") == ("background", "object")
    with pytest.raises(ValueError, match="task 'three'"):
        recipes.class_names("three")


def test_fc6_kernel_matches_the_backbone():
    assert recipes.fc6_kernel("quick") == 3
    assert recipes.fc6_kernel("full") == 7


@pytest.mark.parametrize("variant", ["fcn32s", "fcn16s", "fcn8s"])
def test_fcns_have_the_task_classes_and_any_size(variant):
    model = recipes.build(variant, "multiclass", profile="quick", weights=None)
    assert model.name == variant
    assert model.get_layer("fc6").kernel.shape[:2] == (3, 3)
    out = model(np.zeros((1, 70, 45, 3), "float32"))
    assert tuple(out.shape) == (1, 70, 45, 6)


def test_dense_baseline_is_binary_at_the_profile_size():
    model = recipes.build("dense", profile="quick", weights=None)
    assert model.output_shape == (None, 96, 96, 1)
    # ImageNet VGG16's fc1 takes 224x224 only, so in the full profile the dense baseline is 224.
    assert recipes.dense_profile("full").image_size == 224 and recipes.dense_profile("quick") == config.QUICK
    assert recipes.build("dense", profile="full", weights=None).output_shape == (None, 224, 224, 1)
    with pytest.raises(ValueError, match="binary"):
        recipes.build("dense", "multiclass", profile="quick", weights=None)


def test_datasets_have_the_profile_sizes():
    data = recipes.make_datasets("multiclass", TINY)
    images, masks = next(iter(data["train"]))
    assert tuple(images.shape) == (8, 64, 64, 3) and tuple(masks.shape) == (8, 64, 64)
    assert sum(int(x.shape[0]) for x, _ in data["test"]) == 8
    assert set(np.unique(masks.numpy())) <= {0, 1, 2, 3, 4, 5, 255}


def test_binarize_keeps_void_and_merges_objects():
    _, mask = recipes._binarize(None, np.array([0, 3, 20, 255], np.uint8))
    assert mask.numpy().tolist() == [0, 1, 1, 255]


def test_staged_fcn16s_starts_from_the_cached_fcn32s(capsys):
    data = recipes.make_datasets("binary", TINY)
    fcn32s, _ = recipes.train_model("fcn32s", "binary", profile=TINY, datasets=data, verbose=0)
    capsys.readouterr()
    fcn16s, history = recipes.train_model("fcn16s", "binary", profile=TINY, datasets=data, verbose=0)
    out = capsys.readouterr().out
    assert "Loaded fcn32s from cache" in out, "the staged FCN-16s should reuse the trained FCN-32s"
    assert len(history["loss"]) == 1
    # A second call loads FCN-16s itself, with the same weights.
    again, _ = recipes.train_model("fcn16s", "binary", profile=TINY, datasets=data, verbose=0)
    assert "Loaded fcn16s from cache" in capsys.readouterr().out
    for a, b in zip(fcn16s.weights, again.weights, strict=False):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert isinstance(fcn16s.get_layer("upscore2"), type(fcn32s.get_layer("upscore32")))


def test_at_once_scales_the_skips_and_unknown_names_fail():
    model = recipes.build("fcn8s", skip_scaling=True, profile="quick", weights=None)
    assert model.get_layer("scale_pool3").scale == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="schedule"):
        recipes.train_model("fcn8s", schedule="sometimes", profile=TINY)
    with pytest.raises(ValueError, match="variant"):
        recipes.build("fcn4s", profile="quick")


# --- Mixed precision, strategies and XLA (new keyword arguments; float32 keys as before) ---


@pytest.mark.parametrize("variant", ["dense", "fcn32s", "fcn8s"])
def test_mixed_precision_models_end_in_float32(variant):
    import keras

    plain = recipes.build(variant, profile="quick", weights=None)
    names = [layer.name for layer in plain.layers]
    assert plain.output.dtype == "float32" and "output_float32" not in names
    with devices.precision_policy("mixed_float16"):
        model = recipes.build(variant, profile="quick", weights=None)
    assert model.name == plain.name
    last = model.layers[-1]
    assert last.name == "output_float32" and last.compute_dtype == "float32"
    assert model.layers[-2].compute_dtype == "float16"  # Everything before computes in float16.
    out = model(np.zeros((1, 96, 96, 3), "float32"))
    assert out.dtype == "float32" and tuple(out.shape) == (1, 96, 96, plain.output_shape[-1])
    # Same layers with weights, same names: weights move between the two by name.
    def weighted(m):
        return [layer.name for layer in m.layers if layer.weights]

    assert weighted(plain) == weighted(model)
    assert keras.mixed_precision.global_policy().name == "float32"


def test_mixed_precision_is_a_separate_cache_entry(capsys):
    import keras

    data = recipes.make_datasets("binary", TINY)
    recipes.train_model("fcn32s", "binary", profile=TINY, datasets=data, verbose=0)
    capsys.readouterr()
    with devices.precision_policy("mixed_float16"):
        model, history = recipes.train_model("fcn32s", "binary", profile=TINY, datasets=data,
                                             verbose=0)
    assert "from cache" not in capsys.readouterr().out, "float16 must not load the float32 model"
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert np.isfinite(history["loss"][0]) and model.output.dtype == "float32"
    assert len(list(config.cache_dir().glob("fcn32s-*.weights.h5"))) == 2
    # Back in float32 the first entry is still the one loaded: its key did not change.
    recipes.train_model("fcn32s", "binary", profile=TINY, datasets=data, verbose=0)
    assert "Loaded fcn32s from cache" in capsys.readouterr().out


def test_train_model_builds_in_the_strategy_and_passes_jit_compile(monkeypatch):
    import tensorflow as tf

    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    seen = []
    real_build = recipes.build

    def spying_build(*args, **kwargs):
        seen.append(tf.distribute.get_strategy() is strategy)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(recipes, "build", spying_build)
    data = recipes.make_datasets("binary", TINY)
    model, _ = recipes.train_model("fcn16s", "binary", profile=TINY, datasets=data, verbose=0,
                                   cache=False, strategy=strategy, jit_compile=False)
    assert seen == [True, True]  # The staged FCN-32s and the FCN-16s, both in the scope.
    assert model.jit_compile is False


def test_a_recipe_trains_alike_whatever_trained_before_it():
    # A seeded tf.data shuffle reorders on every pass over the same dataset object, across fit
    # calls; train_model rebuilds the training split, so run two sees run one's batches.
    data = recipes.make_datasets("binary", TINY)
    first = recipes.train_model("fcn32s", profile=TINY, datasets=data, cache=False, verbose=0)[1]
    for _ in data["train"]:  # Another pass, as another model's training would make.
        pass
    second = recipes.train_model("fcn32s", profile=TINY, datasets=data, cache=False, verbose=0)[1]
    assert first["loss"] == second["loss"]
    orders = [np.concatenate([y.numpy().ravel() for _, y in data["train"]]) for _ in range(2)]
    assert not np.array_equal(*orders), "the plain split should reshuffle on every pass"


def test_gpu_profile_path_on_a_voc_tree_in_a_smoke_run(tmp_path, monkeypatch):
    """The gpu recipe end to end: VOC loader, binary objects, mixed precision, float32 output, cache."""
    import keras

    from fcnlib import synthetic

    synthetic.write_voc_tree(tmp_path / "fcn_data" / "voc", num_train=6, num_val=5)
    monkeypatch.setenv("FCN_DATA_DIR", str(tmp_path / "fcn_data"))
    monkeypatch.setenv("FCN_PROFILE", "gpu")
    monkeypatch.setenv("FCN_SMOKE", "1")
    profile = config.get_profile()
    data = recipes.make_datasets("binary", profile)
    images, masks = next(iter(data["train"]))
    assert images.shape[1:] == (profile.image_size, profile.image_size, 3)
    assert set(np.unique(masks.numpy())) <= {0, 1, 255}  # VOC classes become "object".
    assert sum(int(x.shape[0]) for x, _ in data["val"]) == profile.num_val
    model, history = recipes.train_model("fcn16s", "binary", profile=profile, datasets=data, verbose=0)
    assert keras.mixed_precision.global_policy().name == "float32"  # Restored after training.
    assert model.get_layer("fc6").compute_dtype == "float16" and model.output.dtype == "float32"
    assert len(history["loss"]) == 1 and np.isfinite(history["loss"][0])
    again, _ = recipes.train_model("fcn16s", "binary", profile=profile, datasets=data, verbose=0)
    np.testing.assert_array_equal(again.get_layer("score_pool4").get_weights()[0],
                                  model.get_layer("score_pool4").get_weights()[0])  # From the cache.


def _generated_splits(task, profile):
    """synthetic_splits without its in-process memo: every call goes to the cache folder."""
    return recipes.synthetic_splits.__wrapped__(task, profile)


def _assert_same_splits(a, b):
    assert sorted(a) == sorted(b) == ["test", "train", "val"]
    for name in a:
        np.testing.assert_array_equal(a[name][0], b[name][0])
        np.testing.assert_array_equal(a[name][1], b[name][1])


def test_synthetic_splits_are_saved_once_and_read_back(monkeypatch):
    first = _generated_splits("binary", TINY)
    path = recipes._splits_file("binary", TINY)
    assert path.is_file() and path.parent == config.cache_dir() / "data"
    assert not list(path.parent.glob("*.part")), "no temporary file is left behind"
    monkeypatch.setattr(recipes.synthetic, "splits", lambda *a, **k: pytest.fail("generated again"))
    _assert_same_splits(_generated_splits("binary", TINY), first)
    assert first["train"][0].shape == (16, 64, 64, 3) and first["test"][1].shape == (8, 64, 64)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other_shapes"])
def test_damaged_saved_splits_are_reported_and_replaced(capsys, damage):
    first = _generated_splits("binary", TINY)
    path = recipes._splits_file("binary", TINY)
    if damage == "garbage":
        path.write_bytes(b"not an npz file")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    else:
        np.savez(path, **{f"{name}_{kind}": np.zeros((2, 8, 8), np.uint8)
                          for name in ("train", "val", "test") for kind in ("images", "masks")})
    capsys.readouterr()
    _assert_same_splits(_generated_splits("binary", TINY), first)
    message = capsys.readouterr().out
    assert str(path) in message and "generating them again" in message, message
    with np.load(path) as saved:  # Replaced by the regenerated scenes.
        np.testing.assert_array_equal(saved["train_images"], first["train"][0])


def test_saved_splits_are_per_task_size_and_generator():
    path = recipes._splits_file("binary", TINY)
    assert recipes._splits_file("multiclass", TINY) != path
    assert recipes._splits_file("binary", dataclasses.replace(TINY, num_train=17)) != path
    assert recipes._splits_file("binary", dataclasses.replace(TINY, image_size=96)) != path
    assert recipes._splits_file("binary", dataclasses.replace(TINY, epochs=3)) == path  # Training settings don't matter.


def test_a_cache_that_cannot_be_written_still_gives_the_scenes(capsys, monkeypatch):
    def refuse(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(recipes.files, "atomic_path", refuse)
    splits = _generated_splits("binary", TINY)
    assert splits["val"][0].shape == (8, 64, 64, 3)
    assert "Could not save the scenes" in capsys.readouterr().out
    assert not recipes._splits_file("binary", TINY).exists()


def test_without_the_cache_the_scenes_are_generated_and_not_saved(monkeypatch):
    _generated_splits("binary", TINY)  # A saved copy exists...
    monkeypatch.setattr(recipes.synthetic, "splits", lambda *a, **k: {"generated": True})
    assert recipes.synthetic_splits.__wrapped__("binary", TINY, cache=False) == {"generated": True}  # ... unread.
    other = dataclasses.replace(TINY, num_train=12)
    recipes.synthetic_splits.__wrapped__("binary", other, cache=False)
    assert not recipes._splits_file("binary", other).exists()
