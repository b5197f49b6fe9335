"""Module: parameters, zero_grad, state dicts, and JSON files that are atomic and checked."""

from __future__ import annotations

import functools
import json
import math
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from autograd import Value, explain
from autograd.explainer import BackwardTable
from nn import MLP, Layer, ModelFileError, Module, Neuron, StateDictError, load_model


def model() -> MLP:
    return MLP(2, [3, 1], activation="tanh", seed=11)


def test_parameters_follow_named_parameters() -> None:
    m = model()
    assert m.parameters() == [p for _, p in m.named_parameters()]
    assert len(set(m.parameters())) == len(m.parameters()) == 13
    assert Module().parameters() == []


def test_zero_grad_resets_every_parameter() -> None:
    m = model()
    out = m([0.3, 0.4])
    assert not isinstance(out, list)
    out.backward()
    assert any(p.grad != 0.0 for p in m.parameters())
    m.zero_grad()
    assert all(p.grad == 0.0 for p in m.parameters())


def test_state_dict_round_trip() -> None:
    source, target = model(), MLP(2, [3, 1], activation="tanh", seed=12)
    target.load_state_dict(source.state_dict())
    assert target.state_dict() == source.state_dict()
    assert source([0.1, 0.2]).data == target([0.1, 0.2]).data  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.pop("layers.1.neurons.0.b"), r"missing 1 parameter\(s\) \('layers.1.neurons.0.b'\)"),
        (lambda s: s.update(extra=1.0), r"unexpected 1 parameter\(s\) \('extra'\)"),
        (
            lambda s: s.update({"layers.0.neurons.0.w.0": "0.5"}),
            r"'layers.0.neurons.0.w.0' must be a number, got str",
        ),
        (lambda s: s.update({"layers.0.neurons.0.w.0": True}), r"must be a number, got bool"),
        (
            lambda s: s.update({"layers.0.neurons.2.b": math.inf}),
            r"'layers.0.neurons.2.b' is not finite: inf",
        ),
    ],
)
def test_load_state_dict_checks_everything_before_changing_anything(edit: object, message: str) -> None:
    m = model()
    before = m.state_dict()
    state = {name: value + 1.0 for name, value in before.items()}
    edit(state)  # type: ignore[operator]
    with pytest.raises(StateDictError, match=message):
        m.load_state_dict(state)
    assert m.state_dict() == before


def test_save_and_load_are_exact(tmp_path: Path) -> None:
    source = model()
    for p in source.parameters():
        p.data = p.data / 3.0  # numbers whose shortest repr is long
    path = tmp_path / "model.json"
    source.save(path)
    target = MLP(2, [3, 1], activation="tanh", seed=99)
    target.load(path)
    assert target.state_dict() == source.state_dict()
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["format"] == "chainrule.nn" and document["module"] == "MLP"
    assert document["config"]["nouts"] == [3, 1]
    assert [p.name for p in tmp_path.iterdir()] == ["model.json"]  # no temporary file left behind


def test_load_model_rebuilds_the_architecture(tmp_path: Path) -> None:
    for source in (
        model(),
        Layer(3, 2, activation="sigmoid", seed=1),
        Neuron(4, "linear", bias=False, seed=2),
    ):
        path = tmp_path / f"{type(source).__name__}.json"
        source.save(str(path))
        rebuilt = load_model(path)
        assert type(rebuilt) is type(source)
        assert rebuilt.config() == source.config()
        assert rebuilt.state_dict() == source.state_dict()


