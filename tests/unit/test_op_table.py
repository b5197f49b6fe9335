"""The op table: every op is one record, and everything the package does with an op reads it."""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import pytest

import autograd
from autograd import Op, Value, dot, draw_dot, engine, explain, grad_of, gradcheck, gradgradcheck, primitive
from autograd.engine import OPS, apply

# Each Value method and operator, and the record it applies.
METHODS: list[tuple[str, Any, Op]] = [
    ("a + b", lambda a, b: a + b, engine.ADD),
    ("a + 2", lambda a, b: a + 2, engine.ADD_NUMBER),
    ("2 + a", lambda a, b: 2 + a, engine.NUMBER_ADD),
    ("a - b", lambda a, b: a - b, engine.SUB),
    ("a - 2", lambda a, b: a - 2, engine.SUB_NUMBER),
    ("2 - a", lambda a, b: 2 - a, engine.NUMBER_SUB),
    ("a * b", lambda a, b: a * b, engine.MUL),
    ("a * 2", lambda a, b: a * 2, engine.MUL_NUMBER),
    ("2 * a", lambda a, b: 2 * a, engine.NUMBER_MUL),
    ("a / b", lambda a, b: a / b, engine.DIV),
    ("a / 2", lambda a, b: a / 2, engine.DIV_NUMBER),
    ("2 / a", lambda a, b: 2 / a, engine.NUMBER_DIV),
    ("-a", lambda a, b: -a, engine.NEG),
    ("a ** 2", lambda a, b: a**2, engine.POWER),
    ("a ** b", lambda a, b: a**b, engine.POW),
    ("abs(a)", lambda a, b: abs(a), engine.ABS),
    ("sum", lambda a, b: Value.sum([a, b, 1.0]), engine.SUM),
    ("dot", lambda a, b: dot([a], [b]), engine.DOT),
    ("dot numbers", lambda a, b: dot([a], [2.0]), engine.DOT_NUMBERS),
    *[
        (name, lambda a, b, name=name: getattr(a, name)(), getattr(engine, name.upper()))
        for name in ("exp", "expm1", "log", "log1p", "sqrt", "sin", "cos", "tan", "tanh", "sigmoid", "relu")
    ],
    *[
        (f"dot+{name}", lambda a, b, name=name: dot([a], [b], activation=name), engine.FUSED[name])
        for name in ("relu", "tanh", "sigmoid")
    ],
]


@pytest.mark.parametrize(("what", "make", "record"), METHODS, ids=[m[0] for m in METHODS])
def test_every_method_makes_the_node_of_its_record(what: str, make: Any, record: Op) -> None:
    a, b = Value(0.7), Value(1.3)
    out = make(a, b)
    assert out.operation is record
    assert out.op == record.title(out.params)
    expected = record.forward(*(p.data for p in out.parents), *out.params)
    assert out.data == expected  # the record's forward, exactly
    assert len(out.local_grads()) == len(out.parents)


def test_every_record_is_reached_by_a_method_or_a_layer() -> None:
    assert {id(r) for r in OPS.values()} == {id(record) for _, _, record in METHODS}


