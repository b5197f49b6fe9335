"""Compiling a per-example function over a whole batch: numpy arrays in, one mean (or sum) out.

`trace_batch(per_example, *example_args, params=...)` runs `per_example` once,
on Values made from ONE example, and generates one Python function that runs
the traced graph for every example of a batch at once with numpy. Calling it
returns the mean (or sum) over the batch of the per-example outputs, its
gradient with respect to each example's arguments, and adds the parameters'
gradients into their `.grad` as `backward()` would.

What a node becomes: a node that depends on a per-example argument is
*batched*, an array of shape (B,) with one entry per example. Every other node
(a parameter, a constant, an L2 penalty on the parameters) is one number,
computed once per call exactly as `trace` computes it. A gradient flowing from
batched nodes into a number is summed over the batch.

Each op is read from its record (`engine.Op`), as `trace` reads it (see
codegen.py). Its forward on arrays is the record's numpy form: the name of a
function of `numpy_math()` (`numpy="exp"`) or a function of arrays; else its
forward run on symbols when that is arithmetic, which runs on arrays as it is
(`x * 2`, `x ** 3`); else (a `primitive` given no `numpy=`) the forward runs
once per example, in Python. A domain that runs on symbols is tested on the
whole array. The backward code comes from each op's one local-gradient rule,
called on symbols with a math namespace of numpy functions (`numpy_math()`),
so that `m.step(a)` works elementwise; a rule that cannot run on symbols runs
at call time once per example, on floats.

Where the speed comes from, blocks: dot nodes (the records `dot`, dot with
numbers, and fused `dot+gate`) that read the same batched nodes with weights
and biases that are numbers (a layer's neurons) are the columns of ONE matrix
product over the batch, `Z = X @ W.T + b`; when X's columns are another
block's columns, that block's matrix is X as it is. A fused block applies its
gate record's numpy form to the product, and its backward takes the gate's
slope from the gate record's rule. An op applied to every column of a block
(relu on a layer's sums) is one numpy call on the block's matrix. Everything
else is one numpy operation per node on (B,) arrays. The one backward written
here is a dot block's, and it is the dot rule in matrix shape.

Parameter blocks: a dot block whose every weight (and every bias, if any) is
a param of its own, one to a cell, is a layer; its params become a parameter
block (blocks.py), their numbers held in one float64 array laid out as the
layer's matrix, each row's bias last (rows in the order of the params, so the
layout is the order nn lists a layer's parameters in). The generated code
reads W and b as views of that array and adds dW = G.T @ X and db into the
block's gradient array as whole arrays, after everything else (nothing that
can fail comes after them, so a failed call that is run again adds nothing
twice). A dot that squares every param of some blocks (an L2 penalty,
dot(params, params)) is one vdot per block, and adds 2 * upstream * P.
A param is read one by one (`.data`) only where other code needs its number.
The compiled function attaches its blocks again if they were detached. An
optimizer over block params steps the arrays (nn/optim.py). So a step of
MLP(2, [256, 256, 1]) runs no Python per parameter (there are 66,817).

dtype="float32" runs the batch in float32: inputs and every matrix are
float32, W and b are cast from the float64 blocks at each call, and the
float32 gradients are added into the float64 gradient arrays; numbers that
depend on no example stay Python floats (numpy keeps float32 with them).

Results equal eager mode's up to floating-point rounding (a matrix product
adds in another order than `math.fsum`), not bit for bit as `trace`'s do. The
generated source holds only numbers and names the generator made; numpy runs
with floating-point errors raised, and a failing call is re-run eagerly,
example by example, to raise the engine's own error. numpy is an optional
dependency: `pip install 'chainrule[fast]'`.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from functools import cache, partial
from types import SimpleNamespace
from typing import Any

from .blocks import BlockValue, ParameterBlock, attached_block
from .codegen import (
    CompileError,
    GradientSums,
    Graph,
    Names,
    OpFailedError,
    Spec,
    Sym,
    SymMath,
    TraceMismatchError,
    aux_result,
    check_baked,
    check_params,
    domain_guard,
    dot_parts,
    emit_forward,
    emit_sum,
    fail,
    first_difference,
    flatten,
    is_exact_sum,
    is_simple,
    list_source,
    local_gradients,
    number,
    rebuild_all,
    split_result,
    sum_terms,
    symbolic,
    times,
    times_unless_zero,
)
from .engine import FLOAT_MATH, Op, Value, enable_grad
from .general import gradient_totals

__all__ = ["DTYPES", "REDUCTIONS", "BatchedFunction", "numpy_math", "trace_batch"]

REDUCTIONS = ("mean", "sum")
DTYPES = ("float64", "float32")


def _numpy() -> Any:
    try:
        return importlib.import_module("numpy")
    except ImportError:
        raise ImportError(
            "autograd.trace_batch needs numpy, an optional dependency: pip install 'chainrule[fast]'"
        ) from None


# ---- the math namespace on arrays ------------------------------------------------------


@cache
def numpy_math() -> Any:
    """The math namespace `m` of local-gradient rules on numpy arrays, elementwise; and the ops' numpy forms.

    Each function agrees with FLOAT_MATH's, entry by entry (nan included:
    `step(nan)` is 0 as `1.0 if nan > 0.0 else 0.0` is), so a rule written
    with `m` computes a whole batch's local gradients in one call. An op's
    record names its forward on arrays here (`numpy="relu"`): each agrees with
    the op's forward on floats, nan included, up to the last bit of numpy's
    own exp, sin and the like.
    """
    np = _numpy()

    def sigmoid(x: Any) -> Any:
        e = np.exp(-np.abs(x))  # never overflows
        return np.where(x >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))

    def power(x: Any, y: Any) -> Any:
        with np.errstate(divide="ignore", over="ignore"):  # inf, as FLOAT_MATH.pow says
            # 0 ** negative is +inf there, for -0.0 too (numpy gives -inf for an odd power of -0.0)
            return np.where((x == 0.0) & (y < 0.0), np.inf, np.power(x, y))

    def xlogy(x: Any, y: Any) -> Any:
        positive = y > 0.0
        logs = np.log(np.where(positive, y, 1.0))
        return np.where(x == 0.0, 0.0, np.where(positive, x * logs, np.nan))

    def kind(x: Any) -> Any:
        # the float dtype of x, so that a float32 batch stays float32 (float64 for anything else)
        dtype = getattr(x, "dtype", None)
        return dtype if dtype is not None and dtype.kind == "f" else np.float64

    # A test's booleans as floats: several times faster than np.where(x > 0.0, 1.0, 0.0).
    def step(x: Any) -> Any:
        return np.greater(x, 0.0).astype(kind(x))

    def gated(slope: Any, x: Any) -> Any:
        with np.errstate(invalid="ignore"):  # 0 * inf where the slope is 0: not taken
            return np.where(slope == 0.0, 0.0, slope * x)

    def sign(x: Any) -> Any:
        dtype = kind(x)
        return np.greater(x, 0.0).astype(dtype) - np.less(x, 0.0).astype(dtype)

    def data(x: Any) -> Any:
        return x

    return SimpleNamespace(
        exp=np.exp,
        expm1=np.expm1,
        log=np.log,
        log1p=np.log1p,
        sin=np.sin,
        cos=np.cos,
        tan=np.tan,
        tanh=np.tanh,
        sqrt=np.sqrt,
        abs=np.abs,
        sigmoid=sigmoid,
        # fmax, not maximum: relu(nan) is 0.0, and fmax passes over nan (at -0.0 it may give
        # -0.0 for the forward's 0.0: equal, and relu's slope there is 0 either way)
        relu=partial(np.fmax, 0.0),
        pow=power,
        xlogy=xlogy,
        step=step,
        gated=gated,
        sign=sign,
        data=data,
    )


_INLINE_NUMPY = {"data": "{0}"}


# ---- running what has no numpy form, once per example -------------------------------


def _columns(size: int, values: Sequence[Any]) -> list[list[float]]:
    return [v.tolist() if getattr(v, "ndim", 0) else [float(v)] * size for v in values]


def _rows_forward(size: int, record: Op, params: tuple[Any, ...], index: int, *inputs: Any) -> Any:
    """An op with no numpy form, on floats example by example, its domain checked as the engine checks it."""
    np = _numpy()
    forward, domain = record.forward, record.domain
    out = []
    for row in zip(*_columns(size, inputs), strict=True):
        if domain is not None and not domain(*row, *params):
            fail(index)
        out.append(float(forward(*row, *params)))
    return np.array(out, dtype=np.float64)


def _rows_rule(
    size: int, rule: Callable[..., Sequence[Any]], params: tuple[Any, ...], out: Any, *inputs: Any
) -> tuple[Any, ...]:
    """A rule that cannot run on symbols, on floats example by example, as backward() runs it."""
    np = _numpy()
    rows = zip(*_columns(size, [out, *inputs]), strict=True)
    locals_ = [rule(FLOAT_MATH, *row, *params) for row in rows]
    return tuple(np.array([float(row[i]) for row in locals_]) for i in range(len(inputs)))


class _NotANumberError(Exception):
    """The batched value came out nan: eager mode may raise there, so the call is re-run eagerly."""


def _not_a_number() -> None:
    raise _NotANumberError


# ---- blocks: nodes computed together as the columns of one matrix ------------------


class _Block:
    """Nodes computed as the columns of one (B, width) matrix: `name[:, j]` is column j's node."""

    def __init__(self, name: str, members: list[Value]) -> None:
        self.name = name
        self.members = members
        self.matrix_terms: list[str] = []  # contributions to the whole gradient matrix
        self.column_terms: dict[int, list[str]] = {}  # contributions to one column

    @property
    def width(self) -> int:
        return len(self.members)


