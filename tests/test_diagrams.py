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
    assert {f"$x^{{({c})}}$" for c in (1, 2, 3)} <= texts
    assert {f"$y^{{({o})}}$" for o in (1, 2)} <= texts
    assert {f"$\\star\\, w^{{({c},{o})}}$" for c in (1, 2, 3) for o in (1, 2)} <= texts   # x^(c) -> [⋆ w^(c,o)]
    arrows = [c for c in ax.get_children() if type(c).__name__ == "Annotation"]
    assert len(arrows) == 6 + 6 + 2          # input -> kernel, kernel -> sum, sum -> output
    plt.close(fig)



# -- chapter 3: backpropagation --------------------------------------------------------------------


# -- chapter 5: the fixes --------------------------------------------------------------------------

import numpy as np  # noqa: E402


def arrows_of(fig):
    arrows = [c for c in fig.axes[0].get_children() if type(c).__name__ == "Annotation"]
    return [a for a in arrows if a.arrow_patch.get_linestyle() == "-"], [a for a in arrows if a.arrow_patch.get_linestyle() != "-"]


def test_batch_norm_flow_shows_the_statistics_and_three_backward_paths_to_x():
    fig = diagrams.batch_norm_flow()
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert {"$x$", "$\\mu_B$", "$\\sigma_B^2$", "$\\hat x$", "$y$", "$L$", "direct", "via $\\mu_B$"} <= set(texts)
    forward, backward = arrows_of(fig)
    assert len(forward) == 9 and len(backward) == 7
    # Three dashed arrows end at x (drawn towards the box's centre, at (0, 0)): direct, via the mean, via the variance.
    assert sum(np.allclose(a.xy, (0, 0), atol=0.2) for a in backward) == 3
    plt.close(fig)


def test_residual_block_has_an_identity_arrow_round_f_and_a_gradient_path_that_skips_it():
    fig = diagrams.residual_block()
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert {"$x_l$", "$F$", "$+$", "$x_{l+1}$", "identity"} <= set(texts)
    assert "x_{l+1} = x_l + F(x_l)" in fig.axes[0].get_title()
    forward, backward = arrows_of(fig)
    assert len(forward) == 4 and len(backward) == 4
    # Backward arrows reaching x_l (centre (0, 0)): one from the addition directly, one through F.
    assert sum(np.allclose(a.xy, (0, 0), atol=0.2) for a in backward) == 2
    plt.close(fig)
