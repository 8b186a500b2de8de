"""Argument checks shared by the gradbook modules, with one message for each kind of mistake."""

from __future__ import annotations

import numpy as np

__all__ = ["check_input_shape", "is_whole"]


def is_whole(value, minimum: int = 1, *, numpy: bool = True) -> bool:
    """True for a whole number at least ``minimum``; booleans do not count as numbers.

    Parameters
    ----------
    value : object
    minimum : int, default 1
    numpy : bool, default True
        ``False`` accepts only Python ``int`` (not NumPy integers).

    Examples
    --------
    >>> is_whole(3), is_whole(0), is_whole(0, minimum=0), is_whole(True), is_whole(2.0)
    (True, False, True, False, False)
    """
    types = (int, np.integer) if numpy else int
    return not isinstance(value, bool) and isinstance(value, types) and bool(value >= minimum)


def check_input_shape(input_shape) -> tuple[int, ...]:
    """``input_shape`` as a tuple of positive whole numbers, such as ``(28, 28, 1)``.

    Raises
    ------
    ValueError
        If ``input_shape`` is not a non-empty sequence of positive whole numbers.

    Examples
    --------
    >>> check_input_shape([28, 28, 1])
    (28, 28, 1)
    """
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise ValueError(f"input_shape must be a sequence of positive whole numbers, got {input_shape!r}.") from None
    if not shape or any(not is_whole(d, numpy=False) for d in shape):
        raise ValueError(f"input_shape must be a sequence of positive whole numbers, got {input_shape!r}.")
    return shape
