"""Every chapter as a learner meets it: opened in a real JupyterLab, Run All, no error output,
and one control of each exploration moved until its figure changes.

This is the run that exercises each chapter's live face (the book build exercises the static
one). Waits are for conditions, with limits several times what a chapter needs on a slow
machine, so a pass never depends on the machine's speed.
"""

from __future__ import annotations

import re
import shutil

import nbformat
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from conftest import ROOT, SCREENSHOTS, open_notebook, run_all, shut_down_kernels

CHAPTERS = sorted(p.name for p in (ROOT / "chapters").glob("*.ipynb"))
RUN_ALL_LIMIT_MS = 600_000  # a chapter's Run All is budgeted at 30 s
REDRAW_LIMIT_MS = 180_000  # a retraining control is budgeted at 10 s

# A short fingerprint of a Plotly figure as drawn: its title and the data of its traces.
FINGERPRINT_JS = """root => {
  const plot = root.querySelector('.js-plotly-plot');
  if (!plot || !plot.data) { return ''; }
  const text = (plot.layout && plot.layout.title && plot.layout.title.text || '') + JSON.stringify(plot.data);
  let h = 0;
  for (let i = 0; i < text.length; i++) { h = (h * 31 + text.charCodeAt(i)) | 0; }
  return text.length + ':' + h;
}"""


def wait_until_run(page) -> None:
    """Wait until Run All has ended: no cell queued or running ('[*]'), some cell run. (Run All
    stops at a cell that raises; the cells after it go back to '[ ]'.)"""
    page.wait_for_function(
        r"""() => {
          const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent);
          return prompts.length > 0 && !prompts.some(t => t.includes('*')) && prompts.some(t => /\[\d+\]/.test(t));
        }""",
        timeout=RUN_ALL_LIMIT_MS,
    )
    page.get_by_text(re.compile(r"\| Idle")).first.wait_for(timeout=60_000)


def saved_outputs(page, path) -> nbformat.NotebookNode:
    """Save the notebook from JupyterLab and read it back.

    After Run All the notebook's tab is marked unsaved (``jp-mod-dirty``); JupyterLab clears the
    mark once the server has written the file (atomically), so the file is then complete."""
    before = path.stat().st_mtime_ns
    page.locator(".jp-Notebook").first.click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+s")
    page.wait_for_function("() => document.querySelector('.lm-TabBar-tab.jp-mod-dirty') === null", timeout=60_000)
    assert path.stat().st_mtime_ns != before, f"JupyterLab did not save {path.name}"
    return nbformat.read(path, as_version=4)


def error_outputs(nb) -> list[str]:
    found = []
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                found.append(f"cell {index}: {out.get('ename')}: {out.get('evalue')}")
            elif out.get("output_type") == "stream" and "Traceback" in out.get("text", ""):
                found.append(f"cell {index}: traceback on {out.get('name')}")
    return found


def move_first_control(page, root) -> str:
    """Move the first control of a live face to another value; return what it was set to."""
    control = root.locator(".widget-slider, .widget-dropdown").first
    control.scroll_into_view_if_needed()
    if "widget-dropdown" in (control.get_attribute("class") or ""):
        select = control.locator("select")
        options = select.locator("option").all_text_contents()
        current = select.evaluate("s => s.options[s.selectedIndex].text")
        target = next(o for o in options if o != current)
        select.select_option(label=target)
        return target
    readout = control.locator(".widget-readout")
    before = readout.text_content()
    handle = control.locator(".noUi-handle")
    # The slider's handle says where it stands (aria-valuenow and aria-valuemax, to one decimal):
    # at the top of its range, step down instead of up.
    at_top = handle.evaluate(
        "h => parseFloat(h.getAttribute('aria-valuenow')) >= parseFloat(h.getAttribute('aria-valuemax'))"
    )
    # A key press can be lost while JupyterLab still moves focus about after Run All; press again
    # (up to three times) until the readout moves, rather than failing on a lost press.
    for attempt in range(3):
        handle.focus()
        page.keyboard.press("ArrowLeft" if at_top else "ArrowRight")
        try:
            page.wait_for_function("([el, b]) => el.textContent !== b", arg=[readout.element_handle(), before],
                                   timeout=10_000)
            break
        except PlaywrightTimeoutError:
            if attempt == 2:
                raise
    return readout.text_content()


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_runs_in_jupyterlab_and_each_exploration_redraws(lab, browser, name):
    # The chapter sits where it does in the repository (the appendix reads ../references.bib).
    folder = lab[2]
    path = folder / "chapters" / name
    path.parent.mkdir(exist_ok=True)
    shutil.copy(ROOT / "chapters" / name, path)
    shutil.copy(ROOT / "references.bib", folder / "references.bib")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    shot = SCREENSHOTS / f"live_{path.stem}.png"
    try:
        open_notebook(page, lab, f"chapters/{name}")
        run_all(page)
        wait_until_run(page)
        nb = saved_outputs(page, path)
        assert not error_outputs(nb), error_outputs(nb)
        not_run = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and not c.execution_count]
        assert not not_run, f"Run All stopped before cells {not_run}"

        explorers = page.locator(".gradbook-explorer-live:visible")
        panels = page.locator(".gradbook-panel-live:visible")
        expected = sum(
            len(re.findall(r"widgets\.(?:Explorer|TrainingPanel)\(", "".join(c.source)))
            for c in nb.cells if c.cell_type == "code"
        )
        assert explorers.count() + panels.count() == expected

        for i in range(explorers.count()):
            root = explorers.nth(i)
            root.locator(".js-plotly-plot").first.wait_for(timeout=REDRAW_LIMIT_MS)
            before = root.evaluate(FINGERPRINT_JS)
            target = move_first_control(page, root)
            page.wait_for_function(
                f"([root, before]) => ({FINGERPRINT_JS})(root) !== before && ({FINGERPRINT_JS})(root) !== ''",
                arg=[root.element_handle(), before], timeout=REDRAW_LIMIT_MS,
            )
            status = root.locator(".widget-html-content").last.inner_text()
            assert "Cannot draw" not in status, f"explorer {i} set to {target}: {status}"

        for i in range(panels.count()):
            root = panels.nth(i)
            move_first_control(page, root)
            root.locator("button:has-text('Train')").click()
            page.wait_for_function(
                "root => /trained \\d+ epoch/.test(root.textContent)", arg=root.element_handle(), timeout=REDRAW_LIMIT_MS,
            )
            root.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
            assert "Training failed" not in root.inner_text()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot))
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot.with_name(shot.stem + "_last.png")))
        context.close()
        shut_down_kernels(lab)
