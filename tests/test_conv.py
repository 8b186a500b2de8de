"""Tests for gradbook.conv: NumPy convolution and pooling against TensorFlow and Keras.

TensorFlow (``tf.nn``) and Keras layers are the references; both NumPy paths are checked,
``method="loop"`` only on tiny shapes because it is plain Python. The named kernels and the
convolution figure of chapter 2's exploration close the file.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import keras
from tf_conventions import axis_padding, fits, tf_padding
from gradbook import conv
from gradbook.conv import (
    PADDINGS,
    avg_pool2d,
    check_images,
    conv2d,
    conv2d_macs,
    conv2d_params,
    conv_output_size,
    dense_params,
    float_dtype,
    im2col,
    input_window,
    max_pool2d,
    pad_images,
    pool_geometry,
    receptive_field,
    receptive_field_size,
    same_padding,
    sliding_windows,
    window_geometry,
)

METHODS = ("vectorized", "loop")
LOOP_SETTINGS = settings(max_examples=25)
KERAS_SETTINGS = settings(max_examples=15)


# -- helpers -----------------------------------------------------------------------------------------


def assert_close(actual, expected, dtype, scale=1.0):
    """float64: 1e-10 relative; float32: 1e-5 relative; absolute tolerance scaled to the magnitudes."""
    expected = np.asarray(expected)
    assert actual.shape == expected.shape
    assert actual.dtype == np.dtype(dtype)
    tol = 1e-10 if np.dtype(dtype) == np.float64 else 1e-5
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale)


def tf_conv(x, w, b, stride, padding):
    y = tf.nn.conv2d(tf.constant(x), tf.constant(w), strides=list(stride), padding=tf_padding(padding))
    if b is not None:
        y = y + tf.constant(b)
    return y.numpy()


dtypes = st.sampled_from([np.float64, np.float32])


def explicit_pads(max_pad=3):
    side = st.integers(0, max_pad)
    return st.tuples(st.tuples(side, side), st.tuples(side, side))


@st.composite
def cases(draw, max_batch=3, max_hw=12, max_ch=4, max_k=5, max_s=3, explicit=False, dtype=None, max_pad=3):
    named = st.sampled_from(PADDINGS)
    case = dict(
        batch=draw(st.integers(1, max_batch)),
        h=draw(st.integers(1, max_hw)),
        w=draw(st.integers(1, max_hw)),
        cin=draw(st.integers(1, max_ch)),
        cout=draw(st.integers(1, max_ch)),
        k=(draw(st.integers(1, max_k)), draw(st.integers(1, max_k))),
        s=(draw(st.integers(1, max_s)), draw(st.integers(1, max_s))),
        padding=draw(st.one_of(named, explicit_pads(max_pad)) if explicit else named),
        dtype=draw(dtypes) if dtype is None else dtype,
        seed=draw(st.integers(0, 2**32 - 1)),
    )
    return case


def fitting(case):
    p = case["padding"]
    return fits(case["h"], case["k"][0], axis_padding(p, 0)) and fits(case["w"], case["k"][1], axis_padding(p, 1))


def arrays(case):
    rng = np.random.default_rng(case["seed"])
    dt = case["dtype"]
    x = rng.uniform(-1, 1, (case["batch"], case["h"], case["w"], case["cin"])).astype(dt)
    w = rng.uniform(-1, 1, (*case["k"], case["cin"], case["cout"])).astype(dt)
    b = rng.uniform(-1, 1, case["cout"]).astype(dt)
    return x, w, b


def conv_scale(case):
    # every term |w x| <= 1, plus the bias
    return case["k"][0] * case["k"][1] * case["cin"] + 1.0


# -- conv2d against tf.nn.conv2d -----------------------------------------------------------------------
@given(cases(explicit=True), st.booleans())
def test_conv2d_matches_tf(case, use_bias):
    assume(fitting(case))
    x, w, b = arrays(case)
    b = b if use_bias else None
    got = conv2d(x, w, b, stride=case["s"], padding=case["padding"])
    assert_close(got, tf_conv(x, w, b, case["s"], case["padding"]), case["dtype"], conv_scale(case))


@LOOP_SETTINGS
@given(cases(max_batch=2, max_hw=6, max_ch=2, max_k=4, explicit=True), st.booleans())
def test_conv2d_loop_matches_tf(case, use_bias):
    assume(fitting(case))
    x, w, b = arrays(case)
    b = b if use_bias else None
    got = conv2d(x, w, b, stride=case["s"], padding=case["padding"], method="loop")
    assert_close(got, tf_conv(x, w, b, case["s"], case["padding"]), case["dtype"], conv_scale(case))


def test_conv2d_is_cross_correlation_not_convolution():
    # Hand computed: 3x3 input 1..9, kernel [[1, 0], [0, 2]] (not flipped): y = x[i,j] + 2 x[i+1,j+1].
    x = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    w = np.array([[1.0, 0.0], [0.0, 2.0]]).reshape(2, 2, 1, 1)
    expected = np.array([[1 + 2 * 5, 2 + 2 * 6], [4 + 2 * 8, 5 + 2 * 9]], dtype=float).reshape(1, 2, 2, 1)
    for method in METHODS:
        np.testing.assert_array_equal(conv2d(x, w, method=method), expected)


# -- pooling against tf.nn ----------------------------------------------------------------------------
def pool_arrays(case):
    rng = np.random.default_rng(case["seed"])
    return rng.uniform(-1, 1, (case["batch"], case["h"], case["w"], case["cin"])).astype(case["dtype"])


def tf_pool(fn, x, case):
    return fn(tf.constant(x), ksize=list(case["k"]), strides=list(case["s"]), padding=tf_padding(case["padding"])).numpy()


@given(cases())
def test_max_pool2d_matches_tf(case):
    assume(fitting(case))
    x = pool_arrays(case)
    got = max_pool2d(x, case["k"], stride=case["s"], padding=case["padding"])
    expected = tf_pool(tf.nn.max_pool2d, x, case)
    assert got.dtype == x.dtype
    np.testing.assert_array_equal(got, expected)  # a max is exact


@given(cases())
def test_avg_pool2d_matches_tf(case):
    assume(fitting(case))
    x = pool_arrays(case)
    got = avg_pool2d(x, case["k"], stride=case["s"], padding=case["padding"])
    assert_close(got, tf_pool(tf.nn.avg_pool2d, x, case), case["dtype"])


@LOOP_SETTINGS
@given(cases(max_batch=2, max_hw=6, max_ch=2, max_k=4))
def test_pool_loops_match_tf(case):
    assume(fitting(case))
    x = pool_arrays(case)
    got_max = max_pool2d(x, case["k"], stride=case["s"], padding=case["padding"], method="loop")
    assert got_max.dtype == x.dtype
    np.testing.assert_array_equal(got_max, tf_pool(tf.nn.max_pool2d, x, case))
    got_avg = avg_pool2d(x, case["k"], stride=case["s"], padding=case["padding"], method="loop")
    assert_close(got_avg, tf_pool(tf.nn.avg_pool2d, x, case), case["dtype"])


# -- windows that do not fit ----------------------------------------------------------------------------
@given(cases(max_batch=1, max_hw=6, max_ch=2, explicit=True, dtype=np.float64), st.sampled_from(METHODS))
def test_window_too_large_raises_exactly_when_it_does_not_fit(case, method):
    x, w, _ = arrays(case)
    kh, kw = case["k"]
    calls = [
        lambda: conv2d(x, w, stride=case["s"], padding=case["padding"], method=method),
        lambda: im2col(x, case["k"], stride=case["s"], padding=case["padding"]),
        lambda: input_window(0, 0, case["k"], stride=case["s"], padding=case["padding"], input_hw=(case["h"], case["w"])),
    ]
    if isinstance(case["padding"], str):  # pooling with the named modes
        calls += [
            lambda: max_pool2d(x, case["k"], stride=case["s"], padding=case["padding"], method=method),
            lambda: avg_pool2d(x, case["k"], stride=case["s"], padding=case["padding"], method=method),
        ]
    if fitting(case):
        for call in calls:
            call()  # no error
    else:
        for call in calls:
            with pytest.raises(ValueError) as info:
                call()
            message = str(info.value)
            assert f"{kh}x{kw}" in message  # the window ...
            assert f"{case['h']}x{case['w']}" in message  # ... and the input


# -- Keras layers ---------------------------------------------------------------------------------------
@KERAS_SETTINGS
@given(cases(max_hw=8, dtype=np.float32))
def test_conv2d_matches_keras_conv2d(case):
    assume(fitting(case))
    x, w, b = arrays(case)
    layer = keras.layers.Conv2D(case["cout"], case["k"], strides=case["s"], padding=case["padding"])
    layer.build((None, case["h"], case["w"], case["cin"]))
    layer.set_weights([w, b])
    expected = np.asarray(layer(x))
    got = conv2d(x, w, b, stride=case["s"], padding=case["padding"])
    assert_close(got, expected, np.float32, conv_scale(case))


@KERAS_SETTINGS
@given(cases(max_hw=8, dtype=np.float32))
def test_pooling_matches_keras_layers_with_default_stride(case):
    assume(fitting(case))
    x = pool_arrays(case)
    # strides left out on both sides: Keras and gradbook both default to the pool size
    max_layer = keras.layers.MaxPooling2D(pool_size=case["k"], padding=case["padding"])
    avg_layer = keras.layers.AveragePooling2D(pool_size=case["k"], padding=case["padding"])
    np.testing.assert_array_equal(max_pool2d(x, case["k"], padding=case["padding"]), np.asarray(max_layer(x)))
    assert_close(avg_pool2d(x, case["k"], padding=case["padding"]), np.asarray(avg_layer(x)), np.float32)
    # and the default is exactly stride = pool size
    np.testing.assert_array_equal(
        max_pool2d(x, case["k"], padding=case["padding"]),
        max_pool2d(x, case["k"], stride=case["k"], padding=case["padding"]),
    )


# -- TensorFlow's asymmetric "same" ---------------------------------------------------------------------
@given(cases(max_batch=1, max_ch=2, dtype=np.float64))
def test_same_padding_puts_the_odd_cell_after(case):
    x, w, _ = arrays(case)
    (kh, kw), (sh, sw) = case["k"], case["s"]
    reference = tf_conv(x, w, None, case["s"], "same")
    ho, wo = reference.shape[1:3]
    total_h = max((ho - 1) * sh + kh - case["h"], 0)  # from TF's output size
    total_w = max((wo - 1) * sw + kw - case["w"], 0)
    assume(total_h % 2 == 1 or total_w % 2 == 1)
    pad_h = same_padding(case["h"], kh, sh)
    pad_w = same_padding(case["w"], kw, sw)
    for (before, after), total in ((pad_h, total_h), (pad_w, total_w)):
        assert before + after == total
        assert after - before == total % 2  # the extra cell goes to the bottom / right
    explicit = (pad_h, pad_w)
    np.testing.assert_allclose(tf_conv(x, w, None, case["s"], explicit), reference, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        conv2d(x, w, stride=case["s"], padding="same"),
        conv2d(x, w, stride=case["s"], padding=explicit),
        rtol=1e-12,
        atol=1e-12,
    )
    np.testing.assert_allclose(conv2d(x, w, stride=case["s"], padding="same"), reference, rtol=1e-10, atol=1e-10 * conv_scale(case))


def test_same_padding_hand_examples():
    assert same_padding(4, 2, 1) == (0, 1)
    assert same_padding(5, 4, 1) == (1, 2)
    assert same_padding(5, 3, 2) == (1, 1)
    assert same_padding(6, 3, 2) == (0, 1)
    assert same_padding(3, 1, 1) == (0, 0)
    assert same_padding(7, 2, 3) == (0, 1)  # 3 windows of 2 starting at 0, 3, 6 reach cell 7: 1 after
    assert same_padding(7, 1, 3) == (0, 0)  # never negative
    # Row [1, 2, 3, 4], kernel of two ones, "same": the zero goes after -> [3, 5, 7, 4], not [1, 3, 5, 7].
    x = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 4, 1)
    w = np.ones((1, 2, 1, 1))
    for method in METHODS:
        np.testing.assert_array_equal(conv2d(x, w, padding="same", method=method).ravel(), [3.0, 5.0, 7.0, 4.0])


# -- pooling at the border --------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("pool,stride", [(2, None), (3, 1), ((3, 2), (2, 1)), (4, 3)])
def test_avg_pool_same_on_ones_is_exactly_one(method, pool, stride):
    x = np.ones((2, 5, 4, 2))
    y = avg_pool2d(x, pool, stride=stride, padding="same", method=method)
    np.testing.assert_array_equal(y, np.ones_like(y))


@pytest.mark.parametrize("method", METHODS)
def test_avg_pool_same_hand_example(method):
    # 3x3, pool 2, stride 2, "same": total padding 1, after -> windows cover 4, 2, 2 and 1 real cells.
    x = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    expected = np.array([[(1 + 2 + 4 + 5) / 4, (3 + 6) / 2], [(7 + 8) / 2, 9 / 1]]).reshape(1, 2, 2, 1)
    np.testing.assert_array_equal(avg_pool2d(x, 2, padding="same", method=method), expected)
    # and max pooling on the negated input never returns the padding's value
    expected_max = -np.array([[1.0, 3.0], [7.0, 9.0]]).reshape(1, 2, 2, 1)
    np.testing.assert_array_equal(max_pool2d(-x, 2, padding="same", method=method), expected_max)


@pytest.mark.parametrize("method", METHODS)
@given(cases(max_batch=2, max_hw=6, max_ch=2, dtype=np.float64))
def test_max_pool_never_picks_padding(method, case):
    rng = np.random.default_rng(case["seed"])
    x = -rng.uniform(0.5, 2.0, (case["batch"], case["h"], case["w"], case["cin"]))  # all negative
    explicit = tuple(same_padding(n, k, s) for n, k, s in zip((case["h"], case["w"]), case["k"], case["s"]))
    for padding in ("same", explicit):
        y = max_pool2d(x, case["k"], stride=case["s"], padding=padding, method=method)
        assert np.all(y < 0)
        assert np.all(np.isin(y, x))


# -- conv_output_size -------------------------------------------------------------------------------------
@given(
    st.integers(1, 12),
    st.integers(1, 5),
    st.integers(1, 3),
    st.one_of(st.sampled_from(["valid", "same"]), st.tuples(st.integers(0, 4), st.integers(0, 4))),
)
def test_conv_output_size_matches_tf(n, k, s, padding):
    assume(fits(n, k, padding))
    x = np.zeros((1, n, 1, 1))
    w = np.zeros((k, 1, 1, 1))
    tf_pad = padding.upper() if isinstance(padding, str) else [[0, 0], list(padding), [0, 0], [0, 0]]
    y = tf.nn.conv2d(x, w, strides=[s, 1], padding=tf_pad)
    assert conv_output_size(n, k, s, padding) == y.shape[1]
    assert conv2d(x, w, stride=(s, 1), padding=padding if isinstance(padding, str) else (padding, (0, 0))).shape[1] == y.shape[1]


def test_conv_output_size_hand_examples():
    assert conv_output_size(28, 3) == 26
    assert conv_output_size(28, 3, 1, "same") == 28
    assert conv_output_size(28, 2, 2) == 14
    assert conv_output_size(7, 3, 2, "same") == 4
    assert conv_output_size(5, 3, 1, (1, 1)) == 5
    assert conv_output_size(5, 5, 1, (0, 0)) == 1
    assert conv_output_size(np.int64(10), np.int32(3), np.int16(3)) == 3


@pytest.mark.parametrize(
    "args",
    [
        (3, 4, 1, "valid"),
        (3, 6, 1, (1, 1)),
        (0, 1, 1, "valid"),
        (4, 0, 1, "valid"),
        (4, 2, 0, "valid"),
        (4, 2, -1, "same"),
        (-3, 2, 1, "valid"),
        (True, 1, 1, "valid"),
        (4, True, 1, "valid"),
        (4, 2, True, "valid"),
        (4.0, 2, 1, "valid"),
        (4, 2, 1, "full"),
        (4, 2, 1, "causal"),
        (4, 2, 1, (-1, 0)),
    ],
)
def test_conv_output_size_errors(args):
    with pytest.raises(ValueError):
        conv_output_size(*args)


# -- parameter and MAC counts ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kernel,cin,filters,use_bias",
    [(3, 1, 32, True), ((3, 3), 32, 64, True), ((5, 3), 3, 8, False), (1, 16, 4, True), ((2, 7), 4, 5, False)],
)
def test_conv2d_params_match_keras(kernel, cin, filters, use_bias):
    layer = keras.layers.Conv2D(filters, kernel, use_bias=use_bias)
    layer.build((None, 12, 12, cin))
    assert conv2d_params(kernel, cin, filters, use_bias=use_bias) == layer.count_params()


@pytest.mark.parametrize("features,units,use_bias", [(784, 10, True), (128, 64, True), (10, 1, False), (3, 7, False)])
def test_dense_params_match_keras(features, units, use_bias):
    layer = keras.layers.Dense(units, use_bias=use_bias)
    layer.build((None, features))
    assert dense_params(features, units, use_bias=use_bias) == layer.count_params()


@given(cases(max_batch=1, dtype=np.float64))
def test_conv2d_macs_counts_multiplications(case):
    assume(fitting(case))
    x, w, _ = arrays(case)
    y = conv2d(x, w, stride=case["s"], padding=case["padding"])
    out_cells = y.shape[1] * y.shape[2] * y.shape[3]  # outputs of one image, all filters
    kernel_volume = w.shape[0] * w.shape[1] * w.shape[2]  # multiplies per output
    assert conv2d_macs(y.shape[1:3], case["k"], case["cin"], case["cout"]) == out_cells * kernel_volume
    cols = im2col(x, case["k"], stride=case["s"], padding=case["padding"])
    assert conv2d_macs(y.shape[1:3], case["k"], case["cin"], case["cout"]) == cols.size * case["cout"]


def test_conv2d_macs_hand_example():
    assert conv2d_macs((26, 26), 3, 1, 32) == 26 * 26 * 9 * 32
    assert conv2d_macs(24, (5, 3), 4, 2) == 24 * 24 * 15 * 4 * 2


# -- im2col ------------------------------------------------------------------------------------------------
@given(cases(max_batch=2, max_hw=8, dtype=np.float64))
def test_im2col_rows_are_flattened_windows(case):
    assume(fits(case["h"], case["k"][0], "valid") and fits(case["w"], case["k"][1], "valid"))
    x, _, _ = arrays(case)
    (kh, kw), (sh, sw) = case["k"], case["s"]
    ho = (case["h"] - kh) // sh + 1
    wo = (case["w"] - kw) // sw + 1
    cols = im2col(x, case["k"], stride=case["s"])
    assert cols.shape == (case["batch"] * ho * wo, kh * kw * case["cin"])
    for a in range(case["batch"]):
        for i in range(ho):
            for j in range(wo):
                r = (a * ho + i) * wo + j
                np.testing.assert_array_equal(cols[r], x[a, i * sh : i * sh + kh, j * sw : j * sw + kw, :].ravel())


@given(cases(max_batch=2, max_hw=8, explicit=True, dtype=np.float64))
def test_im2col_matmul_is_convolution(case):
    assume(fitting(case))
    x, w, _ = arrays(case)
    cols = im2col(x, case["k"], stride=case["s"], padding=case["padding"])
    expected = tf_conv(x, w, None, case["s"], case["padding"])
    got = (cols @ w.reshape(-1, case["cout"])).reshape(expected.shape)
    assert_close(got, expected, np.float64, conv_scale(case))
    # padding in im2col is the same as padding the input first
    if case["padding"] == "same":
        (pt, pb), (pl, pr) = (same_padding(case["h"], case["k"][0], case["s"][0]), same_padding(case["w"], case["k"][1], case["s"][1]))
    elif case["padding"] == "valid":
        (pt, pb), (pl, pr) = (0, 0), (0, 0)
    else:
        (pt, pb), (pl, pr) = case["padding"]
    padded = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    np.testing.assert_array_equal(cols, im2col(padded, case["k"], stride=case["s"]))


# -- input_window --------------------------------------------------------------------------------------------
@settings(max_examples=40)
@given(cases(max_batch=1, max_hw=7, max_ch=2, max_k=3, explicit=True, dtype=np.float64, max_pad=5), st.data())
def test_input_window_is_the_receptive_field(case, data):
    assume(fitting(case))
    rng = np.random.default_rng(case["seed"])
    h, w_, cin, cout = case["h"], case["w"], case["cin"], case["cout"]
    x = rng.uniform(-1, 1, (1, h, w_, cin))
    w = rng.uniform(0.5, 1.5, (*case["k"], cin, cout)) * rng.choice([-1.0, 1.0], (*case["k"], cin, cout))  # no zeros
    base = tf_conv(x, w, None, case["s"], case["padding"])
    i = data.draw(st.integers(0, base.shape[1] - 1), label="i")
    j = data.draw(st.integers(0, base.shape[2] - 1), label="j")
    rows, cols = input_window(i, j, case["k"], stride=case["s"], padding=case["padding"], input_hw=(h, w_))
    in_rows, in_cols = set(range(h)[rows]), set(range(w_)[cols])  # what x[:, rows, cols, :] selects
    # one perturbed copy per input cell and channel, all in one batch
    cells = [(p, q, c) for p in range(h) for q in range(w_) for c in range(cin)]
    batch = np.repeat(x, len(cells), axis=0)
    for n, (p, q, c) in enumerate(cells):
        batch[n, p, q, c] += 1.0
    change = np.abs(tf_conv(batch, w, None, case["s"], case["padding"])[:, i, j, :] - base[0, i, j, :])
    for n, (p, q, c) in enumerate(cells):
        if p in in_rows and q in in_cols:
            assert np.all(change[n] > 0.25), (p, q, c, rows, cols)
        else:
            assert np.all(change[n] < 1e-12), (p, q, c, rows, cols)


def test_input_window_hand_examples():
    assert input_window(0, 0, 3, input_hw=(5, 5)) == (slice(0, 3), slice(0, 3))
    assert input_window(1, 2, 3, stride=2, input_hw=(7, 7)) == (slice(2, 5), slice(4, 7))
    # "same" with a 3x3 kernel: the corner reads a 2x2 block, the rest is padding
    assert input_window(0, 0, 3, padding="same", input_hw=(5, 5)) == (slice(0, 2), slice(0, 2))
    assert input_window(4, 4, 3, padding="same", input_hw=(5, 5)) == (slice(3, 5), slice(3, 5))


def test_input_window_entirely_in_padding_selects_nothing():
    # Output cell (0, 0) with 3 rows of top padding and a 2-row kernel reads padding rows only:
    # x[:, rows, cols, :] must select no rows.
    rows, cols = input_window(0, 0, 2, padding=((3, 0), (0, 0)), input_hw=(5, 5))
    assert list(range(5)[rows]) == []
    assert list(range(5)[cols]) == [0, 1]


@pytest.mark.parametrize(
    "i,j,kwargs",
    [
        (3, 0, dict(kernel_size=3, input_hw=(5, 5))),
        (0, 3, dict(kernel_size=3, input_hw=(5, 5))),
        (-1, 0, dict(kernel_size=3, input_hw=(5, 5))),
        (0, -1, dict(kernel_size=3, input_hw=(5, 5))),
        (5, 0, dict(kernel_size=3, padding="same", input_hw=(5, 5))),
        (3, 0, dict(kernel_size=2, stride=2, padding="same", input_hw=(5, 5))),
    ],
)
def test_input_window_outside_output_raises(i, j, kwargs):
    with pytest.raises(ValueError, match="outside"):
        input_window(i, j, **kwargs)


# -- error paths ---------------------------------------------------------------------------------------------
X = np.zeros((1, 5, 5, 2))
W = np.zeros((3, 3, 2, 4))


@pytest.mark.parametrize("method", METHODS)
def test_conv2d_shape_errors(method):
    with pytest.raises(ValueError, match="NHWC"):
        conv2d(np.zeros((5, 5, 2)), W, method=method)
    with pytest.raises(ValueError, match="HWIO"):
        conv2d(X, np.zeros((3, 3, 2)), method=method)
    with pytest.raises(ValueError) as info:
        conv2d(X, np.zeros((3, 3, 3, 4)), method=method)
    assert str((1, 5, 5, 2)) in str(info.value) and str((3, 3, 3, 4)) in str(info.value)
    for bad_b in (np.zeros(3), np.zeros(5), np.zeros((1, 4)), np.zeros(())):
        with pytest.raises(ValueError, match="b must have shape"):
            conv2d(X, W, bad_b, method=method)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("stride", [0, (1, 0), (0, 1), -1, (2, -1), True, (1, 2, 3), (1.5, 1)])
def test_bad_strides_raise(method, stride):
    with pytest.raises(ValueError, match="stride"):
        conv2d(X, W, stride=stride, method=method)
    with pytest.raises(ValueError, match="stride"):
        max_pool2d(X, 2, stride=stride, method=method)
    with pytest.raises(ValueError, match="stride"):
        avg_pool2d(X, 2, stride=stride, method=method)


@pytest.mark.parametrize("method", METHODS)
def test_bad_padding_raises(method):
    for fn, args in ((conv2d, (X, W)), (max_pool2d, (X, 2)), (avg_pool2d, (X, 2))):
        with pytest.raises(ValueError) as info:
            fn(*args, padding="full", method=method)
        message = str(info.value)
        assert "'full'" in message and "valid" in message and "same" in message
        with pytest.raises(ValueError, match="non-negative"):
            fn(*args, padding=((1, -1), (0, 0)), method=method)
        with pytest.raises(ValueError, match="non-negative"):
            fn(*args, padding=((0, 0), (-2, 0)), method=method)
        with pytest.raises(ValueError):
            fn(*args, padding=(1, 1), method=method)
    with pytest.raises(ValueError):
        im2col(X, 3, padding="full")


def test_unknown_method_raises():
    for fn, args in ((conv2d, (X, W)), (max_pool2d, (X, 2)), (avg_pool2d, (X, 2))):
        with pytest.raises(ValueError) as info:
            fn(*args, method="fast")
        assert "'fast'" in str(info.value) and "vectorized" in str(info.value) and "loop" in str(info.value)


def test_pooling_rejects_non_4d_and_bad_pool_size():
    with pytest.raises(ValueError, match="NHWC"):
        max_pool2d(np.zeros((5, 5)), 2)
    with pytest.raises(ValueError, match="NHWC"):
        avg_pool2d(np.zeros((1, 1, 5, 5, 1)), 2)
    with pytest.raises(ValueError, match="pool_size"):
        max_pool2d(X, 0)
    with pytest.raises(ValueError, match="NHWC"):
        im2col(np.zeros((5, 5, 2)), 3)


# -- dtypes ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_float32_stays_float32(method):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 5, 5, 2)).astype(np.float32)
    w = rng.standard_normal((3, 3, 2, 2)).astype(np.float32)
    b = rng.standard_normal(2).astype(np.float32)
    assert conv2d(x, w, b, padding="same", method=method).dtype == np.float32
    assert max_pool2d(x, 2, padding="same", method=method).dtype == np.float32
    assert avg_pool2d(x, 2, padding="same", method=method).dtype == np.float32
    assert im2col(x, 3).dtype == np.float32


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.int8])
def test_integer_pooling_gives_float64(method, dtype):
    x = np.arange(1 * 4 * 4 * 1).reshape(1, 4, 4, 1).astype(dtype)
    y_max = max_pool2d(x, 2, padding="same", method=method)
    y_avg = avg_pool2d(x, 2, padding="same", method=method)
    assert y_max.dtype == np.float64 and y_avg.dtype == np.float64
    # windows of 0..15 in a 4x4 grid: maxima 5, 7, 13, 15; means 2.5, 4.5, 10.5, 12.5
    np.testing.assert_array_equal(y_max.ravel(), [5.0, 7.0, 13.0, 15.0])
    np.testing.assert_array_equal(y_avg.ravel(), [2.5, 4.5, 10.5, 12.5])


@pytest.mark.parametrize("method", METHODS)
def test_uint8_pooling_values_do_not_overflow(method):
    x = np.array([[250, 255, 3, 0], [3, 200, 128, 129], [255, 255, 1, 2], [255, 254, 7, 9]], dtype=np.uint8)
    x = x.reshape(1, 4, 4, 1)
    y_max = max_pool2d(x, 2, method=method)
    y_avg = avg_pool2d(x, 2, method=method)
    np.testing.assert_array_equal(y_max.ravel(), [255.0, 129.0, 255.0, 9.0])
    np.testing.assert_array_equal(y_avg.ravel(), [(250 + 255 + 3 + 200) / 4, (3 + 0 + 128 + 129) / 4, (255 * 3 + 254) / 4, (1 + 2 + 7 + 9) / 4])
    # a single big pixel in a same-padded border window keeps its exact value
    big = np.full((1, 3, 3, 1), 255, dtype=np.uint8)
    np.testing.assert_array_equal(avg_pool2d(big, 2, padding="same", method=method), np.full((1, 2, 2, 1), 255.0))
    np.testing.assert_array_equal(max_pool2d(big, 2, padding="same", method=method), np.full((1, 2, 2, 1), 255.0))


@pytest.mark.parametrize("method", METHODS)
def test_float64_agrees_between_methods_with_integers_exactly(method):
    # small integers in float64: every sum is exact, so both paths must agree with TF bit for bit
    rng = np.random.default_rng(7)
    x = rng.integers(-4, 5, (2, 6, 5, 2)).astype(np.float64)
    w = rng.integers(-3, 4, (3, 2, 2, 3)).astype(np.float64)
    expected = tf_conv(x, w, None, (2, 1), "same")
    np.testing.assert_array_equal(conv2d(x, w, stride=(2, 1), padding="same", method=method), expected)


@pytest.mark.parametrize("method", ["vectorized", "loop"])
def test_max_pool_ignores_nan_like_tensorflow(method):
    x = np.array([[np.nan, 1.0, 5.0, np.nan], [2.0, 3.0, np.nan, 4.0]]).reshape(1, 2, 4, 1)
    ours = max_pool2d(x, 2, method=method)
    np.testing.assert_array_equal(ours, tf.nn.max_pool2d(x, 2, 2, "VALID").numpy())
    np.testing.assert_array_equal(ours.ravel(), [3.0, 5.0])


# -- the window helpers backprop shares -----------------------------------------------------------------

def test_window_geometry_matches_tensorflows_output_size_and_padding():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(1, 7, 6, 2))
    for window, stride, padding in [(3, 2, "same"), ((2, 3), (1, 2), "valid"), (4, 3, "same")]:
        s, pads, out = window_geometry(x.shape, window, stride, padding)
        k = (window, window) if isinstance(window, int) else window
        w = np.ones((*k, 2, 1))
        expected = tf.nn.conv2d(x, w, strides=s, padding=padding.upper()).shape[1:3]
        assert out == tuple(expected)
        assert s == ((stride, stride) if isinstance(stride, int) else stride)
        if padding == "valid":
            assert pads == ((0, 0), (0, 0))
        else:
            assert pads == (same_padding(7, k[0], s[0]), same_padding(6, k[1], s[1]))


def test_window_geometry_rejects_a_window_larger_than_the_padded_input():
    with pytest.raises(ValueError, match="larger than the padded input"):
        window_geometry((1, 3, 3, 1), 4, 1, "valid")


def test_sliding_windows_are_the_rows_of_im2col():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(2, 6, 5, 3))
    s, pads, out = window_geometry(x.shape, (3, 2), 2, "same")
    view = sliding_windows(pad_images(x, pads), (3, 2), s, out)
    assert view.shape == (2, *out, 3, 3, 2)
    rows = view.transpose(0, 1, 2, 4, 5, 3).reshape(-1, 3 * 2 * 3)      # (u, v, c) order, as im2col
    np.testing.assert_array_equal(rows, im2col(x, (3, 2), stride=2, padding="same"))


def test_pad_images_adds_cells_of_the_value_and_leaves_unpadded_input_alone():
    x = np.arange(4.0).reshape(1, 2, 2, 1)
    assert pad_images(x, ((0, 0), (0, 0))) is x
    padded = pad_images(x, ((1, 0), (0, 2)), value=-1.0)
    assert padded.shape == (1, 3, 4, 1)
    assert padded[0, 0, :, 0].tolist() == [-1.0] * 4 and padded[0, 1:, 2:, 0].tolist() == [[-1.0] * 2] * 2
    np.testing.assert_array_equal(padded[0, 1:, :2, 0], x[0, :, :, 0])


def test_pool_geometry_defaults_the_stride_to_the_window_and_checks_the_images():
    x, k, s, pads, out = pool_geometry(np.zeros((1, 7, 7, 1)), 3)
    assert (k, s, pads, out) == ((3, 3), (3, 3), ((0, 0), (0, 0)), (2, 2))
    with pytest.raises(ValueError, match="NHWC"):
        pool_geometry(np.zeros((7, 7, 1)), 2)
    with pytest.raises(ValueError, match="numeric"):
        check_images(np.array([[[["a"]]]]))


def test_float_dtype_keeps_floats_and_lifts_integers_to_float64():
    assert float_dtype(np.zeros(1, np.float32)) == np.float32
    assert float_dtype(np.zeros(1, np.uint8)) == np.float64


def test_receptive_field_of_one_cell_is_its_input_window_and_of_a_block_the_union():
    assert receptive_field(slice(4, 5), slice(6, 7), 5, stride=2, padding="same", input_hw=(20, 24)) == \
        input_window(4, 6, 5, stride=2, padding="same", input_hw=(20, 24))
    rows, cols = receptive_field(slice(2, 4), slice(1, 3), 3, stride=2, padding="same", input_hw=(14, 14))
    reads = np.zeros((14, 14), bool)
    for i in (2, 3):
        for j in (1, 2):
            r, c = input_window(i, j, 3, stride=2, padding="same", input_hw=(14, 14))
            reads[r, c] = True
    hit_rows, hit_cols = np.nonzero(reads)
    assert (rows, cols) == (slice(hit_rows.min(), hit_rows.max() + 1), slice(hit_cols.min(), hit_cols.max() + 1))
    with pytest.raises(ValueError, match="non-empty"):
        receptive_field(slice(3, 3), slice(0, 1), 3, input_hw=(8, 8))


@pytest.mark.parametrize("kernels, strides, dilations, expected", [
    ([], None, None, 1),
    ([3], None, None, 3),
    ([3, 3], None, None, 5),
    ([5], None, None, 5),
    ([3] * 6, None, None, 13),
    ([3, 2, 3, 2, 3], [1, 2, 1, 2, 1], None, 18),     # 1 + 2 + 1*1 + 2*2 + 1*2 + 2*4
    ([3, 3, 3], None, [1, 2, 4], 15),
    ([2, 2], [3, 1], None, 5),                         # stride beyond the kernel: a field with holes
])
def test_receptive_field_size_follows_the_recursion(kernels, strides, dilations, expected):
    assert receptive_field_size(kernels, strides, dilations) == expected


def _dilated(kernel, d):
    """``kernel`` (HWIO) with d - 1 zeros between its taps: a dilated convolution's effective kernel."""
    k = kernel.shape[0]
    out = np.zeros((d * (k - 1) + 1, d * (k - 1) + 1) + kernel.shape[2:])
    out[::d, ::d] = kernel
    return out


