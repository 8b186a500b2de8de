"""The live face in a real JupyterLab: a TrainingPanel trains, shows progress, stops on Stop and
keeps what it learned, all through the browser. (Each chapter's own explorations are moved in
test_live_chapters.py.)"""

from __future__ import annotations

import re

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from conftest import SCREENSHOTS, open_notebook, run_all, shut_down_kernels

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
        open_notebook(page, lab, "panel.ipynb")
        train = page.locator("button:has-text('Train')")
        stop = page.locator("button:has-text('Stop')")
        run_all(page)  # from the Run menu: a keystroke that lands while the page is still settling is lost
        train.wait_for(timeout=60_000)
        assert stop.is_disabled()
        # Nothing was trained while the cell ran (a learner's JupyterLab computes no static face).
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
        # Let it learn for a while (into its second epoch) before pressing Stop.
        page.wait_for_function(
            "() => [...document.querySelectorAll('.widget-html-content')].some(e => /epoch ([2-9]|\\d\\d+)\\/200/.test(e.textContent))",
            timeout=60_000,
        )
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
        shut_down_kernels(lab)
