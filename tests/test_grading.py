"""Tests for gradbook.grading: plain data, the helpers, and grading hostile submissions.

The end-to-end tests grade tiny NumPy-only notebooks built here: the instructor's notebook
(setup, solution and test cells with nbgrader metadata) and a submission whose student cells
attack the grader. Each test asserts the score the submission's real work earns (0 when it has
none), that the grading ends, and what the report says. Where an attack would work in the
grader's own process, a control runs it there first, so that a zero means the grader stopped it.
Nothing here measures time: a cell that hangs is stopped by ``cell_timeout``, and no assertion
depends on how fast the machine is.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from gradbook import grading, sandbox
from gradbook.grading import (MAX_DEPTH, NotPlainData, Question, Report, answer_names, decode, encode, grade_notebook,
                              suspicious)

#: The sandboxed kernel's user when the tests run as root: a user no other test uses, so that a
#: fork bomb here cannot use up another test's process limit (nor theirs this one's).
USER = 150_001
FORK_USER = 150_002
#: The cell limit of a test where nothing hangs (never reached) and of one where something does.
TIMEOUT = 60
HANG = 6

SECRET = "the answer is 42, token 7f3a9c"


@pytest.fixture(scope="module")
def sandbox_ready():
    reason = sandbox.unavailable()
    if reason is not None:
        pytest.fail(f"These tests grade in a sandbox and need one: {reason}")


# -- notebooks -----------------------------------------------------------------------------------

def cell(source: str, **nbgrader) -> dict:
    metadata = {}
    if nbgrader:
        metadata["nbgrader"] = {"grade": False, "solution": False, "locked": False, "points": 0, **nbgrader}
    return {"cell_type": "code", "execution_count": None, "metadata": metadata, "outputs": [], "source": source}


def notebook(cells: list[dict]) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3", "language": "python"}},
            "cells": [{"cell_type": "markdown", "metadata": {}, "source": "# An assignment"}, *cells]}


# A part of an assignment: (the instructor's cell, the submission's cell); None where it has none.
def setup_cell(source: str = "import numpy as np\n", grade_id: str = "setup"):
    shared = cell(source, grade_id=grade_id, locked=True)
    return shared, shared


def answer(grade_id: str, solution: str, submitted: str):
    return cell(solution, grade_id=grade_id, solution=True), cell(submitted, grade_id=grade_id, solution=True)


def check(grade_id: str, source: str, points: float = 1):
    shared = cell(source, grade_id=grade_id, grade=True, locked=True, points=points)
    return shared, shared


def student(source: str):
    """A cell the student added (not in the instructor's notebook)."""
    return None, cell(source)


def notebooks(*parts) -> tuple[dict, dict]:
    return notebook([i for i, _ in parts if i is not None]), notebook([s for _, s in parts if s is not None])


@pytest.fixture
def grade(tmp_path, sandbox_ready):
    """Grade an assignment made of parts; the keywords go to grade_notebook."""
    numbers = itertools.count()

    def run(*parts, scratch: Path | None = None, cell_timeout: float = TIMEOUT, **options) -> Report:
        if scratch is None:
            scratch = tmp_path / f"scratch{next(numbers)}"
        scratch.mkdir(exist_ok=True)
        source, submission = notebooks(*parts)
        options.setdefault("user", USER)
        return grade_notebook(source, submission, scratch=scratch, cell_timeout=cell_timeout, **options)

    return run


def scores(report: Report) -> dict[str, float]:
    return {q.name: q.score for q in report.questions}


def messages(report: Report) -> dict[str, str]:
    return {q.name: q.message for q in report.questions}


DOUBLE = "def double(x):\n    return 2 * np.asarray(x, dtype=float)\n"
STUB = "def double(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
WRONG = "def double(x):\n    return np.zeros(len(x))\n"
DOUBLE_TEST = "np.testing.assert_allclose(double([1.0, 2.5, -3.0]), [2.0, 5.0, -6.0])\n"
SQUARE = "def square(x):\n    return np.asarray(x, dtype=float) ** 2\n"
SQUARE_TEST = "np.testing.assert_allclose(square([1.0, -2.0, 3.0]), [1.0, 4.0, 9.0])\n"
FULL = {"test_double": 2.0, "test_square": 3.0}


def two_questions(first: str, *between, double_test: str = DOUBLE_TEST):
    """``double`` answered with ``first`` (2 points), then the student's ``between`` cells, then
    ``square`` answered correctly (3 points): what a later, honest answer earns."""
    return (setup_cell(), answer("double", DOUBLE, first), check("test_double", double_test, 2), *between,
            answer("square", SQUARE, SQUARE), check("test_square", SQUARE_TEST, 3))


def dedent(source: str) -> str:
    return textwrap.dedent(source).lstrip("\n")


# -- plain data ------------------------------------------------------------------------------------

def same(a, b) -> bool:
    """Equal, and of the same types all the way down (a tuple is not a list, nan equals nan)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return repr(a) == repr(b)  # nan is nan, -0.0 is not 0.0
    return a == b


def through_json(value, **options):
    """What the other side decodes: encoded, sent as strict JSON, parsed, decoded."""
    return decode(json.loads(json.dumps(encode(value, **options), allow_nan=False)))


@pytest.mark.parametrize("value", [
    0, -5, 2**63 - 1, 2**63, -(2**70), 10**4000, 1.5, -0.0, float("nan"), float("inf"), float("-inf"), True, False,
    None, "", "text with ü and \"quotes\"", [], (), {}, (1, [2, 3]), [(1,), {"a": (2.0, None)}],
    {"nested": {"deeper": [1, (2, [3])]}},
], ids=repr)
def test_plain_values_survive_the_round_trip_with_their_types(value):
    assert same(through_json(value), value)


def test_tuples_stay_tuples_and_lists_stay_lists():
    back = through_json(([1, (2,)], (3, [4])))
    assert type(back) is tuple and type(back[0]) is list and type(back[0][1]) is tuple
    assert type(back[1]) is tuple and type(back[1][1]) is list


DTYPES = [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
          np.float16, np.float32, np.float64]


@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3), (2, 0, 4), (1, 1, 1, 5)])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_arrays_of_every_allowed_dtype_and_shape_survive_the_round_trip(dtype, shape):
    array = (np.arange(int(np.prod(shape))) % 7).reshape(shape).astype(dtype)
    back = through_json(array)
    assert same(back, array)
    assert back.flags.writeable and back.flags.owndata  # a copy the receiver may change


def test_non_contiguous_and_fortran_arrays_arrive_with_their_values():
    grid = np.arange(24, dtype=np.float64).reshape(4, 6)
    assert same(through_json(grid[:, ::2]), grid[:, ::2].copy())
    assert same(through_json(np.asfortranarray(grid)), grid)


def test_nan_and_inf_inside_arrays_survive():
    array = np.array([np.nan, np.inf, -np.inf, 1.0])
    back = through_json(array)
    assert np.isnan(back[0]) and back[1] == np.inf and back[2] == -np.inf and back[3] == 1.0


@pytest.mark.parametrize("scalar, expected", [
    (np.float64(1.5), 1.5), (np.float32(0.25), 0.25), (np.float16(-2.0), -2.0), (np.int64(-7), -7),
    (np.uint8(200), 200), (np.uint64(2**64 - 1), 2**64 - 1), (np.bool_(True), True), (np.float64("nan"), float("nan")),
], ids=repr)
def test_numpy_scalars_become_the_plain_python_number(scalar, expected):
    assert same(through_json(scalar), expected)


class Sly(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


class SlyArray(np.ndarray):
    def __eq__(self, other):
        return np.ones(self.shape, dtype=bool)


class Thing:
    pass


@pytest.mark.parametrize("value", [
    Thing(), object(), Sly(1.0), type("Big", (int,), {})(3), type("Text", (str,), {})("x"),
    type("Items", (list,), {})([1]), type("Table", (dict,), {})(a=1), {1: "a"}, {("a",): 1}, {1, 2}, b"bytes",
    1 + 2j, np.zeros(3).view(SlyArray), np.asarray([[1.0]]).view(np.matrix), np.ma.masked_array([1.0, 2.0]),
    np.recarray((2,), dtype=[("a", "f8")]), np.array([Thing()], dtype=object), np.array(["text"]),
    np.array([1 + 2j]), np.array(["2024-01-01"], dtype="datetime64[D]"), np.zeros(3, dtype=np.dtype("f8").newbyteorder()),
    np.complex128(1j), np, len, lambda x: x, [1, [2, Thing()]], {"a": (Thing(),)},
], ids=lambda v: type(v).__name__)
def test_encode_refuses_what_is_not_plain_data(value):
    with pytest.raises(NotPlainData, match="not plain data"):
        encode(value)


def test_an_ndarray_subclass_is_refused_not_passed_on():
    """``type(value) is np.ndarray``: a subclass (which may override ``__eq__``) never crosses."""
    lying = np.array([1.0, 2.0]).view(SlyArray)
    assert np.all(lying == np.array([5.0, 6.0]))  # the lie it would tell
    with pytest.raises(NotPlainData, match="a SlyArray is not plain data"):
        encode(lying)
    with pytest.raises(NotPlainData):
        encode([lying], callbacks={})


def nested(depth: int):
    value = 0
    for _ in range(depth):
        value = [value]
    return value


def test_nesting_up_to_max_depth_crosses_and_one_level_more_is_refused():
    assert same(through_json(nested(MAX_DEPTH)), nested(MAX_DEPTH))
    with pytest.raises(NotPlainData, match="nested deeper"):
        encode(nested(MAX_DEPTH + 1))
    with pytest.raises(NotPlainData, match="nested deeper"):
        decode(nested(MAX_DEPTH + 1))
    deep = 0
    for _ in range(MAX_DEPTH + 1):
        deep = {"$dict": {"a": deep}}
    with pytest.raises(NotPlainData, match="nested deeper"):
        decode(deep)


def test_functions_become_callback_handles_only_when_callbacks_are_collected():
    callbacks = {}

    def gradient(w):
        return 2 * w

    data = encode({"f": gradient, "g": [len]}, callbacks=callbacks)
    assert data == {"$dict": {"f": {"$callback": 0}, "g": [{"$callback": 1}]}}
    assert callbacks == {0: gradient, 1: len}
    made = []
    back = decode(data, callback=lambda number: made.append(number) or f"function {number}")
    assert back == {"f": "function 0", "g": ["function 1"]} and made == [0, 1]
    with pytest.raises(NotPlainData, match="unknown tag '\\$callback'"):
        decode(data)  # no callback factory: the judge's side never takes a handle
    with pytest.raises(NotPlainData):
        encode(Thing, callbacks={})  # a class is not a callback


B64_8 = "AAAAAAAAAAA="  # eight zero bytes: one float64
B64_16 = "AAAAAAAAAAAAAAAAAAAAAA=="
SWAPPED_F8 = np.dtype("f8").newbyteorder().str  # float64 in the byte order that is not this machine's


@pytest.mark.parametrize("data", [
    {"$bogus": 1}, {"$int": "12a"}, {"$int": 12}, {"$int": "1" * 4301}, {"$float": "1.5"}, {"$float": ["nan"]},
    {"$tuple": "ab"}, {"$dict": [1, 2]}, {"a": 1, "b": 2}, {}, ("a", "tuple"), {1, 2}, b"bytes", 1j,
    {"$array": ["|O", [1], B64_8]}, {"$array": ["<c16", [1], B64_16]}, {"$array": [SWAPPED_F8, [1], B64_8]},
    {"$array": ["<U1", [2], B64_8]}, {"$array": ["<f8", [2], B64_8]}, {"$array": ["<f8", [], B64_16]},
    {"$array": ["<f8", [-1], B64_8]}, {"$array": ["<f8", [1.0], B64_8]}, {"$array": ["<f8", [True], B64_8]},
    {"$array": ["<f8", "1", B64_8]}, {"$array": ["<f8", [1] * 33, B64_8]}, {"$array": ["<f8", [1], 5]},
    {"$array": ["<f8", [1], "@@@@ not base64 @@@"]}, {"$array": ["<f8", [1], "AAAAAAAAAAA"]},
    {"$array": ["<f8", [1]]}, {"$array": {"dtype": "<f8"}}, {"$array": ["<f8", [2**64], ""]},
    {"$array": ["<f8", [0, 2**62, 2**62], ""]}, {"$array": ["<f8", [0, 2**63], ""]},
    {"$callback": 0}, {"$model": 5}, [1, {"$bogus": 2}], {"$dict": {"a": {"$float": "1e400"}}},
], ids=repr)
def test_decode_rejects_malformed_data_with_not_plain_data(data):
    with pytest.raises(NotPlainData):
        decode(data)


def test_decode_with_a_callback_factory_still_checks_the_handle():
    with pytest.raises(NotPlainData):
        decode({"$callback": "0"}, callback=lambda number: None)
    with pytest.raises(NotPlainData):
        decode({"$callback": 1.0}, callback=lambda number: None)


def test_report_round_trips_through_json():
    report = Report([Question("q1", 1.0, 2.0, "AssertionError"), Question("q2", 0.0, 1.0)], ["a note"], ["an attempt"])
    assert Report.from_dict(json.loads(json.dumps(report.to_dict()))) == report


# -- answer_names, suspicious --------------------------------------------------------------------

def test_answer_names_are_the_top_level_bindings_of_solution_cells_in_order():
    first = dedent("""
        import numpy as np
        from math import pi as PI
        LR = 0.1
        a, (b, *c) = 1, (2, 3, 4)
        steps: int = 10
        total += 1
        def f(x):
            inner = 2
            return x
        async def g():
            pass
        class Model:
            size = 3
        for i in range(3):
            loop_var = i
        print(LR)
        f(1)
        """)
    source = {"cells": [
        {"cell_type": "markdown", "metadata": {"nbgrader": {"solution": True}}, "source": "NOT_CODE = 1"},
        cell("SETUP_NAME = 1\n", grade_id="setup", locked=True),
        cell(first, grade_id="one", solution=True),
        cell("LR = 0.2\ndef f(x):\n    return -x\nnew = 5\n", grade_id="two", solution=True),
        cell("TEST_NAME = f(1)\n", grade_id="test", grade=True, locked=True, points=1),
        {"cell_type": "code", "metadata": {}, "source": "PLAIN = 1"},
    ]}
    names, imports = answer_names(source)
    assert names == ["LR", "a", "b", "c", "steps", "total", "f", "g", "Model", "new"]
    assert imports == ["import numpy as np", "from math import pi as PI"]


def test_answer_names_reads_sources_given_as_lists_of_lines():
    source = {"cells": [{"cell_type": "code", "metadata": {"nbgrader": {"solution": True}},
                         "source": ["import numpy as np\n", "def f(x):\n", "    return x\n"]}]}
    assert answer_names(source) == (["f"], ["import numpy as np"])


OVERRIDES = "defines an object that overrides comparison, arithmetic or shape"


@pytest.mark.parametrize("code, what", [
    ("np.testing.assert_allclose = lambda *a, **k: None", "replaces a testing function"),
    ("numpy.testing.assert_array_equal=print", "replaces a testing function"),
    ("setattr(np.testing, 'assert_allclose', None)", "replaces a testing function"),
    ("import builtins\nbuiltins.abs = lambda x: 0", "changes or reads Python's built-ins"),
    ("__builtins__['len'] = None", "changes or reads Python's built-ins"),
    ("class X:\n    def __eq__(self, other):\n        return True", OVERRIDES),
    ("class X:\n    def __array__(self):\n        pass", OVERRIDES),
    ("class X:\n    @property\n    def shape(self):\n        return (3,)", OVERRIDES),
    ("frame = sys._getframe(1)", "looks into the caller's frames or objects"),
    ("inspect.stack()", "looks into the caller's frames or objects"),
    ("x = frame.f_back.f_locals", "looks into the caller's frames or objects"),
    ("gc.get_objects()", "looks into the caller's frames or objects"),
    ("os._exit(1)", "tries to end or signal the kernel"),
    ("os.kill(os.getpid(), signal.SIGKILL)", "tries to end or signal the kernel"),
    ("sys.exit()", "tries to end or signal the kernel"),
    ("while True:\n    os.fork()", "starts processes or loads native code"),
    ("import subprocess", "starts processes or loads native code"),
    ("import ctypes", "starts processes or loads native code"),
    ("import socket", "uses the network"),
    ("from urllib.request import urlopen", "uses the network"),
    ("open('../secret.txt').read()", "reads or writes files"),
    ("os.listdir('..')", "reads or writes files"),
    ("Path ('x')", "reads or writes files"),
    ("sys.modules['numpy'] = None", "changes imported modules"),
    ("importlib.reload(np)", "changes imported modules"),
])
def test_suspicious_names_each_kind_of_attempt(code, what):
    assert what in suspicious(code)


def test_suspicious_lists_each_kind_once_in_a_fixed_order():
    found = suspicious("import socket\nnp.testing.assert_allclose = None\nsocket.socket()\nopen('x')\nopen('y')")
    assert found == ["replaces a testing function", "uses the network", "reads or writes files"]


@pytest.mark.parametrize("code", [
    "",
    DOUBLE + SQUARE,
    dedent("""
        import numpy as np

        def softmax(z):
            shifted = z - np.max(z, axis=-1, keepdims=True)  # subtract the max for stability
            e = np.exp(shifted)
            return e / e.sum(axis=-1, keepdims=True)

        def check_shapes(a, b):
            return a.shape == b.shape and np.testing.assert_allclose is not None

        weights = np.zeros((3, 4))
        opened_files = 0
        EXITS = {"north": 1}
        """),
])
def test_suspicious_finds_nothing_in_ordinary_solutions(code):
    assert suspicious(code) == []


# -- grading: honest submissions -------------------------------------------------------------------

def test_a_correct_submission_scores_full_marks_and_reports_progress(grade):
    seen = []
    report = grade(*two_questions(DOUBLE), on_progress=lambda r: seen.append(scores(r)))
    assert scores(report) == FULL
    assert messages(report) == {"test_double": "", "test_square": ""}
    assert report.notes == [] and report.attempts == []
    assert seen == [{"test_double": 2.0}, FULL]
    assert [q.max_score for q in report.questions] == [2.0, 3.0]


def test_the_untouched_stub_scores_zero_and_says_why(grade):
    report = grade(*two_questions(STUB))
    assert scores(report) == {"test_double": 0.0, "test_square": 3.0}
    assert messages(report)["test_double"] == "NotImplementedError"


def test_a_wrong_answer_scores_zero_with_the_tests_message(grade):
    report = grade(*two_questions(WRONG))
    assert scores(report) == {"test_double": 0.0, "test_square": 3.0}
    assert "Not equal to tolerance" in messages(report)["test_double"]


def test_a_missing_answer_scores_zero(grade):
    report = grade(*two_questions("# nothing here\n"))
    assert scores(report)["test_double"] == 0.0
    assert messages(report)["test_double"] == "NameError: name 'double' is not defined"


def test_values_are_fetched_as_plain_data(grade):
    report = grade(setup_cell(), answer("rate", "LR = 0.2\nSHAPE = (2, 3)\n", "LR = 0.2\nSHAPE = (2, 3)\n"),
                   check("test_rate", "assert LR == 0.2 and type(LR) is float\nassert SHAPE == (2, 3)\n"))
    assert scores(report) == {"test_rate": 1.0}


def test_an_answer_that_is_not_plain_data_is_graded_as_missing_with_a_note(grade):
    report = grade(setup_cell(), answer("rate", "LR = 0.2\n", "LR = {0.2}\n"), check("test_rate", "assert LR == 0.2\n"))
    assert scores(report) == {"test_rate": 0.0}
    assert messages(report)["test_rate"] == "NameError: name 'LR' is not defined"
    assert any(n.startswith("LR is a set is not plain data") and "graded as missing" in n for n in report.notes)


def test_without_the_sandbox_a_correct_submission_is_graded_the_same(grade):
    report = grade(*two_questions(DOUBLE), sandboxed=False)
    assert scores(report) == FULL
    report = grade(*two_questions(WRONG), sandboxed=False)
    assert scores(report) == {"test_double": 0.0, "test_square": 3.0}


def test_sandboxed_grading_without_a_sandbox_raises_and_says_why(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox, "unavailable", lambda: "bwrap is missing here (a test's reason)")
    source, submission = notebooks(*two_questions(DOUBLE))
    with pytest.raises(sandbox.SandboxUnavailable, match=r"bwrap is missing here \(a test's reason\)"):
        grade_notebook(source, submission, scratch=tmp_path, cell_timeout=TIMEOUT, user=USER)
    assert list(tmp_path.iterdir()) == []  # nothing ran


def test_the_command_line_judge_writes_a_json_report(tmp_path, sandbox_ready):
    source, submission = notebooks(*two_questions(WRONG))
    (tmp_path / "source.ipynb").write_text(json.dumps(source))
    (tmp_path / "submission.ipynb").write_text(json.dumps(submission))
    (tmp_path / "scratch").mkdir()
    report_path = tmp_path / "out" / "report.json"
    report_path.parent.mkdir()
    package_root = str(Path(grading.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "gradbook.grading", "judge", str(tmp_path / "source.ipynb"),
                           str(tmp_path / "submission.ipynb"), str(tmp_path / "scratch"), str(report_path),
                           f"--cell-timeout={TIMEOUT}", f"--user={USER}"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    report = Report.from_dict(json.loads(report_path.read_text()))
    assert scores(report) == {"test_double": 0.0, "test_square": 3.0}
    assert "Not equal to tolerance" in messages(report)["test_double"]
    assert sorted(p.name for p in report_path.parent.iterdir()) == ["report.json"]  # no .partial left


def test_the_command_line_judge_without_a_sandbox_exits_2_with_the_reason(tmp_path, monkeypatch, capsys):
    source, submission = notebooks(*two_questions(DOUBLE))
    (tmp_path / "source.ipynb").write_text(json.dumps(source))
    (tmp_path / "submission.ipynb").write_text(json.dumps(submission))
    monkeypatch.setattr(sandbox, "unavailable", lambda: "no namespaces here (a test's reason)")
    code = grading.main(["judge", str(tmp_path / "source.ipynb"), str(tmp_path / "submission.ipynb"),
                         str(tmp_path), str(tmp_path / "report.json")])
    assert code == 2
    assert "no namespaces here (a test's reason)" in capsys.readouterr().err
    assert not (tmp_path / "report.json").exists()


# -- hidden tests ----------------------------------------------------------------------------------

HIDDEN_TEST = dedent("""
    assert double(1.0) == 2.0, "double(1.0) should be 2.0"
    ### BEGIN HIDDEN TESTS
    assert double(17.0) == 34.0, "HIDDEN-CHECK double(17.0) == 34.0"
    ### END HIDDEN TESTS
    """)


def hidden_question(submitted: str, test: str = HIDDEN_TEST):
    return setup_cell(), answer("double", "def double(x):\n    return 2 * x\n", submitted), check("test_hidden", test, 2)


def test_a_failing_hidden_test_says_only_that(grade):
    report = grade(*hidden_question("def double(x):\n    return 2 * x if x < 10 else 0\n"))
    assert scores(report) == {"test_hidden": 0.0}
    assert messages(report) == {"test_hidden": "a hidden test failed"}
    text = json.dumps(report.to_dict())
    assert "HIDDEN" not in text and "17" not in text and "34" not in text


def test_a_failing_visible_test_gives_its_message(grade):
    report = grade(*hidden_question("def double(x):\n    return 3 * x\n"))
    assert messages(report) == {"test_hidden": "AssertionError: double(1.0) should be 2.0"}


def test_a_passing_hidden_test_scores(grade):
    report = grade(*hidden_question("def double(x):\n    return x + x\n"))
    assert scores(report) == {"test_hidden": 2.0}


def test_the_students_own_error_in_a_hidden_test_is_not_shown(grade):
    """The student cannot learn the hidden inputs by raising them."""
    report = grade(*hidden_question("def double(x):\n    if x > 10:\n        raise ValueError(f'I was called with {x}')\n"
                                    "    return 2 * x\n"))
    assert messages(report) == {"test_hidden": "a hidden test failed"}
    assert "17" not in json.dumps(report.to_dict())


def test_a_hidden_test_that_fails_inside_a_visible_helper_shows_nothing_of_it(grade):
    """The innermost line of the test cell is the visible helper's; the failing call is hidden."""
    test = dedent("""
        def check_double(x, want):
            np.testing.assert_allclose(double(x), want)

        check_double(1.0, 2.0)
        ### BEGIN HIDDEN TESTS
        check_double(17.0, 34.0)
        ### END HIDDEN TESTS
        """)
    report = grade(*hidden_question("def double(x):\n    return 2 * x if x < 10 else 35.0\n", test))
    assert messages(report) == {"test_hidden": "a hidden test failed"}
    text = json.dumps(report.to_dict())
    assert "34" not in text and "35" not in text and "17" not in text
    # The same helper failing for the visible call shows its message.
    report = grade(*hidden_question("def double(x):\n    return 3 * x\n", test))
    assert "Not equal to tolerance" in messages(report)["test_hidden"]


# -- grading: attacks that try to make a wrong answer pass ------------------------------------------

def test_replacing_the_testing_functions_and_builtins_in_the_kernel_changes_nothing(grade):
    attack = dedent("""
        import builtins
        import numpy as np

        np.testing.assert_allclose = lambda *args, **kwargs: None
        np.testing.assert_array_equal = lambda *args, **kwargs: None
        setattr(np, "allclose", lambda *args, **kwargs: True)
        np.isclose = lambda *args, **kwargs: True
        builtins.abs = lambda x: 0
        builtins.AssertionError = type("Quiet", (Exception,), {})

        def double(x):
            return np.zeros(len(x))
        """)
    tests = [check("test_allclose", DOUBLE_TEST), check("test_np_allclose", "assert np.allclose(double([1.0]), [2.0])\n"),
             check("test_abs", "assert abs(double([1.0])[0] - 2.0) < 1e-9\n"),
             check("test_array_equal", "np.testing.assert_array_equal(double([1.0]), [2.0])\n")]
    report = grade(setup_cell(), answer("double", DOUBLE, attack), *tests,
                   answer("square", SQUARE, SQUARE), check("test_square", SQUARE_TEST, 3))
    assert scores(report) == {"test_allclose": 0.0, "test_np_allclose": 0.0, "test_abs": 0.0, "test_array_equal": 0.0,
                              "test_square": 3.0}
    # The student's double ran and returned its zeros: the judge's own checks caught them.
    assert "Not equal to tolerance" in messages(report)["test_allclose"]
    assert messages(report)["test_np_allclose"] == messages(report)["test_abs"] == "AssertionError"
    assert "replaces a testing function" in report.attempts
    assert "changes or reads Python's built-ins" in report.attempts


STRICT_TEST = dedent("""
    expected = np.array([2.0, 5.0, -6.0])
    result = double(np.array([1.0, 2.5, -3.0]))
    assert np.all(result == expected)
    assert np.max(np.abs(result - expected)) < 1e-9
    np.testing.assert_allclose(result, expected)
    """)

LIAR = dedent("""
    import sys
    import numpy as np

    class Liar:
        shape = (3,)
        __array_ufunc__ = None  # NumPy leaves every operation to the liar

        def __eq__(self, other):
            return True

        def __ne__(self, other):
            return False

        def __sub__(self, other):
            return np.zeros(3)

        __rsub__ = __sub__

        def __len__(self):
            return 3

        def __array__(self, dtype=None, copy=None):
            frame = sys._getframe(1)
            while frame is not None:
                for name in ("desired", "expected"):
                    if name in frame.f_locals:
                        return np.asarray(frame.f_locals[name], dtype=float)
                frame = frame.f_back
            return np.zeros(3)

    def double(x):
        return Liar()
    """)

LIES = {
    "liar": (LIAR, "a Liar is not plain data"),
    "float subclass": ("class Sly(float):\n    def __eq__(self, other):\n        return True\n"
                       "    def __sub__(self, other):\n        return 0.0\n    __rsub__ = __sub__\n"
                       "def double(x):\n    return Sly(0.0)\n", "a Sly is not plain data"),
    "ndarray subclass": ("import numpy as np\nclass Sly(np.ndarray):\n    def __eq__(self, other):\n"
                         "        return np.ones(self.shape, dtype=bool)\n"
                         "def double(x):\n    return np.zeros(3).view(Sly)\n", "a Sly is not plain data"),
    "object array": (LIAR.replace("return Liar()", "return np.array([Liar(), Liar(), Liar()], dtype=object)"),
                     "an array of object is not plain data"),
    "list subclass": ("class Sly(list):\n    def __eq__(self, other):\n        return True\n"
                      "def double(x):\n    return Sly([0.0, 0.0, 0.0])\n", "a Sly is not plain data"),
    "numpy scalar subclass": ("import numpy as np\nclass Sly(np.float64):\n    def __eq__(self, other):\n"
                              "        return True\n    def __sub__(self, other):\n        return 0.0\n"
                              "def double(x):\n    return Sly(0.0)\n", None),
}


def test_the_liar_would_pass_the_test_in_the_graders_own_process():
    """The control: run in-process, the lying object passes every check of STRICT_TEST."""
    namespace = {}
    exec(LIAR, namespace)  # noqa: S102 - the attack, run here on purpose
    exec(STRICT_TEST, {"np": np, "double": namespace["double"]})  # noqa: S102 - passes: no exception


@pytest.mark.parametrize("lie", list(LIES))
def test_a_lying_return_value_scores_zero(grade, lie):
    attack, message = LIES[lie]
    report = grade(*two_questions(attack, double_test=STRICT_TEST))
    assert scores(report) == {"test_double": 0.0, "test_square": 3.0}
    if message is not None:
        assert messages(report)["test_double"].startswith(f"NotPlainData: double returned {message} ("), report
    else:  # a NumPy scalar subclass crosses as the plain float it holds: the wrong value
        assert messages(report)["test_double"] == "AssertionError"


PEEKER = dedent("""
    import gc
    import inspect
    import sys
    import numpy as np

    def double(x):
        found = []
        frame = sys._getframe(1)
        while frame is not None:
            found += [v for k, v in frame.f_locals.items() if k == "expected"]
            frame = frame.f_back
        for info in inspect.stack():
            found += [v for k, v in info.frame.f_locals.items() if k == "expected"]
        for obj in gc.get_objects():
            if isinstance(obj, dict) and "expected" in obj:
                found.append(obj["expected"])
        for value in found:
            if isinstance(value, np.ndarray):
                return value
        return np.zeros(len(x))
    """)


def test_peeking_at_the_callers_frames_finds_no_expected_value(grade):
    # The control: called in-process from a frame that holds the expected value, it finds it.
    namespace = {}
    exec(PEEKER, namespace)  # noqa: S102 - the attack, run here on purpose

    def a_test():
        expected = np.array([2.0, 5.0, -6.0])
        return namespace["double"](np.array([1.0, 2.5, -3.0])), expected

    found, expected = a_test()
    assert found is expected

    test = "x = np.array([1.0, 2.5, -3.0])\nexpected = 2 * x\nnp.testing.assert_allclose(double(x), expected)\n"
    report = grade(*two_questions(PEEKER, double_test=test))
    assert scores(report) == {"test_double": 0.0, "test_square": 3.0}
    assert "Not equal to tolerance" in messages(report)["test_double"]  # it ran, found nothing, returned zeros
    assert "looks into the caller's frames or objects" in report.attempts


def test_raising_stop_iteration_does_not_end_a_tests_loop_early(grade):
    """In the judge, a StopIteration from the student's function would end ``map`` or ``zip``
    silently: ``all(map(...))`` true, a ``for`` loop with no iterations."""
    attack = "def double(x):\n    raise StopIteration\n"
    tests = [check("test_all_map", "assert all(map(lambda x: double(x) == 2 * x, [1, 2, 3]))\n"),
             check("test_zip_map", "for got, want in zip(map(double, [1, 2]), [2, 4]):\n    assert got == want\n"),
             check("test_iter", "for got in iter(lambda: double(1), None):\n    assert got == 2\n    break\n")]
    report = grade(setup_cell(), answer("double", "def double(x):\n    return 2 * x\n", attack), *tests)
    assert scores(report) == {"test_all_map": 0.0, "test_zip_map": 0.0, "test_iter": 0.0}
    assert set(messages(report).values()) == {"StudentError: StopIteration: "}
    # StopAsyncIteration (which ends an ``async for``) is not passed on as itself either.
    probe = "try:\n    double(1)\nexcept Exception as err:\n    assert type(err).__name__ == 'StudentError', repr(err)\n"
    report = grade(setup_cell(), answer("double", "def double(x):\n    return 2 * x\n",
                                        "def double(x):\n    raise StopAsyncIteration('done')\n"),
                   check("test_probe", probe))
    assert scores(report) == {"test_probe": 1.0}, report


# -- grading: attacks on the machine ----------------------------------------------------------------

@pytest.fixture
def course(tmp_path) -> Path:
    folder = tmp_path / "course"
    folder.mkdir()
    (folder / "secret.txt").write_text(SECRET)
    return folder


@pytest.mark.parametrize("sandboxed, points", [(True, 0.0), (False, 1.0)], ids=["sandboxed", "control-unsandboxed"])
def test_a_secret_outside_scratch_cannot_be_read(grade, course, tmp_path, sandboxed, points):
    scratch = tmp_path / "scratch"
    paths = [str(course / "secret.txt"), "../course/secret.txt", os.path.relpath(course / "secret.txt", scratch),
             "../" * 12 + str(course / "secret.txt").lstrip(os.sep)]
    attack = dedent(f"""
        import os
        ANSWER = ""
        for path in {paths!r}:
            try:
                with open(path) as f:
                    ANSWER = f.read()
                break
            except OSError:
                pass
        """)
    report = grade(setup_cell(), answer("secret", "ANSWER = ''\n", attack),
                   check("test_secret", f"assert ANSWER == {SECRET!r}\n"), scratch=scratch, sandboxed=sandboxed)
    assert scores(report) == {"test_secret": points}
    assert SECRET not in json.dumps(report.to_dict())
    assert "reads or writes files" in report.attempts


def test_files_outside_scratch_cannot_be_changed(grade, tmp_path):
    canary = tmp_path / "canary.txt"
    canary.write_text("original")
    source, _ = notebooks(*two_questions(DOUBLE))
    instructor = tmp_path / "source.ipynb"
    instructor.write_text(json.dumps(source))
    before = {path: (path.read_text(), path.stat().st_uid, path.stat().st_gid, path.stat().st_mode)
              for path in (canary, instructor)}
    scratch = tmp_path / "scratch"
    targets = [str(canary), str(instructor), "../canary.txt", "../source.ipynb", "../new-file.txt"]
    attack = dedent(f"""
        import os
        import numpy as np
        for path in {targets!r}:
            for action in ("write", "remove", "rename", "chmod"):
                try:
                    if action == "write":
                        with open(path, "w") as f:
                            f.write("changed")
                    elif action == "remove":
                        os.remove(path)
                    elif action == "rename":
                        os.rename(path, "stolen")
                    else:
                        os.chmod(path, 0o777)
                except OSError:
                    pass
        # A link in scratch to a file outside: written through here, and handed to the sandbox's
        # user when the kernel starts again (below).
        if not os.path.islink("link"):
            os.symlink({str(canary)!r}, "link")
        try:
            with open("link", "w") as f:
                f.write("changed")
        except OSError:
            pass
        with open("mine.txt", "w") as f:
            f.write("mine")

        def double(x):
            return 2 * np.asarray(x, dtype=float)
        """)
    report = grade(*two_questions(attack, student("import os\nos._exit(1)\n")), scratch=scratch)
    after = {path: (path.read_text(), path.stat().st_uid, path.stat().st_gid, path.stat().st_mode)
             for path in (canary, instructor)}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["canary.txt", "scratch", "source.ipynb"]
    assert list(scratch.iterdir()) == []  # the kernel's scratch is private: none of it reaches the grader's disk
    assert scores(report) == FULL, report  # the cell ran, and the restart replayed it: double is the student's
    assert any(n.startswith("cell 5: the student kernel stopped") for n in report.notes), report.notes
    assert "reads or writes files" in report.attempts


@pytest.mark.parametrize("sandboxed, points", [(True, 0.0), (False, 1.0)], ids=["sandboxed", "control-unsandboxed"])
def test_the_network_is_unreachable(grade, sandboxed, points):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]
        attack = dedent(f"""
            import socket
            ANSWER = 0
            for address in [("127.0.0.1", {port}), ("1.1.1.1", 53), ("8.8.8.8", 53)]:
                try:
                    socket.create_connection(address, timeout=3).close()
                    ANSWER = 42
                    break
                except OSError:
                    pass
            """)
        report = grade(setup_cell(), answer("net", "ANSWER = 42\n", attack), check("test_net", "assert ANSWER == 42\n"),
                       sandboxed=sandboxed)
    assert scores(report) == {"test_net": points}
    assert "uses the network" in report.attempts


