"""The install paths agree: pyproject.toml, environment.yml, the Makefile, CI and the README."""

import json
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_installs_the_package_with_existing_extras():
    text = (ROOT / "environment.yml").read_text()
    match = re.search(r"^\s*-\s*-e\s+\.\[([a-z,]+)\]\s*$", text, flags=re.M)
    assert match, "environment.yml must pip-install the package itself (`-e .[...]`) for Binder"
    extras = set(match.group(1).split(","))
    declared = set(_pyproject()["project"]["optional-dependencies"])
    assert extras <= declared, f"environment.yml asks for unknown extras {extras - declared}"
    assert "test" in extras and "cpu" in extras


def test_environment_yml_python_satisfies_requires_python():
    text = (ROOT / "environment.yml").read_text()
    version = re.search(r"python=(\d+)\.(\d+)", text)
    required = re.search(r">=(\d+)\.(\d+)", _pyproject()["project"]["requires-python"])
    assert version and required
    assert tuple(map(int, version.groups())) >= tuple(map(int, required.groups()))


def test_one_tensorflow_per_install_path():
    project = _pyproject()["project"]
    base = " ".join(project["dependencies"])
    assert "tensorflow" not in base, "TensorFlow must be an extra, or CPU/Colab installs get two"
    extras = project["optional-dependencies"]
    assert any(dep.startswith("tensorflow-cpu") for dep in extras["cpu"])
    assert any(dep.startswith("tensorflow[and-cuda]") for dep in extras["gpu"])


def test_package_named_explicitly_and_importable():
    assert _pyproject()["tool"]["setuptools"]["packages"] == ["fcnlib"]
    import fcnlib

    assert fcnlib.__version__ == _pyproject()["project"]["version"]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make series" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.M), ".ci/run must run exactly `make test`"


def test_notebooks_are_committed_without_outputs():
    paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert paths, "no notebooks found"
    for path in paths:
        notebook = json.loads(path.read_text())
        for index, cell in enumerate(notebook["cells"]):
            if cell["cell_type"] != "code":
                continue
            assert not cell.get("outputs"), f"{path.name} cell {index} has stored outputs"
            assert cell.get("execution_count") is None, f"{path.name} cell {index} has an execution count"


def _minimum(requirement_prefix, requirements):
    """The (major, minor) of the first `name>=X.Y` requirement in the list."""
    for requirement in requirements:
        match = re.fullmatch(rf"{re.escape(requirement_prefix)}>=(\d+)\.(\d+)", requirement)
        if match:
            return tuple(map(int, match.groups()))
    raise AssertionError(f"no {requirement_prefix}>=X.Y in {requirements}")


def test_environment_check_requires_what_pyproject_requires():
    from fcnlib import environment

    project = _pyproject()["project"]
    assert environment.MIN_KERAS == _minimum("keras", project["dependencies"])
    for extra, name in (("cpu", "tensorflow-cpu"), ("tf", "tensorflow")):
        assert environment.MIN_TENSORFLOW == _minimum(name, project["optional-dependencies"][extra])


@pytest.mark.parametrize("version, word", [("3.4.1", "too old"), ("2.15.0", "Keras 2")])
def test_environment_check_refuses_a_keras_older_than_the_minimum(monkeypatch, version, word):
    import keras

    from fcnlib import environment

    monkeypatch.setattr(keras, "__version__", version)
    with pytest.raises(ImportError, match=rf"Keras {re.escape(version)} is {word}; .*>= 3\.5"):
        environment.check(verbose=False)