class _InputBlock(_Block):
    """One per-example argument: its numbers are the columns of the array passed in."""


class _DotBlock(_Block):
    """Dot nodes reading the same batched nodes X, with weights and biases that are numbers.

    Fused dot+activation nodes with the same activation form a block too: the
    activation is then one call on the block's matrix.

    `weights[i][c]` lists what member i multiplies X's column c by (Values or
    numbers; more than one when a node appears twice among its inputs).
    """

    def __init__(
        self,
        name: str,
        members: list[Value],
        xs: list[Value],
        weights: list[list[list[Value | float]]],
        biases: list[Value | None],
        gate: Op | None = None,
    ) -> None:
        super().__init__(name, members)
        self.xs = xs
        self.weights = weights
        self.biases = biases
        self.gate = gate  # the gate record of fused dot nodes, applied to the whole product
        self.source: _Block | None = None  # the block whose matrix is X, if there is one
        self.source_columns: list[int] = []  # X's column c is the source's column source_columns[c]
        self.x_text = ""  # a parameter block's X, as its forward wrote it


# An operand of an elementwise block: the columns of a block, one batched node for
# every column, or numbers (one per column, the same node or not).
Pattern = tuple[str, Any]


class _MapBlock(_Block):
    """The same elementwise op on every column of its operand blocks: one numpy call.

    One call per layer rather than one per column: the moons step's two relus
    made this way take it from about 0.44 ms to 0.18 ms (forward and backward).
    """

    def __init__(self, name: str, width: int, patterns: list[Pattern]) -> None:
        super().__init__(name, [])
        self.slots: list[Value | None] = [None] * width
        self.patterns = patterns

    @property
    def width(self) -> int:
        return len(self.slots)

    def complete(self) -> bool:
        return all(slot is not None for slot in self.slots)


def _array_forward(record: Op, inputs: list[str], params: tuple[Any, ...], names: Names) -> str | None:
    """The numpy expression of `record`'s forward on arrays (or a block's matrices); None if it has none.

    The record's numpy form, a function of numpy_math() or of numpy itself by name
    (`"arctan"`), or a function of arrays; else its forward on symbols when that is
    arithmetic, which runs on arrays as it is. An op with neither runs once per example.
    """
    form = record.numpy
    arguments = [*inputs, *[number(p, names) for p in params]]
    if form is None:
        return symbolic(record.forward, inputs, params)
    function: Any = form
    if isinstance(form, str):
        function = getattr(numpy_math(), form, None) or getattr(_numpy(), form, None)
    if not callable(function):
        raise CompileError(
            f"trace_batch: op {record.name!r} names {form!r} as its numpy form, which is not a function "
            "of autograd.batched.numpy_math() or of numpy (give a function of numpy arrays, or None)"
        )
    return f"{names.bind(function)}({', '.join(arguments)})"


def _squared_dot_parts(v: Value) -> tuple[Any, Any, Any]:
    """The weights, inputs and bias of a dot node found to square parameter blocks."""
    record = v.operation
    assert record is not None
    parts = dot_parts(record, v.parents, v.params)
    assert parts is not None
    return parts


def _slope(gate: Op, out: str, math_ns: SymMath) -> str | None:
    """A gate's local gradient from its output alone (its rule reads nothing else) on arrays, or None."""
    try:
        (slope,) = gate.local_grad(math_ns, Sym(out), None)
    except Exception:
        return None
    if isinstance(slope, Sym):
        return slope.text
    if type(slope) is not bool and isinstance(slope, (int, float)):
        return number(float(slope), Names())
    return None


