"""scripts/classroom.py: the student release hides solutions, nbgrader grades the series, the guide is current.

Autograding executes whole notebooks, so it runs for real only on the cheap ones (00 and 03, no training);
every notebook is checked structurally and released.
"""

import copy
import csv
import importlib.util
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("classroom", ROOT / "scripts" / "classroom.py")
classroom = sys.modules["classroom"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(classroom)

NOTEBOOKS = classroom.series_notebooks()
CHEAP = [path for path in NOTEBOOKS if path.name[:2] in ("00", "03")]  # Executed by the real autograder.
STUB = "raise NotImplementedError()"
BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


def _read(path):
    return nbformat.read(path, as_version=4)


def _graded_cells(notebook):
    return {cell.metadata["nbgrader"]["grade_id"]: cell for cell in notebook.cells if "nbgrader" in cell.metadata}


def _between(source, begin, end):
    """Lines strictly between marker lines (a hand-written parser, independent of the script's)."""
    inside, lines = False, []
    for line in source.splitlines():
        if line.strip() == begin:
            inside = True
        elif line.strip() == end:
            inside = False
        elif inside:
            lines.append(line)
    return lines


def _outside(source, begin, end):
    inside, lines = False, []
    for line in source.splitlines():
        if line.strip() in (begin, end):
            inside = line.strip() == begin
        elif not inside:
            lines.append(line)
    return lines


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """Every notebook of the series released into a fresh course directory."""
    root = tmp_path_factory.mktemp("classroom") / "course"
    classroom.release(NOTEBOOKS, root)
    return root


def _shortcut_exercise(path):
    """The first autograded exercise of a notebook and its hard-coded shortcut (tests/test_exercises_NN.py)."""
    import importlib

    import exercise_harness

    grade = exercise_harness.graded_code_exercises(path.name[:2])[0]
    module = importlib.import_module(f"test_exercises_{path.name[:2]}")
    return grade, module.SHORTCUTS[grade]["hard-coded"]


def _shortcut_submission(path):
    """The instructor version with one exercise answered by its hard-coded shortcut: a partly right submission."""
    import exercise_harness

    notebook = _read(path)
    grade, shortcut = _shortcut_exercise(path)
    (cell,) = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == f"{grade}_solution"]
    cell.source = exercise_harness.replace_solution(cell.source, shortcut)
    return notebook


@pytest.fixture(scope="module")
def graded(course, tmp_path_factory):
    """The cheap notebooks autograded twice: the instructor version and the untouched student version."""
    submissions = tmp_path_factory.mktemp("submissions")
    for path in CHEAP:
        (submissions / "instructor").mkdir(exist_ok=True)
        shutil.copyfile(path, submissions / "instructor" / path.name)
        (submissions / "untouched" / "downloads").mkdir(parents=True, exist_ok=True)
        untouched = submissions / "untouched" / "downloads" / f"Copy of {path.name}"  # As Colab names it.
        shutil.copyfile(course / "handout" / path.name, untouched)
        (submissions / "shortcut").mkdir(exist_ok=True)
        nbformat.write(_shortcut_submission(path), submissions / "shortcut" / path.name)
    with pytest.MonkeyPatch.context() as patch:  # The graded kernels inherit this environment.
        patch.setenv("FCN_CACHE_DIR", str(tmp_path_factory.mktemp("fcn_cache")))
        patch.setenv("FCN_DATA_DIR", str(tmp_path_factory.mktemp("fcn_data")))
        status = classroom.autograde(submissions, course)
        return {"status": status, "scores": classroom.scores(course), "submissions": submissions}


