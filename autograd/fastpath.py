"""Fast pullbacks, derived from the op records' rules: the float backward pass without the rule calls.

`engine.pullback(node, upstream)` is the chain rule at one gate: call the op's
rule for its local gradients, then add upstream x local into each parent. It
is what the backward pass means, and it serves every op. For the built-in
ops this module derives a faster function from the same rule, with the code
generator the compilers use (codegen.py): it calls the rule once, on symbols
instead of numbers, and the expressions it gets back become straight-line
code, one line per parent:

    def pullback(node, upstream):           # relu, from lambda m, out, a: (m.step(out),)
        a0, = node._parents
        out = node.data
        a0.grad += upstream * (1.0 if out > 0.0 else 0.0)

The generated code performs the rule's float operations in the rule's order,
so it gives the numbers `engine.pullback` gives, bit for bit (a property test
holds every record to that). Nothing is written here by hand: a rule the
symbols cannot run (one that branches on a value, or reads how many numbers
its node carries) keeps `engine.pullback`. The source holds only generated
names and numbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .codegen import Names, Sym, SymMath, number
from .engine import Op, Value

__all__ = ["derive"]

Pullback = Callable[[Value, float], None]


def derive(op: Op, inputs: int, params: int) -> Pullback | None:
    """A pullback for nodes of `op` with this many inputs and params, derived from its rule; None if none."""
    names = Names()
    parents = [f"a{i}" for i in range(inputs)]
    symbols = [Sym(f"{p}.data") for p in parents] + [Sym(f"p{j}") for j in range(params)]
    try:
        local = op.local_grad(SymMath(names), Sym("out"), *symbols)
        terms = [x.text if isinstance(x, Sym) else number(float(x), names) for x in local]
    except Exception:  # a branch on a symbol, or a rule written for numbers only
        return None
    if len(terms) != inputs:
        return None
    lines = [f"    {', '.join(parents)}, = node._parents"]
    if any(re.search(r"\bout\b", term) for term in terms):
        lines.append("    out = node.data")
    if any(re.search(r"\bp\d", term) for term in terms):
        lines.append(f"    {', '.join(f'p{j}' for j in range(params))}, = node._params")
    for parent, term in zip(parents, terms, strict=True):
        # upstream * 1.0 is upstream, bit for bit
        lines.append(f"    {parent}.grad += {'upstream' if term == '1.0' else f'upstream * {term}'}")
    source = "def pullback(node, upstream):\n" + "\n".join(lines) + "\n"
    exec(compile(source, "<derived pullback>", "exec"), names.namespace)  # generated names only
    function: Pullback = names.namespace["pullback"]
    function.__doc__ = source
    return function
