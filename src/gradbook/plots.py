"""One figure style for the whole book, in matplotlib and in Plotly.

Static figures use matplotlib after :func:`use_style`; explorations (see
:mod:`gradbook.widgets`) use Plotly with :func:`layout`. Both share :data:`PALETTE`, the
Okabe-Ito colours, which stay distinct for readers with colour-vision deficiencies.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "PALETTE",
    "figure",
    "layout",
    "loss_curve_trace",
    "surface_contour",
    "trajectory_trace",
    "use_style",
]

#: Okabe-Ito colour-blind-safe palette.
PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # green
    "#CC79A7",  # purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)

_RC: dict[str, Any] = {
    "figure.figsize": (6.4, 3.8),
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.constrained_layout.use": True,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "lines.linewidth": 1.8,
    "font.size": 10,
    "svg.hashsalt": "gradbook",
}


def use_style() -> None:
    """Apply the book's matplotlib style (and colour cycle) to every later figure."""
    import matplotlib as mpl
    from cycler import cycler

    mpl.rcParams.update(_RC)
    mpl.rcParams["axes.prop_cycle"] = cycler(color=list(PALETTE))


def figure(ncols: int = 1, nrows: int = 1, *, width: float | None = None, height: float = 3.6):
    """A new matplotlib figure in the book's style.

    Parameters
    ----------
    ncols, nrows : int
        Grid of axes.
    width, height : float
        Size in inches; the width defaults to 4.2 inches per column (at most 10).

    Returns
    -------
    fig, axes
        ``axes`` is a single Axes for a 1x1 grid, else an array.
    """
    import matplotlib.pyplot as plt

    use_style()
    if width is None:
        width = min(10.0, 4.2 * ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height * nrows), squeeze=True)
    return fig, axes


def layout(**overrides: Any) -> dict[str, Any]:
    """The book's Plotly layout, updated with ``overrides``."""
    base: dict[str, Any] = {
        "template": "simple_white",
        "colorway": list(PALETTE),
        "font": {"size": 13},
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "height": 440,
        "legend": {"orientation": "h", "y": -0.18},
    }
    base.update(overrides)
    return base


def surface_contour(surface, *, xlim: tuple[float, float], ylim: tuple[float, float], n: int = 80):
    """A Plotly contour trace of ``log10(1 + f)`` for a 2-D surface (see :mod:`gradbook.descent`)."""
    import plotly.graph_objects as go

    xs = np.linspace(*xlim, n)
    ys = np.linspace(*ylim, n)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1)
    z = np.log10(1.0 + surface.value(grid))
    return go.Contour(
        x=np.round(xs, 4),
        y=np.round(ys, 4),
        z=np.round(z, 3),
        colorscale="Blues",
        reversescale=True,
        showscale=False,
        contours={"coloring": "heatmap", "showlines": True},
        line={"width": 0.5, "color": "rgba(255,255,255,0.5)"},
        hoverinfo="skip",
        name="log10(1 + f)",
        showlegend=False,
    )


def trajectory_trace(trajectory, *, name: str, color: str = PALETTE[1]):
    """A Plotly line-and-marker trace of an optimisation path."""
    import plotly.graph_objects as go

    pts = trajectory.points
    return go.Scatter(
        x=np.round(pts[:, 0], 5),
        y=np.round(pts[:, 1], 5),
        mode="lines+markers",
        marker={"size": 4, "color": color},
        line={"width": 1.5, "color": color},
        name=name,
    )


def loss_curve_trace(x, y, *, name: str, color: str, dash: str | None = None):
    """A Plotly trace of a loss curve (values rounded to keep pages light)."""
    import plotly.graph_objects as go

    return go.Scatter(
        x=np.asarray(x),
        y=np.asarray([float(f"{v:.5g}") for v in np.asarray(y, dtype=float)]),
        mode="lines",
        name=name,
        line={"color": color, "dash": dash},
    )
