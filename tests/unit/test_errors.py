"""Bad input raises a clear error that names the op and the value."""

from __future__ import annotations

import pytest

from autograd import Value, dot, gradcheck, primitive


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: Value(-1.0).log(), ValueError, r"log of non-positive value -1.0 \(op 'log'\)"),
        (lambda: Value(0.0).log(), ValueError, r"log of non-positive value 0.0 \(op 'log'\)"),
        (lambda: Value(-1.0).log1p(), ValueError, r"log1p of value -1.0 <= -1 \(op 'log1p'\)"),
        (lambda: Value(-4.0).sqrt(), ValueError, r"sqrt of negative value -4.0 \(op 'sqrt'\)"),
        (lambda: Value(1.0) / 0, ZeroDivisionError, r"division by zero: 1.0 / 0.0 \(op '/'\)"),
        (lambda: 1 / Value(0.0), ZeroDivisionError, r"\(op '/'\)"),
        (lambda: Value(-8.0) ** 0.5, ValueError, r"negative base -8.0 with non-integer exponent 0.5"),
        (lambda: Value(-8.0) ** Value(0.5), ValueError, r"negative base -8.0 .* \(op '\*\*'\)"),
        (lambda: Value(0.0) ** -1, ZeroDivisionError, r"zero base with negative exponent -1"),
        (lambda: Value(1000.0).exp(), OverflowError, r"exp overflows for 1000.0 \(op 'exp'\)"),
        (lambda: Value(1000.0).expm1(), OverflowError, r"\(op 'expm1'\)"),
        (lambda: Value(10.0) ** 400, OverflowError, r"10.0 \*\* 400 overflows"),
        (lambda: Value("3"), TypeError, r"Value expects a real number, got str '3'"),  # type: ignore[arg-type]
        (lambda: Value(None), TypeError, r"got NoneType"),  # type: ignore[arg-type]
        (lambda: Value(1 + 2j), TypeError, r"got complex"),  # type: ignore[arg-type]
        (lambda: Value(1.0) + "a", TypeError, r"unsupported operand type\(s\) for \+: 'Value' and 'str'"),  # type: ignore[operator]
        (lambda: "a" * Value(1.0), TypeError, r"can't multiply sequence|unsupported operand"),  # type: ignore[operator]
        (lambda: Value(1.0) ** "a", TypeError, r"unsupported operand"),  # type: ignore[operator]
        (lambda: Value(1.0) < "a", TypeError, r"< expects a real number, got str"),  # type: ignore[operator]
        (lambda: dot([Value(1.0)], [1.0, 2.0]), ValueError, r"dot of 1 weights with 2 inputs \(op 'dot'\)"),
        (lambda: dot([Value(1.0)], ["x"]), TypeError, r"dot expects a real number, got str"),  # type: ignore[list-item]
        (lambda: Value.sum([Value(1.0), "x"]), TypeError, r"sum expects a real number, got str"),  # type: ignore[list-item]
        (lambda: Value(1.0).backward("x"), TypeError, r"backward expects a real number"),  # type: ignore[arg-type]
    ],
)
def test_error_names_op_and_value(make, error, message) -> None:
    with pytest.raises(error, match=message):
        make()


def test_failed_op_records_nothing() -> None:
    x = Value(-1.0)
    with pytest.raises(ValueError, match="op 'log'"):
        x.log()
    y = x * 2
    y.backward()
    assert x.grad == 2.0


def test_primitive_errors_name_the_op() -> None:
    @primitive("reciprocal", lambda m, out, a: (-out * out,))
    def reciprocal(a: float) -> float:
        return 1.0 / a

    with pytest.raises(ZeroDivisionError, match=r"for 0.0 \(op 'reciprocal'\)"):
        reciprocal(Value(0.0))
    with pytest.raises(TypeError, match=r"reciprocal expects a real number, got str"):
        reciprocal("x")  # type: ignore[arg-type]


def test_gradcheck_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="gradcheck: f must return a Value"):
        gradcheck(lambda a: 1.0, [1.0])  # type: ignore[arg-type, return-value]
    with pytest.raises(TypeError, match="gradcheck: inputs must be numbers or Values, got str"):
        gradcheck(lambda a: a, ["x"])  # type: ignore[list-item]


def test_an_infinite_derivative_has_no_gradient_graph() -> None:
    x = Value(0.0)
    x.sqrt().backward()
    assert x.grad == float("inf")  # first order: the derivative of sqrt at 0
    with pytest.raises(ZeroDivisionError, match=r"derivative is infinite at 0\.0"):
        Value(0.0).sqrt().backward(create_graph=True)
