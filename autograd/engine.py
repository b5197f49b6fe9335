"""The scalar reverse-mode engine: the `Value` node, its ops and `backward()`.

Every op does four things: coerce its operands, compute its output, and record
the output's parents together with a *local-gradient rule*: a function that,
given the output and the inputs, returns d(output)/d(input) for each input.
`backward()` walks the graph from the output back to the leaves and gives every
parent, for every path, upstream gradient times local gradient (the chain rule).

The rules live in one table below the `Value` class, one line per op. A rule is
shared by every node of its op (nodes hold a reference, not a closure of their
own), so a node never refers to itself and a graph is freed by reference
counting. Rules are written with a math namespace `m` and ordinary arithmetic,
so the same expression computes float gradients (`m` is `FLOAT_MATH`) and
gradient graphs for higher-order derivatives (`m` is `VALUE_MATH`).

The float `backward()` writes out the rules of `dot` and `relu` in place, the
nodes every network is made of: the same products added in the same order, so
the property tests can hold it to the rules (the general path) bit for bit.
Inside a `tape()` block (recording.py) ops also write each new node down, and
`backward()` from a recorded node runs that record instead of searching.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import math
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from itertools import chain, count
from numbers import Real
from operator import add, attrgetter, mul
from typing import Any, Union, cast

from ._sums import exact_sum as _exact_sum
from .anomaly import AnomalyError, check_new_node, gradient_error, is_anomaly_enabled, is_finite, total_error
from .anomaly import open_blocks as _anomaly_blocks

__all__ = [
    "FLOAT_MATH",
    "VALUE_MATH",
    "HookHandle",
    "LocalGrad",
    "Value",
    "activate",
    "dot",
    "dots",
    "dots_batch",
    "enable_grad",
    "is_grad_enabled",
    "no_grad",
    "primitive",
    "topological_order",
    "zero_grad",
]

Number = Union[int, float]  # noqa: UP007 (a runtime alias, kept for Python 3.10)
Operand = Union["Value", int, float]
# A local-gradient rule: (m, out, *inputs) -> one local gradient per input.
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

    # _hook_table is set only on a Value that has hooks (see register_hook).
    __slots__ = ("data", "grad", "label", "_parents", "_op", "_local_grad", "_hook_table", "__weakref__")  # noqa: RUF023

    data: float
    grad: Any  # a float; a Value after backward(create_graph=True)
    label: str
    _parents: tuple[Value, ...]
    _op: str
    _local_grad: LocalGrad | None
    _hook_table: dict[int, Callable[[Any], Any]]

    def __init__(self, data: float, label: str = "") -> None:
        if type(data) is not float:
            data = _to_float(data, "Value")
        self.data = data
        self.grad = 0.0
        self.label = label
        self._parents = ()
        self._op = ""
        self._local_grad = None

    # ---- structure -------------------------------------------------------

    @property
    def parents(self) -> tuple[Value, ...]:
        """The Values this one was computed from (empty for a leaf)."""
        return self._parents

    @property
    def op(self) -> str:
        """The name of the op that made this Value ('' for a leaf)."""
        return self._op

    @property
    def operands(self) -> tuple[Value | float, ...]:
        """What the op read, in order: its parents, with a plain number folded into + - * / in place.

        `(2 - x).operands == (2.0, x)` while `(2 - x).parents == (x,)`: a number
        is part of the op, not a node of the graph, so it gets no gradient.
        """
        rule = self._local_grad
        if type(rule) is partial and rule.func in _CONSTANT_SIDES:
            c = rule.args[1]
            return (c, *self._parents) if rule.func is _constant_on_left else (*self._parents, c)
        return self._parents

    @property
    def is_leaf(self) -> bool:
        """True for a Value that no recorded op produced."""
        return self._local_grad is None

    @property
    def _prev(self) -> set[Value]:
        # micrograd's name for the parents, kept so its drawing code runs unchanged.
        return set(self._parents)

    def local_grads(self) -> tuple[float, ...]:
        """d(self)/d(parent) for each parent, evaluated at the current data."""
        if self._local_grad is None:
            return ()
        inputs = [p.data for p in self._parents]
        return tuple(float(x) for x in self._local_grad(FLOAT_MATH, self.data, *inputs))

    @property
    def _backward(self) -> Callable[[], None]:
        # micrograd's per-node step: add upstream * local gradient into each parent.
        def step() -> None:
            for parent, local in zip(self._parents, self.local_grads(), strict=True):
                parent.grad += self.grad * local

        return step

    def __repr__(self) -> str:
        label = f", label={self.label!r}" if self.label else ""
        return f"Value(data={self.data!r}, grad={self.grad!r}{label})"

    def __float__(self) -> float:
        return self.data

    # ---- arithmetic --------------------------------------------------------

    # A plain number operand is folded into the node (its rule keeps it, see
    # `_FoldedRules`) rather than made a leaf: x * 2 has the one parent x.

    def __add__(self, other: Operand) -> Value:
        if type(other) is float:
            c = other
        elif type(other) is Value or isinstance(other, Value):
            return _node(self.data + other.data, (self, other), "+", _add_grad)
        else:
            number = _number(other)
            if number is None:
                return NotImplemented
            c = number
        rule = _ADD_RIGHT[c]
        return _node(self.data + c, (self,), "+", rule)

    def __radd__(self, other: Number) -> Value:
        c = other if type(other) is float else _number(other)
        if c is None:
            return NotImplemented
        rule = _ADD_LEFT[c]
        return _node(c + self.data, (self,), "+", rule)

    def __sub__(self, other: Operand) -> Value:
        if type(other) is float:
            c = other
        elif type(other) is Value or isinstance(other, Value):
            return _node(self.data - other.data, (self, other), "-", _sub_grad)
        else:
            number = _number(other)
            if number is None:
                return NotImplemented
            c = number
        rule = _SUB_RIGHT[c]
        return _node(self.data - c, (self,), "-", rule)

    def __rsub__(self, other: Number) -> Value:
        c = other if type(other) is float else _number(other)
        if c is None:
            return NotImplemented
        rule = _SUB_LEFT[c]
        return _node(c - self.data, (self,), "-", rule)

    def __mul__(self, other: Operand) -> Value:
        if type(other) is float:
            c = other
        elif type(other) is Value or isinstance(other, Value):
            return _node(self.data * other.data, (self, other), "*", _mul_grad)
        else:
            number = _number(other)
            if number is None:
                return NotImplemented
            c = number
        rule = _MUL_RIGHT[c]
        return _node(self.data * c, (self,), "*", rule)

    def __rmul__(self, other: Number) -> Value:
        c = other if type(other) is float else _number(other)
        if c is None:
            return NotImplemented
        rule = _MUL_LEFT[c]
        return _node(c * self.data, (self,), "*", rule)

    def __truediv__(self, other: Operand) -> Value:
        if type(other) is float:
            c = other
        elif type(other) is Value or isinstance(other, Value):
            if other.data == 0.0:
                raise ZeroDivisionError(f"division by zero: {self.data!r} / {other.data!r} (op '/')")
            return _node(self.data / other.data, (self, other), "/", _div_grad)
        else:
            number = _number(other)
            if number is None:
                return NotImplemented
            c = number
        if c == 0.0:
            raise ZeroDivisionError(f"division by zero: {self.data!r} / {c!r} (op '/')")
        rule = _DIV_RIGHT[c]
        return _node(self.data / c, (self,), "/", rule)

    def __rtruediv__(self, other: Number) -> Value:
        c = other if type(other) is float else _number(other)
        if c is None:
            return NotImplemented
        if self.data == 0.0:
            raise ZeroDivisionError(f"division by zero: {c!r} / {self.data!r} (op '/')")
        rule = _DIV_LEFT[c]
        return _node(c / self.data, (self,), "/", rule)

    def __neg__(self) -> Value:
        return _node(-self.data, (self,), "neg", _neg_grad)

    def __pos__(self) -> Value:
        return self

    def __pow__(self, exponent: Operand) -> Value:
        if isinstance(exponent, Value):
            data = _power(self.data, exponent.data, "**")
            return _node(data, (self, exponent), "**", _pow_grad)
        if type(exponent) is not int and type(exponent) is not float:
            if not isinstance(exponent, Real):
                return NotImplemented
            exponent = float(exponent)
        op = f"**{exponent!r}"
        return _node(_power(self.data, exponent, op), (self,), op, _pow_const_grad(exponent))

    def __rpow__(self, base: Number) -> Value:
        lifted = _lift(base)
        return NotImplemented if lifted is None else lifted**self

    # ---- elementary functions ---------------------------------------------

    def exp(self) -> Value:
        """e ** self."""
        try:
            data = math.exp(self.data)
        except OverflowError:
            raise OverflowError(f"exp overflows for {self.data!r} (op 'exp')") from None
        return _node(data, (self,), "exp", _exp_grad)

    def expm1(self) -> Value:
        """e ** self - 1, accurate near 0."""
        try:
            data = math.expm1(self.data)
        except OverflowError:
            raise OverflowError(f"expm1 overflows for {self.data!r} (op 'expm1')") from None
        return _node(data, (self,), "expm1", _expm1_grad)

    def log(self) -> Value:
        """Natural logarithm; self must be positive."""
        if not self.data > 0.0:
            raise ValueError(f"log of non-positive value {self.data!r} (op 'log')")
        return _node(math.log(self.data), (self,), "log", _log_grad)

    def log1p(self) -> Value:
        """log(1 + self), accurate near 0; self must be greater than -1."""
        if not self.data > -1.0:
            raise ValueError(f"log1p of value {self.data!r} <= -1 (op 'log1p')")
        return _node(math.log1p(self.data), (self,), "log1p", _log1p_grad)

    def sqrt(self) -> Value:
        """Square root; self must be non-negative."""
        if not self.data >= 0.0:
            raise ValueError(f"sqrt of negative value {self.data!r} (op 'sqrt')")
        return _node(math.sqrt(self.data), (self,), "sqrt", _sqrt_grad)

    def sin(self) -> Value:
        """Sine."""
        return _node(math.sin(self.data), (self,), "sin", _sin_grad)

    def cos(self) -> Value:
        """Cosine."""
        return _node(math.cos(self.data), (self,), "cos", _cos_grad)

    def tan(self) -> Value:
        """Tangent."""
        return _node(math.tan(self.data), (self,), "tan", _tan_grad)

    def tanh(self) -> Value:
        """Hyperbolic tangent."""
        return _node(math.tanh(self.data), (self,), "tanh", _tanh_grad)

    def sigmoid(self) -> Value:
        """Logistic sigmoid 1 / (1 + e ** -self), computed without overflow."""
        return _node(_sigmoid(self.data), (self,), "sigmoid", _sigmoid_grad)

    def relu(self) -> Value:
        """max(0, self); its derivative at 0 is taken to be 0."""
        data = self.data
        return _node(data if data > 0.0 else 0.0, (self,), "relu", _relu_grad)

    def abs(self) -> Value:
        """|self|; its derivative at 0 is taken to be 0."""
        return _node(abs(self.data), (self,), "abs", _abs_grad)

    __abs__ = abs

    # ---- many inputs, one node ---------------------------------------------

    @staticmethod
    def sum(values: Iterable[Operand]) -> Value:
        """The sum of many Values (and numbers) as ONE node, exactly rounded."""
        parents: list[Value] = []
        constants: list[float] = []
        for v in values:
            if isinstance(v, Value):
                parents.append(v)
            else:
                constants.append(_to_float(v, "sum"))
        total = _exact_sum([p.data for p in parents] + constants)
        if not parents:
            return Value(total)
        return _node(total, tuple(parents), "sum", _sum_grad)

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
        if create_graph or _hooks or _anomaly_blocks:  # the fast path checks for neither
            if _tape_blocks and (tape := _current_tape.get()) is not None:
                reason = "create_graph=True" if create_graph else "hooks" if _hooks else "anomaly mode"
                tape._skip(self, reason + " (the general path)")
            _backward_general(self, gradient, create_graph)
        else:
            seed = _to_float(gradient, "backward")
            if _tape_blocks and (tape := _current_tape.get()) is not None and tape._run(self, seed):
                return  # run from the tape's record (see recording.py)
            _backward_floats(self, seed)

    def register_hook(self, hook: Callable[[Any], Any]) -> HookHandle:
        """Call `hook(gradient)` with this Value's total gradient in every backward pass.

        The hook sees the gradient summed over all paths, before it flows on to
        the parents (for a leaf: before it is added to `.grad`); returning a
        number (or a Value) replaces it, returning None keeps it.
        """
        return _add_hook(self, hook)

    def detach(self) -> Value:
        """A new leaf with the same data and label, cut off from this graph."""
        return Value(self.data, self.label)

    def zero_grad(self) -> None:
        """Reset this Value's gradient to 0."""
        self.grad = 0.0

    def __copy__(self) -> Value:
        # A twin node: the same class, data, parents, rule and attributes, but no hooks.
        # Its gradient is a float object of its own, so that a tape never takes it for the
        # node it recorded (see recording.py).
        return self._twin(lambda value: value)

    def __deepcopy__(self, memo: dict[int, Any]) -> Value:
        # As __copy__, with every attribute (parents and their graph included) copied deeply.
        return self._twin(lambda value: copy.deepcopy(value, memo), memo)

    def _twin(self, copied: Callable[[Any], Any], memo: dict[int, Any] | None = None) -> Value:
        cls = type(self)
        twin = _new(cls)
        if memo is not None:
            memo[id(self)] = twin
        for name in _slot_names(cls):
            if name not in _NOT_COPIED and hasattr(self, name):
                setattr(twin, name, copied(getattr(self, name)))
        if hasattr(self, "__dict__"):
            twin.__dict__.update(copied(self.__dict__))
        grad = twin.grad
        if isinstance(grad, float):
            twin.grad = float(grad)  # a plain float of its own
        return twin


