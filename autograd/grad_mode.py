"""`no_grad()` and `enable_grad()`: whether ops record their graph, per thread or asyncio task."""

from __future__ import annotations

import contextvars
import functools
import inspect
import sys
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["GradMode", "enable_grad", "is_grad_enabled", "no_grad", "open_blocks"]

_grad_enabled: contextvars.ContextVar[bool] = contextvars.ContextVar("chainrule_grad_enabled", default=True)
# What each open block of this context restores when it ends: (block, the mode before it).
_open_here: contextvars.ContextVar[tuple[tuple[GradMode, bool], ...]] = contextvars.ContextVar(
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

    def __init__(self, enabled: bool) -> None:
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
    return _grad_enabled.get()