# -- grading: attacks on the kernel: each ends, and later answers still score ---------------------

KERNEL_ATTACKS = {
    # name: (the student's cell, cell_timeout, a note it leaves or None, an attempt it shows or None)
    "memory": ("def eat():\n    hog = []\n    while True:\n        hog.append(np.empty(2**27))\neat()\n", TIMEOUT,
               "cell 3 (double) ran out of memory (the limit is 2 GiB)", None),
    "endless output": ("while True:\n    print('spam ' * 100)\n", HANG,
                       "cell 3 (double): the student kernel stopped (it ran past the time limit); "
                       "it was started again without that cell", None),
    "endless loop": ("while True:\n    pass\n", HANG,
                     "cell 3 (double): the student kernel stopped (it ran past the time limit); "
                     "it was started again without that cell", None),
    "os._exit": ("import os\nos._exit(1)\n", TIMEOUT, "cell 3 (double): the student kernel stopped (",
                 "tries to end or signal the kernel"),
    "SIGKILL": ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n", TIMEOUT,
                "cell 3 (double): the student kernel stopped (", "tries to end or signal the kernel"),
    "sys.exit": ("import sys\nsys.exit()\n", TIMEOUT, None, "tries to end or signal the kernel"),
    "close the pipes": ("import os, sys\nos.close(int(sys.argv[-1]))\nos.close(int(sys.argv[-2]))\n", TIMEOUT,
                        "cell 3 (double): the student kernel stopped (", None),
    "garbage into the pipe": ("import os, sys\nos.write(int(sys.argv[-1]), b'garbage!' * 100)\n", TIMEOUT,
                              "cell 3 (double): the student kernel stopped (it sent a malformed message",
                              "sent the grader malformed messages"),
    "a well-framed wrong message": (
        "import json, os, sys\nbody = json.dumps(['not', 'a', 'dict']).encode()\n"
        "os.write(int(sys.argv[-1]), len(body).to_bytes(8, 'big') + body)\n", TIMEOUT,
        "cell 3 (double): the student kernel stopped (it sent a malformed message", "sent the grader malformed messages"),
    "fork bomb": ("import os\nwhile True:\n    os.fork()\n", HANG, None, "starts processes or loads native code"),
}


