"""trace_batch(): values and gradients by hand and against eager mode, blocks, aux, errors, safe source."""

from __future__ import annotations

import contextlib
import io
import keyword
import math
import re
import subprocess
import sys
import tokenize
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

import autograd
from autograd import CompileError, Value, dot, dots, primitive
from autograd.batched import BatchedFunction, numpy_math, trace_batch
from autograd.compiler import TraceMismatchError
from autograd.engine import FLOAT_MATH, OPS, Op
from tests.strategies import record_function, record_points

# The tests of batched networks import nn where they run: nn builds on autograd's
# public API, and a broken nn must not hide the compiler's own tests.


def close(a: float, b: float, scale: float = 1.0) -> bool:
    """Equal up to rounding: 1e-12 relative, or 1e-12 of `scale` (the size of the terms summed)."""
    return abs(a - b) <= 1e-12 * max(abs(a), abs(b), scale)


def all_close(ours: Any, theirs: Any, scale: float = 1.0) -> bool:
    ours, theirs = np.asarray(ours, dtype=float).ravel(), np.asarray(theirs, dtype=float).ravel()
    return ours.shape == theirs.shape and all(close(a, b, scale) for a, b in zip(ours, theirs, strict=True))


def eager(
    f: Any, batches: Sequence[Sequence[Any]], params: Sequence[Value] = (), reduction: str = "mean"
) -> tuple[float, list[list[Any]], list[float]]:
    """f's mean (or sum) over the examples, eager: value, per-example input gradients, param gradients."""
    size = len(batches[0])
    scale = 1.0 / size if reduction == "mean" else 1.0
    for p in params:
        p.grad = 0.0
    value = 0.0
    input_grads = []
    for i in range(size):
        leaves = [[Value(x) for x in b[i]] if isinstance(b[i], list) else Value(b[i]) for b in batches]
        out = f(*leaves)
        (out * scale).backward()
        value += out.data * scale
        input_grads.append(
            [[v.grad for v in leaf] if isinstance(leaf, list) else leaf.grad for leaf in leaves]
        )
    grads = [p.grad for p in params]
    for p in params:
        p.grad = 0.0
    return value, input_grads, grads


# ---- values and gradients ------------------------------------------------------------------


def test_mean_and_sum_by_hand() -> None:
    w = Value(3.0)
    fn = trace_batch(lambda x: w * x * x, 1.0, params=[w])
    value, (dx,) = fn([1.0, 2.0, 3.0])
    assert value == pytest.approx(3.0 * 14.0 / 3.0)
    assert dx.tolist() == pytest.approx([2.0, 4.0, 6.0])  # d(mean)/dx_i = 2 w x_i / 3
    assert w.grad == pytest.approx(14.0 / 3.0)
    total = trace_batch(lambda x: w * x * x, 1.0, params=[w], reduction="sum")
    value, (dx,) = total([1.0, 2.0, 3.0])
    assert value == pytest.approx(42.0)
    assert dx.tolist() == pytest.approx([6.0, 12.0, 18.0])
    assert w.grad == pytest.approx(14.0 / 3.0 + 14.0)  # added into .grad, as backward() adds


def test_per_example_gradients_are_shaped_like_the_batch() -> None:
    fn = trace_batch(lambda rows, b: rows[0][1] * rows[1][0] + b * b, [[1.0, 2.0], [3.0, 4.0]], 0.0)
    batch = np.arange(8.0).reshape(2, 2, 2)
    value, (d_rows, d_b) = fn(batch, [1.0, 2.0])
    assert value == pytest.approx((1.0 * 2.0 + 5.0 * 6.0 + 1.0 + 4.0) / 2)
    assert d_rows.shape == (2, 2, 2) and d_b.shape == (2,)
    assert d_rows[1].ravel().tolist() == pytest.approx([0.0, 3.0, 2.5, 0.0])
    assert d_b.tolist() == pytest.approx([1.0, 2.0])


