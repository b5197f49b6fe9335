"""fit(): the training loop, its history, progress bar, batches and validation; the moons demo."""

from __future__ import annotations

import gc
import importlib.util
import math
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from autograd import Value, gc_paused
from nn import (
    MLP,
    SGD,
    Adam,
    History,
    Module,
    binary_accuracy,
    binary_cross_entropy,
    evaluate,
    fit,
    hinge_loss,
    make_blobs,
    make_moons,
    make_xor,
    mse_loss,
    multiclass_accuracy,
    sign_accuracy,
    signs,
    softmax_cross_entropy,
)

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.py"


def load_demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("chainrule_demo", DEMO)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_micrograds_moons_demo_reaches_full_accuracy_and_draws_it(tmp_path: Path) -> None:
    # One test, so the 100 training steps run once however the tests are spread over workers.
    demo = load_demo()
    trained = demo.train_moons()
    model, history, inputs, targets = trained
    assert len(model.parameters()) == 337 and len(inputs) == 100
    assert len(history.loss) == len(history.accuracy) == len(history.lr) == 100
    assert history.lr[0] == 1.0 and history.lr[99] == pytest.approx(1.0 - 0.9 * 99 / 100)
    assert history.accuracy[-1] == 1.0
    assert history.loss[-1] < 0.1 * history.loss[0]
    # The history's last figures are those of the last step's forward pass, before its update.
    assert sign_accuracy([model(x).data for x in inputs], targets) == 1.0
    pytest.importorskip("matplotlib")
    demo.train_moons = lambda: trained  # type: ignore[attr-defined]  # draw the model trained above
    demo.moons(tmp_path)
    for name in ("moons_loss.png", "moons_boundary.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fit_matches_a_hand_written_loop() -> None:
    inputs, labels = make_xor(20, seed=2)
    targets = signs(labels)
    by_fit, by_hand = MLP(2, [4, 1], seed=3), MLP(2, [4, 1], seed=3)
    history = fit(
        by_fit,
        inputs,
        targets,
        loss=hinge_loss,
        optimizer=SGD(by_fit.parameters(), lr=0.1),
        epochs=3,
        l2=1e-3,
    )
    optimizer = SGD(by_hand.parameters(), lr=0.1)
    losses = []
    for _ in range(3):
        loss = hinge_loss([by_hand(x) for x in inputs], targets)
        loss = loss + Value.sum([p * p for p in by_hand.parameters()]) * 1e-3
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.data)
    assert history.loss == pytest.approx(losses, rel=1e-12)
    assert by_fit.state_dict() == pytest.approx(by_hand.state_dict(), rel=1e-12)


def test_mini_batches_shuffle_and_validation() -> None:
    train = make_blobs(60, centers=[[-2.0, 0.0], [2.0, 0.0]], noise=0.5, seed=0)
    test = make_blobs(20, centers=[[-2.0, 0.0], [2.0, 0.0]], noise=0.5, seed=1)
    model = MLP(2, [4, 1], activation="tanh", seed=0)
    optimizer = Adam(model.parameters(), lr=0.05)
    history = fit(
        model,
        train.inputs,
        [float(t) for t in train.labels],
        loss=binary_cross_entropy,
        optimizer=optimizer,
        epochs=15,
        batch_size=16,
        shuffle=True,
        seed=0,
        validation=(test.inputs, [float(t) for t in test.labels]),
    )
    assert optimizer.steps_taken == 15 * 4  # 60 points in batches of 16
    assert len(history.val_loss) == len(history.val_accuracy) == 15
    assert history.accuracy[-1] == 1.0 and history.val_accuracy[-1] == 1.0
    assert history.val_loss[-1] < history.val_loss[0]


def test_softmax_classifier_and_multiclass_accuracy() -> None:
    data = make_blobs(60, centers=[[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]], noise=0.4, seed=0)
    model = MLP(2, [8, 3], activation="relu", seed=0)
    history = fit(
        model,
        data.inputs,
        data.labels,
        loss=softmax_cross_entropy,
        optimizer=Adam(model.parameters(), 0.05),
        epochs=30,
    )
    assert history.accuracy[-1] == 1.0
    loss, accuracy = evaluate(
        model, data.inputs, data.labels, loss=softmax_cross_entropy, accuracy=multiclass_accuracy
    )
    assert loss < history.loss[0] and accuracy == 1.0


def test_regression_has_no_accuracy_unless_asked() -> None:
    inputs = [[x / 10] for x in range(-10, 11)]
    targets = [2.0 * x[0] - 0.5 for x in inputs]
    model = MLP(1, [1], seed=0)
    history = fit(model, inputs, targets, loss=mse_loss, optimizer=SGD(model.parameters(), lr=0.3), epochs=60)
    assert history.accuracy == [] and history.loss[-1] < 1e-4
    w, b = model.parameters()
    assert w.data == pytest.approx(2.0, abs=0.01) and b.data == pytest.approx(-0.5, abs=0.01)
    custom = fit(
        model,
        inputs,
        targets,
        loss=mse_loss,
        optimizer=SGD(model.parameters(), lr=0.1),
        epochs=1,
        accuracy=lambda out, t: 0.25,
    )
    assert custom.accuracy == [0.25]


