"""Pictures of computation graphs: one box per Value, one small circle per gate.

Data flows along the edges (left to right by default); every box shows the
Value's label, data and gradient, and on request every edge carries the local
gradient of its gate and the contribution (upstream gradient times local
gradient) that flows back along it. The drawing reads only a Value's public
structure (`parents`, `operands`, `op`, `data`, `grad`, `label`, `local_grads()`), so the
engine knows nothing of graphviz.

Graphviz HTML-like labels are used for every piece of text: they need one
escaping scheme (XML entities plus doubled backslashes), whereas record labels
give meaning to braces, bars, angle brackets and spaces as well.
"""

from __future__ import annotations

import shutil
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import graphviz

from .engine import Value, topological_order

__all__ = [
    "DEFAULT_MAX_NODES",
    "DotNotFoundError",
    "GraphDrawing",
    "GraphTooLargeError",
    "draw_dot",
    "escape_label",
    "format_number",
    "node_names",
    "gate_symbol",
    "new_drawing",
    "FONT",
    "GRAD_COLOUR",
    "LEAF_FILL",
    "ROOT_FILL",
    "INNER_FILL",
    "OP_FILL",
    "ACTIVE_FILL",
    "ACTIVE_EDGE",
    "NAME_COLOUR",
    "operand_name",
]

# Beyond about this many boxes dot needs many seconds to lay a graph out, and
# nobody can read the picture anyway.
DEFAULT_MAX_NODES = 500

RANKDIRS = ("LR", "RL", "TB", "BT")

# The look of every drawing (and of explain's web page, page.py).
FONT = "Helvetica,Arial,sans-serif"
GRAD_COLOUR = "#b03a2e"  # gradients flow backwards: they get their own colour
LEAF_FILL = "#e8f1fb"
ROOT_FILL = "#fff4d6"
INNER_FILL = "#ffffff"
OP_FILL = "#eeeeee"
ACTIVE_FILL = "#ffd54f"
ACTIVE_EDGE = "#e08e00"
NAME_COLOUR = "#777777"


_INSTALL_HINT = (
    "install graphviz's dot program: `sudo apt-get install graphviz` (Debian, Ubuntu), "
    "`brew install graphviz` (macOS), `conda install -c conda-forge graphviz`, or see "
    "https://graphviz.org/download/ (the graphviz Python package alone cannot render)"
)


class GraphTooLargeError(ValueError):
    """Raised when a graph has more Values than a drawing allows."""


class DotNotFoundError(graphviz.ExecutableNotFound):  # type: ignore[misc]
    """Raised when rendering needs graphviz's dot program and it is not installed."""

    def __init__(self, message: str) -> None:
        RuntimeError.__init__(self, message)


class GraphDrawing(graphviz.Digraph):  # type: ignore[misc]
    """A `graphviz.Digraph` whose rendering says how to install graphviz when `dot` is missing."""

    def pipe(self, *args: Any, **kwargs: Any) -> Any:
        """Render with dot and return the result (bytes, or str with an encoding)."""
        try:
            return super().pipe(*args, **kwargs)
        except graphviz.ExecutableNotFound as exc:
            raise DotNotFoundError(self._missing_dot_message("pipe")) from exc

    def render(self, *args: Any, **kwargs: Any) -> Any:
        """Save the DOT source and render it to a file with dot; return the file's path."""
        # Check first, so that a missing dot leaves no half-made output behind.
        if shutil.which(kwargs.get("engine") or self.engine) is None:
            raise DotNotFoundError(self._missing_dot_message("render"))
        try:
            return super().render(*args, **kwargs)
        except graphviz.ExecutableNotFound as exc:
            raise DotNotFoundError(self._missing_dot_message("render")) from exc

    def _missing_dot_message(self, method: str) -> str:
        return (
            f"draw_dot(...).{method}: graphviz's {self.engine!r} program was not found on PATH, "
            f"so the graph cannot be rendered (its DOT source is still in .source); {_INSTALL_HINT}"
        )


# ---- text ------------------------------------------------------------------------


def format_number(x: float, precision: int = 6) -> str:
    """A number as a teacher writes it: `precision` significant digits, no trailing zeros."""
    return f"{float(x) + 0.0:.{precision}g}"  # + 0.0 turns -0.0 into 0.0


