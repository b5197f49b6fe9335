"""Hessians of functions whose second derivatives are known in closed form, to rel 1e-9."""

from __future__ import annotations

import itertools
import math

import pytest

from autograd import Value, hessian
from autograd.functional import grad_of

REL = 1e-9


def rosenbrock(x: Value, y: Value) -> Value:
    """(1 - x)^2 + 100 (y - x^2)^2, minimum 0 at (1, 1)."""
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


def rosenbrock_gradient(x: float, y: float) -> list[float]:
    return [-2.0 * (1.0 - x) - 400.0 * x * (y - x * x), 200.0 * (y - x * x)]


def rosenbrock_hessian(x: float, y: float) -> list[list[float]]:
    return [[2.0 - 400.0 * y + 1200.0 * x * x, -400.0 * x], [-400.0 * x, 200.0]]


@pytest.mark.parametrize(("x", "y"), [(1.0, 1.0), (-1.2, 1.0), (0.0, 0.0), (0.5, -0.3), (2.0, 3.5)])
def test_rosenbrock_hessian_matches_its_closed_form(x: float, y: float) -> None:
    assert grad_of(rosenbrock, None)(x, y) == pytest.approx(rosenbrock_gradient(x, y), rel=REL)
    hess = hessian(rosenbrock)(x, y)
    for row, want in zip(hess, rosenbrock_hessian(x, y), strict=True):
        assert row == pytest.approx(want, rel=REL)


def test_rosenbrock_hessian_at_the_minimum_exactly() -> None:
    # Every term is a small integer times a small integer: no rounding at all.
    assert hessian(rosenbrock)(1.0, 1.0) == [[802.0, -400.0], [-400.0, 200.0]]


def chained_rosenbrock(*xs: Value) -> Value:
    """sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2: a Hessian that is tridiagonal."""
    return Value.sum([100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2 for a, b in itertools.pairwise(xs)])


def chained_rosenbrock_hessian(xs: list[float]) -> list[list[float]]:
    n = len(xs)
    hess = [[0.0] * n for _ in range(n)]
    for i in range(n - 1):
        a, b = xs[i], xs[i + 1]
        hess[i][i] += 2.0 - 400.0 * (b - a * a) + 800.0 * a * a
        hess[i][i + 1] += -400.0 * a
        hess[i + 1][i] += -400.0 * a
        hess[i + 1][i + 1] += 200.0
    return hess


def test_chained_rosenbrock_hessian_is_tridiagonal_and_matches() -> None:
    xs = [-1.2, 1.0, 0.3, -0.7, 1.5]
    hess = hessian(chained_rosenbrock)(*xs)
    for row, want in zip(hess, chained_rosenbrock_hessian(xs), strict=True):
        assert row == pytest.approx(want, rel=REL, abs=0.0)


def test_exp_of_a_product() -> None:
    # f = e^(xy): f_xx = y^2 f, f_xy = (1 + xy) f, f_yy = x^2 f.
    x, y = 0.7, -1.3
    f = math.exp(x * y)
    hess = hessian(lambda a, b: (a * b).exp())(x, y)
    want = [[y * y * f, (1.0 + x * y) * f], [(1.0 + x * y) * f, x * x * f]]
    for row, expected in zip(hess, want, strict=True):
        assert row == pytest.approx(expected, rel=REL)


def test_sigmoid_second_and_third_derivatives() -> None:
    x = 0.8
    s = 1.0 / (1.0 + math.exp(-x))
    sigmoid = lambda v: v.sigmoid()  # noqa: E731
    assert grad_of(grad_of(sigmoid))(x) == pytest.approx(s * (1 - s) * (1 - 2 * s), rel=REL)
    third = s * (1 - s) * (1 - 6 * s + 6 * s * s)
    assert grad_of(grad_of(grad_of(sigmoid)))(x) == pytest.approx(third, rel=REL)


def cross_entropy(*scores: Value) -> Value:
    """Worked example 5: L = -log softmax(a)_3 for the one-hot target t = (0, 0, 1)."""
    top = max(s.data for s in scores)  # shifting every score leaves softmax unchanged
    exps = [(s - top).exp() for s in scores]
    return -((scores[-1] - top) - Value.sum(exps).log())


def test_softmax_cross_entropy_gradient_and_hessian() -> None:
    # dL/da = y - t (the worked example's numbers), and d2L/da2 = diag(y) - y y^T.
    scores = [0.3, 2.9, 4.0]
    y = [math.exp(a) / sum(math.exp(b) for b in scores) for a in scores]
    assert grad_of(cross_entropy, None)(*scores) == pytest.approx(
        [0.01821127, 0.24519181, -0.26340309], abs=5e-9
    )
    hess = hessian(cross_entropy)(*scores)
    for i, row in enumerate(hess):
        want = [(y[i] if i == j else 0.0) - y[i] * y[j] for j in range(3)]
        assert row == pytest.approx(want, rel=REL)
    # The rows of diag(y) - y y^T sum to zero: adding a constant to every score changes nothing.
    assert [sum(row) for row in hess] == pytest.approx([0.0, 0.0, 0.0], abs=1e-15)
