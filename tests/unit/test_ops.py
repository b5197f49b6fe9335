"""Each op's value and local gradients, computed by hand."""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import pytest

from autograd import (
    AnomalyError,
    Value,
    activate,
    detect_anomaly,
    dot,
    dots,
    dots_batch,
    engine,
    no_grad,
    topological_order,
)


def grads_of(f, *xs: float) -> tuple[float, list[float]]:
    leaves = [Value(x) for x in xs]
    out = f(*leaves)
    out.backward()
    return out.data, [leaf.grad for leaf in leaves]


@pytest.mark.parametrize(
    ("f", "xs", "value", "grads"),
    [
        (lambda a, b: a + b, (2.0, 5.0), 7.0, [1.0, 1.0]),
        (lambda a, b: a - b, (2.0, 5.0), -3.0, [1.0, -1.0]),
        (lambda a, b: a * b, (2.0, 5.0), 10.0, [5.0, 2.0]),
        (lambda a, b: a / b, (2.0, 5.0), 0.4, [0.2, -0.08]),
        (lambda a: -a, (2.0,), -2.0, [-1.0]),
        (lambda a: a**3, (2.0,), 8.0, [12.0]),
        (lambda a: a**-1, (4.0,), 0.25, [-1 / 16]),
        (lambda a: a**0.5, (4.0,), 2.0, [0.25]),
        (lambda a, b: a**b, (2.0, 3.0), 8.0, [12.0, 8.0 * math.log(2.0)]),
        (lambda a: 2**a, (3.0,), 8.0, [8.0 * math.log(2.0)]),
        (lambda a: 1 + a, (2.0,), 3.0, [1.0]),
        (lambda a: 1 - a, (2.0,), -1.0, [-1.0]),
        (lambda a: 3 * a, (2.0,), 6.0, [3.0]),
        (lambda a: 1 / a, (2.0,), 0.5, [-0.25]),
        (lambda a: a.exp(), (1.0,), math.e, [math.e]),
        (lambda a: a.expm1(), (1.0,), math.e - 1, [math.e]),
        (lambda a: a.log(), (2.0,), math.log(2.0), [0.5]),
        (lambda a: a.log1p(), (1.0,), math.log(2.0), [0.5]),
        (lambda a: a.sqrt(), (9.0,), 3.0, [1 / 6]),
        (lambda a: a.sin(), (0.5,), math.sin(0.5), [math.cos(0.5)]),
        (lambda a: a.cos(), (0.5,), math.cos(0.5), [-math.sin(0.5)]),
        (lambda a: a.tan(), (0.5,), math.tan(0.5), [1 + math.tan(0.5) ** 2]),
        (lambda a: a.tanh(), (0.5,), math.tanh(0.5), [1 - math.tanh(0.5) ** 2]),
        (lambda a: a.sigmoid(), (0.0,), 0.5, [0.25]),
        (lambda a: a.relu(), (2.0,), 2.0, [1.0]),
        (lambda a: a.relu(), (-2.0,), 0.0, [0.0]),
        (lambda a: a.relu(), (0.0,), 0.0, [0.0]),  # the course notes' convention at the kink
        (lambda a: abs(a), (-2.0,), 2.0, [-1.0]),
        (lambda a: abs(a), (0.0,), 0.0, [0.0]),
        (lambda a, b: Value.sum([a, b, a, 4]), (1.0, 2.0), 8.0, [2.0, 1.0]),
        (lambda a, b: sum([a, b, a]), (1.0, 2.0), 4.0, [2.0, 1.0]),
        (lambda a, b: dot([a, b], [3.0, 4.0]), (1.0, 2.0), 11.0, [3.0, 4.0]),
        (lambda a, b: dot([a, b], [3.0, 4.0], 0.5), (1.0, 2.0), 11.5, [3.0, 4.0]),
        (lambda a, b, c: dot([a, b], [c, c], a), (1.0, 2.0, 3.0), 10.0, [4.0, 3.0, 3.0]),
    ],
)
def test_value_and_gradients(f, xs, value, grads) -> None:
    got_value, got_grads = grads_of(f, *xs)
    assert got_value == pytest.approx(value, rel=1e-12)
    assert got_grads == pytest.approx(grads, rel=1e-12)


