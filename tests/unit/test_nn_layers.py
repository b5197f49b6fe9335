"""Neuron, Layer and MLP: construction, the graph they build, initialisation, explicit weights."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any, cast

import pytest

from autograd import Value, topological_order
from nn import ACTIVATIONS, MLP, Layer, Neuron


def test_micrograd_mlp_works_unchanged() -> None:
    model = MLP(2, [16, 16, 1])
    assert len(model.parameters()) == (2 + 1) * 16 + (16 + 1) * 16 + (16 + 1) * 1 == 337
    out = model([0.5, -1.0])
    assert isinstance(out, Value)
    assert [layer.activation for layer in model.layers] == ["relu", "relu", "linear"]
    assert repr(model).startswith("MLP of [Layer of [ReluNeuron(2)")


def test_micrograd_style_flags_and_global_random_seed() -> None:
    random.seed(7)
    first = MLP(3, [4, 1]).state_dict()
    random.seed(7)
    assert MLP(3, [4, 1]).state_dict() == first  # no seed: the global `random`, as in micrograd
    assert Neuron(2, nonlin=False).activation == "linear"
    assert Layer(2, 3, nonlin=True).activation == "relu"


def test_hidden_layers_of_width_one() -> None:
    model = MLP(3, [1, 1, 2], activation="tanh", seed=0)
    out = model([1.0, 2.0, 3.0])
    assert isinstance(out, list) and len(out) == 2
    out[0].backward()
    assert all(isinstance(p.grad, float) for p in model.parameters())
    assert model.layers[0].neurons[0].w[0].grad != 0.0


def test_neuron_weighted_sum_is_one_dot_node_then_the_activation() -> None:
    neuron = Neuron(3, "tanh", seed=1)
    x = [Value(1.0), Value(2.0), Value(-1.0)]
    out = neuron(x)
    assert out.op == "tanh"
    (weighted_sum,) = out.parents
    assert weighted_sum.op == "dot"
    assert weighted_sum.parents == (*neuron.w, *x, neuron.b)
    s = sum(w.data * xi.data for w, xi in zip(neuron.w, x, strict=True)) + 0.0
    assert out.data == pytest.approx(math.tanh(s), rel=1e-12)


def test_constant_inputs_are_not_graph_nodes() -> None:
    neuron = Neuron(2, "relu", seed=1)
    out = neuron([0.5, 0.25])
    nodes = topological_order(out)
    assert set(nodes) == {out, out.parents[0], *neuron.w, neuron.b}


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_fused_neuron_is_one_node_with_the_same_value_and_gradients(activation: str) -> None:
    plain, fused = Neuron(3, activation, seed=3), Neuron(3, activation, seed=3, fused=True)
    assert plain.state_dict() == fused.state_dict()
    xs = [[Value(v) for v in (0.3, -0.7, 0.9)] for _ in range(2)]
    outs = [plain(xs[0]), fused(xs[1])]
    # A linear neuron is its weighted sum: fused or not, the one dot node.
    assert outs[1].op == ("dot" if activation == "linear" else f"dot+{activation}")
    assert outs[1].parents == (*fused.w, *xs[1], fused.b)
    assert outs[1].data == outs[0].data  # the same exact sum, then the same gate
    for out in outs:
        out.backward()
    for p, q in zip(plain.parameters() + xs[0], fused.parameters() + xs[1], strict=True):
        assert q.grad == pytest.approx(p.grad, rel=1e-12, abs=1e-15)


def test_a_fused_relu_mlp_gives_the_unfused_gradients_exactly() -> None:
    inputs = [[0.3 * k - 1.0, 0.7 - 0.2 * k] for k in range(8)]
    grads = []
    for fused in (False, True):
        model = MLP(2, [6, 5, 1], seed=4, fused=fused)
        scores = cast("list[Value]", model.forward_batch(inputs))
        Value.sum([s * (k - 3.5) for k, s in enumerate(scores)]).backward()
        grads.append([p.grad for p in model.parameters()])
    assert grads[1] == grads[0]
    assert any(g == 0.0 for g in grads[0]) and any(g != 0.0 for g in grads[0])  # units off and on


def test_fused_mlp_matches_unfused_after_backward() -> None:
    plain, fused = MLP(2, [5, 4, 1], "tanh", seed=9), MLP(2, [5, 4, 1], "tanh", seed=9, fused=True)
    for model in (plain, fused):
        out = model([0.4, -0.6])
        assert isinstance(out, Value)
        (out * out).backward()
    for p, q in zip(plain.parameters(), fused.parameters(), strict=True):
        assert q.grad == pytest.approx(p.grad, rel=1e-10, abs=1e-15)


def test_seed_makes_initialisation_reproducible() -> None:
    assert MLP(2, [8, 1], seed=5).state_dict() == MLP(2, [8, 1], seed=5).state_dict()
    assert MLP(2, [8, 1], seed=5).state_dict() != MLP(2, [8, 1], seed=6).state_dict()
    assert Layer(2, 3, seed=1).state_dict() == Layer(2, 3, seed=1).state_dict()


@pytest.mark.parametrize(
    ("init", "bound"),
    [("uniform", 1.0), ("xavier", math.sqrt(6.0 / (50 + 40))), ("he", math.sqrt(6.0 / 50))],
)
def test_initialisation_bounds(init: str, bound: float) -> None:
    layer = Layer(50, 40, init=init, seed=0)
    weights = [w.data for n in layer.neurons for w in n.w]
    assert all(-bound <= w <= bound for w in weights)
    assert max(abs(w) for w in weights) > 0.95 * bound  # 2000 draws fill the interval
    variance = sum(w * w for w in weights) / len(weights)
    assert variance == pytest.approx(bound * bound / 3.0, rel=0.1)  # Var of uniform(-a, a) is a^2 / 3
    assert all(n.b is not None and n.b.data == 0.0 for n in layer.neurons)


def test_mlp_scales_each_layer_by_its_own_fans() -> None:
    model = MLP(100, [10, 1], init="he", seed=0)
    first = max(abs(w.data) for n in model.layers[0].neurons for w in n.w)
    second = max(abs(w.data) for n in model.layers[1].neurons for w in n.w)
    assert first <= math.sqrt(6.0 / 100) < second <= math.sqrt(6.0 / 10)


def test_named_parameters_and_labels() -> None:
    model = MLP(2, [2, 1], seed=0)
    names = [name for name, _ in model.named_parameters()]
    assert names == [
        "layers.0.neurons.0.w.0",
        "layers.0.neurons.0.w.1",
        "layers.0.neurons.0.b",
        "layers.0.neurons.1.w.0",
        "layers.0.neurons.1.w.1",
        "layers.0.neurons.1.b",
        "layers.1.neurons.0.w.0",
        "layers.1.neurons.0.w.1",
        "layers.1.neurons.0.b",
    ]
    assert [p.label for p in model.parameters()] == names  # graph pictures show where a weight lives


def test_no_bias_network() -> None:
    model = MLP(2, [3, 1], bias=False, seed=0)
    assert len(model.parameters()) == 2 * 3 + 3
    assert model.config()["bias"] is False


def test_from_weights_and_set_weights() -> None:
    model = MLP.from_weights([[[1.0, 2.0]], [[3.0]]], biases=[[0.5], [-1.0]], activation="linear")
    out = model([1.0, 1.0])
    assert isinstance(out, Value)
    assert out.data == 3.0 * (1.0 + 2.0 + 0.5) - 1.0
    model.set_weights([[[0.0, 1.0]], [[2.0]]])  # biases untouched
    assert model.state_dict() == {
        "layers.0.neurons.0.w.0": 0.0,
        "layers.0.neurons.0.w.1": 1.0,
        "layers.0.neurons.0.b": 0.5,
        "layers.1.neurons.0.w.0": 2.0,
        "layers.1.neurons.0.b": -1.0,
    }
    neuron = Neuron(2, seed=0)
    neuron.set_weights([0.25, -0.5], bias=1.5)
    assert neuron.state_dict() == {"w.0": 0.25, "w.1": -0.5, "b": 1.5}
    layer = Layer(2, 2, seed=0)
    layer.set_weights([[1.0, 2.0], [3.0, 4.0]], [5.0, 6.0])
    assert [o.data for o in layer([1.0, 0.0])] == [6.0, 9.0]


@pytest.mark.parametrize(
    ("weights", "biases", "message"),
    [
        ([[[1.0, 2.0]]], None, "expected weights for 2 layers, got 1"),
        ([[[1.0, 2.0], [1.0, 2.0]], [[3.0]]], None, "layer 0 has 1 neurons, got 2 rows"),
        ([[[1.0]], [[3.0]]], None, "layer 0, neuron 0 needs 2 weights, got 1"),
        ([[[1.0, math.nan]], [[3.0]]], None, "layer 0, neuron 0, weight 1 must be a finite number, got nan"),
        ([[[1.0, "2"]], [[3.0]]], None, "must be a finite number, got '2'"),
        ([[[1.0, 2.0]], [[3.0]]], [[0.0], [0.0, 1.0]], "layer 1 has 1 neurons, got 2 biases"),
    ],
)
def test_set_weights_errors_change_nothing(weights: object, biases: object, message: str) -> None:
    model = MLP(2, [1, 1], seed=0)
    before = model.state_dict()
    with pytest.raises(ValueError, match=message):
        model.set_weights(weights, biases)  # type: ignore[arg-type]
    assert model.state_dict() == before


def test_set_weights_with_biases_on_a_network_without_biases() -> None:
    model = MLP(2, [1], bias=False, seed=0)
    with pytest.raises(ValueError, match="layer 0 has no biases"):
        model.set_weights([[[1.0, 2.0]]], [[0.0]])
    with pytest.raises(ValueError, match="no bias"):
        Neuron(2, bias=False).set_weights([1.0, 2.0], bias=1.0)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: MLP(0, [1]), r"MLP: nin must be a positive integer, got 0"),
        (lambda: MLP(2, []), r"MLP: nouts must be a non-empty list"),
        (lambda: MLP(2, 3), r"MLP: nouts must be a non-empty list of layer widths, got 3"),  # type: ignore[arg-type]
        (lambda: MLP(2, [4, 0]), r"MLP: width of layer 1 must be a positive integer, got 0"),
        (lambda: MLP(2, [4, 1], activation="gelu"), r"MLP: unknown activation 'gelu'"),
        (lambda: MLP(2, [4, 1], init="orthogonal"), r"MLP: unknown init 'orthogonal'"),
        (lambda: Neuron(2.5), r"Neuron: nin must be a positive integer, got 2.5"),  # type: ignore[arg-type]
        (lambda: Layer(2, 0), r"Layer: nout must be a positive integer, got 0"),
        (lambda: MLP(2, [4, 1], fused="yes"), r"MLP: fused must be True or False, got 'yes'"),  # type: ignore[arg-type]
        (lambda: Layer(2, 3, bias=1), r"Layer: bias must be True or False, got 1"),  # type: ignore[arg-type]
        (lambda: Neuron(2, fused=None), r"Neuron: fused must be True or False, got None"),  # type: ignore[arg-type]
    ],
)
def test_bad_arguments_name_the_class_and_value(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]


def test_forward_batch_is_the_model_on_each_input_vector() -> None:
    batch = [[0.5, -1.0], [2.0, 0.25], [0.0, 3.0]]
    for model in (MLP(2, [3, 2], seed=0), MLP(2, [3, 1], seed=0), MLP(2, [3, 1], seed=0, fused=True)):
        got = model.forward_batch(batch)
        expected = [model(x) for x in batch]
        assert [repr(out) for out in got] == [repr(out) for out in expected]  # a Value, or a list of them
    layer = Layer(2, 3, "tanh", seed=0)
    assert [[v.data for v in out] for out in layer.forward_batch(batch)] == [
        [v.data for v in layer(x)] for x in batch
    ]
    neuron = Neuron(2, seed=0)  # Module's forward_batch: the module called on each vector
    assert [v.data for v in neuron.forward_batch(batch)] == [neuron(x).data for x in batch]
    assert MLP(2, [1]).forward_batch([]) == []


def test_forward_batch_keeps_to_a_subclass_s_own_forward_pass() -> None:
    class Scaled(MLP):
        def __call__(self, x: Sequence[float | Value]) -> Value | list[Value]:
            out = super().__call__(x)
            assert isinstance(out, Value)
            return out * 10.0

    class Halved(Layer):
        def __call__(self, x: Sequence[float | Value]) -> list[Value]:
            return [v * 0.5 for v in super().__call__(x)]

    class Listed(MLP):  # forward_batch written out with __call__: no endless loop
        def forward_batch(self, inputs: Sequence[Sequence[float | Value]]) -> list[Value | list[Value]]:
            return [self(x) for x in inputs]

    batch = [[0.5, -1.0], [1.0, 2.0]]

    def data(outputs: list[Any]) -> list[float]:
        return [v.data for v in outputs]

    scaled = Scaled(2, [3, 1], seed=0)
    assert data(scaled.forward_batch(batch)) == data([scaled(x) for x in batch])
    halved = Halved(2, 3, seed=0)
    assert [[v.data for v in out] for out in halved.forward_batch(batch)] == [
        [v.data for v in halved(x)] for x in batch
    ]
    listed = Listed(2, [3, 1], seed=0)
    assert data(listed.forward_batch(batch)) == data(MLP(2, [3, 1], seed=0).forward_batch(batch))


def test_forward_batch_names_the_input_vector_at_fault() -> None:
    model = MLP(2, [3, 1], seed=0)
    with pytest.raises(ValueError, match=r"MLP expects 2 inputs, got 3 \(input vector 1\)"):
        model.forward_batch([[1.0, 2.0], [1.0, 2.0, 3.0]])
    with pytest.raises(TypeError, match=r"MLP expects a sequence of 2 inputs, got 3.0 \(input vector 1\)"):
        model.forward_batch([[1.0, 2.0], 3.0])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"Layer expects 2 inputs, got 1 \(input vector 0\)"):
        Layer(2, 3).forward_batch([[1.0], [1.0, 2.0]])
    with pytest.raises(TypeError, match=r"MLP expects a sequence of 2 inputs, got 1.5$"):
        model(1.5)  # type: ignore[arg-type]


def test_wrong_input_length() -> None:
    with pytest.raises(ValueError, match="MLP expects 2 inputs, got 3"):
        MLP(2, [1], seed=0)([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="Layer expects 2 inputs, got 1"):
        Layer(2, 1, seed=0)([1.0])
    with pytest.raises(ValueError, match="dot"):
        Neuron(2, seed=0)([1.0])
    with pytest.raises(ValueError, match="Neuron expects 2 inputs, got 1"):
        Neuron(2, seed=0, fused=True)([1.0])


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_fused_neuron_serves_second_derivatives(activation: str) -> None:
    second = []
    for fused in (False, True):
        neuron = Neuron(2, activation, seed=1, fused=fused)
        x = [Value(0.3), Value(-0.2)]
        neuron(x).backward(create_graph=True)
        first = x[0].grad
        assert isinstance(first, Value)
        for v in x + neuron.parameters():
            v.grad = 0.0
        first.backward()
        second.append([x[0].grad, neuron.w[0].grad, neuron.w[1].grad])
    assert second[1] == [pytest.approx(g, rel=1e-12) for g in second[0]]
