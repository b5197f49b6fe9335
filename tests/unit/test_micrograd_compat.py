"""A micrograd program gives the same numbers after changing its import."""

from __future__ import annotations

import pytest

import autograd

micrograd_engine = pytest.importorskip("micrograd.engine")


def sanity_program(Value):
    # micrograd's own sanity check, as its users write it.
    x = Value(-4.0)
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()
    return x, y


def more_ops_program(Value):
    a = Value(-4.0)
    b = Value(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    return a, b, g


@pytest.mark.parametrize("program", [sanity_program, more_ops_program])
def test_same_numbers_as_micrograd(program) -> None:
    ours = program(autograd.Value)
    theirs = program(micrograd_engine.Value)
    for mine, reference in zip(ours, theirs, strict=True):
        assert mine.data == pytest.approx(reference.data, rel=1e-12)
        assert mine.grad == pytest.approx(reference.grad, rel=1e-12)


def test_drawing_code_written_for_micrograd_runs() -> None:
    # micrograd's trace(): walks `_prev` and reads `_op`, `data`, `grad`.
    def trace(root):
        nodes, edges = set(), set()

        def build(v):
            if v not in nodes:
                nodes.add(v)
                for child in v._prev:
                    edges.add((child, v))
                    build(child)

        build(root)
        return nodes, edges

    a, b = autograd.Value(2.0), autograd.Value(3.0)
    out = (a * b + a).relu()
    nodes, edges = trace(out)
    assert len(nodes) == 5 and len(edges) == 5
    assert {n._op for n in nodes} == {"", "*", "+", "relu"}
