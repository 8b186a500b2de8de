"""Tests for gradbook.validation: the argument checks every module shares."""

from __future__ import annotations

import numpy as np
import pytest

from gradbook.validation import check_input_shape, is_whole


@pytest.mark.parametrize("value,expected", [(1, True), (7, True), (np.int64(3), True), (0, False), (-2, False),
                                            (True, False), (2.0, False), ("3", False), (None, False)])
def test_is_whole(value, expected):
    assert is_whole(value) is expected


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
