"""Graphs hold no reference cycles: reference counting alone frees them, which `gc_paused` relies on."""

from __future__ import annotations

import weakref
from collections.abc import Callable

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from autograd import Value, gc_paused, topological_order
from nn import (
    ACTIVATIONS,
    MLP,
    binary_cross_entropy,
    hinge_loss,
    l2_penalty,
    mse_loss,
    softmax_cross_entropy,
)
from tests.strategies import OP_CASES, NearKinkError, OpCase, Step, programs, run_program


def inner_nodes_left_alive(build: Callable[[], Value]) -> list[Value]:
    """Build a graph and run backward with the collector paused, drop the graph, and list what lives on."""
    with gc_paused():  # so that only reference counting can free anything
        out = build()
        out.backward()
        probes = [weakref.ref(v) for v in topological_order(out) if not v.is_leaf]
        del out
        alive = [p() for p in probes]
        return [v for v in alive if v is not None]


@pytest.mark.parametrize("case", OP_CASES, ids=lambda c: c.name)
@given(data=st.data())
def test_every_op_graph_is_freed_by_reference_counting(case: OpCase, data: st.DataObject) -> None:
    point = [data.draw(arg, label=f"x{i}") for i, arg in enumerate(case.args)]
    leaves = [Value(x) for x in point]
    assert inner_nodes_left_alive(lambda: case.apply(*leaves) * 2.0 + 1.0) == []


@given(programs())
def test_random_graphs_are_freed_by_reference_counting(program: tuple[list[float], list[Step]]) -> None:
    inputs, steps = program
    leaves = [Value(x) for x in inputs]
    try:
        run_program(steps, leaves)
    except NearKinkError:
        assume(False)
    assert inner_nodes_left_alive(lambda: run_program(steps, leaves)) == []


LOSSES: dict[str, tuple[Callable[[object, object], Value], Callable[[int], float]]] = {
    "hinge": (hinge_loss, lambda k: 1.0 if k % 2 else -1.0),
    "binary cross-entropy": (binary_cross_entropy, lambda k: float(k % 2)),
    "mse": (mse_loss, lambda k: 0.5 * k),
}


@given(
    activation=st.sampled_from(ACTIVATIONS),
    fused=st.booleans(),
    loss=st.sampled_from(sorted(LOSSES)),
    points=st.lists(st.lists(st.floats(-2.0, 2.0), min_size=2, max_size=2), min_size=1, max_size=5),
    seed=st.integers(0, 2**16),
)
def test_a_training_step_graph_is_freed_by_reference_counting(
    activation: str, fused: bool, loss: str, points: list[list[float]], seed: int
) -> None:
    model = MLP(2, [3, 3, 1], activation=activation, fused=fused, seed=seed)
    parameters = model.parameters()
    loss_fn, target = LOSSES[loss]
    targets = [target(k) for k in range(len(points))]

    def step() -> Value:
        return loss_fn(model.forward_batch(points), targets) + l2_penalty(parameters, 1e-4)

    assert inner_nodes_left_alive(step) == []


@given(seed=st.integers(0, 2**16), points=st.integers(1, 5))
def test_a_softmax_step_graph_is_freed_by_reference_counting(seed: int, points: int) -> None:
    model = MLP(2, [4, 3], seed=seed)
    inputs = [[0.3 * k, -0.2 * k] for k in range(points)]
    classes = [k % 3 for k in range(points)]
    assert inner_nodes_left_alive(lambda: softmax_cross_entropy(model.forward_batch(inputs), classes)) == []
