"""Compiling a traced graph to straight-line Python: forward and gradients with no Value per call.

`trace(f, *example_args, params=...)` runs `f` once on Values, reads the graph
it built and generates one Python function that, for new numbers, computes the
output, then the gradients: one assignment per node forward, one term of a
sum per edge backward, all in local variables. Calling it builds no Value at all.

The contract is jax.jit's: the graph's *shape* (which ops, wired how) must not
depend on the data. A branch on a Value's data, `float(v)` or `v.data` inside
`f` is frozen at the traced example; `CompiledFunction.check(*args)` retraces
at new arguments and reports the first difference. Leaf Values that are
neither arguments nor `params` are constants, baked in at their traced data.

What the compiler reads of a node: its public structure (`parents`, `params`,
`op`, `data`, `is_leaf`, `topological_order`) and its op's record
(`node.operation`), from which codegen.py writes the code: the record's
forward and domain check run once on symbols and become the forward line
(`v3 = (v1 * v2)`; a forward that does not run on symbols, such as math.exp,
is called: `v3 = _k2(v1)`), and its local-gradient rule, run the same way,
becomes the backward term (`g7 * (1.0 - (v7 * v7))` for tanh). A rule
that cannot run on symbols is called at run time instead, exactly as
`backward()` calls it. No op's forward or derivative is written here, so an op
made with `primitive` compiles as the built-in ones do.

The generated source contains nothing but numbers and names the generator
made (never a label, an op name or any other user string), and it is
compiled with `compile()` from that source alone.

Its size is checked before any code is written: straight-line code takes
about 4 KB of memory per term while it is compiled (a term is a node or one
of its inputs: a dot of n weights and n inputs is 2n + 1 terms), so a graph
of more than `max_terms` terms (TRACE_BUDGET, 300,000, about 1.2 GB, by
default) is refused with GraphTooLargeError, which names the size and points
to `trace_batch`. The terms are counted while `f` runs, so that tracing stops
as soon as the budget is passed, without building the rest of the graph.

Results equal eager mode's bit for bit: the forward uses the same float
operations (`math.fsum` for `sum` and `dot`; where it raises because no exact
sum exists, the call runs again with the engine's own sum, which then adds in
order), and the backward adds the same contributions in the same order as
`backward()`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn

from .codegen import (
    CompileError,
    GradientSums,
    Graph,
    Names,
    OpFailedError,
    Spec,
    SymMath,
    TraceMismatchError,
    aux_result,
    check_baked,
    check_params,
    emit_forward,
    first_difference,
    flatten,
    list_source,
    local_gradients,
    number,
    rebuild_all,
    same,
    split_result,
    times_unless_zero,
)
from .engine import Value, enable_grad
from .general import gradient_totals
from .grad_mode import GraphBudget, GraphBudgetError, recording

__all__ = [
    "TRACE_BUDGET",
    "CompileError",
    "CompiledFunction",
    "GraphTooLargeError",
    "TraceMismatchError",
    "trace",
]

# Terms (nodes and their inputs) a trace compiles at most by default: about 1.2 GB at the
# 4 KB a term takes while its straight-line code is compiled.
TRACE_BUDGET = 300_000
_BYTES_PER_TERM = 4096


class GraphTooLargeError(CompileError, MemoryError):
    """The traced graph is past the trace's budget of terms: its code would not fit in memory."""


def _too_large(name: str, size: str, limit: int, terms: int) -> GraphTooLargeError:
    memory = terms * _BYTES_PER_TERM
    amount = f"{memory / 1e9:.1f} GB" if memory >= 1e9 else f"{memory / 1e6:.1f} MB"
    return GraphTooLargeError(
        f"{name}: the graph {size}, more than the budget of max_terms={limit:,}; its "
        f"straight-line code would take over {amount} to compile (about 4 KB a term). "
        "Compile one example with autograd.trace_batch (numpy over the batch: fit(compile='batch')), "
        "whose code grows with the layers, not the terms; or pass a larger max_terms= (None: no limit)"
    )


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
        exact: Callable[..., Any] | None,
        retrace: Callable[..., tuple[Value, Any, list[Value]]],
        arg_specs: list[Spec],
        params: list[Value],
        graph: Graph,
        source: str,
        has_aux: bool,
    ) -> None:
        self.__name__ = name
        self._function = function
        self._exact = exact  # the code with the engine's exact sum, for where math.fsum raises
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
            got = flatten(where, arg, flat)
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
            value, aux, gradients = self._after_failure(args, flat, exc)
        grads = rebuild_all(self._arg_specs, gradients)
        if not self._has_aux:
            return value, grads
        return (value, self._rebuild_aux(aux)), grads

    def _rebuild_aux(self, aux: Sequence[float]) -> Any:
        return aux_result(self._aux_spec, self._aux_constants, aux)

    def _after_failure(self, args: tuple[Any, ...], flat: list[float], exc: Exception) -> Any:
        # math.fsum raises where no exactly rounded sum exists, and the engine then adds the
        # terms in order: the code with the engine's sum runs again (no .grad is written
        # before the code's last lines). What fails there too, eager mode explains.
        if self._exact is not None:
            try:
                return self._exact(flat)
            except Exception as again:
                exc = again
        self._explain_failure(args, exc)

    def _explain_failure(self, args: tuple[Any, ...], exc: Exception) -> NoReturn:
        # The generated code knows no messages: the eager function raises the engine's
        # own error, naming the op and the value. If it does not fail, the graph changed.
        if isinstance(exc, OpFailedError):
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
        check_baked(name, self._baked)
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
        difference = first_difference(self._signature, Graph(root, aux, wrt, self._params).signature)
        if difference is not None:
            raise TraceMismatchError(f"{name}: {difference}")
        if not same(root.data, value):
            raise TraceMismatchError(f"{name}: compiled value {value!r}, eager value {root.data!r}")
        totals = gradient_totals([root], [1.0], False)
        eager = [float(totals.get(v, 0.0)) for v in [*wrt, *self._params]]
        compiled = [*_flat_list(list(grads)), *param_grads]
        for index, (ours, theirs) in enumerate(zip(compiled, eager, strict=True)):
            if not same(ours, theirs):
                raise TraceMismatchError(
                    f"{name}: gradient {index}: compiled {ours!r}, eager {theirs!r} "
                    "(a constant the trace baked in depends on the data)"
                )
        return True


