"""`to_torch` and `from_torch` by example: the layout, the options, every refusal, and life without torch.

The agreement of outputs and gradients over random networks, and the bit-for-bit
round trips, are property tests (tests/property/test_torch_agreement.py).
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nn import MLP, Layer, Module, Neuron

ROOT = Path(__file__).resolve().parents[2]


# ---- without PyTorch ---------------------------------------------------------------


def test_import_nn_does_not_import_torch() -> None:
    code = "import sys, nn; nn.MLP(2, [3, 1], seed=0); assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.parametrize(
    ("call", "owner"),
    [
        (lambda: MLP(2, [3, 1], seed=0).to_torch(), "MLP.to_torch"),
        (lambda: Layer(2, 3, seed=0).to_torch(), "Layer.to_torch"),
        (lambda: Neuron(2, seed=0).to_torch(), "Neuron.to_torch"),
        (lambda: MLP.from_torch(object()), "MLP.from_torch"),
        (lambda: Layer.from_torch(object()), "Layer.from_torch"),
        (lambda: Neuron.from_torch(object()), "Neuron.from_torch"),
    ],
)
def test_without_torch_a_conversion_says_what_to_install(
    call: Callable[[], object], owner: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # what `import torch` does where it is missing
    with pytest.raises(ImportError, match=re.escape(f"{owner} needs PyTorch")) as caught:
        call()
    assert "pip install 'chainrule[torch]'" in str(caught.value)


# ---- chainrule -> PyTorch ----------------------------------------------------------


def test_an_mlp_becomes_linears_and_activations_with_its_weights(torch: Any) -> None:
    model = MLP(3, [4, 2], activation="tanh", output_activation="sigmoid", seed=1)
    net = model.to_torch()
    assert [type(m) for m in net] == [torch.nn.Linear, torch.nn.Tanh, torch.nn.Linear, torch.nn.Sigmoid]
    for layer, linear in zip(model.layers, (net[0], net[2]), strict=True):
        assert linear.weight.dtype == torch.float64 and linear.weight.requires_grad
        assert linear.weight.shape == (layer.nout, layer.nin)  # (out, in)
        assert linear.weight.tolist() == [[w.data for w in n.w] for n in layer.neurons]
        assert linear.bias.tolist() == [n.b.data for n in layer.neurons if n.b is not None]
    x = [0.5, -1.0, 2.0]
    outputs = model(x)
    assert isinstance(outputs, list)
    assert net(torch.tensor([x], dtype=torch.float64))[0].tolist() == pytest.approx(
        [v.data for v in outputs], rel=1e-12
    )


def test_a_linear_layer_has_no_activation_module_and_bias_false_no_bias(torch: Any) -> None:
    net = MLP(2, [3, 1], activation="linear", bias=False, seed=0).to_torch()
    assert [type(m) for m in net] == [torch.nn.Linear, torch.nn.Linear]
    assert all(linear.bias is None for linear in net)


def test_a_layer_and_a_neuron_convert_and_agree(torch: Any) -> None:
    x = [0.25, -0.75]
    layer = Layer(2, 3, "tanh", seed=3)
    neuron = Neuron(2, "sigmoid", seed=4)
    neuron.b.data = 0.125  # type: ignore[union-attr]
    for module, expected in ((layer, [v.data for v in layer(x)]), (neuron, [neuron(x).data])):
        net = module.to_torch()
        assert [type(m) for m in net][1] in (torch.nn.Tanh, torch.nn.Sigmoid)
        assert net(torch.tensor([x], dtype=torch.float64))[0].tolist() == pytest.approx(expected, rel=1e-12)


def test_a_fused_model_exports_what_it_computes(torch: Any) -> None:
    model = MLP(2, [3, 3, 1], activation="tanh", fused=True, seed=5)
    x = [0.3, -0.2]
    out = model.to_torch()(torch.tensor([x], dtype=torch.float64)).item()
    assert out == pytest.approx(model(x).data, rel=1e-12)  # type: ignore[union-attr]


def test_the_sequential_holds_copies_of_the_weights(torch: Any) -> None:
    model = MLP(2, [2, 1], seed=0)
    before = model.state_dict()
    net = model.to_torch()
    with torch.no_grad():
        net[0].weight.add_(1.0)
    assert model.state_dict() == before


def test_conversions_leave_the_random_streams_alone(torch: Any) -> None:
    model = MLP(2, [4, 1], seed=0)
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    net = model.to_torch()  # Linear's own initialisation would draw from torch's stream
    assert torch.equal(torch.rand(3), expected)
    state = random.getstate()
    MLP.from_torch(net)  # an MLP built without a seed would draw from `random`
    assert random.getstate() == state


def test_only_neurons_layers_and_mlps_that_keep_their_forward_pass_convert(torch: Any) -> None:
    class ModuleWithoutWeights(Module):
        pass

    class DoubledOutputMLP(MLP):
        def __call__(self, x: Any) -> Any:
            return [2 * v for v in super().__call__(x)]  # type: ignore[union-attr]

    with pytest.raises(
        TypeError, match=r"ModuleWithoutWeights\.to_torch: only a Neuron, a Layer or an MLP converts"
    ):
        ModuleWithoutWeights().to_torch()
    with pytest.raises(
        TypeError, match=r"DoubledOutputMLP\.to_torch: DoubledOutputMLP defines its own forward pass"
    ):
        DoubledOutputMLP(2, [2]).to_torch()
    net = MLP(2, [2]).to_torch()
    with pytest.raises(TypeError, match=r"DoubledOutputMLP\.from_torch: DoubledOutputMLP defines its own"):
        DoubledOutputMLP.from_torch(net)

    class NamedMLP(MLP):  # keeps MLP's forward pass
        pass

    assert type(NamedMLP.from_torch(net)) is NamedMLP


# ---- PyTorch -> chainrule ----------------------------------------------------------


def test_from_torch_reads_the_architecture(torch: Any) -> None:
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 5, dtype=torch.float64),
        torch.nn.Tanh(),
        torch.nn.Linear(5, 4, dtype=torch.float64),
        torch.nn.Tanh(),
        torch.nn.Linear(4, 2, dtype=torch.float64),
        torch.nn.Sigmoid(),
    )
    model = MLP.from_torch(net, fused=True)
    assert model.config() == {
        "nin": 3,
        "nouts": [5, 4, 2],
        "activation": "tanh",
        "output_activation": "sigmoid",
        "bias": True,
        "init": "uniform",
        "fused": True,
    }
    assert model.layers[1].neurons[3].w[2].data == net[2].weight[3, 2].item()
    assert model.layers[2].neurons[1].b.data == net[4].bias[1].item()  # type: ignore[union-attr]


def test_from_torch_reads_float32_weights_exactly_and_named_modules(torch: Any) -> None:
    net = torch.nn.Sequential(
        OrderedDict(hidden=torch.nn.Linear(2, 3), relu=torch.nn.ReLU(), out=torch.nn.Linear(3, 1))
    )
    model = MLP.from_torch(net)
    assert net[0].weight.dtype == torch.float32
    assert [n.w[1].data for n in model.layers[0].neurons] == net[0].weight[:, 1].tolist()
    assert model.config()["activation"] == "relu" and model.config()["output_activation"] == "linear"


def test_one_linear_makes_a_layer_a_neuron_or_a_one_layer_mlp(torch: Any) -> None:
    net = torch.nn.Sequential(torch.nn.Linear(2, 1, bias=False, dtype=torch.float64), torch.nn.Sigmoid())
    neuron = Neuron.from_torch(net)
    layer = Layer.from_torch(net)
    mlp = MLP.from_torch(net)
    assert neuron.config() == {
        "nin": 2,
        "activation": "sigmoid",
        "bias": False,
        "init": "uniform",
        "fused": False,
    }
    assert layer.config()["nout"] == 1 and layer.config()["activation"] == "sigmoid"
    assert mlp.config()["nouts"] == [1] and mlp.config()["output_activation"] == "sigmoid"
    assert mlp.config()["activation"] == "relu"  # no hidden layer: MLP's default, unused
    weights = net[0].weight[0].tolist()
    assert [w.data for w in neuron.w] == [w.data for w in layer.neurons[0].w] == weights


def _linear(torch: Any, nin: int, nout: int, **kwargs: Any) -> Any:
    return torch.nn.Linear(nin, nout, dtype=kwargs.pop("dtype", torch.float64), **kwargs)


def _nan_weight(torch: Any) -> Any:
    linear = _linear(torch, 2, 3)
    with torch.no_grad():
        linear.weight[1, 0] = float("nan")
    return torch.nn.Sequential(linear)


def _bfloat16_bias(torch: Any) -> Any:
    linear = _linear(torch, 2, 3)
    linear.bias = torch.nn.Parameter(linear.bias.detach().to(torch.bfloat16))
    return torch.nn.Sequential(linear)


def _shared(torch: Any) -> Any:
    linear = _linear(torch, 3, 3)
    return torch.nn.Sequential(linear, torch.nn.ReLU(), linear)


REFUSED: list[tuple[str, Callable[[Any], Any], type[Exception], str]] = [
    (
        "not a Sequential",
        lambda torch: _linear(torch, 2, 2),
        TypeError,
        "MLP.from_torch expects a torch.nn.Sequential of Linear modules, each followed by at most one "
        "ReLU, Tanh or Sigmoid, got Linear",
    ),
    (
        "a Sequential with a forward of its own",
        lambda torch: type("Skip", (torch.nn.Sequential,), {"forward": lambda self, x: x})(
            _linear(torch, 2, 2)
        ),
        TypeError,
        "got Skip",
    ),
    ("empty", lambda torch: torch.nn.Sequential(), ValueError, "the Sequential holds no Linear module"),
    (
        "Dropout",
        lambda torch: torch.nn.Sequential(_linear(torch, 2, 3), torch.nn.ReLU(), torch.nn.Dropout(0.1)),
        TypeError,
        "MLP.from_torch: cannot convert the Dropout at position 2: an MLP is Linear modules",
    ),
    (
        "a named BatchNorm",
        lambda torch: torch.nn.Sequential(OrderedDict(fc=_linear(torch, 2, 3), norm=torch.nn.BatchNorm1d(3))),
        TypeError,
        "cannot convert the BatchNorm1d at position 1 ('norm')",
    ),
    (
        "Conv1d",
        lambda torch: torch.nn.Sequential(torch.nn.Conv1d(1, 1, 1)),
        TypeError,
        "cannot convert the Conv1d at position 0",
    ),
    (
        "LeakyReLU",
        lambda torch: torch.nn.Sequential(_linear(torch, 2, 3), torch.nn.LeakyReLU()),
        TypeError,
        "cannot convert the LeakyReLU at position 1",
    ),
    (
        "a nested Sequential",
        lambda torch: torch.nn.Sequential(torch.nn.Sequential(_linear(torch, 2, 3))),
        TypeError,
        "cannot convert the Sequential at position 0",
    ),
    (
        "a Linear subclass",
        lambda torch: torch.nn.Sequential(torch.nn.LazyLinear(3)),
        TypeError,
        "cannot convert the LazyLinear at position 0",
    ),
    (
        "widths that do not chain",
        lambda torch: torch.nn.Sequential(_linear(torch, 2, 3), torch.nn.Tanh(), _linear(torch, 4, 1)),
        ValueError,
        "MLP.from_torch: the Linear at position 2 takes 4 inputs, but the Linear at position 0 gives 3",
    ),
    (
        "an activation first",
        lambda torch: torch.nn.Sequential(torch.nn.ReLU(), _linear(torch, 2, 3)),
        ValueError,
        "the ReLU at position 0 comes before any Linear",
    ),
    (
        "two activations in a row",
        lambda torch: torch.nn.Sequential(_linear(torch, 2, 3), torch.nn.ReLU(), torch.nn.Tanh()),
        ValueError,
        "the Tanh at position 2 follows the ReLU at position 1, not a Linear",
    ),
    (
        "hidden layers with different activations",
        lambda torch: torch.nn.Sequential(
            _linear(torch, 2, 3), torch.nn.ReLU(), _linear(torch, 3, 3), torch.nn.Tanh(), _linear(torch, 3, 1)
        ),
        ValueError,
        "the hidden layers of an MLP share one activation, but layer 0 (the Linear at position 0) is "
        "followed by ReLU and layer 1 (the Linear at position 2) by Tanh",
    ),
    (
        "a hidden layer without an activation among ones with",
        lambda torch: torch.nn.Sequential(
            _linear(torch, 2, 3), _linear(torch, 3, 3), torch.nn.Tanh(), _linear(torch, 3, 1)
        ),
        ValueError,
        "layer 0 (the Linear at position 0) is followed by no activation and layer 1 "
        "(the Linear at position 1) by Tanh",
    ),
    (
        "biases on some layers only",
        lambda torch: torch.nn.Sequential(_linear(torch, 2, 3), _linear(torch, 3, 1, bias=False)),
        ValueError,
        "the Linear at position 1 has no bias but the one at position 0 has one",
    ),
    (
        "float16",
        lambda torch: torch.nn.Sequential(_linear(torch, 2, 3, dtype=torch.float16)),
        TypeError,
        "the weight of the Linear at position 0 is torch.float16; from_torch reads float64 or float32",
    ),
    ("bfloat16 biases", _bfloat16_bias, TypeError, "the bias of the Linear at position 0 is torch.bfloat16"),
    (
        "no inputs",
        lambda torch: torch.nn.Sequential(_linear(torch, 0, 3)),
        ValueError,
        "has 0 inputs and 3 outputs",
    ),
    ("a nan weight", _nan_weight, ValueError, "the Linear at position 0 holds nan from input 0 to output 1"),
    ("shared weights", _shared, ValueError, "the Linear at position 2 is the one at position 0 again"),
]


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch warns about a Linear of no inputs, LazyLinear
@pytest.mark.parametrize(
    ("build", "error", "message"), [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED]
)
def test_from_torch_refuses_what_an_mlp_cannot_hold_with_its_place(
    torch: Any, build: Callable[[Any], Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        MLP.from_torch(build(torch))


def test_a_layer_is_one_linear_and_a_neuron_has_one_output(torch: Any) -> None:
    two = torch.nn.Sequential(_linear(torch, 2, 3), torch.nn.ReLU(), _linear(torch, 3, 1))
    with pytest.raises(
        ValueError,
        match=r"Layer\.from_torch: expected one Linear \(and its activation\), the Sequential has 2",
    ):
        Layer.from_torch(two)
    with pytest.raises(
        ValueError, match=r"Neuron\.from_torch: a Neuron has one output, the Linear at position 0 has 3"
    ):
        Neuron.from_torch(torch.nn.Sequential(_linear(torch, 2, 3)))
