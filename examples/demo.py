"""chainrule's main demo: `make demo`.

Prints the apple-price gradients of the worked example and writes the
pictures of each section into the output folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from autograd import Value


def apple_price(out: Path) -> None:
    """The seeds' apple-price graph: x -> [*] -> [*] -> f, then L = (f - 219)^2 / 2."""
    x, m, t = Value(100.0, "x"), Value(2.0, "m"), Value(1.1, "t")
    z = x * m
    z.label = "z"
    f = z * t
    f.label = "f"
    loss = 0.5 * (f - 219.0) ** 2
    loss.label = "L"
    loss.backward()
    print("apple price: f = x*m*t, L = (f - 219)^2 / 2")
    print(f"  f = {f.data:.10g}, L = {loss.data:.10g}")
    for v in (f, z, t, x, m):
        print(f"  dL/d{v.label} = {v.grad:.10g}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("out"), help="folder for the pictures")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    apple_price(args.out)


if __name__ == "__main__":
    main()