def test_series_has_notebooks_with_exercises():
    assert NOTEBOOKS, "no notebooks/NN_*.ipynb found"
    assert any(path.name.startswith("03_") for path in CHEAP), "notebook 03 is the autograding reference"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_exercise_metadata_is_valid(path):
    cells = [cell for cell in _read(path).cells if "nbgrader" in cell.metadata]
    ids = [cell.metadata["nbgrader"]["grade_id"] for cell in cells]
    assert len(ids) == len(set(ids)), f"duplicate grade_ids in {path.name}: {ids}"
    graded = [cell for cell in cells if cell.metadata["nbgrader"].get("grade")]
    assert len(graded) >= 2, f"{path.name} has {len(graded)} graded exercises; the series asks for at least 2"
    for cell in graded:
        assert cell.metadata["nbgrader"].get("points", 0) > 0, f"{cell.metadata['nbgrader']['grade_id']} has no points"
        written = cell.metadata["nbgrader"].get("solution")  # A written answer, graded by hand: students edit it.
        assert cell.metadata["nbgrader"].get("locked") != written, "graded test cells must be locked"
    for cell in cells:
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        assert re.fullmatch(rf"ex{path.name[:2]}_\d+_(task|solution|tests|answer)", grade_id), grade_id
        if cell.metadata["nbgrader"].get("solution") and cell.cell_type == "code":
            lines = [line.strip() for line in cell.source.splitlines()]
            assert lines.count(BEGIN_SOLUTION) == lines.count(END_SOLUTION) >= 1, f"{grade_id}: markers missing"
    assert classroom.check_notebook(path) == []


def test_exercises_train_models_and_ask_for_explanations():
    """The series asks for more than formulas: some exercise trains a model, some asks for a written answer."""
    solutions = [cell for path in NOTEBOOKS for cell in _read(path).cells
                 if cell.metadata.get("nbgrader", {}).get("solution")]
    assert any(cell.cell_type == "code" and re.search(r"\.fit\(", "\n".join(_between(cell.source, BEGIN_SOLUTION,
               END_SOLUTION))) for cell in solutions), "no exercise solution trains a model"
    answers = [cell for cell in solutions if cell.cell_type == "markdown"]
    assert answers and all(cell.metadata["nbgrader"]["grade_id"].endswith("_answer") for cell in answers)


def _lesson_code(notebook):
    return {line.strip() for cell in notebook.cells if cell.cell_type == "code" and "nbgrader" not in cell.metadata
            for line in cell.source.splitlines()}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_lessons_do_not_give_solutions_away(path):
    """No exercise is a copy of the lesson: most of a solution's lines must not stand in the lesson's code."""
    notebook = _read(path)
    lesson = _lesson_code(notebook)
    for grade_id, cell in _graded_cells(notebook).items():
        if not grade_id.endswith("_solution"):
            continue
        code = [line.strip() for line in _between(cell.source, BEGIN_SOLUTION, END_SOLUTION)]
        code = [line.split("  #")[0] for line in code if len(line) >= 15 and not line.startswith(("#", "import ", "from "))
                and not re.fullmatch(r"return \w+", line)]  # Leaves out `return layer` and the like.
        copied = [line for line in code if line in {lesson_line.split("  #")[0] for lesson_line in lesson}]
        assert len(copied) < max(2, len(code) / 2), f"{grade_id}: the lesson already holds {copied[:3]}"
    assert classroom.given_away(notebook) == {}