def test_a_list_of_examples_and_an_array_give_the_same_results() -> None:
    fn = trace_batch(lambda x, t: (dot(x, [0.5, -1.0]) - t) ** 2, [0.0, 0.0], 0.0)
    xs, ts = [[1.0, 2.0], [3, 4], [0.5, -0.5]], [1, 0.0, 2.0]
    from_lists = fn(xs, ts)
    from_arrays = fn(np.array(xs), np.array(ts))
    assert from_lists[0] == from_arrays[0]
    assert all(np.array_equal(a, b) for a, b in zip(from_lists[1], from_arrays[1], strict=True))


def test_input_gradients_can_be_skipped() -> None:
    w = Value(2.0)
    fn = trace_batch(lambda x: (w * x).tanh(), 0.5, params=[w], input_grads=False)
    value, grads = fn([0.1, 0.2])
    assert grads is None
    assert value == pytest.approx((math.tanh(0.2) + math.tanh(0.4)) / 2)


def test_numbers_that_depend_on_no_example_are_computed_once() -> None:
    # mean of (x_i * w + penalty) = mean(x_i * w) + penalty: the penalty's gradient counts once
    w = Value(0.5)
    fn = trace_batch(lambda x: x * w + w * w * 10.0, 0.0, params=[w])
    value, _ = fn([1.0, 2.0, 3.0, 4.0])
    assert value == pytest.approx(2.5 * 0.5 + 2.5)
    assert w.grad == pytest.approx(2.5 + 10.0)
    w.grad = 0.0
    trace_batch(lambda x: x * w + w * w * 10.0, 0.0, params=[w], reduction="sum")([1.0, 2.0, 3.0, 4.0])
    assert w.grad == pytest.approx(10.0 + 4 * 10.0)


def test_a_function_of_the_parameters_alone() -> None:
    w = Value(3.0)
    for reduction, factor in (("mean", 1.0), ("sum", 4.0)):
        w.grad = 0.0
        value, (dx,) = trace_batch(lambda x: w * w, 1.0, params=[w], reduction=reduction)([1.0] * 4)
        assert value == 9.0 * factor and w.grad == 6.0 * factor
        assert dx.tolist() == [0.0] * 4


def test_returning_an_argument_itself() -> None:
    value, (dx,) = trace_batch(lambda x: x, 1.0)([2.0, 4.0])
    assert value == 3.0 and dx.tolist() == [0.5, 0.5]


def test_every_op_equals_eager_to_rounding() -> None:
    def f(x: Value, y: Value) -> Value:
        terms = [
            x + y, x - y, x * y, x / y, -x, x**3, x**-2, y**0.5, y**x, 2.0**x, 2.0 - x, 3.0 / y,
            x.exp(), x.expm1(), y.log(), x.log1p(), y.sqrt(), x.sin(), x.cos(), x.tan(), x.tanh(),
            x.sigmoid(), x.relu(), (-x).relu(), abs(x), Value.sum([x, y, x]), dot([x, y], [y, x]),
            dot([x, y], [y, x], x), dot([x, y], [0.5, -2.0]), dot([x, y], [0.5, -2.0], y),
        ]  # fmt: skip
        return Value.sum(terms)

    fn = trace_batch(f, 0.3, 1.7)
    xs, ys = [0.3, 0.7, -0.4, 1.2], [1.7, 2.5, 0.2, 0.9]
    value, grads = fn(xs, ys)
    eager_value, eager_grads, _ = eager(f, [xs, ys])
    assert close(value, eager_value)
    assert all_close(np.stack(grads, 1), eager_grads)


