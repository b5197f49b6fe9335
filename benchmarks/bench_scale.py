"""Scaling benchmark: the batched training step by width and batch, against PyTorch and numpy; compile costs.

The step is one training step of an MLP(2, [w, w, 1]) (relu hidden layers,
linear output) on a batch of B points: forward, loss = mean hinge
max(0, 1 - y * score) + 1e-4 * (sum of every parameter squared), backward,
the SGD update (learning rate 1e-3, no momentum) and zero_grad. The same step,
from the same initial weights and the same points, is timed for:

- chainrule batched: `autograd.trace_batch` on one example's objective (as
  `fit(compile="batch")` traces it) and an `nn.SGD` over the model's
  parameters; each step is `optimizer.zero_grad()`, the compiled call on the
  batch's arrays, `optimizer.step()`. Tracing is done once, before timing.
  float64, and float32 (`trace_batch(..., dtype="float32")`).
- PyTorch, vectorised: `torch.nn.Sequential` of `Linear` and `ReLU` in
  float64 and in float32, `torch.optim.SGD`; each step is `zero_grad()`,
  forward, the loss, `backward()`, `step()`. One thread.
- numpy by hand (the floor): the same forward, backward and update written
  with numpy matrices, float64; no graph and no framework.

Every system runs on one thread (numpy's BLAS too), interleaved block by block
in one process, the garbage collector collected before each block; medians.
Ratios are chainrule's time over the other system's, paired by cell.

The second table compiles the step with each compiler at each width (batch
100): wall time of tracing and compiling, and the peak memory of the
compile, measured in a fresh subprocess (the rise of its peak resident set
during the compile: the interpreter with numpy, the model and the data built
is the baseline). `trace` (scalar code) refuses graphs past
its budget at once; the table shows the refusal's time.

    python benchmarks/bench_scale.py                         # prints the tables
    python benchmarks/bench_scale.py --quick                 # fewer repeats, fewer cells
    python benchmarks/bench_scale.py --write BENCHMARKS.md   # and writes its section
"""

from __future__ import annotations

import os

# One BLAS thread, as PyTorch gets one: set before numpy is first imported.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402 (after the thread settings)
import importlib  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from bench import median_times, write_section  # noqa: E402 (the engine benchmark, beside this file)

from autograd import Value, trace_batch  # noqa: E402
from nn import MLP, SGD, hinge_loss, l2_penalty  # noqa: E402

WIDTHS = (16, 64, 256)
BATCHES = (10, 100, 1000, 10000)
ALPHA = 1e-4
LR = 1e-3
TORCH_LIMIT = 1.5  # batched step at most this many times vectorised PyTorch float64, every cell
TORCH_W16_B100 = 0.6  # and at most this at width 16, batch 100
FLOOR_LIMIT = 3.0  # at most this many times the numpy floor, every cell
COMPILE_SECONDS = 2.0  # trace_batch at width 256
COMPILE_MB = 500.0


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


# PyTorch is imported by main() when it measures the grid (not in the compile subprocesses,
# whose peak memory must be the compile's); `make bench` installs torch==2.13.0 when it can.
torch: Any = None


def weights(width: int) -> list[tuple[list[list[float]], list[float]]]:
    """Each layer's weights (rows: one neuron's) and biases: uniform(-1, 1)/sqrt(fan-in), zero biases."""
    rng = random.Random(1)
    sizes = [2, width, width, 1]
    layers = []
    for nin, nout in itertools.pairwise(sizes):
        bound = 1.0 / nin**0.5
        layers.append(([[rng.uniform(-bound, bound) for _ in range(nin)] for _ in range(nout)], [0.0] * nout))
    return layers


def batch(size: int) -> tuple[Any, Any]:
    """`size` points in [-1, 1]^2 and labels -1/+1 (which side of a curve they fall)."""
    rng = np.random.default_rng(2)
    x = rng.uniform(-1.0, 1.0, size=(size, 2))
    y = np.where(x[:, 1] > np.sin(3.0 * x[:, 0]) * 0.5, 1.0, -1.0)
    return x, y


