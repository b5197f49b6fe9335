"""The benchmark suite: every implementation side by side on every workload, in one run.

Implementations: micrograd 0.1.0, PyTorch built from 0-d tensors, chainrule's
eager engine, chainrule compiled (`autograd.trace`), chainrule compiled over
the batch with numpy (`autograd.trace_batch`, where there is a batch), the
same work written by hand in plain floats (the floor), and vectorised PyTorch.
Workloads: one step of micrograd's moons demo (MLP(2, [16, 16, 1]) on 100
points, hinge loss + 1e-4 L2, backward, SGD update), a 1,000-op chain, a
100,000-term sum and dot (forward and every gradient), and memory per node.

    python benchmarks/suite.py                      # print the tables
    python benchmarks/suite.py --write BENCHMARKS.md
    python benchmarks/suite.py --quick              # fewer repeats

Figures are medians; the implementations of a workload take turns block by
block in the same run, with the garbage collector on. PyTorch runs on one
thread (`torch.set_num_threads(1)`), like the Python implementations; it is
optional (`pip install torch==2.13.0`) and reported as not installed without.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import math
import platform
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import mul
from pathlib import Path
from typing import Any

import bench
import bench_nn

from autograd import Value, dot, trace
from nn import MLP, SGD, hinge_loss, l2_penalty


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


# Optional, and typed as Any so that type checks agree with and without it installed;
# `make bench` installs torch==2.13.0 when it can.
torch: Any = _optional("torch")

try:
    from micrograd.engine import Value as MicrogradValue
except ImportError:
    MicrogradValue = None

IMPLEMENTATIONS = {
    "micrograd": "micrograd 0.1.0",
    "torch_scalar": "PyTorch, 0-d tensors",
    "eager": "chainrule eager",
    "compiled": "chainrule compiled",
    "batched": "chainrule compiled, batched (numpy)",
    "floor": "plain floats by hand",
    "torch_vector": "PyTorch, vectorised",
}
# The targets for the moons step: the scalar compiled step against the floor and
# micrograd, the batched one against vectorised PyTorch.
FLOOR_LIMIT = 2.5  # at most this many times the hand-written floor
MICROGRAD_SPEEDUP = 150.0  # at least this many times faster than micrograd
TORCH_LIMIT = 2.0  # at most this many times vectorised PyTorch
CHAIN_OPS = 1000
TERMS = 100_000


@dataclass
class Workload:
    """One workload: a run per implementation (None where it does not apply) and how often to time it."""

    name: str
    runs: dict[str, Callable[[], object] | None]
    repeats: dict[str, int]
    trace_ms: float | None = None
    batch_trace_ms: float | None = None
    medians_ms: dict[str, float] = field(default_factory=dict)


# ---- the moons step -----------------------------------------------------------------


def compiled_moons_step() -> tuple[Callable[[], float], float]:
    """bench_nn's chainrule step, traced once: (the step, milliseconds the trace took)."""
    inputs, labels = bench_nn.moons()
    model = MLP(2, bench_nn.SIZES[1:], seed=1)
    parameters = model.parameters()
    optimizer = SGD(parameters, lr=0.0)  # as in bench_nn: every repeat is the first step

    def loss() -> Value:
        return hinge_loss([model(x) for x in inputs], labels) + l2_penalty(parameters, bench_nn.ALPHA)

    start = time.perf_counter()
    compiled = trace(loss, params=parameters)
    trace_ms = (time.perf_counter() - start) * 1e3

    def step() -> float:
        optimizer.zero_grad()
        value, _ = compiled()
        optimizer.step()
        return float(value)

    return step, trace_ms


def _torch_weights() -> list[tuple[list[list[float]], list[float]]]:
    # The same initial weights as bench_nn's models, layer by layer: (rows of weights, biases).
    model = MLP(2, bench_nn.SIZES[1:], seed=1)
    return [
        ([[w.data for w in n.w] for n in layer.neurons], [n.b.data if n.b else 0.0 for n in layer.neurons])
        for layer in model.layers
    ]


