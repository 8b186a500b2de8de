"""Classroom assignments: released with nbgrader, graded in a sandbox that cannot be cheated.

The book's assignments live in ``assignments/source/<assignment>/<assignment>.ipynb`` in
nbgrader's format: solution regions between ``### BEGIN SOLUTION`` and ``### END SOLUTION``,
hidden tests between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``, and points on
the test cells. An instructor runs three jobs from the command line (``make assignments``,
``make grade`` and ``make feedback``):

* :func:`release` writes the student versions with nbgrader (solutions and hidden tests removed).
* :func:`grade` grades a folder of submissions, ``jobs`` at a time, and :func:`write_csv`
  writes the scores per student and per question (:func:`write_json` the same, with the
  failure messages).
* :func:`write_feedback` writes one page per student and assignment: the score per question
  and the failing visible test's message, never the hidden tests.

Grading does not use nbgrader's ``autograde``, which runs each student's code with the
instructor's rights, in the instructor's files, with the tests in the same process as the
code they test. Each submission is graded by :mod:`gradbook.grading` instead: the student's
code runs in a bubblewrap sandbox, the tests in the grader, and only plain data crosses
between them. Around it, :func:`grade` handles a renamed notebook, a file that is not a
notebook (or is too large), deleted or edited test cells (restored from the instructor's
version), and a grading run that fails or hangs for one student (recorded, with its reason,
while the others are graded).

Submissions are laid out as nbgrader collects them::

    SUBMISSIONS/<student>/<assignment>/<assignment>.ipynb
"""

from __future__ import annotations

import concurrent.futures
import csv
import dataclasses
import html
import importlib.util
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from gradbook import grading, sandbox, tables
from gradbook.validation import check_whole

__all__ = ["ASSIGNMENTS", "CELL_TIMEOUT", "JOB_UID_BASE", "MAX_NOTEBOOK_BYTES", "Score", "fill_in", "grade", "main",
           "read_json", "release", "write_csv", "write_feedback", "write_json"]

#: The assignments, in chapter order.
ASSIGNMENTS: tuple[str, ...] = ("gradient_descent", "convolution", "backprop", "vanishing_gradients", "fixes",
                                "training_cnns")

#: Seconds one cell may run when grading, by default. The ``fixes`` assignment's test trains two
#: 20-layer networks in one cell, and a 15 s limit stopped the solution on a busy machine; this
#: leaves a wide margin.
CELL_TIMEOUT = 150

#: The largest notebook file graded (a submission is its code; outputs this large are not homework).
MAX_NOTEBOOK_BYTES = 16 * 2**20
#: Memory (address space) of one judge process: it loads and trains the students' models.
JUDGE_MEMORY_BYTES = 8 * 2**30
#: When grading as root, job ``k``'s sandbox runs as user ``JOB_UID_BASE + k`` (no account needed),
#: so that one submission's processes never count against another's limit, nor against those of
#: anything else running as ``nobody``.
JOB_UID_BASE = 200_000
_CONFIG = """\
c = get_config()  # noqa: F821 - provided by nbgrader
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_url = {db!r}
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
    message : str
        For the student, when the question failed: the failing visible test's error, or "a
        hidden test failed" (never the hidden tests' source).
    attempts : str
        What in the submission's code looks like an attempt to cheat or break the grader
        (:func:`gradbook.grading.suspicious`), for the instructor to look at.
    """

    student: str
    assignment: str
    question: str
    score: float
    max_score: float
    note: str = ""
    message: str = ""
    attempts: str = ""


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


