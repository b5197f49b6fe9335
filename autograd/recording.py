"""`tape`: write a graph down as it is built, so that its backward pass need not search it.

`backward()` normally finds the graph by a depth-first search from the output:
every node and every edge is visited once before a single gradient moves. A
tape makes that search unnecessary. While it is open, every node made in this
context (this thread, and tasks or threads that copy its context) goes on it in the order it is made,
which is already parents before children; a layer made by `dots_batch` (or
`dots`) and the gates made by `activate` go on it as one entry each. A
`backward()` from a node on the tape then runs the tape in reverse: each node
as the search would have run it, and each layer as a block, its gradients
summed in C over the layer's rows and input vectors instead of added edge by
edge.

Before it runs, the tape checks that the graph has no inner node made outside
the block (a leaf, such as a weight, may come from anywhere) and that no
gradient on it was set since it was made. If either check fails, or the pass
needs hooks, anomaly checks or `create_graph`, `backward()` searches the graph
as it always does. The gradients are those of the search up to rounding: a
block adds the same products, but in another order, and a layer whose sums
might overflow (or that meets an inf or a nan) runs node by node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import chain, compress, repeat
from operator import attrgetter, is_, mul
from typing import Any, Union

from . import engine
from .engine import Value, _propagate, _relu_grad

__all__ = ["Tape", "tape"]


def tape() -> Tape:
    """A block whose first `backward()` from a node made in it runs from a record, not a search.

    ::

        with autograd.tape():
            loss = ...          # every node made here is written down
            loss.backward()     # runs the record in reverse

    The tape holds the nodes made in the block until that first backward pass
    or the block's end, whichever comes first. Nodes made after the pass are
    not recorded, and a later pass searches the graph as usual. `Tape.used`
    says whether a pass ran from the record.
    """
    return Tape()


# One input vector of a recorded layer: its inputs (empty when they are numbers),
# their data, and the layer's node for each row. The record's own tuples: a list the
# caller holds may change before the backward pass.
Point = tuple[tuple[Value, ...], tuple[float, ...], tuple[Value, ...]]
Rows = list[tuple[Value, ...]]


class Tape:
    """What `tape()` returns: a context manager, entered once."""

    __slots__ = ("_entered", "_entries", "_token", "mark", "segment", "used")

    def __init__(self) -> None:
        self._entries: list[Entry] | None = None
        self._entered = False
        self._token: Any = None
        # A recorded node starts with `grad is mark`: 0.0, but an object of this tape's own
        # that a Value made elsewhere does not hold. (A copy of a recorded node gets a
        # float of its own: copy.deepcopy copies this float subclass, and Value.__copy__
        # converts it.)
        self.mark: float = _Untouched()
        self.segment: list[Value] | None = None  # where the engine puts the next node
        self.used = False

    def __enter__(self) -> Tape:
        if self._entered:
            raise RuntimeError("a tape is entered once; open a new autograd.tape() for another block")
        self._entered = True
        self.segment = []
        self._entries = [self.segment]
        self._token = engine._current_tape.set(self)
        with engine._no_grad_lock:
            engine._tape_blocks += 1
        return self

    def __exit__(self, *exc_info: object) -> None:
        # The record goes first, so that it is let go even if the context cannot be reset
        # (a generator holding the block, finished in another context).
        self._entries = self.segment = None
        with engine._no_grad_lock:
            engine._tape_blocks -= 1
        token, self._token = self._token, None
        engine._current_tape.reset(token)

    def __repr__(self) -> str:
        state = "used" if self.used else "recording" if self.segment is not None else "closed"
        return f"<autograd.Tape {state}>"

    # ---- called by the engine ---------------------------------------------------

    def add_layer(self, points: list[Point], rows: Rows, biases: Any, gate_rule: Any) -> None:
        """Record a layer made by dots_batch (its biases None when it has none)."""
        self._add(_Layer(points, rows, biases, gate_rule))

    def add_gates(self, inputs: Sequence[Value], nodes: tuple[Value, ...], rule: Any) -> None:
        """Record the gates made by `activate`: nodes[i] is the gate on inputs[i]."""
        self._add(_Gates(inputs, nodes, rule))

    def _add(self, block: _Layer | _Gates) -> None:
        entries, segment = self._entries, list[Value]()
        if entries is not None:  # else the record was used up meanwhile (a context shared by threads)
            self.segment = segment
            entries += (block, segment)

    def run(self, root: Value, seed: float) -> bool:
        """Backward from `root` by the record; False, with nothing done, when the graph must be searched."""
        entries, mark = self._entries, self.mark
        if entries is None or root.grad is not mark:
            return False  # not recorded here, or the record is used up
        self._entries = self.segment = None  # one pass per record; later nodes are not written down
        if not all(_untouched(entry, mark) for entry in entries):
            return False
        root.grad = seed
        for entry in reversed(entries):
            if type(entry) is list:
                _propagate(reversed(entry))
            else:
                entry.backward()  # type: ignore[union-attr]
        self.used = True
        return True


class _Untouched(float):
    """0.0, as the gradient of a node on a tape."""

    __slots__ = ()


_data = attrgetter("data")
_grad = attrgetter("grad")


def _untouched(entry: Entry, mark: float) -> bool:
    # Every node of the entry still has the gradient it was made with, and every inner
    # node it reads was recorded: then the record is the whole graph, in order.
    if type(entry) is not list:
        return entry.untouched(mark)  # type: ignore[union-attr]
    for node in entry:
        if node.grad is not mark:
            return False
        for parent in node._parents:
            if parent.grad is not mark and parent._local_grad is not None:
                return False
    return True


def _all_marked(values: Iterable[Value], mark: float) -> bool:
    return all(map(is_, map(_grad, values), repeat(mark)))


def _recorded(values: Iterable[Value], mark: float) -> bool:
    return all(v.grad is mark or v._local_grad is None for v in values)


def _moderate(*matrices: Iterable[Iterable[float]]) -> bool:
    # Finite and at most 1e150 in size (nan and inf fail the test): then no sum of
    # products of them overflows, in whatever order it is taken.
    return all(map(_LIMIT.__ge__, map(abs, chain.from_iterable(chain.from_iterable(matrices)))))


_LIMIT = 1e150


class _Gates:
    """One `activate` call on a tape: a gate node on each input."""

    __slots__ = ("inputs", "nodes", "rule")

    def __init__(self, inputs: Sequence[Value], nodes: tuple[Value, ...], rule: Any) -> None:
        self.inputs, self.nodes, self.rule = inputs, nodes, rule

    def untouched(self, mark: float) -> bool:
        inputs = self.inputs
        return _all_marked(self.nodes, mark) and (_all_marked(inputs, mark) or _recorded(inputs, mark))

    def backward(self) -> None:
        if self.rule is not _relu_grad:
            _propagate(reversed(self.nodes))
            return
        # relu's rule as the per-node pass runs it, in the same order, without its dispatch
        for a, node in zip(reversed(self.inputs), reversed(self.nodes), strict=True):
            upstream = node.grad
            if upstream:
                a.grad += upstream if a.data > 0.0 else upstream * 0.0


# A fused gate's slope g'(S), from its node's output, as the fused rules take it.
_SLOPES: dict[Any, Callable[[float], float]] = {
    engine._dot_tanh_grad: lambda out: engine._tanh_grad(engine.FLOAT_MATH, out, None)[0],
    engine._dot_sigmoid_grad: lambda out: engine._sigmoid_grad(engine.FLOAT_MATH, out, None)[0],
}


class _Layer:
    """One dots_batch layer on a tape: rows of weights (and biases) over a batch of input vectors."""

    __slots__ = ("biases", "gate_rule", "points", "rows")

    def __init__(self, points: list[Point], rows: Rows, biases: Any, gate_rule: Any) -> None:
        self.points, self.rows, self.biases, self.gate_rule = points, rows, biases, gate_rule

    def _nodes(self) -> Iterable[Value]:
        return chain.from_iterable(nodes for _, _, nodes in self.points)

    def untouched(self, mark: float) -> bool:
        weights: Iterable[Value] = chain.from_iterable(self.rows)
        if self.biases is not None:
            weights = chain(weights, self.biases)
        return (
            _all_marked(self._nodes(), mark)
            and _recorded(weights, mark)
            and all(_all_marked(xs, mark) or _recorded(xs, mark) for xs, _, _ in self.points)
        )

    def backward(self) -> None:
        # U holds the nodes' upstream gradients (a row per input vector, a column per row
        # of weights), W the weights and X the inputs: X gets U W, W gets U^T X and the
        # biases U's column sums, each entry one sum taken in C. Each product is the one
        # the per-node rule takes; only the order of the sums differs.
        points, rows = self.points, self.rows
        upstream = [list(map(_grad, nodes)) for _, _, nodes in points]
        slopes: list[list[float]] = []  # a fused tanh's or sigmoid's g'(S), a row per input vector
        if self.gate_rule is engine._dot_relu_grad:  # a fused relu passes u on, or u * 0 when off
            upstream = [
                [u if out > 0.0 else u * 0.0 for u, out in zip(us, map(_data, nodes), strict=True)]
                for us, (_, _, nodes) in zip(upstream, points, strict=True)
            ]
        elif self.gate_rule is not None:
            slope = _SLOPES[self.gate_rule]
            slopes = [list(map(slope, map(_data, nodes))) for _, _, nodes in points]
        weights = [tuple(map(_data, ws)) for ws in rows]
        inputs = [tuple(map(_data, xs)) if xs else known for xs, known, _ in points]
        if not _moderate(upstream, weights, inputs, slopes):
            # The per-node rules never take 0 times an inf or a nan (they skip a gradient of
            # 0), and a sum that may overflow is best taken term by term. They run here, in
            # the record's order (the reverse of the order the nodes were made in).
            _propagate(reversed(list(self._nodes())))
            return
        # A gradient of 0 adds nothing in the per-node pass; here it is left out of the
        # sums, which also saves their work (a relu that is off, a point the hinge ignores).
        for k, ((xs, _, _), us) in enumerate(zip(points, upstream, strict=True)):
            if not xs:
                continue  # numbers: no input gradients
            # this vector's row of U W: the rows of W, each scaled by its gradient, summed
            if slopes:
                scaled = [
                    map(mul, map(mul, ws, repeat(s)), repeat(u))  # u * (w * g'(S)), as the rule has it
                    for ws, u, s in zip(weights, us, slopes[k], strict=True)
                    if u
                ]
            else:
                scaled = [map(mul, ws, repeat(u)) for ws, u in zip(weights, us, strict=True) if u]
            if len(scaled) == 1:
                for x, product in zip(xs, scaled[0], strict=True):
                    x.grad += product
            elif scaled:
                for x, total in zip(xs, map(sum, zip(*scaled, strict=True)), strict=True):
                    x.grad += total
        biases = self.biases
        by_row = list(zip(*slopes, strict=True))
        for i, column in enumerate(zip(*upstream, strict=True)):  # U's columns: one row of weights'
            used = [u for u in column if u]
            if not used:
                continue
            seen = zip(*compress(inputs, column), strict=True)  # the inputs those nodes read
            if slopes:
                used_slopes = list(compress(by_row[i], column))
                for w, xs in zip(rows[i], seen, strict=True):
                    w.grad += sum(map(mul, used, map(mul, xs, used_slopes)))  # u * (x * g'(S))
                if biases is not None:
                    biases[i].grad += sum(map(mul, used, used_slopes))
                continue
            for w, xs in zip(rows[i], seen, strict=True):
                w.grad += sum(map(mul, used, xs))
            if biases is not None:
                biases[i].grad += sum(used)


Entry = Union[list[Value], _Layer, _Gates]  # noqa: UP007 (a runtime alias, kept for Python 3.10)
