"""Argument checks shared by the gradbook modules."""

from __future__ import annotations

import numpy as np


def is_whole(value, minimum: int = 1, *, numpy: bool = True) -> bool:
    """True for a whole number at least ``minimum``; booleans do not count as numbers.

    ``numpy=False`` accepts only Python ``int`` (not NumPy integers).
    """
    types = (int, np.integer) if numpy else int
    return not isinstance(value, bool) and isinstance(value, types) and value >= minimum
