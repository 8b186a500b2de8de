"""The classroom workflow end to end: release the assignments with nbgrader, grade a folder of
submissions (honest, broken and hostile) in the sandbox, write the CSV and the feedback pages. One
grading run covers most cases (it takes a few minutes: each submission runs in its own kernel)."""

from __future__ import annotations

import csv
import json
import re
import tempfile
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
    source = json.loads((SOURCE / assignment / f"{assignment}.ipynb").read_text())
    return classroom.fill_in(release_nb, source, replace)


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
    _put(subs, "not_a_notebook", "gradient_descent", "def gradient_descent(): ...  # a .py file renamed")
    _put(subs, "two_notebooks", "gradient_descent", gd, name="a.ipynb")
    _put(subs, "two_notebooks", "gradient_descent", gd, name="b.ipynb")
    _put(subs, "empty", "gradient_descent", None)
    _put(subs, "lost", "homework_7", gd, name="homework_7.ipynb")
    for student, replace in HOSTILE.items():
        _put(subs, student, "gradient_descent", _solved(gd, "gradient_descent", replace))
    odd = _solved(gd, "gradient_descent")
    for cell in odd["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "gd_impl":
            cell["metadata"]["nbgrader"] = "oops"  # valid for nbformat, not what nbgrader writes
    _put(subs, "odd_metadata", "gradient_descent", odd)
    _put(subs, "zeroes_the_tests_data", "backprop", _solved(released["backprop"], "backprop", {"pool_impl": ZEROES_THE_TESTS_DATA}))
    _put(subs, "chooses_its_metric", "fixes", _solved(released["fixes"], "fixes", {"fix_impl": CHOOSES_ITS_METRIC}))
    conv = released["convolution"]
    _put(subs, "peeks_at_frames", "convolution", _solved(conv, "convolution", {"conv_impl": PEEKS_AT_FRAMES}))
    huge = _solved(gd, "gradient_descent")
    huge["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "x" * (classroom.MAX_NOTEBOOK_BYTES + 1)})
    _put(subs, "huge_notebook", "gradient_descent", huge)
    canary = tmp_path_factory.mktemp("instructor_home") / "canary.txt"
    canary.write_text("untouched")
    _put(subs, "writes_files", "gradient_descent", _solved(gd, "gradient_descent", {"gd_impl": _writes_files(canary, subs)}))
    watched = [subs, SOURCE, canary.parent, Path.home() / ".bashrc"]
    before = _files(watched)
    scores = classroom.grade(subs, source=SOURCE, cell_timeout=CELL_TIMEOUT)
    return scores, subs, {"before": before, "after": _files(watched), "canary": canary}


def _files(roots: list[Path]) -> dict[str, bytes]:
    """Every file under ``roots`` (a file stands for itself), with its bytes."""
    found = {}
    for root in roots:
        for p in ([root] if root.is_file() else sorted(root.rglob("*"))):
            if p.is_file():
                found[str(p)] = p.read_bytes()
    return found


# Hostile submissions of the gradient-descent assignment, each with the right LR_MAX (2 points of
# real work) and a gradient_descent that cheats (0 points), except exhausts_memory, whose
# gradient_descent is right (5 points). {grade_id: replacement source}.
_RIGHT_LR = "LR_MAX = 0.2"
_WRONG_GD = "def gradient_descent(grad, x0, learning_rate, steps):\n    return np.zeros((steps + 1, 1))\n"
HOSTILE = {
    # Find the instructor's notebook (solutions and hidden tests) and run its solution.
    "reads_solutions": {"lr_answer": _RIGHT_LR, "gd_impl": (
        "import glob, json, os\n"
        f"paths = glob.glob('../../../../source/*/*.ipynb') + glob.glob({str(SOURCE)!r} + '/*/*.ipynb')\n"
        f"paths += glob.glob({tempfile.gettempdir()!r} + '/**/source/gradient_descent/*.ipynb', recursive=True)\n"
        "for path in paths:\n"
        "    for cell in json.load(open(path))['cells']:\n"
        "        if 'def gradient_descent' in ''.join(cell['source']):\n"
        "            exec(''.join(cell['source']))\n"
        "assert paths, 'found no instructor notebook'\n")},
    # Make every test pass whatever the answer: no-op asserts and comparisons.
    "patches_asserts": {"lr_answer": _RIGHT_LR, "gd_impl": (
        "import builtins, numpy.testing\n"
        "np.testing.assert_allclose = numpy.testing.assert_array_equal = lambda *a, **k: None\n"
        "builtins.AssertionError = type('Nothing', (Exception,), {})\n"
        "builtins.isinstance = lambda *a: True\n" + _WRONG_GD)},
    # An answer object that says whatever the test wants to hear.
    "lies": {"lr_answer": "class Liar(float):\n    def __eq__(self, other):\n        return True\n"
                          "    def __lt__(self, other):\n        return True\n    def __gt__(self, other):\n"
                          "        return True\nLR_MAX = Liar(0.9)\n",
             "gd_impl": ("class Path:\n    shape = (4, 1)\n    def __eq__(self, other):\n        return True\n"
                         "    def __sub__(self, other):\n        return np.zeros((4, 1))\n"
                         "    def __getitem__(self, key):\n        return np.array([1.0, 0.8, 0.64, 0.512])\n"
                         "    def __array__(self, *a, **k):\n        return np.array([[1.0], [0.8], [0.64], [0.512]])\n"
                         "def gradient_descent(grad, x0, learning_rate, steps):\n    return Path()\n")},
    # Exhaust memory in the answer cell after a right definition: the definition still counts.
    "exhausts_memory": {"lr_answer": _RIGHT_LR + "\nhog = bytearray(64 * 2**30)"},
    "exits": {"lr_answer": _RIGHT_LR, "gd_impl": "import os\nos._exit(1)"},
    "kills_itself": {"lr_answer": _RIGHT_LR, "gd_impl": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"},
    "kills_everything": {"lr_answer": _RIGHT_LR, "gd_impl": "import os, signal\nos.kill(-1, signal.SIGKILL)"},
    # Write garbage into the pipe to the grader (its numbers are on the kernel's command line).
    "forges_messages": {"lr_answer": _RIGHT_LR, "gd_impl": (
        "import os, sys\nos.write(int(sys.argv[-1]), (2**62).to_bytes(8, 'big') + b'{}')\n" + _WRONG_GD)},
}

PEEKS_AT_FRAMES = (
    "import gc, inspect, sys\n"
    "def conv2d(x, w, stride=1, padding='valid'):\n"
    "    for frame in inspect.stack():\n"
    "        if 'expected' in frame.frame.f_locals:\n"
    "            return frame.frame.f_locals['expected']\n"
    "    for obj in gc.get_objects():\n"
    "        if isinstance(obj, dict) and 'expected' in obj:\n"
    "            return obj['expected']\n"
    "    return np.zeros((3, 3, 1))\n"
)


# Right for the visible test's 2x2 input; for any other, it zeroes the gradient the test passes in,
# which would make the test's own gradient check trivially true if the change reached the test.
ZEROES_THE_TESTS_DATA = (
    "def max_pool2d_backward(x, grad_out):\n"
    "    if grad_out.size == 1:\n"
    "        return (x == x.max()).astype(float) * grad_out.reshape(1, 1, 1, 1)\n"
    "    grad_out[...] = 0\n"
    "    return np.zeros_like(x)\n"
)
# The baseline unchanged (stuck at chance), compiled with a metric that is always 1.
CHOOSES_ITS_METRIC = (
    "def build_fixed_model():\n"
    "    model = models.mlp(20, 64, 'sigmoid', 'glorot', seed=0)\n"
    "    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True),\n"
    "                  metrics=[keras.metrics.SparseTopKCategoricalAccuracy(k=10)])\n"
    "    return model\n"
)


def _writes_files(canary: Path, submissions: Path) -> str:
    """An answer cell that tries to change files outside its scratch folder, then answers wrong."""
    targets = [canary, SOURCE / "gradient_descent" / "gradient_descent.ipynb",
               submissions / "solution" / "gradient_descent" / "gradient_descent.ipynb",
               Path.home() / ".bashrc", Path("../../../../gradebook.db"), Path("../../../other/evil.py")]
    return ("import os\nfor path in %r:\n    try:\n        with open(path, 'w') as f:\n            f.write('owned')\n"
            "    except OSError:\n        pass\n" % [str(t) for t in targets]) + _WRONG_GD


@pytest.fixture(scope="module")
def graded_loop(released, tmp_path_factory):
    """Submissions that never return, graded with a short cell limit: the gradient-descent
    assignment's cells need only NumPy, so 10 s is ample for the others, and the suite does not
    wait out the graders' default limit. Each has the right LR_MAX in another cell."""
    subs = tmp_path_factory.mktemp("loop_submission")
    gd = released["gradient_descent"]
    for student, gd_impl in {
        "loops": "while True:\n    pass",
        "fork_bomb": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
        "floods_output": "while True:\n    print('spam' * 1000)",
        "hangs_when_called": "def gradient_descent(grad, x0, learning_rate, steps):\n    while True:\n        pass",
    }.items():
        _put(subs, student, "gradient_descent", _solved(gd, "gradient_descent", {"gd_impl": gd_impl, "lr_answer": _RIGHT_LR}))
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
    assert {r.question: r.message for r in rows}["gd_test"] == "ZeroDivisionError: division by zero"


@pytest.mark.parametrize("student", ["loops", "fork_bomb", "floods_output", "hangs_when_called"])
def test_a_cell_that_never_ends_is_stopped_and_the_rest_is_graded(graded_loop, student):
    # An endless loop, a fork bomb, an endless stream of output, a function that hangs when the test
    # calls it: each is stopped at the cell limit, the kernel starts again, and LR_MAX still scores.
    score, top, rows = _gd(graded_loop, student)
    assert {r.question: r.score for r in rows} == {"gd_test": 0, "lr_test": 2}, rows[0].note
    assert all("time limit" in r.note for r in rows), rows[0].note
    assert all(r.student == student for r in rows) and len(rows) == 2


def test_the_default_cell_limit_leaves_room_for_the_fixes_training_test():
    # Its hidden test trains twice in one cell; 15 s was once too little on a busy machine, and
    # nbgrader's own default (30 s) gives no margin over that.
    assert classroom.CELL_TIMEOUT >= 120


def test_grading_past_the_notebook_limit_is_stopped_with_a_note(released, tmp_path):
    # A cell that sleeps within the cell limit, so only the whole-notebook limit can stop it; the
    # question graded before it keeps its score.
    subs = tmp_path / "subs"
    gd = released["gradient_descent"]
    nb = _solved(gd, "gradient_descent", {"lr_answer": "import time\ntime.sleep(120)"})
    _put(subs, "sleeps", "gradient_descent", nb)
    rows = classroom.grade(subs, source=SOURCE, cell_timeout=900, notebook_timeout=20, jobs=1)
    assert [r.student for r in rows] == ["sleeps", "sleeps"]
    assert {r.question: r.score for r in rows} == {"gd_test": 3, "lr_test": 0}
    assert all("grading took longer than 20 s and was stopped" in r.note for r in rows), rows[0].note


@pytest.mark.parametrize("student", ["exits", "kills_itself", "kills_everything", "forges_messages"])
def test_a_submission_that_ends_its_kernel_keeps_what_its_other_cells_earn(graded, student):
    # os._exit, SIGKILL to itself, garbage sent down the pipe to the grader: the kernel is started
    # again without that cell, and LR_MAX (another cell) scores. SIGKILL to every process it can
    # reach (kill -1) finds none but itself and the sandbox's init, which it spares: nothing stops.
    score, top, rows = _gd(graded, student)
    assert {r.question: r.score for r in rows} == {"gd_test": 0, "lr_test": 2}, rows[0].note
    restarted = "student kernel stopped" in rows[0].note and "started again" in rows[0].note
    assert restarted == (student != "kills_everything"), rows[0].note
    assert "tries to end or signal the kernel" in rows[0].attempts or student == "forges_messages"
    assert _gd(graded, "solution")[0] == 5 and _gd(graded, "renames")[0] == 5


def test_reading_the_instructors_notebooks_finds_nothing(graded):
    score, top, rows = _gd(graded, "reads_solutions")
    assert {r.question: r.score for r in rows} == {"gd_test": 0, "lr_test": 2}
    assert "reads or writes files" in rows[0].attempts
    assert {r.question: r.message for r in rows}["gd_test"] == "NameError: name 'gradient_descent' is not defined"


def test_patched_asserts_and_lying_answers_score_nothing(graded):
    score, top, rows = _gd(graded, "patches_asserts")
    assert {r.question: r.score for r in rows} == {"gd_test": 0, "lr_test": 2}
    assert "replaces a testing function" in rows[0].attempts and "built-ins" in rows[0].attempts
    score, top, rows = _gd(graded, "lies")
    assert score == 0 and top == 5
    assert "not plain data" in rows[0].note and "overrides comparison" in rows[0].attempts
    assert "not plain data" in {r.question: r for r in rows}["gd_test"].message


def test_looking_into_the_callers_frames_finds_no_expected_value(graded):
    score, top, rows = _total(graded[0], "peeks_at_frames", "convolution")
    assert {r.question: r.score for r in rows} == {"size_test": 2, "conv_test": 0}
    assert "looks into the caller's frames" in rows[0].attempts


def test_changing_the_tests_data_or_choosing_the_metric_scores_nothing(graded):
    # Arguments cross by value, and a network's accuracy is counted by the test itself.
    score, top, rows = _total(graded[0], "zeroes_the_tests_data", "backprop")
    assert {r.question: r.score for r in rows} == {"sigmoid_test": 2, "pool_test": 0}
    score, top, rows = _total(graded[0], "chooses_its_metric", "fixes")
    assert {r.question: r.score for r in rows} == {"fix_shape_test": 1, "fix_train_test": 0}


def test_memory_exhaustion_fails_that_cell_only(graded):
    score, top, rows = _gd(graded, "exhausts_memory")
    assert score == top == 5
    assert "ran out of memory" in rows[0].note, rows[0].note


def test_no_file_outside_the_sandbox_changed(graded):
    _, _, files = graded
    assert files["canary"].read_text() == "untouched"
    assert files["after"] == files["before"]  # submissions, the instructor's sources, the home folder
    score, _, rows = _gd(graded, "writes_files")
    assert {r.question: r.score for r in rows} == {"gd_test": 0, "lr_test": 2}
    assert "reads or writes files" in rows[0].attempts


def test_a_huge_notebook_is_refused_without_reading_it(graded):
    score, top, rows = _gd(graded, "huge_notebook")
    assert score == 0 and top == 5
    assert "over the limit of 16 MiB" in rows[0].note and "Clear Outputs" in rows[0].note


def test_deleted_test_cells_are_restored_and_graded(graded):
    score, top, rows = _gd(graded, "deletes_tests")
    assert score == top == 5
    assert "restored" in rows[0].note and "gd_test" in rows[0].note and "lr_test" in rows[0].note


def test_edited_tests_are_replaced_by_the_originals(graded):
    score, top, rows = _gd(graded, "edits_tests")
    assert score == 0  # the edits would have passed everything; the original tests fail the stubs
    assert "edited" in rows[0].note and "graded with the original tests" in rows[0].note


def test_odd_cell_metadata_is_graded_not_a_crash(graded):
    # The answer cell lost its nbgrader metadata: the release's answer cell is put back before it,
    # and the student's own cell, run after, still defines gradient_descent.
    score, top, rows = _gd(graded, "odd_metadata")
    assert score == top == 5
    assert "gd_impl" in rows[0].note and "restored" in rows[0].note


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
    scores = graded[0]
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


# -- feedback, the sandbox, parallel grading --------------------------------------------------------
def _hidden_lines() -> list[str]:
    """Every line of every hidden test region of the instructor's notebooks (longer than 12 characters)."""
    lines, inside = [], False
    for a in classroom.ASSIGNMENTS:
        for cell in json.loads((SOURCE / a / f"{a}.ipynb").read_text())["cells"]:
            for line in "".join(cell["source"]).splitlines():
                if "HIDDEN TESTS" in line:
                    inside = "BEGIN" in line
                elif inside and len(line.strip()) > 12:
                    lines.append(line.strip())
    return lines


HIDDEN_SOURCE = _hidden_lines()


def test_feedback_shows_scores_and_visible_messages_but_never_hidden_tests(graded, tmp_path):
    scores = graded[0]
    path = classroom.write_json(scores, tmp_path / "grades.json")
    pages = classroom.write_feedback(classroom.read_json(path), tmp_path / "feedback")
    assert tmp_path / "feedback" / "errors" / "gradient_descent" / "gradient_descent.html" in pages
    errors = (tmp_path / "feedback" / "errors" / "gradient_descent" / "gradient_descent.html").read_text()
    assert "2 / 5" in errors and "ZeroDivisionError: division by zero" in errors
    partial = (tmp_path / "feedback" / "partial" / "gradient_descent" / "gradient_descent.html").read_text()
    assert "a hidden test failed" in partial  # LR_MAX = 0.1 passes the visible test, fails the hidden one
    assert len(HIDDEN_SOURCE) > 20
    for page in pages:
        text = page.read_text()
        leaked = [line for line in HIDDEN_SOURCE if line in text]
        assert not leaked, (page, leaked)
        assert "overrides comparison" not in text  # the instructor's notes on attempts stay in the CSV


def test_csv_notes_the_attempts(graded, tmp_path):
    path = classroom.write_csv(graded[0], tmp_path / "grades.csv")
    rows = {(r["student"], r["question"]): r for r in csv.DictReader(path.open()) if r["assignment"] == "gradient_descent"}
    assert "replaces a testing function" in rows["patches_asserts", "TOTAL"]["attempts"]
    assert rows["solution", "TOTAL"]["attempts"] == ""


def test_without_a_sandbox_grading_refuses_and_says_how_to_go_on(released, tmp_path, monkeypatch):
    from gradbook import sandbox

    monkeypatch.setattr(sandbox, "unavailable", lambda: "The grading sandbox needs `bwrap`, which is not on PATH.")
    subs = tmp_path / "subs"
    _put(subs, "solution", "gradient_descent", _solved(released["gradient_descent"], "gradient_descent"))
    with pytest.raises(sandbox.SandboxUnavailable, match=r"needs `bwrap`.*UNSANDBOXED=1"):
        classroom.grade(subs, source=SOURCE)
    assert classroom.main(["grade", str(subs), str(tmp_path / "g.csv")]) == 2
    assert not (tmp_path / "g.csv").exists()


def test_unsandboxed_grading_when_asked_and_jobs_give_the_same_scores(released, tmp_path):
    subs = tmp_path / "subs"
    gd = released["gradient_descent"]
    _put(subs, "solution", "gradient_descent", _solved(gd, "gradient_descent"))
    _put(subs, "partial", "gradient_descent", _solved(gd, "gradient_descent", PARTIAL["gradient_descent"]))
    _put(subs, "untouched", "gradient_descent", gd)
    out = tmp_path / "grades.csv"
    assert classroom.main(["grade", str(subs), str(out), "--unsandboxed", "--jobs", "1"]) == 0
    totals = {r["student"]: r["score"] for r in csv.DictReader(out.open()) if r["question"] == "TOTAL"}
    assert totals == {"partial": "3", "solution": "5", "untouched": "0"}
    parallel = classroom.grade(subs, source=SOURCE, jobs=3)
    assert {s.student: 0 for s in parallel} == {"partial": 0, "solution": 0, "untouched": 0}
    assert sum(s.score for s in parallel if s.student == "partial") == 3
    assert classroom.main(["feedback", str(out.with_suffix(".json")), str(tmp_path / "fb")]) == 0
    assert (tmp_path / "fb" / "partial" / "gradient_descent" / "gradient_descent.html").is_file()