def test_sigmoid_is_stable_at_extremes() -> None:
    assert Value(-800.0).sigmoid().data == 0.0
    assert Value(800.0).sigmoid().data == 1.0
    x = Value(-30.0)
    y = x.sigmoid()
    y.backward()
    assert x.grad == pytest.approx(y.data * (1 - y.data), rel=1e-12)


def test_op_names_and_parents() -> None:
    a, b = Value(1.0, "a"), Value(2.0, "b")
    assert (a + b).op == "+"
    assert (a * b).parents == (a, b)
    assert (a**2).op == "**2"
    assert a.relu().op == "relu"
    assert a.is_leaf and not (a + b).is_leaf
    assert a.op == "" and a.parents == ()


@pytest.mark.parametrize(
    ("make", "operands", "data", "local"),
    [
        (lambda x: x + 2, lambda x: (x, 2.0), 5.0, 1.0),
        (lambda x: 2 + x, lambda x: (2.0, x), 5.0, 1.0),
        (lambda x: x - 2.0, lambda x: (x, 2.0), 1.0, 1.0),
        (lambda x: 2.0 - x, lambda x: (2.0, x), -1.0, -1.0),
        (lambda x: x * 2.0, lambda x: (x, 2.0), 6.0, 2.0),
        (lambda x: 2.0 * x, lambda x: (2.0, x), 6.0, 2.0),
        (lambda x: x / 2.0, lambda x: (x, 2.0), 1.5, 0.5),
        (lambda x: 2.0 / x, lambda x: (2.0, x), 2.0 / 3.0, -2.0 / 9.0),
    ],
)
def test_a_number_is_folded_into_its_op(make: Any, operands: Any, data: float, local: float) -> None:
    x = Value(3.0)
    y = make(x)
    assert y.parents == (x,) and y.operands == operands(x)
    assert y.data == data and y.local_grads() == pytest.approx((local,), rel=1e-15)
    y.backward()
    assert x.grad == pytest.approx(local, rel=1e-15)


def test_folded_numbers_of_every_kind() -> None:
    x = Value(3.0)
    assert (x * Fraction(1, 2)).operands == (x, 0.5)  # type: ignore[operator]  # any Real works
    assert (x + True).operands == (x, 1.0)
    for c in (0.0, -0.0, math.inf, math.nan):  # 0.0 and -0.0 share a dict key, nan is none: not kept
        (local,) = (x * c).local_grads()  # d(x*c)/dx = c, sign of zero included
        assert (x * c).operands[1] is c
        assert (
            math.isnan(local)
            if math.isnan(c)
            else (local, math.copysign(1.0, local)) == (c, math.copysign(1.0, c))
        )
    # the number is a parameter of the node, never a leaf, and the op is *'s own record with it
    assert (x * 2.0).operation is engine.MUL_NUMBER and (x * 2.0).params == (2.0,)
    assert (2.0 - x).operation is engine.NUMBER_SUB and (2.0 - x).operands == (2.0, x)
    with pytest.raises(TypeError):
        x * "2"  # type: ignore[operator]
    with pytest.raises(ZeroDivisionError, match=r"division by zero: 2\.0 / 0\.0 \(op '/'\)"):
        2.0 / Value(0.0)
    with pytest.raises(ZeroDivisionError, match=r"division by zero: 3\.0 / 0\.0 \(op '/'\)"):
        x / 0


def test_folded_numbers_serve_second_derivatives() -> None:
    x = Value(2.0)
    y = 3.0 / x  # dy/dx = -3/x^2, d2y/dx2 = 6/x^3
    y.backward(create_graph=True)
    gx = x.grad
    x.zero_grad()
    gx.backward()
    assert gx.data == pytest.approx(-0.75, rel=1e-15) and x.grad == pytest.approx(0.75, rel=1e-15)


def test_local_grads_are_the_gates_own_derivatives() -> None:
    x, m = Value(100.0), Value(2.0)
    z = x * m
    assert z.local_grads() == (2.0, 100.0)  # a multiply gate swaps its inputs
    assert (x + m).local_grads() == (1.0, 1.0)  # an add gate passes gradients through
    assert x.local_grads() == ()


