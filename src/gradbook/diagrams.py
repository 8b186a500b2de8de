"""The book's static diagrams (a computational graph, a residual block, ...), drawn by code.

Each diagram is a function that returns a matplotlib ``Figure``, drawn from :class:`Node` boxes
and arrows with :func:`draw`, in the book's palette (:data:`gradbook.plots.PALETTE`). A chapter
shows one in a code cell whose ``mystnb.image.alt`` metadata gives the alt text.

>>> from gradbook import diagrams
>>> fig = diagrams.draw([diagrams.Node("x", "x", (0, 0)), diagrams.Node("y", "y = 2x", (2, 0))],
...                     [("x", "y", "")], size=(3, 1))
>>> [t.get_text() for t in fig.axes[0].texts if t.get_text()]
['x', 'y = 2x']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from gradbook.plots import PALETTE
from gradbook.validation import is_real

__all__ = ["GRAPH_KEYS", "Node", "batch_norm_flow", "computational_graph", "draw", "multi_channel_convolution",
           "residual_block"]


@dataclass(frozen=True)
class Node:
    """One box of a diagram.

    Attributes
    ----------
    key : str
        The name arrows use to refer to the box.
    text : str
        What the box says (matplotlib mathtext, ``$...$``, is allowed).
    xy : (float, float)
        The box's centre, in the diagram's units.
    color : str
        The box's edge colour.
    width, height : float
        The box's size, in the diagram's units.
    """

    key: str
    text: str
    xy: tuple[float, float]
    color: str = PALETTE[0]
    width: float = 1.2
    height: float = 0.6


def draw(nodes: Sequence[Node], edges: Sequence[tuple[str, str, str]], *, size: tuple[float, float],
         backward: Sequence[tuple[str, str, str]] = (), title: str = ""):
    """A diagram of boxes joined by arrows: forward edges solid, ``backward`` edges dashed.

    Parameters
    ----------
    nodes : sequence of Node
    edges : sequence of (from_key, to_key, label)
        Solid arrows (the forward pass), labelled at their middle ("" for no label).
    size : (float, float)
        The figure's width and height in inches.
    backward : sequence of (from_key, to_key, label), optional
        Dashed arrows in the accent colour (gradients flowing back), drawn slightly offset from
        any forward arrow between the same boxes.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If an edge names a box that is not among ``nodes``, or two boxes share a key.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    by_key = {}
    for node in nodes:
        if node.key in by_key:
            raise ValueError(f"Two boxes share the key {node.key!r}; give each box its own key.")
        by_key[node.key] = node
    for a, b, _ in (*edges, *backward):
        for key in (a, b):
            if key not in by_key:
                raise ValueError(f"An arrow names the box {key!r}, which is not among the nodes: {sorted(by_key)}.")

    fig, ax = plt.subplots(figsize=size, layout="constrained")  # the book's style uses this engine too
    ax.set_axis_off()
    ax.set_aspect("equal")
    for node in nodes:
        x, y = node.xy
        ax.add_patch(FancyBboxPatch((x - node.width / 2, y - node.height / 2), node.width, node.height,
                                    boxstyle="round,pad=0.05", facecolor="white", edgecolor=node.color, linewidth=1.5))
        ax.text(x, y, node.text, ha="center", va="center", fontsize=10)

    def arrow(a: Node, b: Node, label: str, *, color: str, style: str, offset: float) -> None:
        (x0, y0), (x1, y1) = a.xy, b.xy
        dx, dy = x1 - x0, y1 - y0
        length = max((dx ** 2 + dy ** 2) ** 0.5, 1e-9)
        nx, ny = -dy / length * offset, dx / length * offset  # sideways, so two-way arrows do not overlap
        ax.annotate("", xy=(x1 + nx, y1 + ny), xytext=(x0 + nx, y0 + ny),
                    arrowprops={"arrowstyle": "-|>", "color": color, "linestyle": style, "linewidth": 1.3,
                                "shrinkA": 22, "shrinkB": 22})
        if label:
            ax.text((x0 + x1) / 2 + 2.2 * nx, (y0 + y1) / 2 + 2.2 * ny + (0.18 if not offset else 0), label,
                    ha="center", va="center", fontsize=9, color=color)

    pairs = {(a, b) for a, b, _ in edges} | {(b, a) for a, b, _ in edges}
    for a, b, label in edges:
        arrow(by_key[a], by_key[b], label, color="#333333", style="-", offset=0.0)
    for a, b, label in backward:
        arrow(by_key[a], by_key[b], label, color=PALETTE[1], style="--", offset=0.12 if (a, b) in pairs else 0.0)
    xs = [n.xy[0] for n in nodes]
    ys = [n.xy[1] for n in nodes]
    margin = max(n.width for n in nodes)
    ax.set_xlim(min(xs) - margin, max(xs) + margin)
    ax.set_ylim(min(ys) - margin / 1.5, max(ys) + margin / 1.5)
    if title:
        ax.set_title(title)
    return fig


