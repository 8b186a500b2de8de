"""Keras optimizers by name, and the learning-rate schedules the book trains with.

:func:`get` turns one of the names in :data:`OPTIMIZERS` into a Keras optimizer (in the spirit of
``keras.optimizers.get``, with the book's "momentum" added); :func:`warmup_cosine` is the warm-up +
cosine schedule, and :func:`warmup_cosine_adam` the Adam optimizer that follows it; :func:`schedule`
builds one of the :data:`SCHEDULES` for a run of a given length.

>>> from gradbook import optimizers
>>> opt = optimizers.get("momentum", learning_rate=0.05)
>>> type(opt).__name__, opt.momentum
('SGD', 0.9)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from gradbook.validation import check_choice, check_number, check_whole

if TYPE_CHECKING:
    import keras

__all__ = ["OPTIMIZERS", "SCHEDULES", "get", "schedule", "warmup_cosine", "warmup_cosine_adam"]

#: Optimizer names :func:`get` accepts; "momentum" is SGD with momentum 0.9.
OPTIMIZERS: tuple[str, ...] = ("sgd", "momentum", "rmsprop", "adagrad", "adam")

#: Learning-rate schedules :func:`schedule` builds.
SCHEDULES: tuple[str, ...] = ("step", "exponential", "warmup_cosine")


def get(name: str, learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = 0.001,
        **kwargs: Any) -> keras.optimizers.Optimizer:
    """A Keras optimizer by name.

    Parameters
    ----------
    name : {"sgd", "momentum", "rmsprop", "adagrad", "adam"}
        "momentum" is SGD with momentum 0.9.
    learning_rate : float or keras.optimizers.schedules.LearningRateSchedule, default 0.001
        A positive number, or a schedule (such as :func:`warmup_cosine`).
    **kwargs :
        Passed on to the Keras optimizer (``clipnorm``, ``clipvalue``, ...).

    Returns
    -------
    keras.optimizers.Optimizer

    Raises
    ------
    ValueError
        For an unknown name or a learning rate that is not a positive number.

    Examples
    --------
    >>> opt = get("adam", learning_rate=0.01, clipnorm=1.0)
    >>> type(opt).__name__, opt.clipnorm
    ('Adam', 1.0)
    >>> get("nadam")
    Traceback (most recent call last):
    ...
    ValueError: Unknown optimizer 'nadam'. Choose one of: sgd, momentum, rmsprop, adagrad, adam.
    """
    import keras

    check_choice(name, "optimizer", OPTIMIZERS)
    if isinstance(learning_rate, (int, float, np.integer, np.floating)):  # a schedule is checked by Keras
        check_number(learning_rate, "learning_rate")
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, **kwargs)
    if name == "momentum":
        return keras.optimizers.SGD(learning_rate, momentum=0.9, **kwargs)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate, **kwargs)
    if name == "adagrad":
        return keras.optimizers.Adagrad(learning_rate, **kwargs)
    return keras.optimizers.Adam(learning_rate, **kwargs)


def warmup_cosine(total_steps: int, peak_learning_rate: float, *, warmup_steps: int,
                  start_learning_rate: float = 0.0) -> keras.optimizers.schedules.CosineDecay:
    """A learning-rate schedule: linear warm-up to ``peak_learning_rate``, then cosine decay to 0.

    The warm-up rises from ``start_learning_rate`` (default 0) at step 0 to the peak at step
    ``warmup_steps``. Goyal et al.'s gradual warm-up for a ``k`` times larger batch starts from the
    small batch's rate ``eta`` and rises to ``k * eta``: pass ``start_learning_rate=eta``.

    Parameters
    ----------
    total_steps : int
        Optimizer steps in the whole run.
    peak_learning_rate : float
    warmup_steps : int
        Steps of warm-up, from 0 (none: the decay starts at the peak) to ``total_steps - 1``.
    start_learning_rate : float, default 0.0
        The rate at step 0 of the warm-up, from 0 to ``peak_learning_rate``; ignored without
        warm-up.

    Returns
    -------
    keras.optimizers.schedules.CosineDecay

    Raises
    ------
    ValueError
        For a step count or learning rate that is not positive, a warm-up that is negative or
        leaves no step to decay, or a start rate that is negative or above the peak.

    Examples
    --------
    >>> schedule = warmup_cosine(100, 0.2, warmup_steps=10)
    >>> [round(float(schedule(step)), 3) for step in (0, 5, 10, 55, 100)]
    [0.0, 0.1, 0.2, 0.1, 0.0]
    >>> goyal = warmup_cosine(100, 0.8, warmup_steps=10, start_learning_rate=0.1)
    >>> [round(float(goyal(step)), 3) for step in (0, 5, 10)]
    [0.1, 0.45, 0.8]
    """
    import keras

    total_steps = check_whole(total_steps, "total_steps")
    peak_learning_rate = check_number(peak_learning_rate, "peak_learning_rate")
    warmup_steps = check_whole(warmup_steps, "warmup_steps", minimum=0, maximum=total_steps - 1)
    start_learning_rate = check_number(start_learning_rate, "start_learning_rate", maximum=peak_learning_rate,
                                       include_minimum=True)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=start_learning_rate if warmup_steps else peak_learning_rate,
        decay_steps=max(1, total_steps - warmup_steps),
        warmup_target=peak_learning_rate if warmup_steps else None,
        warmup_steps=warmup_steps,
    )


def schedule(name: str, learning_rate: float, *, steps_per_epoch: int,
             epochs: int) -> keras.optimizers.schedules.LearningRateSchedule:
    """One of the :data:`SCHEDULES`, starting from ``learning_rate``, for a run of ``epochs`` epochs.

    - ``"step"``: the rate divided by 3 after a third of the steps and by 9 after two thirds
      (Keras's ``PiecewiseConstantDecay``).
    - ``"exponential"``: the rate halved every epoch.
    - ``"warmup_cosine"``: :func:`warmup_cosine` with a tenth of the steps (at least one) of
      warm-up; a run of a single step has no warm-up.

    Parameters
    ----------
    name : {"step", "exponential", "warmup_cosine"}
    learning_rate : float
        The starting (for "warmup_cosine": the peak) learning rate.
    steps_per_epoch : int
        Optimizer steps in one epoch (batches per epoch).
    epochs : int

    Returns
    -------
    keras.optimizers.schedules.LearningRateSchedule

    Raises
    ------
    ValueError
        For an unknown name, or a learning rate, step count or epoch count that is not positive.

    Examples
    --------
    >>> s = schedule("step", 0.9, steps_per_epoch=10, epochs=3)
    >>> [round(float(s(step)), 3) for step in (0, 11, 21)]
    [0.9, 0.3, 0.1]
    >>> s = schedule("exponential", 0.8, steps_per_epoch=10, epochs=3)
    >>> [round(float(s(step)), 3) for step in (0, 10, 20)]
    [0.8, 0.4, 0.2]
    """
    import keras

    check_choice(name, "schedule", SCHEDULES)
    learning_rate = check_number(learning_rate, "learning_rate")
    steps_per_epoch = check_whole(steps_per_epoch, "steps_per_epoch")
    total = steps_per_epoch * check_whole(epochs, "epochs")
    if name == "step":
        return keras.optimizers.schedules.PiecewiseConstantDecay(
            [total // 3, 2 * total // 3], [learning_rate, learning_rate / 3, learning_rate / 9])
    if name == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(learning_rate, decay_steps=steps_per_epoch, decay_rate=0.5)
    return warmup_cosine(total, learning_rate, warmup_steps=0 if total < 2 else max(1, total // 10))


def warmup_cosine_adam(total_steps: int, *, peak_learning_rate: float = 3e-3,
                       warmup_fraction: float = 0.1) -> keras.optimizers.Adam:
    """Adam with a short linear warm-up to ``peak_learning_rate``, then cosine decay to zero.

    The schedule that lets a small CNN reach its accuracy in few epochs: large steps while the
    loss is high, small ones at the end.

    Parameters
    ----------
    total_steps : int
        Optimizer steps in the whole run (epochs x batches per epoch).
    peak_learning_rate : float, default 3e-3
    warmup_fraction : float, default 0.1
        Share of the steps spent warming up, in [0, 1).

    Returns
    -------
    keras.optimizers.Adam

    Raises
    ------
    ValueError
        For a non-positive step count or learning rate, or a warm-up fraction outside [0, 1).

    Examples
    --------
    >>> opt = warmup_cosine_adam(100, peak_learning_rate=0.01)
    >>> _ = opt.iterations.assign(10)   # the end of the warm-up: the peak
    >>> round(float(opt.learning_rate), 6)
    0.01
    """
    import keras

    total_steps = check_whole(total_steps, "total_steps")
    peak_learning_rate = check_number(peak_learning_rate, "peak_learning_rate")
    warmup_fraction = check_number(warmup_fraction, "warmup_fraction", maximum=1.0,
                                   include_minimum=True, include_maximum=False)
    schedule = warmup_cosine(total_steps, peak_learning_rate, warmup_steps=int(total_steps * warmup_fraction))
    return keras.optimizers.Adam(learning_rate=schedule)