def _prepare(source: Path, course: Path) -> None:
    """A scratch nbgrader course: the sources, a config, and the generated assignments (which
    also records every graded cell, hidden tests included, in the course's gradebook)."""
    if not source.is_dir():
        raise FileNotFoundError(f"No assignment sources at {source}.")
    shutil.copytree(source, course / "source")
    (course / "nbgrader_config.py").write_text(_CONFIG.format(
        root=str(course), db=f"sqlite:///{course / 'gradebook.db'}"))
    # One nbgrader process for all of them (each start costs seconds); if that fails, one at a
    # time, so the error names the notebook nbgrader rejected.
    if _nbgrader(course, "generate_assignment", "*", "--force", "--create").returncode == 0:
        return
    for assignment in sorted(p.name for p in (course / "source").iterdir() if p.is_dir()):
        done = _nbgrader(course, "generate_assignment", assignment, "--force", "--create")
        if done.returncode != 0:
            raise RuntimeError(f"nbgrader could not generate {assignment!r}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def release(source: Path, out: Path) -> list[Path]:
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
        _prepare(Path(source), course)
        out = Path(out)
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(course / "release", out)
    return sorted(out.glob("*/*.ipynb"))


def fill_in(release_nb: dict, source_nb: dict, answers: dict[str, str] | None = None) -> dict:
    """The released notebook with the instructor's solutions typed in, as a student would.

    Parameters
    ----------
    release_nb, source_nb : dict
        The student version (:func:`release`) and the instructor's notebook (nbformat 4 JSON).
    answers : dict of str to str, optional
        Other answers: ``{grade_id: cell source}`` replaces those answer cells.

    Returns
    -------
    dict
        A new notebook; the arguments are not changed.

    Raises
    ------
    KeyError
        If ``answers`` names a cell that is not an answer cell of the release.

    Examples
    --------
    >>> cell = lambda text, **meta: {"cell_type": "code", "metadata": {"nbgrader": meta}, "source": text}
    >>> source = {"cells": [cell("### BEGIN SOLUTION\\nx = 1\\n### END SOLUTION\\n", grade_id="a", solution=True)]}
    >>> release = {"cells": [cell("raise NotImplementedError()", grade_id="a", solution=True)]}
    >>> fill_in(release, source)["cells"][0]["source"], fill_in(release, source, {"a": "x = 2"})["cells"][0]["source"]
    ('x = 1\\n', 'x = 2')
    """
    solutions = _graded_cells(source_nb)
    nb = json.loads(json.dumps(release_nb))
    answer_cells = {}
    for cell in nb["cells"]:
        meta = grading.nbgrader_metadata(cell)
        if meta.get("solution"):
            answer_cells[meta["grade_id"]] = cell
            text = grading.cell_source(solutions[meta["grade_id"]])
            cell["source"] = re.sub(r"[ \t]*### (BEGIN|END) SOLUTION\n?", "", text)
    for grade_id, text in (answers or {}).items():
        if grade_id not in answer_cells:
            raise KeyError(f"{grade_id!r} is not an answer cell; answer cells: {', '.join(answer_cells)}")
        answer_cells[grade_id]["source"] = text
    return nb


def _graded_cells(nb: dict) -> dict[str, dict]:
    return {gid: c for c in nb["cells"] if isinstance(gid := grading.nbgrader_metadata(c).get("grade_id"), str)}


def _read_notebook(path: Path) -> tuple[dict | None, str]:
    """The notebook as JSON, or None and the reason it is not a usable notebook."""
    import nbformat

    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        return None, (f"{path.name} is {size / 2**20:.0f} MiB, over the limit of {MAX_NOTEBOOK_BYTES // 2**20} MiB: "
                      "clear its outputs (Edit > Clear Outputs of All Cells) and submit it again")
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
        gid = grading.nbgrader_metadata(cell).get("grade_id")
        if gid and gid not in present:
            index = 0
            if previous_id is not None:
                index = next((i + 1 for i, c in enumerate(cells)
                              if grading.nbgrader_metadata(c).get("grade_id") == previous_id), len(cells))
            cells.insert(index, cell)
            present[gid] = cell
            notes.append(gid)
        if gid:
            previous_id = gid
    nb["cells"] = cells
    return nb, notes


def _text(cell: dict) -> str:
    return grading.cell_source(cell).strip()


def _edited_tests(nb: dict, release_nb: dict) -> list[str]:
    mine, theirs = _graded_cells(nb), _graded_cells(release_nb)
    return [gid for gid, cell in theirs.items()
            if grading.nbgrader_metadata(cell).get("grade") and gid in mine and _text(mine[gid]) != _text(cell)]


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


def grade(
    submissions: Path,
    *,
    source: Path,
    cell_timeout: int = CELL_TIMEOUT,
    notebook_timeout: float = 900,
    jobs: int | None = None,
    sandboxed: bool = True,
) -> list[Score]:
    """Grade every submission in ``submissions/<student>/<assignment>/``.

    Each submission is graded by :mod:`gradbook.grading` in a process of its own: the student's
    code runs in a sandbox, the tests in the grader (see that module for why a wrong answer
    cannot score). Submissions are graded ``jobs`` at a time.

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
        limit); the questions not graded by then score 0, with a note.
    jobs : int, optional
        Submissions graded at once; by default one per CPU core.
    sandboxed : bool, default True
        False grades without the sandbox: the students' code then runs with the grader's rights
        (it can read the solutions and write the instructor's files). Only for a machine where
        no sandbox can be made, and only when the instructor asks for it.

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
    gradbook.sandbox.SandboxUnavailable
        If ``sandboxed`` and no sandbox can be made here: the message says why, how to fix it,
        and how to grade without one.
    """
    _require_nbgrader()
    submissions = Path(submissions)
    if not submissions.is_dir():
        raise FileNotFoundError(f"No submissions folder at {submissions}.")
    jobs = check_whole(os.cpu_count() or 1 if jobs is None else jobs, "jobs")
    if sandboxed and (reason := sandbox.unavailable()) is not None:
        raise sandbox.SandboxUnavailable(
            f"{reason} Until then, `make grade UNSANDBOXED=1` (or --unsandboxed) grades without the sandbox: "
            "the students' code then runs with your rights and can read your solutions and change your files.")
    scores: list[Score] = []
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp)
        _prepare(Path(source), course)
        known = {p.name for p in (course / "release").iterdir() if p.is_dir()}
        questions = {a: _questions(course / "source" / a / f"{a}.ipynb") for a in known}
        # First every submission is checked and put in place (or scored 0 with the reason); then
        # they are graded, `jobs` at a time.
        placed: list[tuple[str, str, list[str]]] = []
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
                    placed.append((student, assignment, notes))
        users: queue.Queue[int] = queue.Queue()
        for user in _free_uids(jobs):
            users.put(user)
        threads = max(1, (os.cpu_count() or 1) // jobs)

        def one(job: tuple[str, str, list[str]]) -> list[Score]:
            user = users.get()
            try:
                return _judge(course, *job, questions[job[1]], cell_timeout=cell_timeout,
                              notebook_timeout=notebook_timeout, sandboxed=sandboxed, user=user, threads=threads)
            except Exception as err:  # noqa: BLE001 - one submission's failure never costs the others
                student, assignment, notes = job
                return _zero(student, assignment, questions[assignment],
                             "; ".join([*notes, f"the grader failed on it ({type(err).__name__}: {err})"]))
            finally:
                users.put(user)

        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            for rows in pool.map(one, placed):
                scores.extend(rows)
    order = {name: i for i, name in enumerate(sorted(p.name for p in submissions.iterdir() if p.is_dir()))}
    return sorted(scores, key=lambda s: (order.get(s.student, -1), s.assignment))


def _free_uids(count: int) -> list[int]:
    """``count`` user ids from :data:`JOB_UID_BASE` up that no account of this machine has."""
    import pwd

    found, uid = [], JOB_UID_BASE
    while len(found) < count:
        try:
            pwd.getpwuid(uid)
        except KeyError:
            found.append(uid)
        uid += 1
    return found


def _questions(notebook: Path) -> list[tuple[str, float]]:
    """The graded cells of an instructor's notebook: ``(grade_id, points)`` in order."""
    nb = json.loads(notebook.read_text())
    return [(m["grade_id"], float(m.get("points", 0))) for c in nb["cells"]
            if (m := grading.nbgrader_metadata(c)).get("grade") and m.get("grade_id")]


def _zero(student: str, assignment: str, questions: list[tuple[str, float]], note: str) -> list[Score]:
    return [Score(student, assignment, q, 0.0, m, note) for q, m in questions]


def _place(course: Path, student: str, assignment: str, folder: Path) -> list[str] | str:
    """Put one submission where the grader looks for it, repaired; the notes on what was
    repaired, or (a string) why it cannot be graded."""
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


def _judge(course: Path, student: str, assignment: str, notes: list[str], questions: list[tuple[str, float]], *,
           cell_timeout: int, notebook_timeout: float, sandboxed: bool, user: int, threads: int) -> list[Score]:
    """Grade one placed submission in a judge process of its own (``python -m gradbook.grading``)."""
    work = course / "work" / student / assignment
    scratch = work / "scratch"
    scratch.mkdir(parents=True)
    report_path = work / "report.json"
    argv = [sys.executable, "-m", "gradbook.grading", "judge",
            str(course / "source" / assignment / f"{assignment}.ipynb"),
            str(course / "submitted" / student / assignment / f"{assignment}.ipynb"),
            str(scratch), str(report_path), f"--cell-timeout={cell_timeout}", f"--user={user}"]
    if not sandboxed:
        argv.append("--unsandboxed")
    if shutil.which("prlimit"):  # the judge trains the students' models: bound its memory too
        argv = ["prlimit", f"--as={JUDGE_MEMORY_BYTES}", "--", *argv]
    # The judge trains on the CPU (a GPU's driver does not start under its memory limit), with
    # its share of the cores, so that parallel jobs do not fight over them.
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": str(threads),
           "TF_NUM_INTRAOP_THREADS": str(threads), "TF_NUM_INTEROP_THREADS": "1"}
    notes = list(notes)
    try:
        done = subprocess.run(argv, cwd=work, capture_output=True, text=True, errors="replace",
                              timeout=notebook_timeout, env=env, start_new_session=True)
        if done.returncode != 0 and not report_path.is_file():
            notes.append("the grader failed: " + " / ".join((done.stdout + done.stderr).strip().splitlines()[-3:]))
    except subprocess.TimeoutExpired:
        notes.append(f"grading took longer than {notebook_timeout:.0f} s and was stopped")
    report = grading.Report.from_dict(json.loads(report_path.read_text())) if report_path.is_file() else grading.Report([])
    shutil.rmtree(scratch, ignore_errors=True)
    note = "; ".join([*notes, *report.notes])
    attempts = "; ".join(report.attempts)
    graded = {q.name: q for q in report.questions}
    return [Score(student, assignment, name, graded[name].score if name in graded else 0.0, points, note,
                  graded[name].message if name in graded else "not graded", attempts)
            for name, points in questions]


