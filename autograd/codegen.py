"""What both compilers share: `trace` (compiler.py) and `trace_batch` (batched.py).

A compiler reads a traced graph and writes Python source, one line per node
forward and one sum per gradient backward. The code of a node comes from its
op's record (`engine.Op`), never from a table of ops kept here:

- forward: the record's `forward` is called once with symbols (`Sym`) in place
  of numbers, and the expression the symbols build becomes the code
  (`operator.mul` gives `(v1 * v2)`). A forward that does not run on symbols
  (`math.exp`, a branch) is bound to a generated name and called
  (`_k2(v1)`). The node's params (`x ** 3`'s 3, `x * 2`'s 2) follow its
  inputs, as numbers.
- domain: the record's `domain` on symbols gives an inline guard
  (`(v1 > 0.0)`); one that does not run on symbols is called.
- backward: the record's local-gradient rule on symbols, with a math namespace
  of symbols (`SymMath`), gives each local gradient's expression; a rule that
  does not run on symbols is called when the code runs.

The one kind of op read by its structure is the exact sum (`sum`, `dot`, and
the dot inside a fused `dot+gate`): its forward hands its terms to `math.fsum`,
which no symbol can enter, so its terms are written out here and the same
exactly rounded sum is called on them (`sum_terms`). Calling the forward itself
would give the same numbers, but packs and slices its inputs at every call.

Also here: `Names` (the generated code's globals, under made-up names),
`Graph` (the traced graph in code order), `GradientSums` (each node's gradient
from its contributions, added in the order `backward()` adds them), and the
argument, aux and contract checks both compilers run. The source holds only
numbers and generated names: everything else is reached through a name.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterator, Sequence
from itertools import count
from numbers import Real
from types import FunctionType
from typing import Any

from .engine import DOT, DOT_NUMBERS, FLOAT_MATH, OPS, SUM, Op, Value, topological_order

__all__ = [
    "CompileError",
    "TraceMismatchError",
    "OpFailedError",
    "Sym",
    "SymMath",
    "Names",
    "Graph",
    "GradientSums",
    "Spec",
    "aux_result",
    "check_baked",
    "check_params",
    "dot_parts",
    "domain_guard",
    "emit_forward",
    "emit_sum",
    "fail",
    "first_difference",
    "flatten",
    "is_exact_sum",
    "is_simple",
    "list_source",
    "local_gradients",
    "number",
    "rebuild_all",
    "same",
    "split_result",
    "sum_terms",
    "symbolic",
    "times",
    "times_unless_zero",
]


class CompileError(Exception):
    """A traced graph that cannot be compiled, or a traced function used against the contract."""


class TraceMismatchError(CompileError):
    """`check` found that the traced function's graph or results changed."""


class OpFailedError(Exception):
    """Raised by generated code where the engine's op would raise (arguments: node index, cause)."""


def fail(index: int) -> float:
    """What generated code calls where a node's guard fails: the compiled call then runs eagerly."""
    raise OpFailedError(index, ArithmeticError(f"node {index}"))


# ---- symbols: running a record's functions to get their code --------------------------


class _NotSymbolicError(Exception):
    """A function did something with a symbol that has no expression (a branch, float())."""


def _literal(x: object) -> str:
    if type(x) is int:
        text = repr(x)  # as the engine passes it: x ** 3 keeps its int exponent
    elif type(x) is bool or not isinstance(x, (int, float)):
        raise _NotSymbolicError
    elif not math.isfinite(x):
        raise _NotSymbolicError  # inf and nan have no literal
    else:
        text = repr(float(x))
    return f"({text})" if text.startswith("-") else text  # -2 ** x is -(2 ** x)


def _operand(x: object) -> str:
    return x.text if isinstance(x, Sym) else _literal(x)


