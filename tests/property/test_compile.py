"""Compiled graphs equal eager mode bit for bit: every op, random graphs and MLPs, at new points."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from autograd import Value, trace
from tests.strategies import OP_CASES, NearKinkError, OpCase, Step, programs, reals, run_program


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def eager(f: Any, args: Sequence[float]) -> tuple[float, list[float]]:
    leaves = [Value(a) for a in args]
    out = f(*leaves)
    out.backward()
    return out.data, [v.grad for v in leaves]


@given(st.data())
def test_every_op_compiles_to_the_eager_numbers(data: st.DataObject) -> None:
    case: OpCase = data.draw(st.sampled_from(OP_CASES), label="op")
    traced_at = [data.draw(s, label="traced at") for s in case.args]
    called_at = [data.draw(s, label="called at") for s in case.args]
    fn = trace(case.apply, *traced_at)
    value, grads = fn(*called_at)
    eager_value, eager_grads = eager(case.apply, called_at)
    assert same(value, eager_value)
    assert all(same(a, b) for a, b in zip(grads, eager_grads, strict=True))


def program_function(steps: list[Step]) -> Any:
    return lambda *leaves: run_program(steps, leaves)


@given(programs(), st.data())
def test_random_graphs_compile_to_the_eager_numbers(
    program: tuple[list[float], list[Step]], data: Any
) -> None:
    inputs, steps = program
    called_at = data.draw(st.lists(reals(-2.0, 2.0), min_size=len(inputs), max_size=len(inputs)))
    f = program_function(steps)
    try:
        expected = eager(f, called_at)
        fn = trace(f, *inputs)
    except NearKinkError:
        assume(False)
    value, grads = fn(*called_at)
    assert same(value, expected[0])
    assert all(same(a, b) for a, b in zip(grads, expected[1], strict=True))
    assert fn.check(*called_at)


@st.composite
def mlps(draw: Any) -> tuple[Any, list[list[float]], list[float], str]:
    from nn import MLP  # here, not at the top: a broken nn must not hide the compiler's other tests

    nin = draw(st.integers(1, 3))
    widths = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    activation = draw(st.sampled_from(["relu", "tanh", "sigmoid", "linear"]))
    model = MLP(nin, [*widths, 1], activation=activation, seed=draw(st.integers(0, 2**16)))
    batch = draw(st.integers(1, 4))
    xs = [draw(st.lists(reals(-2.0, 2.0), min_size=nin, max_size=nin)) for _ in range(batch)]
    ys = [draw(st.sampled_from([-1.0, 1.0])) for _ in range(batch)]
    loss = draw(st.sampled_from(["hinge", "mse"]))
    return model, xs, ys, loss


@given(mlps(), st.floats(-1.0, 1.0))
def test_mlps_compile_to_the_eager_numbers(
    case: tuple[Any, list[list[float]], list[float], str], shift: float
) -> None:
    from nn import hinge_loss, l2_penalty, mse_loss

    model, xs, ys, loss_name = case
    params = model.parameters()
    loss = hinge_loss if loss_name == "hinge" else mse_loss

    def objective(batch: list[list[Value]]) -> Value:
        return loss([model(x) for x in batch], ys) + l2_penalty(params, 1e-3)

    fn = trace(objective, xs, params=params)
    for p in params:  # new weights and new inputs: the compiled code reads both
        p.data += shift
    moved = [[x + shift for x in row] for row in xs]
    for p in params:
        p.grad = 0.0
    value, (input_grads,) = fn(moved)
    compiled = [p.grad for p in params]

    for p in params:
        p.grad = 0.0
    leaves = [[Value(x) for x in row] for row in moved]
    out = objective(leaves)
    out.backward()
    assert same(value, out.data)
    assert all(same(a, p.grad) for a, p in zip(compiled, params, strict=True))
    assert input_grads == [[v.grad for v in row] for row in leaves]