# -- chapter 2: convolution ------------------------------------------------------------------------
def multi_channel_convolution():
    """A convolution with 3 input and 2 output channels: one kernel per (input, output) pair.

    Each input channel :math:`x^{(c)}` is cross-correlated with its own 2-D kernel :math:`w^{(c,o)}`
    for every output channel :math:`o` (each box reads :math:`\\star\\, w^{(c,o)}`, with the star
    drawn larger than the label's text so that it stays legible, and input and box read
    :math:`x^{(c)} \\star w^{(c,o)}`); the three results and the bias :math:`b^{(o)}` are summed into
    the single output channel :math:`y^{(o)}`. Channels are numbered from 0, as array axes are.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> fig = multi_channel_convolution()
    >>> texts = fig.axes[0].texts
    >>> stars = [t for t in texts if t.get_text().endswith("star$")]  # the separate, larger star glyphs
    >>> kernels = [t for t in texts if t.get_text().startswith("$w^")]
    >>> len(stars), len(kernels), min(s.get_fontsize() for s in stars) > max(k.get_fontsize() for k in kernels)
    (6, 6, True)
    >>> plt.close(fig)
    """
    inputs = [Node(f"x{c}", f"$x^{{({c})}}$", (0.0, 2.4 - 2.4 * c), color="#555555", width=1.0) for c in (0, 1, 2)]
    kernels, sums, outputs, edges = [], [], [], []
    for o in (0, 1):
        top = 3.6 if o == 0 else -0.6
        sum_y = 2.4 if o == 0 else -2.4
        color = PALETTE[2 * o]
        for c in (0, 1, 2):
            key = f"w{c}{o}"
            kernels.append(Node(key, f"$w^{{({c},{o})}}$", (3.2, top - 1.5 * c), color=color, width=1.3))
            edges += [(f"x{c}", key, ""), (key, f"s{o}", "")]
        sums.append(Node(f"s{o}", f"$\\Sigma_c \\,+\\, b^{{({o})}}$", (6.2, sum_y), color=color, width=1.5))
        outputs.append(Node(f"y{o}", f"$y^{{({o})}}$", (8.8, sum_y), color=color, width=1.0))
        edges.append((f"s{o}", f"y{o}", ""))
    fig = draw([*inputs, *kernels, *sums, *outputs], edges, size=(7.5, 5.2),
               title="Three input channels, two output channels: six 2-D kernels")
    ax = fig.axes[0]
    for label in [t for t in ax.texts if t.get_text().startswith("$w^")]:
        # The mathtext star is a small binary-operator glyph: draw it apart, larger, left of w.
        x, y = label.get_position()
        label.set_position((x + 0.15, y))
        ax.text(x - 0.35, y, "$\\star$", ha="center", va="center", fontsize=18)
    return fig



# -- chapter 3: backpropagation --------------------------------------------------------------------
#: The values :func:`computational_graph` labels: the four inputs, each gate's output, and f.
GRAPH_KEYS: tuple[str, ...] = ("x", "y", "z", "w", "xy", "max", "sum", "f")


