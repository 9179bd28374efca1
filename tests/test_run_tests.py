"""scripts/run_tests.py, the code path of `make test`: two pytest runs side by side, one verdict.

Stand-in commands (short Python one-liners) take the place of the two pytest runs, so the tests check
what the runner does with their output and exit statuses, not pytest itself.
"""

import importlib.util
import io
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("run_tests", ROOT / "scripts" / "run_tests.py")
run_tests = sys.modules["run_tests"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_tests)


def stand_in(text, status=0, sleep=0.0):
    code = f"import sys, time; time.sleep({sleep}); print({text!r}); sys.exit({status})"
    return [sys.executable, "-c", code]


@pytest.mark.parametrize("side_by_side", [True, False])
@pytest.mark.parametrize("statuses, expected", [((0, 0), 0), ((1, 0), 1), ((0, 1), 1), ((0, 5), 1)])
def test_the_verdict_passes_only_when_both_runs_pass(tmp_path, side_by_side, statuses, expected):
    out = io.StringIO()
    commands = {"notebooks": stand_in("notebook output", statuses[0]), "unit": stand_in("unit output", statuses[1])}
    assert run_tests.run(commands, tmp_path / "logs", side_by_side=side_by_side, out=out) == expected
    text = out.getvalue()
    assert "notebook output" in text and "unit output" in text, text  # Both outputs reach the terminal...
    assert text.index("notebook output") < text.index("unit output")  # ... the streamed run's first.
    assert (tmp_path / "logs" / "unit.log").read_text().strip() == "unit output"
    for name, status in zip(commands, statuses, strict=False):
        assert (f"{name:<10} passed" if status == 0 else f"{name:<10} FAILED (exit status {status})") in text


def test_side_by_side_runs_overlap_and_one_after_the_other_does_not(tmp_path):
    commands = {"notebooks": stand_in("a", sleep=1.5), "unit": stand_in("b", sleep=1.5)}
    start = time.perf_counter()
    run_tests.run(commands, tmp_path, side_by_side=True, out=io.StringIO())
    together = time.perf_counter() - start
    start = time.perf_counter()
    run_tests.run(commands, tmp_path, side_by_side=False, out=io.StringIO())
    apart = time.perf_counter() - start
    assert together < 2.6 <= apart, (together, apart)


def test_the_commands_run_the_notebooks_under_nbval_and_the_unit_tests():
    commands = run_tests.commands("python", extra=["-x"])
    assert list(commands) == ["notebooks", "unit"]
    assert commands["notebooks"][:4] == ["python", "-m", "pytest", "notebooks"]
    assert "--nbval-lax" in commands["notebooks"] and "--nbval-lax" not in commands["unit"]
    assert commands["unit"][:5] == ["python", "-m", "pytest", "tests", "bench"]
    # Every unit test runs once: the ones moved after the notebooks are left out of the unit side.
    for path in run_tests.AFTER_NOTEBOOKS:
        assert (run_tests.ROOT / path).is_file()
        assert path in commands["notebooks"] and f"--ignore={path}" in commands["unit"]
    assert all(argv[-1] == "-x" for argv in commands.values())


def test_makefile_test_target_calls_the_runner():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ntest: ", 1)[1].split("\n\n", 1)[0]
    assert "scripts/run_tests.py" in recipe, recipe


def test_both_runs_may_share_a_gpu(tmp_path, monkeypatch):
    monkeypatch.delenv("TF_FORCE_GPU_ALLOW_GROWTH", raising=False)
    show = [sys.executable, "-c", "import os; print('growth=' + os.environ['TF_FORCE_GPU_ALLOW_GROWTH'])"]
    out = io.StringIO()
    assert run_tests.run({"notebooks": show, "unit": show}, tmp_path, out=out) == 0
    assert out.getvalue().count("growth=true") == 2, out.getvalue()


def test_each_run_is_timed_on_its_own(tmp_path):
    out = io.StringIO()
    run_tests.run({"notebooks": stand_in("slow", sleep=2.0), "unit": stand_in("quick")}, tmp_path, out=out)
    times = {line.split()[0]: float(line.split()[-2]) for line in out.getvalue().splitlines()
             if line.split()[:1] in (["notebooks"], ["unit"]) and line.endswith(" s")}
    assert times["notebooks"] >= 2 and times["unit"] < 1.5, out.getvalue()