# ---- local gradients ---------------------------------------------------------
# One rule per op: rule(m, out, *inputs) returns d(out)/d(input) for each input.
# `m` supplies the non-arithmetic functions (FLOAT_MATH or VALUE_MATH), so the
# same line serves float gradients and gradient graphs.


def _add_grad(m: Any, out: Any, a: Any, b: Any) -> tuple[Any, Any]:
    return 1.0, 1.0  # d(a+b)/da = 1, d(a+b)/db = 1


def _sub_grad(m: Any, out: Any, a: Any, b: Any) -> tuple[Any, Any]:
    return 1.0, -1.0  # d(a-b)/da = 1, d(a-b)/db = -1


def _mul_grad(m: Any, out: Any, a: Any, b: Any) -> tuple[Any, Any]:
    return b, a  # d(a*b)/da = b, d(a*b)/db = a


def _div_grad(m: Any, out: Any, a: Any, b: Any) -> tuple[Any, Any]:
    return 1.0 / b, -out / b  # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2


# x + 2, 2 - x, ...: the binary op's own rule with one input fixed at the number c.
def _constant_on_right(rule: LocalGrad, c: float, m: Any, out: Any, a: Any) -> tuple[Any]:
    return (rule(m, out, a, c)[0],)  # d(a op c)/da


