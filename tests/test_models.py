"""Tests for gradbook.models: the MLP and CNN builders of chapters 4 and 5 with their initializers and
remedies, and the fast CNN of chapter 6.

Every expectation is derived independently of the builders: layer counts and names from the
arguments, initial weight spreads from the published formulas (Glorot, He, LeCun, a fixed
normal), activations by recomputing a layer's output with NumPy from its weights.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradbook import data, diagnostics, models, training
from gradbook.models import FIXED_ACTIVATIONS, INITIALIZERS, cnn, fast_cnn, kernel_initializer, mlp

# keras's truncated normal is cut at two standard deviations; the std of what is left is this
# fraction of the untruncated one, which keras divides out so the scheme's variance is kept.
TRUNCATED_STD_FACTOR = 0.87962566103423978


# -- helpers -----------------------------------------------------------------------------------------
def hidden(model, kind):
    """The model's layers of a keras layer class (Dense or Conv2D), in order."""
    return [layer for layer in model.layers if isinstance(layer, kind)]


def weights(model):
    return [w.copy() for w in model.get_weights()]


def expected_std(name, fan_in, fan_out):
    """The standard deviation each scheme prescribes (scale 1), from its formula."""
    return {
        "glorot": math.sqrt(2.0 / (fan_in + fan_out)),
        "he": math.sqrt(2.0 / fan_in),
        "lecun": math.sqrt(1.0 / fan_in),
        "normal": 0.05,
    }[name]


# -- structure -------------------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [1, 7, 50])
def test_mlp_structure_names_and_depth(depth):
    model = mlp(depth, width=8)
    dense = hidden(model, keras.layers.Dense)
    assert len(dense) == depth + 1  # depth hidden layers and the logits
    assert [layer.name for layer in dense] == [f"hidden_{i}" for i in range(1, depth + 1)] + ["logits"]
    assert all(layer.units == 8 for layer in dense[:-1])
    assert dense[-1].units == 10
    assert model.layers[-1].name == "logits"
    assert model.output_shape == (None, 10)
    assert not model.compiled  # not compiled


@pytest.mark.parametrize("depth", [1, 7, 50])
def test_cnn_structure_names_and_depth(depth):
    model = cnn(depth, filters=4)
    convs = hidden(model, keras.layers.Conv2D)
    assert len(convs) == depth
    assert [layer.name for layer in convs] == [f"hidden_{i}" for i in range(1, depth + 1)]
    assert all(layer.filters == 4 and layer.kernel_size == (3, 3) and layer.padding == "same" for layer in convs)
    dense = hidden(model, keras.layers.Dense)
    assert [layer.name for layer in dense] == ["logits"]
    assert model.layers[-1].name == "logits"
    assert model.output_shape == (None, 10)
    weighted = [layer.name for layer in model.layers if layer.weights]
    assert weighted == [f"hidden_{i}" for i in range(1, depth + 1)] + ["logits"]


