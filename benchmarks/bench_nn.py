"""nn benchmark: one step of micrograd's moons demo, three ways, and the whole demo.

The step is forward over all 100 points, hinge loss + 1e-4 L2, backward and
the SGD update, for MLP(2, [16, 16, 1]). It is timed for chainrule, for
micrograd 0.1.0 (in the same run) and for the same step written by hand with
plain Python floats (the floor: no graph at all). Python's garbage collector
stays on, as it is for users.

    python benchmarks/bench_nn.py            # prints a table
    python benchmarks/bench_nn.py --quick    # fewer repeats
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from operator import mul

from nn import MLP, SGD, LinearDecay, fit, hinge_loss, l2_penalty, make_moons, signs

SIZES = [2, 16, 16, 1]
ALPHA = 1e-4
TARGET_VS_MICROGRAD = 60.0  # chainrule at least this many times faster than micrograd
FLOOR_VS_FLOATS = 8.0  # chainrule at most this many times slower than hand-written floats
DEMO_BUDGET_S = 2.0  # the whole 100-step demo


def moons() -> tuple[list[list[float]], list[float]]:
    """The demo's data: 100 moons points with noise 0.1 and labels -1/+1."""
    inputs, labels = make_moons(100, noise=0.1, seed=1)
    return inputs, signs(labels)


def median_times(
    runs: dict[str, Callable[[], object]], repeats: dict[str, int], block: int = 3
) -> dict[str, float]:
    """Median wall time in seconds of each run, the runs taking turns block by block.

    Taking turns spreads other load on the machine over all runs alike. Each
    run is called once first to warm up; the garbage collector stays on.
    """
    gc.enable()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():
        run()
    while any(len(times[name]) < repeats[name] for name in runs):
        for name, run in runs.items():
            for _ in range(min(block, repeats[name] - len(times[name]))):
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


# ---- chainrule -------------------------------------------------------------------


def chainrule_step(fused: bool = False) -> Callable[[], float]:
    """One demo step with chainrule's MLP, hinge_loss, l2_penalty and SGD."""
    inputs, labels = moons()
    model = MLP(2, SIZES[1:], seed=1, fused=fused)
    parameters = model.parameters()
    optimizer = SGD(parameters, lr=0.05)

    def step() -> float:
        scores = [model(x) for x in inputs]
        loss = hinge_loss(scores, labels) + l2_penalty(parameters, ALPHA)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.data

    return step


def chainrule_demo() -> float:
    """The whole demo with `fit`: 100 steps, lr 1.0 - 0.9 k / 100. Returns the final accuracy."""
    inputs, labels = moons()
    model = MLP(2, SIZES[1:], seed=1)
    optimizer = SGD(model.parameters(), lr=LinearDecay(1.0, 0.1, 100))
    history = fit(
        model, inputs, labels, loss=hinge_loss, optimizer=optimizer, epochs=100, l2=ALPHA, progress=False
    )
    return history.accuracy[-1]


# ---- micrograd 0.1.0 ---------------------------------------------------------------