@pytest.mark.parametrize("kernels, strides, dilations, full", [
    ([3, 3], [1, 1], [1, 1], True),
    ([5, 3, 2], [2, 1, 2], [1, 1, 1], True),
    ([3, 3, 3], [1, 1, 1], [1, 2, 4], True),       # each dilation fills the gaps the next one leaves
    ([3], [1], [2], False),                        # a single dilated kernel reads every other pixel
    ([2, 3], [3, 1], [1, 1], False),               # stride beyond the kernel skips pixels
    ([3, 3], [1, 1], [1, 4], False),               # a gap of 4 is wider than the 3 pixels below fill
])
def test_receptive_field_size_is_the_extent_of_the_inputs_that_reach_one_output_cell(kernels, strides, dilations, full):
    # A stack of linear convolutions with random kernels: the output cell (0, 0) of one-pixel
    # images is the derivative of that cell with respect to each input pixel.
    rng = np.random.default_rng(0)
    size = receptive_field_size(kernels, strides, dilations)
    n = size + 4
    out = np.eye(n * n).reshape(-1, n, n, 1)
    for k, s, d in zip(kernels, strides, dilations):
        out = conv2d(out, _dilated(rng.normal(size=(k, k, 1, 1)), d), stride=s)
    rows, cols = np.nonzero(out[:, 0, 0, 0].reshape(n, n))
    assert (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == (0, size, 0, size)
    assert (len(rows) == size * size) == full


@pytest.mark.parametrize("kernels, strides", [([3, 3], [1, 1]), ([5, 2, 3, 2], [2, 2, 1, 2]), ([2, 4], [3, 1])])
def test_receptive_field_size_agrees_with_tracing_the_windows_layer_by_layer(kernels, strides):
    sizes = [40]
    for k, s in zip(kernels, strides):
        sizes.append(conv_output_size(sizes[-1], k, s))
    rows = cols = slice(0, 1)
    for k, s, n in reversed(list(zip(kernels, strides, sizes))):
        rows, cols = receptive_field(rows, cols, k, stride=s, input_hw=(n, n))
    assert rows.stop - rows.start == cols.stop - cols.start == receptive_field_size(kernels, strides)


@pytest.mark.parametrize("args, match", [
    (([3, 0],), "kernel size must be a positive whole number, got 0"),
    (([3, 3], [1, 0]), "stride must be a positive whole number, got 0"),
    (([3], None, [1.5]), "dilation must be a positive whole number, got 1.5"),
    (([3, 3], [1]), "strides has 1 entries but kernel_sizes has 2"),
    (([3, 3], None, [1, 1, 1]), "dilations has 3 entries but kernel_sizes has 2"),
])
def test_receptive_field_size_errors(args, match):
    with pytest.raises(ValueError, match=match):
        receptive_field_size(*args)


# -- named kernels ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [2, 3, 4, 5, 7])
def test_kernel_sums_and_shapes(size):
    assert conv.kernel("blur", size).shape == (size, size)
    np.testing.assert_allclose(conv.kernel("blur", size).sum(), 1.0)
    np.testing.assert_allclose(conv.kernel("edge", size).sum(), 0.0)
    np.testing.assert_allclose(conv.kernel("sharpen", size).sum(), 1.0)
    # A flat image: edge gives 0, blur and sharpen give the image back.
    flat = np.full((1, 9, 9, 1), 0.3)
    for name, expected in (("edge", 0.0), ("blur", 0.3), ("sharpen", 0.3)):
        out = conv.conv2d(flat, conv.kernel(name, size)[:, :, None, None])
        np.testing.assert_allclose(out, expected, atol=1e-12)


def test_edge_kernel_responds_to_an_edge():
    step = np.zeros((1, 8, 8, 1))
    step[:, :, 4:, :] = 1.0
    out = conv.conv2d(step, conv.kernel("edge", 3)[:, :, None, None])[0, :, :, 0]
    # Zero away from the edge, non-zero next to it.
    assert np.all(out[:, 0] == 0) and np.all(out[:, -1] == 0)
    assert np.all(out[:, 2] != 0) and np.all(out[:, 3] != 0)


def test_random_kernel_is_seeded():
    np.testing.assert_array_equal(conv.kernel("random", 4, seed=1), conv.kernel("random", 4, seed=1))
    assert not np.array_equal(conv.kernel("random", 4, seed=1), conv.kernel("random", 4, seed=2))


@pytest.mark.parametrize(
    "args, match",
    [(("gaussian", 3), "edge, blur, sharpen, random"), (("blur", 0), "size"), (("edge", 1), "size >= 2"),
     (("sharpen", 1), "size >= 2"), (("blur", 2.0), "size"), (("blur", True), "size")],
)
def test_kernel_errors(args, match):
    with pytest.raises(ValueError, match=match):
        conv.kernel(*args)

