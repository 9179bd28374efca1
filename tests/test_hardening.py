"""Bad and edge-case input through the public entry points: each case pins the chosen behaviour.

The per-module tests check each guard where it lives; this module walks the paths a learner takes
with their own files and settings (own folder -> pipeline -> model -> metrics, downloads, the
checkpoint cache) and checks that every failure names the file or value and that nothing half-written
is ever taken as complete. Disk-full and read-only conditions are simulated with failing writes,
because permission bits do not stop the root user who runs CI.
"""

import errno
import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from fcnlib import config, datasets, download, files, metrics, models, pipeline, synthetic, train

TINY = dict(width=0.0625, fc6_kernel=1)


@pytest.fixture
def own_folder(tmp_path):
    """Three binary scenes written the way a learner's own data should look, in an awkward path."""
    images, masks = synthetic.generate(3, 32, "binary", seed=5)
    root = synthetic.write_folder(tmp_path / "my signs – ü", images, masks, config.BINARY_CLASSES)
    return root, images, masks


def _read_all(dataset):
    pairs = list(dataset.as_numpy_iterator())
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def test_unicode_and_space_paths_round_trip(own_folder):
    root, images, masks = own_folder
    loaded_images, loaded_masks = _read_all(datasets.load_folder(root, validate=True))
    np.testing.assert_array_equal(loaded_images, images)
    np.testing.assert_array_equal(loaded_masks, masks)


def _zero_bytes(path):
    path.write_bytes(b"")


def _truncated(path):
    path.write_bytes(path.read_bytes()[:60])


def _bad_value(path):
    mask = files.read_mask(path)
    mask[0, 0] = 7
    files.write_mask(path, mask)


def _void_where_no_void_is_allowed(path):
    mask = files.read_mask(path)
    mask[0, 0] = 255
    files.write_mask(path, mask)


def _other_size(path):
    files.write_mask(path, np.zeros((16, 32), np.uint8))


def _sixteen_bit(path):
    Image.fromarray(np.full((32, 32), 300, np.uint16)).save(path)


def _rgb_not_palette(path):
    Image.fromarray(np.full((32, 32, 3), (1, 2, 3), np.uint8)).save(path)


@pytest.mark.parametrize("damage, folder, message", [
    (_zero_bytes, "images", "empty"),
    (_truncated, "images", "Cannot read"),
    (_truncated, "masks", "Cannot read"),
    (_bad_value, "masks", r"holds \[7\]"),
    (_other_size, "masks", "must have its image's size"),
    (_sixteen_bit, "masks", "values up to 300"),
    (_rgb_not_palette, "masks", "not in the palette"),
])
def test_a_damaged_file_is_named_on_validation_and_on_reading(own_folder, damage, folder, message):
    root, _, _ = own_folder
    target = root / folder / "scene_00001.png"
    damage(target)
    with pytest.raises(ValueError, match=message) as caught:
        datasets.load_folder(root, validate=True)
    assert str(target) in str(caught.value)
    # Without validate=True the error comes when the pair is read, still naming the file.
    with pytest.raises(tf.errors.OpError) as lazily:
        _read_all(datasets.load_folder(root))
    assert "scene_00001.png" in str(lazily.value)


def test_void_is_accepted_but_only_as_255(own_folder):
    root, _, _ = own_folder
    _void_where_no_void_is_allowed(root / "masks" / "scene_00002.png")
    _, masks = _read_all(datasets.load_folder(root, validate=True))
    assert masks[2, 0, 0] == 255  # 255 is void in every task: kept, then ignored by the metrics.
    assert metrics.confusion_matrix(masks, np.zeros_like(masks), 2).sum() == masks.size - 1


def test_empty_folder_and_missing_masks(tmp_path, own_folder):
    (tmp_path / "empty" / "images").mkdir(parents=True)
    (tmp_path / "empty" / "masks").mkdir()
    with pytest.raises(ValueError, match="No images in"):
        datasets.load_folder(tmp_path / "empty")
    root, _, _ = own_folder
    (root / "masks" / "scene_00000.png").unlink()
    with pytest.raises(FileNotFoundError, match="scene_00000.png"):
        datasets.load_folder(root)


def test_a_single_image_runs_through_pipeline_model_and_metrics(tmp_path):
    images, masks = synthetic.generate(1, (40, 70), "multiclass", seed=2)
    root = synthetic.write_folder(tmp_path / "one", images, masks, config.MULTICLASS_CLASSES)
    # Files may differ in size, so a folder dataset is batched at a size you choose.
    batches = list(pipeline.make_dataset(datasets.load_folder(root), batch_size=4, image_size=(40, 70)))
    assert len(batches) == 1 and tuple(batches[0][0].shape) == (1, 40, 70, 3)
    model = models.fcn8s(6, **TINY)
    scores = metrics.evaluate(model, batches[0], num_classes=6)
    assert scores["confusion_matrix"].sum() == int(np.sum(masks != config.IGNORE_LABEL))


