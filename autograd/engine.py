"""The scalar reverse-mode engine: the `Value` node, the op table and `backward()`.

Read it top to bottom:

1. `Value`: a number in a graph. It holds its data, its gradient, its parents
   and the `Op` that made it; each arithmetic method is one line that applies
   an op of the table.
2. The op table: every op as ONE `Op` record (name, forward on floats,
   local-gradient rule, domain, how drawings show it). Every part of the
   package reads the records: the Value methods, `backward()`, the compilers,
   the drawings, `explain` and the tests.
3. Making nodes: `apply(op, *inputs)` checks the op's domain, runs its
   forward and records the node (unless `no_grad()`, grad_mode.py, is on).
4. `backward()`: order the graph so that every node comes after its parents,
   then walk it backwards, each node giving each parent upstream gradient
   times local gradient (the chain rule, `pullback`), summed over every path.
   The built-in ops run the same chain rule as code derived from their rules
   (fastpath.py); hooks, anomaly mode and `create_graph` take the general
   pass (general.py), which reads the same rules.

A local-gradient rule is written with arithmetic and a math namespace `m`, so
the one expression computes float gradients (`m` is `FLOAT_MATH`) and, for
higher-order derivatives, gradients that are graphs themselves (`m` is
`VALUE_MATH`). Rules are shared by every node of their op (a node holds a
reference, not a closure of its own), so a node never refers to itself and a
dropped graph is freed at once by reference counting.
"""

from __future__ import annotations

import functools
import inspect
import math
import weakref
from collections.abc import Callable, Iterable, Sequence
from numbers import Real
from operator import add, attrgetter, mul, neg, sub, truediv
from typing import Any, Union

from .anomaly import check_new_node, is_anomaly_enabled
from .anomaly import open_blocks as _anomaly_blocks
from .grad_mode import enable_grad, is_grad_enabled, no_grad, plain, records
from .grad_mode import open_blocks as _mode_blocks

__all__ = [
    # the op table: every built-in record by key, and the ones other modules name
    "OPS",
    "ADD", "SUB", "MUL", "DIV", "NEG", "POWER", "POW", "SUM", "DOT", "DOT_NUMBERS",
    "EXP", "EXPM1", "LOG", "LOG1P", "SQRT", "SIN", "COS", "TAN", "ABS", "TANH", "SIGMOID", "RELU",
    "ADD_NUMBER", "NUMBER_ADD", "SUB_NUMBER", "NUMBER_SUB", "MUL_NUMBER", "NUMBER_MUL",
    "DIV_NUMBER", "NUMBER_DIV", "GATES", "FUSED",
    "FLOAT_MATH",
    "VALUE_MATH",
    "LocalGrad",
    "Op",
    "Value",
    "apply",
    "enable_grad",
    "hooked",
    "is_grad_enabled",
    "make_nodes",
    "no_grad",
    "primitive",
    "propagate",
    "pullback",
    "topological_order",
    "zero_grad",
]  # fmt: skip

Number = Union[int, float]  # noqa: UP007 (a runtime alias, kept for Python 3.10)
Operand = Union["Value", int, float]
# A local-gradient rule: (m, out, *inputs, *params) -> one local gradient per input.
LocalGrad = Callable[..., Sequence[Any]]


