"""The worked examples of the course notes, with their exact numbers (worked-examples.md)."""

from __future__ import annotations

import math

import pytest

from autograd import Value, gradcheck, primitive
from autograd.gradcheck import GradcheckError


def exact(x: float) -> object:
    return pytest.approx(x, rel=1e-9)


def rounded(x: float) -> object:
    # Tables of section 3 are printed to 8 places.
    return pytest.approx(x, abs=5e-9)


# ---- 1. Apple price: two multiply gates ------------------------------------------


def apple(x: float = 100.0, m: float = 2.0, t: float = 1.1) -> dict[str, Value]:
    nodes = {"x": Value(x, "x"), "m": Value(m, "m"), "t": Value(t, "t")}
    nodes["z"] = nodes["x"] * nodes["m"]
    nodes["f"] = nodes["z"] * nodes["t"]
    nodes["L"] = 0.5 * (nodes["f"] - 219.0) ** 2
    return nodes


def test_apple_price_forward() -> None:
    v = apple()
    assert v["z"].data == 200.0
    assert v["f"].data == 220.00000000000003  # float64, as the worked example notes
    assert v["L"].data == exact(0.5)


def test_apple_price_backward_gate_by_gate() -> None:
    v = apple()
    v["L"].backward()
    assert v["f"].grad == exact(1.0)  # f - 219
    assert v["t"].grad == exact(200.0)  # dL/df * z
    assert v["z"].grad == exact(1.1)  # dL/df * t
    assert v["x"].grad == exact(2.2)  # dL/dz * m
    assert v["m"].grad == exact(110.0)  # dL/dz * x


def test_apple_price_gradients_of_f_itself() -> None:
    v = apple()
    v["f"].backward()
    assert (v["x"].grad, v["m"].grad, v["t"].grad) == (exact(2.2), exact(110.0), exact(200.0))


def test_apple_price_perturbations() -> None:
    assert apple(x=101.0)["f"].data == exact(222.2)
    assert apple(m=3.0)["f"].data == exact(330.0)
    assert apple(t=1.11)["f"].data == exact(222.0)


# ---- 2. Add and multiply gates ---------------------------------------------------


def test_add_gate_passes_upstream_gradient_unchanged() -> None:
    a, b = Value(3.0), Value(-7.0)
    out = a + b
    out.backward(gradient=1.3)
    assert (a.grad, b.grad) == (1.3, 1.3)


def test_multiply_gate_swaps_its_inputs() -> None:
    a, b = Value(3.0), Value(-7.0)
    out = a * b
    out.backward(gradient=2.0)
    assert (a.grad, b.grad) == (2.0 * -7.0, 2.0 * 3.0)


def test_several_upstream_gradients_add_up() -> None:
    x = Value(3.0)
    y = x * x + x
    y.backward()
    assert x.grad == 7.0  # 2*3 + 1


# ---- 3. The 2-2-2 sigmoid network, one step of gradient descent -------------------

WEIGHTS = {"W1": 0.3, "W2": 0.25, "W3": 0.4, "W4": 0.35, "W5": 0.45, "W6": 0.4, "W7": 0.7, "W8": 0.6}


def network(w: dict[str, Value], x1: float = 0.1, x2: float = 0.2) -> dict[str, Value]:
    t1, t2 = 0.4, 0.6
    n: dict[str, Value] = {}
    n["z1"] = w["W1"] * x1 + w["W2"] * x2
    n["z2"] = w["W3"] * x1 + w["W4"] * x2
    n["h1"], n["h2"] = n["z1"].sigmoid(), n["z2"].sigmoid()
    n["z3"] = w["W5"] * n["h1"] + w["W6"] * n["h2"]
    n["z4"] = w["W7"] * n["h1"] + w["W8"] * n["h2"]
    n["o1"], n["o2"] = n["z3"].sigmoid(), n["z4"].sigmoid()
    n["E_o1"] = 0.5 * (t1 - n["o1"]) ** 2
    n["E_o2"] = 0.5 * (t2 - n["o2"]) ** 2
    n["E"] = n["E_o1"] + n["E_o2"]
    return n


def test_network_forward_table() -> None:
    n = network({k: Value(v, k) for k, v in WEIGHTS.items()})
    table = {
        "z1": 0.08,
        "z2": 0.11,
        "h1": 0.51998934,
        "h2": 0.52747230,
        "z3": 0.44498412,
        "z4": 0.68047592,
        "o1": 0.60944600,
        "o2": 0.66384491,
        "E": 0.02397190,
        "E_o1": 0.02193381,
        "E_o2": 0.00203809,
    }
    for name, expected in table.items():
        assert n[name].data == rounded(expected), name