class Sym:
    """An expression in generated names; arithmetic and comparisons on it write source text.

    `bool()` refuses (raises _NotSymbolicError): a function that branches on a
    symbol has no single expression, and is called instead. `size` is what is
    known of the expression's size: "unit" (at most 1: relu's step), "data" (at
    most a node's data: the data itself, or it times a unit), or None.
    """

    __slots__ = ("size", "text")

    def __init__(self, text: str, size: str | None = None) -> None:
        self.text = text
        self.size = size

    def _binary(self, template: str, other: object, size: str | None = None) -> Sym:
        return Sym(template.format(self.text, _operand(other)), size)

    def _reflected(self, template: str, other: object, size: str | None = None) -> Sym:
        return Sym(template.format(_operand(other), self.text), size)

    def __add__(self, other: object) -> Sym:
        return self._binary("({} + {})", other)

    def __radd__(self, other: object) -> Sym:
        return self._reflected("({} + {})", other)

    def __sub__(self, other: object) -> Sym:
        return self._binary("({} - {})", other)

    def __rsub__(self, other: object) -> Sym:
        return self._reflected("({} - {})", other)

    def __mul__(self, other: object) -> Sym:
        return self._binary("({} * {})", other, _product_size(self, other))

    def __rmul__(self, other: object) -> Sym:
        return self._reflected("({} * {})", other, _product_size(self, other))

    def __truediv__(self, other: object) -> Sym:
        return self._binary("({} / {})", other)

    def __rtruediv__(self, other: object) -> Sym:
        return self._reflected("({} / {})", other)

    def __pow__(self, other: object) -> Sym:
        return self._binary("({} ** {})", other)

    def __rpow__(self, other: object) -> Sym:
        return self._reflected("({} ** {})", other)

    def __neg__(self) -> Sym:
        return Sym(f"(-{self.text})", self.size)

    def __pos__(self) -> Sym:
        return self

    # Comparisons write their expression (a domain such as `a > 0.0` becomes a guard);
    # == stays refused, so that a symbol is never taken for another in a lookup.
    def __lt__(self, other: object) -> Sym:
        return self._binary("({} < {})", other)

    def __le__(self, other: object) -> Sym:
        return self._binary("({} <= {})", other)

    def __gt__(self, other: object) -> Sym:
        return self._binary("({} > {})", other)

    def __ge__(self, other: object) -> Sym:
        return self._binary("({} >= {})", other)

    def __ne__(self, other: object) -> Sym:  # type: ignore[override]
        return self._binary("({} != {})", other)

    def _refuse(self, *args: object) -> Any:
        raise _NotSymbolicError

    __bool__ = __float__ = __int__ = __index__ = __abs__ = __round__ = __eq__ = _refuse
    __hash__ = None  # type: ignore[assignment]


def _size(x: object) -> str | None:
    if isinstance(x, Sym):
        return x.size
    if type(x) is not bool and isinstance(x, (int, float)) and abs(x) <= 1.0:
        return "unit"
    return None


def _product_size(a: object, b: object) -> str | None:
    # A unit times a unit is a unit; a unit times a node's data is at most that data.
    sizes = {_size(a), _size(b)}
    if sizes == {"unit"}:
        return "unit"
    return "data" if sizes == {"unit", "data"} else None


def symbolic(function: Callable[..., Any], inputs: Sequence[str], params: Sequence[Any]) -> str | None:
    """`function(*inputs, *params)` run on symbols: the expression it builds, None if it builds none.

    The inputs are expressions (generated names); params are passed as they
    are, numbers the function may compute with. A function that fails on
    symbols, or returns something other than a symbol, has no expression.
    """
    try:
        result = function(*[Sym(x) for x in inputs], *params)
    except Exception:  # a function written for numbers only: it is called instead
        return None
    return result.text if isinstance(result, Sym) else None


# The math functions whose value is at most 1 in size wherever they are defined: a local
# gradient made of one of them is never infinite (see times_unless_zero).
_UNIT = frozenset({"step", "sign", "sigmoid", "tanh", "sin", "cos"})

# FLOAT_MATH functions cheap enough to write inline; each mirrors FLOAT_MATH exactly
# (a test compares them), everything else is called through a generated name.
_INLINE_FLOAT = {
    "step": "(1.0 if {0} > 0.0 else 0.0)",
    "gated": "(0.0 if {0} == 0.0 else {0} * {1})",
    "sign": "(1.0 if {0} > 0.0 else (-1.0 if {0} < 0.0 else 0.0))",
    "data": "{0}",
}


