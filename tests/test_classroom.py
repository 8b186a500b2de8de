"""The classroom workflow end to end: release the assignments, grade a folder of submissions with
nbgrader, and write the CSV. One grading run covers every case (it takes a few minutes: each
submission runs in its own kernel)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from gradbook import classroom

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "assignments" / "source"

# Every test here runs nbgrader (or checks its packaging next to those that do).
pytestmark = pytest.mark.slow
# The graders' default per-cell limit: the fixes assignment's test cell trains two 20-layer networks
# for 3 epochs each (a 15 s limit failed the solution on a busy machine). The looping submission is
# graded apart, with a shorter limit.
CELL_TIMEOUT = classroom.CELL_TIMEOUT
LOOP_CELL_TIMEOUT = 10

# Partially correct answers: (grade_id of the answer cell, replacement source).
PARTIAL = {
    "gradient_descent": {"lr_answer": "LR_MAX = 0.1   # half the threshold: safe, but not the threshold"},
    "convolution": {"conv_impl": (
        "def conv2d(x, w, stride=1, padding='valid'):\n"
        "    # ignores stride and padding: right only for stride 1, 'valid'\n"
        "    kh, kw, _, cout = w.shape\n"
        "    ho, wo = x.shape[0] - kh + 1, x.shape[1] - kw + 1\n"
        "    return np.array([[np.tensordot(x[i:i + kh, j:j + kw], w, axes=3) for j in range(wo)] for i in range(ho)])"
    )},
    "backprop": {"pool_impl": (
        "def max_pool2d_backward(x, grad_out):\n"
        "    # spreads the gradient evenly, as average pooling would: wrong for max pooling\n"
        "    return np.repeat(np.repeat(grad_out, 2, axis=1), 2, axis=2) / 4"
    )},
    "vanishing_gradients": {"predict_answer": "PREDICTED_LOG10_RATIO = 0.0   # 'the gradient stays the same size'"},
    "fixes": {"fix_impl": (
        "def build_fixed_model():\n"
        "    # the baseline unchanged: right shape, still stuck at chance\n"
        "    return baseline()"
    )},
    "training_cnns": {"floor_answer": "LOSS_FLOOR = 0.0   # 'a perfect prediction has no loss'"},
}
EXPECTED_PARTIAL = {"gradient_descent": 3, "convolution": 2, "backprop": 2, "vanishing_gradients": 3, "fixes": 1, "training_cnns": 4}
MAX = {"gradient_descent": 5, "convolution": 6, "backprop": 6, "vanishing_gradients": 5, "fixes": 5, "training_cnns": 6}


def _cells(nb):
    return {c["metadata"]["nbgrader"]["grade_id"]: c for c in nb["cells"] if "nbgrader" in c.get("metadata", {})}


def _solved(release_nb: dict, assignment: str, replace: dict[str, str] | None = None) -> dict:
    """The released notebook with the instructor's solutions (or ``replace``) typed in."""
    source = _cells(json.loads((SOURCE / assignment / f"{assignment}.ipynb").read_text()))
    nb = json.loads(json.dumps(release_nb))
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("solution"):
            text = "".join(source[meta["grade_id"]]["source"])
            cell["source"] = re.sub(r"[ \t]*### (BEGIN|END) SOLUTION\n?", "", text)
            if replace and meta["grade_id"] in replace:
                cell["source"] = replace[meta["grade_id"]]
    return nb


def _put(root: Path, student: str, assignment: str, content, name: str | None = None) -> None:
    folder = root / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    if content is None:
        return
    text = json.dumps(content) if isinstance(content, dict) else content
    (folder / (name or f"{assignment}.ipynb")).write_text(text)


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    paths = classroom.release(SOURCE, out)
    return {p.parent.name: json.loads(p.read_text()) for p in paths}


@pytest.fixture(scope="module")
def graded(released, tmp_path_factory):
    subs = tmp_path_factory.mktemp("submissions")
    for a, nb in released.items():
        _put(subs, "solution", a, _solved(nb, a))
        _put(subs, "untouched", a, nb)
        _put(subs, "partial", a, _solved(nb, a, PARTIAL[a]))
    gd = released["gradient_descent"]
    _put(subs, "errors", "gradient_descent", _solved(gd, "gradient_descent",
                                                     {"gd_impl": "def gradient_descent(grad, x0, learning_rate, steps):\n    return 1 / 0"}))
    deleted = _solved(gd, "gradient_descent")
    deleted["cells"] = [c for c in deleted["cells"] if not c["metadata"].get("nbgrader", {}).get("grade")]
    _put(subs, "deletes_tests", "gradient_descent", deleted)
    edited = json.loads(json.dumps(gd))  # unsolved, but every test cell replaced by a pass
    for cell in edited["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade"):
            cell["source"] = "pass  # nothing to see here"
    _put(subs, "edits_tests", "gradient_descent", edited)
    _put(subs, "renames", "gradient_descent", _solved(gd, "gradient_descent"), name="my homework (final).ipynb")
    _put(subs, "kills_kernel", "gradient_descent", _solved(gd, "gradient_descent", {"gd_impl": "import os\nos._exit(1)"}))
    _put(subs, "not_a_notebook", "gradient_descent", "def gradient_descent(): ...  # a .py file renamed")
    _put(subs, "two_notebooks", "gradient_descent", gd, name="a.ipynb")
    _put(subs, "two_notebooks", "gradient_descent", gd, name="b.ipynb")
    _put(subs, "empty", "gradient_descent", None)
    _put(subs, "lost", "homework_7", gd, name="homework_7.ipynb")
    scores = classroom.grade(subs, source=SOURCE, cell_timeout=CELL_TIMEOUT)
    return scores, subs


