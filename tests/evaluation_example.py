"""The worked example the evaluation and plot tests share: eight predictions over three classes,
whose right answers are worked out by hand, and an independent count of a confusion matrix."""

from __future__ import annotations

import collections

import numpy as np

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


def independent_confusion(y_true, y_pred, k):
    """confusion[i, j] counted with a Counter, independently of scikit-learn."""
    counts = collections.Counter(zip(map(int, y_true), map(int, y_pred)))
    return np.array([[counts[(i, j)] for j in range(k)] for i in range(k)])
