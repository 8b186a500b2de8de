"""Time each chapter as a learner runs it and as the book builds it, on this machine.

For every chapter notebook, in two fresh kernels:

* **learner** (``GRADBOOK_STATIC_FACES`` unset, as in JupyterLab): the wall time of Run All
  (budget 30 s), and for each exploration, how long after its cell started its live controls
  were ready (budget 10 s). Then, in the same kernel, every ``widgets.Explorer`` is moved to
  settings it has not drawn and each redraw is timed (budget 1 s for a recompute, 10 s for a
  retrain), and each ``widgets.TrainingPanel``'s Train button is pressed once.
* **book** (``GRADBOOK_STATIC_FACES=1``, as ``make book``): the wall time of executing the
  chapter with every static face precomputed (budget 90 s).

The benchmark never hangs: every cell has a time limit; a cell that passes it is interrupted,
reported with its index, and the run goes on with the next cell (or the next chapter when the
kernel has died).

Usage: python benchmarks/chapter_timing.py [--mode learner|book|both] [--cell-timeout S] [chapters/NN_name.ipynb ...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from gradbook.execution import sliced_shell_polling

ROOT = Path(__file__).resolve().parents[1]
BUDGETS_S = {"learner": 30.0, "book": 90.0, "first_control": 10.0}
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

# Runs inside the chapter's kernel after a learner's Run All: move each explorer to two settings
# of its first control that lie between grid points (so nothing is cached; a drop-down, which offers
# only its options, to two it is not showing) and time the redraw; press each Train button once
# for a setting off the grid.
PROBE = r'''
import json as _json
import numpy as _np
import time as _time
from gradbook.widgets import Explorer as _Explorer, TrainingPanel as _TrainingPanel
from gradbook.widgets.controls import option_values as _option_values
_report = {}
for _name, _obj in list(globals().items()):
    if not isinstance(_obj, _TrainingPanel) or _name.startswith("_"):
        continue
    _control, _values = next((k, v) for k, v in _obj.static.grid.items() if len(v) > 1)
    _target = _values[0] + 1 if all(isinstance(v, int) for v in _values) else _values[-1]
    _t0 = _time.perf_counter()
    _obj.start(**{_control: _target})
    _finished = _obj.wait(120)
    _report[_name] = {"control": _control + " (Train button)", "settings": [str(_target)],
                      "seconds": [_time.perf_counter() - _t0], "error": _obj.error if _finished else "still training after 120 s",
                      "kind": "retrain"}
for _name, _obj in list(globals().items()):
    if not isinstance(_obj, _Explorer) or _name.startswith("_"):
        continue
    _control, _values = next(iter(_obj.grid.items()))
    _sorted = sorted(_values) if all(isinstance(v, (int, float)) for v in _values) else None
    _options = _option_values(_obj.controls[_control])
    if _options is not None:      # a drop-down offers only its own options: the last two not shown now
        _targets = [v for v in _options if v != _obj.controls[_control].value][-2:]
    elif _sorted and len(_sorted) > 1 and all(isinstance(v, int) for v in _sorted):
        _targets = [_sorted[0] + 1, _sorted[-1] - 1]
    elif _sorted and len(_sorted) > 1:
        _targets = [float(_np.sqrt(_sorted[0] * _sorted[1])), float(_np.sqrt(_sorted[-2] * _sorted[-1]))]
    else:
        _targets = list(_values)[-2:]
    _times = [_obj.update(**{_control: _t}) for _t in _targets]
    _report[_name] = {"control": _control, "settings": [f"{t:.4g}" if isinstance(t, float) else str(t) for t in _targets],
                      "seconds": _times, "kind": "retrain" if _obj.retrains else "recompute"}
print("PROBE" + _json.dumps(_report))
'''


def _has_widget(cell) -> bool:
    return any(WIDGET_MIME in o.get("data", {}) for o in cell.get("outputs", []))


def run_chapter(path: Path, mode: str, cell_timeout: float) -> dict:
    """Execute one chapter in a fresh kernel in ``mode``; never raises for a cell's failure."""
    nb = nbformat.read(path, as_version=4)
    env = dict(os.environ)
    env["GRADBOOK_STATIC_FACES"] = "1" if mode == "book" else "0"
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name="python3", interrupt_on_timeout=True,
                            resources={"metadata": {"path": str(path.parent)}})
    problems: list[str] = []
    cell_seconds: list[tuple[int, float]] = []
    controls: list[dict] = []
    sliders: dict = {}
    with client.setup_kernel(env=env):
        start = time.perf_counter()
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            t0 = time.perf_counter()
            print(f"  [{mode}] {path.name} cell {index}...", end="", file=sys.stderr, flush=True)
            try:
                client.execute_cell(cell, index)
            except CellTimeoutError:
                problems.append(f"cell {index} passed the {cell_timeout:.0f} s limit and was interrupted")
            except CellExecutionError as err:
                problems.append(f"cell {index} raised: {str(err).strip().splitlines()[-1][:200]}")
            except DeadKernelError:
                problems.append(f"cell {index}: the kernel died; the rest of the chapter was not run")
                break
            seconds = time.perf_counter() - t0
            print(f" {seconds:.1f} s", file=sys.stderr, flush=True)
            if seconds > cell_timeout:  # an interrupt may take a moment to land
                problems.append(f"cell {index} took {seconds:.0f} s")
            cell_seconds.append((index, seconds))
            if _has_widget(cell):
                controls.append({"cell": index, "ready_seconds": round(seconds, 2)})
        total = time.perf_counter() - start
        if mode == "learner" and not problems:
            probe = nbformat.v4.new_code_cell(PROBE)
            nb.cells.append(probe)
            try:
                client.execute_cell(probe, len(nb.cells) - 1)
                text = "".join(o.get("text", "") for o in probe.outputs if o.get("output_type") == "stream")
                sliders = json.loads(text.split("PROBE", 1)[1]) if "PROBE" in text else {}
            except (CellTimeoutError, CellExecutionError, DeadKernelError) as err:
                problems.append(f"the slider probe failed: {type(err).__name__}")
    slowest = sorted(cell_seconds, key=lambda c: -c[1])[:3]
    return {"chapter": path.name, "mode": mode, "seconds": round(total, 1), "problems": problems,
            "controls": controls, "slowest_cells": [[i, round(s, 1)] for i, s in slowest], "sliders": sliders}


