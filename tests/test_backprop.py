"""Tests for gradbook.backprop: hand-written backward passes against TensorFlow, Keras and finite differences.

``tf.GradientTape`` in float64 is the reference for every backward pass (with a random upstream
gradient ``G`` and the loss ``sum(Y * G)``); :func:`gradbook.backprop.gradient_check` checks each
one a second way on tiny shapes; :class:`TinyCNN` is checked against the equivalent Keras model.
:class:`TwoLayerNet` (hand-written backprop) and :func:`input_gradients` (per-layer gradients from
TensorFlow) close the file.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import keras
from tf_conventions import fits, tf_padding
from gradbook import backprop, data
from gradbook.backprop import (
    ACTIVATIONS,
    GATES,
    SIGMOID_LOSSES,
    GradientCheck,
    TinyCNN,
    TwoLayerNet,
    activation,
    activation_backward,
    avg_pool2d_backward,
    conv2d_backward,
    dense_backward,
    gate_backward,
    gradient_check,
    input_gradients,
    max_pool2d_backward,
    sigmoid_loss,
    softmax,
    softmax_cross_entropy,
)
from gradbook.conv import avg_pool2d, conv2d, max_pool2d

RTOL = 1e-8  # float64 against float64: the same sums in another order
KERAS_SETTINGS = settings(max_examples=20)


# -- helpers -----------------------------------------------------------------------------------------


def fitting(case):
    p = case["padding"]
    axis = (lambda i: p) if isinstance(p, str) else (lambda i: p[i])
    return fits(case["h"], case["k"][0], axis(0)) and fits(case["w"], case["k"][1], axis(1))


def assert_close(actual, expected, scale=1.0, rtol=RTOL):
    """float64 result, same shape, relative error <= rtol; absolute tolerance scaled to the magnitudes."""
    expected = np.asarray(expected)
    assert actual.shape == expected.shape
    assert actual.dtype == np.float64
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=1e-12 * scale)


def explicit_pads(max_pad=2):
    side = st.integers(0, max_pad)
    return st.tuples(st.tuples(side, side), st.tuples(side, side))


@st.composite
def cases(draw, max_batch=3, max_hw=10, max_ch=3, max_k=4, max_s=3, explicit=False, max_pad=2):
    named = st.sampled_from(["valid", "same"])
    return dict(
        batch=draw(st.integers(1, max_batch)),
        h=draw(st.integers(1, max_hw)),
        w=draw(st.integers(1, max_hw)),
        cin=draw(st.integers(1, max_ch)),
        cout=draw(st.integers(1, max_ch)),
        k=(draw(st.integers(1, max_k)), draw(st.integers(1, max_k))),
        s=(draw(st.integers(1, max_s)), draw(st.integers(1, max_s))),
        padding=draw(st.one_of(named, explicit_pads(max_pad)) if explicit else named),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


@st.composite
def pool_cases(draw, explicit_below_window=False):
    """Pooling shapes; optionally explicit padding smaller than the window (what tf.nn.max_pool2d accepts)."""
    case = draw(cases())
    if explicit_below_window and draw(st.booleans()):
        kh, kw = case["k"]
        case["padding"] = (
            (draw(st.integers(0, kh - 1)), draw(st.integers(0, kh - 1))),
            (draw(st.integers(0, kw - 1)), draw(st.integers(0, kw - 1))),
        )
    return case


def images(case):
    rng = np.random.default_rng(case["seed"])
    return rng.uniform(-1, 1, (case["batch"], case["h"], case["w"], case["cin"]))


def tape_grads(fn, *arrays):
    """Gradients of fn(*tensors) (a scalar) with respect to every argument, by tf.GradientTape."""
    tensors = [tf.constant(a, dtype=tf.float64) for a in arrays]
    with tf.GradientTape() as tape:
        for t in tensors:
            tape.watch(t)
        loss = fn(*tensors)
    return [g.numpy() for g in tape.gradient(loss, tensors)]


def tf_pool_grad(fn, x, g, case):
    """Gradient of sum(pool(x) * g) with respect to x, by TensorFlow."""
    return tape_grads(
        lambda t: tf.reduce_sum(fn(t, ksize=list(case["k"]), strides=list(case["s"]), padding=tf_padding(case["padding"])) * g), x
    )[0]


# -- dense ---------------------------------------------------------------------------------------------
@given(st.integers(1, 5), st.integers(1, 6), st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_dense_backward_matches_gradient_tape(n, n_in, n_out, seed):
    rng = np.random.default_rng(seed)
    x, w, b = rng.uniform(-1, 1, (n, n_in)), rng.uniform(-1, 1, (n_in, n_out)), rng.uniform(-1, 1, n_out)
    g = rng.standard_normal((n, n_out))
    grad_x, grad_w, grad_b = dense_backward(x, w, g)
    ex, ew, eb = tape_grads(lambda x_, w_, b_: tf.reduce_sum((x_ @ w_ + b_) * g), x, w, b)
    assert_close(grad_x, ex, n_out)
    assert_close(grad_w, ew, n)
    assert_close(grad_b, eb, n)


def test_dense_backward_passes_gradient_check():
    rng = np.random.default_rng(0)
    g = rng.standard_normal((3, 4))

    def f(x, w, b):
        return float(np.sum((x @ w + b) * g)), dense_backward(x, w, g)

    check = gradient_check(f, [rng.standard_normal((3, 5)), rng.standard_normal((5, 4)), rng.standard_normal(4)])
    assert check.passed, str(check)


# -- convolution ---------------------------------------------------------------------------------------
@given(cases(explicit=True))
def test_conv2d_backward_matches_gradient_tape(case):
    assume(fitting(case))
    rng = np.random.default_rng(case["seed"])
    x = images(case)
    w = rng.uniform(-1, 1, (*case["k"], case["cin"], case["cout"]))
    b = rng.uniform(-1, 1, case["cout"])
    y = conv2d(x, w, b, stride=case["s"], padding=case["padding"])
    g = rng.uniform(-1, 1, y.shape)

    def loss(x_, w_, b_):
        out = tf.nn.conv2d(x_, w_, strides=list(case["s"]), padding=tf_padding(case["padding"])) + b_
        return tf.reduce_sum(out * g)

    ex, ew, eb = tape_grads(loss, x, w, b)
    grad_x, grad_w, grad_b = conv2d_backward(x, w, g, stride=case["s"], padding=case["padding"])
    kh, kw = case["k"]
    positions = y.shape[0] * y.shape[1] * y.shape[2]
    assert_close(grad_x, ex, kh * kw * case["cout"])
    assert_close(grad_w, ew, positions)
    assert_close(grad_b, eb, positions)


@pytest.mark.parametrize(
    "stride,padding",
    [(1, "valid"), (2, "same"), ((1, 2), "same"), ((2, 1), ((1, 0), (2, 1))), (1, ((0, 2), (1, 1)))],
)
def test_conv2d_backward_passes_gradient_check(stride, padding):
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((2, 4, 5, 2)), rng.standard_normal((2, 3, 2, 2)), rng.standard_normal(2)
    g = rng.standard_normal(conv2d(x, w, b, stride=stride, padding=padding).shape)

    def f(x_, w_, b_):
        y = conv2d(x_, w_, b_, stride=stride, padding=padding)
        return float(np.sum(y * g)), conv2d_backward(x_, w_, g, stride=stride, padding=padding)

    check = gradient_check(f, [x, w, b])
    assert check.passed, str(check)


def test_conv2d_backward_sums_over_every_path_hand_example():
    # 1x3 input, kernel [1, 2], stride 1: y0 = x0 + 2 x1, y1 = x1 + 2 x2.
    x = np.array([1.0, 2.0, 3.0]).reshape(1, 1, 3, 1)
    w = np.array([1.0, 2.0]).reshape(1, 2, 1, 1)
    g = np.array([10.0, 100.0]).reshape(1, 1, 2, 1)
    grad_x, grad_w, grad_b = conv2d_backward(x, w, g)
    np.testing.assert_array_equal(grad_x.ravel(), [10.0, 2 * 10.0 + 100.0, 2 * 100.0])  # x1 feeds both outputs
    np.testing.assert_array_equal(grad_w.ravel(), [10 * 1.0 + 100 * 2.0, 10 * 2.0 + 100 * 3.0])
    np.testing.assert_array_equal(grad_b, [110.0])


# -- max pooling -----------------------------------------------------------------------------------------
@given(pool_cases(explicit_below_window=True))
def test_max_pool2d_backward_matches_gradient_tape(case):
    assume(fitting(case))
    rng = np.random.default_rng(case["seed"])
    x = images(case)  # continuous: no ties
    y = max_pool2d(x, case["k"], stride=case["s"], padding=case["padding"])
    g = rng.standard_normal(y.shape)
    got = max_pool2d_backward(x, g, case["k"], stride=case["s"], padding=case["padding"])
    kh, kw = case["k"]
    assert_close(got, tf_pool_grad(tf.nn.max_pool2d, x, g, case), kh * kw)
    # every window hands its whole gradient to one real cell
    np.testing.assert_allclose(got.sum(axis=(1, 2)), g.sum(axis=(1, 2)), rtol=1e-10, atol=1e-10 * g.size)


@given(pool_cases(), st.integers(1, 3))
def test_max_pool2d_backward_with_repeated_maxima_equals_tf_exactly(case, levels):
    # Few distinct values -> many ties; integer gradients -> every sum is exact in any order.
    assume(fitting(case))
    rng = np.random.default_rng(case["seed"])
    x = rng.integers(0, levels, (case["batch"], case["h"], case["w"], case["cin"])).astype(np.float64)
    g = rng.integers(-5, 6, max_pool2d(x, case["k"], stride=case["s"], padding=case["padding"]).shape).astype(np.float64)
    got = max_pool2d_backward(x, g, case["k"], stride=case["s"], padding=case["padding"])
    np.testing.assert_array_equal(got, tf_pool_grad(tf.nn.max_pool2d, x, g, case))
    np.testing.assert_array_equal(got.sum(axis=(1, 2)), g.sum(axis=(1, 2)))  # nothing lost to padding


@pytest.mark.parametrize("value", [0.0, -3.5, 7.0])
@pytest.mark.parametrize(
    "pool,stride,padding",
    [(2, None, "valid"), (2, 1, "valid"), (3, 1, "same"), ((3, 2), (2, 1), "same"), (2, 2, "same"), (4, 3, "same")],
)
def test_max_pool2d_backward_constant_input_equals_tf(value, pool, stride, padding):
    x = np.full((2, 5, 6, 2), value)
    k = (pool, pool) if isinstance(pool, int) else pool
    s = k if stride is None else ((stride, stride) if isinstance(stride, int) else stride)
    case = dict(k=k, s=s, padding=padding)
    rng = np.random.default_rng(3)
    g = rng.integers(-5, 6, max_pool2d(x, pool, stride=stride, padding=padding).shape).astype(np.float64)
    got = max_pool2d_backward(x, g, pool, stride=stride, padding=padding)
    np.testing.assert_array_equal(got, tf_pool_grad(tf.nn.max_pool2d, x, g, case))


def test_max_pool2d_backward_ties_go_to_the_first_max_in_row_major_order():
    # One 2x2 window [[1, 5], [5, 5]]: the first 5 in row-major order (row 0, col 1) wins.
    x = np.array([[1.0, 5.0], [5.0, 5.0]]).reshape(1, 2, 2, 1)
    got = max_pool2d_backward(x, np.array([7.0]).reshape(1, 1, 1, 1))
    np.testing.assert_array_equal(got.reshape(2, 2), [[0.0, 7.0], [0.0, 0.0]])
    # [[1, 2], [5, 5]]: row 1 col 0 comes before row 1 col 1
    x = np.array([[1.0, 2.0], [5.0, 5.0]]).reshape(1, 2, 2, 1)
    got = max_pool2d_backward(x, np.array([7.0]).reshape(1, 1, 1, 1))
    np.testing.assert_array_equal(got.reshape(2, 2), [[0.0, 0.0], [7.0, 0.0]])


def test_max_pool2d_backward_overlapping_windows_accumulate():
    # pool 2, stride 1: the centre 9 is the maximum of all four windows and collects every gradient.
    x = np.array([[1.0, 2.0, 3.0], [4.0, 9.0, 5.0], [6.0, 7.0, 8.0]]).reshape(1, 3, 3, 1)
    g = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
    got = max_pool2d_backward(x, g, 2, stride=1)
    expected = np.zeros((3, 3))
    expected[1, 1] = 1.0 + 2.0 + 3.0 + 4.0
    np.testing.assert_array_equal(got.reshape(3, 3), expected)


@pytest.mark.parametrize(
    "pool,stride,padding",
    [(2, 2, "same"), (3, 1, "same"), (4, 3, "same"), (2, 1, ((1, 1), (1, 0))), (3, 2, ((2, 2), (0, 2)))],
)
def test_max_pool2d_backward_padded_cells_never_get_gradient(pool, stride, padding):
    # All inputs negative: a zero-padded border would win; -inf padding must not.
    rng = np.random.default_rng(5)
    x = -rng.uniform(0.5, 2.0, (2, 5, 4, 2))
    y = max_pool2d(x, pool, stride=stride, padding=padding)
    g = rng.integers(1, 6, y.shape).astype(np.float64)  # all positive
    got = max_pool2d_backward(x, g, pool, stride=stride, padding=padding)
    assert got.shape == x.shape
    np.testing.assert_array_equal(got.sum(axis=(1, 2)), g.sum(axis=(1, 2)))  # all of it reached the input
    # and each cell gets exactly the gradients of the windows whose maximum it is
    expected = np.zeros_like(x)
    for a, i, j, c in np.ndindex(y.shape):
        hits = np.argwhere(x[a, :, :, c] == y[a, i, j, c])
        assert len(hits) == 1
        expected[a, hits[0][0], hits[0][1], c] += g[a, i, j, c]
    np.testing.assert_array_equal(got, expected)


def test_max_pool2d_backward_minus_infinity_does_not_lose_gradient_to_padding():
    # A window whose real cells are all -inf ties with the -inf padding. TensorFlow's kernel
    # never looks at padded cells, so the first real cell gets the gradient; a padded cell must
    # not take it (it would be cropped away and the gradient lost).
    x = np.full((1, 3, 3, 1), -np.inf)
    case = dict(k=(3, 3), s=(1, 1), padding="same")
    g = np.ones((1, 3, 3, 1))
    got = max_pool2d_backward(x, g, 3, stride=1, padding="same")
    np.testing.assert_array_equal(got, tf_pool_grad(tf.nn.max_pool2d, x, g, case))
    assert got.sum() == g.sum()


@given(pool_cases(), st.floats(0.1, 0.6))
def test_max_pool2d_backward_nan_never_gets_gradient_when_a_number_is_in_the_window(case, nan_fraction):
    assume(fitting(case))
    rng = np.random.default_rng(case["seed"])
    x = images(case)
    nan = rng.uniform(size=x.shape) < nan_fraction
    x[nan] = np.nan
    # every window holds at least one number
    low = np.where(nan, -1e300, x)  # NaN replaced by a number below every other
    numbers = max_pool2d(np.where(nan, -np.inf, 0.0), case["k"], stride=case["s"], padding=case["padding"])
    assume(np.all(numbers == 0.0))
    g = rng.integers(1, 6, numbers.shape).astype(np.float64)
    got = max_pool2d_backward(x, g, case["k"], stride=case["s"], padding=case["padding"])
    assert np.all(got[nan] == 0.0)
    assert np.all(np.isfinite(got))
    # the same as TensorFlow's gradient when NaN is any number below all others
    np.testing.assert_array_equal(got, tf_pool_grad(tf.nn.max_pool2d, low, g, case))


def test_max_pool2d_backward_nan_hand_example():
    x = np.array([[np.nan, 1.0], [2.0, 3.0]]).reshape(1, 2, 2, 1)
    got = max_pool2d_backward(x, np.array([4.0]).reshape(1, 1, 1, 1))
    np.testing.assert_array_equal(got.reshape(2, 2), [[0.0, 0.0], [0.0, 4.0]])


@pytest.mark.parametrize(
    "pool,stride,padding",
    [(2, None, "valid"), (2, 1, "valid"), (3, 2, "same"), ((2, 3), (1, 2), "same"), (2, 1, ((1, 0), (0, 1)))],
)
def test_max_pool2d_backward_passes_gradient_check(pool, stride, padding):
    rng = np.random.default_rng(2)
    shape = (2, 4, 5, 2)
    x = rng.permutation(np.prod(shape)).reshape(shape) * 0.1 - 3.0  # distinct values, far apart next to eps
    g = rng.standard_normal(max_pool2d(x, pool, stride=stride, padding=padding).shape)

    def f(x_):
        y = max_pool2d(x_, pool, stride=stride, padding=padding)
        return float(np.sum(y * g)), [max_pool2d_backward(x_, g, pool, stride=stride, padding=padding)]

    check = gradient_check(f, [x])
    assert check.passed, str(check)


# -- average pooling ---------------------------------------------------------------------------------------
@given(pool_cases())
def test_avg_pool2d_backward_matches_gradient_tape(case):
    assume(fitting(case))
    rng = np.random.default_rng(case["seed"])
    x = images(case)
    y = avg_pool2d(x, case["k"], stride=case["s"], padding=case["padding"])
    g = rng.standard_normal(y.shape)
    got = avg_pool2d_backward(x, g, case["k"], stride=case["s"], padding=case["padding"])
    kh, kw = case["k"]
    assert_close(got, tf_pool_grad(tf.nn.avg_pool2d, x, g, case), kh * kw)
    # every window spreads its whole gradient over its real cells
    np.testing.assert_allclose(got.sum(axis=(1, 2)), g.sum(axis=(1, 2)), rtol=1e-10, atol=1e-10 * g.size)


def test_avg_pool2d_backward_same_hand_example():
    # 3x3, pool 2, stride 2, "same": the windows cover 4, 2, 2 and 1 real cells.
    x = np.zeros((1, 3, 3, 1))
    g = np.array([[4.0, 2.0], [6.0, 5.0]]).reshape(1, 2, 2, 1)
    expected = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [3.0, 3.0, 5.0]])
    np.testing.assert_array_equal(avg_pool2d_backward(x, g, 2, padding="same").reshape(3, 3), expected)


@pytest.mark.parametrize(
    "pool,stride,padding",
    [(2, None, "valid"), (3, 1, "valid"), (3, 2, "same"), ((2, 3), (1, 2), "same"), (3, 1, ((2, 0), (1, 1)))],
)
def test_avg_pool2d_backward_passes_gradient_check(pool, stride, padding):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 4, 5, 2))
    g = rng.standard_normal(avg_pool2d(x, pool, stride=stride, padding=padding).shape)

    def f(x_):
        y = avg_pool2d(x_, pool, stride=stride, padding=padding)
        return float(np.sum(y * g)), [avg_pool2d_backward(x_, g, pool, stride=stride, padding=padding)]

    check = gradient_check(f, [x])
    assert check.passed, str(check)


# -- activations ---------------------------------------------------------------------------------------------
z_values = hnp.arrays(
    np.float64,
    st.integers(1, 20),
    elements=st.floats(-50, 50, allow_nan=False, allow_subnormal=False),
).map(lambda z: np.concatenate([z, [0.0, -50.0, 50.0, -1e-3, 1e-3]]))


def keras_activation(name):
    return getattr(keras.activations, name)


# Where the float64 reference is only float32-exact: TensorFlow keeps leaky_relu's slope as a
# float32 attribute (0.2 -> 0.20000000298) and tf.nn.gelu casts 1/sqrt(2) through float32, so
# both are off by a few 1e-8 relative. gradbook's exact values are pinned down by hand below.
# In the far negative tail of gelu the relative error of that float32 constant grows (to ~2e-7 at
# z ~ -2.6), so gelu gets 1e-6: still far below any real bug, which shows at 1e-3 or worse.
REFERENCE_RTOL = {"leaky_relu": 1e-7, "gelu": 1e-6}
REFERENCE_GRAD_RTOL = REFERENCE_RTOL


@pytest.mark.parametrize("name", ACTIVATIONS)
@KERAS_SETTINGS
@given(z=z_values)
def test_activation_matches_keras(name, z):
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = activation(name, z)
    expected = np.asarray(keras_activation(name)(tf.constant(z)))
    assert np.all(np.isfinite(got))
    assert_close(got, expected, max(1.0, np.abs(z).max()), rtol=REFERENCE_RTOL.get(name, RTOL))


@pytest.mark.parametrize("name", ACTIVATIONS)
@KERAS_SETTINGS
@given(z=z_values, seed=st.integers(0, 2**32 - 1))
def test_activation_backward_matches_gradient_tape(name, z, seed):
    g = np.random.default_rng(seed).standard_normal(z.shape)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = activation_backward(name, z, g)
    (expected,) = tape_grads(lambda t: tf.reduce_sum(keras_activation(name)(t) * g), z)
    assert np.all(np.isfinite(got))
    assert_close(got, expected, max(1.0, np.abs(g).max()), rtol=REFERENCE_GRAD_RTOL.get(name, RTOL))


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_backward_passes_gradient_check(name):
    rng = np.random.default_rng(6)
    z = rng.uniform(0.1, 3.0, (3, 4)) * rng.choice([-1.0, 1.0], (3, 4))  # away from the kink at 0
    g = rng.standard_normal(z.shape)
    check = gradient_check(lambda z_: (float(np.sum(activation(name, z_) * g)), [activation_backward(name, z_, g)]), [z])
    assert check.passed, str(check)


def test_leaky_relu_and_elu_hand_values():
    z = np.array([-10.0, -1.0, 0.0, 2.0])
    np.testing.assert_array_equal(activation("leaky_relu", z), [-2.0, -0.2, 0.0, 2.0])  # Keras's slope 0.2
    np.testing.assert_array_equal(activation_backward("leaky_relu", z, np.ones(4)), [0.2, 0.2, 0.2, 1.0])
    np.testing.assert_allclose(activation("elu", z), [np.expm1(-10.0), np.expm1(-1.0), 0.0, 2.0], rtol=1e-15)
    np.testing.assert_allclose(activation_backward("elu", z, np.ones(4)), [np.exp(-10.0), np.exp(-1.0), 1.0, 1.0], rtol=1e-15)


def test_gelu_matches_the_exact_formula():
    # An independent float64 reference (Keras's GELU rounds 1/sqrt(2) to float32): Phi via math.erfc.
    z = np.array([-6.0, -3.0, -1.0, -0.25, 0.0, 0.5, 2.0, 5.0, 30.0])
    cdf = np.array([0.5 * math.erfc(-v / math.sqrt(2.0)) for v in z])
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    np.testing.assert_allclose(activation("gelu", z), z * cdf, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(activation_backward("gelu", z, np.ones_like(z)), cdf + z * pdf, rtol=1e-12, atol=1e-15)


def test_sigmoid_is_stable_at_large_magnitudes():
    z = np.array([-1000.0, -50.0, -20.0, 0.0, 20.0, 50.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = activation("sigmoid", z)
        d = activation_backward("sigmoid", z, np.ones_like(z))
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(d))
    assert np.all((s >= 0) & (s <= 1))
    assert s[0] == 0.0 and s[-1] == 1.0 and s[3] == 0.5
    assert np.all(np.diff(s) >= 0)
    assert np.all(d >= 0)


@given(hnp.arrays(np.float64, st.integers(1, 30), elements=st.floats(-60, 60, allow_nan=False)))
def test_sigmoid_derivative_is_at_most_a_quarter_attained_at_zero(z):
    d = activation_backward("sigmoid", z, np.ones_like(z))
    assert np.all(d <= 0.25) and np.all(d >= 0)
    assert activation_backward("sigmoid", np.array([0.0]), np.array([1.0]))[0] == 0.25


def test_relu_derivative_at_zero_is_zero_like_tensorflow():
    z = np.array([-1.0, 0.0, 1.0])
    got = activation_backward("relu", z, np.ones(3))
    (expected,) = tape_grads(lambda t: tf.reduce_sum(tf.nn.relu(t)), z)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got, [0.0, 0.0, 1.0])


@pytest.mark.parametrize("fn", [lambda n: activation(n, np.zeros(3)), lambda n: activation_backward(n, np.zeros(3), np.ones(3))])
@pytest.mark.parametrize("name", ["softmax", "swish", "ReLU", ""])
def test_unknown_activation_raises_listing_the_known_ones(fn, name):
    with pytest.raises(ValueError) as info:
        fn(name)
    message = str(info.value)
    assert repr(name) in message
    assert all(known in message for known in ACTIVATIONS)


# -- softmax cross-entropy -----------------------------------------------------------------------------------
@given(st.integers(1, 6), st.integers(2, 10), st.sampled_from([1.0, 10.0, 1e3]), st.integers(0, 2**32 - 1))
def test_softmax_cross_entropy_matches_keras(n, classes, scale, seed):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, classes)) * scale
    labels = rng.integers(0, classes, n)
    keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype="float64")
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, grad = softmax_cross_entropy(logits, labels)
    assert isinstance(loss, float) and np.isfinite(loss)
    expected_loss = float(keras_loss(labels, tf.constant(logits)))
    np.testing.assert_allclose(loss, expected_loss, rtol=RTOL, atol=1e-12 * scale)
    (expected_grad,) = tape_grads(lambda t: keras_loss(labels, t), logits)
    assert_close(grad, expected_grad)
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-12)  # softmax sums to 1, one-hot too


def test_softmax_cross_entropy_large_logits_hand_example():
    # logits 1000 apart: the right class gets probability 1 (loss 0), the wrong one loses 1000.
    loss, grad = softmax_cross_entropy(np.array([[1000.0, 0.0], [0.0, 1000.0]]), np.array([0, 0]))
    assert loss == pytest.approx(1000.0 / 2)
    np.testing.assert_allclose(grad, [[0.0, 0.0], [-0.5, 0.5]], atol=1e-15)


def test_softmax_cross_entropy_passes_gradient_check():
    rng = np.random.default_rng(7)
    labels = np.array([0, 3, 1, 3])

    def f(z):
        loss, grad = softmax_cross_entropy(z, labels)
        return loss, [grad]

    check = gradient_check(f, [rng.standard_normal((4, 5))])
    assert check.passed, str(check)


@pytest.mark.parametrize(
    "logits,labels",
    [
        (np.zeros(5), np.zeros(1, dtype=int)),
        (np.zeros((2, 3)), np.zeros(3, dtype=int)),
        (np.zeros((2, 3)), np.zeros((2, 1), dtype=int)),
        (np.zeros((1, 2, 3)), np.zeros(1, dtype=int)),
    ],
)
def test_softmax_cross_entropy_shape_errors(logits, labels):
    with pytest.raises(ValueError) as info:
        softmax_cross_entropy(logits, labels)
    assert str(logits.shape) in str(info.value) and str(labels.shape) in str(info.value)


# -- gradient_check ------------------------------------------------------------------------------------------
def dense_loss(g):
    def f(x, w, b):
        return float(np.sum((x @ w + b) * g)), list(dense_backward(x, w, g))

    return f


def dense_params(seed=8):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((3, 4)), rng.standard_normal((4, 4)), rng.standard_normal(4)], rng.standard_normal((3, 4))


def test_gradient_check_passes_and_reports_both_gradients():
    params, g = dense_params()
    check = gradient_check(dense_loss(g), params)
    assert isinstance(check, GradientCheck)
    assert check.passed is True
    assert len(check.relative_errors) == 3 and check.max_error <= check.tolerance == 1e-6
    for a, n, expected in zip(check.analytic, check.numeric, dense_backward(params[0], params[1], g)):
        np.testing.assert_array_equal(a, expected)
        np.testing.assert_allclose(n, expected, rtol=1e-6, atol=1e-8)
    str_ = str(check)
    assert "PASSED" in str_ and "FAILED" not in str_


@pytest.mark.parametrize(
    "break_it,expected_error",
    [
        (lambda gx, gw, gb: [gx, -gw, gb], 1.0),  # sign flipped: |-n - n| / (|n| + |n|)
        (lambda gx, gw, gb: [gx, 2 * gw, gb], 1 / 3),  # factor 2: |2n - n| / (|2n| + |n|)
        (lambda gx, gw, gb: [gx, gw.T, gb], None),  # transposed
    ],
)
def test_gradient_check_fails_on_a_wrong_gradient(break_it, expected_error):
    params, g = dense_params()
    right = dense_loss(g)

    def wrong(*p):
        loss, grads = right(*p)
        return loss, break_it(*grads)

    check = gradient_check(wrong, params)
    assert check.passed is False
    assert check.relative_errors[0] <= 1e-6 and check.relative_errors[2] <= 1e-6  # the others are right
    assert check.max_error == check.relative_errors[1] > 0.1
    if expected_error is not None:
        assert check.relative_errors[1] == pytest.approx(expected_error, rel=1e-6)
    assert "FAILED" in str(check) and "PASSED" not in str(check)


def test_gradient_check_relative_error_is_zero_when_both_are_zero():
    check = gradient_check(lambda w: (3.0, [np.zeros_like(w)]), [np.array([1.0, -2.0, 0.5])])
    assert check.relative_errors == (0.0,)
    assert check.passed
    np.testing.assert_array_equal(check.numeric[0], np.zeros(3))


def test_gradient_check_does_not_modify_the_parameters():
    params, g = dense_params()
    copies = [p.copy() for p in params]
    right = dense_loss(g)
    seen = []

    def f(*p):
        # the caller's arrays stay as they were even while the check perturbs its own copies
        seen.append(all(np.array_equal(mine, c) for mine, c in zip(params, copies)))
        return right(*p)

    gradient_check(f, params)
    assert len(seen) == 1 + 2 * sum(p.size for p in params) and all(seen)
    for p, c in zip(params, copies):
        np.testing.assert_array_equal(p, c)
    # a plain list of integers is accepted and left as it was
    w = [1, 2, 3]
    gradient_check(lambda w_: (float(w_ @ w_), [2 * w_]), [w])
    assert w == [1, 2, 3]


def test_gradient_check_wrong_number_of_gradients_raises():
    with pytest.raises(ValueError, match="2 gradients for 1 parameters"):
        gradient_check(lambda w: (float(w @ w), [2 * w, 2 * w]), [np.ones(3)])
    with pytest.raises(ValueError, match="0 gradients for 1 parameters"):
        gradient_check(lambda w: (float(w @ w), []), [np.ones(3)])


def test_gradient_check_wrong_gradient_shape_raises():
    with pytest.raises(ValueError) as info:
        gradient_check(lambda w: (float(np.sum(w * w)), [2 * w.T]), [np.ones((2, 3))])
    assert "(3, 2)" in str(info.value) and "(2, 3)" in str(info.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_gradient_check_non_finite_loss_raises(bad):
    with pytest.raises(ValueError, match="not finite"):
        gradient_check(lambda w: (bad, [np.zeros_like(w)]), [np.ones(3)])


@pytest.mark.parametrize("shape", [(2,), (1,)])
def test_gradient_check_non_scalar_loss_raises_value_error(shape):
    # documented: "ValueError if f returns ... a non-scalar ... loss"
    with pytest.raises(ValueError):
        gradient_check(lambda w: (np.full(shape, float(w @ w)), [2 * w]), [np.ones(3)])


# -- TinyCNN -------------------------------------------------------------------------------------------------
def keras_cnn(filters=4, dtype=None, seed=0):
    keras.utils.set_random_seed(seed)
    kwargs = {} if dtype is None else {"dtype": dtype}
    return keras.Sequential(
        [
            keras.Input((8, 8, 1), **kwargs),
            keras.layers.Conv2D(filters, 3, activation="relu", **kwargs),
            keras.layers.MaxPooling2D(2, **kwargs),
            keras.layers.Flatten(**kwargs),
            keras.layers.Dense(10, **kwargs),
        ]
    )


@pytest.fixture(scope="module")
def digits():
    ds = data.load("digits", n_train=64)
    return ds.x_train, ds.y_train


def randomize_biases(model, seed=9):
    # Keras starts biases at zero; nonzero ones make the test exercise the bias gradients too.
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if layer.get_weights():
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.uniform(-0.1, 0.1, bias.shape).astype(bias.dtype)])


def test_tiny_cnn_from_keras_copies_weights_and_logits_match(digits):
    model = keras_cnn(dtype="float64")
    randomize_biases(model)
    net = TinyCNN.from_keras(model)
    for ours, theirs in zip(net.params, model.get_weights()):
        assert ours.dtype == np.float64
        np.testing.assert_array_equal(ours, theirs)
    assert net.pool == 2
    x = digits[0].astype(np.float64)
    assert_close(net.logits(x), np.asarray(model(x)), 10.0)
    # a copy, not a view: training ours leaves Keras's weights alone
    before = [w.copy() for w in model.get_weights()]
    net.sgd_step(x, digits[1], 0.1)
    for w, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, b)


def test_tiny_cnn_loss_and_grads_match_gradient_tape(digits):
    model = keras_cnn(dtype="float64")
    randomize_biases(model)
    net = TinyCNN.from_keras(model)
    x, y = digits[0].astype(np.float64), digits[1]
    keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype="float64")
    with tf.GradientTape() as tape:
        expected_loss = keras_loss(y, model(x))
    expected = tape.gradient(expected_loss, model.trainable_variables)
    loss, grads = net.loss_and_grads(x, y)
    np.testing.assert_allclose(loss, float(expected_loss), rtol=RTOL)
    assert len(grads) == len(expected) == 4
    for ours, theirs in zip(grads, expected):
        assert_close(ours, np.asarray(theirs))


def test_tiny_cnn_loss_and_grads_pass_gradient_check():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 8, 8, 1))
    y = np.array([3, 7])
    params = [rng.standard_normal((3, 3, 1, 2)), rng.uniform(-0.1, 0.1, 2), rng.standard_normal((18, 10)) * 0.3, rng.standard_normal(10) * 0.1]

    def f(*p):
        return TinyCNN(*p).loss_and_grads(x, y)

    check = gradient_check(f, params)
    assert check.passed, str(check)


def test_tiny_cnn_follows_the_keras_training_curve(digits):
    x, y = digits
    lr, steps = 0.5, 10
    model = keras_cnn()
    randomize_biases(model)
    net = TinyCNN.from_keras(model)
    model.compile(optimizer=keras.optimizers.SGD(lr), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    keras_curve = [float(np.asarray(model.train_on_batch(x, y))) for _ in range(steps)]
    ours = [net.sgd_step(x.astype(np.float64), y, lr) for _ in range(steps)]
    np.testing.assert_allclose(ours, keras_curve, rtol=1e-5)
    assert ours[-1] < ours[0]  # it learns
    for p, w in zip(net.params, model.get_weights()):
        np.testing.assert_allclose(p, w, rtol=1e-4, atol=1e-5)


def test_tiny_cnn_from_keras_rejects_two_convolutions():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(2, 3, activation="relu"),
            keras.layers.Conv2D(2, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ]
    )
    with pytest.raises(ValueError, match="exactly one Conv2D"):
        TinyCNN.from_keras(model)


# -- error paths -----------------------------------------------------------------------------------------------
def test_dense_backward_shape_errors():
    x, w = np.zeros((3, 4)), np.zeros((4, 5))
    with pytest.raises(ValueError) as info:
        dense_backward(x, w, np.zeros((3, 4)))
    message = str(info.value)
    assert "(3, 4)" in message and "(4, 5)" in message and "(3, 5)" in message
    with pytest.raises(ValueError) as info:
        dense_backward(x, np.zeros((3, 5)), np.zeros((3, 5)))
    assert "(3, 5)" in str(info.value)
    with pytest.raises(ValueError, match="2-D"):
        dense_backward(np.zeros(4), w, np.zeros((1, 5)))


def test_conv2d_backward_shape_errors():
    x, w = np.zeros((2, 5, 5, 3)), np.zeros((3, 3, 3, 4))
    for bad in [np.zeros((2, 3, 3, 3)), np.zeros((2, 5, 5, 4)), np.zeros((1, 3, 3, 4)), np.zeros((3, 3, 4))]:
        with pytest.raises(ValueError) as info:
            conv2d_backward(x, w, bad)
        assert str(bad.shape) in str(info.value) and str((2, 3, 3, 4)) in str(info.value)
    # "same" and stride change the expected output shape
    conv2d_backward(x, w, np.zeros((2, 3, 3, 4)), stride=2, padding="same")
    with pytest.raises(ValueError) as info:
        conv2d_backward(x, w, np.zeros((2, 3, 3, 4)), padding="same")
    assert str((2, 5, 5, 4)) in str(info.value)
    with pytest.raises(ValueError) as info:
        conv2d_backward(x, np.zeros((3, 3, 2, 4)), np.zeros((2, 3, 3, 4)))
    assert str((3, 3, 2, 4)) in str(info.value) and str((2, 5, 5, 3)) in str(info.value)


@pytest.mark.parametrize("backward", [max_pool2d_backward, avg_pool2d_backward])
def test_pool_backward_shape_errors(backward):
    x = np.zeros((2, 5, 4, 3))
    for bad, kwargs, expected in [
        (np.zeros((2, 3, 2, 3)), {}, (2, 2, 2, 3)),
        (np.zeros((2, 2, 2, 1)), {}, (2, 2, 2, 3)),
        (np.zeros((2, 2, 2, 3)), {"padding": "same"}, (2, 3, 2, 3)),
        (np.zeros((2, 2, 2, 3)), {"stride": 1}, (2, 4, 3, 3)),
    ]:
        with pytest.raises(ValueError) as info:
            backward(x, bad, 2, **kwargs)
        assert str(bad.shape) in str(info.value) and str(expected) in str(info.value)


def test_softmax_is_stable_sums_to_one_and_matches_keras():
    rng = np.random.default_rng(11)
    z = rng.normal(size=(4, 5)) * 50
    p = softmax(z, axis=1)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(p, keras.ops.convert_to_numpy(keras.activations.softmax(z, axis=1)), rtol=1e-6)
    assert np.all(np.isfinite(softmax(np.array([[1e4, -1e4, 0.0]]))))
    np.testing.assert_allclose(softmax(z.T, axis=0), p.T)


# -- TwoLayerNet and input_gradients ------------------------------------------------------------------------
X_XOR = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
Y_XOR = np.array([0, 1, 1, 0])


@pytest.mark.parametrize("act", backprop.ACTIVATIONS)
def test_two_layer_gradients_pass_the_check(act):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 3))
    y = rng.integers(0, 4, size=6)
    net = TwoLayerNet.init(3, 5, 4, activation=act, seed=1)
    net.b1 += rng.normal(scale=0.1, size=5)  # keep ReLU-like units away from their kink
    check = gradient_check(lambda *p: TwoLayerNet(*p, hidden_activation=act).loss_and_grads(x, y), net.params)
    assert check.passed, check


def test_two_layer_gradients_equal_tensorflow():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(8, 4))
    y = rng.integers(0, 3, size=8)
    net = TwoLayerNet.init(4, 6, 3, seed=0)
    loss, grads = net.loss_and_grads(x, y)
    params = [tf.Variable(p) for p in net.params]
    with tf.GradientTape() as tape:
        logits = tf.tanh(x @ params[0] + params[1]) @ params[2] + params[3]
        tf_loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
    np.testing.assert_allclose(loss, tf_loss.numpy(), rtol=1e-12)
    for ours, theirs in zip(grads, tape.gradient(tf_loss, params)):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-9, atol=1e-12)


def test_two_layer_probabilities_are_softmax_of_the_forward_pass():
    net = TwoLayerNet.init(2, 3, 2, seed=0)
    p = net.probabilities(X_XOR)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    logits = np.tanh(X_XOR @ net.w1 + net.b1) @ net.w2 + net.b2
    np.testing.assert_allclose(p, tf.nn.softmax(logits).numpy(), rtol=1e-12)


def test_init_is_glorot_uniform_and_seeded():
    a, b = TwoLayerNet.init(30, 20, 10, seed=3), TwoLayerNet.init(30, 20, 10, seed=3)
    np.testing.assert_array_equal(a.w1, b.w1)
    assert not np.array_equal(a.w1, TwoLayerNet.init(30, 20, 10, seed=4).w1)
    assert np.abs(a.w1).max() <= np.sqrt(6 / 50) and np.abs(a.w2).max() <= np.sqrt(6 / 30)
    assert not a.b1.any() and not a.b2.any()


@pytest.mark.slow
def test_training_solves_xor_with_a_hidden_layer_and_lowers_the_loss():
    net = TwoLayerNet.init(2, 8, 2, seed=0)
    losses = net.train(X_XOR, Y_XOR, learning_rate=1.0, steps=1500)
    assert losses[-1] < 0.05 * losses[0]
    assert np.array_equal(net.probabilities(X_XOR).argmax(axis=1), Y_XOR)


@pytest.mark.slow
def test_one_hidden_unit_cannot_solve_xor():
    for seed in range(3):
        net = TwoLayerNet.init(2, 1, 2, seed=seed)
        net.train(X_XOR, Y_XOR, learning_rate=1.0, steps=1500)
        assert np.mean(net.probabilities(X_XOR).argmax(axis=1) == Y_XOR) < 1.0


@pytest.mark.slow
@pytest.mark.parametrize(
    "kwargs, match",
    [({"learning_rate": 0.0, "steps": 10}, "learning_rate"),
     ({"learning_rate": float("nan"), "steps": 10}, "learning_rate"),
     ({"learning_rate": 0.1, "steps": 0}, "steps"), ({"learning_rate": 1e6, "steps": 50}, "too large")],
)
def test_train_errors(kwargs, match):
    net = TwoLayerNet.init(2, 4, 2, seed=0)
    with pytest.raises(ValueError, match=match):
        net.train(X_XOR * 100, Y_XOR, **kwargs)


@pytest.mark.parametrize("kwargs, match", [({"hidden": 0}, "hidden"), ({"activation": "swish"}, "Unknown activation")])
def test_init_errors(kwargs, match):
    args = {"n_in": 2, "hidden": 3, "n_out": 2, **kwargs}
    act = args.pop("activation", "tanh")
    with pytest.raises(ValueError, match=match):
        TwoLayerNet.init(args["n_in"], args["hidden"], args["n_out"], activation=act)


def test_input_gradients_match_a_tape_on_each_layer_input():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(3, 3, activation="relu", name="c"),
        keras.layers.MaxPooling2D(2, name="p"),
        keras.layers.Flatten(name="f"),
        keras.layers.Dense(10, name="d"),
    ])
    rng = np.random.default_rng(0)
    x = rng.random((4, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 10, size=4)
    flow = input_gradients(model, x, y)
    assert [name for name, _ in flow] == ["c", "p", "f", "d"]
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    # Gradient at the image: a plain tape on the whole model.
    xt = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = loss_fn(y, model(xt))
    np.testing.assert_allclose(flow[0][1], tape.gradient(loss, xt).numpy(), rtol=1e-5, atol=1e-8)
    # Gradient at the dense layer's input: dL/dh = G_logits @ W^T.
    h = model.get_layer("f")(model.get_layer("p")(model.get_layer("c")(xt))).numpy()
    logits = model(xt).numpy()
    _, g_logits = backprop.softmax_cross_entropy(logits.astype(np.float64), y)
    w, _ = model.get_layer("d").get_weights()
    np.testing.assert_allclose(flow[3][1], g_logits @ w.T, rtol=1e-4, atol=1e-7)
    assert flow[3][1].shape == h.shape
    # Each gradient has the shape of its layer's input.
    assert [g.shape[1:] for _, g in flow] == [(8, 8, 1), (6, 6, 3), (3, 3, 3), (27,)]


@pytest.mark.parametrize("labels", [[0, -1], [0, 3], [0.0, 1.0]])
def test_softmax_cross_entropy_rejects_bad_labels(labels):
    with pytest.raises(ValueError, match="labels"):
        backprop.softmax_cross_entropy(np.zeros((2, 3)), np.array(labels))


@pytest.mark.parametrize(
    "conv_kwargs, dense_kwargs, match",
    [({"strides": 2}, {}, "stride 1"), ({"padding": "same"}, {}, "padding"),
     ({"activation": "tanh"}, {}, "relu"), ({}, {"activation": "softmax"}, "logits")],
)
def test_tiny_cnn_refuses_models_it_would_copy_wrongly(conv_kwargs, dense_kwargs, match):
    layers = {"activation": "relu", **conv_kwargs}
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(2, 3, **layers),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(10, **dense_kwargs),
    ])
    with pytest.raises(ValueError, match=match):
        backprop.TinyCNN.from_keras(model)


def test_all_exports_the_networks_and_input_gradients_the_chapters_use():
    # Chapters 3, 4 and the errata use these; __all__ must list every public name.
    assert {"TinyCNN", "TwoLayerNet", "input_gradients"} <= set(backprop.__all__)
    assert all(hasattr(backprop, name) for name in backprop.__all__)


def test_activations_and_the_loss_take_python_lists_like_arrays():
    z = [[-1.0, 0.5], [2.0, 0]]
    for name in ACTIVATIONS:
        np.testing.assert_array_equal(activation(name, z), activation(name, np.array(z)))
        np.testing.assert_array_equal(activation_backward(name, z, [[1, 1], [1, 1]]),
                                      activation_backward(name, np.array(z), np.ones((2, 2))))
    loss, grad = softmax_cross_entropy([[0.0, 0.0]], [1])
    assert loss == pytest.approx(np.log(2)) and grad.tolist() == [[0.5, -0.5]]


# -- gates and the losses on a sigmoid output -----------------------------------------------------------------
@pytest.mark.parametrize("gate", GATES)
def test_gate_backward_matches_gradient_tape_ties_included(gate):
    rng = np.random.default_rng(7)
    a = rng.integers(-3, 4, size=20).astype(np.float64)   # small integers: many ties for the max gate
    b = rng.integers(-3, 4, size=20).astype(np.float64)
    g = rng.normal(size=20)
    assert gate != "max" or (a == b).any()
    at, bt = tf.Variable(a), tf.Variable(b)
    op = {"add": tf.add, "max": tf.maximum, "multiply": tf.multiply}[gate]
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(op(at, bt) * g)
    expected = tape.gradient(out, [at, bt])
    for ours, theirs in zip(gate_backward(gate, a, b, g), expected):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-12)


def test_gate_backward_hand_values_distribute_route_and_swap():
    assert [float(v) for v in gate_backward("add", 5.0, -1.0, 3.0)] == [3.0, 3.0]
    assert [float(v) for v in gate_backward("max", -1.0, 5.0, 3.0)] == [0.0, 3.0]
    assert [float(v) for v in gate_backward("max", 2.0, 2.0, 3.0)] == [3.0, 0.0]
    assert [float(v) for v in gate_backward("multiply", 5.0, -1.0, 3.0)] == [-3.0, 15.0]


def test_gate_backward_broadcasts_and_refuses_an_unknown_gate():
    ga, gb = gate_backward("multiply", np.array([1.0, 2.0]), 3.0, 1.0)
    assert ga.tolist() == [3.0, 3.0] and gb.tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="Unknown gate 'divide'. Choose one of: add, max, multiply"):
        gate_backward("divide", 1.0, 2.0, 1.0)


@pytest.mark.parametrize("loss", SIGMOID_LOSSES)
def test_sigmoid_loss_matches_tensorflow_and_its_gradient_the_tape(loss):
    rng = np.random.default_rng(3)
    z = rng.normal(scale=4.0, size=30)
    y = rng.uniform(size=30)
    ours, grad = sigmoid_loss(loss, z, y)
    zt = tf.Variable(z)
    with tf.GradientTape() as tape:
        if loss == "mse":
            per = 0.5 * (tf.sigmoid(zt) - y) ** 2
        else:
            per = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=zt)
        total = tf.reduce_sum(per)
    np.testing.assert_allclose(ours, per.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(grad, tape.gradient(total, zt).numpy(), rtol=1e-10, atol=1e-14)
    few = y[:8]
    check = gradient_check(lambda z: (float(sigmoid_loss(loss, z, few)[0].sum()), [sigmoid_loss(loss, z, few)[1]]), [z[:8]])
    assert check.passed


def test_sigmoid_loss_mse_gradient_vanishes_on_a_saturated_wrong_output_cross_entropy_does_not():
    z = np.array([0.0, 4.0, 8.0, 40.0])                  # target 0: ever more confidently wrong
    _, mse = sigmoid_loss("mse", z, 0.0)
    ce_loss, ce = sigmoid_loss("cross_entropy", z, 0.0)
    assert mse[0] == pytest.approx(0.125) and np.all(np.diff(mse) < 0) and mse[-1] < 1e-15
    np.testing.assert_allclose(ce, activation("sigmoid", z))
    assert np.all(np.diff(ce) > 0) and ce[-1] == pytest.approx(1.0)
    assert np.isfinite(ce_loss).all() and ce_loss[-1] == pytest.approx(40.0)   # log(1 + e^40), no overflow


def test_sigmoid_loss_refuses_an_unknown_loss_and_targets_outside_0_1():
    with pytest.raises(ValueError, match="Unknown loss 'hinge'. Choose one of: mse, cross_entropy"):
        sigmoid_loss("hinge", 0.0, 0.0)
    for bad in (-0.1, 1.5, np.nan):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            sigmoid_loss("mse", [0.0, 1.0], bad)
