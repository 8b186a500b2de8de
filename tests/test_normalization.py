"""Tests for gradbook.normalization: batch normalisation in NumPy against Keras and finite differences.

``keras.layers.BatchNormalization`` (defaults: epsilon 1e-3, momentum 0.99) is the reference for
the forward pass in training and inference mode, for the running statistics, and, through
``tf.GradientTape`` with the loss ``sum(y * G)`` for a random upstream gradient ``G``, for the
backward pass; :func:`gradbook.backprop.gradient_check` checks the backward pass a second way.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import keras
from gradbook import backprop
from gradbook.normalization import (
    BatchNormCache,
    batch_norm_backward,
    batch_norm_forward,
    batch_norm_inference,
    inference_gap,
    update_moving,
)


def sample(shape=(16, 5), seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(2.0, 3.0, size=shape)
    gamma, beta = rng.normal(1.0, 0.5, size=shape[-1]), rng.normal(size=shape[-1])
    return x, gamma, beta, rng.normal(size=shape)


def keras_layer(x, gamma, beta, **kwargs):
    layer = keras.layers.BatchNormalization(dtype="float64", **kwargs)
    layer.build(x.shape)
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    return layer


@pytest.mark.parametrize("shape", [(16, 5), (4, 3, 3, 2)])
def test_forward_and_backward_equal_keras_in_training_mode(shape):
    x, gamma, beta, g = sample(shape)
    layer = keras_layer(x, gamma, beta)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y_keras = layer(xt, training=True)
        loss = tf.reduce_sum(y_keras * g)
    dx_keras, dgamma_keras, dbeta_keras = tape.gradient(loss, [xt, layer.gamma, layer.beta])
    y, cache = batch_norm_forward(x, gamma, beta)
    dx, dgamma, dbeta = batch_norm_backward(g, cache)
    np.testing.assert_allclose(y, y_keras.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, dx_keras.numpy(), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(dgamma, dgamma_keras.numpy(), rtol=1e-10)
    np.testing.assert_allclose(dbeta, dbeta_keras.numpy(), rtol=1e-10)


def test_running_statistics_and_inference_mode_equal_keras_after_a_few_steps():
    x, gamma, beta, _ = sample()
    batches = [x, 0.5 * x - 1, x ** 2 / 10]
    layer = keras_layer(x, gamma, beta, momentum=0.9)
    mean, var = np.zeros(5), np.ones(5)
    for batch in batches:
        layer(tf.constant(batch), training=True)
        _, cache = batch_norm_forward(batch, gamma, beta)
        mean, var = update_moving(mean, var, cache, momentum=0.9)
    np.testing.assert_allclose(mean, layer.moving_mean.numpy(), rtol=1e-10)
    np.testing.assert_allclose(var, layer.moving_variance.numpy(), rtol=1e-10)
    np.testing.assert_allclose(batch_norm_inference(x, gamma, beta, mean, var),
                               layer(tf.constant(x), training=False).numpy(), rtol=1e-10, atol=1e-12)


def test_backward_passes_a_finite_difference_check():
    x, gamma, beta, g = sample((6, 3), seed=1)

    def f(x, gamma, beta):
        y, cache = batch_norm_forward(x, gamma, beta)
        return float(np.sum(y * g)), batch_norm_backward(g, cache)

    assert backprop.gradient_check(f, [x, gamma, beta], tolerance=1e-6).passed


def test_training_mode_output_has_zero_mean_and_unit_variance_before_the_scale_and_shift():
    x, gamma, beta, _ = sample()
    _, cache = batch_norm_forward(x, gamma, beta, epsilon=0.0)
    np.testing.assert_allclose(cache.x_hat.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(cache.x_hat.var(axis=0), 1, rtol=1e-12)
    np.testing.assert_allclose(cache.var, x.var(axis=0))   # biased, as Keras


def test_the_input_gradient_has_no_mean_and_with_epsilon_zero_no_component_along_x_hat():
    x, gamma, beta, g = sample()
    _, cache = batch_norm_forward(x, gamma, beta, epsilon=0.0)
    dx, _, _ = batch_norm_backward(g, cache)
    np.testing.assert_allclose(dx.sum(axis=0), 0, atol=1e-10)
    np.testing.assert_allclose((dx * cache.x_hat).sum(axis=0), 0, atol=1e-10)


def test_inference_gap_equals_keras_and_shrinks_with_each_update():
    x, _, _, _ = sample()
    gap = inference_gap(x, steps=5, momentum=0.5)
    layer = keras_layer(x, np.ones(5), np.zeros(5), momentum=0.5)
    keras_gaps = []
    for _ in range(6):
        y_train = layer(tf.constant(x), training=True).numpy()
        keras_gaps.append(np.max(np.abs(y_train - layer(tf.constant(x), training=False).numpy())))
    # Keras updates its statistics during each training call, so its k-th gap is ours after k + 1 updates.
    np.testing.assert_allclose(gap[1:], keras_gaps[:5], rtol=1e-8)
    assert np.all(np.diff(gap) < 0) and gap[0] > 1


def test_a_constant_feature_with_epsilon_zero_maps_to_zero():
    y, cache = batch_norm_forward([[1.0, 2.0], [3.0, 2.0]], [1.0, 1.0], [0.0, 0.5], epsilon=0.0)
    np.testing.assert_allclose(y[:, 1], 0.5)
    assert isinstance(cache, BatchNormCache)


@pytest.mark.parametrize("call, match", [
    (lambda: batch_norm_forward([1.0, 2.0], [1.0], [0.0]), "at least 2 dimensions"),
    (lambda: batch_norm_forward([[1.0, 2.0]], [1.0, 1.0], [0.0, 0.0]), "at least two values per feature"),
    (lambda: batch_norm_forward([[1.0], [2.0]], [1.0, 1.0], [0.0]), "gamma must have one value per feature"),
    (lambda: batch_norm_forward([[1.0], [2.0]], [1.0], [0.0], epsilon=-1.0), "epsilon"),
    (lambda: batch_norm_backward([[1.0]], batch_norm_forward([[1.0], [2.0]], [1.0], [0.0])[1]), "dy must have"),
    (lambda: update_moving([0.0], [1.0], batch_norm_forward([[1.0], [2.0]], [1.0], [0.0])[1], momentum=1.5), "momentum"),
    (lambda: batch_norm_inference([[1.0]], [1.0], [0.0], [0.0, 0.0], [1.0]), "moving_mean must have one value"),
    (lambda: inference_gap([[1.0], [2.0]], steps=0), "steps"),
])
def test_bad_arguments_are_refused_with_a_message_naming_them(call, match):
    with pytest.raises(ValueError, match=match):
        call()
