"""Brings notebooks to the form JupyterLab 4 saves them in, so that opening one does not change it.

Usage (from the repository root):

    python scripts/normalize_notebooks.py            # rewrite every notebooks/NN_*.ipynb that differs
    python scripts/normalize_notebooks.py --check    # change nothing; exit 1 naming those that differ
    python scripts/normalize_notebooks.py path/to/a.ipynb ...

Opening a notebook in JupyterLab 4.6 and starting its kernel rewrites, before any cell runs (found by
opening each form in a real JupyterLab, saving and diffing; tests/test_browser.py repeats that check):

* ``metadata.kernelspec``: the display name of the kernel that started, "Python 3 (ipykernel)";
* ``metadata.language_info``: the kernel's full language record (CodeMirror mode, file extension,
  MIME type, nbconvert exporter, Pygments lexer and the Python version);
* notebooks older than nbformat 4.5 get version 4.5 and an id on every cell;
* the file is written the way the Jupyter server writes it (``nbformat.writes``: sorted keys,
  one-space indent, sources as lists of lines, a final newline).

A notebook saved in that form opens unchanged. The one field that depends on the machine is the Python
version: a notebook that has one keeps it (so running this script on another Python changes nothing),
one that has none gets the running interpreter's. The committed notebooks carry the version of the
project's own environment; a learner on another Python sees JupyterLab mark the notebook as changed
for that one field. Ids that exist are kept; a missing id is derived from the notebook's name and the
cell's position, so the script is idempotent. Outputs, cell metadata (nbgrader's included) and sources
are left alone.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
# What ipykernel reports as the kernel's language_info (ipykernel.ipkernel.IPythonKernel), less the
# Python version, which is filled in per notebook.
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
}


def series_notebooks(directory: Path = NOTEBOOKS) -> list[Path]:
    """The series' notebooks, ``NN_name.ipynb``, in order."""
    return sorted(directory.glob("[0-9][0-9]_*.ipynb"))


def _cell_id(path: Path, index: int, taken: set[str]) -> str:
    salt = 0
    while True:
        digest = hashlib.sha1(f"{path.stem}:{index}:{salt}".encode()).hexdigest()[:8]
        if digest not in taken:
            return digest
        salt += 1


def normalize(notebook: dict, path: Path, python_version: str | None = None) -> dict:
    """Returns the notebook (a JSON dict) as JupyterLab would save it right after opening it.

    Args:
        notebook: The notebook as parsed JSON; it is not modified.
        path: Its file, used in messages and to derive missing cell ids.
        python_version: The ``language_info.version`` to write; None keeps the notebook's own, or
            uses the running interpreter's when it has none.

    Raises:
        ValueError: For a file that is not an nbformat 4 notebook.
    """
    if not isinstance(notebook, dict) or notebook.get("nbformat") != 4 or not isinstance(
            notebook.get("cells"), list):
        found = notebook.get("nbformat") if isinstance(notebook, dict) else type(notebook).__name__
        raise ValueError(f"{path} is not an nbformat 4 notebook with a list of cells (found {found!r}).")
    result = json.loads(json.dumps(notebook))
    metadata = result.setdefault("metadata", {})
    version = python_version or metadata.get("language_info", {}).get("version") or platform.python_version()
    metadata["kernelspec"] = dict(KERNELSPEC)
    metadata["language_info"] = {**LANGUAGE_INFO, "version": version}
    if result.get("nbformat_minor", 0) < 5:
        result["nbformat_minor"] = 5
    taken = {cell["id"] for cell in result["cells"] if cell.get("id")}
    for index, cell in enumerate(result["cells"]):
        if not cell.get("id"):
            cell["id"] = _cell_id(path, index, taken)
            taken.add(cell["id"])
    return result


def render(notebook: dict) -> str:
    """The text the Jupyter server writes for a notebook (as ``nbformat.write`` does on save)."""
    text = nbformat.writes(nbformat.from_dict(notebook), version=nbformat.NO_CONVERT)
    return text if text.endswith("\n") else text + "\n"  # nbformat.write ends the file with a newline.


def normalized_text(path: Path, python_version: str | None = None) -> tuple[str, str]:
    """Returns the file's current text and its normalised text."""
    text = path.read_text(encoding="utf-8")
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    return text, render(normalize(notebook, path, python_version))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: notebooks/NN_*.ipynb)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook differs")
    args = parser.parse_args(argv)
    paths = args.paths or series_notebooks()
    differ = []
    for path in paths:
        if not path.is_file():
            parser.error(f"{path}: no such notebook")
        text, wanted = normalized_text(path)
        if text != wanted:
            differ.append(path)
            if not args.check:
                path.write_text(wanted, encoding="utf-8")
    verb = "would change" if args.check else "normalised"
    for path in differ:
        print(f"{verb}: {path.resolve().relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else path}")
    if args.check and differ:
        print("Run `python scripts/normalize_notebooks.py` to fix them.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
