"""fit(..., compile="batch"): eager mode's trajectory to rounding for every library loss; what it refuses."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from autograd import Value
from nn import (
    MLP,
    SGD,
    Adam,
    LinearDecay,
    binary_cross_entropy,
    fit,
    hinge_loss,
    make_blobs,
    make_moons,
    mse_loss,
    signs,
    softmax_cross_entropy,
)


def relative_gap(ours: list[float], theirs: list[float]) -> float:
    assert len(ours) == len(theirs)
    return max(abs(a - b) / max(abs(b), 1e-300) for a, b in zip(ours, theirs, strict=True))


def test_the_moons_demo_follows_the_eager_trajectory() -> None:
    inputs, labels = make_moons(100, noise=0.1, seed=1)
    runs = []
    for compile in (False, "batch"):
        model = MLP(2, [16, 16, 1], seed=1)
        history = fit(
            model,
            inputs,
            signs(labels),
            loss=hinge_loss,
            optimizer=SGD(model.parameters(), lr=LinearDecay(1.0, 0.1, 100)),
            epochs=100,
            l2=1e-4,
            progress=False,
            compile=compile,
        )
        runs.append((history, [p.data for p in model.parameters()]))
    (eager, eager_weights), (batched, batched_weights) = runs
    assert relative_gap(batched.loss, eager.loss) < 1e-9
    assert batched.accuracy == eager.accuracy and batched.accuracy[-1] == 1.0
    assert relative_gap(batched_weights, eager_weights) < 1e-9


def train(compile: bool | str, loss: Any, targets: list[Any], **options: Any) -> tuple[Any, list[float]]:
    inputs = options.pop("inputs")
    model = options.pop("model")
    history = fit(
        model,
        inputs,
        targets,
        loss=loss,
        optimizer=Adam(model.parameters(), lr=0.05),
        epochs=8,
        progress=False,
        compile=compile,
        validation=(inputs[:10], targets[:10]),
        **options,
    )
    return history, [p.data for p in model.parameters()]


MOONS = make_moons(30, noise=0.1, seed=4)
BLOBS = make_blobs(30, centers=[[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]], noise=0.5, seed=0)
# loss, inputs, targets, a model maker, fit's other options
Case = tuple[Any, list[list[float]], list[Any], Callable[[], MLP], dict[str, Any]]
CASES: dict[str, Case] = {
    "hinge, shuffled mini-batches": (
        hinge_loss,
        MOONS.inputs,
        signs(MOONS.labels),
        lambda: MLP(2, [6, 1], activation="tanh", seed=1),
        {"batch_size": 8, "shuffle": True, "seed": 3, "l2": 1e-3},
    ),
    "binary cross-entropy on 0/1 targets": (
        binary_cross_entropy,
        MOONS.inputs,
        MOONS.labels,
        lambda: MLP(2, [6, 1], activation="sigmoid", seed=2),
        {"batch_size": 10},
    ),
    "softmax cross-entropy on class indices": (
        softmax_cross_entropy,
        BLOBS.inputs,
        BLOBS.labels,
        lambda: MLP(2, [8, 3], activation="tanh", seed=0),
        {"batch_size": 7, "l2": 1e-4},
    ),
    "softmax cross-entropy on one-hot vectors": (
        softmax_cross_entropy,
        BLOBS.inputs,
        [[1.0 if c == y else 0.0 for c in range(3)] for y in BLOBS.labels],
        lambda: MLP(2, [8, 3], seed=0),
        {},
    ),
    "mean squared error, two outputs": (
        mse_loss,
        BLOBS.inputs,
        [[float(y), 1.0 - 0.5 * y] for y in BLOBS.labels],
        lambda: MLP(2, [5, 2], activation="sigmoid", seed=3),
        {"batch_size": 16},
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_every_library_loss_follows_the_eager_trajectory(case: str) -> None:
    results = []
    loss, inputs, targets, make_model, options = CASES[case]
    for compile in (False, "batch"):
        results.append(train(compile, loss, targets, inputs=inputs, model=make_model(), **options))
    (eager, eager_weights), (batched, batched_weights) = results
    assert relative_gap(batched.loss, eager.loss) < 1e-9
    assert batched.accuracy == eager.accuracy
    assert relative_gap(batched.val_loss, eager.val_loss) < 1e-9 and len(batched.val_loss) == 8
    assert batched.val_accuracy == eager.val_accuracy
    assert relative_gap(batched_weights, eager_weights) < 1e-9


def test_a_fused_model_trains_too() -> None:
    inputs, labels = make_moons(12, noise=0.1, seed=4)
    runs = []
    for compile in (False, "batch"):
        model = MLP(2, [4, 1], seed=1, fused=True)
        history = fit(
            model,
            inputs,
            signs(labels),
            loss=hinge_loss,
            optimizer=SGD(model.parameters(), lr=0.1),
            epochs=3,
            progress=False,
            compile=compile,
        )
        runs.append(history.loss)
    assert relative_gap(runs[1], runs[0]) < 1e-9


def test_what_compile_batch_refuses() -> None:
    inputs, labels = make_moons(10, noise=0.1, seed=4)
    model = MLP(2, [3, 1], seed=1)
    options: dict[str, Any] = {"optimizer": SGD(model.parameters(), lr=0.1), "epochs": 1, "progress": False}

    def own_loss(outputs: list[Value], targets: list[float]) -> Value:
        return Value.sum(outputs)

    with pytest.raises(ValueError, match=r"fit: compile must be False, True or 'batch', got 'fast'"):
        fit(model, inputs, signs(labels), loss=hinge_loss, compile="fast", **options)
    for loss in (own_loss, partial(mse_loss, reduction="sum")):
        with pytest.raises(
            ValueError, match=r"compile='batch' works for the library's losses .*compile=True"
        ):
            fit(model, inputs, signs(labels), loss=loss, compile="batch", **options)
    with pytest.raises(ValueError, match=r"hinge_loss: labels must be -1 or \+1, got 0.0"):
        fit(
            model, inputs, labels, loss=hinge_loss, compile="batch", **options
        )  # 0/1 labels: checked up front
