"""Rendering with graphviz's real dot program: SVG text, PNG and PDF files, escaping round trips."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograd import Value, draw_dot, explain
from autograd.apple import apple_price, draw_apple_price
from autograd.apple import main as apple_main
from tests.integration import moons_loss

SVG = "{http://www.w3.org/2000/svg}"


pytestmark = pytest.mark.usefixtures("dot")


def svg_texts(svg: str) -> list[str]:
    """Every piece of text in an SVG, as a reader sees it (no-break spaces as spaces)."""
    root = ET.fromstring(svg)
    return [(e.text or "").replace("\xa0", " ") for e in root.iter(f"{SVG}text")]


def node_texts(svg: str) -> dict[str, list[str]]:
    """The text of every node of an SVG drawing, by node id."""
    root = ET.fromstring(svg)
    found: dict[str, list[str]] = {}
    for group in root.iter(f"{SVG}g"):
        if group.get("class") == "node":
            title = group.find(f"{SVG}title")
            assert title is not None
            texts = [(e.text or "").replace("\xa0", " ") for e in group.iter(f"{SVG}text")]
            found[title.text or ""] = texts
    return found


def test_apple_price_svg_holds_labels_values_and_gradients() -> None:
    svg = draw_dot(apple_price().L).pipe(format="svg", encoding="utf-8")
    boxes = [texts for texts in node_texts(svg).values() if any(t.startswith("data ") for t in texts)]
    assert ["x", "data 100", "grad 2.2"] in boxes
    assert ["m", "data 2", "grad 110"] in boxes
    assert ["t", "data 1.1", "grad 200"] in boxes
    assert ["z", "data 200", "grad 1.1"] in boxes
    assert ["f", "data 220", "grad 1"] in boxes
    assert ["L", "data 0.5", "grad 1"] in boxes
    gates = [texts for texts in node_texts(svg).values() if not any(t.startswith("data ") for t in texts)]
    assert sorted(t for (t,) in gates) == sorted(["\u00d7", "\u00d7", "\u2212", "**2", "\u00d7"])


def test_annotated_edges_render_local_gradients_and_contributions() -> None:
    texts = svg_texts(draw_apple_price().pipe(format="svg", encoding="utf-8"))
    assert "local \u2202z/\u2202x = 2" in texts
    assert "upstream 1.1 \u00d7 local 2 = 2.2" in texts
    assert "upstream 1.1 \u00d7 local 100 = 110" in texts
    assert "upstream 1 \u00d7 local 200 = 200" in texts


def test_data_flows_left_to_right() -> None:
    svg = draw_dot(apple_price().L).pipe(format="svg", encoding="utf-8")
    root = ET.fromstring(svg)
    x_of: dict[str, float] = {}
    for element in root.iter(f"{SVG}text"):
        if element.text in ("x", "z", "f", "L"):
            x_of[element.text] = float(element.get("x", "nan"))
    assert x_of["x"] < x_of["z"] < x_of["f"] < x_of["L"]


@pytest.mark.parametrize(("fmt", "magic"), [("png", b"\x89PNG\r\n\x1a\n"), ("pdf", b"%PDF")])
def test_png_and_pdf(tmp_path: Path, fmt: str, magic: bytes) -> None:
    drawing = draw_apple_price()
    path = Path(drawing.render(tmp_path / "apple", format=fmt))
    assert path.name == f"apple.{fmt}"
    assert path.read_bytes().startswith(magic)
    assert drawing.pipe(format=fmt).startswith(magic)


def test_jupyter_shows_it_inline() -> None:
    bundle = draw_apple_price()._repr_mimebundle_()
    assert "grad 2.2" in bundle["image/svg+xml"]


_SPECIAL = st.sampled_from([*'"{}<>|\\\n &;[]#', "\\n", "\\N", "\\G", "<BR/>", "&amp;", "]>", "  "])
# Characters a font can show: no controls, surrogates, separators, private or unassigned code points.
_PRINTABLE = st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp", "Co", "Cn"))
LABELS = st.lists(st.one_of(_SPECIAL, _PRINTABLE), min_size=1, max_size=16).map("".join)


# Each example renders several labels in one dot run, so fewer runs cover as much.
@settings(max_examples=min(settings().max_examples, 150))
@given(st.lists(LABELS, min_size=1, max_size=6))
def test_labels_round_trip_through_dot_into_the_svg(labels: list[str]) -> None:
    leaves = [Value(float(i), label=label) for i, label in enumerate(labels, start=1)]
    svg = draw_dot(Value.sum([*leaves, 1000.0])).pipe(format="svg", encoding="utf-8")
    boxes = {texts[-2]: texts[:-2] for texts in node_texts(svg).values() if len(texts) >= 2}
    for i, label in enumerate(labels, start=1):
        lines = [line.replace("\xa0", " ") for line in label.split("\n")]
        assert boxes[f"data {i}"] == [line for line in lines if line]


def test_control_characters_render_as_python_escapes() -> None:
    svg = draw_dot(Value(1.0, label="a\tb\x00c\rd")).pipe(format="svg", encoding="utf-8")
    (texts,) = node_texts(svg).values()
    assert texts[0] == "a\\tb\\x00c\\rd"


def test_collapsed_moons_drawing_renders() -> None:
    loss = moons_loss(points=20)
    loss.backward()
    svg = draw_dot(loss, collapse=True, max_nodes=40).pipe(format="svg", encoding="utf-8")
    texts = svg_texts(svg)
    assert any(t.startswith("folded: 2 \u00d7, 2 +") for t in texts)
    assert any(t.endswith("more boxes") for t in texts)


def test_explainer_writes_one_picture_per_step(tmp_path: Path) -> None:
    table = explain(apple_price().L, pictures=tmp_path / "steps")
    paths = sorted((tmp_path / "steps").iterdir())
    assert [p.name for p in paths] == [f"step-0{n}.png" for n in range(1, 6)]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)
    svg_paths = table.write_pictures(tmp_path / "svg", "svg")
    texts = svg_texts(svg_paths[-1].read_text(encoding="utf-8"))
    assert "step 5 of 5: gate \u00d7 of z gets upstream 1.1 and sends back upstream \u00d7 local" in texts
    assert "upstream 1.1 \u00d7 local 2 = 2.2" in texts


def test_command_line_writes_svg_png_and_steps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert apple_main(["--out", str(tmp_path), "--steps"]) == 0
    out = capsys.readouterr().out
    assert "dL/dx" in out and "= 2.2" in out
    assert (tmp_path / "apple-price.png").read_bytes().startswith(b"\x89PNG")
    texts = svg_texts((tmp_path / "apple-price.svg").read_text(encoding="utf-8"))
    assert "grad 2.2" in texts and "grad 110" in texts and "grad 200" in texts
    assert len(list((tmp_path / "apple-price-steps").iterdir())) == 5
