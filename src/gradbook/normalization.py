"""Batch normalisation written out in NumPy: forward, backward and the running statistics.

The forward pass normalises every feature (the last axis) over all the other axes of a batch,
then scales and shifts it with learned ``gamma`` and ``beta``:

.. math:: \\hat x = (x - \\mu_B) / \\sqrt{\\sigma_B^2 + \\epsilon}, \\qquad y = \\gamma \\hat x + \\beta.

The conventions are Keras's ``BatchNormalization``: ``epsilon`` defaults to 1e-3, the batch
variance is the biased one (divided by the number of values, not one less), and the running
("moving") statistics that inference uses are updated as
``moving = moving * momentum + batch_statistic * (1 - momentum)`` with ``momentum`` 0.99,
starting from mean 0 and variance 1.

>>> import numpy as np
>>> x = np.array([[1.0], [3.0]])
>>> y, cache = batch_norm_forward(x, np.ones(1), np.zeros(1), epsilon=0.0)
>>> y.ravel().tolist()
[-1.0, 1.0]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradbook.validation import check_number, check_whole

__all__ = ["BatchNormCache", "batch_norm_backward", "batch_norm_forward", "batch_norm_inference",
           "inference_gap", "update_moving"]


@dataclass(frozen=True)
class BatchNormCache:
    """What the backward pass needs from the forward pass.

    Attributes
    ----------
    x_hat : numpy.ndarray
        The normalised input, the shape of ``x``.
    inv_std : numpy.ndarray
        ``1 / sqrt(var + epsilon)`` per feature.
    gamma : numpy.ndarray
        The scale used, per feature.
    mean, var : numpy.ndarray
        The batch mean and (biased) variance per feature: what the running statistics average.
    """

    x_hat: np.ndarray
    inv_std: np.ndarray
    gamma: np.ndarray
    mean: np.ndarray
    var: np.ndarray


def _features(x, **per_feature) -> tuple[np.ndarray, ...]:
    # x as float64 with at least a batch and a feature axis, then each named argument as a float64
    # vector of one value per feature.
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 2:
        raise ValueError(f"x must have a batch axis and a feature axis (at least 2 dimensions), got shape {x.shape}.")
    vectors = []
    for name, value in per_feature.items():
        value = np.asarray(value, dtype=np.float64)
        if value.shape != x.shape[-1:]:
            raise ValueError(f"{name} must have one value per feature, shape {x.shape[-1:]}, got {value.shape}.")
        vectors.append(value)
    return (x, *vectors)


def batch_norm_forward(x, gamma, beta, *, epsilon: float = 1e-3) -> tuple[np.ndarray, BatchNormCache]:
    """Batch normalisation in training mode: normalise with the batch's own statistics.

    Parameters
    ----------
    x : array_like, shape (batch, ..., features)
        At least two values per feature (the statistics are over every axis but the last).
    gamma, beta : array_like, shape (features,)
        The learned scale and shift.
    epsilon : float, default 1e-3
        Added to the variance (Keras's default).

    Returns
    -------
    y : numpy.ndarray
        ``gamma * x_hat + beta``, the shape of ``x``.
    cache : BatchNormCache
        For :func:`batch_norm_backward` and :func:`update_moving`.

    Raises
    ------
    ValueError
        If ``x`` has fewer than two axes or one value per feature, if ``gamma`` or ``beta`` does
        not have one value per feature, or if ``epsilon`` is negative.

    Examples
    --------
    >>> y, cache = batch_norm_forward([[0.0, 5.0], [2.0, 5.0]], [2.0, 1.0], [1.0, 0.0], epsilon=0.0)
    >>> y.tolist(), cache.mean.tolist(), cache.var.tolist()
    ([[-1.0, 0.0], [3.0, 0.0]], [1.0, 5.0], [1.0, 0.0])
    """
    epsilon = check_number(epsilon, "epsilon", include_minimum=True)
    x, gamma, beta = _features(x, gamma=gamma, beta=beta)
    if x.size // x.shape[-1] < 2:
        raise ValueError(f"x must hold at least two values per feature to have batch statistics, got shape {x.shape}.")
    axes = tuple(range(x.ndim - 1))
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    inv_std = np.zeros_like(var)
    nonzero = var + epsilon > 0
    inv_std[nonzero] = 1.0 / np.sqrt(var[nonzero] + epsilon)   # a constant feature with epsilon 0 maps to 0
    x_hat = (x - mean) * inv_std
    return gamma * x_hat + beta, BatchNormCache(x_hat, inv_std, gamma, mean, var)


def batch_norm_backward(dy, cache: BatchNormCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The backward pass of :func:`batch_norm_forward`, in its compact form.

    With :math:`m` values per feature,
    :math:`\\partial L/\\partial x = \\frac{\\gamma}{m\\sqrt{\\sigma_B^2+\\epsilon}}
    \\bigl(m\\,\\partial L/\\partial y - \\sum \\partial L/\\partial y - \\hat x \\sum \\partial L/\\partial y\\,\\hat x\\bigr)`,
    the sums over the batch: the incoming gradient, scaled, minus its mean and minus its component
    along :math:`\\hat x`.

    Parameters
    ----------
    dy : array_like
        :math:`\\partial L/\\partial y`, the shape of the forward pass's ``x``.
    cache : BatchNormCache
        From :func:`batch_norm_forward`.

    Returns
    -------
    dx, dgamma, dbeta : numpy.ndarray
        The gradients with respect to ``x`` (its shape), ``gamma`` and ``beta`` (one per feature).

    Raises
    ------
    ValueError
        If ``dy``'s shape is not the forward input's.

    Examples
    --------
    A loss that only shifts every value of a feature by the same amount has no gradient with
    respect to ``x``: normalisation removes the shift.

    >>> _, cache = batch_norm_forward([[1.0], [2.0], [4.0]], [1.0], [0.0])
    >>> dx, dgamma, dbeta = batch_norm_backward([[1.0], [1.0], [1.0]], cache)
    >>> bool(np.allclose(dx, 0)), dbeta.tolist()
    (True, [3.0])
    """
    dy = np.asarray(dy, dtype=np.float64)
    if dy.shape != cache.x_hat.shape:
        raise ValueError(f"dy must have the forward input's shape {cache.x_hat.shape}, got {dy.shape}.")
    axes = tuple(range(dy.ndim - 1))
    m = dy.size // dy.shape[-1]
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * cache.x_hat).sum(axis=axes)
    dx = cache.gamma * cache.inv_std / m * (m * dy - dbeta - cache.x_hat * dgamma)
    return dx, dgamma, dbeta


