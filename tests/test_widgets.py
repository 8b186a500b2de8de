"""Tests for gradbook.widgets: the controls and both faces of an Explorer."""

from __future__ import annotations

import itertools
import math

import numpy as np
import plotly.graph_objects as go
import pytest

from gradbook import plots, widgets
from gradbook.widgets import ACTIVATIONS, Explorer, activation_dropdown, choice, depth_slider, learning_rate_slider

ACTIVATION_SCALE = {"relu": 1.0, "tanh": 2.0, "sigmoid": 3.0}
BACKGROUND_Y = [0.0, 0.5, 1.0, 0.5, 0.0]


def draw(lr, activation="relu"):
    """A small figure: a constant background and a line that depends on the setting."""
    xs = np.arange(5.0)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=xs, y=BACKGROUND_Y, name="background"))
    fig.add_trace(go.Scatter(x=xs, y=ACTIVATION_SCALE[activation] * lr * xs, name="line"))
    fig.update_layout(title={"text": f"lr={lr:g} activation={activation}"}, xaxis={"range": [0, 4 + lr]})
    return fig


def make_explorer(lr=0.05, activation="tanh", grid=None, draw_fn=draw):
    controls = {
        "lr": learning_rate_slider(lr, min=1e-3, max=1.0),
        "activation": activation_dropdown(activation, options=("relu", "tanh", "sigmoid")),
    }
    return Explorer(draw_fn, controls, grid=grid or {"lr": [0.01, 0.05, 0.2]}, title="Test <explorer>")


def _y(trace):
    return np.asarray(trace.y, dtype=float)


# -- controls ------------------------------------------------------------------------------------
def test_learning_rate_slider_is_log_scale():
    s = learning_rate_slider(0.05, min=1e-3, max=0.5)
    assert s.base == 10
    assert s.min == pytest.approx(math.log10(1e-3))
    assert s.max == pytest.approx(math.log10(0.5))
    assert s.value == 0.05
    assert s.base**s.min == pytest.approx(1e-3) and s.base**s.max == pytest.approx(0.5)
    # About 40 steps over the range, and the initial value exactly on a step (the browser snaps a
    # slider to its steps and sends the snapped value back).
    assert s.step > 0 and s.step == pytest.approx((s.max - s.min) / 40, rel=0.1)
    steps_to_value = (math.log10(s.value) - s.min) / s.step
    assert steps_to_value == pytest.approx(round(steps_to_value), abs=1e-9)
    default = learning_rate_slider()
    assert default.value == 0.01 and default.min == pytest.approx(-4) and default.max == pytest.approx(0)
    assert learning_rate_slider(0.1, continuous_update=False).continuous_update is False
    assert learning_rate_slider(description="eta").description == "eta"


@pytest.mark.parametrize("value, lo, hi", [(1.0, 0.1, 4.0), (0.1, 1e-3, 1.0), (0.013, 1e-4, 1.0), (1e-4, 1e-4, 1.0), (0.99, 1e-4, 1.0)])
def test_learning_rate_slider_puts_its_initial_value_on_a_step(value, lo, hi):
    s = learning_rate_slider(value, min=lo, max=hi)
    k = (math.log10(value) - s.min) / s.step
    assert k == pytest.approx(round(k), abs=1e-9)
    assert (s.max - s.min) / s.step >= 26  # at least about 40 steps, never fewer than 2/3 of them


@pytest.mark.parametrize("value", [1e-4, 1.0, 3e-4, 0.7])
def test_learning_rate_slider_keeps_values_at_and_inside_bounds(value):
    s = learning_rate_slider(value, min=1e-4, max=1.0)
    assert s.value == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"value": 0.1, "min": 0.0, "max": 1.0},
        {"value": 0.1, "min": -1.0, "max": 1.0},
        {"value": 0.1, "min": 0.5, "max": 0.5},
        {"value": 0.1, "min": 1.0, "max": 0.01},
        {"value": 2.0, "min": 1e-3, "max": 1.0},
        {"value": 1e-4, "min": 1e-3, "max": 1.0},
    ],
)
def test_learning_rate_slider_rejects_bad_bounds_or_value(kwargs):
    value = kwargs.pop("value")
    with pytest.raises(ValueError):
        learning_rate_slider(value, **kwargs)


