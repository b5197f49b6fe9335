"""Losses by hand-computed numbers: MSE conventions, hinge, stable cross-entropies, L2."""

from __future__ import annotations

import math

import pytest

from autograd import Value, gradcheck
from nn import (
    binary_cross_entropy,
    hinge_loss,
    l2_penalty,
    log_softmax,
    logsumexp,
    mse_loss,
    softmax,
    softmax_cross_entropy,
)


def values(*xs: float) -> list[Value]:
    return [Value(x) for x in xs]


def test_mse_mean_half_sum_and_sum() -> None:
    outs = values(1.0, 2.0, 4.0)
    targets = [0.0, 2.5, 1.0]
    squares = 1.0 + 0.25 + 9.0
    assert mse_loss(outs, targets).data == pytest.approx(squares / 3)
    assert mse_loss(outs, targets, reduction="half_sum").data == pytest.approx(0.5 * squares)
    assert mse_loss(outs, targets, reduction="sum").data == pytest.approx(squares)


def test_mse_gradients_of_each_convention() -> None:
    for reduction, factor in (("mean", 2.0 / 2), ("half_sum", 1.0), ("sum", 2.0)):
        outs = values(3.0, -1.0)
        mse_loss(outs, [1.0, 1.0], reduction=reduction).backward()
        # d/do of (o - t)^2 is 2 (o - t); the 0.5*sum convention leaves o - t.
        assert [o.grad for o in outs] == [pytest.approx(factor * 2.0), pytest.approx(factor * -2.0)]


def test_mse_takes_a_batch_of_vectors() -> None:
    batch = [values(1.0, 2.0), values(3.0, 4.0)]
    assert mse_loss(batch, [[1.0, 1.0], [1.0, 1.0]]).data == pytest.approx((0 + 1 + 4 + 9) / 4)
    assert mse_loss(Value(3.0), 1.0).data == 4.0


def test_mse_errors() -> None:
    with pytest.raises(ValueError, match="mse_loss: 2 outputs but 1 targets"):
        mse_loss(values(1.0, 2.0), [1.0])
    with pytest.raises(ValueError, match="mse_loss: unknown reduction 'avg'"):
        mse_loss(values(1.0), [1.0], reduction="avg")
    with pytest.raises(ValueError, match="mse_loss: a target must be a finite number, got nan"):
        mse_loss(values(1.0), [math.nan])
    with pytest.raises(TypeError, match="mse_loss: expected numbers, Values or lists of them, got str"):
        mse_loss(values(1.0), "1")
    with pytest.raises(ValueError, match="mse_loss: no outputs"):
        mse_loss([], [])


def test_hinge_loss_is_micrograds_max_margin_loss() -> None:
    scores = values(2.0, 0.5, -0.25, -3.0)
    labels = [1.0, 1.0, 1.0, -1.0]
    loss = hinge_loss(scores, labels)
    assert loss.data == pytest.approx((0.0 + 0.5 + 1.25 + 0.0) / 4)
    loss.backward()
    assert [s.grad for s in scores] == [0.0, -0.25, -0.25, 0.0]


def test_hinge_loss_margin_and_label_check() -> None:
    assert hinge_loss(values(0.5), [1.0], margin=2.0).data == 1.5
    with pytest.raises(ValueError, match=r"hinge_loss: labels must be -1 or \+1, got 0.0"):
        hinge_loss(values(0.5), [0])


def test_binary_cross_entropy_value_and_gradient() -> None:
    z = Value(0.7)
    t = 1.0
    loss = binary_cross_entropy([z], [t])
    p = 1.0 / (1.0 + math.exp(-0.7))
    assert loss.data == pytest.approx(-math.log(p), rel=1e-12)
    loss.backward()
    assert z.grad == pytest.approx(p - t, rel=1e-12)  # sigmoid(z) - t


def test_binary_cross_entropy_gradient_at_zero_is_one_half_minus_target() -> None:
    z = Value(0.0)
    binary_cross_entropy([z], [0.0]).backward()
    assert z.grad == 0.5