def _flat_list(x: Any) -> Iterator[float]:
    if isinstance(x, list):
        for item in x:
            yield from _flat_list(item)
    else:
        yield x


# ---- generating the code ----------------------------------------------------------------


def _generate(graph: Graph, names: Names) -> str:
    """The source of `_compiled(_a)`: returns (value, aux data, gradients of args and params)."""
    var: dict[Value, str] = {}
    lines: list[str] = []
    emit = lines.append

    def ref(v: Value) -> str:
        name = var.get(v)
        return name if name is not None else number(v.data, names)

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
        emit_forward(v, var[v], k, [ref(p) for p in v.parents], names, emit)

    # backward, in the order backward() takes, touching only nodes that lead to a wanted leaf.
    sums = GradientSums(graph.index, emit)
    if graph.root in graph.live:
        sums.seed(graph.root, "1.0")
    math_ns = SymMath(names)
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
        locals_ = local_gradients(v, [ref(p) for p in parents], var[v], names, math_ns, emit)
        for i in targets:
            sums.add(parents[i], times_unless_zero(upstream, locals_[i], math_ns.finite))

    sums.write_params(graph.params, names)
    gradients = [(sums.total(v) if v in graph.index else None) or "0.0" for v in graph.inputs]
    value = ref(graph.root)
    aux = [ref(a) for a in graph.aux_values]
    emit(f"    _aux = {list_source(aux, names, emit)}")
    emit(f"    _grads = {list_source(gradients, names, emit)}")
    emit(f"    return {value}, _aux, _grads")
    return "def _compiled(_a):\n" + "\n".join(lines) + "\n"


# ---- tracing --------------------------------------------------------------------------


def trace(
    f: Callable[..., Any],
    *example_args: Any,
    params: Sequence[Value] = (),
    has_aux: bool = False,
    max_terms: int | None = TRACE_BUDGET,
) -> CompiledFunction:
    """Run `f` once on Values made from `example_args` and compile the graph it builds.

    Arguments are numbers or (nested) lists of numbers; `f` receives Values in
    their place. `params` are leaf Values (a model's parameters) whose data the
    compiled function reads at every call and whose `.grad` it adds to. Every
    other leaf is a constant. `f` returns a Value (or `(Value, aux)` with
    `has_aux=True`), and its graph's shape must not depend on the data.
    A graph of more than `max_terms` terms (nodes and their inputs) is refused
    with GraphTooLargeError as soon as `f` has recorded that many (None: no limit).
    """
    if not callable(f):
        raise TypeError(f"trace expects a function, got {type(f).__name__} {f!r}")
    name = f"trace({getattr(f, '__qualname__', type(f).__name__)})"
    if max_terms is not None and (
        isinstance(max_terms, bool) or not isinstance(max_terms, int) or max_terms < 1
    ):
        raise ValueError(f"{name}: max_terms must be a positive integer or None, got {max_terms!r}")
    params = check_params(name, params)
    arg_specs: list[Spec] = []
    for position, arg in enumerate(example_args):
        arg_specs.append(flatten(f"{name}: argument {position}", arg, []))

    def retrace(*args: Any, budget: GraphBudget | None = None) -> tuple[Value, Any, list[Value]]:
        flat: list[float] = []
        for position, (arg, spec) in enumerate(zip(args, arg_specs, strict=True)):
            if flatten(f"{name}: argument {position}", arg, flat) != spec:
                raise ValueError(f"{name}: argument {position} has another shape than when traced")
        leaves = [Value(x) for x in flat]
        with enable_grad(), recording(budget) if budget is not None else enable_grad():
            result = f(*rebuild_all(arg_specs, leaves))
        root, aux = split_result(name, result, has_aux)
        return root, aux, leaves

    budget = GraphBudget(max_terms) if max_terms is not None else None
    try:
        root, aux, leaves = retrace(*example_args, budget=budget)
    except GraphBudgetError as exc:
        assert max_terms is not None
        where, counted = exc.args
        size = (
            f"f recorded had more than {max_terms:,} terms, nodes it dropped included "
            f"(tracing stopped at {where})"
        )
        raise _too_large(name, size, max_terms, counted) from None
    graph = Graph(root, aux, leaves, params)
    # What f recorded inside a block of its own (an enable_grad() of its own) was not counted.
    terms = len(graph.order) + sum(len(v.parents) for v in graph.order)
    if max_terms is not None and terms > max_terms:
        raise _too_large(name, f"has {terms:,} terms ({len(graph.order):,} nodes)", max_terms, terms)
    names = Names(fast_sums=True)
    source = _generate(graph, names)
    code = compile(source, f"<{name}>", "exec")
    exec(code, names.namespace)  # the source holds only numbers and generated names
    function = names.namespace["_compiled"]
    exact = names.with_exact_sums(function)
    return CompiledFunction(name, function, exact, retrace, arg_specs, params, graph, source, has_aux)
