"""trace(): compiled values and gradients by hand, params, aux, the contract's checks, errors, safe source."""

from __future__ import annotations

import io
import keyword
import math
import re
import sys
import tokenize
from types import CodeType, FrameType
from typing import Any

import pytest

from autograd import CompileError, Value, dot, no_grad, primitive, trace
from autograd.compiler import TraceMismatchError
from autograd.engine import FLOAT_MATH, OPS, Op
from tests.strategies import record_function, record_points

# The tests of compiled networks import nn where they run: nn builds on autograd's
# public API, and a broken nn must not hide the compiler's own tests.


def eager(f: Any, *args: float) -> tuple[float, list[float]]:
    leaves = [Value(a) for a in args]
    out = f(*leaves)
    out.backward()
    return out.data, [v.grad for v in leaves]


def test_value_and_gradients_by_hand() -> None:
    fn = trace(lambda x, y: x * y + x, 3.0, 4.0)
    value, (dx, dy) = fn(2.0, 5.0)
    assert value == 12.0
    assert (dx, dy) == (6.0, 2.0)  # d(xy + x)/dx = y + 1, d/dy = x


def test_apple_price_compiled() -> None:
    fn = trace(lambda x, m, t: 0.5 * (x * m * t - 219) ** 2, 100.0, 2.0, 1.1)
    value, grads = fn(100.0, 2.0, 1.1)
    assert value == pytest.approx(0.5)
    assert grads == pytest.approx((2.2, 110.0, 200.0))


def test_every_op_equals_eager_bit_for_bit() -> None:
    def f(x: Value, y: Value) -> Value:
        terms = [
            x + y,
            x - y,
            x * y,
            x / y,
            -x,
            x**3,
            x**-2,
            y**0.5,
            y**x,
            2.0**x,
            x.exp(),
            x.expm1(),
            y.log(),
            x.log1p(),
            y.sqrt(),
            x.sin(),
            x.cos(),
            x.tan(),
            x.tanh(),
            x.sigmoid(),
            x.relu(),
            (-x).relu(),
            abs(x),
            Value.sum([x, y, x]),
            dot([x, y], [y, x]),
            dot([x, y], [y, x], x),
            dot([x, y], [0.5, -2.0]),
            dot([x, y], [0.5, -2.0], y),
        ]
        return Value.sum(terms)

    fn = trace(f, 0.3, 1.7)
    for point in [(0.3, 1.7), (0.7, 2.5), (-0.4, 0.2)]:
        value, grads = fn(*point)
        assert (value, list(grads)) == eager(f, *point)


def test_traced_once_evaluated_anywhere() -> None:
    calls = []

    def f(x: Value) -> Value:
        calls.append(x)
        return (x * x).tanh()

    fn = trace(f, 0.5)
    for x in [-2.0, 0.0, 0.1, 3.0]:
        assert fn(x) == (math.tanh(x * x), (2 * x * (1 - math.tanh(x * x) ** 2),))
    assert len(calls) == 1


def test_a_sum_without_an_exact_value_gives_what_eager_mode_gives() -> None:
    fn = trace(lambda x: dot([x, x], [1.0, 1.0]), 1.0)
    value, (dx,) = fn(1e308)
    assert value == dot([Value(1e308)] * 2, [1.0, 1.0]).data == math.inf
    assert dx == 2.0


@pytest.mark.parametrize("key", sorted(OPS))
def test_every_op_record_compiles_to_the_eager_numbers(key: str) -> None:
    # Built from the record alone, so a record added to the table is tested here as it is.
    op = OPS[key]
    f = record_function(op)
    traced_at, *called_at = record_points(op, 4)
    fn = trace(f, *traced_at)
    for point in called_at:
        value, grads = fn(*point)
        assert (value, list(grads)) == eager(f, *point)
        assert fn.check(*point)


def test_a_call_runs_no_engine_code_but_the_ops_own_functions() -> None:
    fn = trace(lambda x, y: (x * y).sin() + dot([x, y], [1.0, 2.0], x).relu() + x**0.5, 0.5, 0.25)
    called: list[CodeType] = []

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event == "call":
            called.append(frame.f_code)

    sys.setprofile(profile)
    try:
        fn(0.3, 0.9)
    finally:
        sys.setprofile(None)
    # relu's forward and the power's domain branch, so they are called: they are the records' own
    functions: list[Any] = [f for op in OPS.values() for f in (op.forward, op.domain, op.local_grad)]
    functions += [getattr(FLOAT_MATH, name) for name in dir(FLOAT_MATH) if not name.startswith("__")]
    own = {getattr(f, "__code__", None) for f in functions}
    engine = [code for code in called if code.co_filename.endswith("engine.py")]
    assert engine and all(code in own for code in engine)


