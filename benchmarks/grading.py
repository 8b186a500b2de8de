"""How fast a whole class is graded: submissions per minute, one at a time and in parallel.

A synthetic class: ``--students`` students, each submitting every assignment, in a mix of four
kinds that cycles over the class: the instructor's solution, a partly right answer, the
untouched release (nothing done), and a hostile one (patched asserts, a lying answer object,
a kernel that kills itself, or a cell that asks for 64 GiB). The class is graded with
``gradbook.classroom.grade`` at ``JOBS=1`` and at one job per core, in the sandbox, with the
graders' default limits, and the scores are checked (solution full, partial in between,
untouched and hostile 0 on the cheated question) so that a fast wrong grader cannot pass.

Prints a table and writes ``benchmarks/results/grading.json``. Usage::

    python benchmarks/grading.py                    # 60 students x 6 assignments
    python benchmarks/grading.py --students 6       # a quick look (36 submissions)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from gradbook import classroom

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "assignments" / "source"
RESULTS = ROOT / "benchmarks" / "results" / "grading.json"

# A partly right answer per assignment, and its expected score (as the classroom tests check).
PARTIAL = {
    "gradient_descent": ({"lr_answer": "LR_MAX = 0.1"}, 3),
    "convolution": ({"size_impl": "def output_size(n, k, stride, padding):\n    return n - k + 1"}, 4),
    "backprop": ({"pool_impl": "def max_pool2d_backward(x, grad_out):\n"
                               "    return np.repeat(np.repeat(grad_out, 2, axis=1), 2, axis=2) / 4"}, 2),
    "vanishing_gradients": ({"predict_answer": "PREDICTED_LOG10_RATIO = 0.0"}, 3),
    "fixes": ({"fix_impl": "def build_fixed_model():\n    return baseline()"}, 1),
    "training_cnns": ({"floor_answer": "LOSS_FLOOR = 0.0"}, 4),
}
# Hostile answers, put in each assignment's first answer cell; that question must score 0.
HOSTILE = {
    "patched asserts": "import numpy as np\nnp.testing.assert_allclose = lambda *a, **k: None\n"
                       "import builtins\nbuiltins.AssertionError = type('Nothing', (Exception,), {})\n",
    "lying answer": "class Liar(float):\n    def __eq__(self, other):\n        return True\n"
                    "    shape = property(lambda self: (4, 1))\n",
    "kernel killed": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
    "memory hog": "hog = bytearray(64 * 2**30)\n",
}


def build_class(root: Path, students: int, release: Path) -> dict[tuple[str, str], tuple[str, float | None]]:
    """Write the class's submissions; return each one's kind and expected total (None: at most
    the total minus the cheated question)."""
    expected = {}
    for i in range(students):
        student = f"student{i:03d}"
        kind = ("solution", "partial", "untouched", "hostile")[i % 4]
        kind_name = kind
        for name in classroom.ASSIGNMENTS:
            source = json.loads((SOURCE / name / f"{name}.ipynb").read_text())
            released = json.loads((release / name / f"{name}.ipynb").read_text())
            top = sum(float(c["metadata"]["nbgrader"].get("points", 0)) for c in source["cells"]
                      if c["metadata"].get("nbgrader", {}).get("grade"))
            if kind == "solution":
                nb, total = classroom.fill_in(released, source), top
            elif kind == "partial":
                answers, total = PARTIAL[name]
                nb = classroom.fill_in(released, source, answers)
            elif kind == "untouched":
                nb, total = released, 0.0
            else:
                attack = list(HOSTILE)[(i // 4) % len(HOSTILE)]
                first = next(c["metadata"]["nbgrader"]["grade_id"] for c in released["cells"]
                             if c["metadata"].get("nbgrader", {}).get("solution"))
                nb, total = classroom.fill_in(released, source, {first: HOSTILE[attack]}), None
                kind_name = f"hostile: {attack}"
            folder = root / student / name
            folder.mkdir(parents=True)
            (folder / f"{name}.ipynb").write_text(json.dumps(nb))
            expected[student, name] = (kind_name, total)
    return expected


def check(scores: list[classroom.Score], expected: dict) -> list[str]:
    """What in ``scores`` differs from what each kind of submission must get."""
    totals: dict[tuple[str, str], list[float]] = {}
    for s in scores:
        t = totals.setdefault((s.student, s.assignment), [0.0, 0.0])
        t[0] += s.score
        t[1] += s.max_score
    wrong = []
    for key, (kind, total) in expected.items():
        got, top = totals.get(key, [None, None])
        if got is None:
            wrong.append(f"{key}: not graded")
        elif total is not None and got != total:
            wrong.append(f"{key} ({kind}): {got:g} / {top:g}, expected {total:g}")
        elif total is None and got >= top:
            wrong.append(f"{key} ({kind}): full marks for a cheated question")
    return wrong


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=60)
    parser.add_argument("--jobs", type=int, nargs="*", default=None,
                        help="the settings to time (default: 1 and one per core)")
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    settings = args.jobs or sorted({1, cores})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        release = Path(tmp) / "release"
        classroom.release(SOURCE, release)
        subs = Path(tmp) / "submissions"
        expected = build_class(subs, args.students, release)
        n = len(expected)
        for jobs in settings:
            started = time.perf_counter()
            scores = classroom.grade(subs, source=SOURCE, jobs=jobs)
            seconds = time.perf_counter() - started
            wrong = check(scores, expected)
            rows.append({"jobs": jobs, "submissions": n, "seconds": round(seconds, 1),
                         "per_minute": round(60 * n / seconds, 1), "wrong": wrong})
            print(f"JOBS={jobs:<3} {n} submissions in {seconds:7.1f} s: {60 * n / seconds:6.1f} per minute"
                  + (f"; WRONG SCORES: {wrong[:5]}" if wrong else "; every score as expected"), flush=True)
    best = max(rows, key=lambda r: r["per_minute"])
    class_of_300 = 300 * len(classroom.ASSIGNMENTS) / best["per_minute"] / 60
    print(f"A class of 300 students x {len(classroom.ASSIGNMENTS)} assignments at JOBS={best['jobs']}: "
          f"about {class_of_300:.1f} h on this machine ({cores} cores, {platform.processor() or platform.machine()}).")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"cores": cores, "students": args.students, "assignments": list(classroom.ASSIGNMENTS),
                                   "runs": rows, "class_of_300_hours": round(class_of_300, 2)}, indent=1))
    return 1 if any(r["wrong"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
