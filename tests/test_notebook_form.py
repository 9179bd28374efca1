"""scripts/normalize_notebooks.py: every notebook is committed in the form JupyterLab saves on open.

tests/test_browser.py checks in a real JupyterLab that this form opens unchanged.
"""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("normalize_notebooks", ROOT / "scripts" / "normalize_notebooks.py")
normalize_notebooks = sys.modules["normalize_notebooks"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(normalize_notebooks)

NOTEBOOKS = normalize_notebooks.series_notebooks()


def test_the_series_is_found():
    assert len(NOTEBOOKS) >= 8


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_in_the_form_jupyterlab_saves(path):
    text, wanted = normalize_notebooks.normalized_text(path)
    assert text == wanted, (f"{path.name} is not in the form JupyterLab 4 saves on open, so opening it "
                            "marks it as changed; run `python scripts/normalize_notebooks.py`.")


def _old_notebook():
    return {"nbformat": 4, "nbformat_minor": 4,
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                         "language_info": {"name": "python"}},
            "cells": [{"cell_type": "markdown", "metadata": {}, "source": "# Title\ntext"},
                      {"cell_type": "code", "metadata": {"nbgrader": {"grade": False}}, "source": "x = 1",
                       "execution_count": None, "outputs": []},
                      {"cell_type": "code", "id": "keep-me", "metadata": {}, "source": "",
                       "execution_count": None, "outputs": []}]}


def test_normalize_upgrades_to_4_5_with_stable_ids_and_the_kernels_metadata(tmp_path):
    path = tmp_path / "00_old.ipynb"
    path.write_text(json.dumps(_old_notebook()))
    assert normalize_notebooks.main(["--check", str(path)]) == 1
    assert normalize_notebooks.main([str(path)]) == 0
    first = path.read_text()
    notebook = json.loads(first)
    assert notebook["nbformat_minor"] == 5
    ids = [cell["id"] for cell in notebook["cells"]]
    assert ids[2] == "keep-me" and len(set(ids)) == 3 and all(ids)
    assert notebook["cells"][1]["metadata"] == {"nbgrader": {"grade": False}}
    assert notebook["metadata"]["kernelspec"]["display_name"] == "Python 3 (ipykernel)"
    assert notebook["metadata"]["language_info"]["pygments_lexer"] == "ipython3"
    assert first.endswith("}\n") and '\n "cells": [' in first  # The server's layout: indent 1.
    assert normalize_notebooks.main(["--check", str(path)]) == 0  # Idempotent.
    path.write_text(json.dumps(_old_notebook()))
    normalize_notebooks.main([str(path)])
    assert path.read_text() == first, "derived ids must not change from run to run"


def test_normalize_keeps_a_notebooks_python_version(tmp_path):
    notebook = _old_notebook()
    notebook["metadata"]["language_info"]["version"] = "3.99.1"
    result = normalize_notebooks.normalize(notebook, tmp_path / "x.ipynb")
    assert result["metadata"]["language_info"]["version"] == "3.99.1"
    forced = normalize_notebooks.normalize(notebook, tmp_path / "x.ipynb", python_version="3.11.7")
    assert forced["metadata"]["language_info"]["version"] == "3.11.7"


@pytest.mark.parametrize("content", ["[1, 2]", '{"nbformat": 3, "cells": []}', "{not json"])
def test_normalize_refuses_what_is_no_notebook_naming_the_file(tmp_path, content):
    path = tmp_path / "broken.ipynb"
    path.write_text(content)
    with pytest.raises(ValueError, match="broken.ipynb"):
        normalize_notebooks.normalized_text(path)