class SymMath:
    """The math namespace `m` of rules, for symbols: `m.cos(a)` writes a call of `namespace.cos`.

    `namespace` is FLOAT_MATH by default (or numpy_math() for arrays);
    `inline` maps a function's name to a template written in place of a call.
    `finite` collects the local gradients known to be finite wherever the data
    is (see local_gradients and times_unless_zero).
    """

    def __init__(
        self, names: Names, namespace: Any = FLOAT_MATH, inline: dict[str, str] | None = None
    ) -> None:
        self._names = names
        self._namespace = namespace
        self._inline = _INLINE_FLOAT if inline is None else inline
        self.finite: set[str] = set()

    def __getattr__(self, attribute: str) -> Callable[..., Sym]:
        function = None if attribute.startswith("_") else getattr(self._namespace, attribute, None)
        if function is None or not callable(function):
            raise _NotSymbolicError
        template = self._inline.get(attribute)
        name = None if template is not None else self._names.bind(function)

        def write(*args: object) -> Sym:
            operands = [_operand(a) for a in args]
            text = f"{name}({', '.join(operands)})" if template is None else template.format(*operands)
            return Sym(text, "unit" if attribute in _UNIT else None)

        return write


class Names:
    """The generated function's globals: every object the code refers to, under a made-up name.

    With `fast_sums` the exact sums of sum and dot call math.fsum itself, which
    raises where no exactly rounded sum exists (terms that overflow, inf plus
    -inf); `with_exact_sums(function)` is then the same code calling the
    engine's sum, which gives what adding the terms in order gives there. A
    call of a Python function fewer per sum: the moons step's forward is
    mostly dot nodes.
    """

    def __init__(self, *, fast_sums: bool = False) -> None:
        self.namespace: dict[str, Any] = {"__builtins__": {}}
        self._by_id: dict[int, str] = {}
        self._counter = count()
        self._temporaries = count()
        self._fast_sums = fast_sums
        self._sum: str | None = None

    def temporary(self, prefix: str) -> str:
        """A fresh local variable name for the generated code."""
        return f"{prefix}{next(self._temporaries)}"

    def bind(self, obj: Any) -> str:
        """The generated name of `obj` (the same name each time for the same object)."""
        name = self._by_id.get(id(obj))
        if name is None:
            name = f"_k{next(self._counter)}"
            self._by_id[id(obj)] = name
            self.namespace[name] = obj
        return name

    def exact_sum(self) -> str:
        """The name of the exactly rounded sum of a list, as sum and dot compute it."""
        if self._sum is None:
            self._sum = f"_k{next(self._counter)}"  # a name of its own: with_exact_sums rebinds it
            self.namespace[self._sum] = math.fsum if self._fast_sums else _exact_sum
        return self._sum

    def with_exact_sums(self, function: Callable[..., Any]) -> Callable[..., Any] | None:
        """`function` (made from the generated code) with the engine's sum in place of math.fsum.

        None if its sums are the engine's already, or it has none.
        """
        if not self._fast_sums or self._sum is None:
            return None
        namespace = {**self.namespace, self._sum: _exact_sum}
        return FunctionType(function.__code__, namespace)


def number(x: Any, names: Names) -> str:
    """A number as a literal, or anything else (inf, nan, a tuple of numbers) through a generated name."""
    try:
        return _literal(x)
    except _NotSymbolicError:
        return names.bind(x)


# ---- the code of one node, from its record ----------------------------------------------


def dot_parts(
    record: Op, inputs: Sequence[Any], params: Sequence[Any]
) -> tuple[list[Any], list[Any], Any] | None:
    """(weights, xs, bias or None) of a node of a dot record (plain, with numbers, or fused); else None.

    `inputs` are the node's inputs (parents, or their expressions); the xs of
    `dot` with numbers are its params' numbers.
    """
    if record is DOT or record.gate is not None:  # w_1..w_n, x_1..x_n (and b)
        n = len(inputs) // 2
        bias = inputs[-1] if len(inputs) & 1 else None
        return list(inputs[:n]), list(inputs[n : 2 * n]), bias
    if record is DOT_NUMBERS:  # w_1..w_n (and b); the numbers x_1..x_n are the param
        xs = list(params[0])
        bias = inputs[len(xs)] if len(inputs) > len(xs) else None
        return list(inputs[: len(xs)]), xs, bias
    return None


def is_exact_sum(record: Op) -> bool:
    """Whether `record`'s forward is an exact sum (math.fsum) of terms: sum, dot, a fused dot's sum."""
    return record is SUM or record is DOT or record is DOT_NUMBERS or record.gate is not None


