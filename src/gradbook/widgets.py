"""Explorations with two faces: live controls in JupyterLab, working controls in the static book.

Every exploration in the book is one :class:`Explorer`: a ``draw`` function that turns one
setting of the controls into a Plotly figure, the controls themselves (ipywidgets), and the grid
of settings to precompute for readers without a kernel.

* In JupyterLab, the cell shows the **live** face: the ipywidgets controls redraw the figure for
  any setting, computed by the kernel.
* In the built HTML book, the same output shows the **static** face: one Plotly figure holding a
  precomputed trace set per grid setting, and a Plotly slider that switches between them with no
  kernel and no network.

Both faces come from one output bundle (``application/vnd.jupyter.widget-view+json`` for
JupyterLab, ``text/html`` for the book), so a chapter writes each exploration once.

The static face is work for the book, not for a learner: it is computed when the cell is
displayed only while the environment variable ``GRADBOOK_STATIC_FACES`` is ``1`` (``make book``
sets it). Otherwise the cell shows its live controls at once, and :meth:`Explorer.static_html`
computes the static face on demand::

    explorer = Explorer(
        draw,                                     # draw(lr=...) -> plotly Figure
        {"lr": learning_rate_slider(0.05)},
        grid={"lr": [0.01, 0.05, 0.1, 0.2]},
        title="Gradient descent on a quadratic",
    )
    explorer                                       # last line of the cell
"""

from __future__ import annotations

import builtins
import hashlib
import html
import itertools
import json
import os
import threading
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from gradbook import backprop
from gradbook.plots import PLOTLY_CONFIG, plotly_bundle

__all__ = [
    "ACTIVATIONS",
    "Explorer",
    "TrainingPanel",
    "activation_dropdown",
    "choice",
    "depth_slider",
    "int_slider",
    "learning_rate_slider",
    "STATIC_FACES_VARIABLE",
    "static_faces_enabled",
]

#: The environment variable that turns on precomputing the static face when a cell is displayed.
STATIC_FACES_VARIABLE = "GRADBOOK_STATIC_FACES"


def static_faces_enabled() -> bool:
    """True when displayed explorations should precompute their static face (book builds).

    Reads ``GRADBOOK_STATIC_FACES``: ``1``, ``true`` or ``yes`` turn it on; unset, empty, ``0``,
    ``false`` or ``no`` leave it off (a learner in JupyterLab gets the live controls at once).

    Raises
    ------
    ValueError
        For any other value, naming the ones accepted.
    """
    raw = os.environ.get(STATIC_FACES_VARIABLE, "").strip().lower()
    if raw in ("1", "true", "yes"):
        return True
    if raw in ("", "0", "false", "no"):
        return False
    raise ValueError(
        f"{STATIC_FACES_VARIABLE}={raw!r} is not understood; set it to 1 to precompute the static "
        "faces (as `make book` does) or 0 (or leave it unset) for live controls only."
    )


def _live_only_html(kind: str) -> str:
    """The ``text/html`` face shown where widgets cannot render, when no static face was built."""
    return (
        f"<p class='gradbook-static-note'><em>This {kind} has live controls: run the notebook in "
        "JupyterLab to use them. Its precomputed version is part of the built book.</em></p>"
    )

#: Activation names the book's controls offer (Keras names): the book's activations.
ACTIVATIONS: tuple[str, ...] = backprop.ACTIVATIONS



