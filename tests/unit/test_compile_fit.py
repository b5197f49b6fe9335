"""fit(..., compile=True): the same loss trajectory and weights as eager mode, and what it refuses."""

from __future__ import annotations

import math
from typing import Any

import pytest

from autograd import Value, primitive
from nn import (
    MLP,
    SGD,
    Adam,
    LinearDecay,
    binary_cross_entropy,
    fit,
    hinge_loss,
    make_moons,
    mse_loss,
    signs,
)


def train(compile: bool, **options: Any) -> tuple[Any, list[float]]:
    inputs, labels = make_moons(40, noise=0.1, seed=2)
    model = MLP(2, [8, 8, 1], seed=5)
    optimizer = options.pop("optimizer", None) or SGD(model.parameters(), lr=LinearDecay(1.0, 0.1, 15))
    history = fit(
        model,
        inputs,
        options.pop("targets", signs(labels)),
        loss=options.pop("loss", hinge_loss),
        optimizer=optimizer,
        epochs=15,
        progress=False,
        compile=compile,
        **options,
    )
    return history, [p.data for p in model.parameters()]


@pytest.mark.parametrize(
    "options",
    [
        {"l2": 1e-4},  # the moons demo: full batch, hinge loss, L2
        {"batch_size": 16},  # mini-batches (the last one short), each traced once
        {"loss": mse_loss, "batch_size": 10},
    ],
)
def test_compiled_training_follows_the_eager_trajectory_exactly(options: dict[str, Any]) -> None:
    # Exactly the numbers of eager mode's backward pass, on every Python.
    eager_history, eager_weights = train(False, **dict(options))
    compiled_history, compiled_weights = train(True, **dict(options))
    assert compiled_history.loss == eager_history.loss
    assert compiled_history.accuracy == eager_history.accuracy
    assert compiled_weights == eager_weights


def test_compiled_training_with_adam_and_validation() -> None:
    inputs, labels = make_moons(30, noise=0.1, seed=4)
    results = []
    for compile in (False, True):  # the same numbers, bit for bit, on every Python
        model = MLP(2, [6, 1], activation="tanh", seed=1)
        history = fit(
            model,
            inputs,
            signs(labels),
            loss=hinge_loss,
            optimizer=Adam(model.parameters(), lr=0.05),
            epochs=10,
            validation=(inputs[:10], signs(labels)[:10]),
            progress=False,
            compile=compile,
        )
        results.append((history.loss, history.val_loss, [p.data for p in model.parameters()]))
    eager, compiled = results
    assert compiled == eager


def test_compile_refuses_shuffled_batches() -> None:
    with pytest.raises(ValueError, match=r"fit: compile=True .* shuffle=True"):
        train(True, shuffle=True, seed=0)


def test_a_loss_with_a_primitive_of_its_own_compiles() -> None:
    # The op's record carries its forward: the compiler calls it, with nothing to register.
    @primitive("soft_margin", lambda m, out, s: (-m.sigmoid(-s),))  # d log(1 + e^-s)/ds
    def soft_margin(s: float) -> float:
        return math.log1p(math.exp(-s))

    def loss(scores: list[Value], labels: list[float]) -> Value:
        return Value.sum([soft_margin(s * y) for s, y in zip(scores, labels, strict=True)])

    eager, eager_weights = train(False, loss=loss)
    compiled, compiled_weights = train(True, loss=loss)
    assert (compiled.loss, compiled.accuracy, compiled_weights) == (eager.loss, eager.accuracy, eager_weights)


def test_the_libraries_own_primitives_compile() -> None:
    # binary_cross_entropy is built on a primitive.
    _, labels = make_moons(40, noise=0.1, seed=2)
    (eager, eager_weights), (compiled, compiled_weights) = (
        train(compile, loss=binary_cross_entropy, targets=labels) for compile in (False, True)
    )
    assert (compiled.loss, compiled.accuracy, compiled_weights) == (eager.loss, eager.accuracy, eager_weights)
