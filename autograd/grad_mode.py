"""`no_grad()` and `enable_grad()`: whether ops record their graph, per thread or asyncio task.

Also `recording(budget)`: ops record their graph and count its terms against
a `GraphBudget`, raising GraphBudgetError past it; `trace` uses it to refuse a
graph too big to compile before the graph is all built.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import sys
from collections.abc import Callable, Iterator
from typing import Any

__all__ = [
    "GradMode",
    "GraphBudget",
    "GraphBudgetError",
    "enable_grad",
    "is_grad_enabled",
    "no_grad",
    "open_blocks",
    "plain",
    "expect",
    "recording",
    "records",
]

# True or False; or, inside `recording(budget)`, the GraphBudget that counts what is recorded.
_grad_enabled: contextvars.ContextVar[bool | GraphBudget] = contextvars.ContextVar(
    "chainrule_grad_enabled", default=True
)
# What each open block of this context restores when it ends: (block, the mode before it).
_open_here: contextvars.ContextVar[tuple[tuple[GradMode, bool | GraphBudget], ...]] = contextvars.ContextVar(
    "chainrule_open_grad_modes", default=()
)
# Non-empty once any block has been entered in this process: until then ops skip the
# context lookup. It stays so: a task or a copied context made inside a block keeps the
# block's mode after the block has closed elsewhere.
open_blocks: list[None] = []


class GradMode:
    """What `no_grad()` and `enable_grad()` return: a context manager and a decorator.

    It holds for the thread or asyncio task that enters it. One object may be
    entered by several threads or tasks at once, and again while it is open.
    """

    __slots__ = ("enabled",)

    def __init__(self, enabled: bool | GraphBudget) -> None:
        self.enabled = enabled

    def __enter__(self) -> None:
        _open_here.set((*_open_here.get(), (self, _grad_enabled.get())))
        _grad_enabled.set(self.enabled)
        if not open_blocks:
            open_blocks.append(None)

    def __exit__(self, *exc_info: object) -> None:
        opened = _open_here.get()
        for k in range(len(opened) - 1, -1, -1):  # this block's latest entry here
            if opened[k][0] is self:
                break
        else:
            raise RuntimeError(f"{self!r} was exited without being entered in this thread or task")
        if k == len(opened) - 1:  # the innermost block: the mode it found comes back
            _grad_enabled.set(opened[k][1])
        else:  # an outer one ends first: the block inside it now restores what this one found
            block, _ = opened[k + 1]
            opened = (*opened[: k + 1], (block, opened[k][1]), *opened[k + 2 :])
        _open_here.set(opened[:k] + opened[k + 1 :])

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        # As a decorator the mode holds while the function runs; for a generator
        # function, while its body runs at each step, not in the caller between steps.
        if inspect.isgeneratorfunction(function):
            return functools.wraps(function)(functools.partial(_generator_in_mode, self, function))
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def coroutine(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await function(*args, **kwargs)

            return coroutine
        if inspect.isasyncgenfunction(function):
            raise TypeError(f"{self!r} cannot decorate an async generator function; use it inside the body")

        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            with self:
                return function(*args, **kwargs)

        return call

    def __repr__(self) -> str:
        if isinstance(self.enabled, GraphBudget):
            return f"recording(GraphBudget({self.enabled.limit}))"
        return "enable_grad()" if self.enabled else "no_grad()"


def _generator_in_mode(
    mode: GradMode, function: Callable[..., Any], *args: Any, **kwargs: Any
) -> Iterator[Any]:
    with mode:
        generator = function(*args, **kwargs)
    try:
        with mode:
            reply = next(generator)
        while True:
            try:
                request = yield reply
            except GeneratorExit:
                with mode:
                    generator.close()
                raise
            except BaseException:
                with mode:
                    reply = generator.throw(sys.exc_info()[1])
            else:
                with mode:
                    reply = generator.send(request)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


def no_grad() -> GradMode:
    """Within this block (this thread or task only), ops record no graph; also a decorator."""
    return GradMode(False)


def enable_grad() -> GradMode:
    """Within this block, ops record the graph again (inside a `no_grad`); also a decorator."""
    return GradMode(True)


def is_grad_enabled() -> bool:
    """Whether ops record their graph here and now."""
    mode = _grad_enabled.get()
    return mode if mode.__class__ is bool else True


# ---- a budget on the size of a recorded graph -------------------------------------------


class GraphBudgetError(MemoryError):
    """More of a graph was recorded inside `recording(budget)` than the budget allows.

    Its arguments: where the count passed the limit (a sentence), and the count of terms there.
    """


class GraphBudget:
    """A limit on the terms recorded inside `recording(budget)`: a node and each of its inputs is a term.

    Counting runs only where a block is open (the engine's check of
    `open_blocks`), so eager mode outside one pays nothing for it.
    """

    __slots__ = ("limit", "nodes", "terms")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.terms = 0
        self.nodes = 0

    def add(self, inputs: int) -> bool:
        """Count a node with this many inputs; raise GraphBudgetError once past the limit."""
        self.nodes += 1
        self.terms += inputs + 1
        if self.terms > self.limit:
            raise GraphBudgetError(f"{self.terms:,} terms at node {self.nodes:,}", self.terms)
        return True

    def expect(self, nodes: int, terms: int) -> None:
        """Raise GraphBudgetError now if this many more nodes and terms would pass the limit."""
        if self.terms + terms > self.limit:
            raise GraphBudgetError(
                f"{self.terms + terms:,} terms with the {nodes:,} nodes of a layer after node {self.nodes:,}",
                self.terms + terms,
            )


def recording(budget: GraphBudget) -> GradMode:
    """Within this block ops record their graph, counted against `budget` (a nested mode pauses it)."""
    return GradMode(budget)


def expect(nodes: int, terms: int) -> None:
    """What a layer calls before its work: a budget open here refuses it now if it would pass the limit."""
    mode = _grad_enabled.get()
    if mode.__class__ is not bool:
        mode.expect(nodes, terms)  # type: ignore[union-attr]


def plain() -> bool:
    """Whether ops here and now record with nothing to count: no no_grad, no budget (for the engine)."""
    return _grad_enabled.get() is True


def records(parents: tuple[object, ...]) -> bool:
    """Whether a node made here and now is recorded (it is counted if a budget is open); for the engine."""
    mode = _grad_enabled.get()
    if mode.__class__ is bool:
        return mode
    return mode.add(len(parents))  # type: ignore[union-attr]
