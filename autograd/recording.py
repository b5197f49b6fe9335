"""`tape`: write a graph down as it is built, so that its backward pass need not search it.

`backward()` normally finds the graph by a depth-first search from the output:
every node and every edge is visited once before a single gradient moves. A
tape makes that search unnecessary. While it is open, every node made in its
context (this thread, and the tasks and threads that copy its context) goes on
it in the order it is made, which is already parents before children; a layer
made by `dots_batch` (or `dots`) and the gates made by one `activate` call go
on it as one entry each. A `backward()` from a node on the tape then runs the
tape in reverse: each node as the search would have run it, and each layer as
a block, its gradients summed in C over the layer's rows and input vectors
instead of added edge by edge.

Before it runs, the tape checks that the graph has no inner node made outside
the block (a leaf, such as a weight, may come from anywhere) and that no
gradient on it was set since it was made (other than back to 0). If either
check fails, or the pass needs hooks, anomaly checks or `create_graph`,
`backward()` searches the graph as it always does, and the tape says why. The
gradients are those of the search up to rounding: the same products, added in
another order. (Near the largest float, the order can also decide whether a
sum overflows; a layer with values past 1e150 in size, or an inf or a nan, runs
node by node in the record's order.)
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

        with autograd.tape() as record:
            loss = ...          # every node made here is written down
            loss.backward()     # runs the record in reverse
        record.used             # True; else record.searched_because says why not

    The record is used only when it holds the whole graph: no inner node made
    outside the block, no gradient set since (except to 0), and no hooks
    (registered on any live Value), anomaly mode or `create_graph`; otherwise
    backward searches the graph as usual. The tape holds the nodes made in the
    block until the first backward pass from one of them or the block's end,
    whichever comes first; nodes made after that pass are not recorded, and a
    later pass searches the graph. A tape opened inside another records the
    nodes made while it is open. A tape is entered once.
    """
    return Tape()


# One input vector of a recorded layer: its inputs (empty when they are numbers),
# their data, and the layer's node for each row. The record's own tuples: a list the
# caller holds may change before the backward pass.
Point = tuple[tuple[Value, ...], tuple[float, ...], tuple[Value, ...]]
Rows = list[tuple[Value, ...]]


class Tape:
    """What `tape()` returns: a context manager, entered once.

    `used` is True once a backward pass ran from the record. `searched_because`
    says why a backward pass from a node of the record searched the graph
    instead (None while that has not happened).
    """

    __slots__ = ("_entered", "_entries", "_index", "_mark", "_segment", "_token", "searched_because", "used")

    def __init__(self) -> None:
        self._entries: list[Entry] | None = None
        self._entered = False
        self._token: Any = None
        # A recorded node starts with `grad is _mark`: 0.0, but an object of this tape's
        # own that a Value made elsewhere does not hold. (A copy of a recorded node gets a
        # float of its own: Value.__copy__ and __deepcopy__ convert it.)
        self._mark: float = _Untouched()
        self._segment: list[Value] | None = None  # where the engine puts the next node
        # The ids of the recorded nodes, and the record's size when they were taken: to
        # find a root whose gradient is no longer the mark (see _holds).
        self._index: tuple[tuple[int, int], set[int]] | None = None
        self.used = False
        self.searched_because: str | None = None

    def __enter__(self) -> Tape:
        if self._entered:
            raise RuntimeError("a tape is entered once; open a new autograd.tape() for another block")
        self._entered = True
        self._segment = []
        self._entries = [self._segment]
        self._token = engine._current_tape.set(self)
        with engine._no_grad_lock:
            engine._tape_blocks += 1
        return self

    def __exit__(self, *exc_info: object) -> None:
        token, self._token = self._token, None
        if token is None:
            return  # already left
        # The record goes first, so that it is let go even if the context cannot be reset
        # (a generator holding the block, finished in another context).
        self._entries = self._segment = self._index = None
        with engine._no_grad_lock:
            engine._tape_blocks -= 1
        engine._current_tape.reset(token)

    def __repr__(self) -> str:
        if self.used:
            state = "used"
        elif self.searched_because is not None:
            state = f"searched: {self.searched_because}"
        else:
            state = "recording" if self._segment is not None else "closed"
        return f"<autograd.Tape {state}>"

    # ---- called by the engine ---------------------------------------------------

    def _add_layer(self, points: list[Point], rows: Rows, biases: Any, gate_rule: Any) -> None:
        # A layer made by dots_batch (its biases None when it has none).
        self._add(_Layer(points, rows, biases, gate_rule))

    def _add_gates(self, inputs: Sequence[Value], nodes: tuple[Value, ...], rule: Any) -> None:
        # The gates made by one `activate` call: nodes[i] is the gate on inputs[i].
        self._add(_Gates(inputs, nodes, rule))

    def _add(self, block: _Layer | _Gates) -> None:
        entries, segment = self._entries, list[Value]()
        if entries is not None:  # else the record was used up meanwhile (a context shared by threads)
            self._segment = segment
            entries += (block, segment)

    def _holds(self, root: Value) -> bool:
        # Whether `root` is a node of the record: True at once for a root that still has
        # the mark; else looked up by identity, in an index kept while the record is the same.
        entries, segment = self._entries, self._segment
        if entries is None or segment is None or root._local_grad is None:
            return False  # used up, or a leaf (never recorded)
        if root.grad is self._mark:
            return True
        if type(root.grad) is not float:
            return False  # a gradient graph (create_graph) or the mark of another tape
        size = (len(entries), len(segment))
        if self._index is None or self._index[0] != size:
            self._index = size, set(map(id, chain.from_iterable(map(_nodes, entries))))
        return id(root) in self._index[1]

    def _run(self, root: Value, seed: float) -> bool:
        # Backward from `root` by the record; False, with nothing done, when the graph
        # must be searched instead.
        entries, mark = self._entries, self._mark
        if entries is None or not self._holds(root):
            return False  # the record is used up, or `root` is not on it
        self._entries = self._segment = self._index = None  # one pass per record; no later nodes
        if not all(_untouched(entry, mark) for entry in entries):
            self.searched_because = (
                "the graph reaches an inner node made outside the block, or a gradient set since"
            )
            return False
        root.grad = seed
        for entry in reversed(entries):
            if type(entry) is list:
                _propagate(reversed(entry))
            else:
                entry.backward()  # type: ignore[union-attr]
        self.used = True
        return True

    def _skip(self, root: Value, reason: str) -> None:
        # A pass from `root` that the record cannot run (hooks, anomaly mode, create_graph):
        # if `root` is recorded here, the record is used up all the same.
        if self._holds(root):
            self._entries = self._segment = self._index = None
            self.searched_because = reason


