"""`Module`: a model's parameters, their names, and saving them as JSON.

A model file holds the module's class, its configuration (the architecture)
and every parameter by name. Loading checks all of it before it assigns
anything, so a file that does not fit leaves the model as it was.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import reprlib
import stat
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

    @classmethod
    def count_parameters(cls, config: Mapping[str, Any]) -> int | None:
        """How many parameters `from_config(config)` makes, found without making them; None if unknown.

        Raises TypeError or ValueError for a config `from_config` would refuse. `load_model`
        calls it before it builds anything; a subclass that can tell overrides it.
        """
        return None

    # ---- PyTorch ----------------------------------------------------------------

    def to_torch(self) -> Any:
        """A float64 `torch.nn.Sequential` with this model's weights, computing what it computes.

        For a Neuron, a Layer or an MLP; needs PyTorch (`pip install 'chainrule[torch]'`).
        """
        from .torch_interop import to_torch  # imports torch: only when asked for

        return to_torch(self)

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
            try:
                number = float(value)
            except OverflowError:
                raise StateDictError(
                    f"parameter {name!r} is beyond the float range (about 1.8e308)"
                ) from None
            if not math.isfinite(number):
                raise StateDictError(f"parameter {name!r} is not finite: {number!r}")
            values.append(number)
        return values

    # ---- files ------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model to `path` as JSON, atomically: a crash leaves the old file whole.

        A file saved over keeps its permission bits; a new one gets the usual ones.
        """
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
        _write_atomically(path, json.dumps(document, indent=1) + "\n")

    def load(self, path: str | os.PathLike[str]) -> None:
        """Set the parameters from a file written by `save`; on any problem raise and change nothing."""
        source = Path(path)
        document = _read_document(source)
        if document["module"] != type(self).__name__:
            raise ModelFileError(
                f"{source}: holds a {_clipped(document['module'], 60)}, not a {type(self).__name__}"
            )
        theirs, ours = _architecture(document["config"]), _architecture(self.config())
        if theirs != ours:
            raise ModelFileError(
                f"{source}: architecture {_brief(theirs)} does not match this model's {_brief(ours)}"
            )
        try:
            self.load_state_dict(document["parameters"])
        except StateDictError as exc:
            raise ModelFileError(f"{source}: {exc}") from None


def load_model(path: str | os.PathLike[str]) -> Module:
    """A new module rebuilt from a file written by `Module.save`.

    The architecture is checked, and the number of parameters it implies matched
    against the file's, before the module is built: a small file cannot ask for a
    huge model.
    """
    source = Path(path)
    document = _read_document(source)
    config, parameters = document["config"], document["parameters"]
    cls = _REGISTRY.get(document["module"])
    if cls is None:
        raise ModelFileError(f"{source}: unknown module class {_brief(document['module'])}")
    try:
        count = cls.count_parameters(config)
    except (TypeError, ValueError) as exc:
        raise _bad_architecture(source, config, exc) from None
    if count is not None and count != len(parameters):
        raise ModelFileError(
            f"{source}: architecture {_brief(config)} has {_brief(count)} parameters, "
            f"the file holds {len(parameters)}"
        )
    try:
        model = cls.from_config(config)
    except (TypeError, ValueError) as exc:
        raise _bad_architecture(source, config, exc) from None
    try:
        model.load_state_dict(parameters)
    except StateDictError as exc:
        raise ModelFileError(f"{source}: {exc}") from None
    return model


def _bad_architecture(source: Path, config: object, exc: Exception) -> ModelFileError:
    return ModelFileError(f"{source}: bad architecture {_brief(config)}: {_clipped(str(exc))}")


# How the weights started and whether neurons are fused change no number a model computes.
_NOT_ARCHITECTURE = ("init", "fused")


def _architecture(config: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in config.items() if key not in _NOT_ARCHITECTURE}


def _some(names: list[str], shown: int = 3) -> str:
    listed = ", ".join(repr(n) for n in names[:shown])
    return f"({listed}{', ...' if len(names) > shown else ''})"


def _brief(x: object) -> str:
    # The repr of something read from a file, short enough for an error message.
    short = reprlib.Repr()
    short.maxlevel, short.maxdict, short.maxlist = 3, 10, 10
    short.maxstring, short.maxlong, short.maxother = 60, 40, 60
    return short.repr(x)


def _clipped(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name} is not allowed")


# A float has at most 309 digits before its point: a longer integer is refused before
# Python converts it (which takes time quadratic in the digits).
_MAX_DIGITS = 309