def _constant_on_left(rule: LocalGrad, c: float, m: Any, out: Any, a: Any) -> tuple[Any]:
    return (rule(m, out, c, a)[1],)  # d(c op a)/da


def _neg_grad(m: Any, out: Any, a: Any) -> tuple[Any]:
    return (-1.0,)  # d(-a)/da = -1


def _pow_grad(m: Any, out: Any, a: Any, b: Any) -> tuple[Any, Any]:
    # d(a^b)/da = b a^(b-1); d(a^b)/db = a^b log a (0 where a^b = 0, undefined for a < 0)
    return b * m.pow(a, b - 1.0), m.xlogy(out, a)


def _pow_const_grad(n: float) -> LocalGrad:
    return partial(_pow_const_rule, n)


def _pow_const_rule(n: float, m: Any, out: Any, a: Any) -> tuple[Any]:
    return (n * m.pow(a, n - 1),)  # d(a^n)/da = n a^(n-1)


def _exp_grad(m: Any, out: Any, a: Any) -> tuple[Any]:
    return (out,)  # d(e^a)/da = e^a


def _expm1_grad(m: Any, out: Any, a: Any) -> tuple[Any]:
    return (out + 1.0,)  # d(e^a - 1)/da = e^a


def _log_grad(m: Any, out: Any, a: Any) -> tuple[Any]:
    return (1.0 / a,)  # d(log a)/da = 1/a


def _log1p_grad(m: Any, out: Any, a: Any) -> tuple[Any]:
    return (1.0 / (a + 1.0),)  # d(log(1+a))/da = 1/(1+a)


def _sqrt_grad(m: Any, out: Any, a: Any) -> tuple[Any]:
    return (0.5 * m.pow(out, -1.0),)  # d(sqrt a)/da = 1/(2 sqrt a), infinite at 0


def _sin_grad(m: Any, out: Any, a: Any) -> tuple[Any]:
    return (m.cos(a),)  # d(sin a)/da = cos a


def _cos_grad(m: Any, out: Any, a: Any) -> tuple[Any]:
    return (-m.sin(a),)  # d(cos a)/da = -sin a


def _tan_grad(m: Any, out: Any, a: Any) -> tuple[Any]:
    return (1.0 + out * out,)  # d(tan a)/da = 1 + tan^2 a


def _tanh_grad(m: Any, out: Any, a: Any) -> tuple[Any]:
    return (1.0 - out * out,)  # d(tanh a)/da = 1 - tanh^2 a


def _sigmoid_grad(m: Any, out: Any, a: Any) -> tuple[Any]:
    return (out * (1.0 - out),)  # d(s(a))/da = s(a) (1 - s(a))


def _relu_grad(m: Any, out: Any, a: Any) -> tuple[Any]:
    return (m.step(a),)  # d(relu a)/da = 1 if a > 0 else 0


def _abs_grad(m: Any, out: Any, a: Any) -> tuple[Any]:
    return (m.sign(a),)  # d|a|/da = sign(a), 0 at 0


def _sum_grad(m: Any, out: Any, *inputs: Any) -> tuple[Any, ...]:
    return (1.0,) * len(inputs)  # d(sum)/d(x_i) = 1


def _dot_grad(m: Any, out: Any, *inputs: Any) -> tuple[Any, ...]:
    half = len(inputs) // 2  # inputs are w_1..w_n, x_1..x_n
    return inputs[half:] + inputs[:half]  # d(w.x)/dw_i = x_i, d(w.x)/dx_i = w_i


def _dot_bias_grad(m: Any, out: Any, *inputs: Any) -> tuple[Any, ...]:
    half = (len(inputs) - 1) // 2  # inputs are w_1..w_n, x_1..x_n, b
    return inputs[half:-1] + inputs[:half] + (1.0,)  # ... and d(w.x + b)/db = 1


def _dot_const_grad(xs: tuple[float, ...], m: Any, out: Any, *ws: Any) -> tuple[Any, ...]:
    return xs  # d(w.x)/dw_i = x_i for constant inputs x


