"""Neurons, layers and the multi-layer perceptron.

A neuron's weighted sum plus bias is ONE graph node (`autograd.dot`), followed
by its activation gate; with `fused=True` the two are one `dot+activation`
node (`dot(..., activation=...)`) whose local gradient is g'(S) times the input
(for a weight), times the weight (for an input), or g'(S) itself (for the bias).
"""

from __future__ import annotations

import inspect
import math
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import chain, islice, pairwise
from numbers import Real
from typing import Any, cast

from autograd import Value, activate, dot, dots_batch

from .module import Module

__all__ = ["ACTIVATIONS", "INITS", "MLP", "Layer", "Neuron"]

ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid")
INITS = ("uniform", "xavier", "he")

Inputs = Sequence["float | Value"]


def _linear(s: Value) -> Value:
    return s


_ACTIVATE: dict[str, Callable[[Value], Value]] = {
    "linear": _linear,
    "relu": Value.relu,
    "tanh": Value.tanh,
    "sigmoid": Value.sigmoid,
}


def _check_activation(owner: str, activation: str) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(f"{owner}: unknown activation {activation!r} (choose from {', '.join(ACTIVATIONS)})")
    return activation


def _checked_batch(owner: str, nin: int, inputs: Sequence[Inputs]) -> list[Inputs]:
    # Every input vector has the model's width; the message names the vector in a batch.
    batch = list(inputs)
    for k, x in enumerate(batch):
        where = f" (input vector {k})" if len(batch) > 1 else ""
        try:
            size = len(x)
        except TypeError:
            raise TypeError(f"{owner} expects a sequence of {nin} inputs, got {x!r}{where}") from None
        if size != nin:
            raise ValueError(f"{owner} expects {nin} inputs, got {size}{where}")
    return batch


def _check_flags(owner: str, **flags: object) -> None:
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise ValueError(f"{owner}: {name} must be True or False, got {value!r}")


