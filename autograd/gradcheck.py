"""Numerical gradient checks: backward() against central differences in float64."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Real

from .engine import Value, enable_grad, no_grad
from .functional import grad

__all__ = [
    "GradcheckError",
    "GradgradcheckError",
    "Mismatch",
    "SecondOrderMismatch",
    "gradcheck",
    "gradgradcheck",
    "numerical_grad",
    "numerical_hessian",
]


@dataclass(frozen=True)
class Mismatch:
    """One input whose backward() gradient disagrees with the numerical one."""

    index: int
    label: str
    analytic: float
    numerical: float

    def __str__(self) -> str:
        name = f" ({self.label})" if self.label else ""
        diff = abs(self.analytic - self.numerical)
        return (
            f"input {self.index}{name}: backward {self.analytic!r}, "
            f"central difference {self.numerical!r}, |difference| {diff:.3g}"
        )


class GradcheckError(AssertionError):
    """backward() and central differences disagree; `.mismatches` lists where."""

    def __init__(self, mismatches: Sequence[Mismatch]) -> None:
        self.mismatches = list(mismatches)
        lines = "\n  ".join(str(m) for m in self.mismatches)
        super().__init__(f"gradient check failed for {len(self.mismatches)} input(s):\n  {lines}")


def numerical_grad(f: Callable[..., Value], inputs: Sequence[float], eps: float = 1e-6) -> list[float]:
    """df/dx_i by central differences (f(x + eps) - f(x - eps)) / (2 eps), in float64."""
    point = [float(x) for x in inputs]
    grads = []
    with no_grad():
        for i, x in enumerate(point):
            point[i] = x + eps
            above = _evaluate(f, point)
            point[i] = x - eps
            below = _evaluate(f, point)
            point[i] = x
            grads.append((above - below) / (2.0 * eps))
    return grads


def gradcheck(
    f: Callable[..., Value],
    inputs: Sequence[float | Value],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> bool:
    """Check f's backward() gradients against central differences at `inputs`.

    `f` takes one Value per input and returns a Value. Each gradient must satisfy
    |backward - numerical| <= atol + rtol * |numerical|; otherwise a
    `GradcheckError` lists every input that does not. Returns True.
    """
    labels = [x.label if isinstance(x, Value) else "" for x in inputs]
    point = [_as_float(x) for x in inputs]
    leaves = [Value(x, label) for x, label in zip(point, labels, strict=True)]
    out = f(*leaves)
    if not isinstance(out, Value):
        raise TypeError(f"gradcheck: f must return a Value, got {type(out).__name__}")
    out.backward()
    numerical = numerical_grad(f, point, eps)
    mismatches = [
        Mismatch(i, leaf.label, float(leaf.grad), num)
        for i, (leaf, num) in enumerate(zip(leaves, numerical, strict=True))
        if not abs(float(leaf.grad) - num) <= atol + rtol * abs(num)
    ]
    if mismatches:
        raise GradcheckError(mismatches)
    return True


@dataclass(frozen=True)
class SecondOrderMismatch:
    """One second derivative d2f/(dx_row dx_column) that disagrees with the numerical one."""

    row: int
    column: int
    labels: tuple[str, str]
    analytic: float
    numerical: float

    def __str__(self) -> str:
        positions = (self.row, self.column)
        names = [
            f"{i} ({label})" if label else str(i) for i, label in zip(positions, self.labels, strict=True)
        ]
        diff = abs(self.analytic - self.numerical)
        return (
            f"d2f/(d input {names[0]} d input {names[1]}): backward of the gradient {self.analytic!r}, "
            f"central difference of gradients {self.numerical!r}, |difference| {diff:.3g}"
        )


class GradgradcheckError(AssertionError):
    """Second derivatives and central differences of gradients disagree; `.mismatches` lists where."""

    def __init__(self, mismatches: Sequence[SecondOrderMismatch]) -> None:
        self.mismatches = list(mismatches)
        lines = "\n  ".join(str(m) for m in self.mismatches)
        count = len(self.mismatches)
        entries = "entry" if count == 1 else "entries"
        super().__init__(f"second-derivative check failed for {count} Hessian {entries}:\n  {lines}")


def numerical_hessian(
    f: Callable[..., Value], inputs: Sequence[float], eps: float = 1e-6
) -> list[list[float]]:
    """H[i][j] by central differences of the first derivatives (computed by backward) along x_j."""
    point = [float(x) for x in inputs]
    columns = []
    for j, x in enumerate(point):
        point[j] = x + eps
        above = _first_derivatives(f, point)
        point[j] = x - eps
        below = _first_derivatives(f, point)
        point[j] = x
        columns.append([(a - b) / (2.0 * eps) for a, b in zip(above, below, strict=True)])
    return [[columns[j][i] for j in range(len(point))] for i in range(len(point))]


def gradgradcheck(
    f: Callable[..., Value],
    inputs: Sequence[float | Value],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> bool:
    """Check f's second derivatives, backward through its gradient graph, against central differences.

    The second-order twin of `gradcheck`: it differentiates the gradients that
    `create_graph=True` builds (so it tests each op's local-gradient rule as a
    differentiable expression) and compares every entry of the Hessian with
    central differences of the first derivatives. Each must satisfy
    |analytic - numerical| <= atol + rtol * |numerical|; otherwise a
    `GradgradcheckError` lists every entry that does not. Returns True.
    """
    labels = [x.label if isinstance(x, Value) else "" for x in inputs]
    point = [_as_float(x) for x in inputs]
    with enable_grad():
        leaves = [Value(x, label) for x, label in zip(point, labels, strict=True)]
        out = f(*leaves)
        if not isinstance(out, Value):
            raise TypeError(f"gradgradcheck: f must return a Value, got {type(out).__name__}")
        first = grad(out, leaves, create_graph=True)
        analytic = [[float(d) for d in grad(g, leaves)] for g in first]
    numerical = numerical_hessian(f, point, eps)
    mismatches = [
        SecondOrderMismatch(i, j, (labels[i], labels[j]), analytic[i][j], numerical[i][j])
        for i in range(len(point))
        for j in range(len(point))
        if not abs(analytic[i][j] - numerical[i][j]) <= atol + rtol * abs(numerical[i][j])
    ]
    if mismatches:
        raise GradgradcheckError(mismatches)
    return True


def _first_derivatives(f: Callable[..., Value], point: Sequence[float]) -> list[float]:
    with enable_grad():
        leaves = [Value(x) for x in point]
        out = f(*leaves)
        if not isinstance(out, Value):  # a constant at this point: no gradient
            return [0.0] * len(leaves)
        return [float(d) for d in grad(out, leaves)]


def _as_float(x: float | Value) -> float:
    if isinstance(x, Value):
        return x.data
    if isinstance(x, Real):
        return float(x)
    raise TypeError(f"gradcheck: inputs must be numbers or Values, got {type(x).__name__} {x!r}")


def _evaluate(f: Callable[..., Value], point: Sequence[float]) -> float:
    out = f(*[Value(x) for x in point])
    return out.data if isinstance(out, Value) else float(out)