def computational_graph(values: dict[str, float], grads: dict[str, float]):
    r"""The graph of :math:`f = 2\,(x y + \max(z, w))`: forward values on solid arrows, gradients on dashed ones.

    Each solid arrow carries the value that flows along it in the forward pass; the dashed arrow
    beside it, pointing back, carries :math:`\partial f/\partial(\cdot)` of that value in the
    backward pass. Numbers are written with three significant digits.

    Parameters
    ----------
    values : dict of str to float
        The forward value of each of :data:`GRAPH_KEYS`: the inputs ``"x"``, ``"y"``, ``"z"``,
        ``"w"``, the gates' outputs ``"xy"``, ``"max"`` and ``"sum"`` (:math:`xy + \max(z, w)`),
        and ``"f"``.
    grads : dict of str to float
        :math:`\partial f/\partial(\cdot)` of the same keys (``grads["f"]`` is 1).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If ``values`` or ``grads`` lacks one of :data:`GRAPH_KEYS` or holds a non-number.

    Examples
    --------
    >>> v = {"x": 3, "y": -4, "z": 2, "w": -1, "xy": -12, "max": 2, "sum": -10, "f": -20}
    >>> g = {"x": -8, "y": 6, "z": 2, "w": 0, "xy": 2, "max": 2, "sum": 2, "f": 1}
    >>> fig = computational_graph(v, g)
    >>> texts = [t.get_text() for t in fig.axes[0].texts if t.get_text()][9:]   # after the boxes' names
    >>> texts[:8]                  # on the forward arrows: x, y, z, w, xy, max, sum, f
    ['3', '-4', '2', '-1', '-12', '2', '-10', '-20']
    >>> texts[8:]                  # on the backward arrows, the gradient of the same values
    ['-8', '6', '2', '0', '2', '2', '2', '1']
    """
    def finite(v) -> bool:
        return is_real(v) and math.isfinite(v)

    for name, given in (("values", values), ("grads", grads)):
        missing = [k for k in GRAPH_KEYS if k not in given]
        if missing:
            raise ValueError(f"{name} lacks {missing}; give a number for each of {list(GRAPH_KEYS)}.")
        bad = [k for k in GRAPH_KEYS if not finite(given[k])]
        if bad:
            raise ValueError(f"{name} must hold finite numbers; {bad} do not.")

    def label(v: float) -> str:
        return f"{float(v):.3g}"

    small = {"width": 0.6, "height": 0.5}
    nodes = [
        Node("x", "$x$", (0.0, 3.8), **small), Node("y", "$y$", (0.0, 1.9), **small),
        Node("z", "$z$", (0.0, 0.6), **small), Node("w", "$w$", (0.0, -1.3), **small),
        Node("mul", r"$\times$", (3.0, 2.85), width=0.8), Node("max", "max", (3.0, -0.35), width=0.8),
        Node("add", "$+$", (5.6, 1.25), width=0.8), Node("double", r"$\times 2$", (8.0, 1.25), width=0.8),
        Node("f", "$f$", (10.2, 1.25), **small),
    ]
    # (from box, to box, the value on the arrow): the value of the box the arrow leaves, in GRAPH_KEYS.
    wires = [("x", "mul", "x"), ("y", "mul", "y"), ("z", "max", "z"), ("w", "max", "w"),
             ("mul", "add", "xy"), ("max", "add", "max"), ("add", "double", "sum"), ("double", "f", "f")]
    edges = [(a, b, label(values[k])) for a, b, k in wires]
    backward = [(b, a, label(grads[k])) for a, b, k in wires]
    return draw(nodes, edges, size=(9.5, 4.8), backward=backward,
                title=r"forward values (solid arrows) and gradients $\partial f/\partial(\cdot)$ (dashed arrows)")


# -- chapter 5: the fixes --------------------------------------------------------------------------


