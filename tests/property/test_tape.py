"""A backward pass run from a tape gives the gradients of the usual pass, up to rounding.

The usual pass (a search of the graph, node by node) is itself held to central
differences elsewhere; here the tape's pass, which runs layers and gates as
blocks, is held to it on random graphs, random layered networks and inputs
with infinities and nans, and to central differences directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from autograd import Value, activate, dots_batch, numerical_grad, tape, topological_order
from tests.strategies import NearKinkError, Step, programs, reals, run_program


def close(taped: float, searched: float) -> bool:
    """Equal up to the rounding of sums taken in another order (nan matches nan)."""
    if math.isnan(searched) or math.isinf(searched):
        return math.isnan(taped) if math.isnan(searched) else taped == searched
    return math.isclose(taped, searched, rel_tol=1e-9, abs_tol=1e-12)


def gradients(build: Callable[[], tuple[Value, list[Value]]], *, taped: bool) -> tuple[list[float], bool]:
    """Build a graph (on a tape or not), run backward, and give every node's gradient, leaves first."""
    if taped:
        with tape() as record:
            out, leaves = build()
            out.backward()
        used = record.used
    else:
        out, leaves = build()
        out.backward()
        used = False
    inner = [v for v in topological_order(out) if not v.is_leaf]
    return [v.grad for v in leaves + inner], used


# ---- random expression graphs: every node on the tape, node by node --------------------


@given(programs())
def test_a_random_graph_built_on_a_tape_gets_the_searched_gradients(
    program: tuple[list[float], list[Step]],
) -> None:
    point, steps = program

    def build() -> tuple[Value, list[Value]]:
        leaves = [Value(x) for x in point]
        return run_program(steps, leaves), leaves

    try:
        searched, _ = gradients(build, taped=False)
    except NearKinkError:
        assume(False)
    taped, used = gradients(build, taped=True)
    assert used
    assert all(map(close, taped, searched))


# ---- random layered networks: layers and gates as blocks --------------------------------


@dataclass(frozen=True)
class LayerSpec:
    weights: list[list[float]]
    biases: list[float] | None
    activation: str  # linear, relu, tanh or sigmoid
    fused: bool
    tied: bool  # the last row reuses the first row's first weight (one Value in two rows)


@dataclass(frozen=True)
class Network:
    inputs: list[list[float]]
    values_in: bool  # the first layer reads Values (leaves), not numbers
    layers: list[LayerSpec]
    coefficients: list[float]  # the output is sum(c * y) over every output y (some c are 0)


ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid")


@st.composite
def networks(draw: Any, finite: bool = True) -> Network:
    """A small network over a small batch: 1-3 layers, any widths, biases or not, fused or not."""
    number = reals(-2.0, 2.0)
    batch = draw(st.integers(1, 4))
    width = draw(st.integers(1, 3))
    special = st.sampled_from([math.inf, -math.inf, math.nan, 0.0])
    entry = number if finite else st.one_of(number, special)
    inputs = [[draw(entry) for _ in range(width)] for _ in range(batch)]
    layers = []
    for _ in range(draw(st.integers(1, 3))):
        rows = draw(st.integers(1, 4))
        weights = [[draw(number) for _ in range(width)] for _ in range(rows)]
        biases = [draw(number) for _ in range(rows)] if draw(st.booleans()) else None
        activation = draw(st.sampled_from(ACTIVATIONS))
        fused = activation != "linear" and draw(st.booleans())
        layers.append(LayerSpec(weights, biases, activation, fused, tied=rows > 1 and draw(st.booleans())))
        width = rows
    outputs = batch * width
    coefficient = st.one_of(st.just(0.0), number)
    coefficients = [draw(coefficient) for _ in range(outputs)]
    return Network(inputs, draw(st.booleans()), layers, coefficients)


def builder(net: Network) -> Callable[[], tuple[Value, list[Value]]]:
    def build() -> tuple[Value, list[Value]]:
        leaves: list[Value] = []
        xss: Sequence[Sequence[Any]] = net.inputs
        if net.values_in:
            xss = [[Value(x) for x in xs] for xs in net.inputs]
            leaves += [x for xs in xss for x in xs]
        for spec in net.layers:
            rows = [[Value(w) for w in ws] for ws in spec.weights]
            if spec.tied:
                rows[-1][0] = rows[0][0]
            biases = None if spec.biases is None else [Value(b) for b in spec.biases]
            leaves += [w for ws in rows for w in ws] + (biases or [])
            if spec.fused:
                xss = dots_batch(rows, xss, biases, activation=spec.activation)
            else:
                sums = dots_batch(rows, xss, biases)
                xss = [activate(row, spec.activation) for row in sums]
        outputs = [y for ys in xss for y in ys]
        out = Value.sum([y * c for y, c in zip(outputs, net.coefficients, strict=True)])
        return out, leaves

    return build


@pytest.mark.parametrize("finite", [True, False], ids=["finite", "with infinities and nans"])
@given(data=st.data())
def test_a_network_built_on_a_tape_gets_the_searched_gradients(finite: bool, data: st.DataObject) -> None:
    # With an inf or a nan a block would take 0 * inf where the per-node rules skip a
    # gradient of 0, so such a layer runs node by node: the same infinities and nans.
    build = builder(data.draw(networks(finite=finite), label="network"))
    searched, _ = gradients(build, taped=False)
    taped, used = gradients(build, taped=True)
    assert used
    assert all(map(close, taped, searched))


@given(networks())
def test_a_taped_network_matches_central_differences(net: Network) -> None:
    # The tape's gradients of the weights and biases against float64 central differences,
    # at points clear of every relu kink (the derivative there is a convention).
    shapes = [(len(spec.weights), len(spec.weights[0]), spec.biases is not None) for spec in net.layers]
    point = [w for spec in net.layers for ws in spec.weights for w in ws]
    point += [b for spec in net.layers for b in spec.biases or []]

    def network_of(*params: Value, checked: bool = True) -> Value:
        """The network at `params`; with `checked`, a sum within 1e-3 of a relu kink raises NearKinkError."""
        flat = list(params)
        weights = [flat.pop(0) for _ in range(sum(m * n for m, n, _ in shapes))]
        layers = []
        for (m, n, has_bias), spec in zip(shapes, net.layers, strict=True):
            rows = [[weights.pop(0) for _ in range(n)] for _ in range(m)]
            layers.append((rows, [flat.pop(0) for _ in range(m)] if has_bias else None, spec))
        xss: Sequence[Sequence[Any]] = net.inputs
        for rows, biases, spec in layers:
            sums = dots_batch(rows, xss, biases)
            if checked and spec.activation == "relu" and any(abs(s.data) < 1e-3 for row in sums for s in row):
                raise NearKinkError("relu")
            xss = [activate(row, spec.activation) for row in sums]
        outputs = [y for ys in xss for y in ys]
        return Value.sum([y * c for y, c in zip(outputs, net.coefficients, strict=True)])

    leaves = [Value(x) for x in point]
    with tape() as record:
        try:
            out = network_of(*leaves)
        except NearKinkError:
            assume(False)
        out.backward()
    assert record.used
    # Unchecked around the point: a sum just past the margin there may be just inside it at x +- eps.
    central = numerical_grad(partial(network_of, checked=False), point)
    for leaf, numerical in zip(leaves, central, strict=True):
        assert abs(leaf.grad - numerical) <= 1e-5 + 1e-3 * abs(numerical)