@pytest.fixture(scope="module")
def graded_loop(released, tmp_path_factory):
    """A submission that never returns, graded on its own with a short cell limit: the gradient-descent
    assignment's cells need only NumPy, so 10 s is ample for the others, and the suite does not wait
    out the graders' default limit."""
    subs = tmp_path_factory.mktemp("loop_submission")
    _put(subs, "loops", "gradient_descent", _solved(released["gradient_descent"], "gradient_descent",
                                                    {"gd_impl": "while True:\n    pass"}))
    return classroom.grade(subs, source=SOURCE, cell_timeout=LOOP_CELL_TIMEOUT), subs


def _total(scores, student, assignment):
    rows = [s for s in scores if s.student == student and s.assignment == assignment]
    assert rows, f"no rows for {student}/{assignment}"
    return sum(r.score for r in rows), sum(r.max_score for r in rows), rows


# -- release -------------------------------------------------------------------------------------
def test_release_removes_solutions_and_hidden_tests(released):
    assert sorted(released) == sorted(classroom.ASSIGNMENTS)
    for a, nb in released.items():
        text = json.dumps(nb)
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text, a
        answers = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("solution")]
        assert answers and all("raise NotImplementedError()" in "".join(c["source"]) for c in answers), a
        tests = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade")]
        assert sum(c["metadata"]["nbgrader"]["points"] for c in tests) == MAX[a], a
    source = json.loads((SOURCE / "gradient_descent" / "gradient_descent.ipynb").read_text())
    assert "HIDDEN TESTS" in json.dumps(source)  # the hidden tests exist, and the release dropped them


def test_release_of_a_missing_source_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="No assignment sources"):
        classroom.release(tmp_path / "nope", tmp_path / "out")


# -- grading: the three reference submissions ----------------------------------------------------
@pytest.mark.parametrize("assignment", classroom.ASSIGNMENTS)
def test_instructor_solution_scores_full_marks(graded, assignment):
    score, top, rows = _total(graded[0], "solution", assignment)
    assert top == MAX[assignment]
    assert score == top, [(r.question, r.score, r.note) for r in rows]
    assert all(r.note == "" for r in rows)


@pytest.mark.parametrize("assignment", classroom.ASSIGNMENTS)
def test_untouched_release_scores_zero(graded, assignment):
    score, top, rows = _total(graded[0], "untouched", assignment)
    assert top == MAX[assignment] and score == 0, [(r.question, r.score) for r in rows]


@pytest.mark.parametrize("assignment", classroom.ASSIGNMENTS)
def test_partially_correct_scores_in_between(graded, assignment):
    score, top, rows = _total(graded[0], "partial", assignment)
    assert 0 < score < top
    assert score == EXPECTED_PARTIAL[assignment], [(r.question, r.score) for r in rows]


# -- grading: bad submissions --------------------------------------------------------------------
def _gd(graded, student):
    return _total(graded[0], student, "gradient_descent")


def test_a_submission_that_errors_loses_only_that_question(graded):
    score, top, rows = _gd(graded, "errors")
    by_q = {r.question: r.score for r in rows}
    assert by_q == {"gd_test": 0, "lr_test": 2}


def test_an_infinite_loop_is_stopped_by_the_cell_time_limit(graded_loop):
    score, top, rows = _gd(graded_loop, "loops")
    assert {r.question: r.score for r in rows} == {"gd_test": 0, "lr_test": 2}
    assert all("time limit" in r.note for r in rows), rows[0].note


def test_the_default_cell_limit_leaves_room_for_the_fixes_training_test():
    # Its hidden test trains twice in one cell; 15 s was once too little on a busy machine, and
    # nbgrader's own default (30 s) gives no margin over that.
    assert classroom.CELL_TIMEOUT >= 120