@pytest.mark.parametrize("height, width", [(1, 1), (1, 200), (31, 33), (257, 96)])
@pytest.mark.parametrize("builder", [models.fcn32s, models.fcn16s, models.fcn8s])
def test_odd_sizes_with_batch_one(builder, height, width):
    model = builder(2, **TINY)
    out = model(np.zeros((1, height, width, 3), "float32"))
    assert tuple(out.shape) == (1, height, width, 2)


def test_one_class_is_a_sigmoid_probability_everywhere():
    """num_classes=1 means one foreground probability, for the FCNs as for the dense baseline."""
    rng = np.random.default_rng(0)
    x = rng.normal(0, 40, (2, 32, 32, 3)).astype("float32")
    y = (rng.random((2, 32, 32)) < 0.3).astype("int32")
    model = models.fcn32s(1, upsampling="learned", dropout=0.0, **TINY)
    out = model(x).numpy()
    assert out.shape == (2, 32, 32, 1) and out.min() >= 0 and out.max() <= 1
    history = train.fit(model, (x, y), epochs=8, learning_rate=1e-2, verbose=0, batch_size=2)
    assert history["loss"][-1] < history["loss"][0], "BCE on the sigmoid output should fall"
    # Labels of a 1-channel output are "probability > 0.5"; of a 2-channel one, the argmax.
    probabilities = model(x).numpy()
    assert np.array_equal(metrics.predict_labels(probabilities), (probabilities[..., 0] > 0.5))
    two = np.concatenate([np.zeros_like(probabilities), np.log(probabilities / (1 - probabilities))], -1)
    assert np.array_equal(metrics.predict_labels(two), metrics.predict_labels(probabilities))


def test_num_classes_zero_or_fractional_is_refused():
    for bad in (0, 2.5, -1):
        with pytest.raises(ValueError, match="num_classes"):
            models.fcn8s(bad, **TINY)


class _FullDisk:
    """Stands in for ``open`` in fcnlib.download: writes a few bytes, then the disk is full."""

    def __init__(self, real_open):
        self.real_open, self.writes = real_open, 0

    def __call__(self, path, mode="r", *args, **kwargs):
        handle = self.real_open(path, mode, *args, **kwargs)
        if "a" not in mode and "w" not in mode:
            return handle
        self.writes += 1
        real_write = handle.write

        def write(data):
            real_write(data[:10])
            raise OSError(errno.ENOSPC, "No space left on device")

        handle.write = write
        return handle


def test_full_disk_during_a_download_stops_at_once_and_keeps_only_a_part(tmp_path, monkeypatch):
    source = tmp_path / "source.bin"
    source.write_bytes(b"x" * 5000)
    target = tmp_path / "data" / "file.bin"
    full_disk = _FullDisk(open)
    monkeypatch.setattr(download, "open", full_disk, raising=False)
    monkeypatch.setattr(download, "RETRY_DELAY_SECONDS", 0.0)
    with pytest.raises(OSError, match="No space left.*FCN_DATA_DIR") as caught:
        download.download([source.as_uri(), source.as_uri()], target, progress=False)
    assert caught.value.errno == errno.ENOSPC
    assert full_disk.writes == 1, "neither a retry nor another mirror can help a full disk"
    assert not target.exists(), "a partial download must never get the final name"
    assert (tmp_path / "data" / "file.bin.part").stat().st_size == 10


