"""Tests for gradbook.training: train, TrainResult, TrainingDiverged and train_cnn, on tiny Keras models."""

from __future__ import annotations

import math
import warnings

import keras
import numpy as np
import pytest

from gradbook import data, training
from gradbook.evaluation import evaluate
from gradbook.training import TrainingDiverged, TrainResult, train
from keras_examples import dense_model


@pytest.fixture(scope="module")
def digits():
    ds = data.load("digits", n_train=128, n_test=64, seed=0)
    return ds


@pytest.fixture(scope="module")
def digits_256():
    """256 training and 96 test images (the validation-split test holds out part of 130)."""
    return data.load("digits", n_train=256, n_test=96, seed=0)


def make_model(seed=0, optimizer=None, loss="sparse_categorical_crossentropy", metrics=("accuracy",), units=10):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(units, activation="softmax" if units == 10 else None),
        ]
    )
    model.compile(
        optimizer=optimizer if optimizer is not None else keras.optimizers.SGD(learning_rate=0.1),
        loss=loss,
        metrics=list(metrics),
    )
    return model


@pytest.mark.slow
def test_train_returns_history_timing_and_rate(digits):
    model = make_model()
    result = train(
        model,
        digits.x_train,
        digits.y_train,
        epochs=3,
        batch_size=32,
        validation_data=(digits.x_test, digits.y_test),
    )
    assert isinstance(result, TrainResult)
    assert result.epochs == 3
    for key in ("loss", "val_loss", "accuracy", "val_accuracy", "learning_rate"):
        assert key in result.history
        assert len(result.history[key]) == 3
        assert all(isinstance(v, float) for v in result.history[key])
    assert result.history["learning_rate"] == pytest.approx([0.1] * 3, rel=1e-6)
    assert result.seconds > 0
    assert result.examples_per_second > 0
    assert result.examples_per_second == pytest.approx(128 * 3 / result.seconds, rel=1e-9)
    assert result.final("loss") == result.history["loss"][-1]
    assert result.final("val_accuracy") == result.history["val_accuracy"][-1]
    # The model actually learned something on this easy problem.
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert math.isfinite(result.final("loss"))


@pytest.mark.slow
def test_history_without_validation_has_no_val_keys(digits):
    result = train(make_model(), digits.x_train, digits.y_train, epochs=2)
    assert "loss" in result.history and "learning_rate" in result.history
    assert not any(k.startswith("val_") for k in result.history)
    assert result.epochs == 2


@pytest.mark.slow
def test_final_unknown_metric_lists_recorded(digits):
    result = train(make_model(), digits.x_train, digits.y_train, epochs=1)
    with pytest.raises(KeyError) as info:
        result.final("nope")
    message = str(info.value)
    assert "nope" in message
    for key in result.history:
        assert key in message


@pytest.mark.slow
def test_history_matches_model_evaluation(digits):
    """The history really is Keras's: the loss of the last epoch is close to an evaluation."""
    model = make_model(optimizer=keras.optimizers.SGD(learning_rate=1e-9))  # weights barely move
    result = train(model, digits.x_train, digits.y_train, epochs=1, batch_size=128)
    evaluated = model.evaluate(digits.x_train, digits.y_train, verbose=0, return_dict=True)["loss"]
    assert result.final("loss") == pytest.approx(evaluated, rel=1e-4)


@pytest.mark.slow
def test_same_seed_same_losses(digits):
    kwargs = dict(epochs=3, batch_size=16, validation_data=(digits.x_test, digits.y_test), seed=3)
    a = train(make_model(seed=1), digits.x_train, digits.y_train, **kwargs)
    b = train(make_model(seed=1), digits.x_train, digits.y_train, **kwargs)
    assert a.history["loss"] == b.history["loss"]
    assert a.history["val_loss"] == b.history["val_loss"]
    # The training seed matters (it fixes the shuffling order).
    c = train(make_model(seed=1), digits.x_train, digits.y_train, **{**kwargs, "seed": 4})
    assert c.history["loss"] != a.history["loss"]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`shuffle=True` was passed:UserWarning")