def _dot_const_bias_grad(xs: tuple[float, ...], m: Any, out: Any, *ws: Any) -> tuple[Any, ...]:
    return (*xs, 1.0)  # d(w.x + b)/dw_i = x_i, d(w.x + b)/db = 1


# dot fused with its activation gate, g(w.x + b) as ONE node: each of dot's local
# gradients times the gate's slope g'(S), written from the node's output as the
# gates' own rules are. Inputs are w_1..w_n, x_1..x_n (and b), all Values.
def _dot_relu_grad(m: Any, out: Any, *inputs: Any) -> tuple[Any, ...]:
    # relu'(S) = 1 where relu(S) > 0: dot's own local gradients. Where it is 0 they are
    # exact zeros rather than 0 * x, as the unfused relu passes 0 on and dot passes nothing.
    if not m.step(out):
        return (0.0,) * len(inputs)
    return _dot_bias_grad(m, out, *inputs) if len(inputs) & 1 else _dot_grad(m, out, *inputs)


def _dot_tanh_grad(m: Any, out: Any, *inputs: Any) -> tuple[Any, ...]:
    return _scaled_dot_grad(_tanh_grad(m, out, None)[0], inputs)  # the tanh gate's slope, from its output


def _dot_sigmoid_grad(m: Any, out: Any, *inputs: Any) -> tuple[Any, ...]:
    return _scaled_dot_grad(_sigmoid_grad(m, out, None)[0], inputs)  # the sigmoid gate's, likewise


def _scaled_dot_grad(slope: Any, inputs: tuple[Any, ...]) -> tuple[Any, ...]:
    half = len(inputs) // 2
    local = [x * slope for x in inputs[half : 2 * half]] + [w * slope for w in inputs[:half]]
    if len(inputs) & 1:
        local.append(slope)  # d g(w.x + b)/db = g'(S)
    return tuple(local)


# ---- the math namespaces that rules are written with ------------------------


class _FloatMath:
    """Functions on floats, for first-order gradients."""

    exp = staticmethod(math.exp)
    log = staticmethod(math.log)
    sin = staticmethod(math.sin)
    cos = staticmethod(math.cos)
    tanh = staticmethod(math.tanh)
    sqrt = staticmethod(math.sqrt)

    @staticmethod
    def sigmoid(x: float) -> float:
        return _sigmoid(x)

    @staticmethod
    def pow(x: float, y: float) -> float:
        if x == 0.0 and y < 0.0:
            return math.inf
        return float(x**y)

    @staticmethod
    def xlogy(x: float, y: float) -> float:
        if x == 0.0:
            return 0.0
        return x * math.log(y) if y > 0.0 else math.nan

    @staticmethod
    def step(x: float) -> float:
        return 1.0 if x > 0.0 else 0.0

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
    def pow(x: Value, y: Operand) -> Value:
        if x.data == 0.0 and _data_of(y, "**") < 0.0:
            # First order says inf here; a graph of an infinite derivative cannot be built.
            raise ZeroDivisionError(
                f"the derivative is infinite at 0.0 (a local gradient needs 0.0 ** {_data_of(y, '**')!r}), "
                "so no gradient graph can be built there (backward with create_graph=True)"
            )
        return x**y

    @staticmethod
    def xlogy(x: Value, y: Value) -> Value | float:
        if x.data == 0.0:
            return 0.0
        return x * y.log() if y.data > 0.0 else math.nan

    @staticmethod
    def step(x: Value) -> float:
        return 1.0 if x.data > 0.0 else 0.0

    @staticmethod
    def sign(x: Value) -> float:
        return _FloatMath.sign(x.data)

    @staticmethod
    def data(x: Value) -> float:
        return x.data


FLOAT_MATH: Any = _FloatMath
VALUE_MATH: Any = _ValueMath


# ---- numbers folded into ops --------------------------------------------------
# One rule object per (op, side, number), kept for reuse: making a partial costs
# as much as the leaf Value it replaces, and a loop multiplies by the same
# numbers again and again. Zero and nan are never kept (0.0 and -0.0 are one
# key, nan is no key at all), and the tables stop growing at _MAX_KEPT numbers.

_CONSTANT_SIDES = (_constant_on_left, _constant_on_right)
_MAX_KEPT = 4096


class _FoldedRules(dict[float, LocalGrad]):
    """The rules of one op with a number on one side, by number: made on first use, then kept."""

    def __init__(self, side: Callable[..., Any], rule: LocalGrad) -> None:
        super().__init__()
        self.side, self.rule = side, rule

    def __missing__(self, c: float) -> LocalGrad:
        folded = partial(self.side, self.rule, c)
        if c != 0.0 and c == c and len(self) < _MAX_KEPT:
            self[c] = folded
        return folded


_ADD_LEFT = _FoldedRules(_constant_on_left, _add_grad)
_ADD_RIGHT = _FoldedRules(_constant_on_right, _add_grad)
_SUB_LEFT = _FoldedRules(_constant_on_left, _sub_grad)
_SUB_RIGHT = _FoldedRules(_constant_on_right, _sub_grad)
_MUL_LEFT = _FoldedRules(_constant_on_left, _mul_grad)
_MUL_RIGHT = _FoldedRules(_constant_on_right, _mul_grad)
_DIV_LEFT = _FoldedRules(_constant_on_left, _div_grad)
_DIV_RIGHT = _FoldedRules(_constant_on_right, _div_grad)


def _number(x: object) -> float | None:
    """A plain number as a float (to fold into an op), None for anything else."""
    if type(x) is float:
        return x
    if isinstance(x, Real):
        return float(x)
    return None


# ---- building nodes ------------------------------------------------------------

_new = object.__new__
_grad_enabled: contextvars.ContextVar[bool] = contextvars.ContextVar("chainrule_grad_enabled", default=True)
# How many no_grad() blocks are open in any thread: while 0, ops skip the context lookup.
_no_grad_blocks = 0
_no_grad_lock = threading.Lock()
# How many tape() blocks are open in any thread (see recording.py): while 0, ops skip the
# lookup of this context's tape. The tape is duck-typed here: `_segment`, the list new
# nodes go on (None once it is used up), and `_mark`, the gradient they start with.
_tape_blocks = 0
_current_tape: contextvars.ContextVar[Any] = contextvars.ContextVar("chainrule_tape", default=None)


def _recording_tape() -> Any:
    # This context's tape while it is still recording, else None (for ops that make many
    # nodes at once; _node, made once per node, does the same inline).
    tape = _current_tape.get() if _tape_blocks else None
    return tape if tape is not None and tape._segment is not None else None