def test_cnn_depth_50_runs_on_28x28_and_pools_only_while_at_least_4_pixels():
    model = cnn(50, filters=4)
    x = np.random.default_rng(0).uniform(0, 1, (3, 28, 28, 1)).astype(np.float32)
    out = model(x).numpy()
    assert out.shape == (3, 10)
    assert np.all(np.isfinite(out))
    pools = hidden(model, keras.layers.MaxPooling2D)
    assert pools  # 28x28 leaves room to pool
    for pool in pools:
        _, h, w, _ = pool.input.shape
        assert min(h, w) >= 4
    # Spatial size is halved once per pool, never below 1.
    _, h, w, _ = model.get_layer("flatten").input.shape
    assert (h, w) == (28 // 2 ** len(pools), 28 // 2 ** len(pools))
    assert h >= 1


@pytest.mark.parametrize("shape", [(3, 3, 1), (1, 1, 2), (3, 5, 3)])
def test_cnn_depth_50_on_tiny_inputs_does_not_pool(shape):
    model = cnn(50, filters=4, input_shape=shape)
    assert not hidden(model, keras.layers.MaxPooling2D)
    x = np.random.default_rng(1).uniform(0, 1, (2, *shape)).astype(np.float32)
    out = model(x).numpy()
    assert out.shape == (2, 10)
    assert np.all(np.isfinite(out))


def test_cnn_pool_every_places_pools():
    model = cnn(6, filters=2, pool_every=2, input_shape=(32, 32, 1))
    names = [layer.name for layer in model.layers]
    # A pool after conv 2 and 4, none after the last conv.
    assert names == ["hidden_1", "hidden_2", "pool_1", "hidden_3", "hidden_4", "pool_2", "hidden_5", "hidden_6",
                     "flatten", "logits"]
    assert model.get_layer("flatten").input.shape[1:3] == (8, 8)


@pytest.mark.parametrize("num_classes", [2, 3, 17])
def test_num_classes_and_input_shape(num_classes):
    m = mlp(2, width=5, input_shape=(4, 6), num_classes=num_classes)
    assert m.output_shape == (None, num_classes)
    assert m.get_layer("hidden_1").kernel.shape == (24, 5)  # the input is flattened
    c = cnn(2, filters=3, input_shape=(5, 7, 2), num_classes=num_classes)
    assert c.output_shape == (None, num_classes)
    assert c.get_layer("hidden_1").kernel.shape == (3, 3, 2, 3)


# -- the built networks, pinned --------------------------------------------------------------------
# A few configurations with what the builders made for them before the builders were refactored
# (issue 17): the model's type and name, every layer's name, class and settings in order, and two
# position-weighted checksums of the initial weights. A refactoring that changes a layer, its order,
# a seed or an initializer changes one of these.
PINNED_SETTINGS = ("units", "filters", "kernel_size", "strides", "padding", "activation", "use_bias", "momentum",
                   "rate", "seed", "pool_size")

PINNED_BUILDS = {
    "mlp plain": lambda: mlp(3, 8, "sigmoid", "glorot", input_shape=(6,), seed=1),
    "mlp remedies": lambda: mlp(4, 8, "tanh", "lecun", init_scale=0.5, normalization="batch", residual=True,
                                dropout=0.1, input_shape=(5,), seed=2),
    "mlp prelu, norm after": lambda: mlp(3, 6, "prelu", "he", normalization="layer", norm_position="after",
                                         input_shape=(4,)),
    "mlp dropout": lambda: mlp(2, 5, "relu", "normal", dropout=0.3, input_shape=(3, 2), num_classes=4, seed=7),
    "cnn plain": lambda: cnn(4, 4, "relu", "he", input_shape=(8, 8, 1), pool_every=2, seed=3),
    "cnn remedies": lambda: cnn(5, 3, "elu", "normal", init_scale=2.0, normalization="batch", residual=True,
                                dropout=0.2, input_shape=(9, 9, 2), seed=1),
    "cnn prelu": lambda: cnn(3, 2, "prelu", "glorot", input_shape=(8, 8, 1), num_classes=3),
    "fast_cnn": lambda: models.fast_cnn((12, 12, 1), 3, filters=(4, 6), dropout=0.25, seed=2),
}

PINNED = {
    "mlp plain": (
        True, "mlp_3x8_sigmoid_glorot",
        [
            "flatten Flatten",
            "hidden_1 Dense units=8 activation=sigmoid use_bias=True",
            "hidden_2 Dense units=8 activation=sigmoid use_bias=True",
            "hidden_3 Dense units=8 activation=sigmoid use_bias=True",
            "logits Dense units=10 activation=linear use_bias=True",
        ],
        (8, 49.475247, 125.194206),
    ),
    "mlp remedies": (
        False, "mlp_4x8_tanh_lecun_batchnorm-before_residual_dropout0.1",
        [
            "flatten Flatten",
            "hidden_1 Dense units=8 activation=linear use_bias=True",
            "norm_1 BatchNormalization momentum=0.9",
            "act_1 Activation activation=tanh",
            "drop_1 Dropout rate=0.1 seed=2001",
            "hidden_2 Dense units=8 activation=linear use_bias=True",
            "norm_2 BatchNormalization momentum=0.9",
            "act_2 Activation activation=tanh",
            "drop_2 Dropout rate=0.1 seed=2002",
            "add_2 Add",
            "hidden_3 Dense units=8 activation=linear use_bias=True",
            "norm_3 BatchNormalization momentum=0.9",
            "act_3 Activation activation=tanh",
            "drop_3 Dropout rate=0.1 seed=2003",
            "add_3 Add",
            "hidden_4 Dense units=8 activation=linear use_bias=True",
            "norm_4 BatchNormalization momentum=0.9",
            "act_4 Activation activation=tanh",
            "drop_4 Dropout rate=0.1 seed=2004",
            "add_4 Add",
            "logits Dense units=10 activation=linear use_bias=True",
        ],
        (26, 816.327022, 1003.081676),
    ),
    "mlp prelu, norm after": (
        False, "mlp_3x6_prelu_he_layernorm-after",
        [
            "flatten Flatten",
            "hidden_1 Dense units=6 activation=linear use_bias=True",
            "act_1 PReLU",
            "norm_1 LayerNormalization",
            "hidden_2 Dense units=6 activation=linear use_bias=True",
            "act_2 PReLU",
            "norm_2 LayerNormalization",
            "hidden_3 Dense units=6 activation=linear use_bias=True",
            "act_3 PReLU",
            "norm_3 LayerNormalization",
            "logits Dense units=10 activation=linear use_bias=True",
        ],
        (17, 138.287381, 639.336853),
    ),
    "mlp dropout": (
        False, "mlp_2x5_relu_normal_dropout0.3",
        [
            "flatten Flatten",
            "hidden_1 Dense units=5 activation=relu use_bias=True",
            "drop_1 Dropout rate=0.3 seed=7001",
            "hidden_2 Dense units=5 activation=relu use_bias=True",
            "drop_2 Dropout rate=0.3 seed=7002",
            "logits Dense units=4 activation=linear use_bias=True",
        ],
        (6, -0.682497, 0.567436),
    ),
    "cnn plain": (
        True, "cnn_4x4_relu_he",
        [
            "hidden_1 Conv2D filters=4 kernel_size=(3, 3) strides=(1, 1) padding=same activation=relu use_bias=True",
            "hidden_2 Conv2D filters=4 kernel_size=(3, 3) strides=(1, 1) padding=same activation=relu use_bias=True",
            "pool_1 MaxPooling2D strides=(2, 2) padding=valid pool_size=(2, 2)",
            "hidden_3 Conv2D filters=4 kernel_size=(3, 3) strides=(1, 1) padding=same activation=relu use_bias=True",
            "hidden_4 Conv2D filters=4 kernel_size=(3, 3) strides=(1, 1) padding=same activation=relu use_bias=True",
            "flatten Flatten",
            "logits Dense units=10 activation=linear use_bias=True",
        ],
        (10, 22.471558, 308.351462),
    ),
    "cnn remedies": (
        False, "cnn_5x3_elu_normal_batchnorm-before_residual_dropout0.2",
        [
            "hidden_1 Conv2D filters=3 kernel_size=(3, 3) strides=(1, 1) padding=same activation=linear use_bias=True",
            "norm_1 BatchNormalization momentum=0.9",
            "act_1 Activation activation=elu",
            "drop_1 Dropout rate=0.2 seed=1001",
            "pool_1 MaxPooling2D strides=(2, 2) padding=valid pool_size=(2, 2)",
            "hidden_2 Conv2D filters=3 kernel_size=(3, 3) strides=(1, 1) padding=same activation=linear use_bias=True",
            "norm_2 BatchNormalization momentum=0.9",
            "act_2 Activation activation=elu",
            "drop_2 Dropout rate=0.2 seed=1002",
            "add_2 Add",
            "pool_2 MaxPooling2D strides=(2, 2) padding=valid pool_size=(2, 2)",
            "hidden_3 Conv2D filters=3 kernel_size=(3, 3) strides=(1, 1) padding=same activation=linear use_bias=True",
            "norm_3 BatchNormalization momentum=0.9",
            "act_3 Activation activation=elu",
            "drop_3 Dropout rate=0.2 seed=1003",
            "add_3 Add",
            "hidden_4 Conv2D filters=3 kernel_size=(3, 3) strides=(1, 1) padding=same activation=linear use_bias=True",
            "norm_4 BatchNormalization momentum=0.9",
            "act_4 Activation activation=elu",
            "drop_4 Dropout rate=0.2 seed=1004",
            "add_4 Add",
            "hidden_5 Conv2D filters=3 kernel_size=(3, 3) strides=(1, 1) padding=same activation=linear use_bias=True",
            "norm_5 BatchNormalization momentum=0.9",
            "act_5 Activation activation=elu",
            "drop_5 Dropout rate=0.2 seed=1005",
            "add_5 Add",
            "flatten Flatten",
            "logits Dense units=10 activation=linear use_bias=True",
        ],
        (32, 488.104477, 583.37396),
    ),
    "cnn prelu": (
        False, "cnn_3x2_prelu_glorot",
        [
            "hidden_1 Conv2D filters=2 kernel_size=(3, 3) strides=(1, 1) padding=same activation=linear use_bias=True",
            "act_1 PReLU",
            "pool_1 MaxPooling2D strides=(2, 2) padding=valid pool_size=(2, 2)",
            "hidden_2 Conv2D filters=2 kernel_size=(3, 3) strides=(1, 1) padding=same activation=linear use_bias=True",
            "act_2 PReLU",
            "pool_2 MaxPooling2D strides=(2, 2) padding=valid pool_size=(2, 2)",
            "hidden_3 Conv2D filters=2 kernel_size=(3, 3) strides=(1, 1) padding=same activation=linear use_bias=True",
            "act_3 PReLU",
            "flatten Flatten",
            "logits Dense units=3 activation=linear use_bias=True",
        ],
        (11, -5.831497, 62.792439),
    ),
    "fast_cnn": (
        True, "fast_cnn",
        [
            "conv_1 Conv2D filters=4 kernel_size=(5, 5) strides=(2, 2) padding=same activation=linear use_bias=False",
            "norm_1 BatchNormalization momentum=0.99",
            "act_1 ReLU",
            "conv_2 Conv2D filters=6 kernel_size=(3, 3) strides=(2, 2) padding=same activation=linear use_bias=False",
            "norm_2 BatchNormalization momentum=0.99",
            "act_2 ReLU",
            "flatten Flatten",
            "dropout Dropout rate=0.25 seed=2",
            "logits Dense units=3 activation=linear use_bias=True",
        ],
        (12, 165.665357, 269.487503),
    ),
}


def fingerprint(model):
    """(Sequential?, name, one line per layer, (weight arrays, sum_k k * sum(w_k), sum_k k * sum(w_k ** 2)))."""
    layers = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        config = layer.get_config()
        shown = [f"{key}={config[key]}" for key in PINNED_SETTINGS if key in config]
        layers.append(" ".join([layer.name, type(layer).__name__, *shown]))
    w = model.get_weights()
    sums = sum(k * float(np.sum(a, dtype=np.float64)) for k, a in enumerate(w, 1))
    squares = sum(k * float(np.sum(np.square(a, dtype=np.float64))) for k, a in enumerate(w, 1))
    return isinstance(model, keras.Sequential), model.name, layers, (len(w), sums, squares)


@pytest.mark.parametrize("case", sorted(PINNED_BUILDS))
def test_built_networks_are_the_pinned_ones(case):
    sequential, name, layers, (count, sums, squares) = fingerprint(PINNED_BUILDS[case]())
    pinned_sequential, pinned_name, pinned_layers, (pinned_count, pinned_sums, pinned_squares) = PINNED[case]
    assert (sequential, name) == (pinned_sequential, pinned_name)
    assert layers == pinned_layers
    assert count == pinned_count
    assert sums == pytest.approx(pinned_sums, rel=1e-6, abs=1e-5)
    assert squares == pytest.approx(pinned_squares, rel=1e-6, abs=1e-5)


# -- activations -----------------------------------------------------------------------------------
@pytest.mark.parametrize("activation", FIXED_ACTIVATIONS)
def test_every_hidden_layer_uses_the_activation_and_logits_are_linear(activation):
    for model, kind in ((mlp(3, width=6, activation=activation), keras.layers.Dense),
                        (cnn(3, filters=2, activation=activation, input_shape=(6, 6, 1)), keras.layers.Conv2D)):
        layers = hidden(model, kind)
        if kind is keras.layers.Dense:
            layers = layers[:-1]
        assert len(layers) == 3
        for layer in layers:
            assert layer.get_config()["activation"] == activation
        assert model.get_layer("logits").get_config()["activation"] == "linear"


@pytest.mark.parametrize("activation", FIXED_ACTIVATIONS)
def test_mlp_forward_pass_matches_numpy(activation):
    numpy_act = {
        "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
        "tanh": np.tanh,
        "relu": lambda z: np.maximum(z, 0),
        "leaky_relu": lambda z: np.where(z > 0, z, 0.2 * z),  # keras's default slope
        "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
        "gelu": lambda z: 0.5 * z * (1 + np.vectorize(math.erf)(z / math.sqrt(2))),  # keras: exact, not tanh-approximated
        "linear": lambda z: z,
    }[activation]
    model = mlp(2, width=7, activation=activation, input_shape=(5,), num_classes=3, seed=4)
    x = np.random.default_rng(0).standard_normal((6, 5)).astype(np.float32)
    h = x.astype(np.float64)
    for name in ("hidden_1", "hidden_2"):
        w, b = model.get_layer(name).get_weights()
        h = numpy_act(h @ w + b)
    w, b = model.get_layer("logits").get_weights()
    np.testing.assert_allclose(model(x).numpy(), h @ w + b, rtol=1e-4, atol=1e-5)


# -- seeds -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("build", [lambda s: mlp(3, width=16, seed=s), lambda s: cnn(3, filters=4, seed=s, input_shape=(8, 8, 1))])
def test_same_seed_same_weights_whatever_the_global_seed(build):
    keras.utils.set_random_seed(1)
    a = weights(build(0))
    keras.utils.set_random_seed(2)
    b = weights(build(0))
    assert len(a) == len(b)
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)
    c = weights(build(1))
    kernels = [(wa, wc) for wa, wc in zip(a, c) if wa.ndim > 1]
    assert kernels
    for wa, wc in kernels:
        assert not np.array_equal(wa, wc)


