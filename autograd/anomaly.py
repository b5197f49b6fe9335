"""Anomaly mode: stop at the first non-finite value or gradient, naming the op and where it was made.

While a `detect_anomaly()` block is open, every op records the file and line
of the code that created it (in a side table, so Values stay small), and

- an op whose output is `inf` or `nan` raises `AnomalyError` at once (forward);
- `backward()` and `grad()` raise `AnomalyError` at the first gradient that is
  not finite, naming the op whose gate produced it and where that op was made.

Outside such blocks ops pay one check of a module-level list per node.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
import sys
import threading
import weakref
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import Value

__all__ = ["AnomalyError", "creation_site", "detect_anomaly", "is_anomaly_enabled"]


class AnomalyError(FloatingPointError):
    """A non-finite value or gradient appeared while `detect_anomaly()` was on."""


# Non-empty while a detect_anomaly() block is open in any thread. The engine
# tests this list's truth before anything else, so code that never turns
# anomaly mode on pays one global lookup per op.
open_blocks: list[None] = []
_open_lock = threading.Lock()
_enabled: contextvars.ContextVar[bool] = contextvars.ContextVar("chainrule_detect_anomaly", default=False)
# Where each op was created, recorded only in anomaly mode. Weak keys: a
# recorded site never keeps a graph alive.
_sites: weakref.WeakKeyDictionary[Value, tuple[str, int, str]] = weakref.WeakKeyDictionary()
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


@contextlib.contextmanager
def _anomaly_block() -> Iterator[None]:
    with _open_lock:
        open_blocks.append(None)
    token = _enabled.set(True)
    try:
        yield
    finally:
        _enabled.reset(token)
        with _open_lock:
            open_blocks.pop()


def detect_anomaly() -> contextlib.AbstractContextManager[None]:
    """Within this block (this thread or task), a non-finite value or gradient raises `AnomalyError`."""
    return _anomaly_block()


def is_anomaly_enabled() -> bool:
    """Whether anomaly mode is on here and now."""
    return bool(open_blocks) and _enabled.get()


def creation_site(value: Value) -> str:
    """'file:line in function' where the op that made `value` was called, if anomaly mode saw it."""
    site = _sites.get(value)
    if site is None:
        return "at an unknown place (made outside detect_anomaly())"
    filename, line, function = site
    return f"at {filename}:{line} in {function}"


def check_new_node(out: Value, op: str, parents: Sequence[Value]) -> None:
    """Record where `out` was made; raise if its data is not finite. The engine calls this per op."""
    if not _enabled.get():
        return
    site = _caller_outside_package()
    _sites[out] = site
    if not math.isfinite(out.data):
        inputs = ", ".join(repr(x if isinstance(x, float) else x.data) for x in out.operands)
        raise AnomalyError(
            f"op {op!r} produced {out.data!r} from input(s) ({inputs}), "
            f"created at {site[0]}:{site[1]} in {site[2]}"
        )


def check_weighted_sum(total: float, parents: Sequence[Value], op: str) -> None:
    """Raise if the weighted sum inside a fused dot+gate node is not finite (the gate can hide it)."""
    if _enabled.get() and not math.isfinite(total):
        filename, line, function = _caller_outside_package()
        inputs = ", ".join(repr(p.data) for p in parents)
        raise AnomalyError(
            f"op '{op} (weighted sum)' produced {total!r} from input(s) ({inputs}), "
            f"created at {filename}:{line} in {function}"
        )


def is_finite(x: Any) -> bool:
    """Whether a gradient (a float, or a Value's data) is finite."""
    return math.isfinite(x if type(x) is float else float(x))


def gradient_error(node: Value, index: int, upstream: Any, local: Any, contribution: Any) -> AnomalyError:
    """The error for a gate that passed a non-finite gradient to its input number `index`."""
    return AnomalyError(
        f"backward of op {node.op!r} (created {creation_site(node)}) passed the non-finite "
        f"gradient {float(contribution)!r} to its input {index} "
        f"(upstream gradient {float(upstream)!r} times local gradient {float(local)!r})"
    )


def total_error(node: Value, total: Any, *, hooked: bool = False) -> AnomalyError:
    """The error for a Value whose gradient (summed over all paths, or from its hooks) is not finite."""
    made = f"op {node.op!r} (created {creation_site(node)})" if node.op else "a leaf"
    how = "as its hooks returned it" if hooked else "after summing every path"
    return AnomalyError(f"the gradient of {node!r}, made by {made}, is {float(total)!r} {how}")


def _caller_outside_package() -> tuple[str, int, str]:
    frame = sys._getframe(2)
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    return frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name
