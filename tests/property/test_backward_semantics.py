"""A stateful test of backward / zero_grad / repeated backward / no_grad / detach.

The model keeps what every leaf's gradient must be: the number of backward()
calls since its last reset times the closed-form derivative.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from autograd import Value, no_grad, zero_grad
from tests.strategies import reals


def expression(a: Value, b: Value) -> tuple[Value, Value]:
    """f = a*b + sin(a) + b**2, and its inner node u = a*b."""
    u = a * b
    return u + a.sin() + b**2, u


def derivative(a: float, b: float) -> tuple[float, float]:
    return b + math.cos(a), a + 2.0 * b


class BackwardSemantics(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = Value(0.5, "a"), Value(-1.25, "b")
        self.expected = [0.0, 0.0]
        self.out: Value | None = None
        self.inner: Value | None = None

    @rule(a=reals(-3.0, 3.0), b=reals(-3.0, 3.0))
    def new_leaves(self, a: float, b: float) -> None:
        self.a, self.b = Value(a, "a"), Value(b, "b")
        self.expected = [0.0, 0.0]
        self.out = self.inner = None

    @rule()
    def build(self) -> None:
        self.out, self.inner = expression(self.a, self.b)

    @precondition(lambda self: self.out is not None)
    @rule(times=st.integers(1, 3))
    def backward(self, times: int) -> None:
        assert self.out is not None and self.inner is not None
        da, db = derivative(self.a.data, self.b.data)
        for _ in range(times):
            self.out.backward()
            self.expected[0] += da
            self.expected[1] += db
            # Inner nodes hold this pass's gradient however often backward ran.
            assert self.inner.grad == 1.0
            assert self.out.grad == 1.0

    @rule()
    def zero(self) -> None:
        zero_grad([self.a, self.b])
        self.expected = [0.0, 0.0]

    @rule()
    def zero_one(self) -> None:
        self.a.zero_grad()
        self.expected[0] = 0.0

    @rule()
    def compute_without_grad(self) -> None:
        with no_grad():
            quiet, _ = expression(self.a, self.b)
        assert quiet.is_leaf
        quiet.backward()  # a leaf: only its own gradient moves
        assert quiet.grad == 1.0

    @precondition(lambda self: self.out is not None)
    @rule()
    def backward_through_detached(self) -> None:
        assert self.out is not None
        cut = self.out.detach()
        (cut * 3.0).backward()
        assert cut.grad == 3.0

    @invariant()
    def leaf_gradients_match_the_model(self) -> None:
        assert self.a.grad == pytest.approx(self.expected[0], rel=1e-12, abs=1e-12)
        assert self.b.grad == pytest.approx(self.expected[1], rel=1e-12, abs=1e-12)


TestBackwardSemantics = BackwardSemantics.TestCase
