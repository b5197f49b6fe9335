# Everything a fresh machine needs, from one command: `make demo` or `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
# The `torch` extra's pin in pyproject.toml (tests/unit/test_package.py holds them equal).
TORCH  := torch==2.13.0

.PHONY: demo test lint typecheck pytest bench dot browser venv clean

demo: venv dot
	$(PY) examples/demo.py --out out

test: venv dot browser lint typecheck pytest

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: venv
	$(PY) -m mypy

pytest: venv dot browser
	$(PY) -m pytest -n 2

# PyTorch is a reference in the suite: installed here when the venv lacks it (pinned).
bench: venv
	@$(PY) -c 'import torch' 2>/dev/null || $(PY) -m pip install --quiet --no-index '$(TORCH)' || \
		echo "torch could not be installed: the suite reports PyTorch as not installed"
	$(PY) benchmarks/bench.py --write BENCHMARKS.md
	$(PY) benchmarks/bench_nn.py --write BENCHMARKS.md
	$(PY) benchmarks/suite.py --write BENCHMARKS.md
	$(PY) benchmarks/bench_forward.py --write BENCHMARKS.md
	$(PY) benchmarks/bench_scale.py --write BENCHMARKS.md

venv: $(STAMP)

# The torch extra is installed only when pip finds the pinned wheel for this Python on the machine
# (its find-links, with --no-index): from an index pip can pick a CUDA build of several GB. Without
# it the tests that compare with PyTorch are skipped; in CI on Python 3.11 they fail (tests/conftest.py).
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || \
		{ echo "chainrule needs Python 3.10 or newer ($(PYTHON) is older)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@if $(PY) -m pip install --quiet --no-index --no-deps '$(TORCH)' >/dev/null 2>&1; then \
		echo "$(TORCH) installed from a local wheel: installing chainrule[dev,torch]"; \
		extras=dev,torch; \
	else \
		echo "no local wheel of $(TORCH) for this Python: installing chainrule[dev] without PyTorch"; \
		extras=dev; \
	fi; \
	echo "$(PY) -m pip install --quiet -e '.[$$extras]'"; \
	$(PY) -m pip install --quiet -e ".[$$extras]"
	rm -f $(VENV)/.installed-*
	touch $@

# graphviz's `dot` program renders the graphs; install it when missing and allowed.
dot:
	@bash scripts/ensure-dot.sh

# headless Chromium and chromedriver, for the tests that step through explain's web page
browser:
	@bash scripts/ensure-browser.sh

# .venv-3.X: the per-version environments of .ci/run
clean:
	rm -rf $(VENV) .venv-3.* out .pytest_cache .mypy_cache .ruff_cache .hypothesis
