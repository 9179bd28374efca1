"""The benchmark's measured results, as the lessons read them.

``make bench`` trains every model of the series and the recipes learners copy on the quick profile
and writes one results file, shipped with the package (``fcnlib/data/bench_<profile>.json``), so a
lesson reads the same numbers in a checkout, after ``pip install`` and on Colab. Each row is one
model: its parameters, training seconds, scores on the test split, and its ``kind``: ``"series"``
(a model the notebooks train), ``"experiment"`` (a variant trained to answer a question of the lab
notes) or ``"copied"`` (a recipe rebuilt from its source).

Example:

>>> from fcnlib import results
>>> results.row("FCN-8s staged")["fg_iou"]  # doctest: +SKIP
0.799
"""

from __future__ import annotations

import json
from pathlib import Path

from fcnlib import config

COLUMNS = ("model", "kind", "parameters", "training_s", "pixel_accuracy", "mean_iou", "fg_iou", "trimap_iou",
           "images_per_s")
KINDS = ("series", "experiment", "copied")


def path(profile: str = "quick") -> Path:
    """The shipped results file of a profile (only ``quick`` has been measured)."""
    return config.SHIPPED_DATA_DIR / f"bench_{profile}.json"


def load(source: str | Path = "quick") -> dict:
    """Reads a results file: a profile's shipped one, or a path; names the file and what is wrong.

    Args:
        source: A profile name (``"quick"``) or the path of a file written by ``make bench``.

    Returns:
        The file's dict; ``"rows"`` is a list of dicts that hold every name of ``COLUMNS``.

    Raises:
        ValueError: When the file is missing, not JSON, or a row lacks a column or has an unknown kind.
    """
    file = Path(source) if isinstance(source, Path) or str(source).endswith(".json") else path(source)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"Cannot read the benchmark results {file}: {error}. Run `make bench` to write "
                         "it again.") from error
    missing = [key for key in ("profile", "machine", "date", "provenance", "rows") if key not in data]
    if missing:
        raise ValueError(f"The benchmark results {file} lack {missing}; run `make bench` to write them again.")
    for index, entry in enumerate(data["rows"]):
        if "trimap_iou" not in entry and "boundary_iou" in entry:  # The name fcnlib 0.2.0 wrote.
            entry["trimap_iou"] = entry.pop("boundary_iou")
        absent = [column for column in COLUMNS if column not in entry]
        if absent:
            raise ValueError(f"Row {index} of {file} ({entry.get('model', '?')}) lacks {absent}.")
        if entry["kind"] not in KINDS:
            raise ValueError(f"Row {index} of {file} ({entry['model']}) has kind {entry['kind']!r}; "
                             f"expected one of {KINDS}.")
    return data


def rows(source: str | Path = "quick", kind: str | None = None) -> dict[str, dict]:
    """The rows of a results file by model name, in the file's order; only one kind when given."""
    return {entry["model"]: entry for entry in load(source)["rows"] if kind in (None, entry["kind"])}


def row(model: str, source: str | Path = "quick") -> dict:
    """One model's row; a KeyError names the models the file has."""
    found = rows(source)
    if model not in found:
        raise KeyError(f"The benchmark results have no row {model!r}; they have: {', '.join(sorted(found))}.")
    return found[model]