def _node(data: float, parents: tuple[Value, ...], op: str, local_grad: LocalGrad) -> Value:
    out = _new(Value)
    out.data = data
    out.grad = 0.0
    out.label = ""
    if _no_grad_blocks and not _grad_enabled.get():
        out._parents = ()
        out._op = ""
        out._local_grad = None
    else:
        out._parents = parents
        out._op = op
        out._local_grad = local_grad
        if _tape_blocks:
            tape = _current_tape.get()
            segment = None if tape is None else tape._segment  # read once: another thread may end it
            if segment is not None:
                out.grad = tape._mark
                segment.append(out)
    if _anomaly_blocks:
        check_new_node(out, op, parents)
    return out


def primitive(name: str, local_grad: LocalGrad) -> Callable[[Callable[..., float]], Callable[..., Value]]:
    """Turn a function on floats into an op on Values, with its local-gradient rule.

    `local_grad(m, out, *inputs)` returns d(out)/d(input) for each input, written
    with arithmetic and `m` (for example `m.exp`), so that it also serves
    higher-order derivatives::

        @primitive("softplus", lambda m, out, a: (m.sigmoid(a),))
        def softplus(a: float) -> float:
            return math.log1p(math.exp(-abs(a))) + max(a, 0.0)
    """

    def wrap(forward: Callable[..., float]) -> Callable[..., Value]:
        def op(*args: Operand) -> Value:
            inputs = tuple(_lift_strict(a, name) for a in args)
            try:
                data = forward(*(v.data for v in inputs))
            except (ArithmeticError, ValueError) as exc:
                values = ", ".join(repr(v.data) for v in inputs)
                raise type(exc)(f"{exc} for {values} (op {name!r})") from exc
            return _node(_to_float(data, name), inputs, name, local_grad)

        op.__name__ = getattr(forward, "__name__", name)
        op.__qualname__ = getattr(forward, "__qualname__", name)
        op.__doc__ = forward.__doc__
        return op

    return wrap


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
    gate = _gate(activation, "dot")
    if _length(ws, "dot: each weight vector") != _length(xs, "dot: each input vector"):
        raise ValueError(f"dot of {len(ws)} weights with {len(xs)} inputs (op 'dot')")
    # map() over attrgetter and mul keeps the per-term work in C: this is every neuron's forward.
    weights = _as_values(ws, "dot")
    b = None if bias is None else _lift_strict(bias, "dot")
    if gate is not None:
        forward, rule, op = gate
        inputs = _as_values(xs, "dot")
        terms = list(map(mul, map(_data, weights), map(_data, inputs)))
        if b is None:
            parents = weights + inputs
        else:
            terms.append(b.data)
            parents = (*weights, *inputs, b)
        total = _exact_sum(terms)
        if _anomaly_blocks:
            _check_weighted_sum(total, parents, gate)
        return _node(forward(total), parents, op, rule)
    input_types = set(map(type, xs))
    if input_types <= _NUMBER_TYPES:
        constants = tuple(map(float, xs))
        terms = list(map(mul, map(_data, weights), constants))
        if b is None:
            return _node(_exact_sum(terms), weights, "dot", partial(_dot_const_grad, constants))
        terms.append(b.data)
        return _node(_exact_sum(terms), (*weights, b), "dot", partial(_dot_const_bias_grad, constants))
    inputs = cast("tuple[Value, ...]", tuple(xs)) if input_types <= _VALUE_TYPE else _as_values(xs, "dot")
    terms = list(map(mul, map(_data, weights), map(_data, inputs)))
    if b is None:
        return _node(_exact_sum(terms), weights + inputs, "dot", _dot_grad)
    terms.append(b.data)
    return _node(_exact_sum(terms), (*weights, *inputs, b), "dot", _dot_bias_grad)


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
    When every weight is a
    Value and the biases are all Values or all None, the layer is checked and
    multiplied out in a few passes in C rather than row by row, which is most
    of a network's forward pass.
    """
    _gate(activation, "dots")  # named here, before dots_batch would name itself
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
    gate = _gate(activation, "dots_batch")
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
    bias_types = set(map(type, biases))
    has_bias = bias_types <= _VALUE_TYPE
    # One pass reads every weight that is a Value; if that is all of them, the layer is whole.
    weights = [w.data for w in chain.from_iterable(rows) if type(w) is Value]
    if not (n and (has_bias or bias_types == _NONE_TYPE) and lengths == {n} and len(weights) == n * m):
        # No weights, a row without a bias, numbers among the weights, or an error to report.
        return [_dots_by_row(rows, xs, biases, activation) for xs in xss]
    layer = cast("Sequence[Sequence[Value]]", rows)
    bs = cast("Sequence[Value]", biases)
    row_weights = [tuple(ws) for ws in layer]
    bias_data = [(b.data,) for b in bs] if has_bias else []
    plain = not (_no_grad_blocks or _anomaly_blocks)
    # On a tape the layer is one entry, whose backward runs it as a block (see recording.py).
    tape = _recording_tape() if plain else None
    zero = 0.0 if tape is None else tape._mark
    points: list[tuple[tuple[Value, ...], tuple[float, ...], tuple[Value, ...]]] = []
    op = "dot" if gate is None else gate[2]
    # With constant inputs the parents are the weights (and bias) alone, the same for every vector.
    weight_parents = [(*ws, b) for ws, b in zip(row_weights, bs, strict=True)] if has_bias else row_weights
    result: list[list[Value]] = []
    for xs in xss:
        size = _length(xs, "dot: each input vector")
        input_types = set(map(type, xs))
        if input_types <= _VALUE_TYPE and input_types and size == n:
            inputs = cast("tuple[Value, ...]", tuple(xs))
            known: tuple[float, ...] = tuple([x.data for x in inputs])
            rule: LocalGrad = _dot_bias_grad if has_bias else _dot_grad
        elif input_types <= _NUMBER_TYPES and input_types and size == n:
            known = tuple(map(float, xs))
            if gate is None:
                inputs = ()
                rule = partial(_dot_const_bias_grad if has_bias else _dot_const_grad, known)  # for the row
            else:
                inputs = tuple(map(Value, known))  # a fused node's inputs are parents, as in dot
        else:  # a mixed or wrong-length input vector: dot sorts it out (or names the problem)
            result.append(_dots_by_row(rows, xs, biases, activation))
            continue
        if gate is not None:
            rule = gate[1]
        products = map(mul, weights, known * m)
        row_terms: Iterable[tuple[float, ...]] = zip(*[products] * n, strict=True)  # one row's products
        if has_bias:
            row_terms = map(add, row_terms, bias_data)
        try:
            sums = list(map(math.fsum, row_terms))
        except (OverflowError, ValueError):  # a row with no finite sum: dot gives it inf or nan
            result.append(_dots_by_row(rows, xs, biases, activation))
            continue
        if not inputs:
            parents = weight_parents
        elif has_bias:
            parents = [(*ws, *inputs, b) for ws, b in zip(row_weights, bs, strict=True)]
        else:
            parents = [ws + inputs for ws in row_weights]
        if gate is not None:
            if _anomaly_blocks:
                for total, p in zip(sums, parents, strict=True):
                    _check_weighted_sum(total, p, gate)
            sums = list(map(gate[0], sums))
        if not plain:
            result.append([_node(s, p, op, rule) for s, p in zip(sums, parents, strict=True)])
            continue
        out: list[Value] = []
        emit = out.append
        for s, p in zip(sums, parents, strict=True):
            node = _new(Value)  # _node's work, inline: one node per neuron
            node.data = s
            node.grad = zero
            node.label = ""
            node._parents = p
            node._op = op
            node._local_grad = rule
            emit(node)
        result.append(out)
        if tape is not None:
            points.append((inputs, known, tuple(out)))  # the record's own: the caller may change `out`
    if tape is not None and points:
        gate_rule = None if gate is None else gate[1]
        tape._add_layer(points, row_weights, tuple(bs) if has_bias else None, gate_rule)
    return result


def activate(values: Iterable[Operand], activation: str) -> list[Value]:
    """`[v.relu() for v in values]` (or `.tanh()`, `.sigmoid()`): the same gate nodes, made in one pass.

    A number among `values` becomes a leaf, as in the Value methods; "linear"
    (or None) gives the values back as a list, numbers as leaves. A layer's
    gates over a batch are most of the nodes a network makes: on a `tape` each
    call is one entry, so flatten a batch of rows into one call.
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
    gate = _ACTIVATIONS.get(activation) if isinstance(activation, str) else None
    if gate is None:
        raise ValueError(
            f"activate: unknown activation {activation!r} (choose from linear, relu, tanh, sigmoid)"
        )
    forward, rule = gate
    inputs = _as_values(values, activation)  # a number becomes a leaf, as in the Value methods
    if _no_grad_blocks or _anomaly_blocks:
        method = getattr(Value, activation)  # node by node, through the checks of _node
        return [method(v) for v in inputs]
    tape = _recording_tape()
    zero = 0.0 if tape is None else tape._mark
    nodes: list[Value] = []
    emit = nodes.append
    for v in inputs:
        node = _new(Value)  # _node's work, inline
        node.data = forward(v.data)
        node.grad = zero
        node.label = ""
        node._parents = (v,)
        node._op = activation
        node._local_grad = rule
        emit(node)
    if tape is not None and nodes:
        tape._add_gates(inputs, tuple(nodes), rule)  # the record's own: the caller may change `nodes`
    return nodes


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