def test_depth_slider():
    s = depth_slider(6, min=2, max=20)
    assert (s.value, s.min, s.max) == (6, 2, 20)
    assert s.continuous_update is False
    assert depth_slider().value == 4
    assert depth_slider(3, min=3, max=3).value == 3
    for kwargs in ({"value": 1, "min": 0, "max": 5}, {"value": 4, "min": 5, "max": 4}, {"value": 9, "min": 1, "max": 8}, {"value": 0}):
        with pytest.raises(ValueError):
            depth_slider(**kwargs)


def test_activation_dropdown():
    d = activation_dropdown("tanh")
    assert d.value == "tanh"
    assert tuple(d.options) == ACTIVATIONS
    custom = activation_dropdown("elu", options=("elu", "gelu"))
    assert tuple(custom.options) == ("elu", "gelu")
    with pytest.raises(ValueError) as info:
        activation_dropdown("swish")
    assert "swish" in str(info.value)
    for name in ACTIVATIONS:
        assert name in str(info.value)
    with pytest.raises(ValueError, match="elu, gelu"):
        activation_dropdown("relu", options=("elu", "gelu"))


def test_choice():
    c = choice([16, 64, 256], description="batch size")
    assert c.value == 16  # the first option by default
    assert list(c.options) == [16, 64, 256]
    assert c.description == "batch size"
    assert choice(["sgd", "adam"], "adam").value == "adam"
    with pytest.raises(ValueError):
        choice([])
    with pytest.raises(ValueError) as info:
        choice([16, 64], 32)
    assert "32" in str(info.value) and "16, 64" in str(info.value)


def test_choice_in_an_explorer_uses_all_options_and_rejects_others():
    def draw_batch(lr, batch):
        return draw(lr * batch / 64)

    ex = Explorer(draw_batch, {"lr": learning_rate_slider(0.1), "batch": choice([16, 64])}, grid={"lr": [0.1, 0.2]})
    assert ex.settings() == [
        {"lr": 0.1, "batch": 16}, {"lr": 0.1, "batch": 64}, {"lr": 0.2, "batch": 16}, {"lr": 0.2, "batch": 64},
    ]
    with pytest.raises(ValueError, match="one of: 16, 64"):
        ex.figure(batch=32)


# -- Explorer: settings and validation ----------------------------------------------------------
def test_settings_are_the_cartesian_product_of_the_grid():
    ex = make_explorer()
    # The dropdown is not in the grid: all its options are used.
    expected = [
        {"lr": lr, "activation": act}
        for lr, act in itertools.product([0.01, 0.05, 0.2], ["relu", "tanh", "sigmoid"])
    ]
    assert ex.settings() == expected
    only_lr = make_explorer(grid={"lr": [0.1, 0.3], "activation": ["relu"]})
    assert only_lr.settings() == [{"lr": 0.1, "activation": "relu"}, {"lr": 0.3, "activation": "relu"}]


def test_slider_left_out_of_grid_stays_at_its_value():
    ex = Explorer(draw, {"lr": learning_rate_slider(0.02)})
    assert ex.settings() == [{"lr": 0.02}]


def test_grid_validation():
    with pytest.raises(ValueError, match="momentum"):
        make_explorer(grid={"lr": [0.1], "momentum": [0.9]})
    with pytest.raises(ValueError) as info:
        make_explorer(grid={"lr": [0.01, 5.0]})
    assert "lr" in str(info.value) and "5.0" in str(info.value)
    with pytest.raises(ValueError, match="activation"):
        make_explorer(grid={"lr": [0.1], "activation": ["relu", "swish"]})
    with pytest.raises(ValueError, match="lr"):
        make_explorer(grid={"lr": [float("nan")]})
    with pytest.raises(ValueError):
        Explorer(draw, {})


