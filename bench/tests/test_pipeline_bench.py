"""The input-pipeline benchmark at tiny sizes: its files are VOC's layout, its table has every row."""

import dataclasses

import numpy as np

from bench import pipeline as bench_pipeline
from fcnlib import config, datasets, files

TINY = dataclasses.replace(config.GPU, name="tiny", image_size=32, batch_size=2)


def test_written_files_load_as_voc_with_their_masks(tmp_path):
    voc = bench_pipeline.write_voc(tmp_path, 3, size=(30, 40))
    pairs = list(datasets.load_voc(tmp_path, "train"))
    assert len(pairs) == 3 and (voc / "ImageSets" / "Segmentation" / "val.txt").is_file()
    for (image, mask), stem in zip(pairs, ["2012_000000", "2012_000001", "2012_000002"], strict=True):
        assert image.shape == (30, 40, 3)
        np.testing.assert_array_equal(mask.numpy(), files.read_mask(voc / "SegmentationClass" / f"{stem}.png"))
    assert len(np.unique(pairs[0][1].numpy())) > 1  # A scene, not a blank mask.


def test_smoke_table_has_every_pipeline_way_and_epoch(tmp_path):
    output = tmp_path / "pipeline.md"
    text = bench_pipeline.main(["--images", "4", "--epochs", "2", "--repeats", "1", "--autotune", "off",
                                "--output", str(output)], profile=TINY)
    assert output.read_text() == text
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| training") or
            line.startswith("| evaluation")]
    assert [(r[0][2:], r[1], r[2]) for r in rows] == [
        (name, way, kind) for name in ("training", "evaluation") for way in ("former", "current")
        for kind in ("first", "later")]
    for row in rows:
        assert int(row[3]) == 4 and float(row[4]) > 0 and float(row[6].rstrip(" |")) > 0
