"""The controls of the book's explorations (ipywidgets), and which values each one accepts.

The factories (:func:`learning_rate_slider`, :func:`depth_slider`, :func:`int_slider`,
:func:`activation_dropdown`, :func:`choice`) give every exploration the same look. The
allowed-value functions (:func:`accepts`, :func:`describe_allowed`, :func:`check_control_value`,
:func:`option_values`, :func:`value_label`) are what :class:`~gradbook.widgets.Explorer` and
:class:`~gradbook.widgets.TrainingPanel` use to check a setting and to label it on the static face.

Examples
--------
>>> slider = learning_rate_slider(0.05, min=1e-3, max=1.0)
>>> accepts(slider, 0.2), accepts(slider, 3.0)
(True, False)
>>> describe_allowed(slider)
'a number in [0.001, 1]'
>>> check_control_value("learning_rate", slider, 3.0)
Traceback (most recent call last):
...
ValueError: learning_rate=3.0 is out of range: learning_rate must be a number in [0.001, 1].
"""

from __future__ import annotations

import builtins
import math
import os
from typing import Any, Sequence

import numpy as np

from gradbook import backprop
from gradbook.validation import check_choice, check_number, check_whole, is_real, is_whole

__all__ = [
    "STATIC_FACES_VARIABLE",
    "accepts",
    "activation_dropdown",
    "check_control_value",
    "choice",
    "depth_slider",
    "describe_allowed",
    "int_slider",
    "learning_rate_slider",
    "option_values",
    "static_faces_enabled",
    "value_label",
]

#: The environment variable that turns on precomputing the static face when a cell is displayed.
STATIC_FACES_VARIABLE = "GRADBOOK_STATIC_FACES"


def static_faces_enabled() -> bool:
    """True when displayed explorations should precompute their static face (book builds).

    Reads ``GRADBOOK_STATIC_FACES``: ``1``, ``true`` or ``yes`` turn it on; unset, empty, ``0``,
    ``false`` or ``no`` leave it off (a learner in JupyterLab gets the live controls at once).

    Returns
    -------
    bool

    Raises
    ------
    ValueError
        For any other value, naming the ones accepted.
    """
    raw = os.environ.get(STATIC_FACES_VARIABLE, "").strip().lower()
    if raw in ("1", "true", "yes"):
        return True
    if raw in ("", "0", "false", "no"):
        return False
    raise ValueError(
        f"{STATIC_FACES_VARIABLE}={raw!r} is not understood; set it to 1 to precompute the static "
        "faces (as `make book` does) or 0 (or leave it unset) for live controls only."
    )


# -- factories ---------------------------------------------------------------------------------
def learning_rate_slider(
    value: float = 0.01,
    *,
    min: float = 1e-4,  # noqa: A002 - the ipywidgets name
    max: float = 1.0,  # noqa: A002
    description: str = "learning rate",
    continuous_update: bool = True,
):
    """A learning-rate slider on a log scale (``ipywidgets.FloatLogSlider``).

    Parameters
    ----------
    value, min, max : float
        Positive numbers with ``min < max`` and ``min <= value <= max``.
    description : str
        The label shown next to the slider (and above the static face's control).
    continuous_update : bool
        ``False`` for explorations that retrain, so they run once the slider is released.

    Returns
    -------
    ipywidgets.FloatLogSlider

    Raises
    ------
    ValueError
        If the bounds are not positive numbers with ``min < max``, or ``value`` lies outside them.

    Examples
    --------
    >>> s = learning_rate_slider(0.1, min=1e-3, max=1.0)
    >>> s.value, round(s.base ** s.min, 6), round(s.base ** s.max, 6)
    (0.1, 0.001, 1.0)
    """
    import ipywidgets as w

    min = check_number(min, "min")  # noqa: A001
    max = check_number(max, "max", minimum=min)  # noqa: A001
    value = check_number(value, "value", minimum=min, maximum=max, include_minimum=True)
    lo, hi, v = float(np.log10(min)), float(np.log10(max)), float(np.log10(value))
    # About 40 steps over the range, sized so that the initial value lies exactly on a step: the
    # browser snaps a slider to its steps and sends the snapped value back, which would otherwise
    # move the setting (1.0 became 1.003) before the reader touched anything.
    step = (hi - lo) / 40
    if v > lo:
        step = (v - lo) / builtins.max(1, round((v - lo) / step))  # the parameter shadows max()
    return w.FloatLogSlider(
        value=value,
        base=10,
        min=lo,
        max=hi,
        step=step,
        description=description,
        readout_format=".3g",
        continuous_update=continuous_update,
        style={"description_width": "initial"},
    )


