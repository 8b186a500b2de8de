"""Gradient descent and its relatives on small, fully known problems, in NumPy.

Two kinds of problem, small enough that every step can be drawn:

* 2-D surfaces (:class:`Quadratic`, :class:`Rosenbrock`) with exact gradients and Hessians, for
  watching a trajectory converge, oscillate or diverge;
* :class:`SoftmaxRegression` on a real dataset, for comparing full-batch, mini-batch and
  stochastic gradient descent.

The update rules in :func:`descend` are written out term by term; the book's tests check each
of them against the Keras optimizer it reproduces, step for step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from gradbook.backprop import softmax
from gradbook.validation import check_choice, check_number, check_whole

__all__ = [
    "Quadratic",
    "Rosenbrock",
    "SoftmaxRegression",
    "Surface",
    "Trajectory",
    "UPDATE_RULES",
    "descend",
    "divergence_threshold",
    "minibatch_descent",
]

#: The update rules :func:`descend` implements in NumPy. Each is one Keras optimizer's rule:
#: ``"sgd"`` (plain gradient descent) is ``SGD()``, ``"momentum"`` and ``"nesterov"`` are
#: ``SGD(momentum=...)`` without and with ``nesterov=True``, and ``"adagrad"``, ``"rmsprop"`` and
#: ``"adam"`` are ``Adagrad``, ``RMSprop`` and ``Adam``.
UPDATE_RULES: tuple[str, ...] = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")

# An iterate this far from the origin has left every surface in the book for good.
_ESCAPE = 1e8


class Surface(Protocol):
    """A differentiable function of a 2-vector."""

    name: str

    def value(self, p: np.ndarray) -> np.ndarray: ...

    def gradient(self, p: np.ndarray) -> np.ndarray: ...

    def hessian(self, p: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Quadratic:
    r"""The quadratic bowl :math:`f(p) = \tfrac12 p^\top A p` with a symmetric positive definite A.

    Parameters
    ----------
    curvatures : tuple of float, default (1.0, 10.0)
        The eigenvalues of A (the curvature along each principal axis).
    angle : float, default 0.0
        Rotation of the principal axes, in radians.
    """

    curvatures: tuple[float, float] = (1.0, 10.0)
    angle: float = 0.0
    name: str = field(default="quadratic", init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.curvatures, (tuple, list, np.ndarray)) or len(self.curvatures) != 2:
            raise ValueError(f"curvatures must be a pair (the two eigenvalues of A), got {self.curvatures!r}.")
        for i, c in enumerate(self.curvatures):
            check_number(c, f"curvatures[{i}]")

    @property
    def matrix(self) -> np.ndarray:
        """The matrix A."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        rotation = np.array([[c, -s], [s, c]])
        return rotation @ np.diag(self.curvatures) @ rotation.T

    @property
    def smoothness(self) -> float:
        """L, the largest eigenvalue of A: the gradient is L-Lipschitz."""
        return float(np.linalg.eigvalsh(self.matrix).max())

    @property
    def minimum(self) -> np.ndarray:
        return np.zeros(2)

    def value(self, p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=float)
        return 0.5 * np.einsum("...i,ij,...j->...", p, self.matrix, p)

    def gradient(self, p: np.ndarray) -> np.ndarray:
        return np.asarray(p, dtype=float) @ self.matrix.T

    def hessian(self, p: np.ndarray) -> np.ndarray:
        return self.matrix