def test_layers_of_one_model_get_different_weights():
    model = mlp(4, width=16, input_shape=(16,), num_classes=16)
    kernels = [layer.get_weights()[0] for layer in hidden(model, keras.layers.Dense)]
    for i in range(len(kernels)):
        for j in range(i + 1, len(kernels)):
            assert not np.array_equal(kernels[i], kernels[j])


def test_biases_start_at_zero():
    for model in (mlp(3, width=8), cnn(3, filters=4, input_shape=(8, 8, 1))):
        for layer in model.layers:
            if layer.weights:
                np.testing.assert_array_equal(layer.bias.numpy(), 0.0)


# -- initializer scales ----------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [1.0, 0.5, 3.0])
@pytest.mark.parametrize("name", INITIALIZERS)
def test_dense_kernel_std_matches_the_scheme(name, scale):
    model = mlp(1, width=512, initializer=name, init_scale=scale, input_shape=(512,))
    w = model.get_layer("hidden_1").kernel.numpy()
    assert w.shape == (512, 512)
    std = expected_std(name, 512, 512) * scale
    assert abs(w.mean()) < 0.02 * std
    assert w.std() == pytest.approx(std, rel=0.02)
    if name == "glorot":  # uniform on [-limit, limit]
        limit = math.sqrt(3) * std
        assert np.abs(w).max() <= limit * (1 + 1e-6)
        assert np.abs(w).max() > 0.99 * limit
    elif name in ("he", "lecun"):  # truncated at two untruncated standard deviations
        assert np.abs(w).max() <= 2 * std / TRUNCATED_STD_FACTOR * (1 + 1e-6)
    else:  # a plain normal has tails past 3 standard deviations in 262144 draws
        assert np.abs(w).max() > 3.5 * std