@pytest.mark.parametrize("name", list(KERNEL_ATTACKS))
def test_a_kernel_attack_in_a_cell_ends_and_later_answers_still_score(grade, name):
    attack, timeout, note, attempt = KERNEL_ATTACKS[name]
    limits = sandbox.Limits(processes=256, memory_bytes=2 * 2**30)
    report = grade(*two_questions(attack), cell_timeout=timeout, limits=limits,
                   user=FORK_USER if name == "fork bomb" else USER)
    assert scores(report) == {"test_double": 0.0, "test_square": 3.0}, report
    assert messages(report)["test_double"] == "NameError: name 'double' is not defined"
    if note is not None:
        assert any(n.startswith(note) for n in report.notes), report.notes
    if attempt is not None:
        assert attempt in report.attempts


FORKED_REPLY = dedent("""
    import os
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child finishes the cell too, then its first write (a reply, if it can) ends it
        os.close(done_r)
        real_write = os.write

        def write(fd, data):
            try:
                return real_write(fd, data)
            finally:
                os._exit(0)

        os.write = write
    else:  # the kernel waits until the child is gone, then answers
        os.close(done_w)
        os.read(done_r, 1)
        os.waitpid(pid, 0)
    """)


def test_a_process_forked_by_the_students_code_cannot_answer_for_the_kernel(grade):
    """Were the child's reply taken, every later reply would answer the request before it."""
    report = grade(*two_questions(FORKED_REPLY + DOUBLE))
    assert scores(report) == FULL, report
    assert report.notes == []


