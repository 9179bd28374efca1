"""The install paths agree: pyproject.toml, environment.yml, the Makefile, CI and the README."""

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import venv
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
    assert extras == {"cpu", "lab"}, "Binder and conda learners get TensorFlow CPU and JupyterLab, nothing more"


def test_extras_are_split_and_make_setup_installs_what_make_test_needs():
    extras = _pyproject()["project"]["optional-dependencies"]
    assert {"test", "classroom", "lab"} <= set(extras)
    assert not any("nbgrader" in dep for name, deps in extras.items() if name != "classroom" for dep in deps)
    assert not any("jupyterlab" in dep for dep in extras["test"] + extras["classroom"])
    makefile = (ROOT / "Makefile").read_text()
    installed = re.search(r'pip install .*-e "\.\[\$\(TF_EXTRA\),([a-z,]+)\]"', makefile)
    assert installed and set(installed.group(1).split(",")) == {"lab", "test", "classroom"}


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
    assert _pyproject()["tool"]["setuptools"]["packages"] == ["fcnlib", "fcnlib.data"]
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


def _setuptools_builds_this_project():
    try:
        import setuptools
    except ImportError:
        return False
    required = re.search(r"setuptools>=(\d+)", " ".join(_pyproject()["build-system"]["requires"]))
    return int(setuptools.__version__.split(".")[0]) >= int(required.group(1))


@pytest.mark.skipif(not _setuptools_builds_this_project(),
                    reason="this environment's setuptools is older than pyproject's build-system needs "
                           "(`make setup` installs the `test` extra, which brings it)")
