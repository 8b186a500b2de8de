"""Tests for gradbook.widgets.static: the static face's combined figure, payload and HTML, and the
page script (book/static/gradbook-explorer.js) that wires its controls."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
import yaml
from bs4 import BeautifulSoup

from gradbook.widgets import Explorer, choice, learning_rate_slider
from gradbook.widgets.static import SPEC_CLASS, element, json_for_script
from widgets_examples import BACKGROUND_Y, draw, make_explorer, y_of

ROOT = Path(__file__).resolve().parents[1]
PAGE_SCRIPT = ROOT / "book" / "static" / "gradbook-explorer.js"
ESLINT = ROOT / "node_modules" / ".bin" / "eslint"


def _check_static_figure(ex):
    """Every setting's member traces and layout are exactly those of its own figure."""
    combined = ex.static_figure()
    spec = ex.static_spec()
    settings = ex.settings()
    assert len(spec["members"]) == len(spec["relayouts"]) == len(settings)
    assert [len(c["labels"]) for c in spec["controls"]] == [len(ex.grid[n]) for n in ex.controls]
    for mine, relayout, setting in zip(spec["members"], spec["relayouts"], settings):
        assert all(0 <= i < len(combined.data) for i in mine)
        shown = [combined.data[i] for i in mine]
        own = ex.figure(**setting)
        assert len(shown) == len(own.data)
        for got, want in zip(shown, own.data):
            np.testing.assert_array_equal(y_of(got), y_of(want))
            np.testing.assert_array_equal(np.asarray(got.x, dtype=float), np.asarray(want.x, dtype=float))
        assert relayout["title.text"] == own.layout.title.text
        if own.layout.xaxis.range is not None:
            assert relayout["xaxis.range"] == list(own.layout.xaxis.range)
        else:
            assert relayout["xaxis.autorange"] is True
    return combined


def _setting_index(ex, positions):
    """Mixed-radix index of a setting from each control's grid position (as the page's JS does)."""
    k = 0
    for name, pos in zip(ex.controls, positions):
        k = k * len(ex.grid[name]) + pos
    return k


def test_static_figure_members_select_each_settings_traces():
    ex = make_explorer()
    combined = _check_static_figure(ex)
    # 9 settings with distinct lines + one shared background.
    assert len(combined.data) == 9 + 1


def test_setting_order_is_mixed_radix_over_the_controls():
    ex = make_explorer()
    settings = ex.settings()
    for i, lr in enumerate(ex.grid["lr"]):
        for j, act in enumerate(ex.grid["activation"]):
            assert settings[_setting_index(ex, [i, j])] == {"lr": lr, "activation": act}


def test_static_figure_stores_identical_traces_once():
    ex = make_explorer()
    combined = ex.static_figure()
    backgrounds = [t for t in combined.data if list(y_of(t)) == BACKGROUND_Y]
    assert len(backgrounds) == 1
    # And every setting shows it.
    index = list(combined.data).index(backgrounds[0])
    assert all(index in mine for mine in ex.static_spec()["members"])


def test_static_figure_with_long_traces_that_differ_only_in_the_middle():
    """Traces of thousands of points (loss curves, contour grids) must not be merged by mistake."""

    def long_draw(lr):
        y = np.zeros(3000)
        y[1500] = lr  # the settings differ only here
        fig = go.Figure(go.Scatter(y=y))
        fig.update_layout(title={"text": f"lr={lr}"})
        return fig

    ex = Explorer(long_draw, {"lr": learning_rate_slider(0.1)}, grid={"lr": [0.1, 0.2, 0.4]})
    combined = _check_static_figure(ex)
    assert len(combined.data) == 3


