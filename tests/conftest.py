"""Test-wide set-up: Hypothesis profiles, and the `dot` and `torch` fixtures.

`dev` (the default) is quick for local runs; `ci` tries many more examples and
is what `.ci/run` selects with HYPOTHESIS_PROFILE=ci on the newest Python.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile(
    "ci",
    max_examples=400,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture
def dot() -> None:
    """For tests that run graphviz's dot program: skip without it on a developer's machine, fail in CI."""
    if shutil.which("dot") is not None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail("graphviz's dot program is missing in CI: run `bash scripts/ensure-dot.sh`")
    pytest.skip("graphviz's dot program is not installed (bash scripts/ensure-dot.sh installs it)")


# The Python whose torch wheel CI has (`make venv` installs the torch extra only from a wheel
# already on the machine, and CI has one for 3.11 alone): there, a missing torch is a failure.
TORCH_PYTHON_IN_CI = (3, 11)


@pytest.fixture(scope="session")
def torch() -> Any:
    """PyTorch, for the tests that compare with it: skip without it, but fail in CI on Python 3.11."""
    try:
        return importlib.import_module("torch")
    except ImportError as exc:
        version = "{}.{}".format(*sys.version_info[:2])
        if os.environ.get("CI") == "true" and sys.version_info[:2] == TORCH_PYTHON_IN_CI:
            pytest.fail(f"PyTorch is missing in CI on Python {version}, where make venv installs it: {exc}")
        pytest.skip(
            f"PyTorch is not installed for Python {version}: make venv installs it only from a wheel "
            f"of the pinned version already on the machine (README.md, Installing, says how to get it)"
        )