class _Plan:
    """Which nodes are batched, which need a gradient, and the blocks they form."""

    def __init__(self, graph: Graph, argument_leaves: list[list[Value]], input_grads: bool) -> None:
        self.graph = graph
        index = graph.index
        inputs = set(graph.inputs)
        batched: set[Value] = set()
        wanted: set[Value] = set(graph.params) | (inputs if input_grads else set())
        for v in graph.order:
            if v in inputs or any(p in batched for p in v.parents):
                batched.add(v)
            if any(p in wanted for p in v.parents):
                wanted.add(v)
        self.batched = batched
        self.wanted = wanted
        self.inputs = [_InputBlock(f"_x{i}", leaves) for i, leaves in enumerate(argument_leaves)]
        self.dots = self._dot_blocks(graph, batched, index)
        self.column: dict[Value, tuple[_Block, int]] = {}
        for block in [*self.inputs, *self.dots]:
            for j, member in enumerate(block.members):
                self.column[member] = (block, j)
        self.maps = self._map_blocks(graph)
        for block in self.dots:
            self._choose_source(block)
        self.first = {min(block.members, key=index.__getitem__): block for block in [*self.dots, *self.maps]}
        self.param_rows = self._param_rows(graph)

    def _param_rows(self, graph: Graph) -> dict[_DotBlock, list[list[Value]]]:
        """The dot blocks whose every weight (and bias) is a param of its own: each block's rows of params.

        Such a block's weights become a parameter block (blocks.py): the matrix
        product reads them as one array and adds their gradient as one. A
        param met in two blocks stays in the first; the other block reads
        its params one by one, as any other numbers.
        """
        params = set(graph.params)

        def own(x: Any) -> bool:
            return isinstance(x, Value) and type(x) in (Value, BlockValue) and x in params

        claimed: set[Value] = set()
        found: dict[_DotBlock, list[list[Value]]] = {}
        for block in self.dots:
            if block.source is not None and block.source_columns != list(range(block.source.width)):
                continue  # X is part of another block's matrix: a W padded with zeros reads it as it is
            if not all(len(cell) == 1 and own(cell[0]) for row in block.weights for cell in row):
                continue
            rows: list[list[Value]] = [[cell[0] for cell in row] for row in block.weights]  # type: ignore[misc]
            biases = block.biases
            if all(b is not None for b in biases):
                if not all(own(b) for b in biases):
                    continue
                rows = [[*row, b] for row, b in zip(rows, biases, strict=True)]  # type: ignore[list-item]
            elif any(b is not None for b in biases):
                continue
            flat: list[Value] = [v for row in rows for v in row]
            if len(set(flat)) != len(flat) or not claimed.isdisjoint(flat):
                continue
            claimed.update(flat)
            found[block] = rows
        return found

    # -- dot blocks: found in one pass, since they depend on no other block

    def _dot_blocks(self, graph: Graph, batched: set[Value], index: dict[Value, int]) -> list[_DotBlock]:
        # by the gate (None for plain dots) and the columns of X
        groups: dict[
            tuple[Op | None, tuple[int, ...]], list[tuple[Value, list[Any], list[Any], Value | None]]
        ] = {}
        gates: dict[Op, bool] = {}
        for v in graph.order:
            if v not in batched or v.is_leaf:
                continue
            record = v.operation
            assert record is not None
            parts = dot_parts(record, v.parents, v.params)
            if parts is None:
                continue
            gate = record.gate
            if gate is not None and gates.setdefault(gate, _gate_on_arrays(gate)) is False:
                continue  # its gate has no form on arrays: the node runs on its own
            sides = _dot_sides(*parts, batched)
            if sides is not None:
                xs, ws, bias = sides
                groups.setdefault((gate, tuple(sorted({index[x] for x in xs}))), []).append((v, xs, ws, bias))
        blocks: list[_DotBlock] = []
        param_index = {p: i for i, p in enumerate(graph.params)}
        for (gate, key), members in groups.items():
            columns = [graph.order[k] for k in key]
            # w * x + b: a matrix product would only add work (a fused node has no other numpy form)
            if len(members) == 1 and len(columns) == 1 and gate is None:
                continue
            # Columns in the order the first node reads them, rows in the order of their first
            # weights among the params: a layer's matrix is then laid out as nn lists its
            # parameters (row by row, each row's bias last), for its parameter block.
            first_xs = members[0][1]
            if len(set(first_xs)) == len(first_xs):
                columns = list(first_xs)
            if all(m[2] and m[2][0] in param_index for m in members):
                members.sort(key=lambda m: param_index[m[2][0]])
            position = {x: c for c, x in enumerate(columns)}
            weights = []
            for _, xs, ws, _ in members:
                row: list[list[Value | float]] = [[] for _ in columns]
                for x, w in zip(xs, ws, strict=True):
                    row[position[x]].append(w)
                weights.append(row)
            name = f"M{len(blocks)}"
            biases = [bias for *_, bias in members]
            blocks.append(_DotBlock(name, [m[0] for m in members], columns, weights, biases, gate))
        return blocks

    def _choose_source(self, block: _DotBlock) -> None:
        # X is another block's matrix when its columns are among that block's (a matrix
        # product over a few unused columns costs less than stacking the columns anew).
        owners = {self.column[x][0] for x in block.xs if x in self.column}
        if len(owners) != 1 or not all(x in self.column for x in block.xs):
            return
        (owner,) = owners
        if 2 * len(block.xs) >= owner.width:
            block.source = owner
            block.source_columns = [self.column[x][1] for x in block.xs]

    # -- elementwise blocks: a node joins one when its batched operands are columns j of blocks

    def _map_blocks(self, graph: Graph) -> list[_MapBlock]:
        open_blocks: dict[Any, list[_MapBlock]] = {}
        made: list[_MapBlock] = []
        on_arrays: dict[Any, bool] = {}
        for v in graph.order:
            if v not in self.batched or v.is_leaf or v in self.column:
                continue
            record = v.operation
            assert record is not None
            if is_exact_sum(record):
                continue
            found = self._map_pattern(v)
            if found is None:
                continue
            patterns, key_patterns, j, width = found
            if width < 2:
                continue  # one column: one numpy call either way
            key = (record, v.params, tuple(key_patterns), width)  # the same op with the same params
            try:
                hash(key)
            except TypeError:
                continue
            if key not in on_arrays:
                on_arrays[key] = _runs_on_arrays(v)
            if not on_arrays[key]:
                continue
            candidates = open_blocks.setdefault(key, [])
            block = next((b for b in candidates if b.slots[j] is None), None)
            if block is None:
                block = _MapBlock(f"M{len(self.dots) + len(made)}", width, patterns)
                candidates.append(block)
                made.append(block)
            block.slots[j] = v
            self.column[v] = (block, j)
        # A block is kept if every column was filled and every block it reads was kept.
        kept: list[_MapBlock] = []
        valid: set[_Block] = {*self.inputs, *self.dots}
        for block in made:
            reads = [operand for kind, operand in block.patterns if kind == "block"]
            if block.complete() and all(b in valid for b in reads):
                block.members = [slot for slot in block.slots if slot is not None]
                block.name = f"M{len(self.dots) + len(kept)}"
                valid.add(block)
                kept.append(block)
            else:
                for slot in block.slots:
                    if slot is not None:
                        del self.column[slot]
        return kept

    def _map_pattern(self, v: Value) -> tuple[list[Pattern], list[Any], int, int] | None:
        patterns: list[Pattern] = []
        key_patterns: list[Any] = []
        column = width = None
        for p in v.parents:
            if p in self.column:
                block, j = self.column[p]
                if column is None:
                    column, width = j, block.width
                elif (j, block.width) != (column, width):
                    return None
                patterns.append(("block", block))
                key_patterns.append(("block", id(block)))
            elif p in self.batched:
                patterns.append(("node", p))
                key_patterns.append(("node", self.graph.index[p]))
            else:
                patterns.append(("numbers", None))
                key_patterns.append(("numbers",))
        if column is None or width is None:
            return None
        return patterns, key_patterns, column, width


def _runs_on_arrays(v: Value) -> bool:
    """Whether the node's op has a forward and a local-gradient rule on arrays (no Python per example)."""
    record = v.operation
    assert record is not None
    names = Names()
    inputs = [f"a{i}" for i in range(len(v.parents))]
    if _array_forward(record, inputs, v.params, names) is None:
        return False
    math_ns = SymMath(names, numpy_math(), _INLINE_NUMPY)
    try:
        local = record.local_grad(math_ns, Sym("out"), *[Sym(x) for x in inputs], *v.params)
        return len(local) == len(v.parents) and all(isinstance(x, (Sym, int, float)) for x in local)
    except Exception:
        return False


def _gate_on_arrays(gate: Op) -> bool:
    """Whether a fused dot's gate has a forward on arrays and a slope from its output alone."""
    names = Names()
    math_ns = SymMath(names, numpy_math(), _INLINE_NUMPY)
    return _array_forward(gate, ["s"], (), names) is not None and _slope(gate, "s", math_ns) is not None


def _dot_sides(
    ws: list[Any], xs: list[Any], bias: Any, batched: set[Value]
) -> tuple[list[Value], list[Value | float], Value | None] | None:
    """(X, W, bias) of a dot node whose one side is all batched and the other all numbers; else None."""
    if bias is not None and bias in batched:
        return None

    def all_batched(items: Sequence[Value | float]) -> bool:
        return all(isinstance(x, Value) and x in batched for x in items)

    def none_batched(items: Sequence[Value | float]) -> bool:
        return not any(isinstance(x, Value) and x in batched for x in items)

    if all_batched(xs) and none_batched(ws):
        return list(xs), list(ws), bias
    if all_batched(ws) and none_batched(xs):
        return list(ws), list(xs), bias
    return None


# ---- generating the code ---------------------------------------------------------------


