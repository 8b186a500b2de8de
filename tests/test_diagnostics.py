"""Tests for gradbook.diagnostics: per-layer gradient norms, activation statistics, GradientHistory,
input-gradient norms over time.

The references are computed independently: gradient norms by a direct ``tf.GradientTape`` pass
over the kernels of the model's Dense and Conv2D layers (or over the inputs of a recurrent
network, and by hand for a linear recurrent unit), activations by a Keras sub-model that
exposes every hidden layer's output, saturation by NumPy from the definitions in the docstring.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from gradbook import data
from gradbook.diagnostics import (
    SATURATION_MARGIN,
    ActivationStats,
    GradientHistory,
    LayerNorm,
    NormTable,
    activation_stats,
    input_gradient_norms_over_time,
    layer_gradient_norms,
)
from gradbook.models import cnn, mlp

WEIGHTED = (keras.layers.Dense, keras.layers.Conv2D)


@pytest.fixture(scope="module")
def fashion():
    return data.load("fashion_mnist", n_train=512, n_test=16, seed=0)


@pytest.fixture(scope="module")
def batch(fashion):
    return fashion.x_train[:128], fashion.y_train[:128]


# -- helpers -----------------------------------------------------------------------------------------
def cross_entropy(y, logits):
    """Mean sparse cross-entropy on logits, spelled with tf.nn rather than keras.losses."""
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(y, tf.int32), logits=logits))


def squared_softmax_error(y, logits):
    """A custom loss: squared distance between the softmax and the one-hot label."""
    p = tf.nn.softmax(logits)
    return tf.reduce_mean(tf.reduce_sum((p - tf.one_hot(tf.cast(y, tf.int32), tf.shape(logits)[-1])) ** 2, axis=-1))


def tape_norms(model, x, y, loss=cross_entropy):
    """(names, kernel-gradient norms) of the model's Dense/Conv2D layers, by one GradientTape pass."""
    layers = [layer for layer in model.layers if isinstance(layer, WEIGHTED)]
    with tf.GradientTape() as tape:
        value = loss(tf.constant(y), model(tf.constant(x, dtype=tf.float32), training=False))
    grads = tape.gradient(value, [layer.kernel for layer in layers])
    norms = np.array([np.sqrt(np.sum(g.numpy().astype(np.float64) ** 2)) for g in grads])
    return [layer.name for layer in layers], norms


def hidden_outputs(model, x):
    """{name: output} of every hidden weighted layer (not the logits), from a Keras sub-model."""
    layers = [layer for layer in model.layers if isinstance(layer, WEIGHTED) and layer.name != "logits"]
    sub = keras.Model(model.inputs[0], [layer.output for layer in layers])
    outs = sub(np.asarray(x, dtype=np.float32), training=False)
    return {layer.name: np.asarray(o, dtype=np.float64) for layer, o in zip(layers, outs)}


def saturated_reference(activation, a):
    if activation == "sigmoid":
        return np.mean((a < 0.01) | (a > 0.99))
    if activation == "tanh":
        return np.mean(np.abs(a) > 0.99)
    assert activation == "relu"
    return np.mean(a == 0)


def compiled(model, lr=0.05):
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


# -- layer_gradient_norms against GradientTape -----------------------------------------------------------
MODELS = [
    pytest.param(lambda: mlp(4, width=32, activation="tanh", initializer="glorot", seed=1), id="mlp"),
    pytest.param(lambda: cnn(4, filters=8, activation="relu", initializer="he", seed=2), id="cnn"),
]


@pytest.mark.parametrize("build", MODELS)
def test_norms_match_gradient_tape(build, batch):
    x, y = batch[0][:64], batch[1][:64]
    model = build()
    table = layer_gradient_norms(model, x, y)
    names, expected = tape_norms(model, x, y)
    assert table.layers == names
    np.testing.assert_allclose(table.norms, expected, rtol=1e-5)
    assert np.all(table.norms > 0)