@pytest.mark.parametrize("name", INITIALIZERS)
def test_unequal_fans_use_the_right_fan(name):
    # fan_in 1024, fan_out 256: tells fan_in from fan_avg.
    model = mlp(1, width=256, initializer=name, init_scale=2.0, input_shape=(1024,))
    w = model.get_layer("hidden_1").kernel.numpy()
    assert w.std() == pytest.approx(2.0 * expected_std(name, 1024, 256), rel=0.03)


@pytest.mark.parametrize("name", INITIALIZERS)
def test_conv_kernel_std_matches_the_scheme(name):
    # 3x3 kernel, 64 -> 64 channels: fan_in = fan_out = 9 * 64.
    model = cnn(1, filters=64, initializer=name, init_scale=1.5, input_shape=(4, 4, 64))
    w = model.get_layer("hidden_1").kernel.numpy()
    assert w.shape == (3, 3, 64, 64)
    assert w.std() == pytest.approx(1.5 * expected_std(name, 576, 576), rel=0.03)


def test_logits_layer_uses_the_same_scheme():
    model = mlp(1, width=512, initializer="he", init_scale=0.5, input_shape=(8,), num_classes=512)
    w = model.get_layer("logits").kernel.numpy()
    assert w.std() == pytest.approx(0.5 * math.sqrt(2 / 512), rel=0.02)


def test_kernel_initializer_is_seeded():
    a = kernel_initializer("he", seed=3)((64, 64)).numpy()
    b = kernel_initializer("he", seed=3)((64, 64)).numpy()
    c = kernel_initializer("he", seed=4)((64, 64)).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


SANE_FLOATS = st.floats(-1e30, 1e30).filter(lambda s: s == 0 or abs(s) > 1e-30)
NON_FINITE = st.sampled_from([float("nan"), float("inf"), float("-inf")])


@settings(max_examples=60)
@given(st.one_of(SANE_FLOATS, NON_FINITE, st.integers(-5, 5)))
def test_kernel_initializer_accepts_exactly_positive_finite_scales(scale):
    if math.isfinite(scale) and scale > 0:
        assert kernel_initializer("lecun", scale=scale) is not None
    else:
        with pytest.raises(ValueError, match="scale"):
            kernel_initializer("lecun", scale=scale)


def test_kernel_initializer_rejects_unknown_name_listing_choices():
    with pytest.raises(ValueError) as err:
        kernel_initializer("xavier")
    for name in INITIALIZERS:
        assert name in str(err.value)