def test_static_figure_initially_shows_the_current_setting():
    ex = make_explorer(lr=0.2, activation="sigmoid")
    combined = ex.static_figure()
    spec = ex.static_spec()
    positions = [c["active"] for c in spec["controls"]]
    assert [ex.grid[n][p] for n, p in zip(ex.controls, positions)] == [0.2, "sigmoid"]
    active = _setting_index(ex, positions)
    assert ex.settings()[active] == {"lr": 0.2, "activation": "sigmoid"}
    assert [bool(t.visible) for t in combined.data] == [i in spec["members"][active] for i in range(len(combined.data))]
    visible_lines = [t for t in combined.data if t.visible and t.name == "line"]
    assert len(visible_lines) == 1
    np.testing.assert_allclose(y_of(visible_lines[0]), 3.0 * 0.2 * np.arange(5))
    assert combined.layout.title.text == "lr=0.2 activation=sigmoid"
    assert list(combined.layout.xaxis.range) == [0, 4.2]


def test_static_controls_label_the_grid_values():
    ex = make_explorer()
    spec = ex.static_spec()
    (lr, act) = spec["controls"]
    # Controls are labelled by their widget description (what the live face shows).
    assert lr["name"] == ex.controls["lr"].description == "learning rate"
    assert act["name"] == ex.controls["activation"].description
    assert lr["labels"] == [f"{v:.3g}" for v in ex.grid["lr"]]
    assert act["labels"] == list(ex.grid["activation"])
    html_text = ex.static_html()
    # A numeric control becomes a range input over the grid positions, a choice a drop-down.
    assert f"type='range' data-gb-dim='0' min='0' max='{len(ex.grid['lr']) - 1}'" in html_text
    assert "<select data-gb-dim='1'" in html_text
    for label in act["labels"]:
        assert f">{label}</option>" in html_text


def test_static_controls_ask_the_browser_not_to_restore_their_values():
    # A value restored on reload or back navigation would not be the setting the figure shows.
    soup = BeautifulSoup(make_explorer().static_html(), "html.parser")
    controls = soup.select("[data-gb-dim]")
    assert [c.name for c in controls] == ["input", "select"]
    assert [c.get("autocomplete") for c in controls] == ["off", "off"]


def test_static_html_is_light_and_self_describing():
    from plotly.offline import get_plotlyjs

    ex = make_explorer()
    html_text = ex.static_html()
    assert html_text.startswith("<div") and html_text.rstrip().endswith("</div>")
    assert "<script src=" not in html_text
    assert "cdn.plot.ly" not in html_text
    assert get_plotlyjs()[:300] not in html_text  # plotly.js itself is not embedded
    assert len(html_text) < len(get_plotlyjs()) / 10
    assert "Static version" in html_text
    assert "9 settings" in html_text
    assert "Test &lt;explorer&gt;" in html_text  # the title, escaped
    assert "Plotly.newPlot" in html_text  # the figure itself is there
    assert "class='gradbook-explorer-spec'" in html_text  # and the controls' payload for the page script
    assert ex.static_html() is html_text  # computed once


# -- the payload and the page script -------------------------------------------------------------
def test_static_html_holds_a_json_payload_and_no_code_of_its_own():
    ex = make_explorer()
    soup = BeautifulSoup(ex.static_html(), "html.parser")
    scripts = soup.find_all("script")
    payloads = [s for s in scripts if s.get("type") == "application/json"]
    (payload,) = payloads
    assert payload.get("class") == [SPEC_CLASS]
    spec = ex.static_spec()
    data = json.loads(payload.string)
    root = soup.select_one(".gradbook-explorer")
    assert root["id"] == data["div"] + "-explorer"
    assert "plotly-graph-div" in root.find(id=data["div"])["class"]  # the figure the controls update
    assert data["n"] == len(ex.static_figure().data)
    assert data["sizes"] == [len(c["labels"]) for c in spec["controls"]]
    assert data["labels"] == [c["labels"] for c in spec["controls"]]
    assert data["active"] == [c["active"] for c in spec["controls"]]
    assert data["members"] == spec["members"]
    assert data["relayouts"] == json.loads(json.dumps(spec["relayouts"]))
    # The only other script is Plotly's own, drawing the figure; the controls' code is the page script's.
    (figure,) = [s for s in scripts if s is not payload]
    assert "Plotly.newPlot" in figure.string
    for code in ("Plotly.update", "addEventListener", "querySelector", "gbDim"):
        assert code not in figure.string
        assert code in PAGE_SCRIPT.read_text()


