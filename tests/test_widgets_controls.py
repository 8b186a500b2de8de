"""Tests for gradbook.widgets.controls: the control factories and the static-faces switch."""

from __future__ import annotations

import math

import ipywidgets
import numpy as np
import pytest

from gradbook import widgets
from gradbook.backprop import ACTIVATIONS
from gradbook.widgets import activation_dropdown, choice, depth_slider, int_slider, learning_rate_slider
from gradbook.widgets.controls import accepts, check_control_value, describe_allowed


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


def test_int_slider():
    s = int_slider(0, min=0, max=9, description="seed")
    assert (s.value, s.min, s.max, s.description) == (0, 0, 9, "seed")
    assert s.continuous_update is False
    with pytest.raises(ValueError, match="from 0 to 9"):
        int_slider(10, min=0, max=9)
    with pytest.raises(ValueError, match="max must be a whole number >= 3, got 2"):
        int_slider(0, min=3, max=2)
    with pytest.raises(ValueError, match="min must be a whole number, got 0.5"):
        int_slider(1, min=0.5, max=2)


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


@pytest.mark.parametrize("value", ["2", "on", "static"])
def test_an_unknown_static_faces_value_is_named_with_the_fix(monkeypatch, value):
    monkeypatch.setenv(widgets.STATIC_FACES_VARIABLE, value)
    with pytest.raises(ValueError, match=rf"GRADBOOK_STATIC_FACES={value!r}.*set it to 1"):
        widgets.static_faces_enabled()


# -- which values a control accepts ------------------------------------------------------------
@pytest.mark.parametrize("lo, hi", [(-3, 3), (-5, -1), (0, 4), (2, 9)])
def test_an_int_slider_accepts_its_own_bounds_whatever_their_signs(lo, hi):
    s = int_slider(lo, min=lo, max=hi)
    assert accepts(s, lo) and accepts(s, hi) and accepts(s, s.value)
    assert not accepts(s, lo - 1) and not accepts(s, hi + 1)


@pytest.mark.parametrize("lo, hi", [(-1.0, 0.0), (-3.0, -1.0), (-2.5, 2.5), (0.5, 4.0)])
def test_a_float_slider_accepts_its_bounds_and_rounding_noise_but_not_beyond(lo, hi):
    s = ipywidgets.FloatSlider(value=lo, min=lo, max=hi)
    width = hi - lo
    assert accepts(s, lo) and accepts(s, hi)
    assert accepts(s, lo - 1e-12 * width) and accepts(s, hi + 1e-12 * width)  # a float's round trip
    assert not accepts(s, lo - 1e-3 * width) and not accepts(s, hi + 1e-3 * width)


def test_an_int_slider_takes_whole_numbers_only():
    s = int_slider(2, min=1, max=3)
    assert accepts(s, 2) and accepts(s, np.int64(2)) and accepts(s, np.int32(3))
    for value in (2.5, 2.0, np.float64(2.0), "2", True, None, float("nan")):
        assert not accepts(s, value), value


@pytest.mark.parametrize("make", [lambda: learning_rate_slider(0.1, min=1e-3, max=1.0),
                                  lambda: ipywidgets.FloatSlider(value=0.1, min=0.0, max=1.0)])
def test_float_and_log_sliders_take_real_numbers_only(make):
    s = make()
    assert accepts(s, 0.1) and accepts(s, np.float32(0.5)) and accepts(s, 1) and accepts(s, np.int64(1))
    for value in ("0.1", b"0.1", True, None, [0.1], float("nan"), float("inf")):
        assert not accepts(s, value), value


def test_a_log_slider_accepts_its_bounds_and_refuses_zero_and_negatives():
    s = learning_rate_slider(0.01, min=1e-4, max=1.0)
    assert accepts(s, 1e-4) and accepts(s, 1.0) and accepts(s, 1.0 + 1e-12)
    assert not accepts(s, 0.9e-4) and not accepts(s, 1.01) and not accepts(s, 0.0) and not accepts(s, -0.5)


def test_describe_allowed_words_each_kind_of_control():
    assert describe_allowed(int_slider(3, min=1, max=20)) == "a whole number from 1 to 20"
    assert describe_allowed(depth_slider(4, min=2, max=30)) == "a whole number from 2 to 30"
    assert describe_allowed(learning_rate_slider(0.1, min=1e-3, max=1.0)) == "a number in [0.001, 1]"
    assert describe_allowed(ipywidgets.FloatSlider(value=0.0, min=-1.0, max=0.5)) == "a number in [-1, 0.5]"
    assert describe_allowed(choice(["sgd", "adam"])) == "one of: sgd, adam"


@pytest.mark.parametrize("value", [2.5, "2", True])
def test_check_control_value_names_whole_numbers_for_an_int_slider(value):
    with pytest.raises(ValueError) as info:
        check_control_value("epochs", int_slider(3, min=1, max=20), value)
    assert str(info.value) == f"epochs={value!r} is out of range: epochs must be a whole number from 1 to 20."


def test_an_explorers_update_with_a_float_on_an_int_slider_raises_the_clear_error():
    from gradbook.widgets import Explorer

    seed = int_slider(0, min=0, max=9, description="seed")
    explorer = Explorer(lambda seed: None, {"seed": seed})
    with pytest.raises(ValueError, match=r"^seed=2\.5 is out of range: seed must be a whole number from 0 to 9\.$"):
        explorer.update(seed=2.5)
    assert seed.value == 0  # the control stays unchanged