def test_conversions_and_comparisons() -> None:
    assert Value(True).data == 1.0 and isinstance(Value(3).data, float)
    a, b = Value(1.0), Value(2.0)
    assert a < b and b > a and a <= 1 and b >= 2.0
    assert float(b) == 2.0
    assert sorted([b, a]) == [a, b]


def test_equality_and_hash_are_by_identity() -> None:
    a, b = Value(1.0), Value(1.0)
    assert a != b
    assert a == a  # identity is the point
    assert len({a, b}) == 2
    assert {a: "a"}[a] == "a"


def test_repr_shows_data_grad_and_label() -> None:
    assert repr(Value(2.0)) == "Value(data=2.0, grad=0.0)"
    assert repr(Value(2.0, "x")) == "Value(data=2.0, grad=0.0, label='x')"


def test_pos_is_identity() -> None:
    a = Value(1.0)
    assert +a is a


def _same_node(a: Value, b: Value) -> bool:
    return (a.data, a.op, a.parents, a.local_grads()) == (b.data, b.op, b.parents, b.local_grads())


@pytest.mark.parametrize("inputs", ["values", "numbers", "mixed"])
def test_dots_makes_the_nodes_dot_makes(inputs: str) -> None:
    xs: list[Any] = [Value(0.3), Value(-1.7), Value(2.5)]
    if inputs == "numbers":
        xs = [0.3, -1.7, 2]
    elif inputs == "mixed":
        xs = [Value(0.3), -1.7, 2.5]
    rows = [[Value(0.1 * (i + j) - 0.4) for j in range(3)] for i in range(4)]
    biases: list[Any] = [Value(0.5), None, Value(-0.25), 1.0]  # a number bias becomes a constant leaf
    got = dots(rows, xs, biases)
    expected = [dot(ws, xs, b) for ws, b in zip(rows, biases, strict=True)]
    for a, b in zip(got, expected, strict=True):
        if inputs == "mixed" or b is expected[3]:  # numbers were lifted to fresh leaves: compare values
            assert (a.data, a.op, len(a.parents), a.local_grads()) == (
                b.data,
                b.op,
                len(b.parents),
                b.local_grads(),
            )
        else:
            assert _same_node(a, b)
    no_bias = dots(rows, xs)
    assert [v.data for v in no_bias] == [dot(ws, xs).data for ws in rows]


@pytest.mark.parametrize("inputs", ["values", "numbers"])
def test_dots_of_a_layer_of_values_makes_the_nodes_dot_makes(inputs: str) -> None:
    # Every weight and bias a Value: the layer is multiplied out in one pass, same nodes as dot.
    xs: list[Any] = [Value(0.3), Value(-1.7), Value(2.5)] if inputs == "values" else [0.3, -1.7, 2]
    rows = [[Value(0.1 * (i + j) - 0.4) for j in range(3)] for i in range(4)]
    biases = [Value(0.5), Value(1e16), Value(-0.25), Value(-1e16)]  # exactly rounded sums, like dot's
    got = dots(rows, xs, biases)
    expected = [dot(ws, xs, b) for ws, b in zip(rows, biases, strict=True)]
    if inputs == "values":
        assert all(_same_node(a, b) for a, b in zip(got, expected, strict=True))
    else:  # each dot has its own constants; the layer shares one tuple of them
        assert [(a.data, a.op, a.parents, a.local_grads()) for a in got] == [
            (b.data, b.op, b.parents, b.local_grads()) for b in expected
        ]
    with no_grad():
        assert [(v.data, v.is_leaf) for v in dots(rows, xs, biases)] == [(v.data, True) for v in expected]
    with detect_anomaly(), pytest.raises(AnomalyError, match="dot"):
        dots([[Value(0.0), Value(0.0), Value(1e308)]], xs, [Value(0.0)])  # 2.5e308 overflows


