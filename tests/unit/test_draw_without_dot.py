"""Without graphviz's dot program: the DOT source is still made, and rendering says how to install it."""

from __future__ import annotations

from pathlib import Path

import graphviz
import pytest

from autograd import explain
from autograd.apple import apple_price, draw_apple_price
from autograd.apple import main as apple_main
from autograd.draw import DotNotFoundError


@pytest.fixture
def no_dot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH on which no graphviz program can be found."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return tmp_path


def test_without_dot_the_source_is_still_made(no_dot: Path) -> None:
    drawing = draw_apple_price()
    assert "grad 2.2" in drawing.source


def test_without_dot_rendering_says_how_to_install_graphviz(no_dot: Path) -> None:
    drawing = draw_apple_price()
    with pytest.raises(DotNotFoundError, match="apt-get install graphviz") as info:
        drawing.pipe(format="svg")
    assert isinstance(info.value, graphviz.ExecutableNotFound)
    assert "brew install graphviz" in str(info.value) and ".source" in str(info.value)
    with pytest.raises(DotNotFoundError, match=r"draw_dot\(\.\.\.\)\.render"):
        drawing.render(no_dot / "apple", format="png")
    assert sorted(p.name for p in no_dot.iterdir()) == ["empty-bin"]  # nothing half-written
    with pytest.raises(DotNotFoundError):
        drawing._repr_mimebundle_()  # what Jupyter calls to show it inline


def test_explainer_pictures_without_dot_leave_the_folder_alone(no_dot: Path) -> None:
    with pytest.raises(DotNotFoundError, match="install graphviz"):
        explain(apple_price().L, pictures=no_dot / "steps")
    assert not (no_dot / "steps").exists()


def test_command_line_without_dot_writes_the_source_and_says_why(
    no_dot: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert apple_main(["--out", str(no_dot / "out"), "--format", "svg"]) == 1
    err = capsys.readouterr().err
    assert "apt-get install graphviz" in err
    assert sorted(p.name for p in (no_dot / "out").iterdir()) == ["apple-price.gv"]
    assert "grad 2.2" in (no_dot / "out" / "apple-price.gv").read_text(encoding="utf-8")


def test_the_command_is_installed_and_exits_with_mains_status(
    no_dot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from importlib.metadata import entry_points

    from autograd.apple import cli

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "chainrule-apple"]
    assert script.value == "autograd.apple:cli"
    monkeypatch.setattr("sys.argv", ["chainrule-apple", "--out", str(no_dot / "out")])
    with pytest.raises(SystemExit) as info:
        cli()
    assert info.value.code == 1


def test_the_web_page_without_dot_says_how_to_install_graphviz_and_writes_nothing(no_dot: Path) -> None:
    table = explain(apple_price().L)
    with pytest.raises(DotNotFoundError, match="apt-get install graphviz"):
        table.to_html(no_dot / "apple.html")
    assert sorted(p.name for p in no_dot.iterdir()) == ["empty-bin"]
    with pytest.raises(DotNotFoundError):
        table._repr_html_()
