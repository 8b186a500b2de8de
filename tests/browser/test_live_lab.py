"""The live face in a real JupyterLab: a TrainingPanel trains, shows progress, stops on Stop and
keeps what it learned, all through the browser."""

from __future__ import annotations

import re
import time

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from conftest import SCREENSHOTS

PANEL = '''from gradbook import data, plots, training, widgets
ds = data.load("digits", seed=0)
def run(setting, callbacks):
    return training.train_cnn(ds, depth=setting["depth"], epochs=setting["epochs"], batch_size=16,
                              callbacks=callbacks, seed=0)
panel = widgets.TrainingPanel(
    run, lambda result, setting: plots.learning_curves(result.history, title=f"depth {setting['depth']}: {result.epochs} epochs"),
    {"depth": widgets.depth_slider(2, max=4), "epochs": widgets.int_slider(200, min=1, max=200, description="epochs")},
    static_grid={"depth": [1]}, title="live panel")
panel'''


def _open_notebook(page, lab, name: str) -> None:
    """Open ``name`` from the lab's folder in a workspace of its own (so no tab an earlier test
    left open is restored and made active) and wait until its kernel is up (status bar:
    "Python 3 (ipykernel) | Idle")."""
    base, token, _folder = lab
    workspace = re.sub(r"\W", "-", name)
    page.goto(f"{base}/lab/workspaces/{workspace}/tree/{name}?reset&token={token}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.get_by_text(re.compile(r"\| Idle")).first.wait_for(timeout=90_000)


def _status(page) -> str:
    return page.locator(".widget-html-content").last.inner_text()


def test_training_panel_trains_and_stops_in_jupyterlab(lab, browser):
    folder = lab[2]
    nb = new_notebook(cells=[new_code_cell(PANEL)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, folder / "panel.ipynb")

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        _open_notebook(page, lab, "panel.ipynb")
        train = page.locator("button:has-text('Train')")
        stop = page.locator("button:has-text('Stop')")
        for attempt in range(2):  # a keystroke that lands while the page is still settling is lost
            page.click(".jp-Cell .jp-InputArea-editor")
            page.keyboard.press("Shift+Enter")
            try:
                train.wait_for(timeout=60_000)
                break
            except Exception:  # noqa: BLE001 - playwright's TimeoutError; retry once
                if attempt:
                    raise
        assert stop.is_disabled()
        # The static grid ran depth 1 while the cell executed; the live face starts from depth 2.
        assert "press Train" in _status(page)

        train.click()
        page.wait_for_function(
            "() => [...document.querySelectorAll('.widget-html-content')].some(e => /epoch \\d+\\/200/.test(e.textContent))",
            timeout=60_000,
        )
        progress = page.locator(".widget-hprogress .progress-bar").first
        during = _status(page)
        assert re.search(r"epoch \d+/200, batch \d+/\d+, loss [\d.]+, [\d.]+ s", during), during
        assert stop.is_enabled() and train.is_disabled()
        time.sleep(1.0)
        stop.click()
        page.wait_for_function(
            "() => [...document.querySelectorAll('.widget-html-content')].some(e => e.textContent.includes('stopped by you'))",
            timeout=60_000,
        )
        after = _status(page)
        epochs = int(re.search(r"after (\d+) epoch", after).group(1))
        assert 1 <= epochs < 200, after
        assert "weights learned so far are kept" in after and "val_accuracy" in after
        # The learning curves of the stopped run are drawn by JupyterLab's Plotly renderer.
        title = page.locator(".js-plotly-plot .gtitle").first
        title.wait_for(timeout=30_000)
        assert title.text_content() == f"depth 2: {epochs} epochs"
        assert train.is_enabled() and stop.is_disabled()
        width = progress.evaluate("e => e.style.width")
        assert width and width != "100%", width  # stopped part-way
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "live_training_panel.png"))
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "live_training_panel_last.png"))
        context.close()


def test_chapter_4_depth_slider_redraws_the_gradient_norms_in_jupyterlab(lab, browser):
    """Issue 8: open chapter 4 in JupyterLab, run all cells, move the depth slider, and the
    gradient-norm plot changes."""
    import shutil

    from conftest import ROOT

    folder = lab[2]
    shutil.copy(ROOT / "chapters" / "04_vanishing_gradients.ipynb", folder / "04_vanishing_gradients.ipynb")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        _open_notebook(page, lab, "04_vanishing_gradients.ipynb")
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).first.click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).first.click()
        # (ipywidgets may keep hidden copies of a view; the visible one is the one to move)
        slider = page.locator(".widget-slider:visible", has=page.locator("label", has_text=re.compile(r"^depth$")))
        # JupyterLab renders only the cells near the viewport: wait for the slider to exist, then
        # for the whole notebook to finish (so the kernel is free to answer), then scroll to it.
        slider.first.wait_for(timeout=240_000)
        page.get_by_text(re.compile(r"\| Idle")).first.wait_for(timeout=240_000)
        slider.first.scroll_into_view_if_needed()
        title = page.locator(".js-plotly-plot .gtitle", has_text="layers, init")
        title.first.wait_for(timeout=60_000)
        before = title.first.text_content()
        # The live controls start exactly at the notebook's values: the log sliders' steps keep
        # init scale 1 and learning rate 0.1 on a step, so the browser does not nudge them.
        assert before.startswith("10 sigmoid layers, init x1:"), before
        bars_before = page.locator(".js-plotly-plot .barlayer .point").count()

        handle = slider.first.locator(".noUi-handle")
        handle.focus()
        for _ in range(5):
            page.keyboard.press("ArrowRight")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.js-plotly-plot .gtitle')].some(t => t.textContent.startsWith('15 sigmoid layers'))",
            timeout=60_000,
        )
        after = page.locator(".js-plotly-plot .gtitle", has_text="layers, init").first.text_content()
        assert after.startswith("15 sigmoid layers") and after != before
        # Five more layers: five more bars in each of the two bar series.
        assert page.locator(".js-plotly-plot .barlayer .point").count() == bars_before + 10
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        slider.first.scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "live_chapter_4.png"))
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "live_chapter_4_last.png"))
        context.close()
