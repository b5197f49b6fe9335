"""explain(): the backward pass gate by gate, checked against backward() itself."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd import Value, dot, explain, zero_grad
from autograd.apple import apple_price
from autograd.engine import topological_order
from autograd.explainer import MAX_PICTURES, BackwardTable

# Ops that are defined and smooth enough everywhere for random graphs.
UNARY = [
    lambda a: a.tanh(),
    lambda a: a.sigmoid(),
    lambda a: a.sin(),
    lambda a: -a,
    lambda a: a**2,
    lambda a: a.relu(),
    lambda a: a * 0.5,
]
BINARY = [
    lambda a, b: a + b,
    lambda a, b: a - b,
    lambda a, b: a * b,
    lambda a, b: dot([a, b], [b, 2.0]),
    lambda a, b: Value.sum([a, b, a]),
]


@st.composite
def random_graphs(draw: st.DrawFn) -> Value:
    """A random graph over a few leaves, where Values are reused by several gates."""
    leaves = [
        Value(draw(st.floats(-2.0, 2.0, allow_nan=False)), label=f"x{i}")
        for i in range(draw(st.integers(1, 4)))
    ]
    pool = list(leaves)
    for _ in range(draw(st.integers(1, 12))):
        if draw(st.booleans()):
            op = draw(st.sampled_from(UNARY))
            pool.append(op(draw(st.sampled_from(pool))))
        else:
            op = draw(st.sampled_from(BINARY))
            pool.append(op(draw(st.sampled_from(pool)), draw(st.sampled_from(pool))))
    return pool[-1]


@given(random_graphs())
def test_explain_gives_exactly_the_gradients_of_backward(root: Value) -> None:
    table = explain(root)
    zero_grad(topological_order(root))
    root.backward()
    for v in topological_order(root):
        assert table.gradient(v) == v.grad or (math.isnan(v.grad) and math.isnan(table.gradient(v)))


@given(random_graphs())
def test_every_gate_gets_its_final_upstream_gradient(root: Value) -> None:
    table = explain(root)
    for step in table.steps:
        # all consumers of a gate's output ran before it: its upstream gradient is complete
        assert step.upstream == table.gradient(step.output)
        for c in step.contributions:
            assert c.contribution == step.upstream * c.local
    assert [s.number for s in table.steps] == list(range(1, len(table.steps) + 1))
    assert len(table.steps) == sum(1 for v in topological_order(root) if v.parents)


def test_explain_leaves_grad_alone() -> None:
    graph = apple_price()
    before = [v.grad for v in graph]
    explain(graph.L)
    explain(graph.f, gradient=3.0)
    assert [v.grad for v in graph] == before


def test_a_seed_gradient_scales_everything() -> None:
    graph = apple_price()
    table = explain(graph.f, gradient=2.0)
    assert table.gradient(graph.x) == pytest.approx(2 * 2.2, rel=1e-12)
    assert table.seed == 2.0
    assert "(df/df = 2)" in str(table)


def test_values_used_twice_sum_their_contributions() -> None:
    x = Value(3.0, label="x")
    y = x * x + x
    y.label = "y"
    table = explain(y)
    assert table.gradient(x) == 7.0
    reached_x = [c.contribution for s in table.steps for c in s.contributions if c.input is x]
    assert sorted(reached_x) == [1.0, 3.0, 3.0]
    assert re.search(r"^  dy/dx +  = 7$", str(table), re.M)
    assert repr(table) == "BackwardTable(root=y, 2 steps)"


def test_text_table_layout() -> None:
    graph = apple_price()
    text = explain(graph.L).text()
    lines = text.splitlines()
    assert lines[0].startswith("Backward pass from L (dL/dL = 1)")
    header = lines[2].split()
    assert header[:3] == ["step", "gate", "output"]
    assert "upstream" in lines[2] and "local" in lines[2] and "contribution" in lines[2]
    assert set(lines[3]) <= {"-", " "}
    row = next(line for line in lines if re.match(r"\s+5\s", line))
    assert row.split() == ["5", "*", "z", "1.1", "x", "2", "2.2"]
    assert re.search(r"^\s+m\s+100\s+110$", text, re.M)
    assert str(explain(graph.L)) == text


def test_a_leaf_has_no_gates() -> None:
    table = explain(Value(2.0, label="a"))
    assert table.steps == ()
    assert table.gradient_lines() == [("da/da", 1.0)]
    assert "(no gates: the root is a leaf)" in str(table)


def test_step_gradients_fill_in_as_the_pass_goes() -> None:
    graph = apple_price()
    table = explain(graph.L)
    assert table.step_gradients(0) == {graph.L: 1.0}
    after_four = table.step_gradients(4)
    assert after_four[graph.t] == pytest.approx(200, rel=1e-9)
    assert graph.x not in after_four
    assert table.step_gradients(5)[graph.x] == table.gradient(graph.x)


def test_draw_step_highlights_the_active_gate() -> None:
    graph = apple_price()
    table = explain(graph.L)
    source = table.draw_step(5).source
    assert "step 5 of 5: gate \u00d7 of z gets upstream 1.1" in source
    assert "#ffd54f" in source
    assert "upstream 1.1 \u00d7 local 100 = 110" in source
    assert table.draw_step(1, "svg").format == "svg"


def test_bad_input_is_refused() -> None:
    table = explain(apple_price().L)
    with pytest.raises(ValueError, match=r"explain: step must be from 1 to 5, got 6"):
        table.draw_step(6)
    with pytest.raises(ValueError, match=r"explain: step must be from 0 to 5, got -1"):
        table.step_gradients(-1)
    with pytest.raises(TypeError, match="explain expects a Value as root, got str 'L'"):
        explain("L")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="explain: gradient must be a finite number, got nan"):
        explain(Value(1.0), gradient=math.nan)
    with pytest.raises(ValueError, match="explain: precision must be an int from 1 to 17, got 40"):
        explain(Value(1.0), precision=40)
    with pytest.raises(KeyError, match="is not part of the graph of L"):
        table.gradient(Value(1.0))


def test_too_many_steps_for_pictures_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    chain = Value(1.0, label="a")
    for _ in range(MAX_PICTURES + 1):
        chain = chain * 1.0
    table = explain(chain)
    assert isinstance(table, BackwardTable)
    with pytest.raises(ValueError, match=rf"at most {MAX_PICTURES}"):
        table.write_pictures(tmp_path / "steps")
    assert not (tmp_path / "steps").exists()


def test_precision() -> None:
    x = Value(1 / 3, label="x")
    y = x * x
    assert "0.66666667" in explain(y, precision=8).text()
    coarse = explain(y, precision=4).text()
    assert "0.6667" in coarse and "0.66667" not in coarse