@pytest.mark.parametrize("scale", [1e-200, 1e200])
def test_kernel_initializer_extreme_positive_scale_is_built_or_rejected_with_value_error(scale):
    # A positive, finite scale: documented to be accepted; if it cannot be honoured (its variance
    # under- or overflows a float), the error must still be a ValueError about the scale.
    for name in INITIALIZERS:
        try:
            result = kernel_initializer(name, scale=scale)
        except ValueError as err:
            assert "scale" in str(err)
        else:
            assert result is not None


@pytest.mark.parametrize("scale", [True, "1", None])
def test_kernel_initializer_rejects_non_numbers(scale):
    with pytest.raises(ValueError, match="scale"):
        kernel_initializer("glorot", scale=scale)


# -- remedies: normalisation, residual connections, dropout ------------------------------------------
@pytest.fixture(scope="module")
def probe():
    ds = data.load("fashion_mnist", n_train=256, seed=0)
    return ds.x_train, ds.y_train


@pytest.fixture(scope="module")
def baseline(probe):
    """First-layer gradient norm of the 20-layer sigmoid MLP with Glorot init."""
    return diagnostics.layer_gradient_norms(models.mlp(20, 64, "sigmoid", "glorot"), *probe).norms[0]


@pytest.mark.parametrize(
    "kwargs, training",
    [
        ({"activation": "relu", "initializer": "he"}, False),
        ({"residual": True}, False),
        ({"normalization": "batch"}, True),
        ({"normalization": "batch", "norm_position": "after"}, True),
    ],
)
def test_remedies_raise_the_first_layer_gradient_at_least_100x(probe, baseline, kwargs, training):
    args = {"activation": "sigmoid", "initializer": "glorot", **kwargs}
    model = models.mlp(20, 64, args.pop("activation"), args.pop("initializer"), **args)
    first = diagnostics.layer_gradient_norms(model, *probe, training=training).norms[0]
    assert first > 100 * baseline, (kwargs, first, baseline)


def test_dropout_alone_does_not_rescue_the_gradient(probe, baseline):
    model = models.mlp(20, 64, "sigmoid", "glorot", dropout=0.2)
    first = diagnostics.layer_gradient_norms(model, *probe).norms[0]
    assert first < 10 * baseline


def test_block_structure():
    m = models.mlp(4, 8, "tanh", "glorot", normalization="layer", residual=True, dropout=0.1)
    names = [l.name for l in m.layers]
    assert [n for n in names if n.startswith("hidden_")] == ["hidden_1", "hidden_2", "hidden_3", "hidden_4"]
    assert [n for n in names if n.startswith("norm_")] == ["norm_1", "norm_2", "norm_3", "norm_4"]
    assert [n for n in names if n.startswith("act_")] == ["act_1", "act_2", "act_3", "act_4"]
    assert [n for n in names if n.startswith("drop_")] == ["drop_1", "drop_2", "drop_3", "drop_4"]
    assert [n for n in names if n.startswith("add_")] == ["add_2", "add_3", "add_4"]  # widths match from block 2
    assert isinstance(m.get_layer("norm_1"), keras.layers.LayerNormalization)
    assert m.output.shape[-1] == 10
    b = models.mlp(3, 8, "relu", "he", normalization="batch", norm_position="after")
    assert isinstance(b.get_layer("norm_1"), keras.layers.BatchNormalization)
    assert b.get_layer("hidden_1").activation is keras.activations.relu  # activation inside, norm after
    assert not any(l.name.startswith("act_") for l in b.layers)


def test_residual_block_adds_its_input():
    m = models.mlp(2, 8, "relu", "he", residual=True, input_shape=(8,))
    x = np.random.default_rng(0).normal(size=(5, 8)).astype(np.float32)
    h1 = keras.Model(m.inputs[0], m.get_layer("hidden_1").output)(x).numpy()
    block2 = keras.Model(m.inputs[0], m.get_layer("hidden_2").output)(x).numpy()
    added = keras.Model(m.inputs[0], m.get_layer("add_2").output)(x).numpy()
    np.testing.assert_allclose(added, h1 + block2, rtol=1e-6)


def test_plain_arguments_still_give_a_sequential():
    assert isinstance(models.mlp(3), keras.Sequential)
    assert not isinstance(models.mlp(3, residual=True), keras.Sequential)


def test_activation_stats_follow_the_activation_layer(probe):
    m = models.mlp(3, 16, "tanh", "glorot", normalization="batch")
    stats = diagnostics.activation_stats(m, probe[0][:32])
    assert [s.layer for s in stats] == ["act_1", "act_2", "act_3"]
    out = keras.Model(m.inputs[0], m.get_layer("act_2").output)(probe[0][:32]).numpy()
    np.testing.assert_allclose(stats[1].std, out.std(), rtol=1e-5)
    assert all(s.activation == "tanh" for s in stats)


def test_measuring_in_training_mode_leaves_batch_norm_statistics_alone(probe):
    m = models.mlp(3, 16, "relu", "he", normalization="batch")
    before = [v.numpy().copy() for v in m.non_trainable_variables]
    diagnostics.layer_gradient_norms(m, *probe, training=True)
    for old, v in zip(before, m.non_trainable_variables):
        np.testing.assert_array_equal(old, v.numpy())


