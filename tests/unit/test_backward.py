"""backward(): accumulation, zeroing, repeated passes, no_grad, memory and depth."""

from __future__ import annotations

import asyncio
import gc
import math
import sys
import threading
import weakref

import pytest

from autograd import (
    Value,
    dot,
    enable_grad,
    gc_paused,
    grad,
    is_grad_enabled,
    no_grad,
    topological_order,
    zero_grad,
)


def test_fan_out_sums_every_path() -> None:
    x = Value(3.0)
    y = x * x + x
    y.backward()
    assert x.grad == 7.0


def test_leaf_gradients_accumulate_inner_gradients_do_not() -> None:
    x = Value(3.0)
    inner = x * x
    out = inner + x
    out.backward()
    out.backward()
    assert x.grad == 14.0  # a leaf adds up, as in PyTorch
    assert inner.grad == 1.0  # an inner node holds the latest pass
    assert out.grad == 1.0


def test_zero_grad_resets_leaves() -> None:
    a, b = Value(2.0), Value(3.0)
    out = a * b
    out.backward()
    zero_grad([a, b])
    assert (a.grad, b.grad) == (0.0, 0.0)
    out.backward()
    assert (a.grad, b.grad) == (3.0, 2.0)
    a.zero_grad()
    assert a.grad == 0.0 and b.grad == 2.0


def test_backward_from_an_inner_node_and_with_a_seed() -> None:
    x = Value(2.0)
    inner = x * 5
    out = inner * inner
    out.backward(gradient=0.5)
    assert x.grad == pytest.approx(0.5 * 2 * 10 * 5)
    x.zero_grad()
    inner.backward()
    assert x.grad == 5.0


def test_backward_on_a_leaf_accumulates_the_seed() -> None:
    x = Value(1.0)
    x.backward()
    x.backward()
    assert x.grad == 2.0


def test_two_outputs_sharing_a_graph() -> None:
    x = Value(2.0)
    shared = x * x
    first, second = shared + 1, shared * 3
    first.backward()
    second.backward()
    assert x.grad == pytest.approx(4.0 + 12.0)


def test_topological_order_puts_parents_first() -> None:
    a, b = Value(1.0, "a"), Value(2.0, "b")
    c = a * b
    d = c + a
    e = d * c
    order = topological_order(e)
    position = {id(v): i for i, v in enumerate(order)}
    assert order[-1] is e and len(order) == 5
    for node in order:
        for parent in node.parents:
            assert position[id(parent)] < position[id(node)]
    assert [v for v in topological_order(e, leaves=False) if v.is_leaf] == []


def test_no_grad_records_nothing_and_restores() -> None:
    a = Value(2.0)
    assert is_grad_enabled()
    with no_grad():
        assert not is_grad_enabled()
        b = a * 3
        with enable_grad():
            c = a * 4
        d = b.exp()
    assert is_grad_enabled()
    assert b.is_leaf and b.parents == () and b.op == "" and b.data == 6.0
    assert not c.is_leaf and c.parents == (a,) and c.operands == (a, 4.0)
    assert d.is_leaf
    b.backward()
    assert a.grad == 0.0


def test_no_grad_works_as_a_decorator() -> None:
    @no_grad()
    def predict(x: Value) -> Value:
        return x * 2

    assert predict(Value(1.0)).is_leaf
    assert is_grad_enabled()


def test_no_grad_is_local_to_its_thread() -> None:
    inside, outside = threading.Barrier(2), threading.Barrier(2)
    results: dict[str, bool] = {}

    def under_no_grad() -> None:
        with no_grad():
            inside.wait()
            results["no_grad thread"] = (Value(1.0) * 2).is_leaf
            outside.wait()

    def recording() -> None:
        inside.wait()  # the other thread is inside no_grad now
        results["other thread"] = (Value(1.0) * 2).is_leaf
        outside.wait()

    threads = [threading.Thread(target=under_no_grad), threading.Thread(target=recording)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"no_grad thread": True, "other thread": False}


def test_no_grad_is_local_to_its_asyncio_task() -> None:
    async def main() -> tuple[bool, bool]:
        started = asyncio.Event()
        release = asyncio.Event()

        async def quiet() -> bool:
            with no_grad():
                started.set()
                await release.wait()
                return (Value(1.0) * 2).is_leaf

        task = asyncio.create_task(quiet())
        await started.wait()
        recorded = not (Value(1.0) * 2).is_leaf
        release.set()
        return recorded, await task

    assert asyncio.run(main()) == (True, True)