def learning_rate_slider(
    value: float = 0.01,
    *,
    min: float = 1e-4,  # noqa: A002 - the ipywidgets name
    max: float = 1.0,  # noqa: A002
    description: str = "learning rate",
    continuous_update: bool = True,
):
    """A learning-rate slider on a log scale (``ipywidgets.FloatLogSlider``).

    Parameters
    ----------
    value, min, max : float
        Positive numbers with ``min <= value <= max``.
    continuous_update : bool
        ``False`` for explorations that retrain, so they run once the slider is released.

    Raises
    ------
    ValueError
        If the bounds are not positive or ``value`` lies outside them.
    """
    import ipywidgets as w

    if not (0 < min < max):
        raise ValueError(f"Need 0 < min < max for a log-scale slider, got min={min}, max={max}.")
    if not (min <= value <= max):
        raise ValueError(f"value={value} lies outside [{min}, {max}].")
    lo, hi, v = float(np.log10(min)), float(np.log10(max)), float(np.log10(value))
    # About 40 steps over the range, sized so that the initial value lies exactly on a step: the
    # browser snaps a slider to its steps and sends the snapped value back, which would otherwise
    # move the setting (1.0 became 1.003) before the reader touched anything.
    step = (hi - lo) / 40
    if v > lo:
        step = (v - lo) / builtins.max(1, round((v - lo) / step))  # the parameter shadows max()
    return w.FloatLogSlider(
        value=value,
        base=10,
        min=lo,
        max=hi,
        step=step,
        description=description,
        readout_format=".3g",
        continuous_update=continuous_update,
        style={"description_width": "initial"},
    )


def depth_slider(
    value: int = 4,
    *,
    min: int = 1,  # noqa: A002
    max: int = 50,  # noqa: A002
    description: str = "depth",
    continuous_update: bool = False,
):
    """A slider for the number of layers (``ipywidgets.IntSlider``).

    Raises
    ------
    ValueError
        If ``min < 1`` or ``value`` lies outside ``[min, max]``.
    """
    if min < 1 or max < min:
        raise ValueError(f"Need 1 <= min <= max for a depth slider, got min={min}, max={max}.")
    return int_slider(value, min=min, max=max, description=description, continuous_update=continuous_update)


def int_slider(
    value: int,
    *,
    min: int,  # noqa: A002
    max: int,  # noqa: A002
    description: str = "",
    continuous_update: bool = False,
):
    """A slider over whole numbers (an image index, a seed, a kernel size, a stride...).

    Raises
    ------
    ValueError
        If ``max < min`` or ``value`` lies outside ``[min, max]``.
    """
    import ipywidgets as w

    if max < min:
        raise ValueError(f"Need min <= max, got min={min}, max={max}.")
    if not (min <= value <= max):
        raise ValueError(f"value={value} lies outside [{min}, {max}].")
    return w.IntSlider(
        value=value,
        min=min,
        max=max,
        description=description,
        continuous_update=continuous_update,
        style={"description_width": "initial"},
    )


def activation_dropdown(value: str = "relu", *, options: Sequence[str] = ACTIVATIONS, description: str = "activation"):
    """A dropdown of activation functions (``ipywidgets.Dropdown``).

    Raises
    ------
    ValueError
        If ``value`` is not one of ``options``.
    """
    import ipywidgets as w

    if value not in options:
        raise ValueError(f"Unknown activation {value!r}. Choose one of: {', '.join(options)}.")
    return w.Dropdown(value=value, options=list(options), description=description)


def choice(options: Sequence[Any], value: Any = None, *, description: str = ""):
    """A dropdown over ``options`` (``ipywidgets.Dropdown``); ``value`` defaults to the first.

    Raises
    ------
    ValueError
        If ``options`` is empty or ``value`` is not one of them.
    """
    import ipywidgets as w

    options = list(options)
    if not options:
        raise ValueError("A choice needs at least one option.")
    if value is None:
        value = options[0]
    if value not in options:
        raise ValueError(f"{value!r} is not an option; options: {', '.join(map(str, options))}.")
    return w.Dropdown(options=options, value=value, description=description, style={"description_width": "initial"})


def _allowed(control) -> str:
    """Describe the values a control accepts."""
    if hasattr(control, "options"):
        labels = [str(o[0] if isinstance(o, tuple) else o) for o in control.options]
        return "one of: " + ", ".join(labels)
    if hasattr(control, "base"):
        return f"a number in [{control.base ** control.min:.3g}, {control.base ** control.max:.3g}]"
    if hasattr(control, "min"):
        return f"a number in [{control.min}, {control.max}]"
    return "any value"


