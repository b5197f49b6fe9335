"""explain(...).to_html() in a real browser: stepping through the apple-price example, keys and buttons.

Each test loads a page written by the engine into headless Chromium (from a
file:// URL, as a reader opens it from disk) and reads what the browser
displays. The apple-price walk ends with the gradients 2.2, 110 and 200 and
leaves a screenshot of its last step in out/.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver import ActionChains, Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from autograd import Value, explain
from autograd.apple import apple_price

pytestmark = pytest.mark.usefixtures("dot")

SCREENSHOT = "apple-price-final-step.png"

# The apple-price page: 8 forward steps (x, m, z, t, f, f - 219, (f - 219)**2, L),
# the seed, then the 5 gates from L back to z.
FORWARD = ["x", "m", "z", "t", "f", "f - 219", "(f - 219)**2", "L"]
DATA = ["100", "2", "200", "1.1", "220", "1", "1", "0.5"]
GRADIENTS_AFTER = {  # the gradients a box shows once step k is done
    9: {"L": "1"},
    10: {"(f - 219)**2": "0.5"},
    11: {"f - 219": "1"},
    12: {"f": "1"},
    13: {"z": "1.1", "t": "200"},
    14: {"x": "2.2", "m": "110"},
}
STEPS = 14


def open_page(browser: Chrome, path: Path) -> None:
    """Load `path` afresh, after emptying the logs of whatever the browser did before."""
    browser.get_log("performance")
    browser.get_log("browser")
    browser.get(path.as_uri())


def boxes(browser: Chrome) -> dict[str, list[str]]:
    """The text of every value box as displayed, by the box's name (its first text)."""
    found: dict[str, list[str]] = browser.execute_script(
        """
        const boxes = {};
        for (const group of document.querySelectorAll("g.value")) {
          const texts = Array.from(
            group.querySelectorAll("text"),
            (t) => t.textContent.replace(/\\u00a0/g, " ")
          );
          boxes[texts[0]] = texts;
        }
        return boxes;
        """
    )
    return found


def visible_edge_labels(browser: Chrome) -> list[str]:
    """The lines of the edge labels the reader can see."""
    labels: list[str] = browser.execute_script(
        """
        return Array.from(document.querySelectorAll("g.edge text"))
          .filter((t) => getComputedStyle(t).visibility === "visible")
          .map((t) => t.textContent.replace(/\\u00a0/g, " "));
        """
    )
    return labels


def gradient_list(browser: Chrome) -> dict[str, str]:
    """The list of gradients beside the graph, as Selenium reads its visible text."""
    rows = browser.find_elements(By.CSS_SELECTOR, "table.gradients tr")
    return {
        cells[0].text: cells[1].text for row in rows if len(cells := row.find_elements(By.TAG_NAME, "td"))
    }


def position(browser: Chrome) -> str:
    return str(browser.find_element(By.ID, "position").text)


def press(browser: Chrome, key: str) -> None:
    ActionChains(browser).send_keys(key).perform()


def requests(browser: Chrome) -> dict[str, str | None]:
    """Every URL requested since the log was last read, except by the browser's own chrome:// pages.

    Each with the reason it was blocked (as "csp"), or None for a request let through.
    """
    sent: dict[str, str] = {}
    blocked: dict[str, str] = {}
    for entry in browser.get_log("performance"):
        message: dict[str, Any] = json.loads(entry["message"])["message"]
        params = message["params"]
        if message["method"] == "Network.requestWillBeSent":
            if not params.get("documentURL", "").startswith("chrome:"):
                sent[params["requestId"]] = params["request"]["url"]
        elif message["method"] == "Network.loadingFailed" and params.get("blockedReason"):
            blocked[params["requestId"]] = params["blockedReason"]
    return {url: blocked.get(request) for request, url in sent.items()}


def console_errors(browser: Chrome) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


@pytest.fixture
def apple_page(tmp_path: Path) -> Path:
    path = tmp_path / "apple-price.html"
    explain(apple_price().L).to_html(path)
    return path


