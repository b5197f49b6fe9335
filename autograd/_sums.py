"""Exactly rounded sums for the engine and the code the compiler generates."""

from __future__ import annotations

import math
from collections.abc import Sequence


def exact_sum(terms: Sequence[float]) -> float:
    """math.fsum(terms), the exactly rounded sum; inf or nan where + would give them.

    fsum raises where an exact sum does not exist (terms that overflow, inf
    plus -inf); an op's output is then what adding the terms in order gives.
    """
    try:
        return math.fsum(terms)
    except (OverflowError, ValueError):
        return sum(terms, 0.0)