class _Generator:
    """Writes `_batched(_a, _B, _strict)`: returns (value, aux arrays, input gradient matrices)."""

    def __init__(
        self,
        plan: _Plan,
        names: Names,
        options: dict[str, Any],
        param_blocks: dict[_DotBlock, ParameterBlock],
    ) -> None:
        np = options["numpy"]
        self.plan = plan
        self.graph = plan.graph
        self.names = names
        self.reduction = options["reduction"]
        self.input_grads = options["input_grads"]
        self.np = np
        self.dtype = np.dtype(options["dtype"])
        self.param_blocks = param_blocks
        # each param of a parameter block: its block and its index there
        self.place = {v: (pb, i) for pb in param_blocks.values() for i, v in enumerate(pb.values)}
        self.lines: list[str] = []
        self.last_lines: list[str] = []  # what adds into the parameter blocks' gradients, at the very end
        self.var: dict[Value, str] = {}
        self.unread: set[Value] = set()  # params whose .data is read where first needed
        self.ones = False  # whether the code has made a vector of ones (_ones) of the batch's size
        # Matrices the code made (a dot block's dX) that only one block's backward reads: that
        # backward may multiply into one in place, one (B, width) array fewer to allocate.
        self.owned: set[str] = set()
        self.rows: set[str] = set()
        self.per_example = 0  # forwards and rules called example by example
        self.every = partial(np.logical_and.reduce, axis=None)  # all(), for an array or a bool alike
        self.sums = GradientSums(self.graph.index, self.emit)
        self.float_math = SymMath(names)
        self.array_math = SymMath(names, numpy_math(), _INLINE_NUMPY)

    def emit(self, line: str) -> None:
        self.lines.append(line)

    def fn(self, obj: Any) -> str:
        return self.names.bind(obj)

    def ref(self, v: Value) -> str:
        name = self.var.get(v)
        if name is not None:
            return name
        if v in self.unread:  # a param read by one number or another: read once, here
            self.unread.discard(v)
            name = self.var[v] = f"v{self.graph.index[v]}"
            self.emit(f"    {name} = {self.fn(v)}.data")
            return name
        column = self.plan.column.get(v)
        if column is not None:
            return f"{column[0].name}[:, {column[1]}]"
        return number(v.data, self.names)

    def inputs(self, v: Value) -> list[str]:
        return [self.ref(p) for p in v.parents]

    # -- the whole function

    def source(self) -> str:
        graph, plan = self.graph, self.plan
        emit = self.emit
        emit(f"    {', '.join(block.name for block in plan.inputs)}, = _a")
        # A param is read where code first needs its number: the params of parameter blocks
        # are read as whole arrays by the matrix products, and most never one by one.
        self.unread = {p for p in graph.params if p in graph.index}
        # numbers first: they depend on no example, and batched nodes read them
        for v in graph.order:
            if not v.is_leaf and v in graph.live and v not in plan.batched:
                k = graph.index[v]
                squares = self.squares(v)
                if squares is not None:
                    self.squares_forward(v, f"v{k}", *squares)
                else:
                    emit_forward(v, f"v{k}", k, self.inputs(v), self.names, emit)
                self.var[v] = f"v{k}"
        for v in graph.order:
            if v.is_leaf or v not in plan.batched:
                continue
            if v in plan.column:
                block = plan.first.get(v)
                if block is not None:
                    self.block_forward(block)
            else:
                self.var[v] = f"v{graph.index[v]}"
                self.single_forward(v)
        self.value()
        self.backward()
        aux = [self.batched_ref(a) for a in graph.aux_values]
        emit(f"    _aux = {list_source(aux, self.names, emit)}")
        if self.input_grads:
            grads = [self.block_gradient(block) or self.zeros(block.width) for block in plan.inputs]
            emit(f"    return _value, _aux, [{', '.join(grads)}]")
        else:
            emit("    return _value, _aux, None")
        return "def _batched(_a, _B, _strict):\n" + "\n".join(self.lines) + "\n"

    def batched_ref(self, v: Value) -> str:
        if v in self.plan.batched:
            return self.ref(v)
        return self.full(self.ref(v))

    def zeros(self, width: int) -> str:
        return f"{self.fn(self.np.zeros)}((_B, {width}), {self.fn(self.dtype)})"

    def array(self, listing: str) -> str:
        """A numpy array of the compiled function's dtype from a list display."""
        return f"{self.fn(self.np.array)}({listing}, {self.fn(self.dtype)})"

    def full(self, number: str) -> str:
        return f"{self.fn(self.np.full)}(_B, {number}, {self.fn(self.dtype)})"

    # -- a dot of parameter blocks with themselves: an L2 penalty, sum(p * p)

    def squares(self, v: Value) -> tuple[list[ParameterBlock], list[int]] | None:
        """A dot (not batched) squaring every param of some parameter blocks: those blocks, its other terms.

        None for any other node. Such a dot is an L2 penalty, `dot(params, params)`:
        a block's share is one `vdot` of its array with itself.
        """
        record = v.operation
        assert record is not None
        parts = dot_parts(record, v.parents, v.params)
        if parts is None or record.gate is not None or not self.place:
            return None
        ws, xs, _ = parts
        covered: dict[ParameterBlock, set[int]] = {}
        squared: dict[int, ParameterBlock] = {}
        for i, (w, x) in enumerate(zip(ws, xs, strict=True)):
            place = self.place.get(w) if w is x else None
            if place is not None:
                covered.setdefault(place[0], set()).add(place[1])
                squared[i] = place[0]
        whole = [pb for pb, indices in covered.items() if len(indices) == len(pb.values)]
        counts = {pb: sum(1 for b in squared.values() if b is pb) for pb in whole}
        whole = [pb for pb in whole if counts[pb] == len(pb.values)]  # each param squared once
        if not whole:
            return None
        rest = [i for i in range(len(ws)) if squared.get(i) not in whole]
        return whole, rest

    def squares_forward(self, v: Value, out: str, whole: list[ParameterBlock], rest: list[int]) -> None:
        ws, xs, bias = _squared_dot_parts(v)
        vdot = self.fn(self.np.vdot)
        terms = [f"{vdot}({self.fn(pb.data)}, {self.fn(pb.data)})" for pb in whole]
        terms += [f"{self.weight_ref(ws[i])} * {self.weight_ref(xs[i])}" for i in rest]
        if bias is not None:
            terms.append(self.weight_ref(bias))
        self.emit(f"    {out} = {self.names.exact_sum()}({list_source(terms, self.names, self.emit)})")

    def squares_backward(self, v: Value, upstream: str, whole: list[ParameterBlock], rest: list[int]) -> None:
        # The dot rule, d/dw_i = x_i and d/dx_i = w_i: a squared param gets upstream * p twice.
        ws, xs, bias = _squared_dot_parts(v)
        add = self.fn(self.np.add)
        for pb in whole:
            grad = self.fn(pb.grad)
            self.last_lines.append(
                f"    {add}({grad}, ({upstream} + {upstream}) * {self.fn(pb.data)}, out={grad})"
            )
        live = self.graph.live
        finite = self.float_math.finite
        for i in rest:
            w, x = ws[i], xs[i]
            if isinstance(w, Value) and w in live:
                self.sums.add(w, times_unless_zero(upstream, self.weight_ref(x), finite))
            if isinstance(x, Value) and x in live:
                self.sums.add(x, times_unless_zero(upstream, self.weight_ref(w), finite))
        if isinstance(bias, Value) and bias in live:
            self.sums.add(bias, upstream)

    def value(self) -> None:
        root = self.graph.root
        to_float = self.fn(float)
        if root in self.plan.batched:
            self.emit(f"    _value = {to_float}({self.ref(root)}.{self.reduction}())")
        elif self.reduction == "sum":
            self.emit(f"    _value = {self.ref(root)} * _B")
        else:
            self.emit(f"    _value = {self.ref(root)}")
        self.emit(f"    if _strict and _value != _value:\n        {self.fn(_not_a_number)}()")

    # -- forward

    def single_forward(self, v: Value) -> None:
        out = self.var[v]
        record = v.operation
        assert record is not None
        args = self.inputs(v)
        terms = sum_terms(record, args, v.params, self.names)
        if terms is not None:  # a sum or a dot, added in order (numpy has no exact sum)
            emit_sum(out, terms, self.emit)
            if record.gate is not None:
                self.emit(f"    {out} = {self.forward(record.gate, v, [out], ())}")
            return
        self.check_domain(record, v, args, v.params)
        self.emit(f"    {out} = {self.forward(record, v, args, v.params)}")

    def forward(self, record: Op, v: Value, args: list[str], params: tuple[Any, ...]) -> str:
        """The expression of `record`'s forward on arrays, else its forward called example by example."""
        expression = _array_forward(record, args, params, self.names)
        if expression is not None:
            return expression
        index = self.graph.index[v]
        rows = self.fn(_rows_forward)
        self.per_example += 1
        return f"{rows}(_B, {self.fn(record)}, {self.fn(tuple(params))}, {index}, {', '.join(args)})"

    def check_domain(self, record: Op, v: Value, args: list[str], params: tuple[Any, ...]) -> None:
        """A test that every example is in the record's domain, where the domain runs on symbols.

        A domain that does not (a power's, which branches) is left to numpy, whose
        floating-point errors are raised, and to the test that the value is not nan;
        an op with no numpy form checks its domain example by example.
        """
        guard = domain_guard(record, args, params, self.names, call=False)
        if guard is not None:  # an array of tests, or one when the domain reads numbers only (x / w)
            test = f"{self.fn(self.every)}({guard})"
            self.emit(f"    if not {test}:\n        {self.fn(fail)}({self.graph.index[v]})")

    def block_forward(self, block: _Block) -> None:
        if isinstance(block, _DotBlock):
            self.dot_forward(block)
        elif isinstance(block, _MapBlock):
            template = block.members[0]
            record = template.operation
            assert record is not None
            texts = self.map_operands(block)
            self.check_domain(record, template, texts, template.params)
            self.emit(f"    {block.name} = {self.forward(record, template, texts, template.params)}")

    def map_operands(self, block: _MapBlock) -> list[str]:
        """What each parent position of the block's op reads: a matrix, a column or a row of numbers."""
        texts = []
        for position, (kind, operand) in enumerate(block.patterns):
            if kind == "block":
                texts.append(operand.name)
            elif kind == "node":
                texts.append(f"{self.ref(operand)}[:, None]")
            else:
                numbers = [self.ref(member.parents[position]) for member in block.members]
                if all(n == numbers[0] for n in numbers):
                    texts.append(numbers[0])
                else:
                    row = f"{block.name}_{position}"
                    if row not in self.rows:  # made in the forward, read again in the backward
                        self.rows.add(row)
                        listing = list_source(numbers, self.names, self.emit)
                        self.emit(f"    {row} = {self.array(listing)}")
                    texts.append(row)
        return texts

    def block_x(self, block: _DotBlock) -> str:
        """A parameter block's X: its source's matrix (its xs, in order), or its xs stacked."""
        if block.source is not None:
            return block.source.name
        x = f"X{block.name}"
        stacked = list_source([self.ref(v) for v in block.xs], self.names, self.emit)
        self.emit(f"    {x} = {self.fn(self.np.stack)}({stacked}, 1)")
        return x

    def param_forward(self, block: _DotBlock, pb: ParameterBlock) -> None:
        # W and b are views of the block's array: read as they are (or cast, for float32).
        n = len(block.xs)
        cast = self.dtype != pb.data.dtype
        for prefix, view in [("W", pb.data[:, :n]), ("B", pb.data[:, n] if pb.shape[1] > n else None)]:
            if view is None:
                continue
            source = self.fn(view)
            if cast:
                source = f"{self.fn(self.np.asarray)}({source}, {self.fn(self.dtype)})"
            self.emit(f"    {prefix}{block.name} = {source}")
        x = self.block_x(block)
        block.x_text = x
        # The bias is added in place: one array of (B, width) fewer to allocate per layer.
        self.emit(f"    {block.name} = {x} @ W{block.name}.T")
        if pb.shape[1] > n:
            self.emit(f"    {block.name} += B{block.name}")
        if block.gate is not None:
            self.emit(f"    {block.name} = {self.forward(block.gate, block.members[0], [block.name], ())}")

    def dot_forward(self, block: _DotBlock) -> None:
        np = self.np
        pb = self.param_blocks.get(block)
        if pb is not None:
            self.param_forward(block, pb)
            return
        width = block.source.width if block.source is not None else len(block.xs)
        columns = block.source_columns if block.source is not None else list(range(len(block.xs)))
        entries: list[str] = []
        numbers = np.zeros((block.width, width))
        for i, row in enumerate(block.weights):
            cells = ["0.0"] * width
            for c, weights in zip(columns, row, strict=True):
                cells[c] = " + ".join(self.weight_ref(w) for w in weights) if weights else "0.0"
                numbers[i, c] = sum(w.data if isinstance(w, Value) else w for w in weights)
            entries.extend(cells)
        live = self.graph.live
        if not any(isinstance(w, Value) and w in live for row in block.weights for ws in row for w in ws):
            self.emit(
                f"    W{block.name} = {self.fn(numbers.astype(self.dtype))}"
            )  # constants: made once, here
        else:
            listing = list_source(entries, self.names, self.emit)
            self.emit(f"    W{block.name} = {self.array(listing)}.reshape({block.width}, {width})")
        if block.source is not None:
            x = block.source.name
        else:
            x = f"X{block.name}"
            stacked = list_source([self.ref(v) for v in block.xs], self.names, self.emit)
            self.emit(f"    {x} = {self.fn(np.stack)}({stacked}, 1)")
        product = f"{x} @ W{block.name}.T"
        if any(b is not None for b in block.biases):
            biases = [self.ref(b) if b is not None else "0.0" for b in block.biases]
            self.emit(f"    B{block.name} = {self.array(list_source(biases, self.names, self.emit))}")
            product += f" + B{block.name}"
        if block.gate is not None:  # fused nodes: the activation on the whole weighted sum
            product = self.forward(block.gate, block.members[0], [f"({product})"], ())
        self.emit(f"    {block.name} = {product}")

    def weight_ref(self, w: Value | float) -> str:
        return self.ref(w) if isinstance(w, Value) else number(w, self.names)

    # -- backward

    def backward(self) -> None:
        graph, plan = self.graph, self.plan
        root = graph.root
        if root in plan.batched:
            seed = "1.0 / _B" if self.reduction == "mean" else "1.0"
            self.emit(f"    _seed = {self.full(seed)}")
            self.send(root, "_seed")
        elif root in graph.live:
            self.sums.seed(root, "1.0" if self.reduction == "mean" else f"{self.fn(float)}(_B)")
        # Batched nodes first: they send gradients to numbers, never the other way round,
        # so every number's gradient is complete before its own backward below.
        for v in reversed(graph.order):
            if v.is_leaf or v not in plan.batched:
                continue
            if v in plan.column:
                block = plan.first.get(v)
                if block is not None:  # every member's gradient is in: all its readers come later
                    self.block_backward(block)
            else:
                self.single_backward(v)
        for v in reversed(graph.order):
            if v.is_leaf or v not in graph.live or v in plan.batched:
                continue
            upstream = self.sums.total(v)
            if upstream is None:
                continue
            squares = self.squares(v)
            if squares is not None:
                self.squares_backward(v, upstream, *squares)
                continue
            parents = v.parents
            targets = [i for i, p in enumerate(parents) if p in graph.live]
            if targets:
                parent_refs = [self.ref(p) for p in parents]
                locals_ = local_gradients(v, parent_refs, self.ref(v), self.names, self.float_math, self.emit)
                for i in targets:
                    self.sums.add(parents[i], times_unless_zero(upstream, locals_[i], self.float_math.finite))
        self.lines.extend(self.last_lines)
        self.sums.write_params(graph.params, self.names)

    def send(self, v: Value, term: str) -> None:
        """A contribution of shape (B,) to `v`'s gradient; summed over the batch if `v` is a number."""
        column = self.plan.column.get(v)
        if column is not None:
            column[0].column_terms.setdefault(column[1], []).append(term)
        elif v in self.plan.batched:
            self.sums.add(v, term)
        else:
            self.sums.add(v, self.reduced(f"({term}).sum()"))

    def reduced(self, expression: str) -> str:
        # Reductions get a variable of their own, computed before any .grad is written.
        name = self.names.temporary("_r")
        self.emit(f"    {name} = {self.fn(float)}({expression})")
        return name

    def times(self, upstream: str, local: str) -> str:
        """upstream * local on arrays, and 0 where upstream is 0: backward() skips a node whose gradient is 0.

        As in `trace`, only a local gradient that is an expression can be infinite
        where the data is finite (sqrt's at 0; 0 * inf is nan); a call of a
        bounded function (relu's m.step(a)), or one times a node's data, cannot.
        """
        if is_simple(local) or local in self.array_math.finite:
            return times(upstream, local)
        return f"{self.fn(self.np.where)}({upstream} == 0.0, 0.0, {upstream} * {local})"

    def at_run_time(self, rule: str, out: str, inputs: list[str], params: list[str]) -> str:
        self.per_example += 1
        listed = "".join(f"{p}, " for p in params)
        return f"{self.fn(_rows_rule)}(_B, {rule}, ({listed}), {out}, {', '.join(inputs)})"

    def single_backward(self, v: Value) -> None:
        upstream = self.sums.total(v)
        if upstream is None:
            return
        parents = v.parents
        targets = [i for i, p in enumerate(parents) if p in self.plan.wanted]
        if not targets:
            return
        parent_refs = [self.ref(p) for p in parents]
        locals_ = local_gradients(
            v, parent_refs, self.ref(v), self.names, self.array_math, self.emit, self.at_run_time
        )
        for i in targets:
            self.send(parents[i], self.times(upstream, locals_[i]))

    def block_gradient(self, block: _Block) -> str | None:
        """The block's gradient matrix, from the matrices and columns sent to it; None if nothing came."""
        matrices, columns = block.matrix_terms, block.column_terms
        if not matrices and not columns:
            return None
        if not columns and len(matrices) == 1 and is_simple(matrices[0]):
            return matrices[0]
        gradient = f"G{block.name}"
        if not matrices and len(columns) == block.width:
            stacked = list_source([" + ".join(columns[j]) for j in range(block.width)], self.names, self.emit)
            self.emit(f"    {gradient} = {self.fn(self.np.stack)}({stacked}, 1)")
            return gradient
        if not matrices:
            self.emit(f"    {gradient} = {self.zeros(block.width)}")
        elif len(matrices) == 1 and is_simple(matrices[0]):
            self.emit(f"    {gradient} = {matrices[0]}.copy()")  # written into below: not someone's array
        else:
            self.emit(f"    {gradient} = {' + '.join(matrices)}")
        for j, terms in sorted(columns.items()):
            self.emit(f"    {gradient}[:, {j}] += {' + '.join(terms)}")
        return gradient

    def block_backward(self, block: _Block) -> None:
        gradient = self.block_gradient(block)
        if gradient is None:
            return
        if isinstance(block, _DotBlock):
            self.dot_backward(block, gradient)
        elif isinstance(block, _MapBlock):
            self.map_backward(block, gradient)

    def dot_backward(self, block: _DotBlock, gradient: str) -> None:
        # The dot rule (d/dw_i = x_i, d/dx_i = w_i) in matrix shape: with Z = X @ W.T + b
        # and G = dZ, dW = G.T @ X, db = G summed over the batch, dX = G @ W.
        wanted = self.plan.wanted
        name = block.name
        if block.gate is not None:
            # Fused nodes: G times the gate's slope is the gradient of the weighted sum. The slope
            # comes from the gate record's own rule on the block's output (a gate's rule reads
            # only its output: relu's step is positive exactly where the sum is).
            slope = _slope(block.gate, name, self.array_math)
            assert slope is not None  # the plan made the block only for such a gate
            if gradient in self.owned and slope in self.array_math.finite:
                self.emit(f"    {self.fn(self.np.multiply)}({gradient}, {slope}, out={gradient})")
            else:
                self.emit(f"    S{name} = {gradient} * {slope}")
                gradient = f"S{name}"
        pb = self.param_blocks.get(block)
        if pb is not None:
            self.param_backward(block, pb, gradient)
            return
        x = block.source.name if block.source is not None else f"X{name}"
        width = block.source.width if block.source is not None else len(block.xs)
        columns = block.source_columns if block.source is not None else list(range(len(block.xs)))
        if any(isinstance(w, Value) and w in wanted for row in block.weights for ws in row for w in ws):
            self.emit(f"    dW{name} = ({gradient}.T @ {x}).ravel().tolist()")
            for i, row in enumerate(block.weights):
                for c, weights in zip(columns, row, strict=True):
                    for w in weights:
                        if isinstance(w, Value) and w in wanted:
                            self.sums.add(w, f"dW{name}[{i * width + c}]")
        if any(b is not None and b in wanted for b in block.biases):
            self.emit(f"    dB{name} = {gradient}.sum(0).tolist()")
            for i, b in enumerate(block.biases):
                if b is not None and b in wanted:
                    self.sums.add(b, f"dB{name}[{i}]")
        if any(v in wanted for v in block.xs):
            self.emit(f"    dX{name} = {gradient} @ W{name}")
            if block.source is not None:
                block.source.matrix_terms.append(f"dX{name}")
                self.owned.add(f"dX{name}")
            else:
                for c, v in enumerate(block.xs):
                    if v in wanted:
                        self.send(v, f"dX{name}[:, {c}]")

    def param_backward(self, block: _DotBlock, pb: ParameterBlock, gradient: str) -> None:
        # dW = G.T @ X and db = G summed over the batch, added into the block's gradient array
        # at the very end (after everything that can fail); dX = G @ W as for any dot block.
        name = block.name
        n = len(block.xs)
        add = self.fn(self.np.add)
        x = block.x_text
        self.emit(f"    dW{name} = {gradient}.T @ {x}")
        grads = [(f"dW{name}", pb.grad[:, :n])]
        if pb.shape[1] > n:
            # the sum over the batch as a product with ones: a matrix-vector product is many
            # times faster than a sum along the first axis
            if not self.ones:
                self.ones = True
                self.emit(f"    _ones = {self.fn(self.np.ones)}(_B, {self.fn(self.dtype)})")
            self.emit(f"    dB{name} = _ones @ {gradient}")
            grads.append((f"dB{name}", pb.grad[:, n]))
        for term, view in grads:
            target = self.fn(view)
            self.last_lines.append(f"    {add}({target}, {term}, out={target})")
        if any(v in self.plan.wanted for v in block.xs):
            # One row (one node: a network's output): G @ W is an outer product, which broadcasting
            # computes many times faster than a matrix product with an inner size of 1.
            product = "*" if block.width == 1 else "@"
            self.emit(f"    dX{name} = {gradient} {product} W{name}")
            if x == getattr(block.source, "name", None):
                block.source.matrix_terms.append(f"dX{name}")  # type: ignore[union-attr]
                self.owned.add(f"dX{name}")
            else:
                for c, v in enumerate(block.xs):
                    if v in self.plan.wanted:
                        self.send(v, f"dX{name}[:, {c}]")

    def map_backward(self, block: _MapBlock, gradient: str) -> None:
        wanted = self.plan.wanted
        texts = self.map_operands(block)
        locals_ = local_gradients(
            block.members[0], texts, block.name, self.names, self.array_math, self.emit, self.at_run_time
        )
        in_place = (
            len(block.patterns) == 1
            and block.patterns[0][0] == "block"
            and gradient in self.owned
            and not is_simple(locals_[0])
            and locals_[0] in self.array_math.finite
        )
        if in_place:  # the one operand's gradient is the block's times its local gradient
            self.emit(f"    {self.fn(self.np.multiply)}({gradient}, {locals_[0]}, out={gradient})")
        for position, (kind, operand) in enumerate(block.patterns):
            term = gradient if in_place else self.times(gradient, locals_[position])
            if kind == "block":
                if any(m in wanted for m in operand.members):
                    operand.matrix_terms.append(term)
                continue
            if kind == "node":
                if operand in wanted:
                    self.send(operand, f"({term}).sum(1)")
                continue
            parents = [member.parents[position] for member in block.members]
            if not any(p in wanted for p in parents):
                continue
            if all(p is parents[0] for p in parents):
                self.sums.add(parents[0], self.reduced(f"({term}).sum()"))
                continue
            sums = self.names.temporary("_r")
            self.emit(f"    {sums} = ({term}).sum(0).tolist()")
            for j, p in enumerate(parents):
                if p in wanted:
                    self.sums.add(p, f"{sums}[{j}]")


