"""trace_batch equals eager mode example by example, to rounding: random graphs and MLPs with every loss."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from autograd import Value, trace_batch
from tests.strategies import NearKinkError, Step, programs, reals, run_program


def close(ours: float, eager: float, scale: float) -> bool:
    """Equal up to rounding: 1e-12 relative to the result or to `scale`, the size of what was summed.

    The compiled code adds in another order than eager mode (matrix products,
    numpy's sums) and numpy's exp or sin may differ from math's in the last
    bit; both are rounding errors of the terms, hence the scale.
    """
    return abs(ours - eager) <= 1e-12 * max(abs(ours), abs(eager), scale)


@given(programs(), st.data())
def test_random_graphs_over_a_batch_equal_eager_mode(
    program: tuple[list[float], list[Step]], data: Any
) -> None:
    inputs, steps = program
    n_params = data.draw(st.integers(0, len(inputs) - 1), label="inputs that are parameters")
    n_args = len(inputs) - n_params
    params = [Value(x) for x in inputs[n_args:]]
    size = data.draw(st.integers(1, 4), label="batch size")
    batch = [data.draw(st.lists(reals(-2.0, 2.0), min_size=n_args, max_size=n_args)) for _ in range(size)]
    reduction = data.draw(st.sampled_from(["mean", "sum"]), label="reduction")

    def per_example(x: list[Value]) -> Value:
        return run_program(steps, [*x, *params])

    # eager, example by example; the largest value any node takes sizes the rounding
    weight = 1.0 / size if reduction == "mean" else 1.0
    value, input_grads, scale = 0.0, [], 1.0
    try:
        for row in batch:
            leaves = [Value(x) for x in row]
            out = per_example(leaves)
            (out * weight).backward()
            value += out.data * weight
            input_grads.append([v.grad for v in leaves])
            scale = max(scale, max(abs(v.data) for v in [out, *leaves, *params]))
        param_grads = [p.grad for p in params]
        for p in params:
            p.grad = 0.0
        fn = trace_batch(per_example, inputs[:n_args], params=params, reduction=reduction)
    except NearKinkError:
        assume(False)
    compiled_value, (compiled_grads,) = fn(batch)
    scale = max(scale, *(abs(g) for row in input_grads for g in row), *(abs(g) for g in param_grads), 1.0)
    assert close(compiled_value, value, scale)
    for ours, theirs in zip(np.asarray(compiled_grads).ravel(), np.ravel(input_grads), strict=True):
        assert close(float(ours), float(theirs), scale)
    for p, theirs in zip(params, param_grads, strict=True):
        assert close(p.grad, theirs, scale)


# each loss by its name in nn
LOSSES = {
    "hinge": "hinge_loss",
    "mse": "mse_loss",
    "binary_cross_entropy": "binary_cross_entropy",
    "softmax_cross_entropy": "softmax_cross_entropy",
}


def loss_named(name: str) -> Callable[[Any, Any], Value]:
    import nn  # here, not at the top: a broken nn must not hide the compiler's other tests

    loss: Callable[[Any, Any], Value] = getattr(nn, LOSSES[name])
    return loss


@st.composite
def mlp_cases(draw: Any) -> tuple[Any, str, list[list[float]], list[Any]]:
    from nn import MLP

    loss = draw(st.sampled_from(sorted(LOSSES)))
    nin = draw(st.integers(1, 3))
    widths = draw(st.lists(st.integers(1, 6), min_size=0, max_size=2))
    outputs = draw(st.integers(2, 4)) if loss in ("softmax_cross_entropy", "mse") else 1
    activation = draw(st.sampled_from(["relu", "tanh", "sigmoid", "linear"]))
    model = MLP(nin, [*widths, outputs], activation=activation, seed=draw(st.integers(0, 2**16)))
    size = draw(st.integers(1, 6))
    xs = [draw(st.lists(reals(-2.0, 2.0), min_size=nin, max_size=nin)) for _ in range(size)]
    targets: list[Any]
    if loss == "hinge":
        targets = [draw(st.sampled_from([-1.0, 1.0])) for _ in range(size)]
    elif loss == "binary_cross_entropy":
        targets = [draw(reals(0.0, 1.0)) for _ in range(size)]
    elif loss == "softmax_cross_entropy":
        classes = draw(st.lists(st.integers(0, outputs - 1), min_size=size, max_size=size))
        targets = [[1.0 if c == k else 0.0 for c in range(outputs)] for k in classes]
    else:
        targets = [draw(st.lists(reals(-1.0, 1.0), min_size=outputs, max_size=outputs)) for _ in range(size)]
    return model, loss, xs, targets


def as_targets(targets: Sequence[Any]) -> list[Any]:
    return [list(t) if isinstance(t, list) else t for t in targets]


@given(mlp_cases())
def test_an_mlp_loss_averaged_over_a_batch_equals_the_batch_loss(case: tuple[Any, str, Any, Any]) -> None:
    # The mean over examples of (loss of one example + L2) is the batch's loss + L2: fit relies on it.
    from nn import l2_penalty

    model, loss_name, xs, targets = case
    loss = loss_named(loss_name)
    params = model.parameters()

    def per_example(x: list[Value], target: Any) -> Value:
        return loss([model(x)], [target]) + l2_penalty(params, 1e-3)

    fn = trace_batch(per_example, xs[0], targets[0], params=params, input_grads=False)
    value, grads = fn(xs, targets)
    compiled = [p.grad for p in params]
    for p in params:
        p.grad = 0.0
    out = loss([model(x) for x in xs], as_targets(targets)) + l2_penalty(params, 1e-3)
    out.backward()
    scale = max(1.0, *(abs(p.data) for p in params))
    assert grads is None
    assert close(value, out.data, scale)
    for ours, p in zip(compiled, params, strict=True):
        assert close(ours, p.grad, scale)