def test_nested_list_arguments_give_gradients_of_the_same_shape() -> None:
    fn = trace(lambda rows, b: Value.sum([r[0] * r[1] for r in rows]) + b, [[1.0, 2.0], [3.0, 4.0]], 0.0)
    value, (d_rows, d_b) = fn([[1.0, 2.0], [3.0, 5.0]], 7.0)
    assert value == 24.0
    assert d_rows == [[2.0, 1.0], [5.0, 3.0]] and d_b == 1.0


def test_an_unused_argument_has_gradient_zero() -> None:
    fn = trace(lambda x, y: x * 2.0, 1.0, 1.0)
    assert fn(3.0, 4.0) == (6.0, (2.0, 0.0))


def test_returning_an_argument_itself() -> None:
    assert trace(lambda x: x, 1.0)(5.0) == (5.0, (1.0,))


# ---- params ----------------------------------------------------------------------


def test_params_are_read_at_every_call_and_their_gradients_accumulate() -> None:
    w = Value(2.0)
    fn = trace(lambda x: w * x * x, 3.0, params=[w])
    assert fn(3.0) == (18.0, (12.0,))
    assert w.grad == 9.0
    w.data = 5.0
    assert fn(1.0) == (5.0, (10.0,))
    assert w.grad == 10.0  # 9 + 1: added, as backward() adds into a leaf


def test_parameter_gradients_add_up_as_backward_adds_them() -> None:
    def f(x: Value, w: Value) -> Value:
        return Value.sum([w * x, (w * 0.1).sin(), w / 3.0, w * w])

    eager_w, compiled_w = Value(0.7), Value(0.7)
    eager_w.grad = compiled_w.grad = 0.1  # not 0: the order of the additions shows
    f(Value(1.3), eager_w).backward()
    trace(lambda x: f(x, compiled_w), 1.0, params=[compiled_w])(1.3)
    assert compiled_w.grad == eager_w.grad


def test_mlp_step_equals_eager_bit_for_bit() -> None:
    from nn import MLP, hinge_loss, l2_penalty

    model = MLP(2, [8, 8, 1], seed=3)
    params = model.parameters()
    xs = [[0.5, -1.0], [1.5, 0.25], [-0.75, 0.8]]
    ys = [1.0, -1.0, 1.0]

    def loss() -> Value:
        return hinge_loss([model(x) for x in xs], ys) + l2_penalty(params, 1e-4)

    fn = trace(loss, params=params)
    for p in params:
        p.grad = 0.0
    value, grads = fn()
    compiled = [p.grad for p in params]
    for p in params:
        p.grad = 0.0
    out = loss()
    out.backward()
    assert grads == ()
    assert value == out.data
    assert compiled == [p.grad for p in params]


def test_has_aux_returns_the_data_of_other_values() -> None:
    from nn import MLP, mse_loss

    model = MLP(2, [4, 2], activation="tanh", seed=0)
    params = model.parameters()
    xs = [[0.1, 0.2], [0.3, -0.4]]

    def loss() -> tuple[Value, Any]:
        outputs = [model(x) for x in xs]
        return mse_loss(outputs, [[1.0, 0.0], [0.0, 1.0]]), (outputs, "note", 3)

    fn = trace(loss, params=params, has_aux=True)
    (value, (outputs, note, three)), grads = fn()
    assert note == "note" and three == 3 and grads == ()
    assert outputs == [[o.data for o in model(x)] for x in xs]  # type: ignore[union-attr]
    assert value == loss()[0].data


# ---- the contract: what misuse is detected -----------------------------------------------


def test_check_passes_for_a_graph_whose_shape_does_not_depend_on_the_data() -> None:
    fn = trace(lambda x, y: (x * y).relu() + abs(x), 0.5, -1.0)
    assert fn.check(-0.5, 2.0)


