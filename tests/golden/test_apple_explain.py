"""Worked example 1 (apple price): explain()'s table equals the worked example's table."""

from __future__ import annotations

import re

import pytest

from autograd import explain
from autograd.apple import apple_price

REL = 1e-9

# worked-examples.md, section 1: quantity, value, how (upstream gradient x local gradient)
WORKED_TABLE: list[tuple[str, float, tuple[str, str]]] = [
    ("dL/df", 1.0, ("L", "")),
    ("dL/dt", 200.0, ("f", "z")),
    ("dL/dz", 1.1, ("f", "t")),
    ("dL/dx", 2.2, ("z", "m")),
    ("dL/dm", 110.0, ("z", "x")),
]


def test_forward_values() -> None:
    graph = apple_price()
    assert graph.z.data == 200.0
    assert graph.f.data == 220.00000000000003
    assert graph.L.data == pytest.approx(0.5, rel=REL)


def test_gradients_of_the_table() -> None:
    table = explain(apple_price().L)
    lines = dict(table.gradient_lines())
    for quantity, value, _ in WORKED_TABLE:
        assert lines[quantity] == pytest.approx(value, rel=REL), quantity


def test_each_gradient_is_upstream_times_local_at_the_gate_the_table_names() -> None:
    graph = apple_price()
    table = explain(graph.L)
    by_output = {step.name: step for step in table.steps}
    # dL/dt = dL/df * z and dL/dz = dL/df * t: the second multiply gate, upstream dL/df = 1
    gate_f = by_output["f"]
    assert gate_f.op == "*"
    assert gate_f.upstream == pytest.approx(1.0, rel=REL)
    locals_f = {c.name: c.local for c in gate_f.contributions}
    assert locals_f == {"z": pytest.approx(1.1, rel=REL), "t": pytest.approx(200.0, rel=REL)}
    # dL/dx = dL/dz * m and dL/dm = dL/dz * x: the first multiply gate, upstream dL/dz = 1.1
    gate_z = by_output["z"]
    assert gate_z.upstream == pytest.approx(1.1, rel=REL)
    contributions = {c.name: [c.local, c.contribution] for c in gate_z.contributions}
    assert contributions["x"] == pytest.approx([2.0, 2.2], rel=REL)
    assert contributions["m"] == pytest.approx([100.0, 110.0], rel=REL)
    for quantity, value, (gate, other) in WORKED_TABLE[1:]:
        step = by_output[gate]
        wanted = quantity.removeprefix("dL/d")
        (c,) = [c for c in step.contributions if c.name == wanted]
        assert c.local == getattr(graph, other).data  # a multiply gate's local gradient: the other input
        assert c.contribution == pytest.approx(value, rel=REL)
    # the second gate runs before the first: backward goes from the loss to the inputs
    assert gate_f.number < gate_z.number


def test_the_text_table_prints_the_worked_numbers() -> None:
    text = str(explain(apple_price().L))
    for quantity, value, _ in WORKED_TABLE:
        assert re.search(rf"^  {re.escape(quantity)} +  = {value:g}$", text, re.M), quantity
    assert re.search(r"^ +4  \*     f  +1  z  +1\.1  +1\.1$", text, re.M)
    assert re.search(r"^ +t  +200  +200$", text, re.M)
    assert re.search(r"^ +5  \*     z  +1\.1  x  +2  +2\.2$", text, re.M)
    assert re.search(r"^ +m  +100  +110$", text, re.M)


def test_the_gradients_of_f_itself() -> None:
    graph = apple_price()
    table = explain(graph.f)
    assert table.gradient(graph.x) == pytest.approx(2.2, rel=REL)
    assert table.gradient(graph.m) == pytest.approx(110.0, rel=REL)
    assert table.gradient(graph.t) == pytest.approx(200.0, rel=REL)


def test_the_engine_agrees() -> None:
    graph = apple_price()
    table = explain(graph.L)
    for v in (graph.f, graph.t, graph.z, graph.x, graph.m):
        assert table.gradient(v) == v.grad
