"""draw_dot's DOT source: boxes, gates, edges, labels, numbers, escaping and limits (no dot needed)."""

from __future__ import annotations

import re

import graphviz
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd import Value, draw_dot
from autograd.apple import apple_price, draw_apple_price
from autograd.draw import (
    DEFAULT_MAX_NODES,
    GraphDrawing,
    GraphTooLargeError,
    escape_label,
    format_number,
    node_names,
)
from autograd.engine import topological_order
from tests.integration import moons_loss as build_moons_loss


@pytest.fixture(scope="module")
def moons_loss() -> Value:
    """micrograd's moons-demo graph, about 65k Values, after its backward pass."""
    loss = build_moons_loss()
    loss.backward()
    return loss


NODE = re.compile(r"^\t(\w+) \[label=<(.*)> (.*)\]$", re.M)
EDGE = re.compile(r"^\t(\w+) -> (\w+)(?: \[(.*)\])?$", re.M)


def nodes_of(source: str) -> dict[str, str]:
    """Node id -> its label body, for every node of a DOT source."""
    return {node_id: label for node_id, label, _ in NODE.findall(source)}


def edges_of(source: str) -> list[tuple[str, str, str]]:
    return EDGE.findall(source)


def boxes_of(source: str) -> dict[str, str]:
    """The Value boxes (HTML tables), by node id."""
    return {k: v for k, v in nodes_of(source).items() if v.startswith("<TABLE")}


def box_with(source: str, text: str) -> str:
    """The id of the only box whose label holds `text`."""
    found = [node_id for node_id, label in boxes_of(source).items() if text in label]
    assert len(found) == 1, (text, found)
    return found[0]


# ---- the apple price ------------------------------------------------------------------


def test_apple_price_boxes_gates_and_edges() -> None:
    graph = apple_price()
    source = draw_dot(graph.L).source
    boxes = boxes_of(source)
    # x, m, t, z, f, L, and the constants and intermediates of L = 0.5 * (f - 219)**2
    assert len(boxes) == 10
    gates = {k: v for k, v in nodes_of(source).items() if k.endswith("_op")}
    assert sorted(gates.values()) == sorted(["\u00d7", "\u00d7", "\u2212", "**2", "\u00d7"])
    edges = edges_of(source)
    assert len(edges) == 5 + 9  # one edge out of each gate, one into it per input

    # Data flows x -> [*] -> z -> [*] -> f, with m into the first gate and t into the second.
    x, m, t, z, f = (box_with(source, f"<B>{name}</B>") for name in "xmtzf")
    pairs = {(a, b) for a, b, _ in edges}
    assert {(x, f"{z}_op"), (m, f"{z}_op"), (f"{z}_op", z)} <= pairs
    assert {(z, f"{f}_op"), (t, f"{f}_op"), (f"{f}_op", f)} <= pairs


@pytest.mark.parametrize(
    ("name", "data", "grad"),
    [("x", "100", "2.2"), ("m", "2", "110"), ("t", "1.1", "200"), ("z", "200", "1.1"), ("f", "220", "1")],
)
def test_apple_price_boxes_show_label_data_and_grad(name: str, data: str, grad: str) -> None:
    source = draw_dot(apple_price().L).source
    label = boxes_of(source)[box_with(source, f"<B>{name}</B>")]
    assert f"<TD>data {data}</TD>" in label
    assert f">grad {grad}</FONT>" in label


def test_loss_box_is_the_root_and_inputs_are_leaves() -> None:
    source = draw_dot(apple_price().L).source
    boxes = boxes_of(source)
    assert "#fff4d6" in boxes[box_with(source, "<B>L</B>")]
    for leaf in "xmt":
        assert "#e8f1fb" in boxes[box_with(source, f"<B>{leaf}</B>")]


def test_unlabelled_results_are_named_by_their_expression() -> None:
    source = draw_dot(apple_price().L).source
    assert "<I>f - 219</I>" in source
    assert "<I>(f - 219)**2</I>" in source


def test_edges_annotated_with_local_gradient_and_contribution() -> None:
    source = draw_apple_price().source  # annotated by default
    assert "local \u2202z/\u2202x = 2<BR/>upstream 1.1 \u00d7 local 2 = 2.2" in source
    assert "local \u2202z/\u2202m = 100<BR/>upstream 1.1 \u00d7 local 100 = 110" in source
    assert "local \u2202f/\u2202t = 200<BR/>upstream 1 \u00d7 local 200 = 200" in source
    assert "local \u2202f/\u2202z = 1.1<BR/>upstream 1 \u00d7 local 1.1 = 1.1" in source
    assert "local \u2202(f - 219)/\u2202f = 1" in source
    plain = draw_dot(apple_price().L).source
    assert "local" not in plain


def test_rankdir_format_and_title() -> None:
    drawing = draw_dot(apple_price().L, "png", "TB", title='apple "price"')
    assert isinstance(drawing, graphviz.Digraph)
    assert isinstance(drawing, GraphDrawing)
    assert drawing.format == "png"
    assert "rankdir=TB" in drawing.source
    assert "label=<apple &quot;price&quot;>" in drawing.source


