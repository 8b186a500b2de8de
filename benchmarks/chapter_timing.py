"""Time each chapter's execution and its sliders' update latency on this machine.

For every chapter notebook: execute it top to bottom in a fresh kernel (as `make book` does) and
report the wall time against the 90 s budget. Then, in the same kernel, move every
``widgets.Explorer`` the chapter defines to settings it has not drawn yet and report how long each
redraw took (budget: 1 s for a recompute, 10 s for a retrain), and press each
``widgets.TrainingPanel``'s Train button once for a setting off its precomputed grid.

Usage: python benchmarks/chapter_timing.py [chapters/NN_name.ipynb ...]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_BUDGET_S = 90.0

# Runs inside the chapter's kernel after the chapter: move each explorer to two settings of its
# first control that lie between grid points (so nothing is cached) and time the redraw.
PROBE = r'''
import json as _json
import numpy as _np
import time as _time
from gradbook.widgets import Explorer as _Explorer, TrainingPanel as _TrainingPanel
_report = {}
for _name, _obj in list(globals().items()):
    # A Train button: time one press for a setting off the precomputed grid, until the figure is up.
    if not isinstance(_obj, _TrainingPanel) or _name.startswith("_"):
        continue
    _control, _values = next((k, v) for k, v in _obj.static.grid.items() if len(v) > 1)
    _target = _values[0] + 1 if all(isinstance(v, int) for v in _values) else _values[-1]
    _t0 = _time.perf_counter()
    _obj.start(**{_control: _target})
    _obj.wait(120)
    _report[_name] = {"control": _control + " (Train button)", "settings": [str(_target)],
                      "seconds": [_time.perf_counter() - _t0], "error": _obj.error}
for _name, _obj in list(globals().items()):
    if not isinstance(_obj, _Explorer) or _name.startswith("_"):
        continue
    _control, _values = next(iter(_obj.grid.items()))
    _sorted = sorted(_values) if all(isinstance(v, (int, float)) for v in _values) else None
    if _sorted and len(_sorted) > 1 and all(isinstance(v, int) for v in _sorted):
        # Whole-number controls: one step above the smallest and one below the largest value.
        _targets = [_sorted[0] + 1, _sorted[-1] - 1]
    elif _sorted and len(_sorted) > 1:
        # Continuous controls: geometric midpoints of the lowest and highest grid intervals.
        _targets = [float(_np.sqrt(_sorted[0] * _sorted[1])), float(_np.sqrt(_sorted[-2] * _sorted[-1]))]
    else:
        _targets = list(_values)[-2:]
    _times = [_obj.update(**{_control: _t}) for _t in _targets]
    _report[_name] = {"control": _control, "settings": [f"{t:.4g}" if isinstance(t, float) else str(t) for t in _targets], "seconds": _times}
print("PROBE" + _json.dumps(_report))
'''


def time_chapter(path: Path) -> dict:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    with client.setup_kernel():
        start = time.perf_counter()
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        seconds = time.perf_counter() - start
        probe = nbformat.v4.new_code_cell(PROBE)
        nb.cells.append(probe)
        client.execute_cell(probe, len(nb.cells) - 1)
    text = "".join(o.get("text", "") for o in probe.outputs if o.get("output_type") == "stream")
    sliders = json.loads(text.split("PROBE", 1)[1]) if "PROBE" in text else {}
    return {"chapter": path.name, "execute_seconds": round(seconds, 1), "sliders": sliders}


def main(argv: list[str]) -> int:
    paths = [Path(p) for p in argv] or sorted((ROOT / "chapters").glob("[0-9]*.ipynb"))
    results = []
    for path in paths:
        result = time_chapter(path)
        results.append(result)
        within = "within" if result["execute_seconds"] <= NOTEBOOK_BUDGET_S else "OVER"
        print(f"{result['chapter']}: executed in {result['execute_seconds']:.1f} s ({within} the {NOTEBOOK_BUDGET_S:.0f} s budget)")
        for name, s in result["sliders"].items():
            times = ", ".join(f"{t:.3f} s" for t in s["seconds"])
            print(f"  {name}: {s['control']} -> {s['settings']}: redraw {times}")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "chapter_timing.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
