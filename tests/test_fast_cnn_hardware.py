"""Tests for gradbook.models.fast_cnn.

Parameter counts come from the layer formulas (a 'same'-padded stride-2 convolution maps a side
of n pixels to ceil(n / 2)).
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from gradbook import data, training
from gradbook.models import fast_cnn


# -- helpers -----------------------------------------------------------------------------------------
def expected_params(shape, num_classes=10, filters=(32, 64)):
    """conv 5x5 (no bias) + BN (4 per channel) + conv 3x3 (no bias) + BN + Dense on the
    twice-halved ('same', stride 2) feature map."""
    h, w, c = shape
    f1, f2 = filters
    side_h, side_w = math.ceil(math.ceil(h / 2) / 2), math.ceil(math.ceil(w / 2) / 2)
    return (5 * 5 * c * f1 + 4 * f1
            + 3 * 3 * f1 * f2 + 4 * f2
            + side_h * side_w * f2 * num_classes + num_classes)


def batch(shape, n=3, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, *shape)).astype(np.float32)


# -- fast_cnn: structure -------------------------------------------------------------------------------
def test_default_is_about_50k_weights_by_the_formula():
    model = fast_cnn()
    formula = 5 * 5 * 1 * 32 + 4 * 32 + 3 * 3 * 32 * 64 + 4 * 64 + 7 * 7 * 64 * 10 + 10
    assert formula == 50_986
    assert model.count_params() == formula
    assert model.output_shape == (None, 10)
    assert not model.compiled
    assert model.get_layer("flatten").output.shape[1] == 7 * 7 * 64


def test_layer_order_and_settings():
    model = fast_cnn(dropout=0.25)
    assert [layer.name for layer in model.layers] == [
        "conv_1", "norm_1", "act_1", "conv_2", "norm_2", "act_2", "flatten", "dropout", "logits"]
    conv1, conv2 = model.get_layer("conv_1"), model.get_layer("conv_2")
    assert tuple(conv1.kernel_size) == (5, 5) and tuple(conv1.strides) == (2, 2)
    assert tuple(conv2.kernel_size) == (3, 3) and tuple(conv2.strides) == (2, 2)
    assert not conv1.use_bias and not conv2.use_bias  # batch norm supplies the shift
    assert isinstance(model.get_layer("norm_1"), keras.layers.BatchNormalization)
    assert model.get_layer("dropout").rate == 0.25
    assert model.get_layer("logits").get_config()["activation"] == "linear"


@pytest.mark.parametrize("shape", [(28, 28, 1), (8, 8, 1), (32, 32, 3), (7, 9, 2), (1, 1, 1)])
@pytest.mark.parametrize("num_classes", [2, 10])
def test_output_shape_and_parameter_count(shape, num_classes):
    model = fast_cnn(shape, num_classes)
    out = np.asarray(model(batch(shape)))
    assert out.shape == (3, num_classes)
    assert out.dtype == np.float32
    assert np.all(np.isfinite(out))
    assert model.count_params() == expected_params(shape, num_classes)


def test_filters_set_the_channels():
    model = fast_cnn((12, 12, 3), filters=(4, 6))
    assert model.get_layer("conv_1").kernel.shape == (5, 5, 3, 4)
    assert model.get_layer("conv_2").kernel.shape == (3, 3, 4, 6)
    assert model.count_params() == expected_params((12, 12, 3), filters=(4, 6))
    assert fast_cnn(filters=[8, 16]).get_layer("conv_2").filters == 16  # a list is fine too


def test_outputs_are_logits_not_probabilities():
    out = np.asarray(fast_cnn()(batch((28, 28, 1), n=8)))
    assert np.any(out < 0)
    assert not np.allclose(out.sum(axis=1), 1.0, atol=1e-3)


# -- fast_cnn: seeds -----------------------------------------------------------------------------------
def test_same_seed_same_weights_whatever_the_global_seed_other_seed_differs():
    keras.utils.set_random_seed(1)
    a = fast_cnn(seed=4).get_weights()
    keras.utils.set_random_seed(2)
    b = fast_cnn(seed=4).get_weights()
    c = fast_cnn(seed=5).get_weights()
    assert len(a) == len(b) == len(c)
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)
    kernels = [(wa, wc) for wa, wc in zip(a, c) if wa.ndim > 1]
    assert len(kernels) == 3  # two convolutions and the dense layer
    for wa, wc in kernels:
        assert not np.array_equal(wa, wc)


def test_same_seed_same_outputs_in_training_mode():
    x = batch((28, 28, 1), n=4)
    a = np.asarray(fast_cnn(seed=2)(x, training=True))
    b = np.asarray(fast_cnn(seed=2)(x, training=True))
    np.testing.assert_array_equal(a, b)


def test_he_normal_conv_kernels():
    w = fast_cnn(filters=(32, 256), seed=0).get_layer("conv_2").kernel.numpy()
    fan_in = 3 * 3 * 32
    assert w.std() == pytest.approx(math.sqrt(2 / fan_in), rel=0.05)


# -- fast_cnn: mixed precision -------------------------------------------------------------------------
def test_mixed_bfloat16_computes_convs_in_bfloat16_and_logits_in_float32():
    model = fast_cnn(dtype_policy="mixed_bfloat16")
    for name in ("conv_1", "norm_1", "conv_2", "norm_2"):
        layer = model.get_layer(name)
        assert layer.compute_dtype == "bfloat16"
        assert layer.variable_dtype == "float32"  # weights stay float32
        assert all(v.dtype == "float32" for v in layer.weights)
    assert model.get_layer("logits").compute_dtype == "float32"
    x = batch((28, 28, 1))
    inner = keras.Model(model.inputs[0], model.get_layer("act_2").output)
    assert str(np.asarray(inner(x)).dtype) == "bfloat16"
    out = model(x)
    assert out.dtype == "float32"
    assert np.all(np.isfinite(np.asarray(out)))
    # Same seed: the float32 model's weights and nearly its outputs.
    full = fast_cnn()
    for wm, wf in zip(model.get_weights(), full.get_weights()):
        np.testing.assert_array_equal(wm, wf)
    np.testing.assert_allclose(np.asarray(out), np.asarray(full(x)), rtol=0.1, atol=0.1)


@pytest.mark.parametrize("policy", [None, "float32"])
def test_float32_policies_compute_in_float32(policy):
    model = fast_cnn(dtype_policy=policy)
    assert all(layer.compute_dtype == "float32" for layer in model.layers)


# -- fast_cnn: argument checks -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"filters": (0, 4)}, "filters"),
        ({"filters": (4, -1)}, "filters"),
        ({"filters": 3}, "filters"),
        ({"filters": (8, 16, 32)}, "filters"),
        ({"filters": (8.0, 16)}, "filters"),
        ({"filters": (True, 16)}, "filters"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"dropout": True}, "dropout"),
        ({"dropout": "0.3"}, "dropout"),
        ({"dtype_policy": "float8"}, "dtype_policy"),
        ({"dtype_policy": "float16"}, "dtype_policy"),
        ({"num_classes": 1}, "num_classes"),
        ({"num_classes": 2.0}, "num_classes"),
        ({"num_classes": True}, "num_classes"),
        ({"input_shape": (28, 28)}, "input_shape"),
        ({"input_shape": (784,)}, "input_shape"),
        ({"input_shape": (0, 28, 1)}, "input_shape"),
        ({"input_shape": None}, "input_shape"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs, name):
    with pytest.raises(ValueError) as err:
        fast_cnn(**kwargs)
    message = str(err.value)
    assert name in message
    assert repr(next(iter(kwargs.values()))) in message  # says what it got


def test_unknown_policy_message_lists_the_choices():
    with pytest.raises(ValueError) as err:
        fast_cnn(dtype_policy="float8")
    for policy in ("mixed_float16", "mixed_bfloat16"):
        assert policy in str(err.value)


def test_dropout_zero_is_allowed():
    assert fast_cnn(dropout=0.0).get_layer("dropout").rate == 0.0
    assert fast_cnn(dropout=0).count_params() == expected_params((28, 28, 1))


# -- fast_cnn: it learns ---------------------------------------------------------------------------
@pytest.mark.slow
def test_learns_fashion_mnist_well_above_chance():
    ds = data.load("fashion_mnist", n_train=2000, n_test=500)
    model = fast_cnn(ds.x_train.shape[1:], seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    result = training.train(model, ds.x_train, ds.y_train, epochs=3, batch_size=64, seed=0)
    losses = result.history["loss"]
    assert losses[-1] < losses[0] < math.log(10)
    test_loss, test_accuracy = model.evaluate(ds.x_test, ds.y_test, verbose=0)
    assert test_accuracy > 0.65  # chance is 0.10
    assert test_loss < 1.0
