"""Tests for gradbook.validation: the argument checks every module shares."""

from __future__ import annotations

import numpy as np
import pytest

from gradbook.validation import check_choice, check_input_shape, check_number, check_whole, is_real, is_whole


@pytest.mark.parametrize("value,expected", [(1, True), (7, True), (np.int64(3), True), (0, False), (-2, False),
                                            (True, False), (2.0, False), ("3", False), (None, False)])
def test_is_whole(value, expected):
    assert is_whole(value) is expected


@pytest.mark.parametrize("value,expected", [(1, True), (-2.5, True), (np.float32(0.5), True), (np.int8(3), True),
                                            (float("inf"), True), (True, False), (np.bool_(True), False),
                                            ("3", False), (None, False), ([1.0], False)])
def test_is_real(value, expected):
    assert is_real(value) is expected


def test_is_whole_minimum_and_python_ints_only():
    assert is_whole(0, minimum=0) and not is_whole(-1, minimum=0)
    assert not is_whole(np.int64(3), numpy=False) and is_whole(3, numpy=False)


@pytest.mark.parametrize("shape", [(28, 28, 1), [8, 8, 1], (784,)])
def test_check_input_shape_returns_a_tuple(shape):
    assert check_input_shape(shape) == tuple(shape)


@pytest.mark.parametrize("shape", [(), (28, 0, 1), (28.0, 28, 1), 28, None, (True, 2)])
def test_check_input_shape_names_the_problem(shape):
    with pytest.raises(ValueError, match="input_shape must be a sequence of positive whole numbers"):
        check_input_shape(shape)


@pytest.mark.parametrize("value", [1, 5, np.int32(2)])
def test_check_whole_returns_a_python_int(value):
    out = check_whole(value, "epochs")
    assert out == value and type(out) is int


@pytest.mark.parametrize("kwargs,value,message", [
    ({}, 0, "epochs must be a positive whole number, got 0."),
    ({}, 2.0, "epochs must be a positive whole number, got 2.0."),
    ({}, True, "epochs must be a positive whole number, got True."),
    ({"minimum": 0}, -1, "epochs must be a non-negative whole number, got -1."),
    ({"minimum": 2}, 1, "epochs must be a whole number >= 2, got 1."),
    ({"minimum": None}, 1.5, "epochs must be a whole number, got 1.5."),
    ({"minimum": None, "maximum": 3}, 4, "epochs must be a whole number <= 3, got 4."),
    ({"maximum": 8}, 9, "epochs must be a whole number from 1 to 8, got 9."),
    ({"allow_none": True}, "3", "epochs must be a positive whole number or None, got '3'."),
])
def test_check_whole_names_the_argument_and_the_range(kwargs, value, message):
    with pytest.raises(ValueError) as info:
        check_whole(value, "epochs", **kwargs)
    assert str(info.value) == message


def test_check_whole_without_a_lower_bound_accepts_negative_numbers():
    assert check_whole(-7, "offset", minimum=None) == -7


def test_check_whole_and_check_number_accept_none_only_when_asked():
    assert check_whole(None, "n", allow_none=True) is None
    assert check_number(None, "x", allow_none=True) is None
    with pytest.raises(ValueError):
        check_whole(None, "n")
    with pytest.raises(ValueError):
        check_number(None, "x")


@pytest.mark.parametrize("value", [0.1, 3, np.float32(0.5)])
def test_check_number_returns_a_python_float(value):
    out = check_number(value, "learning_rate")
    assert out == pytest.approx(float(value)) and type(out) is float


@pytest.mark.parametrize("kwargs,value,message", [
    ({}, 0, "learning_rate must be a positive number, got 0."),
    ({}, float("inf"), "learning_rate must be a positive number, got inf."),
    ({}, "0.1", "learning_rate must be a positive number, got '0.1'."),
    ({}, True, "learning_rate must be a positive number, got True."),
    ({"include_minimum": True, "maximum": 1, "include_maximum": False}, 1.0,
     "learning_rate must be a number in [0, 1), got 1.0."),
    ({"include_minimum": True}, -0.5, "learning_rate must be a number >= 0, got -0.5."),
    ({"minimum": -np.inf, "maximum": 10}, 11, "learning_rate must be a number <= 10, got 11."),
    ({"minimum": 0.5, "maximum": 2.5}, 3, "learning_rate must be a number in (0.5, 2.5], got 3."),
    ({"minimum": -np.inf}, np.nan, "learning_rate must be a finite number, got nan."),
    ({"maximum": 1e100}, 1e101, "learning_rate must be a number in (0, 1e+100], got 1e+101."),
])
def test_check_number_names_the_argument_and_the_interval(kwargs, value, message):
    with pytest.raises(ValueError) as info:
        check_number(value, "learning_rate", **kwargs)
    assert str(info.value) == message


def test_check_number_bounds_are_inclusive_only_when_asked():
    assert check_number(0, "rate", include_minimum=True) == 0.0
    assert check_number(1, "rate", maximum=1) == 1.0
    with pytest.raises(ValueError):
        check_number(1, "rate", maximum=1, include_maximum=False)


def test_check_choice_returns_the_value_or_lists_the_options():
    assert check_choice("adam", "optimizer", ("sgd", "adam")) == "adam"
    with pytest.raises(ValueError) as info:
        check_choice("adamw", "optimizer", ("sgd", "adam"))
    assert str(info.value) == "Unknown optimizer 'adamw'. Choose one of: sgd, adam."
    assert check_choice(None, "schedule", ("cosine",), allow_none=True) is None
    with pytest.raises(ValueError, match="Choose None or one of: cosine"):
        check_choice("step", "schedule", ("cosine",), allow_none=True)
    with pytest.raises(ValueError, match="Unknown optimizer"):
        check_choice(["sgd"], "optimizer", {"sgd": 1})
