"""Toy data sets for classification, generated here with `random` (no scikit-learn).

Every generator takes the number of points, the standard deviation of the
Gaussian noise added to each coordinate, and a seed; the same seed gives the
same points. Points come shuffled; labels are class indices 0, 1, ...
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from numbers import Real
from typing import NamedTuple

__all__ = [
    "Dataset",
    "make_blobs",
    "make_circles",
    "make_moons",
    "make_spiral",
    "make_xor",
    "signs",
    "train_test_split",
]


class Dataset(NamedTuple):
    """Points and their class labels; unpacks as `inputs, labels = dataset`."""

    inputs: list[list[float]]
    labels: list[int]


def _count(owner: str, n: object, least: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < least:
        raise ValueError(f"{owner}: n_samples must be an integer >= {least}, got {n!r}")
    return n


def _non_negative(owner: str, what: str, x: object) -> float:
    if isinstance(x, bool) or not isinstance(x, Real) or not 0.0 <= float(x) < math.inf:
        raise ValueError(f"{owner}: {what} must be a finite number >= 0, got {x!r}")
    return float(x)


def _finish(points: list[tuple[list[float], int]], noise: float, rng: random.Random) -> Dataset:
    rng.shuffle(points)  # before the noise, so a seed gives the same order at every noise level
    if noise:
        for point, _ in points:
            for d in range(len(point)):
                point[d] += rng.gauss(0.0, noise)
    return Dataset([p for p, _ in points], [label for _, label in points])


def _split_evenly(n: int, parts: int) -> list[int]:
    return [n // parts + (1 if k < n % parts else 0) for k in range(parts)]


def make_moons(n_samples: int = 100, noise: float = 0.0, seed: int | None = None) -> Dataset:
    """Two interleaving half circles: the upper one is class 0, the lower one class 1."""
    n = _count("make_moons", n_samples, 2)
    noise = _non_negative("make_moons", "noise", noise)
    rng = random.Random(seed)
    n_upper, n_lower = n - n // 2, n // 2
    points: list[tuple[list[float], int]] = []
    for k in range(n_upper):
        angle = math.pi * k / max(n_upper - 1, 1)
        points.append(([math.cos(angle), math.sin(angle)], 0))
    for k in range(n_lower):
        angle = math.pi * k / max(n_lower - 1, 1)
        points.append(([1.0 - math.cos(angle), 0.5 - math.sin(angle)], 1))
    return _finish(points, noise, rng)


def make_circles(
    n_samples: int = 100, noise: float = 0.0, factor: float = 0.5, seed: int | None = None
) -> Dataset:
    """A unit circle (class 0) around a smaller one of radius `factor` (class 1)."""
    n = _count("make_circles", n_samples, 2)
    noise = _non_negative("make_circles", "noise", noise)
    if isinstance(factor, bool) or not isinstance(factor, Real) or not 0.0 < factor < 1.0:
        raise ValueError(f"make_circles: factor must lie strictly between 0 and 1, got {factor!r}")
    rng = random.Random(seed)
    points: list[tuple[list[float], int]] = []
    for label, (count, radius) in enumerate(zip(_split_evenly(n, 2), (1.0, float(factor)), strict=True)):
        for k in range(count):
            angle = 2.0 * math.pi * k / count
            points.append(([radius * math.cos(angle), radius * math.sin(angle)], label))
    return _finish(points, noise, rng)


def make_xor(n_samples: int = 100, noise: float = 0.0, seed: int | None = None) -> Dataset:
    """Points uniform in [-1, 1]^2; class 1 where x and y have opposite signs (before noise)."""
    n = _count("make_xor", n_samples)
    noise = _non_negative("make_xor", "noise", noise)
    rng = random.Random(seed)
    points: list[tuple[list[float], int]] = []
    for _ in range(n):
        x, y = rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0)
        points.append(([x, y], int((x > 0.0) != (y > 0.0))))
    return _finish(points, noise, rng)


def make_spiral(
    n_samples: int = 300, classes: int = 3, noise: float = 0.0, turns: float = 1.0, seed: int | None = None
) -> Dataset:
    """`classes` arms winding out from the origin, one class per arm."""
    n = _count("make_spiral", n_samples, 1)
    noise = _non_negative("make_spiral", "noise", noise)
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 2:
        raise ValueError(f"make_spiral: classes must be an integer >= 2, got {classes!r}")
    if isinstance(turns, bool) or not isinstance(turns, Real) or not 0.0 < turns < math.inf:
        raise ValueError(f"make_spiral: turns must be a positive number, got {turns!r}")
    rng = random.Random(seed)
    points: list[tuple[list[float], int]] = []
    for label, count in enumerate(_split_evenly(n, classes)):
        for k in range(count):
            radius = k / max(count - 1, 1)
            angle = 2.0 * math.pi * (label / classes + turns * radius)
            points.append(([radius * math.cos(angle), radius * math.sin(angle)], label))
    return _finish(points, noise, rng)


def make_blobs(
    n_samples: int = 100,
    centers: int | Sequence[Sequence[float]] = 3,
    noise: float = 1.0,
    dims: int = 2,
    box: float = 10.0,
    seed: int | None = None,
) -> Dataset:
    """Gaussian clusters of standard deviation `noise`, one class per center.

    `centers` is a list of points or a count of centers drawn uniformly from
    [-box, box]^dims.
    """
    n = _count("make_blobs", n_samples)
    noise = _non_negative("make_blobs", "noise", noise)
    rng = random.Random(seed)
    if isinstance(centers, int) and not isinstance(centers, bool):
        if centers < 1:
            raise ValueError(f"make_blobs: centers must be at least 1, got {centers!r}")
        if isinstance(dims, bool) or not isinstance(dims, int) or dims < 1:
            raise ValueError(f"make_blobs: dims must be a positive integer, got {dims!r}")
        chosen = [[rng.uniform(-box, box) for _ in range(dims)] for _ in range(centers)]
    elif isinstance(centers, Sequence) and centers:
        chosen = [[float(c) for c in center] for center in centers]
        if any(len(c) != len(chosen[0]) or not c for c in chosen):
            raise ValueError(f"make_blobs: centers must all have the same, non-zero length, got {centers!r}")
        if not all(math.isfinite(c) for center in chosen for c in center):
            raise ValueError(f"make_blobs: centers must be finite, got {centers!r}")
    else:
        raise ValueError(f"make_blobs: centers must be a count or a list of points, got {centers!r}")
    points: list[tuple[list[float], int]] = []
    for label, count in enumerate(_split_evenly(n, len(chosen))):
        points.extend((list(chosen[label]), label) for _ in range(count))
    return _finish(points, noise, rng)


def signs(labels: Sequence[int]) -> list[float]:
    """0/1 labels as -1/+1, the labels hinge_loss expects."""
    out = []
    for y in labels:
        if y not in (0, 1):
            raise ValueError(f"signs: labels must be 0 or 1, got {y!r}")
        out.append(2.0 * y - 1.0)
    return out


def train_test_split(
    dataset: Dataset, test_fraction: float = 0.25, seed: int | None = None, shuffle: bool = True
) -> tuple[Dataset, Dataset]:
    """(train, test): a `test_fraction` share of the points (rounded up) held out for testing."""
    inputs, labels = dataset
    if len(inputs) != len(labels):
        raise ValueError(f"train_test_split: {len(inputs)} inputs but {len(labels)} labels")
    if (
        isinstance(test_fraction, bool)
        or not isinstance(test_fraction, Real)
        or not 0.0 < test_fraction < 1.0
    ):
        raise ValueError(
            f"train_test_split: test_fraction must lie strictly between 0 and 1, got {test_fraction!r}"
        )
    n = len(inputs)
    n_test = math.ceil(n * test_fraction)
    if not 0 < n_test < n:
        raise ValueError(
            f"train_test_split: cannot hold out {test_fraction!r} of {n} points and keep both parts"
        )
    order = list(range(n))
    if shuffle:
        random.Random(seed).shuffle(order)
    test, train = order[:n_test], order[n_test:]
    return (
        Dataset([list(inputs[i]) for i in train], [labels[i] for i in train]),
        Dataset([list(inputs[i]) for i in test], [labels[i] for i in test]),
    )
