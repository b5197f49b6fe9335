"""chainrule's scalar reverse-mode automatic differentiation engine.

>>> from autograd import Value
>>> x = Value(3.0)
>>> y = x * x + x
>>> y.backward()
>>> x.grad
7.0

The names here are what a user calls; everything else stays in its module:
`autograd.engine` (the op table, `Op`, the math namespaces), `autograd.layers`,
`autograd.functional`, `autograd.forward` (forward mode, `pushforward`),
`autograd.gradcheck`, `autograd.anomaly`, `autograd.draw`, `autograd.explainer`,
`autograd.page` (explain's web page), `autograd.compiler` (`trace`),
`autograd.batched` (`trace_batch`) and
`autograd.apple` (the apple-price example). Drawing imports graphviz, and the
compilers their code generator, on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .anomaly import AnomalyError, detect_anomaly
from .collector import gc_paused
from .engine import Op, Value, enable_grad, is_grad_enabled, no_grad, primitive, topological_order, zero_grad
from .forward import hvp, jacfwd, jvp, linearize, vjp
from .functional import grad, grad_of, hessian, jacobian, value_and_grad
from .gradcheck import gradcheck, gradgradcheck
from .layers import activate, dot, dots, dots_batch

if TYPE_CHECKING:
    from .batched import trace_batch
    from .compiler import CompileError, trace
    from .draw import draw_dot
    from .explainer import explain

__distribution__ = "chainrule"

__all__ = [
    # values, ops and the backward pass
    "Value",
    "Op",
    "primitive",
    "dot",
    "dots",
    "dots_batch",
    "activate",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "zero_grad",
    "topological_order",
    "gc_paused",
    # derivatives as results, and checking them
    "grad",
    "grad_of",
    "value_and_grad",
    "jacobian",
    "hessian",
    # forward mode, and reverse mode as a function
    "jvp",
    "jacfwd",
    "hvp",
    "linearize",
    "vjp",
    "gradcheck",
    "gradgradcheck",
    "detect_anomaly",
    "AnomalyError",
    # pictures and the backward pass step by step
    "draw_dot",
    "explain",
    # compiling a graph: straight-line Python, or numpy over a batch
    "trace",
    "trace_batch",
    "CompileError",
]

# Loaded on first use: graphviz for drawing, the code generator for the compilers.
_LAZY = {
    "draw_dot": "draw",
    "explain": "explainer",
    "trace": "compiler",
    "CompileError": "compiler",
    "trace_batch": "batched",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'autograd' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
