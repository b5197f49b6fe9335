"""Engine benchmarks: chainrule against micrograd 0.1.0, side by side in one run.

    python benchmarks/bench.py                 # print the table
    python benchmarks/bench.py --write BENCHMARKS.md

Python's garbage collector stays on, as users run it. Each figure is the median
of several repeats; ratios compare medians taken in the same run.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import platform
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograd import Value

try:
    from micrograd.engine import Value as MicrogradValue
except ImportError:  # the `bench` extra installs it
    MicrogradValue = None


@dataclass
class Row:
    """One line of the results table."""

    workload: str
    ours: float
    theirs: float | None
    unit: str = "ms"
    target: str = ""

    @property
    def speedup(self) -> float | None:
        return None if self.theirs is None else self.theirs / self.ours


def median_times(
    runs: dict[str, Callable[[], Any]], repeats: int | dict[str, int], block: int = 5
) -> dict[str, float]:
    """Median wall time in milliseconds of each run, the runs taking turns block by block.

    Taking turns spreads other load on the machine over all runs alike. Each
    block starts from a collected heap: micrograd and PyTorch leave reference
    cycles behind, and a collection that one implementation's garbage needs must
    not fall on another's time. Within a block the collector runs as it would
    for a user. `repeats` is one count for all runs or a count per run; each run
    is called once first, to warm up.
    """
    counts = dict.fromkeys(runs, repeats) if isinstance(repeats, int) else repeats
    gc.enable()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():
        run()
    while any(len(times[name]) < counts[name] for name in runs):
        for name, run in runs.items():
            count = min(block, counts[name] - len(times[name]))
            if count <= 0:
                continue
            gc.collect()
            for _ in range(count):
                start = time.perf_counter()
                run()
                times[name].append((time.perf_counter() - start) * 1e3)
    gc.collect()
    return {name: statistics.median(ts) for name, ts in times.items()}


def compare(
    ours: Callable[[], Any], theirs: Callable[[], Any] | None, repeats: int
) -> tuple[float, float | None]:
    """Medians of our run and, when micrograd is installed, of theirs, taken in turns."""
    runs = {"ours": ours} if theirs is None else {"ours": ours, "theirs": theirs}
    medians = median_times(runs, repeats)
    return medians["ours"], medians.get("theirs")


# ---- workloads ------------------------------------------------------------------


def chain(value_class: Any, n_ops: int) -> Any:
    """x -> *c -> +c -> *c -> ... : n_ops binary ops, each with a constant."""
    x = value_class(0.5)
    y = x
    for _ in range(n_ops // 2):
        y = y * 1.0001 + 0.001
    return y


def chain_step(value_class: Any, n_ops: int = 1000) -> None:
    chain(value_class, n_ops).backward()


def moons_inputs(n: int = 100) -> tuple[list[list[float]], list[float]]:
    """Fixed points and labels with the shape of micrograd's moons demo."""
    rng = random.Random(0)
    xs = [[rng.uniform(-1.5, 2.5), rng.uniform(-1.0, 1.5)] for _ in range(n)]
    ys = [rng.choice([-1.0, 1.0]) for _ in range(n)]
    return xs, ys


def mlp_parameters(value_class: Any, sizes: tuple[int, ...] = (2, 16, 16, 1)) -> list[list[tuple[Any, Any]]]:
    """Weights and bias of each neuron, layer by layer, micrograd's uniform(-1, 1) init."""
    rng = random.Random(1)
    return [
        [([value_class(rng.uniform(-1, 1)) for _ in range(nin)], value_class(0.0)) for _ in range(nout)]
        for nin, nout in itertools.pairwise(sizes)
    ]


def moons_loss_binary_ops(value_class: Any, layers: list[list[tuple[Any, Any]]]) -> Any:
    """micrograd's demo loss written with binary ops only: hinge loss + 1e-4 L2."""
    xs, ys = moons_inputs()
    scores = []
    for row in xs:
        act = [value_class(x) for x in row]
        for depth, layer in enumerate(layers):
            outs = []
            for weights, bias in layer:
                s = sum((w * a for w, a in zip(weights, act, strict=True)), bias)
                outs.append(s if depth == len(layers) - 1 else s.relu())
            act = outs
        scores.append(act[0])
    losses = [(1 + -y * s).relu() for y, s in zip(ys, scores, strict=True)]
    data_loss = sum(losses) * (1.0 / len(losses))
    params = [p for layer in layers for weights, bias in layer for p in [*weights, bias]]
    return data_loss + 1e-4 * sum(p * p for p in params)


