"""`fit`: the training loop (forward, loss, zero_grad, backward, step) with a progress bar."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from tqdm import tqdm

from autograd import CompiledFunction, Value, no_grad, trace

from .losses import binary_cross_entropy, hinge_loss, l2_penalty, mse_loss, softmax_cross_entropy
from .module import Module
from .optim import Optimizer

__all__ = ["History", "binary_accuracy", "evaluate", "fit", "multiclass_accuracy", "sign_accuracy"]

Loss = Callable[[Any, Any], Value]
Accuracy = Callable[[Sequence[Any], Sequence[Any]], float]


def sign_accuracy(scores: Sequence[Value | float], labels: Sequence[float]) -> float:
    """Share of scores whose sign matches a -1/+1 label (for hinge_loss)."""
    hits = sum((float(s) > 0.0) == (y > 0.0) for s, y in zip(scores, labels, strict=True))
    return hits / len(labels)


def binary_accuracy(logits: Sequence[Value | float], targets: Sequence[float]) -> float:
    """Share of logits on the side of 0 that matches a 0/1 target (for binary_cross_entropy)."""
    hits = sum((float(z) > 0.0) == (t > 0.5) for z, t in zip(logits, targets, strict=True))
    return hits / len(targets)


def multiclass_accuracy(scores: Sequence[Sequence[Value | float]], targets: Sequence[Any]) -> float:
    """Share of score vectors whose largest entry is the target class (index or one-hot)."""
    hits = 0
    for row, target in zip(scores, targets, strict=True):
        values = [float(s) for s in row]
        predicted = values.index(max(values))
        wanted = target if isinstance(target, int) else list(target).index(max(target))
        hits += predicted == wanted
    return hits / len(targets)


_DEFAULT_ACCURACY: dict[object, Accuracy | None] = {
    hinge_loss: sign_accuracy,
    binary_cross_entropy: binary_accuracy,
    softmax_cross_entropy: multiclass_accuracy,
    mse_loss: None,
}


@dataclass
class History:
    """Per epoch: the training loss (with the L2 term), accuracy, learning rate, and validation figures."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)


def fit(
    model: Module,
    inputs: Sequence[Sequence[float]],
    targets: Sequence[Any],
    *,
    loss: Loss,
    optimizer: Optimizer,
    epochs: int = 100,
    batch_size: int | None = None,
    l2: float = 0.0,
    accuracy: Accuracy | str | None = "auto",
    shuffle: bool = False,
    seed: int | None = None,
    validation: tuple[Sequence[Sequence[float]], Sequence[Any]] | None = None,
    progress: bool | None = None,
    compile: bool = False,
) -> History:
    """Train `model` for `epochs` passes over the data and return the History.

    Each batch (the whole data set unless `batch_size` is given) runs forward,
    `loss(outputs, targets) + l2_penalty(parameters, l2)`, zero_grad, backward
    and `optimizer.step()`. Loss and accuracy of an epoch are measured on the
    forward passes of that epoch, before each batch's step. `accuracy` is
    chosen from the loss unless given (None: no accuracy). The progress bar
    shows when stderr is a terminal (`progress=None`), always (True) or never (False).
    With `compile=True` each batch's step is traced once (`autograd.trace`) and then
    runs as generated code, with the same numbers as eager mode.
    """
    n = len(inputs)
    if n == 0 or n != len(targets):
        raise ValueError(f"fit: need as many targets as inputs (at least one), got {n} and {len(targets)}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative integer, got {epochs!r}")
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise ValueError(f"fit: batch_size must be a positive integer, got {batch_size!r}")
    if not isinstance(l2, (int, float)) or not 0.0 <= l2 < math.inf:
        raise ValueError(f"fit: l2 must be a finite number >= 0, got {l2!r}")
    if accuracy == "auto":
        measure = _DEFAULT_ACCURACY.get(loss)
    elif accuracy is None or callable(accuracy):
        measure = accuracy
    else:
        raise ValueError(f"fit: accuracy must be 'auto', None or a function, got {accuracy!r}")
    if compile and shuffle:
        raise ValueError(
            "fit: compile=True reuses each batch's traced graph every epoch; shuffle=True makes new "
            "batches every epoch (use one or the other)"
        )
    size = batch_size or n
    compiled: dict[int, CompiledFunction] = {}  # by the batch's start
    parameters = model.parameters()
    order = list(range(n))
    rng = random.Random(seed)
    history = History()
    bar = tqdm(range(epochs), desc="fit", unit="epoch", disable=None if progress is None else not progress)
    for _ in bar:
        if shuffle:
            rng.shuffle(order)
        history.lr.append(optimizer.lr)
        total_loss = 0.0
        all_outputs: list[Any] = []
        all_targets: list[Any] = []
        for start in range(0, n, size):
            batch = order[start : start + size]
            batch_targets = [targets[i] for i in batch]
            if compile:
                if start not in compiled:
                    objective_of = partial(
                        _objective, model, loss, [inputs[i] for i in batch], batch_targets, l2
                    )
                    compiled[start] = trace(objective_of, params=parameters, has_aux=True)
                optimizer.zero_grad()
                (value, detached), _ = compiled[start]()
                optimizer.step()
                total_loss += value * len(batch)
                all_outputs.extend(detached)
                all_targets.extend(batch_targets)
                continue
            outputs = [model(inputs[i]) for i in batch]
            objective = loss(outputs, batch_targets)
            if l2:
                objective = objective + l2_penalty(parameters, l2)
            optimizer.zero_grad()
            objective.backward()
            optimizer.step()
            total_loss += objective.data * len(batch)
            all_outputs.extend(_detached(outputs))
            all_targets.extend(batch_targets)
        history.loss.append(total_loss / n)
        postfix = {"loss": f"{history.loss[-1]:.4g}"}
        if measure is not None:
            history.accuracy.append(measure(all_outputs, all_targets))
            postfix["acc"] = f"{history.accuracy[-1]:.3f}"
        if validation is not None:
            val_loss, val_accuracy = evaluate(model, *validation, loss=loss, accuracy=measure)
            history.val_loss.append(val_loss)
            if val_accuracy is not None:
                history.val_accuracy.append(val_accuracy)
        bar.set_postfix(postfix, refresh=False)
    bar.close()
    return history


def evaluate(
    model: Module,
    inputs: Sequence[Sequence[float]],
    targets: Sequence[Any],
    *,
    loss: Loss,
    accuracy: Accuracy | None = None,
) -> tuple[float, float | None]:
    """(loss, accuracy) of `model` on a data set, without recording a graph."""
    with no_grad():
        outputs = [model(x) for x in inputs]
        value = loss(outputs, list(targets)).data
    return value, None if accuracy is None else accuracy(outputs, list(targets))


def _objective(
    model: Module, loss: Loss, inputs: list[Sequence[float]], targets: list[Any], l2: float
) -> tuple[Value, list[Any]]:
    # One batch's objective, and the outputs whose data the accuracy needs.
    outputs = [model(x) for x in inputs]
    objective = loss(outputs, targets)
    if l2:
        objective = objective + l2_penalty(model.parameters(), l2)
    return objective, outputs


def _detached(outputs: list[Any]) -> list[Any]:
    # Keep only the numbers: holding the Values would keep every epoch's graph alive.
    return [o.data if isinstance(o, Value) else [v.data for v in o] for o in outputs]
