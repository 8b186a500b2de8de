"""What a trained classifier gets right and wrong: accuracy, confusion, per-class accuracy and
its most confident mistakes.

:func:`evaluate` runs a trained Keras model on a test set; :class:`Evaluation` holds the result,
and can be built directly from predicted probabilities:

>>> import numpy as np
>>> ev = Evaluation(y_true=np.array([0, 1, 1]),
...                 probabilities=np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]]),
...                 class_names=("cat", "dog"))
>>> round(ev.accuracy, 3), ev.per_class_accuracy.tolist()
(0.667, [1.0, 0.5])
>>> ev.confusion.tolist()      # rows: true class, columns: predicted class
[[1, 0], [1, 1]]
>>> ev.confident_mistakes(1).tolist()   # the dog taken for a cat with probability 0.7
[2]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from gradbook.backprop import softmax
from gradbook.validation import check_whole

__all__ = ["Evaluation", "evaluate"]


@dataclass(frozen=True)
class Evaluation:
    """A classifier's predictions on labelled examples.

    Attributes
    ----------
    y_true : numpy.ndarray
        Integer labels, shape ``(n,)``.
    probabilities : numpy.ndarray
        Predicted class probabilities, shape ``(n, classes)``; rows sum to 1.
    class_names : tuple of str
    """

    y_true: np.ndarray = field(repr=False)
    probabilities: np.ndarray = field(repr=False)
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        y, p = np.asarray(self.y_true), np.asarray(self.probabilities)
        if y.size == 0:
            raise ValueError("Nothing to evaluate: there are no examples.")
        if p.ndim != 2 or y.shape != (p.shape[0],):
            raise ValueError(f"probabilities must be (n, classes) and y_true (n,); got {p.shape} and {y.shape}.")
        if p.shape[1] != len(self.class_names):
            raise ValueError(f"{p.shape[1]} probability columns but {len(self.class_names)} class names.")
        if len(y) and (y.min() < 0 or y.max() >= p.shape[1]):
            raise ValueError(f"labels must be in [0, {p.shape[1] - 1}], got {y.min()}..{y.max()}.")
        if not np.all(np.isfinite(p)):
            raise ValueError("The predicted probabilities contain NaN or infinity: the model diverged; retrain it with a smaller learning rate.")
        if not np.allclose(p.sum(axis=1), 1.0, atol=1e-3) or p.min() < 0:
            raise ValueError("Rows of probabilities must be non-negative and sum to 1; pass from_logits=True for a model that outputs logits.")

    @property
    def predictions(self) -> np.ndarray:
        """The most probable class of each example."""
        return np.argmax(self.probabilities, axis=1)

    @property
    def confidence(self) -> np.ndarray:
        """The probability of the predicted class."""
        return np.max(self.probabilities, axis=1)

    @property
    def accuracy(self) -> float:
        """Share of examples whose predicted class is the label."""
        return float(np.mean(self.predictions == self.y_true))

    @property
    def confusion(self) -> np.ndarray:
        """``confusion[i, j]``: how many examples of class ``i`` were predicted as ``j``
        (scikit-learn's :func:`~sklearn.metrics.confusion_matrix`)."""
        from sklearn.metrics import confusion_matrix

        return confusion_matrix(self.y_true, self.predictions, labels=np.arange(len(self.class_names)))

    @property
    def per_class_accuracy(self) -> np.ndarray:
        """For each class, the share of its examples predicted correctly (its recall); NaN for
        a class with no examples."""
        cm = self.confusion
        totals = cm.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(totals > 0, np.diag(cm) / np.maximum(totals, 1), np.nan)

    def confident_mistakes(self, k: int = 12) -> np.ndarray:
        """Indices of the ``k`` wrong predictions made with the highest confidence, most
        confident first (fewer when there are fewer mistakes)."""
        k = check_whole(k, "k")
        wrong = np.flatnonzero(self.predictions != self.y_true)
        order = np.argsort(-self.confidence[wrong], kind="stable")
        return wrong[order][:k]

    def most_confused(self) -> tuple[str, str, int] | None:
        """The (true class, predicted class, count) most often confused; ``None`` when there
        are no mistakes."""
        cm = self.confusion.copy()
        np.fill_diagonal(cm, 0)
        if not cm.any():
            return None
        i, j = np.unravel_index(np.argmax(cm), cm.shape)
        return self.class_names[i], self.class_names[j], int(cm[i, j])


def evaluate(
    model,
    x: np.ndarray,
    y: np.ndarray,
    *,
    class_names: Sequence[str],
    from_logits: bool = True,
    batch_size: int = 1000,
) -> Evaluation:
    """Predict ``x`` with ``model`` and compare with the labels ``y``.

    Parameters
    ----------
    model : keras.Model
    x, y : numpy.ndarray
        Images and integer labels.
    class_names : sequence of str
    from_logits : bool, default True
        Whether the model outputs logits (the book's models) or probabilities (a softmax output).
    batch_size : int, default 1000

    Returns
    -------
    Evaluation

    Raises
    ------
    ValueError
        If ``x`` and ``y`` differ in length, or the outputs are not finite or (with
        ``from_logits=False``) not probabilities.
    """
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)}.")
    outputs = np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype="float64")
    if from_logits:
        outputs = softmax(outputs, axis=1)
    return Evaluation(y_true=np.asarray(y), probabilities=outputs, class_names=tuple(class_names))