class Value:
    """A scalar in a computation graph: its data, its gradient and how it was made.

    A plain number in + - * / is folded into the op rather than made a leaf:
    `(x * 2).parents == (x,)`, and `operands` shows the 2 in its place.
    Equality and hashing are by identity, so Values can live in sets and dicts;
    `<`, `<=`, `>` and `>=` compare data. `.grad` of a leaf accumulates over
    `backward()` calls until reset with `zero_grad`; `.grad` of an inner node
    holds the gradient of the latest backward pass.
    """

    # _visit is the last float backward pass that reached this node (see _inner_nodes_zeroed);
    # _hook_table is set only on a Value that has hooks (see register_hook).
    __slots__ = (
        "__weakref__",
        "_hook_table",
        "_operation",
        "_params",
        "_parents",
        "_visit",
        "data",
        "grad",
        "label",
    )

    data: float
    grad: Any  # a float; a Value after backward(create_graph=True)
    label: str
    _parents: tuple[Value, ...]
    _operation: Op | None  # None for a leaf
    _visit: object
    _params: tuple[Any, ...]  # the numbers the op carries besides its inputs (x ** 3: the 3)
    _hook_table: dict[int, Callable[[Any], Any]]

    def __init__(self, data: float, label: str = "") -> None:
        self.data = data if type(data) is float else _to_float(data, "Value")
        self.grad = 0.0
        self.label = label
        self._parents = ()
        self._operation = None
        self._params = ()
        self._visit = None

    # ---- structure -------------------------------------------------------

    @property
    def parents(self) -> tuple[Value, ...]:
        """The Values this one was computed from (empty for a leaf)."""
        return self._parents

    @property
    def operation(self) -> Op | None:
        """The record of the op that made this Value (None for a leaf)."""
        return self._operation

    @property
    def params(self) -> tuple[Any, ...]:
        """The numbers the op used besides its parents: `(x ** 3).params == (3,)`."""
        return self._params

    @property
    def op(self) -> str:
        """The op's name as drawings show it ('' for a leaf): '*', 'tanh', '**2'."""
        return "" if self._operation is None else self._operation.title(self._params)

    @property
    def operands(self) -> tuple[Value | float, ...]:
        """What the op read, in order: its parents, with a plain number folded into + - * / in place.

        `(2 - x).operands == (2.0, x)` while `(2 - x).parents == (x,)`: a number
        is part of the op, not a node of the graph, so it gets no gradient.
        """
        return (
            self._parents
            if self._operation is None
            else self._operation.operands(self._parents, self._params)
        )

    @property
    def is_leaf(self) -> bool:
        """True for a Value that no recorded op produced."""
        return self._operation is None

    @property
    def _op(self) -> str:
        # micrograd's name for the op, kept so its drawing code runs unchanged.
        return self.op

    @property
    def _prev(self) -> set[Value]:
        # micrograd's name for the parents, kept so its drawing code runs unchanged.
        return set(self._parents)

    @property
    def _backward(self) -> Callable[[], None]:
        # micrograd's per-node step: add upstream * local gradient into each parent.
        def step() -> None:
            for parent, local in zip(self._parents, self.local_grads(), strict=True):
                parent.grad += self.grad * local

        return step

    def local_grads(self) -> tuple[float, ...]:
        """d(self)/d(parent) for each parent, evaluated at the current data."""
        if self._operation is None:
            return ()
        local = self._operation.local_grad(FLOAT_MATH, self.data, *map(_data, self._parents), *self._params)
        return tuple(map(float, local))

    def __repr__(self) -> str:
        label = f", label={self.label!r}" if self.label else ""
        return f"Value(data={self.data!r}, grad={self.grad!r}{label})"

    def __float__(self) -> float:
        return self.data

    # ---- arithmetic: each an op of the table ------------------------------

    def __add__(self, other: Operand) -> Value:
        return _binary(ADD, ADD_NUMBER, self, other)

    def __radd__(self, other: Number) -> Value:
        return _binary_left(NUMBER_ADD, other, self)

    def __sub__(self, other: Operand) -> Value:
        return _binary(SUB, SUB_NUMBER, self, other)

    def __rsub__(self, other: Number) -> Value:
        return _binary_left(NUMBER_SUB, other, self)

    def __mul__(self, other: Operand) -> Value:
        return _binary(MUL, MUL_NUMBER, self, other)

    def __rmul__(self, other: Number) -> Value:
        return _binary_left(NUMBER_MUL, other, self)

    def __truediv__(self, other: Operand) -> Value:
        return _binary(DIV, DIV_NUMBER, self, other)

    def __rtruediv__(self, other: Number) -> Value:
        return _binary_left(NUMBER_DIV, other, self)

    def __neg__(self) -> Value:
        return _unary(NEG, self)

    def __pos__(self) -> Value:
        return self

    def __pow__(self, exponent: Operand) -> Value:
        if isinstance(exponent, Value):
            return _binary(POW, POWER, self, exponent)
        if type(exponent) is not int and type(exponent) is not float:
            if not isinstance(exponent, Real):
                return NotImplemented
            exponent = float(exponent)
        return _with_number(POWER, self, exponent)

    def __rpow__(self, base: Number) -> Value:
        lifted = _lift(base)
        return NotImplemented if lifted is None else apply(POW, lifted, self)

    def exp(self) -> Value:
        """e ** self."""
        return _unary(EXP, self)

    def expm1(self) -> Value:
        """e ** self - 1, accurate near 0."""
        return _unary(EXPM1, self)

    def log(self) -> Value:
        """Natural logarithm; self must be positive."""
        return _unary(LOG, self)

    def log1p(self) -> Value:
        """log(1 + self), accurate near 0; self must be greater than -1."""
        return _unary(LOG1P, self)

    def sqrt(self) -> Value:
        """Square root; self must be non-negative."""
        return _unary(SQRT, self)

    def sin(self) -> Value:
        """Sine."""
        return _unary(SIN, self)

    def cos(self) -> Value:
        """Cosine."""
        return _unary(COS, self)

    def tan(self) -> Value:
        """Tangent."""
        return _unary(TAN, self)

    def tanh(self) -> Value:
        """Hyperbolic tangent."""
        return _unary(TANH, self)

    def sigmoid(self) -> Value:
        """Logistic sigmoid 1 / (1 + e ** -self), computed without overflow."""
        return _unary(SIGMOID, self)

    def relu(self) -> Value:
        """max(0, self); its derivative at 0 is taken to be 0."""
        return _unary(RELU, self)

    def abs(self) -> Value:
        """|self|; its derivative at 0 is taken to be 0."""
        return _unary(ABS, self)

    __abs__ = abs

    @staticmethod
    def sum(values: Iterable[Operand]) -> Value:
        """The sum of many Values (and numbers) as ONE node, exactly rounded."""
        parents: list[Value] = []
        numbers: list[float] = []
        for v in values:
            if isinstance(v, Value):
                parents.append(v)
            else:
                numbers.append(_to_float(v, "sum"))
        if not parents:
            return Value(_exact_sum(numbers))
        return apply(SUM, *parents, params=(tuple(numbers),))

    # ---- comparisons (by data; equality stays identity) --------------------

    def __lt__(self, other: Operand) -> bool:
        return self.data < _data_of(other, "<")

    def __le__(self, other: Operand) -> bool:
        return self.data <= _data_of(other, "<=")

    def __gt__(self, other: Operand) -> bool:
        return self.data > _data_of(other, ">")

    def __ge__(self, other: Operand) -> bool:
        return self.data >= _data_of(other, ">=")

    __hash__ = object.__hash__

    # ---- gradients ----------------------------------------------------------

    def backward(self, gradient: float | Value = 1.0, *, create_graph: bool = False) -> None:
        """Fill in `.grad` on every Value this one depends on (the chain rule).

        The pass starts from `gradient` (1 by default) at this Value. Gradients
        of leaves add up over calls; gradients of inner nodes are those of this
        pass. With `create_graph=True` the gradients are Values whose own graphs
        can be differentiated again.
        """
        if create_graph or hooked or (_anomaly_blocks and is_anomaly_enabled()):
            general.backward(self, gradient, create_graph)
        else:
            _backward_floats(self, _to_float(gradient, "backward"))

    def register_hook(self, hook: Callable[[Any], Any]) -> general.HookHandle:
        """Call `hook(gradient)` with this Value's total gradient in every backward pass.

        The hook sees the gradient summed over all paths, before it flows on to
        the parents (for a leaf: before it is added to `.grad`); returning a
        number (or a Value) replaces it, returning None keeps it.
        """
        return general.add_hook(self, hook)

    def detach(self) -> Value:
        """A new leaf with the same data and label, cut off from this graph."""
        return Value(self.data, self.label)

    def zero_grad(self) -> None:
        """Reset this Value's gradient to 0."""
        self.grad = 0.0

    def __copy__(self) -> Value:
        # A twin node: the same class, data, gradient, parents, op and attributes, but no hooks.
        return _twin(self, lambda value: value)

    def __deepcopy__(self, memo: dict[int, Any]) -> Value:
        # As __copy__, with every attribute (parents and their graph included) copied deeply.
        import copy

        return _twin(self, lambda value: copy.deepcopy(value, memo), memo)