def torch_scalar_moons_step() -> Callable[[], float]:
    """The demo step with one 0-d tensor per number, written as micrograd writes it."""
    assert torch is not None
    inputs, labels = bench_nn.moons()
    layers = [
        (
            [[torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in row] for row in rows],
            [torch.tensor(b, dtype=torch.float64, requires_grad=True) for b in biases],
        )
        for rows, biases in _torch_weights()
    ]
    parameters = [p for rows, biases in layers for p in [*[w for row in rows for w in row], *biases]]
    last = len(layers) - 1

    def step() -> float:
        scores = []
        for x in inputs:
            act = [torch.tensor(v, dtype=torch.float64) for v in x]
            for k, (rows, biases) in enumerate(layers):
                sums = [
                    sum((w * a for w, a in zip(row, act, strict=True)), b)
                    for row, b in zip(rows, biases, strict=True)
                ]
                act = sums if k == last else [s.relu() for s in sums]
            scores.append(act[0])
        losses = [(1 + -y * s).relu() for y, s in zip(labels, scores, strict=True)]
        loss = sum(losses) * (1.0 / len(losses)) + bench_nn.ALPHA * sum(p * p for p in parameters)
        return _backward_and_update(loss, parameters)

    return step


def _backward_and_update(loss: Any, parameters: list[Any]) -> float:
    """zero_grad, backward and the SGD update at learning rate 0 (every repeat is the first step)."""
    for p in parameters:
        p.grad = None
    loss.backward()
    with torch.no_grad():
        for p in parameters:
            p -= 0.0 * p.grad
    return float(loss.detach())


def torch_vector_moons_step() -> Callable[[], float]:
    """The demo step on the whole [100, 2] batch at once, with matrices."""
    assert torch is not None
    inputs, labels = bench_nn.moons()
    x = torch.tensor(inputs, dtype=torch.float64)
    y = torch.tensor(labels, dtype=torch.float64)
    parameters = []
    for rows, biases in _torch_weights():
        parameters.append(torch.tensor(rows, dtype=torch.float64).T.contiguous().requires_grad_())
        parameters.append(torch.tensor(biases, dtype=torch.float64, requires_grad=True))
    w1, b1, w2, b2, w3, b3 = parameters

    def step() -> float:
        hidden = torch.relu(torch.relu(x @ w1 + b1) @ w2 + b2)
        scores = (hidden @ w3 + b3).squeeze(1)
        loss = torch.relu(1 - y * scores).mean() + bench_nn.ALPHA * sum((p * p).sum() for p in parameters)
        return _backward_and_update(loss, parameters)

    return step


def moons_workload(quick: bool) -> Workload:
    """The moons demo step, every implementation."""
    compiled, trace_ms = compiled_moons_step()
    batched, batch_trace_ms = bench_nn.batched_step()
    slow = 1 if quick else 5
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 100_000))  # micrograd's topological sort recurses
    runs: dict[str, Callable[[], object] | None] = {
        "micrograd": bench_nn.micrograd_step() if MicrogradValue else None,
        "torch_scalar": torch_scalar_moons_step() if torch else None,
        "eager": bench_nn.chainrule_step(),
        "compiled": compiled,
        "batched": batched,
        "floor": bench_nn.float_step(),
        "torch_vector": torch_vector_moons_step() if torch else None,
    }
    repeats = {"micrograd": slow, "torch_scalar": slow, "eager": 3 if quick else 11}
    return Workload("moons step (MLP 2-16-16-1, 100 points)", runs, repeats, trace_ms, batch_trace_ms)


# ---- the 1,000-op chain -----------------------------------------------------------------


