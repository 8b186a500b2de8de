"""Tests for the chapter-6 additions to gradbook.training: pipeline, warmup_cosine_adam, optimizer,
train_cnn, validation_split and per-epoch throughput. (The TrainingPanel's tests are in
test_widgets_panel.py.)"""

from __future__ import annotations

import math
import warnings

import keras
import numpy as np
import pytest

from gradbook import data, training
from gradbook.evaluation import evaluate
from gradbook.training import OPTIMIZERS, TrainResult


@pytest.fixture(scope="module")
def digits():
    return data.load("digits", n_train=256, n_test=96, seed=0)


def dense_model(seed=0, lr=0.1, softmax=True):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax" if softmax else None)])
    model.compile(keras.optimizers.SGD(learning_rate=lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


# -- training.pipeline -------------------------------------------------------------------------
def _labels_per_epoch(ds, epochs=2):
    out = []
    for _ in range(epochs):
        batches = [(xb.numpy(), yb.numpy()) for xb, yb in ds]
        out.append(batches)
    return out


def test_pipeline_batches_cover_every_example_once_per_epoch():
    x = np.arange(23, dtype=np.float32).reshape(23, 1) * 10
    y = np.arange(23)
    keras.utils.set_random_seed(0)
    epochs = _labels_per_epoch(training.pipeline(x, y, batch_size=5, seed=1))
    orders = []
    for batches in epochs:
        assert [len(yb) for _, yb in batches] == [5, 5, 5, 5, 3]
        for xb, yb in batches:
            np.testing.assert_array_equal(xb[:, 0], yb * 10)  # images stay with their labels
        order = np.concatenate([yb for _, yb in batches])
        assert sorted(order.tolist()) == list(range(23))
        assert order.tolist() != list(range(23))  # shuffled
        orders.append(order.tolist())
    assert orders[0] != orders[1]  # reshuffled every epoch


def test_pipeline_seeded_order_repeats_and_seed_matters():
    x = np.arange(40, dtype=np.float32)
    y = np.arange(40)

    def orders(seed):
        keras.utils.set_random_seed(0)  # the same global seed each time
        return [np.concatenate([b[1] for b in ep]).tolist() for ep in _labels_per_epoch(training.pipeline(x, y, batch_size=8, seed=seed))]

    assert orders(3) == orders(3)
    assert orders(3) != orders(4)


def test_pipeline_without_shuffle_keeps_the_order():
    x = np.arange(10, dtype=np.float32)
    ds = training.pipeline(x, np.arange(10), batch_size=4, shuffle=False)
    epochs = _labels_per_epoch(ds)
    for batches in epochs:
        assert [yb.tolist() for _, yb in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_pipeline_rejects_bad_input():
    x = np.zeros((10, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="10 examples but y has 9"):
        training.pipeline(x, np.zeros(9))
    for bad in (0, -1, 2.5, True, None):
        with pytest.raises(ValueError, match="batch_size"):
            training.pipeline(x, np.zeros(10), batch_size=bad)


# -- training.warmup_cosine_adam ---------------------------------------------------------------
def _lr_at(opt, step):
    opt.iterations.assign(step)
    return float(opt.learning_rate)


def test_warmup_cosine_adam_schedule():
    opt = training.warmup_cosine_adam(100, peak_learning_rate=0.01, warmup_fraction=0.1)
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
    opt = training.warmup_cosine_adam(50, peak_learning_rate=2e-3, warmup_fraction=0.0)
    assert _lr_at(opt, 0) == pytest.approx(2e-3, rel=1e-6)
    assert _lr_at(opt, 25) == pytest.approx(1e-3, rel=1e-4)
    assert _lr_at(opt, 50) == pytest.approx(0.0, abs=1e-9)
    default = training.warmup_cosine_adam(1000)
    assert max(_lr_at(default, s) for s in (90, 100, 110)) == pytest.approx(3e-3, rel=1e-6)
    assert _lr_at(default, 100) == pytest.approx(3e-3, rel=1e-6)


@pytest.mark.slow
def test_warmup_cosine_adam_drives_a_training_run(digits):
    steps_per_epoch = math.ceil(len(digits.x_train) / 32)
    model = dense_model()
    model.compile(training.warmup_cosine_adam(3 * steps_per_epoch, peak_learning_rate=0.01, warmup_fraction=0.2),
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
        training.warmup_cosine_adam(total, **kwargs)


# -- training.optimizer ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, cls, momentum",
    [
        ("sgd", keras.optimizers.SGD, 0.0),
        ("momentum", keras.optimizers.SGD, 0.9),
        ("rmsprop", keras.optimizers.RMSprop, None),
        ("adagrad", keras.optimizers.Adagrad, None),
        ("adam", keras.optimizers.Adam, None),
    ],
)
def test_optimizer_names(name, cls, momentum):
    opt = training.optimizer(name, 0.03)
    assert type(opt) is cls
    assert float(opt.learning_rate) == pytest.approx(0.03, rel=1e-6)
    if momentum is not None:
        assert opt.momentum == pytest.approx(momentum)
    clipped = training.optimizer(name, 0.01, clipnorm=1.0)
    assert clipped.clipnorm == 1.0


def test_optimizers_tuple_lists_every_name():
    assert OPTIMIZERS == ("sgd", "momentum", "rmsprop", "adagrad", "adam")
    assert float(training.optimizer("adam").learning_rate) == pytest.approx(0.001, rel=1e-6)  # default
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    opt = training.optimizer("momentum", schedule)
    assert _lr_at(opt, 10) == pytest.approx(0.05, rel=1e-6)


def test_optimizer_rejects_unknown_name():
    with pytest.raises(ValueError) as info:
        training.optimizer("nadam")
    message = str(info.value)
    assert "nadam" in message
    for name in OPTIMIZERS:
        assert name in message


@pytest.mark.parametrize("lr", [0, 0.0, -0.1, float("nan"), float("inf"), True, False])
def test_optimizer_rejects_bad_learning_rate(lr):
    with pytest.raises(ValueError, match="learning_rate"):
        training.optimizer("sgd", lr)


# -- training.train: validation_split, per-epoch timing, datasets ------------------------------
@pytest.mark.slow
def test_validation_split_counts_training_examples_like_keras(digits):
    x, y = digits.x_train[:130], digits.y_train[:130]
    steps = []

    class Steps(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            steps.append(self.params["steps"])

    model = dense_model(lr=1e-9)  # the weights barely move
    result = training.train(model, x, y, epochs=2, batch_size=97, validation_split=0.25, callbacks=[Steps()])
    # 130 * 0.75 = 97.5: Keras trains on floor = 97 (one batch of 97; 98 would need two).
    assert result.examples == 97
    assert steps == [1]
    assert result.epochs == 2
    assert len(result.history["val_loss"]) == 2
    # Validation is on the last 33 examples, as Keras holds them out.
    held_out = model.evaluate(x[97:], y[97:], verbose=0, return_dict=True)["loss"]
    assert result.final("val_loss") == pytest.approx(held_out, rel=1e-4)
    assert result.examples_per_second == pytest.approx(97 * 2 / result.seconds, rel=1e-9)


@pytest.mark.slow
def test_epoch_seconds_and_images_per_second(digits):
    result = training.train(dense_model(), digits.x_train, digits.y_train, epochs=3, batch_size=32, validation_split=0.2)
    n = math.floor(len(digits.x_train) * 0.8)
    assert result.examples == n
    assert len(result.epoch_seconds) == 3
    assert all(s > 0 for s in result.epoch_seconds)
    assert sum(result.epoch_seconds) <= result.seconds * 1.01
    assert result.images_per_second == pytest.approx([n / s for s in result.epoch_seconds], rel=1e-12)
    plain = training.train(dense_model(), digits.x_train, digits.y_train, epochs=2)
    assert plain.examples == len(digits.x_train)
    assert len(plain.epoch_seconds) == 2
    assert plain.images_per_second == pytest.approx([len(digits.x_train) / s for s in plain.epoch_seconds])


def test_images_per_second_of_a_hand_made_result():
    r = TrainResult(history={"loss": [1.0, 0.5]}, seconds=3.0, examples_per_second=100.0, epoch_seconds=(1.0, 2.0),
                    examples=100)
    assert r.images_per_second == [100.0, 50.0]
    unknown = TrainResult(history={"loss": [1.0]}, seconds=1.0, examples_per_second=float("nan"), epoch_seconds=(1.0,))
    assert len(unknown.images_per_second) == 1 and math.isnan(unknown.images_per_second[0])
    zero = TrainResult(history={"loss": [1.0]}, seconds=0.0, examples_per_second=float("nan"), epoch_seconds=(0.0,),
                       examples=10)
    assert math.isnan(zero.images_per_second[0])


@pytest.mark.slow
def test_train_on_a_pipeline(digits):
    ds = training.pipeline(digits.x_train, digits.y_train, batch_size=32, seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = training.train(dense_model(), ds, epochs=3, batch_size=None)
    assert not [w for w in caught if "shuffle" in str(w.message)]  # no shuffle=True for a dataset
    assert result.epochs == 3
    assert result.examples is None
    assert math.isnan(result.examples_per_second)
    assert len(result.epoch_seconds) == 3
    assert len(result.images_per_second) == 3 and all(math.isnan(v) for v in result.images_per_second)
    assert result.history["loss"][-1] < result.history["loss"][0]


@pytest.mark.slow
@pytest.mark.parametrize("split", [-0.1, 1.0, 1.5, float("nan")])
def test_validation_split_out_of_range_raises(digits, split):
    with pytest.raises(ValueError, match="validation_split"):
        training.train(dense_model(), digits.x_train, digits.y_train, validation_split=split)


# -- training.train_cnn ------------------------------------------------------------------------
@pytest.mark.slow
def test_train_cnn_on_digits_learns(digits):
    model, result = training.train_cnn(digits, depth=2, filters=8, epochs=4, batch_size=32, learning_rate=3e-3, seed=0)
    assert isinstance(model, keras.Model)
    assert model.name.endswith("_relu_he")  # He initialisation for ReLU
    assert model.output_shape == (None, 10)
    assert result.epochs == 4
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"):
        assert len(result.history[key]) == 4
    assert result.examples == math.floor(len(digits.x_train) * 0.9)
    assert result.history["learning_rate"] == pytest.approx([3e-3] * 4, rel=1e-6)
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert result.final("val_accuracy") > 0.5  # chance is 0.1
    # The model outputs logits, as evaluate expects by default.
    ev = evaluate(model, digits.x_test, digits.y_test, class_names=digits.class_names)
    assert ev.accuracy > 0.5


@pytest.mark.slow
def test_train_cnn_is_seeded_and_picks_the_initializer(digits):
    kwargs = dict(depth=1, filters=4, epochs=1, batch_size=64, optimizer_name="momentum", learning_rate=0.01,
                  validation_split=0.0)
    m1, a = training.train_cnn(digits, seed=2, **kwargs)
    m2, b = training.train_cnn(digits, seed=2, **kwargs)
    assert a.history["loss"] == b.history["loss"]
    assert all(np.array_equal(u, v) for u, v in zip(m1.get_weights(), m2.get_weights()))
    assert not any(k.startswith("val_") for k in a.history)
    assert type(m1.optimizer) is keras.optimizers.SGD and m1.optimizer.momentum == pytest.approx(0.9)
    tanh, _ = training.train_cnn(digits, activation="tanh", **kwargs)
    assert tanh.name.endswith("_tanh_glorot")


@pytest.mark.slow
@pytest.mark.parametrize(
    "kwargs, word",
    [({"optimizer_name": "nadam"}, "nadam"), ({"epochs": 0}, "epochs"), ({"validation_split": 1.0}, "validation_split"),
     ({"learning_rate": -1.0}, "learning_rate"), ({"depth": 0}, "depth")],
)
def test_train_cnn_rejects_bad_arguments(digits, kwargs, word):
    with pytest.raises(ValueError, match=word):
        training.train_cnn(digits, **kwargs)


def test_warmup_cosine_adam_rejects_a_boolean_peak_and_accepts_numpy_floats():
    with pytest.raises(ValueError, match="peak_learning_rate"):
        training.warmup_cosine_adam(100, peak_learning_rate=True)
    opt = training.warmup_cosine_adam(100, peak_learning_rate=np.float32(0.01))
    assert _lr_at(opt, 10) == pytest.approx(0.01, rel=1e-5)


def test_with_loss_scaling_wraps_only_for_mixed_float16():
    adam = keras.optimizers.Adam()
    scaled = training.with_loss_scaling(adam, "mixed_float16")
    assert isinstance(scaled, keras.optimizers.LossScaleOptimizer)
    assert scaled.inner_optimizer is adam
    assert training.with_loss_scaling(scaled, "mixed_float16") is scaled  # never wrapped twice
    for policy in (None, "float32", "mixed_bfloat16"):
        assert training.with_loss_scaling(adam, policy) is adam