def _check_count(owner: str, what: str, n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{owner}: {what} must be a positive integer, got {n!r}")
    return n


def _check_widths(nouts: object) -> list[int]:
    if isinstance(nouts, (str, bytes)) or not isinstance(nouts, Sequence) or not nouts:
        raise ValueError(f"MLP: nouts must be a non-empty list of layer widths, got {nouts!r}")
    return [_check_count("MLP", f"width of layer {k}", n) for k, n in enumerate(nouts)]


def _init_bound(owner: str, init: str, fan_in: int, fan_out: int) -> float:
    if init == "uniform":
        return 1.0  # micrograd's uniform(-1, 1)
    if init == "xavier":
        return math.sqrt(6.0 / (fan_in + fan_out))  # Glorot: Var(w) = 2 / (fan_in + fan_out)
    if init == "he":
        return math.sqrt(6.0 / fan_in)  # He: Var(w) = 2 / fan_in, for relu
    raise ValueError(f"{owner}: unknown init {init!r} (choose from {', '.join(INITS)})")


def _full_config(
    cls: type[Module], owner: str, config: Mapping[str, Any], keys: Sequence[str]
) -> dict[str, Any]:
    # The arguments from_config(config) builds with: the keys config() writes, a missing one
    # taken from the constructor's default. Checked before a file's model is built.
    if not isinstance(config, Mapping):
        raise TypeError(f"{owner}: a configuration is a mapping, got {type(config).__name__}")
    unknown = [key for key in config if key not in keys]
    if unknown:
        raise ValueError(f"{owner}: unknown configuration key {unknown[0]!r} (expected {', '.join(keys)})")
    signature = inspect.signature(cls).parameters
    full = {}
    for key in keys:
        default = signature[key].default if key in signature else inspect.Parameter.empty
        if key not in config and default is inspect.Parameter.empty:
            raise ValueError(f"{owner}: the configuration has no {key!r}")
        full[key] = config.get(key, default)
    _check_activation(owner, full["activation"])
    _check_flags(owner, bias=full["bias"], fused=full["fused"])
    _init_bound(owner, full["init"], 1, 1)
    return full


def _number(owner: str, where: str, x: object) -> float:
    if isinstance(x, bool) or not isinstance(x, Real) or not math.isfinite(float(x)):
        raise ValueError(f"{owner}: {where} must be a finite number, got {x!r}")
    return float(x)


class Neuron(Module):
    """g(w . x + b): weights w, a bias b (optional) and an activation g."""

    def __init__(
        self,
        nin: int,
        activation: str = "relu",
        *,
        bias: bool = True,
        init: str = "uniform",
        fan_out: int = 1,
        seed: int | None = None,
        rng: random.Random | None = None,
        fused: bool = False,
        nonlin: bool | None = None,
    ) -> None:
        if nonlin is not None:  # micrograd's flag: relu or linear
            activation = "relu" if nonlin else "linear"
        self.nin = _check_count("Neuron", "nin", nin)
        self.activation = _check_activation("Neuron", activation)
        _check_flags("Neuron", bias=bias, fused=fused)
        self.init = init
        self.fused = fused
        bound = _init_bound("Neuron", init, nin, _check_count("Neuron", "fan_out", fan_out))
        draw = (rng or (random.Random(seed) if seed is not None else random)).uniform
        self.w = [Value(draw(-bound, bound), label=f"w{i}") for i in range(nin)]
        self.b: Value | None = Value(0.0, label="b") if bias else None
        self._activate = _ACTIVATE[activation]

    def __call__(self, x: Inputs) -> Value:
        """g(w . x + b) for one input vector x (numbers or Values)."""
        if self.fused:
            if len(x) != self.nin:
                raise ValueError(f"Neuron expects {self.nin} inputs, got {len(x)}")
            return dot(self.w, x, self.b, activation=self.activation)
        return self._activate(dot(self.w, x, self.b))

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        """w.0 .. w.(nin-1), then b."""
        for i, w in enumerate(self.w):
            yield f"w.{i}", w
        if self.b is not None:
            yield "b", self.b

    def set_weights(self, weights: Sequence[float], bias: float | None = None) -> None:
        """Set the weights (and the bias) to explicit numbers; checks everything first."""
        if len(weights) != self.nin:
            raise ValueError(f"Neuron.set_weights: expected {self.nin} weights, got {len(weights)}")
        values = [_number("Neuron.set_weights", f"weight {i}", w) for i, w in enumerate(weights)]
        if bias is not None and self.b is None:
            raise ValueError("Neuron.set_weights: this neuron has no bias")
        b = None if bias is None else _number("Neuron.set_weights", "bias", bias)
        for p, value in zip(self.w, values, strict=True):
            p.data = value
        if b is not None and self.b is not None:
            self.b.data = b

    def config(self) -> dict[str, Any]:
        """nin, activation, bias, init and fused."""
        return {
            "nin": self.nin,
            "activation": self.activation,
            "bias": self.b is not None,
            "init": self.init,
            "fused": self.fused,
        }

    @classmethod
    def count_parameters(cls, config: Mapping[str, Any]) -> int | None:
        """nin weights and a bias, after checking every entry of `config`."""
        if cls.config is not Neuron.config:  # a subclass that describes itself its own way
            return super().count_parameters(config)
        full = _full_config(cls, "Neuron", config, ("nin", "activation", "bias", "init", "fused"))
        return _check_count("Neuron", "nin", full["nin"]) + int(full["bias"])

    @classmethod
    def from_torch(cls, sequential: Any, *, fused: bool = False) -> Neuron:
        """A Neuron from a `torch.nn.Sequential` of one Linear with one output (and its activation)."""
        from .torch_interop import from_torch  # imports torch: only when asked for

        return from_torch(cls, sequential, fused=fused)

    def __repr__(self) -> str:
        return f"{self.activation.capitalize()}Neuron({self.nin})"


class Layer(Module):
    """`nout` neurons that all read the same input vector; returns a list of outputs."""

    def __init__(
        self,
        nin: int,
        nout: int,
        activation: str = "relu",
        *,
        bias: bool = True,
        init: str = "uniform",
        seed: int | None = None,
        rng: random.Random | None = None,
        fused: bool = False,
        nonlin: bool | None = None,
    ) -> None:
        if nonlin is not None:
            activation = "relu" if nonlin else "linear"
        nin = _check_count("Layer", "nin", nin)
        nout = _check_count("Layer", "nout", nout)
        _check_activation("Layer", activation)
        _check_flags("Layer", bias=bias, fused=fused)
        _init_bound("Layer", init, nin, nout)
        rng = rng or (random.Random(seed) if seed is not None else None)
        self.neurons = [
            Neuron(nin, activation, bias=bias, init=init, fan_out=nout, rng=rng, fused=fused)
            for _ in range(nout)
        ]
        self.nin, self.nout, self.activation, self.init, self.fused = nin, nout, activation, init, fused

    def __call__(self, x: Inputs) -> list[Value]:
        """Every neuron's output for one input vector."""
        return self._outputs(_checked_batch("Layer", self.nin, [x]))[0]

    def forward_batch(self, inputs: Sequence[Inputs]) -> list[list[Value]]:
        """`[layer(x) for x in inputs]`, with the weights read once for the whole batch."""
        if type(self).__call__ is not Layer.__call__:  # a subclass's own forward pass: keep to it
            return [self(x) for x in inputs]
        return self._outputs(_checked_batch("Layer", self.nin, inputs))

    def _outputs(self, batch: Sequence[Inputs]) -> list[list[Value]]:
        # The forward pass is most of a training step: one dots_batch call makes the layer's
        # weighted sums for every input vector, then each gets its activation gate.
        neurons = self.neurons
        rows, biases = [n.w for n in neurons], [n.b for n in neurons]
        if self.fused:  # one dot+activation node per neuron
            return dots_batch(rows, batch, biases, activation=self.activation)
        sums = dots_batch(rows, batch, biases)
        if self.activation == "linear":
            return sums
        gates = iter(activate(list(chain.from_iterable(sums)), self.activation))
        return [list(islice(gates, self.nout)) for _ in sums]

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        """neurons.j.w.i and neurons.j.b for every neuron j."""
        for j, neuron in enumerate(self.neurons):
            for name, p in neuron.named_parameters():
                yield f"neurons.{j}.{name}", p

    def set_weights(self, weights: Sequence[Sequence[float]], biases: Sequence[float] | None = None) -> None:
        """weights[j][i] goes from input i to neuron j; checks everything before setting."""
        if len(weights) != self.nout:
            raise ValueError(
                f"Layer.set_weights: expected weights for {self.nout} neurons, got {len(weights)}"
            )
        if biases is not None and len(biases) != self.nout:
            raise ValueError(f"Layer.set_weights: expected {self.nout} biases, got {len(biases)}")
        state = self._weights_state("", "", weights, biases, "Layer.set_weights")
        self.load_state_dict({**self.state_dict(), **state})

    def _weights_state(
        self,
        prefix: str,
        where: str,
        weights: Sequence[Sequence[float]],
        biases: Sequence[float] | None,
        owner: str,
    ) -> dict[str, float]:
        """The state entries for explicit weights; `prefix` for the names, `where` for the errors."""
        state: dict[str, float] = {}
        has_bias = self.neurons[0].b is not None
        if biases is not None and not has_bias:
            raise ValueError(f"{owner}: {where.rstrip(', ') or 'this layer'} has no biases")
        for j, row in enumerate(weights):
            if len(row) != self.nin:
                raise ValueError(f"{owner}: {where}neuron {j} needs {self.nin} weights, got {len(row)}")
            for i, w in enumerate(row):
                state[f"{prefix}neurons.{j}.w.{i}"] = _number(owner, f"{where}neuron {j}, weight {i}", w)
            if biases is not None:
                state[f"{prefix}neurons.{j}.b"] = _number(owner, f"{where}neuron {j}, bias", biases[j])
        return state

    def config(self) -> dict[str, Any]:
        """nin, nout, activation, bias, init and fused."""
        return {
            "nin": self.nin,
            "nout": self.nout,
            "activation": self.activation,
            "bias": self.neurons[0].b is not None,
            "init": self.init,
            "fused": self.fused,
        }

    @classmethod
    def count_parameters(cls, config: Mapping[str, Any]) -> int | None:
        """nout neurons of nin weights and a bias, after checking every entry of `config`."""
        if cls.config is not Layer.config:  # a subclass that describes itself its own way
            return super().count_parameters(config)
        keys = ("nin", "nout", "activation", "bias", "init", "fused")
        full = _full_config(cls, "Layer", config, keys)
        nin, nout = _check_count("Layer", "nin", full["nin"]), _check_count("Layer", "nout", full["nout"])
        return nout * (nin + int(full["bias"]))

    @classmethod
    def from_torch(cls, sequential: Any, *, fused: bool = False) -> Layer:
        """A Layer from a `torch.nn.Sequential` of one Linear (and its activation); needs PyTorch."""
        from .torch_interop import from_torch  # imports torch: only when asked for

        return from_torch(cls, sequential, fused=fused)

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    """Layers in sequence: `activation` on hidden layers, `output_activation` (linear) on the last.

    Returns a Value when the last layer has one neuron, else a list of Values.
    """

    def __init__(
        self,
        nin: int,
        nouts: Sequence[int],
        activation: str = "relu",
        output_activation: str = "linear",
        *,
        bias: bool = True,
        init: str = "uniform",
        seed: int | None = None,
        fused: bool = False,
    ) -> None:
        nin = _check_count("MLP", "nin", nin)
        widths = _check_widths(nouts)
        _check_activation("MLP", activation)
        _check_activation("MLP", output_activation)
        _check_flags("MLP", bias=bias, fused=fused)
        _init_bound("MLP", init, 1, 1)
        rng = random.Random(seed) if seed is not None else None
        sizes = [nin, *widths]
        last = len(widths) - 1
        self.layers = [
            Layer(
                sizes[k],
                sizes[k + 1],
                output_activation if k == last else activation,
                bias=bias,
                init=init,
                rng=rng,
                fused=fused,
            )
            for k in range(len(widths))
        ]
        self.nin, self.nouts = nin, widths
        self.activation, self.output_activation = activation, output_activation
        self.bias, self.init, self.fused = bias, init, fused
        for name, p in self.named_parameters():
            p.label = name

    @classmethod
    def from_weights(
        cls,
        weights: Sequence[Sequence[Sequence[float]]],
        biases: Sequence[Sequence[float]] | None = None,
        activation: str = "relu",
        output_activation: str = "linear",
        *,
        fused: bool = False,
    ) -> MLP:
        """An MLP with explicit weights: weights[l][j][i] goes from input i of layer l to its neuron j.

        Without `biases` the network has no bias parameters at all.
        """
        if not weights or not all(weights) or not weights[0][0]:
            raise ValueError("MLP.from_weights: every layer needs at least one neuron with one weight")
        model = cls(
            len(weights[0][0]),
            [len(layer) for layer in weights],
            activation,
            output_activation,
            bias=biases is not None,
            fused=fused,
        )
        model.set_weights(weights, biases)
        return model

    @classmethod
    def from_torch(cls, sequential: Any, *, fused: bool = False) -> MLP:
        """An MLP from a `torch.nn.Sequential` of Linear modules, each followed by at most one activation.

        ReLU, Tanh or Sigmoid (a Linear without one is a linear layer), the same after every hidden
        layer; anything else is refused with the module and its position. Needs PyTorch.
        """
        from .torch_interop import from_torch  # imports torch: only when asked for

        return from_torch(cls, sequential, fused=fused)

    def __call__(self, x: Inputs) -> Value | list[Value]:
        """The network's output for one input vector: a Value if it has one output."""
        return self._forward(_checked_batch("MLP", self.nin, [x]))[0]

    def forward_batch(self, inputs: Sequence[Inputs]) -> list[Value | list[Value]]:
        """`[model(x) for x in inputs]`: the same graph and numbers, built a layer at a time.

        Each layer reads its weights once for the whole batch, so a training step
        over a data set runs its forward pass faster this way than point by point.
        A subclass with its own `__call__` gets `[model(x) for x in inputs]`.
        """
        if type(self).__call__ is not MLP.__call__:
            return [self(x) for x in inputs]
        return self._forward(_checked_batch("MLP", self.nin, inputs))

    def _forward(self, batch: Sequence[Inputs]) -> list[Value | list[Value]]:
        outputs = batch
        for layer in self.layers:
            outputs = layer._outputs(outputs)
        rows = cast("list[list[Value]]", outputs)  # every layer returns Values
        return [row[0] if len(row) == 1 else row for row in rows]

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        """layers.l.neurons.j.w.i and layers.l.neurons.j.b."""
        for k, layer in enumerate(self.layers):
            for name, p in layer.named_parameters():
                yield f"layers.{k}.{name}", p

    def set_weights(
        self, weights: Sequence[Sequence[Sequence[float]]], biases: Sequence[Sequence[float]] | None = None
    ) -> None:
        """Set every weight (and bias) from nested lists; checks everything before setting."""
        owner = "MLP.set_weights"
        if len(weights) != len(self.layers):
            raise ValueError(f"{owner}: expected weights for {len(self.layers)} layers, got {len(weights)}")
        if biases is not None and len(biases) != len(self.layers):
            raise ValueError(f"{owner}: expected biases for {len(self.layers)} layers, got {len(biases)}")
        state: dict[str, float] = {}
        for k, layer in enumerate(self.layers):
            if len(weights[k]) != layer.nout:
                raise ValueError(f"{owner}: layer {k} has {layer.nout} neurons, got {len(weights[k])} rows")
            layer_biases = None if biases is None else biases[k]
            if layer_biases is not None and len(layer_biases) != layer.nout:
                raise ValueError(
                    f"{owner}: layer {k} has {layer.nout} neurons, got {len(layer_biases)} biases"
                )
            state.update(
                layer._weights_state(f"layers.{k}.", f"layer {k}, ", weights[k], layer_biases, owner)
            )
        self.load_state_dict({**self.state_dict(), **state})

    def config(self) -> dict[str, Any]:
        """nin, nouts, activations, bias, init and fused."""
        return {
            "nin": self.nin,
            "nouts": list(self.nouts),
            "activation": self.activation,
            "output_activation": self.output_activation,
            "bias": self.bias,
            "init": self.init,
            "fused": self.fused,
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> MLP:
        """A new MLP with the architecture `config` describes."""
        return cls(**config)

    @classmethod
    def count_parameters(cls, config: Mapping[str, Any]) -> int | None:
        """Every layer's weights and biases, after checking every entry of `config`."""
        if cls.config is not MLP.config:  # a subclass that describes itself its own way
            return super().count_parameters(config)
        keys = ("nin", "nouts", "activation", "output_activation", "bias", "init", "fused")
        full = _full_config(cls, "MLP", config, keys)
        _check_activation("MLP", full["output_activation"])
        sizes = [_check_count("MLP", "nin", full["nin"]), *_check_widths(full["nouts"])]
        return sum(n * (m + int(full["bias"])) for m, n in pairwise(sizes))

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"
