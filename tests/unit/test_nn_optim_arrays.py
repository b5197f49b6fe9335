"""Optimizers over parameter blocks: the step on the arrays is the step over the Values, bit for bit."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("numpy")

from autograd.blocks import ParameterBlock, layout
from nn import MLP, SGD, Adam, AdamW, LinearDecay, Optimizer

OPTIMIZERS: dict[str, Callable[[Any], Optimizer]] = {
    "sgd": lambda ps: SGD(ps, lr=0.1),
    "sgd momentum": lambda ps: SGD(ps, lr=LinearDecay(0.1, 0.01, 3), momentum=0.9),
    "sgd nesterov decay": lambda ps: SGD(ps, lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01),
    "sgd decay": lambda ps: SGD(ps, lr=0.05, weight_decay=0.1),
    "adam": lambda ps: Adam(ps, lr=0.01, weight_decay=0.02),
    "adamw": lambda ps: AdamW(ps, lr=0.01),
}


def in_blocks(model: MLP) -> list[ParameterBlock]:
    return [ParameterBlock([[*n.w, n.b] for n in layer.neurons if n.b is not None]) for layer in model.layers]


def set_gradients(model: MLP, step: int) -> None:
    rng = random.Random(step)
    for p in model.parameters():
        p.grad = rng.uniform(-2.0, 2.0)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_the_array_step_is_the_step_over_values(name: str) -> None:
    plain, blocked = MLP(3, [4, 2], seed=1), MLP(3, [4, 2], seed=1)
    blocks = in_blocks(blocked)
    optimizers = [OPTIMIZERS[name](m.parameters()) for m in (plain, blocked)]
    assert optimizers[1]._runs() is not None
    for step in range(4):
        for model, optimizer in zip((plain, blocked), optimizers, strict=True):
            optimizer.zero_grad()
            set_gradients(model, step)
            optimizer.step()
        assert [p.data for p in blocked.parameters()] == [p.data for p in plain.parameters()]
    assert optimizers[1].state_dict() == optimizers[0].state_dict()
    json.dumps(optimizers[1].state_dict())
    assert all(b.attached for b in blocks)


def test_zero_grad_zeroes_the_blocks_arrays() -> None:
    model = MLP(2, [3], seed=2)
    blocks = in_blocks(model)
    set_gradients(model, 0)
    SGD(model.parameters()).zero_grad()
    assert all(not b.grad.any() for b in blocks)


def test_a_step_that_fails_on_arrays_fails_as_over_values_and_changes_nothing() -> None:
    model = MLP(2, [3], seed=3)
    in_blocks(model)
    optimizer = SGD(model.parameters(), lr=0.1, momentum=0.5)
    before = [p.data for p in model.parameters()]
    model.parameters()[4].grad = math.inf
    with pytest.raises(FloatingPointError, match="gradient of parameter 4"):
        optimizer.step()
    model.parameters()[4].grad = 1e308
    optimizer_big = SGD(model.parameters(), lr=1e10)
    with pytest.raises(FloatingPointError, match="the step would take parameter 4"):
        optimizer_big.step()
    assert [p.data for p in model.parameters()] == before and optimizer.steps_taken == 0


def test_state_dicts_load_into_the_array_path() -> None:
    plain, blocked = MLP(2, [3, 1], seed=4), MLP(2, [3, 1], seed=4)
    in_blocks(blocked)
    first = [Adam(m.parameters(), lr=0.01) for m in (plain, blocked)]
    for model, optimizer in zip((plain, blocked), first, strict=True):
        set_gradients(model, 1)
        optimizer.step()
    saved = first[0].state_dict()
    resumed = [Adam(m.parameters(), lr=0.01) for m in (plain, blocked)]
    for model, optimizer in zip((plain, blocked), resumed, strict=True):
        optimizer.load_state_dict(saved)
        set_gradients(model, 2)
        optimizer.step()
    assert [p.data for p in blocked.parameters()] == [p.data for p in plain.parameters()]
    assert resumed[1].state_dict() == resumed[0].state_dict()


def test_params_partly_in_blocks_or_out_of_order_step_correctly() -> None:
    plain, blocked = MLP(2, [3, 2], seed=5), MLP(2, [3, 2], seed=5)
    blocks = in_blocks(blocked)
    blocks[1].detach()  # the last layer's Values hold their own numbers again
    order = [5, 0, 3, 1, 2, 4, *range(6, 9)]
    optimizers = []
    for model in (plain, blocked):
        ps = model.parameters()
        optimizers.append(SGD([ps[i] for i in order] + ps[9:], lr=0.1, momentum=0.9))
    assert optimizers[1]._runs() is None
    blocks[1].attach()
    assert optimizers[1]._runs() is not None  # worked out again once the block is back
    runs = layout(optimizers[1].parameters)
    assert runs is not None and not isinstance(runs[0][1], slice)
    for step in range(3):
        for model, optimizer in zip((plain, blocked), optimizers, strict=True):
            set_gradients(model, step)
            optimizer.step()
    assert [p.data for p in blocked.parameters()] == [p.data for p in plain.parameters()]
    blocks[0].detach()
    for model, optimizer in zip((plain, blocked), optimizers, strict=True):
        set_gradients(model, 9)
        optimizer.step()  # over Values again, from the velocity the array steps left
    assert [p.data for p in blocked.parameters()] == [p.data for p in plain.parameters()]
    assert optimizers[1].state_dict() == optimizers[0].state_dict()