# ---- the systems ----------------------------------------------------------------------


def chainrule_model(width: int) -> MLP:
    """nn's MLP(2, [w, w, 1]) holding `weights(width)`."""
    model = MLP(2, [width, width, 1], seed=1)
    for layer, (rows, biases) in zip(model.layers, weights(width), strict=True):
        for neuron, row, bias in zip(layer.neurons, rows, biases, strict=True):
            for w, x in zip(neuron.w, row, strict=True):
                w.data = x
            assert neuron.b is not None
            neuron.b.data = bias
    return model


def chainrule_objective(model: MLP) -> Callable[[list[Value], Value], Value]:
    parameters = model.parameters()

    def objective(x: list[Value], label: Value) -> Value:
        return hinge_loss([model(x)], [label]) + l2_penalty(parameters, ALPHA)

    return objective


def chainrule_step(width: int, size: int, dtype: str = "float64") -> Callable[[], float]:
    """trace_batch and nn.SGD, as fit(compile="batch") runs them."""
    model = chainrule_model(width)
    optimizer = SGD(model.parameters(), lr=LR)
    x, y = batch(size)
    compiled = trace_batch(
        chainrule_objective(model), [0.0, 0.0], 1.0, params=model.parameters(), input_grads=False, dtype=dtype
    )

    def step() -> float:
        optimizer.zero_grad()
        value, _ = compiled(x, y)
        optimizer.step()
        return float(value)

    return step


def torch_step(width: int, size: int, dtype: str = "float64") -> Callable[[], float]:
    """torch.nn.Sequential of Linear and ReLU, torch.optim.SGD."""
    kind = getattr(torch, dtype)
    layers = []
    for k, (rows, biases) in enumerate(weights(width)):
        linear = torch.nn.Linear(len(rows[0]), len(rows), dtype=kind)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor(rows, dtype=kind))
            linear.bias.copy_(torch.tensor(biases, dtype=kind))
        layers.append(linear)
        if k < 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    parameters = list(model.parameters())
    optimizer = torch.optim.SGD(parameters, lr=LR)
    x, y = batch(size)
    xt, yt = torch.tensor(x, dtype=kind), torch.tensor(y, dtype=kind)

    def step() -> float:
        optimizer.zero_grad()
        scores = model(xt).squeeze(1)
        loss = torch.relu(1.0 - yt * scores).mean() + ALPHA * sum((p * p).sum() for p in parameters)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    return step


def numpy_step(width: int, size: int) -> Callable[[], float]:
    """The step by hand with numpy: matrices, relu masks, the hinge's gradient, the SGD update."""
    params = []
    for rows, biases in weights(width):
        params.append(np.array(rows))
        params.append(np.array(biases))
    x, y = batch(size)

    def step() -> float:
        w1, b1, w2, b2, w3, b3 = params
        z1 = x @ w1.T + b1
        h1 = np.maximum(z1, 0.0)
        z2 = h1 @ w2.T + b2
        h2 = np.maximum(z2, 0.0)
        scores = h2 @ w3[0] + b3[0]
        margins = 1.0 - y * scores
        loss = np.maximum(margins, 0.0).mean() + ALPHA * sum(float(np.vdot(p, p)) for p in params)
        d_scores = np.where(margins > 0.0, -y, 0.0) / size
        grads: list[Any] = [None] * 6
        grads[4] = d_scores @ h2
        grads[5] = np.array([d_scores.sum()])
        d_z2 = np.outer(d_scores, w3[0]) * (z2 > 0.0)
        grads[2] = d_z2.T @ h1
        grads[3] = d_z2.sum(0)
        d_z1 = (d_z2 @ w2) * (z1 > 0.0)
        grads[0] = d_z1.T @ x
        grads[1] = d_z1.sum(0)
        for p, g in zip(params, grads, strict=True):
            p -= LR * (g.reshape(p.shape) + (2.0 * ALPHA) * p)
        return float(loss)

    return step


