"""trace()'s budget: a graph past max_terms is refused at once, with its size and a pointer to trace_batch."""

from __future__ import annotations

import pytest

from autograd import CompileError, Value, dots_batch, enable_grad, is_grad_enabled, no_grad, trace
from autograd.compiler import TRACE_BUDGET, GraphTooLargeError
from autograd.grad_mode import GraphBudget, GraphBudgetError, recording


def chain(x: Value, steps: int, made: list[int]) -> Value:
    for _ in range(steps):
        x = x * 1.5 + 1.0  # two nodes of one input each: four terms
        made.append(1)
    return x


def test_a_graph_past_the_budget_is_refused_while_it_is_traced() -> None:
    made: list[int] = []
    with pytest.raises(GraphTooLargeError) as caught:
        trace(lambda x: chain(x, 1000, made), 1.0, max_terms=40)
    message = str(caught.value)
    assert "more than 40 terms" in message and "max_terms=40" in message
    assert "trace_batch" in message and "compile='batch'" in message
    assert len(made) < 15  # stopped at the budget, not after the whole function ran


def test_the_refusal_is_a_compile_error_and_a_memory_error() -> None:
    assert issubclass(GraphTooLargeError, CompileError)
    assert issubclass(GraphTooLargeError, MemoryError)
    assert TRACE_BUDGET == 300_000


def test_a_layer_too_big_for_the_budget_is_refused_before_it_is_multiplied_out() -> None:
    rows = [[Value(0.5) for _ in range(100)] for _ in range(100)]

    def layer(x: list[Value]) -> Value:
        return Value.sum(dots_batch(rows, [x] * 10)[0])

    with pytest.raises(GraphTooLargeError, match=r"nodes of a layer after node 0\)"):
        trace(layer, [1.0] * 100, max_terms=10_000)


def test_the_size_is_counted_again_before_generating() -> None:
    # What f records inside an enable_grad() of its own is not counted while it runs;
    # the traced graph's size is checked before any code is written.
    def f(x: Value) -> Value:
        with enable_grad():
            return chain(x, 30, [])

    with pytest.raises(GraphTooLargeError, match=r"has 121 terms \(61 nodes\)"):
        trace(f, 1.0, max_terms=120)
    fn = trace(f, 1.0, max_terms=121)
    assert fn(2.0)[0] == chain(Value(2.0), 30, []).data


def test_within_the_budget_or_without_one_the_trace_compiles() -> None:
    for budget in (100, None):
        fn = trace(lambda x: chain(x, 10, []), 1.0, max_terms=budget)
        value, (dx,) = fn(2.0)
        x = Value(2.0)
        out = chain(x, 10, [])
        out.backward()
        assert (value, dx) == (out.data, x.grad)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "100"])
def test_max_terms_must_be_a_positive_integer_or_none(bad: object) -> None:
    with pytest.raises(ValueError, match="max_terms must be a positive integer or None"):
        trace(lambda x: x * 2.0, 1.0, max_terms=bad)  # type: ignore[arg-type]


def test_recording_counts_nodes_and_terms_and_records() -> None:
    budget = GraphBudget(100)
    x = Value(1.0)
    with recording(budget):
        assert is_grad_enabled()
        y = x * x + 1.0
        with no_grad():
            z = y * 2.0  # not recorded, not counted
    assert y.parents and not z.parents
    assert (budget.nodes, budget.terms) == (2, 5)
    assert repr(recording(budget)) == "recording(GraphBudget(100))"
    with pytest.raises(GraphBudgetError), recording(GraphBudget(3)):
        x * x + 1.0


def test_fit_compile_true_on_a_wide_network_is_refused_at_once_with_a_pointer() -> None:
    from nn import MLP, SGD, fit, hinge_loss, make_moons, signs

    inputs, labels = make_moons(100, noise=0.1, seed=0)
    model = MLP(2, [64, 64, 1], seed=0)
    with pytest.raises(GraphTooLargeError, match="compile='batch'"):
        fit(model, inputs, signs(labels), loss=hinge_loss, optimizer=SGD(model.parameters()), compile=True)
