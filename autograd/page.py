"""The forward and backward pass as one self-contained web page to step through.

`backward_page(table)` (what `BackwardTable.to_html` returns) lays the graph
out once with graphviz and embeds its SVG inline. The steps are data: JSON
written here from the `BackwardTable` and the Values' forward data, every
number formatted by Python, and a small inline script only swaps those texts
in and out and moves the highlight as the reader steps with the arrow keys or
the buttons. So the page shows what the engine computed and does no arithmetic
of its own. It loads nothing (no network, fonts or libraries), and its
Content-Security-Policy forbids every load from elsewhere, so it opens from
disk and inside Jupyter alike.

Step 0 is the bare graph. Then the forward pass, one Value at a time in
topological order, its data appearing in its box. Then the backward pass: the
seed d root / d root, and one step per gate, in the order the engine took
them: the gate is highlighted, every edge into it shows the local gradient and
the contribution upstream x local sent along it, and an input's gradient
appears in its box once its last contribution has arrived (the list of
gradients shows the partial sums before that).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from xml.dom import minidom

from .draw import (
    DEFAULT_MAX_NODES,
    GRAD_COLOUR,
    INNER_FILL,
    LEAF_FILL,
    NAME_COLOUR,
    OP_FILL,
    RANKDIRS,
    ROOT_FILL,
    GraphDrawing,
    GraphTooLargeError,
    escape_label,
    format_number,
    gate_symbol,
    new_drawing,
    operand_name,
)
from .engine import Value

if TYPE_CHECKING:
    from .explainer import BackwardTable, GateStep

__all__ = ["backward_frame", "backward_page"]

_NOT_YET = "\u00b7"  # a middle dot where a number is not known yet


@dataclass
class _Step:
    """What one step changes on the page; the script applies steps 0..k to show step k."""

    caption: str
    texts: dict[str, str] = field(default_factory=dict)  # element id -> its text from this step on
    sent: list[str] = field(default_factory=list)  # edges whose labels appear from this step on
    active: list[str] = field(default_factory=list)  # elements highlighted at this step only

    def as_json(self) -> dict[str, Any]:
        return {"caption": self.caption, "texts": self.texts, "sent": self.sent, "active": self.active}


def backward_page(table: BackwardTable, *, rankdir: str = "TB") -> str:
    """The page that steps through the forward and backward pass of `table`'s graph, as HTML text."""
    return _Page(table, rankdir).html()


def backward_frame(table: BackwardTable, *, rankdir: str = "TB") -> str:
    """The page inside an iframe (srcdoc), for Jupyter's `_repr_html_`: scripts run, nothing leaks out."""
    page = _Page(table, rankdir)
    return (
        f'<iframe srcdoc="{html.escape(page.html(), quote=True)}" sandbox="allow-scripts" '
        f'title="{html.escape(page.title, quote=True)}" '
        f'style="width: 100%; height: {page.height_estimate()}px; border: 1px solid #ddd; resize: vertical">'
        "</iframe>"
    )


