"""The remedies as builder arguments: normalisation, residual connections, dropout."""

import keras
import numpy as np
import pytest

from gradbook import data, diagnostics, models


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