def test_read_only_data_directory_is_named(tmp_path, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(type(tmp_path), "mkdir", refuse)
    with pytest.raises(PermissionError, match="locked.*FCN_DATA_DIR"):
        download.download("file:///nowhere", tmp_path / "locked" / "file.bin", progress=False)


def test_failing_write_keeps_the_old_file_whole(tmp_path, monkeypatch):
    path = files.write_mask(tmp_path / "mask.png", np.ones((4, 4), np.uint8))
    before = path.read_bytes()

    def broken_save(self, fp, *args, **kwargs):
        open(fp, "wb").write(b"\x89PNG half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="No space"):
        files.write_mask(path, np.zeros((4, 4), np.uint8))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["mask.png"], "no temporary file is left"


def test_interrupted_write_folder_leaves_no_split_to_load(tmp_path, monkeypatch):
    images, masks = synthetic.generate(3, 32, "binary", seed=1)
    calls = {"n": 0}
    real = files.write_mask

    def fail_on_third(path, mask, palette=None):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, mask, palette)

    monkeypatch.setattr(files, "write_mask", fail_on_third)
    with pytest.raises(OSError):
        synthetic.write_folder(tmp_path / "half", images, masks, config.BINARY_CLASSES, split="train")
    # The split list is written last, so the half-written folder is never loaded as the split.
    with pytest.raises(FileNotFoundError, match="No split file"):
        datasets.load_folder(tmp_path / "half", split="train")


def test_rerunning_a_cached_training_gives_the_same_numbers(tmp_path):
    images, masks = synthetic.generate(8, 32, "binary", seed=3)
    data = (pipeline.preprocess_vgg16(images), masks)

    def build():
        train.set_seed(0)
        return models.fcn8s(2, **TINY)

    first, _ = train.train_or_load(build, {"case": "rerun"}, data, epochs=1, batch_size=4, verbose=0,
                                   profile=config.get_profile())
    second, _ = train.train_or_load(build, {"case": "rerun"}, data, epochs=1, batch_size=4, verbose=0,
                                   profile=config.get_profile())
    a, b = metrics.evaluate(first, data, 2), metrics.evaluate(second, data, 2)
    np.testing.assert_array_equal(a["confusion_matrix"], b["confusion_matrix"])
    # A checkpoint whose sidecar was edited by hand (a stale record) is retrained, not loaded.
    sidecar = next(config.cache_dir().glob("*.json"))
    record = json.loads(sidecar.read_text())
    record["epochs"] = 99
    sidecar.write_text(json.dumps(record))
    with pytest.raises(AssertionError):
        _assert_loaded(build)


def _assert_loaded(build):
    import contextlib
    import io

    images, masks = synthetic.generate(8, 32, "binary", seed=3)
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        train.train_or_load(build, {"case": "rerun"}, (pipeline.preprocess_vgg16(images), masks),
                            epochs=1, batch_size=4, verbose=0, profile=config.get_profile())
    assert "Loaded" in output.getvalue(), output.getvalue()


def test_from_arrays_refuses_nan_pixels_and_no_images():
    images = np.full((1, 4, 4, 3), 100.0)
    images[0, 1, 2, 0] = np.nan
    with pytest.raises(ValueError, match="1 NaN or inf"):
        pipeline.from_arrays(images, np.zeros((1, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="no image"):
        pipeline.from_arrays(np.zeros((0, 4, 4, 3), np.uint8), np.zeros((0, 4, 4), np.uint8))


def test_a_black_and_white_own_mask_is_named_when_loading(tmp_path, own_folder):
    root, images, masks = own_folder
    path = sorted((root / "masks").iterdir())[0]
    Image.fromarray((masks[0] > 0).astype(np.uint8) * 255).save(path)  # Greyscale 0/255.
    with pytest.raises(ValueError, match="only 0 and 255") as error:
        datasets.load_folder(root, validate=True)
    assert str(path) in str(error.value)


def _cli_without_training(monkeypatch):
    """The command line with recipes that answer at once, for checks of its own file handling."""
    from fcnlib import recipes

    model = models.fcn32s(2, **TINY)
    fake_scores = {"pixel_accuracy": 0.5, "mean_accuracy": 0.5, "mean_iou": 0.25,
                   "frequency_weighted_iou": 0.25, "iou": [0.5, 0.0],
                   "class_accuracy": [1.0, 0.0], "confusion_matrix": [[1, 0], [1, 0]]}
    calls = []
    monkeypatch.setattr(recipes, "make_datasets", lambda *a, **k: {"test": None})
    monkeypatch.setattr(recipes, "train_model",
                        lambda *a, **k: calls.append("trained") or (model, {"loss": [1.0]}))
    monkeypatch.setattr(recipes, "scores", lambda *a, **k: fake_scores)
    return calls


def test_cli_refuses_an_unusable_output_before_training(tmp_path, monkeypatch, capsys):
    from fcnlib import cli

    calls = _cli_without_training(monkeypatch)
    blocker = tmp_path / "scores"
    blocker.write_text("a file where the output folder should be")
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--dataset", "synthetic", "--model", "fcn32s", "--output",
                  str(blocker / "run"), "--verbose", "0"])
    assert exit_.value.code == 2 and calls == []
    err = capsys.readouterr().err
    assert f"--output {blocker / 'run'}" in err and "writable folder" in err
    assert blocker.read_text().startswith("a file")


def test_cli_scores_follow_the_umask_and_survive_a_failing_write(tmp_path, monkeypatch, capsys):
    import contextlib
    import os

    from fcnlib import cli

    calls = _cli_without_training(monkeypatch)
    argv = ["--dataset", "synthetic", "--model", "fcn32s", "--output", str(tmp_path / "out"),
            "--verbose", "0"]
    previous = os.umask(0o022)
    try:
        assert cli.main(argv) == 0
    finally:
        os.umask(previous)
    written = next((tmp_path / "out").glob("*.json"))
    assert written.stat().st_mode & 0o777 == 0o644
    capsys.readouterr()

    @contextlib.contextmanager
    def full_disk(path):
        raise OSError(errno.ENOSPC, "No space left on device")
        yield path

    monkeypatch.setattr(files, "atomic_path", full_disk)
    assert cli.main(argv) == 1 and calls == ["trained", "trained"]
    captured = capsys.readouterr()
    assert json.loads(captured.out[captured.out.index("{"):])["scores"]["mean_iou"] == 0.25
    assert str(written) in captured.err and "printed above" in captured.err
