"""Tests for gradbook.plots: the matplotlib style, the Plotly trace helpers, the per-layer gradient-norm
bars and the evaluation figures (learning curves, confusion matrix, per-class accuracy, mistakes)."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import plotly.graph_objects as go
import pytest

from evaluation_example import LABELS, MISTAKES_BY_CONFIDENCE, NAMES, PREDICTED, PROBS, independent_confusion
from gradbook import conv, plots
from gradbook.descent import Quadratic, Rosenbrock, descend
from gradbook.evaluation import Evaluation


@pytest.fixture(autouse=True)
def restore_matplotlib():
    with mpl.rc_context():
        yield
    plt.close("all")


def test_palette_is_eight_distinct_hex_colours():
    assert len(plots.PALETTE) == 8 == len(set(plots.PALETTE))
    for colour in plots.PALETTE:
        assert colour.startswith("#") and len(colour) == 7
        int(colour[1:], 16)


def test_use_style_sets_rcparams():
    mpl.rcParams["axes.prop_cycle"] = mpl.cycler(color=["#123456"])
    mpl.rcParams["axes.spines.top"] = True
    plots.use_style()
    assert mpl.rcParams["axes.prop_cycle"].by_key()["color"] == list(plots.PALETTE)
    assert mpl.rcParams["axes.spines.top"] is False
    assert mpl.rcParams["axes.spines.right"] is False
    assert mpl.rcParams["axes.grid"] is True
    assert mpl.rcParams["svg.hashsalt"] == "gradbook"
    # A new line takes the first palette colour.
    fig, ax = plt.subplots()
    (line,) = ax.plot([0, 1], [0, 1])
    assert mpl.colors.to_hex(line.get_color()).lower() == plots.PALETTE[0].lower()


@pytest.mark.parametrize(
    "ncols, nrows, expected_size, n_axes",
    [(1, 1, (4.2, 3.6), 1), (2, 1, (8.4, 3.6), 2), (3, 1, (10.0, 3.6), 3), (2, 2, (8.4, 7.2), 4)],
)
def test_figure_size_and_axes(ncols, nrows, expected_size, n_axes):
    fig, axes = plots.figure(ncols=ncols, nrows=nrows)
    np.testing.assert_allclose(fig.get_size_inches(), expected_size)
    if n_axes == 1:
        assert isinstance(axes, mpl.axes.Axes)
    else:
        assert np.asarray(axes).size == n_axes
        assert np.asarray(axes).shape == ((ncols,) if nrows == 1 else (nrows, ncols))
    assert len(fig.axes) == n_axes
    # The figure was made in the book's style.
    assert mpl.rcParams["axes.prop_cycle"].by_key()["color"] == list(plots.PALETTE)


def test_figure_explicit_size():
    fig, axes = plots.figure(ncols=2, width=5.0, height=2.0)
    np.testing.assert_allclose(fig.get_size_inches(), (5.0, 2.0))
    assert len(axes) == 2


def test_layout_defaults_and_overrides():
    base = plots.layout()
    assert base["colorway"] == list(plots.PALETTE)
    assert base["template"] == "simple_white"
    merged = plots.layout(height=300, title={"text": "hi"})
    assert merged["height"] == 300
    assert merged["title"] == {"text": "hi"}
    assert merged["colorway"] == base["colorway"] and merged["margin"] == base["margin"]
    assert plots.layout()["height"] == base["height"]  # overrides do not leak into later calls
    fig = go.Figure(layout=merged)  # a valid Plotly layout
    assert fig.layout.height == 300


@pytest.mark.parametrize("surface", [Quadratic((1.0, 10.0), angle=0.3), Rosenbrock()])
def test_surface_contour_is_log10_of_one_plus_f_on_the_grid(surface):
    n = 25
    xlim, ylim = (-2.0, 2.0), (-1.0, 3.0)
    trace = plots.surface_contour(surface, xlim=xlim, ylim=ylim, n=n)
    assert isinstance(trace, go.Contour)
    z = np.asarray(trace.z)
    assert z.shape == (n, n)
    xs = np.linspace(*xlim, n)
    ys = np.linspace(*ylim, n)
    np.testing.assert_allclose(np.asarray(trace.x), xs, atol=5e-5)
    np.testing.assert_allclose(np.asarray(trace.y), ys, atol=5e-5)
    # Row i is y = ys[i], column j is x = xs[j] (Plotly's convention for z).
    expected = np.array([[np.log10(1.0 + float(surface.value(np.array([x, y])))) for x in xs] for y in ys])
    np.testing.assert_allclose(z, np.round(expected, 3), atol=1e-12)
    np.testing.assert_allclose(z, expected, atol=5e-4 + 1e-12)
    assert trace.showscale is False


def test_surface_contour_default_resolution():
    trace = plots.surface_contour(Quadratic(), xlim=(-1, 1), ylim=(-1, 1))
    assert np.asarray(trace.z).shape == (80, 80)


def test_trajectory_trace_follows_the_points():
    run = descend(Rosenbrock(), [-1.2, 1.0], learning_rate=1e-3, steps=50, optimizer="momentum")
    trace = plots.trajectory_trace(run, name="momentum", color="#123456")
    assert isinstance(trace, go.Scatter)
    assert trace.name == "momentum"
    np.testing.assert_allclose(np.asarray(trace.x), run.points[:, 0], atol=5e-6)
    np.testing.assert_allclose(np.asarray(trace.y), run.points[:, 1], atol=5e-6)
    assert len(trace.x) == len(run.points) == 51
    assert trace.line.color == "#123456" and trace.marker.color == "#123456"
    assert plots.trajectory_trace(run, name="x").line.color == plots.PALETTE[1]


def test_loss_curve_trace_keeps_five_significant_digits():
    x = np.arange(4)
    y = np.array([2.302585093, 0.000123456789, 123456.789, 1.0])
    trace = plots.loss_curve_trace(x, y, name="sgd", color="#000000", dash="dot")
    np.testing.assert_array_equal(np.asarray(trace.x), x)
    got = np.asarray(trace.y, dtype=float)
    np.testing.assert_allclose(got, [2.3026, 0.00012346, 123460.0, 1.0], rtol=1e-12)
    # Relative error of 5 significant digits, on any value.
    np.testing.assert_allclose(got, y, rtol=5e-5)
    assert trace.name == "sgd" and trace.line.dash == "dot" and trace.line.color == "#000000"
    assert trace.mode == "lines"


def test_loss_curve_trace_accepts_lists_and_nan():
    trace = plots.loss_curve_trace([1, 2], [0.5, float("nan")], name="a", color="#0072B2")
    got = np.asarray(trace.y, dtype=float)
    assert got[0] == 0.5 and np.isnan(got[1])


# --- Per-layer gradient norms -----------------------------------------------------------------------


def test_gradient_norm_bars_one_bar_per_layer_on_a_log_axis():
    norms = np.array([2e-12, 3e-6, 0.25])
    fig = plots.gradient_norm_bars({"at initialisation": norms}, layers=["hidden_1", "hidden_2", "logits"])
    (bar,) = fig.data
    assert isinstance(bar, go.Bar) and bar.name == "at initialisation"
    assert list(bar.x) == ["h1", "h2", "logits"]
    np.testing.assert_array_equal(np.asarray(bar.y), norms)
    assert bar.marker.color == plots.PALETTE[0]
    assert fig.layout.yaxis.type == "log"
    assert fig.layout.barmode is None and fig.layout.xaxis.title.text is None


def test_gradient_norm_bars_numbers_the_layers_and_titles_the_axes():
    fig = plots.gradient_norm_bars({"gradient norm": np.ones(4, dtype="float32")}, xlabel="layer", ylabel="norm")
    np.testing.assert_array_equal(np.asarray(fig.data[0].x), [1, 2, 3, 4])
    assert np.asarray(fig.data[0].y).dtype == np.float32     # the values are not converted
    assert fig.layout.xaxis.title.text == "layer" and fig.layout.yaxis.title.text == "norm"


def test_gradient_norm_bars_draws_zero_at_the_float32_floor_and_leaves_nan_out():
    fig = plots.gradient_norm_bars({"after training": [0.0, np.nan, 1e-3]})
    y = np.asarray(fig.data[0].y, dtype=float)
    assert y[0] == 1e-45 and np.isnan(y[1]) and y[2] == 1e-3


def test_gradient_norm_bars_groups_several_series_in_the_book_colours():
    fig = plots.gradient_norm_bars({"before": [1.0, 2.0], "after": [3.0, 4.0], "third": [5.0, 6.0]}, layers=["hidden_1", "logits"])
    assert [t.name for t in fig.data] == ["before", "after", "third"]
    assert [t.marker.color for t in fig.data] == [plots.PALETTE[0], plots.PALETTE[5], plots.PALETTE[1]]
    assert fig.layout.barmode == "group"


def test_gradient_norm_bars_draws_into_one_panel_of_a_figure():
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2)
    fig.add_trace(go.Scatter(x=[1, 2], y=[0.1, 0.2]), row=1, col=1)
    out = plots.gradient_norm_bars({"a": [1e-3, 1.0], "b": [1e-2, 0.5]}, layers=["hidden_1", "logits"], fig=fig, row=1, col=2)
    assert out is fig
    assert [t.xaxis for t in fig.data] == ["x", "x2", "x2"]
    assert fig.layout.yaxis2.type == "log" and fig.layout.yaxis.type is None


@pytest.mark.parametrize("kwargs, match", [
    ({"norms": {}}, "norms is empty"),
    ({"norms": {"a": [1.0, 2.0], "b": [1.0]}}, "one value per layer; got lengths a 2, b 1"),
    ({"norms": {"a": [1.0, 2.0]}, "layers": ["hidden_1"]}, "layers 1"),
    ({"norms": {"a": [1.0]}, "row": 1}, "both row and col"),
    ({"norms": {"a": [1.0]}, "row": 0, "col": 1}, "row must be a positive whole number"),
])
def test_gradient_norm_bars_rejects_what_it_cannot_draw(kwargs, match):
    with pytest.raises(ValueError, match=match):
        plots.gradient_norm_bars(**kwargs)


# --- Numbers for the prose ------------------------------------------------------------------------


@pytest.mark.parametrize("x, digits, text", [
    (2.34e-11, 1, r"$2.3 \times 10^{-11}$"),
    (5e11, 0, r"$5 \times 10^{11}$"),
    (-1.0, 2, r"$-1.00 \times 10^{0}$"),
    (9.96e-3, 1, r"$1.0 \times 10^{-2}$"),   # rounding carries into the exponent
])
def test_power_of_ten_writes_scientific_notation_as_markdown_math(x, digits, text):
    assert plots.power_of_ten(x, digits).data == text


@pytest.mark.parametrize("x, digits, match", [(float("nan"), 1, "finite"), (float("inf"), 1, "finite"), (1.0, -1, "digits"), (1.0, 1.5, "digits")])
def test_power_of_ten_rejects_what_it_cannot_write(x, digits, match):
    with pytest.raises(ValueError, match=match):
        plots.power_of_ten(x, digits)


# --- Evaluation figures ----------------------------------------------------------------------------


@pytest.fixture
def ev():
    return Evaluation(y_true=LABELS, probabilities=PROBS, class_names=NAMES)


# -- plots.learning_curves -----------------------------------------------------------------------
HISTORY = {
    "loss": [2.25, 1.5, 1.125, 0.875],
    "val_loss": [2.5, 1.75, 1.5, 1.625],
    "accuracy": [0.25, 0.5, 0.625, 0.75],
    "val_accuracy": [0.125, 0.375, 0.5, 0.5],
    "learning_rate": [0.001] * 4,
}


def test_learning_curves_traces_hold_the_history():
    fig = plots.learning_curves(HISTORY, title="run 1")
    assert len(fig.data) == 4  # learning_rate is not plotted
    by_panel = {(t.xaxis, t.name): t for t in fig.data}
    expected = {
        ("x", "train"): "loss",
        ("x", "validation"): "val_loss",
        ("x2", "train"): "accuracy",
        ("x2", "validation"): "val_accuracy",
    }
    assert set(by_panel) == set(expected)
    for key, metric in expected.items():
        trace = by_panel[key]
        assert list(trace.x) == [1, 2, 3, 4]
        assert list(trace.y) == HISTORY[metric]
    # The validation curves are dashed; the legend shows each name once.
    assert by_panel[("x", "validation")].line.dash == "dash"
    assert by_panel[("x", "train")].line.dash is None
    assert [t.showlegend for t in fig.data].count(True) == 2
    assert fig.layout.title.text == "run 1"
    titles = [a.text for a in fig.layout.annotations]
    assert "loss" in titles and "accuracy" in titles


def test_learning_curves_training_only_and_custom_names():
    fig = plots.learning_curves({"loss": [1.0, 0.5]}, names=("SGD", "Adam"))
    assert len(fig.data) == 1
    assert fig.data[0].name == "SGD"
    assert list(fig.data[0].y) == [1.0, 0.5]
    both = plots.learning_curves({"loss": [1.0], "val_loss": [2.0]}, names=("a", "b"))
    assert [t.name for t in both.data] == ["a", "b"]


def test_learning_curves_round_and_leave_gaps_for_non_finite():
    fig = plots.learning_curves({"loss": [1.234567891, float("nan"), float("inf"), 0.5]})
    assert list(fig.data[0].y) == [pytest.approx(1.2346, abs=1e-12), None, None, 0.5]


@pytest.mark.parametrize("history", [{}, {"loss": []}, {"accuracy": [0.5]}])
def test_learning_curves_rejects_empty_history(history):
    with pytest.raises(ValueError, match="loss"):
        plots.learning_curves(history)


# -- plots.confusion_figure and per_class_figure -------------------------------------------------
def test_confusion_figure_shows_the_counts(ev):
    fig = plots.confusion_figure(ev)
    (heat,) = fig.data
    np.testing.assert_array_equal(np.asarray(heat.text), ev.confusion)
    np.testing.assert_array_equal(np.asarray(heat.text), independent_confusion(LABELS, PREDICTED, 3))
    # Colour: share of each true class.
    np.testing.assert_allclose(np.asarray(heat.z, dtype=float), np.round(ev.confusion / ev.confusion.sum(axis=1, keepdims=True), 3))
    assert list(heat.x) == list(NAMES) and list(heat.y) == list(NAMES)
    assert fig.layout.yaxis.title.text == "true class"
    assert fig.layout.xaxis.title.text == "predicted class"


def test_confusion_figure_with_an_empty_class_has_no_nan():
    probs = np.array([[0.9, 0.1, 0.0], [0.3, 0.7, 0.0]])
    e = Evaluation(y_true=np.array([0, 0]), probabilities=probs, class_names=NAMES)
    heat = plots.confusion_figure(e, title="small").data[0]
    z = np.asarray(heat.z, dtype=float)
    assert np.all(np.isfinite(z))
    np.testing.assert_allclose(z, [[0.5, 0.5, 0.0], [0, 0, 0], [0, 0, 0]])


def test_per_class_figure_bars_are_per_class_accuracy(ev):
    fig = plots.per_class_figure(ev)
    (bar,) = fig.data
    assert bar.orientation == "h"
    assert list(bar.y) == list(NAMES)
    np.testing.assert_allclose(np.asarray(bar.x, dtype=float), ev.per_class_accuracy, atol=1e-3)
    assert list(bar.x) == [0.25, 0.5, 0.5]
    # The overall accuracy is marked.
    (line,) = fig.layout.shapes
    assert line.x0 == line.x1 == pytest.approx(ev.accuracy)
    assert any("37.5%" in a.text for a in fig.layout.annotations)


def test_per_class_figure_empty_class_is_a_gap():
    probs = np.array([[0.9, 0.1, 0.0], [0.2, 0.1, 0.7], [0.3, 0.3, 0.4]])
    e = Evaluation(y_true=np.array([0, 2, 0]), probabilities=probs, class_names=NAMES)
    bar = plots.per_class_figure(e).data[0]
    assert list(bar.x) == [0.5, None, 1.0]


# -- plots.mistakes_figure -----------------------------------------------------------------------
@pytest.fixture
def images():
    rng = np.random.default_rng(3)
    return rng.random((len(LABELS), 6, 6, 1)).astype(np.float32)


def _titled(fig):
    return [ax for ax in fig.axes if ax.get_title()]


def test_mistakes_figure_one_titled_image_per_mistake(ev, images):
    fig = plots.mistakes_figure(ev, images, k=4, ncols=3)
    try:
        titled = _titled(fig)
        assert len(fig.axes) == 6  # 2 rows of 3
        assert len(titled) == 4
        for ax, i in zip(titled, MISTAKES_BY_CONFIDENCE[:4]):
            title = ax.get_title()
            said, truth = NAMES[PREDICTED[i]], NAMES[LABELS[i]]
            assert f"said {said}" in title and f"is {truth}" in title
            assert f"{PROBS[i].max():.0%}" in title
            (shown,) = ax.images
            np.testing.assert_array_equal(np.asarray(shown.get_array()), images[i][..., 0])
    finally:
        plt.close(fig)


def test_mistakes_figure_k_larger_than_mistakes(ev, images):
    fig = plots.mistakes_figure(ev, images)  # k=12, 5 mistakes
    try:
        titles = [ax.get_title() for ax in _titled(fig)]
        assert len(titles) == 5
        assert titles[0].startswith("said dog 90%") and titles[0].endswith("is cat")
        assert titles[-1].startswith("said cat 50%") and titles[-1].endswith("is fox")
    finally:
        plt.close(fig)


def test_mistakes_figure_colour_images(ev):
    rgb = np.random.default_rng(0).random((len(LABELS), 5, 5, 3))
    fig = plots.mistakes_figure(ev, rgb, k=2, ncols=2)
    try:
        titled = _titled(fig)
        assert len(titled) == 2
        np.testing.assert_allclose(np.asarray(titled[0].images[0].get_array()), rgb[3])
    finally:
        plt.close(fig)


def test_mistakes_figure_without_mistakes_says_so(images):
    e = Evaluation(y_true=PREDICTED, probabilities=PROBS, class_names=NAMES)
    fig = plots.mistakes_figure(e, images)
    try:
        assert _titled(fig) == []
        assert any(t.get_text() == "no mistakes" for ax in fig.axes for t in ax.texts)
    finally:
        plt.close(fig)


def test_mistakes_figure_image_count_mismatch_raises(ev, images):
    with pytest.raises(ValueError, match="7 images for 8 evaluated examples"):
        plots.mistakes_figure(ev, images[:7])
    with pytest.raises(ValueError, match="k must be"):
        plots.mistakes_figure(ev, images, k=0)


def test_learning_curves_accepts_numpy_histories():
    history = {"loss": np.array([1.0, 0.5]), "val_loss": np.array([1.1, 0.7]), "accuracy": np.array([0.4, 0.6])}
    fig = plots.learning_curves(history)
    assert [list(t.y) for t in fig.data] == [[1.0, 0.5], [1.1, 0.7], [0.4, 0.6]]
    with pytest.raises(ValueError, match="no 'loss'"):
        plots.learning_curves({"loss": np.array([])})


# -- the convolution figure of chapter 2 (plots.convolution_figure) ------------------------------------------
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


@pytest.mark.parametrize("pool", [0, -2, 1.5, True])
def test_convolution_figure_refuses_a_pool_that_is_not_a_window(pool):
    with pytest.raises(ValueError, match="pool must be a positive whole number"):
        plots.convolution_figure(np.ones((8, 8)), conv.kernel("random", 3), pool=pool)


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


def test_plotly_bundle_does_not_embed_plotlyjs():
    fig = go.Figure([go.Scatter(y=[0, 1], name="a"), go.Scatter(y=[1, 0], name="b")])
    fig.update_layout(title={"text": "lr=0.1"})
    bundle = plots.plotly_bundle(fig)
    assert set(bundle) == {"application/vnd.plotly.v1+json", "text/plain"}
    payload = bundle["application/vnd.plotly.v1+json"]
    assert len(payload["data"]) == 2
    assert payload["config"]["displaylogo"] is False
    assert "lr=0.1" in bundle["text/plain"]