def _visible(ch: str) -> str:
    """Characters that would vanish or break the XML are shown the way Python writes them."""
    if ch == "\n":
        return ch
    category = unicodedata.category(ch)
    if category in ("Cc", "Cs", "Zl", "Zp") or ch in ("\ufffe", "\uffff"):
        return repr(ch)[1:-1] if category != "Cs" else f"\\u{ord(ch):04x}"
    return ch


def escape_label(text: str) -> str:
    """Text as the body of a graphviz HTML-like label that renders exactly as written.

    XML's special characters become entities, backslashes are doubled (graphviz
    reads `\\N`, `\\G` and `\\\\` even in HTML labels), newlines become `<BR/>`
    and control characters are shown as Python escapes (`\\t`).
    """
    parts: list[str] = []
    for ch in "".join(_visible(c) for c in text):
        if ch == "&":
            parts.append("&amp;")
        elif ch == "<":
            parts.append("&lt;")
        elif ch == ">":
            parts.append("&gt;")
        elif ch == '"':
            parts.append("&quot;")
        elif ch == "\\":
            parts.append("&#92;&#92;")
        elif ch == "\n":
            parts.append("<BR/>")
        elif ch in "[]":
            # dot's lexer trips over a raw "]" even inside an HTML label
            parts.append(f"&#{ord(ch)};")
        else:
            parts.append(ch)
    return "".join(parts)


def _html(body: str) -> str:
    # The graphviz package passes a string in angle brackets to dot unquoted.
    return f"<{body}>"


# ---- names -------------------------------------------------------------------------

_MAX_EXPRESSION = 28


def node_names(order: list[Value], precision: int = 6) -> dict[Value, str]:
    """A readable name for every Value of a topological order.

    The label when there is one; for an unlabelled constant its value; for an
    unlabelled result the expression that made it from its parents' names
    (`f - 219`) when that is short, else `#k` with k its place in the order.
    """
    names: dict[Value, str] = {}
    compound: set[Value] = set()
    for index, v in enumerate(order):
        if v.label:
            names[v] = v.label
        elif not v.parents:
            names[v] = format_number(v.data, precision)
        else:
            expression, infix = _expression(v, names, compound, precision)
            if len(expression) <= _MAX_EXPRESSION:
                names[v] = expression
                if infix:
                    compound.add(v)
            else:
                names[v] = f"#{index}"
    return names


def _expression(
    v: Value, names: Mapping[Value, str], compound: set[Value], precision: int
) -> tuple[str, bool]:
    """The expression that made `v`, and whether it needs parentheses inside another."""

    def operand(p: Value | float) -> str:
        if not isinstance(p, Value):  # a number folded into the op
            return format_number(p, precision)
        name = names[p]
        return f"({name})" if p in compound else name

    op = v.operation
    assert op is not None
    if op.notation is not None:
        return op.notation.format(*map(operand, op.shown(v.parents, v.params))), True
    return f"{op.name}({', '.join(names[p] for p in v.parents)})", False


def operand_name(v: Value, names: Mapping[Value, str]) -> str:
    """A name fit to stand in a formula: an expression gets parentheses."""
    name = names.get(v, "")
    if v.label or not v.parents or name.startswith("#") or (name.endswith(")") and name[0] != "("):
        return name
    return f"({name})"


def gate_symbol(v: Value) -> str:
    """How the gate that made `v` is shown: its op's symbol (a times sign for *), '' for a leaf."""
    op = v.operation
    return "" if op is None else op.sign(v.params)


# ---- the drawing -----------------------------------------------------------------------


@dataclass
class _Box:
    """One box of the drawing: a Value and, when collapsing, the Values folded into it."""

    value: Value
    folded: list[Value]


