"""Hypothesis strategies and the table of ops that the property tests cover.

The table is read from the engine's op table: every record of `engine.OPS` is
a case, applied to Values with `engine.apply`, so a new op is tested as soon as
its record exists. A case draws each input from a strategy that stays inside
the op's domain and at least 1e-3 away from its kinks, where a central
difference would straddle the kink and measure nonsense; `INPUTS` gives the
strategies of the records that need more than `moderate` numbers. After the
records come the cases of the Value methods, `dot` and `activate` that reach
them another way (reflected operators, numbers lifted to leaves, fusing).
At the end, the architectures of random networks.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

from hypothesis import strategies as st

from autograd import Value, activate, dot, engine
from autograd.engine import Op, apply
from nn import ACTIVATIONS

KINK_MARGIN = 1e-3


def reals(low: float, high: float) -> st.SearchStrategy[float]:
    """Finite floats in [low, high]."""
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


def away_from(points: Sequence[float], low: float, high: float) -> st.SearchStrategy[float]:
    """Floats in [low, high] at least KINK_MARGIN from every point given."""
    return reals(low, high).filter(lambda x: all(abs(x - p) >= KINK_MARGIN for p in points))


moderate = reals(-3.0, 3.0)
positive = reals(1e-2, 5.0)
nonzero = st.one_of(reals(-5.0, -0.1), reals(0.1, 5.0))


@dataclass(frozen=True)
class OpCase:
    """An op as a function of Values, with a strategy for each of its inputs."""

    name: str
    apply: Callable[..., Value]
    args: tuple[st.SearchStrategy[float], ...]


# Inputs for the records that need them (the others take `moderate` numbers), and the
# numbers a record's node carries, by the record's key in engine.OPS and the param's name.
INPUTS: dict[str, tuple[st.SearchStrategy[float], ...]] = {
    "div": (moderate, nonzero),
    "number_div": (nonzero,),
    "power": (positive,),  # any exponent; negative bases with integer ones are method cases
    "pow": (positive, moderate),
    "exp": (reals(-20.0, 20.0),),
    "expm1": (reals(-20.0, 20.0),),
    "log": (positive,),
    "log1p": (reals(-0.99, 5.0),),
    "sqrt": (positive,),
    "sin": (reals(-10.0, 10.0),),
    "cos": (reals(-10.0, 10.0),),
    "tan": (reals(-1.4, 1.4),),
    "tanh": (reals(-10.0, 10.0),),
    "sigmoid": (reals(-30.0, 30.0),),
    "relu": (away_from([0.0], -3.0, 3.0),),
    "abs": (away_from([0.0], -3.0, 3.0),),
    "sum": (moderate,) * 3,
    "dot": (moderate,) * 5,  # w1, w2, x1, x2, b
    "dot_numbers": (moderate,) * 3,  # w1, w2, b; the numbers x1, x2 below
    "dot_relu": (positive,) * 5,  # a positive weighted sum: clear of relu's kink
    "dot_tanh": (moderate,) * 5,
    "dot_sigmoid": (moderate,) * 5,
}
PARAMS: dict[str, list[Any]] = {  # a case for each value
    "number": [2.5, -1.5],
    "exponent": [3, -2, 1.5],
    "numbers": [(1.5, -0.25)],
    "inputs": [(0.5, -2.0)],
}


def record_cases(key: str, op: Op) -> list[OpCase]:
    """The cases of one record of the op table: its inputs drawn, applied with each set of params."""
    inputs = INPUTS.get(key, (moderate,) * (op.arity or 2))
    cases = []
    for params in itertools.product(*(PARAMS[name] for name in op.params)):
        shown = "".join(f"_{p}" for p in params if not isinstance(p, tuple))
        cases.append(OpCase(f"{key}{shown}", partial(engine.apply, op, params=params), inputs))
    return cases


RECORD_CASES: list[OpCase] = [case for key, op in engine.OPS.items() for case in record_cases(key, op)]

# The Value methods, dot and activate: the same records, reached from Python's operators
# (numbers on either side), with numbers lifted to leaves, or fused.
METHOD_CASES: list[OpCase] = [
    OpCase("radd", lambda a: 2.5 + a, (moderate,)),
    OpCase("rsub", lambda a: 2.5 - a, (moderate,)),
    OpCase("rmul", lambda a: -1.5 * a, (moderate,)),
    OpCase("rdiv", lambda a: 2.0 / a, (nonzero,)),
    OpCase("pow_int", lambda a: a**3, (moderate,)),
    OpCase("pow_negative_int", lambda a: a**-2, (nonzero,)),
    OpCase("rpow", lambda a: 2.0**a, (moderate,)),
    OpCase("sum", lambda a, b, c: Value.sum([a, b, c, a, 1.5]), (moderate, moderate, moderate)),
    OpCase("builtin_sum", lambda a, b, c: cast(Value, sum([a, b, c])), (moderate, moderate, moderate)),
    OpCase("dot_values", lambda a, b, c, d: dot([a, b], [c, d]), (moderate,) * 4),
    OpCase("dot_values_bias", lambda a, b, c, d: dot([a, b], [c, d], a * d), (moderate,) * 4),
    OpCase("dot_constants", lambda a, b: dot([a, b], [0.5, -2.0]), (moderate, moderate)),
    OpCase("dot_constants_bias", lambda a, b, c: dot([a, b], [0.5, -2.0], c), (moderate,) * 3),
    OpCase("dot_shared", lambda a, b: dot([a, b, a], [b, a, 3.0]), (moderate, moderate)),
    # dot fused with its activation: relu only where the sum is clear of its kink.
    OpCase("dot_relu_on", lambda a, b, c: dot([a, b], [c, a], c, activation="relu"), (positive,) * 3),
    OpCase("dot_relu_off", lambda a, b, c: dot([a, b], [c, a], -60.0, activation="relu"), (positive,) * 3),
    OpCase("dot_tanh", lambda a, b, c, d: dot([a, b], [c, d], a * d, activation="tanh"), (moderate,) * 4),
    OpCase(
        "dot_sigmoid_constants", lambda a, b: dot([a, b], [0.5, -2.0], activation="sigmoid"), (moderate,) * 2
    ),
    # activate: a gate on each Value, summed so that every gate reaches the output.
    OpCase(
        "activate_relu",
        lambda a, b: Value.sum(activate([a, b, a], "relu")),
        (away_from([0.0], -3.0, 3.0),) * 2,
    ),
    OpCase("activate_tanh", lambda a, b: Value.sum(activate([a, b], "tanh")), (reals(-10.0, 10.0),) * 2),
    OpCase("activate_sigmoid", lambda a: Value.sum(activate([a], "sigmoid")), (reals(-30.0, 30.0),)),
]

OP_CASES: list[OpCase] = RECORD_CASES + METHOD_CASES


# ---- every op record, built from the record alone ---------------------------------
# The compilers' table-driven tests build a node of each record of engine.OPS from
# what the record says: its arity and the names of its params. A new record is covered
# as it is added; one with a new kind of param needs an example here.

EXAMPLE_PARAMS: dict[str, Any] = {name: values[0] for name, values in PARAMS.items()}


def record_arity(op: Op) -> int:
    """How many inputs the tests give a node of `op`."""
    if op.arity is not None:
        return op.arity
    if "inputs" in op.params:
        return len(EXAMPLE_PARAMS["inputs"]) + 1  # a weight per constant input, and a bias
    return 5  # w1, w2, x1, x2 and a bias for a dot; five terms for a sum


def record_function(op: Op) -> Callable[..., Value]:
    """The function of Values that makes a node of `op`, with example params."""
    params = tuple(EXAMPLE_PARAMS[name] for name in op.params)
    return lambda *inputs: apply(op, *inputs, params=params)


def record_points(op: Op, count: int) -> list[list[float]]:
    """`count` points in `op`'s domain, each input between 0.2 and 1.4 (inside every built-in domain)."""
    params = tuple(EXAMPLE_PARAMS[name] for name in op.params)
    points = []
    for k in range(1, 100):
        point = [0.2 + (0.37 * k * (i + 1)) % 1.2 for i in range(record_arity(op))]
        if op.domain is None or op.domain(*point, *params):
            points.append(point)
        if len(points) == count:
            return points
    raise ValueError(f"no {count} points in the domain of op {op.name!r} between 0.2 and 1.4")


