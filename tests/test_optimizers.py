"""Tests for gradbook.optimizers: optimizers by name, the warm-up + cosine schedule and Adam with it."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from gradbook import data, optimizers, training
from gradbook.optimizers import OPTIMIZERS, warmup_cosine
from keras_examples import OPTIMIZER_CLASSES, dense_model


@pytest.fixture(scope="module")
def digits():
    return data.load("digits", n_train=256, n_test=96, seed=0)


# -- warmup_cosine ---------------------------------------------------------------------------------
def test_warmup_cosine_rises_linearly_then_decays_to_zero():
    schedule = warmup_cosine(100, 0.2, warmup_steps=10)
    values = np.array([float(schedule(step)) for step in (0, 5, 10, 55, 100)])
    np.testing.assert_allclose(values, [0.0, 0.1, 0.2, 0.1, 0.0], atol=1e-6)
    no_warmup = warmup_cosine(10, 0.5, warmup_steps=0)
    assert float(no_warmup(0)) == pytest.approx(0.5) and float(no_warmup(10)) == pytest.approx(0.0, abs=1e-7)
    for bad in (-1, 100, 1.5):
        with pytest.raises(ValueError, match="warmup_steps must be a whole number"):
            warmup_cosine(100, 0.2, warmup_steps=bad)


def test_warmup_cosine_can_warm_up_from_a_start_rate_as_goyal_et_al_do():
    schedule = warmup_cosine(100, 0.8, warmup_steps=10, start_learning_rate=0.1)
    values = np.array([float(schedule(step)) for step in (0, 5, 10, 55, 100)])
    np.testing.assert_allclose(values, [0.1, 0.45, 0.8, 0.4, 0.0], atol=1e-6)
    default = warmup_cosine(100, 0.2, warmup_steps=10)
    assert float(default(0)) == 0.0                            # existing callers: from 0, as before
    no_warmup = warmup_cosine(10, 0.5, warmup_steps=0, start_learning_rate=0.1)
    assert float(no_warmup(0)) == pytest.approx(0.5)           # no warm-up: the start rate is unused
    for bad in (-0.1, 0.9, float("nan"), True):
        with pytest.raises(ValueError, match="start_learning_rate"):
            warmup_cosine(100, 0.8, warmup_steps=10, start_learning_rate=bad)


# -- schedule --------------------------------------------------------------------------------------
def test_step_schedule_divides_by_3_then_9_at_a_third_and_two_thirds_of_the_run():
    s = optimizers.schedule("step", 0.9, steps_per_epoch=10, epochs=3)
    values = [float(s(step)) for step in (0, 10, 11, 20, 21, 29)]  # Keras: step <= boundary keeps the rate
    np.testing.assert_allclose(values, [0.9, 0.9, 0.3, 0.3, 0.1, 0.1], rtol=1e-6)


def test_exponential_schedule_halves_the_rate_every_epoch():
    s = optimizers.schedule("exponential", 0.8, steps_per_epoch=4, epochs=3)
    values = [float(s(step)) for step in (0, 2, 4, 8)]
    np.testing.assert_allclose(values, [0.8, 0.8 * 0.5 ** 0.5, 0.4, 0.2], rtol=1e-6)


def test_warmup_cosine_schedule_warms_up_for_a_tenth_of_the_run():
    s = optimizers.schedule("warmup_cosine", 0.5, steps_per_epoch=10, epochs=2)
    reference = warmup_cosine(20, 0.5, warmup_steps=2)
    for step in (0, 1, 2, 11, 20):
        assert float(s(step)) == pytest.approx(float(reference(step)))
    single = optimizers.schedule("warmup_cosine", 0.5, steps_per_epoch=1, epochs=1)
    assert float(single(0)) == pytest.approx(0.5)  # one step: no warm-up


@pytest.mark.parametrize("kwargs, word", [
    ({"name": "cosine_restarts"}, "schedule"),
    ({"learning_rate": 0.0}, "learning_rate"),
    ({"steps_per_epoch": 0}, "steps_per_epoch"),
    ({"epochs": 1.5}, "epochs"),
])
def test_schedule_rejects_bad_arguments(kwargs, word):
    arguments = {"name": "step", "learning_rate": 0.1, "steps_per_epoch": 5, "epochs": 2} | kwargs
    name = arguments.pop("name")
    with pytest.raises(ValueError, match=word):
        optimizers.schedule(name, **arguments)


# -- warmup_cosine_adam ----------------------------------------------------------------------------
def _lr_at(opt, step):
    opt.iterations.assign(step)
    return float(opt.learning_rate)


def test_warmup_cosine_adam_schedule():
    opt = optimizers.warmup_cosine_adam(100, peak_learning_rate=0.01, warmup_fraction=0.1)
    assert isinstance(opt, keras.optimizers.Adam)
    lrs = np.array([_lr_at(opt, s) for s in range(101)])
    assert lrs[0] == 0.0
    assert lrs[5] == pytest.approx(0.005, rel=1e-5)  # linear warm-up
    assert int(np.argmax(lrs)) == 10  # the peak is at the end of the warm-up
    assert lrs[10] == pytest.approx(0.01, rel=1e-6)
    assert np.all(np.diff(lrs[:11]) > 0)
    assert np.all(np.diff(lrs[10:]) <= 1e-9)
    assert lrs[55] == pytest.approx(0.005, rel=1e-4)  # half-way through the cosine
    assert lrs[100] == pytest.approx(0.0, abs=1e-9)
    assert lrs[99] < 1e-5
    assert _lr_at(opt, 150) == pytest.approx(0.0, abs=1e-9)  # and stays there


def test_warmup_cosine_adam_without_warmup_starts_at_the_peak():
    opt = optimizers.warmup_cosine_adam(50, peak_learning_rate=2e-3, warmup_fraction=0.0)
    assert _lr_at(opt, 0) == pytest.approx(2e-3, rel=1e-6)
    assert _lr_at(opt, 25) == pytest.approx(1e-3, rel=1e-4)
    assert _lr_at(opt, 50) == pytest.approx(0.0, abs=1e-9)
    default = optimizers.warmup_cosine_adam(1000)
    assert max(_lr_at(default, s) for s in (90, 100, 110)) == pytest.approx(3e-3, rel=1e-6)
    assert _lr_at(default, 100) == pytest.approx(3e-3, rel=1e-6)


@pytest.mark.slow
def test_warmup_cosine_adam_drives_a_training_run(digits):
    steps_per_epoch = math.ceil(len(digits.x_train) / 32)
    model = dense_model()
    model.compile(optimizers.warmup_cosine_adam(3 * steps_per_epoch, peak_learning_rate=0.01, warmup_fraction=0.2),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    result = training.train(model, digits.x_train, digits.y_train, epochs=3, batch_size=32)
    lrs = result.history["learning_rate"]
    assert len(lrs) == 3
    assert lrs[-1] == pytest.approx(0.0, abs=1e-9)  # decayed to zero at the last step
    assert 0 < lrs[1] < 0.01
    assert result.history["loss"][-1] < result.history["loss"][0]


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"total_steps": 0}, "total_steps"),
        ({"total_steps": -10}, "total_steps"),
        ({"total_steps": 10.5}, "total_steps"),
        ({"total_steps": True}, "total_steps"),
        ({"total_steps": 10, "peak_learning_rate": 0.0}, "peak_learning_rate"),
        ({"total_steps": 10, "peak_learning_rate": -1e-3}, "peak_learning_rate"),
        ({"total_steps": 10, "peak_learning_rate": float("nan")}, "peak_learning_rate"),
        ({"total_steps": 10, "peak_learning_rate": float("inf")}, "peak_learning_rate"),
        ({"total_steps": 10, "peak_learning_rate": "0.01"}, "peak_learning_rate"),
        ({"total_steps": 10, "warmup_fraction": -0.1}, "warmup_fraction"),
        ({"total_steps": 10, "warmup_fraction": 1.0}, "warmup_fraction"),
        ({"total_steps": 10, "warmup_fraction": float("nan")}, "warmup_fraction"),
    ],
)
def test_warmup_cosine_adam_rejects_bad_arguments(kwargs, word):
    total = kwargs.pop("total_steps")
    with pytest.raises(ValueError, match=word):
        optimizers.warmup_cosine_adam(total, **kwargs)


def test_warmup_cosine_adam_rejects_a_boolean_peak_and_accepts_numpy_floats():
    with pytest.raises(ValueError, match="peak_learning_rate"):
        optimizers.warmup_cosine_adam(100, peak_learning_rate=True)
    opt = optimizers.warmup_cosine_adam(100, peak_learning_rate=np.float32(0.01))
    assert _lr_at(opt, 10) == pytest.approx(0.01, rel=1e-5)


# -- get -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, cls, momentum", OPTIMIZER_CLASSES)
def test_optimizer_names(name, cls, momentum):
    opt = optimizers.get(name, 0.03)
    assert type(opt) is cls
    assert float(opt.learning_rate) == pytest.approx(0.03, rel=1e-6)
    if momentum is not None:
        assert opt.momentum == pytest.approx(momentum)
    clipped = optimizers.get(name, 0.01, clipnorm=1.0)
    assert clipped.clipnorm == 1.0


def test_optimizers_tuple_lists_every_name():
    assert OPTIMIZERS == ("sgd", "momentum", "rmsprop", "adagrad", "adam")
    assert float(optimizers.get("adam").learning_rate) == pytest.approx(0.001, rel=1e-6)  # default
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    opt = optimizers.get("momentum", schedule)
    assert _lr_at(opt, 10) == pytest.approx(0.05, rel=1e-6)


def test_optimizer_rejects_unknown_name():
    with pytest.raises(ValueError) as info:
        optimizers.get("nadam")
    message = str(info.value)
    assert "nadam" in message
    for name in OPTIMIZERS:
        assert name in message


@pytest.mark.parametrize("lr", [0, 0.0, -0.1, float("nan"), float("inf"), True, False])
def test_optimizer_rejects_bad_learning_rate(lr):
    with pytest.raises(ValueError, match="learning_rate"):
        optimizers.get("sgd", lr)
