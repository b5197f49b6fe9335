"""Numerical gradient checks: backward() and forward mode against central differences in float64.

`modes` says which derivatives are checked, as in JAX's `check_grads`:
"rev" (backward passes) and "fwd" (forward passes, forward.py), in the order
given; the first mode that disagrees raises.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Real

from .engine import Value, enable_grad, no_grad
from .forward import pushforward
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


Modes = Sequence[str]
MODES = ("rev", "fwd")


@dataclass(frozen=True)
class Mismatch:
    """One input whose gradient (by backward(), or by forward mode) disagrees with the numerical one."""

    index: int
    label: str
    analytic: float
    numerical: float
    mode: str = "rev"

    def __str__(self) -> str:
        name = f" ({self.label})" if self.label else ""
        diff = abs(self.analytic - self.numerical)
        how = "backward" if self.mode == "rev" else "forward"
        return (
            f"input {self.index}{name}: {how} {self.analytic!r}, "
            f"central difference {self.numerical!r}, |difference| {diff:.3g}"
        )


class GradcheckError(AssertionError):
    """Gradients and central differences disagree; `.mismatches` lists where."""

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
    modes: Modes = MODES,
) -> bool:
    """Check f's gradients, by backward() and by forward mode, against central differences at `inputs`.

    `f` takes one Value per input and returns a Value. For each mode of `modes`
    ("rev": one backward() pass; "fwd": a forward pass per input), each
    derivative must satisfy |analytic - numerical| <= atol + rtol * |numerical|;
    otherwise a `GradcheckError` lists every input of that mode that does not.
    Returns True.
    """
    checked = _modes("gradcheck", modes)
    labels = [x.label if isinstance(x, Value) else "" for x in inputs]
    point = [_as_float(x) for x in inputs]
    leaves = [Value(x, label) for x, label in zip(point, labels, strict=True)]
    with enable_grad():  # the graph is needed, inside a no_grad() too
        out = f(*leaves)
    if not isinstance(out, Value):
        raise TypeError(f"gradcheck: f must return a Value, got {type(out).__name__}")
    numerical = numerical_grad(f, point, eps)
    for mode in checked:
        if mode == "rev":
            for leaf in leaves:
                leaf.grad = 0.0  # a mode named twice checks the same gradients twice
            out.backward()
            analytic = [float(leaf.grad) for leaf in leaves]
        else:
            push = pushforward(out, leaves)
            analytic = [float(push(_basis(i, len(leaves)))) for i in range(len(leaves))]
        mismatches = [
            Mismatch(i, leaf.label, a, num, mode)
            for i, (leaf, a, num) in enumerate(zip(leaves, analytic, numerical, strict=True))
            if not abs(a - num) <= atol + rtol * abs(num)
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
    mode: str = "rev"

    def __str__(self) -> str:
        positions = (self.row, self.column)
        names = [
            f"{i} ({label})" if label else str(i) for i, label in zip(positions, self.labels, strict=True)
        ]
        diff = abs(self.analytic - self.numerical)
        how = "backward of the gradient" if self.mode == "rev" else "forward of the tangent"
        return (
            f"d2f/(d input {names[0]} d input {names[1]}): {how} {self.analytic!r}, "
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
    modes: Modes = MODES,
) -> bool:
    """Check f's second derivatives, differentiating its derivative graphs, against central differences.

    The second-order twin of `gradcheck`: "rev" differentiates backward the
    gradients that `create_graph=True` builds, "fwd" differentiates forward
    the tangents that forward mode builds as graphs (forward over forward, as
    JAX checks it), so each op's local-gradient rule is tested as a
    differentiable expression both ways. Every entry of the Hessian is
    compared with central differences of the first derivatives and must
    satisfy |analytic - numerical| <= atol + rtol * |numerical|; otherwise a
    `GradgradcheckError` lists every entry of that mode that does not.
    Returns True.
    """
    checked = _modes("gradgradcheck", modes)
    labels = [x.label if isinstance(x, Value) else "" for x in inputs]
    point = [_as_float(x) for x in inputs]
    n = len(point)
    with enable_grad():
        leaves = [Value(x, label) for x, label in zip(point, labels, strict=True)]
        out = f(*leaves)
        if not isinstance(out, Value):
            raise TypeError(f"gradgradcheck: f must return a Value, got {type(out).__name__}")
    numerical = numerical_hessian(f, point, eps)
    for mode in checked:
        with enable_grad():
            if mode == "rev":
                first = grad(out, leaves, create_graph=True)
                analytic = [[float(d) for d in grad(g, leaves)] for g in first]
            else:
                push = pushforward(out, leaves, create_graph=True)
                tangents = [push(_basis(i, n)) for i in range(n)]
                analytic = [[float(pushforward(t, leaves)(_basis(j, n))) for j in range(n)] for t in tangents]
        mismatches = [
            SecondOrderMismatch(i, j, (labels[i], labels[j]), analytic[i][j], numerical[i][j], mode)
            for i in range(n)
            for j in range(n)
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


def _modes(name: str, modes: Modes) -> list[str]:
    checked = [modes] if isinstance(modes, str) else list(modes)
    for mode in checked:
        if mode not in MODES:
            raise ValueError(f"{name}: unknown mode {mode!r}; modes are 'rev' and 'fwd'")
    if not checked:
        raise ValueError(f"{name}: modes is empty, nothing to check")
    return checked


def _basis(i: int, n: int) -> list[float]:
    # The tangent that moves input i alone.
    return [float(i == j) for j in range(n)]


def _as_float(x: float | Value) -> float:
    if isinstance(x, Value):
        return x.data
    if isinstance(x, Real):
        return float(x)
    raise TypeError(f"gradcheck: inputs must be numbers or Values, got {type(x).__name__} {x!r}")


def _evaluate(f: Callable[..., Value], point: Sequence[float]) -> float:
    out = f(*[Value(x) for x in point])
    return out.data if isinstance(out, Value) else float(out)