def update_moving(moving_mean, moving_var, cache: BatchNormCache, *,
                  momentum: float = 0.99) -> tuple[np.ndarray, np.ndarray]:
    """The running statistics after one training step, as Keras updates them.

    Parameters
    ----------
    moving_mean, moving_var : array_like, shape (features,)
        The running mean and variance before the step (Keras starts them at 0 and 1).
    cache : BatchNormCache
        The step's forward pass, whose batch mean and biased variance are averaged in.
    momentum : float, default 0.99
        The weight kept by the old value, in [0, 1].

    Returns
    -------
    moving_mean, moving_var : numpy.ndarray

    Raises
    ------
    ValueError
        If ``momentum`` is outside [0, 1].

    Examples
    --------
    >>> _, cache = batch_norm_forward([[1.0], [5.0]], [1.0], [0.0])
    >>> [a.tolist() for a in update_moving([0.0], [1.0], cache, momentum=0.5)]
    [[1.5], [2.5]]
    """
    momentum = check_number(momentum, "momentum", include_minimum=True, maximum=1.0)
    mean = np.asarray(moving_mean, dtype=np.float64) * momentum + cache.mean * (1 - momentum)
    var = np.asarray(moving_var, dtype=np.float64) * momentum + cache.var * (1 - momentum)
    return mean, var


def batch_norm_inference(x, gamma, beta, moving_mean, moving_var, *, epsilon: float = 1e-3) -> np.ndarray:
    """Batch normalisation in inference mode: normalise with the running statistics.

    Parameters
    ----------
    x : array_like, shape (batch, ..., features)
    gamma, beta, moving_mean, moving_var : array_like, shape (features,)
    epsilon : float, default 1e-3

    Returns
    -------
    numpy.ndarray
        ``gamma * (x - moving_mean) / sqrt(moving_var + epsilon) + beta``.

    Raises
    ------
    ValueError
        As :func:`batch_norm_forward`, and if a running statistic does not have one value per
        feature.

    Examples
    --------
    Freshly initialised statistics (mean 0, variance 1) leave the input almost unchanged:

    >>> batch_norm_inference([[3.0]], [1.0], [0.0], [0.0], [1.0], epsilon=0.0).tolist()
    [[3.0]]
    """
    epsilon = check_number(epsilon, "epsilon", include_minimum=True)
    x, gamma, beta, moving_mean, moving_var = _features(x, gamma=gamma, beta=beta, moving_mean=moving_mean,
                                                        moving_var=moving_var)
    return gamma * (x - moving_mean) / np.sqrt(moving_var + epsilon) + beta


def inference_gap(x, *, steps: int, momentum: float = 0.99, epsilon: float = 1e-3) -> np.ndarray:
    """How far inference mode is from training mode on one batch, as the running statistics learn it.

    A fresh layer (``gamma`` 1, ``beta`` 0, running mean 0 and variance 1) sees the same batch
    ``steps`` times in training mode. Entry ``k`` of the result is the largest absolute difference
    between the layer's training-mode and inference-mode outputs on that batch after ``k``
    updates of the running statistics.

    Parameters
    ----------
    x : array_like, shape (batch, ..., features)
    steps : int
        The number of training-mode updates, at least 1.
    momentum : float, default 0.99
    epsilon : float, default 1e-3

    Returns
    -------
    numpy.ndarray, shape (steps + 1,)

    Raises
    ------
    ValueError
        If ``steps`` is not a whole number of at least 1, or as :func:`batch_norm_forward` and
        :func:`update_moving`.

    Examples
    --------
    With momentum 0 the first update copies the batch statistics, and the two modes agree:

    >>> gap = inference_gap([[1.0], [3.0]], steps=2, momentum=0.0)
    >>> float(gap[0]) > 1, bool(np.allclose(gap[1:], 0))
    (True, True)
    """
    steps = check_whole(steps, "steps")
    (x,) = _features(x)
    gamma, beta = np.ones(x.shape[-1]), np.zeros(x.shape[-1])
    y_train, cache = batch_norm_forward(x, gamma, beta, epsilon=epsilon)

    def gap(mean, var) -> float:
        return np.max(np.abs(y_train - batch_norm_inference(x, gamma, beta, mean, var, epsilon=epsilon)))

    mean, var = np.zeros(x.shape[-1]), np.ones(x.shape[-1])  # Keras's starting moving statistics
    gaps = [gap(mean, var)]
    for _ in range(steps):
        mean, var = update_moving(mean, var, cache, momentum=momentum)
        gaps.append(gap(mean, var))
    return np.array(gaps)
