"""Section 3 of worked-examples.md with the nn library: a 2-2-2 sigmoid MLP, one SGD step.

The network is built with `MLP.from_weights`, trained with the library's loss
(mse_loss with the seeds' 0.5*sum convention) and `SGD(lr=0.5)`; every number
of the section's tables comes out (they are printed to 8 places: abs tol 5e-9).
"""

from __future__ import annotations

import pytest

from autograd import Value
from nn import MLP, SGD, mse_loss

X = [0.1, 0.2]
TARGETS = [0.4, 0.6]
# weights[l][j][i]: from input i of layer l into its neuron j
WEIGHTS = [
    [[0.3, 0.25], [0.4, 0.35]],  # W1, W2 into h1; W3, W4 into h2
    [[0.45, 0.4], [0.7, 0.6]],  # W5, W6 into o1; W7, W8 into o2
]


def rounded(x: float) -> object:
    return pytest.approx(x, abs=5e-9)


def network() -> MLP:
    return MLP.from_weights(WEIGHTS, activation="sigmoid", output_activation="sigmoid")


def named_weights(model: MLP) -> dict[str, Value]:
    """W1..W8 in the order of the worked example."""
    order = [(0, 0, 0), (0, 0, 1), (0, 1, 0), (0, 1, 1), (1, 0, 0), (1, 0, 1), (1, 1, 0), (1, 1, 1)]
    return {f"W{k + 1}": model.layers[layer].neurons[j].w[i] for k, (layer, j, i) in enumerate(order)}


def forward(model: MLP) -> tuple[list[Value], list[Value], Value]:
    hidden = model.layers[0](X)
    outputs = model.layers[1](hidden)
    return hidden, outputs, mse_loss(outputs, TARGETS, reduction="half_sum")


def test_network_has_no_biases() -> None:
    model = network()
    assert len(model.parameters()) == 8
    assert all(neuron.b is None for layer in model.layers for neuron in layer.neurons)


def test_forward_table() -> None:
    model = network()
    (h1, h2), (o1, o2), E = forward(model)
    # The weighted sums are the dot nodes under each sigmoid gate.
    z1, z2, z3, z4 = (v.parents[0].data for v in (h1, h2, o1, o2))
    assert [z1, z2, z3, z4] == [rounded(0.08), rounded(0.11), rounded(0.44498412), rounded(0.68047592)]
    assert [h1.data, h2.data] == [rounded(0.51998934), rounded(0.52747230)]
    assert [o1.data, o2.data] == [rounded(0.60944600), rounded(0.66384491)]
    assert E.data == rounded(0.02397190)
    assert 0.5 * (TARGETS[0] - o1.data) ** 2 == rounded(0.02193381)
    assert 0.5 * (TARGETS[1] - o2.data) ** 2 == rounded(0.00203809)
    # The model called as a whole gives the same outputs.
    assert [o.data for o in model(X)] == [o1.data, o2.data]  # type: ignore[union-attr]


def test_gradient_of_w5_by_the_chain_rule() -> None:
    model = network()
    (h1, _), (o1, _), E = forward(model)
    E.backward()
    assert o1.grad == rounded(0.20944600)  # dE/do1 = o1 - t1
    assert o1.local_grads()[0] == rounded(0.23802157)  # do1/dz3 = o1 (1 - o1)
    assert h1.data == rounded(0.51998934)  # dz3/dW5 = h1
    assert named_weights(model)["W5"].grad == rounded(0.02592286)


def test_one_sgd_step_updates_every_weight() -> None:
    model = network()
    *_, E = forward(model)
    optimizer = SGD(model.parameters(), lr=0.5)
    optimizer.zero_grad()
    E.backward()
    optimizer.step()
    expected = [
        0.29959556,
        0.24919112,
        0.39964496,
        0.34928991,
        0.43703857,
        0.38685205,
        0.69629578,
        0.59624247,
    ]
    got = [w.data for w in named_weights(model).values()]
    assert got == [rounded(x) for x in expected]


def test_error_after_the_step() -> None:
    model = network()
    optimizer = SGD(model.parameters(), lr=0.5)
    *_, E = forward(model)
    optimizer.zero_grad()
    E.backward()
    optimizer.step()
    *_, E_new = forward(model)
    assert E_new.data == rounded(0.02323634)
    assert E.data - E_new.data == pytest.approx(0.0007, abs=1e-4)  # "it fell by about 0.0007"


def test_fused_network_gives_the_same_numbers() -> None:
    plain, fused = (
        network(),
        MLP.from_weights(WEIGHTS, activation="sigmoid", output_activation="sigmoid", fused=True),
    )
    for model in (plain, fused):
        E = mse_loss(model(X), TARGETS, reduction="half_sum")
        E.backward()
        SGD(model.parameters(), lr=0.5).step()
    for p, q in zip(plain.parameters(), fused.parameters(), strict=True):
        assert q.data == pytest.approx(p.data, rel=1e-12)
