"""Tests for gradbook.evaluation and the evaluation plots of gradbook.plots (learning curves,
confusion matrix, per-class accuracy, most confident mistakes)."""

from __future__ import annotations

import collections
import math

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest

from gradbook import plots
from gradbook.evaluation import Evaluation, evaluate

NAMES = ("cat", "dog", "fox")

# Eight examples whose right answers are worked out by hand below.
PROBS = np.array(
    [
        [0.70, 0.20, 0.10],  # 0: true cat, said cat (right)
        [0.10, 0.80, 0.10],  # 1: true dog, said dog (right)
        [0.60, 0.30, 0.10],  # 2: true dog, said cat 60%
        [0.05, 0.90, 0.05],  # 3: true cat, said dog 90%
        [0.20, 0.20, 0.60],  # 4: true fox, said fox (right)
        [0.50, 0.40, 0.10],  # 5: true fox, said cat 50%
        [0.10, 0.15, 0.75],  # 6: true cat, said fox 75%
        [0.30, 0.60, 0.10],  # 7: true cat, said dog 60% (ties with example 2)
    ]
)
LABELS = np.array([0, 1, 1, 0, 2, 2, 0, 0])
PREDICTED = np.array([0, 1, 0, 1, 2, 0, 2, 1])
# Wrong ones by confidence: 3 (0.9), 6 (0.75), 2 and 7 (0.6, in index order), 5 (0.5).
MISTAKES_BY_CONFIDENCE = [3, 6, 2, 7, 5]


@pytest.fixture
def ev():
    return Evaluation(y_true=LABELS, probabilities=PROBS, class_names=NAMES)


def _independent_confusion(y_true, y_pred, k):
    counts = collections.Counter(zip(map(int, y_true), map(int, y_pred)))
    return np.array([[counts[(i, j)] for j in range(k)] for i in range(k)])