def _broken_copies(tmp_path):
    """Copies of notebook 03 with one mistake each, and the words the check must report."""
    reference = _read(ROOT / "notebooks" / "03_transposed_convolution.ipynb")

    def mutate(change):
        notebook = copy.deepcopy(reference)
        change(_graded_cells(notebook), notebook)
        return notebook

    def drop_tests(cells, notebook):
        keep = lambda c: not c.metadata.get("nbgrader", {}).get("grade_id", "").endswith(("2_tests", "3_tests"))
        notebook.cells = [c for c in notebook.cells if keep(c)]

    def give_away(cells, notebook):
        """Writes exercise 2's solution into a lesson cell, with other comments and line breaks."""
        block = "\n".join(_between(cells["ex03_2_solution"].source, BEGIN_SOLUTION, END_SOLUTION))
        lesson_copy = "def counts(kernel, stride):\n" + block.replace("  #", "  # (lesson)").replace(
            "np.outer(per_axis, per_axis)", "np.outer(\n        per_axis,\n        per_axis)")
        notebook.cells.insert(5, nbformat.v4.new_code_cell(lesson_copy))

    cases = {
        "given_away": (give_away, "already hold the solution of ex03_2_solution"),
        "end_marker": (lambda cells, nb: setattr(cells["ex03_1_solution"], "source",
                                                cells["ex03_1_solution"].source.replace(END_SOLUTION, "")), "BEGIN SOLUTION"),
        "duplicate": (lambda cells, nb: cells["ex03_2_tests"].metadata["nbgrader"].update(grade_id="ex03_1_tests"),
                      "also used"),
        "no_points": (lambda cells, nb: cells["ex03_1_tests"].metadata["nbgrader"].pop("points"), "points > 0"),
        "points_differ": (lambda cells, nb: cells["ex03_1_tests"].metadata["nbgrader"].update(points=5), "says 2 points"),
        "one_exercise": (drop_tests, "at least 2"),
        "hidden_open": (lambda cells, nb: setattr(cells["ex03_1_tests"], "source",
                                                 cells["ex03_1_tests"].source.replace(END_HIDDEN, "")), "HIDDEN"),
        "stray_marker": (lambda cells, nb: nb.cells.insert(0, nbformat.v4.new_code_cell(f"x = 1\n{BEGIN_SOLUTION}")),
                         "without nbgrader metadata"),
        "unlocked": (lambda cells, nb: cells["ex03_2_tests"].metadata["nbgrader"].update(locked=False), "locked"),
        "no_visible_check": (lambda cells, nb: setattr(cells["ex03_2_tests"], "source",
                                                      f"{BEGIN_HIDDEN}\nassert True\n{END_HIDDEN}\n"), "selfcheck"),
    }
    for name, (change, words) in cases.items():
        path = tmp_path / f"03_{name}.ipynb"
        nbformat.write(mutate(change), path)
        yield name, path, words


def test_check_reports_each_broken_exercise(tmp_path):
    for name, path, words in _broken_copies(tmp_path):
        problems = classroom.check_notebook(path)
        assert any(words in problem for problem in problems), f"{name}: {problems}"


def test_release_refuses_broken_exercises(tmp_path):
    name, path, _ = next(_broken_copies(tmp_path))
    with pytest.raises(SystemExit, match="Not released"):
        classroom.release([path], tmp_path / "course")
    assert not (tmp_path / "course" / "release").exists()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_release_strips_solutions_and_hidden_tests(course, path):
    source, released = _read(path), _read(course / "release" / path.stem / path.name)
    text = "\n".join(cell.source for cell in released.cells)
    for marker in (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN):
        assert marker not in text, f"{marker!r} survived in the student version of {path.name}"
    public = {line.strip() for cell in source.cells
              for line in _outside("\n".join(_outside(cell.source, BEGIN_SOLUTION, END_SOLUTION)),
                                   BEGIN_HIDDEN, END_HIDDEN)}
    released_lines = {line.strip() for line in text.splitlines()}
    released_cells = _graded_cells(released)
    assert released_cells.keys() == _graded_cells(source).keys()
    for grade_id, cell in _graded_cells(source).items():
        student = released_cells[grade_id]
        secret = {line.strip() for line in _between(cell.source, BEGIN_SOLUTION, END_SOLUTION)
                  + _between(cell.source, BEGIN_HIDDEN, END_HIDDEN)} - public - {""}
        leaks = sorted(secret & released_lines)
        assert not leaks, f"{grade_id}: instructor-only lines leaked: {leaks[:3]}"
        if grade_id.endswith("_answer"):  # A written answer: nbgrader leaves students an empty answer cell.
            assert student.source.strip() == classroom.TEXT_STUB and student.cell_type == "markdown", grade_id
            assert not student.metadata["nbgrader"]["locked"] and student.metadata["nbgrader"]["points"] > 0
            answer = {line.strip() for line in cell.source.splitlines()} - public - {""}
            assert not answer & released_lines, f"{grade_id}: the model answer leaked"
            continue
        if cell.metadata["nbgrader"].get("solution"):
            assert student.source.count(STUB) == cell.source.count(BEGIN_SOLUTION), f"{grade_id}: no nbgrader stub"
        if cell.metadata["nbgrader"].get("grade"):
            visible = "\n".join(_outside(cell.source, BEGIN_HIDDEN, END_HIDDEN)).strip()
            assert student.source.strip() == visible, f"{grade_id}: the visible checks must stay as written"
            assert "selfcheck." in student.source
            assert student.metadata["nbgrader"]["points"] == cell.metadata["nbgrader"]["points"]
            assert student.metadata.get("editable") is False, f"{grade_id}: test cells are read-only for students"
    lesson = [cell.source for cell in source.cells if "nbgrader" not in cell.metadata]
    handout = [cell.source for cell in released.cells if "nbgrader" not in cell.metadata]
    changed = [i for i, (a, b) in enumerate(zip(lesson, handout, strict=False)) if a != b]
    assert len(lesson) == len(handout) and changed == [0], "only the title cell (its badge) may change"
    assert _badge_links(handout[0]) == [] and classroom.HANDOUT_NOTE in handout[0], "the handout's title badge"
    assert _badge_links(lesson[0]), f"{path.name}: the instructor version has an Open-in-Colab badge"
    assert handout[0].replace(classroom.HANDOUT_NOTE, "") == re.sub(r" ?\[!\[.*?\]\(.*?\)\]\(.*?\)", "", lesson[0])
    assert (course / "handout" / path.name).read_bytes() == (course / "release" / path.stem / path.name).read_bytes()