def test_grading_past_the_notebook_limit_is_stopped_with_a_note(released, tmp_path):
    # A cell that sleeps within the cell limit, so only the whole-notebook limit can stop it.
    subs = tmp_path / "subs"
    _put(subs, "sleeps", "gradient_descent", _solved(released["gradient_descent"], "gradient_descent",
                                                     {"gd_impl": "import time\ntime.sleep(120)"}))
    rows = classroom.grade(subs, source=SOURCE, cell_timeout=900, notebook_timeout=20)
    assert [r.student for r in rows] == ["sleeps", "sleeps"]
    assert all(r.score == 0 for r in rows)
    assert all("grading took longer than 20 s and was stopped" in r.note for r in rows), rows[0].note


def test_a_submission_that_kills_its_kernel_gets_zero_and_the_others_are_still_graded(graded):
    # All of an assignment's submissions are graded in one nbgrader run; this one fails there and
    # again alone, and says why. The others of the same run keep their scores.
    score, top, rows = _gd(graded, "kills_kernel")
    assert score == 0 and top == 5
    assert all("kernel died" in r.note for r in rows), rows[0].note
    assert _gd(graded, "solution")[0] == 5 and _gd(graded, "renames")[0] == 5


def test_deleted_test_cells_are_restored_and_graded(graded):
    score, top, rows = _gd(graded, "deletes_tests")
    assert score == top == 5
    assert "restored" in rows[0].note and "gd_test" in rows[0].note and "lr_test" in rows[0].note


def test_edited_tests_are_replaced_by_the_originals(graded):
    score, top, rows = _gd(graded, "edits_tests")
    assert score == 0  # the edits would have passed everything; the original tests fail the stubs
    assert "edited" in rows[0].note and "graded with the original tests" in rows[0].note


def test_a_renamed_notebook_is_graded_with_a_note(graded):
    score, top, rows = _gd(graded, "renames")
    assert score == top
    assert "renamed" in rows[0].note and "my homework (final).ipynb" in rows[0].note


def test_a_file_that_is_not_a_notebook_gets_zero_and_says_why(graded):
    score, top, rows = _gd(graded, "not_a_notebook")
    assert score == 0 and top == 5
    assert "not a Jupyter notebook" in rows[0].note


def test_ambiguous_or_missing_submissions_get_zero_and_say_why(graded):
    score, _, rows = _gd(graded, "two_notebooks")
    assert score == 0 and "several notebooks" in rows[0].note and "a.ipynb" in rows[0].note
    score, _, rows = _gd(graded, "empty")
    assert score == 0 and "nothing submitted" in rows[0].note


def test_an_unknown_assignment_folder_is_reported(graded):
    (row,) = [s for s in graded[0] if s.student == "lost"]
    assert row.assignment == "homework_7" and "unknown assignment" in row.note


def test_every_student_was_graded(graded):
    students = {s.student for s in graded[0]}
    assert students == {p.name for p in graded[1].iterdir()}


# -- CSV -----------------------------------------------------------------------------------------
def test_csv_has_a_row_per_question_and_a_total_per_student(graded, tmp_path):
    scores, _ = graded
    path = classroom.write_csv(scores, tmp_path / "out" / "scores.csv")
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == len(scores) + len({(s.student, s.assignment) for s in scores})
    total = {(r["student"], r["assignment"]): r for r in rows if r["question"] == "TOTAL"}
    assert total["solution", "convolution"]["score"] == "6" and total["solution", "convolution"]["max_score"] == "6"
    assert total["partial", "backprop"]["score"] == "2"
    per_q = [r for r in rows if r["student"] == "errors" and r["question"] == "lr_test"]
    assert per_q and per_q[0]["score"] == "2"


def test_grading_a_missing_folder_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="No submissions folder"):
        classroom.grade(tmp_path / "nope", source=SOURCE)


def test_command_line_reports_errors_instead_of_a_traceback(tmp_path, capsys):
    assert classroom.main(["--source", str(tmp_path / "missing"), "release", str(tmp_path / "out")]) == 2
    assert "No assignment sources" in capsys.readouterr().err


def test_without_nbgrader_release_and_grade_say_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setattr(classroom, "_nbgrader_installed", lambda: False)
    with pytest.raises(RuntimeError, match=r"nbgrader is not installed.*pip install -e '\.\[classroom\]'"):
        classroom.release(SOURCE, tmp_path / "out")
    with pytest.raises(RuntimeError, match=r"nbgrader is not installed.*pip install -e '\.\[classroom\]'"):
        classroom.grade(tmp_path, source=SOURCE)
    assert not (tmp_path / "out").exists()


def test_nbgrader_is_the_classroom_extra_not_a_book_requirement():
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(r.startswith("nbgrader") for r in extras["classroom"])
    requirements = (ROOT / "requirements.txt").read_text().splitlines()
    assert not any(line.strip().startswith("nbgrader") for line in requirements)
