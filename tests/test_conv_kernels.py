"""Named kernels and the convolution figure used by chapter 2's exploration."""

import numpy as np
import plotly.graph_objects as go
import pytest

from gradbook import conv, plots


@pytest.mark.parametrize("size", [2, 3, 4, 5, 7])
def test_kernel_sums_and_shapes(size):
    assert conv.kernel("blur", size).shape == (size, size)
    np.testing.assert_allclose(conv.kernel("blur", size).sum(), 1.0)
    np.testing.assert_allclose(conv.kernel("edge", size).sum(), 0.0)
    np.testing.assert_allclose(conv.kernel("sharpen", size).sum(), 1.0)
    # A flat image: edge gives 0, blur and sharpen give the image back.
    flat = np.full((1, 9, 9, 1), 0.3)
    for name, expected in (("edge", 0.0), ("blur", 0.3), ("sharpen", 0.3)):
        out = conv.conv2d(flat, conv.kernel(name, size)[:, :, None, None])
        np.testing.assert_allclose(out, expected, atol=1e-12)


def test_edge_kernel_responds_to_an_edge():
    step = np.zeros((1, 8, 8, 1))
    step[:, :, 4:, :] = 1.0
    out = conv.conv2d(step, conv.kernel("edge", 3)[:, :, None, None])[0, :, :, 0]
    # Zero away from the edge, non-zero next to it.
    assert np.all(out[:, 0] == 0) and np.all(out[:, -1] == 0)
    assert np.all(out[:, 2] != 0) and np.all(out[:, 3] != 0)


def test_random_kernel_is_seeded():
    np.testing.assert_array_equal(conv.kernel("random", 4, seed=1), conv.kernel("random", 4, seed=1))
    assert not np.array_equal(conv.kernel("random", 4, seed=1), conv.kernel("random", 4, seed=2))


@pytest.mark.parametrize(
    "args, match",
    [(("gaussian", 3), "edge, blur, sharpen, random"), (("blur", 0), "size"), (("edge", 1), "size >= 2"),
     (("sharpen", 1), "size >= 2"), (("blur", 2.0), "size"), (("blur", True), "size")],
)
def test_kernel_errors(args, match):
    with pytest.raises(ValueError, match=match):
        conv.kernel(*args)


@pytest.mark.parametrize("stride, padding, pool", [(1, "valid", 1), (2, "same", 2), (3, "valid", 2), (1, "same", 3)])
def test_convolution_figure_shows_the_computed_maps(stride, padding, pool):
    rng = np.random.default_rng(0)
    image = rng.random((20, 17))
    k = conv.kernel("random", 3)
    fig = plots.convolution_figure(image, k, stride=stride, padding=padding, pool=pool, title="t")
    assert isinstance(fig, go.Figure) and fig.layout.title.text == "t"
    heatmaps = [t for t in fig.data if isinstance(t, go.Heatmap)]
    assert [h.name for h in heatmaps] == ["input", "kernel", "feature map", "pooled"]
    fmap = conv.conv2d(image[None, :, :, None], k[:, :, None, None], stride=stride, padding=padding)[0, :, :, 0]
    pooled = conv.max_pool2d(fmap[None, :, :, None], pool)[0, :, :, 0] if pool > 1 else fmap
    np.testing.assert_allclose(np.asarray(heatmaps[0].z), image, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(heatmaps[2].z), fmap, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(heatmaps[3].z), pooled, rtol=1e-5, atol=1e-6)
    # The panel titles state the shapes.
    texts = [a.text for a in fig.layout.annotations]
    assert f"{fmap.shape[0]} x {fmap.shape[1]}" in texts[2] and f"{pooled.shape[0]} x {pooled.shape[1]}" in texts[3]


def test_convolution_figure_traces_the_receptive_field():
    """The outlined input region is exactly the set of pixels the traced pooled cell depends on."""
    rng = np.random.default_rng(1)
    image = rng.random((16, 16))
    k = conv.kernel("random", 3) + 5.0  # no zero weights: every input in a window matters
    stride, padding, pool = 2, "same", 2
    fig = plots.convolution_figure(image, k, stride=stride, padding=padding, pool=pool)
    box = next(t for t in fig.data if t.name == "receptive field")
    left, right = min(box.x) + 0.5, max(box.x) - 0.5
    top, bottom = min(box.y) + 0.5, max(box.y) - 0.5

    def traced(img):
        f = conv.conv2d(img[None, :, :, None], k[:, :, None, None], stride=stride, padding=padding)
        # Average pooling keeps every input's influence visible (max pooling could hide it).
        p = conv.avg_pool2d(f, pool)[0, :, :, 0]
        return p[p.shape[0] // 2, p.shape[1] // 2]

    base = traced(image)
    for r in range(16):
        for c in range(16):
            bumped = image.copy()
            bumped[r, c] += 1.0
            inside = top <= r <= bottom and left <= c <= right
            assert (traced(bumped) != base) == inside, (r, c)