def _badge_links(text):
    """Links that open a notebook of the repository on Colab or Binder (an independent pattern)."""
    return re.findall(r"https://(?:colab\.research\.google\.com/github|mybinder\.org/v2/gh)/\S+?\.ipynb", text)


def test_handout_badges_open_the_handout(course):
    for path in NOTEBOOKS:
        text = (course / "handout" / path.name).read_text(encoding="utf-8")
        assert _badge_links(text) == [], f"{path.name}: a badge opens the instructor version"
    notebook = _read(NOTEBOOKS[0])
    url = "https://github.com/school/fcn-course/blob/2026/handout"
    assert classroom.handout_badges(notebook, NOTEBOOKS[0].name, url) == 1
    assert _badge_links(notebook.cells[0].source) == [
        f"https://colab.research.google.com/github/school/fcn-course/blob/2026/handout/{NOTEBOOKS[0].name}"]
    with pytest.raises(SystemExit, match="not-a-url"):
        classroom.handout_badges(_read(NOTEBOOKS[0]), NOTEBOOKS[0].name, "not-a-url")
    # A badge left in a student version counts as a leak for the release's own check.
    released = _read(course / "handout" / NOTEBOOKS[0].name)
    assert classroom.leaked(_read(NOTEBOOKS[0]), released) == []
    released.cells[0].source += "\n\n" + _read(NOTEBOOKS[0]).cells[0].source
    assert classroom.leaked(_read(NOTEBOOKS[0]), released), "a repository badge in the handout went unnoticed"
    released.cells[0].source = notebook.cells[0].source  # The badge of the handout's own copy is no leak.
    assert classroom.leaked(_read(NOTEBOOKS[0]), released, url) == []
    assert classroom.leaked(_read(NOTEBOOKS[0]), released)  # ... unless the release was not made for that URL.


def test_leak_check_catches_a_solution_left_in(course):
    """The script's own check, which guards `make release`, flags what the tests above flag."""
    path = CHEAP[-1]
    source = _read(path)
    assert classroom.leaked(source, _read(course / "release" / path.stem / path.name)) == []
    assert classroom.leaked(source, source), "the instructor version must count as leaking"


def test_nbgrader_config_has_a_timeout_for_tensorflow(course):
    config = (course / "nbgrader_config.py").read_text()
    assert re.search(r"^c\.Execute\.timeout = 600\b", config, flags=re.M)
    env = classroom._env()
    for name, value in {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0", "FCN_PROFILE": "quick",
                        "FCN_STATIC_WIDGETS": "1", "MPLBACKEND": "Agg"}.items():
        assert env[name] == value


@pytest.mark.parametrize("path", CHEAP, ids=lambda path: path.stem)
def test_instructor_version_autogrades_to_full_marks(graded, path):
    assert graded["status"] == 0, "nbgrader autograde reported a failure"
    points = {e.grade_id: e.points for e in classroom.exercises(path)}
    grades = graded["scores"][("instructor", path.stem)]
    assert grades == {grade_id: (value, value) for grade_id, value in points.items()}