@pytest.mark.parametrize("key", sorted(OPS))
def test_every_op_record_runs_over_a_batch_as_in_eager_mode(key: str) -> None:
    # Built from the record alone, so a record added to the table is tested here as it is.
    op = OPS[key]
    f = record_function(op)
    points = record_points(op, 5)
    fn = trace_batch(lambda x: f(*x), points[0])
    assert fn.per_example == 0  # every built-in op has a form on arrays
    value, (dx,) = fn(points[1:])
    eager_value, eager_grads, _ = eager(lambda x: f(*x), [points[1:]])
    assert close(value, eager_value) and all_close(dx, eager_grads)
    assert fn.check(points[1:], examples=4)


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "linear"])
def test_an_mlp_objective_equals_eager_to_rounding(activation: str, fused: bool) -> None:
    from nn import MLP, hinge_loss, l2_penalty

    model = MLP(3, [8, 5, 1], activation=activation, seed=2, fused=fused)
    params = model.parameters()

    def objective(x: list[Value], t: Value) -> Value:
        return hinge_loss([model(x)], [t]) + l2_penalty(params, 1e-3)

    xs = np.random.default_rng(0).uniform(-2.0, 2.0, (20, 3))
    ts = [1.0, -1.0] * 10
    fn = trace_batch(objective, xs[0], 1.0, params=params)
    value, (dx, dt) = fn(xs, ts)
    compiled = [p.grad for p in params]
    eager_value, eager_grads, eager_params = eager(objective, [xs.tolist(), ts], params)
    assert close(value, eager_value)
    assert all_close(compiled, eager_params)
    assert all_close(dx, [g[0] for g in eager_grads]) and all_close(dt, [g[1] for g in eager_grads])


# ---- blocks ------------------------------------------------------------------------------------


def mlp_step(**options: Any) -> tuple[BatchedFunction, list[Value], Any]:
    from nn import MLP, hinge_loss, l2_penalty

    model = MLP(2, [16, 16, 1], seed=1, **options)
    params = model.parameters()

    def objective(x: list[Value], t: Value) -> Value:
        return hinge_loss([model(x)], [t]) + l2_penalty(params, 1e-4)

    return trace_batch(objective, [0.0, 0.0], 1.0, params=params, input_grads=False), params, objective


def test_a_layer_is_one_matrix_product_and_its_activation_one_call() -> None:
    fn, _, _ = mlp_step()
    assert (fn.dot_blocks, fn.elementwise_blocks) == (3, 2)  # 3 layers and 2 relus
    # forward, then dW, db (a product with ones) and dX (none into the input, and the output
    # layer's, one row, is an outer product by broadcasting)
    assert fn.source.count(" @ ") == 3 + 3 + 3 + 1
    products = re.findall(r"(M\d+) = (\w+) @ W\1\.T", fn.source)
    assert [x for _, x in products] == ["_x0", "M3", "M4"]  # each layer reads the last one's matrix
    assert not re.search(r"\bXM", fn.source)  # no matrix stacked from columns
    assert "<compiled trace_batch(" in repr(fn) and "3 matrix products" in repr(fn)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_a_fused_layer_is_one_matrix_product_with_its_activation_on_it(activation: str) -> None:
    fn, _, _ = mlp_step(activation=activation, fused=True)
    assert (fn.dot_blocks, fn.elementwise_blocks) == (3, 0)  # the activations are in the products
    assert fn.per_example == 0  # nothing runs example by example
    products = re.findall(r"(M\d+) = (\w+) @ W\1\.T", fn.source)
    assert products == [("M0", "_x0"), ("M1", "M0"), ("M2", "M1")]
    gated = re.findall(r"(M\d+) = \w+\(\1\)", fn.source)
    assert gated == ["M0", "M1"]  # the gate on each hidden layer's product; the output layer is a plain dot
    # each gradient times its gate's slope, read from the block's own output
    slopes = re.findall(r"(SM(\d+)) = \w+ \* .*\bM\2\b", fn.source)
    assert sorted(name for name, _ in slopes) == ["SM0", "SM1"]


def test_a_fused_neuron_with_one_input_is_a_block_too() -> None:
    # A plain w * x + b is cheaper as one numpy line; a fused node has no such line to fall back on.
    from nn import MLP

    model = MLP(1, [1, 3, 1], activation="tanh", seed=0, fused=True)
    params = model.parameters()
    fn = trace_batch(lambda x: model(x), [0.5], params=params)
    assert fn.dot_blocks == 3 and fn.per_example == 0
    xs = [[-1.0], [0.25], [2.0]]
    value, (dx,) = fn(xs)
    compiled = [p.grad for p in params]
    eager_value, eager_grads, eager_params = eager(lambda x: model(x), [xs], params)
    assert close(value, eager_value) and all_close(compiled, eager_params)
    assert all_close(dx, [g[0] for g in eager_grads])