def draw_dot(
    root: Value,
    format: str = "svg",
    rankdir: str = "LR",
    *,
    annotate_edges: bool = False,
    max_nodes: int = DEFAULT_MAX_NODES,
    collapse: bool = False,
    highlight: Value | None = None,
    grads: Mapping[Value, float] | None = None,
    precision: int = 4,
    title: str | None = None,
) -> GraphDrawing:
    """Draw the graph that computes `root`: a box per Value, a circle per gate.

    `annotate_edges` writes on every edge into a gate the local gradient and the
    contribution (upstream x local) sent back along it. A graph with more than
    `max_nodes` Values is refused with `GraphTooLargeError`, unless `collapse`
    is set: then every weighted sum is folded into the box of the activation
    it feeds (a neuron becomes one box), and if that is still too many boxes,
    only `max_nodes` of them are drawn, following one path back from the
    output. `highlight` marks one gate (the Value it made) and annotates its
    edges; `grads` shows those gradients instead of `.grad` (Values missing
    from it show none yet).
    """
    if not isinstance(root, Value):
        raise TypeError(f"draw_dot expects a Value as root, got {type(root).__name__} {root!r}")
    if format not in graphviz.FORMATS:
        raise ValueError(f"draw_dot: unknown format {format!r}; graphviz knows {sorted(graphviz.FORMATS)}")
    if rankdir not in RANKDIRS:
        raise ValueError(f"draw_dot: rankdir must be one of {RANKDIRS}, got {rankdir!r}")
    if type(max_nodes) is not int or max_nodes < 1:
        raise ValueError(f"draw_dot: max_nodes must be a positive int, got {max_nodes!r}")
    if type(precision) is not int or not 1 <= precision <= 17:
        raise ValueError(f"draw_dot: precision must be an int from 1 to 17, got {precision!r}")
    if highlight is not None and not isinstance(highlight, Value):
        raise TypeError(f"draw_dot: highlight must be a Value, got {type(highlight).__name__}")

    if collapse:
        order = topological_order(root)
        boxes, hidden = _collapsed_boxes(order, root, max_nodes)
    else:
        if _count_values(root, max_nodes) > max_nodes:
            raise GraphTooLargeError(
                f"draw_dot: the graph of {root!r} has more than {max_nodes} Values (max_nodes={max_nodes}); "
                f"pass a larger max_nodes to draw it all (dot may take minutes), or collapse=True "
                f"to fold each neuron into one box and draw at most max_nodes boxes"
            )
        order = topological_order(root)
        boxes = [_Box(v, [v]) for v in order]
        hidden = {}

    drawing = new_drawing(format, rankdir)
    if title is not None:
        drawing.attr(label=_html(escape_label(title)), labelloc="t", fontsize="14")

    if highlight is not None and highlight not in set(order):
        raise ValueError(f"draw_dot: highlight {highlight!r} is not part of the graph of {root!r}")
    names = node_names(order)
    ids = {box.value: f"n{index}" for index, box in enumerate(boxes)}
    box_of = {v: box.value for box in boxes for v in box.folded}

    def show_grad(v: Value) -> str:
        if grads is not None:
            if v not in grads:
                return "grad \u00b7"
            return f"grad {format_number(_as_float(grads[v]), precision)}"
        return f"grad {format_number(_as_float(v.grad), precision)}"

    for box in boxes:
        v = box.value
        node_id = ids[v]
        active = highlight is v
        drawing.node(
            node_id,
            _html(_box_label(v, box, names, root, show_grad, precision, active)),
            shape="plain",
        )
        if not v.parents:
            continue
        op_id = f"{node_id}_op"
        op_text = gate_symbol(v)
        drawing.node(
            op_id,
            _html(escape_label(op_text)),
            shape="circle" if len(op_text) <= 2 else "ellipse",
            style="filled",
            fillcolor=ACTIVE_FILL if active else OP_FILL,
            penwidth="2" if active else "1",
            margin="0.02",
            width="0.3",
            height="0.3",
            fixedsize="false",
        )
        drawing.edge(op_id, node_id, penwidth="2" if active else "1")
        if len(box.folded) == 1:
            _gate_edges(drawing, v, ids, names, annotate_edges or active, active, grads, precision)
        else:
            _folded_edges(drawing, box, ids, box_of)
        if v in hidden:
            stub_id = f"{node_id}_more"
            count = hidden[v]
            drawing.node(
                stub_id,
                _html(escape_label(f"\u22ef {count} more box{'es' if count > 1 else ''}")),
                shape="box",
                style="dashed,rounded",
                fontcolor=NAME_COLOUR,
                color=NAME_COLOUR,
            )
            drawing.edge(stub_id, op_id, style="dashed", color=NAME_COLOUR)
    return drawing


