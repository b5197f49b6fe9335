"""Compiler benchmark: the moons demo step compiled by `trace` and by `trace_batch`, autograd alone.

The step is micrograd's moons demo step, forward and backward: an MLP
2-16-16-1 (relu hidden layers, linear output) over 100 points, hinge loss +
1e-4 L2, built from autograd's own layer functions (`dots_batch`,
`activate`, `dot`), so it needs no `nn`. Rows: the step traced with `trace`
(all 100 points in one graph) and one example traced with `trace_batch`
(numpy over the batch), each plain and with fused dot+relu nodes; the time a
call takes and the time tracing and compiling took. Medians.

    python benchmarks/bench_compile.py            # prints a table
    python benchmarks/bench_compile.py --quick    # fewer repeats
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Sequence
from itertools import chain, pairwise

from bench import median_times, moons_inputs  # the engine benchmark, beside this file

from autograd import Value, activate, dot, dots_batch, trace, trace_batch

SIZES = (2, 16, 16, 1)
ALPHA = 1e-4


def mlp(fused: bool) -> tuple[Callable[[Sequence[Value | float]], Value], list[Value]]:
    """An MLP 2-16-16-1 (micrograd's uniform(-1, 1) weights, zero biases) and its parameters."""
    rng = random.Random(1)
    layers = [
        (
            [[Value(rng.uniform(-1.0, 1.0)) for _ in range(nin)] for _ in range(nout)],
            [Value(0.0) for _ in range(nout)],
        )
        for nin, nout in pairwise(SIZES)
    ]
    last = len(layers) - 1

    def model(x: Sequence[Value | float]) -> Value:
        outputs: Sequence[Value | float] = x
        for k, (rows, biases) in enumerate(layers):
            if k == last:
                outputs = dots_batch(rows, [outputs], biases)[0]
            elif fused:
                outputs = dots_batch(rows, [outputs], biases, activation="relu")[0]
            else:
                outputs = activate(dots_batch(rows, [outputs], biases)[0], "relu")
        return outputs[0]  # type: ignore[return-value]

    return model, [p for rows, biases in layers for p in [*chain.from_iterable(rows), *biases]]


def hinge(scores: Sequence[Value], labels: Sequence[Value | float]) -> Value:
    """Mean of max(0, 1 - y * score), one dot node per sample, as nn.hinge_loss makes it."""
    terms = [dot([s], [-y], 1.0).relu() for s, y in zip(scores, labels, strict=True)]
    return Value.sum(terms) * (1.0 / len(terms))


def l2(params: Sequence[Value]) -> Value:
    return dot(params, params) * ALPHA


def traced_step(fused: bool) -> tuple[Callable[[], object], float]:
    inputs, labels = moons_inputs()
    model, params = mlp(fused)

    def objective() -> Value:
        return hinge([model(x) for x in inputs], labels) + l2(params)

    start = time.perf_counter()
    compiled = trace(objective, params=params)
    trace_ms = (time.perf_counter() - start) * 1e3

    def step() -> object:
        for p in params:
            p.grad = 0.0
        return compiled()

    return step, trace_ms


def batched_step(fused: bool) -> tuple[Callable[[], object], float]:
    import numpy as np

    inputs, labels = moons_inputs()
    model, params = mlp(fused)

    def objective(x: list[Value], label: Value) -> Value:
        return hinge([model(x)], [label]) + l2(params)

    start = time.perf_counter()
    compiled = trace_batch(objective, inputs[0], labels[0], params=params, input_grads=False)
    trace_ms = (time.perf_counter() - start) * 1e3
    points, signs = np.array(inputs), np.array(labels)

    def step() -> object:
        for p in params:
            p.grad = 0.0
        return compiled(points, signs)

    return step, trace_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeats = 30 if args.quick else 200
    runs: dict[str, Callable[[], object]] = {}
    traced: dict[str, float] = {}
    for name, make in (("trace", traced_step), ("trace_batch", batched_step)):
        for fused in (False, True):
            label = f"{name}{', fused' if fused else ''}"
            runs[label], traced[label] = make(fused)
    times = median_times(runs, repeats)
    print(
        f"| moons demo step (MLP {'-'.join(map(str, SIZES))}, 100 points) | call, ms | trace + compile, ms |"
    )
    print("|---|---:|---:|")
    for label, ms in times.items():
        print(f"| {label} | {ms:.3f} | {traced[label]:.0f} |")


if __name__ == "__main__":
    main()