def test_per_column_numbers_and_a_shared_column() -> None:
    # z_j * a_j (a row of parameters), z_j * s (one batched node for every column), z_j + 1.0
    a = [Value(0.5 + j) for j in range(3)]
    w = [[Value(0.1 * (i + j)) for i in range(2)] for j in range(3)]
    params = [*a, *[v for row in w for v in row]]

    def f(x: list[Value]) -> Value:
        z = [dot(row, x) for row in w]
        s = x[0] * x[1]
        return Value.sum(
            [*[zj * aj for zj, aj in zip(z, a, strict=True)], *[zj * s for zj in z]]
        ) + Value.sum([(zj + 1.0).tanh() for zj in z])

    fn = trace_batch(f, [0.0, 0.0], params=params)
    assert fn.dot_blocks == 1 and fn.elementwise_blocks == 4  # * a_j, * s, + 1.0, tanh
    xs = [[0.3, -1.2], [2.0, 0.5], [-0.7, -0.1]]
    value, (dx,) = fn(xs)
    compiled = [p.grad for p in params]
    eager_value, eager_grads, eager_params = eager(f, [xs], params)
    assert close(value, eager_value)
    assert all_close(compiled, eager_params) and all_close(dx, eager_grads)


def test_dots_with_constant_inputs_repeated_inputs_and_part_of_a_block() -> None:
    p, q = Value(0.3), Value(-0.8)

    def f(x: list[Value]) -> Value:
        constant_inputs = dot(x, [1.0, 2.0, 3.0])  # the batched side is the weights'
        repeated = dot([p, q, p], [x[0], x[1], x[0]], q)
        part = dot([q, p], [x[2], x[0]])  # two of the argument's three columns
        return constant_inputs * repeated + part

    fn = trace_batch(f, [0.0, 0.0, 0.0], params=[p, q])
    assert fn.dot_blocks == 3 and not re.search(r"\bXM", fn.source)
    xs = [[0.5, 1.5, -2.0], [1.0, -1.0, 0.25]]
    value, (dx,) = fn(xs)
    compiled = [p.grad, q.grad]
    eager_value, eager_grads, eager_params = eager(f, [xs], [p, q])
    assert close(value, eager_value)
    assert all_close(compiled, eager_params) and all_close(dx, eager_grads)


def test_a_dot_over_columns_of_several_blocks_stacks_them() -> None:
    w = [Value(0.5), Value(-1.5), Value(2.0)]
    fn = trace_batch(lambda x, y: dot(w, [x.sin(), y, x * y]), 0.0, 0.0, params=w)
    assert fn.dot_blocks == 1 and re.search(r"XM0 = _k\d+\(\[", fn.source)  # X stacked from columns
    xs, ys = [0.1, 0.2, 0.3], [1.0, -1.0, 2.0]
    value, grads = fn(xs, ys)
    compiled = [v.grad for v in w]
    eager_value, eager_grads, eager_params = eager(lambda x, y: dot(w, [x.sin(), y, x * y]), [xs, ys], w)
    assert close(value, eager_value)
    assert all_close(compiled, eager_params) and all_close(np.stack(grads, 1), eager_grads)


# ---- aux ---------------------------------------------------------------------------------------------


def test_aux_comes_back_batched() -> None:
    w = Value(2.0)

    def f(x: list[Value]) -> tuple[Value, Any]:
        y = [x[0] * w, x[1] + 1.0]
        return y[0] + y[1], (y, "note", w * 3.0)

    fn = trace_batch(f, [0.0, 0.0], params=[w], has_aux=True)
    (value, (outputs, note, scaled)), _ = fn([[1.0, 2.0], [3.0, 4.0]])
    assert value == pytest.approx((2.0 + 3.0 + 6.0 + 5.0) / 2)
    assert [o.tolist() for o in outputs] == [[2.0, 6.0], [3.0, 5.0]]
    assert note == "note" and scaled.tolist() == [6.0, 6.0]