@pytest.mark.parametrize(
    "kwargs, match",
    [({"normalization": "group"}, "normalization"), ({"norm_position": "middle", "normalization": "batch"}, "norm_position"),
     ({"residual": 1}, "residual"), ({"dropout": 1.0}, "dropout"), ({"dropout": -0.1}, "dropout"), ({"dropout": True}, "dropout")],
)
def test_remedy_arguments_are_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        models.mlp(3, **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [{"residual": True}, {"normalization": "batch"}, {"normalization": "layer", "norm_position": "after"},
     {"dropout": 0.1}, {"activation": "prelu", "initializer": "he"}],
)
def test_cnn_takes_the_same_remedies(kwargs):
    args = {"activation": "relu", "initializer": "he", **kwargs}
    model = models.cnn(7, 4, args.pop("activation"), args.pop("initializer"), input_shape=(12, 12, 1), **args)
    names = [l.name for l in model.layers]
    assert [n for n in names if n.startswith("hidden_")] == [f"hidden_{i}" for i in range(1, 8)]
    assert all(isinstance(model.get_layer(f"hidden_{i}"), keras.layers.Conv2D) for i in range(1, 8))
    if kwargs.get("residual"):
        assert [n for n in names if n.startswith("add_")] == [f"add_{i}" for i in range(2, 8)]
    if "normalization" in kwargs:
        assert len([n for n in names if n.startswith("norm_")]) == 7
    if "dropout" in kwargs:
        assert len([n for n in names if n.startswith("drop_")]) == 7
    assert any(n.startswith("pool_") for n in names)
    out = model(np.zeros((2, 12, 12, 1), np.float32))
    assert tuple(out.shape) == (2, 10)


def test_residual_cnn_keeps_the_first_layer_gradient(probe):
    x, y = probe[0][:32], probe[1][:32]
    plain = diagnostics.layer_gradient_norms(models.cnn(20, 8, "sigmoid", "glorot"), x, y).norms[0]
    residual = diagnostics.layer_gradient_norms(models.cnn(20, 8, "sigmoid", "glorot", residual=True), x, y).norms[0]
    assert residual > 100 * plain


def test_cnn_validates_remedy_arguments():
    with pytest.raises(ValueError, match="normalization"):
        models.cnn(3, normalization="instance")
    with pytest.raises(ValueError, match="dropout"):
        models.cnn(3, dropout=1.5)


# -- fast_cnn ------------------------------------------------------------------------------------
# Parameter counts come from the layer formulas (a 'same'-padded stride-2 convolution maps a side
# of n pixels to ceil(n / 2)).
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
def test_fast_cnn_default_is_about_50k_weights_by_the_formula():
    model = fast_cnn()
    formula = 5 * 5 * 1 * 32 + 4 * 32 + 3 * 3 * 32 * 64 + 4 * 64 + 7 * 7 * 64 * 10 + 10
    assert formula == 50_986
    assert model.count_params() == formula
    assert model.output_shape == (None, 10)
    assert not model.compiled
    assert model.get_layer("flatten").output.shape[1] == 7 * 7 * 64


def test_fast_cnn_layer_order_and_settings():
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
def test_fast_cnn_output_shape_and_parameter_count(shape, num_classes):
    model = fast_cnn(shape, num_classes)
    out = np.asarray(model(batch(shape)))
    assert out.shape == (3, num_classes)
    assert out.dtype == np.float32
    assert np.all(np.isfinite(out))
    assert model.count_params() == expected_params(shape, num_classes)


def test_fast_cnn_filters_set_the_channels():
    model = fast_cnn((12, 12, 3), filters=(4, 6))
    assert model.get_layer("conv_1").kernel.shape == (5, 5, 3, 4)
    assert model.get_layer("conv_2").kernel.shape == (3, 3, 4, 6)
    assert model.count_params() == expected_params((12, 12, 3), filters=(4, 6))
    assert fast_cnn(filters=[8, 16]).get_layer("conv_2").filters == 16  # a list is fine too


def test_fast_cnn_outputs_are_logits_not_probabilities():
    out = np.asarray(fast_cnn()(batch((28, 28, 1), n=8)))
    assert np.any(out < 0)
    assert not np.allclose(out.sum(axis=1), 1.0, atol=1e-3)


# -- fast_cnn: seeds -----------------------------------------------------------------------------------
def test_fast_cnn_same_seed_same_weights_whatever_the_global_seed_other_seed_differs():
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


def test_fast_cnn_same_seed_same_outputs_in_training_mode():
    x = batch((28, 28, 1), n=4)
    a = np.asarray(fast_cnn(seed=2)(x, training=True))
    b = np.asarray(fast_cnn(seed=2)(x, training=True))
    np.testing.assert_array_equal(a, b)


def test_fast_cnn_he_normal_conv_kernels():
    w = fast_cnn(filters=(32, 256), seed=0).get_layer("conv_2").kernel.numpy()
    fan_in = 3 * 3 * 32
    assert w.std() == pytest.approx(math.sqrt(2 / fan_in), rel=0.05)


# -- fast_cnn: mixed precision -------------------------------------------------------------------------
def test_fast_cnn_mixed_bfloat16_computes_convs_in_bfloat16_and_logits_in_float32():
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
def test_fast_cnn_float32_policies_compute_in_float32(policy):
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
def test_fast_cnn_bad_arguments_raise_value_error_naming_them(kwargs, name):
    with pytest.raises(ValueError) as err:
        fast_cnn(**kwargs)
    message = str(err.value)
    assert name in message
    assert repr(next(iter(kwargs.values()))) in message  # says what it got


def test_fast_cnn_unknown_policy_message_lists_the_choices():
    with pytest.raises(ValueError) as err:
        fast_cnn(dtype_policy="float8")
    for policy in ("mixed_float16", "mixed_bfloat16"):
        assert policy in str(err.value)


def test_fast_cnn_dropout_zero_is_allowed():
    assert fast_cnn(dropout=0.0).get_layer("dropout").rate == 0.0
    assert fast_cnn(dropout=0).count_params() == expected_params((28, 28, 1))


# -- fast_cnn: it learns ---------------------------------------------------------------------------
@pytest.mark.slow
def test_fast_cnn_learns_fashion_mnist_well_above_chance():
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


