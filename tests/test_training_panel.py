"""Tests for widgets.TrainingPanel (Train/Stop in a background thread, precomputed static face)
and for the chapter-6 additions to gradbook.training: pipeline, warmup_cosine_adam, optimizer,
train_cnn, validation_split and per-epoch throughput."""

from __future__ import annotations

import math
import threading
import warnings

import keras
import numpy as np
import pytest

from gradbook import data, plots, training
from gradbook.evaluation import evaluate
from gradbook.training import OPTIMIZERS, TrainingDiverged, TrainResult
from gradbook.widgets import STATIC_FACES_VARIABLE, TrainingPanel, choice, int_slider, learning_rate_slider

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
PLOTLY_MIME = "application/vnd.plotly.v1+json"


@pytest.fixture(scope="module")
def digits():
    return data.load("digits", n_train=256, n_test=96, seed=0)


def dense_model(seed=0, lr=0.1, softmax=True):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax" if softmax else None)])
    model.compile(keras.optimizers.SGD(learning_rate=lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


# -- TrainingPanel helpers ---------------------------------------------------------------------
def fake_result(lr, epochs=2):
    history = {"loss": [1.0 - lr * e for e in range(epochs)], "accuracy": [0.5 + lr * e / 4 for e in range(epochs)]}
    return TrainResult(history=history, seconds=0.01, examples_per_second=1000.0)


class FakeRun:
    """A run that records its calls and returns a made-up result without training."""

    def __init__(self):
        self.calls = []

    def __call__(self, setting, callbacks):
        self.calls.append((dict(setting), list(callbacks), threading.current_thread()))
        return f"model lr={setting['lr']:.3g}", fake_result(setting["lr"], setting.get("epochs", 2))


def draw(result, setting):
    return plots.learning_curves(result.history, title=f"lr={setting['lr']:.3g} optimizer={setting.get('optimizer')}")


def controls(lr=0.01, optimizer="adam", epochs=2):
    return {
        "lr": learning_rate_slider(lr, min=1e-3, max=1.0),
        "optimizer": choice(["sgd", "adam", "rmsprop"], optimizer, description="optimizer"),
        "epochs": int_slider(epochs, min=1, max=10, description="epochs"),
    }


def make_panel(run=None, grid=None, **kwargs):
    return TrainingPanel(run or FakeRun(), draw, controls(**kwargs),
                         static_grid={"lr": [0.01, 0.1], "optimizer": ["sgd", "adam"]} if grid is None else grid,
                         title="Train <me>")


# -- TrainingPanel: static face ----------------------------------------------------------------
def test_static_face_precomputes_exactly_the_grid_runs():
    run = FakeRun()
    panel = make_panel(run)
    assert run.calls == []  # nothing is trained before the static face is asked for
    expected = [{"lr": lr, "optimizer": opt, "epochs": 2} for lr in (0.01, 0.1) for opt in ("sgd", "adam")]
    assert panel.static.settings() == expected
    panel.static.static_html()
    assert [c[0] for c in run.calls] == expected  # once per setting, in grid order
    assert all(c[1] == [] for c in run.calls)  # no progress callbacks for precomputed runs
    panel.static.static_html()
    panel.static.static_figure()
    assert len(run.calls) == 4  # computed once


def test_static_face_shows_each_runs_curves():
    panel = make_panel()
    combined, spec = panel.static.static_figure(), panel.static.static_spec()
    for setting, members, relayout in zip(panel.static.settings(), spec["members"], spec["relayouts"]):
        assert relayout["title.text"] == f"lr={setting['lr']:.3g} optimizer={setting['optimizer']}"
        losses = [list(combined.data[i].y) for i in members if combined.data[i].xaxis == "x"]
        assert losses == [fake_result(setting["lr"]).history["loss"]]
    # The current setting (lr 0.01, adam) is the one shown first.
    assert combined.layout.title.text == "lr=0.01 optimizer=adam"


def test_controls_left_out_of_the_static_grid_stay_at_their_value():
    run = FakeRun()
    panel = make_panel(run, grid={"lr": [0.01, 0.2, 0.5]}, optimizer="rmsprop", epochs=3)
    # Unlike an Explorer, a dropdown left out is not expanded to all its options: each is a training run.
    assert panel.static.settings() == [{"lr": lr, "optimizer": "rmsprop", "epochs": 3} for lr in (0.01, 0.2, 0.5)]
    panel.static.static_html()
    assert len(run.calls) == 3
    only_current = make_panel(grid={}, lr=0.05)
    assert only_current.static.settings() == [{"lr": 0.05, "optimizer": "adam", "epochs": 2}]


@pytest.mark.parametrize(
    "grid, word",
    [
        ({"momentum": [0.9]}, "momentum"),
        ({"lr": [0.01, 5.0]}, "lr"),
        ({"lr": [float("nan")]}, "lr"),
        ({"optimizer": ["sgd", "nadam"]}, "optimizer"),
        ({"epochs": [0, 2]}, "epochs"),
        ({"epochs": [11]}, "epochs"),
    ],
)
def test_bad_static_grid_raises(grid, word):
    with pytest.raises(ValueError, match=word):
        make_panel(grid=grid)


def test_no_controls_raises():
    with pytest.raises(ValueError, match="control"):
        TrainingPanel(FakeRun(), draw, {})


def test_static_html_holds_one_plotly_figure():
    panel = make_panel()
    text = panel.static.static_html()
    assert text.count("Plotly.newPlot") == 1
    assert text.count('class="plotly-graph-div"') == 1
    assert "4 settings" in text
    assert "Train &lt;me&gt;" in text
    assert "<script src=" not in text


def test_repr_mimebundle_has_the_live_and_static_faces_when_building_the_book(monkeypatch):
    monkeypatch.setenv(STATIC_FACES_VARIABLE, "1")
    run = FakeRun()
    panel = make_panel(run)
    bundle = panel._repr_mimebundle_()
    assert {WIDGET_MIME, "text/html", "text/plain"} <= set(bundle)
    assert bundle[WIDGET_MIME]["model_id"] == panel.widget().model_id
    assert bundle["text/html"] == panel.static.static_html()
    assert bundle["text/plain"] == repr(panel)
    assert "4 precomputed runs" in repr(panel)
    assert len(run.calls) == 4
    # The live face starts with the precomputed run of the current setting, without retraining.
    (shown,) = panel._output.outputs
    assert shown["data"][PLOTLY_MIME]["layout"]["title"]["text"] == "lr=0.01 optimizer=adam"
    assert "precomputed run" in panel._status.value
    assert len(run.calls) == 4


def test_a_learner_gets_the_live_panel_without_training(monkeypatch):
    monkeypatch.delenv(STATIC_FACES_VARIABLE, raising=False)
    run = FakeRun()
    panel = make_panel(run)
    bundle = panel._repr_mimebundle_()
    assert bundle[WIDGET_MIME]["model_id"] == panel.widget().model_id
    assert run.calls == []  # nothing trained before the learner presses Train
    assert "Plotly.newPlot" not in bundle["text/html"]
    assert "press Train" in panel._status.value
    # The static face is one call away.
    assert "4 settings" in panel.static.static_html()
    assert len(run.calls) == 4


def test_widget_before_static_face_shows_no_run():
    run = FakeRun()
    panel = make_panel(run)
    w = panel.widget()
    assert panel.widget() is w
    assert panel._output.outputs == ()
    assert "press Train" in panel._status.value
    assert panel._train_button.disabled is False and panel._stop_button.disabled is True
    assert run.calls == []


# -- TrainingPanel: live face ------------------------------------------------------------------
class BlockingRun(FakeRun):
    """A fake run that waits until released, so the test controls when it ends."""

    def __init__(self, error=None):
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.error = error

    def __call__(self, setting, callbacks):
        self.calls.append((dict(setting), list(callbacks), threading.current_thread()))
        self.entered.set()
        assert self.release.wait(30)
        if self.error is not None:
            raise self.error
        return f"model lr={setting['lr']:.3g}", fake_result(setting["lr"], setting["epochs"])


def test_start_trains_in_a_background_thread():
    run = BlockingRun()
    panel = make_panel(run)
    assert not panel.running
    thread = panel.start(lr=0.1, epochs=3)
    try:
        assert run.entered.wait(10)
        assert panel.running
        assert thread is not threading.current_thread()
        assert run.calls[0][2] is thread
        assert run.calls[0][0] == {"lr": pytest.approx(0.1), "optimizer": "adam", "epochs": 3}
        assert panel.controls["lr"].value == pytest.approx(0.1)  # the controls moved
        assert panel.controls["epochs"].value == 3
        (callback,) = run.calls[0][1]
        assert isinstance(callback, keras.callbacks.Callback)
        assert panel._train_button.disabled is True and panel._stop_button.disabled is False
        assert panel.model is None and panel.result is None
        with pytest.raises(RuntimeError, match="in progress"):
            panel.start()
        assert len(run.calls) == 1
    finally:
        run.release.set()
        assert panel.wait(30)
    assert not panel.running
    assert panel.model == "model lr=0.1"
    assert panel.result.epochs == 3
    assert panel.error is None and panel.stopped is False
    assert "trained 3 epoch(s)" in panel._status.value
    assert "loss 0.800" in panel._status.value and "accuracy 0.550" in panel._status.value
    assert panel._train_button.disabled is False and panel._stop_button.disabled is True
    (shown,) = panel._output.outputs
    assert shown["data"][PLOTLY_MIME]["layout"]["title"]["text"] == "lr=0.1 optimizer=adam"
    # A second run may start once the first has finished.
    run.release.set()
    panel.start(lr=0.2)
    assert panel.wait(30)
    assert panel.model == "model lr=0.2"
    assert len(run.calls) == 2


def test_start_rejects_unknown_or_out_of_range_settings():
    run = FakeRun()
    panel = make_panel(run)
    with pytest.raises(ValueError, match="momentum"):
        panel.start(momentum=0.9)
    with pytest.raises(ValueError, match="lr"):
        panel.start(lr=3.0)
    with pytest.raises(ValueError, match="optimizer"):
        panel.start(optimizer="nadam")
    assert not panel.running
    assert run.calls == []
    assert panel.setting == {"lr": 0.01, "optimizer": "adam", "epochs": 2}


@pytest.mark.parametrize(
    "error",
    [
        TrainingDiverged("Training diverged: the loss became nan in epoch 2 <lr 1>", epoch=2, history={"loss": [1.0, math.nan]}),
        ValueError("depth must be <= 100, got 500"),
    ],
)
def test_failed_run_sets_error_and_reenables_buttons(error):
    run = BlockingRun(error=error)
    panel = make_panel(run)
    panel.start()
    assert run.entered.wait(10)
    assert panel._train_button.disabled is True
    run.release.set()
    assert panel.wait(30)
    assert panel.error == str(error)
    assert "Training failed" in panel._status.value
    escaped = str(error).replace("<", "&lt;").replace(">", "&gt;")
    assert escaped in panel._status.value
    assert panel.model is None and panel.result is None
    assert panel._train_button.disabled is False and panel._stop_button.disabled is True
    assert panel._output.outputs == ()
    # The error is cleared by the next (successful) run.
    ok = FakeRun()
    panel.run = ok
    panel.start()
    assert panel.wait(30)
    assert panel.error is None
    assert "trained 2 epoch(s)" in panel._status.value


@pytest.mark.slow
def test_progress_bar_reaches_its_max_after_a_complete_run(digits):
    def run(setting, callbacks):
        model = dense_model()
        return model, training.train(model, digits.x_train, digits.y_train, epochs=setting["epochs"], batch_size=64,
                                     validation_data=(digits.x_test, digits.y_test), callbacks=callbacks)

    panel = make_panel(run, epochs=3)
    panel.start()
    assert panel.wait(60)
    assert panel.error is None
    steps = math.ceil(len(digits.x_train) / 64)
    assert panel._progress.max == 3 * steps
    assert panel._progress.value == panel._progress.max
    assert panel.result.epochs == 3 and panel.stopped is False
    assert isinstance(panel.model, keras.Model)
    assert "val_accuracy" in panel._status.value


@pytest.mark.slow
def test_stop_ends_the_run_after_the_current_batch_and_keeps_the_weights(digits):
    """Stop pressed during the 4th batch of a 200-epoch run: training ends after that batch."""
    seen = {"batches": 0}
    panel = None

    class PressStop(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen["initial"] = [w.copy() for w in self.model.get_weights()]

        def on_train_batch_end(self, batch, logs=None):
            seen["batches"] += 1
            if seen["batches"] == 4:
                panel.stop()

    def run(setting, callbacks):
        model = dense_model()
        return model, training.train(model, digits.x_train, digits.y_train, epochs=200, batch_size=16,
                                     callbacks=[PressStop(), *callbacks])

    panel = make_panel(run)
    panel.start()
    assert panel.wait(60)
    assert panel.error is None
    assert panel.stopped is True
    assert seen["batches"] == 4  # no batch after the one during which Stop was pressed
    assert panel.result.epochs == 1 < 200
    assert "stopped by you after 1 epoch(s)" in panel._status.value
    weights = panel.model.get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(weights, seen["initial"]))
    assert panel._progress.value < 200 * math.ceil(len(digits.x_train) / 16)
    assert panel._train_button.disabled is False and panel._stop_button.disabled is True


@pytest.mark.slow
def test_stop_a_long_real_train_cnn_run(digits):
    """The chapter's own run: train_cnn for 300 epochs, stopped from the main thread."""
    first_batch = threading.Event()
    initial = {}

    class Watch(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            initial["weights"] = [w.copy() for w in self.model.get_weights()]

        def on_train_batch_end(self, batch, logs=None):
            first_batch.set()

    def run(setting, callbacks):
        return training.train_cnn(digits, depth=1, filters=4, epochs=300, batch_size=32, learning_rate=setting["lr"],
                                  callbacks=[*callbacks, Watch()])

    panel = make_panel(run, lr=0.01)
    panel.start()
    assert first_batch.wait(60)
    assert panel.running
    panel.stop()
    assert panel.wait(60)
    assert panel.error is None
    assert panel.stopped is True
    assert 1 <= panel.result.epochs < 300
    assert len(panel.result.history["val_loss"]) == panel.result.epochs
    assert any(not np.array_equal(a, b) for a, b in zip(panel.model.get_weights(), initial["weights"]))
    # A new start clears the stop request and trains again.
    panel.run = FakeRun()
    panel.start()
    assert panel.wait(30)
    assert panel.stopped is False


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


def test_an_unexpected_error_in_the_run_is_reported_not_lost():
    run = BlockingRun(error=KeyError("dataset"))
    panel = make_panel(run)
    panel.start()
    run.release.set()
    assert panel.wait(30)
    assert panel.error == "KeyError: 'dataset'"
    assert "Training failed" in panel._status.value
    assert panel._train_button.disabled is False


def test_stop_after_the_last_batch_does_not_mark_a_complete_run_as_stopped():
    run = BlockingRun()
    panel = make_panel(run)
    panel.start()
    assert run.entered.wait(10)
    panel.stop()  # the fake run uses no callbacks, so training is never actually interrupted
    run.release.set()
    assert panel.wait(30)
    assert panel.stopped is False
    assert "trained 2 epoch(s)" in panel._status.value


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


def test_result_for_trains_a_setting_once_and_shares_it_with_the_static_face():
    run = FakeRun()
    panel = make_panel(run)
    result = panel.result_for(lr=0.1, optimizer="sgd")
    assert result.history == fake_result(0.1).history
    assert len(run.calls) == 1
    assert run.calls[0][0] == {"lr": 0.1, "optimizer": "sgd", "epochs": 2}  # epochs from its control
    assert panel.result_for(lr=0.1, optimizer="sgd") is result  # not trained again
    panel.static.static_html()  # the grid holds (0.1, sgd): only the three other runs are trained
    assert len(run.calls) == 4
    assert panel.result_for(lr=0.01, optimizer="adam").history == fake_result(0.01).history
    assert len(run.calls) == 4


def test_result_for_rejects_unknown_controls_and_values():
    panel = make_panel()
    with pytest.raises(ValueError, match="Unknown control 'momentum'"):
        panel.result_for(momentum=0.9)
    with pytest.raises(ValueError, match="lr"):
        panel.result_for(lr=50.0)