def test_progress_bar_on_request_and_quiet_otherwise(capsys: pytest.CaptureFixture[str]) -> None:
    inputs, labels = make_xor(8, seed=0)
    model = MLP(2, [2, 1], seed=0)
    kwargs = {"loss": hinge_loss, "optimizer": SGD(model.parameters(), lr=0.01), "epochs": 2}
    fit(model, inputs, signs(labels), **kwargs)  # type: ignore[arg-type]
    fit(model, inputs, signs(labels), progress=False, **kwargs)  # type: ignore[arg-type]
    assert capsys.readouterr().err == ""  # stderr is not a terminal here
    fit(model, inputs, signs(labels), progress=True, **kwargs)  # type: ignore[arg-type]
    err = capsys.readouterr().err
    assert "fit" in err and "2/2" in err and "loss=" in err and "acc=" in err


def test_accuracy_functions() -> None:
    assert sign_accuracy([Value(0.5), -0.2, 0.1], [1.0, -1.0, -1.0]) == pytest.approx(2 / 3)
    assert binary_accuracy([2.0, -1.0], [1.0, 1.0]) == 0.5
    assert multiclass_accuracy([[0.1, 0.9], [2.0, 1.0]], [1, [0.0, 1.0]]) == 0.5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": -1}, r"fit: epochs must be a non-negative integer, got -1"),
        ({"batch_size": 0}, r"fit: batch_size must be a positive integer, got 0"),
        ({"l2": -1.0}, r"fit: l2 must be a finite number >= 0, got -1.0"),
        ({"accuracy": "f1"}, r"fit: accuracy must be 'auto', None or a function, got 'f1'"),
        ({"tape": "yes"}, r"fit: tape must be True or False, got 'yes'"),
    ],
)
def test_fit_rejects_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    model = MLP(2, [1], seed=0)
    with pytest.raises(ValueError, match=message):
        fit(model, [[0.0, 1.0]], [1.0], loss=hinge_loss, optimizer=SGD(model.parameters()), **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fit: need as many targets as inputs"):
        fit(model, [[0.0, 1.0]], [1.0, -1.0], loss=hinge_loss, optimizer=SGD(model.parameters()))


@pytest.mark.parametrize("compile", [False, True, "batch"])
def test_fit_refuses_inputs_that_are_not_finite_and_changes_nothing(compile: Any) -> None:
    model = MLP(2, [3, 1], seed=0)
    before = model.state_dict()
    good = [[0.0, 1.0], [1.0, 0.5]]
    cases: list[tuple[Any, Any, str]] = [
        ([[0.0, 1.0], [math.nan, 0.5]], None, r"fit: input vector 1 holds nan at position 0"),
        ([[0.0, Value(math.inf)], [1.0, 0.5]], None, r"fit: input vector 0 holds inf at position 1"),
        (good, ([[1.0, -math.inf]], [1.0]), r"fit: validation input vector 0 holds -inf at position 1"),
    ]
    for inputs, validation, message in cases:
        with pytest.raises(ValueError, match=message):
            fit(
                model,
                inputs,
                [1.0, -1.0],
                loss=hinge_loss,
                optimizer=SGD(model.parameters()),
                validation=validation,
                compile=compile,
            )
    assert model.state_dict() == before


@pytest.mark.parametrize(("loss", "fused"), [(softmax_cross_entropy, False), (hinge_loss, True)])
def test_compiled_fit_runs_the_librarys_primitives_like_eager_mode(loss: Any, fused: bool) -> None:
    # logsumexp is a primitive whose forward nn registers; the compiler knows the fused dot nodes'.
    inputs, labels = make_xor(24, seed=1)
    targets: list[Any] = labels if loss is softmax_cross_entropy else signs(labels)
    results = []
    # Bit for bit with eager mode without the tape; up to rounding with it (see test_compile_fit).
    modes: list[dict[str, Any]] = [{"tape": False}, {"compile": True}, {"tape": True}]
    for mode in modes:
        model = MLP(2, [5, 2 if loss is softmax_cross_entropy else 1], "tanh", seed=2, fused=fused)
        history = fit(
            model,
            inputs,
            targets,
            loss=loss,
            optimizer=SGD(model.parameters(), lr=0.1),
            epochs=5,
            **mode,
        )
        results.append((history.loss, model.state_dict()))
    (searched_loss, searched_weights), compiled, (taped_loss, taped_weights) = results
    assert compiled == (searched_loss, searched_weights)
    assert taped_loss == pytest.approx(searched_loss, rel=1e-12, abs=1e-14)
    assert taped_weights == pytest.approx(searched_weights, rel=1e-12, abs=1e-14)


def test_fit_and_evaluate_run_a_subclass_s_own_forward_pass() -> None:
    class Scaled(MLP):
        def __call__(self, x: Any) -> Any:
            out: Any = super().__call__(x)
            return out * 10.0

    inputs, targets = [[0.5, -1.0], [1.0, 2.0]], [1.0, -1.0]
    model = Scaled(2, [3, 1], seed=0)
    by_hand = mse_loss([model(x) for x in inputs], targets).data
    assert evaluate(model, inputs, targets, loss=mse_loss)[0] == by_hand
    history = fit(model, inputs, targets, loss=mse_loss, optimizer=SGD(model.parameters(), lr=0.0), epochs=1)
    assert history.loss == [by_hand]


def test_eager_steps_run_with_the_collector_paused_and_leave_it_on() -> None:
    seen: list[bool] = []

    def watched(outputs: Any, targets: Any) -> Value:
        seen.append(gc.isenabled())
        return mse_loss(outputs, targets)

    inputs, targets = [[0.5, -1.0], [1.0, 2.0], [0.0, 1.0]], [1.0, -1.0, 0.5]
    model = MLP(2, [3, 1], seed=0)
    fit(
        model,
        inputs,
        targets,
        loss=watched,
        optimizer=SGD(model.parameters(), lr=0.1),
        epochs=2,
        batch_size=2,
        validation=(inputs, targets),
    )
    assert seen == [False] * 6  # two batches and the validation pass, each epoch
    assert gc.isenabled()


def test_fit_frees_each_step_s_graph_by_reference_counting_alone() -> None:
    probes: list[weakref.ref[Value]] = []

    def watched(outputs: Any, targets: Any) -> Value:
        loss = hinge_loss(outputs, targets)
        probes.append(weakref.ref(loss))
        return loss

    inputs, labels = make_xor(12, seed=1)
    model = MLP(2, [4, 4, 1], seed=1)
    with gc_paused():  # off all through fit, so only reference counting can free a graph
        fit(
            model,
            inputs,
            signs(labels),
            loss=watched,
            optimizer=SGD(model.parameters(), lr=0.1),
            epochs=3,
            batch_size=5,
            l2=1e-3,
        )
        assert len(probes) == 9
        assert [p() for p in probes] == [None] * 9


Run = tuple[History, list[float]]


def with_and_without_tape(make_model: Callable[[], Module], lr: float, **options: Any) -> list[Run]:
    """fit a fresh model with the tape and again without it: (History, weights) for each."""
    runs = []
    for recorded in (True, False):
        model = make_model()
        optimizer = SGD(model.parameters(), lr=lr)
        history = fit(model, optimizer=optimizer, progress=False, tape=recorded, **options)
        runs.append((history, [p.data for p in model.parameters()]))
    return runs


def test_eager_steps_run_from_a_tape_unless_told_not_to() -> None:
    inputs, labels = make_moons(20, noise=0.1, seed=3)
    (taped, _), (searched, _) = with_and_without_tape(
        lambda: MLP(2, [4, 4, 1], seed=1),
        0.5,
        inputs=inputs,
        targets=signs(labels),
        loss=hinge_loss,
        epochs=3,
        batch_size=8,
        l2=1e-4,
    )
    assert taped.taped == [3, 3, 3] and searched.taped == [0, 0, 0]  # three batches an epoch
    assert taped.loss == pytest.approx(searched.loss, rel=1e-12)


class Scaled(Module):
    """A model whose weight is an inner node made once, outside every step: the tape must not run."""

    def __init__(self) -> None:
        self.raw = Value(0.5)
        self.weight = self.raw * 2.0

    def __call__(self, x: Sequence[float | Value]) -> Value:
        return self.weight * x[0]

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        yield "raw", self.raw


def test_a_graph_the_tape_cannot_hold_trains_as_without_it() -> None:
    (taped, taped_weights), (searched, searched_weights) = with_and_without_tape(
        Scaled, 0.01, inputs=[[1.0], [2.0]], targets=[3.0, 5.0], loss=mse_loss, epochs=1
    )
    assert taped.taped == [0]  # the step's graph reaches model.weight, made outside it
    assert taped.loss == searched.loss and taped_weights == searched_weights != [0.5]


def test_a_loss_that_edits_the_output_rows_in_place_trains_as_without_the_tape() -> None:
    # The last layer hands fit's loss the very lists dots_batch made; the tape must not
    # read them back after the loss has replaced their entries.
    def centred(outputs: Any, targets: Any) -> Value:
        for row in outputs:
            mean = Value.sum(row) * (1.0 / len(row))
            for j in range(len(row)):
                row[j] = row[j] - mean
        rows = zip(outputs, targets, strict=True)
        return Value.sum([(o - t) ** 2 for row, ts in rows for o, t in zip(row, ts, strict=True)])

    inputs, targets = [[0.1, 0.2], [0.3, -0.5], [-0.4, 0.9]], [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]
    (_, taped), (_, searched) = with_and_without_tape(
        lambda: MLP(2, [3, 2], seed=0),
        0.1,
        inputs=inputs,
        targets=targets,
        loss=centred,
        epochs=2,
        accuracy=None,
    )
    assert taped == pytest.approx(searched, rel=1e-12, abs=1e-15)
