"""Every notebook in notebooks/ runs top to bottom in a kernel of this environment and shows its numbers.

Each notebook asserts its own numbers in its cells; these tests execute it
afresh and check that the numbers of the lessons appear in the outputs, and
that the committed copy carries the outputs of a clean top-to-bottom run
(pictures included), so the lessons read without running anything.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
SECONDS = 60  # each notebook must run in under a minute

# What each lesson must show: exact strings of its printed output, and its pictures.
EXPECTED: dict[str, dict[str, Any]] = {
    "01-apple-price.ipynb": {
        "text": [
            "z = 200",
            "f = 220.00000000000003",
            "L = 0.5",
            "dL/dx = 2.2\n",
            "dL/dm = 110\n",
            "dL/dt = 200\n",
            "dL/dz = 1.1\n",
            "f(101, 2, 1.1) = 222.2: f grew by 2.2, gradient x nudge = 2.2; the loss went from 0.5 to 5.12",
            "f(100, 3, 1.1) = 330: f grew by 110, gradient x nudge = 110; the loss went from 0.5 to 6160.5",
            "f(100, 2, 1.11) = 222: f grew by 2, gradient x nudge = 2; the loss went from 0.5 to 4.5",
            "gradcheck: backprop and central differences agree",
            "dL/dx             2.2           2.2\n",  # forward mode (jvp), then backward()
            "dL/dm             110           110\n",
            "dL/dt             200           200\n",
            "along (1, -2, 0): -217.8 = 2.2 - 2 x 110",
            "forward mode: three passes, one per input; reverse mode: one pass for all three",
            "checked dL/dx = 2.2",
            "checked dL/dm = 110",
            "checked dL/dt = 200",
        ],
        "svg": 3,
        "png": 0,
        "pictures": [
            "grad 2.2",
            "grad 110",
            "grad 200",
            "upstream 1.1 \u00d7 local 100 = 110",
            "step 4 of 5",
            "upstream 1 \u00d7 local 200 = 200",
        ],
    },
    "02-backprop-by-hand.ipynb": {
        "text": [
            "0.08000000  0.11000000  0.51998934  0.52747230  0.44498412  0.68047592  0.60944600  0.66384491"
            "  0.02397190",
            "E_o1 = 0.02193381, E_o2 = 0.00203809",
            "dE/do1  = 0.20944600",
            "do1/dz3 = 0.23802157",
            "dz3/dW5 = 0.51998934",
            "dE/dW5  = 0.02592286",
            "W5.grad = 0.02592286",
            "0.29959556  0.24919112  0.39964496  0.34928991  0.43703857  0.38685205  0.69629578  0.59624247",
            "E before the step = 0.02397190",
            "E after the step  = 0.02323634",
            "nn: E = 0.02397190 -> 0.02323634",
            "2-2-2 sigmoid network: 8 weights, largest |delta rule - backward()| = 0.0e+00",
            "linear 2-2-2-2 with biases: 18 parameters",
            "tanh 3-5-4-2 with biases: 54 parameters",
            "checked E after = 0.02323634",
            "checked new W8 = 0.59624247",
        ],
        "svg": 2,
        "png": 0,
        "pictures": ["data 0.0239719", "grad 0.02592", "layers.1.neurons.0.w.0"],
    },
    "03-training.ipynb": {
        "text": [
            "337 parameters",
            "fit: 100%",  # the progress bar
            "100/100",
            "80/80",
            "step 100: loss 0.0119, accuracy 100%",
            "final: loss 0.0119, training accuracy 100%",
            "final: loss 0.0568, training accuracy 97.8%",
            "checked: moons training accuracy 100% (after training: 100%)",
            "checked: spiral training accuracy 97.8% >= 95%",
        ],
        "svg": 0,
        "png": 5,  # the moons, their loss curve and boundary, the spiral, its loss curve and regions
        "pictures": [],
    },
    "04-higher-order.ipynb": {
        "text": [
            "s = 0.62245933, ds/dx = s(1 - s) = 0.23500371",
            "d2s/dx2 = -0.0575567949   closed form s(1 - s)(1 - 2s) = -0.0575567949",
            "y' = 12, y'' = 12, y''' = 6",
            "order 2: -0.479425538604   expected -0.479425538604",
            "order 4: +0.479425538604   expected +0.479425538604",
            "gradient at (1, 1): (0, 0)",
            "Hessian at (1, 1):  [[802.0, -400.0], [-400.0, 200.0]]",
            "Hessian at (-1.2, 1): [[1330.0, 480.0], [480.0, 200.0]]",
            "gradgradcheck: second derivatives agree with central differences",
            "step 5: x = 0.693147180560025, error 8.0e-14",
            "ln 2 to 12 digits in 5 steps",
            "Newton step 7: (+1.000000000000, +1.000000000000)  f = 0.000e+00",
            "gradient descent after 2000 steps: (0.7207, 0.5180), f = 0.0782",
            "relu'' : [0.0, 0.0, 0.0]",
            "(relu^2)'': [0.0, 0.0, 2.0]",
            "checked: Newton finds ln 2 in 5 steps and (1, 1) in 7 steps",
        ],
        "svg": 1,
        "png": 1,
        "pictures": ["ds/dx", "sigmoid", "data 0.235"],
    },
}


def notebook_names() -> list[str]:
    return sorted(path.name for path in NOTEBOOKS.glob("*.ipynb"))


def execute(nb: Any) -> float:
    """Run `nb` in place in a fresh python3 kernel (this interpreter's), from notebooks/; return seconds."""
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def outputs(nb: Any) -> tuple[str, str, list[str]]:
    """All text a notebook's code cells show (pictures' SVG last), and the mime types of rich outputs."""
    text, kinds, pictures = [], [], []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.outputs:
            if output.output_type == "stream":
                text.append(output.text)
            elif output.output_type == "error":
                text.append("\n".join(output.traceback))
            elif output.output_type in ("execute_result", "display_data"):
                kinds.extend(output.data)
                text.append(output.data.get("text/plain", ""))
                pictures.append(output.data.get("image/svg+xml", ""))
    return "\n".join(text), "\n".join(pictures), kinds


def check_shows(name: str, nb: Any) -> None:
    text, pictures, kinds = outputs(nb)
    missing = [s for s in EXPECTED[name]["text"] if s not in text]
    assert not missing, f"{name} does not show {missing}"
    missing = [s for s in EXPECTED[name]["pictures"] if s not in pictures]
    assert not missing, f"{name}'s pictures do not show {missing}"
    assert "Traceback" not in text
    assert kinds.count("image/svg+xml") == EXPECTED[name]["svg"], f"{name}: graph pictures"
    assert kinds.count("image/png") == EXPECTED[name]["png"], f"{name}: plots"


def test_every_notebook_is_tested() -> None:
    assert notebook_names() == sorted(EXPECTED)


def test_the_kernel_is_this_environment() -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells.append(
        nbformat.v4.new_code_cell("import sys, autograd\nprint(sys.prefix)\nprint(autograd.__file__)")
    )
    execute(nb)
    prefix, module = nb.cells[0].outputs[0].text.split()
    assert prefix == sys.prefix
    assert Path(module).resolve().parents[1] == NOTEBOOKS.parent


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs_afresh_and_shows_its_numbers(name: str, request: pytest.FixtureRequest) -> None:
    if EXPECTED[name]["svg"]:  # its graph pictures are drawn by dot
        request.getfixturevalue("dot")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    seconds = execute(nb)
    check_shows(name, nb)
    assert seconds < SECONDS, f"{name} took {seconds:.1f} s"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_committed_notebook_has_the_outputs_of_a_clean_run(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1))
    check_shows(name, nb)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_imports_only_the_public_api(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            words = line.split()
            if words[:1] in (["import"], ["from"]):
                module = words[1]
                assert "._" not in module and not module.startswith("_"), line
                if module.split(".")[0] in ("autograd", "nn"):
                    # the packages, or their public modules (autograd.apple, autograd.gradcheck)
                    assert module.count(".") <= 1, f"{name}: {line!r} reaches past the public API"