def test_output_past_the_limit_is_dropped_with_a_note(grade):
    report = grade(*two_questions("print('x' * 10**6)\n" + DOUBLE))
    assert scores(report) == FULL
    assert report.notes == ["cell 3 (double) printed more than 64 KiB; the rest was dropped"]


CALL_ATTACKS = {
    # name: (the student's double, cell_timeout, the test's message, a note or None)
    "hangs": ("def double(x):\n    while True:\n        pass\n", HANG, None, None),
    "kills the kernel": ("import os, signal\ndef double(x):\n    os.kill(os.getpid(), signal.SIGKILL)\n", TIMEOUT,
                         "KernelLost: the student kernel stopped while double ran",
                         "a call of double: the student kernel stopped ("),
    "exits the kernel": ("import os\ndef double(x):\n    os._exit(3)\n", TIMEOUT,
                         "KernelLost: the student kernel stopped while double ran",
                         "a call of double: the student kernel stopped ("),
    "closes the pipes": ("import os, sys\ndef double(x):\n    os.close(int(sys.argv[-1]))\n    return 2 * x\n", TIMEOUT,
                         "KernelLost: the student kernel stopped while double ran",
                         "a call of double: the student kernel stopped ("),
    "sys.exit": ("import sys\ndef double(x):\n    sys.exit(4)\n", TIMEOUT, "StudentError: SystemExit: 4", None),
    "KeyboardInterrupt": ("def double(x):\n    raise KeyboardInterrupt\n", TIMEOUT, "StudentError: KeyboardInterrupt: ",
                          None),
    "MemoryError": ("import numpy as np\ndef double(x):\n    return np.empty(2**40)\n", TIMEOUT, "MemoryError: ", None),
    "too deep": ("def double(x):\n    value = 0\n    for _ in range(100):\n        value = [value]\n    return value\n",
                 TIMEOUT, "NotPlainData: double returned nested deeper than 16 levels", None),
}


