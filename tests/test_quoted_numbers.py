"""Numbers a lesson quotes from the benchmark's results file stay equal to that file.

Each row of ``QUOTES`` names a notebook, the model row and column of the results file
(data/bench_quick.json, shipped as ``fcnlib.data``, written by ``make bench``) and how the lesson writes the number. The test
renders the number from the file and looks for it in the notebook's markdown, so a rerun of the
benchmark that moves a number fails here until the lesson's text follows.
"""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "data" / "bench_quick.json"

# (notebook prefix, model row, column, format of the number as the markdown writes it)
QUOTES = [
    # 00 · Setup and data
    ("00", "dense baseline", "pixel_accuracy", "{:.3f}"),
    ("00", "dense baseline", "fg_iou", "{:.2f}"),
    # 01 · The dense baseline
    ("01", "dense baseline", "pixel_accuracy", "{:.2f}"),
    ("01", "dense baseline", "fg_iou", "{:.2f}"),
    ("01", "FCN-8s staged", "fg_iou", "{:.2f}"),
    # 02 · Fully convolutional networks
    ("02", "FCN-32s fixed", "fg_iou", "{:.2f}"),
    ("02", "dense baseline", "fg_iou", "{:.2f}"),
    ("02", "FCN-8s staged", "fg_iou", "{:.2f}"),
    # 04 · Bilinear upsampling
    ("04", "FCN-32s fixed", "fg_iou", "{:.3f}"),
    ("04", "FCN-32s learned", "fg_iou", "{:.3f}"),
    ("04", "FCN-32s random", "fg_iou", "{:.3f}"),
    ("04", "FCN-32s fixed, Glorot score", "fg_iou", "{:.3f}"),
    ("04", "FCN-32s learned, Glorot score", "fg_iou", "{:.3f}"),
    # 05 · Skip connections
    ("05", "FCN-32s fixed", "fg_iou", "{:.2f}"),
    ("05", "FCN-16s staged", "fg_iou", "{:.2f}"),
    ("05", "FCN-8s staged", "fg_iou", "{:.2f}"),
    ("05", "FCN-32s fixed", "trimap_iou", "{:.2f}"),
    ("05", "FCN-8s staged", "trimap_iou", "{:.2f}"),
    ("05", "FCN-8s at-once", "fg_iou", "{:.2f}"),
    # 06 · Evaluation
    ("06", "dense baseline", "fg_iou", "{:.2f}"),
    ("06", "dense baseline", "pixel_accuracy", "{:.2f}"),
    ("06", "FCN-8s staged", "fg_iou", "{:.2f}"),
    ("06", "FCN-8s staged", "pixel_accuracy", "{:.2f}"),
    ("06", "FCN-8s staged", "trimap_iou", "{:.2f}"),
    ("06", "FCN-16s staged", "fg_iou", "{:.2f}"),
    ("06", "FCN-32s fixed", "fg_iou", "{:.2f}"),
    ("06", "FCN-32s learned", "fg_iou", "{:.2f}"),
    ("06", "FCN-32s fixed", "trimap_iou", "{:.2f}"),
    ("06", "TF1 blog FCN-8s", "fg_iou", "{:.2f}"),
    ("06", "d2l FCN", "fg_iou", "{:.2f}"),
    ("06", "keras.io FCN-8S", "fg_iou", "{:.2f}"),
    ("06", "U-Net (TF tutorial, fine-tuned)", "fg_iou", "{:.2f}"),
    ("06", "U-Net (TF tutorial, frozen encoder)", "fg_iou", "{:.2f}"),
    # 08 · Beyond VGG: the benchmark's rows for the three architectures it compares.
    ("08", "FCN-8s staged", "fg_iou", "{:.2f}"),
    ("08", "ResNet50 FCN, d2l's head", "fg_iou", "{:.2f}"),
    ("08", "DeepLabv3+ (ResNet50)", "fg_iou", "{:.2f}"),
]


def results_row(model: str) -> dict:
    rows = {row["model"]: row for row in json.loads(RESULTS.read_text(encoding="utf-8"))["rows"]}
    assert model in rows, f"{RESULTS.name} has no row {model!r}; rows: {sorted(rows)}"
    return rows[model]


def markdown(prefix: str) -> str:
    (path,) = sorted((ROOT / "notebooks").glob(f"{prefix}_*.ipynb"))
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown")


def quote_problem(text: str, model: str, column: str, form: str) -> str | None:
    """Why ``text`` does not quote the results file's number, or None when it does."""
    number = form.format(results_row(model)[column])
    return None if number in text else f"should quote {model} {column} as {number!r}"


@pytest.mark.parametrize("notebook, model, column, form", QUOTES)
def test_each_quoted_number_is_the_results_files(notebook, model, column, form):
    problem = quote_problem(markdown(notebook), model, column, form)
    assert problem is None, f"notebook {notebook}: {problem}"


def test_a_number_that_drifted_from_the_file_is_caught():
    iou = results_row("FCN-8s staged")["fg_iou"]
    assert quote_problem(f"FCN-8s reaches {iou:.2f}.", "FCN-8s staged", "fg_iou", "{:.2f}") is None
    assert "should quote" in quote_problem(f"FCN-8s reaches {iou + 0.05:.2f}.", "FCN-8s staged", "fg_iou", "{:.2f}")
    with pytest.raises(AssertionError, match="has no row"):
        results_row("no such model")
