"""What higher-order derivatives cost: prints a table (run: python benchmarks/bench_higher_order.py).

First order: a 1,000-op chain and a ~65k-node MLP graph, forward + backward(),
the figures the higher-order machinery must not slow down. Second order: the
cost per graph node of backward(create_graph=True) (building the gradient
graph) and of differentiating a gradient again, against first order.
"""

from __future__ import annotations

import argparse
import itertools
import random
import time
from collections.abc import Callable

from autograd import Value, dot, topological_order


def chain(length: int) -> Value:
    """x -> tanh/+/* ... : `length` ops in a line."""
    x = Value(0.5)
    y = x
    for i in range(length):
        k = i % 3
        y = y.tanh() if k == 0 else (y + 0.1 if k == 1 else y * 0.9)
    return y


def mlp_params(sizes: list[int], seed: int) -> list[list[tuple[list[Value], Value]]]:
    """Weights and biases of a tanh MLP with these layer sizes."""
    rng = random.Random(seed)
    return [
        [([Value(rng.uniform(-1, 1)) for _ in range(n_in)], Value(0.0)) for _ in range(n_out)]
        for n_in, n_out in itertools.pairwise(sizes)
    ]


def mlp_loss(params: list[list[tuple[list[Value], Value]]], batch: list[list[float]]) -> Value:
    """Sum of squared outputs of the MLP over a batch: one dot node per neuron."""
    terms = []
    for sample in batch:
        acts: list[float] | list[Value] = sample
        for depth, layer in enumerate(params):
            outs = [dot(ws, acts, b) for ws, b in layer]
            acts = outs if depth == len(params) - 1 else [o.tanh() for o in outs]
        terms.append(acts[0] * acts[0])
    return Value.sum(terms)


def best_of(repeats: int, run: Callable[[], object]) -> float:
    """Smallest wall time of `repeats` runs, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    """Print the first-order and second-order tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=490, help="MLP samples (490 gives ~65k nodes)")
    parser.add_argument("--first-order-only", action="store_true")
    args = parser.parse_args()

    rng = random.Random(0)
    params = mlp_params([8, 32, 32, 1], seed=1)
    batch = [[rng.uniform(-1, 1) for _ in range(8)] for _ in range(args.batch)]
    nodes = len(topological_order(mlp_loss(params, batch)))

    def chain_step() -> None:
        chain(1000).backward()

    def mlp_step() -> None:
        mlp_loss(params, batch).backward()

    print("| first order, forward + backward() | nodes | best time |")
    print("|---|---:|---:|")
    print(
        f"| 1,000-op chain | {len(topological_order(chain(1000)))} | "
        f"{best_of(args.repeats * 5, chain_step) * 1e3:.3f} ms |"
    )
    print(f"| MLP 8-32-32-1, batch {args.batch} | {nodes} | {best_of(args.repeats, mlp_step) * 1e3:.1f} ms |")
    if args.first_order_only:
        return

    print()
    print("| second order | nodes | backward() | create_graph=True | gradient graph | Hessian row |")
    print("|---|---:|---:|---:|---:|---:|")
    second_order_row("1,000-op chain", chain(1000), args.repeats)
    second_order_row(
        f"MLP 8-32-32-1, batch {args.batch // 10}", mlp_loss(params, batch[: args.batch // 10]), 3
    )


def second_order_row(name: str, root: Value, repeats: int) -> None:
    """Print one row of per-node costs: first order, building the gradient graph, one Hessian row."""
    from autograd import grad

    graph = topological_order(root)
    leaves = [v for v in graph if v.is_leaf]
    ops = len(graph) - len(leaves)
    first = best_of(repeats, lambda: grad(root, leaves))
    with_graph = best_of(repeats, lambda: grad(root, leaves, create_graph=True))
    gradient_nodes = len(topological_order(Value.sum(grad(root, leaves, create_graph=True)))) - len(graph)

    def hessian_row() -> None:
        first_gradient = grad(root, leaves[0], create_graph=True)
        grad(first_gradient, leaves)

    row = best_of(repeats, hessian_row)
    print(
        f"| {name} | {ops} | {first / ops * 1e6:.2f} us/node | {with_graph / ops * 1e6:.2f} us/node | "
        f"{gradient_nodes / ops:.1f} nodes/node | {row / ops * 1e6:.2f} us/node |"
    )


if __name__ == "__main__":
    main()
