"""autograd.tape(): when a backward pass runs from the record, when it searches the graph instead, and why."""

from __future__ import annotations

import copy
import pickle
import threading
import weakref
from collections.abc import Callable

import pytest

from autograd import (
    Value,
    activate,
    detect_anomaly,
    dots,
    dots_batch,
    gc_paused,
    no_grad,
    tape,
    topological_order,
    zero_grad,
)


def layer_graph(x: Value) -> tuple[Value, list[Value]]:
    """A two-layer network on two inputs made from x, with relu gates: (output, weights)."""
    w = [[Value(0.5), Value(-1.5)], [Value(2.0), Value(0.25)]]
    b = [Value(0.1), Value(-0.2)]
    hidden = activate(dots(w, [x, x * 2.0], b), "relu")
    v = [Value(1.5), Value(-0.5)]
    out = dots([v], hidden)[0] * 3.0
    return out, [*w[0], *w[1], *b, *v]


def reference_grads(x_data: float) -> list[float]:
    x = Value(x_data)
    out, weights = layer_graph(x)
    out.backward()
    return [x.grad] + [p.grad for p in weights]


def test_a_graph_made_in_the_block_runs_from_the_record() -> None:
    x = Value(1.25)
    with tape() as record:
        out, weights = layer_graph(x)
        assert repr(record) == "<autograd.Tape recording>"
        out.backward()
    assert record.used and repr(record) == "<autograd.Tape used>"
    assert [x.grad] + [p.grad for p in weights] == reference_grads(1.25)
    # worked by hand: h = relu(0.5x - 3x + 0.1, 2x + 0.5x - 0.2) = (0, 2.925) at x = 1.25,
    # out = 3 * (1.5 h0 - 0.5 h1); only h1 is on, so dout/dx = 3 * -0.5 * (2 + 0.5) = -3.75
    assert x.grad == pytest.approx(-3.75, abs=1e-15)


def test_an_inner_node_made_outside_the_block_makes_backward_search_the_graph() -> None:
    x = Value(1.25)
    outside = x * 1.0  # an inner node the record does not hold: its rule must still run
    with tape() as record:
        out, weights = layer_graph(outside)
        out.backward()
    assert not record.used
    assert [x.grad] + [p.grad for p in weights] == reference_grads(1.25)
    x.zero_grad()
    with tape() as record:
        square = outside * outside  # node by node, no layer in between
        square.backward()
    assert not record.used and x.grad == 2.5


def test_a_gradient_set_after_recording_makes_backward_search_the_graph() -> None:
    x = Value(1.25)
    with tape() as record:
        out, weights = layer_graph(x)
        out.parents[0].grad = 5.0  # a stale gradient the record would add in
        out.backward()
    assert not record.used
    assert [x.grad] + [p.grad for p in weights] == reference_grads(1.25)


def test_a_root_made_before_the_block_is_searched_and_leaves_the_record_alone() -> None:
    x = Value(2.0)
    before = x * x
    with tape() as record:
        before.backward()
        assert not record.used and repr(record) == "<autograd.Tape recording>"
        after = x * 3.0
        after.backward()
    assert record.used
    assert x.grad == 4.0 + 3.0


def test_one_pass_per_record_later_passes_search_and_later_nodes_are_not_recorded() -> None:
    x = Value(1.25)
    with tape() as record:
        out, weights = layer_graph(x)
        out.backward()
        assert record.used
        out.backward()  # searched: leaves accumulate, inner nodes hold this pass's gradients
        y = x * 2.0
        assert type(y.grad) is float  # made after the pass: an ordinary node
        y.backward()
    once = reference_grads(1.25)
    assert x.grad == pytest.approx(2 * once[0] + 2.0)
    assert [p.grad for p in weights] == pytest.approx([2 * g for g in once[1:]])


def backward_by(out: Value, x: Value, mode: str) -> None:
    """out.backward() with a hook on x, in anomaly mode, or with create_graph."""
    if mode == "hooks":
        with x.register_hook(lambda g: None):
            out.backward()
    elif mode == "anomaly mode":
        with detect_anomaly():
            out.backward()
    else:
        out.backward(create_graph=True)