@pytest.mark.parametrize("path", CHEAP, ids=lambda path: path.stem)
def test_shortcut_submission_gets_partial_marks(graded, path):
    """One exercise answered by its hard-coded shortcut: that exercise scores 0, every other one full marks."""
    grade, _ = _shortcut_exercise(path)
    points = {e.grade_id: e.points for e in classroom.exercises(path)}
    grades = graded["scores"][("shortcut", path.stem)]
    expected = {grade_id: (0 if grade_id == f"{grade}_tests" else value, value) for grade_id, value in points.items()}
    assert grades == expected
    got = sum(score for score, _ in grades.values())
    assert 0 < got < sum(points.values())


@pytest.mark.parametrize("path", CHEAP, ids=lambda path: path.stem)
def test_untouched_student_version_scores_zero(graded, course, path):
    grades = graded["scores"][("untouched", path.stem)]
    assert sorted(grades) == sorted(e.grade_id for e in classroom.exercises(path))
    assert all(score == 0 and maximum > 0 for score, maximum in grades.values()), grades
    # The grader ran the whole notebook: every code cell executed, the graded ones failing on the stub.
    autograded = _read(course / "autograded" / "untouched" / path.stem / path.name)
    assert all(cell.execution_count for cell in autograded.cells if cell.cell_type == "code" and cell.source.strip())
    for grade_id, cell in _graded_cells(autograded).items():
        if grade_id.endswith("_tests"):
            # The stub raises NotImplementedError; selfcheck.run turns it into a sentence for the student.
            assert any(output.get("ename") == "NotImplementedError" or (
                output.get("ename") == "ExerciseError" and "not written yet" in output.get("evalue", ""))
                for output in cell.outputs), grade_id
            # nbgrader put the instructor's test cell back, hidden tests included.
            assert cell.source == _graded_cells(_read(path))[grade_id].source, grade_id


def test_grades_csv_and_feedback(graded, course):
    rows = {(row["student_id"], row["assignment"]): row for row in csv.DictReader(open(course / "grades.csv"))}
    for path in CHEAP:
        total = sum(e.points for e in classroom.exercises(path))
        assert float(rows["instructor", path.stem]["score"]) == total
        assert float(rows["untouched", path.stem]["score"]) == 0
        for student, score in (("instructor", total), ("untouched", 0)):
            html = (course / "feedback" / student / path.stem / f"{path.stem}.html").read_text()
            assert f"Score: {float(score)} / {float(total)}" in html


def test_autograde_again_skips_unchanged_submissions(graded, course, capfd):
    before = {p: p.stat().st_mtime_ns for p in (course / "autograded").rglob("*.ipynb")}
    assert classroom.autograde(graded["submissions"], course, feedback=False) == 0
    assert before == {p: p.stat().st_mtime_ns for p in (course / "autograded").rglob("*.ipynb")}
    assert "Skipping existing" in capfd.readouterr().err