# ---- random expression graphs --------------------------------------------------
# A program is a list of steps; step k makes node (n_inputs + k) from earlier
# nodes, so nodes are shared freely (fan-out). Each step guards its op's domain
# with smooth arithmetic (log(a*a + 0.1) rather than log(a)); only the kinks of
# relu and abs are avoided by rejection.


@dataclass(frozen=True)
class Step:
    op: str
    args: tuple[int, ...]


UNARY_STEPS: dict[str, Callable[[Value], Value]] = {
    "neg": lambda a: -a,
    "exp": lambda a: a.tanh().exp(),
    "expm1": lambda a: (a * 0.5).sin().expm1(),
    "log": lambda a: (a * a + 0.1).log(),
    "log1p": lambda a: (a * a).log1p(),
    "sqrt": lambda a: (a * a + 0.1).sqrt(),
    "sin": lambda a: a.sin(),
    "cos": lambda a: a.cos(),
    "tan": lambda a: a.tanh().tan(),
    "tanh": lambda a: a.tanh(),
    "sigmoid": lambda a: a.sigmoid(),
    "relu": lambda a: a.relu(),
    "abs": lambda a: abs(a),
    "square": lambda a: a**2,
    "pow_fraction": lambda a: (a * a + 0.2) ** 0.75,
    "rpow": lambda a: 1.5 ** a.tanh(),
    "reciprocal": lambda a: 1.0 / (a * a + 0.5),
}

