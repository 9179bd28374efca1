"""Tests for fcnlib.cli, the command line (``fcn-train``, ``python -m fcnlib.cli``): it trains
through the checkpoint cache, scores, writes JSON, runs the VOC path on a tiny copy and refuses
arguments that do not fit. That it starts all three ways is checked in test_structure.py.
"""

import dataclasses
import json

import keras
import numpy as np
import pytest

from fcnlib import config

TINY_QUICK = dataclasses.replace(config.QUICK, name="tiny", image_size=64, num_train=16,
                                 num_val=8, num_test=8, batch_size=8, epochs=1)
# The full profile's code path (VOC layout, 21 classes) with a small random-weight backbone, since
# ImageNet weights cannot be downloaded in a test.
TINY_VOC = dataclasses.replace(config.FULL, name="tinyvoc", image_size=64, width=0.25,
                               backbone_weights=None, batch_size=4, epochs=1)


def run_cli(argv, capsys):
    from fcnlib import cli

    status = cli.main(argv + ["--verbose", "0"])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_cli_trains_scores_writes_json_and_reuses_the_cache(tmp_path, monkeypatch, capsys):
    from fcnlib import recipes

    monkeypatch.setitem(config.PROFILES, "quick", TINY_QUICK)
    argv = ["--dataset", "synthetic", "--model", "fcn32s", "--output", str(tmp_path / "out")]
    status, out, _ = run_cli(argv, capsys)
    assert status == 0
    path = tmp_path / "out" / "fcn32s-binary-fixed-tiny.json"
    assert f"Scores written to {path}" in out
    for label in ("pixel accuracy", "mean accuracy", "mean IU", "frequency weighted IU",
                  "background", "sign"):
        assert label in out
    record = json.loads(path.read_text())
    assert record["profile"]["name"] == "tiny" and record["dtype_policy"] == "float32"
    assert set(record["iou"]) == {"background", "sign"} and len(record["history"]["loss"]) == 1
    # The scores agree with the confusion matrix stored beside them (rows = truth).
    matrix = np.array(record["confusion_matrix"], dtype=float)
    masks = np.concatenate([m.numpy().ravel() for _, m in
                            recipes.make_datasets("binary", TINY_QUICK)["test"]])
    assert matrix.sum() == np.count_nonzero(masks != 255) and masks.size == 8 * 64 * 64
    assert record["scores"]["pixel_accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    iou = np.diag(matrix) / (matrix.sum(0) + matrix.sum(1) - np.diag(matrix))
    assert record["scores"]["mean_iou"] == pytest.approx(iou.mean())
    assert [record["iou"]["background"], record["iou"]["sign"]] == pytest.approx(iou)
    # A second run loads the model from the checkpoint cache and scores it the same.
    status, out, _ = run_cli(argv, capsys)
    assert status == 0 and "Loaded fcn32s from cache" in out
    assert json.loads(path.read_text())["scores"] == record["scores"]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # No temporary files left.


def test_cli_smoke_with_mixed_precision_skips_the_cache(tmp_path, monkeypatch, capsys):
    # XLA itself is checked on a small model above; compiling a whole FCN with it takes a minute.
    monkeypatch.setitem(config.PROFILES, "quick", TINY_QUICK)
    status, out, err = run_cli(["--dataset", "synthetic", "--model", "fcn32s", "--smoke",
                                "--mixed-precision", "--no-xla",
                                "--output", str(tmp_path)], capsys)
    import tensorflow as tf

    gpus = len(tf.config.list_physical_devices("GPU"))
    assert status == 0 and ("without a GPU or TPU" in err) == (gpus == 0)
    record = json.loads((tmp_path / "fcn32s-binary-fixed-tiny-mp-smoke.json").read_text())
    assert record["smoke"] and record["dtype_policy"] == "mixed_float16"
    assert record["jit_compile"] is False and record["replicas"] == max(1, gpus)
    assert not config.cache_dir().exists() or not list(config.cache_dir().iterdir())
    assert keras.mixed_precision.global_policy().name == "float32"


def test_cli_voc_without_data_says_where_how_and_what_else(capsys):
    status, _, err = run_cli(["--dataset", "voc", "--model", "fcn8s"], capsys)
    assert status == 2
    data_dir = config.data_dir()
    assert str(data_dir / "voc" / "VOCdevkit" / "VOC2012") in err
    assert f"FCN_DATA_DIR={data_dir}" in err
    assert "--download" in err and "download.download_voc()" in err and "download_sbd()" in err
    assert "--dataset synthetic" in err and "docs/FULL_PROFILE.md" in err


def write_tiny_voc(root, train_stems, val_stems):
    """A VOCdevkit/VOC2012 tree: random JPEGs, masks with one object ringed by void (255)."""
    from fcnlib import files

    voc = root / "VOCdevkit" / "VOC2012"
    rng = np.random.default_rng(0)
    for index, stem in enumerate(train_stems + val_stems):
        files.write_image(voc / "JPEGImages" / f"{stem}.jpg",
                          rng.integers(0, 256, (40, 56, 3), dtype=np.uint8))
        mask = np.zeros((40, 56), np.uint8)
        mask[8:30, 10:40] = 255
        mask[10:28, 12:38] = 1 + index % 20
        files.write_mask(voc / "SegmentationClass" / f"{stem}.png", mask)
    lists = voc / "ImageSets" / "Segmentation"
    lists.mkdir(parents=True)
    for name, stems in (("train", train_stems), ("val", val_stems)):
        (lists / f"{name}.txt").write_text("".join(f"{s}\n" for s in stems))


def test_cli_runs_the_voc_path_on_a_tiny_copy(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(config.PROFILES, "full", TINY_VOC)
    write_tiny_voc(config.data_dir() / "voc", [f"2007_{i:06d}" for i in range(6)],
                   [f"2008_{i:06d}" for i in range(3)])
    status, out, err = run_cli(["--dataset", "voc", "--model", "fcn32s", "--task", "multiclass",
                                "--output", str(tmp_path)], capsys)
    assert status == 0
    assert "No SBD" in err and "1,464" in err  # Trained on VOC train, and told so.
    record = json.loads((tmp_path / "fcn32s-multiclass-fixed-tinyvoc.json").read_text())
    assert list(record["iou"]) == list(config.VOC_CLASSES) and record["dataset"] == "voc"
    assert np.array(record["confusion_matrix"]).shape == (21, 21)
    assert "VOC 2012 val" in out and "tvmonitor" in out


def test_cli_rejects_arguments_that_do_not_fit(capsys):
    from fcnlib import cli

    for argv in (["--dataset", "synthetic", "--profile", "full"],
                 ["--model", "dense", "--task", "multiclass"], ["--epochs", "0"],
                 ["--model", "fcn4s"]):
        with pytest.raises(SystemExit) as exit_:
            cli.main(argv)
        assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "goes with --profile quick" in err and "use --task binary" in err
