"""nn models against PyTorch (Hypothesis): the same floats after a round trip, the same numbers computed.

Round trips, chainrule -> PyTorch -> chainrule and PyTorch -> chainrule -> PyTorch,
give back every weight bit for bit (compared by `float.hex`, so -0.0 and subnormals
count), whatever finite floats they hold. A model and its `to_torch()` Sequential,
fed the same inputs, give outputs, a loss and parameter gradients that agree to
1e-12: relatively, or relative to the largest entry of the same quantity (a gradient
entry that cancels down to almost nothing is compared at the scale of its tensor).
The weights and inputs of those comparisons are seeded random numbers, not numbers
drawn by Hypothesis, which steers towards round values whose sums land exactly on
relu's kink, where a last-bit difference between two summation orders flips a gradient.
"""

from __future__ import annotations

import math
import random
from itertools import pairwise
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from nn import MLP, hinge_loss, mse_loss
from nn.torch_interop import TORCH_ACTIVATIONS
from tests.strategies import mlp_architectures

TOLERANCE = 1e-12


def bits(values: Any) -> list[str]:
    """The exact floats of a state dict's values or of a tensor, as hex strings."""
    numbers = values.flatten().tolist() if hasattr(values, "flatten") else list(values)
    return [float(x).hex() for x in numbers]


def flat(nested: Any) -> list[float]:
    if isinstance(nested, list):
        return [x for item in nested for x in flat(item)]
    return [float(nested)]


def assert_agree(what: str, ours: Any, theirs: Any) -> None:
    ours, theirs = flat(ours), flat(theirs)
    assert len(ours) == len(theirs), what
    scale = max((abs(x) for x in theirs), default=0.0)
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE * scale), (
            f"{what}, entry {k}: chainrule {a!r}, PyTorch {b!r}"
        )


@given(mlp_architectures(), st.data())
def test_chainrule_to_torch_and_back_keeps_every_float(
    torch: Any, architecture: dict[str, Any], data: st.DataObject
) -> None:
    model = MLP(**architecture, seed=0)
    any_float = st.floats(allow_nan=False, allow_infinity=False)
    state = {name: data.draw(any_float, label=name) for name in model.state_dict()}
    model.load_state_dict(state)
    net = model.to_torch()
    assert all(p.dtype == torch.float64 for p in net.parameters())
    back = MLP.from_torch(net, fused=architecture["fused"])
    assert list(back.state_dict()) == list(state)
    assert bits(back.state_dict().values()) == bits(state.values())
    expected = model.config()
    if len(architecture["nouts"]) == 1:  # no hidden layer: the unused hidden activation is MLP's default
        expected["activation"] = "relu"
    assert back.config() == expected


@given(mlp_architectures(), st.sampled_from(["float64", "float32"]), st.data())
def test_torch_to_chainrule_and_back_keeps_every_float(
    torch: Any, architecture: dict[str, Any], dtype_name: str, data: st.DataObject
) -> None:
    dtype = getattr(torch, dtype_name)
    any_float = st.floats(allow_nan=False, allow_infinity=False, width=64 if dtype_name == "float64" else 32)
    sizes = [architecture["nin"], *architecture["nouts"]]
    modules = []
    for k, (nin, nout) in enumerate(pairwise(sizes)):
        linear = torch.nn.Linear(nin, nout, bias=architecture["bias"], dtype=dtype)
        with torch.no_grad():
            for p in linear.parameters():
                numbers = data.draw(st.lists(any_float, min_size=p.numel(), max_size=p.numel()))
                p.copy_(torch.tensor(numbers, dtype=dtype).view_as(p))
        modules.append(linear)
        activation = architecture["output_activation" if k == len(sizes) - 2 else "activation"]
        if activation != "linear":
            modules.append(getattr(torch.nn, TORCH_ACTIVATIONS[activation])())
    net = torch.nn.Sequential(*modules)
    again = MLP.from_torch(net).to_torch()
    assert [type(m) for m in again] == [type(m) for m in net]
    for ours, theirs in zip(again.parameters(), net.parameters(), strict=True):
        assert ours.dtype == torch.float64 and ours.shape == theirs.shape
        assert bits(ours) == bits(theirs.double())


@given(mlp_architectures(), st.integers(0, 2**32 - 1), st.integers(1, 5), st.sampled_from(["mse", "hinge"]))
def test_outputs_losses_and_gradients_agree_with_torch(
    torch: Any, architecture: dict[str, Any], seed: int, batch: int, loss_name: str
) -> None:
    rng = random.Random(seed)
    model = MLP(**architecture, seed=seed)
    model.load_state_dict({name: rng.uniform(-1.0, 1.0) for name in model.state_dict()})  # biases too
    nin, nout = architecture["nin"], architecture["nouts"][-1]
    inputs = [[rng.uniform(-2.0, 2.0) for _ in range(nin)] for _ in range(batch)]
    if loss_name == "mse":
        targets = [[rng.uniform(-1.0, 1.0) for _ in range(nout)] for _ in range(batch)]
    else:
        targets = [[rng.choice((-1.0, 1.0)) for _ in range(nout)] for _ in range(batch)]
    net = model.to_torch()

    outputs = [out if isinstance(out, list) else [out] for out in model.forward_batch(inputs)]
    loss = (mse_loss if loss_name == "mse" else hinge_loss)(outputs, targets)
    loss.backward()

    x = torch.tensor(inputs, dtype=torch.float64)
    t = torch.tensor(targets, dtype=torch.float64)
    out = net(x)
    torch_loss = ((out - t) ** 2).mean() if loss_name == "mse" else torch.relu(1.0 - t * out).mean()
    torch_loss.backward()

    assert_agree("outputs", [[o.data for o in row] for row in outputs], out.tolist())
    assert_agree("loss", loss.data, torch_loss.item())
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    for k, (layer, linear) in enumerate(zip(model.layers, linears, strict=True)):
        weights = [[w.grad for w in neuron.w] for neuron in layer.neurons]
        assert_agree(f"layer {k} weight gradients", weights, linear.weight.grad.tolist())
        if architecture["bias"]:
            biases = [neuron.b.grad for neuron in layer.neurons if neuron.b is not None]
            assert_agree(f"layer {k} bias gradients", biases, linear.bias.grad.tolist())
        else:
            assert linear.bias is None