@pytest.mark.parametrize(
    ("z", "t", "expected"), [(1000.0, 1.0, 0.0), (1000.0, 0.0, 1000.0), (-1000.0, 1.0, 1000.0)]
)
def test_binary_cross_entropy_is_finite_for_huge_logits(z: float, t: float, expected: float) -> None:
    logit = Value(z)
    loss = binary_cross_entropy([logit], [t])
    assert loss.data == pytest.approx(expected)
    loss.backward()
    assert logit.grad == pytest.approx((1.0 if z > 0 else 0.0) - t)


def test_binary_cross_entropy_checks_targets() -> None:
    with pytest.raises(ValueError, match=r"binary_cross_entropy: targets must lie in \[0, 1\], got -1.0"):
        binary_cross_entropy(values(0.0), [-1.0])
    assert gradcheck(lambda z: binary_cross_entropy([z * z], [0.3]), [0.8])


def test_softmax_cross_entropy_of_section_5() -> None:
    a = values(0.3, 2.9, 4.0)
    y = softmax(a)
    assert [p.data for p in y] == [pytest.approx(v, abs=5e-9) for v in (0.01821127, 0.24519181, 0.73659691)]
    loss = softmax_cross_entropy(a, 2)
    assert loss.data == pytest.approx(0.30571446, abs=5e-9)
    loss.backward()
    assert [s.grad for s in a] == [pytest.approx(v, abs=5e-9) for v in (0.01821127, 0.24519181, -0.26340309)]
    # dL/da = y - t, exactly as the section says
    assert [s.grad for s in a] == [
        pytest.approx(p.data - t, rel=1e-12) for p, t in zip(y, (0, 0, 1), strict=True)
    ]


def test_softmax_cross_entropy_one_hot_batch_and_stability() -> None:
    a = values(0.3, 2.9, 4.0)
    assert softmax_cross_entropy(a, [0.0, 0.0, 1.0]).data == pytest.approx(0.30571446, abs=5e-9)
    batch = [values(1000.0, 0.0), values(0.0, 1000.0)]
    loss = softmax_cross_entropy(batch, [1, 1])
    assert loss.data == pytest.approx(500.0)  # (1000 + 0) / 2, no overflow
    loss.backward()
    assert batch[0][0].grad == pytest.approx(0.5) and batch[0][1].grad == pytest.approx(-0.5)


def test_softmax_cross_entropy_errors() -> None:
    with pytest.raises(ValueError, match="sample 0: class index 3 out of range for 3 scores"):
        softmax_cross_entropy(values(1.0, 2.0, 3.0), 3)
    with pytest.raises(ValueError, match=r"sample 0: target .* is not a probability vector"):
        softmax_cross_entropy(values(1.0, 2.0), [0.5, 0.6])
    with pytest.raises(ValueError, match="2 score vectors but 1 targets"):
        softmax_cross_entropy([values(1.0), values(2.0)], [0])


def test_logsumexp_and_log_softmax() -> None:
    a = values(1.0, 2.0, 3.0)
    lse = logsumexp(a)
    assert lse.data == pytest.approx(math.log(math.exp(1) + math.exp(2) + math.exp(3)), rel=1e-12)
    assert logsumexp(values(1e4, 1e4)).data == pytest.approx(1e4 + math.log(2.0))
    assert sum(p.data for p in softmax(a)) == pytest.approx(1.0)
    assert [v.data for v in log_softmax(a)] == [pytest.approx(x - lse.data) for x in (1.0, 2.0, 3.0)]
    assert gradcheck(lambda x, y: logsumexp([x, y * x, y]), [0.4, -1.3])
    with pytest.raises(ValueError, match="logsumexp: no scores"):
        logsumexp([])


def test_l2_penalty() -> None:
    params = values(1.0, -2.0, 3.0)
    penalty = l2_penalty(params, 1e-4)
    assert penalty.data == pytest.approx(1e-4 * 14.0)
    penalty.backward()
    assert [p.grad for p in params] == [pytest.approx(2e-4 * p.data) for p in params]
    assert l2_penalty([], 0.1).data == 0.0
    with pytest.raises(ValueError, match=r"l2_penalty: alpha must be non-negative, got -1.0"):
        l2_penalty(params, -1.0)