def test_the_records_describe_themselves() -> None:
    for key, op in OPS.items():
        assert isinstance(op.name, str) and op.name, key
        assert callable(op.forward) and callable(op.local_grad), key
        assert (op.domain is None) == (op.error is None), key
        assert op.arity is None or op.arity >= 1, key
        assert repr(op) == f"<op {op.name!r}>"


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: Value(-1.0).log(), ValueError, r"log of non-positive value -1.0 \(op 'log'\)"),
        (lambda: Value(-1.0).log1p(), ValueError, r"log1p of value -1.0 <= -1 \(op 'log1p'\)"),
        (lambda: Value(-4.0).sqrt(), ValueError, r"sqrt of negative value -4.0 \(op 'sqrt'\)"),
        (lambda: Value(3.0) / Value(0.0), ZeroDivisionError, r"division by zero: 3.0 / 0.0 \(op '/'\)"),
        (lambda: 2 / Value(0.0), ZeroDivisionError, r"division by zero: 2.0 / 0.0 \(op '/'\)"),
        (lambda: Value(-8.0) ** 0.5, ValueError, r"negative base -8.0 .* 0.5 \(op '\*\*0.5'\)"),
        (lambda: Value(0.0) ** Value(-1.0), ZeroDivisionError, r"zero base .* -1.0 \(op '\*\*'\)"),
    ],
)
def test_a_domain_check_raises_the_records_error_with_the_op(make: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        make()


def test_the_exponent_is_a_parameter_of_the_node_not_part_of_a_string() -> None:
    x = Value(3.0, label="x")
    cube = x**3
    assert cube.params == (3,) and cube.op == "**3" and cube.operation is engine.POWER
    assert (x**0.5).params == (0.5,) and (x**0.5).op == "**0.5"
    assert "x**3" in draw_dot(cube).source  # the drawing writes the expression from the params
    assert explain(cube).steps[0].symbol == "**3"


def test_sum_keeps_its_numbers_as_a_parameter() -> None:
    a, b = Value(1.0), Value(2.0)
    total = Value.sum([a, 0.5, b, 0.25])
    assert total.parents == (a, b) and total.params == ((0.5, 0.25),) and total.data == 3.75
    assert engine.SUM.forward(1.0, 2.0, (0.5, 0.25)) == 3.75 and total.operation is engine.SUM


def test_a_new_op_is_one_record() -> None:
    # atan, added as one record: it computes, differentiates to any order, draws and explains.
    atan = Op(
        "atan",
        math.atan,
        lambda m, out, a: (1.0 / (1.0 + a * a),),  # d(atan a)/da = 1/(1 + a^2)
        numpy="arctan",
    )
    x = Value(0.5, label="x")
    y = atan(x)
    assert (y.data, y.op, y.parents) == (math.atan(0.5), "atan", (x,))
    y.backward()
    assert x.grad == 1.0 / 1.25
    assert gradcheck(lambda a: atan(a * a), [0.3])
    assert gradgradcheck(lambda a: atan(a * a), [0.3])
    assert grad_of(grad_of(lambda a: atan(a)))(0.5) == pytest.approx(-2 * 0.5 / 1.25**2, rel=1e-15)
    assert "atan" in draw_dot(y).source
    assert explain(y).gradient(x) == x.grad


def test_primitive_makes_a_record_that_keeps_its_forward() -> None:
    @primitive("softplus", lambda m, out, a: (m.sigmoid(a),))
    def softplus(a: float) -> float:
        """log(1 + e^a)."""
        return math.log1p(math.exp(-abs(a))) + max(a, 0.0)

    assert isinstance(softplus, Op) and softplus.name == "softplus" and softplus.arity == 1
    assert softplus.forward(0.3) == softplus(Value(0.3)).data == softplus(0.3).data
    assert softplus.__name__ == "softplus" and softplus.__doc__ == "log(1 + e^a)."
    with pytest.raises(TypeError, match=r"op 'softplus' takes 1 input\(s\), got 2"):
        softplus(Value(1.0), Value(2.0))


def test_primitive_with_a_domain_names_the_op() -> None:
    @primitive(
        "reciprocal",
        lambda m, out, a: (-out * out,),
        domain=lambda a: a != 0.0,
        error=lambda a: ZeroDivisionError(f"reciprocal of {a!r}"),
    )
    def reciprocal(a: float) -> float:
        return 1.0 / a

    with pytest.raises(ZeroDivisionError, match=r"reciprocal of 0.0 \(op 'reciprocal'\)"):
        reciprocal(Value(0.0))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "an op's name must be a non-empty string"),
        ({"forward": 3}, "op 'f': forward must be callable"),
        ({"local_grad": None}, "op 'f': local_grad must be callable"),
        ({"domain": lambda a: True}, "op 'f': give both domain and error, or neither"),
    ],
)
def test_a_malformed_record_is_refused(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"name": "f", "forward": math.sin, "local_grad": lambda m, out, a: (1.0,)}
    arguments.update(kwargs)
    with pytest.raises(TypeError, match=message):
        Op(**arguments)


