"""Weighted sums and activation gates, one node at a time or a whole layer at once.

`dot(ws, xs, b)` is a neuron's weighted sum as ONE node of the `dot` op;
`dots` and `dots_batch` make a layer's sums (over one input vector, or over a
batch), and `activate` puts a gate on many Values. They make exactly the nodes
the op records describe (`engine.DOT`, `engine.RELU`, ...); what they add is
speed: a layer is checked and multiplied out in a few passes in C, and its
nodes are made by `engine.make_nodes` without a Python call per node.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from itertools import chain, repeat
from numbers import Real
from operator import add, attrgetter, mul
from typing import Any, cast

from .anomaly import check_weighted_sum, is_anomaly_enabled
from .blocks import BlockValue
from .engine import DOT, DOT_NUMBERS, FUSED, GATES, Op, Operand, Value, apply, make_nodes
from .grad_mode import expect
from .grad_mode import open_blocks as _mode_blocks

__all__ = ["activate", "dot", "dots", "dots_batch"]

_data = attrgetter("data")
_VALUE_TYPE = frozenset({Value, BlockValue})  # a Value of a parameter block (blocks.py) is one too
_NUMBER_TYPES = frozenset({float, int})
_NONE_TYPE = frozenset({type(None)})


def dot(
    ws: Sequence[Operand],
    xs: Sequence[Operand],
    bias: Operand | None = None,
    *,
    activation: str | None = None,
) -> Value:
    """sum(w_i * x_i) (+ bias) as ONE node, exactly rounded: a neuron's weighted sum.

    When every x is a plain number the xs are constants and only the ws (and
    the bias) are parents. With `activation` "relu", "tanh" or "sigmoid" the
    node is g(sum) itself, op "dot+relu" and so on, with the same data as the
    gate applied to the sum and every x a parent (a number becomes a leaf);
    "linear" (or None) is the plain sum.
    """
    fused = _fused(activation, "dot")
    if _length(ws, "dot: each weight vector") != _length(xs, "dot: each input vector"):
        raise ValueError(f"dot of {len(ws)} weights with {len(xs)} inputs (op 'dot')")
    weights = _as_values(ws, "dot")
    tail = () if bias is None else (_lift(bias, "dot"),)
    if fused is not None:
        parents = (*weights, *_as_values(xs, "dot"), *tail)
        if is_anomaly_enabled():
            check_weighted_sum(DOT.forward(*map(_data, parents)), parents, fused.name)
        return apply(fused, *parents)
    if set(map(type, xs)) <= _NUMBER_TYPES:
        return apply(DOT_NUMBERS, *weights, *tail, params=(tuple(map(float, xs)),))
    return apply(DOT, *weights, *_as_values(xs, "dot"), *tail)


def dots(
    rows: Sequence[Sequence[Operand]],
    xs: Sequence[Operand],
    biases: Sequence[Operand | None] | None = None,
    *,
    activation: str | None = None,
) -> list[Value]:
    """`dot(ws, xs, b)` for every row of weights `ws` (and its bias `b`) over the same inputs: a layer.

    The nodes are exactly those of `dot` (with the same `activation`), one per
    row; a fused layer lifts a number among `xs` to one leaf for all its rows.
    When every weight is a Value and the biases are all Values or all None, the
    layer is checked and multiplied out in a few passes in C rather than row by
    row, which is most of a network's forward pass.
    """
    _fused(activation, "dots")  # named here, before dots_batch would name itself
    return dots_batch(rows, [xs], biases, activation=activation)[0]


def dots_batch(
    rows: Sequence[Sequence[Operand]],
    xss: Sequence[Sequence[Operand]],
    biases: Sequence[Operand | None] | None = None,
    *,
    activation: str | None = None,
) -> list[list[Value]]:
    """`dots(rows, xs, biases, activation=...)` for every input vector `xs` of `xss`: a layer over a batch.

    The nodes are exactly those of `dot`, one per row for each input vector,
    except that with an activation a number among an input vector becomes one
    leaf shared by the layer's rows (its gradient is the input's). The layer's
    weights are checked and read once for the whole batch, not once per input
    vector.
    """
    fused = _fused(activation, "dots_batch")
    m = _length(rows, "dots: the rows of weights")
    _length(xss, "dots_batch: the input vectors")
    if biases is None:
        biases = [None] * m
    elif _length(biases, "dots: the biases") != m:
        raise ValueError(f"dots of {m} rows of weights with {len(biases)} biases (op 'dot')")
    try:
        lengths = set(map(len, rows))
    except TypeError:
        for ws in rows:
            _length(ws, "dot: each weight vector")  # names the row that is not a sequence
        raise
    n = len(rows[0]) if rows else 0
    if _mode_blocks:  # a trace's budget refuses a layer too big for it before it is multiplied out
        expect(m * len(xss), m * len(xss) * (2 * n + 2))
    bias_types = set(map(type, biases))
    has_bias = bias_types <= _VALUE_TYPE
    # One pass reads every weight that is a Value; if that is all of them, the layer is whole.
    weights = [w.data for w in chain.from_iterable(rows) if type(w) is Value or type(w) is BlockValue]
    if not (n and (has_bias or bias_types == _NONE_TYPE) and lengths == {n} and len(weights) == n * m):
        # No weights, a row without a bias, numbers among the weights, or an error to report.
        return [_dots_by_row(rows, xs, biases, activation) for xs in xss]
    row_weights = [tuple(cast("Sequence[Value]", ws)) for ws in rows]
    bs = cast("Sequence[Value]", biases)
    tails = [(b,) for b in bs] if has_bias else [()] * m
    bias_data = [(b.data,) for b in bs] if has_bias else []
    weight_parents = [(*ws, *tail) for ws, tail in zip(row_weights, tails, strict=True)]
    # The layer's nodes for every input vector, gathered by op and made at once at the end.
    result: list[list[Value]] = []
    pending: dict[Op, tuple[list[float], list[tuple[Value, ...]], list[tuple[Any, ...]], list[int]]] = {}
    for xs in xss:
        size = _length(xs, "dot: each input vector")
        input_types = set(map(type, xs))
        op: Op
        params: tuple[Any, ...] = ()
        if input_types <= _VALUE_TYPE and input_types and size == n:
            inputs = cast("tuple[Value, ...]", tuple(xs))
            known: tuple[float, ...] = tuple([x.data for x in inputs])
            op = DOT if fused is None else fused
        elif input_types <= _NUMBER_TYPES and input_types and size == n:
            known = tuple(map(float, xs))
            if fused is None:
                inputs, op, params = (), DOT_NUMBERS, (known,)
            else:
                inputs, op = tuple(map(Value, known)), fused  # a fused node's inputs are parents, as in dot
        else:  # a mixed or wrong-length input vector: dot sorts it out (or names the problem)
            result.append(_dots_by_row(rows, xs, biases, activation))
            continue
        products = map(mul, weights, known * m)
        row_terms: Iterable[tuple[float, ...]] = zip(*[products] * n, strict=True)  # one row's products
        if has_bias:
            row_terms = map(add, row_terms, bias_data)
        try:
            sums = list(map(math.fsum, row_terms))
        except (OverflowError, ValueError):  # a row with no finite sum: dot gives it inf or nan
            result.append(_dots_by_row(rows, xs, biases, activation))
            continue
        if inputs:
            parents = [(*ws, *inputs, *tail) for ws, tail in zip(row_weights, tails, strict=True)]
        else:  # numbers: the parents are the weights (and bias) alone, the same for every vector
            parents = weight_parents
        if fused is not None:
            if is_anomaly_enabled():
                for total, p in zip(sums, parents, strict=True):
                    check_weighted_sum(total, p, fused.name)
            sums = list(map(fused.gate.forward, sums))  # type: ignore[union-attr]
        data, parent_lists, param_lists, places = pending.setdefault(op, ([], [], [], []))
        data += sums
        parent_lists += parents
        param_lists += [params] * m
        places.append(len(result))
        result.append([])
    for op, (data, parent_lists, param_lists, places) in pending.items():
        nodes = make_nodes(op, data, parent_lists, param_lists)
        for k, place in enumerate(places):
            result[place] = nodes[k * m : (k + 1) * m]
    return result


def activate(values: Iterable[Operand], activation: str) -> list[Value]:
    """`[v.relu() for v in values]` (or `.tanh()`, `.sigmoid()`): the same gate nodes, made in one pass.

    A number among `values` becomes a leaf, as in the Value methods; "linear"
    (or None) gives the values back as a list, numbers as leaves.
    """
    if not isinstance(values, (list, tuple)):
        try:
            items = None if isinstance(values, Value) else iter(values)
        except TypeError:
            items = None
        if items is None:
            raise TypeError(
                f"activate expects an iterable of Values (or numbers), got {type(values).__name__} {values!r}"
            )
        values = list(items)  # an iterator is read once
    if not set(map(type, values)) <= _VALUE_TYPE:  # the slow path only: names what is not a number
        for v in values:
            if not isinstance(v, (Value, Real)):
                hint = "; flatten a batch of rows into one list first" if isinstance(v, (list, tuple)) else ""
                raise TypeError(f"activate expects Values or numbers, got {type(v).__name__} {v!r}{hint}")
    if activation is None or activation == "linear":
        return list(_as_values(values, "activate"))
    gate = GATES.get(activation) if isinstance(activation, str) else None
    if gate is None:
        raise ValueError(
            f"activate: unknown activation {activation!r} (choose from linear, relu, tanh, sigmoid)"
        )
    inputs = _as_values(values, activation)  # a number becomes a leaf, as in the Value methods
    return make_nodes(gate, map(gate.forward, map(_data, inputs)), zip(inputs), repeat(()))  # zip: 1-tuples


def _dots_by_row(
    rows: Sequence[Sequence[Operand]],
    xs: Sequence[Operand],
    biases: Sequence[Operand | None],
    activation: str | None,
) -> list[Value]:
    _length(xs, "dot: each input vector")  # checked even when there are no rows
    if activation is not None and activation != "linear":
        xs = _as_values(xs, "dot")  # a fused layer lifts a number among its inputs once, for every row
    return [dot(ws, xs, b, activation=activation) for ws, b in zip(rows, biases, strict=True)]


def _fused(activation: object, function: str) -> Op | None:
    if activation is None or activation == "linear":
        return None
    fused = FUSED.get(activation) if isinstance(activation, str) else None
    if fused is None:
        raise ValueError(
            f"{function}: unknown activation {activation!r} (choose from linear, relu, tanh, sigmoid) "
            "(op 'dot')"
        )
    return fused


def _length(items: object, what: str) -> int:
    try:
        return len(items)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{what} must be a sequence, got {items!r} (op 'dot')") from None


def _lift(x: object, op: str) -> Value:
    if isinstance(x, Value):
        return x
    if isinstance(x, Real):
        return Value(float(x))
    raise TypeError(f"{op} expects a real number, got {type(x).__name__} {x!r}")


def _as_values(items: Sequence[Operand], op: str) -> tuple[Value, ...]:
    # The type check runs in C, so a neuron whose inputs are all Values pays no Python loop.
    if set(map(type, items)) <= _VALUE_TYPE:
        return tuple(items)  # type: ignore[arg-type]
    return tuple([_lift(x, op) for x in items])