BINARY_STEPS: dict[str, Callable[[Value, Value], Value]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 0.5),
    "pow_value": lambda a, b: (a * a + 0.5) ** b.tanh(),
    "dot": lambda a, b: dot([a, b, a], [b, b, 0.5], a),
    "dot_no_bias": lambda a, b: dot([a, b], [b, a]),
    "dot_constants": lambda a, b: dot([a, b, a], [0.5, -2.0, 1.5], b),
    "dot_constants_no_bias": lambda a, b: dot([a, b, a], [0.5, 2.0, -1.0]),
    "dot_tanh": lambda a, b: dot([a, b], [b, 0.5], a, activation="tanh"),
    "dot_sigmoid": lambda a, b: dot([a, b, a], [b, a, 1.5], activation="sigmoid"),
    "sum": lambda a, b: Value.sum([a, b, a, 2.0]),
}

KINKED = {"relu", "abs"}


@st.composite
def programs(draw: Any, max_inputs: int = 4, max_steps: int = 10) -> tuple[list[float], list[Step]]:
    """A random expression graph over a few inputs, as (input values, steps)."""
    inputs = draw(st.lists(reals(-2.0, 2.0), min_size=1, max_size=max_inputs))
    n_steps = draw(st.integers(1, max_steps))
    steps: list[Step] = []
    for k in range(n_steps):
        available = len(inputs) + k
        node = st.integers(0, available - 1)
        if draw(st.booleans()):
            op = draw(st.sampled_from(sorted(UNARY_STEPS)))
            steps.append(Step(op, (draw(node),)))
        else:
            op = draw(st.sampled_from(sorted(BINARY_STEPS)))
            steps.append(Step(op, (draw(node), draw(node))))
    return inputs, steps


class NearKinkError(Exception):
    """The point is within KINK_MARGIN of a kink, or values grew too large to check."""


def run_program(steps: Sequence[Step], leaves: Sequence[Value], *, checked: bool = True) -> Value:
    """Evaluate a program on the given leaves; the last node, summed with every node, is the output.

    With `checked`, a point within KINK_MARGIN of a kink, or with values past 1e4,
    raises NearKinkError; evaluate unchecked at the small perturbations that
    central differences make around a point that passed the check.
    """
    nodes = program_nodes(steps, leaves, checked=checked)
    # Every node reaches the output, so every step's derivative is exercised.
    return nodes[-1] + Value.sum(nodes[len(leaves) :]) * 0.5


def program_nodes(steps: Sequence[Step], leaves: Sequence[Value], *, checked: bool = True) -> list[Value]:
    """Every node of a program evaluated on the given leaves, the leaves first (see run_program)."""
    nodes = list(leaves)
    for step in steps:
        args = [nodes[i] for i in step.args]
        if checked and step.op in KINKED and abs(args[0].data) < KINK_MARGIN:
            raise NearKinkError(step.op)
        if step.op in UNARY_STEPS:
            node = UNARY_STEPS[step.op](args[0])
        else:
            node = BINARY_STEPS[step.op](args[0], args[1])
        if checked and not (math.isfinite(node.data) and abs(node.data) <= 1e4):
            raise NearKinkError("magnitude")
        nodes.append(node)
    return nodes


@st.composite
def mlp_architectures(draw: Any) -> dict[str, Any]:
    """Keyword arguments of `nn.MLP`: 1-3 inputs, 1-3 layers of 1-4 neurons, any activations and flags."""
    return {
        "nin": draw(st.integers(1, 3)),
        "nouts": draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)),
        "activation": draw(st.sampled_from(ACTIVATIONS)),
        "output_activation": draw(st.sampled_from(ACTIVATIONS)),
        "bias": draw(st.booleans()),
        "fused": draw(st.booleans()),
    }