@dataclass(frozen=True)
class Rosenbrock:
    r"""Rosenbrock's banana valley :math:`f(x, y) = (a - x)^2 + b (y - x^2)^2`, minimum at (a, a²)."""

    a: float = 1.0
    b: float = 100.0
    name: str = field(default="rosenbrock", init=False)

    @property
    def minimum(self) -> np.ndarray:
        return np.array([self.a, self.a**2])

    def value(self, p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=float)
        x, y = p[..., 0], p[..., 1]
        return (self.a - x) ** 2 + self.b * (y - x**2) ** 2

    def gradient(self, p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=float)
        x, y = p[..., 0], p[..., 1]
        dx = -2 * (self.a - x) - 4 * self.b * x * (y - x**2)
        dy = 2 * self.b * (y - x**2)
        return np.stack([dx, dy], axis=-1)

    def hessian(self, p: np.ndarray) -> np.ndarray:
        x, y = np.asarray(p, dtype=float)
        return np.array(
            [[2 - 4 * self.b * (y - x**2) + 8 * self.b * x**2, -4 * self.b * x],
             [-4 * self.b * x, 2 * self.b]]
        )


@dataclass(frozen=True)
class Trajectory:
    """The iterates of one optimisation run.

    Attributes
    ----------
    points : numpy.ndarray
        Shape ``(k + 1, 2)``: the start and every iterate, up to divergence if it happened.
    losses : numpy.ndarray
        The surface's value at each point.
    diverged_at : int or None
        The step at which the iterate left every bounded region (or became NaN); ``None`` when
        the run stayed finite for all its steps.
    """

    points: np.ndarray
    losses: np.ndarray
    diverged_at: int | None

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None

    @property
    def final_loss(self) -> float:
        return float(self.losses[-1])

    def verdict(self) -> str:
        """What the run did, in words: diverged, diverging, oscillating or converging.

        "Oscillating" means that most consecutive steps point in opposite directions.
        """
        if self.diverged:
            return f"diverged at step {self.diverged_at}"
        if self.final_loss > self.losses[0]:
            return f"diverging: loss {self.losses[0]:.3g} -> {self.final_loss:.3g}"
        steps = np.diff(self.points, axis=0)
        flips = np.mean(np.sum(steps[1:] * steps[:-1], axis=1) < 0) if len(steps) > 1 else 0.0
        kind = "oscillating" if flips > 0.5 else "converging"
        return f"{kind}: loss {self.losses[0]:.3g} -> {self.final_loss:.2g}"

    def every(self, k: int) -> "Trajectory":
        """Every ``k``-th point (the last one always kept), for lighter plots.

        Examples
        --------
        >>> run = descend(Quadratic(), [1.0, 1.0], learning_rate=0.1, steps=10)
        >>> len(run.points), len(run.every(4).points)
        (11, 4)
        """
        k = check_whole(k, "k")
        idx = np.unique(np.r_[np.arange(0, len(self.points), k), len(self.points) - 1])
        return Trajectory(self.points[idx], self.losses[idx], self.diverged_at)