def _accepts(control, value) -> bool:
    if hasattr(control, "options"):
        values = [o[1] if isinstance(o, tuple) else o for o in control.options]
        return value in values
    if hasattr(control, "base"):
        lo, hi = control.base ** control.min, control.base ** control.max
    elif hasattr(control, "min"):
        lo, hi = control.min, control.max
    else:
        return True
    try:
        v = float(value)
    except (TypeError, ValueError):
        return False
    return bool(np.isfinite(v)) and lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9)


class Explorer:
    """One exploration, shown live in JupyterLab and precomputed in the static book.

    Parameters
    ----------
    draw : callable
        ``draw(**setting) -> plotly.graph_objects.Figure``, one keyword per control. It should
        set the figure's title (and axis ranges, annotations) for that setting.
    controls : mapping of str to ipywidgets.ValueWidget
        The controls, by the keyword ``draw`` receives. Their initial values are the first
        setting shown.
    grid : mapping of str to sequence, optional
        The values of each control to precompute for the static face. Controls left out stay at
        their initial value there. A dropdown's options are used when it is not named.
    title : str
        A heading shown above both faces.
    retrains : bool
        True when ``draw`` trains a network, so that one redraw may take seconds (budget 10 s
        on a 2-core machine, against 1 s for a recompute); the benchmarks time it that way.

    Raises
    ------
    ValueError
        If a grid names an unknown control or holds a value that control would not accept.
    """

    def __init__(
        self,
        draw: Callable[..., Any],
        controls: Mapping[str, Any],
        *,
        grid: Mapping[str, Sequence[Any]] | None = None,
        title: str = "",
        retrains: bool = False,
    ) -> None:
        if not controls:
            raise ValueError("An Explorer needs at least one control.")
        self.draw = draw
        self.retrains = bool(retrains)
        self.controls = dict(controls)
        self.title = title
        grid = dict(grid or {})
        unknown = set(grid) - set(self.controls)
        if unknown:
            raise ValueError(
                f"grid names {sorted(unknown)}, which are not controls; controls: {sorted(self.controls)}."
            )
        for name, control in self.controls.items():
            if name not in grid:
                if hasattr(control, "options"):
                    grid[name] = [o[1] if isinstance(o, tuple) else o for o in control.options]
                else:
                    grid[name] = [control.value]
            for value in grid[name]:
                self._check(name, value)
        self.grid = grid
        self._widget = None
        self._output = None
        self._status = None
        self._static_html: str | None = None
        self._static_cache = None
        self._updating = False  # True while update() moves several controls: redraw once, after
        self.last_update_seconds: float | None = None

    # -- settings ---------------------------------------------------------------------------
    def _check(self, name: str, value: Any) -> None:
        control = self.controls[name]
        if not _accepts(control, value):
            raise ValueError(f"{name}={value!r} is out of range: {name} must be {_allowed(control)}.")

    @property
    def setting(self) -> dict[str, Any]:
        """The controls' current values."""
        return {name: c.value for name, c in self.controls.items()}

    def figure(self, **setting: Any):
        """Draw the figure for ``setting`` (missing keys take the controls' current values).

        Raises
        ------
        ValueError
            For an unknown control name or a value outside a control's range.
        """
        unknown = set(setting) - set(self.controls)
        if unknown:
            raise ValueError(f"Unknown control(s) {sorted(unknown)}; controls: {sorted(self.controls)}.")
        full = {**self.setting, **setting}
        for name, value in full.items():
            self._check(name, value)
        return self.draw(**full)

    def settings(self) -> list[dict[str, Any]]:
        """Every setting of the static grid, in slider order."""
        names = list(self.controls)
        return [dict(zip(names, combo)) for combo in itertools.product(*(self.grid[n] for n in names))]

    # -- static face -------------------------------------------------------------------------
    def static_figure(self):
        """One Plotly figure holding the traces of every setting in :meth:`settings`.

        Only the current setting's traces are visible; :meth:`static_spec` says which traces and
        layout belong to each setting. Traces identical in several settings (a contour
        background, say) are stored once.
        """
        return self._static()[0]

    def static_spec(self) -> dict[str, Any]:
        """What the static page's controls need to switch settings without a kernel.

        Returns
        -------
        dict
            ``controls``: for each control (in order), its ``name``, the ``labels`` of its grid
            values and the ``active`` index; ``members``: for each setting (in :meth:`settings`
            order, which is mixed-radix over the controls, the first most significant), the
            indices of its traces; ``relayouts``: for each setting, the layout keys to apply
            (title, axis ranges, annotations).
        """
        return self._static()[1]

    def _static(self):
        if self._static_cache is None:
            import plotly.graph_objects as go
            import plotly.io as pio

            settings = self.settings()
            combined = go.Figure()
            trace_keys: dict[str, int] = {}
            members: list[list[int]] = []
            relayouts: list[dict[str, Any]] = []
            first_layout = None
            for setting in settings:
                fig = self.figure(**setting)
                if first_layout is None:
                    first_layout = fig.layout
                mine = []
                for trace in fig.data:
                    key = pio.to_json(trace)  # exact: arrays are encoded in full
                    if key not in trace_keys:
                        trace_keys[key] = len(combined.data)
                        combined.add_trace(trace)
                    mine.append(trace_keys[key])
                members.append(mine)
                relayouts.append(_relayout_of(fig))
            combined.update_layout(first_layout)
            active = self._active_index(settings)
            for i, trace in enumerate(combined.data):
                trace.visible = i in members[active]
            combined.update_layout(**relayouts[active])
            current = settings[active]
            controls = [
                {
                    "name": getattr(self.controls[name], "description", "") or name,
                    "labels": [_format_value(v) for v in self.grid[name]],
                    "active": next(i for i, v in enumerate(self.grid[name]) if _same(v, current[name])),
                }
                for name in self.controls
            ]
            spec = {"controls": controls, "members": members, "relayouts": relayouts}
            self._static_cache = (combined, spec)
        return self._static_cache

    def _active_index(self, settings: list[dict[str, Any]]) -> int:
        current = self.setting
        for i, s in enumerate(settings):
            if all(_same(s[n], current[n]) for n in s):
                return i
        return 0

    def static_html(self) -> str:
        """The static face as an HTML fragment: the figure and one working control per setting
        dimension (a range slider for numbers, a drop-down for choices), wired to
        ``Plotly.update`` by a few lines of JavaScript. plotly.js itself is served by the book.
        """
        if self._static_html is None:
            import plotly.io as pio

            fig, spec = self._static()
            uid = hashlib.sha1((self.title + repr(self.grid)).encode()).hexdigest()[:12]
            div_id = f"gb-{uid}"
            body = pio.to_html(
                fig,
                full_html=False,
                include_plotlyjs=False,
                include_mathjax=False,
                div_id=div_id,
                config=PLOTLY_CONFIG,
            )
            n = len(self.settings())
            heading = f"<p class='gradbook-explorer-title'><strong>{html.escape(self.title)}</strong></p>" if self.title else ""
            note = (
                "<p class='gradbook-static-note'><em>Static version: precomputed for "
                f"{n} setting{'s' if n != 1 else ''}; use the controls above the figure. "
                "Run this notebook in JupyterLab for live controls that recompute any setting.</em></p>"
            )
            controls = "".join(_static_control(d, c) for d, c in enumerate(spec["controls"]) if len(c["labels"]) > 1)
            payload = json.dumps(
                {"div": div_id, "n": len(fig.data), "sizes": [len(c["labels"]) for c in spec["controls"]],
                 "labels": [c["labels"] for c in spec["controls"]],
                 "active": [c["active"] for c in spec["controls"]],
                 "members": spec["members"], "relayouts": spec["relayouts"]},
                separators=(",", ":"),
            ).replace("</", "<\\/")
            script = f"<script>{_STATIC_JS.replace('__SPEC__', payload)}</script>"
            self._static_html = (
                f"<div class='gradbook-explorer' id='{div_id}-explorer'>{heading}{note}"
                f"<div class='gradbook-controls'>{controls}</div>{body}{script}</div>"
            )
        return self._static_html

    # -- live face ---------------------------------------------------------------------------
    def widget(self):
        """The live face: the controls, a status line and the figure (built once)."""
        if self._widget is None:
            import ipywidgets as w

            self._output = w.Output()
            self._status = w.HTML()
            header = []
            if self.title:
                header.append(w.HTML(f"<strong>{html.escape(self.title)}</strong>"))
            header.append(w.HTML("<em>Live version: the kernel recomputes the figure for every setting.</em>"))
            controls = list(self.controls.values())
            for control in controls:
                control.observe(lambda _change: self._redraw(), names="value")
            self._widget = w.VBox([*header, w.HBox(controls, layout={"flex_flow": "row wrap"}), self._status, self._output])
            self._widget.add_class("gradbook-explorer-live")  # how a page (or a browser test) finds it
            self._redraw()
        return self._widget

    def update(self, **setting: Any) -> float:
        """Move the controls to ``setting`` and redraw once; return the seconds it took.

        Raises
        ------
        ValueError
            For an unknown control or a value out of its range (the controls stay unchanged).
        """
        unknown = set(setting) - set(self.controls)
        if unknown:
            raise ValueError(f"Unknown control(s) {sorted(unknown)}; controls: {sorted(self.controls)}.")
        for name, value in setting.items():
            self._check(name, value)
        self.widget()
        self._updating = True
        try:
            for name, value in setting.items():
                self.controls[name].value = value
        finally:
            self._updating = False
        return self._redraw()

    def _redraw(self) -> float:
        if self._updating:
            return 0.0
        from IPython.display import display

        start = time.perf_counter()
        self._status.value = "<span style='color:#777'>computing...</span>"
        try:
            fig = self.figure()
            bundle = plotly_bundle(fig)
            message = None
        except (ValueError, ArithmeticError, RuntimeError) as err:
            bundle = None
            message = str(err)
        with self._output:
            self._output.clear_output(wait=True)
            if bundle is not None:
                display(bundle, raw=True)
        seconds = time.perf_counter() - start
        if message is None:
            self._status.value = f"<span style='color:#777'>updated in {seconds:.2f} s</span>"
        else:
            self._status.value = f"<span style='color:#D55E00'><strong>Cannot draw this setting:</strong> {html.escape(message)}</span>"
        self.last_update_seconds = seconds
        return seconds

    # -- display -----------------------------------------------------------------------------
    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        bundle = dict(self.widget()._repr_mimebundle_())
        bundle["text/html"] = self.static_html() if static_faces_enabled() else _live_only_html("exploration")
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        return f"Explorer({self.title!r}, controls={list(self.controls)}, {len(self.settings())} precomputed settings)"



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
        self._stopped_by_user = False
        self._thread: threading.Thread | None = None
        self._widget = None

    # -- training ------------------------------------------------------------------------------
    @property
    def setting(self) -> dict[str, Any]:
        """The controls' current values."""
        return {name: c.value for name, c in self.controls.items()}

    def _key(self, setting: Mapping[str, Any]) -> tuple:
        return tuple((name, _format_value(setting[name])) for name in self.controls)

    def _check_setting(self, setting: Mapping[str, Any]) -> None:
        """Raise ValueError for an unknown control or a value out of its range."""
        for name, value in setting.items():
            if name not in self.controls:
                raise ValueError(f"Unknown control {name!r}; controls: {sorted(self.controls)}.")
            self.static._check(name, value)

    def _draw_cached(self, **setting: Any):
        return self.draw(self.result_for(**setting), dict(setting))

    def result_for(self, **setting: Any):
        """The result of training ``setting`` (missing controls take their current value).

        A run the static face has already computed is reused, and a run computed here is reused
        by the static face, so asking costs at most one training per setting.

        Raises
        ------
        ValueError
            For an unknown control or a value out of its range.
        """
        self._check_setting(setting)
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
        self._check_setting(setting)
        self.widget()
        for name, value in setting.items():
            self.controls[name].value = value
        self._stop.clear()
        self._stopped_by_user = False
        self.stopped = False
        self.error = None
        self._train_button.disabled = True
        self._stop_button.disabled = False
        self._progress.value = 0
        self._thread = threading.Thread(target=self._train, args=(self.setting,), daemon=True)
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        """Ask the current run to stop after its current batch; the weights learned so far stay."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the current run; True when it has finished."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def _train(self, setting: dict[str, Any]) -> None:
        start = time.perf_counter()
        try:
            model, result = self.run(setting, [self._progress_callback(start)])
        except Exception as err:  # noqa: BLE001 - in a thread, an error nobody sees is the worst outcome
            self.error = str(err) if isinstance(err, (ValueError, ArithmeticError, RuntimeError, OSError)) \
                else f"{type(err).__name__}: {err}"
            self._status.value = f"<span style='color:#D55E00'><strong>Training failed:</strong> {html.escape(self.error)}</span>"
        else:
            self.model, self.result = model, result
            self.stopped = self._stopped_by_user
            seconds = time.perf_counter() - start
            done = f"stopped by you after {result.epochs} epoch(s); the weights learned so far are kept" if self.stopped \
                else f"trained {result.epochs} epoch(s)"
            last = {k: v[-1] for k, v in result.history.items() if v}
            scores = ", ".join(f"{k} {last[k]:.3f}" for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in last)
            self._status.value = f"<span style='color:#333'>{done} in {seconds:.1f} s: {html.escape(scores)}</span>"
            try:
                bundle = plotly_bundle(self.draw(result, setting))
                self._output.outputs = ({"output_type": "display_data", "data": bundle, "metadata": {}},)
            except (ValueError, KeyError) as err:
                self._status.value += f" <span style='color:#D55E00'>(cannot draw: {html.escape(str(err))})</span>"
        finally:
            self._train_button.disabled = False
            self._stop_button.disabled = True

    def _progress_callback(self, start: float):
        import keras

        panel = self

        class _Progress(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.epoch = 0
                self.last_shown = 0.0

            def on_train_begin(self, logs=None):
                epochs, steps = self.params.get("epochs") or 1, self.params.get("steps") or 1
                self.steps = steps
                panel._progress.max = epochs * steps

            def on_epoch_begin(self, epoch, logs=None):
                self.epoch = epoch

            def on_train_batch_end(self, batch, logs=None):
                if panel._stop.is_set():
                    self.model.stop_training = True
                    panel._stopped_by_user = True
                now = time.perf_counter()
                if now - self.last_shown > 0.25:
                    self.last_shown = now
                    panel._progress.value = self.epoch * self.steps + batch + 1
                    loss = (logs or {}).get("loss", float("nan"))
                    panel._status.value = (
                        f"<span style='color:#777'>epoch {self.epoch + 1}/{self.params.get('epochs')}, "
                        f"batch {batch + 1}/{self.steps}, loss {float(loss):.4f}, {now - start:.1f} s</span>"
                    )

            def on_epoch_end(self, epoch, logs=None):
                panel._progress.value = (epoch + 1) * self.steps

        return _Progress()

    # -- faces ---------------------------------------------------------------------------------
    def widget(self):
        """The live face: controls, Train and Stop buttons, progress bar, status and figure."""
        if self._widget is None:
            import ipywidgets as w

            self._train_button = w.Button(description="Train", button_style="primary", icon="play")
            self._stop_button = w.Button(description="Stop", button_style="warning", icon="stop", disabled=True)
            self._train_button.on_click(lambda _b: self.start())
            self._stop_button.on_click(lambda _b: self.stop())
            self._progress = w.IntProgress(value=0, min=0, max=1, description="progress")
            self._status = w.HTML("<span style='color:#777'>Choose a setting and press Train.</span>")
            self._output = w.Output()
            key = self._key(self.setting)
            if key in self._runs:
                self._output.outputs = ({"output_type": "display_data",
                                         "data": plotly_bundle(self.draw(self._runs[key][1], self.setting)), "metadata": {}},)
                self._status.value = "<span style='color:#777'>Showing the precomputed run for this setting; press Train to train it yourself.</span>"
            header = [w.HTML(f"<strong>{html.escape(self.title)}</strong>")] if self.title else []
            header.append(w.HTML("<em>Live version: the kernel trains the network for the setting you choose.</em>"))
            self._widget = w.VBox([
                *header,
                w.HBox(list(self.controls.values()), layout={"flex_flow": "row wrap"}),
                w.HBox([self._train_button, self._stop_button, self._progress]),
                self._status,
                self._output,
            ])
            self._widget.add_class("gradbook-panel-live")  # how a page (or a browser test) finds it
        return self._widget

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        # Precompute first (book builds only), so the live face can show the run for its setting.
        html_face = self.static.static_html() if static_faces_enabled() else _live_only_html("training panel")
        bundle = dict(self.widget()._repr_mimebundle_())
        bundle["text/html"] = html_face
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        return f"TrainingPanel({self.title!r}, controls={list(self.controls)}, {len(self.static.settings())} precomputed runs)"


_STATIC_JS = """(function () {
  var spec = __SPEC__;
  var root = document.getElementById(spec.div + "-explorer");
  var inputs = root.querySelectorAll("[data-gb-dim]");
  function index() {
    var pos = spec.active.slice();
    inputs.forEach(function (el) { pos[Number(el.dataset.gbDim)] = Number(el.value); });
    var k = 0;
    for (var d = 0; d < spec.sizes.length; d++) { k = k * spec.sizes[d] + pos[d]; }
    return [k, pos];
  }
  function apply() {
    var found = index(), k = found[0], pos = found[1];
    var visible = new Array(spec.n).fill(false);
    spec.members[k].forEach(function (t) { visible[t] = true; });
    Plotly.update(spec.div, {visible: visible}, spec.relayouts[k]);
    inputs.forEach(function (el) {
      var d = Number(el.dataset.gbDim);
      var out = root.querySelector("[data-gb-value='" + d + "']");
      if (out) { out.textContent = spec.labels[d][pos[d]]; }
    });
  }
  inputs.forEach(function (el) { el.addEventListener("input", apply); el.addEventListener("change", apply); });
})();"""


def _static_control(dim: int, control: dict[str, Any]) -> str:
    """One HTML control for the static face: a range over grid indices, or a drop-down."""
    name = html.escape(control["name"])
    labels = control["labels"]
    active = control["active"]
    numeric = all(_is_number(label) for label in labels)
    if numeric:
        widget = (
            f"<input type='range' data-gb-dim='{dim}' min='0' max='{len(labels) - 1}' step='1' "
            f"value='{active}' aria-label='{name}'> <output data-gb-value='{dim}'>{html.escape(labels[active])}</output>"
        )
    else:
        options = "".join(
            f"<option value='{i}'{' selected' if i == active else ''}>{html.escape(label)}</option>"
            for i, label in enumerate(labels)
        )
        widget = f"<select data-gb-dim='{dim}' aria-label='{name}'>{options}</select>"
    return f"<label class='gradbook-control'><span>{name}</span> {widget}</label>"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _relayout_of(fig) -> dict[str, Any]:
    """The per-setting layout keys a slider step restores: title, axis ranges and types, notes."""
    lay = fig.layout
    out: dict[str, Any] = {"title.text": lay.title.text or ""}
    for axis in ("xaxis", "yaxis"):
        ax = getattr(lay, axis)
        if ax.range is not None:
            out[f"{axis}.range"] = list(ax.range)
        else:
            out[f"{axis}.autorange"] = True
    out["annotations"] = [a.to_plotly_json() for a in lay.annotations]
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float, np.floating)) and isinstance(b, (int, float, np.floating)):
        return bool(np.isclose(float(a), float(b), rtol=1e-6))
    return a == b


def _format_value(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:.3g}"
    return str(value)
