"""Tests for gradbook.widgets.panel: the TrainingPanel (Train/Stop in a background thread,
precomputed static face, result_for) and its TrainingProgress callback."""

from __future__ import annotations

import math
import threading

import keras
import numpy as np
import pytest

from gradbook import data, plots, training
from gradbook.training import TrainingDiverged, TrainResult
from gradbook.widgets import STATIC_FACES_VARIABLE, TrainingPanel, choice, int_slider, learning_rate_slider
from keras_examples import dense_model

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
PLOTLY_MIME = "application/vnd.plotly.v1+json"


@pytest.fixture(scope="module")
def digits():
    return data.load("digits", n_train=256, n_test=96, seed=0)


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
    (shown,) = panel.output.outputs
    assert shown["data"][PLOTLY_MIME]["layout"]["title"]["text"] == "lr=0.01 optimizer=adam"
    assert "precomputed run" in panel.status.value
    assert len(run.calls) == 4


def test_a_learner_gets_the_live_panel_without_training(monkeypatch):
    monkeypatch.delenv(STATIC_FACES_VARIABLE, raising=False)
    run = FakeRun()
    panel = make_panel(run)
    bundle = panel._repr_mimebundle_()
    assert bundle[WIDGET_MIME]["model_id"] == panel.widget().model_id
    assert run.calls == []  # nothing trained before the learner presses Train
    assert "Plotly.newPlot" not in bundle["text/html"]
    assert "press Train" in panel.status.value
    # The static face is one call away.
    assert "4 settings" in panel.static.static_html()
    assert len(run.calls) == 4


def test_widget_before_static_face_shows_no_run():
    run = FakeRun()
    panel = make_panel(run)
    w = panel.widget()
    assert panel.widget() is w
    assert panel.output.outputs == ()
    assert "press Train" in panel.status.value
    assert panel.train_button.disabled is False and panel.stop_button.disabled is True
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
        assert panel.train_button.disabled is True and panel.stop_button.disabled is False
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
    assert "trained 3 epoch(s)" in panel.status.value
    assert "loss 0.800" in panel.status.value and "accuracy 0.550" in panel.status.value
    assert panel.train_button.disabled is False and panel.stop_button.disabled is True
    (shown,) = panel.output.outputs
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
    assert panel.train_button.disabled is True
    run.release.set()
    assert panel.wait(30)
    assert panel.error == str(error)
    assert "Training failed" in panel.status.value
    escaped = str(error).replace("<", "&lt;").replace(">", "&gt;")
    assert escaped in panel.status.value
    assert panel.model is None and panel.result is None
    assert panel.train_button.disabled is False and panel.stop_button.disabled is True
    assert panel.output.outputs == ()
    # The error is cleared by the next (successful) run.
    ok = FakeRun()
    panel.run = ok
    panel.start()
    assert panel.wait(30)
    assert panel.error is None
    assert "trained 2 epoch(s)" in panel.status.value


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
    assert panel.progress.max == 3 * steps
    assert panel.progress.value == panel.progress.max
    assert panel.result.epochs == 3 and panel.stopped is False
    assert isinstance(panel.model, keras.Model)
    assert "val_accuracy" in panel.status.value


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
    assert "stopped by you after 1 epoch(s)" in panel.status.value
    weights = panel.model.get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(weights, seen["initial"]))
    assert panel.progress.value < 200 * math.ceil(len(digits.x_train) / 16)
    assert panel.train_button.disabled is False and panel.stop_button.disabled is True


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


def test_an_unexpected_error_in_the_run_is_reported_not_lost():
    run = BlockingRun(error=KeyError("dataset"))
    panel = make_panel(run)
    panel.start()
    run.release.set()
    assert panel.wait(30)
    assert panel.error == "KeyError: 'dataset'"
    assert "Training failed" in panel.status.value
    assert panel.train_button.disabled is False


def test_stop_after_the_last_batch_does_not_mark_a_complete_run_as_stopped():
    run = BlockingRun()
    panel = make_panel(run)
    panel.start()
    assert run.entered.wait(10)
    panel.stop()  # the fake run uses no callbacks, so training is never actually interrupted
    run.release.set()
    assert panel.wait(30)
    assert panel.stopped is False
    assert "trained 2 epoch(s)" in panel.status.value


# -- TrainingPanel: result_for -----------------------------------------------------------------
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


def test_result_for_trains_settings_that_differ_beyond_three_significant_digits_twice():
    # Both learning rates read "0.123" on the static face, but they are two runs.
    run = FakeRun()
    panel = make_panel(run)
    first, second = panel.result_for(lr=0.1234), panel.result_for(lr=0.1235)
    assert [c[0]["lr"] for c in run.calls] == [0.1234, 0.1235]
    assert first.history == fake_result(0.1234).history and second.history == fake_result(0.1235).history
    assert panel.result_for(lr=0.1234) is first and panel.result_for(lr=0.1235) is second
    assert len(run.calls) == 2


def test_result_for_keys_numpy_numbers_as_the_python_numbers_they_equal():
    run = FakeRun()
    panel = make_panel(run)
    result = panel.result_for(lr=np.float64(0.1), optimizer="sgd", epochs=np.int64(2))
    assert panel.result_for(lr=0.1, optimizer="sgd", epochs=2) is result
    panel.static.static_html()  # the grid's (0.1, sgd) is that run: three more runs, not four
    assert len(run.calls) == 4


def test_result_for_rejects_unknown_controls_and_values():
    panel = make_panel()
    with pytest.raises(ValueError, match="Unknown control 'momentum'"):
        panel.result_for(momentum=0.9)
    with pytest.raises(ValueError, match="lr"):
        panel.result_for(lr=50.0)


# -- TrainingProgress --------------------------------------------------------------------------
def test_training_progress_moves_the_bar_and_stops_when_asked():
    import types

    import ipywidgets

    from gradbook.widgets.panel import TrainingProgress

    progress, status, stop = ipywidgets.IntProgress(), ipywidgets.HTML(), threading.Event()
    callback = TrainingProgress(progress, status, stop, every=0.0)
    model = types.SimpleNamespace(stop_training=False)
    callback.set_model(model)
    callback.set_params({"epochs": 2, "steps": 5})
    callback.on_train_begin()
    assert progress.max == 10
    callback.on_epoch_begin(1)
    callback.on_train_batch_end(2, {"loss": 0.5})
    assert progress.value == 5 + 3
    assert "epoch 2/2, batch 3/5, loss 0.5000" in status.value
    assert model.stop_training is False and callback.stopped is False
    stop.set()
    callback.on_train_batch_end(3, {"loss": 0.4})
    assert model.stop_training is True and callback.stopped is True
    callback.on_epoch_end(1)
    assert progress.value == 10