def _check_weighted_sum(total: float, parents: tuple[Value, ...], gate: Gate) -> None:
    # Anomaly mode checks a fused node's weighted sum too: its gate can hide an inf or a
    # nan there (tanh(inf) is 1, relu(nan) is 0), which the unfused dot node would report.
    if not math.isfinite(total):
        _node(total, parents, f"{gate[2]} (weighted sum)", gate[1])  # raises in anomaly mode


def _length(items: object, what: str) -> int:
    try:
        return len(items)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{what} must be a sequence, got {items!r} (op 'dot')") from None


_data = attrgetter("data")
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


_VALUE_TYPE = frozenset({Value})
_NUMBER_TYPES = frozenset({float, int})
_NONE_TYPE = frozenset({type(None)})


def _as_values(items: Sequence[Operand], op: str) -> tuple[Value, ...]:
    # The type check runs in C, so a neuron whose inputs are all Values pays no Python loop.
    if set(map(type, items)) <= _VALUE_TYPE:
        return tuple(items)  # type: ignore[arg-type]
    return tuple([_lift_strict(x, op) for x in items])


# ---- coercion and checks -----------------------------------------------------


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
    if type(x) is float:
        # Value(x) without the constructor call: constants are made on every mixed op.
        leaf = _new(Value)
        leaf.data = x
        leaf.grad = 0.0
        leaf.label = ""
        leaf._parents = ()
        leaf._op = ""
        leaf._local_grad = None
        return leaf
    if isinstance(x, Value):
        return x
    if isinstance(x, Real):
        return Value(float(x))
    return None


def _lift_strict(x: object, op: str) -> Value:
    return x if isinstance(x, Value) else Value(_to_float(x, op))


def _data_of(x: Any, op: str) -> float:
    return x.data if x.__class__ is Value else _to_float(x, op)


def _power(base: float, exponent: float, op: str) -> float:
    if base < 0.0 and not float(exponent).is_integer():
        raise ValueError(f"negative base {base!r} with non-integer exponent {exponent!r} (op {op!r})")
    if base == 0.0 and exponent < 0:
        raise ZeroDivisionError(f"zero base with negative exponent {exponent!r} (op {op!r})")
    try:
        return float(base**exponent)
    except OverflowError:
        raise OverflowError(f"{base!r} ** {exponent!r} overflows (op {op!r})") from None


def _sigmoid(x: float) -> float:
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _relu(s: float) -> float:
    return s if s > 0.0 else 0.0


# An activation fused into dot: the gate on floats, the node's rule and its op name.
Gate = tuple[Callable[[float], float], LocalGrad, str]
_GATES: dict[str, Gate] = {
    "relu": (_relu, _dot_relu_grad, "dot+relu"),
    "tanh": (math.tanh, _dot_tanh_grad, "dot+tanh"),
    "sigmoid": (_sigmoid, _dot_sigmoid_grad, "dot+sigmoid"),
}


# The gates `activate` makes: the float forward and the rule, as the Value methods have them.
_ACTIVATIONS: dict[str, tuple[Callable[[float], float], LocalGrad]] = {
    "relu": (_relu, _relu_grad),
    "tanh": (math.tanh, _tanh_grad),
    "sigmoid": (_sigmoid, _sigmoid_grad),
}


def _gate(activation: object, function: str) -> Gate | None:
    if activation is None or activation == "linear":
        return None
    gate = _GATES.get(activation) if isinstance(activation, str) else None
    if gate is None:
        raise ValueError(
            f"{function}: unknown activation {activation!r} (choose from linear, relu, tanh, sigmoid) "
            "(op 'dot')"
        )
    return gate


