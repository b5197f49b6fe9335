"""`Module`: a model's parameters, their names, and saving them as JSON.

A model file holds the module's class, its configuration (the architecture)
and every parameter by name. Loading checks all of it before it assigns
anything, so a file that does not fit leaves the model as it was.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from numbers import Real
from pathlib import Path
from typing import Any

from autograd import Value, zero_grad

__all__ = ["FILE_FORMAT", "FILE_VERSION", "Module", "ModelFileError", "StateDictError", "load_model"]

FILE_FORMAT = "chainrule.nn"
FILE_VERSION = 1

# Every concrete module class by name, so `load_model` can rebuild one from a file.
_REGISTRY: dict[str, type[Module]] = {}


class StateDictError(ValueError):
    """A state dict that does not fit the model it is loaded into."""


class ModelFileError(StateDictError):
    """A model file that is corrupt, truncated, or made for another model."""


class Module:
    """Base of every model: named parameters, gradients, state and files."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    def __call__(self, x: Sequence[float | Value]) -> Value | list[Value]:
        """The module's output for one input vector."""
        raise NotImplementedError(f"{type(self).__name__} does not define __call__")

    def forward_batch(self, inputs: Sequence[Sequence[float | Value]]) -> list[Any]:
        """The module's output for each input vector: `[module(x) for x in inputs]`.

        Layers and MLPs build the same graph a layer at a time for the whole
        batch, which is faster; `fit` calls this.
        """
        return [self(x) for x in inputs]

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        """Every parameter with its dotted name, in a fixed order."""
        return iter(())

    def parameters(self) -> list[Value]:
        """Every parameter, in the order of `named_parameters()`."""
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        """Reset the gradient of every parameter to 0."""
        zero_grad(self.parameters())

    def config(self) -> dict[str, Any]:
        """The arguments that rebuild this module's architecture (JSON-ready)."""
        return {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Module:
        """A new module with the architecture `config` describes."""
        return cls(**config)

    # ---- state ----------------------------------------------------------------

    def state_dict(self) -> dict[str, float]:
        """The value of every parameter by name."""
        return {name: p.data for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, object]) -> None:
        """Set every parameter from `state`; on any mismatch raise and change nothing."""
        values = self._checked_state(state)
        for (_, p), value in zip(self.named_parameters(), values, strict=True):
            p.data = value

    def _checked_state(self, state: object) -> list[float]:
        if not isinstance(state, Mapping):
            raise StateDictError(
                f"state dict must be a mapping of names to numbers, got {type(state).__name__}"
            )
        names = [name for name, _ in self.named_parameters()]
        expected = set(names)
        missing = [n for n in names if n not in state]
        unexpected = [n for n in state if n not in expected]
        if missing or unexpected:
            parts = []
            if missing:
                parts.append(f"missing {len(missing)} parameter(s) {_some(missing)}")
            if unexpected:
                parts.append(f"unexpected {len(unexpected)} parameter(s) {_some(unexpected)}")
            raise StateDictError(f"state dict does not fit {type(self).__name__}: " + "; ".join(parts))
        values = []
        for name in names:
            value = state[name]
            if isinstance(value, bool) or not isinstance(value, Real):
                raise StateDictError(
                    f"parameter {name!r} must be a number, got {type(value).__name__} {value!r}"
                )
            number = float(value)
            if not math.isfinite(number):
                raise StateDictError(f"parameter {name!r} is not finite: {number!r}")
            values.append(number)
        return values

    # ---- files ------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model to `path` as JSON, atomically: a crash leaves the old file whole."""
        target = Path(path)
        state = self.state_dict()
        bad = [name for name, value in state.items() if not math.isfinite(value)]
        if bad:
            raise ValueError(f"cannot save {target}: parameter {bad[0]!r} is {state[bad[0]]!r}")
        document = {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "module": type(self).__name__,
            "config": self.config(),
            "parameters": state,
        }
        _write_atomically(target, json.dumps(document, indent=1) + "\n")

    def load(self, path: str | os.PathLike[str]) -> None:
        """Set the parameters from a file written by `save`; on any problem raise and change nothing."""
        source = Path(path)
        document = _read_document(source)
        if document["module"] != type(self).__name__:
            raise ModelFileError(f"{source}: holds a {document['module']}, not a {type(self).__name__}")
        theirs, ours = _architecture(document["config"]), _architecture(self.config())
        if theirs != ours:
            raise ModelFileError(f"{source}: architecture {theirs} does not match this model's {ours}")
        try:
            self.load_state_dict(document["parameters"])
        except StateDictError as exc:
            raise ModelFileError(f"{source}: {exc}") from None


def load_model(path: str | os.PathLike[str]) -> Module:
    """A new module rebuilt from a file written by `Module.save`."""
    source = Path(path)
    document = _read_document(source)
    cls = _REGISTRY.get(document["module"])
    if cls is None:
        raise ModelFileError(f"{source}: unknown module class {document['module']!r}")
    try:
        model = cls.from_config(document["config"])
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{source}: bad architecture {document['config']}: {exc}") from None
    try:
        model.load_state_dict(document["parameters"])
    except StateDictError as exc:
        raise ModelFileError(f"{source}: {exc}") from None
    return model


# How the weights started and whether neurons are fused change no number a model computes.
_NOT_ARCHITECTURE = ("init", "fused")


def _architecture(config: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in config.items() if key not in _NOT_ARCHITECTURE}


def _some(names: list[str], shown: int = 3) -> str:
    listed = ", ".join(repr(n) for n in names[:shown])
    return f"({listed}{', ...' if len(names) > shown else ''})"


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name} is not allowed")


def _read_document(source: Path) -> dict[str, Any]:
    try:
        text = source.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFileError(f"{source}: not a chainrule model file (not UTF-8 text: {exc.reason})") from None
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        truncated = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        hint = " (the file looks truncated)" if truncated else ""
        raise ModelFileError(f"{source}: not valid JSON{hint}: {exc.msg} at line {exc.lineno}") from None
    except ValueError as exc:
        raise ModelFileError(f"{source}: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != FILE_FORMAT:
        raise ModelFileError(f'{source}: not a chainrule model file (no "format": {FILE_FORMAT!r})')
    if document.get("version") != FILE_VERSION:
        raise ModelFileError(
            f"{source}: file format version {document.get('version')!r} is not supported "
            f"(expected {FILE_VERSION})"
        )
    for key, kind in (("module", str), ("config", dict), ("parameters", dict)):
        if not isinstance(document.get(key), kind):
            raise ModelFileError(f"{source}: field {key!r} is missing or not a {kind.__name__}")
    return document


def _write_atomically(target: Path, text: str) -> None:
    # Write beside the target so os.replace is a rename within one file system. Not
    # mkstemp: its files are private (0600), and a model file should get the usual
    # permissions, as if written with open().
    temp_name = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    try:
        with open(temp_name, "x", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not every platform lets a directory be opened.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
