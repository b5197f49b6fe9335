"""`gc_paused`: build and drop graphs without Python's cyclic garbage collector re-scanning them."""

from __future__ import annotations

import gc

__all__ = ["GcPause", "gc_paused"]


def gc_paused() -> GcPause:
    """Within this block Python's cyclic garbage collector does not run; on exit it is as before.

    A graph of Values holds no reference cycles: a node refers to its parents
    and to its op's record, never back to itself. (micrograd's closures capture
    their output node, so each of its nodes is a cycle that only the collector
    can free.) Reference counting
    alone therefore frees a graph the moment its last reference goes, and the
    collector, set off by new objects as the graph grows, would only scan it
    and, as the heap grows, everything else (BENCHMARKS.md gives what that
    costs `fit`). Cycles made inside the block are not lost: the collector
    frees them once it runs again (a gradient graph from
    `backward(create_graph=True)` refers to its own variables; a loss of your
    own may make some). Blocks nest, and the collector is restored even when
    the block raises. Like `gc.disable()` this holds for the whole process: a
    block that ends in one thread turns the collector back on for a block still
    open in another, and a `gc.disable()` inside a block is undone when it ends.
    """
    return GcPause()


class GcPause:
    """What `gc_paused()` returns: a context manager that may be entered again, even nested."""

    __slots__ = ("_was_enabled",)

    def __init__(self) -> None:
        self._was_enabled: list[bool] = []

    def __enter__(self) -> None:
        self._was_enabled.append(gc.isenabled())
        gc.disable()

    def __exit__(self, *exc_info: object) -> None:
        if self._was_enabled.pop():
            gc.enable()
