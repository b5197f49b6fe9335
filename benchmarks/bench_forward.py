"""Forward mode against reverse mode: jacfwd and jacobian on functions of growing width, side by side.

    python benchmarks/bench_forward.py                 # print the table
    python benchmarks/bench_forward.py --write BENCHMARKS.md

Two shapes of function, both a shared chain of `--depth` ops:

- n inputs, 1 output: the inputs are summed into the chain. `jacobian`
  (reverse mode) needs one backward pass for all n derivatives; `jacfwd` one
  forward pass per input.
- 1 input, m outputs: the chain fans out into m outputs. `jacfwd` needs one
  forward pass for all m derivatives; `jacobian` one backward pass per output.

Each call evaluates f once and differentiates it. The two transforms take
turns, sample by sample, each sample (calls enough for about 5 ms) timed from
a collected heap (gc.collect() before it, the collector on during it);
figures are medians of `--repeats` samples per call, in CPU time (on a shared
machine other processes then slow them far less than wall time), and the
ratio compares medians taken in the same run.
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bench import write_section  # the engine benchmark, beside this file

from autograd import Value, jacfwd, jacobian

SIZES = (1, 2, 4, 8, 16, 32, 64)


def chain(h: Any, depth: int) -> Any:
    """`depth` ops in a line: tanh, * and + in turn."""
    for i in range(depth):
        k = i % 3
        h = h.tanh() if k == 0 else (h * 0.9 if k == 1 else h + 0.1)
    return h


def many_inputs(depth: int) -> Callable[..., list[Any]]:
    """n inputs, one output: the sum of x_i sin(x_i), through the chain."""

    def f(*xs: Value) -> list[Any]:
        return [chain(Value.sum([x * x.sin() for x in xs]), depth)]

    return f


def many_outputs(depth: int, m: int) -> Callable[[Value], list[Any]]:
    """One input, m outputs: the chain, then sin(c_i h) for m constants c_i."""

    def f(x: Value) -> list[Any]:
        h = chain(x, depth)
        return [(h * (1.0 + 0.1 * i)).sin() for i in range(m)]

    return f


def same(forward: list[list[float]], reverse: list[list[float]]) -> bool:
    """Whether the two Jacobians agree up to rounding (they add the same products in other orders)."""
    return all(
        abs(a - b) <= 1e-12 * (1.0 + abs(b))
        for fr, rr in zip(forward, reverse, strict=True)
        for a, b in zip(fr, rr, strict=True)
    )


def median_cpu_times(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median CPU time in milliseconds of one call of each run, the runs taking turns sample by sample.

    Every sample starts from a collected heap and makes enough calls (the same
    number for every run) to last about 5 ms; each run is called once first,
    to warm up and to count those calls.
    """
    first = {}
    for name, run in runs.items():
        start = time.process_time()
        run()
        first[name] = time.process_time() - start
    calls = max(1, round(0.005 / max(min(first.values()), 1e-6)))
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            gc.collect()
            start = time.process_time()
            for _ in range(calls):
                run()
            times[name].append((time.process_time() - start) * 1e3 / calls)
    return {name: statistics.median(ts) for name, ts in times.items()}


def rows(depth: int, repeats: int, sizes: tuple[int, ...]) -> list[tuple[str, int, float, float]]:
    """(shape, size, jacfwd ms, jacobian ms) for each shape and size."""
    results = []
    for shape in ("n inputs, 1 output", "1 input, m outputs"):
        for size in sizes:
            if shape.startswith("n"):
                f: Callable[..., list[Any]] = many_inputs(depth)
                point = [0.1 * (i + 1) for i in range(size)]
            else:
                f, point = many_outputs(depth, size), [0.3]
            forward, reverse = jacfwd(f), jacobian(f)
            if not same(forward(*point), reverse(*point)):
                raise SystemExit(f"jacfwd and jacobian disagree for {shape}, size {size}")
            runs: dict[str, Callable[[], object]] = {
                "jacfwd": partial(forward, *point),
                "jacobian": partial(reverse, *point),
            }
            times = median_cpu_times(runs, repeats)
            results.append((shape, size, times["jacfwd"], times["jacobian"]))
    return results


def table(results: list[tuple[str, int, float, float]]) -> str:
    lines = [
        "| function | n or m | jacfwd (forward) | jacobian (reverse) | forward / reverse | faster |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for shape, size, forward, reverse in results:
        ratio = forward / reverse
        faster = winner(ratio) or "about even"
        lines.append(f"| {shape} | {size} | {forward:.3f} ms | {reverse:.3f} ms | {ratio:.2f} | {faster} |")
    return "\n".join(lines)


def winner(ratio: float) -> str | None:
    """The mode more than 10% faster, None for a tie (the figures move by that much run to run)."""
    if ratio < 1 / 1.1:
        return "forward"
    return "reverse" if ratio > 1.1 else None


def crossovers(results: list[tuple[str, int, float, float]]) -> str:
    """For each shape, the mode that wins at the largest size, and from which size on it always wins."""
    notes = []
    for shape in dict.fromkeys(r[0] for r in results):
        sized = [(size, winner(forward / reverse)) for s, size, forward, reverse in results if s == shape]
        best = sized[-1][1]
        if best is None:
            notes.append(f"{shape}: no mode is more than 10% faster at {sized[-1][0]}")
            continue
        start = next(size for i, (size, _) in enumerate(sized) if all(w == best for _, w in sized[i:]))
        notes.append(f"{shape}: {best} mode is more than 10% faster from {start} on")
    return "; ".join(notes) + "."


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--depth", type=int, default=30, help="ops in the shared chain")
    parser.add_argument("--repeats", type=int, default=21, help="timed calls per transform and size")
    parser.add_argument("--write", type=Path, help="also write the table into this Markdown file")
    args = parser.parse_args(argv)
    results = rows(args.depth, args.repeats, SIZES)
    what = (
        f"Both functions are a chain of {args.depth} ops: n inputs summed into it (one output), or "
        "one input fanned out of it into m outputs. jacfwd makes one forward pass per input, "
        "jacobian one backward pass per output; each call also evaluates f."
    )
    text = what + "\n\n" + table(results) + "\n\n" + crossovers(results)
    facts = {
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {platform.system()}",
        "chain depth": str(args.depth),
        "repeats": str(args.repeats),
    }
    print(text)
    print("; ".join(f"{k} {v}" for k, v in facts.items()))
    if args.write:
        write_section(
            args.write,
            "Forward mode against reverse mode",
            text,
            facts,
            "medians of CPU time per call, the two transforms taking turns sample by sample, "
            "each sample from a collected heap",
        )


if __name__ == "__main__":
    main()
