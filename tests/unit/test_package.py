"""The import names resolve to this project, with its typing marker."""

from __future__ import annotations

import importlib.metadata
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