def test_colab_job_tests_colab_pins_that_pyproject_allows():
    ci = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    job = ci[ci.index("\n  colab:"):]
    assert 'python-version: "3.13"' in job
    assert len(re.findall(r"make \w+ CONSTRAINTS=\.ci/colab-constraints\.txt", job)) == 2
    pins = dict(re.findall(r"^([a-z-]+)==(\S+)$", (ROOT / ".ci" / "colab-constraints.txt").read_text(),
                           flags=re.M))
    assert {"tensorflow", "keras", "numpy", "matplotlib", "ipywidgets", "ipykernel"} <= set(pins)
    assert pins["tensorflow-cpu"] == pins["tensorflow"], "CI pins the CPU build of Colab's TensorFlow"
    project = _pyproject()["project"]
    minimums = {"keras": _minimum("keras", project["dependencies"]),
                "tensorflow": _minimum("tensorflow", project["optional-dependencies"]["tf"])}
    for name, minimum in minimums.items():
        pinned = tuple(int(part) for part in pins[name].split(".")[:2])
        assert pinned >= minimum, f"Colab's {name} {pins[name]} is below pyproject's minimum"


def test_binder_badge_opens_jupyterlab_on_the_first_notebook_and_readme_states_the_memory():
    readme = (ROOT / "README.md").read_text()
    badge = re.search(r"https://mybinder\.org/v2/gh/[\w.-]+/[\w.-]+/[\w.-]+\?urlpath=lab/tree/(\S+?\.ipynb)\)", readme)
    assert badge, "the README needs a Binder badge whose urlpath opens JupyterLab (lab/tree/...) on a notebook"
    assert (ROOT / badge.group(1)).is_file(), f"the Binder badge opens {badge.group(1)}, which does not exist"
    binder = re.search(r"^\*\*Binder\*\*.*?(?=^\*\*|^#)", readme, flags=re.M | re.S)
    assert binder and "2 GB" in binder.group(0), "the README's Binder paragraph must say what memory it needs"


# --- The workflows: CPU tests on every push, the full profile on a self-hosted GPU runner ---

WORKFLOWS = ROOT / ".github" / "workflows"


def load_workflow(name):
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as True.
    return workflow


def run_lines(job):
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_cpu_workflow_runs_make_test_on_every_push_in_the_quick_profile():
    workflow = load_workflow("ci.yml")
    assert {"push", "pull_request"} <= set(workflow["on"])
    job = workflow["jobs"]["test"]
    commands = run_lines(job)
    if ".ci/run" in commands:  # The CI entry point runs the README's command.
        commands += (ROOT / ".ci" / "run").read_text()
    assert "make test" in commands
    assert job.get("env", {}).get("FCN_PROFILE", "quick") == "quick"
    assert "FCN_PROFILE=full" not in commands


def test_gpu_workflow_runs_the_gpu_profile_on_pushes_and_the_full_one_weekly():
    workflow = load_workflow("gpu.yml")
    assert "workflow_dispatch" in workflow["on"] and workflow["on"]["schedule"][0]["cron"]
    assert workflow["on"]["push"]["branches"] == ["main"]
    jobs = workflow["jobs"]
    assert set(jobs) == {"gpu-profile", "full-profile"}
    for name, profile in (("gpu-profile", "gpu"), ("full-profile", "full")):
        job = jobs[name]
        assert set(job["runs-on"]) == {"self-hosted", "gpu"}
        env = {**workflow.get("env", {}), **job.get("env", {})}
        assert env["FCN_PROFILE"] == profile and env["TF_EXTRA"] == "gpu"
        assert "FCN_DATA_DIR" in env and "FCN_CACHE_DIR" in env
        commands = run_lines(job)
        assert "\nmake test" in "\n" + commands or "make test\n" in commands
        # The data are fetched before the tests run, and TensorFlow must see the GPU.
        assert commands.index("download_voc()") < commands.index("make test")
        assert "list_physical_devices('GPU')" in commands
    assert "push" in jobs["gpu-profile"]["if"] and "schedule" in jobs["full-profile"]["if"]
    assert jobs["gpu-profile"]["timeout-minutes"] <= 60  # The one-hour job.
    assert "download_sbd()" in run_lines(jobs["full-profile"])
