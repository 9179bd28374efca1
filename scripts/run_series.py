"""Runs the whole notebook series headless, in order, and writes what someone can open afterwards.

Usage (from the repository root; `make series` calls it after setting up the environment):

    python scripts/run_series.py [--output build/series] [--timeout 900] [notebooks/03_*.ipynb ...]

For every notebook it writes the executed notebook (`<output>/<name>.ipynb`) and an HTML page
(`<output>/<name>.html`), then a report (`<output>/report.md`) with each notebook's wall time and
status. Models trained by an earlier notebook are reused by later ones through the checkpoint cache.
The exit status is non-zero if any notebook failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from fcnlib import files  # noqa: E402


def run_notebook(path: Path, output: Path, timeout: int) -> tuple[str, float, str]:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    start = time.perf_counter()
    status, detail = "ok", ""
    try:
        client.execute()
    except CellExecutionError as error:
        status, detail = "FAILED", str(error).strip().splitlines()[-1]
    seconds = time.perf_counter() - start
    with files.atomic_path(output / path.name) as tmp:
        nbformat.write(notebook, str(tmp))
    html, _ = HTMLExporter().from_notebook_node(notebook)
    with files.atomic_path(output / (path.stem + ".html")) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return status, seconds, detail


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb in order")
    parser.add_argument("--output", type=Path, default=ROOT / "build" / "series")
    parser.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        print("No notebooks found in notebooks/.", file=sys.stderr)
        return 1
    os.environ.setdefault("FCN_STATIC_WIDGETS", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    rows, failed = [], False
    for path in paths:
        print(f"running {path.name} ...", flush=True)
        status, seconds, detail = run_notebook(path, args.output, args.timeout)
        failed |= status != "ok"
        print(f"  {status} in {seconds:.0f} s {detail}", flush=True)
        rows.append(f"| {path.name} | {status} | {seconds:.0f} | {path.stem}.html | {detail} |")
    profile = os.environ.get("FCN_PROFILE", "detected")
    report = "\n".join(
        [f"# Notebook series run (profile: {profile})", "",
         "| notebook | status | wall time (s) | executed copy | detail |", "|---|---|---|---|---|", *rows, ""]
    )
    with files.atomic_path(args.output / "report.md") as tmp:
        tmp.write_text(report, encoding="utf-8")
    print(f"\nExecuted notebooks, HTML pages and report.md are in {args.output}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
