"""Gradients of gradients: backward(create_graph=True), grad(), the function transforms, kinks."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest

from autograd import Value, dot, gradcheck, gradgradcheck, no_grad, primitive, topological_order
from autograd.engine import FLOAT_MATH, VALUE_MATH
from autograd.functional import grad, grad_of, hessian, jacobian, value_and_grad
from autograd.gradcheck import GradgradcheckError

# ---- backward(create_graph=True) ---------------------------------------------------


def test_create_graph_leaves_values_that_differentiate_again() -> None:
    x = Value(2.0)
    y = x**3
    y.backward(create_graph=True)
    first = x.grad
    assert isinstance(first, Value) and first.data == 12.0  # 3x^2
    x.zero_grad()
    first.backward(create_graph=True)
    second = x.grad
    assert isinstance(second, Value) and second.data == 12.0  # 6x
    x.zero_grad()
    second.backward()
    assert x.grad == 6.0  # third derivative, a float again


def test_create_graph_inner_nodes_hold_values_of_this_pass() -> None:
    x = Value(3.0)
    z = x * x
    out = z.sin()
    out.backward(create_graph=True)
    out.backward(create_graph=True)
    assert isinstance(z.grad, Value) and z.grad.data == math.cos(9.0)  # not doubled
    assert isinstance(x.grad, Value) and x.grad.data == pytest.approx(2 * 2 * 3.0 * math.cos(9.0))


def test_create_graph_gradients_equal_float_gradients_bit_for_bit() -> None:
    def build(xs: list[Value]) -> Value:
        a, b, c = xs
        return (a * b).tanh() / (c * c + 1.0) + (a**b).log() - dot([a, b], [c, 2.0]).sigmoid()

    floats = [Value(1.3), Value(0.7), Value(-0.4)]
    build(floats).backward()
    values = [Value(1.3), Value(0.7), Value(-0.4)]
    build(values).backward(create_graph=True)
    assert [v.grad.data for v in values] == [v.grad for v in floats]


def test_create_graph_adds_to_an_earlier_float_gradient() -> None:
    x = Value(2.0)
    (x * x).backward()
    (x * x).backward(create_graph=True)
    assert isinstance(x.grad, Value) and x.grad.data == 8.0


def test_create_graph_with_a_value_seed_is_differentiable_in_the_seed() -> None:
    x, s = Value(2.0), Value(3.0)
    (x * x).backward(s, create_graph=True)
    assert x.grad.data == 12.0
    (g,) = [grad(x.grad, s)]
    assert g == 4.0  # d(s * 2x)/ds


def test_create_graph_on_a_leaf_accumulates_the_seed() -> None:
    x = Value(1.0)
    x.backward(create_graph=True)
    x.backward(create_graph=True)
    assert isinstance(x.grad, Value) and x.grad.data == 2.0


# ---- grad(outputs, inputs) -----------------------------------------------------------


def test_grad_touches_no_grad_attribute() -> None:
    x, y = Value(2.0), Value(5.0)
    x.grad = 0.25
    z = x * y
    out = z + x
    dx, dy = grad(out, [x, y])
    assert (dx, dy) == (6.0, 2.0)
    assert (x.grad, y.grad, z.grad, out.grad) == (0.25, 0.0, 0.0, 0.0)
    gx = grad(out, x, create_graph=True)
    assert gx.data == 6.0 and x.grad == 0.25 and z.grad == 0.0


def test_grad_of_several_outputs_adds_them_with_their_seeds() -> None:
    x = Value(3.0)
    a, b = x * x, x.sin()
    assert grad([a, b], x) == pytest.approx(6.0 + math.cos(3.0))
    assert grad([a, b], x, [2.0, -1.0]) == pytest.approx(12.0 - math.cos(3.0))
    assert grad(a, x, 0.5) == 3.0


def test_grad_with_respect_to_an_inner_node_and_an_unused_value() -> None:
    x, unused = Value(3.0), Value(1.0)
    z = x * 2.0
    out = z * z
    dz, dx, du = grad(out, [z, x, unused])
    assert (dz, dx, du) == (12.0, 24.0, 0.0)
    du_graph = grad(out, unused, create_graph=True)
    assert isinstance(du_graph, Value) and du_graph.data == 0.0


def test_grad_of_an_output_that_is_also_an_input() -> None:
    x = Value(3.0)
    y = x * x
    assert grad(y, [y, x]) == [1.0, 6.0]


def test_grad_when_one_output_depends_on_another() -> None:
    x = Value(2.0)
    y = x * x
    z = y * 3.0
    assert grad([y, z], x) == 4.0 + 12.0


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda x: grad(lambda v: v, x), TypeError, "use grad_of"),  # type: ignore[arg-type]
        (lambda x: grad(x, [x, 2.0]), TypeError, r"grad: inputs\[1\] must be a Value, got float"),  # type: ignore[list-item]
        (lambda x: grad(3.0, x), TypeError, "grad: outputs must be a Value"),  # type: ignore[arg-type]
        (lambda x: grad([x, "y"], x), TypeError, r"outputs\[1\] must be a Value, got str"),  # type: ignore[list-item]
        (lambda x: grad(x, []), ValueError, "grad: inputs is empty"),
        (lambda x: grad([x, x], x, [1.0]), ValueError, "1 grad_outputs for 2 outputs"),
        (lambda x: grad(x, x, "1"), TypeError, r"grad_outputs\[0\] must be a number or a Value, got str"),  # type: ignore[arg-type]
    ],
)
def test_grad_rejects_bad_input_with_a_clear_error(call, error, message) -> None:
    with pytest.raises(error, match=message):
        call(Value(1.0))


# ---- function transforms ---------------------------------------------------------------


def cube(x: Value) -> Value:
    return x**3


def test_numbers_in_numbers_out() -> None:
    assert grad_of(cube)(2.0) == 12.0
    assert grad_of(grad_of(cube))(2.0) == 12.0
    assert grad_of(grad_of(grad_of(cube)))(2.0) == 6.0
    assert grad_of(grad_of(grad_of(grad_of(cube))))(2.0) == 0.0
    assert value_and_grad(cube)(2.0) == (8.0, 12.0)
    assert hessian(cube)(2.0) == [[12.0]]
    assert hessian(cube, argnums=0)(2.0) == 12.0


def test_values_in_values_out_connected_to_the_arguments() -> None:
    x = Value(2.0)
    g = grad_of(cube)(x)
    assert isinstance(g, Value) and g.data == 12.0
    assert grad(g, x) == 12.0
    value, gradient = value_and_grad(cube)(x)
    assert isinstance(value, Value) and value.data == 8.0 and gradient.data == 12.0
    assert x.grad == 0.0  # transforms never write .grad


def test_argnums_chooses_arguments_and_shapes_the_result() -> None:
    def f(x: Value, y: Value, scale: float) -> Value:
        return scale * x * y * y

    assert grad_of(f)(2.0, 3.0, 1.0) == 9.0
    assert grad_of(f, 1)(2.0, 3.0, 1.0) == 12.0
    assert grad_of(f, -2)(2.0, 3.0, 1.0) == 12.0
    assert grad_of(f, (0, 1))(2.0, 3.0, 1.0) == [9.0, 12.0]
    assert grad_of(f, None)(2.0, 3.0, 1.0) == [9.0, 12.0, 18.0]


def test_has_aux_differentiates_the_output_and_returns_the_aux_as_it_is() -> None:
    def loss(w: Value, x: float) -> tuple[Value, dict[str, object]]:
        prediction = w * x
        return (prediction - 1.0) ** 2, {"prediction": prediction, "note": "fit", "parts": [w, 2.0]}

    gradient, aux = grad_of(loss, has_aux=True)(3.0, 2.0)
    assert gradient == 2 * (6.0 - 1.0) * 2.0
    assert aux == {"prediction": 6.0, "note": "fit", "parts": [3.0, 2.0]}  # numbers in, numbers out
    assert type(aux["prediction"]) is float
    (value, aux), gradient = value_and_grad(loss, has_aux=True)(3.0, 2.0)
    assert (value, gradient, aux["prediction"]) == (25.0, 20.0, 6.0)
    w = Value(3.0)
    gradient, aux = grad_of(loss, has_aux=True)(w, 2.0)  # Values in: the aux keeps its Values
    assert isinstance(aux["prediction"], Value) and grad(aux["prediction"], w) == 2.0
    assert grad(gradient, w) == 8.0  # d(4 (2w - 1))/dw


def test_has_aux_inside_another_transform() -> None:
    # The aux of an inner transform is a Value there, part of the outer graph.
    def inner(x: Value) -> Any:
        gradient, aux = grad_of(lambda y: (y * y * x, y * x), has_aux=True)(2.0)
        return gradient + aux  # d(y^2 x)/dy + y x at y = 2: 4x + 2x

    assert grad_of(inner)(5.0) == 6.0


def test_keyword_arguments_reach_f_and_are_not_differentiated() -> None:
    def f(x: Value, *, scale: float = 1.0, shift: Value | float = 0.0) -> Value:
        return scale * x * x + shift

    assert grad_of(f)(3.0, scale=2.0) == 12.0
    assert value_and_grad(f)(3.0, scale=2.0, shift=1.0) == (19.0, 12.0)
    assert hessian(f)(3.0, scale=2.0) == [[4.0]]
    assert jacobian(lambda x, *, k: [x * k, x + k])(2.0, k=3.0) == [[3.0], [1.0]]
    assert grad_of(lambda x, *, k: x * k, has_aux=False)(2.0, k=Value(4.0)) == 4.0


@pytest.mark.parametrize(
    "returned", [Value(1.0), 1.0, [Value(1.0)], (Value(1.0), 2.0, 3.0)], ids=["Value", "float", "1", "3"]
)
def test_has_aux_needs_a_pair(returned: object) -> None:
    with pytest.raises(TypeError, match=r"grad_of\(<lambda>\) with has_aux=True: f must return a pair"):
        grad_of(lambda x: returned, has_aux=True)(1.0)


def test_jacobian_of_several_outputs() -> None:
    def polar(r: Value, theta: Value) -> list[Value]:
        return [r * theta.cos(), r * theta.sin()]

    r, theta = 2.0, 0.5
    J = jacobian(polar)(r, theta)
    expected = [
        [math.cos(theta), -r * math.sin(theta)],
        [math.sin(theta), r * math.cos(theta)],
    ]
    for row, want in zip(J, expected, strict=True):
        assert row == pytest.approx(want, rel=1e-15)
    column = jacobian(polar, argnums=0)(r, Value(theta))  # theta is passed on as it is
    assert [d.data for d in column] == pytest.approx([math.cos(theta), math.sin(theta)], rel=1e-15)
    assert jacobian(lambda x: (x * x, 5.0))(3.0) == [[6.0], [0.0]]


def test_hessian_of_a_two_argument_function() -> None:
    def f(x: Value, y: Value) -> Value:
        return x * x * y + y.exp()

    assert hessian(f)(1.5, 0.5) == [[2 * 0.5, 2 * 1.5], [2 * 1.5, math.exp(0.5)]]


def test_hessian_of_a_function_of_constants_is_zero() -> None:
    assert hessian(lambda x, y: x + y)(1.0, 2.0) == [[0.0, 0.0], [0.0, 0.0]]
    assert grad_of(lambda x: 7.0)(1.0) == 0.0


def test_closures_over_an_outer_argument_are_not_confused() -> None:
    # d/dx [x * d/dy (x * y)] = d/dx [x * x] = 2x, and d/dx [d/dy (x * y) at y = x] = 1.
    assert grad_of(lambda x: x * grad_of(lambda y: x * y)(2.0))(3.0) == 6.0
    assert grad_of(lambda x: grad_of(lambda y: x * y)(x))(3.0) == 1.0
    # The same Value at two positions: each position is its own argument.
    x = Value(3.0)
    assert [g.data for g in grad_of(lambda a, b: a * b, (0, 1))(x, x)] == [3.0, 3.0]


def test_transforms_work_inside_no_grad() -> None:
    with no_grad():
        assert grad_of(cube)(2.0) == 12.0
        assert hessian(lambda x, y: x * y)(1.0, 2.0) == [[0.0, 1.0], [1.0, 0.0]]


def test_transforms_name_the_function_they_wrap() -> None:
    assert grad_of(cube).__name__ == "grad_of(cube)"
    assert hessian(cube).__name__ == "hessian(cube)"


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: grad_of(Value(1.0)), TypeError, "grad_of expects a function, got Value"),  # type: ignore[arg-type]
        (lambda: grad_of(cube, 1)(2.0), ValueError, "grad_of: argnums 1 is out of range for 1 argument"),
        (lambda: grad_of(cube, "0")(2.0), TypeError, "argnums must be ints, got str"),  # type: ignore[arg-type]
        (lambda: grad_of(lambda a, b: a, (0, -2))(1.0, 2.0), ValueError, "names a position twice"),
        (lambda: grad_of(cube, ())(2.0), ValueError, "argnums is empty"),
        (
            lambda: grad_of(cube)("2"),
            TypeError,
            "grad_of: argument 0 must be a number or a Value to be differentiated, got str '2'",
        ),
        (
            lambda: grad_of(lambda x: [x])(2.0),
            TypeError,
            r"grad_of\(<lambda>\): f must return a Value or a number",
        ),
        (lambda: jacobian(cube)(2.0), TypeError, "must return a list or tuple of outputs, got Value"),  # type: ignore[arg-type]
        (lambda: hessian(lambda: Value(1.0))(), TypeError, "called without arguments"),
    ],
)
def test_transforms_reject_bad_input_with_a_clear_error(call, error, message) -> None:
    with pytest.raises(error, match=message):
        call()


# ---- kinks: relu and abs ---------------------------------------------------------------


@pytest.mark.parametrize(("x", "first", "second"), [(-1.5, 0.0, 0.0), (0.0, 0.0, 0.0), (2.0, 1.0, 0.0)])
def test_relu_at_and_away_from_its_kink(x: float, first: float, second: float) -> None:
    relu = lambda v: v.relu()  # noqa: E731
    assert grad_of(relu)(x) == first
    assert grad_of(grad_of(relu))(x) == second


@pytest.mark.parametrize(("x", "first", "second"), [(-1.5, -1.0, 0.0), (0.0, 0.0, 0.0), (2.0, 1.0, 0.0)])
def test_abs_at_and_away_from_its_kink(x: float, first: float, second: float) -> None:
    assert grad_of(abs)(x) == first
    assert grad_of(grad_of(abs))(x) == second


def test_relu_squared_second_derivative_is_two_only_right_of_the_kink() -> None:
    f = lambda v: v.relu() ** 2  # noqa: E731
    assert [hessian(f, 0)(x) for x in (-1.0, 0.0, 1.0)] == [0.0, 0.0, 2.0]


# ---- gradgradcheck ------------------------------------------------------------------------


@primitive("cube_detached", lambda m, out, a: (3.0 * a * m.data(a),))  # value 3a^2, but d/da = 3a
def cube_detached(a: float) -> float:
    return a**3


@primitive("cube_right", lambda m, out, a: (3.0 * a * a,))  # d(a^3)/da = 3a^2
def cube_right(a: float) -> float:
    return a**3


def test_gradgradcheck_passes_a_correct_op_and_catches_a_wrong_second_derivative() -> None:
    assert gradcheck(cube_detached, [1.3])  # first order is right ...
    assert gradgradcheck(cube_right, [1.3])
    with pytest.raises(GradgradcheckError, match=r"d2f/\(d input 0 \(x\) d input 0 \(x\)\)") as caught:
        gradgradcheck(cube_detached, [Value(1.3, label="x")])  # ... second order is not
    (mismatch,) = caught.value.mismatches
    assert mismatch.analytic == pytest.approx(3 * 1.3)
    assert mismatch.numerical == pytest.approx(6 * 1.3, rel=1e-6)


def test_gradgradcheck_names_every_wrong_entry_of_the_hessian() -> None:
    with pytest.raises(GradgradcheckError) as caught:
        gradgradcheck(lambda a, b: cube_detached(a) * b + b * b, [0.5, 2.0])
    assert [(m.row, m.column) for m in caught.value.mismatches] == [(0, 0)]


def test_gradgradcheck_of_a_two_input_function_and_its_errors() -> None:
    assert gradgradcheck(lambda a, b: (a * b).sin() + a / b + (a**b), [0.3, 1.7])
    with pytest.raises(TypeError, match="gradgradcheck: f must return a Value, got list"):
        gradgradcheck(lambda a: [a], [1.0])  # type: ignore[arg-type, return-value]


# ---- a user-defined op works everywhere ---------------------------------------------------


@primitive("softplus", lambda m, out, a: (m.sigmoid(a),))  # d softplus(a)/da = sigmoid(a)
def softplus(a: float) -> float:
    return math.log1p(math.exp(-abs(a))) + max(a, 0.0)


def test_a_user_op_works_at_every_order_and_in_every_check() -> None:
    s = lambda x: 1.0 / (1.0 + math.exp(-x))  # noqa: E731
    x = 0.4
    assert grad_of(softplus)(x) == pytest.approx(s(x), rel=1e-15)
    assert grad_of(grad_of(softplus))(x) == pytest.approx(s(x) * (1 - s(x)), rel=1e-15)
    third = s(x) * (1 - s(x)) * (1 - 2 * s(x))
    assert grad_of(grad_of(grad_of(softplus)))(x) == pytest.approx(third, rel=1e-12)
    assert gradcheck(softplus, [x])
    assert gradgradcheck(lambda a, b: softplus(a * b), [x, -1.2])
    node = softplus(Value(x))
    assert node.op == "softplus" and topological_order(node)[-1] is node


def test_the_same_rule_serves_floats_and_values() -> None:
    # The rule table's contract, for a user op: one expression, both namespaces.
    rule = lambda m, out, a: (m.sigmoid(a),)  # noqa: E731
    (as_float,) = rule(FLOAT_MATH, 0.0, 0.4)
    (as_value,) = rule(VALUE_MATH, Value(0.0), Value(0.4))
    assert as_value.data == as_float


# ---- Newton's method -----------------------------------------------------------------------


def test_newton_minimises_a_quadratic_in_one_step() -> None:
    f = lambda x, y: 3 * (x - 1.0) ** 2 + (x - 1.0) * (y + 2.0) + 2 * (y + 2.0) ** 2  # noqa: E731
    point = [5.0, 7.0]
    g, H = grad_of(f, None)(*point), hessian(f)(*point)
    det = H[0][0] * H[1][1] - H[0][1] * H[1][0]
    step = [(H[1][1] * g[0] - H[0][1] * g[1]) / det, (H[0][0] * g[1] - H[1][0] * g[0]) / det]
    assert [p - s for p, s in zip(point, step, strict=True)] == pytest.approx([1.0, -2.0], abs=1e-12)


def test_newton_converges_quadratically_in_five_steps() -> None:
    # f(x) = e^x - 2x has its minimum at ln 2; Newton's step is x - f'(x) / f''(x)
    # = x - 1 + 2 e^-x by hand. From x = 0 the error roughly squares and halves
    # each step (f'''/(2 f'') = 1/2): 0.69, 0.31, 0.043, 9e-4, 4e-7, 8e-14.
    f = lambda x: x.exp() - 2 * x  # noqa: E731
    first, second = grad_of(f), grad_of(grad_of(f))
    x, by_hand, errors = 0.0, 0.0, []
    while abs(x - math.log(2.0)) > 1e-12:
        x = x - first(x) / second(x)
        by_hand = by_hand - 1.0 + 2.0 * math.exp(-by_hand)
        assert x == pytest.approx(by_hand, rel=1e-14)
        errors.append(abs(x - math.log(2.0)))
        assert len(errors) <= 10
    assert len(errors) == 5
    for before, after in itertools.pairwise(errors[1:]):
        assert after / before**2 == pytest.approx(0.5, rel=0.25)


def test_transforms_compose() -> None:
    def f(x: Value, y: Value) -> Value:
        return (x * y).sin() + x**3 * y

    point = (0.7, -0.4)
    hess = hessian(f)(*point)
    via_jacobian = jacobian(grad_of(f, None))(*point)
    for row, other in zip(hess, via_jacobian, strict=True):
        assert row == pytest.approx(other, rel=1e-14)
    # Third order: d/dx of d2f/dx2 = d/dx (-y^2 sin(xy) + 6xy) = -y^3 cos(xy) + 6y.
    x, y = point
    third = grad_of(lambda a: hessian(f, 0)(a, y))(x)
    assert third == pytest.approx(-(y**3) * math.cos(x * y) + 6 * y, rel=1e-12)