def chain_floor(x: float, n_ops: int = CHAIN_OPS) -> tuple[float, float]:
    """bench.chain's y = (y * 1.0001 + 0.001) ... by hand: the value, then dy/dx going back."""
    y = x
    for _ in range(n_ops // 2):
        y = y * 1.0001 + 0.001
    gradient = 1.0
    for _ in range(n_ops // 2):
        gradient *= 1.0001
    return y, gradient


def chain_workload(quick: bool) -> Workload:
    """Forward and backward of a 1,000-op chain."""
    start = time.perf_counter()
    compiled = trace(lambda x: bench.chain(lambda _: x, CHAIN_OPS), 0.5)
    trace_ms = (time.perf_counter() - start) * 1e3
    runs: dict[str, Callable[[], object] | None] = {
        "micrograd": (lambda: bench.chain_step(MicrogradValue, CHAIN_OPS)) if MicrogradValue else None,
        "torch_scalar": (lambda: bench.chain(_torch_leaf, CHAIN_OPS).backward()) if torch else None,
        "eager": lambda: bench.chain_step(Value, CHAIN_OPS),
        "compiled": lambda: compiled(0.5),
        "batched": None,  # one chain, no batch of examples
        "floor": lambda: chain_floor(0.5),
        "torch_vector": None,  # a chain is sequential: nothing to vectorise
    }
    repeats = {"micrograd": 21 if not quick else 5, "torch_scalar": 11 if not quick else 3}
    return Workload(f"{CHAIN_OPS:,}-op chain, forward + backward", runs, repeats, trace_ms)


def _torch_leaf(data: float) -> Any:
    assert torch is not None
    return torch.tensor(data, dtype=torch.float64, requires_grad=True)


# ---- the 100k-term sum and dot ----------------------------------------------------------


def sum_workloads(quick: bool) -> list[Workload]:
    """A 100,000-term sum and a 100,000-term dot (weights times constant inputs), with every gradient."""
    rng = random.Random(0)
    xs = [rng.uniform(-1.0, 1.0) for _ in range(TERMS)]
    ws = [rng.uniform(-1.0, 1.0) for _ in range(TERMS)]
    our_xs, our_ws = [Value(x) for x in xs], [Value(w) for w in ws]
    their_xs = [MicrogradValue(x) for x in xs] if MicrogradValue else []
    their_ws = [MicrogradValue(w) for w in ws] if MicrogradValue else []
    slow = 2 if quick else 5

    start = time.perf_counter()
    compiled_sum = trace(Value.sum, xs)
    sum_trace_ms = (time.perf_counter() - start) * 1e3
    start = time.perf_counter()
    compiled_dot = trace(lambda weights: dot(weights, xs), ws)
    dot_trace_ms = (time.perf_counter() - start) * 1e3

    def floor_sum() -> tuple[float, list[float]]:
        return math.fsum(xs), [1.0] * len(xs)

    def floor_dot() -> tuple[float, list[float]]:
        return math.fsum(map(mul, ws, xs)), list(xs)

    torch_runs: dict[str, Callable[[], object] | None] = {"sum_scalar": None, "sum_vector": None}
    torch_runs |= {"dot_scalar": None, "dot_vector": None}
    if torch is not None:
        scalar_xs = [_torch_leaf(x) for x in xs]
        scalar_ws = [_torch_leaf(w) for w in ws]
        vector_xs = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
        vector_ws = torch.tensor(ws, dtype=torch.float64, requires_grad=True)
        constants = torch.tensor(xs, dtype=torch.float64)
        torch_runs = {
            "sum_scalar": lambda: sum(scalar_xs).backward(),
            "sum_vector": lambda: vector_xs.sum().backward(),
            "dot_scalar": lambda: sum(w * x for w, x in zip(scalar_ws, xs, strict=True)).backward(),
            "dot_vector": lambda: torch.dot(vector_ws, constants).backward(),
        }
    micrograd_sum = (lambda: sum(their_xs).backward()) if MicrogradValue else None
    micrograd_dot = (
        (lambda: sum(w * x for w, x in zip(their_ws, xs, strict=True)).backward()) if MicrogradValue else None
    )
    slow_repeats = {"micrograd": slow, "torch_scalar": slow}
    return [
        Workload(
            f"{TERMS:,}-term sum, forward + backward",
            {
                "micrograd": micrograd_sum,
                "torch_scalar": torch_runs["sum_scalar"],
                "eager": lambda: Value.sum(our_xs).backward(),
                "compiled": lambda: compiled_sum(xs),
                "batched": None,  # one sum, no batch of examples
                "floor": floor_sum,
                "torch_vector": torch_runs["sum_vector"],
            },
            dict(slow_repeats),
            sum_trace_ms,
        ),
        Workload(
            f"{TERMS:,}-term dot, forward + backward",
            {
                "micrograd": micrograd_dot,
                "torch_scalar": torch_runs["dot_scalar"],
                "eager": lambda: dot(our_ws, xs).backward(),
                "compiled": lambda: compiled_dot(ws),
                "batched": None,
                "floor": floor_dot,
                "torch_vector": torch_runs["dot_vector"],
            },
            dict(slow_repeats),
            dot_trace_ms,
        ),
    ]


# ---- memory per node ------------------------------------------------------------------------


def held_bytes_per_node(build: Callable[[], Any], nodes: int) -> float:
    """Bytes that Python's allocator holds for what `build` returns, per node (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = build()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del kept
    gc.collect()
    return held / nodes


def memory_rows() -> dict[str, str]:
    """Memory per node of a built and differentiated 100,000-op chain, per implementation."""
    n_ops = 100_000
    nodes = bench.count_nodes(bench.chain(Value, n_ops))

    def built(value_class: Any) -> Callable[[], Any]:
        def build() -> Any:
            root = bench.chain(value_class, n_ops)
            root.backward()
            return root

        return build

    ours, _ = bench.bytes_per_node(n_ops)
    compiled = held_bytes_per_node(lambda: trace(lambda x: bench.chain(lambda _: x, n_ops), 0.5), nodes)
    row = {
        "eager": f"{ours:,.0f} B",
        "compiled": f"{compiled:,.0f} B of code",
        "batched": "",
        "floor": "0 B",
        "torch_scalar": "n/a" if torch is None else "not seen by tracemalloc",
        "torch_vector": "",
        "micrograd": "",
    }
    if MicrogradValue:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 3 * n_ops))  # micrograd's topological sort recurses
        try:
            row["micrograd"] = f"{held_bytes_per_node(built(MicrogradValue), nodes):,.0f} B"
        finally:
            sys.setrecursionlimit(limit)
    return row


# ---- the run ------------------------------------------------------------------------------------


def measure(workload: Workload, quick: bool) -> None:
    """Fill in the medians, in milliseconds; the workload's runs take turns."""
    runs = {name: run for name, run in workload.runs.items() if run is not None}
    default = 9 if quick else 45
    repeats = {name: workload.repeats.get(name, default) for name in runs}
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 3 * TERMS))  # micrograd's topological sort recurses
    try:
        workload.medians_ms = bench.median_times(runs, repeats, block=3)
    finally:
        sys.setrecursionlimit(limit)


