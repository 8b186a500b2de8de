"""Tests for gradbook.diagrams: boxes and arrows, and the book's diagrams."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from gradbook import diagrams  # noqa: E402
from gradbook.diagrams import Node  # noqa: E402
from gradbook.plots import PALETTE  # noqa: E402


def test_draw_writes_each_box_and_label_and_draws_backward_arrows_dashed_in_the_accent_colour():
    nodes = [Node("x", "$x$", (0, 0)), Node("f", "$f(x)$", (2, 0)), Node("L", "$L$", (4, 0))]
    fig = diagrams.draw(nodes, [("x", "f", "forward"), ("f", "L", "")], size=(5, 1.5),
                        backward=[("L", "f", r"$\partial L/\partial f$")], title="t")
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert {"$x$", "$f(x)$", "$L$", "forward", r"$\partial L/\partial f$"} <= set(texts)
    arrows = [c for c in ax.get_children() if type(c).__name__ == "Annotation"]
    assert len(arrows) == 3
    dashed = [a for a in arrows if a.arrow_patch.get_linestyle() != "-"]
    assert len(dashed) == 1 and matplotlib.colors.same_color(dashed[0].arrow_patch.get_edgecolor(), PALETTE[1])
    assert ax.get_title() == "t"
    plt.close(fig)


@pytest.mark.parametrize("edges, backward, match", [
    ([("x", "nope", "")], [], "'nope'"),
    ([], [("ghost", "x", "")], "'ghost'"),
])
def test_draw_names_an_unknown_box(edges, backward, match):
    with pytest.raises(ValueError, match=match):
        diagrams.draw([Node("x", "x", (0, 0))], edges, size=(2, 1), backward=backward)


def test_draw_refuses_two_boxes_with_one_key():
    with pytest.raises(ValueError, match="share the key 'x'"):
        diagrams.draw([Node("x", "a", (0, 0)), Node("x", "b", (1, 0))], [], size=(2, 1))


# -- chapter 2: convolution ------------------------------------------------------------------------
def test_multi_channel_convolution_joins_every_input_channel_to_every_output_through_its_own_kernel():
    fig = diagrams.multi_channel_convolution()
    ax = fig.axes[0]
    texts = {t.get_text() for t in ax.texts}
    assert {f"$x^{{({c})}}$" for c in (0, 1, 2)} <= texts          # numbered from 0, as in section 2.1
    assert {f"$y^{{({o})}}$" for o in (0, 1)} <= texts
    assert {f"$w^{{({c},{o})}}$" for c in (0, 1, 2) for o in (0, 1)} <= texts
    assert not any("(3" in t or "3)" in t for t in texts)
    arrows = [c for c in ax.get_children() if type(c).__name__ == "Annotation"]
    assert len(arrows) == 6 + 6 + 2          # input -> kernel, kernel -> sum, sum -> output
    plt.close(fig)


def test_multi_channel_convolution_puts_a_legible_star_just_left_of_each_kernel():
    fig = diagrams.multi_channel_convolution()
    ax = fig.axes[0]
    stars = [t for t in ax.texts if t.get_text() == "$\\star$"]
    kernels = [t for t in ax.texts if t.get_text().startswith("$w^")]
    assert len(stars) == len(kernels) == 6
    for kernel in kernels:                    # x^(c) -> [star w^(c,o)]: each kernel has its star on its row, to its left
        kx, ky = kernel.get_position()
        assert sum(1 for s in stars if s.get_position()[1] == ky and 0 < kx - s.get_position()[0] < 0.6) == 1
    assert min(s.get_fontsize() for s in stars) >= 1.5 * max(k.get_fontsize() for k in kernels)
    plt.close(fig)



# -- chapter 3: backpropagation --------------------------------------------------------------------
GRAPH_VALUES = {"x": 1.5, "y": -2.25, "z": 7.0, "w": 0.125, "xy": -3.375, "max": 7.0, "sum": 3.625, "f": 7.25}
GRAPH_GRADS = {"x": -4.5, "y": 3.0, "z": 2.0, "w": 0.0, "xy": 2.0, "max": 2.0, "sum": 2.0, "f": 1.0}


def _labels(fig, color):
    return [t for t in fig.axes[0].texts if t.get_text() and matplotlib.colors.same_color(t.get_color(), color)]


def test_computational_graph_writes_the_values_passed_on_forward_arrows_and_the_gradients_on_backward_ones():
    fig = diagrams.computational_graph(GRAPH_VALUES, GRAPH_GRADS)
    forward, backward = _labels(fig, "#333333"), _labels(fig, PALETTE[1])
    assert sorted(t.get_text() for t in forward) == sorted(f"{v:.3g}" for v in GRAPH_VALUES.values())
    assert sorted(t.get_text() for t in backward) == sorted(f"{v:.3g}" for v in GRAPH_GRADS.values())
    # Each number sits on its own arrow: x's value top left, w's gradient bottom left, f's value far right.
    by_text = {t.get_text(): t.get_position() for t in forward}
    assert by_text["1.5"][1] == max(y for _, y in by_text.values())
    assert by_text["7.25"][0] == max(x for x, _ in by_text.values())
    w_grad = [t.get_position() for t in backward if t.get_text() == "0"]
    assert len(w_grad) == 1 and w_grad[0][1] == min(t.get_position()[1] for t in backward)
    box_texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"$x$", "$y$", "$z$", "$w$", "max", "$+$", "$f$"} <= box_texts
    plt.close(fig)


def test_computational_graph_rounds_to_three_significant_digits():
    values = dict(GRAPH_VALUES, f=1 / 3)
    fig = diagrams.computational_graph(values, GRAPH_GRADS)
    assert "0.333" in {t.get_text() for t in _labels(fig, "#333333")}
    plt.close(fig)


def test_computational_graph_warns_nothing_in_the_books_style():
    import warnings

    from gradbook import plots

    with matplotlib.rc_context():
        plots.use_style()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fig = diagrams.computational_graph(GRAPH_VALUES, GRAPH_GRADS)
        assert matplotlib.rcParams["figure.constrained_layout.use"]     # the style's setting, restored
    plt.close(fig)


@pytest.mark.parametrize("values, grads, match", [
    ({k: v for k, v in GRAPH_VALUES.items() if k != "max"}, GRAPH_GRADS, r"values lacks \['max'\]"),
    (GRAPH_VALUES, dict(GRAPH_GRADS, x=float("nan")), r"grads must hold finite numbers; \['x'\]"),
    (dict(GRAPH_VALUES, y="3"), GRAPH_GRADS, r"values must hold finite numbers; \['y'\]"),
])
def test_computational_graph_refuses_missing_or_non_numeric_entries(values, grads, match):
    with pytest.raises(ValueError, match=match):
        diagrams.computational_graph(values, grads)


# -- chapter 5: the fixes --------------------------------------------------------------------------

import numpy as np  # noqa: E402


def arrows_of(fig):
    arrows = [c for c in fig.axes[0].get_children() if type(c).__name__ == "Annotation"]
    return [a for a in arrows if a.arrow_patch.get_linestyle() == "-"], [a for a in arrows if a.arrow_patch.get_linestyle() != "-"]


def test_batch_norm_flow_shows_the_statistics_and_three_backward_paths_to_x():
    fig = diagrams.batch_norm_flow()
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert {"$x$", "$\\mu_B$", "$\\sigma_B^2$", "$\\hat x$", "$y$", "$L$", "direct", "via $\\mu_B$",
            "via $\\sigma_B^2$"} <= set(texts)
    forward, backward = arrows_of(fig)
    assert len(forward) == 9 and len(backward) == 8
    # Three dashed arrows end at x (drawn towards the box's centre, at (0, 0)): direct, via the mean, via the variance.
    assert sum(np.allclose(a.xy, (0, 0), atol=0.2) for a in backward) == 3
    # One dashed arrow reaches gamma and beta (the box at (6, -1.5)), labelled with their gradients.
    assert sum(np.allclose(a.xy, (6, -1.5), atol=0.2) for a in backward) == 1
    assert any("\\partial\\gamma" in t and "\\partial\\beta" in t for t in texts)
    # The "via sigma_B^2" label sits beside the dashed arrow from sigma_B^2 (at (4, 1.4)) to x, not on it.
    fig.canvas.draw()
    label = next(t for t in fig.axes[0].texts if t.get_text() == "via $\\sigma_B^2$")
    box = label.get_window_extent()
    from_var = [a for a in backward if np.allclose(a.xy, (0, 0), atol=0.2) and np.allclose(a.xyann, (4, 1.4), atol=0.2)]
    assert len(from_var) == 1
    start, end = np.array(from_var[0].xyann), np.array(from_var[0].xy)
    points = fig.axes[0].transData.transform([start + f * (end - start) for f in np.linspace(0.2, 0.8, 61)])
    assert not any(box.contains(x, y) for x, y in points)
    plt.close(fig)


def test_residual_block_has_an_identity_arrow_round_f_and_a_gradient_path_that_skips_it():
    fig = diagrams.residual_block()
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert {"$x_l$", "$F$", "$+$", "$x_{l+1}$", "identity", "through $F$"} <= set(texts)
    assert any("weight layer, activation" in t for t in texts)
    assert "x_{l+1} = x_l + F(x_l)" in fig.axes[0].get_title()
    forward, backward = arrows_of(fig)
    assert len(forward) == 4 and len(backward) == 4
    # Backward arrows reaching x_l (centre (0, 0)): one from the addition directly, one through F.
    assert sum(np.allclose(a.xy, (0, 0), atol=0.2) for a in backward) == 2
    plt.close(fig)