def batch_norm_flow():
    """Batch normalisation's data flow: the batch statistics, the normalisation, the scale and shift.

    Returns
    -------
    matplotlib.figure.Figure
        Forward arrows solid; the dashed arrows are the gradient flowing back: the three ways it
        reaches ``x`` (directly, through the mean and through the variance) and the one to the
        learned :math:`\\gamma` and :math:`\\beta`.

    Examples
    --------
    >>> fig = batch_norm_flow()
    >>> "direct" in [t.get_text() for t in fig.axes[0].texts]
    True
    """
    stat, learn = PALETTE[2], PALETTE[3]
    nodes = [
        Node("x", "$x$", (0, 0), width=0.7),
        Node("mu", "$\\mu_B$", (2, 1.4), color=stat, width=0.7),
        Node("var", "$\\sigma_B^2$", (4, 1.4), color=stat, width=0.7),
        Node("xhat", "$\\hat x$", (4, 0), width=0.7),
        Node("gb", "$\\gamma, \\beta$ (learned)", (6, -1.5), color=learn, width=1.5),
        Node("y", "$y$", (6, 0), width=0.7),
        Node("L", "$L$", (8, 0), width=0.7),
    ]
    edges = [("x", "mu", ""), ("x", "var", ""), ("mu", "var", ""), ("x", "xhat", ""), ("mu", "xhat", ""),
             ("var", "xhat", ""), ("xhat", "y", ""), ("gb", "y", ""), ("y", "L", "")]
    backward = [("L", "y", ""), ("y", "xhat", ""), ("xhat", "x", ""), ("xhat", "mu", ""), ("xhat", "var", ""),
                ("mu", "x", ""), ("var", "x", ""), ("y", "gb", "")]
    fig = draw(nodes, edges, size=(9, 4.2), backward=backward,
               title="Batch normalisation, training mode: $\\hat x = (x-\\mu_B)/\\sqrt{\\sigma_B^2+\\epsilon}$, "
                     "$y = \\gamma \\hat x + \\beta$")
    # The labels of the three paths to x, and of the gradient reaching gamma and beta, sit beside their arrows.
    ax, accent = fig.axes[0], PALETTE[1]
    ax.text(2.0, -0.38, "direct", ha="center", va="center", fontsize=9, color=accent)
    ax.text(0.55, 0.75, "via $\\mu_B$", ha="right", va="center", fontsize=9, color=accent)
    ax.text(2.45, 0.36, "via $\\sigma_B^2$", ha="center", va="center", fontsize=9, color=accent, rotation=19)
    ax.text(5.8, -0.62, "$\\partial L/\\partial\\gamma$, $\\partial L/\\partial\\beta$", ha="right", va="center",
            fontsize=9, color=accent)
    return fig


def residual_block():
    """A residual block :math:`x_{l+1} = x_l + F(x_l)`: the identity path beside the block.

    Returns
    -------
    matplotlib.figure.Figure
        The skip arrow (labelled "identity") goes round ``F``; the dashed arrows show the gradient
        reaching :math:`x_l` both through ``F`` and, unmultiplied, along the identity.

    Examples
    --------
    >>> fig = residual_block()
    >>> "identity" in [t.get_text() for t in fig.axes[0].texts]
    True
    """
    nodes = [
        Node("x", "$x_l$", (0, 0), width=0.7),
        Node("F", "$F$", (2.5, -1.5), color=PALETTE[2], width=0.7),
        Node("add", "$+$", (5, 0), width=0.6),
        Node("out", "$x_{l+1}$", (7, 0), width=0.7),
    ]
    edges = [("x", "F", ""), ("F", "add", ""), ("x", "add", ""), ("add", "out", "")]
    backward = [("out", "add", ""), ("add", "x", ""), ("add", "F", ""), ("F", "x", "")]
    fig = draw(nodes, edges, size=(8, 3.8), backward=backward,
               title="A residual block: $x_{l+1} = x_l + F(x_l)$")
    ax, accent = fig.axes[0], PALETTE[1]
    ax.text(2.5, 0.22, "identity", ha="center", va="center", fontsize=9, color="#333333")
    ax.text(2.5, -0.35, "$\\partial L/\\partial x_{l+1}$, unmultiplied", ha="center", va="center", fontsize=9, color=accent)
    ax.text(0.75, -1.05, "through $F$", ha="right", va="center", fontsize=9, color=accent)
    ax.text(2.5, -2.05, "weight layer, activation (on the bench: Dense + sigmoid)", ha="center", va="center", fontsize=9,
            color="#333333")
    ax.text(-0.45, -0.65, "$\\partial L/\\partial x_l$: the\ntwo paths add", ha="center", va="center", fontsize=9, color=accent)
    return fig
