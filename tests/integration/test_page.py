"""explain(...).to_html(): one self-contained page, its steps the engine's numbers, escaped throughout.

These read the page as text; tests/browser/ steps through it in a real browser.
"""

from __future__ import annotations

import base64
import hashlib
import html
import importlib.util
import json
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograd import Value, explain
from autograd.apple import apple_price
from autograd.draw import DEFAULT_MAX_NODES, GraphTooLargeError
from tests.integration.test_render import LABELS

pytestmark = pytest.mark.usefixtures("dot")

ROOT = Path(__file__).resolve().parents[2]


class Scripts(HTMLParser):
    """The script elements of a page, as the browser's parser splits them: (attributes, text)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[dict[str, str | None], str]] = []
        self.meta: list[dict[str, str | None]] = []
        self._open: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._open = dict(attrs)
            self.found.append((self._open, ""))
        elif tag == "meta":
            self.meta.append(dict(attrs))

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            attributes, text = self.found[-1]
            self.found[-1] = (attributes, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._open = None


def parse(page: str) -> Scripts:
    scripts = Scripts()
    scripts.feed(page)
    scripts.close()
    return scripts


def steps_of(page: str) -> list[dict[str, Any]]:
    (data,) = [text for attributes, text in parse(page).found if attributes.get("type") == "application/json"]
    steps: list[dict[str, Any]] = json.loads(data)["steps"]
    return steps


def shown_after(steps: list[dict[str, Any]], k: int) -> dict[str, str]:
    """Every text the page shows once step k is done: steps 0..k applied in order, as the script does."""
    texts: dict[str, str] = {}
    for step in steps[: k + 1]:
        texts.update(step["texts"])
    return texts


def test_the_page_is_one_file_that_loads_nothing(tmp_path: Path) -> None:
    page = explain(apple_price().L).to_html(tmp_path / "apple.html")
    assert (tmp_path / "apple.html").read_text(encoding="utf-8") == page
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"\b(src|href|xlink:href|srcset|action)\s*=", page, re.I)
    assert not re.search(r"@import|url\(", page)
    found = parse(page)
    (policy,) = [m["content"] for m in found.meta if m.get("http-equiv") == "Content-Security-Policy"]
    assert policy is not None
    (code,) = [text for attributes, text in found.found if "type" not in attributes]
    digest = base64.b64encode(hashlib.sha256(code.encode("utf-8")).digest()).decode("ascii")
    assert policy == f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{digest}'"
    assert page.count("<svg") == 1 and '<g id="graph0" class="graph"' in page  # dot's SVG, inline


def test_the_steps_show_the_apple_price_numbers_of_the_engine() -> None:
    graph = apple_price()
    table = explain(graph.L)
    steps = steps_of(table.to_html())
    assert len(steps) == 1 + 8 + 1 + 5  # the bare graph, 8 Values forward, the seed, 5 gates
    texts = shown_after(steps, len(steps) - 1)
    assert sorted(v for k, v in texts.items() if k.endswith("-grad")) == sorted(
        f"grad {g}" for g in ("2.2", "110", "200", "1.1", "1", "1", "1", "0.5")
    )
    assert "grad 2.2" not in shown_after(steps, len(steps) - 2).values()
    assert all(v == "data \u00b7" for k, v in shown_after(steps, 0).items() if k.endswith("-data"))
    assert steps[3]["caption"] == "Forward: gate \u00d7 computes z = 200 from x, m."
    assert steps[-1]["caption"] == (
        "Backward: gate \u00d7 of z gets upstream dL/dz = 1.1 and sends upstream \u00d7 local back: "
        "1.1 \u00d7 2 = 2.2 to x; 1.1 \u00d7 100 = 110 to m. Complete: dL/dx = 2.2, dL/dm = 110."
    )


def test_every_number_comes_from_the_table() -> None:
    # A table whose gradient for x is not what any arithmetic on the page would give.
    graph = apple_price()
    table = explain(graph.L)
    gradients = dict(table.gradients)
    gradients[graph.x] = 2.25
    page = replace(table, gradients=gradients).to_html()
    assert "grad 2.25" in shown_after(steps_of(page), 14).values()
    assert "dL/dx = 2.25" in steps_of(page)[-1]["caption"]


def test_a_gradient_appears_when_its_last_contribution_has_arrived() -> None:
    a = Value(3.0, label="a")
    y = a * a + a  # a gets three contributions: 3 and 3 from a * a, then 1
    y.label = "y"
    table = explain(y)
    steps = steps_of(table.to_html())
    grad_of_a = [step["texts"].get("v0-grad") for step in steps]
    totals = [step["texts"].get("v0-total") for step in steps]
    assert [g for g in grad_of_a if g is not None] == ["grad \u00b7", "grad 7"]
    assert grad_of_a.index("grad 7") == len(steps) - 1
    assert [t for t in totals if t is not None] == ["\u00b7", "1 so far", "7"]


def test_labels_are_escaped_in_the_graph_the_data_and_the_tables() -> None:
    closing = '</script><script>alert("x")</script>'
    a = Value(2.0, label=closing)
    b = Value(3.0, label="<b>&amp; \"q\" 'q' {braces} [brackets]\nline \\N")
    c = a * b
    c.label = "</title><!-- & -->"
    page = explain(c).to_html()
    assert page.count("</script>") == 2  # the ends of the page's own two scripts
    assert page.lower().count("<script") == 2
    assert "<!-- & -->" not in page
    steps = steps_of(page)
    assert closing in steps[1]["caption"]
    assert "</title><!-- & -->" in steps[3]["caption"]
    assert "<title>Forward and backward pass of &lt;/title&gt;&lt;!-- &amp; --&gt;</title>" in page


@settings(max_examples=min(settings().max_examples, 40))
@given(st.lists(LABELS, min_size=2, max_size=2))
def test_any_labels_make_a_page_whose_steps_hold_them(labels: list[str]) -> None:
    a, b = (Value(float(i), label=label) for i, label in enumerate(labels, start=2))
    c = a * b + 1.0
    page = explain(c).to_html()
    steps = steps_of(page)
    assert [step["caption"] for step in steps[1:3]] == [
        f"Forward: the input {label} is {i}." for i, label in enumerate(labels, start=2)
    ]
    assert page.lower().count("<script") == 2 and page.count("</script>") == 2


def test_jupyter_gets_the_page_in_a_frame() -> None:
    table = explain(apple_price().L)
    frame = table._repr_html_()
    match = re.fullmatch(r'<iframe srcdoc="([^"]*)" sandbox="allow-scripts" [^>]*></iframe>', frame)
    assert match is not None
    assert html.unescape(match[1]) == table.to_html()


def test_a_graph_too_large_to_step_through_is_refused() -> None:
    total = Value.sum([Value(float(i)) for i in range(DEFAULT_MAX_NODES)])
    with pytest.raises(GraphTooLargeError, match="print the table instead"):
        explain(total).to_html()


def test_rankdir_is_checked() -> None:
    with pytest.raises(ValueError, match="rankdir must be one of"):
        explain(apple_price().L).to_html(rankdir="up")
    assert "<svg" in explain(apple_price().L).to_html(rankdir="LR")


def test_make_demo_writes_the_apple_price_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("chainrule_demo", ROOT / "examples" / "demo.py")
    assert spec is not None and spec.loader is not None
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    demo.apple_price(tmp_path)
    assert f"wrote {tmp_path / 'apple-price.html'}" in capsys.readouterr().out
    page = (tmp_path / "apple-price.html").read_text(encoding="utf-8")
    assert "grad 2.2" in shown_after(steps_of(page), 14).values()
