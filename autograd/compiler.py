"""Compiling a traced graph to straight-line Python: forward and gradients with no Value per call.

`trace(f, *example_args, params=...)` runs `f` once on Values, reads the graph
it built and generates one Python function that, for new numbers, computes the
output, then the gradients: one assignment per node forward, one `+=` per edge
backward, all in local variables. Calling it builds no Value at all.

The contract is jax.jit's: the graph's *shape* (which ops, wired how) must not
depend on the data. A branch on a Value's data, `float(v)` or `v.data` inside
`f` is frozen at the traced example; `CompiledFunction.check(*args)` retraces
at new arguments and reports the first difference. Leaf Values that are
neither arguments nor `params` are constants, baked in at their traced data.

What the compiler reads of a node: its public structure (`parents`, `op`,
`data`, `is_leaf`, `topological_order`) and its local-gradient rule, which the
engine keeps in `node._local_grad` and calls as `rule(FLOAT_MATH, out,
*inputs)`. The backward code is derived from that one rule: the rule is called
once with symbols in place of numbers, and the expression it builds becomes
the generated line (`g3 += g7 * (1.0 - v7 * v7)` for tanh). A rule that
cannot run on symbols (it branches on its inputs, say) is called at run time
instead, exactly as `backward()` calls it. No derivative formula is written here.

The forward of each engine op is written here, since the engine keeps the
forward only inside the op; a `primitive` op needs `register_forward` to be
compiled. The generated source contains nothing but numbers and names the
generator made (never a label, an op name or any other user string), and it
is compiled with `compile()` from that source alone.

Results equal eager mode's bit for bit: the forward uses the same float
operations (`math.fsum` for `sum` and `dot`), and the backward adds the same
contributions in the same order as `backward()`.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from itertools import count
from numbers import Real
from typing import Any

from ._sums import exact_sum as _exact_sum
from .engine import (
    _GATES,
    FLOAT_MATH,
    LocalGrad,
    Value,
    dot,
    enable_grad,
    gradient_totals,
    topological_order,
)

__all__ = [
    "CompileError",
    "CompiledFunction",
    "TraceMismatchError",
    "register_forward",
    "trace",
]


class CompileError(Exception):
    """A traced graph that cannot be compiled, or a traced function used against the contract."""


class TraceMismatchError(CompileError):
    """`CompiledFunction.check` found that the traced function's graph or results changed."""


# ---- telling the engine's ops apart -------------------------------------------------
# Each op is recognised by its local-gradient rule object, never by its name, so
# a user primitive that happens to be called "+" is not mistaken for addition.
# The rules are found by building one node of each op through the public API.


def _rule_of(node: Value) -> Any:
    return _rule_key(node._local_grad)


def _rule_key(rule: Any) -> Any:
    # The engine makes some rules as partials: of a shared function (a power's
    # exponent, dot's constant inputs), or of + - * /'s own rule with a number
    # folded in (x * 2), which is that op.
    if isinstance(rule, partial):
        return rule.args[0] if rule.func in _FOLDED else rule.func
    return rule


def _builtin_rules() -> dict[Any, str]:
    with enable_grad():
        a, b, c = Value(0.5), Value(2.0), Value(1.5)
        probes = {
            "+": a + b,
            "-": a - b,
            "*": a * b,
            "/": a / b,
            "neg": -a,
            "pow_const": a**3,
            "pow": a**b,
            "exp": a.exp(),
            "expm1": a.expm1(),
            "log": a.log(),
            "log1p": a.log1p(),
            "sqrt": a.sqrt(),
            "sin": a.sin(),
            "cos": a.cos(),
            "tan": a.tan(),
            "tanh": a.tanh(),
            "sigmoid": a.sigmoid(),
            "relu": a.relu(),
            "abs": a.abs(),
            "sum": Value.sum([a, b]),
            "dot": dot([a], [b]),
            "dot_bias": dot([a], [b], c),
            "dot_const": dot([a], [2.0]),
            "dot_const_bias": dot([a], [2.0], c),
        }
    return {_rule_of(node): kind for kind, node in probes.items()}


