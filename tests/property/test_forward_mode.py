"""Forward mode on every op, user ops and random graphs: against reverse mode and central differences.

jvp along a random direction v must equal the gradient (reverse mode) dotted
with v, and the central difference of f along v; hvp must equal hessian(f) @ v,
and so must the other ways of composing the two modes (reverse over forward,
forward over forward as v' H u). Per-input forward derivatives and forward over
forward Hessians of every op are also checked by gradcheck and gradgradcheck,
whose default modes include "fwd" (test_op_gradients.py, test_second_order.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from autograd import Value, grad_of, hessian, hvp, jacfwd, jacobian, jvp, linearize, primitive, vjp
from autograd.gradcheck import numerical_hessian
from tests.strategies import (
    OP_CASES,
    NearKinkError,
    OpCase,
    Step,
    program_nodes,
    programs,
    reals,
    run_program,
)

# First order: a forward pass, a backward pass and two evaluations per example.
# Second order builds a gradient graph and a Hessian: an eighth of the profile's
# examples per op (as test_second_order.py) and half for the random graphs.
FIRST_PER_OP = settings(max_examples=max(20, settings().max_examples // 3))
PER_OP = settings(max_examples=max(10, settings().max_examples // 8))
PER_GRAPH = settings(max_examples=max(30, settings().max_examples // 2))
FIRST_PER_GRAPH = settings(max_examples=max(30, settings().max_examples // 2))

EPS = 1e-6
# A tangent's entries: 0 (that input stays put), or between 1e-3 and 2 in size.
directions = st.one_of(st.just(0.0), reals(-2.0, -1e-3), reals(1e-3, 2.0))


@primitive("softplus", lambda m, out, a: (m.sigmoid(a),))  # d softplus(a)/da = sigmoid(a)
def softplus(a: float) -> float:
    return math.log1p(math.exp(-abs(a))) + max(a, 0.0)


# d(a log(1 + b^2))/da = log(1 + b^2), d/db = 2ab / (1 + b^2)
@primitive("scaled_log", lambda m, out, a, b: (m.log(1.0 + b * b), 2.0 * a * b / (1.0 + b * b)))
def scaled_log(a: float, b: float) -> float:
    return a * math.log1p(b * b)


moderate = reals(-3.0, 3.0)
USER_CASES = [
    OpCase("softplus", softplus, (reals(-10.0, 10.0),)),
    OpCase("scaled_log", scaled_log, (moderate, moderate)),
    OpCase("user_ops_composed", lambda a, b: softplus(scaled_log(a, b) * a), (moderate, moderate)),
]
CASES = OP_CASES + USER_CASES


def along(f: Callable[..., Any], point: Sequence[float], v: Sequence[float], eps: float = EPS) -> float:
    """The central difference of f at `point` along `v`: (f(x + h v) - f(x - h v)) / 2h.

    h makes the largest step eps, so that a tiny v does not drown in rounding.
    """
    largest = max(map(abs, v))
    if largest == 0.0:
        return 0.0
    h = eps / largest

    def at(step: float) -> float:
        out = f(*[Value(x + step * d) for x, d in zip(point, v, strict=True)])
        return out.data if isinstance(out, Value) else float(out)

    return (at(h) - at(-h)) / (2 * h)


def dot(a: Sequence[float], b: Sequence[float]) -> float:
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


def agree(forward: float, reverse: float, scale: float) -> bool:
    """Equal up to rounding: the two modes add the same products in different orders."""
    return abs(forward - reverse) <= 1e-9 * (1.0 + scale)


def near(analytic: float, numerical: float, atol: float = 1e-5, rtol: float = 1e-3) -> bool:
    """gradcheck's tolerance against a central difference."""
    return abs(analytic - numerical) <= atol + rtol * abs(numerical)


def drawn(case: OpCase, data: st.DataObject) -> tuple[list[float], list[float]]:
    point = [data.draw(arg, label=f"x{i}") for i, arg in enumerate(case.args)]
    v = [data.draw(directions, label=f"v{i}") for i in range(len(point))]
    return point, v


# ---- first order -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@FIRST_PER_OP
@given(data=st.data())
def test_op_jvp_matches_reverse_mode_and_central_differences(case: OpCase, data: st.DataObject) -> None:
    point, v = drawn(case, data)
    value, tangent = jvp(case.apply, point, v)
    assert value == case.apply(*[Value(x) for x in point]).data
    gradient = grad_of(case.apply, None)(*point)
    reverse = dot(gradient, v)
    assert agree(tangent, reverse, dot([abs(g) for g in gradient], [abs(d) for d in v])), (tangent, reverse)
    # The central difference nudges the (kink-free) inputs by at most 1e-6.
    assert near(tangent, along(case.apply, point, v)), (tangent, along(case.apply, point, v))