def test_a_crash_during_save_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.json"
    old = model()
    old.save(path)
    saved = path.read_bytes()

    def crash(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    new = MLP(2, [3, 1], activation="tanh", seed=5)
    with pytest.raises(OSError, match="disk full"):
        new.save(path)
    assert path.read_bytes() == saved
    assert [p.name for p in tmp_path.iterdir()] == ["model.json"]


def test_save_refuses_non_finite_parameters(tmp_path: Path) -> None:
    m = model()
    m.parameters()[4].data = math.nan
    with pytest.raises(ValueError, match=r"model.json: parameter 'layers.0.neurons.1.w.1' is nan"):
        m.save(tmp_path / "model.json")
    assert not (tmp_path / "model.json").exists()


def corrupt(text: str) -> str:
    return text.replace('"parameters"', '"parameters', 1)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda t: t[: len(t) // 2], r"not valid JSON \(the file looks truncated\)"),
        (lambda t: "", r"not valid JSON \(the file looks truncated\)"),
        (corrupt, r"not valid JSON"),
        (lambda t: "[1, 2]", r"not a chainrule model file"),
        (lambda t: t.replace('"chainrule.nn"', '"other"'), r"not a chainrule model file"),
        (lambda t: t.replace('"version": 1', '"version": 7'), r"file format version 7 is not supported"),
        (lambda t: t.replace('"module": "MLP"', '"module": "Layer"'), r"holds a Layer, not a MLP"),
        (lambda t: t.replace('"nouts": [\n   3,', '"nouts": [\n   4,'), r"architecture .* does not match"),
        (lambda t: t.replace('"tanh"', '"relu"'), r"architecture .* does not match"),
        (lambda t: t.replace('"layers.1.neurons.0.b"', '"layers.1.neurons.0.bias"'), r"missing 1 parameter"),
        (
            lambda t: t.replace('"layers.1.neurons.0.b": 0.0', '"layers.1.neurons.0.b": NaN'),
            r"non-finite number NaN",
        ),
        (lambda t: t.replace('"layers.1.neurons.0.b": 0.0', '"layers.1.neurons.0.b": null'), r"got NoneType"),
        (lambda t: t.replace('"parameters": {', '"parameters": [').rsplit("}", 2)[0], r"not valid JSON"),
    ],
)
def test_damaged_files_give_a_clear_error_and_leave_the_model_unchanged(
    tmp_path: Path, damage: object, message: str
) -> None:
    path = tmp_path / "model.json"
    model().save(path)
    text = path.read_text(encoding="utf-8")
    damaged = damage(text)  # type: ignore[operator]
    assert damaged != text
    path.write_text(damaged, encoding="utf-8")
    target = MLP(2, [3, 1], activation="tanh", seed=3)
    before = target.state_dict()
    with pytest.raises(ModelFileError, match=message) as info:
        target.load(path)
    assert str(path) in str(info.value)  # the error names the file
    assert target.state_dict() == before


def test_binary_garbage_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_bytes(b"\x80\x81\xfe\xff")
    with pytest.raises(ModelFileError, match="not UTF-8"):
        model().load(path)
    with pytest.raises(FileNotFoundError):
        model().load(tmp_path / "missing.json")
    document = {
        "format": "chainrule.nn",
        "version": 1,
        "module": "Transformer",
        "config": {},
        "parameters": {},
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ModelFileError, match="unknown module class 'Transformer'"):
        load_model(path)


def test_load_model_reports_a_bad_architecture(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    model().save(path)
    document = json.loads(path.read_text(encoding="utf-8"))
    document["config"]["activation"] = "swish"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ModelFileError, match=r"model.json: bad architecture .*unknown activation 'swish'"):
        load_model(path)


