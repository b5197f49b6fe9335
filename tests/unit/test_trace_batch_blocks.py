"""trace_batch with parameter blocks: a layer's params as one array in and one gradient out; float32."""

from __future__ import annotations

import re
from typing import Any

import pytest

np = pytest.importorskip("numpy")

from autograd import Value, trace_batch  # noqa: E402 (after the numpy check)
from autograd.blocks import BlockValue  # noqa: E402
from nn import MLP, SGD, hinge_loss, l2_penalty  # noqa: E402

ALPHA = 1e-4


def data(size: int, seed: int = 0) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(size, 2))
    return x, np.where(x[:, 0] + x[:, 1] > 0.0, 1.0, -1.0)


def objective_of(model: MLP) -> Any:
    parameters = model.parameters()

    def objective(x: list[Value], label: Value) -> Value:
        return hinge_loss([model(x)], [label]) + l2_penalty(parameters, ALPHA)

    return objective


def eager(model: MLP, x: Any, y: Any) -> tuple[float, list[float]]:
    """The batch's objective and gradients in eager mode, on plain copies of the parameters."""
    twin = MLP(2, model.nouts, seed=0)
    twin.load_state_dict(model.state_dict())
    objective = hinge_loss(twin.forward_batch(x.tolist()), y.tolist()) + l2_penalty(twin.parameters(), ALPHA)
    objective.backward()
    return objective.data, [p.grad for p in twin.parameters()]


def close(ours: list[float], theirs: list[float], tolerance: float) -> bool:
    return all(abs(a - b) <= tolerance * max(1.0, abs(b)) for a, b in zip(ours, theirs, strict=True))


@pytest.mark.parametrize("width", [1, 3, 8])
@pytest.mark.parametrize("size", [1, 5, 32])
def test_every_cell_equals_eager_mode_to_rounding(width: int, size: int) -> None:
    model = MLP(2, [width, width, 1], seed=width)
    fn = trace_batch(objective_of(model), [0.0, 0.0], 1.0, params=model.parameters(), input_grads=False)
    if width > 1:  # (a layer of one node over one input is w * x + b, no matrix product)
        assert len(fn.blocks) == 3 and all(type(p) is BlockValue for p in model.parameters())
    x, y = data(size, seed=size)
    value, grads = eager(model, x, y)
    ours, _ = fn(x, y)
    assert grads and close([ours], [value], 1e-12)
    assert close([p.grad for p in model.parameters()], grads, 1e-12)


def test_each_layer_is_one_array_in_and_one_gradient_out() -> None:
    model = MLP(2, [4, 3, 1], seed=1)
    fn = trace_batch(objective_of(model), [0.0, 0.0], 1.0, params=model.parameters(), input_grads=False)
    assert [b.shape for b in fn.blocks] == [(4, 3), (3, 5), (1, 4)]  # each row's weights, then its bias
    # laid out as model.parameters() lists them: the optimizer steps three slices
    assert [p.data for p in model.parameters()] == [x for b in fn.blocks for x in b.data.ravel().tolist()]
    assert ".data" not in fn.source and ".grad" not in fn.source  # no parameter one by one
    # one addition into a gradient array for W and b of each layer, and one for each layer's L2 term
    assert len(re.findall(r"\((_k\d+), [^\n]*, out=\1\)", fn.source)) == 6 + 3


def test_gradients_add_into_grad_and_the_sgd_step_runs_on_the_arrays() -> None:
    model = MLP(2, [3, 1], seed=2)
    fn = trace_batch(objective_of(model), [0.0, 0.0], 1.0, params=model.parameters(), input_grads=False)
    x, y = data(6)
    _, grads = eager(model, x, y)
    for p in model.parameters():
        p.grad = 1.0
    fn(x, y)
    assert close([p.grad for p in model.parameters()], [g + 1.0 for g in grads], 1e-12)
    optimizer = SGD(model.parameters(), lr=0.5, momentum=0.9)
    assert optimizer._runs() is not None
    before = [(p.data, p.grad) for p in model.parameters()]
    optimizer.step()
    assert [p.data for p in model.parameters()] == [d - 0.5 * g for d, g in before]


def test_a_block_given_up_is_attached_again_at_the_next_call() -> None:
    model = MLP(2, [3, 1], seed=3)
    fn = trace_batch(objective_of(model), [0.0, 0.0], 1.0, params=model.parameters(), input_grads=False)
    x, y = data(4)
    value, grads = eager(model, x, y)
    first = model.parameters()[0]
    first.grad = Value(0.0)  # a Value gradient: the first layer's block lets its Values go
    assert type(first) is Value and not fn.blocks[0].attached
    model.parameters()[1].data = model.parameters()[1].data  # the Values' numbers are theirs meanwhile
    ours, _ = fn(x, y)
    assert fn.blocks[0].attached and type(first) is BlockValue
    assert close([ours], [value], 1e-12)
    assert close([p.grad for p in model.parameters()], grads, 1e-12)
    assert fn.check(x, y)


def test_a_param_read_elsewhere_too_gets_every_contribution() -> None:
    model = MLP(2, [3, 1], seed=4)
    shared = model.layers[0].neurons[1].w[0]
    parameters = model.parameters()

    def objective(x: list[Value], label: Value) -> Value:
        return hinge_loss([model(x)], [label]) + shared * shared * 0.5 + l2_penalty(parameters[:5], ALPHA)

    fn = trace_batch(objective, [0.0, 0.0], 1.0, params=parameters, input_grads=False)
    assert type(shared) is BlockValue
    x, y = data(5)
    assert fn.check(x, y, examples=5)


def test_two_traces_of_one_model_share_its_blocks() -> None:
    model = MLP(2, [3, 1], seed=5)
    objective = objective_of(model)
    first = trace_batch(objective, [0.0, 0.0], 1.0, params=model.parameters(), input_grads=False)
    second = trace_batch(objective, [0.0, 0.0], 1.0, params=model.parameters(), reduction="sum")
    assert [a is b for a, b in zip(first.blocks, second.blocks, strict=True)] == [True, True]


def test_float32_equals_float64_to_float32_rounding() -> None:
    results = []
    for dtype in ("float64", "float32"):
        model = MLP(2, [8, 8, 1], seed=6)
        fn = trace_batch(objective_of(model), [0.0, 0.0], 1.0, params=model.parameters(), dtype=dtype)
        x, y = data(50)
        (value, (dx, _)) = fn(x, y)
        assert fn.dtype == dtype and dx.dtype == np.dtype(dtype)
        results.append((value, dx.ravel().tolist(), [p.grad for p in model.parameters()]))
    (value64, dx64, grads64), (value32, dx32, grads32) = results
    assert close([value32], [value64], 1e-5) and value32 != value64
    assert close(dx32, dx64, 1e-5) and close(grads32, grads64, 1e-5) and grads32 != grads64
    assert all(type(g) is float for g in grads32)


@pytest.mark.parametrize("dtype", ["float16", "f4", None])
def test_an_unknown_dtype_is_refused(dtype: Any) -> None:
    with pytest.raises(ValueError, match="unknown dtype"):
        trace_batch(lambda x: x * 2.0, 1.0, dtype=dtype)