# ---- the op record ------------------------------------------------------------------


class Op:
    """Everything the package knows about one op, in one record.

    - `name`: what a node's `.op` says ('*', 'tanh').
    - `forward(*inputs, *params)`: the op on floats.
    - `local_grad(m, out, *inputs, *params)`: d(out)/d(input) for each input,
      written with arithmetic and the math namespace `m` (`m.cos(a)`), so that it
      computes float gradients and gradient graphs alike.
    - `domain(*inputs, *params)`: whether the inputs are allowed, and
      `error(*inputs, *params)`: the exception for inputs that are not (the
      engine adds "(op 'name')"). Both None for an op defined everywhere.
    - `numpy`: the op on numpy arrays, for `trace_batch`: the name of a function
      of its math namespace or of numpy (`"exp"`, `"arctan"`), or a function of
      arrays; None when the
      forward is arithmetic that runs on arrays as it is, or has no array form.
    - `title`: the name a node shows, with its params written in ('**{0!r}'
      gives '**2'; None: `name`); `symbol`: the gate's sign in drawings
      ('\u00d7' for *, '**{0:g}'); `notation`: how an expression made by the op
      is written, `{0}` its first operand ('{0} * {1}'; None for 'name(a, b)').
    - `params`: the names of the numbers a node carries besides its inputs;
      `arity`: the number of inputs (None: any).
    - `arithmetic`: part of a weighted sum, folded into its consumer when a
      drawing collapses a network.

    An Op is called like a function of Values: `EXP(x)` is `x.exp()`.
    """

    def __init__(
        self,
        name: str,
        forward: Callable[..., float],
        local_grad: LocalGrad,
        *,
        arity: int | None = 1,
        params: tuple[str, ...] = (),
        domain: Callable[..., bool] | None = None,
        error: Callable[..., Exception] | None = None,
        numpy: str | Callable[..., Any] | None = None,
        title: str | None = None,
        symbol: str | None = None,
        notation: str | None = None,
        arithmetic: bool = False,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"an op's name must be a non-empty string, got {name!r}")
        for what, f in (("forward", forward), ("local_grad", local_grad)):
            if not callable(f):
                raise TypeError(f"op {name!r}: {what} must be callable, got {type(f).__name__} {f!r}")
        if (domain is None) != (error is None):
            raise TypeError(f"op {name!r}: give both domain and error, or neither")
        self.name = self.__name__ = name
        self.forward = forward
        self.local_grad = local_grad
        self.arity = arity
        self.params = params
        self.domain = domain
        self.error = error
        self.numpy = numpy
        self.title_format = title
        self.symbol = name if symbol is None else symbol
        self.notation = notation
        self.arithmetic = arithmetic
        self.number_side: str | None = None  # "left" or "right" for x + 2 and 2 - x (see _numbered)
        self.gate: Op | None = None  # the activation a fused dot applies (see _fused)
        # The float pullback for nodes with each number of parents (see propagate).
        self.pullbacks: dict[int, Callable[[Value, float], None]] = {}

    def __call__(self, *args: Operand) -> Value:
        # Numbers become leaves, as a user op's inputs are all parents.
        if self.params:
            raise TypeError(f"op {self.name!r} takes its {', '.join(self.params)} as well: use engine.apply")
        if self.arity is not None and len(args) != self.arity:
            raise TypeError(f"op {self.name!r} takes {self.arity} input(s), got {len(args)}")
        return apply(self, *[_lift_strict(a, self.name) for a in args])

    def __repr__(self) -> str:
        return f"<op {self.name!r}>"

    # An op is a record, not data: a copy of a node keeps its op, and a built-in op is
    # pickled by its key in OPS (a user op pickles as a function would: by reference).
    def __copy__(self) -> Op:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Op:
        return self

    def __reduce__(self) -> str | tuple[Any, ...]:
        for key, op in OPS.items():
            if op is self:
                return (_built_in, (key,))
        return self.__name__

    def title(self, params: tuple[Any, ...]) -> str:
        """The name a node of this op shows (`Value.op`): the op's name, its params written in ('**2')."""
        return self.name if self.title_format is None else self.title_format.format(*params)

    def sign(self, params: tuple[Any, ...]) -> str:
        """How a drawing shows a gate of this op: its symbol, its params written in."""
        return self.symbol.format(*params) if self.params else self.symbol

    def shown(self, parents: tuple[Value, ...], params: tuple[Any, ...]) -> tuple[Value | float, ...]:
        """What `notation`'s placeholders stand for: the operands, then any params not among them."""
        return self.operands(parents, params) + (params if self.number_side is None else ())

    def operands(self, parents: tuple[Value, ...], params: tuple[Any, ...]) -> tuple[Value | float, ...]:
        """What a node of this op read, in order: its parents, and a number folded into + - * / in place."""
        if self.number_side == "right":
            return (*parents, params[0])
        if self.number_side == "left":
            return (params[0], *parents)
        return parents


