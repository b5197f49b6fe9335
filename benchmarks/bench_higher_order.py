"""What higher-order derivatives cost, as tables.

    python benchmarks/bench_higher_order.py                       # second-order costs per node
    python benchmarks/bench_higher_order.py --baseline OLD_DIR    # first order: this tree against another

First order: forward + backward() of a 1,000-op chain and of an MLP graph of
~65k nodes of binary ops, the figures that hooks and anomaly mode must not
slow down. With `--baseline OLD_DIR` (a folder holding another copy of the
`autograd` package, for example from `git worktree add`), both engines run in
one process, taking turns repeat by repeat, so that other load on the machine
falls on both alike; figures are the best CPU time of the repeats, each timed
from a collected heap with the garbage collector paused.

Second order: per op node of the graph, the cost of a float gradient (the fast
`backward()` and the general pass of `grad()`), of building the gradient graph
(`create_graph=True`, and how many nodes it adds per node), and of one Hessian
row (the gradient of df/dx_0 with respect to every leaf).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import itertools
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import autograd


def chain(ag: ModuleType, length: int = 1000) -> Any:
    """x -> tanh, +, * in turn: `length` ops in a line."""
    y = ag.Value(0.5)
    for i in range(length):
        k = i % 3
        y = y.tanh() if k == 0 else (y + 0.1 if k == 1 else y * 0.9)
    return y


def mlp_params(ag: ModuleType, sizes: tuple[int, ...] = (2, 16, 16, 1), seed: int = 1) -> list[Any]:
    """Weights and biases of a tanh MLP with these layer sizes."""
    rng = random.Random(seed)
    return [
        [([ag.Value(rng.uniform(-1, 1)) for _ in range(n_in)], ag.Value(0.0)) for _ in range(n_out)]
        for n_in, n_out in itertools.pairwise(sizes)
    ]


def mlp_batch(n: int, seed: int = 0) -> list[tuple[list[float], float]]:
    """n points in the plane with a +-1 label."""
    rng = random.Random(seed)
    points = [[rng.uniform(-2, 2), rng.uniform(-2, 2)] for _ in range(n)]
    return [(p, 1.0 if p[0] * p[1] > 0 else -1.0) for p in points]


def mlp_loss(params: list[Any], batch: list[tuple[list[float], float]]) -> Any:
    """Mean squared error of the MLP over the batch, built from binary ops only."""
    total: Any = 0.0
    for sample, label in batch:
        acts: list[Any] = list(sample)
        for depth, layer in enumerate(params):
            outs = []
            for ws, b in layer:
                s = b
                for w, a in zip(ws, acts, strict=True):
                    s = s + w * a
                outs.append(s if depth == len(params) - 1 else s.tanh())
            acts = outs
        total = total + (acts[0] - label) ** 2
    return total * (1.0 / len(batch))


def count_nodes(ag: ModuleType, root: Any) -> int:
    """How many Values the graph of `root` holds."""
    return len(ag.topological_order(root))


def best_of(repeats: int, run: Callable[[], object]) -> float:
    """Smallest CPU time of `repeats` runs, in seconds, each from a collected heap with the collector paused.

    CPU time rather than wall time: other processes on a busy machine then
    slow the figures far less. Graphs of Values hold no reference cycles, so
    pausing the collector only removes the noise of when it happens to run.
    """
    times = []
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            start = time.process_time()
            run()
            times.append(time.process_time() - start)
        finally:
            gc.enable()
    return min(times)


def load_baseline(folder: Path) -> ModuleType:
    """Import the `autograd` package found in `folder` under the name `baseline_autograd`."""
    init = folder / "autograd" / "__init__.py"
    if not init.is_file():
        raise SystemExit(f"--baseline: no autograd package in {folder} (looked for {init})")
    spec = importlib.util.spec_from_file_location(
        "baseline_autograd", init, submodule_search_locations=[str(init.parent)]
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["baseline_autograd"] = module
    spec.loader.exec_module(module)
    return module


def first_order(engines: dict[str, ModuleType], repeats: int, batch_size: int) -> None:
    """Print forward + backward() times of each engine, taking turns repeat by repeat."""
    batch = mlp_batch(batch_size)
    params = {name: mlp_params(ag) for name, ag in engines.items()}
    nodes = count_nodes(autograd, mlp_loss(params["this tree"], batch))
    workloads: dict[str, Callable[[str, ModuleType], Callable[[], None]]] = {
        "1,000-op chain": lambda name, ag: lambda: chain(ag).backward(),
        f"MLP 2-16-16-1, {nodes:,} nodes of binary ops": lambda name, ag: (
            lambda: mlp_loss(params[name], batch).backward()
        ),
    }
    names = list(engines)
    print(
        "| first order, forward + backward() | "
        + " | ".join(names)
        + (" | change |" if len(names) > 1 else " |")
    )
    print("|---|" + "---:|" * (len(names) + (1 if len(names) > 1 else 0)))
    for workload, make in workloads.items():
        runs = {name: make(name, ag) for name, ag in engines.items()}
        best = dict.fromkeys(names, float("inf"))
        count = repeats * 5 if workload.startswith("1,000") else repeats
        for _ in range(count):
            for name in names:
                best[name] = min(best[name], best_of(1, runs[name]))
        cells = " | ".join(f"{best[name] * 1e3:.2f} ms" for name in names)
        change = f" | {best[names[0]] / best[names[1]] - 1:+.1%} |" if len(names) > 1 else " |"
        print(f"| {workload} | {cells}{change}")


def second_order(repeats: int) -> None:
    """Print per-node costs of second-order derivatives against first order."""
    print("| graph | op nodes | backward() | grad() | create_graph=True | gradient graph | Hessian row |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    params = mlp_params(autograd)
    second_order_row("1,000-op chain", lambda: chain(autograd), repeats)
    second_order_row("MLP 2-16-16-1, batch 10", lambda: mlp_loss(params, mlp_batch(10)), repeats)


def second_order_row(name: str, build: Callable[[], Any], repeats: int) -> None:
    """One row: microseconds per op node for each way of differentiating the graph `build` makes."""
    grad = autograd.grad
    root = build()
    graph = autograd.topological_order(root)
    leaves = [v for v in graph if v.is_leaf]
    ops = len(graph) - len(leaves)
    fast = best_of(repeats, root.backward)  # repeating it only adds to the leaves' gradients
    general = best_of(repeats, lambda: grad(root, leaves))
    with_graph = best_of(repeats, lambda: grad(root, leaves, create_graph=True))
    gradients = grad(root, leaves, create_graph=True)
    added = len(autograd.topological_order(autograd.Value.sum(gradients))) - len(graph) - 1

    def hessian_row() -> None:
        grad(grad(root, leaves[0], create_graph=True), leaves)

    row = best_of(repeats, hessian_row)
    per = " | ".join(f"{t / ops * 1e6:.2f} us" for t in (fast, general, with_graph))
    print(f"| {name} | {ops:,} | {per} | {added / ops:.1f} nodes per node | {row / ops * 1e6:.2f} us |")


def main() -> None:
    """Parse the options and print the tables."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=9, help="timed repeats per workload")
    parser.add_argument("--batch", type=int, default=100, help="MLP samples (100 give ~65k nodes)")
    parser.add_argument("--baseline", type=Path, help="a folder holding another copy of the autograd package")
    args = parser.parse_args()
    engines = {"this tree": autograd}
    if args.baseline:
        engines["baseline"] = load_baseline(args.baseline)
    first_order(engines, args.repeats, args.batch)
    print()
    second_order(args.repeats)


if __name__ == "__main__":
    main()