@pytest.mark.parametrize("name", list(CALL_ATTACKS))
def test_a_function_that_attacks_when_called_fails_its_test_and_later_answers_still_score(grade, name):
    attack, timeout, message, note = CALL_ATTACKS[name]
    report = grade(*two_questions(attack), cell_timeout=timeout)
    assert scores(report) == {"test_double": 0.0, "test_square": 3.0}, report
    if name == "hangs":  # the test's time limit or the call's deadline (the same moment) stops it
        message, note = ((f"this test ran longer than {HANG} s and was stopped",
                          "test test_double: the student kernel stopped (it ran past the time limit)")
                         if messages(report)["test_double"].startswith("this test") else
                         ("KernelLost: the student kernel stopped while double ran",
                          "a call of double: the student kernel stopped (it ran past the time limit)"))
    assert messages(report)["test_double"].startswith(message), report
    if note is not None:
        assert any(n.startswith(note) for n in report.notes), report.notes


def test_a_kernel_that_keeps_dying_is_given_up_with_a_note(grade):
    killers = [student("import os\nos._exit(1)\n") for _ in range(grading.MAX_RESTARTS + 2)]
    report = grade(*two_questions(DOUBLE, *killers))
    assert scores(report) == {"test_double": 2.0, "test_square": 0.0}
    assert (f"the student kernel stopped {grading.MAX_RESTARTS + 1} times; the cells after that were not run "
            "and the tests after that fail") in report.notes