def primitive(
    name: str,
    local_grad: LocalGrad,
    *,
    domain: Callable[..., bool] | None = None,
    error: Callable[..., Exception] | None = None,
    numpy: str | Callable[..., Any] | None = None,
    symbol: str | None = None,
) -> Callable[[Callable[..., float]], Op]:
    """Make an op of your own from a function on floats and its local-gradient rule.

    `local_grad(m, out, *inputs)` returns d(out)/d(input) for each input,
    written with arithmetic and `m` (for example `m.exp`), so that it also
    serves higher-order derivatives. The result is an `Op`, called on Values
    (or numbers) like the function it wraps; it draws, explains, compiles with
    `trace` and batches with `trace_batch` (give `numpy=`, a function of numpy
    arrays, to batch it without a Python call per example)::

        @primitive("softplus", lambda m, out, a: (m.sigmoid(a),))
        def softplus(a: float) -> float:
            return math.log1p(math.exp(-abs(a))) + max(a, 0.0)
    """

    def make(forward: Callable[..., float]) -> Op:
        op = Op(
            name,
            forward,
            local_grad,
            arity=_arity(forward),
            domain=domain,
            error=error,
            numpy=numpy,
            symbol=symbol,
        )
        functools.update_wrapper(op, forward)  # the op's __name__ and __doc__ are the function's
        return op

    return make


def _arity(forward: Callable[..., float]) -> int | None:
    try:
        parameters = inspect.signature(forward).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters):
        return None
    return sum(p.default is p.empty and p.kind != p.KEYWORD_ONLY for p in parameters)


# ---- the op table ----------------------------------------------------------------------
# One record per op. Each rule's comment gives the derivative it computes.


MINUS, TIMES, DIVIDE = "\u2212", "\u00d7", "\u00f7"  # the signs drawings show for - * /


def _sigmoid(x: float) -> float:
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)  # never overflows for x < 0
    return e / (1.0 + e)


def _relu(x: float) -> float:
    return x if x > 0.0 else 0.0


def _exact_sum(terms: Sequence[float]) -> float:
    # math.fsum, the exactly rounded sum; where none exists (terms that overflow,
    # inf plus -inf) the sum + gives, inf or nan.
    try:
        return math.fsum(terms)
    except (OverflowError, ValueError):
        return sum(terms, 0.0)


def _power_defined(a: float, b: float) -> bool:
    return not ((a < 0.0 and not float(b).is_integer()) or (a == 0.0 and b < 0))


def _power_error(a: float, b: float) -> Exception:
    if a == 0.0:
        return ZeroDivisionError(f"zero base with negative exponent {b!r}")
    return ValueError(f"negative base {a!r} with non-integer exponent {b!r}")


def _dot(*inputs: float) -> float:
    n = len(inputs) // 2  # w_1..w_n, x_1..x_n, and a bias when the count is odd
    terms = list(map(mul, inputs[:n], inputs[n : 2 * n]))
    if len(inputs) & 1:
        terms.append(inputs[-1])
    return _exact_sum(terms)


def _dot_local_grads(inputs: tuple[Any, ...]) -> tuple[Any, ...]:
    n = len(inputs) // 2  # d(w.x + b)/dw_i = x_i, d(w.x + b)/dx_i = w_i, d(w.x + b)/db = 1
    return inputs[n : 2 * n] + inputs[:n] + (1.0,) * (len(inputs) & 1)


def _sum(*args: Any) -> float:
    *values, numbers = args  # the Values' data, then the tuple of plain numbers among the terms
    return _exact_sum([*values, *numbers])


def _dot_numbers(*args: Any) -> float:
    *weights, xs = args  # w_1..w_n (and a bias), then the tuple of the numbers x_1..x_n
    terms = list(map(mul, weights, xs))
    terms.extend(weights[len(xs) :])
    return _exact_sum(terms)


# Arithmetic. The comment above each record gives the local gradients its rule returns.

# d(a+b)/da = 1, d(a+b)/db = 1
ADD = Op("+", add, lambda m, out, a, b: (1.0, 1.0), arity=2, notation="{0} + {1}", arithmetic=True)

# d(a-b)/da = 1, d(a-b)/db = -1
SUB = Op(
    "-", sub, lambda m, out, a, b: (1.0, -1.0), arity=2, notation="{0} - {1}", arithmetic=True, symbol=MINUS
)

# d(a*b)/da = b, d(a*b)/db = a
MUL = Op("*", mul, lambda m, out, a, b: (b, a), arity=2, notation="{0} * {1}", arithmetic=True, symbol=TIMES)

# d(a/b)/da = 1/b, d(a/b)/db = -a/b^2 = -out/b
DIV = Op(
    "/", truediv, lambda m, out, a, b: (1.0 / b, -out / b), arity=2, notation="{0} / {1}", arithmetic=True,
    symbol=DIVIDE, domain=lambda a, b: b != 0.0,
    error=lambda a, b: ZeroDivisionError(f"division by zero: {a!r} / {b!r}"),
)  # fmt: skip

# d(-a)/da = -1
NEG = Op("neg", neg, lambda m, out, a: (-1.0,), notation="-{0}", arithmetic=True, symbol=f"{MINUS}x")

