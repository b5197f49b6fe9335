"""Second derivatives of every op, and of random graphs, against central differences of first derivatives."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from autograd import Value, gradgradcheck, hessian
from autograd.functional import grad
from autograd.gradcheck import numerical_hessian
from tests.strategies import OP_CASES, NearKinkError, OpCase, Step, programs, run_program

# Each example runs n + 1 backward passes and 2n first-order ones. An eighth of
# the profile's examples per op (33 ops, two tests each) and half for the
# random graphs keep the whole file to about ten seconds under `ci`.
PER_OP = settings(max_examples=max(15, settings().max_examples // 8))
PER_GRAPH = settings(max_examples=max(30, settings().max_examples // 2))


@pytest.mark.parametrize("case", OP_CASES, ids=lambda c: c.name)
@PER_OP
@given(data=st.data())
def test_op_second_derivatives_match_central_differences(case: OpCase, data: st.DataObject) -> None:
    point = [data.draw(arg, label=f"x{i}") for i, arg in enumerate(case.args)]
    assert gradgradcheck(case.apply, point)


@pytest.mark.parametrize("case", OP_CASES, ids=lambda c: c.name)
@PER_OP
@given(data=st.data())
def test_op_hessian_is_symmetric(case: OpCase, data: st.DataObject) -> None:
    point = [data.draw(arg, label=f"x{i}") for i, arg in enumerate(case.args)]
    hess = hessian(case.apply)(*point)
    for i, row in enumerate(hess):
        for j, entry in enumerate(row):
            assert entry == pytest.approx(hess[j][i], rel=1e-12, abs=1e-12)


def _checked_program(program: tuple[list[float], list[Step]]) -> tuple[list[float], list[Step]]:
    # Central differences step each input by 1e-6 either way: stay clear of kinks there too.
    inputs, steps = program
    nudged = [list(inputs)]
    for i in range(len(inputs)):
        for step in (-1e-5, 1e-5):
            point = list(inputs)
            point[i] += step
            nudged.append(point)
    try:
        for point in nudged:
            run_program(steps, [Value(x) for x in point])
    except NearKinkError:
        assume(False)
    return inputs, steps


@PER_GRAPH
@given(programs(max_steps=8))
def test_random_graph_second_derivatives_match_central_differences(
    program: tuple[list[float], list[Step]],
) -> None:
    inputs, steps = _checked_program(program)

    def f(*leaves: Value) -> Value:
        return run_program(steps, leaves, checked=False)

    # Very steep spots make central differences themselves unreliable.
    assume(all(abs(h) < 1e6 for row in numerical_hessian(f, inputs) for h in row))
    assert gradgradcheck(f, inputs, atol=1e-4, rtol=1e-3)


@PER_GRAPH
@given(programs(max_steps=8))
def test_create_graph_first_derivatives_equal_float_ones_exactly(
    program: tuple[list[float], list[Step]],
) -> None:
    # The gradient graph computes the same float operations in the same order.
    inputs, steps = _checked_program(program)
    float_leaves = [Value(x) for x in inputs]
    run_program(steps, float_leaves).backward()
    graph_leaves = [Value(x) for x in inputs]
    run_program(steps, graph_leaves).backward(create_graph=True)
    assert [float(leaf.grad) for leaf in graph_leaves] == [leaf.grad for leaf in float_leaves]


@PER_GRAPH
@given(programs(max_steps=6))
def test_backward_twice_equals_grad_twice(program: tuple[list[float], list[Step]]) -> None:
    # Two routes to a Hessian row: .grad after backward(create_graph=True), and grad().
    inputs, steps = _checked_program(program)
    leaves = [Value(x) for x in inputs]
    out = run_program(steps, leaves)
    first = grad(out, leaves, create_graph=True)
    rows = [grad(g, leaves) for g in first]
    out.backward(create_graph=True)
    derivatives = [leaf.grad for leaf in leaves]
    for i, derivative in enumerate(derivatives):
        for other in leaves:
            other.zero_grad()
        if isinstance(derivative, Value):
            derivative.backward()
        else:  # the output does not depend on this leaf: nothing to differentiate
            assert derivative == 0.0
        assert [other.grad for other in leaves] == pytest.approx(rows[i], rel=1e-12, abs=1e-12)