def count_nodes(root: Value) -> int:
    from autograd import topological_order

    return len(topological_order(root))


def bytes_per_node(n_ops: int = 100_000) -> tuple[float, int]:
    """Memory held per node of a built and differentiated chain, by tracemalloc."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    root = chain(Value, n_ops)
    root.backward()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    nodes = count_nodes(root)
    del root
    return held / nodes, nodes


def deep_chain_seconds(depth: int = 1_000_000) -> float:
    """Forward and backward of a depth-`depth` chain at the default recursion limit."""
    start = time.perf_counter()
    x = Value(1.0)
    y = x
    for _ in range(depth):
        y = y * 1.0
    y.backward()
    assert x.grad == 1.0
    return time.perf_counter() - start


# ---- the run ----------------------------------------------------------------------


def run(repeats: int) -> tuple[list[Row], dict[str, str]]:
    rows: list[Row] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))  # micrograd recurses over the graph

    ours, theirs = compare(
        lambda: chain_step(Value), (lambda: chain_step(MicrogradValue)) if MicrogradValue else None, repeats
    )
    rows.append(Row("1,000-op chain, forward+backward", ours, theirs, target=">= 3x"))

    our_layers = mlp_parameters(Value)
    nodes = count_nodes(moons_loss_binary_ops(Value, our_layers))
    their_step = None
    if MicrogradValue:
        their_layers = mlp_parameters(MicrogradValue)
        their_step = lambda: moons_loss_binary_ops(MicrogradValue, their_layers).backward()  # noqa: E731
    ours, theirs = compare(
        lambda: moons_loss_binary_ops(Value, our_layers).backward(), their_step, max(3, repeats // 4)
    )
    rows.append(Row(f"moons step graph, {nodes:,} nodes of binary ops", ours, theirs, target=">= 3x"))

    per_node, counted = bytes_per_node()
    rows.append(Row(f"memory per node ({counted:,}-node chain)", per_node, None, "bytes", "<= 350"))

    rows.append(Row("depth-1,000,000 chain, forward+backward", deep_chain_seconds(), None, "s", "< 10"))

    facts = {
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {platform.system()}",
        "micrograd": "0.1.0" if MicrogradValue else "not installed",
        "repeats": str(repeats),
    }
    return rows, facts


def table(rows: list[Row]) -> str:
    lines = [
        "| workload | chainrule | micrograd 0.1.0 | speed-up | target |",
        "|---|---:|---:|---:|---|",
    ]
    for r in rows:
        theirs = "" if r.theirs is None else f"{r.theirs:,.2f} {r.unit}"
        speedup = "" if r.speedup is None else f"{r.speedup:.1f}x"
        lines.append(f"| {r.workload} | {r.ours:,.2f} {r.unit} | {theirs} | {speedup} | {r.target} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=21, help="timed repeats per workload")
    parser.add_argument("--write", type=Path, help="also write the table into this Markdown file")
    args = parser.parse_args(argv)
    rows, facts = run(args.repeats)
    text = table(rows)
    print(text)
    print("; ".join(f"{k} {v}" for k, v in facts.items()))
    if args.write:
        write_section(args.write, "Engine", text, facts)


def write_section(
    path: Path, title: str, text: str, facts: dict[str, str], how: str = "medians, garbage collector on"
) -> None:
    """Replace (or add) the `## title` section of a Markdown file with this run's table."""
    # Name the script that is running: the nn benchmark and the suite write through here too.
    command = f"python benchmarks/{Path(sys.argv[0]).name} --write {path.name}"
    body = (
        f"## {title}\n\nMeasured with `{command}` (part of `make bench`); {how}.\n"
        f"{'; '.join(f'{k} {v}' for k, v in facts.items())}.\n\n{text}\n"
    )
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    start = old.find(f"## {title}\n")
    if start == -1:
        new = old.rstrip("\n") + "\n\n" + body
    else:
        end = old.find("\n## ", start + 1)
        new = old[:start] + body + ("" if end == -1 else old[end:])
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(new, encoding="utf-8")
    tmp.replace(path)


if __name__ == "__main__":
    main()
