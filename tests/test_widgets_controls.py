"""Tests for gradbook.widgets.controls: the control factories and the static-faces switch."""

from __future__ import annotations

import math

import pytest

from gradbook import widgets
from gradbook.backprop import ACTIVATIONS
from gradbook.widgets import activation_dropdown, choice, depth_slider, int_slider, learning_rate_slider


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