# -- argument validation ---------------------------------------------------------------------------
BUILDERS = [pytest.param(mlp, id="mlp"), pytest.param(cnn, id="cnn")]


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("depth", [0, -1, 101, 2.5, True, "3", None])
def test_bad_depth(builder, depth):
    with pytest.raises(ValueError, match="depth"):
        builder(depth)


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("depth", [1, 100])
def test_depth_limits_are_inclusive(builder, depth):
    kind = keras.layers.Dense if builder is mlp else keras.layers.Conv2D
    model = builder(depth, 2, input_shape=(2, 2, 1))
    assert len([layer for layer in hidden(model, kind) if layer.name != "logits"]) == depth


@pytest.mark.parametrize("width", [0, -3, 2.0, True])
def test_bad_width(width):
    with pytest.raises(ValueError, match="width"):
        mlp(2, width)


@pytest.mark.parametrize("filters", [0, -3, 2.0, True])
def test_bad_filters(filters):
    with pytest.raises(ValueError, match="filters"):
        cnn(2, filters)


@pytest.mark.parametrize("builder", BUILDERS)
def test_unknown_activation_lists_choices(builder):
    with pytest.raises(ValueError, match="activation") as err:
        builder(2, 4, "swish")
    assert "swish" in str(err.value)
    for name in FIXED_ACTIVATIONS:
        assert name in str(err.value)


@pytest.mark.parametrize("builder", BUILDERS)
def test_unknown_initializer_lists_choices(builder):
    with pytest.raises(ValueError, match="initializer") as err:
        builder(2, 4, "relu", "xavier")
    assert "xavier" in str(err.value)
    for name in INITIALIZERS:
        assert name in str(err.value)


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("init_scale", [0, -1, 0.0, float("nan"), float("inf"), True, "1"])
def test_bad_init_scale_is_rejected(builder, init_scale):
    with pytest.raises(ValueError, match="scale") as err:
        builder(2, 4, init_scale=init_scale)
    assert repr(init_scale) in str(err.value)


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("init_scale", [0, float("nan"), True])
def test_bad_init_scale_message_names_init_scale(builder, init_scale):
    # The builders' argument is init_scale; a message about "scale" leaves the reader guessing.
    with pytest.raises(ValueError, match="init_scale"):
        builder(2, 4, init_scale=init_scale)


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("num_classes", [1, 0, 2.0, True])
def test_bad_num_classes(builder, num_classes):
    with pytest.raises(ValueError, match="num_classes"):
        builder(2, 4, num_classes=num_classes)


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("input_shape", [(), (0, 28, 1), (28, -1, 1), (28, 28.0, 1), ("28", 28, 1), (28, 28, None)])
def test_bad_input_shape(builder, input_shape):
    with pytest.raises(ValueError, match="input_shape"):
        builder(2, 4, input_shape=input_shape)


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("input_shape", [None, 28])
def test_input_shape_that_is_not_a_sequence_raises_value_error(builder, input_shape):
    with pytest.raises(ValueError, match="input_shape"):
        builder(2, 4, input_shape=input_shape)


@pytest.mark.parametrize("input_shape", [(28, 28), (784,), (2, 28, 28, 1)])
def test_cnn_rejects_a_non_image_input_shape(input_shape):
    with pytest.raises(ValueError) as err:
        cnn(2, 4, input_shape=input_shape)
    assert str(input_shape) in str(err.value)


def test_cnn_non_image_input_shape_message_names_input_shape():
    with pytest.raises(ValueError, match="input_shape"):
        cnn(2, 4, input_shape=(28, 28))


def test_mlp_accepts_any_rank_of_input():
    for shape in [(784,), (28, 28), (2, 3, 4, 5)]:
        assert mlp(1, 3, input_shape=shape).get_layer("hidden_1").kernel.shape[0] == math.prod(shape)


@pytest.mark.parametrize("pool_every", [0, -2, 1.5, True])
def test_bad_pool_every(pool_every):
    with pytest.raises(ValueError, match="pool_every"):
        cnn(3, 4, pool_every=pool_every)


def test_public_names():
    assert set(models.__all__) == {"FIXED_ACTIVATIONS", "FusedBatchNormalization", "INITIALIZERS", "LEARNED_ACTIVATIONS", "NORMALIZATIONS", "cnn", "fast_cnn", "kernel_initializer", "mlp"}
    assert INITIALIZERS == ("glorot", "he", "lecun", "normal")
    assert {"sigmoid", "tanh", "relu"} <= set(FIXED_ACTIVATIONS)


# -- fast_cnn: the speed-run's knobs -----------------------------------------------------------------
def test_fast_cnn_hidden_layer_adds_dense_norm_relu_then_the_dropout_before_the_logits():
    model = fast_cnn((12, 12, 1), filters=(4, 6), hidden=16, dropout=0.2)
    names = [layer.name for layer in model.layers]
    assert names[-6:] == ["flatten", "hidden", "norm_3", "act_3", "dropout", "logits"]
    assert model.get_layer("hidden").kernel.shape == (3 * 3 * 6, 16)
    assert not model.get_layer("hidden").use_bias
    assert model.get_layer("dropout").rate == 0.2
    assert model.count_params() == expected_params((12, 12, 1), filters=(4, 6)) - (3 * 3 * 6 * 10 + 10) \
        + 3 * 3 * 6 * 16 + 4 * 16 + 16 * 10 + 10


def test_fast_cnn_batch_norm_momentum_reaches_every_norm_layer():
    model = fast_cnn(hidden=8, batch_norm_momentum=0.9)
    momenta = {layer.momentum for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)}
    assert momenta == {0.9}
    assert {layer.momentum for layer in fast_cnn().layers if isinstance(layer, keras.layers.BatchNormalization)} == {0.99}


