"""Without TensorFlow, fcnlib stops at once with one line naming this platform's install command."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fcnlib import install

ROOT = Path(__file__).resolve().parent.parent

# A sitecustomize that makes `import tensorflow` fail, as on a machine where it was never installed.
BLOCKER = '''
import sys
class _NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _NoTensorFlow())
'''


def _run_without_tensorflow(tmp_path, *args):
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    return subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)


def test_importing_a_module_without_tensorflow_names_the_install_command(tmp_path):
    result = _run_without_tensorflow(tmp_path, "-c", "from fcnlib import metrics")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("fcnlib.install.TensorFlowMissing: fcnlib needs TensorFlow"), result.stderr
    assert f"pip install {install.EXTRA_PACKAGES[install.tensorflow_extra()]}" in last
    assert "keras" not in result.stderr.lower(), "fcnlib must stop before Keras fails inside"


def test_command_line_without_tensorflow_prints_one_line(tmp_path):
    result = _run_without_tensorflow(tmp_path, "-m", "fcnlib", "--help")
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install" in lines[0] and "Traceback" not in result.stderr, result.stderr


def test_every_setup_cell_imports_fcnlib_before_keras_and_stops_without_tensorflow(tmp_path):
    paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in paths:
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        first = "".join(cells[0]["source"])
        assert "\nimport fcnlib" in first, f"{path.name}: the first code cell must `import fcnlib`"
        before = first[:first.index("\nimport fcnlib")]
        assert "import keras" not in before and "import tensorflow" not in before, path.name
    source = "".join(next(c for c in json.loads(paths[0].read_text())["cells"]
                          if c["cell_type"] == "code")["source"])
    result = _run_without_tensorflow(tmp_path, "-c", source)
    assert result.returncode != 0 and "TensorFlowMissing: fcnlib needs TensorFlow" in result.stderr


@pytest.mark.parametrize("system, machine, extra", [
    ("Linux", "x86_64", "cpu"), ("Windows", "AMD64", "cpu"), ("Darwin", "arm64", "tf"),
    ("Darwin", "x86_64", "tf"), ("Linux", "aarch64", "tf"),
])
def test_tensorflow_package_per_platform(system, machine, extra):
    assert install.tensorflow_extra(system, machine) == extra
    hint = install.install_hint(system, machine, (3, 12))
    assert f"pip install {install.EXTRA_PACKAGES[extra]}`" in hint or "(2.16" in hint
    assert f'".[{extra}]"' in hint


def test_intel_mac_on_a_python_tensorflow_does_not_support_says_so():
    hint = install.install_hint("Darwin", "x86_64", (3, 13))
    assert "no release for Python 3.13 on Intel Macs" in hint and "3.12" in hint