def sum_terms(record: Op, inputs: Sequence[str], params: Sequence[Any], names: Names) -> list[str] | None:
    """The terms of a node whose forward is an exact sum (sum, dot, a fused dot's sum), in the engine's order.

    None for any other op. The terms are expressions: `w * x` for each of a
    dot's products, then its bias; a sum's inputs, then its numbers.
    """
    parts = dot_parts(record, inputs, params)
    if parts is not None:
        ws, xs, bias = parts
        terms = [
            f"{w} * {x if isinstance(x, str) else number(x, names)}" for w, x in zip(ws, xs, strict=True)
        ]
        return terms if bias is None else [*terms, bias]
    if record is SUM:
        return [*inputs, *[number(c, names) for c in params[0]]]
    return None


def _exact_sum(terms: Sequence[float]) -> float:
    # The engine's own sum, as a sum node with no inputs and these numbers computes it:
    # math.fsum, exactly rounded, or where no exact sum exists (terms that overflow, inf
    # plus -inf) what adding the terms in order gives.
    return SUM.forward(terms)


# Records whose forward returns a float for float inputs (the engine's own); another
# op's result becomes a float as the engine makes it one.
_BUILT_IN = frozenset(map(id, OPS.values()))


def _forward_expression(
    record: Op, inputs: list[str], params: Sequence[Any], names: Names, emit: Callable[[str], None]
) -> str:
    """The expression of `record`'s forward on floats: inline where it runs on symbols, else a call."""
    terms = sum_terms(record, inputs, params, names)
    if terms is not None:
        total = f"{names.exact_sum()}({list_source(terms, names, emit)})"
        if record.gate is None:
            return total
        return _forward_expression(record.gate, [total], (), names, emit)  # a fused dot: g(w.x + b)
    expression = symbolic(record.forward, inputs, params)
    if expression is None:
        arguments = [*inputs, *[number(p, names) for p in params]]
        expression = f"{names.bind(record.forward)}({', '.join(arguments)})"
    if id(record) in _BUILT_IN:
        return expression
    return f"{names.bind(float)}({expression})"


def domain_guard(
    record: Op, inputs: list[str], params: Sequence[Any], names: Names, *, call: bool = True
) -> str | None:
    """An expression true where the inputs are in `record`'s domain, from the domain run on symbols.

    None where there is nothing to test: an op defined everywhere, or at every
    input for these params (x / 2.0). A domain that does not run on symbols is
    called (with `call=False`: None, the caller leaves it to other checks).
    """
    domain = record.domain
    if domain is None:
        return None
    try:
        result = domain(*[Sym(x) for x in inputs], *params)
    except Exception:  # a domain written for numbers only: it is called below
        result = None
    if result is True:
        return None
    if isinstance(result, Sym):
        return result.text
    if not call:
        return None
    arguments = [*inputs, *[number(p, names) for p in params]]
    return f"{names.bind(domain)}({', '.join(arguments)})"


def emit_forward(
    node: Value, out: str, index: int, inputs: list[str], names: Names, emit: Callable[[str], None]
) -> None:
    """`out = <node's forward on floats>`, guarded by its domain: where the guard fails, `fail(index)`."""
    record = node.operation
    assert record is not None
    expression = _forward_expression(record, inputs, node.params, names, emit)
    guard = domain_guard(record, inputs, node.params, names)
    if guard is None:
        emit(f"    {out} = {expression}")
    else:
        emit(f"    {out} = {expression} if {guard} else {names.bind(fail)}({index})")


def local_gradients(
    node: Value,
    inputs: list[str],
    out: str,
    names: Names,
    math_ns: SymMath,
    emit: Callable[[str], None],
    at_run_time: Callable[[str, str, list[str], list[str]], str] | None = None,
) -> list[str]:
    """Each input's local gradient as an expression, from the rule of the node's record.

    `inputs` and `out` are the expressions of the node's inputs and output; the
    node's params follow the inputs, as numbers. A rule that cannot run on
    symbols is called when the code runs: `at_run_time(rule, out, inputs,
    params)` writes that call (by default on floats with FLOAT_MATH, as
    backward() calls it).
    """
    record = node.operation
    assert record is not None
    rule = record.local_grad
    try:
        local = rule(math_ns, Sym(out, "data"), *[Sym(x, "data") for x in inputs], *node.params)
        texts = [x.text if isinstance(x, Sym) else _local_number(x, names) for x in local]
        if len(texts) == len(inputs):
            math_ns.finite.update(x.text for x in local if isinstance(x, Sym) and x.size is not None)
            return texts
    except Exception:  # _NotSymbolicError, or a rule written for numbers only: it runs on numbers below
        pass
    _check_rule(node)
    params = [number(p, names) for p in node.params]
    temporary = names.temporary("_l")
    if at_run_time is None:
        arguments = ", ".join([names.bind(FLOAT_MATH), out, *inputs, *params])
        emit(f"    {temporary} = {names.bind(rule)}({arguments})")
    else:
        emit(f"    {temporary} = {at_run_time(names.bind(rule), out, inputs, params)}")
    return [f"{temporary}[{i}]" for i in range(len(inputs))]


