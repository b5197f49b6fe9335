"""The general backward pass: gradient graphs, hooks, anomaly checks, `grad()` and `explain`.

The float pass in engine.py is what `backward()` runs when none of these is
asked for. This pass computes the same gradients with the same rules, each
op's `local_grad` called with `FLOAT_MATH` on floats or, for
`create_graph=True`, with `VALUE_MATH` on Values, so the rule that gives a
float gradient also builds the gradient's graph. It keeps every gradient in a
dictionary rather than in `.grad`, which is what lets `grad()` touch no
`.grad` and `explain` watch every step.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from itertools import count
from numbers import Real
from typing import Any

from .anomaly import AnomalyError, gradient_error, is_anomaly_enabled, is_finite, total_error
from .engine import FLOAT_MATH, VALUE_MATH, Value, hooked, topological_order

__all__ = ["HookHandle", "StepWatcher", "add_hook", "backward", "gradient_totals"]


def backward(root: Value, seed: float | Value, create_graph: bool) -> None:
    """`root.backward(seed, create_graph=...)` by the general pass."""
    # The path for everything the float pass leaves out: gradient graphs, hooks and
    # anomaly checks. Same semantics: leaves accumulate, inner nodes hold this pass's gradient.
    first: Any
    first = (seed if isinstance(seed, Value) else Value(_float(seed))) if create_graph else _float(seed)
    totals = gradient_totals([root], [first], create_graph)
    for node, total in totals.items():
        if node._operation is not None:
            node.grad = total
        elif create_graph:
            node.grad = _accumulate(node.grad, total)
        else:
            node.grad = node.grad + total


# What `gradient_totals` tells a step watcher (explain): the node, its upstream
# gradient, its local gradients (None where the zero upstream gradient meant they
# were not needed) and what it sent each parent.
StepWatcher = Callable[[Value, Any, "Sequence[Any] | None", Sequence[Any]], None]


def gradient_totals(
    roots: Sequence[Value],
    seeds: Sequence[Any],
    create_graph: bool,
    *,
    inputs: Sequence[Value] | None = None,
    on_step: StepWatcher | None = None,
) -> dict[Value, Any]:
    """Every Value's total gradient in one backward pass from `roots`; touches no `.grad`.

    Seeds must already be floats (or Values when `create_graph`). Gradients are
    floats, or Values with graphs of their own when `create_graph` is true: the
    local-gradient rules are then called with `VALUE_MATH` and Values, so each
    op's one rule also builds its derivative's graph. Given `inputs`, the pass
    only visits the Values through which a root depends on them. Hooks run
    here, and so do the anomaly checks while `detect_anomaly()` is on.
    `on_step(node, upstream, local, contributions)` is called at every op node
    the pass reaches, in order.
    """
    with _hooks_lock:  # another thread may be adding a hook
        hooks = {value: list(table.values()) for value in list(hooked) if (table := _hook_table(value))}
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
        op = node._operation
        if op is None:
            continue
        parents = node._parents
        local: Sequence[Any] | None = None
        try:
            if create_graph:
                local = op.local_grad(m, node, *parents, *node._params)
            elif upstream:
                local = op.local_grad(m, node.data, *[p.data for p in parents], *node._params)
        except AnomalyError as exc:  # building the gradient graph made a non-finite Value
            raise AnomalyError(f"in the backward of op {node.op!r}: {exc}") from None
        # A gradient of exactly 0 passes 0 to every input, whatever the local gradients:
        # 0 times an infinite local gradient (sqrt at 0) is taken to be 0, not nan.
        sent = (0.0,) * len(parents) if local is None else local
        contributions: list[Any] = []
        for index, (parent, local_p) in enumerate(zip(parents, sent, strict=True)):
            if wanted is not None and parent not in wanted:
                contributions.append(None)
                continue  # no input depends on it: its gradient would be built for nothing
            try:
                contribution = upstream * local_p if local is not None else 0.0
            except AnomalyError as exc:
                raise AnomalyError(f"in the backward of op {node.op!r}: {exc}") from None
            if anomaly and not is_finite(contribution):
                raise gradient_error(node, index, upstream, local_p, contribution)
            previous = get(parent)
            totals[parent] = contribution if previous is None else previous + contribution
            contributions.append(contribution)
        if on_step is not None:
            on_step(node, upstream, local, contributions)
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
# itself as graphs are freed, which is what lets backward() take the float pass
# whenever no hook is left.
_hook_ids = count()
_hooks_lock = threading.Lock()


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
            with _hooks_lock:
                table.pop(self._key, None)
                if not table:
                    del value._hook_table  # type: ignore[union-attr]
                    hooked.discard(value)  # type: ignore[arg-type]

    def __enter__(self) -> HookHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()


def add_hook(value: Value, hook: Hook) -> HookHandle:
    """`value.register_hook(hook)`."""
    if not callable(hook):
        raise TypeError(f"register_hook expects a callable, got {type(hook).__name__} {hook!r}")
    key = next(_hook_ids)
    with _hooks_lock:
        table = _hook_table(value)
        if table is None:
            table = value._hook_table = {}
        hooked.add(value)  # always: a Value copied with its table by other means is registered too
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


def _float(x: Any) -> float:
    if isinstance(x, Value):
        return x.data
    if isinstance(x, Real) and not isinstance(x, bool):
        return float(x)
    raise TypeError(f"backward expects a real number, got {type(x).__name__} {x!r}")
