"""The general backward pass (hooks, anomaly mode, grad(), create_graph) agrees with the fast one exactly."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from autograd import Value, detect_anomaly, topological_order
from autograd.functional import grad
from tests.strategies import NearKinkError, Step, programs, run_program

Program = tuple[list[float], list[Step]]
PER_GRAPH = settings(max_examples=max(30, settings().max_examples // 2))


def fast_gradients(program: Program, passes: int = 1) -> tuple[list[float], list[float]]:
    """Leaf and inner-node gradients after `passes` plain backward() calls."""
    inputs, steps = program
    leaves = [Value(x) for x in inputs]
    try:
        out = run_program(steps, leaves)
    except NearKinkError:
        assume(False)
    for _ in range(passes):
        out.backward()
    inner = [v.grad for v in topological_order(out) if not v.is_leaf]
    return [leaf.grad for leaf in leaves], inner


@PER_GRAPH
@given(programs(max_steps=8), st.data())
def test_hooks_that_change_nothing_change_nothing(program: Program, data: st.DataObject) -> None:
    expected_once, _ = fast_gradients(program)
    expected = fast_gradients(program, passes=2)
    inputs, steps = program
    leaves = [Value(x) for x in inputs]
    out = run_program(steps, leaves)
    nodes = topological_order(out)
    hooked = data.draw(st.lists(st.sampled_from(nodes), min_size=1, max_size=4), label="hooked")
    seen: list[float] = []
    handles = [v.register_hook(seen.append) for v in hooked]
    try:
        out.backward()
        once = [leaf.grad for leaf in leaves]
        out.backward()
    finally:
        for handle in handles:
            handle.remove()
    assert len(seen) == 2 * len(hooked)
    inner = [v.grad for v in nodes if not v.is_leaf]
    assert (once, inner) == (expected_once, expected[1])
    # A second pass adds its total to each leaf at once, where the fast path adds
    # path by path: the same sum, rounded in another order. When paths cancel, the
    # result can be far smaller than the terms, so the bound is absolute: terms are
    # below 1e4 here (run_program rejects larger values), rounding below ~1e-11.
    assert [leaf.grad for leaf in leaves] == pytest.approx(expected[0], rel=1e-12, abs=1e-10)


@PER_GRAPH
@given(programs(max_steps=8))
def test_anomaly_mode_on_finite_graphs_changes_nothing(program: Program) -> None:
    expected = fast_gradients(program)
    inputs, steps = program
    with detect_anomaly():
        leaves = [Value(x) for x in inputs]
        out = run_program(steps, leaves)
        out.backward()
    inner = [v.grad for v in topological_order(out) if not v.is_leaf]
    assert ([leaf.grad for leaf in leaves], inner) == expected


@PER_GRAPH
@given(programs(max_steps=8))
def test_grad_returns_what_backward_writes(program: Program) -> None:
    expected_leaves, _ = fast_gradients(program)
    inputs, steps = program
    leaves = [Value(x) for x in inputs]
    out = run_program(steps, leaves)
    assert grad(out, leaves) == expected_leaves
    assert [leaf.grad for leaf in leaves] == [0.0] * len(leaves)
