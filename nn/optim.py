"""Optimizers and learning-rate schedules.

An optimizer changes `p.data` of its parameters and nothing else. Its learning
rate is a number or a schedule: a function of the number of steps taken so
far (0 for the first step), such as micrograd's `LinearDecay(1.0, 0.1, 100)`,
which gives 1.0 - 0.9 * k / 100 at step k.

When every parameter lives in an attached parameter block (`autograd.blocks`:
`trace_batch` puts a layer's parameters in one, and `fit(compile="batch")`
runs it), `step()` and `zero_grad()` work on the blocks' arrays, a few numpy
calls per layer rather than Python per parameter. The array step performs the
same float operations as the step over Values, in the same order, so the two
give the same numbers bit for bit; its buffers (velocity, moments) are then
numpy arrays, in the parameters' order, and `state_dict()` lists them as floats.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from numbers import Real
from typing import Any, cast

from autograd import Value, zero_grad
from autograd.blocks import generation, layout

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "CosineDecay",
    "LinearDecay",
    "Optimizer",
    "Schedule",
    "StepDecay",
]

Schedule = Callable[[int], float]


def _number(owner: str, what: str, x: object, low: float = 0.0, high: float = math.inf) -> float:
    if isinstance(x, bool) or not isinstance(x, Real) or not low <= float(x) < high:
        bounds = f"[{low}, {high})" if high != math.inf else f">= {low}"
        raise ValueError(f"{owner}: {what} must be a number {bounds}, got {x!r}")
    return float(x)


def _steps(owner: str, steps: object) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"{owner}: steps must be a positive integer, got {steps!r}")
    return steps


def _gradient_number(gradient: object) -> float | None:
    # After backward(create_graph=True) a gradient is a Value: a step takes its number, as
    # PyTorch's optimizers take a tensor's value, so p.data and the buffers stay floats.
    if type(gradient) is float:
        return gradient
    if isinstance(gradient, Value):
        return gradient.data
    if isinstance(gradient, bool) or not isinstance(gradient, Real):
        return None
    try:
        return float(gradient)
    except OverflowError:  # an int beyond the float range
        return math.inf


class LinearDecay:
    """From `start` to `end` in a straight line over `steps` steps, then `end`."""

    def __init__(self, start: float, end: float, steps: int) -> None:
        self.start = _number("LinearDecay", "start", start)
        self.end = _number("LinearDecay", "end", end)
        self.steps = _steps("LinearDecay", steps)

    def __call__(self, k: int) -> float:
        """The learning rate at step k."""
        return self.start - (self.start - self.end) * min(k, self.steps) / self.steps

    def __repr__(self) -> str:
        return f"LinearDecay({self.start!r}, {self.end!r}, {self.steps!r})"


class StepDecay:
    """`start` multiplied by `factor` every `every` steps."""

    def __init__(self, start: float, factor: float, every: int) -> None:
        self.start = _number("StepDecay", "start", start)
        self.factor = _number("StepDecay", "factor", factor)
        self.every = _steps("StepDecay", every)

    def __call__(self, k: int) -> float:
        """The learning rate at step k."""
        return self.start * self.factor ** (k // self.every)

    def __repr__(self) -> str:
        return f"StepDecay({self.start!r}, {self.factor!r}, {self.every!r})"


class CosineDecay:
    """From `start` to `end` along half a cosine over `steps` steps, then `end`."""

    def __init__(self, start: float, end: float, steps: int) -> None:
        self.start = _number("CosineDecay", "start", start)
        self.end = _number("CosineDecay", "end", end)
        self.steps = _steps("CosineDecay", steps)

    def __call__(self, k: int) -> float:
        """The learning rate at step k."""
        progress = min(k, self.steps) / self.steps
        return self.end + (self.start - self.end) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def __repr__(self) -> str:
        return f"CosineDecay({self.start!r}, {self.end!r}, {self.steps!r})"


class Optimizer:
    """Base of the optimizers: the parameters, the learning rate and the step count."""

    # Names of the per-parameter lists of numbers an optimizer keeps between steps.
    buffers: tuple[str, ...] = ()

    def __init__(self, parameters: Iterable[Value], lr: float | Schedule) -> None:
        name = type(self).__name__
        self.parameters: list[Value] = list(parameters)
        seen: set[Value] = set()
        for i, p in enumerate(self.parameters):
            if not isinstance(p, Value):
                raise TypeError(f"{name}: parameter {i} is a {type(p).__name__}, not a Value")
            if p in seen:
                raise ValueError(f"{name}: parameter {i} ({p!r}) is listed twice")
            seen.add(p)
        if callable(lr):
            self.schedule: Schedule = lr
        else:
            rate = _number(name, "lr", lr)
            self.schedule = lambda k: rate
        self.steps_taken = 0
        self._layout_key: tuple[int, ...] = ()
        self._layout: list[tuple[Any, Any]] | None = None

    @property
    def lr(self) -> float:
        """The learning rate the next step will use."""
        return self.schedule(self.steps_taken)

    def zero_grad(self) -> None:
        """Reset the gradient of every parameter to 0."""
        runs = self._runs()
        if runs is None:
            zero_grad(self.parameters)
            return
        for block, where in runs:
            block.flat_grad[where] = 0.0

    def _runs(self) -> list[tuple[Any, Any]] | None:
        # Where the parameters live if every one is in an attached parameter block, else None;
        # worked out again only when a block attaches or detaches, or the list changes.
        parameters = self.parameters
        if not generation() or not parameters:
            return None
        key = (generation(), len(parameters), id(parameters[0]), id(parameters[-1]))
        if key != self._layout_key:
            self._layout = layout(parameters)
            self._layout_key = key
        return self._layout

    def state_dict(self) -> dict[str, Any]:
        """The step count and the per-parameter buffers (velocity, moments), ready for JSON."""
        state: dict[str, Any] = {"steps_taken": self.steps_taken}
        for name in self.buffers:
            values = getattr(self, name)
            state[name] = values.tolist() if hasattr(values, "tolist") else list(values)
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume from `state_dict()`'s output; on any mismatch raise and change nothing."""
        owner = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state, Mapping):
            raise ValueError(f"{owner}: expected a mapping, got {type(state).__name__}")
        expected = {"steps_taken", *self.buffers}
        if set(state) != expected:
            raise ValueError(f"{owner}: expected the keys {sorted(expected)}, got {sorted(state)}")
        steps = state["steps_taken"]
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"{owner}: steps_taken must be a non-negative integer, got {steps!r}")
        loaded = {}
        for name in self.buffers:
            values = state[name]
            if not isinstance(values, Sequence) or len(values) != len(self.parameters):
                size = len(values) if isinstance(values, Sequence) else type(values).__name__
                raise ValueError(f"{owner}: {name} must hold {len(self.parameters)} numbers, got {size}")
            for i, x in enumerate(values):
                if isinstance(x, bool) or not isinstance(x, Real) or not math.isfinite(x):
                    raise ValueError(f"{owner}: {name}[{i}] must be a finite number, got {x!r}")
            loaded[name] = [float(x) for x in values]
        self.steps_taken = steps
        for name, values in loaded.items():
            setattr(self, name, values)

    def step(self) -> None:
        """Change every parameter's data by its gradient's number.

        Refuses a non-finite gradient or rate, and a step that would make a parameter
        or a buffer non-finite (an overflow), before it changes anything.
        """
        runs = self._runs()
        if (
            runs is not None
            and type(self)._new_arrays is not Optimizer._new_arrays
            and self._step_arrays(runs)
        ):
            return
        for name in self.buffers:  # numbers again, after steps on arrays
            values = getattr(self, name)
            if not isinstance(values, list):
                setattr(self, name, values.tolist())
        owner = f"{type(self).__name__}.step"
        lr = self.lr
        if not (isinstance(lr, Real) and math.isfinite(lr) and lr >= 0.0):
            raise ValueError(f"{owner}: learning rate at step {self.steps_taken} is {lr!r}")
        grads = [_gradient_number(p.grad) for p in self.parameters]
        if not all(g is not None and math.isfinite(g) for g in grads):
            i = next(i for i, g in enumerate(grads) if g is None or not math.isfinite(g))
            p = self.parameters[i]
            name = f" ({p.label})" if p.label else ""
            if grads[i] is None:
                raise TypeError(
                    f"{owner}: gradient of parameter {i}{name} is a {type(p.grad).__name__} "
                    f"({p.grad!r}), not a number; nothing was changed"
                )
            raise FloatingPointError(
                f"{owner}: gradient of parameter {i}{name} is {grads[i]!r}; nothing was changed"
            )
        # Every new number first, then the check, then the assignment: a step that overflows
        # leaves the parameters and the buffers as they were.
        data, buffers = self._new_values(float(lr), cast("list[float]", grads))
        self._check_finite(owner, float(lr), data, buffers)
        for p, x in zip(self.parameters, data, strict=True):
            p.data = x
        for name, values in buffers.items():
            setattr(self, name, values)
        self.steps_taken += 1

    def _check_finite(
        self, owner: str, lr: float, data: list[float], buffers: Mapping[str, list[float]]
    ) -> None:
        for buffer, values in [("parameter", data), *buffers.items()]:
            if all(map(math.isfinite, values)):
                continue
            i = next(i for i, x in enumerate(values) if not math.isfinite(x))
            p = self.parameters[i]
            name = f"parameter {i} ({p.label})" if p.label else f"parameter {i}"
            why = f"gradient {_gradient_number(p.grad)!r}, learning rate {lr!r}"
            change = (
                f"take {name} from {p.data!r} to {values[i]!r} ({why})"
                if buffer == "parameter"
                else f"make {buffer}[{i}] {values[i]!r} ({name}, {why})"
            )
            raise FloatingPointError(f"{owner}: the step would {change}; nothing was changed")

    def _step_arrays(self, runs: list[tuple[Any, Any]]) -> bool:
        # The step on the blocks' arrays, run by run: every new number first, then the checks,
        # then the writes. False, having changed nothing, where the step over Values must run
        # instead to refuse it with its message (a rate, a gradient or a result not finite).
        lr = self.lr
        if not (isinstance(lr, Real) and math.isfinite(lr) and lr >= 0.0):
            return False
        np = importlib.import_module("numpy")  # there, since blocks exist
        flat = {name: getattr(self, name) for name in self.buffers}
        flat = {
            name: v if isinstance(v, np.ndarray) else np.array(v, dtype=float) for name, v in flat.items()
        }
        finite = np.isfinite
        results = []
        start = 0
        with np.errstate(all="ignore"):  # an overflow is refused below, by the step over Values
            for block, where in runs:
                data, grads = block.flat_data[where], block.flat_grad[where]
                if not finite(grads).all():
                    return False
                stop = start + len(data)
                buffers = {name: values[start:stop] for name, values in flat.items()}
                new, updated = self._new_arrays(float(lr), data, grads, buffers)
                if not finite(new).all() or not all(finite(v).all() for v in updated.values()):
                    return False
                results.append((block, where, new, updated, start, stop))
                start = stop
        for block, where, new, updated, start, stop in results:
            block.flat_data[where] = new
            for name, values in updated.items():
                flat[name][start:stop] = values
        for name, values in flat.items():
            setattr(self, name, values)
        self.steps_taken += 1
        return True

    def _new_values(self, lr: float, grads: Sequence[float]) -> tuple[list[float], dict[str, list[float]]]:
        """Every parameter's new data, and each buffer's new numbers, from one step."""
        raise NotImplementedError

    def _new_arrays(
        self, lr: float, data: Any, grads: Any, buffers: dict[str, Any]
    ) -> tuple[Any, dict[str, Any]]:
        """`_new_values` on numpy arrays (a run of a block's parameters): the same float operations."""
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum (heavy-ball or Nesterov) and weight decay.

    With momentum mu the velocity is v := mu v + g and the step p := p - lr v;
    weight decay adds wd * p to the gradient g.
    """

    def __init__(
        self,
        parameters: Iterable[Value],
        lr: float | Schedule = 0.01,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(parameters, lr)
        self.momentum = _number("SGD", "momentum", momentum, 0.0, 1.0)
        self.weight_decay = _number("SGD", "weight_decay", weight_decay)
        if nesterov and self.momentum == 0.0:
            raise ValueError("SGD: nesterov needs a momentum above 0")
        self.nesterov = nesterov
        self.velocity = [0.0] * len(self.parameters)

    buffers = ("velocity",)

    def _new_values(self, lr: float, grads: Sequence[float]) -> tuple[list[float], dict[str, list[float]]]:
        params = self.parameters
        wd, mu = self.weight_decay, self.momentum
        if wd == 0.0 and mu == 0.0:
            return [p.data - lr * g for p, g in zip(params, grads, strict=True)], {}
        data = []
        velocity = list(self.velocity)
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            g = g + wd * p.data
            if mu:
                velocity[i] = v = mu * velocity[i] + g
                g = g + mu * v if self.nesterov else v
            data.append(p.data - lr * g)
        return data, {"velocity": velocity}

    def _new_arrays(
        self, lr: float, data: Any, grads: Any, buffers: dict[str, Any]
    ) -> tuple[Any, dict[str, Any]]:
        wd, mu = self.weight_decay, self.momentum
        if wd == 0.0 and mu == 0.0:
            return data - lr * grads, {}
        g = grads + wd * data
        if not mu:
            return data - lr * g, {}
        velocity = mu * buffers["velocity"] + g
        g = g + mu * velocity if self.nesterov else velocity
        return data - lr * g, {"velocity": velocity}


class Adam(Optimizer):
    """Adam: per-parameter steps from bias-corrected running means of g and g^2.

    `weight_decay` adds wd * p to the gradient (L2 regularisation, coupled).
    """

    def __init__(
        self,
        parameters: Iterable[Value],
        lr: float | Schedule = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(parameters, lr)
        name = type(self).__name__
        if not isinstance(betas, Sequence) or len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair of numbers, got {betas!r}")
        self.beta1 = _number(name, "betas[0]", betas[0], 0.0, 1.0)
        self.beta2 = _number(name, "betas[1]", betas[1], 0.0, 1.0)
        self.eps = _number(name, "eps", eps)
        if self.eps == 0.0:
            raise ValueError(f"{name}: eps must be above 0")
        self.weight_decay = _number(name, "weight_decay", weight_decay)
        self.first_moment = [0.0] * len(self.parameters)
        self.second_moment = [0.0] * len(self.parameters)

    buffers = ("first_moment", "second_moment")

    def _decay(self, lr: float, p: Value) -> float:
        return 0.0  # coupled: the decay enters the gradient instead

    def _new_values(self, lr: float, grads: Sequence[float]) -> tuple[list[float], dict[str, list[float]]]:
        b1, b2, eps = self.beta1, self.beta2, self.eps
        t = self.steps_taken + 1
        correction1, correction2 = 1.0 - b1**t, 1.0 - b2**t
        coupled = self.weight_decay if type(self) is Adam else 0.0
        m1, m2 = list(self.first_moment), list(self.second_moment)
        data = []
        for i, (p, g) in enumerate(zip(self.parameters, grads, strict=True)):
            g = g + coupled * p.data
            m1[i] = b1 * m1[i] + (1.0 - b1) * g
            m2[i] = b2 * m2[i] + (1.0 - b2) * g * g
            step = (m1[i] / correction1) / (math.sqrt(m2[i] / correction2) + eps)
            data.append(p.data - (lr * step + self._decay(lr, p)))
        return data, {"first_moment": m1, "second_moment": m2}

    def _decay_array(self, lr: float, data: Any) -> Any:
        return 0.0

    def _new_arrays(
        self, lr: float, data: Any, grads: Any, buffers: dict[str, Any]
    ) -> tuple[Any, dict[str, Any]]:
        np = importlib.import_module("numpy")
        b1, b2, eps = self.beta1, self.beta2, self.eps
        t = self.steps_taken + 1
        correction1, correction2 = 1.0 - b1**t, 1.0 - b2**t
        coupled = self.weight_decay if type(self) is Adam else 0.0
        g = grads + coupled * data
        m1 = b1 * buffers["first_moment"] + (1.0 - b1) * g
        m2 = b2 * buffers["second_moment"] + (1.0 - b2) * g * g
        step = (m1 / correction1) / (np.sqrt(m2 / correction2) + eps)
        return data - (lr * step + self._decay_array(lr, data)), {"first_moment": m1, "second_moment": m2}


class AdamW(Adam):
    """Adam with decoupled weight decay: p := p - lr * (adam_step + wd * p)."""

    def __init__(
        self,
        parameters: Iterable[Value],
        lr: float | Schedule = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(parameters, lr, betas, eps, weight_decay)

    def _decay(self, lr: float, p: Value) -> float:
        return lr * self.weight_decay * p.data

    def _decay_array(self, lr: float, data: Any) -> Any:
        return lr * self.weight_decay * data
