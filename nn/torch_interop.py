"""PyTorch interop: a model as a `torch.nn.Sequential` with the same weights, and back.

A Neuron, Layer or MLP becomes Linear modules, each followed by its activation
module (ReLU, Tanh or Sigmoid; a linear layer has none). A Linear's weight is
(out, in): `weight[j][i]` is `weights[l][j][i]` of `MLP.from_weights`, from input
i to neuron j. The weights go over in float64, which holds every Python float
exactly, so chainrule -> PyTorch -> chainrule gives back the same floats, bit
for bit; from PyTorch, float32 weights are read exactly too (each float32 is a
float64).

PyTorch is an optional dependency (`pip install 'chainrule[torch]'`), imported
when a conversion runs: `import nn` never imports it.
"""

from __future__ import annotations

import importlib
import math
from typing import Any, TypeVar

from .layers import MLP, Layer, Neuron
from .module import Module

__all__ = ["from_torch", "to_torch"]

# torch.nn's module for each activation; a "linear" layer is a Linear alone.
TORCH_ACTIVATIONS = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid"}
SUPPORTED = "Linear modules, each followed by at most one ReLU, Tanh or Sigmoid"

M = TypeVar("M", bound=Module)

# One dense layer: weight rows (rows[j][i] from input i to neuron j), biases or None, activation.
Dense = tuple[list[list[float]], list[float] | None, str]


def _torch(owner: str) -> Any:
    try:
        return importlib.import_module("torch")
    except ImportError as exc:
        raise ImportError(
            f"{owner} needs PyTorch, an optional dependency: pip install 'chainrule[torch]' ({exc})"
        ) from None


# ---- chainrule -> PyTorch ----------------------------------------------------------


def to_torch(module: Module) -> Any:
    """A float64 `torch.nn.Sequential` that computes what `module` computes, with its weights."""
    owner = f"{type(module).__name__}.to_torch"
    torch = _torch(owner)
    modules = []
    for rows, biases, activation in _dense_layers(module, owner):
        # skip_init: no random initialisation, so the torch random stream is left as it was.
        linear = torch.nn.utils.skip_init(
            torch.nn.Linear, len(rows[0]), len(rows), bias=biases is not None, dtype=torch.float64
        )
        with torch.no_grad():
            linear.weight.copy_(torch.tensor(rows, dtype=torch.float64))
            if biases is not None:
                linear.bias.copy_(torch.tensor(biases, dtype=torch.float64))
        modules.append(linear)
        if activation != "linear":
            modules.append(getattr(torch.nn, TORCH_ACTIVATIONS[activation])())
    return torch.nn.Sequential(*modules)


def _check_forward(cls: type[Module], owner: str) -> None:
    # A subclass with a forward pass of its own computes something a Sequential may not.
    for kind in (MLP, Layer, Neuron):
        if issubclass(cls, kind) and cls.__call__ is not kind.__call__:
            raise TypeError(
                f"{owner}: {cls.__name__} defines its own forward pass, "
                f"which a Sequential of Linear and activation modules may not compute"
            )


def _dense_layers(module: Module, owner: str) -> list[Dense]:
    _check_forward(type(module), owner)
    if isinstance(module, MLP):
        return [_layer_rows(layer) for layer in module.layers]
    if isinstance(module, Layer):
        return [_layer_rows(module)]
    if isinstance(module, Neuron):
        return [_neuron_rows([module], module.activation)]
    raise TypeError(f"{owner}: only a Neuron, a Layer or an MLP converts to PyTorch")


def _layer_rows(layer: Layer) -> Dense:
    return _neuron_rows(layer.neurons, layer.activation)


def _neuron_rows(neurons: list[Neuron], activation: str) -> Dense:
    rows = [[w.data for w in neuron.w] for neuron in neurons]
    biases = [neuron.b.data for neuron in neurons if neuron.b is not None]
    return rows, biases if biases else None, activation


# ---- PyTorch -> chainrule ----------------------------------------------------------


def from_torch(cls: type[M], sequential: Any, *, fused: bool = False) -> M:
    """A new `cls` (a Neuron, Layer or MLP class) with the architecture and weights of `sequential`."""
    owner = f"{cls.__name__}.from_torch"
    torch = _torch(owner)
    _check_forward(cls, owner)
    layers = _read_sequential(torch, sequential, owner)
    (first_rows, first_biases, _), _ = layers[0]
    nin, has_bias = len(first_rows[0]), first_biases is not None
    # seed=0: the weights are set below, and a seeded start leaves the global random stream alone.
    if issubclass(cls, MLP):
        model: Module = _mlp(cls, layers, owner, fused=fused)
    elif issubclass(cls, Layer):
        (rows, biases, activation), _ = _only_layer(layers, owner)
        model = cls(nin, len(rows), activation, bias=has_bias, fused=fused, seed=0)
        model.set_weights(rows, biases)
    elif issubclass(cls, Neuron):
        (rows, biases, activation), position = _only_layer(layers, owner)
        if len(rows) != 1:
            raise ValueError(
                f"{owner}: a Neuron has one output, the Linear at position {position} has {len(rows)}"
            )
        model = cls(nin, activation, bias=has_bias, fused=fused, seed=0)
        model.set_weights(rows[0], None if biases is None else biases[0])
    else:
        raise TypeError(f"{owner}: only a Neuron, a Layer or an MLP is made from PyTorch")
    assert isinstance(model, cls)
    return model