@pytest.mark.parametrize("mode", ["hooks", "anomaly mode", "create_graph=True"])
def test_hooks_anomaly_mode_and_create_graph_take_the_general_path(mode: str) -> None:
    x = Value(1.25)
    with tape() as record:
        out, weights = layer_graph(x)
        backward_by(out, x, mode)
        assert record.searched_because == f"{mode} (the general path)" and not record.used
        later = x * 4.0
        assert type(later.grad) is float  # the record was let go: not recorded
    grads = [x.grad] + [p.grad for p in weights]
    assert [float(g) for g in grads] == pytest.approx(reference_grads(1.25), abs=1e-15)


def test_no_grad_anomaly_mode_and_nested_blocks_inside_a_tape() -> None:
    x = Value(1.25)
    with tape() as outer:
        with no_grad():
            constant = x * 2.0  # a leaf: no_grad records nothing
        with detect_anomaly():
            checked = x * 3.0  # made node by node, recorded node by node
        with tape() as inner:
            inner_node = x * 4.0
        out = constant * checked + inner_node  # inner_node is not on the outer record
        out.backward()
    assert not inner.used and not outer.used
    assert x.grad == pytest.approx(2.5 * 3.0 + 4.0)
    with tape() as outer:
        with no_grad():
            constant = x * 2.0
        out = constant * x * 3.0
        out.backward()
    assert outer.used


def test_a_copy_of_a_recorded_node_is_not_taken_for_it() -> None:
    # A copy has the parents and rule of its original but is not on the record; if the
    # tape took it for recorded, the copy's own rule would never run and x would get 0.
    for duplicate in (copy.copy, copy.deepcopy):
        x = Value(3.0)
        with tape() as record:
            twin = duplicate(x * x)
            out = twin * 2.0
            out.backward()
        assert not record.used
        if duplicate is copy.copy:
            assert x.grad == 12.0
        else:  # deepcopy copied x too: the twin's graph reaches the copy of x
            assert x.grad == 0.0
            leaf = next(v for v in topological_order(out) if v.is_leaf)
            assert leaf is not x and leaf.grad == 12.0


def test_a_tape_is_entered_once() -> None:
    record = tape()
    with record:
        pass
    with pytest.raises(RuntimeError, match="entered once"), record:
        pass


def test_an_error_in_the_block_closes_the_tape() -> None:
    x = Value(2.0)
    record = tape()

    def fails() -> None:
        with record:
            y = x * 3.0
            _ = y / 0.0

    with pytest.raises(ZeroDivisionError):
        fails()
    assert repr(record) == "<autograd.Tape closed>"
    z = x * 5.0
    z.backward()
    assert type(z.grad) is float and x.grad == 5.0


def test_nodes_made_in_another_thread_are_not_recorded() -> None:
    x = Value(2.0)
    result: list[float] = []

    def other() -> None:
        a = Value(3.0)
        y = a * a
        y.backward()
        result.append(a.grad)

    with tape() as record:
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        out = x * x
        out.backward()
    assert record.used and x.grad == 4.0 and result == [6.0]


def test_a_fused_layer_and_number_inputs_run_as_blocks() -> None:
    weights = [[Value(0.5), Value(-1.0)], [Value(1.5), Value(2.0)]]
    biases = [Value(0.25), Value(-4.0)]
    xss = [[1.0, 2.0], [-1.0, 0.5]]

    def build() -> Value:
        hidden = dots_batch(weights, xss, biases, activation="relu")
        return Value.sum([h * (i + 1.0) for i, h in enumerate(hidden[0] + hidden[1])])

    build().backward()
    expected = [p.grad for p in [*weights[0], *weights[1], *biases]]
    for p in [*weights[0], *weights[1], *biases]:
        p.zero_grad()
    with tape() as record:
        build().backward()
    assert record.used
    assert [p.grad for p in [*weights[0], *weights[1], *biases]] == pytest.approx(expected, abs=1e-15)


