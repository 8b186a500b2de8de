"""An Explorer's static face in Chromium, without building the book: a page made of its
static_html, plotly.js and book/static/gradbook-explorer.js (loaded in the head, as the book's
pages load them). Moving each control shows the traces and title of the setting it selects;
values the controls hold before the script runs (a browser's restored form) are shown on load;
a payload that cannot be wired says so in its own explorer and leaves the others working."""

from __future__ import annotations

import json
import shutil

import numpy as np
import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs

from conftest import ROOT, serve
from gradbook.widgets import Explorer, choice, learning_rate_slider
from gradbook.widgets.static import SPEC_CLASS, json_for_script

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


@pytest.fixture(autouse=True)
def _chinese_labels(monkeypatch):
    """This page's made-up labels, with the Chinese a static face needs for every label it shows."""
    from gradbook.widgets import static

    labels = {**static.zh_cn_labels(), "shape": "形状", "line": "直线", "square": "平方", "<root> & 'co'": "<根> & '余'"}
    monkeypatch.setattr(static, "zh_cn_labels", lambda: labels)


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


def write_page(folder, body):
    """index.html with ``body``, plotly.js and the page script in ``folder``."""
    (folder / "index.html").write_text(PAGE.format(body=body), encoding="utf-8")
    (folder / "plotly.min.js").write_text(get_plotlyjs(), encoding="utf-8")
    shutil.copy(PAGE_SCRIPT, folder / PAGE_SCRIPT.name)


def wait_for_state(page, fig, ex, setting):
    """Wait until ``fig`` shows ``setting`` of ``ex``."""
    want = expected_state(ex, setting)
    page.wait_for_function(f"([gd, want]) => ({STATE})(gd) === want", arg=[fig.element_handle(), want],
                           timeout=10_000)


def wait_for_figures(page, count):
    page.wait_for_function(f"() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= {count}",
                           timeout=20_000)


def test_static_controls_switch_the_figure(offline_page, tmp_path):
    ex = explorer()
    write_page(tmp_path, ex.static_html())
    page = offline_page
    with serve(tmp_path) as url:
        page.goto(f"{url}/index.html", wait_until="load")
        root = page.locator(".gradbook-explorer")
        fig = root.locator(".js-plotly-plot")
        wait_for_figures(page, 1)
        assert fig.evaluate(STATE) == expected_state(ex, {"lr": 0.1, "shape": "line"})
        assert root.locator(".gradbook-explorer-title").inner_text() == "A <static> face"
        assert root.locator(".gradbook-explorer-error").count() == 0

        def wait_for(setting):
            wait_for_state(page, fig, ex, setting)

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


# Run after the explorer's markup and before DOMContentLoaded, when the page script wires its
# controls: what a browser's restored form looks like to the script.
RESTORED = """<script>
document.querySelector("input[data-gb-dim='0']").value = "2";
document.querySelector("select[data-gb-dim='1']").value = "1";
</script>"""


def test_values_the_controls_hold_on_load_are_shown(offline_page, tmp_path):
    ex = explorer()
    write_page(tmp_path, ex.static_html() + RESTORED)
    page = offline_page
    with serve(tmp_path) as url:
        page.goto(f"{url}/index.html", wait_until="load")
        root = page.locator(".gradbook-explorer")
        fig = root.locator(".js-plotly-plot")
        wait_for_figures(page, 1)
        # Drawn with lr=0.1 and a line; the controls say lr=0.5 and a square, and the figure follows.
        wait_for_state(page, fig, ex, {"lr": 0.5, "shape": "square"})
        assert root.locator("[data-gb-value='0']").inner_text() == "0.5"
        # And the controls work from there.
        root.locator("select[data-gb-dim='1']").select_option(label="line")
        wait_for_state(page, fig, ex, {"lr": 0.5, "shape": "line"})
    assert page.external_requests == [], page.external_requests
    assert page.console_errors == [], page.console_errors


def broken_payload(html_text, how, other_div):
    """``html_text`` with its payload made unreadable, or naming a figure outside its explorer."""
    start = html_text.index(f"class='{SPEC_CLASS}'>") + len(f"class='{SPEC_CLASS}'>")
    end = html_text.index("</script>", start)
    if how == "bad JSON":
        payload = html_text[start:end][: (end - start) // 2]  # cut short
    else:
        payload = json.loads(html_text[start:end])
        payload["div"] = other_div
        payload = json_for_script(payload)
    return html_text[:start] + payload + html_text[end:]


@pytest.mark.parametrize("how", ["bad JSON", "another explorer's figure"])
def test_a_payload_that_cannot_be_wired_leaves_the_others_working(offline_page, tmp_path, how):
    good = explorer()
    bad = Explorer(draw, {"lr": learning_rate_slider(0.1, min=1e-3, max=1.0), "shape": choice(["line", "square"])},
                   grid={"lr": [0.1, 0.5]}, title="Broken")
    good_div = json.loads(good.static_html().split(f"class='{SPEC_CLASS}'>")[1].split("</script>")[0])["div"]
    # The broken one comes first: its failure must not stop the wiring of the next one.
    write_page(tmp_path, broken_payload(bad.static_html(), how, good_div) + good.static_html())
    page = offline_page
    with serve(tmp_path) as url:
        page.goto(f"{url}/index.html", wait_until="load")
        broken_root, good_root = page.locator(".gradbook-explorer").nth(0), page.locator(".gradbook-explorer").nth(1)
        broken_fig, good_fig = broken_root.locator(".js-plotly-plot"), good_root.locator(".js-plotly-plot")
        wait_for_figures(page, 2)
        # The broken one says so, its controls are disabled and its figure is left as drawn.
        message = broken_root.locator(".gradbook-explorer-error").inner_text(timeout=10_000)
        assert message.startswith("The controls of this exploration could not be wired: "), message
        assert ("JSON" if how == "bad JSON" else f'no figure with id "{good_div}"') in message, message
        assert broken_root.locator("[data-gb-dim]:disabled").count() == 2
        assert broken_fig.evaluate(STATE) == expected_state(bad, {"lr": 0.1, "shape": "line"})
        assert len(page.console_errors) == 1 and "could not be wired" in page.console_errors[0], page.console_errors
        # The good one works, and nothing it shows came from the broken one's controls.
        assert good_root.locator(".gradbook-explorer-error").count() == 0
        assert good_fig.evaluate(STATE) == expected_state(good, {"lr": 0.1, "shape": "line"})
        good_root.locator("select[data-gb-dim='1']").select_option(label="square")
        wait_for_state(page, good_fig, good, {"lr": 0.1, "shape": "square"})
        slider = good_root.locator("input[type=range][data-gb-dim='0']")
        slider.focus()
        page.keyboard.press("End")
        wait_for_state(page, good_fig, good, {"lr": 0.5, "shape": "square"})
        assert good_root.locator("[data-gb-value='0']").inner_text() == "0.5"
    assert page.external_requests == [], page.external_requests