# d(a^n)/da = n a^(n-1), for a number n: the node's parameter (an exact 0 for n = 0, even at a = 0)
POWER = Op(
    "**", pow, lambda m, out, a, n: (m.gated(n, m.pow(a, n - 1)),), params=("exponent",), title="**{0!r}",
    symbol="**{0:g}", notation="{0}**{1}", arithmetic=True, domain=_power_defined, error=_power_error,
)  # fmt: skip

# d(a^b)/da as for a number b; d(a^b)/db = a^b log a (0 where a^b = 0, undefined for a < 0)
POW = Op(
    "**", pow, lambda m, out, a, b: (*POWER.local_grad(m, out, a, b), m.xlogy(out, a)), arity=2,
    notation="{0}**{1}", arithmetic=True, domain=_power_defined, error=_power_error,
)  # fmt: skip

# d(x_1 + ... + x_n + c)/dx_i = 1; the node carries the tuple of the plain numbers c among the terms
SUM = Op(
    "sum", _sum, lambda m, out, *args: (1.0,) * (len(args) - 1), arity=None, params=("numbers",),
    arithmetic=True,
)  # fmt: skip

# d(w.x + b)/dw_i = x_i, d(w.x + b)/dx_i = w_i, d(w.x + b)/db = 1; inputs w_1..w_n, x_1..x_n (and b)
DOT = Op("dot", _dot, lambda m, out, *inputs: _dot_local_grads(inputs), arity=None, arithmetic=True)

# the same for numbers x_i, carried by the node: inputs w_1..w_n (and b), then the tuple of the x_i
DOT_NUMBERS = Op(
    "dot", _dot_numbers, lambda m, out, *args: args[-1] + (1.0,) * (len(args) - 1 - len(args[-1])),
    arity=None, params=("inputs",), arithmetic=True,
)  # fmt: skip

# Functions

EXP = Op("exp", math.exp, lambda m, out, a: (out,), numpy="exp")  # d(e^a)/da = e^a
EXPM1 = Op("expm1", math.expm1, lambda m, out, a: (out + 1.0,), numpy="expm1")  # d(e^a - 1)/da = e^a
SIN = Op("sin", math.sin, lambda m, out, a: (m.cos(a),), numpy="sin")  # d(sin a)/da = cos a
COS = Op("cos", math.cos, lambda m, out, a: (-m.sin(a),), numpy="cos")  # d(cos a)/da = -sin a
TAN = Op("tan", math.tan, lambda m, out, a: (1.0 + out * out,), numpy="tan")  # d(tan a)/da = 1 + tan^2 a
ABS = Op("abs", abs, lambda m, out, a: (m.sign(a),), numpy="abs")  # d|a|/da = sign(a), 0 at 0

# d(log a)/da = 1/a
LOG = Op(
    "log", math.log, lambda m, out, a: (1.0 / a,), numpy="log", domain=lambda a: a > 0.0,
    error=lambda a: ValueError(f"log of non-positive value {a!r}"),
)  # fmt: skip

# d(log(1 + a))/da = 1/(1 + a)
LOG1P = Op(
    "log1p", math.log1p, lambda m, out, a: (1.0 / (a + 1.0),), numpy="log1p", domain=lambda a: a > -1.0,
    error=lambda a: ValueError(f"log1p of value {a!r} <= -1"),
)  # fmt: skip

# d(sqrt a)/da = 1/(2 sqrt a), infinite at 0
SQRT = Op(
    "sqrt", math.sqrt, lambda m, out, a: (0.5 * m.pow(out, -1.0),), numpy="sqrt", domain=lambda a: a >= 0.0,
    error=lambda a: ValueError(f"sqrt of negative value {a!r}"),
)  # fmt: skip

# Activation gates. Each rule reads only the gate's output, so a gate fuses into a dot (below).

TANH = Op("tanh", math.tanh, lambda m, out, a: (1.0 - out * out,), numpy="tanh")  # 1 - tanh^2 a
SIGMOID = Op("sigmoid", _sigmoid, lambda m, out, a: (out * (1.0 - out),), numpy="sigmoid")  # s (1 - s)
RELU = Op("relu", _relu, lambda m, out, a: (m.step(out),), numpy="relu")  # 1 where a > 0, else 0 (at 0 too)


def _numbered(op: Op, side: str) -> Op:
    """`op` with a plain number on one side (x * 2, 2 - x): the number a parameter, the rule `op`'s own."""
    if side == "right":  # a op c: d/da is the binary rule's first local gradient
        forward, domain, error = op.forward, op.domain, op.error
        rule: LocalGrad = lambda m, out, a, c: op.local_grad(m, out, a, c)[:1]  # noqa: E731
    else:  # c op a: the second
        forward = lambda a, c: op.forward(c, a)  # noqa: E731
        rule = lambda m, out, a, c: op.local_grad(m, out, c, a)[1:]  # noqa: E731
        domain = None if op.domain is None else lambda a, c: op.domain(c, a)  # type: ignore[misc]
        error = None if op.error is None else lambda a, c: op.error(c, a)  # type: ignore[misc]
    numbered = Op(
        op.name, forward, rule, params=("number",), domain=domain, error=error,
        symbol=op.symbol, notation=op.notation, arithmetic=True,
    )  # fmt: skip
    numbered.number_side = side
    return numbered