def test_figure_draws_the_requested_setting():
    ex = make_explorer(lr=0.05, activation="tanh")
    fig = ex.figure(lr=0.2)
    assert fig.layout.title.text == "lr=0.2 activation=tanh"  # missing keys: current values
    np.testing.assert_allclose(_y(fig.data[1]), 2.0 * 0.2 * np.arange(5))
    assert ex.figure().layout.title.text == "lr=0.05 activation=tanh"
    assert ex.setting == {"lr": 0.05, "activation": "tanh"}


def test_figure_rejects_out_of_range_and_unknown():
    ex = make_explorer()
    with pytest.raises(ValueError) as info:
        ex.figure(lr=3.0)
    message = str(info.value)
    assert "lr" in message and "out of range" in message
    assert "0.001" in message and "[0.001, 1]" in message  # the range
    with pytest.raises(ValueError, match="one of: relu, tanh, sigmoid"):
        ex.figure(activation="gelu")
    with pytest.raises(ValueError, match="unknown"):
        ex.figure(unknown=1)


# -- Explorer: static face -----------------------------------------------------------------------
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
            np.testing.assert_array_equal(_y(got), _y(want))
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
    backgrounds = [t for t in combined.data if list(_y(t)) == BACKGROUND_Y]
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
    np.testing.assert_allclose(_y(visible_lines[0]), 3.0 * 0.2 * np.arange(5))
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
    assert "Plotly.update" in html_text  # and the controls drive it
    assert ex.static_html() is html_text  # computed once


class CountingDraw:
    """``draw`` that counts the settings it is asked for."""

    def __init__(self):
        self.calls = []

    def __call__(self, lr, activation="relu"):
        self.calls.append((lr, activation))
        return draw(lr, activation)


def test_repr_mimebundle_has_both_faces_when_building_the_book(capsys, monkeypatch):
    monkeypatch.setenv(widgets.STATIC_FACES_VARIABLE, "1")
    ex = make_explorer()
    bundle = ex._repr_mimebundle_()
    assert {"application/vnd.jupyter.widget-view+json", "text/html", "text/plain"} <= set(bundle)
    assert bundle["text/html"] == ex.static_html()
    assert bundle["text/plain"] == repr(ex)
    assert "9 precomputed settings" in repr(ex)
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == ex.widget().model_id


