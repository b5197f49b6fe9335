"""`fit`: the training loop (forward, loss, zero_grad, backward, step) with a progress bar."""

from __future__ import annotations

import importlib
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

import autograd
from autograd import Value, gc_paused, no_grad

from .losses import binary_cross_entropy, hinge_loss, l2_penalty, mse_loss, softmax_cross_entropy
from .module import Module
from .optim import Optimizer

if TYPE_CHECKING:  # the compilers are imported when fit(compile=...) first needs them
    from autograd.batched import BatchedFunction
    from autograd.compiler import CompiledFunction

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
    compile: bool | str = False,
) -> History:
    """Train `model` for `epochs` passes over the data and return the History.

    Each batch (the whole data set unless `batch_size` is given) runs forward,
    `loss(outputs, targets) + l2_penalty(parameters, l2)`, zero_grad, backward
    and `optimizer.step()`. Loss and accuracy of an epoch are measured on the
    forward passes of that epoch, before each batch's step. `accuracy` is
    chosen from the loss unless given (None: no accuracy). The progress bar
    shows when stderr is a terminal (`progress=None`), always (True) or never (False).
    In eager mode each step runs inside `autograd.gc_paused()`: the library's
    graphs have no reference cycles, so each step's is freed when the step ends
    (the collector runs again between steps, for any cycles of a custom loss).
    With `compile=True` each batch's step is traced once (`autograd.trace`) and then
    runs as generated code, with the same numbers as eager mode, bit for bit. With `compile="batch"`
    the loss of one example is traced once (`autograd.trace_batch`) and every batch runs
    as numpy code over the whole batch: the same numbers up to rounding, for the
    library's losses (mean over the examples); it needs numpy.
    Every argument is checked before the first step, and the validation set is
    evaluated once then, so that one the model, the loss or the accuracy refuses
    fails before any training.
    """
    if not isinstance(model, Module):
        raise TypeError(f"fit: model must be an nn Module (an MLP, say), got {type(model).__name__}")
    n = _length("inputs", inputs)
    if n == 0 or n != _length("targets", targets):
        raise ValueError(f"fit: need as many targets as inputs (at least one), got {n} and {len(targets)}")
    if not callable(loss):
        raise TypeError(
            f"fit: loss must be a function of (outputs, targets), such as hinge_loss, got {loss!r}"
        )
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"fit: optimizer must be an nn Optimizer, such as SGD(model.parameters()), got {optimizer!r}"
        )
    parameters = model.parameters()
    _check_optimizer_covers(optimizer, parameters)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative integer, got {epochs!r}")
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise ValueError(f"fit: batch_size must be a positive integer, got {batch_size!r}")
    if isinstance(l2, bool) or not isinstance(l2, (int, float)) or not 0.0 <= l2 < math.inf:
        raise ValueError(f"fit: l2 must be a finite number >= 0, got {l2!r}")
    if isinstance(accuracy, str) and accuracy == "auto":
        measure = _DEFAULT_ACCURACY.get(loss)
    elif accuracy is None or callable(accuracy):
        measure = accuracy
    else:
        raise ValueError(f"fit: accuracy must be 'auto', None or a function, got {accuracy!r}")
    if not isinstance(shuffle, bool):
        raise ValueError(f"fit: shuffle must be True or False, got {shuffle!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"fit: seed must be an integer or None, got {seed!r}")
    if not (progress is None or isinstance(progress, bool)):
        raise ValueError(f"fit: progress must be None, True or False, got {progress!r}")
    if not (compile is False or compile is True or (isinstance(compile, str) and compile == "batch")):
        raise ValueError(f"fit: compile must be False, True or 'batch', got {compile!r}")
    if compile is True and shuffle:
        raise ValueError(
            "fit: compile=True reuses each batch's traced graph every epoch; shuffle=True makes new "
            "batches every epoch (use one or the other)"
        )
    _check_finite(inputs, "input vector")
    batched = _BatchedStep(model, loss, inputs, targets, l2) if compile == "batch" else None
    if validation is not None:
        _check_validation(model, validation, loss, measure)
    size = batch_size or n
    compiled: dict[int, CompiledFunction] = {}  # by the batch's start
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
            if batched is not None:
                optimizer.zero_grad()
                value, outputs = batched(batch)
                optimizer.step()
                total_loss += value * len(batch)
                all_outputs.extend(outputs)
                all_targets.extend(batch_targets)
                continue
            if compile:
                if start not in compiled:
                    objective_of = partial(
                        _objective, model, parameters, loss, [inputs[i] for i in batch], batch_targets, l2
                    )
                    compiled[start] = autograd.trace(objective_of, params=parameters, has_aux=True)
                optimizer.zero_grad()
                (value, detached), _ = compiled[start]()
                optimizer.step()
                total_loss += value * len(batch)
                all_outputs.extend(detached)
                all_targets.extend(batch_targets)
                continue
            with gc_paused():  # the step's graph is freed by reference counting as it returns
                value, detached = _eager_step(
                    model, parameters, loss, optimizer, [inputs[i] for i in batch], batch_targets, l2
                )
            total_loss += value * len(batch)
            all_outputs.extend(detached)
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
    with no_grad(), gc_paused():
        outputs = model.forward_batch(inputs)
        value = loss(outputs, list(targets)).data
    return value, None if accuracy is None else accuracy(outputs, list(targets))


def _eager_step(
    model: Module,
    parameters: list[Value],
    loss: Loss,
    optimizer: Optimizer,
    inputs: list[Sequence[float]],
    targets: list[Any],
    l2: float,
) -> tuple[float, list[Any]]:
    # One batch's step in eager mode. Its graph is freed on return, before the next
    # batch builds its own, so training never holds two graphs at once.
    objective, outputs = _objective(model, parameters, loss, inputs, targets, l2)
    optimizer.zero_grad()
    objective.backward()
    optimizer.step()
    return objective.data, _detached(outputs)


def _objective(
    model: Module,
    parameters: list[Value],
    loss: Loss,
    inputs: list[Sequence[float]],
    targets: list[Any],
    l2: float,
) -> tuple[Value, list[Any]]:
    # One batch's objective, and the outputs whose data the accuracy needs; `parameters`
    # are the model's, taken once per fit rather than once per step.
    outputs = model.forward_batch(inputs)
    objective = loss(outputs, targets)
    if l2:
        objective = objective + l2_penalty(parameters, l2)
    return objective, outputs


# The library's losses that average a per-example term over the batch, so that one
# example's loss (plus the L2 penalty) averaged over a batch is the batch's objective.
_PER_EXAMPLE_MEANS = (hinge_loss, binary_cross_entropy, softmax_cross_entropy, mse_loss)


class _BatchedStep:
    """fit(compile="batch"): one example's objective traced once, run over any batch with numpy."""

    def __init__(
        self, model: Module, loss: Loss, inputs: Sequence[Any], targets: Sequence[Any], l2: float
    ) -> None:
        np = _numpy()
        if loss not in _PER_EXAMPLE_MEANS:
            name = getattr(loss, "__qualname__", repr(loss))
            raise ValueError(
                f"fit: compile='batch' works for the library's losses averaged over the examples "
                f"(hinge_loss, binary_cross_entropy, softmax_cross_entropy, mse_loss), not {name}; "
                "use compile=True, which traces any loss"
            )
        with no_grad():
            first = model(inputs[0])
        width = len(first) if isinstance(first, list) else None
        if loss is softmax_cross_entropy:  # class indices become probability vectors, numbers to trace
            targets = [_one_hot(t, width or 1) for t in targets]
        # The loss checks every target now, as it would batch by batch in eager mode.
        with no_grad():
            loss([[0.0] * width if width else 0.0 for _ in targets], list(targets))
        parameters = model.parameters()

        def objective(x: list[Value], target: Any) -> tuple[Value, Any]:
            output = model(x)
            value = loss([output], [target])
            if l2:
                value = value + l2_penalty(parameters, l2)
            return value, output

        self.step: BatchedFunction = autograd.trace_batch(
            objective, list(inputs[0]), targets[0], params=parameters, has_aux=True, input_grads=False
        )
        try:
            self.inputs = np.asarray(inputs, dtype=np.float64)
            self.targets = np.asarray(targets, dtype=np.float64)
        except ValueError:
            raise ValueError(
                "fit: compile='batch' needs inputs of one length and targets of one shape"
            ) from None
        self.stack = np.stack

    def __call__(self, batch: list[int]) -> tuple[float, list[Any]]:
        """The batch's objective (gradients added into .grad) and its outputs' numbers, example by example."""
        (value, outputs), _ = self.step(self.inputs[batch], self.targets[batch])
        rows = outputs.tolist() if not isinstance(outputs, list) else self.stack(outputs, 1).tolist()
        return value, rows


def _length(what: str, data: Any) -> int:
    try:
        return len(data)
    except TypeError:
        raise TypeError(f"fit: {what} must be a sequence (a list, say), got {type(data).__name__}") from None


def _check_optimizer_covers(optimizer: Optimizer, parameters: list[Value]) -> None:
    # An optimizer made for another model (or a copy of this one) would step nothing fit trains.
    ours = set(parameters)
    if not any(p in ours for p in optimizer.parameters):
        name = type(optimizer).__name__
        raise ValueError(
            f"fit: none of the {name} optimizer's {len(optimizer.parameters)} parameters is one of the "
            f"model's {len(parameters)} (an optimizer made for another model?); "
            f"make it with {name}(model.parameters(), ...)"
        )


def _check_validation(model: Module, validation: object, loss: Loss, measure: Accuracy | None) -> None:
    # Checked, and evaluated once, before training: else a validation set the model, the loss
    # or the accuracy refuses would fail only after the first epoch's steps.
    if not isinstance(validation, (tuple, list)) or len(validation) != 2:
        shape = f" of length {len(validation)}" if isinstance(validation, (tuple, list)) else ""
        raise ValueError(
            f"fit: validation must be a pair (inputs, targets), got a {type(validation).__name__}{shape}"
        )
    inputs, targets = validation
    n = _length("validation inputs", inputs)
    if n == 0 or n != _length("validation targets", targets):
        raise ValueError(
            f"fit: validation needs as many targets as inputs (at least one), got {n} and {len(targets)}"
        )
    _check_finite(inputs, "validation input vector")
    try:
        evaluate(model, inputs, targets, loss=loss, accuracy=measure)
    except (TypeError, ValueError) as exc:
        kind = TypeError if isinstance(exc, TypeError) else ValueError
        raise kind(f"fit: the validation set fails before training: {exc}") from exc


def _numpy() -> Any:
    try:
        return importlib.import_module("numpy")
    except ImportError:
        raise ImportError(
            "fit: compile='batch' needs numpy, an optional dependency: pip install 'chainrule[fast]'"
        ) from None


def _one_hot(target: Any, classes: int) -> Any:
    if isinstance(target, int) and not isinstance(target, bool) and 0 <= target < classes:
        return [1.0 if c == target else 0.0 for c in range(classes)]
    return target  # a probability vector, or something the loss rejects with its own message


def _check_finite(inputs: Sequence[Any], what: str) -> None:
    # A nan or an infinite input would train silently in eager mode (relu(nan) is 0) and
    # give nan gradients in compile="batch" (nan times a zero gradient in a matrix product).
    for k, vector in enumerate(inputs):
        try:
            entries = list(vector)
        except TypeError:
            continue  # not a sequence: the model's forward pass says so
        for i, x in enumerate(entries):
            number = x.data if isinstance(x, Value) else x
            if isinstance(number, float) and not math.isfinite(number):
                raise ValueError(
                    f"fit: {what} {k} holds {number!r} at position {i}; training needs finite inputs"
                )


def _detached(outputs: list[Any]) -> list[Any]:
    # Keep only the numbers: holding the Values would keep every epoch's graph alive.
    return [o.data if isinstance(o, Value) else [v.data for v in o] for o in outputs]
