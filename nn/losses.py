"""Losses: compositions of engine ops that end in one scalar Value.

Every loss takes a batch's `outputs` (one Value, or a list of Values, per
sample) and `targets`, and returns the loss averaged over the batch unless
its `reduction` says otherwise. Cross-entropies work from raw scores
(logits), which keeps them finite for any scores (log-sum-exp). Targets are
numbers, or Values (a target that is an argument of a traced function, as in
`fit(compile="batch")`); they are checked by their data either way.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from numbers import Real
from typing import Any

from autograd import Value, dot, primitive

__all__ = [
    "REDUCTIONS",
    "binary_cross_entropy",
    "hinge_loss",
    "l2_penalty",
    "log_softmax",
    "logsumexp",
    "mse_loss",
    "softmax",
    "softmax_cross_entropy",
]

REDUCTIONS = ("mean", "half_sum", "sum")


def _flatten(name: str, xs: object) -> list[Value | float]:
    """A flat list of scalars from one vector or a batch of vectors."""
    if isinstance(xs, (Value, Real)):
        return [xs]  # type: ignore[list-item]
    if not isinstance(xs, Sequence) or isinstance(xs, (str, bytes)):
        raise TypeError(f"{name}: expected numbers, Values or lists of them, got {type(xs).__name__} {xs!r}")
    flat: list[Value | float] = []
    for x in xs:
        flat.extend(_flatten(name, x))
    return flat


def _check_number(name: str, what: str, x: object) -> float:
    if isinstance(x, bool) or not isinstance(x, Real) or not math.isfinite(float(x)):
        raise ValueError(f"{name}: {what} must be a finite number, got {x!r}")
    return float(x)


def _check_target(name: str, what: str, x: object) -> Value | float:
    """A target as given, a number or a Value, once its data is checked to be a finite number."""
    if isinstance(x, Value):
        _check_number(name, what, x.data)
        return x
    return _check_number(name, what, x)


def mse_loss(outputs: object, targets: object, reduction: str = "mean") -> Value:
    """Squared error: its mean, the seeds' 0.5*sum ("half_sum"), or the plain sum ("sum").

    "half_sum" is E = 0.5 * sum (t - o)^2, whose gradient dE/do = o - t carries
    no factor 2; "sum" is seed 000's (y1 - x1)^2 + (y2 - x2)^2.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"mse_loss: unknown reduction {reduction!r} (choose from {', '.join(REDUCTIONS)})")
    outs = _flatten("mse_loss", outputs)
    ts = [_check_target("mse_loss", "a target", t) for t in _flatten("mse_loss", targets)]
    if len(outs) != len(ts):
        raise ValueError(f"mse_loss: {len(outs)} outputs but {len(ts)} targets")
    if not outs:
        raise ValueError("mse_loss: no outputs")
    errors = [o - t for o, t in zip(outs, ts, strict=True)]
    values = [e if isinstance(e, Value) else Value(e) for e in errors]
    total = dot(values, values)  # sum of squares as one node
    scale = {"mean": 1.0 / len(values), "half_sum": 0.5, "sum": 1.0}[reduction]
    return total if scale == 1.0 else total * scale


def hinge_loss(scores: object, labels: object, margin: float = 1.0) -> Value:
    """Mean of max(0, margin - y * score) for labels y in {-1, +1} (micrograd's max-margin loss)."""
    ss = _flatten("hinge_loss", scores)
    ys = [_check_target("hinge_loss", "a label", y) for y in _flatten("hinge_loss", labels)]
    if len(ss) != len(ys):
        raise ValueError(f"hinge_loss: {len(ss)} scores but {len(ys)} labels")
    if not ss:
        raise ValueError("hinge_loss: no scores")
    for y in ys:
        if float(y) not in (-1.0, 1.0):
            raise ValueError(
                f"hinge_loss: labels must be -1 or +1, got {y!r} (use nn.signs(labels) for 0/1 labels)"
            )
    # margin - y*s as one dot node per sample: weight s, constant input -y, bias margin.
    terms = [dot([s], [-y], margin).relu() for s, y in zip(ss, ys, strict=True)]
    return Value.sum(terms) * (1.0 / len(terms))


def _bce_logit_grad(m: Any, out: Any, z: Any, t: Any) -> tuple[Any, Any]:
    return m.sigmoid(z) - t, -z  # d/dz = sigmoid(z) - t, d/dt = -z


def _bce_logit_forward(z: float, t: float) -> float:
    # -[t log s(z) + (1 - t) log(1 - s(z))] = max(z, 0) - z t + log(1 + e^-|z|), finite for any z.
    return max(z, 0.0) - z * t + math.log1p(math.exp(-abs(z)))


def _bce_logit_arrays(z: Any, t: Any) -> Any:
    # The same on numpy arrays, for a whole batch at once (trace_batch, fit(compile="batch")).
    np = importlib.import_module("numpy")
    return np.maximum(z, 0.0) - z * t + np.log1p(np.exp(-np.abs(z)))


_bce_with_logit = primitive("bce_logit", _bce_logit_grad, numpy=_bce_logit_arrays)(_bce_logit_forward)


