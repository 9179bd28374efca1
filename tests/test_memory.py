"""The series fits the memory of a Binder session (1-2 GB): notebook 01 counts the learner's
340-million-parameter model without allocating its weights.

Built the ordinary way, that model drives a Python process above 4 GiB; the notebook builds it
inside ``models.shapes_only()`` instead. This test runs the notebook's section 1 (setup,
configuration, the model and its counts) in a fresh Python process and reads the process's peak
resident memory (``VmHWM`` in ``/proc/self/status``, Linux).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "01_dense_baseline.ipynb"
# The weights alone would be 1.3 GiB; section 1 may grow the process by much less than that.
MAX_GROWTH_MIB = 400

MEASURE = """
def peak_mib():
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM")).split()[1]) / 1024
"""

# Run after the section: a Lambda layer closes a Keras scope, which would initialise any weight a
# shapes-only build left pending (the 1.3 GiB would arrive late, in the next notebook cell).
AFTER = """
import keras
keras.layers.Lambda(lambda x: keras.ops.sin(x))(keras.Input((4,)))
print(f"PEAK {baseline:.0f} {peak_mib():.0f}")
"""


def section_one_code():
    """The code cells of notebook 01 before its section 2, with the baseline taken after setup."""
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    parts, found = [MEASURE], False
    for cell in cells:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and any(line.startswith("## 2.") for line in source.splitlines()):
            found = True
            break
        if cell["cell_type"] == "code":
            parts.append(source)
            if "fcnlib.start(" in source or "environment.setup(" in source:
                parts.append("baseline = peak_mib()")
    assert found, f"{NOTEBOOK.name} has no '## 2.' heading to end section 1 at"
    assert "baseline = peak_mib()" in parts, f"{NOTEBOOK.name} section 1 never calls fcnlib.start()"
    return "\n".join(parts) + AFTER


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_notebook_01_builds_the_learners_model_without_its_weights(tmp_path):
    script = tmp_path / "section1.py"
    script.write_text(section_one_code(), encoding="utf-8")
    run = subprocess.run([sys.executable, str(script)], cwd=NOTEBOOK.parent, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, f"notebook 01 section 1 failed:\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"
    assert "339,831,616" in run.stdout, "the summary shows the learner's parameter count"
    baseline, peak = (float(value) for value in run.stdout.split("PEAK")[-1].split())
    print(f"after setup {baseline:.0f} MiB, peak {peak:.0f} MiB")
    assert peak - baseline < MAX_GROWTH_MIB, (
        f"notebook 01 section 1 grew the process from {baseline:.0f} to {peak:.0f} MiB: the learner's "
        "model must be built inside models.shapes_only(), not with its 1.3 GiB of weights")