def micrograd_step() -> Callable[[], float]:
    """One demo step written as micrograd's demo notebook writes it."""
    import micrograd.nn

    inputs, labels = moons()
    random.seed(1)
    model = micrograd.nn.MLP(2, SIZES[1:])

    def step() -> float:
        from micrograd.engine import Value as MicroValue

        xs = [[MicroValue(v) for v in x] for x in inputs]
        scores = list(map(model, xs))
        losses = [(1 + -y * s).relu() for y, s in zip(labels, scores, strict=True)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = ALPHA * sum(p * p for p in model.parameters())
        loss = data_loss + reg_loss
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= 0.05 * p.grad
        return float(loss.data)

    return step


# ---- plain floats, by hand -------------------------------------------------------------


def float_step() -> Callable[[], float]:
    """The same step written by hand with plain floats: forward, backward and update, no graph."""
    inputs, labels = moons()
    # The same initial weights as chainrule_step's model, so both do the same arithmetic.
    model = MLP(2, SIZES[1:], seed=1)
    weights = [[[w.data for w in n.w] for n in layer.neurons] for layer in model.layers]
    biases = [[n.b.data if n.b is not None else 0.0 for n in layer.neurons] for layer in model.layers]
    last = len(weights) - 1
    lr = 0.05

    def step() -> float:
        grad_w = [[[0.0] * len(row) for row in layer] for layer in weights]
        grad_b = [[0.0] * len(layer) for layer in weights]
        n = len(inputs)
        loss = 0.0
        for x, y in zip(inputs, labels, strict=True):
            # forward, keeping every layer's input and weighted sums
            layer_inputs, sums = [], []
            a: Sequence[float] = x
            for k, (layer, bs) in enumerate(zip(weights, biases, strict=True)):
                s = [sum(map(mul, row, a)) + b for row, b in zip(layer, bs, strict=True)]
                layer_inputs.append(a)
                sums.append(s)
                a = s if k == last else [v if v > 0.0 else 0.0 for v in s]
            margin = 1.0 - y * a[0]
            if margin <= 0.0:
                continue
            loss += margin / n
            # backward: the delta rule, layer by layer
            delta = [-y / n]
            for k in range(last, -1, -1):
                layer, a_in = weights[k], layer_inputs[k]
                gw, gb = grad_w[k], grad_b[k]
                for j, d in enumerate(delta):
                    if d:
                        row = gw[j]
                        for i, v in enumerate(a_in):
                            row[i] += d * v
                        gb[j] += d
                if k:
                    back = [sum(d * layer[j][i] for j, d in enumerate(delta)) for i in range(len(a_in))]
                    delta = [g if s > 0.0 else 0.0 for g, s in zip(back, sums[k - 1], strict=True)]
        # L2 on every parameter, then the update
        for layer, bs, gw, gb in zip(weights, biases, grad_w, grad_b, strict=True):
            for row, grow in zip(layer, gw, strict=True):
                loss += ALPHA * sum(map(mul, row, row))
                for i, w in enumerate(row):
                    row[i] = w - lr * (grow[i] + 2.0 * ALPHA * w)
            loss += ALPHA * sum(map(mul, bs, bs))
            for j, b in enumerate(bs):
                bs[j] = b - lr * (gb[j] + 2.0 * ALPHA * b)
        return loss

    return step


# ---- the table ---------------------------------------------------------------------------


def rows(quick: bool = False, micrograd: bool = True) -> list[tuple[str, float, str]]:
    """(workload, milliseconds, comparison) for each measurement; medians of runs taken in turns."""
    repeats = 5 if quick else 21
    runs: dict[str, Callable[[], object]] = {
        "ours": chainrule_step(),
        "fused": chainrule_step(fused=True),
        "floats": float_step(),
    }
    counts = {"ours": repeats, "fused": repeats, "floats": repeats}
    limit = sys.getrecursionlimit()
    if micrograd:
        sys.setrecursionlimit(max(limit, 100_000))  # micrograd's topological sort recurses
        runs["micrograd"] = micrograd_step()
        counts["micrograd"] = 2 if quick else 5
    try:
        median = median_times(runs, counts)
    finally:
        sys.setrecursionlimit(limit)
    ours, fused, floats = median["ours"], median["fused"], median["floats"]
    slower = ours / floats
    table = [
        ("demo step, chainrule", ours * 1e3, ""),
        ("demo step, chainrule with fused dot+relu", fused * 1e3, f"{fused / ours:.2f}x the unfused time"),
        (
            "demo step, plain floats by hand",
            floats * 1e3,
            f"chainrule {slower:.1f}x slower; floor {FLOOR_VS_FLOATS:g}x: "
            f"{_verdict(slower <= FLOOR_VS_FLOATS)}",
        ),
    ]
    if micrograd:
        faster = median["micrograd"] / ours
        table.append(
            (
                "demo step, micrograd 0.1.0",
                median["micrograd"] * 1e3,
                f"chainrule {faster:.0f}x faster; target {TARGET_VS_MICROGRAD:g}x: "
                f"{_verdict(faster >= TARGET_VS_MICROGRAD)}",
            )
        )
    demos = []
    for _ in range(1 if quick else 3):
        start = time.perf_counter()
        accuracy = chainrule_demo()
        demos.append(time.perf_counter() - start)
    demo = statistics.median(demos)
    table.append(
        (
            "whole demo, 100 steps with fit()",
            demo * 1e3,
            f"accuracy {accuracy:.0%}; budget {DEMO_BUDGET_S:g} s: {_verdict(demo < DEMO_BUDGET_S)}",
        )
    )
    return table


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def format_table(table: list[tuple[str, float, str]]) -> str:
    """The rows as a Markdown table."""
    lines = ["| workload | ms | comparison |", "|---|---:|---|"]
    lines += [f"| {name} | {ms:.1f} | {note} |" for name, ms, note in table]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--no-micrograd", action="store_true", help="skip micrograd (slow)")
    args = parser.parse_args(argv)
    print(format_table(rows(quick=args.quick, micrograd=not args.no_micrograd)))


if __name__ == "__main__":
    main()