def descend(
    surface: Surface,
    start,
    *,
    learning_rate: float,
    steps: int = 100,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    rho: float = 0.9,
    initial_accumulator_value: float = 0.1,
    epsilon: float = 1e-7,
) -> Trajectory:
    r"""Minimise a 2-D surface from ``start`` and record every iterate.

    ``"sgd"`` (plain gradient descent, Keras's ``SGD()``): :math:`p_{t+1} = p_t - \eta \nabla f(p_t)`.

    ``"momentum"`` (heavy ball, as Keras's ``SGD(momentum=...)``):
    :math:`v_{t+1} = \mu v_t - \eta \nabla f(p_t)`, :math:`p_{t+1} = p_t + v_{t+1}`.

    ``"nesterov"`` (Nesterov momentum, as Keras's ``SGD(momentum=..., nesterov=True)``):
    :math:`v_{t+1} = \mu v_t - \eta \nabla f(p_t)`, :math:`p_{t+1} = p_t + \mu v_{t+1} - \eta \nabla f(p_t)`.
    This is Sutskever et al.'s (2013) form, :math:`v_{t+1} = \mu v_t - \eta \nabla f(q_t + \mu v_t)`,
    :math:`q_{t+1} = q_t + v_{t+1}`, written for the look-ahead point :math:`p_t = q_t + \mu v_t`.

    ``"adagrad"`` (Duchi et al., 2011, as Keras's ``Adagrad``): :math:`a_t = a_{t-1} + g_t^2` from
    :math:`a_0` = ``initial_accumulator_value``,
    :math:`p_t = p_{t-1} - \eta\, g_t / \sqrt{a_t + \epsilon}`.

    ``"rmsprop"`` (Tieleman & Hinton, 2012, as Keras's ``RMSprop()``):
    :math:`s_t = \rho s_{t-1} + (1-\rho) g_t^2` from :math:`s_0 = 0`,
    :math:`p_t = p_{t-1} - \eta\, g_t / \sqrt{s_t + \epsilon}`.

    ``"adam"`` (Kingma & Ba, 2015, with Keras's placement of epsilon):
    :math:`m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t`, :math:`v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2`,
    :math:`p_t = p_{t-1} - \eta \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t} \frac{m_t}{\sqrt{v_t} + \epsilon}`.

    Parameters
    ----------
    surface : Surface
    start : array-like of shape (2,)
    learning_rate : float
        The learning rate (step size) :math:`\eta`, positive.
    steps : int, default 100
    optimizer : {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"}, default "sgd"
    momentum : float, default 0.9
        :math:`\mu`, for "momentum" and "nesterov", in ``[0, 1)`` (the usual value; Keras's ``SGD``
        defaults to 0, no momentum). The hyper-parameters below default to Keras's values.
    beta_1, beta_2 : float, default 0.9 and 0.999
        Adam's decay rates, in ``[0, 1)``.
    rho : float, default 0.9
        RMSprop's decay rate, in ``[0, 1)``.
    initial_accumulator_value : float, default 0.1
        AdaGrad's :math:`a_0`, at least 0.
    epsilon : float, default 1e-7
        For "adagrad", "rmsprop" and "adam", at least 0.

    Returns
    -------
    Trajectory
        A run that diverges stops there, with ``diverged_at`` set; it never returns NaN points.

    Raises
    ------
    ValueError
        For an unknown optimizer, a non-positive learning rate or step count, a momentum, beta or
        rho outside ``[0, 1)``, a negative ``initial_accumulator_value`` or ``epsilon``, or a start
        that is not a finite 2-vector.

    Examples
    --------
    On :math:`f(p) = \tfrac12 p^\top A p` one step of plain gradient descent multiplies by
    :math:`I - \eta A`:

    >>> run = descend(Quadratic(curvatures=(1.0, 10.0)), [1.0, 1.0], learning_rate=0.1, steps=1)
    >>> run.points[-1].tolist()
    [0.9, 0.0]

    AdaGrad's first step divides each coordinate's gradient by :math:`\sqrt{a_0 + g^2 + \epsilon}`:

    >>> run = descend(Quadratic(curvatures=(1.0, 10.0)), [1.0, 1.0], learning_rate=0.1, steps=1,
    ...               optimizer="adagrad", epsilon=0.0)
    >>> np.allclose(run.points[-1], [1 - 0.1 / np.sqrt(1.1), 1 - 1.0 / np.sqrt(100.1)])
    True
    >>> descend(Quadratic(), [1.0, 1.0], learning_rate=0.1, optimizer="nadam")
    Traceback (most recent call last):
    ...
    ValueError: Unknown optimizer 'nadam'. Choose one of: sgd, momentum, nesterov, adagrad, rmsprop, adam.
    """
    check_choice(optimizer, "optimizer", UPDATE_RULES)
    learning_rate = check_number(learning_rate, "learning_rate")
    steps = check_whole(steps, "steps")
    p = np.asarray(start, dtype=float)
    if p.shape != (2,) or not np.all(np.isfinite(p)):
        raise ValueError(f"start must be a finite point (x, y), got {start!r}.")
    unit = {"minimum": 0.0, "maximum": 1.0, "include_minimum": True, "include_maximum": False}
    momentum = check_number(momentum, "momentum", **unit)
    beta_1 = check_number(beta_1, "beta_1", **unit)
    beta_2 = check_number(beta_2, "beta_2", **unit)
    rho = check_number(rho, "rho", **unit)
    initial_accumulator_value = check_number(initial_accumulator_value, "initial_accumulator_value",
                                             include_minimum=True)
    epsilon = check_number(epsilon, "epsilon", include_minimum=True)

    points = [p.copy()]
    velocity = np.zeros(2)
    m = np.zeros(2)
    v = np.full(2, initial_accumulator_value) if optimizer == "adagrad" else np.zeros(2)
    diverged_at = None
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, steps + 1):
            g = surface.gradient(p)
            if optimizer == "sgd":
                p = p - learning_rate * g
            elif optimizer == "momentum":
                velocity = momentum * velocity - learning_rate * g
                p = p + velocity
            elif optimizer == "nesterov":
                velocity = momentum * velocity - learning_rate * g
                p = p + momentum * velocity - learning_rate * g
            elif optimizer == "adagrad":
                v = v + g * g
                p = p - learning_rate * g / np.sqrt(v + epsilon)
            elif optimizer == "rmsprop":
                v = rho * v + (1 - rho) * g * g
                p = p - learning_rate * g / np.sqrt(v + epsilon)
            else:
                m = beta_1 * m + (1 - beta_1) * g
                v = beta_2 * v + (1 - beta_2) * g * g
                step_size = learning_rate * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
                p = p - step_size * m / (np.sqrt(v) + epsilon)
            if not np.all(np.isfinite(p)) or np.abs(p).max() > _ESCAPE:
                diverged_at = t
                break
            points.append(p.copy())
    pts = np.array(points)
    return Trajectory(points=pts, losses=surface.value(pts), diverged_at=diverged_at)