def _softmax64(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# -- Evaluation: the numbers -----------------------------------------------------------------------
def test_predictions_confidence_and_accuracy(ev):
    np.testing.assert_array_equal(ev.predictions, PREDICTED)
    np.testing.assert_allclose(ev.confidence, [0.7, 0.8, 0.6, 0.9, 0.6, 0.5, 0.75, 0.6])
    assert ev.accuracy == pytest.approx(3 / 8)
    assert isinstance(ev.accuracy, float)


def test_confusion_counts_true_rows_and_predicted_columns(ev):
    expected = np.array([[1, 2, 1], [1, 1, 0], [1, 0, 1]])
    np.testing.assert_array_equal(ev.confusion, expected)
    np.testing.assert_array_equal(ev.confusion, _independent_confusion(LABELS, PREDICTED, 3))
    assert ev.confusion.sum() == len(LABELS)
    np.testing.assert_array_equal(ev.confusion.sum(axis=1), np.bincount(LABELS, minlength=3))
    np.testing.assert_array_equal(ev.confusion.sum(axis=0), np.bincount(PREDICTED, minlength=3))


def test_per_class_accuracy_is_recall(ev):
    np.testing.assert_allclose(ev.per_class_accuracy, [1 / 4, 1 / 2, 1 / 2])


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_random_evaluations_agree_with_independent_counts(seed):
    rng = np.random.default_rng(seed)
    k, n = 5, 200
    probs = rng.dirichlet(np.full(k, 0.5), size=n)
    y = rng.integers(0, k, size=n)
    e = Evaluation(y_true=y, probabilities=probs, class_names=tuple("abcde"))
    pred = np.argmax(probs, axis=1)
    cm = _independent_confusion(y, pred, k)
    np.testing.assert_array_equal(e.confusion, cm)
    assert e.accuracy == pytest.approx(np.trace(cm) / n)
    np.testing.assert_allclose(e.per_class_accuracy, np.diag(cm) / cm.sum(axis=1))
    wrong = pred != y
    mistakes = e.confident_mistakes(n)
    assert sorted(mistakes.tolist()) == np.flatnonzero(wrong).tolist()
    conf = probs.max(axis=1)[mistakes]
    assert np.all(np.diff(conf) <= 0)  # most confident first


def test_per_class_accuracy_is_nan_for_a_class_without_examples():
    probs = np.array([[0.9, 0.05, 0.05, 0.0], [0.2, 0.7, 0.1, 0.0], [0.1, 0.1, 0.8, 0.0], [0.6, 0.3, 0.1, 0.0]])
    y = np.array([0, 1, 2, 1])  # no example of class "d"
    e = Evaluation(y_true=y, probabilities=probs, class_names=("a", "b", "c", "d"))
    acc = e.per_class_accuracy
    assert acc.shape == (4,)
    np.testing.assert_allclose(acc[:3], [1.0, 0.5, 1.0])
    assert math.isnan(acc[3])
    np.testing.assert_array_equal(e.confusion[3], [0, 0, 0, 0])
    assert e.accuracy == pytest.approx(3 / 4)


def test_confident_mistakes_most_confident_first(ev):
    assert ev.confident_mistakes(5).tolist() == MISTAKES_BY_CONFIDENCE
    assert ev.confident_mistakes(2).tolist() == MISTAKES_BY_CONFIDENCE[:2]
    assert ev.confident_mistakes(1).tolist() == [3]
    # Correct predictions are never listed, however confident.
    assert not set(ev.confident_mistakes(100).tolist()) & {0, 1, 4}
    # More asked for than there are mistakes: all of them.
    assert ev.confident_mistakes(100).tolist() == MISTAKES_BY_CONFIDENCE
    assert ev.confident_mistakes(np.int64(3)).tolist() == MISTAKES_BY_CONFIDENCE[:3]
    assert len(ev.confident_mistakes()) == 5  # default k=12


def test_confident_mistakes_when_all_are_right():
    e = Evaluation(y_true=np.array([0, 1]), probabilities=np.array([[0.9, 0.1], [0.2, 0.8]]), class_names=("a", "b"))
    assert e.accuracy == 1.0
    assert e.confident_mistakes(4).tolist() == []


@pytest.mark.parametrize("k", [0, -1, 1.5, True, "3", None])
def test_confident_mistakes_rejects_bad_k(ev, k):
    with pytest.raises(ValueError, match="k must be"):
        ev.confident_mistakes(k)


def test_most_confused(ev):
    assert ev.most_confused() == ("cat", "dog", 2)
    # Another pair becomes the most confused when it has more mistakes.
    probs = np.array([[0.1, 0.1, 0.8]] * 3 + [[0.1, 0.8, 0.1]])
    y = np.array([1, 1, 1, 0])
    e = Evaluation(y_true=y, probabilities=probs, class_names=NAMES)
    assert e.most_confused() == ("dog", "fox", 3)
    name_true, name_pred, count = e.most_confused()
    assert isinstance(count, int)


# -- Evaluation: validation ----------------------------------------------------------------------
def test_rows_that_are_not_probabilities_suggest_from_logits():
    with pytest.raises(ValueError, match="from_logits=True"):
        Evaluation(y_true=np.array([0]), probabilities=np.array([[0.5, 0.6, 0.1]]), class_names=NAMES)
    with pytest.raises(ValueError, match="from_logits"):  # logits
        Evaluation(y_true=np.array([0, 1]), probabilities=np.array([[2.0, -1.0, 0.5], [0.1, 3.0, -2.0]]), class_names=NAMES)
    with pytest.raises(ValueError, match="non-negative"):  # sums to 1 but has a negative entry
        Evaluation(y_true=np.array([0]), probabilities=np.array([[1.2, -0.2, 0.0]]), class_names=NAMES)


def test_float32_rounding_of_the_row_sums_is_accepted():
    probs = (PROBS * (1 + 1e-5)).astype(np.float32)  # rows sum to 1.00001
    e = Evaluation(y_true=LABELS, probabilities=probs, class_names=NAMES)
    assert e.accuracy == pytest.approx(3 / 8)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_probabilities_name_divergence(bad):
    probs = PROBS.copy()
    probs[4, 1] = bad
    with pytest.raises(ValueError, match="diverged") as info:
        Evaluation(y_true=LABELS, probabilities=probs, class_names=NAMES)
    assert "learning rate" in str(info.value)


def test_shape_mismatches_raise():
    with pytest.raises(ValueError, match=r"\(n, classes\)"):
        Evaluation(y_true=LABELS, probabilities=PROBS[:, 0], class_names=NAMES)  # 1-D probabilities
    with pytest.raises(ValueError, match=r"\(7,\)"):
        Evaluation(y_true=LABELS[:7], probabilities=PROBS, class_names=NAMES)  # fewer labels
    with pytest.raises(ValueError, match=r"\(n, classes\)"):
        Evaluation(y_true=LABELS[:, None], probabilities=PROBS, class_names=NAMES)  # 2-D labels
    with pytest.raises(ValueError, match="3 probability columns but 2 class names"):
        Evaluation(y_true=LABELS, probabilities=PROBS, class_names=("cat", "dog"))


@pytest.mark.parametrize("bad_label", [3, -1, 10])
def test_labels_out_of_range_raise(bad_label):
    y = LABELS.copy()
    y[2] = bad_label
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\]") as info:
        Evaluation(y_true=y, probabilities=PROBS, class_names=NAMES)
    assert str(bad_label) in str(info.value)


