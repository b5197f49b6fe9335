"""Tests that run graphviz's `dot` program for real, and the graphs they share with unit tests."""

from __future__ import annotations

import itertools
import random

from autograd import Value


def moons_loss(points: int = 100, seed: int = 0) -> Value:
    """The loss of micrograd's moons demo built from binary ops: about 65k Values.

    MLP(2, [16, 16, 1]) with relu hidden layers and a linear output, each neuron
    a chain of `w * x +` gates; the mean hinge loss over `points` points plus
    an L2 penalty on all 337 parameters.
    """
    rng = random.Random(seed)
    sizes = [2, 16, 16, 1]
    layers = [
        [([Value(rng.uniform(-1, 1)) for _ in range(n_in)], Value(0.0)) for _ in range(n_out)]
        for n_in, n_out in itertools.pairwise(sizes)
    ]
    params = [p for layer in layers for weights, bias in layer for p in (*weights, bias)]
    losses = []
    for _ in range(points):
        activations = [Value(rng.uniform(-1.0, 2.0)), Value(rng.uniform(-0.5, 1.0))]
        label = rng.choice((-1.0, 1.0))
        for depth, layer in enumerate(layers):
            outputs = []
            for weights, bias in layer:
                act = bias
                for w, x in zip(weights, activations, strict=True):
                    act = act + w * x
                outputs.append(act.relu() if depth < len(layers) - 1 else act)
            activations = outputs
        losses.append((1 + -label * activations[0]).relu())
    total = losses[0]
    for loss in losses[1:]:
        total = total + loss
    penalty = params[0] * params[0]
    for p in params[1:]:
        penalty = penalty + p * p
    return total * (1.0 / points) + 1e-4 * penalty