@pytest.mark.parametrize("kwargs, match", [
    ({"hidden": -1}, "hidden"), ({"hidden": 2.5}, "hidden"),
    ({"batch_norm_momentum": 1.0}, "batch_norm_momentum"), ({"batch_norm_momentum": -0.1}, "batch_norm_momentum"),
    ({"stem": -1}, "stem"), ({"stem": 1.5}, "stem"),
    ({"fused_batch_norm": 1}, "fused_batch_norm"),
])
def test_fast_cnn_rejects_bad_speed_run_knobs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fast_cnn(**kwargs)


def test_fast_cnn_stem_convolves_at_full_resolution_then_the_first_strided_convolution_is_2x2():
    model = fast_cnn((12, 12, 1), filters=(4, 6), stem=5, seed=0)
    names = [layer.name for layer in model.layers]
    assert names[:4] == ["stem", "act_0", "conv_1", "norm_1"]      # no normalisation of the stem's own
    stem, conv_1 = model.get_layer("stem"), model.get_layer("conv_1")
    assert stem.kernel.shape == (3, 3, 1, 5) and stem.strides == (1, 1) and stem.use_bias
    assert conv_1.kernel.shape == (2, 2, 5, 4) and conv_1.strides == (2, 2)
    assert model.get_layer("act_0").output.shape[1:] == (12, 12, 5)
    assert model.get_layer("act_2").output.shape[1:] == (3, 3, 6)
    assert [layer.name for layer in fast_cnn((12, 12, 1)).layers][0] == "conv_1"


def test_fast_cnn_fused_batch_norm_replaces_every_norm_layer():
    model = fast_cnn((12, 12, 1), filters=(4, 6), hidden=8, stem=3, batch_norm_momentum=0.9, fused_batch_norm=True)
    norms = [layer for layer in model.layers if layer.name.startswith("norm_")]
    assert len(norms) == 3 and all(isinstance(layer, models.FusedBatchNormalization) for layer in norms)
    assert {layer.momentum for layer in norms} == {0.9}
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    plain = fast_cnn((12, 12, 1), filters=(4, 6), hidden=8, stem=3)
    assert model.count_params() == plain.count_params()


# -- FusedBatchNormalization: Keras's batch normalisation, by TensorFlow's fused kernel ---------------
@pytest.mark.parametrize("shape", [(16, 5, 5, 3), (32, 7)])
def test_fused_batch_norm_matches_keras_batch_norm_in_training_and_inference(shape):
    import tensorflow as tf

    x = np.random.default_rng(0).normal(2.0, 3.0, shape).astype("float32")
    fused = models.FusedBatchNormalization(momentum=0.9)
    plain = keras.layers.BatchNormalization(momentum=0.9)
    fused.build(shape), plain.build(shape)
    rng = np.random.default_rng(1)
    gamma, beta = rng.uniform(0.5, 2, shape[-1]).astype("float32"), rng.normal(size=shape[-1]).astype("float32")
    for layer in (fused, plain):
        layer.gamma.assign(gamma), layer.beta.assign(beta)
    grads = []
    for layer in (fused, plain):
        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = layer(xt, training=True)
            loss = tf.reduce_sum(y * tf.cos(y))         # any loss that weighs the outputs unequally
        grads.append(tape.gradient(loss, [xt, layer.gamma.value, layer.beta.value]))
        if layer is fused:
            y_fused = np.asarray(y)
    np.testing.assert_allclose(y_fused, np.asarray(y), rtol=1e-4, atol=1e-4)
    for g_fused, g_plain in zip(*grads):
        np.testing.assert_allclose(np.asarray(g_fused), np.asarray(g_plain), rtol=1e-3, atol=1e-3)
    # The running mean is Keras's; the running variance takes the unbiased batch variance.
    n = np.prod(shape[:-1])
    axes = tuple(range(len(shape) - 1))
    np.testing.assert_allclose(np.asarray(fused.moving_mean), 0.1 * x.mean(axis=axes), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(plain.moving_mean), 0.1 * x.mean(axis=axes), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(fused.moving_variance), 0.9 + 0.1 * x.var(axis=axes) * n / (n - 1), rtol=1e-4)
    np.testing.assert_allclose(np.asarray(plain.moving_variance), 0.9 + 0.1 * x.var(axis=axes), rtol=1e-4)
    # Inference normalises with the running statistics.
    plain.moving_variance.assign(fused.moving_variance)
    np.testing.assert_allclose(np.asarray(fused(x, training=False)), np.asarray(plain(x, training=False)),
                               rtol=1e-4, atol=1e-4)


def test_fused_batch_norm_trains_in_a_model_under_mixed_precision_and_saves():
    keras.utils.set_random_seed(0)
    model = fast_cnn((8, 8, 1), filters=(4, 4), hidden=4, fused_batch_norm=True, dtype_policy="mixed_bfloat16")
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = batch((8, 8, 1), n=32), np.arange(32) % 10
    before = np.asarray(model.get_layer("norm_1").moving_mean).copy()
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert not np.allclose(np.asarray(model.get_layer("norm_1").moving_mean), before)
    assert model.get_layer("norm_1").gamma.dtype == "float32"
    config = models.FusedBatchNormalization(momentum=0.8, epsilon=1e-4, name="n").get_config()
    again = models.FusedBatchNormalization.from_config(config)
    assert (again.momentum, again.epsilon, again.name) == (0.8, 1e-4, "n")


@pytest.mark.parametrize("kwargs, match", [({"momentum": 1.0}, "momentum"), ({"epsilon": 1e-6}, "epsilon")])
def test_fused_batch_norm_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        models.FusedBatchNormalization(**kwargs)


def test_fused_batch_norm_names_the_ranks_it_takes():
    with pytest.raises(ValueError, match="rank 4.*rank 2.*BatchNormalization"):
        models.FusedBatchNormalization().build((4, 5, 6))
