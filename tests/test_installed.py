"""The notebooks that read shipped files run from an installed fcnlib, away from a checkout.

Colab and Binder users, and students with a handout, have ``pip install``-ed fcnlib and a notebook,
not this repository. The wheel is built and installed into a folder of its own, the notebooks are
copied elsewhere, and the kernel imports fcnlib from the install (checked), in a smoke run of the
quick profile: 05 and 06 whole (06 reads the shipped benchmark results), 08 through its configuration
(its lesson builds the same quick models in every profile and runs under nbval in ``make test``).
"""

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from test_notebooks_smoke import _run, setup_and_configuration

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    work = tmp_path_factory.mktemp("installed")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(work / "wheel"), str(ROOT)], check=True, cwd=work)
    (wheel,) = (work / "wheel").glob("fcnlib-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                    str(work / "site"), str(wheel)], check=True, cwd=work)
    assert (work / "site" / "fcnlib" / "data" / "bench_quick.json").exists(), "the wheel ships the results"
    return work


@pytest.mark.parametrize("name", ["05", "06", "08"])
def test_notebook_runs_from_an_installed_fcnlib_away_from_the_checkout(installed, name):
    (source,) = (ROOT / "notebooks").glob(f"{name}_*.ipynb")
    folder = installed / f"notebook_{name}"
    folder.mkdir()
    path = shutil.copy(source, folder / source.name)
    notebook = nbformat.read(path, as_version=4)
    if name == "08":
        notebook = setup_and_configuration(notebook, source.name)
    notebook.cells.append(nbformat.v4.new_code_cell("import fcnlib\nprint('FCNLIB_AT', fcnlib.__file__)"))
    env = {"PYTHONPATH": str(installed / "site"), "FCN_PROFILE": "quick", "FCN_SMOKE": "1", "FCN_OFFLINE": "1",
           "FCN_CACHE_DIR": str(installed / "cache"), "FCN_DATA_DIR": str(installed / "data"),
           "FCN_STATIC_WIDGETS": "1", "MPLBACKEND": "Agg"}
    done = _run(Path(path), env, timeout=900, notebook=notebook)
    where = "".join(output.get("text", "") for output in done.cells[-1].outputs)
    assert str(installed / "site" / "fcnlib") in where, f"the kernel imported fcnlib from elsewhere: {where}"