# ---- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("batches", "error", "message"),
    [
        (([1.0],), TypeError, r"trace_batch\(.*\) takes 2 batched arguments, got 1"),
        (([1.0, 2.0], [[1.0, 2.0]]), ValueError, r"argument 1 holds 1 examples, argument 0 holds 2"),
        (([], np.zeros((0, 2))), ValueError, r"the batch is empty"),
        (
            ([[1.0, 2.0]], [[1.0, 2.0]]),
            ValueError,
            r"argument 0: traced with examples of shape \(\), so .* \(B,\), got",
        ),
        (
            ([1.0], [[1.0, 2.0], [3.0]]),
            ValueError,
            r"argument 1: the examples have different shapes \(ragged",
        ),
        (([1.0], [[1.0, 2.0, 3.0]]), ValueError, r"argument 1: traced with examples of shape \(2,\)"),
        (([1.0], [["a", "b"]]), TypeError, r"argument 1 must hold real numbers"),
        (([Value(1.0)], [[1.0, 2.0]]), TypeError, r"argument 0 holds Values"),
        ((1.0, [[1.0, 2.0]]), TypeError, r"argument 0 must be a batch: .* got float 1.0"),
        (("ab", [[1.0, 2.0]]), TypeError, r"argument 0 must be a batch"),
    ],
)
def test_bad_batches(batches: tuple[Any, ...], error: type[Exception], message: str) -> None:
    fn = trace_batch(lambda x, y: x * y[0] + y[1], 1.0, [2.0, 3.0])
    with pytest.raises(error, match=message):
        fn(*batches)