# ---- no_grad -----------------------------------------------------------------


class _GradMode(contextlib.ContextDecorator):
    """Switches recording on or off for the current thread or task; also a decorator."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._tokens: list[contextvars.Token[bool]] = []

    def __enter__(self) -> None:
        global _no_grad_blocks
        with _no_grad_lock:
            _no_grad_blocks += 1
        self._tokens.append(_grad_enabled.set(self.enabled))

    def __exit__(self, *exc_info: object) -> None:
        global _no_grad_blocks
        _grad_enabled.reset(self._tokens.pop())
        with _no_grad_lock:
            _no_grad_blocks -= 1


def no_grad() -> _GradMode:
    """Within this block (this thread or task only), ops record no graph; also a decorator."""
    return _GradMode(False)


def enable_grad() -> _GradMode:
    """Within this block, ops record the graph again (inside a `no_grad`); also a decorator."""
    return _GradMode(True)


def is_grad_enabled() -> bool:
    """Whether ops record their graph here and now."""
    return _grad_enabled.get()


def zero_grad(values: Iterable[Value]) -> None:
    """Reset the gradient of every Value given to 0."""
    for v in values:
        v.grad = 0.0


# ---- backward -----------------------------------------------------------------


def topological_order(root: Value, *, leaves: bool = True) -> list[Value]:
    """Every Value `root` depends on, each after all of its parents; `root` last.

    Iterative depth-first search, so graphs of any depth work.
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
            if (leaves or parent._local_grad is not None) and parent not in visited:
                push(parent)
    return order


def _inner_nodes_zeroed(root: Value) -> list[Value]:
    """The op nodes `root` depends on, parents first, each with its gradient reset to 0.

    The reset doubles as the visited mark: every node of this pass gets the same
    fresh float object 0.0, and `grad is mark` can only hold for a node already
    reached in this pass (no live object outside the pass can be that new float).
    That saves a set of visited nodes and a second loop to zero them.
    """
    mark = _ZERO[0] * 1.0  # computed, so a new object each pass
    order: list[Value] = []
    stack: list[Value | None] = [root]
    push, pop, emit = stack.append, stack.pop, order.append
    while stack:
        node = pop()
        if node is None:  # all of the next node's parents are done
            emit(pop())  # type: ignore[arg-type]
            continue
        if node.grad is mark:
            continue
        node.grad = mark
        push(node)
        push(None)
        for parent in node._parents:
            if parent._local_grad is not None and parent.grad is not mark:
                push(parent)
    return order


_ZERO = [0.0]


def _backward_floats(root: Value, seed: float) -> None:
    if root._local_grad is None:
        root.grad += seed
        return
    order = _inner_nodes_zeroed(root)
    root.grad = seed
    _propagate(reversed(order))


def _propagate(nodes: Iterable[Value]) -> None:
    # Each node passes upstream times local gradient to its parents; `nodes` come
    # children first, so a node's gradient is whole when it is reached.
    m = FLOAT_MATH
    for node in nodes:
        upstream = node.grad
        if not upstream:  # a zero gradient passes on zeros: nothing to add (see gradient_totals)
            continue
        parents = node._parents
        n = len(parents)
        if n == 1:
            a = parents[0]
            rule = node._local_grad
            if rule is _relu_grad:  # relu's rule, inline: upstream * (1 if a > 0 else 0)
                a.grad += upstream if a.data > 0.0 else upstream * 0.0
            else:
                a.grad += upstream * rule(m, node.data, a.data)[0]  # type: ignore[misc]
        elif n == 2:
            a, b = parents
            local_a, local_b = node._local_grad(m, node.data, a.data, b.data)  # type: ignore[misc]
            a.grad += upstream * local_a
            b.grad += upstream * local_b
        else:
            # dot's rules, inline: the hot node of every network. The same terms added in the
            # same order as the rule's, without building the tuple of local gradients.
            rule = node._local_grad
            if rule is _dot_bias_grad or rule is _dot_grad or (rule is _dot_relu_grad and node.data > 0.0):
                # dot's local gradients, which are also a fused relu's while it is on
                half = n // 2  # parents are w_1..w_h, x_1..x_h (and b)
                ws, xs = parents[:half], parents[half : 2 * half]
                for w, x in zip(ws, xs, strict=True):
                    w.grad += upstream * x.data  # d(w.x)/dw_i = x_i
                for w, x in zip(ws, xs, strict=True):
                    x.grad += upstream * w.data  # d(w.x)/dx_i = w_i
                if n & 1:
                    parents[-1].grad += upstream  # d(w.x + b)/db = 1
            elif rule is _dot_relu_grad:  # a fused relu that is off: its rule gives exact zeros
                zero = upstream * 0.0
                if zero != 0.0:  # nan from an infinite upstream, as the rule gives; else nothing to add
                    for parent in parents:
                        parent.grad += zero
            elif rule is _dot_tanh_grad or rule is _dot_sigmoid_grad:
                out = node.data  # the slope g'(S) times dot's local gradients, as in the rule
                slope = 1.0 - out * out if rule is _dot_tanh_grad else out * (1.0 - out)
                half = n // 2
                ws, xs = parents[:half], parents[half : 2 * half]
                for w, x in zip(ws, xs, strict=True):
                    w.grad += upstream * (x.data * slope)
                for w, x in zip(ws, xs, strict=True):
                    x.grad += upstream * (w.data * slope)
                if n & 1:
                    parents[-1].grad += upstream * slope
            elif type(rule) is partial and (
                rule.func is _dot_const_bias_grad or rule.func is _dot_const_grad
            ):
                for w, c in zip(parents, rule.args[0], strict=False):  # constant inputs; b is left over
                    w.grad += upstream * c
                if rule.func is _dot_const_bias_grad:
                    parents[-1].grad += upstream
            else:
                local = rule(m, node.data, *map(_data, parents))  # type: ignore[misc]
                for parent, local_p in zip(parents, local, strict=True):
                    parent.grad += upstream * local_p


def _backward_general(root: Value, seed: float | Value, create_graph: bool) -> None:
    # The path for everything the float fast path leaves out: gradient graphs,
    # hooks and anomaly checks. Same semantics: leaves accumulate, inner nodes
    # hold this pass's gradient.
    first: Any
    if create_graph:
        first = seed if isinstance(seed, Value) else Value(_to_float(seed, "backward"))
    else:
        first = _to_float(seed, "backward")
    totals = gradient_totals([root], [first], create_graph)
    for node, total in totals.items():
        if node._local_grad is not None:
            node.grad = total
        elif create_graph:
            node.grad = _accumulate(node.grad, total)
        else:
            node.grad = node.grad + total


