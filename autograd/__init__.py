"""chainrule's scalar reverse-mode automatic differentiation engine.

>>> from autograd import Value
>>> x = Value(3.0)
>>> y = x * x + x
>>> y.backward()
>>> x.grad
7.0
"""

from .anomaly import AnomalyError, detect_anomaly, is_anomaly_enabled
from .apple import ApplePrice, apple_price, draw_apple_price
from .batched import BatchedFunction, trace_batch
from .collector import GcPause, gc_paused
from .compiler import CompiledFunction, CompileError, TraceMismatchError, register_forward, trace
from .draw import DotNotFoundError, GraphDrawing, GraphTooLargeError, draw_dot
from .engine import (
    FLOAT_MATH,
    VALUE_MATH,
    HookHandle,
    LocalGrad,
    Value,
    activate,
    dot,
    dots,
    dots_batch,
    enable_grad,
    is_grad_enabled,
    no_grad,
    primitive,
    topological_order,
    zero_grad,
)
from .explain import BackwardTable, explain
from .functional import grad, grad_of, hessian, jacobian, value_and_grad
from .gradcheck import (
    GradcheckError,
    GradgradcheckError,
    Mismatch,
    SecondOrderMismatch,
    gradcheck,
    gradgradcheck,
    numerical_grad,
    numerical_hessian,
)
from .recording import Tape, tape

__distribution__ = "chainrule"

__all__ = [
    "FLOAT_MATH",
    "VALUE_MATH",
    "GradcheckError",
    "LocalGrad",
    "Mismatch",
    "Value",
    "activate",
    "dot",
    "dots",
    "dots_batch",
    "enable_grad",
    "GcPause",
    "gc_paused",
    "Tape",
    "tape",
    "gradcheck",
    "is_grad_enabled",
    "no_grad",
    "numerical_grad",
    "primitive",
    "topological_order",
    "zero_grad",
    # higher-order derivatives, function transforms, hooks and anomaly mode
    "grad",
    "grad_of",
    "value_and_grad",
    "jacobian",
    "hessian",
    "GradgradcheckError",
    "SecondOrderMismatch",
    "gradgradcheck",
    "numerical_hessian",
    "HookHandle",
    "AnomalyError",
    "detect_anomaly",
    "is_anomaly_enabled",
    # drawing graphs and explaining the backward pass
    "DotNotFoundError",
    "GraphDrawing",
    "GraphTooLargeError",
    "draw_dot",
    "BackwardTable",
    "explain",
    "ApplePrice",
    "apple_price",
    "draw_apple_price",
    # compiling a traced graph to straight-line Python
    "trace",
    "CompiledFunction",
    "CompileError",
    "TraceMismatchError",
    "register_forward",
    # the same over a whole batch, with numpy (pip install 'chainrule[fast]')
    "trace_batch",
    "BatchedFunction",
]