def test_detach_cuts_the_graph() -> None:
    x = Value(3.0, "x")
    y = x * x
    d = y.detach()
    assert d.is_leaf and d.data == 9.0 and d.label == "" and d is not y
    (d * 2).backward()
    assert x.grad == 0.0


def test_a_dropped_graph_is_freed_without_the_garbage_collector() -> None:
    gc.collect()
    gc.disable()
    try:
        x = Value(0.5)
        y = x
        for _ in range(200):
            y = (y * 1.01 + 0.1).tanh() * x
        y.backward()
        probes = [weakref.ref(v) for v in topological_order(y)]
        del y
        # Reference counting alone freed everything but the leaf we still hold.
        alive = [r() for r in probes if r() is not None]
        assert alive == [x]
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_gc_paused_restores_the_collector_as_it_was() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():  # blocks nest
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # paused by someone else: left paused
    finally:
        gc.enable()


def test_one_gc_paused_may_be_entered_again_and_nested() -> None:
    pause = gc_paused()
    with pause:
        with pause:
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pause:
        assert not gc.isenabled()
    assert gc.isenabled()


def test_gc_paused_turns_the_collector_back_on_when_the_block_raises() -> None:
    with pytest.raises(ZeroDivisionError), gc_paused():
        Value(1.0) / 0.0
    assert gc.isenabled()


def test_cycles_made_while_paused_are_freed_once_the_collector_runs() -> None:
    # A gradient graph refers back to its variable (d(x*x)/dx = x + x): a cycle, not a leak.
    gc.collect()
    with gc_paused():
        x = Value(3.0)
        (x * x).backward(create_graph=True)
        assert x in topological_order(x.grad)
        probe = weakref.ref(x)
        del x
        assert probe() is not None  # the cycle keeps it while the collector is paused
    gc.collect()
    assert probe() is None


def test_a_million_op_chain_runs_at_the_default_recursion_limit() -> None:
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        x = Value(1.0)
        y = x
        for _ in range(1_000_000):
            y = y * 1.0
        y.backward()
        assert x.grad == 1.0
        del y  # freeing a million-deep chain must not overflow the C stack either
    finally:
        sys.setrecursionlimit(limit)


def test_micrograd_style_manual_steps() -> None:
    # micrograd's lecture steps the backward pass by hand through `_backward`.
    a, b = Value(2.0), Value(-3.0)
    c = a * b
    c.grad = 1.0
    c._backward()
    assert (a.grad, b.grad) == (-3.0, 2.0)
    assert c._prev == {a, b}


def test_a_zero_gradient_passes_zero_on_even_through_an_infinite_local_gradient() -> None:
    # sqrt's local gradient at 0 is inf; 0 * inf would be nan, but a node whose
    # gradient is exactly 0 passes 0 on, on every path of the engine.
    x = Value(0.0)
    y = x.sqrt() * 0.0
    assert y.parents[0].local_grads() == (math.inf,)
    y.backward()
    assert x.grad == 0.0
    x.zero_grad()
    with y.register_hook(lambda g: None):  # hooks take the general path
        y.backward()
    assert x.grad == 0.0
    assert grad(y, x) == 0.0


def test_a_relu_that_is_off_sends_nothing_back() -> None:
    w, x = Value(2.0), Value(-1.0)
    out = (w * x).relu() + w
    out.backward()
    assert (w.grad, x.grad) == (1.0, 0.0)


def test_relu_and_dot_written_out_in_backward_match_their_rules_bit_for_bit() -> None:
    # backward() adds dot's and relu's terms in place; grad() calls the rules. Same numbers,
    # even where rounding depends on the order the terms reach a Value used twice.
    a = Value(0.5)
    out = dot([a, a, Value(-1e16)], [Value(1e16), Value(1.0), a])  # a gets 1e16, 1.0, then -1e16
    out.backward()
    assert a.grad == grad(out, a) == 0.0  # weights first, then inputs: 1.0 is lost to rounding
    off = Value(-1.0)
    infinite = off.relu() * math.inf  # an infinite upstream meets relu's 0: nan, as upstream * 0.0
    infinite.backward()
    assert math.isnan(off.grad) and math.isnan(grad(infinite, off))