# ---- the compiled function -----------------------------------------------------------


class BatchedFunction:
    """A per-example function compiled over a batch: `fn(*batches)` returns `(value, gradients)`.

    Each argument is a batch: a sequence of B per-example arguments shaped like
    the traced example, or a numpy array of shape (B, *example shape). `value`
    is the mean (or sum, per `reduction`) over the batch of the per-example
    outputs, a float. `gradients` has one numpy array per argument, shaped
    like the batch: row i is the gradient of `value` with respect to example
    i's argument (so with "mean" it carries the factor 1/B); it is None when
    traced with `input_grads=False`. Each parameter's gradient is added into
    its `.grad`. With `has_aux=True` the value is `(value, aux)`, aux shaped as
    the traced function returned it, with each Value replaced by the numpy
    array of its B per-example values.

    `dot_blocks` and `elementwise_blocks` count the matrix products and the
    elementwise calls on whole blocks; `per_example` counts the forwards and
    rules that run once per example in Python (0 when every op has a form on
    arrays).
    """

    def __init__(
        self,
        name: str,
        function: Callable[..., Any],
        retrace: Callable[..., tuple[Value, Any, list[Value]]],
        shapes: list[tuple[int, ...]],
        params: list[Value],
        graph: Graph,
        plan: _Plan,
        source: str,
        options: dict[str, Any],
    ) -> None:
        self.__name__ = name
        self._function = function
        self._retrace = retrace
        self._shapes = shapes
        self._widths = [math.prod(shape) for shape in shapes]
        self._params = params
        self._has_aux = bool(options["has_aux"])
        self._input_grads = bool(options["input_grads"])
        self.reduction: str = options["reduction"]
        self._np = options["numpy"]
        self._aux_spec = graph.aux_spec
        self._aux_constants = graph.aux_constants
        self._signature = graph.signature
        self._baked = graph.baked
        self.source = source
        self.nodes = len(graph.signature)
        self.dot_blocks = len(plan.dots)
        self.elementwise_blocks = len(plan.maps)
        self.per_example: int = options["per_example"]
        self.dtype: str = options["dtype"]
        self.blocks: list[ParameterBlock] = options["blocks"]

    def __repr__(self) -> str:
        return (
            f"<compiled {self.__name__}: {self.nodes} nodes per example, {self.dot_blocks} matrix "
            f"products, {self.elementwise_blocks} elementwise blocks, {len(self._params)} params>"
        )

    def __call__(self, *batches: Any) -> tuple[Any, Any]:
        """The reduced value over the batch and its gradients with respect to each example's arguments."""
        arrays, size = self._arrays(batches)
        value, aux, grads = self._run(arrays, size)
        gradients = None
        if grads is not None:
            gradients = tuple(g.reshape(size, *shape) for g, shape in zip(grads, self._shapes, strict=True))
        if not self._has_aux:
            return value, gradients
        return (value, aux_result(self._aux_spec, self._aux_constants, aux)), gradients

    def _arrays(self, batches: tuple[Any, ...]) -> tuple[list[Any], int]:
        np = self._np
        name = self.__name__
        if len(batches) != len(self._shapes):
            raise TypeError(f"{name} takes {len(self._shapes)} batched arguments, got {len(batches)}")
        arrays = []
        size = None
        for position, (batch, shape, width) in enumerate(
            zip(batches, self._shapes, self._widths, strict=True)
        ):
            where = f"{name}: argument {position}"
            array = _as_batch(np, where, batch, shape)
            if size is None:
                size = array.shape[0]
            elif array.shape[0] != size:
                raise ValueError(f"{where} holds {array.shape[0]} examples, argument 0 holds {size}")
            arrays.append(np.ascontiguousarray(array, dtype=self.dtype).reshape(array.shape[0], width))
        assert size is not None
        if size == 0:
            raise ValueError(f"{name}: the batch is empty; pass at least one example")
        return arrays, size

    def _run(self, arrays: list[Any], size: int) -> tuple[float, list[Any], list[Any] | None]:
        np = self._np
        for block in self.blocks:
            if not block.attached:  # its Values were given a Value, or another trace took them
                block.attach()
        try:
            with np.errstate(divide="raise", over="raise", invalid="raise", under="ignore"):
                result: tuple[float, list[Any], list[Any] | None] = self._function(arrays, size, True)
        except Exception as exc:
            self._explain_failure(arrays, size, exc)
            # Every example runs eagerly on the traced graph: numpy objected to numbers that
            # Python floats pass on (an overflow to inf, inf - inf, a nan), and so do we.
            with np.errstate(all="ignore"):
                result = self._function(arrays, size, False)
        return result

    def _example(self, arrays: list[Any], index: int) -> list[Any]:
        return [
            array[index].reshape(shape).tolist() for array, shape in zip(arrays, self._shapes, strict=True)
        ]

    def _explain_failure(self, arrays: list[Any], size: int, exc: Exception) -> None:
        # The generated code knows no messages: the first example that fails eagerly raises
        # the engine's own error, naming the op and the value. If none fails and every
        # example builds the traced graph, numpy objected to what floats let through.
        name = self.__name__
        if isinstance(exc, OpFailedError):
            exc = exc.args[1]
        for index in range(size):
            try:
                root, aux, leaves = self._retrace(*self._example(arrays, index))
                gradient_totals([root], [1.0], False)
            except Exception as eager:
                if hasattr(eager, "add_note"):
                    eager.add_note(f"in {name}, at example {index} of the batch")
                raise eager from None
            difference = first_difference(self._signature, Graph(root, aux, leaves, self._params).signature)
            if difference is not None:
                raise TraceMismatchError(f"{name}: example {index}: {difference}; trace again") from exc
        if not isinstance(exc, (FloatingPointError, _NotANumberError)):
            raise TraceMismatchError(
                f"{name}: the compiled graph failed ({type(exc).__name__}: {exc}) where the traced "
                "function did not, so the graph's shape depends on the data; trace again"
            ) from exc

    def check(self, *batches: Any, examples: int = 3) -> bool:
        """Retrace at the batch's first `examples` examples and compare with the compiled results.

        Catches what tracing cannot see by itself: a graph whose shape depends
        on the data, a constant leaf whose data changed since tracing (a
        parameter missing from params=). Value and gradients must agree with
        eager mode's to 1e-9 relative (the compiled sums round differently).
        Leaves every `.grad` as it was; returns True or raises TraceMismatchError.
        """
        name = self.__name__
        if isinstance(examples, bool) or not isinstance(examples, int) or examples < 1:
            raise ValueError(f"{name}.check: examples must be a positive integer, got {examples!r}")
        check_baked(name, self._baked)
        arrays, size = self._arrays(batches)
        count = min(examples, size)
        arrays = [array[:count] for array in arrays]
        saved = [p.grad for p in self._params]
        for p in self._params:
            p.grad = 0.0
        try:
            value, _, grads = self._run(arrays, count)
            compiled = [float(p.grad) for p in self._params]
        finally:
            for p, grad in zip(self._params, saved, strict=True):
                p.grad = grad
        scale = 1.0 / count if self.reduction == "mean" else 1.0
        eager_value = 0.0
        eager = [0.0] * len(self._params)
        for index in range(count):
            root, aux, leaves = self._retrace(*self._example(arrays, index))
            difference = first_difference(self._signature, Graph(root, aux, leaves, self._params).signature)
            if difference is not None:
                raise TraceMismatchError(f"{name}: example {index}: {difference}")
            totals = gradient_totals([root], [scale], False)
            eager_value += root.data * scale
            eager = [e + float(totals.get(p, 0.0)) for e, p in zip(eager, self._params, strict=True)]
            if grads is not None:
                row = [float(g[index, c]) for g in grads for c in range(g.shape[1])]
                for c, (ours, leaf) in enumerate(zip(row, leaves, strict=True)):
                    _compare(
                        name, f"gradient of example {index}'s input {c}", ours, float(totals.get(leaf, 0.0))
                    )
        _compare(name, "value", value, eager_value)
        for index, (ours, theirs) in enumerate(zip(compiled, eager, strict=True)):
            _compare(name, f"gradient of params[{index}]", ours, theirs)
        return True