class _Page:
    """The graph, the steps and the tables of one page."""

    def __init__(self, table: BackwardTable, rankdir: str) -> None:
        if rankdir not in RANKDIRS:
            raise ValueError(f"to_html: rankdir must be one of {RANKDIRS}, got {rankdir!r}")
        self.table = table
        self.root = table.root
        self.order = _forward_order(table.root)
        if len(self.order) > DEFAULT_MAX_NODES:
            raise GraphTooLargeError(
                f"to_html: the graph of {table.root_name} has {len(self.order)} Values, more than a page "
                f"can show step by step ({DEFAULT_MAX_NODES}); print the table instead"
            )
        self.names = table.names
        self.ids = {v: f"v{index}" for index, v in enumerate(self.order)}
        self.step_of = {step.output: step for step in table.steps}
        self.title = f"Forward and backward pass of {table.root_name}"
        self.steps = self._steps()
        self.svg, self.graph_height = self._svg(rankdir)

    # ---- numbers as the page shows them -------------------------------------------

    def number(self, x: float) -> str:
        return format_number(x, self.table.precision)

    def data_text(self, v: Value) -> str:
        return f"data {self.number(v.data)}"

    def grad_text(self, v: Value) -> str:
        return f"grad {self.number(self.table.gradient(v))}"

    def derivative(self, v: Value) -> str:
        return f"d{self.table.root_name}/d{operand_name(v, self.names)}"

    def operand_text(self, operand: Value | float) -> str:
        return self.names[operand] if isinstance(operand, Value) else self.number(operand)

    # ---- the steps ----------------------------------------------------------------

    def _steps(self) -> list[_Step]:
        table, root, names = self.table, self.root, self.names
        start = _Step(
            f"The graph of {table.root_name}, before the forward pass. "
            "Step with \u2192 and \u2190 (Home, End) or the buttons."
        )
        for v in self.order:
            start.texts[f"{self.ids[v]}-data"] = f"data {_NOT_YET}"
            start.texts[f"{self.ids[v]}-grad"] = f"grad {_NOT_YET}"
        for v in table.gradients:
            start.texts[f"{self.ids[v]}-total"] = _NOT_YET
        steps = [start]

        for v in self.order:
            i = self.ids[v]
            data = self.number(v.data)
            if not v.parents:
                caption = (
                    f"Forward: the input {names[v]} is {data}."
                    if v.label
                    else f"Forward: the constant {data}."
                )
                steps.append(_Step(caption, {f"{i}-data": self.data_text(v)}, active=[i]))
                continue
            inputs = ", ".join(self.operand_text(operand) for operand in v.operands)
            caption = f"Forward: gate {gate_symbol(v)} computes {names[v]} = {data} from {inputs}."
            edges = [f"{i}-in{k}" for k in range(len(v.parents))]
            steps.append(
                _Step(
                    caption,
                    {f"{i}-data": self.data_text(v)},
                    active=[i, f"{i}-gate", f"{i}-out", *edges],
                )
            )

        i = self.ids[root]
        seed = self.number(table.seed)
        steps.append(
            _Step(
                f"Backward: the pass starts at {table.root_name} with {self.derivative(root)} = {seed}.",
                {f"{i}-grad": f"grad {seed}", f"{i}-total": seed},
                active=[i],
            )
        )

        remaining: dict[Value, int] = {}
        for step in table.steps:
            for c in step.contributions:
                remaining[c.input] = remaining.get(c.input, 0) + 1
        so_far: dict[Value, float] = {}
        for step in table.steps:
            steps.append(self._gate_step(step, remaining, so_far))
        return steps

    def _gate_step(self, step: GateStep, remaining: dict[Value, int], so_far: dict[Value, float]) -> _Step:
        i = self.ids[step.output]
        upstream = self.number(step.upstream)
        sends = [
            f"{upstream} \u00d7 {self.number(c.local)} = {self.number(c.contribution)} to {c.name}"
            for c in step.contributions
        ]
        caption = (
            f"Backward: gate {step.symbol} of {step.name} gets upstream {self.derivative(step.output)} = "
            f"{upstream} and sends upstream \u00d7 local back: {'; '.join(sends)}."
        )
        edges = [f"{i}-in{k}" for k in range(len(step.contributions))]
        texts: dict[str, str] = {}
        complete: list[str] = []
        for c in step.contributions:
            # The partial sums are the engine's contributions added in the engine's order.
            so_far[c.input] = so_far.get(c.input, 0.0) + c.contribution
            remaining[c.input] -= 1
            j = self.ids[c.input]
            if remaining[c.input] == 0:
                total = self.number(self.table.gradient(c.input))
                texts[f"{j}-grad"] = f"grad {total}"
                texts[f"{j}-total"] = total
                complete.append(f"{self.derivative(c.input)} = {total}")
            else:
                texts[f"{j}-total"] = f"{self.number(so_far[c.input])} so far"
        if complete:
            caption += f" Complete: {', '.join(complete)}."
        return _Step(caption, texts, sent=edges, active=[i, f"{i}-gate", *edges])

    # ---- the graph ----------------------------------------------------------------

    def _svg(self, rankdir: str) -> tuple[str, float]:
        """The graph as inline SVG, and its height in pixels."""
        drawing = new_drawing("svg", rankdir)
        for v in self.order:
            self._add_value(drawing, v)
        svg = drawing.pipe(format="svg", encoding="utf-8")
        return self._mark_texts(svg)

    def _add_value(self, drawing: GraphDrawing, v: Value) -> None:
        i = self.ids[v]
        if v is self.root:
            fill = ROOT_FILL
        elif not v.parents:
            fill = LEAF_FILL
        else:
            fill = INNER_FILL
        cells = []
        if v.label:
            cells.append(f"<TD><B>{escape_label(v.label)}</B></TD>")
        elif v.parents:
            cells.append(f'<TD><FONT COLOR="{NAME_COLOUR}"><I>{escape_label(self.names[v])}</I></FONT></TD>')
        # Laid out with the final texts: the placeholders shown before them are no wider.
        cells.append(f"<TD>{escape_label(self.data_text(v))}</TD>")
        cells.append(f'<TD><FONT COLOR="{GRAD_COLOUR}">{escape_label(self.grad_text(v))}</FONT></TD>')
        label = (
            f'<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4" BGCOLOR="{fill}">'
            f"<TR>{''.join(cells)}</TR></TABLE>"
        )
        drawing.node(i, f"<{label}>", shape="plain", id=i, _attributes={"class": "value"})
        if not v.parents:
            return
        gate = f"{i}-gate"
        symbol = gate_symbol(v)
        drawing.node(
            gate,
            f"<{escape_label(symbol)}>",
            id=gate,
            shape="circle" if len(symbol) <= 2 else "ellipse",
            style="filled",
            fillcolor=OP_FILL,
            margin="0.02",
            width="0.3",
            height="0.3",
            _attributes={"class": "gate"},
        )
        drawing.edge(gate, i, id=f"{i}-out", _attributes={"class": "output"})
        step = self.step_of[v]  # explain's pass reaches every gate of the graph
        index = -1  # the parent's place in v.parents, which the step's contributions follow
        for position, operand in enumerate(v.operands):
            if not isinstance(operand, Value):  # a number folded into the op: part of it from the start
                constant = f"{i}-c{position}"
                text = escape_label(f"data {self.number(operand)}")
                drawing.node(
                    constant,
                    f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4" '
                    f'BGCOLOR="{LEAF_FILL}"><TR><TD>{text}</TD></TR></TABLE>>',
                    shape="plain",
                    id=constant,
                    _attributes={"class": "constant"},
                )
                drawing.edge(constant, gate, id=f"{constant}-in", _attributes={"class": "constant"})
                continue
            index += 1
            c = step.contributions[index]
            derivative = f"\u2202{operand_name(v, self.names)}/\u2202{operand_name(operand, self.names)}"
            lines = [
                f"local {derivative} = {self.number(c.local)}",
                f"upstream {self.number(step.upstream)} \u00d7 local {self.number(c.local)} = "
                f"{self.number(c.contribution)}",
            ]
            text = "<BR/>".join(escape_label(line) for line in lines)
            drawing.edge(
                self.ids[operand],
                gate,
                f'<<FONT COLOR="{GRAD_COLOUR}">{text}</FONT>>',
                id=f"{i}-in{index}",
                _attributes={"class": "input"},
            )

    def _mark_texts(self, svg: str) -> tuple[str, float]:
        """Give each box's data and gradient text an id, checking that it is the text expected there."""
        document = minidom.parseString(svg)
        groups = {group.getAttribute("id"): group for group in document.getElementsByTagName("g")}
        for v in self.order:
            i = self.ids[v]
            texts = groups[i].getElementsByTagName("text")
            for element, slot, expected in (
                (texts[-2], "data", self.data_text(v)),
                (texts[-1], "grad", self.grad_text(v)),
            ):
                shown = "".join(node.data for node in element.childNodes if node.nodeType == node.TEXT_NODE)
                if shown.replace("\xa0", " ") != expected:
                    raise RuntimeError(
                        f"to_html: dot drew {shown!r} where {expected!r} was expected "
                        f"(box of {self.names[v]}); this version of graphviz lays out labels differently"
                    )
                element.setAttribute("id", f"{i}-{slot}")
        svg_element = document.documentElement
        assert svg_element is not None  # parseString gave a document, so it has its element
        svg_element.setAttribute("role", "img")
        svg_element.setAttribute("aria-label", f"the computation graph of {self.table.root_name}")
        height = float(svg_element.getAttribute("height").removesuffix("pt") or 0) * 4 / 3
        return str(svg_element.toxml()), height

    # ---- the page -----------------------------------------------------------------

    def html(self) -> str:
        data = _script_json({"steps": [step.as_json() for step in self.steps]})
        script = _SCRIPT
        digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
        policy = f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{digest}'"
        e = _escape
        last = len(self.steps) - 1
        return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{e(policy)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="chainrule">
<title>{e(self.title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<header>
<h1>{e(self.title)}</h1>
<nav aria-label="steps">
<button type="button" id="first" title="first step (Home)">\u00ab first</button>
<button type="button" id="previous" title="previous step (\u2190)">\u2039 previous</button>
<span id="position" aria-live="polite">step 0 of {last}</span>
<button type="button" id="next" title="next step (\u2192)">next \u203a</button>
<button type="button" id="last" title="last step (End)">last \u00bb</button>
</nav>
<p id="caption">{e(self.steps[0].caption)}</p>
</header>
<main>
<section class="graph">
{self.svg}
</section>
<section class="tables">
{self._forward_table()}
{self._backward_table()}
{self._gradient_table()}
</section>
</main>
<script type="application/json" id="steps">{data}</script>
<script>{script}</script>
</body>
</html>
"""

    def _forward_table(self) -> str:
        e = _escape
        rows = []
        for number, v in enumerate(self.order, start=1):
            inputs = ", ".join(self.operand_text(operand) for operand in v.operands) if v.parents else "input"
            rows.append(
                f'<tbody data-step="{number}"><tr><td class="number">{number}</td>'
                f"<td>{e(self.names[v])}</td><td>{e(gate_symbol(v))}</td><td>{e(inputs)}</td>"
                f'<td class="number">{e(self.number(v.data))}</td></tr></tbody>'
            )
        return (
            '<table class="forward"><caption>Forward pass</caption>'
            "<thead><tr><th>step</th><th>value</th><th>gate</th>"
            f"<th>from</th><th>data</th></tr></thead>{''.join(rows)}</table>"
        )

    def _backward_table(self) -> str:
        e = _escape
        table = self.table
        root = table.root_name
        seed_step = len(self.order) + 1
        rows = [
            f'<tbody data-step="{seed_step}"><tr><td class="number">{seed_step}</td><td>seed</td>'
            f'<td>{e(root)}</td><td class="number">{e(self.number(table.seed))}</td>'
            "<td></td><td></td><td></td></tr></tbody>"
        ]
        for number, step in enumerate(table.steps, start=seed_step + 1):
            lines = []
            for index, c in enumerate(step.contributions):
                head = (
                    f'<td class="number">{number}</td><td>{e(step.symbol)}</td><td>{e(step.name)}</td>'
                    f'<td class="number">{e(self.number(step.upstream))}</td>'
                    if index == 0
                    else '<td></td><td></td><td></td><td class="number"></td>'
                )
                lines.append(
                    f'<tr>{head}<td>{e(c.name)}</td><td class="number">{e(self.number(c.local))}</td>'
                    f'<td class="number">{e(self.number(c.contribution))}</td></tr>'
                )
            rows.append(f'<tbody data-step="{number}">{"".join(lines)}</tbody>')
        return (
            '<table class="backward">'
            "<caption>Backward pass: each gate sends every input upstream \u00d7 local</caption>"
            f"<thead><tr><th>step</th><th>gate</th><th>output</th><th>upstream d{e(root)}/d(out)</th>"
            "<th>input</th><th>local d(out)/d(in)</th><th>contribution</th></tr></thead>"
            f"{''.join(rows)}</table>"
        )

    def _gradient_table(self) -> str:
        e = _escape
        rows = [
            f'<tr><td>{e(self.derivative(v))}</td><td class="number" id="{self.ids[v]}-total">'
            f"{e(self.number(gradient))}</td></tr>"
            for v, gradient in self.table.gradients.items()
        ]
        return (
            '<table class="gradients">'
            "<caption>Gradients: each the sum of the contributions it received</caption>"
            f"<tbody>{''.join(rows)}</tbody></table>"
        )

    def height_estimate(self) -> int:
        """Pixels for an iframe holding the page: the graph above the tables (the narrow layout)."""
        rows = (
            len(self.order)  # forward
            + 1
            + sum(len(step.contributions) for step in self.table.steps)  # backward
            + len(self.table.gradients)
            + 8  # captions and headers
        )
        return min(1200, int(self.graph_height + 26 * rows + 160))


def _forward_order(root: Value) -> list[Value]:
    """A topological order that computes each gate's inputs, left to right, as late as it can.

    The engine's order is as good for the passes, but the forward steps read
    better like this: x, m, z = x * m, t, f = z * t rather than t, m, x, z, f.
    """
    order: list[Value] = []
    seen = {root}
    stack = [(root, iter(root.parents))]
    while stack:
        node, parents = stack[-1]
        for parent in parents:
            if parent not in seen:
                seen.add(parent)
                stack.append((parent, iter(parent.parents)))
                break
        else:
            stack.pop()
            order.append(node)
    return order


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


def _script_json(data: Mapping[str, Sequence[Any]]) -> str:
    """JSON that cannot end its script element: every <, > and & written as a \\u escape."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_STYLE = """
body { font: 14px/1.4 Helvetica, Arial, sans-serif; margin: 1em; color: #222; }
h1 { font-size: 1.3em; margin: 0 0 0.4em; }
nav { display: flex; gap: 0.4em; align-items: center; flex-wrap: wrap; }
nav button { font: inherit; padding: 0.25em 0.7em; }
#position { min-width: 8em; text-align: center; font-weight: bold; }
#caption { min-height: 2.8em; margin: 0.5em 0; }
main { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
.graph { flex: 1 1 560px; overflow: auto; }
.graph svg { max-width: 100%; height: auto; }
.tables { flex: 0 1 auto; }
table { border-collapse: collapse; margin: 0 0 1em; }
caption { text-align: left; font-weight: bold; padding: 0.2em 0; white-space: nowrap; }
th, td { padding: 0.1em 0.5em; border-bottom: 1px solid #eee; text-align: left; white-space: pre; }
th { border-bottom: 1px solid #999; font-weight: normal; color: #555; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
tbody.current td { background: #fff3c4; }
tbody.pending td { visibility: hidden; }
tbody.pending td:first-child { visibility: visible; color: #bbb; }
td.fresh { font-weight: bold; }
text.fresh { paint-order: stroke; stroke: #ffd54f; stroke-width: 4px; stroke-linejoin: round; }
.live g.edge.input:not(.sent) text { visibility: hidden; }
g.value.active polygon { stroke: #e08e00; stroke-width: 2.5px; }
g.gate.active ellipse, g.gate.active polygon { fill: #ffd54f; stroke: #e08e00; stroke-width: 2px; }
g.edge.active path { stroke: #e08e00; stroke-width: 2px; }
g.edge.active polygon { stroke: #e08e00; fill: #e08e00; }
"""

# Only shows texts the page already holds: the numbers were all formatted by Python.
_SCRIPT = """
(function () {
  "use strict";
  var steps = JSON.parse(document.getElementById("steps").textContent).steps;
  var last = steps.length - 1;
  var current = 0;
  var rows = document.querySelectorAll("tbody[data-step]");
  function byId(id) {
    return document.getElementById(id);
  }
  function unmark(name) {
    document.querySelectorAll("." + name).forEach(function (element) {
      element.classList.remove(name);
    });
  }
  function show(wanted) {
    current = Math.max(0, Math.min(last, wanted));
    unmark("active");
    unmark("sent");
    unmark("fresh");
    steps.slice(0, current + 1).forEach(function (step) {
      Object.keys(step.texts).forEach(function (id) {
        byId(id).textContent = step.texts[id];
      });
      step.sent.forEach(function (id) {
        byId(id).classList.add("sent");
      });
    });
    var step = steps[current];
    step.active.forEach(function (id) {
      byId(id).classList.add("active");
    });
    if (current > 0) {
      Object.keys(step.texts).forEach(function (id) {
        byId(id).classList.add("fresh");
      });
    }
    rows.forEach(function (row) {
      var number = Number(row.getAttribute("data-step"));
      row.classList.toggle("pending", number > current);
      row.classList.toggle("current", number === current);
    });
    byId("position").textContent = "step " + current + " of " + last;
    byId("caption").textContent = step.caption;
    byId("first").disabled = byId("previous").disabled = current === 0;
    byId("next").disabled = byId("last").disabled = current === last;
  }
  byId("first").addEventListener("click", function () { show(0); });
  byId("previous").addEventListener("click", function () { show(current - 1); });
  byId("next").addEventListener("click", function () { show(current + 1); });
  byId("last").addEventListener("click", function () { show(last); });
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) {
      return;
    }
    var moves = { ArrowLeft: current - 1, ArrowRight: current + 1, Home: 0, End: last };
    if (event.key in moves) {
      event.preventDefault();
      show(moves[event.key]);
    }
  });
  document.documentElement.classList.add("live");
  show(0);
})();
"""