@pytest.mark.parametrize("value", [None, "", "0", "false", "No"])
def test_a_learner_gets_the_live_face_without_precomputing(capsys, monkeypatch, value):
    if value is None:
        monkeypatch.delenv(widgets.STATIC_FACES_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(widgets.STATIC_FACES_VARIABLE, value)
    counting = CountingDraw()
    ex = make_explorer(draw_fn=counting)
    bundle = ex._repr_mimebundle_()
    # Only the current setting is drawn (the live figure); none of the 9 grid settings are.
    assert counting.calls == [(0.05, "tanh")]
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == ex.widget().model_id
    assert "Plotly.newPlot" not in bundle["text/html"]
    assert "JupyterLab" in bundle["text/html"]
    # The static face is one call away, and then computed for every grid setting.
    html_text = ex.static_html()
    assert "Plotly.newPlot" in html_text and "9 settings" in html_text
    assert len(counting.calls) == 1 + 9


def test_the_book_build_precomputes_each_grid_setting_once(capsys, monkeypatch):
    monkeypatch.setenv(widgets.STATIC_FACES_VARIABLE, "yes")
    counting = CountingDraw()
    ex = make_explorer(draw_fn=counting)
    ex._repr_mimebundle_()
    # The live figure of the current setting, and the nine grid settings, each once.
    grid = [(lr, act) for lr in (0.01, 0.05, 0.2) for act in ("relu", "tanh", "sigmoid")]
    assert sorted(counting.calls) == sorted(grid + [(0.05, "tanh")])


@pytest.mark.parametrize("value", ["2", "on", "static"])
def test_an_unknown_static_faces_value_is_named_with_the_fix(monkeypatch, value):
    monkeypatch.setenv(widgets.STATIC_FACES_VARIABLE, value)
    with pytest.raises(ValueError, match=rf"GRADBOOK_STATIC_FACES={value!r}.*set it to 1"):
        widgets.static_faces_enabled()


# -- Explorer: live face -------------------------------------------------------------------------
def test_update_changes_control_and_times_the_redraw(capsys):
    ex = make_explorer()
    assert ex.last_update_seconds is None
    seconds = ex.update(lr=0.3)
    assert ex.controls["lr"].value == pytest.approx(0.3)
    assert seconds >= 0
    assert ex.last_update_seconds == seconds
    assert "updated in" in ex._status.value
    seconds = ex.update(activation="relu", lr=0.02)
    assert ex.setting == {"lr": pytest.approx(0.02), "activation": "relu"}
    assert ex.last_update_seconds == seconds


def test_update_rejects_out_of_range_and_keeps_controls(capsys):
    ex = make_explorer()
    ex.widget()
    before = dict(ex.setting)
    with pytest.raises(ValueError, match="lr"):
        ex.update(lr=50.0)
    with pytest.raises(ValueError, match="lr"):
        ex.update(activation="relu", lr=50.0)  # nothing changes, not even the valid part
    with pytest.raises(ValueError, match="nope"):
        ex.update(nope=1)
    assert ex.setting == before


def test_moving_a_control_redraws(capsys):
    ex = make_explorer()
    ex.widget()
    ex.last_update_seconds = None
    ex.controls["activation"].value = "relu"
    assert ex.last_update_seconds is not None and ex.last_update_seconds >= 0


def test_draw_errors_are_shown_in_the_status_line(capsys):
    def fussy_draw(lr, activation="relu"):
        if lr > 0.5:
            raise ValueError("this learning rate <diverges>")
        return draw(lr, activation)

    ex = make_explorer(draw_fn=fussy_draw)
    ex.widget()
    assert "updated in" in ex._status.value
    seconds = ex.update(lr=0.8)  # does not raise
    assert seconds >= 0
    assert "Cannot draw this setting" in ex._status.value
    assert "this learning rate &lt;diverges&gt;" in ex._status.value
    ex.update(lr=0.1)
    assert "Cannot draw" not in ex._status.value


def test_widget_is_built_once_and_holds_the_controls():
    ex = make_explorer()
    w = ex.widget()
    assert ex.widget() is w
    # Title, live note, controls row, status, output.
    controls_row = w.children[2]
    assert list(controls_row.children) == list(ex.controls.values())


def test_plotly_bundle_does_not_embed_plotlyjs():
    fig = draw(0.1)
    bundle = plots.plotly_bundle(fig)
    assert set(bundle) == {"application/vnd.plotly.v1+json", "text/plain"}
    payload = bundle["application/vnd.plotly.v1+json"]
    assert len(payload["data"]) == 2
    assert payload["config"]["displaylogo"] is False
    assert "lr=0.1" in bundle["text/plain"]


def test_int_slider():
    from gradbook.widgets import int_slider

    s = int_slider(0, min=0, max=9, description="seed")
    assert (s.value, s.min, s.max, s.description) == (0, 0, 9, "seed")
    assert s.continuous_update is False
    with pytest.raises(ValueError, match="outside"):
        int_slider(10, min=0, max=9)
    with pytest.raises(ValueError, match="min <= max"):
        int_slider(0, min=3, max=2)


def test_retrains_marks_explorations_that_train():
    assert make_explorer().retrains is False
    ex = Explorer(draw, {"lr": learning_rate_slider(0.05, min=1e-3, max=1.0)}, retrains=True)
    assert ex.retrains is True