def _local_number(x: object, names: Names) -> str:
    if type(x) is bool or not isinstance(x, Real):
        raise _NotSymbolicError
    return number(float(x), names)


def _check_rule(node: Value) -> None:
    # A rule called at run time must give one gradient per input: checked here, at the traced
    # point, so that a wrong rule is an error naming its op rather than an index out of range.
    record = node.operation
    assert record is not None
    try:
        local = record.local_grad(FLOAT_MATH, node.data, *[p.data for p in node.parents], *node.params)
        given = len(local)
    except Exception:  # it fails on these numbers: backward() would say so, naming the op
        return
    if given != len(node.parents):
        raise CompileError(
            f"op {node.op!r}: its local-gradient rule gives {given} gradients for {len(node.parents)} inputs"
        )


# ---- gradients in generated code ----------------------------------------------------------


class GradientSums:
    """Each node's gradient in generated code, from the contributions sent to it.

    A node's contributions wait until its gradient is needed, then become one
    sum, added left to right in the order they came (the order backward() adds them).
    """

    def __init__(self, index: dict[Value, int], emit: Callable[[str], None]) -> None:
        self._index = index
        self._emit = emit
        self._known: dict[Value, str] = {}
        self.waiting: dict[Value, list[str]] = {}

    def seed(self, v: Value, expression: str) -> None:
        """Start the backward pass at `v` with this gradient."""
        self._known[v] = expression

    def add(self, v: Value, term: str) -> None:
        """One contribution (upstream gradient times local gradient) to `v`'s gradient."""
        self.waiting.setdefault(v, []).append(term)

    def total(self, v: Value) -> str | None:
        """`v`'s gradient as a name or a number, None if no path from the root carries one."""
        known = self._known.get(v)
        if known is not None:
            return known
        terms = self.waiting.pop(v, None)
        if terms is None:
            return None
        if len(terms) == 1 and is_simple(terms[0]):  # a name or a number needs no variable
            self._known[v] = terms[0]
        else:
            self._known[v] = own = f"g{self._index[v]}"
            emit_sum(own, terms, self._emit)
        return self._known[v]

    def write_params(self, params: list[Value], names: Names) -> None:
        """Add each parameter's gradient into its `.grad`, as backward() does."""
        for p in params:
            # p.grad + c1 + c2 + ...: the sums backward() makes, also when .grad is not 0
            if p in self.waiting:
                self.waiting[p].insert(0, f"{names.bind(p)}.grad")
                self._emit(f"    {names.bind(p)}.grad = {self.total(p)}")
            elif p in self._known:  # the root itself
                self._emit(f"    {names.bind(p)}.grad += {self._known[p]}")


_CHUNK = 1000  # items per list display, so huge sums compile with a small stack
_TERMS = 100  # terms per gradient sum, so the compiler's recursion stays shallow


def emit_sum(out: str, terms: list[str], emit: Callable[[str], None]) -> None:
    """`out = t1 + t2 + ...`, left to right, in lines of at most _TERMS terms."""
    emit(f"    {out} = {' + '.join(terms[:_TERMS])}")
    for start in range(_TERMS, len(terms), _TERMS):
        emit(f"    {out} = {out} + {' + '.join(terms[start : start + _TERMS])}")


def list_source(items: list[str], names: Names, emit: Callable[[str], None]) -> str:
    """A list display of `items`; a long one is built in a temporary, in chunks."""
    if len(items) <= _CHUNK:
        return f"[{', '.join(items)}]"
    name = names.temporary("_t")
    emit(f"    {name} = [{', '.join(items[:_CHUNK])}]")
    for start in range(_CHUNK, len(items), _CHUNK):
        emit(f"    {name} += ({', '.join(items[start : start + _CHUNK])},)")
    return name


def is_simple(expression: str) -> bool:
    """A name or a number: nothing to compute, and nothing infinite unless the data is."""
    if expression.isidentifier():
        return True
    try:
        float(expression.strip("()"))
    except ValueError:
        return False
    return True