def test_check_finds_a_branch_on_the_data() -> None:
    def f(x: Value) -> Value:
        return x * x if x.data > 0 else x.exp()

    fn = trace(f, 1.0)
    assert fn.check(2.0)
    with pytest.raises(TraceMismatchError, match=r"node 1 was '\*' .* now 'exp'"):
        fn.check(-1.0)


def test_check_finds_a_number_taken_from_the_data() -> None:
    fn = trace(lambda x: x * float(x), 2.0)  # float() cuts the graph: a constant
    assert fn(2.0) == (4.0, (2.0,))
    # The number is folded into the op, so the retraced graph shows it changed.
    with pytest.raises(TraceMismatchError, match=r"node 1 was '\*' with inputs \[0, 2\.0\] when traced, now"):
        fn.check(3.0)


def test_check_finds_a_parameter_missing_from_params() -> None:
    w = Value(2.0, label="w")
    fn = trace(lambda x: w * x, 1.0)
    assert fn(3.0) == (6.0, (2.0,))  # w is a constant, baked in at 2.0
    w.data = 4.0
    with pytest.raises(TraceMismatchError, match=r"constant leaf .*label='w'.* held 2.0 .* params="):
        fn.check(3.0)


def test_check_leaves_parameter_gradients_alone() -> None:
    w = Value(2.0)
    fn = trace(lambda x: w * x, 1.0, params=[w])
    w.grad = 0.5
    assert fn.check(3.0)
    assert w.grad == 0.5


def test_an_op_error_is_the_engines_error() -> None:
    fn = trace(lambda x: (x - 1.0).log(), 2.0)
    with pytest.raises(ValueError, match=r"log of non-positive value -1.0 \(op 'log'\)"):
        fn(0.0)
    fn = trace(lambda x: 1.0 / x, 2.0)
    with pytest.raises(ZeroDivisionError, match="op '/'"):
        fn(0.0)
    fn = trace(lambda x: x**0.5, 2.0)
    with pytest.raises(ValueError, match=r"negative base -1\.0"):
        fn(-1.0)
    fn = trace(lambda x: x.exp(), 2.0)
    with pytest.raises(OverflowError, match="op 'exp'"):
        fn(1000.0)


def test_a_failure_the_eager_function_does_not_have_is_a_mismatch() -> None:
    def f(x: Value) -> Value:
        return x.log() if x.data > 0 else x * 2.0

    fn = trace(f, 1.0)
    with pytest.raises(TraceMismatchError, match="shape depends on the data"):
        fn(-1.0)


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((1.0,), TypeError, r"trace\(.*\) takes 2 arguments, got 1"),
        ((1.0, "2"), TypeError, r"argument 1 must be a number or a list of numbers, got str '2'"),
        ((1.0, [2.0]), ValueError, r"argument 1 has another shape than when traced: traced with a number"),
        ((1.0, Value(2.0)), TypeError, r"argument 1 is a Value"),
    ],
)
def test_bad_call_arguments(args: tuple[Any, ...], error: type[Exception], message: str) -> None:
    fn = trace(lambda x, y: x * y, 1.0, 2.0)
    with pytest.raises(error, match=message):
        fn(*args)


def test_bad_trace_arguments() -> None:
    with pytest.raises(TypeError, match="trace expects a function, got int 3"):
        trace(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="argument 0 is a Value"):
        trace(lambda x: x, Value(1.0))
    with pytest.raises(CompileError, match=r"must return a Value, got float 2\.0"):
        trace(lambda x: 2.0, 1.0)
    with pytest.raises(CompileError, match=r"has_aux=True the function returns \(value, aux\)"):
        trace(lambda x: x, 1.0, has_aux=True)
    a = Value(1.0)
    with pytest.raises(ValueError, match=r"params\[0\] = .* was made by op '\*'"):
        trace(lambda x: x, 1.0, params=[a * 2.0])
    with pytest.raises(ValueError, match=r"params\[1\] = .* is listed twice"):
        trace(lambda x: x * a, 1.0, params=[a, a])
    with pytest.raises(TypeError, match=r"params\[0\] must be a Value, got float"):
        trace(lambda x: x, 1.0, params=[1.0])  # type: ignore[list-item]