def report(result: dict) -> str:
    mode, seconds = result["mode"], result["seconds"]
    budget = BUDGETS_S[mode]
    verdict = "within" if seconds <= budget else "OVER"
    what = "Run All" if mode == "learner" else "book execution"
    lines = [f"{result['chapter']} [{mode}]: {what} {seconds:.1f} s ({verdict} the {budget:.0f} s budget); "
             f"slowest cells {result['slowest_cells']}"]
    for c in result["controls"]:
        if mode == "learner":
            ok = "within" if c["ready_seconds"] <= BUDGETS_S["first_control"] else "OVER"
            lines.append(f"  live controls of cell {c['cell']} ready after {c['ready_seconds']:.2f} s ({ok} 10 s)")
    for name, s in result["sliders"].items():
        times = ", ".join(f"{t:.3f} s" for t in s["seconds"])
        limit = 10.0 if s.get("kind") == "retrain" else 1.0
        ok = "within" if max(s["seconds"]) <= limit else "OVER"
        error = f" error: {s['error']}" if s.get("error") else ""
        lines.append(f"  {name}: {s['control']} -> {s['settings']}: {times} ({ok} {limit:.0f} s){error}")
    lines += [f"  PROBLEM: {p}" for p in result["problems"]]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--mode", choices=("learner", "book", "both"), default="both")
    parser.add_argument("--cell-timeout", type=float, default=300.0, help="seconds one cell may take (default 300)")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "chapters").glob("[0-9]*.ipynb"))
    modes = ("learner", "book") if args.mode == "both" else (args.mode,)
    results = []
    for path in paths:
        for mode in modes:
            with sliced_shell_polling():  # a missed reply must not stall a cell until its limit
                result = run_chapter(path, mode, args.cell_timeout)
            results.append(result)
            print(report(result), flush=True)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "chapter_timing.json").write_text(json.dumps(results, indent=2))
    return 1 if any(r["problems"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