def _compare(name: str, what: str, compiled: float, eager: float) -> None:
    if compiled == eager or (math.isnan(compiled) and math.isnan(eager)):
        return
    if abs(compiled - eager) <= 1e-9 * max(1.0, abs(compiled), abs(eager)):
        return
    raise TraceMismatchError(
        f"{name}: {what}: compiled {compiled!r}, eager {eager!r} (a constant the trace baked in "
        "depends on the data)"
    )


def _as_batch(np: Any, where: str, batch: Any, shape: tuple[int, ...]) -> Any:
    """`batch` as a numpy array of shape (B, *shape), or an error naming the argument and the value."""
    if isinstance(batch, np.ndarray):
        array = batch
    elif isinstance(batch, (str, bytes, Value)) or not isinstance(batch, Sequence):
        raise TypeError(
            f"{where} must be a batch: a sequence of per-example arguments or a numpy array whose "
            f"first axis is the batch, got {type(batch).__name__} {batch!r}"
        )
    else:
        try:
            array = np.asarray(batch)
        except ValueError:
            raise ValueError(
                f"{where}: the examples have different shapes (ragged rows); every example must "
                f"have shape {shape}, as when traced"
            ) from None
    if array.dtype.kind not in "fiu":
        if array.dtype.kind == "O" and any(isinstance(x, Value) for x in array.ravel()):
            raise TypeError(
                f"{where} holds Values; a compiled function takes numbers (put Values in params=)"
            )
        raise TypeError(f"{where} must hold real numbers, got an array of {array.dtype}")
    if array.ndim == 0 or array.shape[1:] != shape:
        raise ValueError(
            f"{where}: traced with examples of shape {shape}, so a batch of B of them has shape "
            f"{('B', *shape)}, got shape {array.shape}".replace("'B'", "B")
        )
    return array