def times(upstream: str, local: str) -> str:
    """upstream * local, skipping the factors that change no bit."""
    if local == "1.0":
        return upstream
    if upstream == "1.0":
        return local
    if local == "(-1.0)":
        return f"-{upstream}"
    return f"{upstream} * {local}"


def times_unless_zero(upstream: str, local: str, finite: set[str] | frozenset[str] = frozenset()) -> str:
    """upstream * local, and 0 where upstream is 0, as backward() skips a node whose gradient is 0.

    Only a local gradient computed from finite data that can be infinite (0 * inf
    is nan) needs the test: an expression such as sqrt's 0.5 / out. A number in
    the source is finite, a plain variable is a node's data (dot's and *'s
    local gradients), infinite only where the forward already is, and so is
    an expression in `finite`: one at most 1 in size (relu's step) or at most
    a node's data (a fused relu's step times an input).
    Testing every term would make the source, and compiling it, about 2.5x
    bigger and slower.
    """
    if is_simple(upstream) and not upstream.isidentifier():
        if float(upstream.strip("()")) == 0.0:
            return "0.0"
        return times(upstream, local)
    if is_simple(local) or local in finite:
        return times(upstream, local)
    return f"({upstream} * {local} if {upstream} else 0.0)"


# ---- the traced graph ----------------------------------------------------------------------

_FROM_GRAPH = object()  # marks an aux item that the generated code computes


class Graph:
    """The traced graph in the order the code is written, with what code generation needs of it."""

    def __init__(self, root: Value, aux: Any, inputs: list[Value], params: list[Value]) -> None:
        aux_items: list[Any] = []
        self.aux_spec = _flatten_aux(aux, aux_items)
        aux_values = [a for a in aux_items if isinstance(a, Value)]
        self.aux_values = aux_values
        self.aux_constants = [_FROM_GRAPH if isinstance(a, Value) else a for a in aux_items]
        self.root = root
        self.backward_order = topological_order(root, leaves=False) if not root.is_leaf else []
        order: list[Value] = []
        seen: set[Value] = set()
        for out in [root, *aux_values]:
            if out not in seen:
                part = [v for v in topological_order(out) if v not in seen]
                seen.update(part)
                order.extend(part)
        self.order = order
        self.index = {v: i for i, v in enumerate(order)}
        self.inputs = inputs
        self.params = params
        leaves_wanted = set(inputs) | set(params)
        # A node needs code only if its data depends on an argument or a parameter;
        # every other node is a constant, written as its traced data.
        live: set[Value] = set()
        for v in order:
            if v in leaves_wanted or any(p in live for p in v.parents):
                live.add(v)
        self.live = live
        self.signature = [self._signature(v) for v in order]
        self.baked = [(weakref.ref(v), v.data) for v in order if v.is_leaf and v not in leaves_wanted]

    def _signature(self, v: Value) -> tuple[str, tuple[Any, ...], tuple[Any, ...]]:
        # The op, what it read (a number folded into + - * / in place) and the params that
        # reading does not show (a sum's numbers, a dot's constant inputs).
        record = v.operation
        inputs = tuple(self.index[x] if isinstance(x, Value) else x for x in v.operands)
        hidden = v.params if record is not None and record.number_side is None else ()
        return v.op, inputs, hidden


def first_difference(traced: list[Any], now: list[Any]) -> str | None:
    """Where a new trace's graph first differs from the traced one (signatures); None if nowhere."""
    for index, (old, new) in enumerate(zip(traced, now, strict=False)):
        if old != new:
            return (
                f"node {index} was {_describe_node(old)} when traced, now {_describe_node(new)}: "
                "the graph's shape depends on the data"
            )
    if len(traced) != len(now):
        return (
            f"the graph had {len(traced)} nodes when traced, now {len(now)}: "
            "the graph's shape depends on the data"
        )
    return None


def _describe_node(signature: tuple[str, tuple[Any, ...], tuple[Any, ...]]) -> str:
    op, inputs, hidden = signature
    params = f" and params {list(hidden)}" if hidden else ""
    return f"{op!r} with inputs {list(inputs)}{params}"


