"""Explorations with two faces: live controls in JupyterLab, working controls in the static book.

Every exploration in the book is one :class:`Explorer`: a ``draw`` function that turns one
setting of the controls into a Plotly figure, the controls themselves (ipywidgets), and the grid
of settings to precompute for readers without a kernel.

* In JupyterLab, the cell shows the **live** face: the ipywidgets controls redraw the figure for
  any setting, computed by the kernel.
* In the built HTML book, the same output shows the **static** face: one Plotly figure holding
  the precomputed traces of every grid setting, and controls that switch between them with no
  kernel and no network.

Both faces come from one output bundle (``application/vnd.jupyter.widget-view+json`` for
JupyterLab, ``text/html`` for the book), so a chapter writes each exploration once.

The static face is work for the book, not for a learner: it is computed when the cell is
displayed only while the environment variable ``GRADBOOK_STATIC_FACES`` is ``1`` (``make book``
sets it). Otherwise the cell shows its live controls at once, and :meth:`Explorer.static_html`
computes the static face on demand.

The package, one module per concept:

``controls``  the control factories and which values each control accepts
``explorer``  :class:`Explorer`
``static``    the static face: the combined figure, its JSON payload and HTML (the page's
              script is ``book/static/gradbook-explorer.js``)
``panel``     :class:`TrainingPanel` and its Keras callback; it imports Keras, so it is loaded
              only when ``widgets.TrainingPanel`` is first used

Examples
--------
The last line of a chapter's cell is the explorer itself:

>>> import plotly.graph_objects as go
>>> from gradbook import widgets
>>> def draw(learning_rate):
...     steps = [1.0]
...     for _ in range(10):
...         steps.append(steps[-1] * (1 - learning_rate))
...     return go.Figure(go.Scatter(y=steps), layout={"title": {"text": f"learning rate {learning_rate:g}"}})
>>> explorer = widgets.Explorer(
...     draw,
...     {"learning_rate": widgets.learning_rate_slider(0.05)},
...     grid={"learning_rate": [0.01, 0.05, 0.1, 0.2]},
...     title="Gradient descent on a quadratic",
... )
>>> explorer
Explorer('Gradient descent on a quadratic', controls=['learning_rate'], 4 precomputed settings)
"""

from __future__ import annotations

from typing import Any

from gradbook.widgets.controls import (
    STATIC_FACES_VARIABLE,
    activation_dropdown,
    choice,
    depth_slider,
    int_slider,
    learning_rate_slider,
    static_faces_enabled,
)
from gradbook.widgets.explorer import Explorer

__all__ = [
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


def __getattr__(name: str) -> Any:
    """``widgets.TrainingPanel`` imports :mod:`gradbook.widgets.panel` (and Keras) on first use."""
    if name == "TrainingPanel":
        from gradbook.widgets.panel import TrainingPanel

        return TrainingPanel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