def test_submissions_are_matched_to_notebooks(tmp_path):
    stems = [path.stem for path in NOTEBOOKS]
    stem = CHEAP[-1].stem
    for name in (f"alice/{stem}.ipynb", f"bob/{stem}/{stem}.ipynb", f"carol/week 3/Copy of {stem} (1).ipynb",
                 "stray.ipynb", "dave/notes.ipynb", f"erin/{stem}.ipynb", f"erin/old/{stem}.ipynb",
                 f"alice/.ipynb_checkpoints/{stem}-checkpoint.ipynb"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    found, problems = classroom.find_submissions(tmp_path, stems)
    assert sorted(found) == [("alice", stem), ("bob", stem), ("carol", stem), ("erin", stem)]
    assert len(problems) == 3 and any("second submission" in p for p in problems)


def test_lost_metadata_is_restored_or_reported(course):
    """Editors that drop cell metadata would make nbgrader score 0 silently; the script repairs or warns."""
    path = CHEAP[-1]
    released = _read(course / "release" / path.stem / path.name)
    ids = list(_graded_cells(released))
    assert classroom.submission_problems(released, released) == []
    stripped = copy.deepcopy(released)
    for cell in stripped.cells:
        cell.metadata.pop("nbgrader", None)
    assert "graded cells without their nbgrader metadata" in classroom.submission_problems(stripped, released)[0]
    assert sorted(classroom.restore_metadata(stripped, released)) == sorted(ids)
    assert [c.metadata for c in stripped.cells] == [c.metadata for c in released.cells]
    # A cell the student added beside a solution makes that solution ambiguous; the graded cells still match.
    stripped = copy.deepcopy(released)
    for cell in stripped.cells:
        cell.metadata.pop("nbgrader", None)
    solution = ids[1]
    after_solution = released.cells.index(_graded_cells(released)[solution]) + 1
    stripped.cells.insert(after_solution, nbformat.v4.new_code_cell("x = 1"))
    restored = classroom.restore_metadata(stripped, released)
    assert solution.endswith("_solution") and solution not in restored and len(restored) == len(ids) - 1
    assert classroom.submission_problems(stripped, released) == []
    # A copied exercise cell keeps its grade id: reported, since nbgrader cannot tell which one counts.
    doubled = copy.deepcopy(released)
    doubled.cells.append(copy.deepcopy(_graded_cells(released)[ids[2]]))
    assert "copied" in classroom.submission_problems(doubled, released)[0]


def test_guide_table_matches_the_notebooks():
    assert classroom.table_in_guide() == classroom.exercise_table(NOTEBOOKS).strip(), (
        "docs/INSTRUCTORS.md is out of date: run `make exercises` (python scripts/classroom.py list --write "
        "docs/INSTRUCTORS.md) and commit the guide")


def test_readme_summary_matches_the_notebooks():
    """README.md states the exercises' count and points as the notebooks' nbgrader metadata give them."""
    stated = classroom.table_in_guide(classroom.README, classroom.SUMMARY_BEGIN, classroom.SUMMARY_END)
    assert stated == classroom.summary(NOTEBOOKS), (
        "README.md's exercise summary is out of date: run `make exercises` and commit README.md")
    found = [e for path in NOTEBOOKS for e in classroom.exercises(path)]
    assert f"{len(found)} graded exercises" in stated


def test_every_written_answer_has_a_rubric_with_its_points():
    """Each exNN_k_answer has a rubric in docs/INSTRUCTORS.md whose rows add up to the exercise's points."""
    guide = classroom.GUIDE.read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        for e in classroom.exercises(path):
            if not e.grade_id.endswith("_answer"):
                continue
            heading = re.search(rf"^\*\*{path.name[:2]}, exercise {e.number}: .*?\((\d+(?:\.\d+)?) points?\)\.\*\*(.*?)(?=^\*\*|^## )",
                                guide, re.M | re.S)
            assert heading, f"docs/INSTRUCTORS.md has no rubric '**{path.name[:2]}, exercise {e.number}: ...**'"
            assert float(heading.group(1)) == e.points, f"{e.grade_id}: rubric says {heading.group(1)} points"
            rows = re.findall(r"^\| (\d+(?:\.\d+)?) \|", heading.group(2), re.M)
            # Additive rows (one point per idea) add up to the points; levels (3, 2, 1, 0) start at them.
            points = sorted(map(float, rows))
            assert rows and e.points in (sum(points), points[-1]), f"{e.grade_id}: rubric rows give {rows}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_exercises_that_train_state_their_training_time(path):
    """A solution or test cell that calls fit/overfit_one_batch belongs to a task saying "about N s of training"."""
    stated = {e.number: e.training_s for e in classroom.exercises(path)}
    for grade_id, cell in _graded_cells(_read(path)).items():
        number = int(grade_id.split("_")[1])
        if re.search(r"\.fit\(|overfit_one_batch\(", cell.source) and grade_id.endswith(("_solution", "_tests")):
            assert stated.get(number), f"{path.name} exercise {number} trains: its task must say 'about N s of training'"
            assert stated[number] <= 120, f"{path.name} exercise {number}: at most about 2 minutes of training"


def test_command_line_help(capsys):
    for command in ("release", "autograde", "feedback", "list", "check"):
        with pytest.raises(SystemExit) as exit_info:
            classroom.main([command, "--help"])
        assert exit_info.value.code == 0 and "usage" in capsys.readouterr().out
