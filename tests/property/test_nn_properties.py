"""Properties of the nn library over random networks, scores and data (Hypothesis)."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from autograd import Value, gradcheck
from nn import (
    ACTIVATIONS,
    MLP,
    binary_cross_entropy,
    hinge_loss,
    load_model,
    make_moons,
    mse_loss,
    softmax,
    softmax_cross_entropy,
    train_test_split,
)
from tests.golden.test_delta_rule import delta_rule_gradients

moderate = st.floats(-3.0, 3.0, allow_nan=False)
activations = st.sampled_from(ACTIVATIONS)


@st.composite
def networks(draw: st.DrawFn) -> MLP:
    nin = draw(st.integers(1, 3))
    widths = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    model = MLP(
        nin,
        widths,
        draw(activations),
        draw(activations),
        bias=draw(st.booleans()),
        init=draw(st.sampled_from(["uniform", "xavier", "he"])),
        seed=draw(st.integers(0, 2**16)),
    )
    for p in model.parameters():
        if p.label.endswith(".b"):
            p.data = draw(st.floats(-1.0, 1.0))
    return model


def outputs_of(model: MLP, x: list[float]) -> list[Value]:
    out = model(x)
    return out if isinstance(out, list) else [out]


@given(networks(), st.data())
def test_engine_gradients_follow_the_delta_rule(model: MLP, data: st.DataObject) -> None:
    x = data.draw(st.lists(moderate, min_size=model.nin, max_size=model.nin))
    targets = data.draw(st.lists(moderate, min_size=model.nouts[-1], max_size=model.nouts[-1]))
    mse_loss(outputs_of(model, x), targets, reduction="half_sum").backward()
    expected = delta_rule_gradients(model, x, lambda out: [o - t for o, t in zip(out, targets, strict=True)])
    for name, p in model.named_parameters():
        assert math.isclose(p.grad, expected[name], rel_tol=1e-9, abs_tol=1e-12), name


def neuron_by_neuron(model: MLP, x: list[Any]) -> list[Value]:
    # The network written out with Neuron calls (one dot each), not a layer's dots_batch.
    out: list[Any] = x
    for layer in model.layers:
        out = [neuron(out) for neuron in layer.neurons]
    return out


@given(networks(), st.data(), st.booleans())
def test_a_batch_builds_the_graph_neuron_calls_build(model: MLP, data: st.DataObject, leaves: bool) -> None:
    vectors = st.lists(moderate, min_size=model.nin, max_size=model.nin)
    batch: list[list[Any]] = data.draw(st.lists(vectors, min_size=1, max_size=4))
    if leaves:  # inputs that are Values get gradients too
        batch = [[Value(v) for v in x] for x in batch]
    got = model.forward_batch(batch)
    expected = [neuron_by_neuron(model, x) for x in batch]
    flat = [v for out in got for v in (out if isinstance(out, list) else [out])]
    assert [v.data for v in flat] == [v.data for out in expected for v in out]
    watched = model.parameters() + [v for x in batch for v in x if isinstance(v, Value)]
    Value.sum(flat).backward()
    through_batch = [p.grad for p in watched]
    for p in watched:
        p.grad = 0.0
    Value.sum([v for out in expected for v in out]).backward()
    assert [p.grad for p in watched] == through_batch


@given(networks())
def test_parameters_are_named_parameters_in_the_same_order(model: MLP) -> None:
    for module in [model, *model.layers, *(n for layer in model.layers for n in layer.neurons)]:
        named = [p for _, p in module.named_parameters()]
        assert len(module.parameters()) == len(named)
        assert all(p is q for p, q in zip(module.parameters(), named, strict=True))


@given(networks(), st.data())
def test_fused_networks_match_unfused_ones(model: MLP, data: st.DataObject) -> None:
    fused = MLP.from_config({**model.config(), "fused": True})
    fused.load_state_dict(model.state_dict())
    x = data.draw(st.lists(moderate, min_size=model.nin, max_size=model.nin))
    for m in (model, fused):
        Value.sum(outputs_of(m, x)).backward()
    for p, q in zip(model.parameters(), fused.parameters(), strict=True):
        assert math.isclose(q.grad, p.grad, rel_tol=1e-9, abs_tol=1e-12)


@given(st.lists(st.floats(-50.0, 50.0), min_size=1, max_size=6), st.data())
def test_softmax_cross_entropy_gradient_is_y_minus_t(scores: list[float], data: st.DataObject) -> None:
    target = data.draw(st.integers(0, len(scores) - 1))
    a = [Value(s) for s in scores]
    y = [p.data for p in softmax(a)]
    assert math.isclose(math.fsum(y), 1.0, rel_tol=1e-12)
    loss = softmax_cross_entropy(a, target)
    assert math.isfinite(loss.data) and loss.data >= -1e-12
    loss.backward()
    for k, (score, p) in enumerate(zip(a, y, strict=True)):
        assert math.isclose(score.grad, p - (k == target), rel_tol=1e-9, abs_tol=1e-12)


@given(st.floats(-1e4, 1e4), st.floats(0.0, 1.0))
def test_binary_cross_entropy_is_finite_and_its_gradient_is_sigmoid_minus_t(z: float, t: float) -> None:
    logit = Value(z)
    loss = binary_cross_entropy([logit], [t])
    assert math.isfinite(loss.data) and loss.data >= 0.0
    loss.backward()
    sigmoid = 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
    assert math.isclose(logit.grad, sigmoid - t, rel_tol=1e-12, abs_tol=1e-15)


@given(st.lists(st.tuples(moderate, moderate, st.sampled_from([-1.0, 1.0])), min_size=1, max_size=4))
def test_losses_pass_gradcheck(rows: list[tuple[float, float, float]]) -> None:
    outs = [r[0] for r in rows]
    targets = [r[1] for r in rows]
    labels = [r[2] for r in rows]
    for reduction in ("mean", "half_sum", "sum"):
        assert gradcheck(lambda *o: mse_loss(list(o), targets, reduction=reduction), outs)  # noqa: B023
    # The hinge has a kink where y * score = 1; gradcheck only away from it.
    if all(abs(1.0 - y * s) > 1e-3 for s, y in zip(outs, labels, strict=True)):
        assert gradcheck(lambda *s: hinge_loss(list(s), labels), outs)
    assert gradcheck(lambda *s: softmax_cross_entropy(list(s), 0), outs)


@settings(max_examples=40)  # each example writes and fsyncs a file; 40 networks cover the shapes
@given(networks())
def test_save_then_load_model_is_exact(model: MLP) -> None:
    for p in model.parameters():
        p.data = p.data / 7.0
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.json"
        model.save(path)
        rebuilt = load_model(path)
    assert rebuilt.state_dict() == model.state_dict()
    assert rebuilt.config() == model.config()


@given(st.integers(2, 60), st.floats(0.01, 0.99), st.integers(0, 100))
def test_train_test_split_is_a_partition(n: int, fraction: float, seed: int) -> None:
    data = make_moons(n, noise=0.1, seed=seed)
    n_test = math.ceil(n * fraction)
    if not 0 < n_test < n:
        return
    train, test = train_test_split(data, fraction, seed=seed)
    assert len(test.inputs) == n_test and len(train.inputs) == n - n_test
    key = sorted((*p, label) for p, label in zip(data.inputs, data.labels, strict=True))
    both = sorted(
        (*p, label) for p, label in zip(train.inputs + test.inputs, train.labels + test.labels, strict=True)
    )
    assert both == key
