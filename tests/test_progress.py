"""fcnlib.progress: one convention for long steps, used by generation, extraction and evaluation."""

import tarfile

import numpy as np
import pytest

from fcnlib import download, metrics, progress, synthetic


def test_a_short_step_prints_nothing_and_a_long_one_draws_a_keras_bar(capsys):
    with progress.Progress(4, "Quick work", unit="steps", delay=60) as bar:
        for done in range(1, 5):
            bar.update(done)
    assert capsys.readouterr().out == ""
    with progress.Progress(4, "Long work", unit="steps", delay=0) as bar:
        for done in range(1, 5):
            bar.update(done)
    out = capsys.readouterr().out
    assert out.startswith("Long work:\n") and "4/4" in out and out.count("Long work") == 1


@pytest.mark.parametrize("verbose, steps, expected", [
    ("auto", 50, 2), ("auto", progress.LONG_EPOCH_BATCHES + 1, 1), ("auto", None, 1), (0, 5000, 0), (2, 5000, 2),
])
def test_fit_verbosity_is_one_line_per_short_epoch_and_a_bar_for_long_ones(verbose, steps, expected):
    assert progress.fit_verbosity(verbose, steps) == expected


def test_generation_extraction_and_evaluation_report_progress(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(progress, "DELAY", 0)
    images, masks = synthetic.generate(3, 32, seed=0)
    assert "Generating 3 synthetic scenes:" in capsys.readouterr().out

    (tmp_path / "a.txt").write_text("x" * 5000)
    with tarfile.open(tmp_path / "a.tar.gz", "w:gz") as archive:
        archive.add(tmp_path / "a.txt", arcname="a.txt")
    download.extract(tmp_path / "a.tar.gz", tmp_path / "out")
    assert (tmp_path / "out" / "a.txt").read_text() == "x" * 5000
    assert "Extracting a.tar.gz:" in capsys.readouterr().out

    import keras

    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(2, 1)], name="tiny")
    scores = metrics.evaluate(model, (images, masks), num_classes=2, batch_size=2)
    assert 0 <= scores["pixel_accuracy"] <= 1
    out = capsys.readouterr().out
    assert "Scoring tiny:" in out and "2/2" in out
    np.testing.assert_array_equal(scores["confusion_matrix"].sum(), masks.size)
