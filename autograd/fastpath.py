"""Fast pullbacks, derived from the op records' rules: the float backward pass without the rule calls.

`engine.pullback(node, upstream)` is the chain rule at one gate: call the op's
rule for its local gradients, then add upstream x local into each parent. It
is what the backward pass means, and it serves every op. For the built-in
ops this module derives a faster function from the same rule: it calls the
rule once, on symbols instead of numbers, and the expressions it gets back
become straight-line code, one line per parent:

    def pullback(node, upstream):           # relu, from lambda m, out, a: (m.step(out),)
        a0, = node._parents
        a0.grad += upstream * (1.0 if node.data > 0.0 else 0.0)

The generated code performs the rule's float operations in the rule's order,
so it gives the numbers `engine.pullback` gives, bit for bit (a test holds
every record to that). Nothing is written here by hand: a rule the symbols
cannot run (one that branches on a value, say) keeps `engine.pullback`.
The source holds only generated names and numbers, and `compile()` runs it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import count
from typing import Any, ClassVar

from .engine import FLOAT_MATH, Op, Value

__all__ = ["derive"]

Pullback = Callable[[Value, float], None]


class _NotSymbolicError(Exception):
    """The rule did something a symbol cannot stand for (a branch on a value, len(), float())."""


class _Sym:
    """An expression of the generated code: arithmetic on it writes source text."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def _op(self, template: str, other: object) -> _Sym:
        return _Sym(template.format(self.text, _source(other)))

    def _rop(self, template: str, other: object) -> _Sym:
        return _Sym(template.format(_source(other), self.text))

    def __add__(self, other: object) -> _Sym:
        return self._op("({} + {})", other)

    def __radd__(self, other: object) -> _Sym:
        return self._rop("({} + {})", other)

    def __sub__(self, other: object) -> _Sym:
        return self._op("({} - {})", other)

    def __rsub__(self, other: object) -> _Sym:
        return self._rop("({} - {})", other)

    def __mul__(self, other: object) -> _Sym:
        return self._op("({} * {})", other)

    def __rmul__(self, other: object) -> _Sym:
        return self._rop("({} * {})", other)

    def __truediv__(self, other: object) -> _Sym:
        return self._op("({} / {})", other)

    def __rtruediv__(self, other: object) -> _Sym:
        return self._rop("({} / {})", other)

    def __neg__(self) -> _Sym:
        return _Sym(f"(-{self.text})")

    def _refuse(self, *args: object) -> Any:
        raise _NotSymbolicError

    __bool__ = __float__ = __int__ = __index__ = __len__ = __iter__ = __pow__ = __rpow__ = _refuse
    __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __ne__ = __abs__ = _refuse
    __hash__ = None  # type: ignore[assignment]


def _source(x: object) -> str:
    if isinstance(x, _Sym):
        return x.text
    if (type(x) is float or type(x) is int) and math.isfinite(x):
        return f"({float(x)!r})"
    raise _NotSymbolicError


class _Math:
    """The math namespace on symbols: a cheap function written inline, any other called by name."""

    # Each the same float operations as FLOAT_MATH's function (a test compares them).
    INLINE: ClassVar[dict[str, str]] = {
        "step": "(1.0 if {0} > 0.0 else 0.0)",
        "sign": "(1.0 if {0} > 0.0 else (-1.0 if {0} < 0.0 else 0.0))",
    }

    def __init__(self, bound: dict[str, Any]) -> None:
        self._bound = bound

    def __getattr__(self, name: str) -> Callable[..., _Sym]:
        function = None if name.startswith("_") else getattr(FLOAT_MATH, name, None)
        if not callable(function):
            raise _NotSymbolicError
        template = self.INLINE.get(name)
        if template is not None:
            return lambda x: _Sym(template.format(_source(x)))
        if name == "data":
            return lambda x: x
        bound = f"_m{len(self._bound)}"
        self._bound[bound] = function
        return lambda *args: _Sym(f"{bound}({', '.join(map(_source, args))})")


_names = count()


def derive(op: Op, inputs: int, params: int) -> Pullback | None:
    """A pullback for nodes of `op` with this many parents and params, derived from its rule; None if none."""
    bound: dict[str, Any] = {"__builtins__": {}}
    parents = [f"a{i}" for i in range(inputs)]
    symbols = [_Sym(f"{p}.data") for p in parents] + [_Sym(f"p{j}") for j in range(params)]
    try:
        local = op.local_grad(_Math(bound), _Sym("out"), *symbols)
        terms = [_source(x) for x in local]
    except _NotSymbolicError:
        return None
    except Exception:  # a rule written for numbers only
        return None
    if len(terms) != inputs:
        return None
    lines = [f"    {', '.join(parents)}, = node._parents", "    out = node.data"]
    if params:
        lines.append(f"    {', '.join(f'p{j}' for j in range(params))}, = node._params")
    for parent, term in zip(parents, terms, strict=True):
        # upstream * 1.0 is upstream, bit for bit
        lines.append(f"    {parent}.grad += {'upstream' if term == '(1.0)' else f'upstream * {term}'}")
    source = "def pullback(node, upstream):\n" + "\n".join(lines) + "\n"
    exec(compile(source, f"<pullback of op {next(_names)}>", "exec"), bound)  # our own text, see above
    function: Pullback = bound["pullback"]
    function.__doc__ = source
    return function


def fast_pullbacks(ops: Sequence[Op]) -> None:
    """Let each of `ops` derive its pullbacks on first use (what the engine does for its own ops)."""
    for op in ops:
        op.derive = derive  # type: ignore[attr-defined]