def test_bad_trace_arguments() -> None:
    with pytest.raises(TypeError, match="trace_batch expects a function, got int 3"):
        trace_batch(3, 1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs one example's arguments"):
        trace_batch(lambda: Value(1.0))
    with pytest.raises(ValueError, match="unknown reduction 'max'"):
        trace_batch(lambda x: x, 1.0, reduction="max")
    with pytest.raises(ValueError, match="argument 0 must be a number or a rectangular list"):
        trace_batch(lambda x: x[0][0], [[1.0, 2.0], [3.0]])
    with pytest.raises(TypeError, match="argument 0 is a Value"):
        trace_batch(lambda x: x, Value(1.0))
    with pytest.raises(CompileError, match=r"must return a Value, got float 2\.0"):
        trace_batch(lambda x: 2.0, 1.0)
    with pytest.raises(CompileError, match=r"has_aux=True the function returns \(value, aux\)"):
        trace_batch(lambda x: x, 1.0, has_aux=True)
    a = Value(1.0)
    with pytest.raises(ValueError, match=r"params\[0\] = .* was made by op '\*'"):
        trace_batch(lambda x: x, 1.0, params=[a * 2.0])


def test_an_op_error_is_the_engines_error_for_the_first_failing_example() -> None:
    w = Value(1.0)
    fn = trace_batch(lambda x: (x * w - 1.0).log(), 2.0, params=[w])
    with pytest.raises(ValueError, match=r"log of non-positive value -1.0 \(op 'log'\)") as caught:
        fn([3.0, 0.0, -5.0])
    assert "example 1 of the batch" in "".join(getattr(caught.value, "__notes__", ["example 1 of the batch"]))
    assert w.grad == 0.0  # the failed call changed no gradient
    with pytest.raises(ZeroDivisionError, match="op '/'"):
        trace_batch(lambda x: 1.0 / x, 2.0)([1.0, 0.0])
    with pytest.raises(OverflowError, match="op 'exp'"):
        trace_batch(lambda x: x.exp(), 2.0)([1.0, 1000.0])
    with pytest.raises(ValueError, match=r"log of non-positive value nan"):
        trace_batch(lambda x: x.log(), 2.0)([1.0, math.nan])  # numpy passes nan through; the engine does not


def test_numbers_that_python_floats_let_through_come_through() -> None:
    # x * 1e300 * 1e300 overflows to inf without an error in eager mode: so it does here
    fn = trace_batch(lambda x: x * 1e300 * 1e300, 1.0)
    value, (dx,) = fn([1.0, 2.0])
    assert value == math.inf and dx.tolist() == [math.inf, math.inf]
    value, _ = trace_batch(lambda x: x * 0.0 + x.sqrt(), 1.0)([0.0, 4.0])  # sqrt's gradient is inf at 0
    assert value == 1.0


def test_a_node_whose_gradient_is_zero_passes_nothing_on_as_in_eager_mode() -> None:
    # relu sends 0 back at x = 0, and sqrt's local gradient there is inf: backward() skips the
    # node rather than make 0 * inf = nan, and so does the compiled code, example by example
    f = lambda x: (x.sqrt() - 1.0).relu()  # noqa: E731
    value, (dx,) = trace_batch(f, 1.0)([0.0, 4.0])
    assert value == 0.5 and dx.tolist() == [0.0, 0.125]
    assert eager(f, [[0.0, 4.0]])[1] == [[0.0], [0.125]]


def test_a_failure_the_eager_function_does_not_have_is_a_mismatch() -> None:
    def f(x: Value) -> Value:
        return x.log() if x.data > 0 else x * 2.0

    fn = trace_batch(f, 1.0)
    with pytest.raises(TraceMismatchError, match=r"example 1: node 1 was 'log' .* now '\*'"):
        fn([1.0, -1.0])


def test_without_numpy_autograd_imports_and_trace_batch_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "numpy", None)
    with pytest.raises(ImportError, match=r"pip install 'chainrule\[fast\]'"):
        trace_batch(lambda x: x, 1.0)
    code = (
        "import sys; sys.modules['numpy'] = None; import autograd, nn; print(autograd.trace(abs, 1.0)(-2.0))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(2.0, (-1.0,))"


# ---- check --------------------------------------------------------------------------------------------


def test_check_passes_and_leaves_gradients_alone() -> None:
    fn, params, _ = mlp_step()
    params[0].grad = 0.5
    assert fn.check([[0.5, 1.0], [-1.0, 0.2], [2.0, 0.0], [0.1, 0.1]], [1.0, -1.0, 1.0, -1.0])
    assert params[0].grad == 0.5 and params[1].grad == 0.0


def test_check_finds_a_branch_on_the_data() -> None:
    fn = trace_batch(lambda x: x * x if x.data > 0 else x.exp(), 1.0)
    assert fn.check([2.0, 3.0])
    with pytest.raises(TraceMismatchError, match=r"example 1: node 1 was '\*' .* now 'exp'"):
        fn.check([2.0, -1.0])


def test_check_finds_a_parameter_missing_from_params() -> None:
    w = Value(2.0, label="w")
    fn = trace_batch(lambda x: w * x, 1.0)
    w.data = 4.0
    with pytest.raises(TraceMismatchError, match=r"constant leaf .*label='w'.* held 2.0 .* params="):
        fn.check([3.0])
    with pytest.raises(ValueError, match="examples must be a positive integer"):
        fn.check([3.0], examples=0)


# ---- primitives, new ops and rules ---------------------------------------------------------------------


def _softplus_rule(m: Any, out: Any, a: Any) -> tuple[Any]:
    return (m.sigmoid(a),)


def _softplus(a: float) -> float:
    return math.log1p(math.exp(-abs(a))) + max(a, 0.0)


softplus = primitive("softplus", _softplus_rule)(_softplus)


def _softplus_on_arrays(a: Any) -> Any:
    return np.log1p(np.exp(-np.abs(a))) + np.maximum(a, 0.0)


def test_a_primitive_without_a_numpy_form_runs_example_by_example() -> None:
    f = lambda x: softplus(x * x) * x  # noqa: E731
    xs = [-1.3, 0.2, 2.0]
    fn = trace_batch(f, 0.5)
    assert fn.per_example == 1  # its forward; its rule runs on arrays
    value, (dx,) = fn(xs)
    eager_value, eager_grads, _ = eager(f, [xs])
    assert close(value, eager_value) and all_close(dx, eager_grads)


def test_a_primitive_with_a_numpy_form_runs_on_arrays() -> None:
    fast = primitive("softplus", _softplus_rule, numpy=_softplus_on_arrays)(_softplus)
    f = lambda x: fast(x * x) * x  # noqa: E731
    xs = [-1.3, 0.2, 2.0, -40.0]
    fn = trace_batch(f, 0.5)
    assert fn.per_example == 0
    value, (dx,) = fn(xs)
    eager_value, eager_grads, _ = eager(f, [xs])
    assert close(value, eager_value) and all_close(dx, eager_grads)


def test_a_primitive_s_domain_is_checked_as_in_eager_mode() -> None:
    @primitive(
        "half_log",
        lambda m, out, a: (0.5 / a,),
        numpy=lambda a: 0.5 * np.log(a),
        domain=lambda a: a > 0.5,
        error=lambda a: ValueError(f"half_log of {a!r} <= 0.5"),
    )
    def half_log(a: float) -> float:
        return 0.5 * math.log(a)

    fn = trace_batch(lambda x: half_log(x), 2.0)
    value, (dx,) = fn([1.0, 4.0])
    assert close(value, 0.25 * math.log(4.0)) and all_close(dx, [0.25, 0.0625])
    with pytest.raises(ValueError, match=r"half_log of 0\.25 <= 0\.5 \(op 'half_log'\)"):
        fn([1.0, 0.25])  # numpy's log takes 0.25; the op's domain does not


def _atan_rule(m: Any, out: Any, a: Any) -> tuple[Any]:
    return (1.0 / (1.0 + a * a),)  # d(atan a)/da = 1 / (1 + a^2)


@pytest.mark.parametrize(
    "atan",
    [
        Op("atan", math.atan, _atan_rule, numpy=np.arctan),
        primitive("atan", _atan_rule, numpy=np.arctan)(math.atan),
    ],
    ids=["Op", "primitive"],
)
def test_a_new_op_made_as_one_record_runs_on_arrays(atan: Op) -> None:
    w = [Value(0.5), Value(-1.5), Value(0.25)]

    def f(x: list[Value]) -> Value:
        # a layer of atan gates on a dot block's columns (one call on its matrix), and one on a node
        hidden = [atan(z) for z in dots([w[:2], w[1:], w[::2]], x, w)]
        return dot(w, hidden) + atan(x[0] * x[1]).exp()

    fn = trace_batch(f, [0.1, 0.2], params=w)
    assert fn.per_example == 0 and fn.elementwise_blocks >= 1
    xs = [[0.3, -1.2], [2.0, 0.5], [-0.7, -0.1], [1e-8, 3.0]]
    value, (dx,) = fn(xs)
    compiled = [v.grad for v in w]
    eager_value, eager_grads, eager_params = eager(f, [xs], w)
    assert close(value, eager_value)
    assert all_close(compiled, eager_params) and all_close(dx, eager_grads)


def test_an_op_whose_numpy_form_is_unknown_is_a_compile_error_naming_it() -> None:
    mystery = Op("mystery", math.atan, _atan_rule, numpy="no_such_function")
    with pytest.raises(CompileError, match=r"op 'mystery' names 'no_such_function' as its numpy form"):
        trace_batch(lambda x: mystery(x), 1.0)


def test_a_rule_that_branches_runs_on_numbers_example_by_example() -> None:
    def rule(m: Any, out: Any, a: Any) -> tuple[float]:
        return (1.0 if a > 0 else -3.0,)

    def leaky(a: float) -> float:
        return a if a > 0 else -3.0 * a

    op = primitive("leaky", rule)(leaky)
    fn = trace_batch(lambda x: op(x) * x, 1.0, reduction="sum")
    assert fn.per_example == 2  # its forward and its rule
    value, (dx,) = fn([2.0, -2.0])
    assert value == 4.0 - 12.0
    assert dx.tolist() == [4.0, 12.0]


def test_a_sum_with_plain_numbers_over_a_batch() -> None:
    f = lambda x, y: Value.sum([x, 0.1, y * x, 2.5])  # noqa: E731
    xs, ys = [1.0, 0.3, -2.0], [2.0, -0.7, 0.5]
    value, grads = trace_batch(f, 1.0, 1.0)(xs, ys)
    eager_value, eager_grads, _ = eager(f, [xs, ys])
    assert close(value, eager_value) and all_close(np.stack(grads, 1), eager_grads)


VALUES = [-2.0, -0.0, 0.0, 1e-300, 0.5, 3.0, math.inf, -math.inf, math.nan]


def agrees(got: float, expected: float) -> bool:
    return got == expected or (math.isnan(got) and math.isnan(expected)) or close(got, expected)


@pytest.mark.parametrize(
    "name", ["exp", "log", "sin", "cos", "tanh", "sqrt", "sigmoid", "step", "sign", "data"]
)
def test_numpy_math_agrees_with_float_math(name: str) -> None:
    with np.errstate(all="ignore"):
        ours = getattr(numpy_math(), name)(np.array(VALUES))
    for x, got in zip(VALUES, ours, strict=True):
        try:
            expected = getattr(FLOAT_MATH, name)(x)
        except (ValueError, OverflowError):
            continue  # math raises where numpy gives nan or inf; the forward never gets there
        assert agrees(got, expected), (x, got)


NAMED_FORMS = {key: op for key, op in OPS.items() if isinstance(op.numpy, str)}


@pytest.mark.parametrize("key", sorted(NAMED_FORMS))
def test_every_op_s_numpy_form_agrees_with_its_forward(key: str) -> None:
    op = NAMED_FORMS[key]
    with np.errstate(all="ignore"):
        ours = getattr(numpy_math(), str(op.numpy))(np.array(VALUES))
    for x, got in zip(VALUES, ours, strict=True):
        if op.domain is not None and not op.domain(x):
            continue  # the engine raises there
        try:
            expected = op.forward(x)
        except (ValueError, OverflowError):
            continue  # math raises where numpy gives nan or inf: the engine raises there too
        assert agrees(got, expected), (x, got, expected)


@pytest.mark.parametrize("name", ["pow", "xlogy"])
def test_numpy_math_of_two_agrees_with_float_math(name: str) -> None:
    pairs = []
    for x in [0.0, 0.5, 2.0, -2.0]:
        for y in [-1.0, 0.0, 0.5, 2.0, -3.0]:
            with contextlib.suppress(TypeError):  # a negative base to a fractional power: complex
                pairs.append((x, y, float(getattr(FLOAT_MATH, name)(x, y))))
    with np.errstate(all="raise"):  # as the generated code runs it
        ours = getattr(numpy_math(), name)(np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))
    for (x, y, expected), got in zip(pairs, ours, strict=True):
        assert got == expected or (math.isnan(got) and math.isnan(expected)) or close(got, expected), (x, y)


