"""Forward mode: derivatives pushed from the inputs to the outputs, and the transforms built on it.

Reverse mode (`backward()`, `grad`) starts at an output and sends each input
upstream gradient x local gradient. Forward mode starts at the inputs with a
tangent each (how fast each input moves) and goes the other way: a node's
tangent is the sum over its inputs of local gradient x the input's tangent,

    tangent(node) = sum_i  local_grad_i(node) * tangent(parent_i)

with the local gradients of the op's one record (`Op.local_grad`), the same
rule the backward pass reads. There is no table of forward rules. The rule
is called with `FLOAT_MATH` on floats, or with `VALUE_MATH` on Values when the
tangent must stay differentiable (forward mode inside another transform,
`hvp`, the gradient of a `jvp`): the tangent is then a graph of Values.

One forward pass gives the derivative of every output along one direction of
the inputs; one backward pass gives the derivative of one output with respect
to every input. So `jacfwd` costs a pass per input and `jacobian` a pass per
output: forward mode wins for few inputs and many outputs.

The transforms follow JAX's `jvp`, `linearize`, `vjp` and functional.py's
conventions: numbers in, numbers out; Values in, or inside another transform,
Values out, connected to the arguments. Hooks belong to backward passes and
do not run here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Real
from typing import Any

from .engine import FLOAT_MATH, VALUE_MATH, Value, topological_order
from .functional import (
    Argnums,
    _arguments,
    _check_callable,
    _depth,
    _detached,
    _name,
    _outputs,
    _positions,
    _scalar,
    _shaped,
    _split_aux,
    _tracing,
    _values,
    grad,
    grad_of,
)

__all__ = ["hvp", "jacfwd", "jvp", "linearize", "pushforward", "vjp"]


# ---- the forward pass on a built graph -------------------------------------------------


def pushforward(
    outputs: Value | Sequence[Value], inputs: Value | Sequence[Value], *, create_graph: bool = False
) -> Callable[[Any], Any]:
    """The linear map from tangents of `inputs` to tangents of `outputs`, on Values already built.

    `pushforward(out, [x, y])([1.0, 0.0])` is d(out)/dx; in general the result
    is the derivative of the outputs along the direction the tangents give,
    one tangent for one input Value, a sequence for a sequence. The local
    gradients are computed once, here; each call of the map is a forward pass
    of multiply-adds. With `create_graph=True` they are Values, and so are the
    tangents the map returns, to be differentiated again. As with `grad`, an
    input's derivative counts every path from it, also through other inputs,
    so the map is the transpose of `grad`'s.
    """
    outs = _values("pushforward", "outputs", outputs)
    ins = _values("pushforward", "inputs", inputs)
    steps = _linear_steps(outs, ins, create_graph)

    def push(tangents: Any) -> Any:
        given = _tangents("pushforward", tangents, len(ins), single=isinstance(inputs, Value))
        lift = create_graph or any(isinstance(t, Value) for t in given)
        seeds: dict[Value, Any] = {}
        for value, tangent in zip(ins, given, strict=True):
            seeds[value] = seeds[value] + tangent if value in seeds else tangent
        tangent_of = _push(steps, seeds)
        results = [tangent_of.get(out, 0.0) for out in outs]
        if lift:
            results = [t if isinstance(t, Value) else Value(float(t)) for t in results]
        return results[0] if isinstance(outputs, Value) else results

    return push


# One step of the forward pass: a node that moves with the inputs, and the local
# gradient of each of its parents that moves too (a parent may appear twice: x * x).
_Step = tuple[Value, tuple[tuple[Value, Any], ...]]


def _linear_steps(outputs: list[Value], inputs: list[Value], create_graph: bool) -> list[_Step]:
    # The nodes between the inputs and the outputs, parents first, with their local
    # gradients from the op's record: the linearization of the graph at its data.
    moving = set(inputs)
    steps: list[_Step] = []
    emit, moves, still, all_move = steps.append, moving.add, moving.isdisjoint, moving.issuperset
    for node in _order(outputs):
        op = node.operation
        if op is None:
            continue
        parents = node.parents
        if still(parents):
            continue
        moves(node)
        if create_graph:
            local = op.local_grad(VALUE_MATH, node, *parents, *node.params)
        else:
            local = op.local_grad(FLOAT_MATH, node.data, *[p.data for p in parents], *node.params)
        if len(local) != len(parents):
            raise ValueError(
                f"op {node.op!r}: its local_grad gave {len(local)} local gradient(s) "
                f"for {len(parents)} input(s)"
            )
        if all_move(parents):
            emit((node, tuple(zip(parents, local, strict=True))))
        else:
            emit((node, tuple((p, g) for p, g in zip(parents, local, strict=True) if p in moving)))
    return steps


def _push(steps: list[_Step], seeds: dict[Value, Any]) -> dict[Value, Any]:
    # The chain rule forwards: every node's tangent, the sum of local gradient x tangent over
    # its parents (plus its own seed, for an input that depends on another input). A product
    # with a factor of exactly 0 is 0, whatever the other factor: 0 times the infinite slope
    # of sqrt at 0 counts as 0, as a gradient of exactly 0 does in backward(), so
    # sqrt(x) * 0 and sqrt(x * 0) both have the tangent 0 at x = 0.
    tangents = dict(seeds)
    get = tangents.get
    for node, terms in steps:
        total = get(node)
        for parent, local in terms:
            tangent = get(parent, 0.0)
            if tangent == 0.0 or local == 0.0:  # a number 0 (a Value is never equal to one)
                continue
            # 1 x t is t: no node for it (the + of a sum, an argument's identity)
            term = tangent if local == 1.0 else local * tangent
            total = term if total is None else total + term
        if total is not None:
            tangents[node] = total
    return tangents


def _order(roots: list[Value]) -> list[Value]:
    # Every Value the roots depend on, each after its parents: for several roots one
    # depth-first search shared by all, so outputs that share a graph do not walk it once each.
    if len(roots) == 1:
        return topological_order(roots[0])
    order: list[Value] = []
    visited: set[Value] = set()
    for root in roots:
        if root in visited:
            continue
        stack: list[Value | None] = [root]
        while stack:
            node = stack.pop()
            if node is None:  # all of the next node's parents are done
                order.append(stack.pop())  # type: ignore[arg-type]
                continue
            if node in visited:
                continue
            visited.add(node)
            stack.append(node)
            stack.append(None)
            stack.extend(p for p in node.parents if p not in visited)
    return order


# ---- function transforms -----------------------------------------------------------------


def jvp(
    f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any], *, has_aux: bool = False
) -> tuple[Any, ...]:
    """`(f(*primals), tangent)`: f's value and its derivative along `tangents`, in one forward pass.

    `primals` and `tangents` are tuples (or lists) of one number or Value per
    argument of f; the tangent is sum_i df/dx_i * tangents[i]. For an f that
    returns a list or tuple of outputs, both results are lists of the same
    length. With `has_aux=True`, f returns `(output, aux)` and jvp
    `(value, tangent, aux)`.
    """
    _check_callable("jvp", f)
    args = _arguments_tuple("jvp", "primals", primals)
    given = _tangents("jvp", tangents, len(args), single=False)
    where = f"jvp({_name(f)})"
    with _tracing():
        call_args, wrt, keep_graph = _arguments("jvp", args, _positions("jvp", None, len(args)))
        keep_graph = keep_graph or any(isinstance(t, Value) for t in given)
        result, aux = _split_aux(where, f(*call_args), has_aux)
        outs, single = _outputs_of(where, result)
        out_tangents = pushforward(outs, wrt, create_graph=keep_graph)(given)
    value, tangent = _results(outs, keep_graph, single), _shaped_like(out_tangents, single)
    if has_aux:
        return value, tangent, aux if keep_graph else _detached(aux)
    return value, tangent


def linearize(f: Callable[..., Any], *primals: Any, has_aux: bool = False) -> tuple[Any, ...]:
    """`(f(*primals), f_jvp)`: f's value and the function `f_jvp(*tangents)` giving its tangent.

    f runs once and its local gradients are computed once; each call of
    `f_jvp` is only the forward pass of multiply-adds, so
    `linearize(f, *x)[1](*t)` equals `jvp(f, x, t)[1]`. With `has_aux=True`,
    f returns `(output, aux)` and linearize `(value, f_jvp, aux)`.
    """
    _check_callable("linearize", f)
    where = f"linearize({_name(f)})"
    with _tracing():
        call_args, wrt, keep_graph = _arguments(
            "linearize", primals, _positions("linearize", None, len(primals))
        )
        result, aux = _split_aux(where, f(*call_args), has_aux)
        outs, single = _outputs_of(where, result)
        push = pushforward(outs, wrt, create_graph=keep_graph)

    def f_jvp(*tangents: Any) -> Any:
        given = _tangents(f"f_jvp of {where}", tangents, len(wrt), single=False)
        with _tracing():  # a graph is built when the tangents are Values, even inside no_grad()
            out_tangents = push(given)
        return _shaped_like(out_tangents, single)

    f_jvp.__name__ = f_jvp.__qualname__ = f"f_jvp of {where}"
    value = _results(outs, keep_graph, single)
    if has_aux:
        return value, f_jvp, aux if keep_graph else _detached(aux)
    return value, f_jvp


def vjp(f: Callable[..., Any], *primals: Any, has_aux: bool = False) -> tuple[Any, ...]:
    """`(f(*primals), pullback)`: reverse mode as a function; `pullback(cotangent)` gives the gradients.

    `pullback(c)` is the tuple of c * df/dx_i, one per primal, from one
    backward pass; for an f returning a list or tuple of outputs, c is a
    sequence of one cotangent per output. The graph is kept, so the pullback
    can be called again. With `has_aux=True`, f returns `(output, aux)` and vjp
    `(value, pullback, aux)`.
    """
    _check_callable("vjp", f)
    where = f"vjp({_name(f)})"
    with _tracing():
        call_args, wrt, keep_graph = _arguments("vjp", primals, _positions("vjp", None, len(primals)))
        result, aux = _split_aux(where, f(*call_args), has_aux)
        outs, single = _outputs_of(where, result)

    def pullback(cotangent: Any) -> tuple[Any, ...]:
        given = _tangents(f"pullback of {where}", cotangent, len(outs), single=single, what="cotangent")
        keep = keep_graph or _depth.get() > 0 or any(isinstance(c, Value) for c in given)
        with _tracing():
            gradients = grad(outs, wrt, given, create_graph=keep)
        return tuple(gradients)

    pullback.__name__ = pullback.__qualname__ = f"pullback of {where}"
    value = _results(outs, keep_graph, single)
    if has_aux:
        return value, pullback, aux if keep_graph else _detached(aux)
    return value, pullback


def jacfwd(f: Callable[..., Sequence[Any]], argnums: Argnums = None) -> Callable[..., list[Any]]:
    """`jacobian(f)` by forward mode: a forward pass per differentiated argument, not a backward per output.

    The same result as `jacobian(f, argnums)`: J[i][j] = d(output i)/d(argument j)
    of an f returning a list or tuple of outputs, row i a single derivative
    for one position `argnums=k`. Keyword arguments reach f as they are.
    """
    _check_callable("jacfwd", f)

    def jacobian_at(*args: Any, **kwargs: Any) -> list[Any]:
        positions = _positions("jacfwd", argnums, len(args))
        with _tracing():
            call_args, wrt, keep_graph = _arguments("jacfwd", args, positions)
            outs = _outputs(f"jacfwd({_name(f)})", f(*call_args, **kwargs))
            push = pushforward(outs, wrt, create_graph=keep_graph)
            columns = [push([float(i == j) for i in range(len(wrt))]) for j in range(len(wrt))]
        return [_shaped([column[i] for column in columns], argnums) for i in range(len(outs))]

    jacobian_at.__name__ = jacobian_at.__qualname__ = f"jacfwd({_name(f)})"
    return jacobian_at


def hvp(f: Callable[..., Any], primals: Sequence[Any], v: Sequence[Any]) -> list[Any]:
    """H v, the Hessian of a scalar-valued f at `primals` times the vector `v`: forward mode over reverse.

    A list with one entry per argument, from one backward pass that builds the
    gradient as a graph and one forward pass over it: `hessian(f)(*primals) @ v`
    without forming H, at the cost of a few gradients whatever the number of
    arguments (`hessian` takes a backward pass per argument).
    """
    _check_callable("hvp", f)
    args = _arguments_tuple("hvp", "primals", primals)
    given = _tangents("hvp", v, len(args), single=False, what="v")
    _positions("hvp", None, len(args))  # no arguments: nothing to differentiate
    return list(jvp(grad_of(f, argnums=None), args, given)[1])


# ---- helpers -------------------------------------------------------------------------


def _arguments_tuple(name: str, what: str, given: Any) -> tuple[Any, ...]:
    if isinstance(given, Value) or not isinstance(given, (tuple, list)):
        raise TypeError(
            f"{name}: {what} must be a tuple or list of arguments, got {type(given).__name__} {given!r}; "
            "for one argument write (x,)"
        )
    return tuple(given)


def _tangents(name: str, given: Any, count: int, *, single: bool, what: str = "tangents") -> list[Any]:
    # One number or Value per input (or output, for cotangents): floats and Values as they are.
    if single:
        items = [given]
    elif isinstance(given, Value) or not isinstance(given, (tuple, list)):
        raise TypeError(
            f"{name}: {what} must be a tuple or list of {count} number(s) or Value(s), got "
            f"{type(given).__name__} {given!r}"
        )
    else:
        items = list(given)
    if len(items) != count:
        raise ValueError(
            f"{name}: {len(items)} {what} for {count} {'output' if what == 'cotangent' else 'input'}(s)"
        )
    checked: list[Any] = []
    for i, item in enumerate(items):
        if isinstance(item, Value):
            checked.append(item)
        elif isinstance(item, Real) and not isinstance(item, bool):
            checked.append(float(item))
        else:
            place = what.removesuffix("s") if single else f"{what}[{i}]"
            raise TypeError(
                f"{name}: {place} must be a number or a Value, got {type(item).__name__} {item!r}"
            )
    return checked


def _outputs_of(where: str, result: Any) -> tuple[list[Value], bool]:
    # f's outputs as Values, and whether it returned one (rather than a list or tuple of them).
    if isinstance(result, (Value, str)) or not isinstance(result, Sequence):
        return [_scalar(where, result)], True
    return _outputs(where, result), False


def _results(outs: list[Value], keep_graph: bool, single: bool) -> Any:
    values = outs if keep_graph else [out.data for out in outs]
    return values[0] if single else values


def _shaped_like(tangents: list[Any], single: bool) -> Any:
    return tangents[0] if single else tangents