def binary_cross_entropy(logits: object, targets: object) -> Value:
    """Mean binary cross-entropy of sigmoid(logit) against targets in [0, 1]; gradient sigmoid(z) - t."""
    zs = _flatten("binary_cross_entropy", logits)
    ts = [
        _check_target("binary_cross_entropy", "a target", t)
        for t in _flatten("binary_cross_entropy", targets)
    ]
    if len(zs) != len(ts):
        raise ValueError(f"binary_cross_entropy: {len(zs)} logits but {len(ts)} targets")
    if not zs:
        raise ValueError("binary_cross_entropy: no logits")
    for t in ts:
        if not 0.0 <= float(t) <= 1.0:
            raise ValueError(f"binary_cross_entropy: targets must lie in [0, 1], got {t!r}")
    terms = [_bce_with_logit(z, t) for z, t in zip(zs, ts, strict=True)]
    return Value.sum(terms) * (1.0 / len(terms))


def _logsumexp_grad(m: Any, out: Any, *scores: Any) -> tuple[Any, ...]:
    return tuple(m.exp(a - out) for a in scores)  # d lse / d a_k = e^(a_k - lse) = softmax(a)_k


def _logsumexp_forward(*scores: float) -> float:
    top = max(scores)
    if math.isinf(top):
        return top
    return top + math.log(math.fsum(math.exp(a - top) for a in scores))


def _logsumexp_arrays(*scores: Any) -> Any:
    # The same on numpy arrays (each score one array over the batch), for trace_batch.
    np = importlib.import_module("numpy")
    top = np.maximum.reduce(np.broadcast_arrays(*scores))
    with np.errstate(invalid="ignore", over="ignore"):  # where top is infinite, top is the answer
        total = top + np.log(sum(np.exp(a - top) for a in scores))
    return np.where(np.isinf(top), top, total)


_logsumexp = primitive("logsumexp", _logsumexp_grad, numpy=_logsumexp_arrays)(_logsumexp_forward)


def logsumexp(scores: Sequence[Value | float]) -> Value:
    """log(sum(exp(a_k))) as one node, computed without overflow; its gradient is softmax(a)."""
    if not scores:
        raise ValueError("logsumexp: no scores")
    return _logsumexp(*scores)


def log_softmax(scores: Sequence[Value | float]) -> list[Value]:
    """a_k - logsumexp(a) for every k."""
    lse = logsumexp(scores)
    return [a - lse for a in scores]


def softmax(scores: Sequence[Value | float]) -> list[Value]:
    """exp(a_k - logsumexp(a)) for every k: probabilities that sum to 1."""
    return [p.exp() for p in log_softmax(scores)]


def _target_vector(k: int, target: object, classes: int) -> list[Value | float]:
    name = "softmax_cross_entropy"
    if isinstance(target, int) and not isinstance(target, bool):
        if not 0 <= target < classes:
            raise ValueError(f"{name}: sample {k}: class index {target} out of range for {classes} scores")
        return [1.0 if c == target else 0.0 for c in range(classes)]
    if isinstance(target, Sequence) and not isinstance(target, (str, bytes)):
        if len(target) != classes:
            raise ValueError(f"{name}: sample {k}: target has {len(target)} entries for {classes} scores")
        ts = [_check_target(name, f"sample {k}'s target entry", t) for t in target]
        if any(float(t) < 0.0 for t in ts) or abs(math.fsum(map(float, ts)) - 1.0) > 1e-9:
            raise ValueError(f"{name}: sample {k}: target {ts} is not a probability vector")
        return ts
    raise TypeError(
        f"{name}: sample {k}: target must be a class index or a probability vector, got {target!r}"
    )


def softmax_cross_entropy(scores: object, targets: object) -> Value:
    """-sum t_k log softmax(a)_k, averaged over the batch; its gradient is softmax(a) - t.

    `scores` is one score vector or a batch of them; each target is a class
    index or a probability (one-hot) vector.
    """
    name = "softmax_cross_entropy"
    if isinstance(scores, Sequence) and scores and not isinstance(scores[0], (Sequence)):
        batch, batch_targets = [scores], [targets]
    else:
        if not isinstance(scores, Sequence) or not isinstance(targets, Sequence):
            raise TypeError(
                f"{name}: expected a score vector or a batch of them, got {type(scores).__name__}"
            )
        batch, batch_targets = list(scores), list(targets)
    if not batch:
        raise ValueError(f"{name}: no scores")
    if len(batch) != len(batch_targets):
        raise ValueError(f"{name}: {len(batch)} score vectors but {len(batch_targets)} targets")
    terms = []
    for k, (row, target) in enumerate(zip(batch, batch_targets, strict=True)):
        if not isinstance(row, Sequence) or not row:
            raise ValueError(f"{name}: sample {k}: empty or invalid score vector {row!r}")
        ts = _target_vector(k, target, len(row))
        weights = [-t for t in ts]
        # L = lse(a) - sum t_k a_k (the t_k sum to 1), so dL/da_k = softmax_k - t_k exactly.
        terms.append(dot(list(row), weights, logsumexp(row)))
    total = Value.sum(terms)
    return total if len(terms) == 1 else total * (1.0 / len(terms))


def l2_penalty(parameters: Sequence[Value], alpha: float) -> Value:
    """alpha * sum(p^2): L2 regularisation (micrograd's demo uses alpha = 1e-4)."""
    alpha = _check_number("l2_penalty", "alpha", alpha)
    if alpha < 0.0:
        raise ValueError(f"l2_penalty: alpha must be non-negative, got {alpha!r}")
    params = list(parameters)
    if not params:
        return Value(0.0)
    return dot(params, params) * alpha
