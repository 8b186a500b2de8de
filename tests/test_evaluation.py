"""Tests for gradbook.evaluation: accuracy, confusion, per-class accuracy and the most confident
mistakes of a classifier (the figures drawn from them are tested in test_plots.py)."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from evaluation_example import LABELS, MISTAKES_BY_CONFIDENCE, NAMES, PREDICTED, PROBS, independent_confusion
from gradbook.evaluation import Evaluation, evaluate

@pytest.fixture
def ev():
    return Evaluation(y_true=LABELS, probabilities=PROBS, class_names=NAMES)


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
    np.testing.assert_array_equal(ev.confusion, independent_confusion(LABELS, PREDICTED, 3))
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
    cm = independent_confusion(y, pred, k)
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


def test_most_confused_is_none_without_mistakes():
    e = Evaluation(y_true=np.array([0, 1]), probabilities=np.array([[0.9, 0.1], [0.2, 0.8]]), class_names=("a", "b"))
    assert e.most_confused() is None


def test_empty_evaluation_says_there_is_nothing_to_evaluate():
    with pytest.raises(ValueError, match="no examples"):
        Evaluation(y_true=np.array([], dtype=int), probabilities=np.zeros((0, 2)), class_names=("a", "b"))
