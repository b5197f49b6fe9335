"""Value.register_hook: see every gradient during backward (teaching), change it (clipping)."""

from __future__ import annotations

import gc
import math
import weakref
from collections.abc import Callable

import pytest

from autograd import Value, dot
from autograd.engine import hooked as _hooks
from autograd.functional import grad
from autograd.general import HookHandle


def test_hook_sees_the_total_gradient_once_after_every_path() -> None:
    x = Value(3.0)
    z = x * 2.0
    out = z * z + z.sin()  # z feeds two gates
    seen: list[float] = []
    z.register_hook(seen.append)
    out.backward()
    assert seen == [2 * 6.0 + math.cos(6.0)]
    assert z.grad == seen[0]
    assert x.grad == 2.0 * seen[0]


def test_hook_replaces_what_flows_to_the_parents_and_what_grad_holds() -> None:
    x = Value(3.0)
    z = x * 2.0
    out = z * z
    z.register_hook(lambda g: g * 10.0)
    out.backward()
    assert z.grad == 120.0
    assert x.grad == 240.0


def test_clipping_every_gradient() -> None:
    w = [Value(3.0), Value(-4.0)]
    out = dot(w, [5.0, 5.0]) ** 2  # every raw gradient is +-10 or more
    handles = [v.register_hook(lambda g: max(-1.0, min(1.0, g))) for v in w]
    out.backward()
    assert [v.grad for v in w] == [-1.0, -1.0]  # raw gradients: 2 * (-5) * 5 = -50 each
    for handle in handles:
        handle.remove()


def test_leaf_hook_sees_this_pass_before_it_is_added_to_grad() -> None:
    x = Value(2.0)
    x.grad = 100.0
    seen: list[float] = []
    x.register_hook(lambda g: seen.append(g) or g + 1.0)  # type: ignore[func-returns-value]
    (x * x).backward()
    assert seen == [4.0]
    assert x.grad == 105.0


def test_hook_on_the_output_sees_the_seed() -> None:
    x = Value(2.0)
    out = x * x
    seen: list[float] = []
    out.register_hook(seen.append)
    out.backward(3.0)
    assert seen == [3.0] and x.grad == 12.0


def test_hooks_run_in_registration_order_each_on_the_last_result() -> None:
    x = Value(1.0)
    out = x * 5.0
    calls: list[tuple[str, float]] = []
    x.register_hook(lambda g: calls.append(("first", g)) or g * 2.0)  # type: ignore[func-returns-value]
    x.register_hook(lambda g: calls.append(("second", g)) or None)  # type: ignore[func-returns-value]
    x.register_hook(lambda g: g + 1.0)
    out.backward()
    assert calls == [("first", 5.0), ("second", 10.0)]
    assert x.grad == 11.0


def test_printing_every_upstream_gradient_of_the_apple_example() -> None:
    # The worked example's backward pass, read off gate by gate by hooks.
    x, m, t = Value(100.0, "x"), Value(2.0, "m"), Value(1.1, "t")
    z = x * m
    z.label = "z"
    f = z * t
    f.label = "f"
    loss = 0.5 * (f - 219.0) ** 2
    seen: dict[str, float] = {}

    def recorder(name: str) -> Callable[[float], None]:
        return lambda g: seen.__setitem__(name, g)

    for v in (x, m, t, z, f):
        v.register_hook(recorder(v.label))
    loss.backward()
    order = list(seen)  # each gate's gradient is complete before it flows further back
    assert order[0] == "f" and order.index("z") < min(order.index("x"), order.index("m"))
    want = {"f": 1.0, "z": 1.1, "t": 200.0, "x": 2.2, "m": 110.0}
    for name, value in want.items():
        assert seen[name] == pytest.approx(value, rel=1e-9)


def test_remove_stops_the_hook_and_is_harmless_twice() -> None:
    x = Value(1.0)
    seen: list[float] = []
    handle = x.register_hook(seen.append)
    assert isinstance(handle, HookHandle)
    (x * 2.0).backward()
    handle.remove()
    handle.remove()
    (x * 2.0).backward()
    assert seen == [2.0]
    assert x not in _hooks  # no hook left: backward() is back on its fast path


def test_a_handle_is_a_context_manager() -> None:
    x = Value(1.0)
    seen: list[float] = []
    with x.register_hook(seen.append):
        (x * 3.0).backward()
    (x * 3.0).backward()
    assert seen == [3.0]
    assert not _hooks


def test_a_hook_keeps_neither_its_value_nor_a_table_entry_alive() -> None:
    x = Value(1.0)
    x.register_hook(print)
    alive = weakref.ref(x)
    del x
    gc.collect()
    assert alive() is None
    assert not _hooks


def test_a_hook_that_refers_to_its_own_value_is_freed_with_it() -> None:
    def scaled_by_itself() -> weakref.ref[Value]:
        x = Value(2.0)
        x.register_hook(lambda g: g * x.data)  # x -> its hooks -> this closure -> x: a cycle
        (x * x).backward()
        assert x.grad == 8.0
        return weakref.ref(x)

    alive = scaled_by_itself()
    gc.collect()  # a cycle, so the collector frees it (reference counting cannot)
    assert alive() is None
    assert not _hooks


def test_removing_the_last_hook_leaves_no_trace_on_the_value() -> None:
    x = Value(2.0)
    first, second = x.register_hook(print), x.register_hook(print)
    first.remove()
    assert x in _hooks
    second.remove()
    assert x not in _hooks and not hasattr(x, "_hook_table")


def test_hooks_with_no_effect_give_the_fast_path_gradients_exactly() -> None:
    def build() -> tuple[list[Value], Value]:
        leaves = [Value(0.3), Value(-1.7), Value(2.2)]
        a, b, c = leaves
        h = (a * b + c).tanh()
        return leaves, dot([h, a], [b, c], h) / (c * c + 1.0) + (h * a).exp()

    plain, out = build()
    out.backward()
    hooked, out = build()
    hooked[1].register_hook(lambda g: None)
    out.backward()
    assert [v.grad for v in hooked] == [v.grad for v in plain]


def test_hooks_run_in_grad_and_with_create_graph() -> None:
    x = Value(3.0)
    y = x * x
    seen: list[object] = []
    y.register_hook(lambda g: seen.append(g) or g * 2.0)  # type: ignore[func-returns-value]
    assert grad(y * 1.0, x) == 12.0
    first = grad(y * 1.0, x, create_graph=True)
    assert isinstance(seen[-1], Value)
    assert first.data == 12.0
    assert grad(first, x) == 4.0  # d/dx of 2 * 2x: the hook's doubling is part of the graph
    assert x.grad == 0.0


def test_a_hook_may_return_a_value_in_a_float_pass() -> None:
    x = Value(1.0)
    x.register_hook(lambda g: Value(7.0))
    (x * 2.0).backward()
    assert x.grad == 7.0


@pytest.mark.parametrize("bad", ["1.0", [1.0], True])
def test_a_bad_hook_result_names_the_hook_and_changes_no_grad(bad: object) -> None:
    x = Value(2.0)
    z = x * x
    out = z * 3.0
    x.grad = 5.0

    def returns_bad(g: float) -> object:
        return bad

    z.register_hook(returns_bad)
    with pytest.raises(TypeError, match=r"hook .*returns_bad on Value\(data=4.0.*returned"):
        out.backward()
    assert x.grad == 5.0 and z.grad == 0.0 and out.grad == 0.0


def test_register_hook_rejects_what_is_not_callable() -> None:
    with pytest.raises(TypeError, match="register_hook expects a callable, got int 3"):
        Value(1.0).register_hook(3)  # type: ignore[arg-type]
