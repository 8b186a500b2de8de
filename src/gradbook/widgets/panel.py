"""The TrainingPanel: train a network from a row of controls, with Train and Stop buttons.

The live face (JupyterLab) trains in a background thread, reporting through
:class:`TrainingProgress`, a Keras callback that moves the progress bar and stops the run when
Stop is pressed. The static face (the book) is an :class:`~gradbook.widgets.Explorer` over runs
precomputed for ``static_grid``; :meth:`TrainingPanel.result_for` reads any run, precomputed or not.

This module imports Keras; ``from gradbook import widgets`` does not, until
``widgets.TrainingPanel`` is first used.

Examples
--------
>>> from gradbook.training import TrainResult
>>> from gradbook.widgets.controls import learning_rate_slider
>>> def run(setting, callbacks):  # build and train a network; here, a made-up result
...     return None, TrainResult(history={"loss": [1.0, 1.0 - setting["learning_rate"]]}, seconds=0.1,
...                              examples_per_second=1000.0)
>>> def draw(result, setting):
...     from gradbook import plots
...     return plots.learning_curves(result.history, title=f"learning rate {setting['learning_rate']:g}")
>>> panel = TrainingPanel(run, draw, {"learning_rate": learning_rate_slider(0.1)},
...                       static_grid={"learning_rate": [0.1, 0.5]})
>>> panel.result_for(learning_rate=0.5).history["loss"]
[1.0, 0.5]
"""

from __future__ import annotations

import html
import threading
import time
from typing import Any, Callable, Mapping, Sequence

import ipywidgets as w
import keras
import numpy as np

from gradbook.plots import plotly_bundle
from gradbook.widgets.controls import static_faces_enabled
from gradbook.widgets.explorer import Explorer
from gradbook.widgets.static import live_only_html

__all__ = ["TrainingPanel", "TrainingProgress"]


