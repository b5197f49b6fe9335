"""Test-wide set-up: Hypothesis profiles, and the `dot` fixture.

`dev` (the default) is quick for local runs; `ci` tries many more examples and
is what `.ci/run` selects with HYPOTHESIS_PROFILE=ci on the newest Python.
"""

from __future__ import annotations

import os
import shutil

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