# ---- tracing ----------------------------------------------------------------------------


def trace_batch(
    per_example: Callable[..., Any],
    *example_args: Any,
    params: Sequence[Value] = (),
    reduction: str = "mean",
    has_aux: bool = False,
    input_grads: bool = True,
    dtype: str = "float64",
) -> BatchedFunction:
    """Trace `per_example` once on one example and compile it over a batch, with numpy.

    `example_args` are one example's arguments: numbers or rectangular
    (nested) lists of numbers; `per_example` receives Values in their place
    and returns a Value (or `(Value, aux)` with `has_aux=True`) whose graph's
    shape does not depend on the data. `params` are leaf Values read at every
    call, whose `.grad` the compiled function adds to; other leaves are
    constants. The result of a call is the mean (`reduction="mean"`) or sum
    over the batch; `input_grads=False` skips the per-example gradients (a
    training step needs only the parameters'). `dtype="float32"` computes over
    the batch in float32 (the parameters stay float64 numbers: each call reads
    them in float32, and adds float32 gradients into their `.grad`).
    """
    np = _numpy()
    if not callable(per_example):
        raise TypeError(f"trace_batch expects a function, got {type(per_example).__name__} {per_example!r}")
    name = f"trace_batch({getattr(per_example, '__qualname__', type(per_example).__name__)})"
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: unknown reduction {reduction!r} (choose from {', '.join(REDUCTIONS)})")
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise ValueError(f"{name}: unknown dtype {dtype!r} (choose from {', '.join(DTYPES)})")
    params = check_params(name, params)
    if not example_args:
        raise TypeError(
            f"{name}: needs one example's arguments (at least one), to trace and to size the batch"
        )
    specs: list[Spec] = []
    shapes: list[tuple[int, ...]] = []
    for position, arg in enumerate(example_args):
        where = f"{name}: argument {position}"
        example = arg.tolist() if isinstance(arg, np.ndarray) else arg
        flat: list[float] = []
        specs.append(flatten(where, example, flat))
        try:
            shape = tuple(np.shape(example))
        except ValueError:
            shape = ()
        if math.prod(shape) != len(flat) or (not shape and not isinstance(example, (int, float))):
            raise ValueError(f"{where} must be a number or a rectangular list of numbers, got {example!r}")
        shapes.append(shape)

    def retrace(*args: Any) -> tuple[Value, Any, list[Value]]:
        flat: list[float] = []
        for position, arg in enumerate(args):
            flatten(f"{name}: argument {position}", arg, flat)
        leaves = [Value(x) for x in flat]
        with enable_grad():
            result = per_example(*rebuild_all(specs, leaves))
        root, aux = split_result(name, result, has_aux)
        return root, aux, leaves

    root, aux, leaves = retrace(*[a.tolist() if isinstance(a, np.ndarray) else a for a in example_args])
    graph = Graph(root, aux, leaves, params)
    argument_leaves = []
    start = 0
    for shape in shapes:
        argument_leaves.append(leaves[start : start + math.prod(shape)])
        start += math.prod(shape)
    plan = _Plan(graph, argument_leaves, input_grads)
    # Each layer of params becomes a parameter block: its Values' numbers move into one array.
    param_blocks = {block: attached_block(rows) for block, rows in plan.param_rows.items()}
    names = Names()
    # numpy's C code imports some modules on first use, through the running frame's
    # builtins: the generated code gets that one builtin, and its source never names it.
    names.namespace["__builtins__"] = {"__import__": __import__}
    options = {
        "has_aux": has_aux,
        "input_grads": input_grads,
        "reduction": reduction,
        "numpy": np,
        "dtype": dtype,
    }
    generator = _Generator(plan, names, options, param_blocks)
    source = generator.source()
    code = compile(source, f"<{name}>", "exec")
    exec(code, names.namespace)  # the source holds only numbers and generated names
    options["per_example"] = generator.per_example
    options["blocks"] = list(param_blocks.values())
    return BatchedFunction(
        name, names.namespace["_batched"], retrace, shapes, params, graph, plan, source, options
    )