def test_a_kernel_killed_between_cells_is_restarted_with_the_earlier_cells_replayed(grade):
    """The earlier answers (and state) come back: the replay runs the cells before, in order."""
    state = answer("count", "COUNT = 3\n", "COUNT = 1\nCOUNT += 2\n")
    report = grade(setup_cell(), state, student("import os\nos._exit(1)\n"), check("test_count", "assert COUNT == 3\n"),
                   answer("double", DOUBLE, DOUBLE), check("test_double", DOUBLE_TEST, 2))
    assert scores(report) == {"test_count": 1.0, "test_double": 2.0}
    assert any(n.startswith("cell 4: the student kernel stopped") for n in report.notes), report.notes


def test_a_callback_kept_by_the_student_cannot_be_called_outside_a_call(grade):
    """A test's function passed to the student's is called back only while the student's runs:
    not from a later cell of the student's (outside any test, without its time limit)."""
    keeper = "SAVED = []\ndef apply(f, x):\n    SAVED.append(f)\n    return f(x)\n"
    report = grade(setup_cell("import numpy as np\nCALLS = []\n"),
                   answer("apply", "def apply(f, x):\n    return f(x)\n", keeper),
                   check("test_apply", "assert apply(CALLS.append, 3) is None and CALLS == [3]\n"),
                   student("SAVED[0](99)\n"),
                   check("test_calls", "assert CALLS == [3], CALLS\n"),
                   answer("double", DOUBLE, DOUBLE), check("test_double", DOUBLE_TEST, 2))
    assert scores(report) == {"test_apply": 1.0, "test_calls": 1.0, "test_double": 2.0}, report
    assert "sent the grader malformed messages" in report.attempts