def test_tf_data_dataset_input(digits):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((digits.x_train, digits.y_train)).batch(32)
    result = train(make_model(), ds, epochs=2, batch_size=None)
    assert result.epochs == 2
    assert result.seconds > 0
    assert result.history["loss"][-1] < result.history["loss"][0]


@pytest.mark.slow
def test_huge_learning_rate_raises_training_diverged(digits):
    model = make_model(optimizer=keras.optimizers.SGD(learning_rate=1e6), loss="mse", metrics=(), units=1)
    y = digits.y_train.astype("float32")
    with pytest.raises(TrainingDiverged) as info:
        train(model, digits.x_train, y, epochs=5, batch_size=16)
    err = info.value
    assert isinstance(err, RuntimeError)
    losses = err.history["loss"]
    first_bad = next(i for i, v in enumerate(losses) if not math.isfinite(v)) + 1
    assert err.epoch == first_bad
    assert len(losses) == err.epoch  # training stopped at that epoch
    assert len(err.history["learning_rate"]) == err.epoch
    message = str(err)
    assert f"epoch {err.epoch}" in message
    assert "learning rate" in message
    assert "1e+06" in message  # the learning rate in force


@pytest.mark.slow
def test_non_finite_inputs_raise_training_diverged_in_epoch_one(digits):
    x = digits.x_train.copy()
    x[0, 0, 0, 0] = np.inf
    with pytest.raises(TrainingDiverged, match="epoch 1") as info:
        train(make_model(), x, digits.y_train, epochs=3)
    assert info.value.epoch == 1
    assert len(info.value.history["loss"]) == 1
    assert not math.isfinite(info.value.history["loss"][0])
    assert "learning rate" in str(info.value)


@pytest.mark.slow
def test_uncompiled_model_raises(digits):
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    with pytest.raises(ValueError, match="compile"):
        train(model, digits.x_train, digits.y_train)


@pytest.mark.slow
@pytest.mark.parametrize("epochs", [0, -1, 1.5, True])
def test_bad_epochs(digits, epochs):
    with pytest.raises(ValueError, match="epochs"):
        train(make_model(), digits.x_train, digits.y_train, epochs=epochs)


@pytest.mark.slow
def test_learning_rate_history_follows_exponential_decay(digits):
    # 128 examples / batch 32 = 4 optimizer steps per epoch.
    schedule = keras.optimizers.schedules.ExponentialDecay(0.2, decay_steps=4, decay_rate=0.5)
    model = make_model(optimizer=keras.optimizers.SGD(learning_rate=schedule))
    result = train(model, digits.x_train, digits.y_train, epochs=3, batch_size=32)
    assert result.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.025], rel=1e-6)


# Keras's Variable.__array__ predates NumPy 2's copy keyword; that warning is Keras's, not ours.
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_learning_rate_history_follows_reduce_lr_on_plateau(digits):
    # A min_delta no change can reach makes every epoch after the first a plateau.
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", mode="min", factor=0.5, patience=0, min_delta=1e9)
    model = make_model(optimizer=keras.optimizers.SGD(learning_rate=0.08))
    result = train(model, digits.x_train, digits.y_train, epochs=4, callbacks=[plateau])
    assert result.history["learning_rate"] == pytest.approx([0.08, 0.04, 0.02, 0.01], rel=1e-6)
    assert float(np.asarray(model.optimizer.learning_rate)) == pytest.approx(0.01, rel=1e-6)


@pytest.mark.slow
def test_extra_callbacks_are_called(digits):
    seen = []

    class Recorder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((epoch, float(logs["loss"])))

    result = train(make_model(), digits.x_train, digits.y_train, epochs=2, callbacks=[Recorder()])
    assert [e for e, _ in seen] == [0, 1]
    assert [l for _, l in seen] == pytest.approx(result.history["loss"])


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", [lambda: keras.optimizers.SGD(0.1), lambda: keras.optimizers.Adam(1e-2)])
def test_train_gives_the_numbers_of_a_bare_fit(digits, optimizer):
    """train() builds the loss, metric and optimizer state before fit traces its step; the run must be
    exactly the run a bare model.fit gives with the same seed."""
    ours = train(make_model(optimizer=optimizer()), digits.x_train, digits.y_train, epochs=3, batch_size=16,
                 validation_data=(digits.x_test, digits.y_test), seed=5)
    bare = make_model(optimizer=optimizer())
    keras.utils.set_random_seed(5)
    theirs = bare.fit(digits.x_train, digits.y_train, epochs=3, batch_size=16,
                      validation_data=(digits.x_test, digits.y_test), verbose=0).history
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(ours.history[key], theirs[key], rtol=1e-6, err_msg=key)