def test_sums_without_an_exact_value_give_what_adding_gives() -> None:
    # fsum raises where no exact sum exists; the ops give inf or nan, as + does.
    big = [Value(1e308), Value(1e308)]
    assert dot(big, [Value(1.0), Value(1.0)]).data == math.inf
    assert Value.sum(big).data == math.inf
    assert math.isnan(dot([Value(math.inf)], [1.0], -math.inf).data)
    layer = dots([big, [Value(1.0), Value(2.0)]], [Value(1.0), Value(1.0)], [Value(0.0), Value(0.5)])
    assert [v.data for v in layer] == [math.inf, 3.5]
    with detect_anomaly(), pytest.raises(AnomalyError, match=r"op 'dot' produced inf"):
        dots([big], [1.0, 1.0], [Value(0.0)])


def test_dots_checks_like_dot() -> None:
    xs = [Value(1.0), Value(2.0)]
    with pytest.raises(ValueError, match=r"dot of 3 weights with 2 inputs \(op 'dot'\)"):
        dots([[Value(1.0), Value(2.0)], [Value(1.0)] * 3], xs, [Value(0.0), Value(0.0)])
    with pytest.raises(ValueError, match=r"dots of 1 rows of weights with 2 biases"):
        dots([[Value(1.0), Value(2.0)]], xs, [Value(0.0), Value(0.0)])
    with pytest.raises(TypeError, match="str"):
        dots([[Value(1.0), "w"]], xs, [Value(0.0)])  # type: ignore[list-item]
    out = dots([[Value(1.0), Value(2.0)]], xs, [Value(0.5)])[0]
    out.backward()
    assert [x.grad for x in xs] == [1.0, 2.0]


@pytest.mark.parametrize("bias", [True, False])
def test_dots_batch_makes_the_nodes_dots_makes_for_each_input_vector(bias: bool) -> None:
    rows = [[Value(0.1 * (i + j) - 0.4) for j in range(3)] for i in range(3)] + [
        [Value(2.0), Value(2.0), Value(0.5)]
    ]
    biases: list[Any] | None = [Value(0.5), Value(1e16), Value(-0.25), Value(-1e16)] if bias else None
    h = [Value(0.3), Value(-1.7), Value(2.5)]
    batch: list[list[Any]] = [
        h,
        [0.3, -1.7, 2],  # constants
        [h[2], h[0], h[2]],  # the same Values again, one of them twice
        [Value(0.3), -1.7, 2.5],  # mixed: the numbers are lifted, as dot lifts them
        [Value(1e308), Value(1e308), Value(1.0)],  # the last row has no finite sum: inf, as dot gives
        [True, 0, 2.0],  # a bool is no float: dot lifts it (and the rest) to leaves
    ]
    got = dots_batch(rows, batch, biases)
    assert len(got) == len(batch)
    for xs, layer in zip(batch, got, strict=True):
        expected = [dot(ws, xs, b) for ws, b in zip(rows, biases or [None] * 4, strict=True)]
        if (
            xs is batch[3] or xs is batch[5]
        ):  # fresh leaves on both sides: compare everything but their identity
            assert [(a.data, a.op, len(a.parents), a.local_grads()) for a in layer] == [
                (b.data, b.op, len(b.parents), b.local_grads()) for b in expected
            ]
        else:
            assert [(a.data, a.op, a.parents, a.local_grads()) for a in layer] == [
                (b.data, b.op, b.parents, b.local_grads()) for b in expected
            ]
    assert got[4][3].data == math.inf
    assert {v.label for layer in got for v in layer} == {""}
    # The layer's rows over the same constants share one tuple of them: the batch path made them.
    assert {v.operation for v in got[1]} == {engine.DOT_NUMBERS} and len({id(v.params) for v in got[1]}) == 1
    assert got[0] != dots(rows, h, biases)  # new nodes every call, equal to dots' own
    assert [v.data for v in got[0]] == [v.data for v in dots(rows, h, biases)]
    # The gradients through the batch are those through one dot at a time.
    leaves = [*h, *(w for ws in rows for w in ws), *(biases or [])]
    Value.sum([v for layer in got[:3] for v in layer]).backward()
    through_batch = [p.grad for p in leaves]
    for p in leaves:
        p.grad = 0.0
    by_dot = [dot(ws, xs, b) for xs in batch[:3] for ws, b in zip(rows, biases or [None] * 4, strict=True)]
    Value.sum(by_dot).backward()
    assert [p.grad for p in leaves] == through_batch