SYSTEMS = {
    "chainrule": "chainrule batched, float64",
    "chainrule32": "chainrule batched, float32",
    "torch": "PyTorch float64",
    "torch32": "PyTorch float32",
    "numpy": "numpy by hand, float64 (floor)",
}


def repeats_for(width: int, size: int, quick: bool) -> int:
    """Fewer repeats where a step takes long: about the same time per cell."""
    work = width * width * size
    count = 31 if work <= 3_000_000 else 15 if work <= 100_000_000 else 7
    return max(3, count // 3) if quick else count


def grid(quick: bool) -> dict[tuple[int, int], dict[str, float]]:
    """Median milliseconds of each system's step at each cell of widths x batches."""
    results = {}
    batches = (10, 100, 1000) if quick else BATCHES
    for width in WIDTHS:
        for size in batches:
            runs: dict[str, Callable[[], object]] = {
                "chainrule": chainrule_step(width, size),
                "chainrule32": chainrule_step(width, size, "float32"),
                "numpy": numpy_step(width, size),
            }
            if torch is not None:
                runs["torch"] = torch_step(width, size)
                runs["torch32"] = torch_step(width, size, "float32")
            results[width, size] = median_times(runs, repeats_for(width, size, quick), block=3)
            print(f"measured: width {width}, batch {size}", file=sys.stderr)
    return results


# ---- compiling, in a fresh process per measurement ----------------------------------


def _peak_kb() -> float:
    """This process's peak resident set in kilobytes: VmHWM, which starts anew with the process.

    (getrusage's ru_maxrss does not: on Linux a process started by a big one
    inherits its parent's peak.)
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1])
    except OSError:
        pass
    import resource

    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def compile_once(kind: str, width: int, size: int) -> dict[str, Any]:
    """Trace and compile the step of width `width` over `size` points with one compiler; time and memory.

    Run in a subprocess of its own (`--compile-one`): the peak resident set
    after compiling, less the one before (the model and data built), is the
    compile's peak memory.
    """
    import time

    import autograd

    model = chainrule_model(width)
    parameters = model.parameters()
    x, y = batch(size)
    xs, ys = x.tolist(), y.tolist()
    before = _peak_kb()
    start = time.perf_counter()
    outcome = "compiled"
    if kind == "trace_batch":
        trace_batch(chainrule_objective(model), [0.0, 0.0], 1.0, params=parameters, input_grads=False)
    else:

        def objective() -> Value:
            return hinge_loss(model.forward_batch(xs), ys) + l2_penalty(parameters, ALPHA)

        try:
            autograd.trace(objective, params=parameters)
        except autograd.CompileError as exc:
            outcome = f"refused: {type(exc).__name__}"
    seconds = time.perf_counter() - start
    peak = _peak_kb()
    return {"seconds": seconds, "mb": (peak - before) / 1024.0, "outcome": outcome}


def compile_table(quick: bool) -> tuple[str, dict[str, dict[str, Any]]]:
    """Compile time and peak memory of both compilers at each width, batch 100 (and w16 over 10,000 points).

    Each in a fresh process. trace_batch traces one example whatever the batch.
    """
    rows = []
    found: dict[str, dict[str, Any]] = {}
    script = Path(__file__).resolve()
    for width, size in [*((w, 100) for w in WIDTHS), (16, 10000)]:
        cells = [f"w{width}, batch {size}"]
        for kind in ("trace_batch", "trace"):
            if kind == "trace_batch" and size != 100:
                cells.append("as batch 100 (one example is traced)")
                continue
            command = [sys.executable, str(script), "--compile-one", kind, str(width), str(size)]
            done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=1800)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            found[f"{kind} w{width} b{size}"] = result
            what = "" if result["outcome"] == "compiled" else f" ({result['outcome']})"
            cells.append(f"{result['seconds']:.2f} s, {result['mb']:.0f} MB{what}")
            print(f"compiled: {kind} width {width}", file=sys.stderr)
        rows.append(cells)
    header = "| MLP(2, [w, w, 1]) | `trace_batch` | `trace` |\n|---|---|---|\n"
    return header + "\n".join(f"| {' | '.join(cells)} |" for cells in rows), found


# ---- tables --------------------------------------------------------------------------


def _ms(ms: float) -> str:
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 10 else f"{ms:.1f}"


def times_table(results: dict[tuple[int, int], dict[str, float]]) -> str:
    """Milliseconds per step, one row per cell, one column per system."""
    systems = [s for s in SYSTEMS if any(s in m for m in results.values())]
    header = "| width | batch | " + " | ".join(SYSTEMS[s] for s in systems) + " |\n"
    header += "|---|---|" + "---|" * len(systems) + "\n"
    rows = [
        f"| {w} | {b} | " + " | ".join(_ms(m[s]) if s in m else "-" for s in systems) + " |"
        for (w, b), m in results.items()
    ]
    return "Milliseconds per training step (median):\n\n" + header + "\n".join(rows)


def ratio_grids(results: dict[tuple[int, int], dict[str, float]]) -> str:
    """chainrule's time over each other system's, as width x batch grids."""
    sizes = sorted({b for _, b in results})
    widths = sorted({w for w, _ in results})
    pairs = [
        ("chainrule", "torch", "chainrule float64 / PyTorch float64"),
        ("chainrule32", "torch32", "chainrule float32 / PyTorch float32"),
        ("chainrule", "numpy", "chainrule float64 / numpy by hand (floor)"),
        ("chainrule32", "chainrule", "chainrule float32 / chainrule float64"),
    ]
    parts = []
    for ours, theirs, title in pairs:
        if not all(theirs in m and ours in m for m in results.values()):
            continue
        header = f"| {title} | " + " | ".join(f"batch {b}" for b in sizes) + " |\n"
        header += "|---|" + "---|" * len(sizes) + "\n"
        rows = []
        for w in widths:
            cells = [
                f"{results[w, b][ours] / results[w, b][theirs]:.2f}x" if (w, b) in results else "-"
                for b in sizes
            ]
            rows.append(f"| w{w} | " + " | ".join(cells) + " |")
        parts.append(header + "\n".join(rows))
    return "Ratios, paired by cell (below 1: chainrule is faster):\n\n" + "\n\n".join(parts)


def targets_table(
    results: dict[tuple[int, int], dict[str, float]], compiled: dict[str, dict[str, Any]]
) -> str:
    """The issue's targets, each with the measured number and whether it is met."""
    rows = []

    def row(target: str, measured: str, met: bool) -> None:
        rows.append(f"| {target} | {measured} | {'met' if met else 'NOT met'} |")

    if all("torch" in m for m in results.values()):
        worst = max(results, key=lambda c: results[c]["chainrule"] / results[c]["torch"])
        ratio = results[worst]["chainrule"] / results[worst]["torch"]
        row(
            f"batched step within {TORCH_LIMIT}x of PyTorch float64, every cell",
            f"worst {ratio:.2f}x (w{worst[0]}, batch {worst[1]})",
            ratio <= TORCH_LIMIT,
        )
        if (16, 100) in results:
            cell = results[16, 100]
            ratio = cell["chainrule"] / cell["torch"]
            row(
                f"at most {TORCH_W16_B100}x of PyTorch float64 at w16, batch 100",
                f"{ratio:.2f}x",
                ratio <= TORCH_W16_B100,
            )
    worst = max(results, key=lambda c: results[c]["chainrule"] / results[c]["numpy"])
    ratio = results[worst]["chainrule"] / results[worst]["numpy"]
    row(
        f"within {FLOOR_LIMIT}x of the numpy floor, every cell",
        f"worst {ratio:.2f}x (w{worst[0]}, batch {worst[1]})",
        ratio <= FLOOR_LIMIT,
    )
    batched = compiled.get("trace_batch w256 b100")
    if batched is not None:
        row(
            f"`trace_batch` compile under {COMPILE_SECONDS:.0f} s and {COMPILE_MB:.0f} MB at w256",
            f"{batched['seconds']:.2f} s, {batched['mb']:.0f} MB",
            batched["seconds"] < COMPILE_SECONDS and batched["mb"] < COMPILE_MB,
        )
    scalar = compiled.get("trace w256 b100")
    if scalar is not None:
        refused = scalar["outcome"] != "compiled"
        met = scalar["seconds"] < 1.0 if refused else scalar["mb"] < 2048
        row(
            "`trace` at w256, batch 100: a clear error within 1 s, or success within 2 GB",
            f"{scalar['outcome']} after {scalar['seconds']:.2f} s, {scalar['mb']:.0f} MB",
            met,
        )
    return "| target | measured | |\n|---|---|---|\n" + "\n".join(rows)


NOTE = """\
What is timed: one training step of MLP(2, [w, w, 1]) (relu, relu, linear) on B
points: forward, mean hinge loss + 1e-4 * sum of squared parameters, backward,
SGD update (lr 1e-3), and zero_grad. chainrule: `optimizer.zero_grad()`, the
call of the function `trace_batch` compiled from one example's objective,
`optimizer.step()` (`nn.SGD`), as `fit(compile="batch")` runs them; the layers'
parameters are parameter blocks, so the step and zero_grad run on arrays.
PyTorch: `torch.nn.Sequential` of `Linear`/`ReLU`, `torch.optim.SGD`,
`zero_grad()`, forward, loss, `backward()`, `step()`, one thread. numpy by
hand: the same arithmetic written with numpy matrices (the floor: no graph,
no framework). numpy's BLAS runs on one thread too. Compiling is timed once
per width in a fresh process; its memory is the rise of the process's peak
resident set during the compile.

Run to run: large batches at the smallest width spend much of a step on fresh
arrays (numpy's temporaries, page faults and all), and that cell moves the
most: w16 at batch 10,000 measured 1.42x, 0.95x and 1.24x of PyTorch float64
in three full runs while this was written (the last two after a relu's
backward multiplied in place), the other cells well inside the targets each
time. float32 pays at batch 1,000 and more; below that the casts of the
weights cost about what the narrower arithmetic saves."""


def main(argv: list[str] | None = None) -> None:
    """Measure the grid and the compiles, print the tables, and write them into a Markdown file if asked."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats, batches up to 1000")
    parser.add_argument("--write", type=Path, help="also write the tables into this Markdown file")
    parser.add_argument("--compile-one", nargs=3, metavar=("KIND", "WIDTH", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.compile_one:
        kind, width, size = args.compile_one
        print(json.dumps(compile_once(kind, int(width), int(size))))
        return
    global torch
    torch = _optional("torch")
    if torch is not None:
        torch.set_num_threads(1)
    results = grid(args.quick)
    compiles, compiled = compile_table(args.quick)
    text = "\n\n".join(
        [
            "Run alone with `python benchmarks/bench_scale.py --write BENCHMARKS.md`.",
            times_table(results),
            ratio_grids(results),
            "Compiling the step, by width (`trace` refuses a graph past its budget of 300,000 "
            "terms as soon as it passes it):\n\n" + compiles,
            "Targets:\n\n" + targets_table(results, compiled),
            NOTE,
        ]
    )
    facts = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__ if torch is not None else "not installed",
        "machine": f"{platform.machine()}, {platform.system()}, {os.cpu_count()} cores",
        "repeats": "quick" if args.quick else "full",
    }
    print(text)
    print("; ".join(f"{k} {v}" for k, v in facts.items()))
    if args.write:
        write_section(args.write, "Scaling: the batched step by width and batch", text, facts)


if __name__ == "__main__":
    main()
