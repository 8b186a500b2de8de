"""TwoLayerNet (hand-written backprop) and input_gradients (per-layer gradients from TensorFlow)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from gradbook import backprop
from gradbook.backprop import TwoLayerNet, gradient_check, input_gradients

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
    losses = net.train(X_XOR, Y_XOR, lr=1.0, steps=1500)
    assert losses[-1] < 0.05 * losses[0]
    assert np.array_equal(net.probabilities(X_XOR).argmax(axis=1), Y_XOR)


@pytest.mark.slow
def test_one_hidden_unit_cannot_solve_xor():
    for seed in range(3):
        net = TwoLayerNet.init(2, 1, 2, seed=seed)
        net.train(X_XOR, Y_XOR, lr=1.0, steps=1500)
        assert np.mean(net.probabilities(X_XOR).argmax(axis=1) == Y_XOR) < 1.0


@pytest.mark.slow
@pytest.mark.parametrize(
    "kwargs, match",
    [({"lr": 0.0, "steps": 10}, "lr"), ({"lr": float("nan"), "steps": 10}, "lr"),
     ({"lr": 0.1, "steps": 0}, "steps"), ({"lr": 1e6, "steps": 50}, "too large")],
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