def times_table(workloads: list[Workload], memory: dict[str, str]) -> str:
    """Milliseconds per implementation, one workload a line."""
    head = "| workload | " + " | ".join(IMPLEMENTATIONS.values()) + " | trace + compile |"
    lines = [head, "|---|" + "---:|" * (len(IMPLEMENTATIONS) + 1)]
    for w in workloads:
        cells = []
        for name in IMPLEMENTATIONS:
            if name in w.medians_ms:
                cells.append(_ms(w.medians_ms[name]))
            elif (name.startswith("torch") and torch is None) or (name == "micrograd" and not MicrogradValue):
                cells.append("not installed")
            else:
                cells.append("")
        trace_cell = "" if w.trace_ms is None else _ms(w.trace_ms)
        if w.batch_trace_ms is not None:
            trace_cell += f"; batched {_ms(w.batch_trace_ms)}"
        lines.append(f"| {w.name} | " + " | ".join(cells) + f" | {trace_cell} |")
    lines.append(
        "| memory per node (100,000-op chain) | " + " | ".join(memory[n] for n in IMPLEMENTATIONS) + " | |"
    )
    return "\n".join(lines)


def _ms(ms: float) -> str:
    return f"{ms:,.3f} ms" if ms < 1 else f"{ms:,.1f} ms"