def test_a_notebook_with_odd_nbgrader_metadata_is_still_graded(grade):
    odd = [(None, {"cell_type": "code", "execution_count": None, "metadata": {"nbgrader": "oops"}, "outputs": [],
                   "source": "x = 1\n"}),
           (None, {"cell_type": "code", "execution_count": None, "metadata": {"nbgrader": {"grade_id": ["test_double"]}},
                   "outputs": [], "source": "y = 2\n"}),
           (None, {"cell_type": "code", "execution_count": None, "metadata": "not a dict", "outputs": [],
                   "source": "z = 3\n"})]
    report = grade(*two_questions(DOUBLE, *odd))
    assert scores(report) == FULL


# -- grading: what crosses between the test and the student's function ------------------------------

APPLY = "def apply(f, x):\n    return f(np.asarray(x, dtype=float)) + 1\n"
TWICE = "def twice(f, x):\n    return f(x) + f(x)\n"


def test_callbacks_run_in_the_judge_and_their_errors_reach_the_student(grade):
    callback_test = dedent("""
        np.testing.assert_allclose(apply(lambda v: 2 * v, [1.0, 2.0]), [3.0, 5.0])
        # A callback that calls the student's function back (a nested call), twice in one call.
        np.testing.assert_allclose(twice(lambda v: apply(lambda w: w * w, v), 3.0), 20.0)
        def broken(v):
            return 1 / 0
        try:
            apply(broken, [1.0])
        except ZeroDivisionError:
            pass
        else:
            raise AssertionError("the callback's error should reach the test")
        """)
    report = grade(setup_cell(), answer("apply", APPLY + TWICE, APPLY + TWICE), check("test_callbacks", callback_test, 2),
                   answer("square", SQUARE, SQUARE), check("test_square", SQUARE_TEST, 3))
    assert scores(report) == {"test_callbacks": 2.0, "test_square": 3.0}, report
    assert report.notes == [] and report.attempts == []


def test_a_function_that_changes_its_input_fails_and_the_tests_array_stays_as_it_was(grade):
    # Arguments cross by value. A student's function that writes into an array it was given fails
    # the call with a message naming the argument; the test's own array is never written (if it
    # were, the student could zero a test's data and make its check trivial).
    test = dedent("""
        g = np.ones(3)
        try:
            scale(g, 0.0)
        except Exception as err:
            assert "changed the array it was given as argument 1" in str(err), str(err)
            raise
        finally:
            assert g.tolist() == [1.0, 1.0, 1.0], g
        """)
    in_place = "def scale(a, factor):\n    a *= factor\n    return a\n"
    report = grade(setup_cell(), answer("scale", in_place, in_place), check("test_scale", test))
    assert scores(report) == {"test_scale": 0.0}
    assert messages(report)["test_scale"].startswith("ChangedInput: scale changed the array it was given as argument 1")
    copying = "def scale(a, factor):\n    return a * factor\n"
    report = grade(setup_cell(), answer("scale", copying, copying),
                   check("test_scale", "g = np.ones(3)\nassert scale(g, 0.0).tolist() == [0.0] * 3\n"
                                       "assert scale(a=g, factor=2.0).tolist() == [2.0] * 3 and g.tolist() == [1.0] * 3"))
    assert scores(report) == {"test_scale": 1.0}, report
    keyword = grade(setup_cell(), answer("scale", in_place, in_place),
                    check("test_scale", "g = np.ones(3)\nscale(a=g, factor=0.0)"))
    assert "given as a in place" in messages(keyword)["test_scale"]


EXCEPTION_TEST = dedent("""
    try:
        checked_sqrt(-1.0)
    except ValueError as err:
        assert "negative" in str(err), str(err)
    else:
        raise AssertionError("no ValueError for a negative number")
    assert checked_sqrt(4.0) == 2.0
    """)
CHECKED_SQRT = "def checked_sqrt(x):\n    if x < 0:\n        raise ValueError('negative input')\n    return x ** 0.5\n"


@pytest.mark.parametrize("submitted, points, message", [
    (CHECKED_SQRT, 1.0, ""),
    ("def checked_sqrt(x):\n    if x < 0:\n        raise TypeError('negative input')\n    return x ** 0.5\n", 0.0,
     "TypeError: negative input"),
    ("class NegativeError(ValueError):\n    pass\n"
     "def checked_sqrt(x):\n    if x < 0:\n        raise NegativeError('negative input')\n    return x ** 0.5\n", 0.0,
     "StudentError: NegativeError: negative input"),
], ids=["ValueError", "TypeError", "a class of the student's"])
def test_the_students_builtin_exception_is_the_same_builtin_in_the_judge(grade, submitted, points, message):
    report = grade(setup_cell(), answer("sqrt", CHECKED_SQRT, submitted), check("test_sqrt", EXCEPTION_TEST))
    assert scores(report) == {"test_sqrt": points}
    assert messages(report) == {"test_sqrt": message}


# -- Keras models (slow: the kernel and the judge import TensorFlow) ---------------------------------

@pytest.mark.slow
def test_a_keras_model_crosses_as_a_file_and_a_lambda_layer_is_refused(grade):
    solution = dedent("""
        import keras

        def make_model():
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
            return model
        """)
    test = dedent("""
        model = make_model()
        assert model.count_params() == (4 * 3 + 3) + (3 * 2 + 2)
        assert model.output_shape == (None, 2)
        """)
    lambda_model = solution.replace("keras.layers.Dense(2)", "keras.layers.Lambda(lambda t: t * 0 + 1)")
    report = grade(setup_cell("import numpy as np\nimport keras\n"), answer("model", solution, solution),
                   check("test_model", test), cell_timeout=300)
    assert scores(report) == {"test_model": 1.0}, report
    report = grade(setup_cell("import numpy as np\nimport keras\n"), answer("model", solution, lambda_model),
                   check("test_model", test), cell_timeout=300)
    assert scores(report) == {"test_model": 0.0}
    assert messages(report)["test_model"].startswith("NotPlainData: a Keras model that cannot be loaded safely")


# -- what a hidden test's inputs can and cannot reach ------------------------------------------------

def test_a_visible_message_never_carries_what_a_hidden_test_passed_to_the_student(grade):
    # The student's double keeps every argument it is given and, in the second question's visible
    # test, raises them as its message. The hidden test's input (a secret) must not reach the
    # student's feedback: the visible messages come from a run without the hidden tests.
    keeper = dedent("""
        seen = []
        def double(x):
            seen.append(np.ravel(x).tolist())
            return 2 * np.asarray(x, dtype=float)
        def square(x):
            raise ValueError(f"I saw {seen}")
        """)
    report = grade(setup_cell(),
                   answer("double", DOUBLE, keeper),
                   check("test_double", DOUBLE_TEST + "### BEGIN HIDDEN TESTS\n"
                         "np.testing.assert_allclose(double([31337.0]), [62674.0])\n### END HIDDEN TESTS\n", 2),
                   answer("square", SQUARE, "pass"),
                   check("test_square", SQUARE_TEST, 3))
    assert scores(report) == {"test_double": 2.0, "test_square": 0.0}
    message = messages(report)["test_square"]
    assert "31337" not in message
    assert message.startswith("ValueError: I saw [[1.0, 2.5, -3.0]]"), message  # what the visible test passed


def test_without_hidden_calls_the_first_run_gives_the_messages(grade):
    report = grade(*two_questions(WRONG))
    assert "Mismatched elements" in messages(report)["test_double"] or "Not equal" in messages(report)["test_double"]


def test_a_result_over_the_message_limit_is_refused_and_the_kernel_lives_on(grade, monkeypatch):
    # Past MAX_MESSAGE_BYTES the kernel answers that the result is too large instead of dying.
    big = "def double(x):\n    return np.zeros(40 * 2**20)\n"  # 320 MiB of float64, 427 MiB as base64
    report = grade(*two_questions(big))
    assert scores(report) == {"test_double": 0.0, "test_square": 3.0}
    assert "over the limit" in messages(report)["test_double"]
    assert not any("stopped" in note for note in report.notes), report.notes


