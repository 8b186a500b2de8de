"""An Explorer's static face in Chromium, without building the book: a page made of its
static_html, plotly.js and book/static/gradbook-explorer.js (loaded in the head, as the book's
pages load them). Moving each control shows the traces and title of the setting it selects."""

from __future__ import annotations

import json
import shutil

import numpy as np
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from conftest import ROOT, serve
from gradbook.widgets import Explorer, choice, learning_rate_slider

PAGE_SCRIPT = ROOT / "book" / "static" / "gradbook-explorer.js"
PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8">
<script src="plotly.min.js"></script>
<script src="gradbook-explorer.js"></script>
</head><body>{body}</body></html>"""

# What the page shows: the title and which traces are visible.
STATE = "gd => JSON.stringify([gd.layout.title.text, gd.data.map(t => t.visible !== false)])"


def draw(lr, shape):
    xs = np.arange(5.0)
    ys = {"line": lr * xs, "square": lr * xs**2, "<root> & 'co'": lr * np.sqrt(xs)}[shape]
    fig = go.Figure([go.Scatter(x=xs, y=[0, 1, 0, 1, 0], name="background"), go.Scatter(x=xs, y=ys, name=shape)])
    fig.update_layout(title={"text": f"lr={lr:g} shape={shape}"})
    return fig


def explorer():
    controls = {"lr": learning_rate_slider(0.1, min=1e-3, max=1.0),
                "shape": choice(["line", "square", "<root> & 'co'"], description="shape")}
    return Explorer(draw, controls, grid={"lr": [0.01, 0.1, 0.5]}, title="A <static> face")


def expected_state(ex, setting):
    """Title and visible traces of ``setting``, from the Explorer's own spec."""
    k = ex.settings().index(setting)
    spec = ex.static_spec()
    n = len(ex.static_figure().data)
    return json.dumps([spec["relayouts"][k]["title.text"], [i in spec["members"][k] for i in range(n)]],
                      separators=(",", ":"))


def test_static_controls_switch_the_figure(offline_page, tmp_path):
    ex = explorer()
    (tmp_path / "index.html").write_text(PAGE.format(body=ex.static_html()), encoding="utf-8")
    (tmp_path / "plotly.min.js").write_text(get_plotlyjs(), encoding="utf-8")
    shutil.copy(PAGE_SCRIPT, tmp_path / PAGE_SCRIPT.name)
    page = offline_page
    with serve(tmp_path) as url:
        page.goto(f"{url}/index.html", wait_until="load")
        root = page.locator(".gradbook-explorer")
        fig = root.locator(".js-plotly-plot")
        page.wait_for_function("() => document.querySelector('.js-plotly-plot .main-svg') !== null", timeout=20_000)
        assert fig.evaluate(STATE) == expected_state(ex, {"lr": 0.1, "shape": "line"})
        assert root.locator(".gradbook-explorer-title").inner_text() == "A <static> face"

        def wait_for(setting):
            want = expected_state(ex, setting)
            page.wait_for_function(f"([gd, want]) => ({STATE})(gd) === want", arg=[fig.element_handle(), want],
                                   timeout=10_000)

        # The range control: End moves it to the last grid value, and its label follows.
        slider = root.locator("input[type=range][data-gb-dim='0']")
        slider.focus()
        page.keyboard.press("End")
        wait_for({"lr": 0.5, "shape": "line"})
        assert root.locator("[data-gb-value='0']").inner_text() == "0.5"
        # The drop-down, including an option whose label needs escaping.
        select = root.locator("select[data-gb-dim='1']")
        select.select_option(label="<root> & 'co'")
        wait_for({"lr": 0.5, "shape": "<root> & 'co'"})
        select.select_option(label="square")
        wait_for({"lr": 0.5, "shape": "square"})
        slider.focus()
        page.keyboard.press("Home")
        wait_for({"lr": 0.01, "shape": "square"})
        assert root.locator("[data-gb-value='0']").inner_text() == "0.01"
    assert page.external_requests == [], page.external_requests
    assert page.console_errors == [], page.console_errors
