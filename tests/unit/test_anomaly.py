"""detect_anomaly(): the first non-finite value or gradient stops the program at the op that made it."""

from __future__ import annotations

import math
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from autograd import AnomalyError, Value, detect_anomaly, primitive
from autograd.anomaly import is_anomaly_enabled
from autograd.functional import grad

HERE = Path(__file__)


def line_of(marker: str) -> int:
    """The line of this file that carries `marker` in a comment."""
    lines = HERE.read_text(encoding="utf-8").splitlines()
    (number,) = [i for i, line in enumerate(lines, start=1) if line.rstrip().endswith(f"# {marker}")]
    return number


def site(marker: str) -> str:
    return re.escape(f"{HERE}:{line_of(marker)}")


def test_off_by_default_and_on_only_inside_the_block() -> None:
    assert not is_anomaly_enabled()
    with detect_anomaly():
        assert is_anomaly_enabled()
        with detect_anomaly():
            assert is_anomaly_enabled()
        assert is_anomaly_enabled()
    assert not is_anomaly_enabled()
    big = Value(1e308) * 10.0  # outside the block, inf is just a value
    assert big.data == math.inf


def test_a_non_finite_forward_value_names_the_op_and_where_it_was_made() -> None:
    big = Value(1e308)
    with detect_anomaly(), pytest.raises(AnomalyError) as caught:
        big * 10.0  # forward overflow
    message = str(caught.value)
    assert "op '*' produced inf from input(s) (1e+308, 10.0)" in message
    assert re.search(site("forward overflow"), message)
    assert "test_a_non_finite_forward_value_names_the_op" in message


def test_nan_from_a_leaf_stops_at_the_first_op_that_uses_it() -> None:
    with detect_anomaly(), pytest.raises(AnomalyError, match=r"op '\+' produced nan"):
        Value(math.nan) + 1.0


def test_a_non_finite_gradient_names_the_op_whose_gate_made_it() -> None:
    with detect_anomaly():
        x = Value(0.0)
        root = x.sqrt()  # sqrt at 0
        out = root * 2.0 + 1.0
        with pytest.raises(AnomalyError) as caught:
            out.backward()
    message = str(caught.value)
    assert "backward of op 'sqrt'" in message
    assert re.search(site("sqrt at 0"), message)
    assert "passed the non-finite gradient inf to its input 0" in message
    assert "upstream gradient 2.0 times local gradient inf" in message
    assert x.grad == 0.0 and out.grad == 0.0  # nothing half-written


def test_a_gradient_that_overflows_in_a_float_pass() -> None:
    with detect_anomaly():
        x = Value(700.0)
        y = x.exp()  # e^700 is finite
        with pytest.raises(AnomalyError, match=r"backward of op 'exp' .*" + site("e^700 is finite")):
            y.backward(1e10)


def test_a_gradient_that_overflows_while_building_the_gradient_graph() -> None:
    with detect_anomaly():
        x = Value(700.0)
        y = x.exp()  # made here, differentiated with create_graph
        with pytest.raises(AnomalyError) as caught:
            y.backward(1e10, create_graph=True)
    message = str(caught.value)
    assert message.startswith("in the backward of op 'exp': op '*' produced inf")
    assert "test_a_gradient_that_overflows_while_building" in message


def test_paths_that_overflow_only_when_summed() -> None:
    with detect_anomaly():
        x = Value(1.0)
        u, v = x + 0.0, x - 0.0
        with pytest.raises(
            AnomalyError, match=r"gradient of Value\(data=1.0.*made by a leaf, is inf after summing"
        ):
            grad([u, v], x, [1e308, 1e308])


def test_a_hook_returning_nan_is_caught() -> None:
    with detect_anomaly():
        x = Value(2.0)
        y = x * x
        y.register_hook(lambda g: math.nan)
        with pytest.raises(AnomalyError, match=r"made by op '\*' .* is nan as its hooks returned it"):
            (y + 1.0).backward()


def test_a_non_finite_seed_is_caught() -> None:
    with detect_anomaly():
        y = Value(2.0) * 3.0
        with pytest.raises(AnomalyError, match=r"made by op '\*' .* is nan after summing"):
            y.backward(math.nan)


def test_ops_made_before_the_block_have_no_recorded_site() -> None:
    x = Value(0.0)
    root = x.sqrt()
    with detect_anomaly(), pytest.raises(AnomalyError, match=r"unknown place \(made outside detect_anomaly"):
        root.backward()


def test_gradients_of_finite_graphs_are_unchanged() -> None:
    def run() -> list[float]:
        a, b = Value(0.3), Value(-1.2)
        ((a * b).tanh() / (b * b + 1.0) + a.exp()).backward()
        return [a.grad, b.grad]

    plain = run()
    with detect_anomaly():
        checked = run()
    assert checked == plain


def test_the_mode_belongs_to_the_thread_that_turned_it_on() -> None:
    results: list[float] = []

    def other_thread() -> None:
        results.append((Value(1e308) * 10.0).data)  # no anomaly mode here

    with detect_anomaly():
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
    assert results == [math.inf]


@primitive("reciprocal", lambda m, out, a: (-out * out,))  # d(1/a)/da = -1/a^2
def reciprocal(a: float) -> float:
    return 1.0 / a if a != 0.0 else math.inf


def test_a_user_op_is_named_forward_and_backward() -> None:
    with detect_anomaly():
        with pytest.raises(AnomalyError, match=r"op 'reciprocal' produced inf from input\(s\) \(0.0\)"):
            reciprocal(Value(0.0))
        tiny = reciprocal(Value(1e-200))  # 1e200: finite, but its local gradient is not
        with pytest.raises(
            AnomalyError,
            match=r"backward of op 'reciprocal' .*" + site("1e200: finite, but its local gradient is not"),
        ):
            tiny.backward()


def test_anomaly_mode_in_another_thread_leaves_this_ones_backward_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    from autograd import general

    general_passes: list[str] = []
    original = general.backward

    def watched(*args: Any) -> None:
        general_passes.append(threading.current_thread().name)
        original(*args)

    monkeypatch.setattr(general, "backward", watched)
    inside, done = threading.Event(), threading.Event()

    def other() -> None:
        with detect_anomaly():
            inside.set()
            done.wait(5)

    thread = threading.Thread(target=other)
    thread.start()
    inside.wait(5)
    try:
        x = Value(1.0)
        (x * 1e-16 + x * 1e-16).backward()  # this thread is not in anomaly mode: the float pass
    finally:
        done.set()
        thread.join()
    assert general_passes == [] and x.grad == 2e-16