def _mlp(cls: type[MLP], layers: list[tuple[Dense, int]], owner: str, *, fused: bool) -> MLP:
    # An MLP has one hidden activation and one output activation.
    (_, _, hidden), first = layers[0]
    for k, ((_, _, activation), position) in enumerate(layers[:-1]):
        if activation != hidden:
            raise ValueError(
                f"{owner}: the hidden layers of an MLP share one activation, but layer 0 "
                f"(the Linear at position {first}) is followed by {_shown(hidden)} and layer {k} "
                f"(the Linear at position {position}) by {_shown(activation)}"
            )
    output = layers[-1][0][2]
    if len(layers) == 1:
        hidden = "relu"  # a one-layer MLP has no hidden layer; relu is MLP's default
    weights = [rows for (rows, _, _), _ in layers]
    biases = [biases for (_, biases, _), _ in layers if biases is not None]  # all or none (checked)
    model = cls(
        len(weights[0][0]),
        [len(rows) for rows in weights],
        hidden,
        output,
        bias=bool(biases),
        fused=fused,
        seed=0,
    )
    model.set_weights(weights, biases or None)
    return model


def _only_layer(layers: list[tuple[Dense, int]], owner: str) -> tuple[Dense, int]:
    if len(layers) != 1:
        raise ValueError(
            f"{owner}: expected one Linear (and its activation), the Sequential has {len(layers)}"
        )
    return layers[0]


def _shown(activation: str) -> str:
    return "no activation" if activation == "linear" else TORCH_ACTIVATIONS[activation]


def _read_sequential(torch: Any, sequential: Any, owner: str) -> list[tuple[Dense, int]]:
    """Each Linear's weights, biases and activation, with its position in the Sequential; checked."""
    if not isinstance(sequential, torch.nn.Sequential) or (
        type(sequential).forward is not torch.nn.Sequential.forward
    ):
        raise TypeError(f"{owner} expects a torch.nn.Sequential of {SUPPORTED}, got {_kind(sequential)}")
    activation_of = {getattr(torch.nn, name): act for act, name in TORCH_ACTIVATIONS.items()}
    layers: list[tuple[Dense, int]] = []
    seen: dict[int, int] = {}  # id of each Linear -> its position
    previous: Any = None  # the module before this one: an activation must follow a Linear
    # _modules, not named_children(), which skips a module that appears twice.
    for position, (name, child) in enumerate(sequential._modules.items()):
        where = f"position {position}" + ("" if name == str(position) else f" ({name!r})")
        if type(child) is torch.nn.Linear:
            if id(child) in seen:
                raise ValueError(
                    f"{owner}: the Linear at {where} is the one at position {seen[id(child)]} again "
                    f"(shared weights); each layer of an MLP has weights of its own"
                )
            seen[id(child)] = position
            layers.append((_read_linear(torch, child, layers, where, owner), position))
        elif type(child) in activation_of:
            if type(previous) is not torch.nn.Linear:
                place = (
                    "comes before any Linear"
                    if previous is None
                    else f"follows the {_kind(previous)} at position {position - 1}, not a Linear"
                )
                raise ValueError(f"{owner}: the {_kind(child)} at {where} {place} (an MLP is {SUPPORTED})")
            rows, biases, _ = layers[-1][0]
            layers[-1] = ((rows, biases, activation_of[type(child)]), layers[-1][1])
        else:
            raise TypeError(f"{owner}: cannot convert the {_kind(child)} at {where}: an MLP is {SUPPORTED}")
        previous = child
    if not layers:
        raise ValueError(f"{owner}: the Sequential holds no Linear module (an MLP is {SUPPORTED})")
    return layers


def _read_linear(torch: Any, linear: Any, before: list[tuple[Dense, int]], where: str, owner: str) -> Dense:
    for part, tensor in (("weight", linear.weight), ("bias", linear.bias)):
        if tensor is not None and tensor.dtype not in (torch.float64, torch.float32):
            raise TypeError(
                f"{owner}: the {part} of the Linear at {where} is {tensor.dtype}; "
                f"from_torch reads float64 or float32 (convert with .double())"
            )
    nout, nin = linear.weight.shape
    if nin == 0 or nout == 0:
        raise ValueError(
            f"{owner}: the Linear at {where} has {nin} inputs and {nout} outputs; an MLP needs 1 or more"
        )
    if before:
        (rows, biases, _), position = before[-1]
        if nin != len(rows):
            raise ValueError(
                f"{owner}: the Linear at {where} takes {nin} inputs, "
                f"but the Linear at position {position} gives {len(rows)}"
            )
        if (linear.bias is None) != (biases is None):
            this, that = ("has no bias", "has one") if linear.bias is None else ("has a bias", "has none")
            raise ValueError(
                f"{owner}: the Linear at {where} {this} but the one at position {position} {that}; "
                f"the layers of an MLP all have biases or none"
            )
    rows = linear.weight.detach().cpu().double().tolist()
    bias = None if linear.bias is None else linear.bias.detach().cpu().double().tolist()
    for j, row in enumerate(rows):
        for i, w in enumerate(row):
            if not math.isfinite(w):
                raise ValueError(f"{owner}: the Linear at {where} holds {w} from input {i} to output {j}")
        if bias is not None and not math.isfinite(bias[j]):
            raise ValueError(f"{owner}: the Linear at {where} holds a bias of {bias[j]} for output {j}")
    return rows, bias, "linear"


def _kind(x: object) -> str:
    return type(x).__name__
