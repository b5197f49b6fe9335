"""Optimizers by hand-computed updates, and learning-rate schedules."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from autograd import Value
from nn import MLP, SGD, Adam, AdamW, CosineDecay, LinearDecay, StepDecay, load_model, mse_loss


def param(data: float, grad: float) -> Value:
    p = Value(data)
    p.grad = grad
    return p


def test_sgd_plain_step() -> None:
    p, q = param(1.0, 0.5), param(-2.0, -1.0)
    SGD([p, q], lr=0.1).step()
    assert p.data == pytest.approx(0.95) and q.data == pytest.approx(-1.9)


def test_sgd_changes_data_and_nothing_else() -> None:
    p = param(1.0, 0.5)
    SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01).step()
    assert p.grad == 0.5 and p.is_leaf


def test_sgd_momentum_and_weight_decay_by_hand() -> None:
    p = param(1.0, 0.5)
    opt = SGD([p], lr=0.1, momentum=0.9, weight_decay=0.1)
    opt.step()  # g = 0.5 + 0.1*1 = 0.6; v = 0.6; p = 1 - 0.06
    assert p.data == pytest.approx(0.94)
    opt.step()  # g = 0.5 + 0.094 = 0.594; v = 0.9*0.6 + 0.594 = 1.134; p = 0.94 - 0.1134
    assert p.data == pytest.approx(0.8266)


def test_sgd_nesterov_by_hand() -> None:
    p = param(0.0, 1.0)
    opt = SGD([p], lr=0.1, momentum=0.5, nesterov=True)
    opt.step()  # v = 1; step g + mu v = 1.5
    assert p.data == pytest.approx(-0.15)
    opt.step()  # v = 0.5 + 1 = 1.5; step 1 + 0.75
    assert p.data == pytest.approx(-0.15 - 0.175)


def test_adam_first_steps_are_lr_times_sign() -> None:
    p, q = param(1.0, 3.0), param(1.0, -0.001)
    opt = Adam([p, q], lr=0.01)
    opt.step()
    assert p.data == pytest.approx(0.99, rel=1e-6) and q.data == pytest.approx(1.01, rel=1e-6)


def test_adam_two_steps_by_hand() -> None:
    p = param(0.5, 0.2)
    opt = Adam([p], lr=0.1, betas=(0.9, 0.99), eps=1e-8)
    opt.step()
    p.grad = -0.4
    opt.step()
    m = 0.9 * 0.1 * 0.2 + 0.1 * -0.4
    v = 0.99 * 0.01 * 0.04 + 0.01 * 0.16
    step = (m / (1 - 0.9**2)) / (math.sqrt(v / (1 - 0.99**2)) + 1e-8)
    first = 0.2 / (math.sqrt(0.04) + 1e-8)  # bias-corrected m / sqrt(v) after one step
    assert p.data == pytest.approx(0.5 - 0.1 * first - 0.1 * step, rel=1e-12)


def test_adam_weight_decay_is_coupled_and_adamw_decoupled() -> None:
    p = param(2.0, 0.0)
    Adam([p], lr=0.1, weight_decay=0.5).step()  # g = 0 + 0.5*2 = 1, so a full step of lr
    assert p.data == pytest.approx(1.9, rel=1e-6)
    q = param(2.0, 0.0)
    AdamW([q], lr=0.1, weight_decay=0.5).step()  # no gradient: only the decay lr*wd*p = 0.1
    assert q.data == pytest.approx(1.9, rel=1e-12)
    r = param(2.0, 1.0)
    AdamW([r], lr=0.1, weight_decay=0.5).step()
    assert r.data == pytest.approx(2.0 - 0.1 - 0.1, rel=1e-6)


def test_zero_grad_and_lr_property() -> None:
    p = param(1.0, 2.0)
    opt = SGD([p], lr=LinearDecay(1.0, 0.1, 100))
    opt.zero_grad()
    assert p.grad == 0.0
    assert opt.lr == 1.0
    opt.step()
    assert opt.steps_taken == 1 and opt.lr == pytest.approx(0.991)


def test_linear_decay_is_micrograds_schedule() -> None:
    schedule = LinearDecay(1.0, 0.1, 100)
    for k in range(100):
        assert schedule(k) == pytest.approx(1.0 - 0.9 * k / 100, rel=1e-15)
    assert schedule(100) == pytest.approx(0.1) and schedule(500) == pytest.approx(0.1)


def test_step_and_cosine_decay() -> None:
    assert [StepDecay(1.0, 0.5, 10)(k) for k in (0, 9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]
    cosine = CosineDecay(1.0, 0.0, 10)
    assert cosine(0) == 1.0 and cosine(5) == pytest.approx(0.5) and cosine(10) == pytest.approx(0.0)
    assert cosine(20) == pytest.approx(0.0)


def test_schedule_drives_the_steps() -> None:
    p = param(0.0, 1.0)
    opt = SGD([p], lr=StepDecay(1.0, 0.5, 1))
    for _ in range(3):
        opt.step()
    assert p.data == pytest.approx(-(1.0 + 0.5 + 0.25))


def test_non_finite_gradient_is_refused_and_nothing_changes() -> None:
    p, q = param(1.0, 0.5), param(2.0, math.nan)
    q.label = "w"
    opt = SGD([p, q], lr=0.1, momentum=0.9)
    with pytest.raises(FloatingPointError, match=r"SGD.step: gradient of parameter 1 \(w\) is nan"):
        opt.step()
    assert (p.data, q.data, opt.steps_taken, opt.velocity) == (1.0, 2.0, 0, [0.0, 0.0])


def test_bad_schedule_value_is_refused() -> None:
    p = param(1.0, 0.5)
    with pytest.raises(ValueError, match=r"SGD.step: learning rate at step 0 is -1.0"):
        SGD([p], lr=lambda k: -1.0).step()
    assert p.data == 1.0


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda p: SGD(p, lr=-0.1), ValueError, r"SGD: lr must be a number >= 0.0, got -0.1"),
        (lambda p: SGD(p, momentum=1.0), ValueError, r"SGD: momentum must be a number \[0.0, 1.0\), got 1.0"),
        (lambda p: SGD(p, nesterov=True), ValueError, "nesterov needs a momentum"),
        (lambda p: Adam(p, betas=(0.9, 1.5)), ValueError, r"Adam: betas\[1\] must be a number"),
        (lambda p: AdamW(p, eps=0.0), ValueError, "AdamW: eps must be above 0"),
        (lambda p: SGD([*p, *p]), ValueError, "SGD: parameter 1 .* is listed twice"),
        (lambda p: SGD([1.0]), TypeError, "SGD: parameter 0 is a float, not a Value"),  # type: ignore[list-item]
        (
            lambda p: LinearDecay(1.0, 0.1, 0),
            ValueError,
            "LinearDecay: steps must be a positive integer, got 0",
        ),
    ],
)
def test_bad_arguments(make: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        make([param(1.0, 0.0)])  # type: ignore[operator]


@pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.1, momentum=0.9), lambda ps: Adam(ps, lr=0.1)])
def test_optimizer_state_round_trip_resumes_exactly(make: Any) -> None:
    def run(optimizer: Any, params: list[Value], steps: int) -> None:
        for k in range(steps):
            for i, p in enumerate(params):
                p.grad = math.sin(k + i) + p.data
            optimizer.step()

    straight = [Value(1.0), Value(-2.0)]
    run(make(straight), straight, 6)
    first = [Value(1.0), Value(-2.0)]
    optimizer = make(first)
    run(optimizer, first, 3)
    state = json.loads(json.dumps(optimizer.state_dict()))  # survives JSON
    resumed = make(first)
    resumed.load_state_dict(state)
    assert resumed.steps_taken == 3
    for k in range(3, 6):  # the same gradients as the straight run's steps 3..5
        for i, p in enumerate(first):
            p.grad = math.sin(k + i) + p.data
        resumed.step()
    assert [p.data for p in first] == [p.data for p in straight]


def test_optimizer_load_state_dict_checks_before_changing() -> None:
    opt = SGD([param(1.0, 0.5), param(2.0, 0.5)], lr=0.1, momentum=0.9)
    opt.step()
    before = opt.state_dict()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"steps_taken": 1}, r"expected the keys \['steps_taken', 'velocity'\]"),
        ({"steps_taken": -1, "velocity": [0.0, 0.0]}, "steps_taken must be a non-negative integer, got -1"),
        ({"steps_taken": 2, "velocity": [0.0]}, "velocity must hold 2 numbers, got 1"),
        ({"steps_taken": 2, "velocity": [0.0, math.nan]}, r"velocity\[1\] must be a finite number, got nan"),
    ]
    for bad, message in cases:
        with pytest.raises(ValueError, match=message):
            opt.load_state_dict(bad)
        assert opt.state_dict() == before


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: SGD(ps, lr=0.1),
        lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
        lambda ps: SGD(ps, lr=0.1, momentum=0.5, nesterov=True),
        lambda ps: Adam(ps, lr=0.1, weight_decay=0.1),
        lambda ps: AdamW(ps, lr=0.1),
    ],
)
def test_gradients_made_with_create_graph_step_by_their_numbers(make: Any) -> None:
    # backward(create_graph=True) leaves Values in .grad; the step takes their numbers,
    # so p.data and the buffers stay floats and the state stays JSON-ready.
    graph_params, float_params = [Value(2.0), Value(-0.5)], [Value(2.0), Value(-0.5)]
    with_graph, with_floats = make(graph_params), make(float_params)
    for _ in range(3):
        with_graph.zero_grad()
        a, b = graph_params
        (a * a * b + b.tanh()).backward(create_graph=True)
        assert all(isinstance(p.grad, Value) for p in graph_params)
        for p, q in zip(float_params, graph_params, strict=True):
            p.grad = q.grad.data
        with_graph.step()
        with_floats.step()
    assert all(type(p.data) is float for p in graph_params)
    assert [p.data for p in graph_params] == [p.data for p in float_params]
    state = with_graph.state_dict()
    assert all(type(x) is float for name in with_graph.buffers for x in state[name])
    assert json.loads(json.dumps(state)) == state == with_floats.state_dict()


def test_a_gradient_that_is_not_a_number_is_refused_and_nothing_changes() -> None:
    p, q = param(1.0, 0.5), Value(2.0, label="w")
    q.grad = "0.5"
    opt = SGD([p, q], lr=0.1)
    message = r"SGD.step: gradient of parameter 1 \(w\) is a str \('0.5'\), not a number; nothing was changed"
    with pytest.raises(TypeError, match=message):
        opt.step()
    assert (p.data, q.data, opt.steps_taken) == (1.0, 2.0, 0)
    q.grad = Value(math.inf)
    with pytest.raises(FloatingPointError, match=r"parameter 1 \(w\) is inf; nothing was changed"):
        opt.step()
    assert (p.data, q.data, opt.steps_taken) == (1.0, 2.0, 0)


def test_a_model_stepped_after_create_graph_still_saves(tmp_path: Path) -> None:
    model = MLP(2, [3, 1], activation="tanh", seed=0)
    loss = mse_loss([model([0.5, -1.0])], [1.0])
    loss.backward(create_graph=True)
    Adam(model.parameters(), lr=0.1).step()
    assert all(type(p.data) is float for p in model.parameters())
    model.save(tmp_path / "model.json")
    assert load_model(tmp_path / "model.json").state_dict() == model.state_dict()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda ps: SGD(ps, lr=1e308),
            r"SGD.step: the step would take parameter 1 \(w\) from -0.5 to -inf "
            r"\(gradient 2.0, learning rate 1e\+308\); nothing was changed",
        ),
        (
            lambda ps: SGD(ps, lr=1e308, momentum=0.9, nesterov=True),
            r"SGD.step: the step would take parameter 1 \(w\) from -0.5 to -inf",
        ),
        (
            lambda ps: AdamW(ps, lr=1e308, weight_decay=10.0),
            r"AdamW.step: the step would take parameter 0 from 1.0 to -inf",
        ),
    ],
)
def test_a_step_that_overflows_is_refused_and_nothing_changes(make: Any, message: str) -> None:
    p, q = param(1.0, 0.5), param(-0.5, 2.0)
    q.label = "w"
    optimizer = make([p, q])
    before = optimizer.state_dict()
    with pytest.raises(FloatingPointError, match=message):
        optimizer.step()
    assert (p.data, q.data) == (1.0, -0.5) and optimizer.state_dict() == before


def test_a_step_that_would_overflow_a_moment_is_refused_and_nothing_changes() -> None:
    p, q = param(1.0, 0.5), param(-0.5, 1e200)  # g * g overflows the second moment
    optimizer = Adam([p, q], lr=0.1)
    with pytest.raises(
        FloatingPointError,
        match=r"Adam.step: the step would make second_moment\[1\] inf \(parameter 1, gradient 1e\+200, "
        r"learning rate 0.1\); nothing was changed",
    ):
        optimizer.step()
    assert (p.data, q.data) == (1.0, -0.5)
    assert optimizer.state_dict() == {
        "steps_taken": 0,
        "first_moment": [0.0, 0.0],
        "second_moment": [0.0, 0.0],
    }