def _exact(value: Any) -> Any:
    """A setting's value as a key of a run: exact, with NumPy scalars as Python numbers (so that
    ``np.float64(0.1)`` and ``0.1`` are one run) and an unhashable value by its ``repr``."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    try:
        hash(value)
    except TypeError:
        return ("unhashable", type(value).__name__, repr(value))
    return value


class TrainingProgress(keras.callbacks.Callback):
    """A Keras callback that shows a run's progress and stops it when asked.

    It moves ``progress`` (one step per batch), writes the epoch, batch, loss and elapsed time
    to ``status`` at most every ``every`` seconds, and, once ``stop_requested`` is set, ends
    training after the current batch (the weights learned so far stay).

    Parameters
    ----------
    progress : ipywidgets.IntProgress
    status : ipywidgets.HTML
    stop_requested : threading.Event
    start : float, optional
        ``time.perf_counter()`` when the run started; now when omitted.
    every : float, default 0.25
        Seconds between two updates of the status line.

    Attributes
    ----------
    stopped : bool
        True once the callback has stopped training because ``stop_requested`` was set.

    Examples
    --------
    >>> import threading, ipywidgets
    >>> callback = TrainingProgress(ipywidgets.IntProgress(), ipywidgets.HTML(), threading.Event())
    >>> callback.stopped
    False
    """

    def __init__(self, progress, status, stop_requested: threading.Event, *, start: float | None = None,
                 every: float = 0.25) -> None:
        super().__init__()
        self.progress = progress
        self.status = status
        self.stop_requested = stop_requested
        self.start = time.perf_counter() if start is None else start
        self.every = every
        self.stopped = False
        self.epoch = 0
        self.steps = 1
        self.last_shown = 0.0

    def on_train_begin(self, logs=None):
        epochs, steps = self.params.get("epochs") or 1, self.params.get("steps") or 1
        self.steps = steps
        self.progress.max = epochs * steps

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.stop_requested.is_set():
            self.model.stop_training = True
            self.stopped = True
        now = time.perf_counter()
        if now - self.last_shown > self.every:
            self.last_shown = now
            self.progress.value = self.epoch * self.steps + batch + 1
            loss = (logs or {}).get("loss", float("nan"))
            self.status.value = (
                f"<span style='color:#777'>epoch {self.epoch + 1}/{self.params.get('epochs')}, "
                f"batch {batch + 1}/{self.steps}, loss {float(loss):.4f}, {now - self.start:.1f} s</span>"
            )

    def on_epoch_end(self, epoch, logs=None):
        self.progress.value = (epoch + 1) * self.steps


class TrainingPanel:
    """Train a network from a row of controls: a Train button, a progress bar, a Stop button.

    The live face (JupyterLab) trains in a background thread, so the kernel stays free to hear
    the Stop button; Stop ends training after the current batch and keeps the weights learned
    so far. The static face (the book) is an :class:`Explorer` over runs precomputed for
    ``static_grid``.

    Parameters
    ----------
    run : callable
        ``run(setting, callbacks) -> (model, result)``: build and train one network for
        ``setting`` (a dict, one key per control), passing ``callbacks`` on to ``model.fit``
        (for example through :func:`gradbook.training.train`); ``result`` is a
        :class:`~gradbook.training.TrainResult`.
    draw : callable
        ``draw(result, setting) -> plotly Figure`` (learning curves, say).
    controls : mapping of str to ipywidgets.ValueWidget
    static_grid : mapping of str to sequence, optional
        The settings to precompute for the static face; controls left out stay at their
        current value.
    title : str

    Attributes
    ----------
    static : Explorer
        The static face, over the precomputed runs.
    model, result
        The last live run's model and :class:`~gradbook.training.TrainResult` (``None`` before).
    error : str or None
        Why the last live run failed.
    stopped : bool
        True when the last live run was ended by Stop.
    train_button, stop_button : ipywidgets.Button
    progress : ipywidgets.IntProgress
    status : ipywidgets.HTML
        The live face's status line.
    output : ipywidgets.Output
        Where the live face shows ``draw``'s figure.

    Raises
    ------
    ValueError
        If there are no controls, or ``static_grid`` names an unknown control or a value out
        of a control's range.
    """

    def __init__(
        self,
        run: Callable[[dict[str, Any], list[Any]], tuple[Any, Any]],
        draw: Callable[[Any, dict[str, Any]], Any],
        controls: Mapping[str, Any],
        *,
        static_grid: Mapping[str, Sequence[Any]] | None = None,
        title: str = "",
    ) -> None:
        if not controls:
            raise ValueError("A TrainingPanel needs at least one control.")
        self.run = run
        self.draw = draw
        self.controls = dict(controls)
        self.title = title
        # Controls left out stay at their value (an Explorer would otherwise take every option of
        # a dropdown); the Explorer checks the names and values.
        grid = {**{name: [c.value] for name, c in self.controls.items()}, **(static_grid or {})}
        self._runs: dict[tuple, tuple[Any, Any]] = {}
        self.static = Explorer(self._draw_cached, self.controls, grid=grid, title=title, retrains=True)
        self.model = None
        self.result = None
        self.error: str | None = None
        self.stopped = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

        # The live face.
        self.train_button = w.Button(description="Train", button_style="primary", icon="play")
        self.stop_button = w.Button(description="Stop", button_style="warning", icon="stop", disabled=True)
        self.train_button.on_click(lambda _b: self.start())
        self.stop_button.on_click(lambda _b: self.stop())
        self.progress = w.IntProgress(value=0, min=0, max=1, description="progress")
        self.status = w.HTML("<span style='color:#777'>Choose a setting and press Train.</span>")
        self.output = w.Output()
        header = [w.HTML(f"<strong>{html.escape(self.title)}</strong>")] if self.title else []
        header.append(w.HTML("<em>Live version: the kernel trains the network for the setting you choose.</em>"))
        self._widget = w.VBox([
            *header,
            w.HBox(list(self.controls.values()), layout={"flex_flow": "row wrap"}),
            w.HBox([self.train_button, self.stop_button, self.progress]),
            self.status,
            self.output,
        ])
        self._widget.add_class("gradbook-panel-live")  # how a page (or a browser test) finds it

    # -- training ------------------------------------------------------------------------------
    @property
    def setting(self) -> dict[str, Any]:
        """The controls' current values."""
        return {name: c.value for name, c in self.controls.items()}

    def _key(self, setting: Mapping[str, Any]) -> tuple:
        # Exact values, not their labels: 0.1234 and 0.1235 are two runs though both read "0.123".
        # The static face, result_for and the live face's first figure all key a setting here,
        # from the same values (the grid's, or the controls'), so they find each other's runs.
        return tuple((name, _exact(setting[name])) for name in self.controls)

    def _draw_cached(self, **setting: Any):
        return self.draw(self.result_for(**setting), dict(setting))

    def result_for(self, **setting: Any):
        """The result of training ``setting`` (missing controls take their current value).

        A run the static face has already computed is reused, and a run computed here is reused
        by the static face, so asking costs at most one training per setting. Settings are told
        apart by their exact values (not the 3-digit labels of the static face).

        Parameters
        ----------
        **setting
            Values by control name.

        Returns
        -------
        gradbook.training.TrainResult
            The ``result`` that ``run`` returned for the full setting.

        Raises
        ------
        ValueError
            For an unknown control or a value out of its range.
        """
        self.static.check_setting(setting)
        full = {**self.setting, **setting}
        key = self._key(full)
        if key not in self._runs:
            self._runs[key] = self.run(dict(full), [])
        return self._runs[key][1]

    @property
    def running(self) -> bool:
        """True while a training thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, **setting: Any) -> threading.Thread:
        """Move the controls to ``setting`` (if given) and start training in the background.

        Parameters
        ----------
        **setting
            Values by control name; controls left out keep their value.

        Returns
        -------
        threading.Thread
            The training thread (see :meth:`wait`).

        Raises
        ------
        RuntimeError
            If a run is already in progress (press Stop first).
        ValueError
            For an unknown control or a value out of its range.
        """
        if self.running:
            raise RuntimeError("A training run is in progress; press Stop (or call stop()) before starting another.")
        self.static.check_setting(setting)
        for name, value in setting.items():
            self.controls[name].value = value
        self._stop.clear()
        self.stopped = False
        self.error = None
        self.train_button.disabled = True
        self.stop_button.disabled = False
        self.progress.value = 0
        self._thread = threading.Thread(target=self._train, args=(self.setting,), daemon=True)
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        """Ask the current run to stop after its current batch; the weights learned so far stay."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the current run.

        Parameters
        ----------
        timeout : float, optional
            The most seconds to wait; no limit when omitted.

        Returns
        -------
        bool
            True when no run is in progress any more (also when none was started).
        """
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def _train(self, setting: dict[str, Any]) -> None:
        start = time.perf_counter()
        progress = TrainingProgress(self.progress, self.status, self._stop, start=start)
        try:
            model, result = self.run(setting, [progress])
        except Exception as err:  # noqa: BLE001 - in a thread, an error nobody sees is the worst outcome
            self.error = str(err) if isinstance(err, (ValueError, ArithmeticError, RuntimeError, OSError)) \
                else f"{type(err).__name__}: {err}"
            self.status.value = f"<span style='color:#D55E00'><strong>Training failed:</strong> {html.escape(self.error)}</span>"
        else:
            self.model, self.result = model, result
            self.stopped = progress.stopped
            seconds = time.perf_counter() - start
            done = f"stopped by you after {result.epochs} epoch(s); the weights learned so far are kept" if self.stopped \
                else f"trained {result.epochs} epoch(s)"
            last = {k: v[-1] for k, v in result.history.items() if v}
            scores = ", ".join(f"{k} {last[k]:.3f}" for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in last)
            self.status.value = f"<span style='color:#333'>{done} in {seconds:.1f} s: {html.escape(scores)}</span>"
            try:
                self._show(self.draw(result, setting))
            except (ValueError, KeyError) as err:
                self.status.value += f" <span style='color:#D55E00'>(cannot draw: {html.escape(str(err))})</span>"
        finally:
            self.train_button.disabled = False
            self.stop_button.disabled = True

    def _show(self, fig) -> None:
        self.output.outputs = ({"output_type": "display_data", "data": plotly_bundle(fig), "metadata": {}},)

    def _show_precomputed_run(self) -> None:
        """Before any live run, show the precomputed run of the current setting, if there is one."""
        key = self._key(self.setting)
        if self.output.outputs or self.running or self.result is not None or key not in self._runs:
            return
        self._show(self.draw(self._runs[key][1], self.setting))
        self.status.value = ("<span style='color:#777'>Showing the precomputed run for this setting; "
                             "press Train to train it yourself.</span>")

    # -- faces ---------------------------------------------------------------------------------
    def widget(self):
        """The live face: controls, Train and Stop buttons, progress bar, status and figure.

        Returns
        -------
        ipywidgets.VBox
        """
        return self._widget

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        # Precompute first (book builds only), so the live face can show the run for its setting.
        html_face = self.static.static_html() if static_faces_enabled() else live_only_html("training panel")
        self._show_precomputed_run()
        bundle = dict(self._widget._repr_mimebundle_())
        bundle["text/html"] = html_face
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        return f"TrainingPanel({self.title!r}, controls={list(self.controls)}, {len(self.static.settings())} precomputed runs)"