def _fused(gate: Op) -> Op:
    """dot and an activation gate as ONE node, g(w.x + b): each of dot's local gradients times g'(S).

    The slope comes from the gate's own rule, which reads only its output.
    Where it is exactly 0 (a relu that is off) every local gradient is an exact
    0 (`m.gated`), as the separate gate passes 0 on and the dot then passes
    nothing, even to an infinite input.
    """

    def rule(m: Any, out: Any, *inputs: Any) -> tuple[Any, ...]:
        (slope,) = gate.local_grad(m, out, None)
        return tuple(m.gated(slope, local) for local in _dot_local_grads(inputs))

    fused = Op(f"dot+{gate.name}", lambda *inputs: gate.forward(_dot(*inputs)), rule, arity=None)
    fused.gate = gate
    return fused


ADD_NUMBER, NUMBER_ADD = _numbered(ADD, "right"), _numbered(ADD, "left")
SUB_NUMBER, NUMBER_SUB = _numbered(SUB, "right"), _numbered(SUB, "left")
MUL_NUMBER, NUMBER_MUL = _numbered(MUL, "right"), _numbered(MUL, "left")
DIV_NUMBER, NUMBER_DIV = _numbered(DIV, "right"), _numbered(DIV, "left")
GATES = {gate.name: gate for gate in (RELU, TANH, SIGMOID)}
FUSED = {name: _fused(gate) for name, gate in GATES.items()}

# Every built-in op by a unique key.
OPS: dict[str, Op] = {
    "add": ADD, "sub": SUB, "mul": MUL, "div": DIV, "neg": NEG, "power": POWER, "pow": POW,
    "add_number": ADD_NUMBER, "number_add": NUMBER_ADD, "sub_number": SUB_NUMBER, "number_sub": NUMBER_SUB,
    "mul_number": MUL_NUMBER, "number_mul": NUMBER_MUL, "div_number": DIV_NUMBER, "number_div": NUMBER_DIV,
    "sum": SUM, "dot": DOT, "dot_numbers": DOT_NUMBERS,
    "exp": EXP, "expm1": EXPM1, "log": LOG, "log1p": LOG1P, "sqrt": SQRT,
    "sin": SIN, "cos": COS, "tan": TAN, "abs": ABS, "tanh": TANH, "sigmoid": SIGMOID, "relu": RELU,
    **{f"dot_{name}": op for name, op in FUSED.items()},
}  # fmt: skip


_BUILT_IN = frozenset(OPS.values())


def _built_in(key: str) -> Op:
    return OPS[key]  # how a pickled built-in op comes back


# ---- the math namespaces that rules are written with ------------------------


class _FloatMath:
    """Functions on floats, for first-order gradients."""

    exp = staticmethod(math.exp)
    log = staticmethod(math.log)
    sin = staticmethod(math.sin)
    cos = staticmethod(math.cos)
    tanh = staticmethod(math.tanh)
    sqrt = staticmethod(math.sqrt)
    sigmoid = staticmethod(_sigmoid)

    @staticmethod
    def pow(x: float, y: float) -> float:
        if x == 0.0 and y < 0.0:
            return math.inf
        try:
            return float(x**y)
        except OverflowError:  # a local gradient too large for a float is infinite, as * makes it
            return -math.inf if x < 0.0 and float(y).is_integer() and y % 2 == 1 else math.inf

    @staticmethod
    def xlogy(x: float, y: float) -> float:
        if x == 0.0:
            return 0.0
        return x * math.log(y) if y > 0.0 else math.nan

    @staticmethod
    def step(x: float) -> float:
        return 1.0 if x > 0.0 else 0.0

    @staticmethod
    def gated(slope: float, x: float) -> float:
        return 0.0 if slope == 0.0 else slope * x  # a gate that is off passes an exact 0

    @staticmethod
    def sign(x: float) -> float:
        return 1.0 if x > 0.0 else (-1.0 if x < 0.0 else 0.0)

    @staticmethod
    def data(x: float) -> float:
        return x


class _ValueMath:
    """Functions on Values, for gradients that are graphs themselves."""

    exp = staticmethod(Value.exp)
    log = staticmethod(Value.log)
    sin = staticmethod(Value.sin)
    cos = staticmethod(Value.cos)
    tanh = staticmethod(Value.tanh)
    sqrt = staticmethod(Value.sqrt)
    sigmoid = staticmethod(Value.sigmoid)

    @staticmethod
    def pow(x: Value, y: Operand) -> Value | _Infinite:
        if x.data == 0.0 and _data_of(y, "**") < 0.0:
            # First order says inf here, and a graph of an infinite derivative cannot be
            # built: it raises once it is used (m.gated may yet drop it, for x ** 0).
            return _Infinite(_data_of(y, "**"))
        return x**y

    @staticmethod
    def xlogy(x: Value, y: Value) -> Value | float:
        if x.data == 0.0:
            return 0.0
        return x * y.log() if y.data > 0.0 else math.nan

    @staticmethod
    def step(x: Value | float) -> float:
        return _FloatMath.step(_data_of(x, "step"))

    @staticmethod
    def gated(slope: Value | float, x: Any) -> Any:
        # A slope that is a number 0 (relu's) passes an exact 0; a Value slope its product.
        return 0.0 if not isinstance(slope, (Value, _Infinite)) and slope == 0.0 else slope * x

    @staticmethod
    def sign(x: Value | float) -> float:
        return _FloatMath.sign(_data_of(x, "sign"))

    @staticmethod
    def data(x: Value) -> float:
        return x.data


class _Infinite:
    """An infinite local gradient where a gradient graph is being built: any use raises."""

    __slots__ = ("exponent",)

    def __init__(self, exponent: float) -> None:
        self.exponent = exponent

    def _refuse(self, *args: object) -> Any:
        raise ZeroDivisionError(
            f"the derivative is infinite at 0.0 (a local gradient needs 0.0 ** {self.exponent!r}), "
            "so no gradient graph can be built there (backward with create_graph=True)"
        )

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _refuse
    __truediv__ = __rtruediv__ = __neg__ = __float__ = __pow__ = __rpow__ = _refuse