def divergence_threshold(
    surface: Surface,
    start,
    *,
    steps: int = 200,
    low: float = 1e-6,
    high: float = 10.0,
    tol: float = 1e-4,
) -> float:
    """Find by bisection the smallest learning rate at which plain gradient descent stops converging.

    A run "converges" when it did not diverge and its loss after ``steps`` steps is below both
    its starting loss and its loss half-way through (so a slowly growing oscillation counts as
    a failure even while it is still below the start). This is a measurement, made by running :func:`descend` many times, to be
    held against a theoretical bound such as ``2 / L``.

    Returns
    -------
    float
        The threshold learning rate, to relative tolerance ``tol``.

    Raises
    ------
    ValueError
        If gradient descent already fails at ``low`` or still converges at ``high``.

    Examples
    --------
    On a quadratic bowl the threshold is :math:`2 / L`, here 0.2:

    >>> round(divergence_threshold(Quadratic(curvatures=(1.0, 10.0)), [1.0, 1.0]), 3)
    0.2
    """

    def converges(learning_rate: float) -> bool:
        run = descend(surface, start, learning_rate=learning_rate, steps=steps)
        halfway = run.losses[len(run.losses) // 2]
        return not run.diverged and run.final_loss < min(run.losses[0], halfway)

    if not converges(low):
        raise ValueError(f"Gradient descent does not converge even at learning_rate={low}; lower `low`.")
    if converges(high):
        raise ValueError(f"Gradient descent still converges at learning_rate={high}; raise `high`.")
    while high / low > 1 + tol:
        mid = np.sqrt(low * high)
        if converges(mid):
            low = mid
        else:
            high = mid
    return float(np.sqrt(low * high))


@dataclass(frozen=True)
class SoftmaxRegression:
    """Multinomial logistic regression: the loss and its gradient on any subset of examples.

    Parameters
    ----------
    x : numpy.ndarray
        Inputs, shape ``(n, ...)``; flattened to ``(n, d)`` and given a bias column.
    y : numpy.ndarray
        Integer labels in ``[0, num_classes)``.
    num_classes : int
    """

    x: np.ndarray
    y: np.ndarray
    num_classes: int

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"x has {len(self.x)} examples but y has {len(self.y)}.")
        if self.y.min() < 0 or self.y.max() >= self.num_classes:
            raise ValueError(f"labels must lie in [0, {self.num_classes}), got {self.y.min()}..{self.y.max()}.")
        flat = np.asarray(self.x, dtype=np.float64).reshape(len(self.x), -1)
        object.__setattr__(self, "_design", np.hstack([flat, np.ones((len(flat), 1))]))

    @property
    def n(self) -> int:
        return len(self.y)

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of the weight matrix (features + 1, classes)."""
        return (self._design.shape[1], self.num_classes)

    def _probabilities(self, w: np.ndarray, idx) -> np.ndarray:
        return softmax(self._design[idx] @ w, axis=1)

    def loss(self, w: np.ndarray, idx=slice(None)) -> float:
        """Mean cross-entropy over the examples ``idx`` (all by default)."""
        probs = self._probabilities(w, idx)
        picked = probs[np.arange(len(probs)), self.y[idx]]
        return float(-np.mean(np.log(np.maximum(picked, 1e-300))))

    def gradient(self, w: np.ndarray, idx=slice(None)) -> np.ndarray:
        """Gradient of :meth:`loss` with respect to ``w``: ``X^T (softmax(XW) - onehot(y)) / n``."""
        probs = self._probabilities(w, idx)
        probs[np.arange(len(probs)), self.y[idx]] -= 1.0
        return self._design[idx].T @ probs / len(probs)

    def accuracy(self, w: np.ndarray) -> float:
        return float(np.mean(np.argmax(self._design @ w, axis=1) == self.y))


def minibatch_descent(
    problem: SoftmaxRegression,
    *,
    batch_size: int,
    learning_rate: float,
    epochs: int,
    seed: int = 0,
    record_every: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradient descent on a :class:`SoftmaxRegression` with batches of ``batch_size`` examples.

    ``batch_size = problem.n`` is full-batch gradient descent, ``1`` is stochastic gradient
    descent, anything between is mini-batch. Each epoch visits every example once, in a fresh
    random order.

    Parameters
    ----------
    problem : SoftmaxRegression
    batch_size : int
        From 1 to ``problem.n``.
    learning_rate : float
        Positive.
    epochs : int
    seed : int, default 0
        Seeds the order in which the examples are visited.
    record_every : int, default 1

    Returns
    -------
    updates, examples_seen, losses : numpy.ndarray
        Recorded every ``record_every`` updates: the update count, the number of examples whose
        gradient has been computed so far, and the full-data loss at that point.

    Raises
    ------
    ValueError
        For a batch size outside ``[1, problem.n]``, a non-positive learning rate, or an epoch
        count or ``record_every`` that is not a positive whole number.

    Examples
    --------
    >>> x = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> problem = SoftmaxRegression(x, np.array([0, 0, 1, 1]), num_classes=2)
    >>> updates, seen, losses = minibatch_descent(problem, batch_size=2, learning_rate=0.5, epochs=3)
    >>> updates.tolist(), seen.tolist()
    ([0, 1, 2, 3, 4, 5, 6], [0, 2, 4, 6, 8, 10, 12])
    >>> bool(losses[-1] < losses[0])
    True
    """
    batch_size = check_whole(batch_size, "batch_size", maximum=problem.n)
    learning_rate = check_number(learning_rate, "learning_rate")
    epochs = check_whole(epochs, "epochs")
    record_every = check_whole(record_every, "record_every")
    rng = np.random.default_rng(seed)
    w = np.zeros(problem.shape)
    updates, seen, losses = [0], [0], [problem.loss(w)]
    count = 0
    examples = 0
    for _ in range(epochs):
        order = rng.permutation(problem.n)
        for begin in range(0, problem.n, batch_size):
            idx = order[begin : begin + batch_size]
            w -= learning_rate * problem.gradient(w, idx)
            count += 1
            examples += len(idx)
            if count % record_every == 0:
                updates.append(count)
                seen.append(examples)
                losses.append(problem.loss(w))
    return np.array(updates), np.array(seen), np.array(losses)