def new_drawing(format: str = "svg", rankdir: str = "LR") -> GraphDrawing:
    """An empty drawing with the look of every chainrule graph (fonts, spacing, edge order)."""
    return GraphDrawing(
        name="chainrule",
        format=format,
        graph_attr={
            "rankdir": rankdir,
            "ordering": "in",
            "fontname": FONT,
            "nodesep": "0.25",
            "ranksep": "0.35",
        },
        node_attr={"fontname": FONT, "fontsize": "12"},
        edge_attr={"fontname": FONT, "fontsize": "10", "arrowsize": "0.7"},
    )


def _as_float(x: Any) -> float:
    # After backward(create_graph=True) a gradient is itself a Value.
    return float(x.data) if isinstance(x, Value) else float(x)


def _box_label(
    v: Value,
    box: _Box,
    names: Mapping[Value, str],
    root: Value,
    show_grad: Callable[[Value], str],
    precision: int,
    active: bool,
) -> str:
    if v is root:
        fill = ROOT_FILL
    elif not v.parents:
        fill = LEAF_FILL
    else:
        fill = INNER_FILL
    border = f'BORDER="3" COLOR="{ACTIVE_EDGE}"' if active else 'BORDER="0"'
    cells = []
    if v.label:
        cells.append(f"<TD><B>{escape_label(v.label)}</B></TD>")
    elif v.parents and v in names and len(box.folded) == 1:
        cells.append(f'<TD><FONT COLOR="{NAME_COLOUR}"><I>{escape_label(names[v])}</I></FONT></TD>')
    cells.append(f"<TD>data {escape_label(format_number(v.data, precision))}</TD>")
    cells.append(f'<TD><FONT COLOR="{GRAD_COLOUR}">{escape_label(show_grad(v))}</FONT></TD>')
    if len(box.folded) > 1:
        cells.append(f'<TD><FONT POINT-SIZE="9">{escape_label(_fold_summary(box))}</FONT></TD>')
    return (
        f'<TABLE {border} CELLBORDER="1" CELLSPACING="0" CELLPADDING="4" BGCOLOR="{fill}">'
        f"<TR>{''.join(cells)}</TR></TABLE>"
    )


def _fold_summary(box: _Box) -> str:
    counts: dict[str, int] = {}
    constants = 0
    for v in box.folded:
        if v is box.value:
            continue
        if v.parents:
            symbol = gate_symbol(v)
            counts[symbol] = counts.get(symbol, 0) + 1
        else:
            constants += 1
    parts = [f"{n} {op}" for op, n in sorted(counts.items(), key=lambda item: -item[1])]
    if constants:
        parts.append(f"{constants} lea{'ves' if constants > 1 else 'f'}")
    return "folded: " + ", ".join(parts)


def _gate_edges(
    drawing: GraphDrawing,
    v: Value,
    ids: Mapping[Value, str],
    names: Mapping[Value, str],
    annotate: bool,
    active: bool,
    grads: Mapping[Value, float] | None,
    precision: int,
) -> None:
    """Edges from a gate's inputs into it, with local gradient and contribution if asked."""
    op_id = f"{ids[v]}_op"
    locals_ = v.local_grads() if annotate else ()
    upstream: float | None = _as_float(v.grad)
    if grads is not None:
        upstream = _as_float(grads[v]) if v in grads else None
    colour = ACTIVE_EDGE if active else "#333333"
    width = "2" if active else "1"
    index = -1  # the parent's place in v.parents, which local_grads() follows
    for position, parent in enumerate(v.operands):
        if not isinstance(parent, Value):  # a number folded into the op
            _constant_box(drawing, f"{op_id}_c{position}", parent, op_id, precision)
            continue
        index += 1
        if parent not in ids:
            continue
        if not annotate:
            drawing.edge(ids[parent], op_id, color=colour, penwidth=width)
            continue
        local = locals_[index]
        derivative = f"\u2202{operand_name(v, names)}/\u2202{operand_name(parent, names)}"
        lines = [f"local {derivative} = {format_number(local, precision)}"]
        if upstream is not None:
            contribution = upstream * local
            lines.append(
                f"upstream {format_number(upstream, precision)} \u00d7 local "
                f"{format_number(local, precision)} = {format_number(contribution, precision)}"
            )
        text = "<BR/>".join(escape_label(s) for s in lines)
        label = f'<FONT COLOR="{GRAD_COLOUR}">{text}</FONT>'
        drawing.edge(ids[parent], op_id, label=_html(label), color=colour, penwidth=width)