def test_static_html_escapes_titles_labels_and_payload():
    def draw_kernel(lr, kernel):
        return draw(lr)

    title = "</script><b>it's & more"
    ex = Explorer(draw_kernel, {"lr": learning_rate_slider(0.1), "kernel": choice(["a<b", "c'd", "</script>"])},
                  grid={"lr": [0.1, 0.2]}, title=title)
    html_text = ex.static_html()
    soup = BeautifulSoup(html_text, "html.parser")
    assert soup.select_one(".gradbook-explorer-title").get_text() == title
    select = soup.select_one("select[data-gb-dim='1']")
    assert [o.get_text() for o in select.find_all("option")] == ["a<b", "c'd", "</script>"]
    assert select["aria-label"] == "kernel"
    (payload,) = soup.find_all("script", class_=SPEC_CLASS)
    assert json.loads(payload.string)["labels"][1] == ["a<b", "c'd", "</script>"]
    # Nothing in the payload can end its script element early.
    start = html_text.index(f"class='{SPEC_CLASS}'>")
    body = html_text[start:html_text.index("</script>", start)]
    assert "<" not in body.split(">", 1)[1]


def test_element_and_json_for_script_escape():
    assert element("span", {"title": "a'b\"c<d"}, text="<i>") == "<span title='a&#x27;b&quot;c&lt;d'>&lt;i&gt;</span>"
    assert element("option", {"value": 1, "selected": False}, text="x") == "<option value='1'>x</option>"
    text = json_for_script({"s": "</script><!-- & -->"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"s": "</script><!-- & -->"}
    with pytest.raises(ValueError):
        json_for_script({"x": float("nan")})  # JSON.parse could not read it back


def test_every_page_loads_the_page_script_after_plotly():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
    scripts = config["html_js_files"]
    assert scripts.index("plotly/plotly.min.js") < scripts.index(PAGE_SCRIPT.name)
    assert "book/static" in config["html_static_path"]
    assert PAGE_SCRIPT.parent == ROOT / "book" / "static" and PAGE_SCRIPT.is_file()
    assert "gradbook.css" in config["html_css_files"] and (PAGE_SCRIPT.parent / "gradbook.css").is_file()
    assert f"script.{SPEC_CLASS}" in PAGE_SCRIPT.read_text()


def test_page_script_is_valid_javascript():
    # Node.js comes with npm, which the book build needs anyway (README, System requirements).
    assert shutil.which("node"), "Node.js is needed to check the page script: install npm (it brings node)."
    result = subprocess.run(["node", "--check", str(PAGE_SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_page_script_passes_eslint():
    # ESLint's version is pinned in package.json and package-lock.json, its rules are in
    # eslint.config.mjs; `make setup` installs it with npm ci.
    assert shutil.which("node"), "Node.js is needed to lint the page script: install npm (it brings node)."
    assert ESLINT.is_file(), f"{ESLINT.relative_to(ROOT)} is missing: run `make setup` (it runs npm ci)."
    result = subprocess.run([str(ESLINT), "--max-warnings", "0", "book/static"], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # The configuration covers the page script: a global it does not declare is an error.
    bad = subprocess.run([str(ESLINT), "--stdin", "--stdin-filename", "book/static/gradbook-explorer.js"],
                         cwd=ROOT, input="Plotly.update();\n", capture_output=True, text=True)
    assert bad.returncode == 1 and "no-undef" in bad.stdout, bad.stdout + bad.stderr
