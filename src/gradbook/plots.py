"""One figure style for the whole book, in matplotlib and in Plotly.

Static figures use matplotlib after :func:`use_style`; explorations (see
:mod:`gradbook.widgets`) use Plotly with :func:`layout`. Both share :data:`PALETTE`, the
Okabe-Ito colours, which stay distinct for readers with colour-vision deficiencies.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gradbook.validation import check_number, check_whole

__all__ = [
    "PALETTE",
    "PLOTLY_CONFIG",
    "confusion_figure",
    "convolution_figure",
    "embed",
    "learning_curves",
    "mistakes_figure",
    "per_class_figure",
    "plotly_bundle",
    "power_of_ten",
    "figure",
    "gradient_norm_bars",
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


def power_of_ten(x: float, digits: int = 1):
    """A number for the prose, in scientific notation as Markdown math: 2.3e-11 becomes
    ``$2.3 \\times 10^{-11}$``. Glue it with ``{glue:md}``.

    Parameters
    ----------
    x : float
        A finite number.
    digits : int, default 1
        Digits after the decimal point of the mantissa.

    Returns
    -------
    IPython.display.Markdown

    Raises
    ------
    ValueError
        If ``x`` is not finite or ``digits`` is negative.
    """
    from IPython.display import Markdown

    x = check_number(x, "x", minimum=-math.inf)
    digits = check_whole(digits, "digits", minimum=0)
    mantissa, exponent = f"{x:.{digits}e}".split("e")
    return Markdown(f"${mantissa} \\times 10^{{{int(exponent)}}}$")


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


#: Bar colours of :func:`gradient_norm_bars`, series by series: blue and sky blue first, so that
#: a pair "at initialisation" / "after training" reads as one hue, then the rest of the palette.
_BAR_COLOURS: tuple[str, ...] = (PALETTE[0], PALETTE[5], *PALETTE[1:5], *PALETTE[6:])

#: Where :func:`gradient_norm_bars` draws a norm of 0 (one that underflowed float32, whose
#: smallest positive value is about 1.4e-45), which a log axis cannot show.
_NORM_FLOOR = 1e-45


def gradient_norm_bars(
    norms: Mapping[str, Sequence[float] | np.ndarray],
    *,
    layers: Sequence[str] | None = None,
    fig=None,
    row: int | None = None,
    col: int | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
):
    """Per-layer gradient norms as bars on a log scale, one group of bars per layer (Plotly).

    Parameters
    ----------
    norms : mapping of str to array
        One series per entry, under its legend name (``{"at initialisation": ...}``), each with
        one norm per layer, input side first. A norm of 0 is drawn at 1e-45, the float32 floor,
        so that it stays on the log axis; NaN (a measurement that failed, after a divergence) is
        a missing bar.
    layers : sequence of str, optional
        The layer names, shown under the bars with ``hidden_3`` shortened to ``h3``; by default
        the layers are numbered from 1.
    fig : plotly.graph_objects.Figure, optional
        A figure to draw into (from :func:`plotly.subplots.make_subplots` when ``row`` and
        ``col`` are given); by default a new one.
    row, col : int, optional
        The panel of ``fig`` to draw in; give both or neither.
    xlabel, ylabel : str, optional
        Axis titles; none by default.

    Returns
    -------
    plotly.graph_objects.Figure
        ``fig``, or the new figure. With two or more series the bars are grouped. Set the title
        and size with ``fig.update_layout(**layout(...))``.

    Raises
    ------
    ValueError
        If ``norms`` is empty, its series (or ``layers``) differ in length, or only one of
        ``row`` and ``col`` is given.

    Examples
    --------
    >>> fig = gradient_norm_bars({"at initialisation": [1e-12, 0.0, 0.5]}, layers=["hidden_1", "hidden_2", "logits"])
    >>> list(fig.data[0].x), [float(v) for v in fig.data[0].y], fig.layout.yaxis.type
    (['h1', 'h2', 'logits'], [1e-12, 1e-45, 0.5], 'log')
    """
    import plotly.graph_objects as go

    series = {name: np.asarray(values) for name, values in norms.items()}
    if not series:
        raise ValueError("norms is empty: give at least one series of per-layer gradient norms.")
    lengths = {len(v) for v in series.values()} | ({len(layers)} if layers is not None else set())
    if len(lengths) != 1:
        raise ValueError(f"The series (and layers) must all have one value per layer; got lengths "
                         f"{', '.join(f'{name} {len(v)}' for name, v in series.items())}"
                         f"{'' if layers is None else f', layers {len(layers)}'}.")
    if (row is None) != (col is None):
        raise ValueError(f"Give both row and col, or neither; got row={row!r}, col={col!r}.")
    row, col = check_whole(row, "row", allow_none=True), check_whole(col, "col", allow_none=True)
    (n,) = lengths
    x = np.arange(1, n + 1) if layers is None else [name.replace("hidden_", "h") for name in layers]
    fig = go.Figure() if fig is None else fig
    for (name, values), colour in zip(series.items(), itertools.cycle(_BAR_COLOURS)):
        fig.add_trace(go.Bar(x=x, y=np.maximum(values, _NORM_FLOOR), name=name, marker_color=colour), row=row, col=col)
    fig.update_yaxes(type="log", row=row, col=col)
    if xlabel is not None:
        fig.update_xaxes(title=xlabel, row=row, col=col)
    if ylabel is not None:
        fig.update_yaxes(title=ylabel, row=row, col=col)
    if len(series) > 1:
        fig.update_layout(barmode="group")
    return fig


def _heatmap(z, *, colorscale: str, zmid: float | None = None, name: str):
    import plotly.graph_objects as go

    z = np.asarray(z, dtype=np.float32)
    return go.Heatmap(
        z=z,
        colorscale=colorscale,
        zmid=zmid,
        showscale=False,
        name=name,
        hovertemplate="row %{y}, col %{x}: %{z:.3g}<extra>" + name + "</extra>",
    )


def _box(rows: slice, cols: slice, *, color: str, name: str, axis: int):
    """A rectangle around cells rows x cols of a heatmap, as a closed line trace."""
    import plotly.graph_objects as go

    top, bottom = rows.start - 0.5, rows.stop - 0.5
    left, right = cols.start - 0.5, cols.stop - 0.5
    suffix = "" if axis == 1 else str(axis)
    return go.Scatter(
        x=[left, right, right, left, left],
        y=[top, top, bottom, bottom, top],
        mode="lines",
        line={"color": color, "width": 2.5},
        name=name,
        hoverinfo="skip",
        showlegend=False,
        xaxis=f"x{suffix}",
        yaxis=f"y{suffix}",
    )


def convolution_figure(image, kernel2d, *, stride: int = 1, padding: str = "valid", pool: int = 1, title: str = ""):
    """Input, kernel, feature map and pooled map side by side, with one receptive field traced.

    The centre cell of the pooled map (or of the feature map when ``pool == 1``) is outlined in
    every panel it depends on: its pooling window on the feature map and that window's
    receptive field on the input.

    Parameters
    ----------
    image : array of shape (H, W)
    kernel2d : array of shape (K, K)
    stride, padding :
        Of the convolution (see :func:`gradbook.conv.conv2d`).
    pool : int
        Max-pooling window (and stride); 1 means no pooling.

    Returns
    -------
    plotly.graph_objects.Figure

    Raises
    ------
    ValueError
        If ``pool`` is not a positive whole number (and as :func:`gradbook.conv.conv2d` does for
        a bad ``stride`` or ``padding``).
    """
    import plotly.graph_objects as go

    from gradbook import conv

    pool = check_whole(pool, "pool")
    image = np.asarray(image, dtype=np.float64)
    kernel2d = np.asarray(kernel2d, dtype=np.float64)
    k = kernel2d.shape[0]
    x = image[np.newaxis, :, :, np.newaxis]
    fmap = conv.conv2d(x, kernel2d[:, :, np.newaxis, np.newaxis], stride=stride, padding=padding)[0, :, :, 0]
    pooled = conv.max_pool2d(fmap[np.newaxis, :, :, np.newaxis], pool)[0, :, :, 0] if pool > 1 else fmap

    # The traced cell and everything it depends on.
    pi, pj = pooled.shape[0] // 2, pooled.shape[1] // 2
    f_rows = slice(pi * pool, pi * pool + pool)
    f_cols = slice(pj * pool, pj * pool + pool)
    in_rows, in_cols = conv.receptive_field(f_rows, f_cols, k, stride=stride, padding=padding, input_hw=image.shape)

    accent = PALETTE[1]
    panels = [
        ("input", _heatmap(image, colorscale="gray", name="input"), image.shape),
        ("kernel", _heatmap(kernel2d, colorscale="RdBu", zmid=0.0, name="kernel"), kernel2d.shape),
        ("feature map", _heatmap(fmap, colorscale="gray", name="feature map"), fmap.shape),
        ("pooled" if pool > 1 else "(no pooling)", _heatmap(pooled, colorscale="gray", name="pooled"), pooled.shape),
    ]
    fig = go.Figure()
    gap = 0.04
    width = (1 - 3 * gap) / 4
    annotations = []
    for n, (label, trace, shape) in enumerate(panels, start=1):
        suffix = "" if n == 1 else str(n)
        trace.update(xaxis=f"x{suffix}", yaxis=f"y{suffix}")
        fig.add_trace(trace)
        start = (n - 1) * (width + gap)
        fig.update_layout({
            f"xaxis{suffix}": {"domain": [start, start + width], "showticklabels": False, "showgrid": False, "ticks": "", "showline": False,
                               "zeroline": False, "constrain": "domain"},
            f"yaxis{suffix}": {"autorange": "reversed", "scaleanchor": f"x{suffix}", "showticklabels": False, "ticks": "", "showline": False,
                               "showgrid": False, "zeroline": False, "constrain": "domain"},
        })
        annotations.append({
            "text": f"{label}<br>{shape[0]} x {shape[1]}", "x": start + width / 2, "y": 1.0,
            "xref": "paper", "yref": "paper", "yanchor": "bottom", "showarrow": False, "font": {"size": 12},
        })
    fig.add_trace(_box(in_rows, in_cols, color=accent, name="receptive field", axis=1))
    fig.add_trace(_box(f_rows, f_cols, color=accent, name="pooling window", axis=3))
    fig.add_trace(_box(slice(pi, pi + 1), slice(pj, pj + 1), color=accent, name="traced cell", axis=4))
    fig.update_layout(**layout(
        title={"text": title},
        height=330,
        margin={"l": 10, "r": 10, "t": 90, "b": 10},
        annotations=annotations,
        showlegend=False,
    ))
    return fig


def _round(values, digits: int = 5) -> list[float | None]:
    return [float(f"{v:.{digits}g}") if np.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def learning_curves(history: dict[str, list[float]], *, title: str = "", names: tuple[str, str] = ("train", "validation")):
    """Training and validation loss (left) and accuracy (right) per epoch, as one Plotly figure.

    Parameters
    ----------
    history : dict
        Keras-style history with ``loss`` and optionally ``val_loss``, ``accuracy``,
        ``val_accuracy``.
    title : str
    names : (str, str)
        Legend names of the training and validation curves.

    Raises
    ------
    ValueError
        If ``history`` has no ``loss``.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    if len(history.get("loss", ())) == 0:
        raise ValueError("history has no 'loss' values to plot; train for at least one epoch.")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy"), horizontal_spacing=0.12)
    epochs = list(range(1, len(history["loss"]) + 1))
    for col, metric in ((1, "loss"), (2, "accuracy")):
        for prefix, name, color, dash in (("", names[0], PALETTE[0], None), ("val_", names[1], PALETTE[1], "dash")):
            values = history.get(prefix + metric)
            if values is not None and len(values):
                fig.add_trace(
                    go.Scatter(x=epochs[: len(values)], y=_round(values), mode="lines+markers", name=name,
                               line={"color": color, "dash": dash}, legendgroup=name, showlegend=col == 1),
                    row=1, col=col,
                )
    fig.update_xaxes(title_text="epoch", dtick=max(1, len(epochs) // 10))
    fig.update_layout(**layout(title=title, height=380))
    return fig


def confusion_figure(evaluation, *, title: str = "Confusion matrix (rows: true class, columns: predicted)"):
    """The confusion matrix as a Plotly heatmap; each cell shows its count, colour is the share
    of the true class's examples."""
    import plotly.graph_objects as go

    cm = evaluation.confusion
    totals = np.maximum(cm.sum(axis=1, keepdims=True), 1)
    names = list(evaluation.class_names)
    fig = go.Figure(go.Heatmap(
        z=np.round(cm / totals, 3), x=names, y=names, text=cm, texttemplate="%{text}",
        colorscale="Blues", zmin=0, zmax=1, showscale=False,
        hovertemplate="true %{y}, predicted %{x}: %{text} (%{z:.0%} of the class)<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", title_text="true class")
    fig.update_xaxes(title_text="predicted class", tickangle=-40)
    fig.update_layout(**layout(title=title, height=520, margin={"l": 110, "r": 20, "t": 50, "b": 110}))
    return fig


def per_class_figure(evaluation, *, title: str = "Accuracy per class"):
    """A horizontal bar per class: the share of its test examples classified correctly."""
    import plotly.graph_objects as go

    acc = evaluation.per_class_accuracy
    fig = go.Figure(go.Bar(x=_round(acc, 3), y=list(evaluation.class_names), orientation="h",
                           marker_color=PALETTE[0], hovertemplate="%{y}: %{x:.1%}<extra></extra>"))
    fig.add_vline(x=evaluation.accuracy, line_dash="dash", line_color=PALETTE[1],
                  annotation_text=f"overall {evaluation.accuracy:.1%}", annotation_position="top")
    fig.update_xaxes(range=[0, 1], tickformat=".0%")
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(**layout(title=title, height=380, margin={"l": 110, "r": 20, "t": 60, "b": 40}))
    return fig


def mistakes_figure(evaluation, images: np.ndarray, *, k: int = 12, ncols: int = 6):
    """The ``k`` most confident mistakes as images, each titled with the predicted class, its
    probability and the true class (matplotlib).

    Raises
    ------
    ValueError
        If ``images`` does not hold one image per evaluated example.
    """
    if len(images) != len(evaluation.y_true):
        raise ValueError(f"{len(images)} images for {len(evaluation.y_true)} evaluated examples.")
    idx = evaluation.confident_mistakes(k)
    nrows = max(1, int(np.ceil(len(idx) / ncols)))
    fig, axes = figure(ncols, nrows, width=1.7 * ncols, height=2.0)
    axes = np.atleast_1d(axes).ravel()
    names = evaluation.class_names
    for ax in axes:
        ax.axis("off")
    for ax, i in zip(axes, idx):
        img = images[i]
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray_r" if img.shape[-1] == 1 else None)
        p = evaluation.probabilities[i]
        ax.set_title(f"said {names[int(np.argmax(p))]} {p.max():.0%}\nis {names[int(evaluation.y_true[i])]}", fontsize=8)
    if not len(idx):
        axes[0].text(0.5, 0.5, "no mistakes", ha="center", va="center")
    return fig


#: Plotly's display options for every figure of the book (JupyterLab and the HTML pages alike).
PLOTLY_CONFIG: dict[str, Any] = {"displaylogo": False, "responsive": True}


def plotly_bundle(fig) -> dict[str, Any]:
    """A display bundle JupyterLab renders natively, without embedding plotly.js."""
    import json

    import plotly.io as pio

    return {
        "application/vnd.plotly.v1+json": {**json.loads(pio.to_json(fig)), "config": PLOTLY_CONFIG},
        "text/plain": f"<Figure: {fig.layout.title.text or 'untitled'}>",
    }


class _Embedded:
    """A Plotly figure with both faces: Plotly's own mime type for JupyterLab and an HTML
    fragment (plotly.js served by the book, not a CDN) for the static book."""

    def __init__(self, fig) -> None:
        self.figure = fig

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        import plotly.io as pio

        html = pio.to_html(self.figure, full_html=False, include_plotlyjs=False, include_mathjax=False, config=PLOTLY_CONFIG)
        return {**plotly_bundle(self.figure), "text/html": html}


def embed(fig) -> _Embedded:
    """Wrap a Plotly figure so that it shows in JupyterLab and in the offline HTML book.

    Make it the last expression of a cell: ``plots.embed(fig)``.
    """
    if not hasattr(fig, "to_plotly_json"):
        raise TypeError(f"embed() takes a Plotly figure, got {type(fig).__name__}.")
    return _Embedded(fig)