def _constant_box(drawing: GraphDrawing, node_id: str, c: float, op_id: str, precision: int) -> None:
    """A number folded into an op, drawn as an input of its gate: data only, a number has no gradient."""
    label = (
        f'<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4" BGCOLOR="{LEAF_FILL}">'
        f"<TR><TD>data {escape_label(format_number(c, precision))}</TD></TR></TABLE>"
    )
    drawing.node(node_id, _html(label), shape="plain")
    drawing.edge(node_id, op_id, color="#333333")


def _folded_edges(
    drawing: GraphDrawing, box: _Box, ids: Mapping[Value, str], box_of: Mapping[Value, Value]
) -> None:
    """Edges into a collapsed box from every box that one of its folded Values reads."""
    op_id = f"{ids[box.value]}_op"
    sources: dict[Value, None] = {}
    for v in box.folded:
        for parent in v.parents:
            source = box_of.get(parent)
            if source is not None and source is not box.value:
                sources[source] = None
    for source in sources:
        drawing.edge(ids[source], op_id)


def _count_values(root: Value, limit: int) -> int:
    """How many Values `root` depends on, counting no further than just past `limit`."""
    seen = {root}
    stack = [root]
    while stack:
        for parent in stack.pop().parents:
            if parent not in seen:
                seen.add(parent)
                if len(seen) > limit:
                    return len(seen)
                stack.append(parent)
    return len(seen)


def _collapsed_boxes(order: list[Value], root: Value, max_nodes: int) -> tuple[list[_Box], dict[Value, int]]:
    """Fold arithmetic into the box of its sole consumer; keep at most `max_nodes` boxes.

    Returns the boxes in topological order and, for each box whose inputs were
    left out, how many input boxes are not drawn.
    """
    consumers: dict[Value, int] = {}
    sole_consumer: dict[Value, Value] = {}
    for v in order:
        for parent in set(v.parents):
            consumers[parent] = consumers.get(parent, 0) + 1
            sole_consumer[parent] = v
    owner: dict[Value, Value] = {}
    for v in reversed(order):
        foldable = (
            v is not root
            and consumers.get(v) == 1
            and not v.label
            # the arithmetic of a weighted sum (the op records say which ops that is); relu,
            # tanh, exp and user ops end a box, so an MLP collapses into one box per neuron
            and (v.operation is None or v.operation.arithmetic)
        )
        owner[v] = owner[sole_consumer[v]] if foldable else v
    members: dict[Value, list[Value]] = {}
    for v in order:
        members.setdefault(owner[v], []).append(v)
    inputs: dict[Value, dict[Value, None]] = {}
    for head, group in members.items():
        sources: dict[Value, None] = {}
        for v in group:
            for parent in v.parents:
                if owner[parent] is not head:
                    sources[owner[parent]] = None
        inputs[head] = sources

    # Depth first from the root, inner boxes before leaves: the drawing follows
    # one path of boxes all the way to the inputs (one neuron, its inputs, their
    # inputs) instead of showing a fan of siblings at the first level.
    kept: dict[Value, None] = {}
    stack = [root]
    while stack and len(kept) < max_nodes:
        head = stack.pop()
        if head in kept:
            continue
        kept[head] = None
        unseen = [source for source in inputs[head] if source not in kept]
        unseen.sort(key=lambda source: not source.parents)
        stack.extend(reversed(unseen))
    hidden = {}
    for head in kept:
        missing = sum(1 for source in inputs[head] if source not in kept)
        if missing:
            hidden[head] = missing
    boxes = [_Box(head, members[head]) for head in members if head in kept]
    return boxes, hidden