def test_installed_wheel_works_away_from_the_checkout(tmp_path):
    """The wheel carries data/ and LICENSE; installed in a fresh venv it loads the quick backbone
    from another folder and caches in the user's cache folder, never in site-packages."""
    source = tmp_path / "source"  # A copy, so the build writes nothing into the checkout.
    for name in ("fcnlib", "data"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(tmp_path / "wheel"), str(source)], check=True, timeout=120)
    wheel = next((tmp_path / "wheel").glob("fcnlib-*.whl"))
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "fcnlib/data/vgg16_quarter_synthetic.weights.h5" in names
    assert "fcnlib/data/vgg16_quarter_synthetic.sha256" in names
    assert "fcnlib/data/resnet50_eighth_synthetic.weights.h5" in names
    assert "fcnlib/data/resnet50_eighth_synthetic.sha256" in names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names), names

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    # Without PYTHONPATH: a checkout on it (with its .egg-info) would look like fcnlib already installed.
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "FCN_CACHE_DIR", "VIRTUAL_ENV")}
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--no-index", str(wheel)], check=True, timeout=120, env=env)
    # The dependencies (TensorFlow, Keras, ...) come from this environment's site-packages, appended
    # after the venv's own: nothing is downloaded, and fcnlib itself can only come from the wheel.
    site_packages = next(env_dir.glob("lib*/**/site-packages"))
    own = [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and Path(p).is_dir()]
    (site_packages / "zz_test_dependencies.pth").write_text("\n".join(own) + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = (
        "import fcnlib, pathlib\n"
        "from fcnlib import backbone, config\n"
        "here = pathlib.Path(fcnlib.__file__).resolve()\n"
        f"assert here.is_relative_to({str(site_packages.resolve())!r}), here\n"
        "assert not config.FROM_CHECKOUT\n"
        "assert config.QUICK_BACKBONE_FILE.is_file(), config.QUICK_BACKBONE_FILE\n"
        "backbone.quick_classifier(pretrained=True)\n"
        "print(config.cache_dir())\n"
    )
    env["XDG_CACHE_HOME"] = str(tmp_path / "user-cache")
    result = subprocess.run([str(python), "-c", script], cwd=elsewhere, env=env, capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    cache = Path(result.stdout.strip().splitlines()[-1])
    if sys.platform.startswith("linux"):
        assert cache == tmp_path / "user-cache" / "fcnlib"
    assert "site-packages" not in str(cache)


def test_version_agrees_across_pyproject_citation_and_changelog():
    version = _pyproject()["project"]["version"]
    citation = (ROOT / "CITATION.cff").read_text()
    assert re.search(rf"^version: {re.escape(version)}$", citation, flags=re.M), "CITATION.cff's version"
    assert "Long" in citation and "10.1109/CVPR.2015.7298965" in citation, "CITATION.cff cites the FCN paper"
    assert f"## [{version}]" in (ROOT / "CHANGELOG.md").read_text(), f"CHANGELOG.md has no section {version}"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert _pyproject()["project"]["license"] == "MIT"


def _ruff():
    try:
        import ruff
    except ImportError:
        return shutil.which("ruff")
    return ruff.find_ruff_bin()


@pytest.mark.skipif(_ruff() is None, reason="ruff is not installed (`make setup` installs the test extra)")
def test_code_and_notebooks_pass_ruff():
    """The same check as .pre-commit-config.yaml's ruff hook, with pyproject.toml's rules."""
    result = subprocess.run([_ruff(), "check", "--no-cache", "--output-format", "concise", str(ROOT)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]
    hooks = (ROOT / ".pre-commit-config.yaml").read_text()
    assert "ruff check" in hooks and "jupyter" in hooks and "nbstripout" in hooks


@pytest.mark.parametrize("uname_s, uname_m, system, machine", [
    ("Linux", "x86_64", "Linux", "x86_64"), ("Linux", "aarch64", "Linux", "aarch64"),
    ("Darwin", "arm64", "Darwin", "arm64"), ("Darwin", "x86_64", "Darwin", "x86_64"),
    ("MINGW64_NT-10.0-19045", "x86_64", "Windows", "AMD64"),
])
def test_makefile_picks_the_tensorflow_that_fcnlib_install_names(uname_s, uname_m, system, machine):
    if shutil.which("make") is None:
        pytest.skip("no make on this machine")
    from fcnlib import install

    env = {key: value for key, value in os.environ.items() if key != "TF_EXTRA"}
    result = subprocess.run(["make", "-s", "--no-print-directory", "--eval", "print-tf-extra: ; @echo $(TF_EXTRA)",
                             "print-tf-extra", f"UNAME_S={uname_s}", f"UNAME_M={uname_m}"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=30, check=True)
    assert result.stdout.strip() == install.tensorflow_extra(system, machine)


def test_ci_defines_a_macos_job_and_checks_colab_pins_are_kept():
    ci = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    macos = ci[ci.index("\n  macos:"):]
    assert re.search(r"runs-on: macos-", macos) and "make test-unit" in macos
    colab = ci[ci.index("\n  colab:"):ci.index("\n  macos:")]
    assert ".ci/colab_replaces_nothing.py" in colab
    assert colab.index("make setup") < colab.index("colab_replaces_nothing") < colab.index("make test")


def test_readme_install_steps_cover_three_platforms_with_existing_extras():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Install by hand"):readme.index("## Working through")]
    declared = set(_pyproject()["project"]["optional-dependencies"])
    for platform_name in ("**Linux**", "**macOS**", "**Windows**"):
        assert platform_name in section
    steps = re.findall(r'^pip install -e "\.\[([a-z,]+)\]"', section, flags=re.M)
    assert len(steps) == 3 and all(set(step.split(",")) <= declared for step in steps), steps
    assert "jupyter lab" in section and "Activate.ps1" in section


# Addresses that name a GitHub repository: plain links, Colab's and Binder's.
REPOSITORY_LINK = re.compile(r"(?:colab\.research\.google\.com/github|mybinder\.org/v2/gh|github\.com)/"
                             r"([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?(?=[/?#)\"'\s`]|$)")


def test_every_link_to_this_repository_is_config_repo_url():
    from fcnlib import config

    slug = config.REPO_URL.removeprefix("https://github.com/")
    owner, name = slug.split("/")
    files = [ROOT / "README.md", ROOT / "pyproject.toml", ROOT / "CITATION.cff", ROOT / "CHANGELOG.md",
             *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "notebooks").glob("*.ipynb"))]
    seen = 0
    for path in files:
        text = path.read_text()
        for match in REPOSITORY_LINK.finditer(text):
            found = match.group(1)
            # Links to other projects (the reference FCN, Keras) are fine; anything with this
            # repository's owner or name, and every Colab or Binder link, must be the constant.
            ours = "github.com/" != match.group(0)[:11] or found.split("/")[0] == owner or found.endswith(name)
            if ours:
                assert found == slug, f"{path.name}: {match.group(0)} is not config.REPO_URL ({config.REPO_URL})"
                seen += 1
    assert seen >= 10, "expected the badges and setup cells to link this repository"
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        setup = "".join(cells[0]["source"])
        assert f'"git+{config.REPO_URL}"' in setup and f'fcnlib.start("{path.name[:2]}"' in setup, path.name
        assert len(setup.strip().splitlines()) <= 6, f"{path.name}: the setup cell has more than six lines"
        badge = f"https://colab.research.google.com/github/{slug}/blob/main/notebooks/{path.name}"
        assert badge in path.read_text(), f"{path.name}: its Colab badge must open itself"
    urls = _pyproject()["project"]["urls"]
    assert urls["Repository"] == config.REPO_URL and all(u.startswith(config.REPO_URL) for u in urls.values())


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


def test_gpu_workflow_states_the_gpu_profiles_epochs():
    import re

    from fcnlib import config

    text = (ROOT / ".github" / "workflows" / "gpu.yml").read_text(encoding="utf-8")
    said = {int(n) for n in re.findall(r"(\d+) epochs?", text)}
    assert said == {config.GPU.epochs}, f"gpu.yml speaks of {sorted(said)} epochs; the gpu profile trains {config.GPU.epochs}"


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