def test_a_tiny_gradient_has_its_true_norm_not_zero(batch):
    # A 50-layer sigmoid MLP: the first kernel's gradient entries are far below 1e-19, so squaring
    # them in float32 (as tf.norm does) gives 0; the gradient itself is not 0.
    x, y = batch[0][:64], batch[1][:64]
    model = mlp(50, 64, "sigmoid", "glorot", seed=0)
    with tf.GradientTape() as tape:
        loss = cross_entropy(y, model(x))
    g = tape.gradient(loss, model.layers[1].kernel).numpy()
    assert 0 < np.abs(g).max() < 1e-19 and float(tf.norm(g)) == 0.0
    first = layer_gradient_norms(model, x, y).norms[0]
    np.testing.assert_allclose(first, np.sqrt(np.sum(g.astype(np.float64) ** 2)), rtol=1e-12)
    assert first > 0


@pytest.mark.parametrize("build", MODELS)
def test_norms_with_custom_loss_match_gradient_tape(build, batch):
    x, y = batch[0][:64], batch[1][:64]
    model = build()
    table = layer_gradient_norms(model, x, y, loss=squared_softmax_error)
    _, expected = tape_norms(model, x, y, loss=squared_softmax_error)
    np.testing.assert_allclose(table.norms, expected, rtol=1e-5)
    # The loss argument is really used: cross-entropy gives other norms.
    _, default = tape_norms(model, x, y)
    assert not np.allclose(table.norms, default, rtol=1e-2)


def test_norms_with_keras_loss_object(batch):
    x, y = batch[0][:32], batch[1][:32]
    model = mlp(2, width=16, activation="relu", initializer="he")
    scaled = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")
    table = layer_gradient_norms(model, x, y, loss=scaled)
    _, mean_norms = tape_norms(model, x, y)
    # A sum over the batch is 32 times the mean, and so is its gradient.
    np.testing.assert_allclose(table.norms, 32 * mean_norms, rtol=1e-4)


def test_norms_do_not_change_the_model(batch):
    x, y = batch[0][:32], batch[1][:32]
    model = mlp(3, width=16)
    before = [w.copy() for w in model.get_weights()]
    first = layer_gradient_norms(model, x, y)
    second = layer_gradient_norms(model, x, y)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(first.norms, second.norms)


# -- vanishing and healthy gradients ------------------------------------------------------------------
def test_deep_sigmoid_glorot_mlp_vanishes_while_relu_he_does_not(fashion):
    x, y = fashion.x_train[:256], fashion.y_train[:256]
    sigmoid = layer_gradient_norms(mlp(20, 64, "sigmoid", "glorot", seed=0), x, y)
    relu = layer_gradient_norms(mlp(20, 64, "relu", "he", seed=0), x, y)
    assert len(sigmoid) == len(relu) == 21
    assert sigmoid.ratio < 1e-3
    assert 0.1 < relu.ratio < 10
    # Vanishing means shrinking on the way back: the sigmoid net's norms fall steadily towards the input.
    assert np.all(np.diff(np.log(sigmoid.norms[:-1])) > 0)


# -- NormTable ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("build", MODELS)
def test_norm_table_rows(build, batch):
    x, y = batch[0][:32], batch[1][:32]
    model = build()
    table = layer_gradient_norms(model, x, y)
    weighted = [layer for layer in model.layers if isinstance(layer, WEIGHTED)]
    assert isinstance(table, NormTable) and isinstance(table, tuple)
    assert all(isinstance(row, LayerNorm) for row in table)
    assert len(table) == len(weighted) == 5
    assert [row.layer for row in table] == [f"hidden_{i}" for i in range(1, 5)] + ["logits"]
    assert [row.depth for row in table] == [1, 2, 3, 4, 5]
    assert [row.params for row in table] == [layer.count_params() for layer in weighted]
    assert table.layers == [row.layer for row in table]
    np.testing.assert_array_equal(table.norms, [row.norm for row in table])
    assert table.norms.shape == (5,)
    assert table.ratio == pytest.approx(table[0].norm / table[-1].norm, rel=1e-12)
    assert all(isinstance(row.norm, float) and math.isfinite(row.norm) for row in table)
    text = repr(table)
    for row in table:
        assert row.layer in text
    assert len(text.splitlines()) == len(table) + 1  # a header and one line per layer


