"""The backward pass, gate by gate, as a table and as a series of pictures.

`explain(root)` runs the backward pass itself, the general pass of
`general.gradient_totals` that `backward()` takes for hooks and anomaly mode,
and watches every step of it: at each gate the upstream gradient (d root / d
gate output), the local gradient of the output for each input and the
contribution upstream x local that the gate sends back to that input; an input
that feeds several gates gets the sum of its contributions. So the table shows
what `backward()` computes, never a copy of it. The pass keeps its own
gradients, so it never changes `.grad`. `table.to_html()` turns the table into
a web page that steps through the forward and backward pass (page.py).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .draw import GraphDrawing, draw_dot, format_number, gate_symbol, node_names, operand_name
from .engine import Value, topological_order
from .general import gradient_totals
from .page import backward_frame, backward_page

__all__ = ["BackwardTable", "Contribution", "GateStep", "explain"]

# One picture per gate: beyond this many the pictures teach nothing and cost minutes.
MAX_PICTURES = 200


@dataclass(frozen=True)
class Contribution:
    """What one gate sends back to one of its inputs: upstream gradient times local gradient."""

    input: Value
    name: str
    local: float
    contribution: float


@dataclass(frozen=True)
class GateStep:
    """One gate of the backward pass, with the upstream gradient it received."""

    number: int
    output: Value
    name: str
    op: str
    upstream: float
    contributions: tuple[Contribution, ...]

    @property
    def symbol(self) -> str:
        """How the gate is drawn (a times sign for *)."""
        return gate_symbol(self.output)


@dataclass(frozen=True, repr=False)
class BackwardTable:
    """The backward pass from `root`, step by step; `str()` gives the plain-text table."""

    root: Value
    steps: tuple[GateStep, ...]
    gradients: Mapping[Value, float] = field(repr=False)
    names: Mapping[Value, str] = field(repr=False)
    seed: float = 1.0
    precision: int = 6

    def gradient(self, value: Value) -> float:
        """d root / d value, the sum of the contributions that reached `value`."""
        try:
            return self.gradients[value]
        except KeyError:
            raise KeyError(f"explain: {value!r} is not part of the graph of {self.root_name}") from None

    @property
    def root_name(self) -> str:
        """The name the table uses for the root."""
        return self.names[self.root]

    def gradient_lines(self) -> list[tuple[str, float]]:
        """(`dL/dx`, value) for every Value, in the order the pass reaches them."""
        root = self.root_name
        return [(f"d{root}/d{operand_name(v, self.names)}", g) for v, g in self.gradients.items()]

    def text(self) -> str:
        """The table as plain text: one row per (gate, input), then every gradient."""
        p = self.precision
        root = self.root_name
        header = (
            "step",
            "gate",
            "output",
            f"upstream d{root}/d(out)",
            "input",
            "local d(out)/d(in)",
            "contribution",
        )
        rows: list[tuple[str, ...]] = []
        for step in self.steps:
            for index, c in enumerate(step.contributions):
                first = index == 0
                rows.append(
                    (
                        str(step.number) if first else "",
                        step.op if first else "",
                        step.name if first else "",
                        format_number(step.upstream, p) if first else "",
                        c.name,
                        format_number(c.local, p),
                        format_number(c.contribution, p),
                    )
                )
        numeric = {0, 3, 5, 6}
        widths = [max([len(header[i])] + [len(r[i]) for r in rows]) for i in range(len(header))]

        def line(cells: tuple[str, ...]) -> str:
            padded = [
                c.rjust(w) if i in numeric else c.ljust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            ]
            return "  ".join(padded).rstrip()

        out = [
            f"Backward pass from {root} (d{root}/d{root} = {format_number(self.seed, p)}): "
            "each gate sends every input upstream gradient \u00d7 local gradient.",
            "",
            line(header),
            line(tuple("-" * w for w in widths)),
        ]
        out.extend(line(r) for r in rows)
        if not rows:
            out.append("(no gates: the root is a leaf)")
        out += ["", "Gradients (each the sum of the contributions that reached it):"]
        lines = self.gradient_lines()
        name_width = max(len(q) for q, _ in lines)
        out.extend(f"  {q.ljust(name_width)} = {format_number(g, p)}" for q, g in lines)
        return "\n".join(out)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"BackwardTable(root={self.root_name}, {len(self.steps)} steps)"

    def step_gradients(self, number: int) -> dict[Value, float]:
        """The gradients known once step `number` has sent its contributions back."""
        if not 0 <= number <= len(self.steps):
            raise ValueError(f"explain: step must be from 0 to {len(self.steps)}, got {number!r}")
        known: dict[Value, float] = {self.root: self.seed}
        for step in self.steps[:number]:
            for c in step.contributions:
                known[c.input] = known.get(c.input, 0.0) + c.contribution
        return known

    def draw_step(self, number: int, format: str = "png", **options: Any) -> GraphDrawing:
        """The graph with gate `number` highlighted and the gradients known after it."""
        step = self.steps[self._index(number)]
        title = (
            f"step {number} of {len(self.steps)}: gate {step.symbol} of {step.name} gets upstream "
            f"{format_number(step.upstream, self.precision)} and sends back upstream \u00d7 local"
        )
        options.setdefault("title", title)
        return draw_dot(
            self.root, format, highlight=step.output, grads=self.step_gradients(number), **options
        )

    def write_pictures(
        self, folder: str | os.PathLike[str], format: str = "png", **options: Any
    ) -> list[Path]:
        """Write one picture per step (`step-01.png`, ...) into `folder`; return their paths.

        Every picture is rendered before any file is written, so a failure
        (no dot program, a graph too large) leaves the folder as it was.
        """
        if len(self.steps) > MAX_PICTURES:
            raise ValueError(
                f"explain: {len(self.steps)} steps would make {len(self.steps)} pictures "
                f"(at most {MAX_PICTURES}); draw single steps with draw_step(n)"
            )
        digits = max(2, len(str(len(self.steps))))
        rendered = [
            (f"step-{n:0{digits}d}.{format}", self.draw_step(n, format, **options).pipe(format=format))
            for n in range(1, len(self.steps) + 1)
        ]
        target = Path(folder)
        target.mkdir(parents=True, exist_ok=True)
        paths = []
        for filename, data in rendered:
            path = target / filename
            _write_atomically(path, data)
            paths.append(path)
        return paths

    def to_html(self, path: str | os.PathLike[str] | None = None, *, rankdir: str = "TB") -> str:
        """A web page that steps through the forward and backward pass; written to `path` if given.

        One self-contained file: the graph drawn by dot, inline, and a small
        script that steps with the arrow keys or buttons and shows only numbers
        this table holds. Needs graphviz's dot program (DotNotFoundError without
        it); the file is written only once the page is made.
        """
        page = backward_page(self, rankdir=rankdir)
        if path is not None:
            _write_atomically(Path(path), page.encode("utf-8"))
        return page

    def _repr_html_(self) -> str:
        # Jupyter shows the page in an iframe, where its script may run.
        return backward_frame(self)

    def _index(self, number: int) -> int:
        if type(number) is not int or not 1 <= number <= len(self.steps):
            raise ValueError(f"explain: step must be from 1 to {len(self.steps)}, got {number!r}")
        return number - 1


def _write_atomically(path: Path, data: bytes) -> None:
    # Not mkstemp, whose files are private (0600): a picture gets the usual 0666 & ~umask.
    temporary = path.parent / f".{path.name}.{os.urandom(8).hex()}.tmp"
    try:
        with open(temporary, "xb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def explain(
    root: Value,
    *,
    gradient: float = 1.0,
    pictures: str | os.PathLike[str] | None = None,
    format: str = "png",
    precision: int = 6,
) -> BackwardTable:
    """Walk the backward pass from `root` gate by gate and return it as a table.

    With `pictures` set to a folder, also write one picture per step there,
    the active gate highlighted. `.grad` is left as it is.
    """
    if not isinstance(root, Value):
        raise TypeError(f"explain expects a Value as root, got {type(root).__name__} {root!r}")
    if isinstance(gradient, bool) or not isinstance(gradient, (int, float)) or not math.isfinite(gradient):
        raise ValueError(f"explain: gradient must be a finite number, got {gradient!r}")
    if type(precision) is not int or not 1 <= precision <= 17:
        raise ValueError(f"explain: precision must be an int from 1 to 17, got {precision!r}")
    names = node_names(topological_order(root))
    steps: list[GateStep] = []

    def watch(node: Value, upstream: float, local: Sequence[float] | None, sent: Sequence[float]) -> None:
        # A gradient of exactly 0 sends zeros without evaluating the local gradients;
        # the table still shows them.
        shown = node.local_grads() if local is None else tuple(map(float, local))
        contributions = tuple(
            Contribution(parent, names[parent], local_p, c)
            for parent, local_p, c in zip(node.parents, shown, sent, strict=True)
        )
        steps.append(GateStep(len(steps) + 1, node, names[node], node.op, upstream, contributions))

    gradients = gradient_totals([root], [float(gradient)], False, on_step=watch)
    table = BackwardTable(root, tuple(steps), gradients, names, float(gradient), precision)
    if pictures is not None:
        table.write_pictures(pictures, format)
    return table
