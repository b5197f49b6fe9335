"""nn benchmark: one step of micrograd's moons demo, every way chainrule runs it, and the whole demo.

The step is forward over all 100 points, hinge loss + 1e-4 L2, backward and
the SGD update, for MLP(2, [16, 16, 1]). It is timed for chainrule (eager,
with the forward pass a layer at a time over the batch, inside
`autograd.gc_paused()` as `fit` runs it; the same with the collector on; and
point by point as micrograd's demo writes it; traced with `autograd.trace`; and
one example traced with `autograd.trace_batch` and run over the batch with
numpy), for micrograd 0.1.0 (in the same run; and, for reference, with
the collector paused, its garbage collected between runs) and for the same
step written by hand with plain Python floats (the floor: no graph at all),
all from the same initial weights; every repeat is the demo's
first step (the update runs with learning rate 0). The whole 100-step demo is
timed for chainrule's `fit` (eager, compile=True, compile="batch") and for the
hand-written floats, whose backward skips the points the hinge ignores (as
trained points are, the later steps get cheaper); `fit` runs each eager step
in `gc_paused()`. Medians; Python's garbage collector stays on, as it is for
users, except where a row says it is paused.

    python benchmarks/bench_nn.py                          # prints a table
    python benchmarks/bench_nn.py --quick                  # fewer repeats
    python benchmarks/bench_nn.py --write BENCHMARKS.md    # and writes its section
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from operator import mul
from pathlib import Path

from bench import median_times, write_section  # the engine benchmark, beside this file

from autograd import Value, gc_paused, trace, trace_batch
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


# ---- chainrule -------------------------------------------------------------------


def chainrule_step(
    fused: bool = False, lr: float = 0.0, per_point: bool = False, paused: bool = False
) -> Callable[[], float]:
    """One demo step with chainrule's MLP, hinge_loss, l2_penalty and SGD.

    The forward pass is `model.forward_batch(inputs)`, as `fit` runs it, or
    with `per_point` micrograd's `[model(x) for x in inputs]` (the same graph).
    With `paused` the step runs inside `gc_paused()` and
    its graph is freed before the block ends. `fit` does both. With the default
    learning rate 0 the update runs but changes nothing, so every call repeats
    the demo's first step from the same weights.
    """
    inputs, labels = moons()
    model = MLP(2, SIZES[1:], seed=1, fused=fused)
    parameters = model.parameters()
    optimizer = SGD(parameters, lr=lr)

    def step() -> float:
        scores = [model(x) for x in inputs] if per_point else model.forward_batch(inputs)
        loss = hinge_loss(scores, labels) + l2_penalty(parameters, ALPHA)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.data

    def paused_step() -> float:
        with gc_paused():
            return step()

    return paused_step if paused else step


def compiled_step(lr: float = 0.0) -> Callable[[], float]:
    """chainrule_step traced once with `autograd.trace`: each call runs generated code, no Value."""
    inputs, labels = moons()
    model = MLP(2, SIZES[1:], seed=1)
    parameters = model.parameters()
    optimizer = SGD(parameters, lr=lr)

    def objective() -> Value:
        scores = [model(x) for x in inputs]
        return hinge_loss(scores, labels) + l2_penalty(parameters, ALPHA)

    compiled = trace(objective, params=parameters)

    def step() -> float:
        optimizer.zero_grad()
        value, _ = compiled()
        optimizer.step()
        return float(value)

    return step


def batched_step(lr: float = 0.0) -> tuple[Callable[[], float], float]:
    """chainrule_step with one example's objective traced once by `autograd.trace_batch`.

    Each call runs numpy code over the whole batch (a matrix product per
    layer). Returns the step and the milliseconds the trace took.
    """
    import numpy as np

    inputs, labels = moons()
    model = MLP(2, SIZES[1:], seed=1)
    parameters = model.parameters()
    optimizer = SGD(parameters, lr=lr)

    def objective(x: list[Value], label: Value) -> Value:
        return hinge_loss([model(x)], [label]) + l2_penalty(parameters, ALPHA)

    start = time.perf_counter()
    compiled = trace_batch(objective, inputs[0], labels[0], params=parameters, input_grads=False)
    trace_ms = (time.perf_counter() - start) * 1e3
    points, signs_ = np.array(inputs), np.array(labels)

    def step() -> float:
        optimizer.zero_grad()
        value, _ = compiled(points, signs_)
        optimizer.step()
        return float(value)

    return step, trace_ms


def chainrule_demo(compile: bool | str = False) -> float:
    """The whole demo with `fit` (any `compile=`): 100 steps, lr 1.0 - 0.9 k / 100; the final accuracy."""
    inputs, labels = moons()
    model = MLP(2, SIZES[1:], seed=1)
    optimizer = SGD(model.parameters(), lr=LinearDecay(1.0, 0.1, 100))
    history = fit(
        model,
        inputs,
        labels,
        loss=hinge_loss,
        optimizer=optimizer,
        epochs=100,
        l2=ALPHA,
        progress=False,
        compile=compile,
    )
    return history.accuracy[-1]


# ---- micrograd 0.1.0 ---------------------------------------------------------------


def micrograd_step(lr: float = 0.0) -> Callable[[], float]:
    """One demo step written as micrograd's demo notebook writes it, from chainrule_step's weights."""
    import micrograd.nn

    inputs, labels = moons()
    model = micrograd.nn.MLP(2, SIZES[1:])
    for theirs, ours in zip(model.parameters(), MLP(2, SIZES[1:], seed=1).parameters(), strict=True):
        theirs.data = ours.data

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
            p.data -= lr * p.grad
        return float(loss.data)

    return step


# ---- plain floats, by hand -------------------------------------------------------------


def float_step(lr: float | Callable[[int], float] = 0.0) -> Callable[[], float]:
    """The same step written by hand with plain floats: forward, backward and update, no graph.

    `lr` is a number or a schedule of the step number; returns the step, which
    returns the loss (hinge + L2) and counts its calls.
    """
    inputs, labels = moons()
    # The same initial weights as chainrule_step's model, so both do the same arithmetic.
    model = MLP(2, SIZES[1:], seed=1)
    weights = [[[w.data for w in n.w] for n in layer.neurons] for layer in model.layers]
    biases = [[n.b.data if n.b is not None else 0.0 for n in layer.neurons] for layer in model.layers]
    last = len(weights) - 1
    schedule = lr if callable(lr) else (lambda k: float(lr))
    steps_taken = [0]
    n = len(inputs)

    def forward(x: Sequence[float]) -> tuple[list[Sequence[float]], list[list[float]], float]:
        layer_inputs: list[Sequence[float]] = []
        sums: list[list[float]] = []
        a: Sequence[float] = x
        for k, (layer, bs) in enumerate(zip(weights, biases, strict=True)):
            s = [sum(map(mul, row, a)) + b for row, b in zip(layer, bs, strict=True)]
            layer_inputs.append(a)
            sums.append(s)
            a = s if k == last else [v if v > 0.0 else 0.0 for v in s]
        return layer_inputs, sums, a[0]

    def step() -> float:
        rate = schedule(steps_taken[0])
        grad_w = [[[0.0] * len(row) for row in layer] for layer in weights]
        grad_b = [[0.0] * len(layer) for layer in weights]
        loss = 0.0
        for x, y in zip(inputs, labels, strict=True):
            layer_inputs, sums, score = forward(x)
            margin = 1.0 - y * score
            if margin <= 0.0:
                continue  # relu'(margin) = 0: nothing flows back from this point
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
                    row[i] = w - rate * (grow[i] + 2.0 * ALPHA * w)
            loss += ALPHA * sum(map(mul, bs, bs))
            for j, b in enumerate(bs):
                bs[j] = b - rate * (gb[j] + 2.0 * ALPHA * b)
        steps_taken[0] += 1
        return loss

    def accuracy() -> float:
        return sum((forward(x)[2] > 0.0) == (y > 0.0) for x, y in zip(inputs, labels, strict=True)) / n

    step.accuracy = accuracy  # type: ignore[attr-defined]
    return step


def float_demo() -> float:
    """The whole demo by hand in plain floats: 100 steps, lr 1.0 - 0.9 k / 100. Returns the final accuracy."""
    step = float_step(LinearDecay(1.0, 0.1, 100))
    for _ in range(100):
        step()
    return step.accuracy()  # type: ignore[attr-defined,no-any-return]


# ---- the table ---------------------------------------------------------------------------


def rows(quick: bool = False, micrograd: bool = True) -> list[tuple[str, float, str]]:
    """(workload, milliseconds, comparison) for each measurement; medians of runs taken in turns."""
    repeats = 5 if quick else 21
    start = time.perf_counter()
    compiled = compiled_step()
    tracing = time.perf_counter() - start
    batched, batch_tracing_ms = batched_step()
    runs: dict[str, Callable[[], object]] = {
        "eager": chainrule_step(paused=True),
        "collector on": chainrule_step(),
        "per point": chainrule_step(per_point=True),
        "compiled": compiled,
        "batched": batched,
        "fused": chainrule_step(fused=True, paused=True),
        "floats": float_step(),
    }
    counts = dict.fromkeys(runs, repeats)
    limit = sys.getrecursionlimit()
    if micrograd:
        sys.setrecursionlimit(max(limit, 100_000))  # micrograd's topological sort recurses
        runs["micrograd"] = micrograd_step()
        counts["micrograd"] = 2 if quick else 5
    try:
        median = median_times(runs, counts, block=3)
        if micrograd:
            median["micrograd paused"] = _median_paused(runs["micrograd"], counts["micrograd"])
    finally:
        sys.setrecursionlimit(limit)

    def against(ms: float) -> str:
        slower = ms / median["floats"]
        note = (
            f"{slower:.2g}x plain floats (floor {FLOOR_VS_FLOATS:g}x: {_verdict(slower <= FLOOR_VS_FLOATS)})"
        )
        if micrograd:
            faster = median["micrograd"] / ms
            note += f"; {faster:.0f}x faster than micrograd (target {TARGET_VS_MICROGRAD:g}x: "
            note += f"{_verdict(faster >= TARGET_VS_MICROGRAD)})"
        return note

    table = [
        (
            "demo step, chainrule (model.forward_batch in gc_paused(), as fit runs it)",
            median["eager"],
            against(median["eager"]),
        ),
        (
            "demo step, chainrule (model.forward_batch, collector on)",
            median["collector on"],
            against(median["collector on"]),
        ),
        (
            "demo step, chainrule point by point (model(x), collector on)",
            median["per point"],
            against(median["per point"]),
        ),
        (
            "demo step, chainrule traced (autograd.trace)",
            median["compiled"],
            against(median["compiled"]),
        ),
        ("tracing that step once", tracing * 1e3, "paid once, before the first step"),
        (
            "demo step, chainrule batched (autograd.trace_batch, numpy)",
            median["batched"],
            against(median["batched"]),
        ),
        ("tracing one example for it", batch_tracing_ms, "paid once, before the first step"),
        (
            "demo step, chainrule with fused dot+relu (MLP(..., fused=True), as fit runs it)",
            median["fused"],
            f"{median['fused'] / median['eager']:.2f}x the unfused time; " + against(median["fused"]),
        ),
        ("demo step, plain floats by hand", median["floats"], "no graph at all"),
    ]
    if micrograd:
        table.append(("demo step, micrograd 0.1.0", median["micrograd"], "its demo notebook's code"))
        table.append(
            (
                "demo step, micrograd 0.1.0 with the collector paused",
                median["micrograd paused"],
                f"for reference: the collector is {1 - median['micrograd paused'] / median['micrograd']:.0%} "
                "of its time, but its graphs are cycles that only the collector frees",
            )
        )

    # The whole demo: fit() eager and compiled, and the same 100 steps by hand in floats, in turns.
    demos: dict[str, list[float]] = {"eager": [], "compiled": [], "batched": [], "floats": []}
    accuracies: dict[str, float] = {}
    whole: dict[str, Callable[[], float]] = {
        "eager": chainrule_demo,
        "compiled": lambda: chainrule_demo(compile=True),
        "batched": lambda: chainrule_demo(compile="batch"),
        "floats": float_demo,
    }
    for _ in range(1 if quick else 3):
        for name, demo in whole.items():
            start = time.perf_counter()
            accuracies[name] = demo()
            demos[name].append(time.perf_counter() - start)
    seconds = {name: statistics.median(ts) for name, ts in demos.items()}
    for name, label in (
        ("eager", "fit()"),
        ("compiled", "fit(compile=True)"),
        ("batched", 'fit(compile="batch")'),
    ):
        table.append(
            (
                f"whole demo, 100 steps with {label}",
                seconds[name] * 1e3,
                f"accuracy {accuracies[name]:.0%}; {seconds[name] / seconds['floats']:.1f}x the floats; "
                f"budget {DEMO_BUDGET_S:g} s: {_verdict(seconds[name] < DEMO_BUDGET_S)}",
            )
        )
    table.append(
        (
            "whole demo, 100 steps by hand in floats",
            seconds["floats"] * 1e3,
            f"accuracy {accuracies['floats']:.0%}; skips the points the hinge ignores",
        )
    )
    return table


def _median_paused(run: Callable[[], object], repeats: int) -> float:
    """Median milliseconds of `run` inside gc_paused(), its garbage collected between runs, untimed."""
    times = []
    for _ in range(repeats):
        gc.collect()
        with gc_paused():
            start = time.perf_counter()
            run()
            times.append((time.perf_counter() - start) * 1e3)
    gc.collect()
    return statistics.median(times)


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def format_table(table: list[tuple[str, float, str]]) -> str:
    """The rows as a Markdown table."""
    lines = ["| workload | ms | comparison |", "|---|---:|---|"]
    lines += [
        f"| {name} | {ms:.1f} | {note} |" if ms >= 1 else f"| {name} | {ms:.3f} | {note} |"
        for name, ms, note in table
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Print the table (and write it into a Markdown file with --write)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--no-micrograd", action="store_true", help="skip micrograd (slow)")
    parser.add_argument("--write", type=Path, help="also write the table into this Markdown file")
    args = parser.parse_args(argv)
    text = format_table(rows(quick=args.quick, micrograd=not args.no_micrograd))
    facts = {
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {platform.system()}",
        "micrograd": "0.1.0" if not args.no_micrograd else "skipped",
    }
    print(text)
    print("; ".join(f"{k} {v}" for k, v in facts.items()))
    if args.write:
        write_section(
            args.write,
            "nn: micrograd's moons demo",
            text,
            facts,
            "medians; garbage collector on, except in the rows that say it is paused "
            "and in fit()'s eager steps, which run in gc_paused()",
        )


if __name__ == "__main__":
    main()
