"""Every ```python block of the docs runs on its own and prints what the docs show.

DOCUMENTS are the Markdown files checked: README.md and any docs/**/*.md.
Each ```python block runs as a reader who copies it would run it: alone, in a
fresh namespace, in a temporary working directory (files it writes go there).
What it writes to standard output must be exactly the output the document
shows for it, which is one of:

- comments on the lines that call print(): `print(x.grad)  # 2.2` shows the
  line `2.2`; comment-only lines right below it, with their `#` in the same
  column, show the following lines of that output;
- a one-line paragraph starting with "prints" right after the block, then a
  ```text block with everything the block prints;
- nothing at all: a block that shows no output must print nothing.

In shown output `...` stands for any text (part of a line, or several lines),
`<file>` for a file name and `<line>` for a line number; spaces at the end of
a line and blank lines at the end are ignored (a document cannot show them).
Everything else must match exactly.
A block whose opening fence reads ```python skip is shown but not run (for
commands that need something a test machine lacks). One whose fence reads
```python torch needs PyTorch: it runs where torch is installed and is skipped,
saying so, where it is not (failing instead in CI on the Python that installs
torch: the `torch` fixture of conftest.py).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

BLOCK = re.compile(
    r"^```python(?: (?P<info>skip|torch))?\n(?P<code>.*?)^```\n"
    r"(?:\nprints\b[^\n]*\n\n```text\n(?P<prints>.*?)^```\n)?",
    re.S | re.M,
)
PLACEHOLDERS = {"...": r".*?", "<file>": r"[^\n]+?", "<line>": r"[0-9]+"}


@dataclass(frozen=True)
class Block:
    document: Path
    line: int  # of the block's first line of code in the document
    code: str
    prints: str | None  # the ```text block shown after it, if any
    needs_torch: bool  # its fence reads ```python torch

    @property
    def name(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"


def blocks(document: Path) -> list[Block]:
    text = document.read_text(encoding="utf-8")
    return [
        Block(
            document,
            text.count("\n", 0, match.start("code")) + 1,
            match["code"],
            match["prints"],
            needs_torch=match["info"] == "torch",
        )
        for match in BLOCK.finditer(text)
        if match["info"] != "skip"
    ]


ALL_BLOCKS = [block for document in DOCUMENTS for block in blocks(document)]


def printed_in_comments(code: str) -> str | None:
    """The output shown in comments on print() lines (and the comment lines under them), or None."""
    tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    print_lines = {
        token.start[0]
        for token, after in itertools.pairwise(tokens)
        if token.type == tokenize.NAME and token.string == "print" and after.string == "("
    }
    code_lines = {token.start[0] for token in tokens if token.type not in (tokenize.COMMENT, tokenize.NL)}
    shown: list[str] = []
    continues: tuple[int, int] | None = None  # (line, column) a comment below would continue
    for token in tokens:
        if token.type != tokenize.COMMENT:
            continue
        line, column = token.start
        text = token.string.removeprefix("#").removeprefix(" ")
        if line in print_lines or (continues == (line - 1, column) and line not in code_lines):
            shown.append(text)
            continues = (line, column)
    return "".join(f"{line}\n" for line in shown) if shown else None


def expected_output(block: Block) -> str:
    in_comments = printed_in_comments(block.code)
    if in_comments is not None and block.prints is not None:
        pytest.fail(f"{block.name} shows its output twice: in comments and in a 'prints' block")
    return block.prints or in_comments or ""


def matches(shown: str, printed: str) -> bool:
    """Whether `printed` is the `shown` output, with its placeholders, up to trailing white space."""

    def without_trailing_spaces(text: str) -> str:
        return "\n".join(line.rstrip() for line in text.rstrip().split("\n"))

    parts = re.split("(" + "|".join(map(re.escape, PLACEHOLDERS)) + ")", without_trailing_spaces(shown))
    pattern = "".join(PLACEHOLDERS.get(part, re.escape(part)) for part in parts)
    return re.fullmatch(pattern, without_trailing_spaces(printed), re.S) is not None


def run(block: Block) -> str:
    """Run the block in a fresh namespace, as a script would; return what it printed."""
    # Leading blank lines make tracebacks (and anomaly mode's "created at") name the document's lines.
    code = compile("\n" * (block.line - 1) + block.code, str(block.document), "exec")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(code, {"__name__": "__main__"})
    return printed.getvalue()


PAGES = ["engine", "higher-order", "drawing", "nn", "compiling", "performance", "internals"]


def test_the_documents_have_examples() -> None:
    assert blocks(ROOT / "README.md")
    assert [p.stem for p in DOCUMENTS[1:]] == sorted(PAGES)
    for page in PAGES:
        assert blocks(ROOT / "docs" / f"{page}.md"), page


def test_the_readme_stays_short_and_links_every_page() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) < 250
    for page in PAGES:
        assert f"(docs/{page}.md)" in text, page
    for document in DOCUMENTS[1:]:  # every link between the pages leads to a file
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", document.read_text(encoding="utf-8")):
            assert (document.parent / target).resolve().is_file(), f"{document.name}: {target}"


def test_every_prints_block_belongs_to_a_python_block() -> None:
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        attached = sum(match["prints"] is not None for match in BLOCK.finditer(text))
        assert len(re.findall(r"^prints\b[^\n]*\n\n```text\n", text, re.M)) == attached, document


def test_every_python_fence_is_one_the_tests_know() -> None:
    # A block whose fence has another word after `python` would be neither run nor skipped.
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        fences = re.findall(r"^```python.*$", text, re.M)
        known = [match[0].split("\n")[0] for match in BLOCK.finditer(text)]
        assert fences == known, document


def test_a_torch_fence_marks_a_block_that_needs_torch_and_a_skip_fence_is_not_run(tmp_path: Path) -> None:
    document = tmp_path / "doc.md"
    document.write_text(
        "```python\nx = 1\n```\n\n```python torch\nimport torch\n```\n\n```python skip\n!\n```\n"
    )
    assert [(block.code, block.needs_torch, block.line) for block in blocks(document)] == [
        ("x = 1\n", False, 2),
        ("import torch\n", True, 6),
    ]


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=lambda block: block.name)
def test_example_runs_alone_and_prints_what_is_shown(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    if block.needs_torch:
        request.getfixturevalue("torch")  # skips without PyTorch (fails in CI on its Python)
    monkeypatch.chdir(tmp_path)
    shown = expected_output(block)
    printed = run(block)
    assert matches(shown, printed), f"{block.name} prints\n{printed}\nbut shows\n{shown}"


@pytest.mark.parametrize(
    ("shown", "printed", "expected"),
    [
        ("2.2\n", "2.2\n", True),
        ("2.2\n", "2.2000000000000002\n", False),
        ("2.2\n", "", False),
        ("", "2.2\n", False),
        ("a ... z\n", "a b c\nx y z\n", True),
        ("at <file>:<line> in f\n", "at /tmp/x.py:12 in f\n", True),
        ("at <file>:<line> in f\n", "at /tmp/x.py:twelve in f\n", False),
        ("table\n", "table   \n\n", True),
        ("table\n", "  table\n", False),
        ("<module>\n", "f\n", False),
    ],
)
def test_the_shown_output_is_matched_strictly(shown: str, printed: str, expected: bool) -> None:
    assert matches(shown, printed) is expected


def test_comments_on_print_lines_are_the_shown_output() -> None:
    code = (
        "x = 1                 # not output\n"
        "print(x)              # 1\n"
        "print(x, x)           # 1 1\n"
        "                      #   and more\n"
        "#                       not output\n"
        "y = [print(x)]\n"
        "print(x)  # x: 1\n"
        "x = 2                 # not output either\n"
    )
    assert printed_in_comments(code) == "1\n1 1\n  and more\nx: 1\n"
    assert printed_in_comments("x = 1  # 1\n") is None