def test_dots_batch_checks_every_input_vector() -> None:
    rows = [[Value(1.0), Value(2.0)]]
    with pytest.raises(ValueError, match=r"dot of 2 weights with 3 inputs \(op 'dot'\)"):
        dots_batch(rows, [[1.0, 2.0], [1.0, 2.0, 3.0]], [Value(0.0)])
    one: Any = 1.0
    two: Any = 2.0
    three: Any = 3.0
    five: Any = 5
    leaf: Any = Value(1.0)  # none of them a sequence
    not_sequences: list[tuple[Callable[[], object], str]] = [
        (lambda: dots_batch(rows, [[1.0, 2.0], three]), "dot: each input vector must be a sequence, got 3.0"),
        (lambda: dot([Value(1.0)], two), "dot: each input vector must be a sequence, got 2.0"),
        (lambda: dot(one, [2.0]), "dot: each weight vector must be a sequence, got 1.0"),
        (lambda: dots_batch([[Value(2.0)], leaf], [[1.0]]), r"weight vector .*, got Value\(data=1.0"),
        (lambda: dots([], three), "dot: each input vector must be a sequence, got 3.0"),
        (lambda: dots_batch(rows, three), "dots_batch: the input vectors must be a sequence, got 3.0"),
        (lambda: dots(five, [1.0]), "dots: the rows of weights must be a sequence, got 5"),
        (lambda: dots(rows, [1.0, 2.0], leaf), r"dots: the biases must be a sequence, got Value\("),
    ]
    for call, message in not_sequences:
        with pytest.raises(TypeError, match=message + r".* \(op 'dot'\)"):
            call()
    with pytest.raises(TypeError, match="str"):
        dots_batch(rows, [[1.0, 2.0], [1.0, "x"]])  # type: ignore[list-item]
    assert dots_batch(rows, []) == []
    assert dots_batch([], [[1.0], [2.0]]) == [[], []]
    h = Value(2.0)
    with no_grad():
        layers = dots_batch(rows, [[1.0, 1.0], [h, h]])
    assert [[(v.data, v.is_leaf) for v in layer] for layer in layers] == [[(3.0, True)], [(6.0, True)]]
    with detect_anomaly(), pytest.raises(AnomalyError, match=r"op 'dot' produced inf"):
        dots_batch(rows, [[1.0, 1.0], [1e308, 1e308]], [Value(0.0)])


GATES = ["relu", "tanh", "sigmoid"]


@pytest.mark.parametrize("activation", GATES)
@pytest.mark.parametrize("bias", [0.25, -5.0, None])
def test_dot_with_an_activation_is_one_node_the_gate_on_the_sum(activation: str, bias: float | None) -> None:
    ws, xs = [Value(0.4), Value(-1.3)], [Value(0.7), Value(0.2)]
    b = None if bias is None else Value(bias)
    fused = dot(ws, xs, b, activation=activation)
    gate = getattr(dot(ws, xs, b), activation)()
    assert fused.op == f"dot+{activation}"
    assert fused.parents == (*ws, *xs) + (() if b is None else (b,))
    assert fused.data == gate.data  # the same exact sum, then the same gate
    leaves = [*ws, *xs] + ([] if b is None else [b])
    gate.backward()
    by_gate = [v.grad for v in leaves]
    for v in leaves:
        v.grad = 0.0
    fused.backward()
    if activation == "relu":  # a slope of 1 or 0: not even rounding differs
        assert [v.grad for v in leaves] == by_gate
    else:
        assert [v.grad for v in leaves] == pytest.approx(by_gate, rel=1e-15)


def _same_floats(a: list[float], b: list[float]) -> bool:
    return all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("activation", GATES)