def depth_slider(
    value: int = 4,
    *,
    min: int = 1,  # noqa: A002
    max: int = 50,  # noqa: A002
    description: str = "depth",
    continuous_update: bool = False,
):
    """A slider for the number of layers (``ipywidgets.IntSlider``).

    Parameters
    ----------
    value, min, max : int
        Whole numbers with ``1 <= min <= value <= max``.
    description : str
    continuous_update : bool
        ``False`` (the default) redraws once the slider is released: each depth is a new network.

    Returns
    -------
    ipywidgets.IntSlider

    Raises
    ------
    ValueError
        If ``min < 1``, ``max < min`` or ``value`` lies outside ``[min, max]``.

    Examples
    --------
    >>> s = depth_slider(6, min=2, max=20)
    >>> s.value, s.min, s.max
    (6, 2, 20)
    """
    min = check_whole(min, "min")  # noqa: A001
    max = check_whole(max, "max", minimum=min)  # noqa: A001
    return int_slider(value, min=min, max=max, description=description, continuous_update=continuous_update)


def int_slider(
    value: int,
    *,
    min: int,  # noqa: A002
    max: int,  # noqa: A002
    description: str = "",
    continuous_update: bool = False,
):
    """A slider over whole numbers (an image index, a seed, a kernel size, a stride...).

    Parameters
    ----------
    value, min, max : int
        Whole numbers with ``min <= value <= max``.
    description : str
    continuous_update : bool

    Returns
    -------
    ipywidgets.IntSlider

    Raises
    ------
    ValueError
        If ``min`` or ``max`` is not a whole number, ``max < min``, or ``value`` is not a whole
        number in ``[min, max]``.

    Examples
    --------
    >>> int_slider(0, min=0, max=9, description="seed").value
    0
    >>> int_slider(10, min=0, max=9)
    Traceback (most recent call last):
    ...
    ValueError: value must be a whole number from 0 to 9, got 10.
    """
    import ipywidgets as w

    min = check_whole(min, "min", minimum=None)
    max = check_whole(max, "max", minimum=min)
    value = check_whole(value, "value", minimum=min, maximum=max)
    return w.IntSlider(
        value=value,
        min=min,
        max=max,
        description=description,
        continuous_update=continuous_update,
        style={"description_width": "initial"},
    )


def activation_dropdown(value: str = "relu", *, options: Sequence[str] = backprop.ACTIVATIONS, description: str = "activation"):
    """A dropdown of activation functions (``ipywidgets.Dropdown``).

    Parameters
    ----------
    value : str
        The activation shown first; one of ``options``.
    options : sequence of str, default :data:`gradbook.backprop.ACTIVATIONS`
    description : str

    Returns
    -------
    ipywidgets.Dropdown

    Raises
    ------
    ValueError
        If ``value`` is not one of ``options``.

    Examples
    --------
    >>> activation_dropdown("tanh").value
    'tanh'
    >>> activation_dropdown("swish", options=("relu", "tanh"))
    Traceback (most recent call last):
    ...
    ValueError: Unknown activation 'swish'. Choose one of: relu, tanh.
    """
    import ipywidgets as w

    check_choice(value, "activation", options)
    return w.Dropdown(value=value, options=list(options), description=description)


def choice(options: Sequence[Any], value: Any = None, *, description: str = ""):
    """A dropdown over ``options`` (``ipywidgets.Dropdown``); ``value`` defaults to the first.

    Parameters
    ----------
    options : sequence
        The values offered, in order (at least one).
    value : object, optional
        The value shown first; the first option when omitted.
    description : str

    Returns
    -------
    ipywidgets.Dropdown

    Raises
    ------
    ValueError
        If ``options`` is empty or ``value`` is not one of them.

    Examples
    --------
    >>> choice([16, 64, 256], description="batch size").value
    16
    >>> choice([16, 64], 32)
    Traceback (most recent call last):
    ...
    ValueError: Unknown option 32. Choose one of: 16, 64.
    """
    import ipywidgets as w

    options = list(options)
    if not options:
        raise ValueError("A choice needs at least one option.")
    if value is None:
        value = options[0]
    check_choice(value, "option", options)
    return w.Dropdown(options=options, value=value, description=description, style={"description_width": "initial"})


# -- the values a control accepts --------------------------------------------------------------
#: How far (a fraction of a slider's range; of its exponents' range for a log slider) a value may
#: lie outside the range and still count as in it: a float's round trip through the browser.
_RANGE_TOLERANCE = 1e-9


def _is_log(control) -> bool:
    return hasattr(control, "base")


def _is_whole_slider(control) -> bool:
    """True for a slider over whole numbers (``IntSlider``: its bounds are ints, a FloatSlider's floats)."""
    return not _is_log(control) and is_whole(getattr(control, "min", None), minimum=None)


def option_values(control) -> list[Any] | None:
    """The values a drop-down offers, in order; ``None`` for a control without options (a slider).

    Options given as ``(label, value)`` pairs contribute their value.

    Parameters
    ----------
    control : ipywidgets.ValueWidget
        A drop-down (anything with ``options``) or a slider.

    Returns
    -------
    list or None
        The values, in the drop-down's order; ``None`` when ``control`` has no ``options``.

    Examples
    --------
    >>> option_values(choice([16, 64])), option_values(depth_slider(3))
    ([16, 64], None)
    """
    if not hasattr(control, "options"):
        return None
    return [o[1] if isinstance(o, tuple) else o for o in control.options]