def _folded_number_rules() -> set[Any]:
    with enable_grad():
        a = Value(0.5)
        folded = [(a + 2.0)._local_grad, (2.0 + a)._local_grad]
    return {rule.func for rule in folded if isinstance(rule, partial)}


def _fused_dot_forward(gate: Callable[[float], float]) -> Callable[..., float]:
    # A dot fused with its activation runs as a primitive would: its forward on the parents' data.
    def forward(*inputs: float) -> float:
        half = len(inputs) // 2  # w_1..w_n, x_1..x_n (and b), as in the engine
        terms = list(map(float.__mul__, inputs[:half], inputs[half : 2 * half]))
        if len(inputs) & 1:
            terms.append(inputs[-1])
        return gate(_exact_sum(terms))

    return forward


_FOLDED = _folded_number_rules()
_BUILTIN = _builtin_rules()
_FORWARDS: dict[Any, Callable[..., float]] = {
    rule: _fused_dot_forward(gate) for gate, rule, _ in _GATES.values()
}


def register_forward(local_grad: LocalGrad, forward: Callable[..., float]) -> None:
    """Let the compiler evaluate a `primitive` op: `forward` is the function on floats it wraps.

    The op is recognised by its rule, the `local_grad` given to `primitive`.
    """
    if not callable(local_grad) or not callable(forward):
        raise TypeError(
            f"register_forward expects a local-gradient rule and a function on floats, "
            f"got {type(local_grad).__name__} and {type(forward).__name__}"
        )
    if _rule_key(local_grad) in _BUILTIN:
        raise ValueError(f"register_forward: {local_grad!r} is the rule of a built-in op")
    _FORWARDS[local_grad] = forward


# ---- symbols: running a rule to get its expression ---------------------------------


class _NotSymbolicError(Exception):
    """The rule did something with a symbol that has no expression (a branch, float())."""


def _literal(x: object) -> str:
    if type(x) is bool or not isinstance(x, (int, float)):
        raise _NotSymbolicError
    x = float(x)
    if not math.isfinite(x):
        raise _NotSymbolicError
    text = repr(x)
    return f"({text})" if text.startswith("-") else text


def _operand(x: object) -> str:
    return x.text if isinstance(x, _Sym) else _literal(x)