def test_a_sum_with_plain_numbers_compiles_bit_for_bit() -> None:
    # The numbers are the node's params, summed exactly with its inputs, as eager mode sums them.
    f = lambda x, y: Value.sum([x, 0.1, y * x, 1e16, -1e16, 0.2])  # noqa: E731
    fn = trace(f, 1.0, 2.0)
    for point in [(1.0, 2.0), (0.3, -0.7), (1e-17, 3.0)]:
        value, grads = fn(*point)
        assert (value, list(grads)) == eager(f, *point)
    assert fn(1e-17, 3.0)[0] != 1e-17 + 0.1 + 3e-17 + 1e16 - 1e16 + 0.2  # not a left-to-right sum
    assert fn.check(0.5, 0.25)


def test_a_sum_s_numbers_are_part_of_its_graph() -> None:
    fn = trace(lambda x: Value.sum([x, float(x)]), 2.0)  # float() cuts the graph: a number
    assert fn(2.0) == (4.0, (1.0,))
    with pytest.raises(
        TraceMismatchError, match=r"node 1 was 'sum' with inputs \[0\] and params \[\(2\.0,\)\]"
    ):
        fn.check(3.0)


def test_nodes_cut_off_by_no_grad_are_constants() -> None:
    def f(x: Value) -> Value:
        with no_grad():
            c = x * 3.0
        return x * c

    fn = trace(f, 2.0)
    assert fn(2.0) == (12.0, (6.0,))


# ---- primitives and new ops ------------------------------------------------------------------


def _softplus_rule(m: Any, out: Any, a: Any) -> tuple[Any]:
    return (m.sigmoid(a),)


@primitive("softplus", _softplus_rule)
def softplus(a: float) -> float:
    return math.log1p(math.exp(-abs(a))) + max(a, 0.0)


def test_a_primitive_compiles_with_its_forward_called() -> None:
    f = lambda x: softplus(x * x) * x  # noqa: E731
    fn = trace(f, 0.5)
    for x in [-1.3, 0.0, 2.5]:
        value, grads = fn(x)
        assert (value, list(grads)) == eager(f, x)
    assert fn.check(0.7)


def test_a_primitive_s_result_is_a_float_as_in_eager_mode() -> None:
    @primitive("clipped", lambda m, out, a: (m.step(a),))
    def clipped(a: float) -> float:
        return max(a, 0)  # an int 0 for a < 0: the engine makes every result a float

    value, (dx,) = trace(lambda x: clipped(x), 1.0)(-2.0)
    assert type(value) is float and value == 0.0 and dx == 0.0


def test_a_primitive_s_domain_is_checked_as_in_eager_mode() -> None:
    @primitive(
        "half_log",
        lambda m, out, a: (0.5 / a,),
        domain=lambda a: a > 0.5,
        error=lambda a: ValueError(f"half_log of {a!r} <= 0.5"),
    )
    def half_log(a: float) -> float:
        return 0.5 * math.log(a)

    fn = trace(lambda x: half_log(x), 2.0)
    assert "(v0 > 0.5)" in fn.source  # the domain ran on symbols: an inline guard
    assert fn(4.0) == (0.5 * math.log(4.0), (0.125,))
    with pytest.raises(ValueError, match=r"half_log of 0\.25 <= 0\.5 \(op 'half_log'\)"):
        fn(0.25)


def test_a_primitive_with_a_forward_that_runs_on_symbols_is_written_inline() -> None:
    @primitive("cube", lambda m, out, a: (3.0 * a * a,))
    def cube(a: float) -> float:
        return a * a * a

    fn = trace(lambda x: cube(x), 2.0)
    assert "((v0 * v0) * v0)" in fn.source
    assert fn(3.0) == (27.0, (27.0,))


def _atan_rule(m: Any, out: Any, a: Any) -> tuple[Any]:
    return (1.0 / (1.0 + a * a),)  # d(atan a)/da = 1 / (1 + a^2)


ATAN = Op("atan", math.atan, _atan_rule)  # one record: forward and rule; nothing else to edit


def test_a_new_op_made_as_one_record_compiles_bit_for_bit() -> None:
    f = lambda x, y: ATAN(x * y) + ATAN(x).exp()  # noqa: E731
    fn = trace(f, 0.5, 2.0)
    for point in [(0.5, 2.0), (-3.0, 0.25), (1e-8, 7.0)]:
        value, grads = fn(*point)
        assert (value, list(grads)) == eager(f, *point)
    assert "(1.0 / (1.0 + (v" in fn.source  # the rule ran on symbols


