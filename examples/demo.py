"""chainrule's main demo: `make demo`.

Prints the apple-price gradients of the worked example and writes the
pictures of each section into the output folder, and the apple-price
example's web page to step through.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from autograd import explain, no_grad
from autograd.apple import apple_price as build_apple_price
from autograd.apple import draw_apple_price
from autograd.draw import DotNotFoundError
from nn import MLP, SGD, History, LinearDecay, fit, hinge_loss, make_moons, signs

MOONS_SEED = 1  # data and initial weights; with it the demo reaches 100% training accuracy


def apple_price(out: Path) -> None:
    """The seeds' apple-price graph x -> [*] -> [*] -> f, L = (f - 219)^2 / 2: table, pictures, page."""
    graph = build_apple_price()
    print("apple price: f = x*m*t, L = (f - 219)^2 / 2")
    print(f"  f = {graph.f.data:.10g}, L = {graph.L.data:.10g}")
    table = explain(graph.L)
    print("\n".join(f"  {line}" if line else "" for line in table.text().splitlines()))
    drawing = draw_apple_price()
    try:
        for fmt in ("svg", "png"):
            path = out / f"apple-price.{fmt}"
            path.write_bytes(drawing.pipe(format=fmt))
            print(f"  wrote {path}")
        steps = table.write_pictures(out / "apple-price-steps", "png")
        print(f"  wrote {len(steps)} step pictures of the backward pass to {out / 'apple-price-steps'}")
        table.to_html(out / "apple-price.html")
        print(f"  wrote {out / 'apple-price.html'}: open it in a browser and step with the arrow keys")
    except DotNotFoundError as exc:
        source = out / "apple-price.gv"
        source.write_text(drawing.source, encoding="utf-8")
        print(f"  {exc}\n  wrote the DOT source to {source} instead")


def train_moons(seed: int = MOONS_SEED) -> tuple[MLP, History, list[list[float]], list[float]]:
    """micrograd's demo with chainrule: MLP(2, [16, 16, 1]) on 100 moons, hinge + 1e-4 L2, 100 SGD steps."""
    inputs, labels = make_moons(100, noise=0.1, seed=seed)
    targets = signs(labels)
    model = MLP(2, [16, 16, 1], seed=seed)
    optimizer = SGD(model.parameters(), lr=LinearDecay(1.0, 0.1, 100))  # 1.0 - 0.9 k / 100
    # compile="batch" traces one point's loss once and runs every step as numpy code over all
    # 100 points (a matrix product per layer): eager mode's numbers up to rounding, much faster.
    history = fit(
        model, inputs, targets, loss=hinge_loss, optimizer=optimizer, epochs=100, l2=1e-4, compile="batch"
    )
    return model, history, inputs, targets


def moons(out: Path) -> None:
    """Train on the moons and draw the loss curve and the decision boundary."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    start = time.perf_counter()
    model, history, inputs, targets = train_moons()
    seconds = time.perf_counter() - start
    size = len(model.parameters())
    print(f"moons: MLP(2, [16, 16, 1]), {size} parameters, 100 steps over the batch in {seconds:.2f} s")
    for k in (0, 24, 49, 74, 99):
        print(f"  step {k:3d}  loss {history.loss[k]:.4f}  accuracy {history.accuracy[k]:.0%}")

    figure, loss_axes = plt.subplots(figsize=(6, 4))
    loss_axes.plot(history.loss, color="tab:blue")
    loss_axes.set_xlabel("step")
    loss_axes.set_ylabel("loss (hinge + L2)", color="tab:blue")
    accuracy_axes = loss_axes.twinx()
    accuracy_axes.plot(history.accuracy, color="tab:orange")
    accuracy_axes.set_ylabel("training accuracy", color="tab:orange")
    accuracy_axes.set_ylim(0.0, 1.05)
    loss_axes.set_title("micrograd's moons demo, trained with chainrule")
    figure.tight_layout()
    figure.savefig(out / "moons_loss.png", dpi=120)
    plt.close(figure)

    xs = [-2.0 + 0.05 * i for i in range(91)]
    ys = [-1.5 + 0.05 * j for j in range(61)]
    with no_grad():  # a picture needs no graph
        scores = [[model([x, y]).data for x in xs] for y in ys]  # type: ignore[union-attr]
    figure, axes = plt.subplots(figsize=(6, 4.5))
    axes.contourf(xs, ys, scores, levels=[-1e9, 0.0, 1e9], colors=["#f4a582", "#92c5de"], alpha=0.8)
    axes.contour(xs, ys, scores, levels=[0.0], colors="black", linewidths=1.0)
    for label, color in ((-1.0, "#b2182b"), (1.0, "#2166ac")):
        points = [p for p, t in zip(inputs, targets, strict=True) if t == label]
        axes.scatter(
            [p[0] for p in points], [p[1] for p in points], c=color, s=18, edgecolors="white", linewidths=0.5
        )
    axes.set_title(f"decision boundary (training accuracy {history.accuracy[-1]:.0%})")
    figure.tight_layout()
    figure.savefig(out / "moons_boundary.png", dpi=120)
    plt.close(figure)
    print(f"  wrote {out / 'moons_loss.png'} and {out / 'moons_boundary.png'}")


def require_matplotlib() -> None:
    """Exit with what to install, before any work, when matplotlib (which draws the moons) is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SystemExit(
            "demo.py draws its pictures with matplotlib, which is not installed: "
            "pip install 'chainrule[demo]' (or run `make demo`, which installs everything it needs)"
        ) from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("out"), help="folder for the pictures")
    args = parser.parse_args(argv)
    require_matplotlib()
    args.out.mkdir(parents=True, exist_ok=True)
    apple_price(args.out)
    moons(args.out)


if __name__ == "__main__":
    main()
