"""The Explorer: one exploration, with live controls in JupyterLab and working controls in the book.

An :class:`Explorer` is a ``draw`` function that turns one setting of the controls into a Plotly
figure, the controls themselves (ipywidgets, see :mod:`gradbook.widgets.controls`), and the grid
of settings to precompute for readers without a kernel (see :mod:`gradbook.widgets.static`).

Examples
--------
>>> import plotly.graph_objects as go
>>> from gradbook.widgets.controls import learning_rate_slider
>>> def draw(learning_rate):
...     return go.Figure(go.Scatter(y=[1.0, 1.0 - learning_rate]), layout={"title": {"text": f"{learning_rate:g}"}})
>>> explorer = Explorer(draw, {"learning_rate": learning_rate_slider(0.05)},
...                     grid={"learning_rate": [0.01, 0.05, 0.1]}, title="One step of descent")
>>> explorer.settings()
[{'learning_rate': 0.01}, {'learning_rate': 0.05}, {'learning_rate': 0.1}]
>>> explorer.figure(learning_rate=0.1).layout.title.text
'0.1'
"""

from __future__ import annotations

import hashlib
import html
import itertools
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from gradbook.plots import PLOTLY_CONFIG, plotly_bundle
from gradbook.validation import check_choice
from gradbook.widgets.controls import check_control_value, option_values, static_faces_enabled, value_label
from gradbook.widgets.static import combine_figures, explorer_html, live_only_html

__all__ = ["Explorer"]