def test_precision_controls_the_digits() -> None:
    v = Value(1 / 3, label="third")
    assert "data 0.3333<" in draw_dot(v).source
    assert "data 0.33333333<" in draw_dot(v, precision=8).source


def test_a_leaf_alone_is_one_box() -> None:
    source = draw_dot(Value(2.5, label="a")).source
    assert len(boxes_of(source)) == 1
    assert edges_of(source) == []


def test_shared_input_has_one_box_and_an_edge_per_use() -> None:
    x = Value(3.0, label="x")
    y = x * x + x
    y.backward()
    source = draw_dot(y).source
    x_id = box_with(source, "<B>x</B>")
    assert ">grad 7</FONT>" in boxes_of(source)[x_id]
    assert sum(1 for a, _, _ in edges_of(source) if a == x_id) == 3


def test_gradient_graphs_show_their_data() -> None:
    x = Value(2.0, label="x")
    y = x**3
    y.backward(create_graph=True)
    assert ">grad 12</FONT>" in boxes_of(draw_dot(y).source)[box_with(draw_dot(y).source, "<B>x</B>")]


def test_drawing_reads_and_never_changes_the_graph() -> None:
    graph = apple_price()
    before = [(v.data, v.grad, v.label) for v in topological_order(graph.L)]
    draw_dot(graph.L, annotate_edges=True, collapse=True)
    assert [(v.data, v.grad, v.label) for v in topological_order(graph.L)] == before


def test_grads_mapping_replaces_grad_and_highlight_marks_one_gate() -> None:
    graph = apple_price()
    source = draw_dot(graph.L, grads={graph.L: 1.0, graph.f: 1.0}, highlight=graph.f).source
    boxes = boxes_of(source)
    assert ">grad 1</FONT>" in boxes[box_with(source, "<B>f</B>")]
    assert ">grad \u00b7</FONT>" in boxes[box_with(source, "<B>x</B>")]  # not reached yet
    f_id = box_with(source, "<B>f</B>")
    assert 'BORDER="3"' in boxes[f_id]
    assert re.search(rf"^\t{f_id}_op \[.*fillcolor=\"#ffd54f\"", source, re.M)
    # the highlighted gate's input edges carry its local gradients even without annotate_edges
    assert "local \u2202f/\u2202t = 200<BR/>upstream 1 \u00d7 local 200 = 200" in source
    assert "\u2202z/\u2202x" not in source


def test_numbers_are_formatted_for_reading() -> None:
    assert format_number(220.00000000000003) == "220"
    assert format_number(2.2000000000000006) == "2.2"
    assert format_number(-0.0) == "0"
    assert format_number(1e-12) == "1e-12"
    assert format_number(float("nan")) == "nan"
    assert format_number(1 / 3, 3) == "0.333"


def test_a_number_folded_into_a_gate_is_drawn_as_a_box_without_gradient() -> None:
    x = Value(3.0, label="x")
    y = x * 2
    y.backward()
    source = draw_dot(y, annotate_edges=True).source
    boxes = boxes_of(source)
    (number,) = [node_id for node_id, label in boxes.items() if "data 2<" in label]
    assert "grad" not in boxes[number]
    pairs = {(a, b) for a, b, _ in edges_of(source)}
    assert (number, f"{box_with(source, 'x * 2')}_op") in pairs
    assert "local \u2202(x * 2)/\u2202x = 2" in source


def test_node_names() -> None:
    a, b = Value(1.0, label="a"), Value(2.0, label="b")
    c = (a + b) * -a
    d = (c.tanh() + 1.5) ** 2
    long = Value.sum([a, b, c, d, a * b, a * a * a * a * a * a * a])
    order = topological_order(long)
    names = node_names(order)
    assert names[c] == "(a + b) * (-a)"
    assert names[c.parents[1]] == "-a"
    assert names[d.parents[0]] == "tanh((a + b) * (-a)) + 1.5"
    assert names[d] == f"#{order.index(d)}"  # too long to read as an expression
    assert names[long] == f"#{order.index(long)}"
    assert d.parents[0].operands[1] == 1.5  # a number is folded into its op, not a node
    k = Value(2.5)
    assert node_names(topological_order(a * k))[k] == "2.5"  # an unlabelled leaf: its value


# ---- escaping ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ('say "hi"', "say &quot;hi&quot;"),
        ("{a}", "{a}"),
        ("a<b>c", "a&lt;b&gt;c"),
        ("a|b", "a|b"),
        ("two\nlines", "two<BR/>lines"),
        ("back\\slash", "back&#92;&#92;slash"),
        ("\\N \\n", "&#92;&#92;N &#92;&#92;n"),
        ("[x]", "&#91;x&#93;"),
        ("a & b", "a &amp; b"),
        ("&amp;", "&amp;amp;"),
        ("tab\there", "tab&#92;&#92;there"),
        ("nul\x00", "nul&#92;&#92;x00"),
        ("para\u2029", "para&#92;&#92;u2029"),
    ],
)
def test_escape_label(text: str, escaped: str) -> None:
    assert escape_label(text) == escaped