def test_the_record_is_freed_with_the_block() -> None:
    x = Value(1.25)
    with gc_paused():  # reference counting alone
        with tape() as record:
            out, _ = layer_graph(x)
            probes = [weakref.ref(v) for v in topological_order(out) if not v.is_leaf]
            out.backward()
        assert record.used
        del out
        assert all(p() is None for p in probes)
        with tape():
            out, _ = layer_graph(x)
            probes = [weakref.ref(v) for v in topological_order(out) if not v.is_leaf]
            del out  # never run backward: the block's end lets the record go
        assert all(p() is None for p in probes)


Build = Callable[[], tuple[Value, list[Value]]]


def searched_and_taped(build: Build) -> tuple[list[float], list[float], bool]:
    out, leaves = build()
    out.backward()
    searched = [v.grad for v in leaves]
    with tape() as record:
        out, leaves = build()
        out.backward()
    return searched, [v.grad for v in leaves], record.used


def test_lists_the_caller_changes_after_the_forward_pass_do_not_change_the_record() -> None:
    # dots, dots_batch and activate hand back lists of recorded nodes; the record keeps
    # tuples of its own, so replacing, reordering or appending to those lists is harmless.
    def replaced() -> tuple[Value, list[Value]]:
        w = [[Value(1.0), Value(2.0)], [Value(3.0), Value(4.0)]]
        h = dots(w, [1.0, 1.0])
        h[0] = h[0] * 10.0
        return Value.sum(h), [*w[0], *w[1]]

    def reordered() -> tuple[Value, list[Value]]:
        x = [Value(1.0), Value(-2.0), Value(3.0)]
        h = activate(x, "relu")
        h.reverse()
        h.append(h[0] * 3.0)
        return h[0] * 1.0 + h[1] * 2.0 + h[2] * 3.0 + h[3], x

    def biases_reused() -> tuple[Value, list[Value]]:
        w = [[Value(1.0), Value(2.0)], [Value(3.0), Value(4.0)]]
        b = [Value(0.0), Value(0.0)]
        first = b[0]
        h = dots_batch(w, [[1.0, 1.0], [2.0, -1.0]], b)
        b[0] = Value(0.0)
        return Value.sum([v * (i + 1.0) for row in h for i, v in enumerate(row)]), [*w[0], *w[1], first, b[1]]

    for build in (replaced, reordered, biases_reused):
        searched, taped, used = searched_and_taped(build)
        assert used and taped == searched, build.__name__


def test_a_fused_sigmoid_takes_the_rule_s_products() -> None:
    # u * (x * g'(S)), as the per-node rule has it: (u * g'(S)) * x underflows to 0 here.
    def build() -> tuple[Value, list[Value]]:
        w, x = Value(-1.0), Value(700.0)  # sigmoid(-700) is about 1e-304, and so is its slope
        return dots([[w]], [x], activation="sigmoid")[0] * 1e-20, [w, x]

    searched, taped, used = searched_and_taped(build)
    assert used and taped == searched and searched[0] > 0.0


def test_activate_reads_an_iterator_once() -> None:
    x = [Value(-1.0), Value(2.0)]
    assert [g.data for g in activate((v for v in x), "relu")] == [0.0, 2.0]
    assert activate(iter(x), "linear") == x


def test_a_copy_keeps_its_class_and_attributes_but_not_the_hooks() -> None:
    class Named(Value):
        __slots__ = ("name",)
        name: str

    v = Named(2.0)
    v.name = "v"
    calls: list[float] = []
    handle = v.register_hook(calls.append)
    twin = copy.copy(v)
    assert type(twin) is Named and twin.name == "v" and twin.data == 2.0 and twin.grad == 0.0
    (twin * 3.0).backward()
    assert calls == [] and twin.grad == 3.0 and v.grad == 0.0
    handle.remove()
    with tape() as record:
        (v * twin).backward()
    assert record.used and (v.grad, twin.grad) == (2.0, 5.0)


def test_the_tape_says_why_a_pass_searched_the_graph() -> None:
    x = Value(1.25)
    outside = x * 1.0
    with tape() as record:
        (outside * 2.0).backward()
    assert "inner node made outside the block" in str(record.searched_because)
    assert repr(record).startswith("<autograd.Tape searched: the graph reaches an inner node")
    with tape() as record:
        assert record.searched_because is None and repr(record) == "<autograd.Tape recording>"