# -- bad batches and overflow -------------------------------------------------------------------------
def test_wrong_example_shape(batch):
    x, y = batch
    with pytest.raises(ValueError, match="shape") as err:
        layer_gradient_norms(mlp(2, 8), x[:, :27], y)
    assert "(28, 28, 1)" in str(err.value)
    with pytest.raises(ValueError, match="shape"):
        layer_gradient_norms(cnn(2, 4), x.reshape(len(x), 784), y)


def test_one_label_per_example(batch):
    x, y = batch
    with pytest.raises(ValueError) as err:
        layer_gradient_norms(mlp(2, 8), x[:10], y[:9])
    assert "10" in str(err.value) and "9" in str(err.value)
    with pytest.raises(ValueError):
        layer_gradient_norms(mlp(2, 8), x[:9], y[:10])


def test_empty_batch(batch):
    x, y = batch
    with pytest.raises(ValueError, match="empty"):
        layer_gradient_norms(mlp(2, 8), x[:0], y[:0])


def test_overflowing_initial_scale_suggests_a_smaller_one(batch):
    x, y = batch[0][:32], batch[1][:32]
    model = mlp(3, 64, "relu", "normal", init_scale=1e30)
    assert not np.all(np.isfinite(model(x).numpy()))  # the premise: the logits overflow
    with pytest.raises(ValueError, match="smaller initial weight scale or, if the weights have been trained, a smaller learning rate"):
        layer_gradient_norms(model, x, y)


def test_overflowing_inputs_suggest_a_smaller_scale(batch):
    x, y = batch[0][:32], batch[1][:32]
    with pytest.raises(ValueError, match="smaller initial weight scale or, if the weights have been trained, a smaller learning rate"):
        layer_gradient_norms(mlp(3, 64, "relu", "he"), x * 1e38, y)


# -- activation_stats -------------------------------------------------------------------------------
@pytest.mark.parametrize("build,activation", [
    (lambda: mlp(5, width=32, activation="tanh", initializer="glorot", seed=3), "tanh"),
    (lambda: cnn(5, filters=4, activation="sigmoid", initializer="lecun", pool_every=2, seed=3), "sigmoid"),
])
def test_activation_stats_match_a_sub_model(build, activation, batch):
    x = batch[0][:32]
    model = build()
    stats = activation_stats(model, x)
    outputs = hidden_outputs(model, x)
    assert all(isinstance(s, ActivationStats) for s in stats)
    assert [s.layer for s in stats] == list(outputs) == [f"hidden_{i}" for i in range(1, 6)]
    assert [s.depth for s in stats] == [1, 2, 3, 4, 5]
    for s in stats:
        a = outputs[s.layer]
        assert s.activation == activation
        assert s.mean == pytest.approx(a.mean(), rel=1e-4, abs=1e-6)
        assert s.std == pytest.approx(a.std(), rel=1e-4, abs=1e-6)
        assert s.saturated == pytest.approx(saturated_reference(activation, a), abs=1e-3)
        assert s.layer in repr(s) and activation in repr(s)


@pytest.mark.parametrize("build,activation", [
    (lambda: mlp(6, 64, "sigmoid", "normal", init_scale=10.0), "sigmoid"),
    (lambda: mlp(6, 64, "tanh", "glorot", init_scale=3.0), "tanh"),
    (lambda: mlp(6, 64, "relu", "normal"), "relu"),
    (lambda: cnn(3, 8, "relu", "he"), "relu"),
])
def test_saturated_fraction_matches_numpy(build, activation, batch):
    x = batch[0][:64]
    model = build()
    stats = activation_stats(model, x)
    outputs = hidden_outputs(model, x)
    fractions = [saturated_reference(activation, outputs[s.layer]) for s in stats]
    np.testing.assert_allclose([s.saturated for s in stats], fractions, atol=1e-3)
    assert any(0.01 < f < 0.99 for f in fractions)  # a case where the definition matters


