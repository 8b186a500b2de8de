"""Classroom assignments, released and graded with nbgrader.

The book's assignments live in ``assignments/source/<assignment>/<assignment>.ipynb`` in
nbgrader's format: solution regions between ``### BEGIN SOLUTION`` and ``### END SOLUTION``,
hidden tests between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``, and points on
the test cells. This module drives nbgrader for the two jobs an instructor runs from the
command line (``make assignments`` and ``make grade``):

* :func:`release` writes the student versions (solutions and hidden tests removed).
* :func:`grade` grades a folder of submissions, one student at a time, and :func:`write_csv`
  writes the scores per student and per question.

nbgrader executes each submission in a fresh kernel, restores every test cell (hidden tests
included) from the instructor's version, and stops any cell that runs longer than the time
limit. Around it, :func:`grade` handles what nbgrader does not: a renamed notebook, a file that
is not a notebook, deleted cells, and a grading run that fails or hangs for one student (it is
recorded, with its reason, and the others are graded).

Submissions are laid out as nbgrader collects them::

    SUBMISSIONS/<student>/<assignment>/<assignment>.ipynb
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

__all__ = ["ASSIGNMENTS", "CELL_TIMEOUT", "Score", "grade", "main", "release", "write_csv"]

#: The assignments, in chapter order.
ASSIGNMENTS: tuple[str, ...] = ("gradient_descent", "convolution", "backprop", "vanishing_gradients", "fixes",
                                "training_cnns")

#: Seconds one cell may run when grading, by default. The ``fixes`` assignment's test trains two
#: 20-layer networks in one cell, and a 15 s limit stopped the solution on a busy machine; this
#: leaves a wide margin.
CELL_TIMEOUT = 150

_TIMEOUT_NAME = "CellTimeoutError"
_CONFIG = """\
c = get_config()  # noqa: F821 - provided by nbgrader
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_url = {db!r}
# Every cell of a submission gets at most this many seconds; then the kernel is interrupted,
# the cell shows an error, and grading goes on with the next cell.
c.Execute.timeout = {timeout}
c.Execute.interrupt_on_timeout = True
c.Execute.error_on_timeout = {{"ename": {name!r}, "evalue": "this cell ran longer than {timeout} s and was stopped", "traceback": []}}
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}}
"""


@dataclass(frozen=True)
class Score:
    """One graded question (or a whole assignment that could not be graded).

    Attributes
    ----------
    student, assignment : str
    question : str
        The test cell's ``grade_id``.
    score, max_score : float
    note : str
        Why the score is what it is when something was unusual (a renamed file, a cell that
        timed out, a test cell that was edited or deleted, a file that is not a notebook).
    """

    student: str
    assignment: str
    question: str
    score: float
    max_score: float
    note: str = ""


def _nbgrader(course: Path, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    # nbgrader runs `alembic` (its database migrations) from PATH: put this environment's
    # scripts first, so it works from a virtual environment that is not activated.
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    return subprocess.run(
        # Through gradbook.execution, so a kernel reply the client misses costs half a second,
        # not the cell's whole time limit (and a student's score).
        [sys.executable, "-m", "gradbook.execution", "nbgrader", *args, f"--CourseDirectory.root={course}"],
        cwd=course, capture_output=True, text=True, timeout=timeout, env=env,
    )


def _nbgrader_installed() -> bool:
    return importlib.util.find_spec("nbgrader") is not None


def _require_nbgrader() -> None:
    if not _nbgrader_installed():
        raise RuntimeError(
            "nbgrader is not installed, and releasing or grading assignments needs it: install the "
            "classroom extra with `pip install -e '.[classroom]'` (make assignments and make grade do this)."
        )


def _prepare(source: Path, course: Path, *, cell_timeout: int) -> None:
    """A scratch nbgrader course: the sources, a config, and the generated assignments (which
    also records every graded cell, hidden tests included, in the course's gradebook)."""
    if not source.is_dir():
        raise FileNotFoundError(f"No assignment sources at {source}.")
    shutil.copytree(source, course / "source")
    (course / "nbgrader_config.py").write_text(_CONFIG.format(
        root=str(course), db=f"sqlite:///{course / 'gradebook.db'}", timeout=int(cell_timeout), name=_TIMEOUT_NAME))
    # One nbgrader process for all of them (each start costs seconds); if that fails, one at a
    # time, so the error names the notebook nbgrader rejected.
    if _nbgrader(course, "generate_assignment", "*", "--force", "--create").returncode == 0:
        return
    for assignment in sorted(p.name for p in (course / "source").iterdir() if p.is_dir()):
        done = _nbgrader(course, "generate_assignment", assignment, "--force", "--create")
        if done.returncode != 0:
            raise RuntimeError(f"nbgrader could not generate {assignment!r}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def release(source: Path, out: Path, *, cell_timeout: int = CELL_TIMEOUT) -> list[Path]:
    """Write the student version of every assignment to ``out/<assignment>/``.

    Parameters
    ----------
    source : Path
        ``assignments/source``.
    out : Path
        Where the student versions go (replaced if present).

    Returns
    -------
    list of Path
        The released notebooks.

    Raises
    ------
    FileNotFoundError
        If ``source`` does not exist.
    RuntimeError
        If nbgrader is not installed (the ``classroom`` extra), or rejects a source notebook (its
        message is included).
    """
    _require_nbgrader()
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp)
        _prepare(Path(source), course, cell_timeout=cell_timeout)
        out = Path(out)
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(course / "release", out)
    return sorted(out.glob("*/*.ipynb"))


def _graded_cells(nb: dict) -> dict[str, dict]:
    return {c["metadata"]["nbgrader"]["grade_id"]: c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")}


def _read_notebook(path: Path) -> tuple[dict | None, str]:
    """The notebook as JSON, or None and the reason it is not a usable notebook."""
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # noqa: BLE001 - any failure means "not a notebook"
        return None, f"{path.name} is not a Jupyter notebook ({type(err).__name__}: {str(err).splitlines()[0][:160]})"
    return json.loads(nbformat.writes(nb)), ""


def _restore_cells(nb: dict, release_nb: dict) -> tuple[dict, list[str]]:
    """Put back any cell of the released notebook that the student deleted, where it was."""
    present = _graded_cells(nb)
    notes = []
    cells = list(nb["cells"])
    previous_id = None
    for cell in release_nb["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if gid and gid not in present:
            index = 0
            if previous_id is not None:
                index = next((i + 1 for i, c in enumerate(cells)
                              if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == previous_id), len(cells))
            cells.insert(index, cell)
            present[gid] = cell
            notes.append(gid)
        if gid:
            previous_id = gid
    nb["cells"] = cells
    return nb, notes


def _text(cell: dict) -> str:
    source = cell.get("source", "")
    return ("".join(source) if isinstance(source, list) else source).strip()


def _edited_tests(nb: dict, release_nb: dict) -> list[str]:
    mine, theirs = _graded_cells(nb), _graded_cells(release_nb)
    return [gid for gid, cell in theirs.items()
            if cell["metadata"]["nbgrader"].get("grade") and gid in mine and _text(mine[gid]) != _text(cell)]


def _find_submission(folder: Path, expected: str) -> tuple[Path | None, str]:
    if (folder / expected).is_file():
        return folder / expected, ""
    notebooks = sorted(folder.glob("*.ipynb"))
    if len(notebooks) == 1:
        return notebooks[0], f"renamed: graded {notebooks[0].name} as {expected}"
    if notebooks:
        names = ", ".join(p.name for p in notebooks)
        return None, f"expected {expected}; found several notebooks ({names}) and cannot tell which to grade"
    others = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    if others:
        return None, f"expected {expected}; found no notebook, only: {', '.join(others)}"
    return None, f"nothing submitted for this assignment (expected {expected})"


def _timed_out_cells(path: Path) -> int:
    if not path.is_file():
        return 0
    nb = json.loads(path.read_text())
    return sum(1 for c in nb["cells"] for o in c.get("outputs", []) if o.get("ename") == _TIMEOUT_NAME)


def grade(
    submissions: Path,
    *,
    source: Path,
    cell_timeout: int = CELL_TIMEOUT,
    notebook_timeout: float = 900,
) -> list[Score]:
    """Grade every submission in ``submissions/<student>/<assignment>/``.

    Parameters
    ----------
    submissions : Path
        One folder per student, holding one folder per assignment (the layout ``nbgrader
        collect`` and ``nbgrader zip_collect`` produce).
    source : Path
        ``assignments/source``: the instructor's notebooks, with solutions and hidden tests.
    cell_timeout : int, default :data:`CELL_TIMEOUT`
        Seconds any one cell may run; a cell over the limit is stopped and graded as failing.
    notebook_timeout : float, default 900
        Seconds the whole grading of one submission may take (a safety net behind the cell
        limit); a submission over it is recorded with score 0 and a note.

    Returns
    -------
    list of Score
        One per question of every assignment each student submitted, in student order. A
        folder that is not an assignment gets one row with the question ``"-"`` and a note.

    Raises
    ------
    FileNotFoundError
        If ``submissions`` or ``source`` does not exist.
    RuntimeError
        If nbgrader is not installed (the ``classroom`` extra).
    """
    _require_nbgrader()
    from nbgrader.api import Gradebook

    submissions = Path(submissions)
    if not submissions.is_dir():
        raise FileNotFoundError(f"No submissions folder at {submissions}.")
    scores: list[Score] = []
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp)
        _prepare(Path(source), course, cell_timeout=cell_timeout)
        known = {p.name for p in (course / "release").iterdir() if p.is_dir()}
        db = f"sqlite:///{course / 'gradebook.db'}"
        with Gradebook(db) as gb:
            questions = {
                a: [(g.name, float(g.max_score)) for nb in gb.find_assignment(a).notebooks for g in nb.grade_cells]
                for a in known
            }
        # First every submission is checked and put in place (or scored 0 with the reason); then
        # nbgrader grades all of an assignment's submissions in one process.
        placed: dict[str, dict[str, list[str]]] = {}   # assignment -> student -> notes
        for student_dir in sorted(p for p in submissions.iterdir() if p.is_dir()):
            student = student_dir.name
            if not re.fullmatch(r"[A-Za-z0-9_.@-]+", student):
                scores.append(Score(student, "-", "-", 0.0, 0.0, "student folder name must use only letters, digits, _ . @ -"))
                continue
            for folder in sorted(p for p in student_dir.iterdir() if p.is_dir()):
                assignment = folder.name
                if assignment not in known:
                    scores.append(Score(student, assignment, "-", 0.0, 0.0,
                                        f"unknown assignment {assignment!r}; assignments: {', '.join(sorted(known))}"))
                    continue
                notes = _place(course, student, assignment, folder)
                if isinstance(notes, str):
                    scores.extend(_zero(student, assignment, questions[assignment], notes))
                else:
                    placed.setdefault(assignment, {})[student] = notes
        for assignment, students in sorted(placed.items()):
            scores.extend(_autograde(course, db, assignment, students, questions[assignment],
                                     notebook_timeout=notebook_timeout))
    order = {name: i for i, name in enumerate(sorted(p.name for p in submissions.iterdir() if p.is_dir()))}
    return sorted(scores, key=lambda s: (order.get(s.student, -1), s.assignment))


def _zero(student: str, assignment: str, questions: list[tuple[str, float]], note: str) -> list[Score]:
    return [Score(student, assignment, q, 0.0, m, note) for q, m in questions]


def _place(course: Path, student: str, assignment: str, folder: Path) -> list[str] | str:
    """Put one submission where nbgrader looks for it, repaired; the notes on what was repaired, or
    (a string) why it cannot be graded."""
    expected = f"{assignment}.ipynb"
    path, note = _find_submission(folder, expected)
    if path is None:
        return note
    nb, problem = _read_notebook(path)
    if nb is None:
        return problem
    release_nb = json.loads((course / "release" / assignment / expected).read_text())
    notes = [note] if note else []
    edited = _edited_tests(nb, release_nb)
    if edited:
        notes.append(f"test cell(s) {', '.join(edited)} were edited; graded with the original tests")
    nb, restored = _restore_cells(nb, release_nb)
    if restored:
        notes.append(f"deleted cell(s) {', '.join(restored)} were restored from the release")
    target = course / "submitted" / student / assignment
    target.mkdir(parents=True, exist_ok=True)
    (target / expected).write_text(json.dumps(nb))
    return notes


def _autograde(course: Path, db: str, assignment: str, students: dict[str, list[str]],
               questions: list[tuple[str, float]], *, notebook_timeout: float) -> list[Score]:
    """Grade the placed submissions of one assignment: all in one nbgrader process; any that it
    did not grade (a crash, or the whole run past its time) again one by one, for its own message."""
    from nbgrader.api import Gradebook, MissingEntry

    expected = f"{assignment}.ipynb"

    def grades(student: str) -> dict | None:
        if not (course / "autograded" / student / assignment / expected).is_file():
            return None
        with Gradebook(db) as gb:
            try:
                return {g.name: g.score for g in gb.find_submission_notebook(assignment, assignment, student).grades}
            except MissingEntry:
                return None

    failures: dict[str, str] = {}
    if len(students) > 1:
        try:
            _nbgrader(course, "autograde", assignment, "--create", "--force", timeout=notebook_timeout * len(students))
        except subprocess.TimeoutExpired:
            pass
    for student in students:
        if len(students) > 1 and grades(student) is not None:
            continue
        try:
            done = _nbgrader(course, "autograde", assignment, f"--student={student}", "--create", "--force",
                             timeout=notebook_timeout)
        except subprocess.TimeoutExpired:
            failures[student] = f"grading took longer than {notebook_timeout:.0f} s and was stopped"
            continue
        if done.returncode != 0 or grades(student) is None:
            log = done.stdout + done.stderr
            if "DeadKernelError" in log or "Kernel died" in log:
                failures[student] = "its kernel died while it ran (a cell that ends Python, or runs out of memory): not graded"
            else:
                failures[student] = "nbgrader could not grade it: " + " / ".join(log.strip().splitlines()[-3:])
    rows = []
    for student, notes in sorted(students.items()):
        if student in failures:
            rows.extend(_zero(student, assignment, questions, "; ".join([*notes, failures[student]])))
            continue
        timed_out = _timed_out_cells(course / "autograded" / student / assignment / expected)
        if timed_out:
            notes = [*notes, f"{timed_out} cell(s) ran past the time limit and were stopped"]
        graded = grades(student) or {}
        rows.extend(Score(student, assignment, q, float(graded[q]) if graded.get(q) is not None else 0.0, m, "; ".join(notes))
                    for q, m in questions)
    return rows


def write_csv(scores: Iterable[Score], path: Path) -> Path:
    """Write one row per student, assignment and question, plus a ``TOTAL`` row per student and
    assignment: ``student, assignment, question, score, max_score, note``.

    Parameters
    ----------
    scores : iterable of Score
        As :func:`grade` returns them.
    path : path-like
        The CSV file to write (its folder is created if needed; an existing file is replaced).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    scores = list(scores)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    totals: dict[tuple[str, str], list[float]] = {}
    notes: dict[tuple[str, str], str] = {}
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["student", "assignment", "question", "score", "max_score", "note"])
        for s in scores:
            out.writerow([s.student, s.assignment, s.question, f"{s.score:g}", f"{s.max_score:g}", s.note])
            t = totals.setdefault((s.student, s.assignment), [0.0, 0.0])
            t[0] += s.score
            t[1] += s.max_score
            notes.setdefault((s.student, s.assignment), s.note)
        for (student, assignment), (score, top) in totals.items():
            out.writerow([student, assignment, "TOTAL", f"{score:g}", f"{top:g}", notes[(student, assignment)]])
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m gradbook.classroom release OUT`` or ``grade SUBMISSIONS CSV``.

    Parameters
    ----------
    argv : list of str, optional
        The command-line arguments after the program name; ``sys.argv[1:]`` when omitted.

    Returns
    -------
    int
        The exit status: 0 on success, 2 when the sources or submissions cannot be read or
        graded (the reason is printed to stderr).
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m gradbook.classroom", description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=Path("assignments/source"))
    parser.add_argument("--cell-timeout", type=int, default=CELL_TIMEOUT)
    sub = parser.add_subparsers(dest="command", required=True)
    rel = sub.add_parser("release", help="write the student versions")
    rel.add_argument("out", type=Path)
    grd = sub.add_parser("grade", help="grade a folder of submissions and write a CSV")
    grd.add_argument("submissions", type=Path)
    grd.add_argument("csv", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "release":
            for path in release(args.source, args.out, cell_timeout=args.cell_timeout):
                print(f"released {path}")
            return 0
        scores = grade(args.submissions, source=args.source, cell_timeout=args.cell_timeout)
    except (FileNotFoundError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    write_csv(scores, args.csv)
    by_student: dict[str, list[float]] = {}
    for s in scores:
        t = by_student.setdefault(s.student, [0.0, 0.0])
        t[0] += s.score
        t[1] += s.max_score
    for student, (score, top) in by_student.items():
        print(f"{student}: {score:g} / {top:g}")
    print(f"wrote {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