def test_gradients_set_back_to_zero_do_not_stop_the_tape() -> None:
    x = Value(1.25)
    with tape() as record:
        out, weights = layer_graph(x)
        zero_grad([out, *topological_order(out)])  # every node, inner ones too
        out.backward()
    assert record.used
    assert [x.grad] + [p.grad for p in weights] == reference_grads(1.25)


def test_leaving_a_tape_twice_does_no_harm() -> None:
    record = tape()
    with record:
        pass
    record.__exit__(None, None, None)
    x = Value(2.0)
    with tape() as second:
        (x * x).backward()
    assert second.used and x.grad == 4.0


def test_a_layer_near_the_largest_float_runs_node_by_node() -> None:
    # Summed in another order, 1e308 + 1e308 - 1e308 overflows; node by node, in the
    # record's order, it does not, as in the search.
    def build() -> tuple[Value, list[Value]]:
        x = Value(1.0)
        h = dots([[Value(1e308)], [Value(1e308)], [Value(-1e308)]], [x])
        return h[0] * 1.0 + h[2] * 1.0 + h[1] * 1.0, [x]

    searched, taped, used = searched_and_taped(build)
    assert used and taped == searched == [1e308]


def test_a_deep_copy_has_no_hooks_and_takes_new_ones() -> None:
    v = Value(2.0)
    old_calls: list[float] = []
    with v.register_hook(old_calls.append):
        twin = copy.deepcopy(v)
    calls: list[float] = []
    with twin.register_hook(calls.append):
        (twin * 3.0).backward()
    assert calls == [3.0] and old_calls == []


def test_a_copy_keeps_private_slots() -> None:
    class Tagged(Value):
        __slots__ = ("__tag",)

        def tag(self) -> str:
            return self.__tag

        def set_tag(self, tag: str) -> None:
            self.__tag = tag

    v = Tagged(1.0)
    v.set_tag("t")
    assert copy.copy(v).tag() == "t" and copy.deepcopy(v).tag() == "t"


def test_an_untouched_gradient_pickles_as_a_plain_float() -> None:
    x = Value(2.0)
    with tape():
        y = x * 3.0
        assert type(pickle.loads(pickle.dumps(y.grad))) is float


def test_the_root_is_found_on_the_record_by_identity_whatever_its_gradient() -> None:
    class DataEqual(Value):
        __slots__ = ()

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Value) and self.data == other.data

        __hash__ = Value.__hash__

    w, x = Value(2.0), Value(3.0)
    with tape() as record:
        out = (w * x) * (w * x)
        twin = object.__new__(DataEqual)  # out's twin: equal to it, not on the record
        for name in ("data", "label", "_parents", "_op", "_local_grad"):
            setattr(twin, name, getattr(out, name))
        twin.grad = 0.0
        twin.backward()  # searched, not run from the record as if twin were out
        assert repr(record) == "<autograd.Tape recording>"
    assert (w.grad, x.grad) == (36.0, 24.0)
    w.zero_grad()
    x.zero_grad()
    with tape() as record:
        out = (w * x) * (w * x)
        out.zero_grad()  # a recorded root with its gradient set back to 0: still found
        out.backward()
    assert record.used and (w.grad, x.grad) == (36.0, 24.0)
    for setting in (0.0, 1.0):
        with tape() as record:
            out = (w * x) * 2.0
            out.grad = setting
            with w.register_hook(lambda g: None):
                out.backward()  # the general path uses the record up, whatever out's gradient
            assert record.searched_because == "hooks (the general path)"
    with tape() as record:
        out = (w * x) * 2.0
        out.grad = 1.0  # would be added in: searched
        out.backward()
    assert not record.used and "gradient set since" in str(record.searched_because)


def test_activate_takes_any_iterable_and_refuses_anything_else() -> None:
    class Old:
        def __init__(self, items: list[Value]) -> None:
            self.items = items

        def __len__(self) -> int:
            return len(self.items)

        def __getitem__(self, i: int) -> Value:
            return self.items[i]

    x = [Value(-1.0), Value(2.0)]
    assert [g.data for g in activate(Old(x), "relu")] == [0.0, 2.0]  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^activate expects an iterable of Values \(or numbers\), got int 3"):
        activate(3, "relu")  # type: ignore[arg-type]