@pytest.mark.parametrize("activation,pre,saturated", [
    # sigmoid(5) = 0.9933 and sigmoid(-5) = 0.0067 are within 1e-2 of a bound; sigmoid(4) = 0.982 is not.
    ("sigmoid", [-10.0, -5.0, -4.0, 0.0, 4.0, 5.0, 10.0, 1.0], [1, 1, 0, 0, 0, 1, 1, 0]),
    # tanh(3) = 0.9951 is within 1e-2 of 1; tanh(2) = 0.964 is not.
    ("tanh", [-3.0, -2.0, 0.0, 2.0, 3.0, 8.0, 0.5, -9.0], [1, 0, 0, 0, 1, 1, 0, 1]),
    # relu: exactly zero, however small a positive output.
    ("relu", [-3.0, -1e-6, 0.0, 1e-6, 2.0, -0.5, 1.0, 4.0], [1, 1, 1, 0, 0, 1, 0, 0]),
])
def test_saturation_definitions_on_known_outputs(activation, pre, saturated):
    model = keras.Sequential([
        keras.Input((1,)),
        keras.layers.Dense(1, activation=activation, kernel_initializer="ones", bias_initializer="zeros", name="hidden_1"),
        keras.layers.Dense(2, name="logits"),
    ])
    x = np.array(pre, dtype=np.float32).reshape(-1, 1)
    (s,) = activation_stats(model, x)
    assert s.activation == activation
    assert s.saturated == pytest.approx(np.mean(saturated), abs=1e-12)
    # The same verdict from the documented margin on the real outputs.
    out = model.get_layer("hidden_1")(x).numpy().ravel().astype(np.float64)
    assert SATURATION_MARGIN == 1e-2
    assert s.saturated == pytest.approx(saturated_reference(activation, out), abs=1e-12)


@pytest.mark.parametrize("activation", ["elu", "gelu", "linear", "leaky_relu"])
def test_no_saturation_notion_gives_nan(activation, batch):
    x = batch[0][:16]
    stats = activation_stats(mlp(3, 16, activation, "he"), x)
    assert len(stats) == 3
    for s in stats:
        assert s.activation == activation
        assert math.isnan(s.saturated)
        assert math.isfinite(s.mean) and math.isfinite(s.std)


def test_values_are_a_capped_sample_of_the_outputs(batch):
    x = batch[0][:16]
    model = cnn(2, filters=4, pool_every=5)  # 16 * 28 * 28 * 4 = 50176 values per layer
    stats = activation_stats(model, x)
    outputs = hidden_outputs(model, x)
    for s in stats:
        assert s.values.shape == (2000,)
        assert np.all(np.isin(s.values, outputs[s.layer].astype(np.float32)))
    small = activation_stats(model, x, sample=100)
    assert all(s.values.shape == (100,) for s in small)
    again = activation_stats(model, x, sample=100)
    other = activation_stats(model, x, sample=100, seed=1)
    np.testing.assert_array_equal(small[0].values, again[0].values)
    assert not np.array_equal(small[0].values, other[0].values)
    # Statistics use every value, not the sample.
    assert small[0].mean == pytest.approx(stats[0].mean, rel=1e-12)