def describe_allowed(control) -> str:
    """The values ``control`` accepts, in words (for error messages).

    Parameters
    ----------
    control : ipywidgets.ValueWidget
        A drop-down, an integer slider, a float slider or a log slider.

    Returns
    -------
    str
        ``"one of: a, b"`` for a drop-down (its labels), ``"a whole number from A to B"`` for an
        integer slider, ``"a number in [A, B]"`` for a float or log slider (three significant
        digits), ``"any value"`` for a control without a range or options.

    Examples
    --------
    >>> describe_allowed(choice(["sgd", "adam"])), describe_allowed(int_slider(2, min=1, max=3))
    ('one of: sgd, adam', 'a whole number from 1 to 3')
    >>> describe_allowed(learning_rate_slider(0.1, min=1e-3, max=1.0))
    'a number in [0.001, 1]'
    """
    if hasattr(control, "options"):
        labels = [str(o[0] if isinstance(o, tuple) else o) for o in control.options]
        return "one of: " + ", ".join(labels)
    if _is_log(control):
        return f"a number in [{control.base ** control.min:.3g}, {control.base ** control.max:.3g}]"
    if _is_whole_slider(control):
        return f"a whole number from {control.min} to {control.max}"
    if hasattr(control, "min"):
        return f"a number in [{control.min:.3g}, {control.max:.3g}]"
    return "any value"


def accepts(control, value: Any) -> bool:
    """True when ``control`` can take ``value``: one of a drop-down's values, or a number within a
    slider's range.

    An integer slider takes whole numbers only (Python or NumPy ints; not ``2.5``, ``2.0``,
    ``"2"`` or ``True``), from ``min`` to ``max``. A float slider takes finite real numbers
    (not strings or booleans) in ``[min, max]``, and a log slider positive ones in
    ``[base**min, base**max]``; both allow a float's rounding error at the bounds (a billionth of
    the range, measured in exponents for a log slider), whatever the bounds' signs.

    Parameters
    ----------
    control : ipywidgets.ValueWidget
        A drop-down, an integer slider, a float slider or a log slider; any other control
        accepts every value.
    value : object
        The candidate setting.

    Returns
    -------
    bool

    Examples
    --------
    >>> s = int_slider(2, min=1, max=3)
    >>> accepts(s, 3), accepts(s, 4), accepts(s, 2.5), accepts(s, "2"), accepts(s, float("nan"))
    (True, False, False, False, False)
    >>> accepts(int_slider(-3, min=-3, max=3), -3)
    True
    """
    values = option_values(control)
    if values is not None:
        return value in values
    if not hasattr(control, "min"):
        return True
    if _is_whole_slider(control):
        return is_whole(value, minimum=None) and control.min <= value <= control.max
    if not is_real(value) or not np.isfinite(float(value)):
        return False
    v, lo, hi = float(value), float(control.min), float(control.max)
    if _is_log(control):
        if v <= 0:
            return False
        v = math.log(v, control.base)  # compare exponents: the slider's own scale
    tolerance = _RANGE_TOLERANCE * (hi - lo if hi > lo else builtins.max(abs(lo), abs(hi)))
    return lo - tolerance <= v <= hi + tolerance


def check_control_value(name: str, control, value: Any) -> None:
    """Raise a ValueError naming the allowed values if ``control`` (named ``name``) cannot take ``value``.

    The control's own range decides (see :func:`accepts`), so this check is the control's, not
    one of :mod:`gradbook.validation`'s.

    Parameters
    ----------
    name : str
        The control's name, as the exploration's ``draw`` receives it; the message starts with it.
    control : ipywidgets.ValueWidget
    value : object
        The candidate setting.

    Returns
    -------
    None

    Raises
    ------
    ValueError
        ``"<name>=<value> is out of range: <name> must be <allowed>."``

    Examples
    --------
    >>> check_control_value("optimizer", choice(["sgd", "adam"]), "nadam")
    Traceback (most recent call last):
    ...
    ValueError: optimizer='nadam' is out of range: optimizer must be one of: sgd, adam.
    """
    if not accepts(control, value):
        raise ValueError(f"{name}={value!r} is out of range: {name} must be {describe_allowed(control)}.")


def value_label(value: Any) -> str:
    """How a setting's value is written on the static face: numbers to three significant digits.

    Only floats are rounded; integers, strings and other values are written with ``str``. The
    label is for reading, not for telling settings apart: 0.1234 and 0.1235 both read "0.123".

    Parameters
    ----------
    value : object
        A setting's value (a slider's number, a drop-down's option).

    Returns
    -------
    str

    Examples
    --------
    >>> value_label(0.012345), value_label(3), value_label("relu")
    ('0.0123', '3', 'relu')
    """
    if isinstance(value, (float, np.floating)):
        return f"{value:.3g}"
    return str(value)