def checked(
    program: tuple[list[float], list[Step]], v: Sequence[float] = ()
) -> tuple[list[float], list[Step]]:
    # The program at its point and at the points central differences visit (along v, and
    # along each input as numerical_hessian steps) stays clear of kinks and huge values.
    inputs, steps = program
    points = [list(inputs)]
    for step in (-1e-5, 1e-5):
        points.append([x + step * d for x, d in zip(inputs, v, strict=False)] + list(inputs[len(v) :]))
        for i in range(len(inputs)):
            point = list(inputs)
            point[i] += step
            points.append(point)
    try:
        for point in points:
            run_program(steps, [Value(x) for x in point])
    except NearKinkError:
        assume(False)
    return inputs, steps


def as_function(steps: list[Step]) -> Callable[..., Value]:
    def f(*leaves: Value) -> Value:
        return run_program(steps, leaves, checked=False)

    return f


@given(programs(), st.data())
def test_random_graph_jvp_matches_reverse_mode_and_central_differences(
    program: tuple[list[float], list[Step]], data: st.DataObject
) -> None:
    v = data.draw(st.lists(directions, min_size=len(program[0]), max_size=len(program[0])), label="v")
    inputs, steps = checked(program, v)
    f = as_function(steps)
    _, tangent = jvp(f, inputs, v)
    gradient = grad_of(f, None)(*inputs)
    assert agree(tangent, dot(gradient, v), dot([abs(g) for g in gradient], [abs(d) for d in v]))
    assert near(tangent, along(f, inputs, v), atol=1e-4)
    # linearize pushes the same tangent through the graph it kept; vjp is reverse mode.
    assert linearize(f, *inputs)[1](*v) == tangent
    assert list(vjp(f, *inputs)[1](1.0)) == gradient


@FIRST_PER_GRAPH
@given(programs(max_steps=8))
def test_random_graph_jacfwd_equals_jacobian(program: tuple[list[float], list[Step]]) -> None:
    # Every node of the program an output: one forward pass per input against one backward per output.
    inputs, steps = checked(program)

    def every_node(*leaves: Value) -> list[Value]:
        return program_nodes(steps, leaves, checked=False)

    forward, reverse = jacfwd(every_node)(*inputs), jacobian(every_node)(*inputs)
    for row_f, row_r in zip(forward, reverse, strict=True):
        for a, b in zip(row_f, row_r, strict=True):
            assert agree(a, b, abs(b)), (a, b)


# ---- second order ----------------------------------------------------------------------------


def times(H: list[list[float]], v: Sequence[float]) -> tuple[list[float], float]:
    """H v, and the size of the terms it adds up (the scale of its rounding, for `agree`)."""
    scale = math.fsum(abs(h * d) for row in H for h, d in zip(row, v, strict=True))
    return [dot(row, v) for row in H], scale


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@PER_OP
@given(data=st.data())
def test_op_hvp_matches_hessian_times_v(case: OpCase, data: st.DataObject) -> None:
    point, v = drawn(case, data)
    product = hvp(case.apply, point, v)
    expected, scale = times(hessian(case.apply)(*point), v)
    assert all(agree(a, b, scale) for a, b in zip(product, expected, strict=True)), (product, expected)
    # Reverse over forward: the gradient of the directional derivative is H v too.
    reverse_over_forward = grad_of(lambda *xs: jvp(case.apply, xs, v)[1], None)(*point)
    assert all(agree(a, b, scale) for a, b in zip(reverse_over_forward, expected, strict=True))


@PER_GRAPH
@given(programs(max_steps=8), st.data())
def test_random_graph_hvp_matches_hessian_times_v_every_way(
    program: tuple[list[float], list[Step]], data: st.DataObject
) -> None:
    n = len(program[0])
    v = data.draw(st.lists(directions, min_size=n, max_size=n), label="v")
    u = data.draw(st.lists(directions, min_size=n, max_size=n), label="u")
    inputs, steps = checked(program, v)
    f = as_function(steps)
    H = hessian(f)(*inputs)
    assume(all(abs(h) < 1e6 for row in H for h in row))
    expected, scale = times(H, v)
    ways = {
        "forward over reverse (hvp)": hvp(f, inputs, v),
        "reverse over forward": grad_of(lambda *xs: jvp(f, xs, v)[1], None)(*inputs),
        "forward over reverse (jvp of grad_of)": jvp(grad_of(f, None), inputs, v)[1],
    }
    for way, product in ways.items():
        assert all(agree(a, b, scale) for a, b in zip(product, expected, strict=True)), (
            way,
            product,
            expected,
        )
    # Forward over forward: u' H v, the derivative along u of the derivative along v.
    second = jvp(lambda *xs: jvp(f, xs, v)[1], inputs, u)[1]
    assert agree(second, dot(u, expected), scale * (1.0 + sum(map(abs, u))))
    # And against central differences of the gradients, as gradgradcheck compares.
    numerical = [dot(row, v) for row in numerical_hessian(f, inputs)]
    assert all(
        near(a, b, atol=1e-4) for a, b in zip(ways["forward over reverse (hvp)"], numerical, strict=True)
    )