def _same(a: Any, b: Any) -> bool:
    """Equal values; numbers are compared to a relative 1e-6 (a slider's value after a round trip)."""
    if isinstance(a, (int, float, np.floating)) and isinstance(b, (int, float, np.floating)):
        return bool(np.isclose(float(a), float(b), rtol=1e-6))
    return a == b


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

    Attributes
    ----------
    status : ipywidgets.HTML
        The live face's status line (how long the last redraw took, or why it failed).
    output : ipywidgets.Output
        Where the live face shows the figure.
    last_update_seconds : float or None
        The time the last live redraw took.

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
        import ipywidgets as w

        if not controls:
            raise ValueError("An Explorer needs at least one control.")
        self.draw = draw
        self.retrains = bool(retrains)
        self.controls = dict(controls)
        self.title = title
        grid = dict(grid or {})
        for name in grid:
            check_choice(name, "control", self.controls)
        for name, control in self.controls.items():
            if name not in grid:
                options = option_values(control)
                grid[name] = options if options is not None else [control.value]
            for value in grid[name]:
                check_control_value(name, control, value)
        self.grid = grid
        self.status = w.HTML()
        self.output = w.Output()
        self.last_update_seconds: float | None = None
        self._widget = None  # the live face, built (and wired to the controls) when first shown
        self._static_html: str | None = None
        self._static_cache = None
        self._updating = False  # True while update() moves several controls: redraw once, after

    # -- settings ---------------------------------------------------------------------------
    @property
    def setting(self) -> dict[str, Any]:
        """The controls' current values."""
        return {name: c.value for name, c in self.controls.items()}

    def check_setting(self, setting: Mapping[str, Any]) -> None:
        """Raise ValueError unless every key of ``setting`` is a control that accepts its value.

        Parameters
        ----------
        setting : mapping of str to object
            Control names and values; controls left out are not checked.

        Returns
        -------
        None

        Raises
        ------
        ValueError
            For an unknown control name or a value outside a control's range.
        """
        for name, value in setting.items():
            check_choice(name, "control", self.controls)
            check_control_value(name, self.controls[name], value)

    def figure(self, **setting: Any):
        """Draw the figure for ``setting`` (missing keys take the controls' current values).

        Parameters
        ----------
        **setting
            Values by control name.

        Returns
        -------
        plotly.graph_objects.Figure
            What ``draw`` returns for the full setting.

        Raises
        ------
        ValueError
            For an unknown control name or a value outside a control's range.
        """
        full = {**self.setting, **setting}
        self.check_setting(full)
        return self.draw(**full)

    def settings(self) -> list[dict[str, Any]]:
        """Every setting of the static grid, in slider order.

        Returns
        -------
        list of dict
            One dict of control name to value per combination of the grid's values, the first
            control varying slowest.
        """
        names = list(self.controls)
        return [dict(zip(names, combo)) for combo in itertools.product(*(self.grid[n] for n in names))]

    # -- static face -------------------------------------------------------------------------
    def static_figure(self):
        """One Plotly figure holding the traces of every setting in :meth:`settings`.

        Only the current setting's traces are visible; :meth:`static_spec` says which traces and
        layout belong to each setting. Traces identical in several settings (a contour
        background, say) are stored once.

        Returns
        -------
        plotly.graph_objects.Figure
            Drawn once (every setting of the grid) and cached.
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
            settings = self.settings()
            active = self._active_index(settings)
            figures = (self.figure(**setting) for setting in settings)  # drawn one at a time
            combined, members, relayouts = combine_figures(figures, active)
            current = settings[active]
            controls = [
                {
                    "name": getattr(self.controls[name], "description", "") or name,
                    "labels": [value_label(v) for v in self.grid[name]],
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
        """The static face as an HTML fragment: the figure, one working control per setting
        dimension (a range slider for numbers, a drop-down for choices) and the JSON payload the
        book's ``gradbook-explorer.js`` reads to wire them to ``Plotly.update``. plotly.js and
        that script are served by the book; the fragment holds no code of its own.

        Returns
        -------
        str
            The fragment, built once and cached.
        """
        if self._static_html is None:
            import plotly.io as pio

            fig, spec = self._static()
            # The same on every build (a rebuild writes the same page), and different for two
            # explorations on one page that share a title and grid but draw with different functions.
            drawn_by = getattr(self.draw, "__qualname__", type(self.draw).__qualname__)
            uid = hashlib.sha1((self.title + repr(self.grid) + drawn_by).encode()).hexdigest()[:12]
            div_id = f"gb-{uid}"
            body = pio.to_html(
                fig,
                full_html=False,
                include_plotlyjs=False,
                include_mathjax=False,
                div_id=div_id,
                config=PLOTLY_CONFIG,
            )
            self._static_html = explorer_html(body, spec, div_id=div_id, traces=len(fig.data), title=self.title)
        return self._static_html

    # -- live face ---------------------------------------------------------------------------
    def widget(self):
        """The live face: the controls, a status line and the figure (built once).

        Returns
        -------
        ipywidgets.VBox
            Wired to redraw whenever a control moves; the first call draws the current setting.
        """
        if self._widget is None:
            import ipywidgets as w

            header = []
            if self.title:
                header.append(w.HTML(f"<strong>{html.escape(self.title)}</strong>"))
            header.append(w.HTML("<em>Live version: the kernel recomputes the figure for every setting.</em>"))
            controls = list(self.controls.values())
            for control in controls:
                control.observe(lambda _change: self._redraw(), names="value")
            self._widget = w.VBox([*header, w.HBox(controls, layout={"flex_flow": "row wrap"}), self.status, self.output])
            self._widget.add_class("gradbook-explorer-live")  # how a page (or a browser test) finds it
            self._redraw()
        return self._widget

    def update(self, **setting: Any) -> float:
        """Move the controls to ``setting`` and redraw once; return the seconds it took.

        Parameters
        ----------
        **setting
            Values by control name; controls left out keep their value.

        Returns
        -------
        float
            The seconds the redraw took (also in :attr:`last_update_seconds`).

        Raises
        ------
        ValueError
            For an unknown control or a value out of its range (the controls stay unchanged).
        """
        self.check_setting(setting)
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
        self.status.value = "<span style='color:#777'>computing...</span>"
        try:
            fig = self.figure()
            bundle = plotly_bundle(fig)
            message = None
        except (ValueError, ArithmeticError, RuntimeError) as err:
            bundle = None
            message = str(err)
        with self.output:
            self.output.clear_output(wait=True)
            if bundle is not None:
                display(bundle, raw=True)
        seconds = time.perf_counter() - start
        if message is None:
            self.status.value = f"<span style='color:#777'>updated in {seconds:.2f} s</span>"
        else:
            self.status.value = f"<span style='color:#D55E00'><strong>Cannot draw this setting:</strong> {html.escape(message)}</span>"
        self.last_update_seconds = seconds
        return seconds

    # -- display -----------------------------------------------------------------------------
    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        bundle = dict(self.widget()._repr_mimebundle_())
        bundle["text/html"] = self.static_html() if static_faces_enabled() else live_only_html("exploration")
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        return f"Explorer({self.title!r}, controls={list(self.controls)}, {len(self.settings())} precomputed settings)"
