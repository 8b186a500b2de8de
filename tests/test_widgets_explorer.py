"""Tests for gradbook.widgets.explorer: an Explorer's settings, its live face and its display bundle."""

from __future__ import annotations

import itertools
import re
import types

import numpy as np
import pytest

from gradbook import plots, widgets
from gradbook.widgets import explorer as explorer_module
from gradbook.widgets import Explorer, choice, learning_rate_slider
from widgets_examples import CountingDraw, draw, make_explorer, y_of


def test_choice_in_an_explorer_uses_all_options_and_rejects_others():
    def draw_batch(lr, batch):
        return draw(lr * batch / 64)

    ex = Explorer(draw_batch, {"lr": learning_rate_slider(0.1), "batch": choice([16, 64])}, grid={"lr": [0.1, 0.2]})
    assert ex.settings() == [
        {"lr": 0.1, "batch": 16}, {"lr": 0.1, "batch": 64}, {"lr": 0.2, "batch": 16}, {"lr": 0.2, "batch": 64},
    ]
    with pytest.raises(ValueError, match="one of: 16, 64"):
        ex.figure(batch=32)


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
    np.testing.assert_allclose(y_of(fig.data[1]), 2.0 * 0.2 * np.arange(5))
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


def test_retrains_marks_explorations_that_train():
    assert make_explorer().retrains is False
    ex = Explorer(draw, {"lr": learning_rate_slider(0.05, min=1e-3, max=1.0)}, retrains=True)
    assert ex.retrains is True


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


@pytest.fixture
def quarter_second_clock(monkeypatch):
    """The explorer's clock advances 0.25 s each time it is read: every redraw takes 0.25 s."""
    ticks = itertools.count(step=0.25)
    monkeypatch.setattr(explorer_module, "time", types.SimpleNamespace(perf_counter=lambda: next(ticks)))


def test_update_changes_control_and_times_the_redraw(capsys, quarter_second_clock):
    ex = make_explorer()
    assert ex.last_update_seconds is None
    seconds = ex.update(lr=0.3)
    assert ex.controls["lr"].value == pytest.approx(0.3)
    assert seconds == 0.25
    assert ex.last_update_seconds == seconds
    assert "updated in 0.25 s" in ex.status.value
    seconds = ex.update(activation="relu", lr=0.02)
    assert ex.setting == {"lr": pytest.approx(0.02), "activation": "relu"}
    assert seconds == 0.25 and ex.last_update_seconds == seconds


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


def test_moving_a_control_redraws(capsys, quarter_second_clock):
    ex = make_explorer()
    ex.widget()
    ex.last_update_seconds = None
    ex.controls["activation"].value = "relu"
    assert ex.last_update_seconds == 0.25


def test_draw_errors_are_shown_in_the_status_line(capsys, quarter_second_clock):
    def fussy_draw(lr, activation="relu"):
        if lr > 0.5:
            raise ValueError("this learning rate <diverges>")
        return draw(lr, activation)

    ex = make_explorer(draw_fn=fussy_draw)
    ex.widget()
    assert "updated in" in ex.status.value
    seconds = ex.update(lr=0.8)  # does not raise, and still says how long it took
    assert seconds == 0.25 and ex.last_update_seconds == 0.25
    assert "Cannot draw this setting" in ex.status.value
    assert "this learning rate &lt;diverges&gt;" in ex.status.value
    ex.update(lr=0.1)
    assert "Cannot draw" not in ex.status.value


def test_widget_is_built_once_and_holds_the_controls():
    ex = make_explorer()
    w = ex.widget()
    assert ex.widget() is w
    # Title, live note, controls row, status, output.
    controls_row = w.children[2]
    assert list(controls_row.children) == list(ex.controls.values())


def _figure_id(ex):
    return re.search(r"id=\"(gb-[0-9a-f]+)\"", ex.static_html()).group(1)


def test_static_figure_id_is_stable_and_differs_between_explorations_sharing_a_title_and_grid():
    def other_draw(lr, activation="relu"):
        return draw(lr * 2, activation)

    first, again, other = make_explorer(), make_explorer(), make_explorer(draw_fn=other_draw)
    assert _figure_id(first) == _figure_id(again)  # a rebuild writes the same page
    assert _figure_id(first) != _figure_id(other)  # two such explorations on one page keep their own figure
