"""Numerical gradient checks: backward() against central differences in float64."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Real

from .engine import Value, no_grad

__all__ = ["GradcheckError", "Mismatch", "gradcheck", "numerical_grad"]


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


def _as_float(x: float | Value) -> float:
    if isinstance(x, Value):
        return x.data
    if isinstance(x, Real):
        return float(x)
    raise TypeError(f"gradcheck: inputs must be numbers or Values, got {type(x).__name__} {x!r}")


def _evaluate(f: Callable[..., Value], point: Sequence[float]) -> float:
    out = f(*[Value(x) for x in point])
    return out.data if isinstance(out, Value) else float(out)