def ratios_table(workloads: list[Workload]) -> str:
    """How compiled compares with each of the others, workload by workload."""
    lines = [
        "| workload | compiled / floor | micrograd / compiled | compiled / PyTorch vectorised "
        "| batched / PyTorch vectorised | PyTorch 0-d / compiled | eager / compiled |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for w in workloads:
        m = w.medians_ms

        def ratio(a: str, b: str, m: dict[str, float] = m) -> str:
            return f"{m[a] / m[b]:,.1f}x" if a in m and b in m else ""

        lines.append(
            f"| {w.name} | {ratio('compiled', 'floor')} | {ratio('micrograd', 'compiled')} | "
            f"{ratio('compiled', 'torch_vector')} | {ratio('batched', 'torch_vector')} | "
            f"{ratio('torch_scalar', 'compiled')} | "
            f"{ratio('eager', 'compiled')} |"
        )
    return "\n".join(lines)


def targets_table(moons: Workload) -> str:
    """The issue's three targets for the moons step, with the verdicts."""
    m = moons.medians_ms
    rows: list[tuple[str, str, bool | None]] = []
    floor = m["compiled"] / m["floor"]
    rows.append(
        (f"compiled within {FLOOR_LIMIT:g}x of the plain-float floor", f"{floor:.2f}x", floor <= FLOOR_LIMIT)
    )
    if "micrograd" in m:
        speedup = m["micrograd"] / m["compiled"]
        rows.append(
            (
                f"at least {MICROGRAD_SPEEDUP:g}x faster than micrograd",
                f"{speedup:,.0f}x",
                speedup >= MICROGRAD_SPEEDUP,
            )
        )
    else:
        rows.append(
            (f"at least {MICROGRAD_SPEEDUP:g}x faster than micrograd", "micrograd not installed", None)
        )
    name = f"batched within {TORCH_LIMIT:g}x of vectorised PyTorch"
    if "torch_vector" in m:
        versus = m["batched"] / m["torch_vector"]
        rows.append((name, f"{versus:,.2f}x", versus <= TORCH_LIMIT))
    else:
        rows.append((name, "torch not installed", None))
    lines = ["| target (moons step) | measured | verdict |", "|---|---:|---|"]
    for name, figure, met in rows:
        verdict = "not measured" if met is None else ("met" if met else "**missed**")
        lines.append(f"| {name} | {figure} | {verdict} |")
    return "\n".join(lines)


BATCHED_NOTE = """\
The scalar compiled step is Python arithmetic per graph node and edge (about
7,000 nodes and 65,000 gradient terms here), which no pure-Python scalar engine
can bring within reach of vectorised PyTorch: the hand-written float floor
itself is far slower. The batched column traces ONE example's graph (about 400
nodes) and runs it over the whole batch with numpy: each layer's dot nodes are
one matrix product, each activation one call on the layer's matrix, the rest
one numpy operation per node; each layer's parameters are one parameter block
(one array in, one gradient array out, and the SGD step on the arrays). That
is what vectorised PyTorch does, with Python in between
the calls; its results equal eager mode's up to rounding, where the scalar
compiled column's are bit for bit the same. Where there is no batch of
examples (one chain, one big sum) it does not apply."""


def main(argv: list[str] | None = None) -> None:
    """Run every workload, print the tables, and write them into a Markdown file if asked."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--write", type=Path, help="also write the tables into this Markdown file")
    args = parser.parse_args(argv)
    if torch is not None:
        torch.set_num_threads(1)

    workloads = [moons_workload(args.quick), chain_workload(args.quick), *sum_workloads(args.quick)]
    for workload in workloads:
        measure(workload, args.quick)
        print(f"measured: {workload.name}", file=sys.stderr)
    memory = memory_rows()
    targets = targets_table(workloads[0])
    text = "\n\n".join(
        [
            "Run alone with `python benchmarks/suite.py --write BENCHMARKS.md`.",
            times_table(workloads, memory),
            ratios_table(workloads),
            targets,
        ]
    )
    text += "\n\n" + BATCHED_NOTE
    facts = {
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {platform.system()}",
        "micrograd": "0.1.0" if MicrogradValue else "not installed",
        "torch": torch.__version__ if torch is not None else "not installed",
        "repeats": "quick" if args.quick else "full",
    }
    print(text)
    print("; ".join(f"{k} {v}" for k, v in facts.items()))
    if args.write:
        bench.write_section(args.write, "Suite: all implementations side by side", text, facts)


if __name__ == "__main__":
    main()