def test_values_keep_everything_below_the_cap(batch):
    x = batch[0][:8]
    model = mlp(2, 16)  # 8 * 16 = 128 values per layer
    stats = activation_stats(model, x, sample=2000)
    outputs = hidden_outputs(model, x)
    for s in stats:
        assert s.values.shape == (128,)
        np.testing.assert_allclose(np.sort(s.values), np.sort(outputs[s.layer].ravel()), rtol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_deep_nets_with_a_naive_normal_init_lose_spread(seed, batch):
    x = batch[0][:64]
    sig = activation_stats(mlp(20, 64, "sigmoid", "normal", seed=seed), x)
    assert sig[-1].std < 0.5 * sig[0].std
    tanh = activation_stats(mlp(20, 64, "tanh", "normal", seed=seed), x)
    assert tanh[-1].std < 1e-3 * tanh[0].std
    assert all(b.std < a.std for a, b in zip(tanh, tanh[1:]))  # shrinks at every layer


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_deep_tanh_with_a_large_init_saturates_more_deep_down(seed, batch):
    x = batch[0][:64]
    stats = activation_stats(mlp(20, 64, "tanh", "glorot", init_scale=3.0, seed=seed), x)
    assert np.mean([s.saturated for s in stats[-5:]]) > stats[0].saturated


# -- GradientHistory ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_gradient_history_records_every_8_steps(fashion):
    x, y = fashion.x_train, fashion.y_train
    px, py = fashion.x_train[:64], fashion.y_train[:64]
    model = compiled(mlp(2, 32, "relu", "he", seed=5))
    before = layer_gradient_norms(model, px, py)
    history = GradientHistory(px, py, every=8)
    model.fit(x, y, batch_size=32, epochs=2, callbacks=[history], verbose=0, shuffle=False)
    steps_per_epoch = len(x) // 32
    assert steps_per_epoch == 16
    assert history.steps == list(range(0, 2 * steps_per_epoch + 1, 8)) == [0, 8, 16, 24, 32]
    assert history.norms.shape == (5, 3)
    assert history.layers == ["hidden_1", "hidden_2", "logits"]
    np.testing.assert_allclose(history.norms[0], before.norms, rtol=1e-6)
    # The last record is taken after the last step: the trained model's norms.
    after = layer_gradient_norms(model, px, py)
    np.testing.assert_allclose(history.norms[-1], after.norms, rtol=1e-6)
    assert not np.allclose(history.norms[0], history.norms[-1])

    # The record at step 8 is the model after exactly 8 batches.
    replay = compiled(mlp(2, 32, "relu", "he", seed=5))
    replay.fit(x[: 8 * 32], y[: 8 * 32], batch_size=32, epochs=1, verbose=0, shuffle=False)
    np.testing.assert_allclose(history.norms[1], layer_gradient_norms(replay, px, py).norms, rtol=1e-4)


@pytest.mark.slow
def test_gradient_history_counts_steps_across_epochs(fashion):
    x, y = fashion.x_train[:160], fashion.y_train[:160]  # 5 batches of 32 per epoch
    model = compiled(mlp(1, 8, "relu", "he"))
    history = GradientHistory(x[:32], y[:32], every=3)
    model.fit(x, y, batch_size=32, epochs=3, callbacks=[history], verbose=0)
    assert history.steps == [0, 3, 6, 9, 12, 15]
    assert history.norms.shape == (6, 2)
    assert np.all(np.isfinite(history.norms))


@pytest.mark.slow
def test_gradient_history_uses_its_loss(fashion):
    x, y = fashion.x_train[:64], fashion.y_train[:64]
    model = compiled(mlp(2, 16, "tanh", "glorot"))
    expected = layer_gradient_norms(model, x[:32], y[:32], loss=squared_softmax_error).norms
    history = GradientHistory(x[:32], y[:32], every=100, loss=squared_softmax_error)
    model.fit(x, y, batch_size=32, epochs=1, callbacks=[history], verbose=0)
    assert history.steps == [0]
    np.testing.assert_allclose(history.norms[0], expected, rtol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("every", [0, -1, 2.5, True])
def test_gradient_history_rejects_bad_every(every, batch):
    with pytest.raises(ValueError, match="every"):
        GradientHistory(batch[0], batch[1], every=every)


def test_all_exports_the_saturation_margin():
    from gradbook import diagnostics

    assert "SATURATION_MARGIN" in diagnostics.__all__
    assert all(hasattr(diagnostics, name) for name in diagnostics.__all__)


# -- input_gradient_norms_over_time ------------------------------------------------------------------
def linear_rnn(u, w, v, steps=None):
    """h_t = u x_t + w h_(t-1) (one unit, no bias), read out as v h_T."""
    model = keras.Sequential([keras.Input((steps, 1)),
                              keras.layers.SimpleRNN(1, activation=None, use_bias=False),
                              keras.layers.Dense(1, use_bias=False)])
    model.set_weights([np.full((1, 1), u), np.full((1, 1), w), np.full((1, 1), v)])
    return model


def squared_error(y, out):
    return tf.reduce_mean((out[:, 0] - tf.cast(y, tf.float32)) ** 2)


@pytest.mark.parametrize("u, w, v", [(0.8, 0.5, 1.5), (1.0, -0.9, 0.3), (0.5, 1.2, 2.0)])
def test_linear_rnn_input_gradients_match_the_hand_computation(u, w, v):
    # o_b = v sum_t u w^(T-1-t) x_(b,t), L = mean_b (o_b - y_b)^2, so
    # dL/dx_(b,t) = (2/B) (o_b - y_b) v u w^(T-1-t) and its norm over the batch is |v u w^(T-1-t)| (2/B) ||o - y||.
    steps, batch = 7, 5
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, steps, 1))
    y = rng.standard_normal(batch)
    powers = w ** np.arange(steps - 1, -1, -1)
    out = v * u * (x[:, :, 0] @ powers)
    expected = np.abs(v * u * powers) * 2 / batch * np.linalg.norm(out - y)
    norms = input_gradient_norms_over_time(linear_rnn(u, w, v), x, y, loss=squared_error)
    assert norms.shape == (steps,) and norms.dtype == np.float64
    np.testing.assert_allclose(norms, expected, rtol=1e-5)
    # One step back multiplies the gradient by |w|.
    np.testing.assert_allclose(norms[:-1] / norms[1:], abs(w), rtol=1e-5)


