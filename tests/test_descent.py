"""Tests for gradbook.descent: surfaces, optimizers (against Keras), thresholds, mini-batches."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradbook import descent
from gradbook.descent import Quadratic, Rosenbrock, SoftmaxRegression, descend, divergence_threshold, minibatch_descent

coords = st.floats(min_value=-2.0, max_value=2.0, allow_nan=False, allow_infinity=False)
curvature = st.floats(min_value=0.05, max_value=50.0, allow_nan=False, allow_infinity=False)
angles = st.floats(min_value=-math.pi, max_value=math.pi, allow_nan=False, allow_infinity=False)


def central_gradient(f, p, h=1e-6):
    p = np.asarray(p, dtype=float)
    out = np.zeros_like(p)
    for i in range(len(p)):
        e = np.zeros_like(p)
        e[i] = h
        out[i] = (f(p + e) - f(p - e)) / (2 * h)
    return out


def central_jacobian(g, p, h=1e-6):
    p = np.asarray(p, dtype=float)
    cols = []
    for i in range(len(p)):
        e = np.zeros_like(p)
        e[i] = h
        cols.append((np.asarray(g(p + e)) - np.asarray(g(p - e))) / (2 * h))
    return np.stack(cols, axis=1)


# -- Quadratic -----------------------------------------------------------------------------------
@given(curvature, curvature, angles)
def test_quadratic_matrix_eigenvalues_are_the_curvatures(c1, c2, angle):
    q = Quadratic((c1, c2), angle=angle)
    a = q.matrix
    np.testing.assert_allclose(a, a.T, atol=1e-12)
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(a)), np.sort([c1, c2]), rtol=1e-9, atol=1e-12)
    assert q.smoothness == pytest.approx(max(c1, c2), rel=1e-9)


def test_quadratic_rotation_moves_the_axes():
    q = Quadratic((1.0, 10.0), angle=math.pi / 2)
    # Rotated by 90 degrees, the stiff direction is now the x axis.
    np.testing.assert_allclose(q.matrix, np.diag([10.0, 1.0]), atol=1e-12)
    np.testing.assert_allclose(Quadratic((1.0, 10.0)).matrix, np.diag([1.0, 10.0]))


@given(curvature, curvature, angles, coords, coords)
def test_quadratic_gradient_and_hessian_match_finite_differences(c1, c2, angle, x, y):
    q = Quadratic((c1, c2), angle=angle)
    p = np.array([x, y])
    np.testing.assert_allclose(q.gradient(p), central_gradient(q.value, p), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(q.hessian(p), central_jacobian(q.gradient, p), rtol=1e-6, atol=1e-6)
    # The value is the quadratic form written out by hand.
    a = q.matrix
    assert float(q.value(p)) == pytest.approx(0.5 * (a[0, 0] * x * x + 2 * a[0, 1] * x * y + a[1, 1] * y * y), abs=1e-12)


def test_quadratic_minimum_value_zero_and_vectorised():
    q = Quadratic((2.0, 5.0), angle=0.3)
    np.testing.assert_array_equal(q.minimum, [0.0, 0.0])
    assert float(q.value(q.minimum)) == 0.0
    np.testing.assert_array_equal(q.gradient(q.minimum), [0.0, 0.0])
    pts = np.array([[[1.0, 2.0], [-1.0, 0.5]], [[0.0, 0.0], [3.0, -2.0]]])
    values = q.value(pts)
    assert values.shape == (2, 2)
    for i in range(2):
        for j in range(2):
            assert values[i, j] == pytest.approx(float(q.value(pts[i, j])))
    assert np.all(q.value(pts[0]) > 0)


@pytest.mark.parametrize(
    "curvatures", [(0.0, 1.0), (1.0, -2.0), (1.0,), (1.0, 2.0, 3.0), (float("nan"), 1.0), (1.0, float("nan"))]
)
def test_quadratic_rejects_invalid_curvatures(curvatures):
    with pytest.raises(ValueError, match="curvatures"):
        Quadratic(curvatures)


# -- Rosenbrock ----------------------------------------------------------------------------------
@given(coords, coords)
def test_rosenbrock_gradient_matches_finite_differences(x, y):
    r = Rosenbrock()
    p = np.array([x, y])
    np.testing.assert_allclose(r.gradient(p), central_gradient(r.value, p), rtol=1e-6, atol=1e-4)


@given(coords, coords, st.floats(0.5, 2.0), st.floats(1.0, 100.0))
def test_rosenbrock_hessian_matches_finite_differences(x, y, a, b):
    r = Rosenbrock(a=a, b=b)
    p = np.array([x, y])
    h = r.hessian(p)
    np.testing.assert_allclose(h, h.T)
    np.testing.assert_allclose(h, central_jacobian(r.gradient, p), rtol=1e-6, atol=1e-4)


def test_rosenbrock_value_formula_and_minimum():
    r = Rosenbrock(a=1.5, b=20.0)
    np.testing.assert_array_equal(r.minimum, [1.5, 2.25])
    assert float(r.value(r.minimum)) == 0.0
    np.testing.assert_array_equal(r.gradient(r.minimum), [0.0, 0.0])
    assert float(r.value([0.0, 1.0])) == pytest.approx(1.5**2 + 20.0 * 1.0)
    # Positive definite Hessian at the minimum.
    assert np.all(np.linalg.eigvalsh(r.hessian(r.minimum)) > 0)
    grid = np.random.default_rng(0).uniform(-2, 2, size=(5, 7, 2))
    assert r.gradient(grid).shape == (5, 7, 2)
    assert np.all(r.value(grid) > 0)


# -- descend: plain gradient descent -------------------------------------------------------------
def test_gd_iterates_equal_closed_form():
    q = Quadratic((1.0, 10.0), angle=0.4)
    lr, steps = 0.07, 25
    p0 = np.array([1.5, -0.8])
    run = descend(q, p0, learning_rate=lr, steps=steps)
    assert run.points.shape == (steps + 1, 2)
    m = np.eye(2) - lr * q.matrix
    expected = np.array([np.linalg.matrix_power(m, t) @ p0 for t in range(steps + 1)])
    np.testing.assert_allclose(run.points, expected, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(run.losses, q.value(expected), rtol=1e-9, atol=1e-15)
    assert run.final_loss == pytest.approx(float(q.value(expected[-1])))
    assert not run.diverged and run.diverged_at is None


@pytest.mark.parametrize("fraction", [0.3, 0.9, 0.99])
def test_gd_converges_below_two_over_l(fraction):
    q = Quadratic((1.0, 10.0), angle=0.7)
    lr = fraction * 2 / q.smoothness
    run = descend(q, [1.0, 1.0], learning_rate=lr, steps=2000)
    assert not run.diverged
    assert len(run.points) == 2001
    assert run.final_loss < 1e-6 * run.losses[0]
    assert np.linalg.norm(run.points[-1]) < 1e-3


@pytest.mark.parametrize("fraction", [1.05, 2.0, 50.0])
def test_gd_diverges_above_two_over_l(fraction):
    q = Quadratic((1.0, 10.0))
    lr = fraction * 2 / q.smoothness
    run = descend(q, [1.0, 1.0], learning_rate=lr, steps=5000)
    assert run.diverged
    assert isinstance(run.diverged_at, int) and 1 <= run.diverged_at <= 5000
    # The run stops at divergence: start + every finite iterate before it.
    assert len(run.points) == run.diverged_at
    assert np.all(np.isfinite(run.points)) and np.all(np.isfinite(run.losses))
    assert run.losses[-1] > run.losses[0]


def test_gd_divergence_on_the_first_step_keeps_the_start():
    run = descend(Quadratic((1.0, 10.0)), [3.0, 4.0], learning_rate=1e12, steps=10)
    assert run.diverged_at == 1
    np.testing.assert_array_equal(run.points, [[3.0, 4.0]])
    assert run.losses.shape == (1,)


def test_nan_gradient_counts_as_divergence():
    class NanSurface:
        name = "nan"

        def value(self, p):
            return np.sum(np.asarray(p, dtype=float) ** 2, axis=-1)

        def gradient(self, p):
            return np.array([np.nan, 0.0])

        def hessian(self, p):
            return np.eye(2)

    run = descend(NanSurface(), [1.0, 1.0], learning_rate=0.1, steps=5)
    assert run.diverged_at == 1
    assert not np.isnan(run.points).any()


# -- descend: every update rule against Keras ----------------------------------------------------
def _tf_rosenbrock(p, a=1.0, b=100.0):
    return (a - p[0]) ** 2 + b * (p[1] - p[0] ** 2) ** 2


def _keras_trajectory(optimizer, start, steps, loss_fn):
    import tensorflow as tf

    var = tf.Variable(np.asarray(start, dtype=np.float64), dtype=tf.float64)
    points = [var.numpy().copy()]
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = loss_fn(var)
        grad = tape.gradient(loss, var)
        optimizer.apply_gradients([(grad, var)])
        points.append(var.numpy().copy())
    return np.array(points)


def _surface_for_keras(surface_name):
    import tensorflow as tf

    if surface_name == "rosenbrock":
        return Rosenbrock(), _tf_rosenbrock, [-1.2, 1.0]
    surface = Quadratic((1.0, 10.0), angle=0.5)
    a = tf.constant(surface.matrix)
    return surface, (lambda p: 0.5 * tf.tensordot(p, tf.linalg.matvec(a, p), 1)), [1.0, -2.0]


def _assert_differs_from_plain_gd(surface, start, lr, steps, expected):
    """The optimizer under test really is not plain GD here (so the comparison is not vacuous)."""
    plain = descend(surface, start, learning_rate=lr, steps=steps)
    same_length = plain.points.shape == expected.shape
    assert not (same_length and np.allclose(plain.points, expected, rtol=1e-3, atol=1e-3))


#: Every update rule of ``descend`` and the Keras optimizer it reproduces: the optimizer's class,
#: the keywords only Keras takes, the learning rate on each test surface, and hyper-parameters
#: exactly representable in float32 (for the "exact" cases below). Keras's defaults for the other
#: hyper-parameters are ``descend``'s, except SGD's momentum (0 in Keras), passed to both as 0.9.
KERAS_EQUIVALENTS = {
    "sgd": ("SGD", {}, {"rosenbrock": 1e-3, "quadratic": 0.05}, {}),
    "momentum": ("SGD", {}, {"rosenbrock": 1e-3, "quadratic": 0.05}, {"momentum": 0.875}),
    "nesterov": ("SGD", {"nesterov": True}, {"rosenbrock": 1e-3, "quadratic": 0.05}, {"momentum": 0.875}),
    "adagrad": ("Adagrad", {}, {"rosenbrock": 0.03, "quadratic": 0.1},
                {"initial_accumulator_value": 0.125, "epsilon": 2.0**-20}),
    "rmsprop": ("RMSprop", {}, {"rosenbrock": 0.01, "quadratic": 0.05}, {"rho": 0.875, "epsilon": 2.0**-20}),
    "adam": ("Adam", {}, {"rosenbrock": 0.03, "quadratic": 0.1},
             {"beta_1": 0.875, "beta_2": 1 - 2.0**-9, "epsilon": 2.0**-20}),
}


def test_every_update_rule_has_a_step_for_step_keras_check():
    # test_update_rule_matches_keras runs every entry of KERAS_EQUIVALENTS; this holds the table to
    # the rules descend knows, so a new rule cannot go unchecked.
    assert set(KERAS_EQUIVALENTS) == set(descent.UPDATE_RULES)


# Keras keeps its learning rate in a float32 variable and casts its other hyper-parameters
# through float32, so with its defaults (momentum=0.9, beta_2=0.999, ...) it differs from an exact
# float64 computation by about 1e-6 relative. The "exact" cases use a power-of-two learning rate
# and hyper-parameters that are exactly representable in float32, where the two must agree to
# float64 round-off.
@pytest.mark.parametrize("rule", list(KERAS_EQUIVALENTS))
@pytest.mark.parametrize("surface_name", ["rosenbrock", "quadratic"])
@pytest.mark.parametrize("exact", [False, True])
def test_update_rule_matches_keras(rule, surface_name, exact):
    import keras

    class_name, keras_only, rates, exact_hyper = KERAS_EQUIVALENTS[rule]
    surface, loss_fn, start = _surface_for_keras(surface_name)
    lr = rates[surface_name]
    if exact:
        lr, hyper, rtol, atol = 2.0 ** round(math.log2(lr)), exact_hyper, 1e-9, 1e-12
    else:
        hyper = {"momentum": 0.9} if "momentum" in exact_hyper else {}
        # The adaptive rules' steps are about lr per coordinate; float32 hyper-parameters shift them
        # by ~1e-5 relative (Adam's 1 - beta_2 most).
        rtol, atol = (1e-4, 1e-4 * lr) if rule == "adam" else (1e-5, 1e-6)
    steps = 30
    optimizer = getattr(keras.optimizers, class_name)(learning_rate=lr, **keras_only, **hyper)
    expected = _keras_trajectory(optimizer, start, steps, loss_fn)
    run = descend(surface, start, learning_rate=lr, steps=steps, optimizer=rule, **hyper)
    assert not run.diverged
    assert run.points.shape == expected.shape
    np.testing.assert_allclose(run.points, expected, rtol=rtol, atol=atol)
    if rule != "sgd":
        _assert_differs_from_plain_gd(surface, start, lr, steps, expected)


def test_nesterov_differs_from_heavy_ball_momentum():
    # The look-ahead really changes the path (so the Keras check of "nesterov" is not momentum's).
    for surface_name in ("rosenbrock", "quadratic"):
        surface, _, start = _surface_for_keras(surface_name)
        lr = KERAS_EQUIVALENTS["nesterov"][2][surface_name]
        heavy = descend(surface, start, learning_rate=lr, steps=30, optimizer="momentum")
        nesterov = descend(surface, start, learning_rate=lr, steps=30, optimizer="nesterov")
        assert not np.allclose(heavy.points, nesterov.points, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("optimizer", ["momentum", "nesterov"])
def test_momentum_zero_is_plain_gd(optimizer):
    q = Quadratic((1.0, 4.0), angle=0.2)
    a = descend(q, [1.0, 2.0], learning_rate=0.1, steps=40, optimizer=optimizer, momentum=0.0)
    b = descend(q, [1.0, 2.0], learning_rate=0.1, steps=40, optimizer="sgd")
    np.testing.assert_allclose(a.points, b.points, rtol=1e-12, atol=1e-15)


def test_adam_first_step_has_length_lr_along_each_axis():
    # With bias correction, Adam's first step is lr * sign(g) per coordinate (up to epsilon).
    run = descend(Rosenbrock(), [-1.2, 1.0], learning_rate=0.01, steps=1, optimizer="adam")
    g = Rosenbrock().gradient(np.array([-1.2, 1.0]))
    np.testing.assert_allclose(run.points[1] - run.points[0], -0.01 * np.sign(g), rtol=1e-6)


# -- descend: errors -----------------------------------------------------------------------------
def test_unknown_optimizer_lists_choices():
    with pytest.raises(ValueError) as info:
        descend(Quadratic(), [1.0, 1.0], learning_rate=0.1, optimizer="nadam")
    assert "nadam" in str(info.value)
    for name in descent.UPDATE_RULES:
        assert name in str(info.value)


@pytest.mark.parametrize("lr", [0.0, -0.1, float("nan"), float("inf"), -float("inf")])
def test_bad_learning_rate(lr):
    with pytest.raises(ValueError, match="learning_rate"):
        descend(Quadratic(), [1.0, 1.0], learning_rate=lr)


@pytest.mark.parametrize("steps", [0, -3, 2.5, True, "10"])
def test_bad_steps(steps):
    with pytest.raises(ValueError, match="steps"):
        descend(Quadratic(), [1.0, 1.0], learning_rate=0.1, steps=steps)


@pytest.mark.parametrize(
    "start", [[1.0], [1.0, 2.0, 3.0], [[1.0, 2.0]], [float("nan"), 0.0], [0.0, float("inf")], 1.0]
)
def test_bad_start(start):
    with pytest.raises(ValueError, match="start"):
        descend(Quadratic(), start, learning_rate=0.1)


@pytest.mark.parametrize("momentum", [-0.1, 1.0, 1.5, float("nan")])
def test_bad_momentum(momentum):
    with pytest.raises(ValueError, match="momentum"):
        descend(Quadratic(), [1.0, 1.0], learning_rate=0.1, optimizer="momentum", momentum=momentum)


@pytest.mark.parametrize("name", ["beta_1", "beta_2", "rho"])
@pytest.mark.parametrize("value", [-0.1, 1.0, float("nan")])
def test_bad_decay_rates(name, value):
    with pytest.raises(ValueError, match=name):
        descend(Quadratic(), [1.0, 1.0], learning_rate=0.1, optimizer="adam", **{name: value})


@pytest.mark.parametrize("name", ["initial_accumulator_value", "epsilon"])
def test_bad_accumulator_or_epsilon(name):
    with pytest.raises(ValueError, match=name):
        descend(Quadratic(), [1.0, 1.0], learning_rate=0.1, optimizer="adagrad", **{name: -1e-3})
    # Zero is allowed, and the step is then exactly lr * g / sqrt(a0 + g^2) (or with a0 = 0, lr * sign(g)).
    run = descend(Quadratic(), [1.0, 1.0], learning_rate=0.1, steps=1, optimizer="adagrad", **{name: 0.0})
    assert not run.diverged


def test_nesterov_is_momentum_evaluated_at_the_look_ahead_point():
    # Sutskever et al.'s form: v <- mu v - lr grad(q + mu v), q <- q + v. Keras's (and descend's)
    # iterate is the look-ahead point p = q + mu v.
    surface, lr, mu = Rosenbrock(), 1e-3, 0.9
    q, v = np.array([-1.2, 1.0]), np.zeros(2)
    run = descend(surface, q, learning_rate=lr, steps=40, optimizer="nesterov", momentum=mu)
    for t in range(1, 41):
        v = mu * v - lr * surface.gradient(q + mu * v)
        q = q + v
        np.testing.assert_allclose(run.points[t], q + mu * v, rtol=1e-12, atol=1e-14)


def test_adagrad_step_shrinks_as_the_accumulator_grows():
    # On a constant gradient g the t-th step is lr * g / sqrt(a0 + t g^2 + eps): it shrinks like 1/sqrt(t).
    class Slope:
        name = "slope"

        def value(self, p):
            return np.asarray(p, dtype=float) @ np.array([2.0, -0.5])

        def gradient(self, p):
            return np.array([2.0, -0.5])

        def hessian(self, p):
            return np.zeros((2, 2))

    g, lr, a0 = np.array([2.0, -0.5]), 0.1, 0.1
    run = descend(Slope(), [0.0, 0.0], learning_rate=lr, steps=50, optimizer="adagrad")
    t = np.arange(1, 51)[:, None]
    np.testing.assert_allclose(np.diff(run.points, axis=0), -lr * g / np.sqrt(a0 + t * g**2 + 1e-7), rtol=1e-12)
    # RMSprop's step on the same slope settles at lr * sign(g) instead, once s_t has forgotten s_0 = 0.
    rms = descend(Slope(), [0.0, 0.0], learning_rate=lr, steps=200, optimizer="rmsprop")
    np.testing.assert_allclose(np.diff(rms.points, axis=0)[-1], -lr * np.sign(g), rtol=1e-6)


def test_start_is_not_modified():
    start = np.array([1.0, 2.0])
    descend(Quadratic(), start, learning_rate=0.1, steps=5)
    np.testing.assert_array_equal(start, [1.0, 2.0])


# -- divergence_threshold ------------------------------------------------------------------------
def test_divergence_threshold_on_axis_aligned_quadratic():
    q = Quadratic((1.0, 10.0))
    found = divergence_threshold(q, [1.0, 1.0])
    assert found == pytest.approx(2 / q.smoothness, rel=1e-3)
    assert 2 / q.smoothness == pytest.approx(0.2)


def test_divergence_threshold_on_rotated_quadratic():
    q = Quadratic((0.5, 4.0), angle=0.6)
    found = divergence_threshold(q, [1.0, -1.0])
    assert found == pytest.approx(2 / 4.0, rel=1e-3)


def test_divergence_threshold_errors():
    q = Quadratic((1.0, 10.0))
    with pytest.raises(ValueError, match="low"):
        divergence_threshold(q, [1.0, 1.0], low=0.5, high=10.0)
    with pytest.raises(ValueError, match="high"):
        divergence_threshold(q, [1.0, 1.0], low=1e-6, high=0.1)


# -- SoftmaxRegression ---------------------------------------------------------------------------
def _small_problem(seed=0, n=12, d=(2, 3), k=4):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *d))
    y = rng.integers(0, k, size=n)
    return SoftmaxRegression(x, y, k), rng


def test_softmax_shape_and_loss_at_zero_is_log_k():
    problem, _ = _small_problem(k=4)
    assert problem.shape == (2 * 3 + 1, 4)
    assert problem.n == 12
    assert problem.loss(np.zeros(problem.shape)) == pytest.approx(math.log(4), rel=1e-12)


def test_softmax_loss_matches_direct_formula():
    problem, rng = _small_problem(seed=1)
    w = rng.normal(size=problem.shape)
    x = np.hstack([problem.x.reshape(problem.n, -1), np.ones((problem.n, 1))])
    logits = x @ w
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -np.mean(log_probs[np.arange(problem.n), problem.y])
    assert problem.loss(w) == pytest.approx(expected, rel=1e-12)
    # And on a subset of examples.
    idx = np.array([0, 3, 5])
    assert problem.loss(w, idx) == pytest.approx(-np.mean(log_probs[idx, problem.y[idx]]), rel=1e-12)
    # Accuracy is the fraction of argmax hits.
    assert problem.accuracy(w) == pytest.approx(np.mean(np.argmax(logits, axis=1) == problem.y))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_softmax_gradient_matches_finite_differences(seed):
    problem, rng = _small_problem(seed=seed)
    w = rng.normal(scale=0.5, size=problem.shape)
    for idx in (slice(None), np.array([1, 4, 7, 8])):
        grad = problem.gradient(w, idx)
        assert grad.shape == problem.shape
        numeric = np.zeros_like(w)
        h = 1e-6
        for i in range(w.shape[0]):
            for j in range(w.shape[1]):
                e = np.zeros_like(w)
                e[i, j] = h
                numeric[i, j] = (problem.loss(w + e, idx) - problem.loss(w - e, idx)) / (2 * h)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def test_softmax_gradient_does_not_modify_weights():
    problem, rng = _small_problem()
    w = rng.normal(size=problem.shape)
    before = w.copy()
    problem.gradient(w)
    problem.loss(w)
    np.testing.assert_array_equal(w, before)


def test_softmax_validation():
    x = np.zeros((5, 3))
    with pytest.raises(ValueError, match="5 examples.*4"):
        SoftmaxRegression(x, np.zeros(4, dtype=int), 3)
    with pytest.raises(ValueError, match="labels"):
        SoftmaxRegression(x, np.array([0, 1, 2, 3, 0]), 3)
    with pytest.raises(ValueError, match="labels"):
        SoftmaxRegression(x, np.array([0, 1, -1, 2, 0]), 3)


# -- minibatch_descent ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits_problem():
    from gradbook import data

    ds = data.load("digits", n_train=200, seed=0)
    return SoftmaxRegression(ds.x_train, ds.y_train, ds.num_classes)


def test_full_batch_is_plain_gradient_descent(digits_problem):
    p = digits_problem
    epochs, lr = 6, 0.5
    updates, seen, losses = minibatch_descent(p, batch_size=p.n, learning_rate=lr, epochs=epochs)
    np.testing.assert_array_equal(updates, np.arange(epochs + 1))
    np.testing.assert_array_equal(seen, p.n * np.arange(epochs + 1))
    w = np.zeros(p.shape)
    expected = [p.loss(w)]
    for _ in range(epochs):
        w = w - lr * p.gradient(w)
        expected.append(p.loss(w))
    np.testing.assert_allclose(losses, expected, rtol=1e-10)


def test_sgd_makes_one_update_per_example(digits_problem):
    p = digits_problem
    updates, seen, losses = minibatch_descent(p, batch_size=1, learning_rate=0.05, epochs=2)
    assert len(updates) == len(seen) == len(losses) == 2 * p.n + 1
    assert updates[-1] == 2 * p.n and seen[-1] == 2 * p.n
    np.testing.assert_array_equal(updates, seen)


def test_batches_that_do_not_divide_n():
    rng = np.random.default_rng(0)
    p = SoftmaxRegression(rng.normal(size=(10, 3)), rng.integers(0, 3, size=10), 3)
    updates, seen, _ = minibatch_descent(p, batch_size=3, learning_rate=0.1, epochs=2)
    # ceil(10 / 3) = 4 updates per epoch; the last batch of each epoch has 1 example.
    np.testing.assert_array_equal(updates, np.arange(9))
    np.testing.assert_array_equal(seen, [0, 3, 6, 9, 10, 13, 16, 19, 20])


def test_record_every(digits_problem):
    p = digits_problem
    updates, seen, losses = minibatch_descent(p, batch_size=40, learning_rate=0.1, epochs=2, record_every=3)
    # 5 updates per epoch, 10 in all: recorded at 0, 3, 6, 9.
    np.testing.assert_array_equal(updates, [0, 3, 6, 9])
    np.testing.assert_array_equal(seen, 40 * updates)
    every = minibatch_descent(p, batch_size=40, learning_rate=0.1, epochs=2, record_every=1)
    np.testing.assert_allclose(losses, every[2][[0, 3, 6, 9]], rtol=1e-12)


def test_minibatch_loss_decreases_on_digits(digits_problem):
    p = digits_problem
    _, _, losses = minibatch_descent(p, batch_size=16, learning_rate=0.5, epochs=3)
    assert losses[0] == pytest.approx(math.log(10))
    assert losses[-1] < 0.5 * losses[0]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])


def test_minibatch_seed(digits_problem):
    p = digits_problem
    a = minibatch_descent(p, batch_size=16, learning_rate=0.5, epochs=2, seed=5)
    b = minibatch_descent(p, batch_size=16, learning_rate=0.5, epochs=2, seed=5)
    c = minibatch_descent(p, batch_size=16, learning_rate=0.5, epochs=2, seed=6)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[2], c[2])


def test_minibatch_validation(digits_problem):
    p = digits_problem
    for bad in (0, p.n + 1, 2.5, True, -1):
        with pytest.raises(ValueError, match="batch_size"):
            minibatch_descent(p, batch_size=bad, learning_rate=0.1, epochs=1)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="learning_rate"):
            minibatch_descent(p, batch_size=10, learning_rate=bad, epochs=1)
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="epochs"):
            minibatch_descent(p, batch_size=10, learning_rate=0.1, epochs=bad)


# -- Trajectory helpers --------------------------------------------------------------------------
def test_verdict_diverged():
    run = descend(Quadratic((1.0, 10.0)), [1.0, 1.0], learning_rate=1.0, steps=500)
    assert run.diverged
    assert run.verdict() == f"diverged at step {run.diverged_at}"


def test_verdict_diverging_before_it_escapes():
    run = descend(Quadratic((1.0, 10.0)), [1.0, 1.0], learning_rate=0.21, steps=20)  # |1 - 10 lr| = 1.1
    assert not run.diverged and run.final_loss > run.losses[0]
    verdict = run.verdict()
    assert verdict.startswith("diverging")
    assert f"{run.losses[0]:.3g}" in verdict and f"{run.final_loss:.3g}" in verdict


def test_verdict_oscillating_and_converging():
    q = Quadratic((1.0, 10.0))
    # 1 - 10 lr = -0.9: the stiff coordinate flips sign at every step.
    zigzag = descend(q, [1.0, 1.0], learning_rate=0.19, steps=30)
    assert zigzag.final_loss < zigzag.losses[0]
    assert zigzag.verdict().startswith("oscillating")
    # 1 - 10 lr = 0.5 and 1 - lr = 0.95: every coordinate shrinks monotonically.
    smooth = descend(q, [1.0, 1.0], learning_rate=0.05, steps=30)
    assert smooth.verdict().startswith("converging")
    assert f"{smooth.losses[0]:.3g}" in smooth.verdict()
    # A single step cannot oscillate.
    assert descend(q, [1.0, 1.0], learning_rate=0.19, steps=1).verdict().startswith("converging")


def test_every_keeps_every_kth_point_and_the_last():
    run = descend(Quadratic(), [1.0, 1.0], learning_rate=0.05, steps=10)  # 11 points
    thin = run.every(3)
    np.testing.assert_array_equal(thin.points, run.points[[0, 3, 6, 9, 10]])
    np.testing.assert_array_equal(thin.losses, run.losses[[0, 3, 6, 9, 10]])
    assert thin.diverged_at is None
    np.testing.assert_array_equal(run.every(5).points, run.points[[0, 5, 10]])  # last already there
    np.testing.assert_array_equal(run.every(1).points, run.points)
    np.testing.assert_array_equal(run.every(100).points, run.points[[0, 10]])
    diverged = descend(Quadratic((1.0, 10.0)), [1.0, 1.0], learning_rate=1.0, steps=500)
    assert diverged.every(4).diverged_at == diverged.diverged_at
    np.testing.assert_array_equal(diverged.every(4).points[-1], diverged.points[-1])
