"""Every ```python block in the README runs, top to bottom, in one namespace.

A block whose opening fence reads ```python skip is shown but not run (for
commands that need something a test machine lacks).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"^```python( skip)?\n(.*?)^```", re.S | re.M)


def readme_blocks() -> list[str]:
    return [code for skip, code in BLOCK.findall(README.read_text(encoding="utf-8")) if not skip]


def test_readme_has_examples() -> None:
    assert len(readme_blocks()) >= 3


def test_readme_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    namespace: dict[str, object] = {"__name__": "readme"}
    for number, code in enumerate(readme_blocks(), start=1):
        try:
            exec(compile(code, f"README.md block {number}", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"README block {number} failed: {exc!r}\n{code}")
