"""Every graded code exercise has its shortcuts listed in tests/test_exercises_NN.py, and "by hand" is enforced.

The per-notebook files submit the shortcuts (tests/exercise_harness.py runs them); this file checks that
none is forgotten: each autograded exercise lists a hard-coded answer and a reworded copy of a lesson
cell, and either a library call and the lesson's helper or the reason they do not apply.
"""

import importlib
import re

import exercise_harness as harness
import nbformat
import pytest

NUMBERS = [path.name[:2] for path in sorted((harness.ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))]


@pytest.mark.parametrize("number", NUMBERS)
def test_every_graded_exercise_lists_its_shortcuts(number):
    try:
        module = importlib.import_module(f"test_exercises_{number}")
    except ModuleNotFoundError:
        pytest.fail(f"tests/test_exercises_{number}.py is missing: it lists the shortcuts of notebook {number}")
    shortcuts, reasons = module.SHORTCUTS, getattr(module, "NO_SHORTCUT", {})
    graded = harness.graded_code_exercises(number)
    assert sorted(shortcuts) == sorted(graded), f"notebook {number}: shortcuts for {sorted(shortcuts)}, graded {graded}"
    for grade in graded:
        kinds = set(shortcuts[grade])
        assert kinds <= set(harness.KINDS), f"{grade}: unknown kinds {kinds - set(harness.KINDS)}"
        for kind in harness.REQUIRED_KINDS:
            assert kind in kinds, f"{grade}: no {kind!r} shortcut"
        for kind in set(harness.KINDS) - kinds:
            assert reasons.get(grade, {}).get(kind), f"{grade}: no {kind!r} shortcut and no reason in NO_SHORTCUT"


@pytest.mark.parametrize("number", NUMBERS)
def test_by_hand_exercises_make_the_library_raise(number):
    """A task that says "by hand" or "without fcnlib..." runs the student's code under selfcheck.by_hand."""
    notebook = nbformat.read(harness.notebook_path(number), as_version=4)
    tasks, tests = {}, {}
    for cell in notebook.cells:
        grade = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if match := re.fullmatch(r"(ex\d\d_\d+)_(task|tests)", grade):
            (tasks if match.group(2) == "task" else tests)[match.group(1)] = cell.source
    for grade, task in tasks.items():
        if re.search(r"\bby hand\b|without (calling )?`?fcnlib", task, re.I) and grade in tests:
            assert "selfcheck.by_hand(" in tests[grade], f"{grade}: the task says by hand; its tests must use selfcheck.by_hand"
