"""Gradients as results, not side effects: `grad(outputs, inputs)` and the function transforms.

Two levels, two names:

- `grad(outputs, inputs)` works on Values you already built: it returns
  d(output)/d(input) and touches no `.grad`.
- `grad_of(f)`, `value_and_grad(f)`, `jacobian(f)` and `hessian(f)` work on
  functions: each returns a new function that computes derivatives of `f`
  wherever it is called. `grad_of(grad_of(f))` is the second derivative.
  Keyword arguments of that function reach `f` as they are, not differentiated.

Numbers in, numbers out: a transform called with plain numbers returns floats.
Called with Values, or inside another transform, it returns Values whose
graphs reach back to the arguments, so the result can be differentiated again.
Forward mode (`jvp`, `jacfwd`, `hvp`) and `vjp` are in forward.py, with the same conventions.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Sequence
from numbers import Real
from typing import Any, Union

from .engine import Value, enable_grad, is_grad_enabled, primitive
from .general import gradient_totals

__all__ = ["grad", "grad_of", "hessian", "jacobian", "value_and_grad"]

Argnums = Union[int, Sequence[int], None]  # noqa: UP007 (a runtime alias, kept for Python 3.10)

# How many transforms are evaluating their function in this thread or task.
# Inside one, results stay Values even for number arguments, because the
# function may close over the outer transform's Values.
_depth: contextvars.ContextVar[int] = contextvars.ContextVar("chainrule_transform_depth", default=0)


def grad(
    outputs: Value | Sequence[Value],
    inputs: Value | Sequence[Value],
    grad_outputs: float | Value | Sequence[float | Value] | None = None,
    *,
    create_graph: bool = False,
) -> Any:
    """d(outputs)/d(inputs): one gradient for one input Value, a list for a list; no `.grad` changes.

    Several outputs are differentiated together (their gradients add up), each
    seeded with 1 or with its entry of `grad_outputs`. An input the outputs do
    not depend on gets 0. With `create_graph=True` the gradients are Values
    with graphs, to be differentiated again. Hooks run as in `backward()`.
    """
    if callable(outputs) and not isinstance(outputs, Value):
        raise TypeError(
            "grad(outputs, inputs) differentiates Values; to differentiate a function use grad_of(f)"
        )
    outs = _values("grad", "outputs", outputs)
    ins = _values("grad", "inputs", inputs)
    seeds = _seeds(outs, grad_outputs, create_graph)
    totals = gradient_totals(outs, seeds, create_graph, inputs=ins)
    zero: Callable[[], Any] = (lambda: Value(0.0)) if create_graph else float
    gradients = [totals[v] if v in totals else zero() for v in ins]
    return gradients[0] if isinstance(inputs, Value) else gradients


def grad_of(f: Callable[..., Any], argnums: Argnums = 0, *, has_aux: bool = False) -> Callable[..., Any]:
    """The function computing df/d(argument `argnums`) of a scalar-valued `f`.

    `argnums` is one position (the result is one gradient), a sequence of
    positions or None for all (the result is a list). With `has_aux=True`, `f`
    returns a pair `(output, aux)`: only the output is differentiated, and the
    function returns `(gradient, aux)`.
    """
    _check_callable("grad_of", f)

    def gradient(*args: Any, **kwargs: Any) -> Any:
        value, gradients = _value_and_grad("grad_of", f, argnums, args, kwargs, has_aux)
        return (gradients, value[1]) if has_aux else gradients

    gradient.__name__ = gradient.__qualname__ = f"grad_of({_name(f)})"
    return gradient


def value_and_grad(
    f: Callable[..., Any], argnums: Argnums = 0, *, has_aux: bool = False
) -> Callable[..., tuple[Any, Any]]:
    """Like `grad_of`, but the function returns `(f(*args), gradient)` from one evaluation of f.

    With `has_aux=True` it returns `((output, aux), gradient)`, as JAX does.
    """
    _check_callable("value_and_grad", f)

    def value_and_gradient(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        return _value_and_grad("value_and_grad", f, argnums, args, kwargs, has_aux)

    value_and_gradient.__name__ = value_and_gradient.__qualname__ = f"value_and_grad({_name(f)})"
    return value_and_gradient


def jacobian(f: Callable[..., Sequence[Any]], argnums: Argnums = None) -> Callable[..., list[Any]]:
    """The function computing J[i][j] = d(output i)/d(argument j) of an `f` returning several outputs.

    By default every argument is differentiated (argnums=None); for one
    position `argnums=k`, row i is the single derivative d(output i)/d(argument k).
    """
    _check_callable("jacobian", f)

    def jacobian_at(*args: Any, **kwargs: Any) -> list[Any]:
        positions = _positions("jacobian", argnums, len(args))
        with _tracing():
            call_args, wrt, keep_graph = _arguments("jacobian", args, positions)
            outs = _outputs(f"jacobian({_name(f)})", f(*call_args, **kwargs))
            rows = [grad(out, wrt, create_graph=keep_graph) for out in outs]
        return [_shaped(row, argnums) for row in rows]

    jacobian_at.__name__ = jacobian_at.__qualname__ = f"jacobian({_name(f)})"
    return jacobian_at


def hessian(f: Callable[..., Any], argnums: Argnums = None) -> Callable[..., Any]:
    """The function computing the Hessian H[i][j] = d2f/(dx_i dx_j) of a scalar-valued `f`, a list of lists.

    By default every argument is differentiated (argnums=None); for one
    position `argnums=k` the result is the single second derivative.
    """
    _check_callable("hessian", f)

    def hessian_at(*args: Any, **kwargs: Any) -> Any:
        positions = _positions("hessian", argnums, len(args))
        with _tracing():
            call_args, wrt, keep_graph = _arguments("hessian", args, positions)
            out = _scalar(f"hessian({_name(f)})", f(*call_args, **kwargs))
            first = grad(out, wrt, create_graph=True)
            rows = [grad(g, wrt, create_graph=keep_graph) for g in first]
        return rows[0][0] if isinstance(argnums, int) else rows

    hessian_at.__name__ = hessian_at.__qualname__ = f"hessian({_name(f)})"
    return hessian_at


# ---- helpers -------------------------------------------------------------------


def _value_and_grad(
    name: str,
    f: Callable[..., Any],
    argnums: Argnums,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    has_aux: bool,
) -> tuple[Any, Any]:
    # (value, gradient), the value being (output, aux) with has_aux.
    positions = _positions(name, argnums, len(args))
    where = f"{name}({_name(f)})"
    with _tracing():
        call_args, wrt, keep_graph = _arguments(name, args, positions)
        result, aux = _split_aux(where, f(*call_args, **kwargs), has_aux)
        out = _scalar(where, result)
        gradients = grad(out, wrt, create_graph=keep_graph)
    value = out if keep_graph else out.data
    if has_aux:
        return (value, aux if keep_graph else _detached(aux)), _shaped(gradients, argnums)
    return value, _shaped(gradients, argnums)


def _split_aux(where: str, result: Any, has_aux: bool) -> tuple[Any, Any]:
    """`(output, aux)` of what f returned: the pair f returns with has_aux, else (result, None)."""
    if not has_aux:
        return result, None
    if isinstance(result, Value) or not isinstance(result, Sequence) or len(result) != 2:
        raise TypeError(
            f"{where} with has_aux=True: f must return a pair (output, aux), got {type(result).__name__}"
        )
    return result[0], result[1]


def _detached(aux: Any) -> Any:
    """`aux` with every Value in it (in lists, tuples and dicts too) replaced by its float: numbers out."""
    if isinstance(aux, Value):
        return aux.data
    if isinstance(aux, (list, tuple)):
        items = [_detached(item) for item in aux]
        return type(aux)(items) if type(aux) in (list, tuple) else aux
    if isinstance(aux, dict):
        return {key: _detached(item) for key, item in aux.items()}
    return aux


def _outputs(where: str, outs: Any) -> list[Value]:
    """The outputs of an `f` that must return a list or tuple of them, each a Value (numbers as constants)."""
    if isinstance(outs, Value) or not isinstance(outs, Sequence):
        raise TypeError(
            f"{where}: f must return a list or tuple of outputs, got {type(outs).__name__}; "
            "for one output use grad_of"
        )
    return [_scalar(f"{where} output {i}", out) for i, out in enumerate(outs)]


# Each differentiated Value argument passes through a node of its own, so a
# gradient with respect to "argument k" counts only the paths through that
# position, not those through the same Value captured by a closure or passed
# at another position.
@primitive("argument", lambda m, out, a: (1.0,))  # d(a)/da = 1
def _argument(a: float) -> float:
    return a


@contextlib.contextmanager
def _tracing() -> Iterator[None]:
    token = _depth.set(_depth.get() + 1)
    try:
        if is_grad_enabled():
            yield
        else:  # a transform needs the graph even inside no_grad()
            with enable_grad():
                yield
    finally:
        _depth.reset(token)


def _arguments(name: str, args: tuple[Any, ...], positions: list[int]) -> tuple[list[Any], list[Value], bool]:
    # Called inside _tracing(), so the depth already counts this transform.
    keep_graph = _depth.get() > 1 or any(isinstance(a, Value) for a in args)
    call_args = list(args)
    wrt: list[Value] = []
    for position in positions:
        arg = args[position]
        if isinstance(arg, Value):
            node = _argument(arg)
            node.label = arg.label
        elif isinstance(arg, Real) and not isinstance(arg, bool):
            node = Value(float(arg))
        else:
            raise TypeError(
                f"{name}: argument {position} must be a number or a Value to be differentiated, "
                f"got {type(arg).__name__} {arg!r}"
            )
        call_args[position] = node
        wrt.append(node)
    return call_args, wrt, keep_graph


def _positions(name: str, argnums: Argnums, count: int) -> list[int]:
    if argnums is None:
        if count == 0:
            raise TypeError(f"{name}: the function was called without arguments, nothing to differentiate")
        return list(range(count))
    requested = [argnums] if isinstance(argnums, int) else list(argnums)
    positions = []
    for k in requested:
        if isinstance(k, bool) or not isinstance(k, int):
            raise TypeError(f"{name}: argnums must be ints, got {type(k).__name__} {k!r}")
        if not -count <= k < count:
            raise ValueError(f"{name}: argnums {k} is out of range for {count} argument(s)")
        positions.append(k % count)
    if len(set(positions)) != len(positions):
        raise ValueError(f"{name}: argnums {argnums!r} names a position twice")
    if not positions:
        raise ValueError(f"{name}: argnums is empty, nothing to differentiate")
    return positions


def _scalar(where: str, out: Any) -> Value:
    if isinstance(out, Value):
        return out
    if isinstance(out, Real) and not isinstance(out, bool):
        return Value(float(out))  # a constant: every derivative is 0
    raise TypeError(f"{where}: f must return a Value or a number, got {type(out).__name__} {out!r}")


def _shaped(gradients: list[Any], argnums: Argnums) -> Any:
    return gradients[0] if isinstance(argnums, int) else gradients


def _values(name: str, what: str, given: Value | Sequence[Value]) -> list[Value]:
    values = [given] if isinstance(given, Value) else list(given) if isinstance(given, Sequence) else None
    if values is None:
        raise TypeError(f"{name}: {what} must be a Value or a sequence of Values, got {type(given).__name__}")
    if not values:
        raise ValueError(f"{name}: {what} is empty")
    for i, v in enumerate(values):
        if not isinstance(v, Value):
            raise TypeError(f"{name}: {what}[{i}] must be a Value, got {type(v).__name__} {v!r}")
    return values


def _seeds(
    outs: list[Value], grad_outputs: float | Value | Sequence[float | Value] | None, create_graph: bool
) -> list[Any]:
    if grad_outputs is None:
        given: list[Any] = [1.0] * len(outs)
    elif isinstance(grad_outputs, Sequence):
        given = list(grad_outputs)
    else:
        given = [grad_outputs]
    if len(given) != len(outs):
        raise ValueError(f"grad: {len(given)} grad_outputs for {len(outs)} outputs")
    seeds: list[Any] = []
    for i, seed in enumerate(given):
        if isinstance(seed, bool) or not isinstance(seed, (Real, Value)):
            raise TypeError(f"grad: grad_outputs[{i}] must be a number or a Value, got {type(seed).__name__}")
        if create_graph:
            seeds.append(seed if isinstance(seed, Value) else Value(float(seed)))
        else:
            seeds.append(float(seed))
    return seeds


def _check_callable(name: str, f: object) -> None:
    if isinstance(f, Value) or not callable(f):
        raise TypeError(f"{name} expects a function, got {type(f).__name__} {f!r}; for Values use grad")


def _name(f: Callable[..., Any]) -> str:
    return getattr(f, "__name__", type(f).__name__)