class _Sym:
    """An expression in generated names; arithmetic on it writes source text."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def _binary(self, template: str, other: object) -> _Sym:
        return _Sym(template.format(self.text, _operand(other)))

    def __add__(self, other: object) -> _Sym:
        return self._binary("({} + {})", other)

    def __radd__(self, other: object) -> _Sym:
        return _Sym(f"({_operand(other)} + {self.text})")

    def __sub__(self, other: object) -> _Sym:
        return self._binary("({} - {})", other)

    def __rsub__(self, other: object) -> _Sym:
        return _Sym(f"({_operand(other)} - {self.text})")

    def __mul__(self, other: object) -> _Sym:
        return self._binary("({} * {})", other)

    def __rmul__(self, other: object) -> _Sym:
        return _Sym(f"({_operand(other)} * {self.text})")

    def __truediv__(self, other: object) -> _Sym:
        return self._binary("({} / {})", other)

    def __rtruediv__(self, other: object) -> _Sym:
        return _Sym(f"({_operand(other)} / {self.text})")

    def __pow__(self, other: object) -> _Sym:
        return self._binary("({} ** {})", other)

    def __rpow__(self, other: object) -> _Sym:
        return _Sym(f"({_operand(other)} ** {self.text})")

    def __neg__(self) -> _Sym:
        return _Sym(f"(-{self.text})")

    def __pos__(self) -> _Sym:
        return self

    def _refuse(self, *args: object) -> Any:
        raise _NotSymbolicError

    __bool__ = __float__ = __int__ = __index__ = __abs__ = __round__ = _refuse
    __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __ne__ = _refuse
    __hash__ = None  # type: ignore[assignment]


# FLOAT_MATH functions cheap enough to write inline; each mirrors FLOAT_MATH exactly
# (a test compares them), everything else is called through a generated name.
_INLINE_MATH: dict[str, str] = {
    "step": "(1.0 if {0} > 0.0 else 0.0)",
    "sign": "(1.0 if {0} > 0.0 else (-1.0 if {0} < 0.0 else 0.0))",
    "data": "{0}",
}


class _SymMath:
    """The math namespace `m` for symbols: `m.cos(a)` writes a call of `namespace.cos` (FLOAT_MATH's)."""

    def __init__(
        self, names: _Names, namespace: Any = FLOAT_MATH, inline: dict[str, str] = _INLINE_MATH
    ) -> None:
        self._names = names
        self._namespace = namespace
        self._inline = inline

    def __getattr__(self, attribute: str) -> Callable[..., _Sym]:
        function = None if attribute.startswith("_") else getattr(self._namespace, attribute, None)
        if function is None or not callable(function):
            raise _NotSymbolicError
        template = self._inline.get(attribute)
        if template is not None:
            return lambda *args: _Sym(template.format(*[_operand(a) for a in args]))
        name = self._names.bind(function)
        return lambda *args: _Sym(f"{name}({', '.join(_operand(a) for a in args)})")


class _Names:
    """The generated function's globals: every object the code refers to, under a made-up name."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"__builtins__": {}}
        self._by_id: dict[int, str] = {}
        self._counter = count()
        self._temporaries = count()

    def temporary(self, prefix: str) -> str:
        """A fresh local variable name for the generated code."""
        return f"{prefix}{next(self._temporaries)}"

    def bind(self, obj: Any) -> str:
        name = self._by_id.get(id(obj))
        if name is None:
            name = f"_k{next(self._counter)}"
            self._by_id[id(obj)] = name
            self.namespace[name] = obj
        return name

    def number(self, x: float) -> str:
        try:
            return _literal(x)
        except _NotSymbolicError:  # inf and nan have no literal
            return self.bind(float(x))


# ---- arguments: numbers or nested lists of numbers ---------------------------------

# None for a number, n for a flat list of n numbers, else a list of the items' specs
Spec = Any


def _flatten(where: str, x: object, out: list[float]) -> Spec:
    if type(x) is float:
        out.append(x)
        return None
    if isinstance(x, (list, tuple)):
        if all(type(item) is float for item in x):  # the common case, without a call per item
            out.extend(x)
            return len(x)
        specs = [_flatten(f"{where}[{i}]", item, out) for i, item in enumerate(x)]
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


def _describe(spec: Spec) -> str:
    if spec is None:
        return "a number"
    if isinstance(spec, int):
        return f"a list of {spec} numbers"
    return f"a list of {len(spec)} lists and numbers"


# ---- the compiled function -----------------------------------------------------------


class CompiledFunction:
    """A traced function as generated Python: `fn(*args)` returns `(value, gradients)`.

    `gradients` has one entry per argument, shaped like it (a float for a
    number, nested lists for lists). Each parameter's gradient is added into
    its `.grad`, as `backward()` would. With `has_aux=True` the value is
    `(value, aux)`, aux with every Value replaced by its data.
    """

    def __init__(
        self,
        name: str,
        function: Callable[..., Any],
        retrace: Callable[..., tuple[Value, Any, list[Value]]],
        arg_specs: list[Spec],
        params: list[Value],
        graph: _Graph,
        source: str,
        has_aux: bool,
    ) -> None:
        self.__name__ = name
        self._function = function
        self._retrace = retrace
        self._arg_specs = arg_specs
        self._scalar_args = all(s is None for s in arg_specs)
        self._params = params
        self._has_aux = has_aux
        self._aux_spec = graph.aux_spec
        self._aux_constants = graph.aux_constants
        self._signature = graph.signature
        self._baked = graph.baked
        self.source = source
        self.nodes = len(graph.signature)

    def __repr__(self) -> str:
        return f"<compiled {self.__name__}: {self.nodes} nodes, {len(self._params)} params>"

    def _flat_args(self, args: tuple[Any, ...]) -> list[float]:
        if len(args) != len(self._arg_specs):
            raise TypeError(f"{self.__name__} takes {len(self._arg_specs)} arguments, got {len(args)}")
        if self._scalar_args and all(type(a) is float for a in args):
            return list(args)
        flat: list[float] = []
        for position, (arg, spec) in enumerate(zip(args, self._arg_specs, strict=True)):
            where = f"{self.__name__}: argument {position}"
            got = _flatten(where, arg, flat)
            if got != spec:
                raise ValueError(
                    f"{where} has another shape than when traced: traced with {_describe(spec)}, "
                    f"got {arg!r} (the graph's shape must not depend on the data; trace again)"
                )
        return flat

    def __call__(self, *args: Any) -> tuple[Any, Any]:
        """The value of the traced function at `args` and its gradients with respect to them."""
        flat = self._flat_args(args)
        try:
            value, aux, gradients = self._function(flat)
        except Exception as exc:
            self._explain_failure(args, exc)
            raise
        grads = _rebuild_all(self._arg_specs, gradients)
        if not self._has_aux:
            return value, grads
        return (value, self._rebuild_aux(aux)), grads

    def _rebuild_aux(self, aux: Sequence[float]) -> Any:
        return _aux_result(self._aux_spec, self._aux_constants, aux)

    def _explain_failure(self, args: tuple[Any, ...], exc: Exception) -> None:
        # The generated code knows no messages: the eager function raises the engine's
        # own error, naming the op and the value. If it does not fail, the graph changed.
        if isinstance(exc, _OpFailedError):
            exc = exc.args[1]
        try:
            self._retrace(*args)
        except Exception as eager:
            raise eager from None
        raise TraceMismatchError(
            f"{self.__name__}: the compiled graph failed ({type(exc).__name__}: {exc}) where the "
            f"traced function did not, so the graph's shape depends on the data; trace again"
        ) from exc

    def check(self, *args: Any) -> bool:
        """Retrace at `args` and compare graph and results with the compiled ones; True if they agree.

        Catches the misuse tracing cannot see by itself: a graph whose shape
        depends on the data, a constant leaf whose data changed since tracing
        (a parameter missing from params=). Leaves every `.grad` as it was.
        """
        name = self.__name__
        _check_baked(name, self._baked)
        saved = [p.grad for p in self._params]
        for p in self._params:
            p.grad = 0.0
        try:
            value, grads = self(*args)
            param_grads = [float(p.grad) for p in self._params]
        finally:
            for p, grad in zip(self._params, saved, strict=True):
                p.grad = grad
        if self._has_aux:
            value = value[0]
        root, aux, wrt = self._retrace(*args)
        difference = _first_difference(self._signature, _Graph(root, aux, wrt, self._params).signature)
        if difference is not None:
            raise TraceMismatchError(f"{name}: {difference}")
        if not _same(root.data, value):
            raise TraceMismatchError(f"{name}: compiled value {value!r}, eager value {root.data!r}")
        totals = gradient_totals([root], [1.0], False)
        eager = [float(totals.get(v, 0.0)) for v in [*wrt, *self._params]]
        compiled = [*_flat_list(list(grads)), *param_grads]
        for index, (ours, theirs) in enumerate(zip(compiled, eager, strict=True)):
            if not _same(ours, theirs):
                raise TraceMismatchError(
                    f"{name}: gradient {index}: compiled {ours!r}, eager {theirs!r} "
                    "(a constant the trace baked in depends on the data)"
                )
        return True


def _check_baked(name: str, baked: list[tuple[weakref.ref[Value], float]]) -> None:
    """Raise TraceMismatchError if a constant leaf's data changed since tracing."""
    for index, (leaf, data) in enumerate(baked):
        current = leaf()
        if current is not None and not _same(current.data, data):
            raise TraceMismatchError(
                f"{name}: constant leaf {current!r} (leaf {index}) held {data!r} when traced; "
                "a Value whose data changes must be listed in params="
            )


def _first_difference(traced: list[Any], now: list[Any]) -> str | None:
    """Where a new trace's graph first differs from the traced one (signatures); None if nowhere."""
    for index, (old, new) in enumerate(zip(traced, now, strict=False)):
        if old != new:
            return (
                f"node {index} was {old[0]!r} with inputs {list(old[1])} when traced, "
                f"now {new[0]!r} with inputs {list(new[1])}: the graph's shape depends on the data"
            )
    if len(traced) != len(now):
        return (
            f"the graph had {len(traced)} nodes when traced, now {len(now)}: "
            "the graph's shape depends on the data"
        )
    return None


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _flat_list(x: Any) -> Iterator[float]:
    if isinstance(x, list):
        for item in x:
            yield from _flat_list(item)
    else:
        yield x


def _rebuild_all(specs: list[Spec], flat: Sequence[Any]) -> tuple[Any, ...]:
    rebuilt = []
    start = 0
    for spec in specs:
        item, start = _rebuild(spec, flat, start)
        rebuilt.append(item)
    return tuple(rebuilt)


_FROM_GRAPH = object()  # marks an aux item that the generated code computes


def _aux_result(spec: Any, constants: list[Any], computed: Sequence[Any]) -> Any:
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


# ---- reading the graph ------------------------------------------------------------------


class _OpFailedError(Exception):
    """Raised by generated code where the engine's op would raise (argument: node index)."""


def _fail(index: int) -> float:
    raise _OpFailedError(index, ArithmeticError(f"node {index}"))


class _Graph:
    """The traced graph in the order the code is written, with what codegen needs of it."""

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
        self.signature = [
            (v.op, tuple(self.index[x] if isinstance(x, Value) else x for x in v.operands)) for v in order
        ]
        self.baked = [(weakref.ref(v), v.data) for v in order if v.is_leaf and v not in leaves_wanted]


def _generate(graph: _Graph, names: _Names) -> str:
    """The source of `_compiled(_a)`: returns (value, aux data, gradients of args and params)."""
    var: dict[Value, str] = {}
    lines: list[str] = []
    emit = lines.append

    def ref(v: Value) -> str:
        name = var.get(v)
        return name if name is not None else names.number(v.data)

    inputs = [f"v{graph.index[v]}" if v in graph.index else names.temporary("_u") for v in graph.inputs]
    for v, name in zip(graph.inputs, inputs, strict=True):
        var[v] = name
    if inputs:
        emit(f"    {', '.join(inputs)}, = _a")
    for p in graph.params:
        if p in graph.index:
            var[p] = f"v{graph.index[p]}"
            emit(f"    {var[p]} = {names.bind(p)}.data")

    # forward
    for v in graph.order:
        if v.is_leaf or v not in graph.live:
            continue
        k = graph.index[v]
        var[v] = f"v{k}"
        operands = [ref(x) if isinstance(x, Value) else names.number(x) for x in v.operands]
        _emit_forward(v, k, operands, names, emit)

    # backward, in the order backward() takes, touching only nodes that lead to a wanted leaf.
    sums = _GradientSums(graph.index, emit)
    if graph.root in graph.live:
        sums.seed(graph.root, "1.0")
    math_ns = _SymMath(names)
    for v in reversed(graph.backward_order):
        if v not in graph.live:
            continue
        upstream = sums.total(v)
        if upstream is None:
            continue
        parents = v.parents
        targets = [i for i, p in enumerate(parents) if p in graph.live]
        if not targets:
            continue
        locals_ = _local_expressions(v, [ref(p) for p in parents], var[v], names, math_ns, emit)
        for i in targets:
            sums.add(parents[i], _times_unless_zero(upstream, locals_[i]))

    sums.write_params(graph.params, names)
    gradients = [(sums.total(v) if v in graph.index else None) or "0.0" for v in graph.inputs]
    value = ref(graph.root)
    aux = [ref(a) for a in graph.aux_values]
    emit(f"    _aux = {_list_source(aux, names, emit)}")
    emit(f"    _grads = {_list_source(gradients, names, emit)}")
    emit(f"    return {value}, _aux, _grads")
    return "def _compiled(_a):\n" + "\n".join(lines) + "\n"


class _GradientSums:
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
        if len(terms) == 1 and _is_simple(terms[0]):  # a name or a number needs no variable
            self._known[v] = terms[0]
        else:
            self._known[v] = own = f"g{self._index[v]}"
            _emit_sum(own, terms, self._emit)
        return self._known[v]

    def write_params(self, params: list[Value], names: _Names) -> None:
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


def _emit_sum(out: str, terms: list[str], emit: Callable[[str], None]) -> None:
    """`out = t1 + t2 + ...`, left to right, in lines of at most _TERMS terms."""
    emit(f"    {out} = {' + '.join(terms[:_TERMS])}")
    for start in range(_TERMS, len(terms), _TERMS):
        emit(f"    {out} = {out} + {' + '.join(terms[start : start + _TERMS])}")


def _list_source(items: list[str], names: _Names, emit: Callable[[str], None]) -> str:
    if len(items) <= _CHUNK:
        return f"[{', '.join(items)}]"
    name = names.temporary("_t")
    emit(f"    {name} = [{', '.join(items[:_CHUNK])}]")
    for start in range(_CHUNK, len(items), _CHUNK):
        emit(f"    {name} += ({', '.join(items[start : start + _CHUNK])},)")
    return name


def _is_simple(expression: str) -> bool:
    if expression.isidentifier():
        return True
    try:
        float(expression.strip("()"))
    except ValueError:
        return False
    return True


def _times(upstream: str, local: str) -> str:
    # upstream * local, skipping the factors that change no bit
    if local == "1.0":
        return upstream
    if upstream == "1.0":
        return local
    if local == "(-1.0)":
        return f"-{upstream}"
    return f"{upstream} * {local}"


def _times_unless_zero(upstream: str, local: str) -> str:
    """upstream * local, and 0 where upstream is 0, as backward() skips a node whose gradient is 0.

    Only a local gradient computed from finite data that can be infinite (0 * inf
    is nan) needs the test: an expression such as sqrt's 0.5 / out. A number in
    the source is finite, and a plain variable is a node's data (dot's and *'s
    local gradients), infinite only where the forward already is. Testing every
    term would make the source, and compiling it, about 2.5x bigger and slower.
    """
    if _is_simple(upstream) and not upstream.isidentifier():
        if float(upstream.strip("()")) == 0.0:
            return "0.0"
        return _times(upstream, local)
    if _is_simple(local):
        return _times(upstream, local)
    return f"({upstream} * {local} if {upstream} else 0.0)"


def _local_expressions(
    v: Value,
    parents: list[str],
    out: str,
    names: _Names,
    math_ns: _SymMath,
    emit: Callable[[str], None],
    at_run_time: Callable[[str, str, list[str]], str] | None = None,
) -> list[str]:
    """Each parent's local gradient as an expression, from the node's own rule.

    A rule that cannot run on symbols is called when the code runs:
    `at_run_time(rule, out, parents)` writes that call (by default on floats, as backward() calls it).
    """
    rule = v._local_grad
    assert rule is not None
    try:
        local = rule(math_ns, _Sym(out), *[_Sym(p) for p in parents])
        texts = [_operand(x) for x in local]
        if len(texts) != len(parents):
            raise _NotSymbolicError
        return texts
    except _NotSymbolicError:
        pass
    except Exception:  # a rule written for numbers only: it runs on numbers below
        pass
    temporary = names.temporary("_l")
    if at_run_time is None:
        emit(f"    {temporary} = {names.bind(rule)}({names.bind(FLOAT_MATH)}, {out}, {', '.join(parents)})")
    else:
        emit(f"    {temporary} = {at_run_time(names.bind(rule), out, parents)}")
    return [f"{temporary}[{i}]" for i in range(len(parents))]


def _emit_forward(v: Value, k: int, args: list[str], names: _Names, emit: Callable[[str], None]) -> None:
    kind = _BUILTIN.get(_rule_of(v))
    out = f"v{k}"
    if kind is None:
        forward = _registered_forward(v, "trace")
        emit(f"    {out} = {names.bind(float)}({names.bind(forward)}({', '.join(args)}))")
        return
    a = args[0] if args else ""
    b = args[1] if len(args) > 1 else ""
    fail = f"{names.bind(_fail)}({k})"
    if kind in _INFIX:
        emit(f"    {out} = {a} {_INFIX[kind]} {b}")
    elif kind == "neg":
        emit(f"    {out} = -{a}")
    elif kind in _MATH_CALLS:
        call = f"{names.bind(_MATH_CALLS[kind])}({a})"
        guard = _DOMAIN.get(kind)
        if guard is None:
            emit(f"    {out} = {call}")
        else:
            emit(f"    {out} = {call} if {guard.format(a)} else {fail}")
    elif kind == "relu":
        emit(f"    {out} = {a} if {a} > 0.0 else 0.0")
    elif kind == "abs":
        emit(f"    {out} = {names.bind(abs)}({a})")
    elif kind == "pow_const":
        exponent = _exponent(v)
        power = repr(exponent) if isinstance(exponent, int) else names.number(exponent)
        if float(exponent).is_integer():
            emit(f"    {out} = {a} ** {power}")
        else:  # a negative base has no real power; the engine raises there
            emit(f"    {out} = {a} ** {power} if not {a} < 0.0 else {fail}")
    elif kind == "pow":
        emit(f"    {out} = {names.bind(_power)}({a}, {b}, {k})")
    elif kind == "sum":
        _check_sum(v)
        emit(f"    {out} = {names.bind(_exact_sum)}({_list_source(args, names, emit)})")
    else:  # the four kinds of dot
        terms = _list_source(_dot_terms(v, kind, args, names), names, emit)
        emit(f"    {out} = {names.bind(_exact_sum)}({terms})")


def _registered_forward(v: Value, compiler: str) -> Callable[..., float]:
    """The forward on floats of a `primitive` op, as register_forward gave it."""
    forward = _FORWARDS.get(v._local_grad)
    if forward is None:
        raise CompileError(
            f"{compiler}: op {v.op!r} has no forward the compiler knows; if it is a primitive, "
            "call autograd.register_forward(local_grad, forward) with the rule and the function "
            "on floats given to primitive()"
        )
    return forward


_INFIX = {"+": "+", "-": "-", "*": "*", "/": "/"}
_MATH_CALLS: dict[str, Callable[[float], float]] = {
    "exp": math.exp,
    "expm1": math.expm1,
    "log": math.log,
    "log1p": math.log1p,
    "sqrt": math.sqrt,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "tanh": math.tanh,
    "sigmoid": FLOAT_MATH.sigmoid,
}
# The engine's domain checks, which also reject nan where math would pass it through.
_DOMAIN = {"log": "{0} > 0.0", "log1p": "{0} > -1.0", "sqrt": "{0} >= 0.0"}


def _power(base: float, exponent: float, index: int) -> float:
    if (base < 0.0 and not exponent.is_integer()) or (base == 0.0 and exponent < 0.0):
        raise _OpFailedError(index, ArithmeticError(f"{base!r} ** {exponent!r}"))
    return float(base**exponent)


def _exponent(v: Value) -> float:
    # The engine names a power by its exponent ("**2", "**0.5"); read it back as a number.
    text = v.op[2:]
    try:
        exponent: float = int(text)
    except ValueError:
        try:
            exponent = float(text)
        except ValueError:
            raise CompileError(f"trace: cannot read the exponent of op {v.op!r}") from None
    if repr(exponent) != text:
        raise CompileError(f"trace: cannot read the exponent of op {v.op!r}")
    return exponent


def _check_sum(v: Value) -> None:
    if _exact_sum([p.data for p in v.parents]) != v.data:
        raise CompileError(
            f"trace: a sum node (data {v.data!r}) added plain numbers to its Values; the node keeps "
            "no record of them, so it cannot be compiled: pass the numbers as Values "
            "(Value.sum([..., Value(c)])) or add them with +"
        )


def _dot_terms(v: Value, kind: str, args: list[str], names: _Names) -> list[str]:
    n = len(args)
    if kind == "dot":
        half = n // 2
        return [f"{args[i]} * {args[half + i]}" for i in range(half)]
    if kind == "dot_bias":
        half = (n - 1) // 2
        return [*[f"{args[i]} * {args[half + i]}" for i in range(half)], args[-1]]
    # constant inputs: the rule returns them as d(out)/d(w_i)
    constants = v.local_grads()
    if kind == "dot_const":
        return [f"{args[i]} * {names.number(constants[i])}" for i in range(n)]
    return [*[f"{args[i]} * {names.number(constants[i])}" for i in range(n - 1)], args[-1]]


# ---- tracing --------------------------------------------------------------------------


def trace(
    f: Callable[..., Any],
    *example_args: Any,
    params: Sequence[Value] = (),
    has_aux: bool = False,
) -> CompiledFunction:
    """Run `f` once on Values made from `example_args` and compile the graph it builds.

    Arguments are numbers or (nested) lists of numbers; `f` receives Values in
    their place. `params` are leaf Values (a model's parameters) whose data the
    compiled function reads at every call and whose `.grad` it adds to. Every
    other leaf is a constant. `f` returns a Value (or `(Value, aux)` with
    `has_aux=True`), and its graph's shape must not depend on the data.
    """
    if not callable(f):
        raise TypeError(f"trace expects a function, got {type(f).__name__} {f!r}")
    name = f"trace({getattr(f, '__qualname__', type(f).__name__)})"
    params = _check_params(name, params)
    arg_specs: list[Spec] = []
    for position, arg in enumerate(example_args):
        arg_specs.append(_flatten(f"{name}: argument {position}", arg, []))

    def retrace(*args: Any) -> tuple[Value, Any, list[Value]]:
        flat: list[float] = []
        for position, (arg, spec) in enumerate(zip(args, arg_specs, strict=True)):
            if _flatten(f"{name}: argument {position}", arg, flat) != spec:
                raise ValueError(f"{name}: argument {position} has another shape than when traced")
        leaves = [Value(x) for x in flat]
        with enable_grad():
            result = f(*_rebuild_all(arg_specs, leaves))
        root, aux = _split_result(name, result, has_aux)
        return root, aux, leaves

    root, aux, leaves = retrace(*example_args)
    graph = _Graph(root, aux, leaves, params)
    names = _Names()
    source = _generate(graph, names)
    code = compile(source, f"<{name}>", "exec")
    exec(code, names.namespace)  # the source holds only numbers and generated names
    function = names.namespace["_compiled"]
    return CompiledFunction(name, function, retrace, arg_specs, params, graph, source, has_aux)


def _check_params(name: str, params: Sequence[Value]) -> list[Value]:
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


def _split_result(name: str, result: Any, has_aux: bool) -> tuple[Value, Any]:
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