class _Untouched(float):
    """0.0, as the gradient of a node on a tape."""

    __slots__ = ()

    def __reduce__(self) -> tuple[type[float], tuple[float]]:
        return float, (0.0,)  # a copy or a pickle is a plain 0.0


_data = attrgetter("data")
_grad = attrgetter("grad")


def _untouched(entry: Entry, mark: float) -> bool:
    # Every node of the entry still has the gradient it was made with (a gradient set
    # back to 0 is as good, and gets the mark again), and every inner node it reads was
    # recorded: then the record is the whole graph, in order. Entries are checked in
    # the order they were made, so a recorded parent has its mark back before it is read.
    if type(entry) is not list:
        return entry.untouched(mark)  # type: ignore[union-attr]
    if not _all_marked(entry, mark) and not _remark(entry, mark):
        return False
    for node in entry:
        for parent in node._parents:
            if parent.grad is not mark and parent._local_grad is not None:
                return False
    return True


def _all_marked(values: Iterable[Value], mark: float) -> bool:
    return all(map(is_, map(_grad, values), repeat(mark)))


def _remark(nodes: Iterable[Value], mark: float) -> bool:
    # Recorded nodes whose gradient was set back to 0 (zero_grad, say) get the mark
    # again; any other gradient set since they were made would be added in.
    for node in nodes:
        grad = node.grad
        if grad is not mark:
            if not _zero(grad):
                return False
            node.grad = mark
    return True


def _zero(grad: Any) -> bool:
    return type(grad) is float and grad == 0.0


def _nodes(entry: Entry) -> Iterable[Value]:
    return entry if type(entry) is list else entry.nodes()  # type: ignore[union-attr]


def _recorded(values: Iterable[Value], mark: float) -> bool:
    return all(v.grad is mark or v._local_grad is None for v in values)


def _moderate(*matrices: Iterable[Iterable[float]]) -> bool:
    # Finite and at most 1e150 in size (nan and inf fail the test): then no sum of
    # products of them overflows, in whatever order it is taken.
    return all(map(_LIMIT.__ge__, map(abs, chain.from_iterable(chain.from_iterable(matrices)))))


_LIMIT = 1e150


class _Gates:
    """One `activate` call on a tape: a gate node on each input."""

    __slots__ = ("gates", "inputs", "rule")

    def __init__(self, inputs: Sequence[Value], gates: tuple[Value, ...], rule: Any) -> None:
        self.inputs, self.gates, self.rule = inputs, gates, rule

    def nodes(self) -> Iterable[Value]:
        return self.gates

    def untouched(self, mark: float) -> bool:
        inputs, nodes = self.inputs, self.gates
        return (_all_marked(nodes, mark) or _remark(nodes, mark)) and (
            _all_marked(inputs, mark) or _recorded(inputs, mark)
        )

    def backward(self) -> None:
        if self.rule is not _relu_grad:
            _propagate(reversed(self.gates))
            return
        # relu's rule as the per-node pass runs it, in the same order, without its dispatch
        for a, node in zip(reversed(self.inputs), reversed(self.gates), strict=True):
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

    def nodes(self) -> Iterable[Value]:
        return chain.from_iterable(nodes for _, _, nodes in self.points)

    def untouched(self, mark: float) -> bool:
        weights: Iterable[Value] = chain.from_iterable(self.rows)
        if self.biases is not None:
            weights = chain(weights, self.biases)
        return (
            (_all_marked(self.nodes(), mark) or _remark(self.nodes(), mark))
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
            _propagate(reversed(list(self.nodes())))
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
