"""Runs one graded exercise of a notebook with a given solution, as the autograder would, but in-process.

The shortcut tests (tests/test_exercises_NN.py) submit what a student might try instead of solving an
exercise (the expected value typed in, the library's own function, the lesson's helper, a reworded copy of
a lesson cell) and check that the exercise's test cell, hidden tests included, refuses each one with a
sentence (`fcnlib.selfcheck.ExerciseError`), while the reference solution passes.

An exercise runs on what the notebook's Setup and Configuration sections define, plus its own cells: the
solution cell (with the code between its ### BEGIN/END SOLUTION markers replaced by the submission) and the
test cell, run whole. That keeps each run to seconds; the reference solutions of the exercises that train a
model also run in full when `make test` executes the notebook under nbval.

Each tests/test_exercises_NN.py defines

    SHORTCUTS = {"ex03_1": {"hard-coded": "...code...", "library": "...", "lesson helper": "...",
                            "reworded lesson cell": "..."}, ...}
    NO_SHORTCUT = {"ex03_1": {"library": "fcnlib has no function for this"}}   # Why a kind does not apply.
    TRAINS = {"ex05_1"}   # Exercises whose reference solution trains a model: nbval runs it, not this file.

and calls `shortcut_tests(globals(), "03")`, which adds the parametrised tests.
"""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("hard-coded", "library", "lesson helper", "reworded lesson cell")
REQUIRED_KINDS = ("hard-coded", "reworded lesson cell")  # Every graded code exercise meets these two.
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
CONTEXT_SECTIONS = ("setup", "configuration")


def notebook_path(number: str) -> Path:
    (path,) = sorted((ROOT / "notebooks").glob(f"{number}_*.ipynb"))
    return path


def _heading(cell) -> str | None:
    if cell.cell_type != "markdown":
        return None
    match = re.match(r"^##\s+(.*)$", cell.source.strip().splitlines()[0] if cell.source.strip() else "")
    return match.group(1).strip().lower() if match else None


def context_cells(notebook) -> list[str]:
    """The code of the Setup and Configuration sections, which every exercise may use."""
    section, code = None, []
    for cell in notebook.cells:
        heading = _heading(cell)
        if heading is not None:
            section = heading
        elif cell.cell_type == "code" and section in CONTEXT_SECTIONS and "nbgrader" not in cell.metadata:
            code.append(cell.source)
    return code


def exercise_cells(notebook, grade_prefix: str) -> dict[str, str]:
    """{"solution": source, "tests": source} of exercise `exNN_k` (grade ids exNN_k_solution/_tests)."""
    found = {}
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if grade_id.startswith(grade_prefix + "_"):
            found[grade_id[len(grade_prefix) + 1:]] = cell.source
    return found


def replace_solution(source: str, submission: str) -> str:
    """The solution cell with everything between its first BEGIN/END SOLUTION markers replaced.

    The submission is indented like the BEGIN marker; later solution blocks (if any) become
    `raise NotImplementedError()` unless the submission is a list with one entry per block.
    """
    submissions = submission if isinstance(submission, list) else [submission]
    lines, out, index, inside = source.splitlines(), [], 0, False
    for line in lines:
        stripped = line.strip()
        if stripped == BEGIN:
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            text = submissions[index] if index < len(submissions) else "raise NotImplementedError()"
            out.extend(indent + row if row.strip() else row for row in text.strip("\n").splitlines())
            index += 1
        elif stripped == END:
            inside = False
        elif not inside:
            out.append(line)
    if index == 0:
        raise ValueError("the solution cell has no ### BEGIN SOLUTION marker")
    return "\n".join(out)


@dataclass
class Outcome:
    passed: bool
    error: BaseException | None
    output: str
    cell: str  # Which cell failed: "context", "solution" or "tests".

    def describe(self) -> str:
        return f"{self.cell}: {type(self.error).__name__}: {self.error}\n--- output ---\n{self.output[-3000:]}"


_SHELL = None


def _shell():
    """One in-process IPython shell (magics and display work as in a notebook); its namespace is reset per run."""
    global _SHELL
    if _SHELL is None:
        from IPython.core.interactiveshell import InteractiveShell

        _SHELL = InteractiveShell.instance()
    return _SHELL


def run_exercise(number: str, exercise: int, submission: str | list | None = None) -> Outcome:
    """Runs the context cells, then exercise `exercise`'s solution cell (the reference when `submission` is
    None) and its whole test cell; returns whether all ran without an exception, and the first exception."""
    notebook = nbformat.read(notebook_path(number), as_version=4)
    prefix = f"ex{number}_{exercise}"
    cells = exercise_cells(notebook, prefix)
    if "solution" not in cells or "tests" not in cells:
        raise ValueError(f"{prefix}: no solution or tests cell in notebook {number}")
    solution = cells["solution"] if submission is None else replace_solution(cells["solution"], submission)
    shell = _shell()
    shell.reset(new_session=False)
    plan = [("context", source) for source in context_cells(notebook)]
    plan += [("solution", solution), ("tests", cells["tests"])]
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        for name, source in plan:
            result = shell.run_cell(source, store_history=False, silent=True)
            error = result.error_before_exec or result.error_in_exec
            if error is not None:
                return Outcome(False, error, buffer.getvalue(), name)
    return Outcome(True, None, buffer.getvalue(), "tests")


def shortcut_tests(namespace: dict, number: str) -> None:
    """Adds `test_reference_passes` and `test_shortcut_fails` to a test module that defines SHORTCUTS."""
    from fcnlib.selfcheck import ExerciseError

    shortcuts: dict = namespace["SHORTCUTS"]
    trains: set = namespace.get("TRAINS", set())
    cases = [(grade, kind) for grade, kinds in shortcuts.items() for kind in kinds]

    def exercise_number(grade):
        match = re.fullmatch(rf"ex{number}_(\d+)", grade)
        assert match, f"{grade!r} is not an exercise of notebook {number} (ex{number}_<k>)"
        return int(match.group(1))

    @pytest.mark.parametrize("grade", [grade for grade in shortcuts if grade not in trains])
    def test_reference_passes(grade):
        outcome = run_exercise(number, exercise_number(grade))
        assert outcome.passed, outcome.describe()

    @pytest.mark.parametrize(("grade", "kind"), cases, ids=[f"{g}-{k.replace(' ', '_')}" for g, k in cases])
    def test_shortcut_fails(grade, kind):
        """The shortcut fails, and it fails with a sentence for the student (ExerciseError), in the tests cell."""
        outcome = run_exercise(number, exercise_number(grade), shortcuts[grade][kind])
        assert not outcome.passed, f"{grade}: the {kind!r} shortcut passes every check"
        assert outcome.cell == "tests", f"{grade} {kind}: failed before the checks ran\n{outcome.describe()}"
        assert isinstance(outcome.error, ExerciseError), (
            f"{grade} {kind}: the student sees a raw {type(outcome.error).__name__}, not a sentence\n"
            + outcome.describe())

    namespace["test_reference_passes"] = test_reference_passes
    namespace["test_shortcut_fails"] = test_shortcut_fails


def graded_code_exercises(number: str) -> list[str]:
    """The grade prefixes (exNN_k) of a notebook's autograded code exercises (those with a tests cell)."""
    notebook = nbformat.read(notebook_path(number), as_version=4)
    found = []
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        match = re.fullmatch(r"(ex\d\d_\d+)_tests", meta.get("grade_id", ""))
        if match and meta.get("grade"):
            found.append(match.group(1))
    return found
