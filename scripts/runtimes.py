"""Measured quick-profile runtimes: one file, read by the notebook headers, the README and the guide.

It lives beside its users, ``scripts/run_series.py`` (which writes the file) and ``scripts/classroom.py``
(which quotes it), because it reads the checkout's ``docs/``; the library ``fcnlib`` reads no checkout path.

``make series`` (``scripts/run_series.py``) runs the series in order and writes each notebook's wall
time, the machine and the date into ``docs/runtimes.json``; the runtime sentence of every notebook's
header, the README's "quick" column and the exercise table of docs/INSTRUCTORS.md quote that file, and
``tests/test_runtimes.py`` fails when one of them no longer does. GPU figures are estimates, made by
:mod:`fcnlib.budget`.

File format::

    {"profile": "quick",
     "notebooks": {"00": {"seconds": 12.3, "date": "2026-12-01", "machine": "x86_64, 2 cores, ..."}, ...}}

Example:

>>> import runtimes  # scripts/ on sys.path, as run_series.py and classroom.py put it
>>> runtimes.header_sentence("03")  # doctest: +SKIP
'**Runtime (quick profile, 2-core CPU):** about 9 s, measured by `make series` ...'
"""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path

from fcnlib import files

RUNTIMES_FILE = Path(__file__).resolve().parent.parent / "docs" / "runtimes.json"
PROFILE = "quick"  # The only profile whose runtimes are measured (the gpu ones are estimated).


def load(path: Path = RUNTIMES_FILE) -> dict:
    """Reads the runtimes file; raises ValueError naming the file when it is malformed."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"Cannot read the runtimes file {path}: {error}") from error
    entries = data.get("notebooks") if isinstance(data, dict) else None
    if data.get("profile") != PROFILE or not isinstance(entries, dict):
        raise ValueError(f"{path}: expected {{'profile': {PROFILE!r}, 'notebooks': {{...}}}}.")
    for notebook, entry in entries.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("seconds"), (int, float)) and entry["seconds"] > 0
                and isinstance(entry.get("date"), str) and isinstance(entry.get("machine"), str)):
            raise ValueError(f"{path}: notebook {notebook!r} needs positive 'seconds', a 'date' and a 'machine'; "
                             f"got {entry!r}.")
    return data


def entry(notebook: str, path: Path = RUNTIMES_FILE) -> dict:
    """The measured entry of one notebook ("00" ... "07"); KeyError naming the file when it has none."""
    entries = load(path)["notebooks"]
    if notebook not in entries:
        raise KeyError(f"{path} has no runtime for notebook {notebook!r}; run `make series`.")
    return entries[notebook]


def rounded(seconds: float) -> int:
    """A figure to quote: whole seconds below 30 s, else the nearest 5 s (runs differ by more than that)."""
    return round(seconds) if seconds < 30 else 5 * round(seconds / 5)


def readme_cell(notebook: str, path: Path = RUNTIMES_FILE) -> str:
    """The README's "quick (2-core CPU)" cell of a notebook, e.g. ``50 s``."""
    return f"{rounded(entry(notebook, path)['seconds'])} s"


def series_seconds(path: Path = RUNTIMES_FILE) -> float:
    """The whole series' measured time: the sum of every notebook's wall seconds in the file."""
    return sum(entry["seconds"] for entry in load(path)["notebooks"].values())


def series_cell(path: Path = RUNTIMES_FILE) -> str:
    """The README's "time for the series" cell of the quick profile, in whole minutes."""
    return f"about {round(series_seconds(path) / 60)} min on 2 CPU cores (measured, docs/runtimes.json)"


def header_sentence(notebook: str, path: Path = RUNTIMES_FILE) -> str:
    """The time line of a notebook's header: one figure per profile, quick measured, gpu estimated.

    The quick figure is the notebook's measured seconds in ``make series``; the gpu figure is
    :func:`fcnlib.budget.notebook_minutes` on a T4 in a fresh runtime, counted from FLOPs.
    """
    from fcnlib import budget  # Only this sentence needs it.

    quick = f"about {rounded(entry(notebook, path)['seconds'])} s on a 2-core CPU (quick)"
    if budget.NOTEBOOK_RECIPES.get(notebook):
        gpu = f"about {max(1, round(budget.notebook_minutes(notebook, 'gpu', 't4'))):d} min on a Colab T4 (gpu, estimated)"
    else:
        gpu = "no training on a Colab T4 (gpu: it trains no model)"
    return f"**Time:** {quick}; {gpu}."


def machine() -> str:
    """What the runtimes depend on: architecture, cores, and how busy the machine was."""
    load_average = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return f"{platform.machine() or 'unknown CPU'}, {os.cpu_count()} cores{load_average}"


def record(seconds: dict[str, float], path: Path = RUNTIMES_FILE, date: str | None = None,
           machine_text: str | None = None) -> dict:
    """Writes the measured wall seconds of some notebooks ({"03": 9.1, ...}) into the file, keeping the others.

    Returns the whole updated content. The write is atomic, so a crash leaves the old file.
    """
    path = Path(path)
    data = load(path) if path.exists() else {"profile": PROFILE, "notebooks": {}}
    date = date or datetime.date.today().isoformat()
    for notebook, value in seconds.items():
        if not (isinstance(notebook, str) and len(notebook) == 2 and notebook.isdigit()) or not value > 0:
            raise ValueError(f"Cannot record {value!r} s for notebook {notebook!r} in {path}.")
        data["notebooks"][notebook] = {"seconds": round(float(value), 1), "date": date,
                                       "machine": machine_text or machine()}
    data["notebooks"] = dict(sorted(data["notebooks"].items()))
    with files.atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return data