@pytest.mark.slow
def test_train_on_a_dataset_gives_the_numbers_of_a_bare_fit(digits):
    keras.utils.set_random_seed(0)
    ours = train(make_model(optimizer=keras.optimizers.Adam(1e-2)), data.pipeline(digits.x_train, digits.y_train, batch_size=32),
                 epochs=2, batch_size=None)
    bare = make_model(optimizer=keras.optimizers.Adam(1e-2))
    keras.utils.set_random_seed(0)
    theirs = bare.fit(data.pipeline(digits.x_train, digits.y_train, batch_size=32), epochs=2, verbose=0, shuffle=False).history
    np.testing.assert_allclose(ours.history["loss"], theirs["loss"], rtol=1e-6)


# -- validation_split, per-epoch timing, datasets --------------------------------------------
@pytest.mark.slow
def test_validation_split_counts_training_examples_like_keras(digits_256):
    x, y = digits_256.x_train[:130], digits_256.y_train[:130]
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
def test_epoch_seconds_and_images_per_second(digits_256):
    result = training.train(dense_model(), digits_256.x_train, digits_256.y_train, epochs=3, batch_size=32, validation_split=0.2)
    n = math.floor(len(digits_256.x_train) * 0.8)
    assert result.examples == n
    assert len(result.epoch_seconds) == 3
    assert all(s > 0 for s in result.epoch_seconds)
    assert sum(result.epoch_seconds) <= result.seconds + 1e-9  # epochs are timed inside the run, on one clock
    assert result.images_per_second == pytest.approx([n / s for s in result.epoch_seconds], rel=1e-12)
    plain = training.train(dense_model(), digits_256.x_train, digits_256.y_train, epochs=2)
    assert plain.examples == len(digits_256.x_train)
    assert len(plain.epoch_seconds) == 2
    assert plain.images_per_second == pytest.approx([len(digits_256.x_train) / s for s in plain.epoch_seconds])


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
def test_train_on_a_pipeline(digits_256):
    ds = data.pipeline(digits_256.x_train, digits_256.y_train, batch_size=32, seed=0)
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
def test_validation_split_out_of_range_raises(digits_256, split):
    with pytest.raises(ValueError, match="validation_split"):
        training.train(dense_model(), digits_256.x_train, digits_256.y_train, validation_split=split)


# -- train_cnn ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_train_cnn_on_digits_learns(digits_256):
    model, result = training.train_cnn(digits_256, depth=2, filters=8, epochs=4, batch_size=32, learning_rate=3e-3, seed=0)
    assert isinstance(model, keras.Model)
    assert model.name.endswith("_relu_he")  # He initialisation for ReLU
    assert model.output_shape == (None, 10)
    assert result.epochs == 4
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"):
        assert len(result.history[key]) == 4
    assert result.examples == math.floor(len(digits_256.x_train) * 0.9)
    assert result.history["learning_rate"] == pytest.approx([3e-3] * 4, rel=1e-6)
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert result.final("val_accuracy") > 0.5  # chance is 0.1
    # The model outputs logits, as evaluate expects by default.
    ev = evaluate(model, digits_256.x_test, digits_256.y_test, class_names=digits_256.class_names)
    assert ev.accuracy > 0.5


@pytest.mark.slow
def test_train_cnn_is_seeded_and_picks_the_initializer(digits_256):
    kwargs = dict(depth=1, filters=4, epochs=1, batch_size=64, optimizer="momentum", learning_rate=0.01,
                  validation_split=0.0)
    m1, a = training.train_cnn(digits_256, seed=2, **kwargs)
    m2, b = training.train_cnn(digits_256, seed=2, **kwargs)
    assert a.history["loss"] == b.history["loss"]
    assert all(np.array_equal(u, v) for u, v in zip(m1.get_weights(), m2.get_weights()))
    assert not any(k.startswith("val_") for k in a.history)
    assert type(m1.optimizer) is keras.optimizers.SGD and m1.optimizer.momentum == pytest.approx(0.9)
    tanh, _ = training.train_cnn(digits_256, activation="tanh", **kwargs)
    assert tanh.name.endswith("_tanh_glorot")


