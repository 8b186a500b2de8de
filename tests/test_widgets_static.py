"""Tests for gradbook.widgets.static: the static face's combined figure, payload and HTML, and the
page script (book/static/gradbook-explorer.js) that wires its controls."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
import yaml
from bs4 import BeautifulSoup

from gradbook.widgets import Explorer, choice, depth_slider, learning_rate_slider
from gradbook.widgets import static
from gradbook.widgets.static import LABELS_ZH_CN, SPEC_CLASS, element, json_for_script
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


def test_static_html_escapes_titles_labels_and_payload(monkeypatch):
    def draw_kernel(lr, kernel):
        return draw(lr)

    # Labels with markup in them, and their Chinese (which is escaped too).
    labels = {**static.zh_cn_labels(), "a<b": "甲<乙", "c'd": "丙'丁", "</script>": "</script>"}
    monkeypatch.setattr(static, "zh_cn_labels", lambda: labels)
    title = "</script><b>it's & more"
    ex = Explorer(draw_kernel, {"lr": learning_rate_slider(0.1), "kernel": choice(["a<b", "c'd", "</script>"])},
                  grid={"lr": [0.1, 0.2]}, title=title)
    html_text = ex.static_html()
    soup = BeautifulSoup(html_text, "html.parser")
    assert soup.select_one(".gradbook-explorer-title").get_text() == title
    select = soup.select_one("select[data-gb-dim='1']")
    assert [o.get_text() for o in select.find_all("option")] == ["a<b", "c'd", "</script>"]
    assert [o.get("data-gb-zh") for o in select.find_all("option")] == ["甲<乙", "丙'丁", None]
    assert select["aria-label"] == "kernel"
    assert "data-gb-zh='甲&lt;乙'" in html_text and "data-gb-zh='丙&#x27;丁'" in html_text
    (payload,) = soup.find_all("script", class_=SPEC_CLASS)
    assert json.loads(payload.string)["labels"][1] == ["a<b", "c'd", "</script>"]
    # Nothing in the payload can end its script element early.
    start = html_text.index(f"class='{SPEC_CLASS}'>")
    body = html_text[start:html_text.index("</script>", start)]
    assert "<" not in body.split(">", 1)[1]


# -- the Chinese edition's labels ----------------------------------------------------------------
LABELS_FILE = ROOT / "src" / "gradbook" / "widgets" / LABELS_ZH_CN
CJK = re.compile(r"[\u4e00-\u9fff]")


def _control_labels(html_text):
    """For each control: its name's English and Chinese spans (or its one span), in order."""
    soup = BeautifulSoup(html_text, "html.parser")
    out = []
    for label in soup.select("label.gradbook-control"):
        name = label.find("span", recursive=False)
        en, zh = name.select_one("span.gb-en"), name.select_one("span.gb-zh")
        out.append((en.get_text(), en["lang"], zh.get_text(), zh["lang"]) if en else (name.get_text(),))
    return out


def test_control_names_are_written_in_english_and_chinese():
    html_text = make_explorer().static_html()
    assert _control_labels(html_text) == [("learning rate", "en", "学习率", "zh-CN"), ("activation", "en", "激活函数", "zh-CN")]
    assert ("<span><span class='gb-en' lang='en'>learning rate</span><span class='gb-zh' lang='zh-CN'>学习率</span></span>"
            in html_text)
    # The controls' accessible names stay English, with the Chinese beside them for the page script.
    soup = BeautifulSoup(html_text, "html.parser")
    assert [(c["aria-label"], c["data-gb-zh"]) for c in soup.select("[data-gb-dim]")] == [
        ("learning rate", "学习率"), ("activation", "激活函数")]


def test_a_name_kept_as_it_is_is_written_once():
    def draw_layer(conv1):
        return draw(0.1)

    assert static.zh_cn_labels()["conv1"] == "conv1"  # a Keras layer's name
    ex = Explorer(draw_layer, {"conv1": choice(["relu", "tanh"])})  # named by its key: no description
    html_text = ex.static_html()
    assert _control_labels(html_text) == [("conv1",)]
    assert "<span>conv1</span>" in html_text and "data-gb-zh" not in html_text
    assert html_text.count("gb-zh") == 1  # only the note about the static version, not the control


def test_select_options_carry_their_chinese_in_data_gb_zh():
    def draw_norm(normalisation, depth):
        return draw(0.1)

    ex = Explorer(draw_norm, {"normalisation": choice(["none", "batch", "layer"], "batch", description="normalisation"),
                              "depth": depth_slider(20, min=2, max=50)}, grid={"depth": [20, 50]})
    soup = BeautifulSoup(ex.static_html(), "html.parser")
    select = soup.select_one("select[data-gb-dim='0']")
    assert select["aria-label"] == "normalisation" and select["data-gb-zh"] == "归一化"
    options = select.find_all("option")
    # The English edition is unchanged: the options' text is English, the Chinese an attribute.
    assert [o.get_text() for o in options] == ["none", "batch", "layer"]
    assert [o["data-gb-zh"] for o in options] == ["无", "批量", "层"]
    assert [o.has_attr("selected") for o in options] == [False, True, False]
    # Options that Chinese writes as they are carry no data-gb-zh.
    act = BeautifulSoup(make_explorer().static_html(), "html.parser").select("select option")
    assert [(o.get_text(), o.get("data-gb-zh")) for o in act] == [("relu", None), ("tanh", None), ("sigmoid", None)]
    # A range control's values are numbers: written as they are.
    ranged = soup.select_one("input[data-gb-dim='1']")
    assert ranged["type"] == "range" and ranged["data-gb-zh"] == "深度"
    assert soup.select_one("output[data-gb-value='1']").get_text() == "20"


