"""The import names resolve to this project, with its typing marker; the torch extra's pin is make's."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import autograd
import nn


def test_autograd_is_chainrule_not_another_distribution() -> None:
    # HIPS autograd uses the same import name; ours must be the one imported.
    assert autograd.__distribution__ == "chainrule"
    assert hasattr(autograd, "Value")
    files = importlib.metadata.files("chainrule") or []
    names = {Path(str(f)).name for f in files}
    assert any(name.endswith(".pth") or name == "__init__.py" for name in names)


def test_both_packages_ship_py_typed() -> None:
    for package in (autograd, nn):
        assert package.__file__ is not None
        assert (Path(package.__file__).parent / "py.typed").is_file()


def test_the_makefile_installs_the_torch_the_extra_pins() -> None:
    requirements = importlib.metadata.requires("chainrule") or []
    pinned = [r.split(";")[0].strip() for r in requirements if re.search(r"extra == ['\"]torch['\"]", r)]
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text(encoding="utf-8")
    match = re.search(r"^TORCH\s*:=\s*(\S+)$", makefile, re.M)
    assert match is not None
    assert pinned == [match[1]]
    assert re.fullmatch(r"torch==[0-9.]+", match[1])  # exactly one version: never a range
