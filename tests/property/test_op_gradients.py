"""Every op, and random graphs of all ops, against central differences in float64."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from autograd import Value, gradcheck, topological_order
from autograd.gradcheck import numerical_grad
from tests.strategies import OP_CASES, NearKinkError, OpCase, Step, programs, run_program


@pytest.mark.parametrize("case", OP_CASES, ids=lambda c: c.name)
@given(data=st.data())
def test_op_gradient_matches_central_differences(case: OpCase, data: st.DataObject) -> None:
    point = [data.draw(arg, label=f"x{i}") for i, arg in enumerate(case.args)]
    assert gradcheck(case.apply, point)


@pytest.mark.parametrize("case", OP_CASES, ids=lambda c: c.name)
@given(data=st.data())
def test_op_local_grads_match_central_differences(case: OpCase, data: st.DataObject) -> None:
    # local_grads() gives d(out)/d(parent) per parent slot. For a leaf that feeds the
    # op only directly, its slots' local gradients add up to the partial derivative.
    point = [data.draw(arg, label=f"x{i}") for i, arg in enumerate(case.args)]
    leaves = [Value(x) for x in point]
    out = case.apply(*leaves)
    local = out.local_grads()
    assert len(local) == len(out.parents)
    used_indirectly = {id(v) for p in out.parents if not p.is_leaf for v in topological_order(p)}
    numeric = numerical_grad(case.apply, point)
    for leaf, slope in zip(leaves, numeric, strict=True):
        slots = [g for p, g in zip(out.parents, local, strict=True) if p is leaf]
        if slots and id(leaf) not in used_indirectly:
            assert sum(slots) == pytest.approx(slope, rel=1e-3, abs=1e-5)


@given(programs())
def test_random_graph_gradients_match_central_differences(program: tuple[list[float], list[Step]]) -> None:
    inputs, steps = program
    try:
        run_program(steps, [Value(x) for x in inputs])
    except NearKinkError:
        assume(False)

    def f(*leaves: Value) -> Value:
        return run_program(steps, leaves, checked=False)

    assert gradcheck(f, inputs, atol=1e-4, rtol=1e-3)


@given(programs(max_steps=6), st.integers(1, 3))
def test_gradients_sum_over_every_path(program: tuple[list[float], list[Step]], copies: int) -> None:
    # Using the same graph `copies` times in one output multiplies every gradient by `copies`.
    inputs, steps = program
    try:
        once_leaves = [Value(x) for x in inputs]
        run_program(steps, once_leaves).backward()
    except NearKinkError:
        assume(False)
    leaves = [Value(x) for x in inputs]
    out = run_program(steps, leaves)
    total = out
    for _ in range(copies - 1):
        total = total + out
    total.backward()
    for once, many in zip(once_leaves, leaves, strict=True):
        # Summed path by path in another order: terms below 1e4 round to within ~1e-11.
        assert many.grad == pytest.approx(copies * once.grad, rel=1e-12, abs=1e-10)