@pytest.mark.parametrize("layer", [keras.layers.SimpleRNN, keras.layers.LSTM, keras.layers.GRU])
def test_input_gradient_norms_match_gradient_tape(layer):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((12, 3)), layer(8), keras.layers.Dense(4)])
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 12, 3)).astype(np.float32)
    y = rng.integers(0, 4, 6)
    inputs = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        value = cross_entropy(y, model(inputs))
    reference = np.linalg.norm(tape.gradient(value, inputs).numpy().astype(np.float64), axis=(0, 2))
    np.testing.assert_allclose(input_gradient_norms_over_time(model, x, y), reference, rtol=1e-6)
    np.testing.assert_allclose(input_gradient_norms_over_time(model, x, y, loss=cross_entropy), reference, rtol=1e-6)


def test_any_length_when_the_model_accepts_any():
    model = linear_rnn(1.0, 0.5, 1.0)
    for steps in (3, 9):
        norms = input_gradient_norms_over_time(model, np.ones((2, steps, 1)), np.zeros(2), loss=squared_error)
        assert norms.shape == (steps,)
        np.testing.assert_allclose(norms[:-1] / norms[1:], 0.5, rtol=1e-6)


def test_a_simple_rnn_forgets_the_first_step():
    # A tanh SimpleRNN at initialisation: the gradient reaching step 1 of 100 is far below step 100's.
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((100, 1)), keras.layers.SimpleRNN(16), keras.layers.Dense(2)])
    x = np.random.default_rng(0).standard_normal((8, 100, 1))
    norms = input_gradient_norms_over_time(model, x, (x[:, 0, 0] > 0).astype(int))
    assert norms[-1] > 100 * norms[0]


def test_input_gradient_norms_do_not_change_the_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5, 2)), keras.layers.LSTM(4), keras.layers.Dense(3)])
    before = [w.copy() for w in model.get_weights()]
    input_gradient_norms_over_time(model, np.ones((3, 5, 2)), [0, 1, 2])
    for w0, w1 in zip(before, model.get_weights()):
        np.testing.assert_array_equal(w0, w1)


@pytest.mark.parametrize("x, y, match", [
    (np.ones((4, 6)), np.zeros(4), "examples, time steps, features"),
    (np.ones((4, 6, 1, 1)), np.zeros(4), "examples, time steps, features"),
    (np.ones((4, 6, 1)), np.zeros(3), "one label per example"),
    (np.ones((0, 6, 1)), np.zeros(0), "non-empty"),
    (np.ones((4, 7, 1)), np.zeros(4), "expects"),
    (np.ones((4, 6, 2)), np.zeros(4), "expects"),
])
def test_input_gradient_norms_reject_a_batch_that_does_not_fit(x, y, match):
    with pytest.raises(ValueError, match=match):
        input_gradient_norms_over_time(linear_rnn(1.0, 0.5, 1.0, steps=6), x, y, loss=squared_error)


def test_an_overflowing_recurrence_is_reported():
    with pytest.raises(ValueError, match="overflowed"):
        input_gradient_norms_over_time(linear_rnn(1.0, 1e10, 1.0), np.ones((2, 8, 1)), np.zeros(2), loss=squared_error)