def gradient_totals(
    roots: Sequence[Value],
    seeds: Sequence[Any],
    create_graph: bool,
    *,
    inputs: Sequence[Value] | None = None,
) -> dict[Value, Any]:
    """Every Value's total gradient in one backward pass from `roots`; touches no `.grad`.

    Seeds must already be floats (or Values when `create_graph`). Gradients are
    floats, or Values with graphs of their own when `create_graph` is true: the
    local-gradient rules are then called with `VALUE_MATH` and Values, so each
    op's one rule also builds its derivative's graph. Given `inputs`, the pass
    only visits the Values through which a root depends on them. Hooks run
    here, and so do the anomaly checks while `detect_anomaly()` is on.
    """
    hooks = {value: list(table.values()) for value in list(_hooks) if (table := _hook_table(value))}
    anomaly = is_anomaly_enabled()
    totals: dict[Value, Any] = {}
    for root, seed in zip(roots, seeds, strict=True):
        previous = totals.get(root)
        totals[root] = seed if previous is None else previous + seed
    m = VALUE_MATH if create_graph else FLOAT_MATH
    order = _topological_order_of_all(roots)
    wanted = None if inputs is None else _leading_to(order, inputs)
    get = totals.get
    for node in reversed(order):
        upstream = get(node)
        if upstream is None or (wanted is not None and node not in wanted):
            continue
        if anomaly and not is_finite(upstream):
            raise total_error(node, upstream)
        if hooks and node in hooks:
            upstream = totals[node] = _run_hooks(node, hooks[node], upstream, create_graph)
            if anomaly and not is_finite(upstream):
                raise total_error(node, upstream, hooked=True)
        rule = node._local_grad
        if rule is None:
            continue
        parents = node._parents
        try:
            if create_graph:
                local = rule(m, node, *parents)
            elif not upstream:
                # A gradient of exactly 0 passes 0 to every input, whatever the local
                # gradients: 0 times an infinite local gradient (sqrt at 0) is taken
                # to be 0, not nan. The float fast path skips such a node outright.
                local = (0.0,) * len(parents)
            else:
                local = rule(m, node.data, *map(_data, parents))
        except AnomalyError as exc:  # building the gradient graph made a non-finite Value
            raise AnomalyError(f"in the backward of op {node.op!r}: {exc}") from None
        for index, (parent, local_p) in enumerate(zip(parents, local, strict=True)):
            if wanted is not None and parent not in wanted:
                continue  # no input depends on it: its gradient would be built for nothing
            try:
                contribution = upstream * local_p
            except AnomalyError as exc:
                raise AnomalyError(f"in the backward of op {node.op!r}: {exc}") from None
            if anomaly and not is_finite(contribution):
                raise gradient_error(node, index, upstream, local_p, contribution)
            previous = get(parent)
            totals[parent] = contribution if previous is None else previous + contribution
    return totals


def _leading_to(order: list[Value], inputs: Sequence[Value]) -> set[Value]:
    # The Values of `order` (parents first) that are, or depend on, one of `inputs`.
    wanted = set(inputs)
    for node in order:
        if node not in wanted and not wanted.isdisjoint(node._parents):
            wanted.add(node)
    return wanted


def _topological_order_of_all(roots: Sequence[Value]) -> list[Value]:
    if len(roots) == 1:
        return topological_order(roots[0])
    order: list[Value] = []
    seen: set[Value] = set()
    for root in roots:
        if root not in seen:
            part = [v for v in topological_order(root) if v not in seen]
            seen.update(part)
            order.extend(part)
    return order


def _accumulate(total: Any, contribution: Value) -> Value:
    if isinstance(total, Value):
        return total + contribution
    return contribution + total if total else contribution


# ---- hooks --------------------------------------------------------------------

Hook = Callable[[Any], Any]
# A Value's hooks live on the Value itself (`_hook_table`, in registration order),
# so a hook that refers to its own Value makes an ordinary cycle that the garbage
# collector frees. The set of Values with hooks holds them weakly and empties
# itself as graphs are freed, which is what lets backward() take the fast path
# whenever no hook is left.
_hooks: weakref.WeakSet[Value] = weakref.WeakSet()
_hook_ids = count()


class HookHandle:
    """What `Value.register_hook` returns: `.remove()` takes the hook off (also on leaving a `with`)."""

    __slots__ = ("_key", "_value")

    def __init__(self, value: Value, key: int) -> None:
        self._value = weakref.ref(value)
        self._key = key

    def remove(self) -> None:
        """Take the hook off its Value; removing it again does nothing."""
        value = self._value()
        table = _hook_table(value) if value is not None else None
        if table is not None:
            table.pop(self._key, None)
            if not table:
                del value._hook_table  # type: ignore[union-attr]
                _hooks.discard(value)  # type: ignore[arg-type]

    def __enter__(self) -> HookHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()


def _add_hook(value: Value, hook: Hook) -> HookHandle:
    if not callable(hook):
        raise TypeError(f"register_hook expects a callable, got {type(hook).__name__} {hook!r}")
    key = next(_hook_ids)
    table = _hook_table(value)
    if table is None:
        table = value._hook_table = {}
    _hooks.add(value)  # always: a Value copied with its table by other means is registered too
    table[key] = hook
    return HookHandle(value, key)


def _hook_table(value: Value) -> dict[int, Hook] | None:
    return getattr(value, "_hook_table", None)  # unset on a Value that never had a hook


def _run_hooks(node: Value, hooks: list[Hook], gradient: Any, create_graph: bool) -> Any:
    for hook in hooks:
        replaced = hook(gradient)
        if replaced is None:
            continue
        if create_graph:
            gradient = replaced if isinstance(replaced, Value) else Value(_hook_result(replaced, hook, node))
        else:
            gradient = _hook_result(replaced, hook, node)
    return gradient


def _hook_result(replaced: Any, hook: Hook, node: Value) -> float:
    if isinstance(replaced, (Real, Value)) and not isinstance(replaced, bool):
        return float(replaced)
    name = getattr(hook, "__qualname__", repr(hook))
    raise TypeError(
        f"hook {name} on {node!r} returned {type(replaced).__name__} {replaced!r}; "
        "a hook returns a number, a Value or None"
    )