def test_labels_with_every_special_character_stay_inside_their_node() -> None:
    label = 'a "quote" {brace} <angle> |bar| [sq]\nnew line \\ back\\slash'
    source = draw_dot(Value(1.0, label=label)).source
    (body,) = boxes_of(source).values()
    assert f"<B>{escape_label(label)}</B>" in body
    assert source.count("\n") == 6  # header, three attribute lines, one node, closing brace


_SPECIAL = st.sampled_from([*'"{}<>|\\\n &;[]#', "\\n", "\\N", "<BR/>", "&amp;", "]>"])
LABELS = st.lists(st.one_of(_SPECIAL, st.characters()), max_size=24).map("".join)


@given(LABELS)
def test_escaped_labels_never_break_the_dot_source(label: str) -> None:
    escaped = escape_label(label)
    without_breaks = escaped.replace("<BR/>", "")
    # Nothing that could end the label or start markup survives unescaped.
    assert not set(without_breaks) & set('<>"[]\n')
    assert re.fullmatch(r"(?:[^&\\]|&(?:amp|lt|gt|quot|#\d+);)*", without_breaks.replace("&#92;&#92;", ""))
    source = draw_dot(Value(0.5, label=label)).source
    assert len(NODE.findall(source)) == 1
    assert f"<B>{escaped}</B>" in source if label else "<B>" not in source


# ---- size limits ----------------------------------------------------------------------


def test_too_many_values_are_refused_with_the_limit_and_the_way_out(moons_loss: Value) -> None:
    with pytest.raises(GraphTooLargeError, match=r"more than 500 Values \(max_nodes=500\)") as info:
        draw_dot(moons_loss)
    message = str(info.value)
    assert "draw_dot" in message and "max_nodes" in message and "collapse=True" in message
    assert isinstance(info.value, ValueError)
    assert DEFAULT_MAX_NODES == 500


def test_the_limit_is_configurable() -> None:
    chain = Value(1.0, label="start")
    for _ in range(30):
        chain = chain * Value(1.0)
    with pytest.raises(GraphTooLargeError, match=r"max_nodes=40"):
        draw_dot(chain, max_nodes=40)
    assert len(boxes_of(draw_dot(chain, max_nodes=61).source)) == 61


def test_collapsed_moons_graph_draws_neurons_as_boxes(moons_loss: Value) -> None:
    source = draw_dot(moons_loss, collapse=True, max_nodes=120).source
    boxes = boxes_of(source)
    assert len(boxes) <= 120
    # a first-layer neuron: two weights times two inputs, plus the bias, then relu
    assert any("folded: 2 \u00d7, 2 +" in label for label in boxes.values())
    # a second-layer neuron reads sixteen first-layer neurons
    assert any("folded: 16 \u00d7, 16 +" in label for label in boxes.values())
    assert "more boxes" in source  # what was left out is said, not silently dropped
    gate_ids = {node_id for node_id in nodes_of(source) if node_id.endswith("_op")}
    assert all(b in gate_ids or b in boxes or b.endswith("_more") for _, b, _ in edges_of(source))


def test_collapse_keeps_labelled_values_and_folds_a_neuron() -> None:
    w = [Value(0.5, label="w1"), Value(-1.0, label="w2")]
    x = [Value(2.0, label="x1"), Value(3.0, label="x2")]
    b = Value(0.25, label="b")
    out = (w[0] * x[0] + w[1] * x[1] + b).tanh()
    out.label = "out"
    source = draw_dot(out, collapse=True).source
    boxes = boxes_of(source)
    assert len(boxes) == 6  # five labelled leaves and the neuron
    neuron = boxes[box_with(source, "<B>out</B>")]
    assert "folded: 2 \u00d7, 2 +" in neuron
    assert len(draw_dot(out).source) > len(source)


# ---- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"format": "gif2"}, "draw_dot: unknown format 'gif2'"),
        ({"rankdir": "XY"}, "draw_dot: rankdir must be one of"),
        ({"max_nodes": 0}, "draw_dot: max_nodes must be a positive int, got 0"),
        ({"max_nodes": 2.5}, "draw_dot: max_nodes must be a positive int, got 2.5"),
        ({"precision": 0}, "draw_dot: precision must be an int from 1 to 17, got 0"),
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        draw_dot(Value(1.0), **kwargs)  # type: ignore[arg-type]


def test_root_must_be_a_value() -> None:
    with pytest.raises(TypeError, match=r"draw_dot expects a Value as root, got float 1\.0"):
        draw_dot(1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="draw_dot: highlight must be a Value, got int"):
        draw_dot(Value(1.0), highlight=3)  # type: ignore[arg-type]


def test_highlight_must_be_in_the_graph() -> None:
    with pytest.raises(ValueError, match=r"draw_dot: highlight Value\(data=3.0.*is not part of the graph"):
        draw_dot(apple_price().L, highlight=Value(3.0))
