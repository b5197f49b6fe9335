"""Forward mode by hand-computed numbers: jvp, linearize, vjp, jacfwd, hvp and pushforward.

The apple-price example (x = 100, m = 2, t = 1.1, f = x m t, L = (f - 219)^2 / 2)
gives dL/dx = 2.2, dL/dm = 110 and dL/dt = 200: three forward passes, one per
input, or one backward pass for all three.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from autograd import (
    Value,
    dot,
    grad_of,
    gradcheck,
    gradgradcheck,
    hessian,
    hvp,
    jacfwd,
    jacobian,
    jvp,
    linearize,
    no_grad,
    primitive,
    vjp,
)
from autograd.engine import OPS, apply
from autograd.forward import pushforward
from autograd.functional import grad
from autograd.gradcheck import GradcheckError, GradgradcheckError


def loss(x: Any, m: Any, t: Any) -> Any:
    """The apple-price loss: price x m t against the true price 219."""
    return 0.5 * (x * m * t - 219) ** 2


APPLE = (100.0, 2.0, 1.1)


# ---- jvp ---------------------------------------------------------------------------------


def test_one_forward_pass_per_input_gives_the_apple_price_gradients() -> None:
    slopes = [jvp(loss, APPLE, direction)[1] for direction in ((1, 0, 0), (0, 1, 0), (0, 0, 1))]
    assert slopes == pytest.approx([2.2, 110.0, 200.0], rel=1e-12)
    assert slopes == pytest.approx(grad_of(loss, None)(*APPLE), rel=1e-14)


def test_jvp_is_the_directional_derivative() -> None:
    value, tangent = jvp(loss, APPLE, (1.0, -2.0, 0.5))
    assert value == pytest.approx(0.5, rel=1e-10)
    assert tangent == pytest.approx(2.2 - 2 * 110 + 0.5 * 200, rel=1e-12)


def test_jvp_of_each_kind_of_op_by_hand() -> None:
    x, y = 0.7, -1.3
    cases = [
        (lambda a, b: a * b, y * 1.0 + x * 2.0),
        (lambda a, b: a / b, 1.0 / y - x / y**2 * 2.0),
        (lambda a, b: a - b, 1.0 - 2.0),
        (lambda a, b: -a + 3.0 - b * 0.5, -1.0 - 1.0),
        (lambda a, b: a.exp() * b.sin(), math.exp(x) * math.sin(y) + math.exp(x) * math.cos(y) * 2.0),
        (lambda a, b: (a * a + b * b).sqrt(), (x + y * 2.0) / math.hypot(x, y)),
        (lambda a, b: a**3 + 2.0**b, 3 * x * x + 2.0**y * math.log(2.0) * 2.0),
        (lambda a, b: (a * a) ** b, (a2 := x * x) ** y * (y / a2 * 2 * x + math.log(a2) * 2.0)),
        (
            lambda a, b: a.tanh() + b.sigmoid(),
            1 - math.tanh(x) ** 2 + (s := 1 / (1 + math.exp(-y))) * (1 - s) * 2,
        ),
        (lambda a, b: a.relu() + b.relu() + abs(b), 1.0 + 0.0 - 2.0),
        (lambda a, b: Value.sum([a, b, a, 4.0]), 1.0 + 2.0 + 1.0),
        (lambda a, b: dot([a, b], [b, 0.5], a, activation="tanh"), 0.0),  # filled in below
    ]
    s_dot = x * y + y * 0.5 + x
    cases[-1] = (cases[-1][0], (1 - math.tanh(s_dot) ** 2) * (y + x * 2.0 + 0.5 * 2.0 + 1.0))
    for f, expected in cases:
        assert jvp(f, (x, y), (1.0, 2.0))[1] == pytest.approx(expected, rel=1e-13)


PARAMS = {"number": 2.5, "exponent": 3, "numbers": (1.5,), "inputs": (0.5, -2.0)}


@pytest.mark.parametrize("key", sorted(OPS))
def test_every_op_of_the_table_has_a_forward_derivative(key: str) -> None:
    # No op needs a forward rule of its own: its record's local_grad gives it.
    op = OPS[key]
    params = tuple(PARAMS[name] for name in op.params)
    point = [0.6 + 0.1 * i for i in range(op.arity or 3)]

    def f(*xs: Value) -> Value:
        return apply(op, *xs, params=params)

    along_all = jvp(f, point, [1.0] * len(point))[1]
    assert along_all == pytest.approx(sum(grad_of(f, None)(*point)), rel=1e-13)


def test_numbers_in_numbers_out_and_values_in_values_out() -> None:
    value, tangent = jvp(lambda a: a**3, (2.0,), (1.0,))
    assert (value, tangent) == (8.0, 12.0) and type(tangent) is float
    x = Value(2.0)
    value, tangent = jvp(lambda a: a**3, (x,), (1.0,))
    assert isinstance(value, Value) and isinstance(tangent, Value)
    assert (value.data, tangent.data) == (8.0, 12.0)
    assert grad(tangent, x) == 12.0  # the tangent 3x^2 is a graph reaching back to x
    assert x.grad == 0.0  # forward mode writes no .grad


def test_a_value_tangent_makes_the_result_differentiable_in_the_tangent() -> None:
    v = Value(3.0)
    _, tangent = jvp(lambda a: a * a, (2.0,), (v,))
    assert isinstance(tangent, Value) and tangent.data == 12.0
    assert grad(tangent, v) == 4.0  # the jvp is linear in the tangent: d(2x v)/dv = 2x


def test_several_outputs_give_lists() -> None:
    values, tangents = jvp(lambda a, b: [a * b, a + b, 5.0], (2.0, 3.0), (1.0, 0.0))
    assert values == [6.0, 5.0, 5.0] and tangents == [3.0, 1.0, 0.0]
    values, tangents = jvp(lambda a: (a, a * a), (3.0,), (2.0,))
    assert values == [3.0, 9.0] and tangents == [2.0, 12.0]


def test_a_constant_output_has_tangent_zero() -> None:
    assert jvp(lambda a: 7.0, (1.0,), (1.0,)) == (7.0, 0.0)
    _, tangent = jvp(lambda a: Value(7.0), (Value(1.0),), (1.0,))
    assert isinstance(tangent, Value) and tangent.data == 0.0


def test_jvp_has_aux() -> None:
    def f(a: Value) -> tuple[Value, dict[str, Any]]:
        return a * a, {"half": a * 0.5, "label": "sq"}

    value, tangent, aux = jvp(f, (3.0,), (1.0,), has_aux=True)
    assert (value, tangent, aux) == (9.0, 6.0, {"half": 1.5, "label": "sq"})


def test_the_same_value_at_two_positions_is_two_arguments() -> None:
    x = Value(3.0)
    _, tangent = jvp(lambda a, b: a * b, (x, x), (1.0, 0.0))
    assert tangent.data == 3.0  # d(ab)/da, not d(x^2)/dx


def test_tangents_of_exactly_zero_and_infinite_slopes() -> None:
    # A product with a factor of exactly 0 is 0: the tangent of a function that is 0
    # near the point is 0, though sqrt's slope at 0 is infinite.
    assert jvp(lambda a: a.sqrt() * 0.0, (0.0,), (1.0,)) == (0.0, 0.0)
    assert jvp(lambda a: (a * 0.0).sqrt(), (1.0,), (1.0,)) == (0.0, 0.0)
    assert jvp(lambda a: a.sqrt(), (0.0,), (1.0,)) == (0.0, math.inf)
    assert jvp(lambda a, b: a.sqrt() + b, (0.0, 1.0), (0.0, 1.0)) == (1.0, 1.0)


@pytest.mark.parametrize(("x", "relu", "absolute"), [(-1.5, 0.0, -1.0), (0.0, 0.0, 0.0), (2.0, 1.0, 1.0)])
def test_kinks_take_the_same_convention_as_backward(x: float, relu: float, absolute: float) -> None:
    assert jvp(lambda a: a.relu(), (x,), (1.0,))[1] == relu == grad_of(lambda a: a.relu())(x)
    assert jvp(abs, (x,), (1.0,))[1] == absolute == grad_of(abs)(x)


def test_transforms_work_inside_no_grad() -> None:
    with no_grad():
        assert jvp(lambda a: a**3, (2.0,), (1.0,)) == (8.0, 12.0)
        assert hvp(lambda a: a**3, (2.0,), (1.0,)) == [12.0]
        assert jacfwd(lambda a: [a * a])(3.0) == [[6.0]]
        _, pullback = vjp(lambda a: a**3, 2.0)
        assert pullback(1.0) == (12.0,)
        _, f_jvp = linearize(lambda a: a**3, 2.0)
        assert f_jvp(Value(1.0)).data == 12.0


# ---- higher order: forward and reverse composed, and no perturbation confusion ------------


def cube(a: Value) -> Value:
    return a**3


def test_jvp_of_grad_and_grad_of_jvp_are_second_derivatives() -> None:
    assert jvp(grad_of(cube), (2.0,), (1.0,)) == (12.0, 12.0)  # forward over reverse
    assert grad_of(lambda a: jvp(cube, (a,), (1.0,))[1])(2.0) == 12.0  # reverse over forward
    assert jvp(lambda a: jvp(cube, (a,), (1.0,))[1], (2.0,), (1.0,)) == (12.0, 12.0)  # forward over forward
    third = jvp(lambda a: jvp(lambda b: jvp(cube, (b,), (1.0,))[1], (a,), (1.0,))[1], (2.0,), (1.0,))
    assert third == (12.0, 6.0)


def test_an_inner_jvp_that_closes_over_an_outer_argument() -> None:
    # d/dx [x * d/dy (x y)] = d/dx x^2 = 2x: the inner tangent belongs to the inner jvp only.
    assert grad_of(lambda x: x * jvp(lambda y: x * y, (2.0,), (1.0,))[1])(3.0) == 6.0
    assert jvp(lambda x: x * jvp(lambda y: x * y, (2.0,), (1.0,))[1], (3.0,), (1.0,))[1] == 6.0
    # d/dx [d/dy (x y) at y = x] = 1, not 2
    assert jvp(lambda x: jvp(lambda y: x * y, (x,), (1.0,))[1], (3.0,), (1.0,))[1] == 1.0


@primitive("softplus", lambda m, out, a: (m.sigmoid(a),))  # d softplus(a)/da = sigmoid(a)
def softplus(a: float) -> float:
    return math.log1p(math.exp(-abs(a))) + max(a, 0.0)


def test_a_user_op_works_forward_at_every_order() -> None:
    s = 1 / (1 + math.exp(-0.4))
    assert jvp(softplus, (0.4,), (1.0,))[1] == pytest.approx(s, rel=1e-15)
    assert jvp(grad_of(softplus), (0.4,), (1.0,))[1] == pytest.approx(s * (1 - s), rel=1e-15)
    second = jvp(lambda a: jvp(softplus, (a,), (1.0,))[1], (0.4,), (1.0,))[1]
    assert second == pytest.approx(s * (1 - s), rel=1e-15)
    assert hvp(lambda a, b: softplus(a * b), (0.4, -1.2), (1.0, 0.0))[0] == pytest.approx(
        1.2**2 * (s2 := 1 / (1 + math.exp(0.48))) * (1 - s2), rel=1e-13
    )


# ---- linearize, vjp ---------------------------------------------------------------------------


def test_linearize_computes_once_and_pushes_each_tangent() -> None:
    calls = []

    def f(x: Value, m: Value, t: Value) -> Any:
        calls.append(1)
        return loss(x, m, t)

    value, f_jvp = linearize(f, *APPLE)
    assert value == pytest.approx(0.5, rel=1e-10)
    slopes = [f_jvp(1.0, 0.0, 0.0), f_jvp(0.0, 1.0, 0.0), f_jvp(0.0, 0.0, 1.0)]
    assert slopes == pytest.approx([2.2, 110.0, 200.0], rel=1e-12)
    assert len(calls) == 1
    assert f_jvp(1.0, -2.0, 0.5) == jvp(loss, APPLE, (1.0, -2.0, 0.5))[1]
    value, f_jvp, aux = linearize(lambda a: (a * a, "aux"), 3.0, has_aux=True)
    assert (value, f_jvp(1.0), aux) == (9.0, 6.0, "aux")


def test_vjp_returns_the_value_and_a_pullback_for_all_inputs() -> None:
    value, pullback = vjp(loss, *APPLE)
    assert value == pytest.approx(0.5, rel=1e-10)
    assert pullback(1.0) == pytest.approx((2.2, 110.0, 200.0), rel=1e-12)
    assert pullback(2.0) == pytest.approx((4.4, 220.0, 400.0), rel=1e-12)  # called again, scaled
    assert isinstance(pullback(1.0), tuple)
    values, pullback = vjp(lambda a, b: [a * b, a + b], 2.0, 3.0)
    assert values == [6.0, 5.0] and pullback([1.0, 0.0]) == (3.0, 2.0) and pullback([1.0, 1.0]) == (4.0, 3.0)
    value, pullback, aux = vjp(lambda a: (a * a, {"a": a}), 3.0, has_aux=True)
    assert (value, pullback(1.0), aux) == (9.0, (6.0,), {"a": 3.0})


def test_vjp_with_values_and_inside_another_transform() -> None:
    x = Value(2.0)
    value, pullback = vjp(cube, x)
    (gradient,) = pullback(1.0)
    assert isinstance(value, Value) and isinstance(gradient, Value) and gradient.data == 12.0
    assert grad(gradient, x) == 12.0
    # The gradient as a function of the cotangent, differentiated: d(c * 3x^2)/dc = 3x^2.
    _, pullback = vjp(cube, 2.0)
    assert grad_of(lambda c: pullback(c)[0])(1.0) == 12.0


# ---- jacfwd, hvp -----------------------------------------------------------------------------


def polar(r: Value, theta: Value) -> list[Value]:
    return [r * theta.cos(), r * theta.sin()]


def test_jacfwd_equals_jacobian() -> None:
    rows = jacfwd(polar)(2.0, 0.5)
    assert rows == jacobian(polar)(2.0, 0.5)
    assert rows == [[math.cos(0.5), -2.0 * math.sin(0.5)], [math.sin(0.5), 2.0 * math.cos(0.5)]]
    assert jacfwd(polar, argnums=1)(2.0, 0.5) == jacobian(polar, argnums=1)(2.0, 0.5)
    assert jacfwd(polar, argnums=(1, 0))(2.0, 0.5) == jacobian(polar, argnums=(1, 0))(2.0, 0.5)
    assert jacfwd(lambda x, *, k: [x * k, x + k])(2.0, k=3.0) == [[3.0], [1.0]]
    assert jacfwd(lambda x: (x * x, 5.0))(3.0) == [[6.0], [0.0]]


def test_jacfwd_with_values_and_composed() -> None:
    r = Value(2.0)
    column = jacfwd(polar, argnums=0)(r, Value(0.5))  # theta is passed on as it is
    assert [d.data for d in column] == [math.cos(0.5), math.sin(0.5)]
    f = lambda x, y: (x * y).sin() + x**3 * y  # noqa: E731
    for row, expected in zip(jacfwd(grad_of(f, None))(0.7, -0.4), hessian(f)(0.7, -0.4), strict=True):
        assert row == pytest.approx(expected, rel=1e-14)
    # The Hessian of r cos(theta), forward over forward
    second = jacfwd(lambda x, y: jacfwd(polar)(x, y)[0])(2.0, 0.5)
    assert second == [[0.0, -math.sin(0.5)], [-math.sin(0.5), -2.0 * math.cos(0.5)]]


def test_hvp_is_the_hessian_times_the_vector() -> None:
    def rosenbrock(x: Value, y: Value) -> Value:
        return (1 - x) ** 2 + 100 * (y - x * x) ** 2

    assert hvp(rosenbrock, (1.0, 1.0), (1.0, 0.0)) == [802.0, -400.0]
    assert hvp(rosenbrock, (1.0, 1.0), (2.0, 1.0)) == [2 * 802.0 - 400.0, -800.0 + 200.0]
    x = Value(1.5)
    product = hvp(rosenbrock, (x, 1.0), (1.0, 0.0))  # the first column: 1200x^2 - 400y + 2, -400x
    assert [p.data for p in product] == pytest.approx([2302.0, -600.0], rel=1e-14)
    assert grad(product[0], x) == pytest.approx(3600.0, rel=1e-14)  # d/dx (1200x^2 - 400y + 2)


# ---- pushforward on Values already built -----------------------------------------------------


def test_pushforward_is_the_transpose_of_grad() -> None:
    a = Value(3.0)
    z = a * 2.0
    out = z * z + a
    push = pushforward(out, [z, a])
    dz, da = grad(out, [z, a])
    assert (dz, da) == (12.0, 25.0)  # da counts the path through z
    assert push([1.0, 0.0]) == dz and push([0.0, 1.0]) == da and push([2.0, -1.0]) == 2 * dz - da
    assert pushforward(out, a)(1.0) == 25.0
    assert pushforward([out, z], a)(1.0) == [25.0, 2.0]
    assert pushforward(out, [a, a])([1.0, 1.0]) == 50.0  # an input given twice: its tangents add
    assert pushforward(out, Value(1.0))(1.0) == 0.0  # an input out does not depend on


def test_pushforward_with_create_graph_builds_the_tangent_as_a_graph() -> None:
    x = Value(2.0)
    y = x**3
    tangent = pushforward(y, x, create_graph=True)(1.0)
    assert isinstance(tangent, Value) and tangent.data == 12.0
    assert pushforward(tangent, x)(1.0) == 12.0
    assert isinstance(pushforward(y, Value(0.0), create_graph=True)(1.0), Value)


def test_a_rule_giving_the_wrong_number_of_local_gradients_is_named() -> None:
    @primitive("broken", lambda m, out, a: (1.0, 2.0))
    def broken(a: float) -> float:
        return a

    with pytest.raises(
        ValueError, match=r"op 'broken': its local_grad gave 2 local gradient\(s\) for 1 input"
    ):
        jvp(broken, (1.0,), (1.0,))


# ---- gradcheck and gradgradcheck check forward mode too ------------------------------------


@primitive("exp_off", lambda m, out, a: (out * 1.01,))  # the true local gradient is `out`
def exp_off(a: float) -> float:
    return math.exp(a)


@primitive("cube_detached", lambda m, out, a: (3.0 * a * m.data(a),))  # value 3a^2, but d/da = 3a
def cube_detached(a: float) -> float:
    return a**3


def test_gradcheck_checks_both_modes_and_reports_the_first_that_disagrees() -> None:
    assert gradcheck(loss, list(APPLE), modes=("fwd",))
    assert gradcheck(lambda a, b: dot([a, b], [b, 0.5], a, activation="tanh"), [0.3, -0.8])
    for modes, how in ((("rev", "fwd"), "backward"), (("fwd", "rev"), "forward"), ("fwd", "forward")):
        with pytest.raises(GradcheckError, match=f"input 0 \\(x\\): {how} ") as caught:
            gradcheck(lambda a, b: exp_off(a) + b, [Value(1.5, label="x"), 0.2], modes=modes)
        (mismatch,) = caught.value.mismatches
        assert mismatch.mode == ("rev" if how == "backward" else "fwd")
        assert mismatch.analytic == pytest.approx(math.exp(1.5) * 1.01, rel=1e-12)


def test_gradgradcheck_checks_forward_over_forward_too() -> None:
    assert gradgradcheck(lambda a, b: (a * b).sin() + a / b + (a**b), [0.3, 1.7], modes=("fwd",))
    with pytest.raises(GradgradcheckError, match=r"forward of the tangent 3\.9") as caught:
        gradgradcheck(cube_detached, [1.3], modes=("fwd", "rev"))
    (mismatch,) = caught.value.mismatches
    assert mismatch.mode == "fwd" and mismatch.analytic == pytest.approx(3 * 1.3)
    assert mismatch.numerical == pytest.approx(6 * 1.3, rel=1e-6)


@pytest.mark.parametrize("check", [gradcheck, gradgradcheck])
def test_the_modes_are_rev_and_fwd(check: Any) -> None:
    with pytest.raises(ValueError, match="unknown mode 'forward'; modes are 'rev' and 'fwd'"):
        check(cube, [1.0], modes=("rev", "forward"))
    with pytest.raises(ValueError, match="modes is empty"):
        check(cube, [1.0], modes=())


# ---- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: jvp(cube, 2.0, (1.0,)), TypeError, r"jvp: primals must be a tuple or list .* write \(x,\)"),  # type: ignore[arg-type]
        (lambda: jvp(cube, (2.0,), 1.0), TypeError, "jvp: tangents must be a tuple or list of 1 number"),  # type: ignore[arg-type]
        (lambda: jvp(cube, (2.0,), (1.0, 0.0)), ValueError, r"jvp: 2 tangents for 1 input\(s\)"),
        (
            lambda: jvp(cube, (2.0,), ("1",)),
            TypeError,
            r"jvp: tangents\[0\] must be a number or a Value, got str",
        ),
        (
            lambda: jvp(cube, (2.0,), (True,)),
            TypeError,
            r"tangents\[0\] must be a number or a Value, got bool",
        ),
        (lambda: jvp(cube, ("2",), (1.0,)), TypeError, "jvp: argument 0 must be a number or a Value"),
        (
            lambda: jvp(lambda: Value(1.0), (), ()),
            TypeError,
            "jvp: the function was called without arguments",
        ),
        (lambda: jvp(Value(1.0), (1.0,), (1.0,)), TypeError, "jvp expects a function, got Value"),  # type: ignore[arg-type]
        (
            lambda: jvp(lambda a: "a", (1.0,), (1.0,)),
            TypeError,
            r"jvp\(<lambda>\): f must return a Value or a number, got str",
        ),
        (lambda: jvp(cube, (1.0,), (1.0,), has_aux=True), TypeError, "has_aux=True: f must return a pair"),
        (lambda: jacfwd(cube)(2.0), TypeError, r"jacfwd\(cube\): f must return a list or tuple of outputs"),  # type: ignore[arg-type]
        (lambda: jacfwd(polar, 2)(1.0, 2.0), ValueError, "jacfwd: argnums 2 is out of range"),
        (lambda: hvp(cube, (2.0,), (1.0, 2.0)), ValueError, r"hvp: 2 v for 1 input\(s\)"),
        (lambda: hvp(cube, 2.0, (1.0,)), TypeError, "hvp: primals must be a tuple or list"),  # type: ignore[arg-type]
        (lambda: vjp(cube, 2.0)[1]([1.0]), TypeError, r"pullback of vjp\(cube\): cotangent must be a number"),
        (lambda: vjp(polar, 2.0, 1.0)[1](1.0), TypeError, "cotangent must be a tuple or list of 2"),
        (lambda: vjp(polar, 2.0, 1.0)[1]([1.0]), ValueError, r"1 cotangent for 2 output\(s\)"),
        (
            lambda: linearize(cube, 2.0)[1](1.0, 2.0),
            ValueError,
            r"f_jvp of linearize\(cube\): 2 tangents for 1 input",
        ),
        (lambda: pushforward(Value(1.0), [])(()), ValueError, "pushforward: inputs is empty"),
        (
            lambda: pushforward(Value(1.0), Value(2.0))([1.0]),
            TypeError,
            r"pushforward: tangent must be a number or a Value, got list \[1.0\]",
        ),
    ],
)
def test_bad_input_gets_a_clear_error(call, error, message) -> None:
    with pytest.raises(error, match=message):
        call()


def test_transforms_name_the_function_they_wrap() -> None:
    assert jacfwd(cube).__name__ == "jacfwd(cube)"  # type: ignore[arg-type]
    assert vjp(cube, 1.0)[1].__name__ == "pullback of vjp(cube)"
    assert linearize(cube, 1.0)[1].__name__ == "f_jvp of linearize(cube)"