def test_stepping_through_the_apple_price_example(
    browser: Chrome, apple_page: Path, screenshots: Path
) -> None:
    open_page(browser, apple_page)
    assert position(browser) == f"step 0 of {STEPS}"
    shown = boxes(browser)
    assert {name: texts[-2:] for name, texts in shown.items()} == {
        name: ["data \u00b7", "grad \u00b7"] for name in FORWARD
    }
    assert visible_edge_labels(browser) == []

    for k in range(1, STEPS + 1):
        press(browser, Keys.ARROW_RIGHT)
        assert position(browser) == f"step {k} of {STEPS}"
        shown = boxes(browser)
        known_data = {name: texts[-2] for name, texts in shown.items() if texts[-2] != "data \u00b7"}
        assert known_data == {name: f"data {d}" for name, d in list(zip(FORWARD, DATA, strict=True))[:k]}
        expected_gradients = {
            name: f"grad {g}"
            for step, grads in GRADIENTS_AFTER.items()
            if step <= k
            for name, g in grads.items()
        }
        known_gradients = {name: texts[-1] for name, texts in shown.items() if texts[-1] != "grad \u00b7"}
        assert known_gradients == expected_gradients, f"step {k}"

    # The last step: gate z = x * m sends 1.1 x 2 and 1.1 x 100 back; every gradient is known.
    caption = browser.find_element(By.ID, "caption").text
    assert "gate \u00d7 of z gets upstream dL/dz = 1.1" in caption
    assert "1.1 \u00d7 2 = 2.2 to x; 1.1 \u00d7 100 = 110 to m" in caption
    assert "upstream 1.1 \u00d7 local 100 = 110" in visible_edge_labels(browser)
    assert "upstream 1 \u00d7 local 200 = 200" in visible_edge_labels(browser)
    gradients = gradient_list(browser)
    assert (gradients["dL/dx"], gradients["dL/dm"], gradients["dL/dt"]) == ("2.2", "110", "200")
    texts = [element.text for element in browser.find_elements(By.CSS_SELECTOR, "g.value text")]
    assert {"grad 2.2", "grad 110", "grad 200"} <= set(texts)
    assert browser.find_element(By.ID, "next").get_attribute("disabled") is not None
    press(browser, Keys.ARROW_RIGHT)  # past the end: stays on the last step
    assert position(browser) == f"step {STEPS} of {STEPS}"

    # The whole page in one picture: a window as tall as the page plus the window's own bars.
    height, bars = browser.execute_script(
        "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight];"
    )
    browser.set_window_size(1400, height + bars)
    try:
        path = screenshots / SCREENSHOT
        assert browser.save_screenshot(str(path))
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    finally:
        browser.set_window_size(1400, 1000)

    assert requests(browser) == {apple_page.as_uri(): None}  # the page, and nothing else
    assert console_errors(browser) == []


def test_back_first_and_last(browser: Chrome, apple_page: Path) -> None:
    open_page(browser, apple_page)
    press(browser, Keys.END)
    assert position(browser) == f"step {STEPS} of {STEPS}"
    press(browser, Keys.ARROW_LEFT)  # before gate z: x and m have no gradient yet
    assert position(browser) == f"step {STEPS - 1} of {STEPS}"
    assert boxes(browser)["x"][-1] == "grad \u00b7" and boxes(browser)["t"][-1] == "grad 200"
    assert "upstream 1.1 \u00d7 local 100 = 110" not in visible_edge_labels(browser)
    press(browser, Keys.HOME)
    assert position(browser) == f"step 0 of {STEPS}"
    assert boxes(browser)["L"][-2:] == ["data \u00b7", "grad \u00b7"]


def test_the_buttons(browser: Chrome, apple_page: Path) -> None:
    open_page(browser, apple_page)
    button = {name: browser.find_element(By.ID, name) for name in ("first", "previous", "next", "last")}
    assert button["previous"].get_attribute("disabled") is not None
    button["next"].click()
    button["next"].click()
    assert position(browser) == f"step 2 of {STEPS}"
    assert boxes(browser)["m"][-2] == "data 2"
    button["previous"].click()
    assert boxes(browser)["m"][-2] == "data \u00b7"
    button["last"].click()
    assert gradient_list(browser)["dL/dx"] == "2.2"
    button["first"].click()
    assert position(browser) == f"step 0 of {STEPS}"
    assert gradient_list(browser)["dL/dx"] == "\u00b7"


def test_the_page_may_load_nothing_from_elsewhere(browser: Chrome, apple_page: Path) -> None:
    open_page(browser, apple_page)
    blocked = browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        document.addEventListener("securitypolicyviolation", (event) => done(event.blockedURI));
        const image = document.createElement("img");
        image.src = "https://example.com/pixel.png";
        document.body.appendChild(image);
        """
    )
    assert blocked == "https://example.com/pixel.png"
    assert requests(browser) == {apple_page.as_uri(): None, "https://example.com/pixel.png": "csp"}


def test_labels_are_shown_as_written_and_cannot_break_the_page(browser: Chrome, tmp_path: Path) -> None:
    closing = '</script><script>document.title = "broken"</script>'
    a = Value(2.0, label=closing)
    b = Value(3.0, label="<b>&amp; \"double\" 'single' {braces} [brackets]\nsecond line \\N")
    c = a * b
    c.label = "c < d & e > f"
    path = tmp_path / "labels.html"
    explain(c).to_html(path)
    open_page(browser, path)
    assert browser.title == "Forward and backward pass of c < d & e > f"
    press(browser, Keys.END)
    assert position(browser) == "step 5 of 5"
    shown = boxes(browser)
    assert shown[closing][-2:] == ["data 2", "grad 3"]
    assert shown["<b>&amp; \"double\" 'single' {braces} [brackets]"][1:] == [
        "second line \\N",
        "data 3",
        "grad 2",
    ]
    assert closing in browser.find_element(By.ID, "caption").text
    assert console_errors(browser) == []


def test_jupyter_shows_the_page_in_a_frame(browser: Chrome, tmp_path: Path) -> None:
    notebook = tmp_path / "notebook.html"
    frame = explain(apple_price().L)._repr_html_()
    notebook.write_text(f"<!DOCTYPE html><html><body><p>Out[1]:</p>{frame}</body></html>", encoding="utf-8")
    open_page(browser, notebook)
    browser.switch_to.frame(browser.find_element(By.TAG_NAME, "iframe"))
    try:
        browser.find_element(By.ID, "last").click()
        assert gradient_list(browser)["dL/dm"] == "110"
    finally:
        browser.switch_to.default_content()
    assert console_errors(browser) == []