@pytest.mark.parametrize("case", ["on", "off", "off, infinite upstream", "infinite input", "two parents"])
def test_a_fused_dot_backward_matches_the_general_path_bit_for_bit(activation: str, case: str) -> None:
    ws, xs, b = [Value(0.4), Value(-1.3), Value(0.9)], [Value(0.7), Value(0.2), Value(-0.6)], Value(0.1)
    if case.startswith("off"):
        b.data = -10.0
    if case == "infinite input":
        xs[0].data, b.data = math.inf, -math.inf  # the sum is nan: relu is off, tanh and sigmoid nan
    seed = math.inf if case == "off, infinite upstream" else 1.7
    leaves = [*ws, *xs, b]
    passes = []
    for general in (False, True):
        for v in leaves:
            v.grad = 0.0
        if case == "two parents":
            out = dot(ws[:1], xs[:1], activation=activation) + dot([], [], b, activation=activation)
        else:
            out = dot(ws, xs, b, activation=activation) + dot(
                ws, [xs[1], xs[0], ws[0]], activation=activation
            )
        if general:
            watched = Value(0.0)  # a live hook anywhere sends backward down the general path
            with watched.register_hook(lambda g: None):
                out.backward(seed)
        else:
            out.backward(seed)
        passes.append([v.grad for v in leaves])
    assert _same_floats(passes[0], passes[1])
    if case == "off, infinite upstream" and activation == "relu":
        assert all(math.isnan(g) for g in passes[0][:3])  # inf times the zeros, as the unfused relu gives


def test_a_fused_relu_that_is_off_passes_on_what_the_unfused_one_does() -> None:
    ws, xs, b = [Value(0.4)], [Value(math.inf)], Value(-math.inf)  # the sum is nan, relu is off
    grads = []
    for fused in (False, True):
        for v in (*ws, *xs, b):
            v.grad = 0.0
        out = dot(ws, xs, b, activation="relu") if fused else dot(ws, xs, b).relu()
        out.backward()
        grads.append([v.grad for v in (*ws, *xs, b)])
    assert grads[0] == grads[1] == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("activation", GATES)
def test_a_fused_dot_lifts_numbers_among_its_inputs_to_leaves(activation: str) -> None:
    ws, b = [Value(0.4), Value(-1.3)], Value(0.5)
    out = dot(ws, [0.7, -2], b, activation=activation)
    constants = out.parents[2:4]
    assert [(c.data, c.is_leaf) for c in constants] == [(0.7, True), (-2.0, True)]
    assert out.data == dot(ws, [0.7, -2], b, activation=activation).data
    assert set(topological_order(out)) == {out, *ws, *constants, b}
    out.backward()
    assert constants[0].grad != 0.0  # an input gets its gradient, as through a primitive


@pytest.mark.parametrize("activation", GATES)
def test_dots_batch_with_an_activation_makes_the_nodes_dot_makes(activation: str) -> None:
    rows = [[Value(0.1 * (i + j) - 0.4) for j in range(3)] for i in range(4)]
    biases = [Value(0.5), Value(1e16), Value(-0.25), Value(-1e16)]
    h = [Value(0.3), Value(-1.7), Value(2.5)]
    batch: list[list[Any]] = [h, [h[2], h[0], h[2]], [0.3, -1.7, 2], [Value(1e308), Value(1e308), Value(1.0)]]
    got = dots_batch(rows, batch, biases, activation=activation)
    for xs, layer in zip(batch[:2], got[:2], strict=True):
        expected = [dot(ws, xs, b, activation=activation) for ws, b in zip(rows, biases, strict=True)]
        assert [(a.data, a.op, a.parents, a.local_grads()) for a in layer] == [
            (e.data, e.op, e.parents, e.local_grads()) for e in expected
        ]
    numbers = [dot(ws, batch[2], b, activation=activation) for ws, b in zip(rows, biases, strict=True)]
    assert [(a.data, a.op, len(a.parents)) for a in got[2]] == [
        (e.data, e.op, len(e.parents)) for e in numbers
    ]
    assert [x.data for x in got[2][0].parents[3:6]] == [0.3, -1.7, 2.0]
    # lifted once for the vector: every row has the same leaves, so their gradient is the input's
    assert all(v.parents[3:6] == got[2][0].parents[3:6] for v in got[2])
    mixed = dots_batch(rows, [[Value(0.3), -1.7, 2]], biases, activation=activation)[0]  # dot, row by row
    assert all(v.parents[3:6] == mixed[0].parents[3:6] for v in mixed)
    assert [a.data for a in got[3]] == [
        dot(ws, batch[3], b, activation=activation).data for ws, b in zip(rows, biases, strict=True)
    ]
    assert dots(rows, h, biases, activation=activation)[1].data == got[0][1].data
    assert [v.op for v in dots_batch(rows, batch, biases, activation="linear")[0]] == ["dot"] * 4
    with no_grad():
        assert all(v.is_leaf for v in dots_batch(rows, [h], biases, activation=activation)[0])


