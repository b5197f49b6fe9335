"""fit(): the training loop, its history, progress bar, batches and validation; the moons demo."""

from __future__ import annotations

import gc
import importlib.util
import math
import subprocess
import sys
import weakref
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
    # logsumexp is a primitive: its record carries its forward, as the fused dot records do.
    inputs, labels = make_xor(24, seed=1)
    targets: list[Any] = labels if loss is softmax_cross_entropy else signs(labels)
    results = []
    for compile in (False, True):  # bit for bit, on every Python
        model = MLP(2, [5, 2 if loss is softmax_cross_entropy else 1], "tanh", seed=2, fused=fused)
        history = fit(
            model,
            inputs,
            targets,
            loss=loss,
            optimizer=SGD(model.parameters(), lr=0.1),
            epochs=5,
            compile=compile,
        )
        results.append((history.loss, model.state_dict()))
    eager, compiled = results
    assert compiled == eager


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
    assert seen == [False] * 7  # the validation pass before training; two batches and it, each epoch
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


@pytest.mark.parametrize("compile", [False, True, "batch"])
def test_fit_stops_at_a_step_that_would_overflow_the_weights(compile: Any) -> None:
    # With lr=1e300 the first step makes weights near 1e299 and the second would make them
    # infinite: fit raises the optimizer's error and leaves the weights of the first step.
    inputs, labels = make_moons(20, noise=0.1, seed=0)
    models = [MLP(2, [4, 1], seed=0) for _ in range(2)]
    optimizers = [SGD(m.parameters(), lr=1e300) for m in models]
    options: dict[str, Any] = {"loss": hinge_loss, "progress": False, "compile": compile}
    fit(models[0], inputs, signs(labels), optimizer=optimizers[0], epochs=1, **options)
    with pytest.raises(FloatingPointError, match=r"SGD.step: the step would take parameter \d+ .* to -?inf"):
        fit(models[1], inputs, signs(labels), optimizer=optimizers[1], epochs=5, **options)
    assert optimizers[1].steps_taken == 1
    assert models[1].state_dict() == models[0].state_dict()
    assert all(math.isfinite(p.data) for p in models[1].parameters())


def fit_checked(model: MLP, **overrides: Any) -> History:
    """fit on two points with working defaults, `overrides` replacing any of them."""
    arguments: dict[str, Any] = {
        "inputs": [[0.0, 1.0], [1.0, 0.5]],
        "targets": [1.0, -1.0],
        "loss": hinge_loss,
        "optimizer": SGD(model.parameters(), lr=0.1),
        "epochs": 2,
        "progress": False,
    }
    arguments.update(overrides)
    return fit(model, **arguments)


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"optimizer": None}, TypeError, r"fit: optimizer must be an nn Optimizer, such as SGD\(model"),
        ({"loss": "hinge"}, TypeError, r"fit: loss must be a function of \(outputs, targets\).*got 'hinge'"),
        ({"loss": None}, TypeError, r"fit: loss must be a function .*got None"),
        ({"inputs": (x for x in [[0.0, 1.0]])}, TypeError, r"fit: inputs must be a sequence .*got generator"),
        ({"targets": 1.0}, TypeError, r"fit: targets must be a sequence .*got float"),
        ({"l2": True}, ValueError, r"fit: l2 must be a finite number >= 0, got True"),
        ({"l2": math.nan}, ValueError, r"fit: l2 must be a finite number >= 0, got nan"),
        ({"epochs": 2.0}, ValueError, r"fit: epochs must be a non-negative integer, got 2.0"),
        ({"batch_size": True}, ValueError, r"fit: batch_size must be a positive integer, got True"),
        ({"accuracy": 0.5}, ValueError, r"fit: accuracy must be 'auto', None or a function, got 0.5"),
        ({"shuffle": "yes"}, ValueError, r"fit: shuffle must be True or False, got 'yes'"),
        ({"shuffle": True, "seed": 1.5}, ValueError, r"fit: seed must be an integer or None, got 1.5"),
        ({"seed": "0"}, ValueError, r"fit: seed must be an integer or None, got '0'"),
        ({"progress": 1}, ValueError, r"fit: progress must be None, True or False, got 1"),
        ({"compile": "fast"}, ValueError, r"fit: compile must be False, True or 'batch', got 'fast'"),
        (
            {"validation": ([[0.0, 1.0]],)},
            ValueError,
            r"fit: validation must be a pair .*got a tuple of length 1",
        ),
        ({"validation": {"inputs": []}}, ValueError, r"fit: validation must be a pair .*got a dict$"),
        (
            {"validation": ([[0.0, 1.0]], [1.0, -1.0])},
            ValueError,
            r"fit: validation needs as many targets as inputs \(at least one\), got 1 and 2",
        ),
        ({"validation": ([], [])}, ValueError, r"fit: validation needs as many targets as inputs"),
        (
            {"validation": ([[0.0, 1.0, 2.0]], [1.0])},
            ValueError,
            r"fit: the validation set fails before training: MLP expects 2 inputs, got 3",
        ),
        (
            {"validation": ([[0.0, 1.0]], ["yes"])},
            TypeError,
            r"fit: the validation set fails before training: ",
        ),
    ],
)
def test_fit_checks_every_argument_before_training(
    overrides: dict[str, Any], error: Any, message: str
) -> None:
    model = MLP(2, [3, 1], seed=0)
    before = model.state_dict()
    with pytest.raises(error, match=message):
        fit_checked(model, **overrides)
    assert model.state_dict() == before


def test_fit_refuses_an_optimizer_over_another_models_parameters() -> None:
    model, other = MLP(2, [3, 1], seed=0), MLP(2, [3, 1], seed=0)
    before = model.state_dict()
    with pytest.raises(
        ValueError,
        match=r"fit: none of the Adam optimizer's 13 parameters is one of the model's 13 "
        r"\(an optimizer made for another model\?\); make it with Adam\(model.parameters\(\), ...\)",
    ):
        fit_checked(model, optimizer=Adam(other.parameters()))
    assert model.state_dict() == before == other.state_dict()
    # An optimizer over some of the model's parameters trains those and leaves the rest.
    last = model.layers[1].parameters()
    fit_checked(model, optimizer=SGD(last, lr=0.1))
    changed = [name for name, value in model.state_dict().items() if value != before[name]]
    assert changed and all(name.startswith("layers.1.") for name in changed)


def test_fit_compile_batch_without_numpy_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "numpy", None)  # as if it were not installed
    model = MLP(2, [3, 1], seed=0)
    before = model.state_dict()
    with pytest.raises(
        ImportError, match=r"fit: compile='batch' needs numpy.*pip install 'chainrule\[fast\]'"
    ):
        fit_checked(model, compile="batch")
    assert model.state_dict() == before


def test_the_demo_without_matplotlib_says_what_to_install(tmp_path: Path) -> None:
    script = (
        "import runpy, sys\n"
        "sys.modules['matplotlib'] = None  # as if it were not installed\n"
        f"sys.argv = ['demo.py', '--out', {str(tmp_path / 'out')!r}]\n"
        f"runpy.run_path({str(DEMO)!r}, run_name='__main__')\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr == (
        "demo.py draws its pictures with matplotlib, which is not installed: pip install 'chainrule[demo]' "
        "(or run `make demo`, which installs everything it needs)\n"
    )
    assert not (tmp_path / "out").exists()  # stopped before any work