@pytest.mark.slow
@pytest.mark.parametrize(
    "kwargs, word",
    [({"optimizer": "nadam"}, "nadam"), ({"epochs": 0}, "epochs"), ({"validation_split": 1.0}, "validation_split"),
     ({"learning_rate": -1.0}, "learning_rate"), ({"depth": 0}, "depth")],
)
def test_train_cnn_rejects_bad_arguments(digits_256, kwargs, word):
    with pytest.raises(ValueError, match=word):
        training.train_cnn(digits_256, **kwargs)


# -- with a tf.distribute strategy (two logical CPUs, in a fresh process: see tests/test_distribute.py) --
@pytest.mark.slow
def test_train_and_train_cnn_under_a_mirrored_strategy_give_the_single_device_numbers():
    import json
    import os
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    code = textwrap.dedent("""
        import json, keras, numpy as np, tensorflow as tf
        from gradbook import data, distribute, training
        distribute.logical_devices(2)
        strategy = distribute.mirrored()
        ds = data.load("digits", n_train=256, n_test=64, seed=0)

        def build():
            keras.utils.set_random_seed(0)
            model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
            model.compile(keras.optimizers.SGD(0.1, momentum=0.9),
                          keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
            return model

        report = {}
        with strategy.scope():
            mirrored = build()
        r_m = training.train(mirrored, ds.x_train, ds.y_train, epochs=2, batch_size=64, strategy=strategy)
        plain = build()
        r_p = training.train(plain, ds.x_train, ds.y_train, epochs=2, batch_size=64)
        report["loss"] = [r_m.history["loss"], r_p.history["loss"]]
        report["weights"] = max(float(np.max(np.abs(a - b))) for a, b in zip(mirrored.get_weights(), plain.get_weights()))
        try:
            training.train(build(), ds.x_train, ds.y_train, strategy=strategy)
        except ValueError as err:
            report["outside"] = str(err)
        single_worker = tf.distribute.MultiWorkerMirroredStrategy()     # no TF_CONFIG: one worker, fit works
        with single_worker.scope():
            alone = build()
        report["single_worker_loss"] = training.train(alone, ds.x_train, ds.y_train, batch_size=64,
                                                      strategy=single_worker).final("loss")
        cnn_m, run_m = training.train_cnn(ds, depth=1, epochs=1, batch_size=64, strategy=strategy)
        cnn_p, run_p = training.train_cnn(ds, depth=1, epochs=1, batch_size=64)
        report["cnn_loss"] = [run_m.final("loss"), run_p.final("loss")]
        report["cnn_mirrored"] = isinstance(cnn_m.weights[0].value, tf.distribute.DistributedValues)
        print(json.dumps(report))
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS="0")
    env.pop("TF_CONFIG", None)
    env.update(PYTHONPATH=os.pathsep.join(filter(None, [str(root / "src"), os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(*report["loss"], rtol=1e-5)     # the global batch of 64, split in two
    assert report["weights"] < 1e-5
    assert "strategy.scope()" in report["outside"]
    assert np.isfinite(report["single_worker_loss"])
    np.testing.assert_allclose(*report["cnn_loss"], rtol=1e-4)
    assert report["cnn_mirrored"]


def test_train_refuses_a_multi_worker_cluster_and_says_what_to_do_instead(digits_256):
    import types

    import tensorflow as tf

    spec = tf.train.ClusterSpec({"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]})
    two_workers = types.SimpleNamespace(cluster_resolver=tf.distribute.cluster_resolver.SimpleClusterResolver(spec))
    model = dense_model()
    with pytest.raises(NotImplementedError, match=r"more than one worker \(this cluster has 2\).*strategy\.run"):
        training.train(model, digits_256.x_train, digits_256.y_train, strategy=two_workers)