def test_a_record_with_params_is_applied_with_them() -> None:
    with pytest.raises(TypeError, match=r"op '\*\*' takes its exponent as well"):
        engine.POWER(Value(2.0))
    assert apply(engine.POWER, Value(2.0), params=(3,)).data == 8.0


def test_explain_is_the_backward_pass_it_explains() -> None:
    # backward() passes nothing through a gradient of exactly 0; explain runs the same pass.
    x = Value(0.0)
    y = x.sqrt() * 0.0
    y.backward()
    table = explain(y)
    assert x.grad == 0.0 and table.gradient(x) == 0.0
    (sqrt_step,) = [s for s in table.steps if s.op == "sqrt"]
    assert sqrt_step.contributions[0].local == math.inf  # shown, but not multiplied by the 0
    assert sqrt_step.contributions[0].contribution == 0.0


def test_the_package_root_exports_what_a_user_calls() -> None:
    assert 20 <= len(autograd.__all__) <= 32
    for name in autograd.__all__:
        assert getattr(autograd, name) is not None
    with pytest.raises(AttributeError, match="has no attribute 'register_forward'"):
        autograd.register_forward  # noqa: B018


def test_importing_the_engine_loads_neither_graphviz_nor_numpy() -> None:
    code = "import sys, autograd, nn; print(sorted({'graphviz', 'numpy'} & set(sys.modules)))"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert shown.strip() == "[]"


def test_a_node_with_no_inputs_runs_backward() -> None:
    for node in (dot([], [], activation="relu"), apply(engine.SUM, params=((1.0, 2.0),)), engine.DOT()):
        node.backward()
        assert node.grad == 1.0


def test_copies_and_pickles_of_nodes_keep_the_op_record() -> None:
    import copy
    import pickle

    x = Value(2.0, label="x")
    y = (x * 3.0).tanh()
    for twin in (copy.copy(y), copy.deepcopy(y), pickle.loads(pickle.dumps(y))):
        assert twin.operation is engine.TANH and twin.parents[0].operation is engine.MUL_NUMBER
        twin.backward()  # on the derived pullbacks of the built-in ops
        assert twin.parents[0].parents[0].grad == pytest.approx(3.0 * (1.0 - y.data**2), rel=1e-15)


def test_a_rule_that_fails_in_the_float_pass_names_its_op() -> None:
    x = Value(1e-300)
    (x**-0.5).backward()  # the local gradient -0.5 x^-1.5 overflows: infinite, as * would make it
    assert x.grad == -math.inf
    bad = Op("bad", math.sin, lambda m, out, a: (math.log(-1.0),))
    with pytest.raises(ValueError, match=r"in the backward pass of op 'bad'"):
        bad(Value(1.0)).backward()


def test_the_power_rule_at_exponent_zero_is_zero_everywhere() -> None:
    x = Value(0.0)
    (x**0).backward()
    assert x.grad == 0.0
    assert grad_of(lambda a: a**0)(0.0) == 0.0


def test_second_derivatives_of_a_power_zero_at_zero() -> None:
    from autograd import hessian

    assert hessian(lambda x: x**0 + x * x)(0.0) == [[2.0]]
    assert grad_of(grad_of(lambda a: a**0))(0.0) == 0.0
    with pytest.raises(ZeroDivisionError, match=r"derivative is infinite at 0\.0"):
        Value(0.0).sqrt().backward(create_graph=True)  # an infinite local gradient still refuses


def test_gradcheck_inside_no_grad_and_with_a_mode_named_twice() -> None:
    from autograd import no_grad

    with no_grad():
        assert gradcheck(lambda a: a.sin(), [0.5])
    assert gradcheck(lambda a: a.sin(), [0.5], modes=("rev", "rev", "fwd"))