def test_files_load_across_init_and_fusing(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    source = MLP(2, [3, 1], activation="tanh", init="he", seed=1)
    source.save(path)
    target = MLP(2, [3, 1], activation="tanh", fused=True, seed=2)
    target.load(path)  # same architecture: how it started and fusing change no number
    assert target.state_dict() == source.state_dict()
    assert target([0.5, 0.5]).data == pytest.approx(source([0.5, 0.5]).data, rel=1e-12)  # type: ignore[union-attr]


def test_saved_files_get_the_usual_permissions(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x", encoding="utf-8")
    model().save(tmp_path / "model.json")
    assert (tmp_path / "model.json").stat().st_mode == plain.stat().st_mode


def model_file(module: str, config: str, parameters: str = "{}") -> str:
    return (
        f'{{"format": "chainrule.nn", "version": 1, "module": "{module}", '
        f'"config": {config}, "parameters": {parameters}}}'
    )


@pytest.fixture
def nothing_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    for cls in (MLP, Layer, Neuron):

        @functools.wraps(cls.__init__)  # the same signature, so the same defaults
        def refuse(self: object, *args: object, **kwargs: object) -> None:
            raise AssertionError(f"{type(self).__name__} was built")

        monkeypatch.setattr(cls, "__init__", refuse)


@pytest.mark.usefixtures("nothing_is_built")
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            model_file("MLP", '{"nin": 100000, "nouts": [100000]}'),
            r"architecture \{'nin': 100000, 'nouts': \[100000\]\} has 10000100000 parameters, "
            r"the file holds 0",
        ),
        (
            model_file("MLP", '{"nin": 2, "nouts": [1000000, 1]}', '{"layers.0.neurons.0.w.0": 0.5}'),
            r"has 4000001 parameters, the file holds 1",
        ),
        (model_file("Layer", '{"nin": 100000, "nout": 100000}'), "has 10000100000 parameters"),
        (model_file("Neuron", '{"nin": 10000000, "bias": false}'), "has 10000000 parameters"),
        (model_file("MLP", '{"nin": 2, "nouts": [3, 1]}', "{}"), "has 13 parameters, the file holds 0"),
        (model_file("MLP", '{"nin": "2", "nouts": [1]}'), r"bad architecture .*MLP: nin must be a positive"),
        (model_file("MLP", '{"nin": 2, "nouts": 4}'), r"MLP: nouts must be a non-empty list .*, got 4"),
        (model_file("MLP", '{"nin": 2, "nouts": [1, 0]}'), r"MLP: width of layer 1 must be a positive"),
        (model_file("MLP", '{"nin": 2, "nouts": [1], "bias": 1}'), r"MLP: bias must be True or False"),
        (model_file("MLP", '{"nin": 2, "nouts": [1], "init": "zeros"}'), r"MLP: unknown init 'zeros'"),
        (
            model_file("MLP", '{"nin": 2, "nouts": [1], "output_activation": "swish"}'),
            r"MLP: unknown activation 'swish'",
        ),
        (model_file("MLP", '{"nin": 2, "nouts": [1], "seed": 3}'), r"MLP: unknown configuration key 'seed'"),
        (model_file("Layer", '{"nin": 2}'), r"Layer: the configuration has no 'nout'"),
        (
            model_file("MLP", '{"nin": ' + "9" * 401 + ', "nouts": [1]}'),
            r"an integer of 401 digits is beyond the float range \(309 digits\)",
        ),
        (
            model_file("Neuron", '{"nin": 1, "bias": false}', '{"w.0": ' + "9" * 401 + "}"),
            r"an integer of 401 digits is beyond the float range",
        ),
        (
            model_file("MLP", '{"nin": ' + "[" * 100_000 + "]" * 100_000 + "}"),
            r"not a chainrule model file \(brackets nested more than 64 deep\)",
        ),
        (
            model_file("MLP", '{"nin": 2, "nouts": [1]}', '{"a": ' + "[" * 500 + "]" * 500 + "}"),
            r"brackets nested more than 64 deep",
        ),
    ],
)
def test_load_model_checks_the_file_before_it_builds_anything(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "model.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ModelFileError, match=message) as info:
        load_model(path)
    assert str(info.value).startswith(f"{path}: ")
    assert len(str(info.value)) < 500


def test_load_refuses_huge_integers_and_deep_nesting(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    target = Neuron(1, bias=False, seed=0)
    before = target.state_dict()
    for parameters, message in [
        ('{"w.0": ' + "9" * 401 + "}", "an integer of 401 digits is beyond the float range"),
        ('{"w.0": ' + "9" * 309 + "}", r"parameter 'w.0' is beyond the float range \(about 1.8e308\)"),
        ('{"w.0": ' + "[" * 100_000 + "]" * 100_000 + "}", "brackets nested more than 64 deep"),
    ]:
        config = '{"nin": 1, "activation": "relu", "bias": false, "init": "uniform", "fused": false}'
        path.write_text(model_file("Neuron", config, parameters), encoding="utf-8")
        with pytest.raises(ModelFileError, match=f"{path}: .*{message}"):
            target.load(path)
        with pytest.raises(ModelFileError, match=message):
            load_model(path)
        assert target.state_dict() == before


def test_load_state_dict_refuses_a_number_beyond_the_float_range() -> None:
    target = Neuron(1, bias=False, seed=0)
    with pytest.raises(StateDictError, match=r"parameter 'w.0' is beyond the float range"):
        target.load_state_dict({"w.0": 10**400})


def test_load_model_builds_subclasses_that_describe_themselves_their_own_way(tmp_path: Path) -> None:
    class ScaledMLP(MLP):  # a configuration the MLP count does not know: built to find out
        def __init__(self, nin: int, nouts: list[int], scale: float = 1.0, **options: Any) -> None:
            super().__init__(nin, nouts, **options)
            self.scale = scale

        def config(self) -> dict[str, Any]:
            return {**super().config(), "scale": self.scale}

    source = ScaledMLP(2, [3, 1], scale=2.0, seed=0)
    source.save(tmp_path / "scaled.json")
    rebuilt = load_model(tmp_path / "scaled.json")
    assert isinstance(rebuilt, ScaledMLP) and rebuilt.scale == 2.0
    assert rebuilt.state_dict() == source.state_dict()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize(
    ("where", "error", "message"),
    [
        (
            "missing/model.json",
            FileNotFoundError,
            r"cannot save {tmp}/missing/model.json: the folder {tmp}/missing",
        ),
        ("folder", IsADirectoryError, r"cannot save {tmp}/folder: it is a folder, not a file"),
        ("model.json/", IsADirectoryError, r"cannot save {tmp}/model.json/: a path ending in a separator"),
        (
            "file/model.json",
            NotADirectoryError,
            r"cannot save {tmp}/file/model.json: {tmp}/file is not a folder",
        ),
    ],
)
def test_save_errors_name_the_path_and_the_problem(
    tmp_path: Path, where: str, error: type[OSError], message: str
) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("", encoding="utf-8")
    path = f"{tmp_path}/{where}"
    with pytest.raises(error, match=message.format(tmp=re.escape(str(tmp_path)))) as info:
        model().save(path)
    assert ".tmp" not in str(info.value)
    assert leftovers(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder"]


def test_save_to_an_empty_path_or_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"cannot save to '': the path is empty"):
        model().save("")
    with pytest.raises(IsADirectoryError, match=r"cannot save \.: it is a folder, not a file"):
        model().save(".")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_without_write_permission_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(args[0]))  # what open() raises there

    monkeypatch.setattr("nn.module.open", refuse, raising=False)  # as a folder of another user's
    with pytest.raises(
        PermissionError, match=r"cannot save .*model.json: no permission to write in the folder"
    ):
        model().save(tmp_path / "model.json")


def test_a_save_interrupted_at_any_point_removes_its_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.json"
    model().save(path)
    saved = path.read_bytes()

    def interrupt(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        MLP(2, [3, 1], activation="tanh", seed=5).save(path)
    assert path.read_bytes() == saved and leftovers(tmp_path) == []


KILLED_MID_WRITE = """
import os, sys, time
from nn import MLP
def hang(fd):
    print("writing", flush=True)
    time.sleep(60)
os.fsync = hang
MLP(2, [3, 1], seed=0).save(sys.argv[1])
"""


def test_a_later_save_removes_what_a_save_killed_mid_write_left(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    root = Path(__file__).resolve().parents[2]
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_MID_WRITE, str(path)], cwd=root, stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
        left = leftovers(tmp_path)
        assert len(left) == 1 and re.fullmatch(
            rf"\.model\.json\.chainrule-save-{writer.pid}-[0-9a-f]{{32}}\.tmp", left[0]
        )
    finally:
        writer.kill()
        writer.wait()
    # Another target's, this process's and a live process's temporary files are not touched.
    others = [
        f".other.json.chainrule-save-{writer.pid}-{'0' * 32}.tmp",
        f".model.json.chainrule-save-{os.getpid()}-{'1' * 32}.tmp",
        f".model.json.chainrule-save-{os.getppid()}-{'2' * 32}.tmp",
    ]
    for name in others:
        (tmp_path / name).write_text("", encoding="utf-8")
    model().save(path)
    assert leftovers(tmp_path) == sorted(others)
    assert load_model(path).state_dict() == model().state_dict()


def test_saving_over_a_file_keeps_its_permissions_and_a_new_file_follows_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    model().save(path)
    path.chmod(0o600)
    model().save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o664)
    model().save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o664
    old = os.umask(0o027)
    try:
        model().save(tmp_path / "new.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o640


def test_explains_step_pictures_get_the_usual_permissions_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Beside the model files' test: autograd.explain writes its pictures the same way.
    class Drawing:
        def pipe(self, format: str) -> bytes:
            return b"picture"

    monkeypatch.setattr(BackwardTable, "draw_step", lambda self, n, format, **options: Drawing())
    x = Value(2.0, label="x")
    old = os.umask(0o022)
    try:
        paths = explain(x * x).write_pictures(tmp_path / "steps", "svg")
    finally:
        os.umask(old)
    assert [stat.S_IMODE(p.stat().st_mode) for p in paths] == [0o644]
    assert [p.read_bytes() for p in paths] == [b"picture"]
    assert sorted(p.name for p in (tmp_path / "steps").iterdir()) == ["step-01.svg"]


def test_a_model_pickles_as_any_object_would() -> None:
    import pickle

    model = MLP(2, [3, 1], seed=0)
    twin = pickle.loads(pickle.dumps(model))
    out, ref = twin([0.5, -1.0]), model([0.5, -1.0])
    assert isinstance(out, Value) and isinstance(ref, Value)
    assert twin.state_dict() == model.state_dict() and out.data == ref.data