def test_network_backward_for_w5_link_by_link() -> None:
    w = {k: Value(v, k) for k, v in WEIGHTS.items()}
    n = network(w)
    n["E"].backward()
    assert n["o1"].grad == rounded(0.20944600)  # dE/do1 = o1 - t1
    assert n["o1"].local_grads()[0] == rounded(0.23802157)  # do1/dz3 = o1 (1 - o1)
    assert n["h1"].data == rounded(0.51998934)  # dz3/dW5 = h1
    assert w["W5"].grad == rounded(0.02592286)


def test_network_one_step_of_gradient_descent() -> None:
    w = {k: Value(v, k) for k, v in WEIGHTS.items()}
    network(w)["E"].backward()
    for p in w.values():
        p.data -= 0.5 * p.grad
    updated = {
        "W1": 0.29959556,
        "W2": 0.24919112,
        "W3": 0.39964496,
        "W4": 0.34928991,
        "W5": 0.43703857,
        "W6": 0.38685205,
        "W7": 0.69629578,
        "W8": 0.59624247,
    }
    for name, expected in updated.items():
        assert w[name].data == rounded(expected), name
    new_error = network(w)["E"].data
    assert new_error == rounded(0.02323634)
    assert 0.02397190 - new_error == pytest.approx(0.0007, abs=5e-5)


# ---- 5. Softmax with cross-entropy --------------------------------------------------


def softmax_cross_entropy(scores: list[Value], target: list[float]) -> tuple[list[Value], Value]:
    shift = max(s.data for s in scores)  # a constant shift keeps exp from overflowing
    exps = [(s - shift).exp() for s in scores]
    total = Value.sum(exps)
    probs = [e / total for e in exps]
    loss = -Value.sum([t * p.log() for t, p in zip(target, probs, strict=True) if t])
    return probs, loss


def test_softmax_cross_entropy_gradient_is_y_minus_t() -> None:
    a = [Value(0.3), Value(2.9), Value(4.0)]
    t = [0.0, 0.0, 1.0]
    y, loss = softmax_cross_entropy(a, t)
    loss.backward()
    assert [p.data for p in y] == [rounded(0.01821127), rounded(0.24519181), rounded(0.73659691)]
    assert loss.data == rounded(0.30571446)
    assert [s.grad for s in a] == [rounded(0.01821127), rounded(0.24519181), rounded(-0.26340309)]
    for s, p, tk in zip(a, y, t, strict=True):
        assert s.grad == exact(p.data - tk)


# ---- 6. Numerical gradient check -------------------------------------------------


def test_two_layer_network_gradients_agree_with_numerical_ones() -> None:
    def loss(*w: Value) -> Value:
        return network(dict(zip(WEIGHTS, w, strict=True)))["E"]

    assert gradcheck(loss, list(WEIGHTS.values()))


def wrong_exp(factor: float):
    @primitive("wrong_exp", lambda m, out, a: (out * factor,))  # the true local gradient is `out`
    def wrong_exp(a: float) -> float:
        return math.exp(a)

    return wrong_exp


def test_gradcheck_catches_a_derivative_off_by_a_tenth_of_a_percent() -> None:
    # Central differences in float64 are good to about 1e-9 here, so a 1e-4 relative
    # tolerance is safe and exposes a 0.1% error (the default rtol=1e-3 sits exactly
    # on it; defaults catch 1%, below).
    off = wrong_exp(1.001)
    assert gradcheck(lambda a, b: a.exp() + b, [1.5, 0.2], rtol=1e-4)
    with pytest.raises(GradcheckError) as caught:
        gradcheck(lambda a, b: off(a) + b, [1.5, 0.2], rtol=1e-4)
    (mismatch,) = caught.value.mismatches
    assert mismatch.index == 0
    assert mismatch.analytic == pytest.approx(math.exp(1.5) * 1.001, rel=1e-12)
    assert mismatch.numerical == pytest.approx(math.exp(1.5), rel=1e-8)
    assert "input 0" in str(caught.value) and "central difference" in str(caught.value)


def test_gradcheck_defaults_catch_a_derivative_off_by_one_percent() -> None:
    off = wrong_exp(1.01)
    with pytest.raises(GradcheckError, match="gradient check failed for 2 input"):
        gradcheck(lambda a, b: off(a) * off(b), [0.5, -0.3])


# ---- 7. Sigmoid and ReLU derivatives ---------------------------------------------


@pytest.mark.parametrize("x", [-3.0, -0.5, 0.0, 0.5, 3.0])
def test_sigmoid_derivative_is_s_times_one_minus_s(x: float) -> None:
    v = Value(x)
    s = v.sigmoid()
    s.backward()
    assert v.grad == exact(s.data * (1.0 - s.data))


@pytest.mark.parametrize(("x", "slope"), [(-2.0, 0.0), (-1e-12, 0.0), (0.0, 0.0), (1e-12, 1.0), (2.0, 1.0)])
def test_relu_derivative_is_one_above_zero_else_zero(x: float, slope: float) -> None:
    v = Value(x)
    v.relu().backward()
    assert v.grad == slope