FLOAT_MATH: Any = _FloatMath
VALUE_MATH: Any = _ValueMath


# ---- making nodes ---------------------------------------------------------------


def apply(op: Op, *inputs: Value, params: tuple[Any, ...] = ()) -> Value:
    """A new node: `op` applied to the Values `inputs` (and its params), checked against its domain."""
    data = list(map(_data, inputs))
    if op.domain is not None and not op.domain(*data, *params):
        raise _outside(op, data, params)
    try:
        out = op.forward(*data, *params)
    except (ArithmeticError, ValueError) as exc:
        raise _failed(op, exc, data, params) from exc
    if type(out) is not float:
        out = _to_float(out, op.name)
    return _node(out, inputs, op, params)


# What the Value methods call: `apply` for one Value, two Values, or a Value and a number,
# written out because ops are made by the million (a built-in forward returns a float).


def _unary(op: Op, value: Value) -> Value:
    a = value.data
    if op.domain is not None and not op.domain(a):
        raise _outside(op, [a], ())
    try:
        out = op.forward(a)
    except (ArithmeticError, ValueError) as exc:
        raise _failed(op, exc, [a], ()) from exc
    return _node(out, (value,), op, ())


def _binary(op: Op, with_number: Op, value: Value, other: Operand) -> Value:
    # value op other, with other folded into the op (`with_number`) when it is a plain number.
    a = value.data
    parents: tuple[Value, ...]
    params: tuple[Any, ...]
    if type(other) is float:  # the most common case first: x * 2.0
        b = other
        op, parents, params = with_number, (value,), (b,)
    elif isinstance(other, Value):
        b = other.data
        parents, params = (value, other), ()
    else:
        b = _number(other)  # type: ignore[assignment]
        if b is None:
            return NotImplemented
        op, parents, params = with_number, (value,), (b,)
    if op.domain is not None and not op.domain(a, b):
        raise _outside(op, [a] if params else [a, b], params)
    try:
        out = op.forward(a, b)
    except (ArithmeticError, ValueError) as exc:
        raise _failed(op, exc, [a] if params else [a, b], params) from exc
    return _node(out, parents, op, params)


def _with_number(op: Op, value: Value, c: float) -> Value:
    a = value.data
    if op.domain is not None and not op.domain(a, c):
        raise _outside(op, [a], (c,))
    try:
        out = op.forward(a, c)
    except (ArithmeticError, ValueError) as exc:
        raise _failed(op, exc, [a], (c,)) from exc
    return _node(out, (value,), op, (c,))


def _binary_left(op: Op, c: Number, value: Value) -> Value:
    # c op value for a plain number c (Python's reflected operators).
    number = c if type(c) is float else _number(c)
    return NotImplemented if number is None else _with_number(op, value, number)


def _outside(op: Op, data: Sequence[float], params: tuple[Any, ...]) -> Exception:
    error = op.error(*data, *params)  # type: ignore[misc]
    return type(error)(f"{error} (op {op.title(params)!r})")


def _failed(op: Op, exc: Exception, data: Sequence[float], params: tuple[Any, ...]) -> Exception:
    values = ", ".join(repr(x) for x in [*data, *params])
    if isinstance(exc, OverflowError):
        what = f"{op.name} overflows for {values}"
        if op.notation is not None and len(data) + len(params) == 2:
            what = op.notation.replace("**", " ** ").format(*map(repr, [*data, *params])) + " overflows"
        return OverflowError(f"{what} (op {op.title(params)!r})")
    return type(exc)(f"{exc} for {values} (op {op.title(params)!r})")


_new = object.__new__
_data = attrgetter("data")


def _node(data: float, parents: tuple[Value, ...], op: Op, params: tuple[Any, ...]) -> Value:
    out = _new(Value)
    out.data = data
    out.grad = 0.0
    out.label = ""
    out._visit = None
    if _mode_blocks and not records(parents):  # no_grad; or a trace counting what it records
        out._parents, out._operation, out._params = (), None, ()
    else:
        out._parents, out._operation, out._params = parents, op, params
    if _anomaly_blocks:
        check_new_node(out, op.title(params), parents)
    return out


def make_nodes(
    op: Op, data: Iterable[float], parents: Iterable[tuple[Value, ...]], params: Iterable[tuple[Any, ...]]
) -> list[Value]:
    """Nodes of one op at once, their data already computed: what a layer makes (see layers.py).

    One node for each item of `data`, `parents` and `params` (one tuple of
    params per node): the nodes `apply` makes one by one, without its per-node
    checks, since the caller computed `data` with the op's forward.
    """
    if (_mode_blocks and not plain()) or (_anomaly_blocks and is_anomaly_enabled()):
        return [_node(d, p, op, q) for d, p, q in zip(data, parents, params, strict=False)]
    nodes: list[Value] = []
    emit = nodes.append
    for d, p, q in zip(data, parents, params, strict=False):  # params may be endless: repeat(())
        node = _new(Value)  # _node's work, inline: this is most of a network's forward pass
        node.data = d
        node.grad = 0.0
        node.label = ""
        node._parents = p
        node._operation = op
        node._params = q
        node._visit = None
        emit(node)
    return nodes


def zero_grad(values: Iterable[Value]) -> None:
    """Reset the gradient of every Value given to 0."""
    for v in values:
        v.grad = 0.0


# ---- backward -----------------------------------------------------------------


