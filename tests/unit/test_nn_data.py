"""Toy data sets: sizes, classes, geometry without noise, seeds, and the train/test split."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from nn import Dataset, make_blobs, make_circles, make_moons, make_spiral, make_xor, signs, train_test_split


def test_moons_without_noise_lie_on_two_half_circles() -> None:
    inputs, labels = make_moons(101, seed=0)
    assert len(inputs) == 101 and Counter(labels) == {0: 51, 1: 50}
    for (x, y), label in zip(inputs, labels, strict=True):
        if label == 0:
            assert math.hypot(x, y) == pytest.approx(1.0) and y >= -1e-12
        else:
            assert math.hypot(x - 1.0, y - 0.5) == pytest.approx(1.0) and y <= 0.5 + 1e-12


def test_noise_moves_points_by_about_its_standard_deviation() -> None:
    clean = make_moons(2000, seed=3)
    noisy = make_moons(2000, noise=0.1, seed=3)
    assert clean.labels == noisy.labels  # same seed, same shuffle
    offsets = [
        a - b for p, q in zip(noisy.inputs, clean.inputs, strict=True) for a, b in zip(p, q, strict=True)
    ]
    spread = math.sqrt(sum(d * d for d in offsets) / len(offsets))
    assert spread == pytest.approx(0.1, rel=0.05)


def test_seeds_make_data_reproducible() -> None:
    for make in (make_moons, make_circles, make_xor, make_spiral, make_blobs):
        assert make(50, noise=0.2, seed=1) == make(50, noise=0.2, seed=1)
        assert make(50, noise=0.2, seed=1) != make(50, noise=0.2, seed=2)


def test_circles() -> None:
    inputs, labels = make_circles(40, factor=0.3, seed=0)
    radii = {
        label: {round(math.hypot(*p), 9) for p, lab in zip(inputs, labels, strict=True) if lab == label}
        for label in (0, 1)
    }
    assert radii == {0: {1.0}, 1: {0.3}}


def test_xor_labels_follow_the_quadrants() -> None:
    inputs, labels = make_xor(200, seed=0)
    assert all(label == int((x > 0) != (y > 0)) for (x, y), label in zip(inputs, labels, strict=True))
    assert 70 < sum(labels) < 130


def test_spiral_has_one_arm_per_class() -> None:
    inputs, labels = make_spiral(90, classes=3, seed=0)
    assert Counter(labels) == {0: 30, 1: 30, 2: 30}
    assert max(math.hypot(*p) for p in inputs) == pytest.approx(1.0)


def test_blobs_around_given_centers() -> None:
    inputs, labels = make_blobs(3000, centers=[[5.0, 5.0], [-5.0, 0.0]], noise=0.5, seed=0)
    for label, center in enumerate(([5.0, 5.0], [-5.0, 0.0])):
        points = [p for p, lab in zip(inputs, labels, strict=True) if lab == label]
        mean = [sum(p[d] for p in points) / len(points) for d in range(2)]
        assert mean == [pytest.approx(c, abs=0.05) for c in center]
    drawn = make_blobs(10, centers=4, dims=3, seed=0)
    assert all(len(p) == 3 for p in drawn.inputs) and set(drawn.labels) <= {0, 1, 2, 3}


def test_signs() -> None:
    assert signs([0, 1, 1]) == [-1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="signs: labels must be 0 or 1, got 2"):
        signs([0, 2])


def test_train_test_split_partitions_the_points() -> None:
    data = make_moons(100, noise=0.1, seed=0)
    train, test = train_test_split(data, test_fraction=0.2, seed=4)
    assert (len(train.inputs), len(test.inputs)) == (80, 20)
    pairs = sorted(
        map(
            tuple,
            (
                [*p, lab]
                for p, lab in zip(train.inputs + test.inputs, train.labels + test.labels, strict=True)
            ),
        )
    )
    assert pairs == sorted(map(tuple, ([*p, lab] for p, lab in zip(data.inputs, data.labels, strict=True))))
    assert train_test_split(data, 0.2, seed=4) == (train, test)
    unshuffled_train, unshuffled_test = train_test_split(data, 0.25, shuffle=False)
    assert unshuffled_test.inputs == data.inputs[:25] and isinstance(unshuffled_train, Dataset)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: make_moons(1), r"make_moons: n_samples must be an integer >= 2, got 1"),
        (lambda: make_moons(10, noise=-0.1), r"make_moons: noise must be a finite number >= 0, got -0.1"),
        (
            lambda: make_circles(10, factor=1.5),
            r"make_circles: factor must lie strictly between 0 and 1, got 1.5",
        ),
        (lambda: make_spiral(10, classes=1), r"make_spiral: classes must be an integer >= 2, got 1"),
        (lambda: make_blobs(10, centers=[[0.0], [1.0, 2.0]]), r"make_blobs: centers must all have the same"),
        (lambda: make_xor(2.5), r"make_xor: n_samples must be an integer >= 1, got 2.5"),  # type: ignore[arg-type]
        (lambda: train_test_split(make_moons(4), 1.0), r"test_fraction must lie strictly between 0 and 1"),
        (lambda: train_test_split(make_moons(2), 0.9), r"cannot hold out 0.9 of 2 points"),
    ],
)
def test_bad_arguments(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]