def test_a_rule_that_branches_runs_on_numbers() -> None:
    def rule(m: Any, out: Any, a: Any) -> tuple[float]:
        return (1.0 if a > 0 else -3.0,)

    def leaky(a: float) -> float:
        return a if a > 0 else -3.0 * a

    op = primitive("leaky", rule)(leaky)
    fn = trace(lambda x: op(x) * x, 1.0)
    assert "_l0" in fn.source  # the rule is called at run time
    assert fn(2.0) == (4.0, (4.0,))
    assert fn(-2.0) == (-12.0, (12.0,))


def test_a_rule_with_the_wrong_number_of_gradients_is_an_error_naming_the_op() -> None:
    @primitive("lopsided", lambda m, out, a, b: (1.0,) if a > 0 else (1.0, 1.0))
    def lopsided(a: float, b: float) -> float:
        return a + b

    with pytest.raises(CompileError, match=r"op 'lopsided': its local-gradient rule gives 1 gradients for 2"):
        trace(lambda x, y: lopsided(x, y), 1.0, 2.0)


@pytest.mark.parametrize("x", [-2.0, -0.0, 0.0, 1e-300, 3.0, math.inf, -math.inf, math.nan])
def test_inline_math_mirrors_float_math(x: float) -> None:
    f = lambda a: a.relu() + abs(a)  # noqa: E731  (their rules use m.step and m.sign, written inline)
    fn = trace(f, 1.0)
    assert " if " in fn.source and "_k" not in fn.source.split("    g", 1)[1]
    _, (grad,) = fn(x)
    step, sign = FLOAT_MATH.step(x), FLOAT_MATH.sign(x)
    assert grad == step + sign == eager(f, x)[1][0]


# ---- the generated source ------------------------------------------------------------------

HOSTILE = "__import__('os').system('echo owned') # \" '''"
GENERATED_NAME = re.compile(r"^(_compiled|_a|_aux|_grads|_[ktlu]\d+|v\d+|g\d+|data|grad)$")


def generated_tokens(source: str) -> list[tokenize.TokenInfo]:
    return list(tokenize.generate_tokens(io.StringIO(source).readline))


def test_the_source_holds_only_numbers_and_generated_names() -> None:
    @primitive(HOSTILE, _softplus_rule)
    def hostile_softplus(a: float) -> float:
        return softplus(a).data

    w = Value(0.5, label=HOSTILE)

    def f(x: Value, y: Value) -> Value:
        x.label = HOSTILE
        z = hostile_softplus(x * w) + dot([x, y], [1.5, -2.0], w) ** 2 + (y / 3.0).exp()
        z.label = HOSTILE
        return z

    fn = trace(f, 0.3, 0.7, params=[w])
    source = fn.source
    assert "owned" not in source and "import" not in source and "softplus" not in source
    for token in generated_tokens(source):
        assert token.type != tokenize.STRING
        if token.type == tokenize.NAME:
            assert keyword.iskeyword(token.string) or GENERATED_NAME.match(token.string), token.string
        if token.type == tokenize.NUMBER:
            float(token.string)


def test_huge_sums_compile_in_chunks() -> None:
    n = 5000
    fn = trace(lambda xs: Value.sum(xs) + dot(xs, xs), [1.0] * n)
    value, (grads,) = fn([2.0] * n)
    assert value == 2.0 * n + 4.0 * n
    assert grads == [5.0] * n  # 1 + 2x


def test_repr_counts_nodes_and_params() -> None:
    w = Value(1.0)
    fn = trace(lambda x: x * w + x, 1.0, params=[w])
    assert (
        repr(fn) == "<compiled trace(test_repr_counts_nodes_and_params.<locals>.<lambda>): 4 nodes, 1 params>"
    )


def test_compiled_gradients_pass_zero_on_like_backward() -> None:
    # backward() skips a node whose gradient is exactly 0, so 0 * inf (sqrt at 0) gives 0, not nan
    fn = trace(lambda x: x.sqrt() * 0.0 + x, 0.0)
    assert fn(0.0) == (0.0, (1.0,))
    x = Value(0.0)
    (x.sqrt() * 0.0 + x).backward()
    assert x.grad == 1.0
    assert fn.check(0.0)
    assert " if " in fn.source  # the test is there, only where a local gradient can be infinite
    assert " if " not in trace(lambda x: x * 3.0 + x * x, 1.0).source