# -- evaluate(model, ...) ------------------------------------------------------------------------
def _linear_model(seed=0, *, softmax=False, scale=1.0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax" if softmax else None)])
    kernel, bias = model.get_weights()
    model.set_weights([kernel * scale, bias + np.array([0.1, -0.2, 0.3], dtype=np.float32)])
    return model


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=40)
    return x, y


def test_evaluate_applies_softmax_to_logits(inputs):
    x, y = inputs
    model = _linear_model()
    e = evaluate(model, x, y, class_names=NAMES)
    logits = model.predict(x, verbose=0)
    expected = _softmax64(logits)
    assert e.probabilities.shape == (40, 3)
    np.testing.assert_allclose(e.probabilities, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(e.predictions, np.argmax(logits, axis=1))
    np.testing.assert_array_equal(e.y_true, y)
    assert e.class_names == NAMES
    assert e.accuracy == pytest.approx(np.mean(np.argmax(logits, axis=1) == y))
    # The batch size changes nothing but speed.
    small = evaluate(model, x, y, class_names=list(NAMES), batch_size=7)
    np.testing.assert_allclose(small.probabilities, e.probabilities, rtol=1e-6)
    assert small.class_names == NAMES


def test_evaluate_is_stable_for_huge_logits(inputs):
    x, y = inputs
    model = _linear_model(scale=1e4)  # logits in the thousands: a naive exp overflows
    logits = model.predict(x, verbose=0)
    assert np.abs(logits).max() > 1000
    e = evaluate(model, x, y, class_names=NAMES)
    assert np.all(np.isfinite(e.probabilities))
    np.testing.assert_allclose(e.probabilities.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(e.predictions, np.argmax(logits, axis=1))


def test_evaluate_with_probabilities_from_a_softmax_model(inputs):
    x, y = inputs
    model = _linear_model(softmax=True)
    e = evaluate(model, x, y, class_names=NAMES, from_logits=False)
    np.testing.assert_allclose(e.probabilities, model.predict(x, verbose=0).astype(np.float64), rtol=1e-12)
    # Applying softmax again would flatten the probabilities: it must not happen.
    twice = evaluate(model, x, y, class_names=NAMES)
    assert np.max(np.abs(twice.probabilities - e.probabilities)) > 1e-3


def test_evaluate_logits_as_probabilities_hints_from_logits(inputs):
    x, y = inputs
    with pytest.raises(ValueError, match="from_logits=True"):
        evaluate(_linear_model(scale=5.0), x, y, class_names=NAMES, from_logits=False)


def test_evaluate_diverged_model_raises(inputs):
    x, y = inputs
    model = _linear_model()
    model.set_weights([np.full_like(w, np.nan) for w in model.get_weights()])
    with pytest.raises(ValueError, match="diverged"):
        evaluate(model, x, y, class_names=NAMES)


def test_evaluate_length_mismatch_raises(inputs):
    x, y = inputs
    with pytest.raises(ValueError, match="40 examples but y has 39"):
        evaluate(_linear_model(), x, y[:39], class_names=NAMES)


def test_evaluate_label_out_of_range_raises(inputs):
    x, y = inputs
    with pytest.raises(ValueError, match="labels must be"):
        evaluate(_linear_model(), x, np.where(y == 2, 3, y), class_names=NAMES)


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
    np.testing.assert_array_equal(np.asarray(heat.text), _independent_confusion(LABELS, PREDICTED, 3))
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


def test_most_confused_is_none_without_mistakes():
    e = Evaluation(y_true=np.array([0, 1]), probabilities=np.array([[0.9, 0.1], [0.2, 0.8]]), class_names=("a", "b"))
    assert e.most_confused() is None


def test_empty_evaluation_says_there_is_nothing_to_evaluate():
    with pytest.raises(ValueError, match="no examples"):
        Evaluation(y_true=np.array([], dtype=int), probabilities=np.zeros((0, 2)), class_names=("a", "b"))


def test_learning_curves_accepts_numpy_histories():
    history = {"loss": np.array([1.0, 0.5]), "val_loss": np.array([1.1, 0.7]), "accuracy": np.array([0.4, 0.6])}
    fig = plots.learning_curves(history)
    assert [list(t.y) for t in fig.data] == [[1.0, 0.5], [1.1, 0.7], [0.4, 0.6]]
    with pytest.raises(ValueError, match="no 'loss'"):
        plots.learning_curves({"loss": np.array([])})