def test_an_unknown_activation_is_refused_with_the_choices() -> None:
    ws, xs = [Value(1.0)], [Value(2.0)]
    for name, call in (
        ("dot", lambda: dot(ws, xs, activation="softplus")),
        ("dots", lambda: dots([ws], xs, activation="softplus")),
        ("dots_batch", lambda: dots_batch([ws], [xs], activation="softplus")),
    ):
        with pytest.raises(
            ValueError, match=rf"^{name}: unknown activation 'softplus' \(choose from linear, relu"
        ):
            call()
    with pytest.raises(ValueError, match="unknown activation 1"):
        dot(ws, xs, activation=1)  # type: ignore[arg-type]


@pytest.mark.parametrize("activation", GATES)
def test_anomaly_mode_checks_a_fused_dot_s_weighted_sum(activation: str) -> None:
    # tanh(inf) is 1 and relu(nan) is 0: the gate would hide what the unfused dot reports.
    big = [Value(1e308), Value(1e308)]
    calls: list[Callable[[], object]] = [
        lambda: dot(big, [2.0, 1.0], activation=activation),
        lambda: dots_batch([big], [[2.0, 1.0]], [Value(0.0)], activation=activation),
        lambda: dots_batch([[Value(math.inf)]], [[Value(1.0)]], [Value(-math.inf)], activation=activation),
    ]
    for call in calls:
        with detect_anomaly(), pytest.raises(AnomalyError, match=rf"op 'dot\+{activation} \(weighted sum\)'"):
            call()
    with detect_anomaly():
        assert dot([Value(1.0)], [2.0], activation=activation).op == f"dot+{activation}"


# ---- activate: a gate on each Value -------------------------------------------------


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_activate_makes_the_nodes_the_value_methods_make(activation: str) -> None:
    values = [Value(x) for x in (-2.0, -0.0, 0.0, 0.5, 3.0)]
    gates = activate(values, activation)
    expected = [getattr(v, activation)() for v in values]
    for gate, same, v in zip(gates, expected, values, strict=True):
        assert (gate.data, gate.op, gate.parents, gate.label) == (same.data, same.op, (v,), "")
        assert gate.local_grads() == same.local_grads()
    Value.sum(gates).backward()
    assert [v.grad for v in values] == [g.local_grads()[0] for g in gates]


def test_activate_lifts_numbers_gives_linear_back_and_refuses_the_unknown() -> None:
    x = Value(-1.0)
    gates = activate([x, 2, 0.5], "relu")
    assert [g.data for g in gates] == [0.0, 2.0, 0.5] and gates[0].parents == (x,)
    assert all(g.parents[0].is_leaf for g in gates[1:])
    assert activate((x,), "linear") == [x] and activate([x], None) == [x]  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^activate: unknown activation 'swish' \(choose from linear, relu"):
        activate([x], "swish")
    with pytest.raises(TypeError, match=r"^activate expects Values or numbers, got str 'a'$"):
        activate([x, "a"], "relu")  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"got list \[Value.*\]; flatten a batch of rows into one list first"):
        activate([[x]], "relu")  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"^activate expects an iterable of Values \(or numbers\), got Value"):
        activate(x, "relu")  # type: ignore[arg-type]


def test_activate_under_no_grad_and_anomaly_mode() -> None:
    x = Value(0.5)
    with no_grad():
        assert activate([x], "tanh")[0].is_leaf
    with detect_anomaly():
        assert activate([x], "tanh")[0].parents == (x,)