def write_csv(scores: Iterable[Score], path: Path) -> Path:
    """Write one row per student, assignment and question, plus a ``TOTAL`` row per student and
    assignment: ``student, assignment, question, score, max_score, note, attempts``.

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
    first: dict[tuple[str, str], Score] = {}
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["student", "assignment", "question", "score", "max_score", "note", "attempts"])
        for s in scores:
            out.writerow([s.student, s.assignment, s.question, f"{s.score:g}", f"{s.max_score:g}", s.note, s.attempts])
            t = totals.setdefault((s.student, s.assignment), [0.0, 0.0])
            t[0] += s.score
            t[1] += s.max_score
            first.setdefault((s.student, s.assignment), s)
        for (student, assignment), (score, top) in totals.items():
            s = first[student, assignment]
            out.writerow([student, assignment, "TOTAL", f"{score:g}", f"{top:g}", s.note, s.attempts])
    return path


def write_json(scores: Iterable[Score], path: Path) -> Path:
    """Write the scores, failure messages included, as JSON: what :func:`write_feedback` reads.

    Parameters
    ----------
    scores : iterable of Score
    path : path-like

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([dataclasses.asdict(s) for s in scores], indent=1))
    return path


def read_json(path: Path) -> list[Score]:
    """The scores :func:`write_json` wrote.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    list of Score

    Raises
    ------
    FileNotFoundError
        If there is no such file (grade first).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No grades at {path}: grade the submissions first (make grade SUBMISSIONS=dir).")
    return [Score(**row) for row in json.loads(path.read_text())]


def write_feedback(scores: Iterable[Score], out: Path) -> list[Path]:
    """One HTML page per student and assignment: the score per question, and why each failed.

    A failed question shows the failing visible test's error message, or "a hidden test
    failed"; the hidden tests' source never appears, nor the notes and attempts of the CSV (they
    are for the instructor, and a note can quote what the student's code printed or raised).
    The pages go to ``out/<student>/<assignment>/<assignment>.html``, the layout nbgrader's own
    feedback step uses.

    Parameters
    ----------
    scores : iterable of Score
        As :func:`grade` or :func:`read_json` give them.
    out : path-like
        The feedback folder (created if needed).

    Returns
    -------
    list of Path
        The pages written.
    """
    groups: dict[tuple[str, str], list[Score]] = {}
    for s in scores:
        if s.assignment != "-" and s.question != "-":
            groups.setdefault((s.student, s.assignment), []).append(s)
    written = []
    for (student, assignment), rows in sorted(groups.items()):
        total, top = sum(r.score for r in rows), sum(r.max_score for r in rows)
        table = tables.html_table(
            [[r.question, f"{r.score:g}", f"{r.max_score:g}", "" if r.score >= r.max_score else (r.message or "failed")]
             for r in rows],
            ["question", "score", "out of", "why it failed"])
        page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{html.escape(assignment)}: feedback for {html.escape(student)}</title></head><body>\n"
                f"<h1>{html.escape(assignment)}</h1>\n<p>{html.escape(student)}: {total:g} / {top:g}</p>\n"
                f"{table}\n</body></html>\n")
        path = Path(out) / student / assignment / f"{assignment}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m gradbook.classroom release OUT``, ``grade SUBMISSIONS CSV`` or ``feedback JSON OUT``.

    Parameters
    ----------
    argv : list of str, optional
        The command-line arguments after the program name; ``sys.argv[1:]`` when omitted.

    Returns
    -------
    int
        The exit status: 0 on success, 2 when the sources or submissions cannot be read or
        graded, or no sandbox can be made (the reason is printed to stderr).
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m gradbook.classroom", description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=Path("assignments/source"))
    parser.add_argument("--cell-timeout", type=int, default=CELL_TIMEOUT)
    sub = parser.add_subparsers(dest="command", required=True)
    rel = sub.add_parser("release", help="write the student versions")
    rel.add_argument("out", type=Path)
    grd = sub.add_parser("grade", help="grade a folder of submissions and write a CSV (and the same as JSON beside it)")
    grd.add_argument("submissions", type=Path)
    grd.add_argument("csv", type=Path)
    grd.add_argument("--jobs", type=int, default=None, help="submissions graded at once (default: one per core)")
    grd.add_argument("--unsandboxed", action="store_true",
                     help="grade without the sandbox: the students' code runs with your rights")
    fbk = sub.add_parser("feedback", help="write one feedback page per student and assignment")
    fbk.add_argument("grades", type=Path, help="the JSON file `grade` wrote beside its CSV")
    fbk.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "release":
            for path in release(args.source, args.out):
                print(f"released {path}")
            return 0
        if args.command == "feedback":
            pages = write_feedback(read_json(args.grades), args.out)
            print(f"wrote {len(pages)} feedback pages to {args.out}")
            return 0
        scores = grade(args.submissions, source=args.source, cell_timeout=args.cell_timeout, jobs=args.jobs,
                       sandboxed=not args.unsandboxed)
    except (FileNotFoundError, RuntimeError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    write_csv(scores, args.csv)
    write_json(scores, args.csv.with_suffix(".json"))
    by_student: dict[str, list[float]] = {}
    for s in scores:
        t = by_student.setdefault(s.student, [0.0, 0.0])
        t[0] += s.score
        t[1] += s.max_score
    for student, (score, top) in by_student.items():
        print(f"{student}: {score:g} / {top:g}")
    print(f"wrote {args.csv} and {args.csv.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
