"""Argument checks shared by the gradbook modules, with one message for each kind of mistake.

A public function that takes a single number, count or name from a fixed list checks it with
:func:`check_number`, :func:`check_whole` or :func:`check_choice` (in the spirit of
scikit-learn's ``check_scalar``), so the same mistake reads the same everywhere and names the fix.
Checks of a whole structure (an array's shape, a pair of filter counts) stay with the function
that knows the structure, and say what they got; :func:`is_whole`, the test behind
:func:`check_whole`, is public for them (``models.fast_cnn`` checks its pair of filter counts with it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["check_choice", "check_input_shape", "check_number", "check_whole", "is_real", "is_whole"]


def is_whole(value, minimum: int | None = 1, *, numpy: bool = True) -> bool:
    """True for a whole number at least ``minimum``; booleans do not count as numbers.

    Parameters
    ----------
    value : object
    minimum : int or None, default 1
        ``None``: no lower bound.
    numpy : bool, default True
        ``False`` accepts only Python ``int`` (not NumPy integers).

    Returns
    -------
    bool
        Never raises: anything that is not a whole number (a float, a string, None) gives False.

    Examples
    --------
    >>> is_whole(3), is_whole(0), is_whole(0, minimum=0), is_whole(True), is_whole(2.0)
    (True, False, True, False, False)
    """
    types = (int, np.integer) if numpy else int
    return (not isinstance(value, bool) and isinstance(value, types)
            and (minimum is None or bool(value >= minimum)))


def is_real(value) -> bool:
    """True for a real number: a Python or NumPy int or float, not a boolean or a string.

    Parameters
    ----------
    value : object

    Returns
    -------
    bool

    Examples
    --------
    >>> is_real(2), is_real(np.float32(0.5)), is_real(float("nan")), is_real(True), is_real("2")
    (True, True, True, False, False)
    """
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def check_whole(
    value, name: str, *, minimum: int | None = 1, maximum: int | None = None, allow_none: bool = False
) -> int | None:
    """``value`` as a Python ``int`` if it is a whole number in ``[minimum, maximum]``.

    Parameters
    ----------
    value : object
        The argument to check. Booleans and floats such as ``2.0`` are refused.
    name : str
        The argument's name, as the caller wrote it; the message starts with it.
    minimum : int or None, default 1
        ``None``: no lower bound.
    maximum : int, optional
        No upper bound when omitted.
    allow_none : bool, default False
        Accept ``None`` (and return it).

    Returns
    -------
    int or None

    Raises
    ------
    ValueError
        ``"<name> must be a positive whole number, got <value>."`` (or ``a non-negative whole
        number``, ``>= minimum``, ``from minimum to maximum``, ``... or None``).

    Examples
    --------
    >>> check_whole(3, "epochs")
    3
    >>> check_whole(0, "epochs")
    Traceback (most recent call last):
    ...
    ValueError: epochs must be a positive whole number, got 0.
    >>> check_whole(9, "depth", maximum=8)
    Traceback (most recent call last):
    ...
    ValueError: depth must be a whole number from 1 to 8, got 9.
    """
    if value is None and allow_none:
        return None
    if is_whole(value, minimum) and (maximum is None or bool(value <= maximum)):
        return int(value)
    if maximum is not None and minimum is not None:
        wanted = f"a whole number from {minimum} to {maximum}"
    elif maximum is not None:
        wanted = f"a whole number <= {maximum}"
    elif minimum is None:
        wanted = "a whole number"
    elif minimum == 1:
        wanted = "a positive whole number"
    elif minimum == 0:
        wanted = "a non-negative whole number"
    else:
        wanted = f"a whole number >= {minimum}"
    if allow_none:
        wanted += " or None"
    raise ValueError(f"{name} must be {wanted}, got {value!r}.")


def check_number(
    value,
    name: str,
    *,
    minimum: float = 0.0,
    maximum: float | None = None,
    include_minimum: bool = False,
    include_maximum: bool = True,
    allow_none: bool = False,
) -> float | None:
    """``value`` as a Python ``float`` if it is a finite real number in the given interval.

    The default interval is ``(0, inf)``: a positive number, such as a learning rate.

    Parameters
    ----------
    value : object
        The argument to check. Booleans, strings, NaN and infinity are refused.
    name : str
        The argument's name, as the caller wrote it; the message starts with it.
    minimum : float, default 0.0
        Lower bound; pass ``-math.inf`` for none.
    maximum : float, optional
        Upper bound; none when omitted.
    include_minimum, include_maximum : bool
        Whether the bounds themselves are allowed (default: ``(minimum, maximum]``).
    allow_none : bool, default False
        Accept ``None`` (and return it).

    Returns
    -------
    float or None

    Raises
    ------
    ValueError
        ``"<name> must be a positive number, got <value>."`` for the default interval,
        otherwise ``"<name> must be a number in [a, b), got <value>."`` with the interval written out.

    Examples
    --------
    >>> check_number(0.1, "learning_rate")
    0.1
    >>> check_number(float("nan"), "learning_rate")
    Traceback (most recent call last):
    ...
    ValueError: learning_rate must be a positive number, got nan.
    >>> check_number(1.0, "dropout", maximum=1, include_minimum=True, include_maximum=False)
    Traceback (most recent call last):
    ...
    ValueError: dropout must be a number in [0, 1), got 1.0.
    """
    if value is None and allow_none:
        return None
    if is_real(value) and math.isfinite(value):
        above = value >= minimum if include_minimum else value > minimum
        below = maximum is None or (value <= maximum if include_maximum else value < maximum)
        if above and below:
            return float(value)
    if minimum == 0 and maximum is None and not include_minimum:
        wanted = "a positive number"
    elif minimum == -math.inf and maximum is None:
        wanted = "a finite number"
    elif maximum is None:
        wanted = f"a number {'>=' if include_minimum else '>'} {_short(minimum)}"
    elif minimum == -math.inf:
        wanted = f"a number {'<=' if include_maximum else '<'} {_short(maximum)}"
    else:
        wanted = (f"a number in {'[' if include_minimum else '('}{_short(minimum)}, "
                  f"{_short(maximum)}{']' if include_maximum else ')'}")
    if allow_none:
        wanted += " or None"
    raise ValueError(f"{name} must be {wanted}, got {value!r}.")


def check_choice(value, name: str, options: Iterable[Any], *, allow_none: bool = False):
    """``value`` itself if it is one of ``options``.

    Parameters
    ----------
    value : object
    name : str
        What the options are (``"activation"``, ``"optimizer"``); the message names it.
    options : iterable
        The allowed values, listed in the message in this order.
    allow_none : bool, default False
        Accept ``None`` as well (and say so in the message).

    Returns
    -------
    object
        ``value``, unchanged (``None`` when it is None and ``allow_none``).

    Raises
    ------
    ValueError
        ``"Unknown <name> <value>. Choose one of: a, b, c."``

    Examples
    --------
    >>> check_choice("relu", "activation", ("relu", "tanh"))
    'relu'
    >>> check_choice("swish", "activation", ("relu", "tanh"))
    Traceback (most recent call last):
    ...
    ValueError: Unknown activation 'swish'. Choose one of: relu, tanh.
    """
    options = tuple(options)
    if value is None and allow_none:
        return None
    try:
        known = value in options
    except TypeError:  # an unhashable value checked against a set-like container
        known = False
    if known:
        return value
    listed = ", ".join(str(o) for o in options)
    raise ValueError(f"Unknown {name} {value!r}. Choose {'None or ' if allow_none else ''}one of: {listed}.")


def check_input_shape(input_shape) -> tuple[int, ...]:
    """``input_shape`` as a tuple of positive whole numbers, such as ``(28, 28, 1)``.

    Parameters
    ----------
    input_shape : sequence of int
        A network's input shape without the batch axis. Each entry must be a Python ``int``
        (not a NumPy integer, a float or a boolean).

    Returns
    -------
    tuple of int

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


def _short(bound: float) -> str:
    """A bound as the reader would write it: ``1`` rather than ``1.0``."""
    value = float(bound)
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
