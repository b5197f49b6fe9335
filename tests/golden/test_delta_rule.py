"""Section 4 of worked-examples.md: the delta rule, in plain floats, against the engine's gradients.

Layers are numbered from 0; w_ij^(l) goes from node i of layer l to node j of
layer l+1 and w_0j^(l) is the bias. S is a weighted sum and x = g(S).
df/dw_ij^(l) = delta_j^(l) x_i^(l), with
delta_j^(l) = (sum_k delta_k^(l+1) w_jk^(l+1)) g'(S_j^(l)).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pytest

from nn import MLP, mse_loss


def _sigmoid(s: float) -> float:
    return 1.0 / (1.0 + math.exp(-s)) if s >= 0 else math.exp(s) / (1.0 + math.exp(s))


G: dict[str, Callable[[float], float]] = {
    "linear": lambda s: s,
    "relu": lambda s: max(s, 0.0),
    "tanh": math.tanh,
    "sigmoid": _sigmoid,
}
G_PRIME: dict[str, Callable[[float], float]] = {
    "linear": lambda s: 1.0,
    "relu": lambda s: 1.0 if s > 0.0 else 0.0,
    "tanh": lambda s: 1.0 - math.tanh(s) ** 2,
    "sigmoid": lambda s: _sigmoid(s) * (1.0 - _sigmoid(s)),
}


def delta_rule_gradients(
    model: MLP, x: Sequence[float], dloss_doutput: Callable[[list[float]], list[float]]
) -> dict[str, float]:
    """df/dw for every parameter of `model`, by the delta rule, keyed like named_parameters()."""
    activations = [layer.activation for layer in model.layers]
    weights = [[list(n.w) for n in layer.neurons] for layer in model.layers]
    biases = [[n.b for n in layer.neurons] for layer in model.layers]
    xs: list[list[float]] = [list(x)]  # x^(l): the input of layer l
    sums: list[list[float]] = []  # S^(l)
    for layer_w, layer_b, g in zip(weights, biases, activations, strict=True):
        s = [
            math.fsum(
                [w.data * xi for w, xi in zip(row, xs[-1], strict=True)] + ([b.data] if b is not None else [])
            )
            for row, b in zip(layer_w, layer_b, strict=True)
        ]
        sums.append(s)
        xs.append([G[g](v) for v in s])
    last = len(sums) - 1
    upstream = dloss_doutput(xs[-1])  # df/dx of the output layer
    delta = [u * G_PRIME[activations[last]](s) for u, s in zip(upstream, sums[last], strict=True)]
    grads: dict[str, float] = {}
    for layer in range(last, -1, -1):
        for j, d in enumerate(delta):
            for i, xi in enumerate(xs[layer]):
                grads[f"layers.{layer}.neurons.{j}.w.{i}"] = d * xi
            if biases[layer][j] is not None:
                grads[f"layers.{layer}.neurons.{j}.b"] = d  # x_0 = 1 for the bias
        if layer:
            g_prime = G_PRIME[activations[layer - 1]]
            delta = [
                math.fsum(delta[k] * weights[layer][k][j].data for k in range(len(delta)))
                * g_prime(sums[layer - 1][j])
                for j in range(len(sums[layer - 1]))
            ]
    return grads


# ---- the tests -------------------------------------------------------------------------


def half_squared_error_grad(targets: Sequence[float]) -> Callable[[list[float]], list[float]]:
    return lambda out: [o - t for o, t in zip(out, targets, strict=True)]  # d 0.5 (t - o)^2 / do


def assert_same_gradients(model: MLP, expected: dict[str, float]) -> None:
    got = {name: p.grad for name, p in model.named_parameters()}
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-9, abs=1e-15), name


@pytest.mark.parametrize(
    ("activation", "output_activation"),
    [("sigmoid", "sigmoid"), ("tanh", "linear"), ("relu", "linear"), ("tanh", "sigmoid")],
)
def test_delta_rule_matches_the_engine_on_a_deeper_mlp_with_biases(
    activation: str, output_activation: str
) -> None:
    model = MLP(3, [4, 3, 2], activation, output_activation, seed=4)
    for k, p in enumerate(model.parameters()):
        if p.label.endswith(".b"):
            p.data = 0.1 * ((k % 5) - 2)  # non-zero biases, so their gradients matter
    x, targets = [0.5, -1.2, 0.8], [0.25, -0.75]
    loss = mse_loss(model(x), targets, reduction="half_sum")
    loss.backward()
    assert_same_gradients(model, delta_rule_gradients(model, x, half_squared_error_grad(targets)))


def test_seed_000_linear_network_with_loss_without_one_half() -> None:
    # Seed 000: linear activation g(x) = x, f = (y1 - x1)^2 + (y2 - x2)^2, layers 0 to 3.
    model = MLP(2, [2, 2, 2], "linear", "linear", seed=0)
    for k, p in enumerate(model.parameters()):
        if p.label.endswith(".b"):
            p.data = 0.05 * (k + 1)
    x, y = [1.0, -2.0], [0.3, 0.7]
    f = mse_loss(model(x), y, reduction="sum")
    f.backward()
    twice = lambda out: [-2.0 * (t - o) for o, t in zip(out, y, strict=True)]  # noqa: E731
    assert_same_gradients(model, delta_rule_gradients(model, x, twice))
    # The pattern of the seed: df/dw_21^(2) = delta_1^(2) x_2^(2).
    hidden = model.layers[1](model.layers[0](x))
    w = model.layers[2].neurons[0].w[1]
    delta = -2.0 * (y[0] - model(x)[0].data)  # type: ignore[index]
    assert w.grad == pytest.approx(delta * hidden[1].data, rel=1e-12)


def test_delta_rule_reproduces_w5_of_section_3() -> None:
    model = MLP.from_weights(
        [[[0.3, 0.25], [0.4, 0.35]], [[0.45, 0.4], [0.7, 0.6]]],
        activation="sigmoid",
        output_activation="sigmoid",
    )
    grads = delta_rule_gradients(model, [0.1, 0.2], half_squared_error_grad([0.4, 0.6]))
    assert grads["layers.1.neurons.0.w.0"] == pytest.approx(0.02592286, abs=5e-9)