def check_baked(name: str, baked: list[tuple[weakref.ref[Value], float]]) -> None:
    """Raise TraceMismatchError if a constant leaf's data changed since tracing."""
    for index, (leaf, data) in enumerate(baked):
        current = leaf()
        if current is not None and not same(current.data, data):
            raise TraceMismatchError(
                f"{name}: constant leaf {current!r} (leaf {index}) held {data!r} when traced; "
                "a Value whose data changes must be listed in params="
            )


def same(a: float, b: float) -> bool:
    """Equal, nan included."""
    return a == b or (math.isnan(a) and math.isnan(b))


def check_params(name: str, params: Sequence[Value]) -> list[Value]:
    """The params of a trace as a list: leaf Values, each listed once."""
    if isinstance(params, Value):
        params = [params]
    checked: list[Value] = []
    seen: set[Value] = set()
    for index, p in enumerate(params):
        if not isinstance(p, Value):
            raise TypeError(f"{name}: params[{index}] must be a Value, got {type(p).__name__} {p!r}")
        if not p.is_leaf:
            raise ValueError(f"{name}: params[{index}] = {p!r} was made by op {p.op!r}; params are leaves")
        if p in seen:
            raise ValueError(f"{name}: params[{index}] = {p!r} is listed twice")
        seen.add(p)
        checked.append(p)
    return checked


def split_result(name: str, result: Any, has_aux: bool) -> tuple[Value, Any]:
    """The traced function's result as (root Value, aux)."""
    aux: Any = []
    if has_aux:
        if not isinstance(result, tuple) or len(result) != 2:
            raise CompileError(f"{name}: with has_aux=True the function returns (value, aux), got {result!r}")
        result, aux = result
    if not isinstance(result, Value):
        raise CompileError(
            f"{name}: the function must return a Value, got {type(result).__name__} {result!r}"
        )
    return result, aux


# ---- arguments: numbers or nested lists of numbers ---------------------------------

# None for a number, n for a flat list of n numbers, else a list of the items' specs
Spec = Any


def flatten(where: str, x: object, out: list[float]) -> Spec:
    """Append the numbers of argument `x` to `out`; returns its shape's spec."""
    if type(x) is float:
        out.append(x)
        return None
    if isinstance(x, (list, tuple)):
        if all(type(item) is float for item in x):  # the common case, without a call per item
            out.extend(x)
            return len(x)
        specs = [flatten(f"{where}[{i}]", item, out) for i, item in enumerate(x)]
        return len(specs) if all(s is None for s in specs) else specs
    if isinstance(x, Value):
        raise TypeError(
            f"{where} is a Value; a compiled function takes numbers (list Values whose data "
            f"it should read in params=), got {x!r}"
        )
    if isinstance(x, Real) and not isinstance(x, bool):
        out.append(float(x))
        return None
    raise TypeError(f"{where} must be a number or a list of numbers, got {type(x).__name__} {x!r}")


def _rebuild(spec: Spec, flat: Sequence[Any], start: int) -> tuple[Any, int]:
    """The item of shape `spec` whose numbers begin at flat[start], and where the next one begins."""
    if spec is None:
        return flat[start], start + 1
    if isinstance(spec, int):
        return list(flat[start : start + spec]), start + spec
    items = []
    for item_spec in spec:
        item, start = _rebuild(item_spec, flat, start)
        items.append(item)
    return items, start


def rebuild_all(specs: list[Spec], flat: Sequence[Any]) -> tuple[Any, ...]:
    """The arguments of shapes `specs` from their numbers in order."""
    rebuilt = []
    start = 0
    for spec in specs:
        item, start = _rebuild(spec, flat, start)
        rebuilt.append(item)
    return tuple(rebuilt)


def aux_result(spec: Any, constants: list[Any], computed: Sequence[Any]) -> Any:
    """The aux the traced function returned, its Values replaced by what the generated code computed."""
    values = iter(computed)
    flat = [next(values) if c is _FROM_GRAPH else c for c in constants]
    return _rebuild_aux(spec, iter(flat))


def _rebuild_aux(spec: Any, flat: Iterator[Any]) -> Any:
    if spec is None:
        return next(flat)
    kind, items = spec
    rebuilt = [_rebuild_aux(s, flat) for s in items]
    return tuple(rebuilt) if kind is tuple else rebuilt


def _flatten_aux(aux: Any, out: list[Any]) -> Any:
    if isinstance(aux, (list, tuple)):
        return (type(aux), [_flatten_aux(item, out) for item in aux])
    out.append(aux)
    return None