def _parse_int(digits: str) -> int:
    size = len(digits) - digits.startswith("-")
    if size > _MAX_DIGITS:
        raise ValueError(f"an integer of {size} digits is beyond the float range ({_MAX_DIGITS} digits)")
    return int(digits)


# Far deeper than a model file's three levels, far shallower than Python's recursion limit,
# so that nothing which reads the document afterwards (repr, ==) recurses too deeply.
_MAX_DEPTH = 64


def _too_deep(document: object) -> bool:
    stack = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > _MAX_DEPTH:
            return True
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _read_document(source: Path) -> dict[str, Any]:
    try:
        text = source.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFileError(f"{source}: not a chainrule model file (not UTF-8 text: {exc.reason})") from None
    try:
        document = json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        truncated = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        hint = " (the file looks truncated)" if truncated else ""
        message = exc.msg.removesuffix(" at")  # json's "Unterminated string starting at"
        raise ModelFileError(f"{source}: not valid JSON{hint}: {message} at line {exc.lineno}") from None
    except ValueError as exc:
        raise ModelFileError(f"{source}: {exc}") from None
    except RecursionError:
        too_deep = True
    else:
        too_deep = _too_deep(document)
    if too_deep:
        raise ModelFileError(
            f"{source}: not a chainrule model file (brackets nested more than {_MAX_DEPTH} deep)"
        )
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


# A save writes `.<name>.chainrule-save-<pid>-<random>.tmp` beside its target, so a later save
# can tell the file of a process killed mid-write from one another process is writing now.
_TEMPORARY = "chainrule-save"


def _write_atomically(path: str | os.PathLike[str], text: str) -> None:
    # Write beside the target so os.replace is a rename within one file system. Not mkstemp:
    # its files are private (0600); a new model file gets the usual 0666 & ~umask, as open()
    # makes it, and a file saved over keeps its permission bits. Errors name `path`, not the
    # temporary file.
    shown = os.fspath(path)
    if not shown:
        raise ValueError("cannot save to '': the path is empty")
    target = Path(path)
    if shown.endswith(tuple(sep for sep in (os.sep, os.altsep) if sep)):
        raise IsADirectoryError(
            errno.EISDIR, f"cannot save {shown}: a path ending in a separator names a folder"
        )
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"cannot save {shown}: it is a folder, not a file")
    _remove_stale_temporaries(target)
    temporary = target.parent / f".{target.name}.{_TEMPORARY}-{os.getpid()}-{uuid.uuid4().hex}.tmp"
    try:
        try:
            mode: int | None = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            mode = None
        with open(temporary, "x", encoding="utf-8") as handle:
            if mode is not None:
                with contextlib.suppress(OSError):  # a file system without permission bits
                    os.chmod(temporary, mode)  # before the text is in it
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise _save_error(shown, target.parent, exc) from None
        raise
    _fsync_directory(target.parent)


def _save_error(shown: str, folder: Path, exc: OSError) -> OSError:
    # The same kind of error (FileNotFoundError, PermissionError, ...), naming the user's path.
    if exc.errno == errno.ENOENT and not folder.is_dir():
        reason = f"the folder {folder} does not exist"
    elif exc.errno == errno.ENOTDIR:
        reason = f"{folder} is not a folder"
    elif exc.errno == errno.EACCES:
        reason = f"no permission to write in the folder {folder}"
    else:
        reason = exc.strerror or str(exc)
    message = f"cannot save {shown}: {reason}"
    return OSError(exc.errno, message) if exc.errno is not None else type(exc)(message)


def _remove_stale_temporaries(target: Path) -> None:
    # A save killed mid-write leaves its temporary file behind; the next save of the same
    # target removes those whose process has ended.
    pattern = re.compile(rf"\.{re.escape(target.name)}\.{_TEMPORARY}-(\d{{1,10}})-[0-9a-f]{{32}}\.tmp")
    try:
        names = os.listdir(target.parent)
    except OSError:
        return  # the write says what is wrong with the folder
    for name in names:
        match = pattern.fullmatch(name)
        if match and _has_ended(int(match[1])):
            with contextlib.suppress(OSError):
                os.unlink(target.parent / name)


def _has_ended(pid: int) -> bool:
    # Only where a process can be probed without touching it (signal 0); elsewhere
    # (Windows, where os.kill terminates) no file is taken for stale.
    if pid == os.getpid() or os.name != "posix":
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (OSError, OverflowError):
        return False  # alive but another user's, or no such process number
    return False


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