def test_answer_names_skip_subscripts_and_attributes():
    source = {"cells": [cell("x = np.zeros(3)\ni = 1\nx[i] = 2.0\nobj.attr = 3\na, (b, *c) = 1, (2, 3)\n",
                             grade_id="a", solution=True)]}
    assert answer_names(source) == (["x", "i", "a", "b", "c"], [])
    source = {"cells": [cell("table = {}\ntable[key] = 1\n", grade_id="a", solution=True)]}
    assert answer_names(source) == (["table"], [])


def test_a_kernel_that_exits_is_reported_with_its_exit_status(grade):
    report = grade(*two_questions(DOUBLE), student("import os\nos._exit(3)"))
    assert scores(report) == FULL
    assert any("exited with status 3" in note for note in report.notes), report.notes


def test_a_model_larger_than_the_limit_unpacked_is_refused_before_loading(monkeypatch, tmp_path):
    # A .keras file is a zip archive: its unpacked size is checked before Keras opens it.
    import base64
    import zipfile

    archive = tmp_path / "bomb.keras"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("model.weights.h5", b"\0" * 4096)
    monkeypatch.setattr(grading, "MAX_MODEL_BYTES", 1024)
    with pytest.raises(NotPlainData, match="4 KiB|over the limit"):
        decode({"$model": base64.b64encode(archive.read_bytes()).decode()}, scratch=str(tmp_path))


def test_the_disk_the_kernel_can_fill_is_bounded(grade, tmp_path):
    # Many files, each under the file-size limit, stop at the scratch folder's size; nothing reaches
    # the grader's disk (the scratch folder the judge was given stays empty).
    filler = dedent("""
        written = 0
        try:
            for i in range(10_000):
                with open(f"fill{i}", "wb") as f:
                    f.write(b"x" * 2**20)
                written += 1
        except OSError:
            pass
        FILLED = written
        """)
    scratch = tmp_path / "watched"
    source, submission = notebooks(setup_cell(), answer("FILLED", "FILLED = 0", filler),
                                   check("test_filled", "assert FILLED < 300, FILLED", 1))
    scratch.mkdir()
    report = grade_notebook(source, submission, scratch=scratch, cell_timeout=TIMEOUT, user=USER)
    assert scores(report) == {"test_filled": 1.0}, report
    assert list(scratch.iterdir()) == []
    assert grading.SCRATCH_BYTES < 300 * 2**20


def test_a_repeated_test_cell_runs_once(sandbox_ready, tmp_path):
    setup, doubled = setup_cell(), check("test_double", DOUBLE_TEST, 2)
    source, submission = notebooks(setup, answer("double", DOUBLE, DOUBLE), doubled)
    submission["cells"].append(json.loads(json.dumps(submission["cells"][-1])))  # the student copied the test cell
    report = grade_notebook(source, submission, scratch=tmp_path, cell_timeout=TIMEOUT, user=USER)
    assert [q.name for q in report.questions] == ["test_double"]
    assert any("repeats the test test_double" in note for note in report.notes), report.notes


def test_hidden_regions_are_read_as_nbgrader_reads_them(grade):
    # nbgrader's delimiter is any line containing the text, not only the exact "### ..." form.
    test = "assert double([1.0]).tolist() == [2.0]\n## BEGIN HIDDEN TESTS (by hand)\nassert double([3.0]).tolist() == [7.0], 'secret 7'\n# END HIDDEN TESTS\n"
    report = grade(setup_cell(), answer("double", DOUBLE, DOUBLE), check("test_double", test))
    assert messages(report) == {"test_double": "a hidden test failed"}


def test_a_hidden_helper_of_an_earlier_cell_stays_hidden_when_a_later_test_uses_it(grade):
    first = "assert double([1.0]).tolist() == [2.0]\n### BEGIN HIDDEN TESTS\ndef _secret_check(v):\n    assert v == 31337, f'expected {v} to be 31337'\n### END HIDDEN TESTS\n"
    report = grade(setup_cell(), answer("double", DOUBLE, DOUBLE), check("test_double", first, 2),
                   answer("square", SQUARE, SQUARE), check("test_square", "_secret_check(float(square([2.0])[0]))\n", 3))
    assert scores(report) == {"test_double": 2.0, "test_square": 0.0}
    assert messages(report)["test_square"] == "a hidden test failed"


def test_a_test_that_catches_every_exception_still_fails_on_a_hang(grade):
    hangs = "def double(x):\n    while True:\n        pass\n"
    swallow = "try:\n    double([1.0])\nexcept Exception:\n    pass\n"
    report = grade(setup_cell(), answer("double", DOUBLE, hangs), check("test_double", swallow), cell_timeout=HANG)
    assert scores(report) == {"test_double": 0.0}
    assert "ran longer than" in messages(report)["test_double"]


def test_a_hidden_value_a_visible_line_passes_on_is_not_in_the_feedback(grade):
    # A hidden region defines data that a later visible line hands to the student's code: once a
    # hidden region has run, visible failures get their message from the run without hidden tests.
    first = DOUBLE_TEST + "### BEGIN HIDDEN TESTS\n_probe = [31337.0]\n### END HIDDEN TESTS\n"
    tells = "def square(x):\n    raise ValueError(f'I was given {list(np.ravel(x))}')\n"
    second = "square(globals().get('_probe', [1.0]))\n"
    report = grade(setup_cell(), answer("double", DOUBLE, DOUBLE), check("test_double", first, 2),
                   answer("square", SQUARE, tells), check("test_square", second, 3))
    assert scores(report) == {"test_double": 2.0, "test_square": 0.0}
    assert "31337" not in messages(report)["test_square"]
    assert messages(report)["test_square"].startswith("ValueError: I was given"), messages(report)


def test_a_manually_graded_answer_is_the_students_code_not_a_test(sandbox_ready, tmp_path):
    # nbgrader's "manually graded answer": solution and grade both set. It is not run as a test
    # (which would run the instructor's solution and score it).
    manual = cell("ANSWER = 42\n", grade_id="essay", solution=True, grade=True, points=5)
    source, submission = notebooks(setup_cell(), (manual, cell("ANSWER = 0\n", grade_id="essay", solution=True,
                                                               grade=True, points=5)),
                                   answer("double", DOUBLE, DOUBLE), check("test_double", DOUBLE_TEST, 2))
    report = grade_notebook(source, submission, scratch=tmp_path, cell_timeout=TIMEOUT, user=USER)
    assert scores(report) == {"test_double": 2.0}


@pytest.mark.slow
def test_fresh_network_refuses_weights_carried_in_the_configuration():
    import keras

    def compiled(*layers):
        model = keras.Sequential([keras.Input((4,)), *layers])
        model.compile(keras.optimizers.SGD(0.0), "mse")
        return model

    honest = compiled(keras.layers.Dense(3, kernel_initializer=keras.initializers.GlorotUniform(seed=1)))
    copy = grading.fresh_network(honest)
    assert copy is not honest and copy.optimizer.get_config()["learning_rate"] == 0.0
    np.testing.assert_allclose(copy.layers[0].kernel.numpy(), honest.layers[0].kernel.numpy())  # the same seed
    trained = np.arange(12.0).reshape(4, 3)
    for bad in (compiled(keras.layers.Dense(3, kernel_initializer=keras.initializers.Constant(trained))),
                compiled(keras.layers.Dense(3, trainable=False))):
        with pytest.raises(ValueError, match="holds weights or freezes a layer"):
            grading.fresh_network(bad)


def test_the_kernel_runs_at_the_lowest_priority(grade):
    report = grade(setup_cell(), answer("NICE", "NICE = 0", "import os\nNICE = os.nice(0)"),
                   check("test_nice", "assert NICE == 19, NICE"))
    assert scores(report) == {"test_nice": 1.0}, report
