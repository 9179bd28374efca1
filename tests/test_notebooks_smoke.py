"""Every notebook through the ``gpu`` profile's code path, in a smoke run on the CPU.

The ``gpu`` profile reads PASCAL VOC and ImageNet VGG16, which cannot be downloaded here. With
``FCN_SMOKE=1`` it keeps its code path (VOC loader, 224-style recipes, mixed precision, the dense
baseline at its own size) but shrinks to tiny images, random weights and one short epoch, on a
VOC-layout tree of synthetic scenes (``synthetic.write_voc_tree``). A missing file, a wrong shape or
a layer name on that path fails here; quality claims print that they were not checked
(``fcnlib.claims``). Also: with the gpu profile, no data and no network, a notebook stops in its
setup cells with a message naming the way out.
"""

import os
import re
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from fcnlib import environment, synthetic

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="module")
def voc_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("smoke_data")
    synthetic.write_voc_tree(root / "voc", num_train=8, num_val=6)
    return root


def _run(path, env, timeout=600, notebook=None):
    notebook = notebook if notebook is not None else nbformat.read(path, as_version=4)
    saved = dict(os.environ)
    os.environ.update(env)  # The kernel inherits this process's environment.
    # Under pytest ipykernel leaves the C++ code's stderr alone; without this it shows it in the notebook,
    # as in JupyterLab, so that assert_clean_outputs sees what a learner sees.
    os.environ.pop("PYTEST_CURRENT_TEST", None)
    try:
        client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return notebook


def _outputs(notebook):
    return "\n".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                     for output in cell.get("outputs", []))


# Notebooks whose lessons build their models from config.QUICK whatever the profile (07's bugs, 08's small
# ResNets): past their setup and configuration they run the same cells in every profile, which make test
# already runs under nbval. Their gpu path is those first cells, so only those run here.
SETUP_ONLY = ("07", "08")


def setup_and_configuration(notebook, name):
    """The notebook cut after its configuration cell; fails if a later cell reads the active profile."""
    cells = notebook.cells
    heading = next(i for i, cell in enumerate(cells)
                   if cell.cell_type == "markdown" and cell.source.startswith("## Configuration"))
    last = next(i for i in range(heading, len(cells)) if cells[i].cell_type == "code")
    later = [cell.source for cell in cells[last + 1:] if cell.cell_type == "code"]
    uses = [line for source in later for line in source.splitlines()
            if re.search(r"(?<![\w.])PROFILE(?!\.smoke)\b", line)]
    assert not uses, f"{name} reads PROFILE after its configuration; run it whole here: {uses[:3]}"
    notebook.cells = cells[:last + 1]
    return notebook


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_through_gpu_profile_smoke_path(path, voc_tree, tmp_path):
    env = {"FCN_PROFILE": "gpu", "FCN_SMOKE": "1", "FCN_OFFLINE": "1", "FCN_DATA_DIR": str(voc_tree),
           "FCN_CACHE_DIR": str(tmp_path / "cache"), "FCN_STATIC_WIDGETS": "1", "MPLBACKEND": "Agg",
           "KERAS_HOME": str(tmp_path / "keras")}
    notebook = nbformat.read(path, as_version=4)
    if path.name[:2] in SETUP_ONLY:
        notebook = setup_and_configuration(notebook, path.name)
    try:
        notebook = _run(path, env, notebook=notebook)
    except CellExecutionError as error:
        pytest.fail(f"{path.name} failed in the gpu smoke path:\n{str(error)[-3000:]}")
    text = _outputs(notebook)
    assert "Profile     gpu" in text, "the notebook did not run in the gpu profile"
    assert_clean_outputs(notebook, path.name)


def assert_clean_outputs(notebook, name):
    """No TensorFlow/absl log lines in any cell's stderr, and no stray ``Out[...]`` from the setup cells."""
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    noise = [line for cell in code for output in cell.get("outputs", [])
             if output.get("output_type") == "stream" and output.get("name") == "stderr"
             for line in output.get("text", "").splitlines()
             if environment.is_startup_notice(line) or "oneDNN" in line or "absl" in line]
    assert not noise, f"{name} shows TensorFlow's log lines to the learner:\n" + "\n".join(noise[:6])
    stray = [cell.source.splitlines()[-1] for cell in code[:2]
             if any(output.get("output_type") == "execute_result" for output in cell.get("outputs", []))]
    assert not stray, f"{name}'s setup shows an Out[...] value; end the cell with a statement: {stray}"


def test_gpu_profile_without_data_stops_in_setup_naming_the_way_out(tmp_path):
    path = next(p for p in NOTEBOOKS if p.name.startswith("02_"))
    env = {"FCN_PROFILE": "gpu", "FCN_SMOKE": "0", "FCN_OFFLINE": "1", "FCN_DATA_DIR": str(tmp_path / "empty"),
           "FCN_CACHE_DIR": str(tmp_path / "cache"), "KERAS_HOME": str(tmp_path / "keras")}
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    with pytest.raises(CellExecutionError) as caught:
        _run(path, env, timeout=120, notebook=notebook)
    seconds = time.perf_counter() - start
    message = str(caught.value)
    assert "SetupStopped" in message and "FCN_PROFILE=quick" in message, message[-2000:]
    assert "PASCAL VOC 2012" in message
    failed = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"
              and any(output.get("output_type") == "error" for output in cell.get("outputs", []))]
    assert len(failed) == 1 and "fcnlib.start(" in notebook.cells[failed[0]].source
    assert failed[0] <= 4, "the setup cell is among the first cells"
    assert seconds < 60, f"took {seconds:.0f} s to stop"


def test_setup_only_notebooks_are_cut_after_configuration_and_checked():
    for path in NOTEBOOKS:
        if path.name[:2] in SETUP_ONLY:
            cut = setup_and_configuration(nbformat.read(path, as_version=4), path.name)
            assert "fcnlib.start(" in "".join(cell.source for cell in cut.cells)
            assert cut.cells[-1].cell_type == "code" and "SEED" in cut.cells[-1].source
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("## Configuration"), nbformat.v4.new_code_cell("SEED = 0"),
        nbformat.v4.new_code_cell("x = PROFILE.image_size")])
    with pytest.raises(AssertionError, match="reads PROFILE"):
        setup_and_configuration(notebook, "nb")