def topological_order(root: Value, *, leaves: bool = True) -> list[Value]:
    """Every Value `root` depends on, each after all of its parents; `root` last.

    Iterative depth-first search, so graphs of any depth work. With
    `leaves=False` only the op nodes.
    """
    order: list[Value] = []
    visited: set[Value] = set()
    stack: list[Value | None] = [root]
    push, pop, emit, seen = stack.append, stack.pop, order.append, visited.add
    while stack:
        node = pop()
        if node is None:  # all of the next node's parents are done
            emit(pop())  # type: ignore[arg-type]
            continue
        if node in visited:
            continue
        seen(node)
        push(node)
        push(None)
        for parent in node._parents:
            if parent not in visited and (leaves or parent._operation is not None):
                push(parent)
    return order


def _backward_floats(root: Value, seed: float) -> None:
    if root._operation is None:
        root.grad += seed
        return
    order = _inner_nodes_zeroed(root)
    root.grad = seed
    propagate(reversed(order))


# The Values that have hooks (see general.py), held weakly: while it is empty,
# backward() takes the float pass.
hooked: weakref.WeakSet[Value] = weakref.WeakSet()


def _inner_nodes_zeroed(root: Value) -> list[Value]:
    # topological_order(root, leaves=False), each node's gradient reset to 0 as it is
    # reached (inner nodes hold the gradient of this pass only). A node reached in this
    # pass holds the pass's own token in `_visit`: a test on the node itself, where a set
    # of visited nodes would cost a hash lookup per edge.
    token = object()
    order: list[Value] = []
    stack: list[Value | None] = [root]
    push, pop, emit = stack.append, stack.pop, order.append
    while stack:
        node = pop()
        if node is None:  # all of the next node's parents are done
            emit(pop())  # type: ignore[arg-type]
        elif node._visit is not token:
            node._visit = token
            node.grad = 0.0
            push(node)
            push(None)
            for parent in node._parents:
                if parent._operation is not None and parent._visit is not token:
                    push(parent)
    return order


def propagate(nodes: Iterable[Value]) -> None:
    """The float chain rule over `nodes`, children first: each adds upstream x local into its parents.

    A node's gradient must be whole when it is reached. A node whose gradient
    is exactly 0 passes nothing on, whatever its local gradients: 0 times an
    infinite local gradient (sqrt at 0) counts as 0.
    """
    node = None
    try:
        for node in nodes:
            upstream = node.grad
            if upstream:
                op = node._operation
                fast = op.pullbacks.get(len(node._parents))  # type: ignore[union-attr]
                if fast is None:
                    fast = _pullback_for(op, len(node._parents))  # type: ignore[arg-type]
                fast(node, upstream)
    except (ArithmeticError, ValueError, TypeError) as exc:  # a rule that fails: name its op
        where = "" if node is None else f" (in the backward pass of op {node.op!r} at {node.data!r})"
        raise type(exc)(f"{exc}{where}") from exc


def pullback(node: Value, upstream: float) -> None:
    """The chain rule at one gate: add upstream gradient x local gradient into each parent."""
    parents = node._parents
    local = node._operation.local_grad(FLOAT_MATH, node.data, *map(_data, parents), *node._params)  # type: ignore[union-attr]
    for parent, local_p in zip(parents, local, strict=True):
        parent.grad += upstream * local_p


def _pullback_for(op: Op, inputs: int) -> Callable[[Value, float], None]:
    # For the built-in ops, the same chain rule as straight-line code derived from the
    # op's rule (fastpath.py); for others, and rules it cannot derive from, pullback().
    fast = None
    if op in _BUILT_IN and inputs:
        from .fastpath import derive

        fast = derive(op, inputs, len(op.params))
    op.pullbacks[inputs] = fast = fast or pullback
    return fast


# ---- coercion and copies -------------------------------------------------------


def _number(x: object) -> float | None:
    """A plain number as a float (to fold into an op), None for anything else."""
    if type(x) is float:
        return x
    if isinstance(x, Real):
        return float(x)
    return None


def _to_float(x: Any, op: str) -> float:
    if type(x) is float:
        return x
    if isinstance(x, Real):
        return float(x)
    if isinstance(x, Value):
        return x.data
    raise TypeError(f"{op} expects a real number, got {type(x).__name__} {x!r}")


def _lift(x: object) -> Value | None:
    """A constant leaf for a plain number, a Value as it is, None for anything else."""
    if isinstance(x, Value):
        return x
    if isinstance(x, Real):
        return Value(float(x))
    return None


def _lift_strict(x: object, op: str) -> Value:
    return x if isinstance(x, Value) else Value(_to_float(x, op))


def _data_of(x: Any, op: str) -> float:
    return x.data if x.__class__ is Value else _to_float(x, op)


def _twin(value: Value, copied: Callable[[Any], Any], memo: dict[int, Any] | None = None) -> Value:
    cls = type(value)
    twin = _new(cls)
    if memo is not None:
        memo[id(value)] = twin
    for name in _slot_names(cls):
        if name not in _NOT_COPIED and hasattr(value, name):
            setattr(twin, name, copied(getattr(value, name)))
    if hasattr(value, "__dict__"):
        twin.__dict__.update(copied(value.__dict__))
    return twin


_NOT_COPIED = frozenset({"__weakref__", "__dict__", "_hook_table"})  # by Value.__copy__ and __deepcopy__


def _slot_names(cls: type) -> list[str]:
    # Every slot of cls and its bases, private ones under their mangled names.
    names = []
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            stripped = klass.__name__.lstrip("_")
            if name.startswith("__") and not name.endswith("__") and stripped:
                name = f"_{stripped}{name}"
            names.append(name)
    return names


from . import general  # noqa: E402  (the general pass reads Value and the rules above)
