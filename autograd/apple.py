"""The apple-price example, one call away: `apple_price()`, `draw_apple_price()`, `chainrule-apple`.

An apple costs x = 100, we buy m = 2 and tax multiplies by t = 1.1: two
multiply gates give z = x * m and the price f = z * t, and the loss compares f
with the true price 219, L = (f - 219)^2 / 2. The backward pass gives
dL/df = 1, dL/dt = 200, dL/dz = 1.1, dL/dx = 2.2 and dL/dm = 110.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, NamedTuple

from .draw import DotNotFoundError, GraphDrawing, draw_dot
from .engine import Value
from .explainer import explain

__all__ = ["ApplePrice", "apple_price", "draw_apple_price", "main"]


class ApplePrice(NamedTuple):
    """The Values of the apple-price graph, after its backward pass."""

    x: Value
    m: Value
    t: Value
    z: Value
    f: Value
    L: Value


def apple_price(x: float = 100.0, m: float = 2.0, t: float = 1.1, true_price: float = 219.0) -> ApplePrice:
    """Build the apple-price graph x -> [*] -> [*] -> f -> L, labelled, and run its backward pass."""
    price, count, tax = Value(x, label="x"), Value(m, label="m"), Value(t, label="t")
    before_tax = price * count
    before_tax.label = "z"
    total = before_tax * tax
    total.label = "f"
    loss = 0.5 * (total - true_price) ** 2
    loss.label = "L"
    loss.backward()
    return ApplePrice(price, count, tax, before_tax, total, loss)


def draw_apple_price(format: str = "svg", rankdir: str = "LR", **options: Any) -> GraphDrawing:
    """The apple-price graph with every value and gradient, its edges annotated with local gradients."""
    options.setdefault("annotate_edges", True)
    return draw_dot(apple_price().L, format, rankdir, **options)


def main(argv: list[str] | None = None) -> int:
    """Command line: print the backward-pass table and write the apple-price pictures."""
    parser = argparse.ArgumentParser(
        prog="chainrule-apple",
        description="The apple-price computation graph: its backward-pass table and its pictures.",
    )
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for the pictures (default: .)")
    parser.add_argument(
        "--format",
        action="append",
        choices=("svg", "png", "pdf"),
        help="picture format; repeat for several (default: svg and png)",
    )
    parser.add_argument("--steps", action="store_true", help="also write one picture per backward step")
    parser.add_argument("--plain", action="store_true", help="leave the edges without local gradients")
    args = parser.parse_args(argv)
    formats = args.format or ["svg", "png"]

    graph = apple_price()
    print(explain(graph.L))
    drawing = draw_apple_price(annotate_edges=not args.plain)
    try:
        rendered = [(f"apple-price.{fmt}", drawing.pipe(format=fmt)) for fmt in formats]
        args.out.mkdir(parents=True, exist_ok=True)
        for filename, data in rendered:
            (args.out / filename).write_bytes(data)
            print(f"wrote {args.out / filename}")
        if args.steps:
            for path in explain(graph.L).write_pictures(args.out / "apple-price-steps", formats[-1]):
                print(f"wrote {path}")
    except DotNotFoundError as exc:
        source = args.out / "apple-price.gv"
        args.out.mkdir(parents=True, exist_ok=True)
        source.write_text(drawing.source, encoding="utf-8")
        print(f"chainrule-apple: {exc}", file=sys.stderr)
        print(f"wrote the DOT source to {source}", file=sys.stderr)
        return 1
    return 0


def cli() -> None:
    """Entry point of the `chainrule-apple` command."""
    sys.exit(main())


if __name__ == "__main__":
    cli()