# ---- the generated source ---------------------------------------------------------------------------

HOSTILE = "__import__('os').system('echo owned') # \" '''"
GENERATED_NAME = re.compile(
    r"^(_batched|_a|_B|_strict|_value|_aux|_seed|_x\d+|_[ktlur]\d+|[vg]\d+|[WBXGS]?M\d+|d[WBX]M\d+|M\d+_\d+"
    r"|GM\d+|G_x\d+|data|grad|T|ravel|tolist|sum|mean|reshape|copy)$"
)


def test_the_source_holds_only_numbers_and_generated_names() -> None:
    w = Value(0.5, label=HOSTILE)
    hostile = primitive(HOSTILE, _softplus_rule)(_softplus)

    def f(x: list[Value], y: Value) -> Value:
        x[0].label = HOSTILE
        z = hostile(x[0] * w) + dot([x[0], y], [1.5, -2.0], w) ** 2 + (y / 3.0).exp() + dot([w, w], x).relu()
        z = z + Value.sum([z, 2.0]).log() + dot([w, w], x, activation="tanh")
        z.label = HOSTILE
        return z

    fn = trace_batch(f, [0.3, 0.1], 0.7, params=[w])
    source = fn.source
    assert "owned" not in source and "import" not in source and "softplus" not in source
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        assert token.type != tokenize.STRING
        if token.type == tokenize.NAME:
            assert keyword.iskeyword(token.string) or GENERATED_NAME.match(token.string), token.string
        if token.type == tokenize.NUMBER:
            float(token.string)


def test_trace_batch_is_part_of_the_public_api() -> None:
    assert autograd.trace_batch is trace_batch and "trace_batch" in autograd.__all__
    assert "BatchedFunction" not in autograd.__all__  # it lives in autograd.batched