@pytest.mark.parametrize("controls", [
    {"lr": learning_rate_slider(0.1, description="wobble rate")},
    {"lr": learning_rate_slider(0.1), "shape": choice(["relu", "wobble rate"], description="activation")},
    {"lr": learning_rate_slider(0.1), "wobble rate": choice(["relu", "tanh"])},  # named by its key
])
def test_a_label_without_a_translation_stops_the_static_face(controls):
    ex = Explorer(lambda **setting: draw(0.1), controls, grid={"lr": [0.1, 0.2]})
    with pytest.raises(ValueError, match=r"'wobble rate' has no Simplified Chinese.*labels_zh_CN\.json"):
        ex.static_html()


def test_numbers_and_single_value_controls_need_no_translation():
    def draw_batch(lr, batch):
        return draw(lr)

    # 16, 64 are numbers; "lr", a name without an entry, is not shown: its grid holds one value.
    ex = Explorer(draw_batch, {"lr": learning_rate_slider(0.1, description="lr"),
                               "batch": choice([16, 64], description="batch size")})
    html_text = ex.static_html()
    assert _control_labels(html_text) == [("batch size", "en", "批量大小", "zh-CN")]
    assert "aria-label='lr'" not in html_text


def test_the_chinese_labels_load_and_are_chinese_or_kept_as_they_are():
    pairs = json.loads(LABELS_FILE.read_text(encoding="utf-8"), object_pairs_hook=list)
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), "a label is given twice"
    labels = dict(pairs)
    assert static.zh_cn_labels() == labels  # what the package reads (its package data)
    for english, chinese in labels.items():
        assert english.strip() == english and chinese.strip() == chinese and chinese, english
        assert chinese == english or CJK.search(chinese), f"{english!r}: {chinese!r} is neither Chinese nor itself"
        assert not static._is_number(english), f"{english!r} is a number: numbers are written as they are"
    # Installed with the package.
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert f"widgets/{LABELS_ZH_CN}" in package_data["gradbook"]


def test_every_label_of_the_chapters_explorations_is_translated():
    # What the chapters write: control descriptions and literal options of choice([...]). The
    # book build checks every label its static faces show; this finds a missing one without it.
    labels = {"learning rate", "depth", "activation"}  # the factories' default descriptions
    for notebook in sorted((ROOT / "chapters").glob("*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        labels |= set(re.findall(r'description="([^"]+)"', code))
        for options in re.findall(r"choice\(\[([^\]]*)\]", code):
            labels |= set(re.findall(r'"([^"]+)"', options))
    assert len(labels) > 40
    titles = set()  # the explorations' and training panels' titles (shown above the static face)
    for notebook in sorted((ROOT / "chapters").glob("*.ipynb")):
        for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
            code = "".join(cell["source"])
            if cell["cell_type"] == "code" and re.search(r"\b(Explorer|TrainingPanel)\(", code):
                titles |= {t for t in re.findall(r'\btitle="([^"]+)"', code) if len(t.split()) > 2}
    assert len(titles) >= 12
    labels |= titles
    missing = [label for label in sorted(labels) if not static._is_number(label) and label not in static.zh_cn_labels()]
    assert missing == [], f"add these to {LABELS_FILE.relative_to(ROOT)}"
    from gradbook import backprop, conv, data, models, optimizers

    for names in (backprop.ACTIVATIONS, conv.KERNELS, conv.PADDINGS, models.INITIALIZERS, data.DATASETS,
                  optimizers.OPTIMIZERS):
        assert set(names) <= set(static.zh_cn_labels()), names


PAGE_SCRIPT_HARNESS = """
const fs = require("fs");
const items = JSON.parse(process.argv[3]).map(([tag, zh, text]) => ({
  tagName: tag, dataset: { gbZh: zh }, textContent: text, ariaLabel: null,
  setAttribute(name, value) { if (name === "aria-label") { this.ariaLabel = value; } },
}));
global.window = {};
global.document = {
  readyState: "complete",
  documentElement: { lang: process.argv[2] },
  querySelectorAll: (selector) => (selector.includes("data-gb-zh") ? items : []),
  addEventListener() {},
};
eval(fs.readFileSync(process.argv[1], "utf8"));
console.log(JSON.stringify(items.map((el) => [el.textContent, el.ariaLabel])));
"""


@pytest.mark.parametrize("lang, expected", [
    ("zh-CN", [["无", None], ["seed", "随机种子"]]),
    ("zh", [["无", None], ["seed", "随机种子"]]),
    ("en", [["none", None], ["seed", None]]),
    ("", [["none", None], ["seed", None]]),
])
def test_page_script_writes_the_chinese_on_a_chinese_page(lang, expected):
    assert shutil.which("node"), "Node.js is needed to run the page script: install npm (it brings node)."
    items = [["OPTION", "无", "none"], ["INPUT", "随机种子", "seed"]]
    result = subprocess.run(["node", "-e", PAGE_SCRIPT_HARNESS, str(PAGE_SCRIPT), lang, json.dumps(items)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == expected


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
