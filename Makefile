# Everything a fresh machine needs, from one command: `make demo` or `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.PHONY: demo test lint typecheck pytest bench dot venv clean

demo: venv dot
	$(PY) examples/demo.py --out out

test: venv dot lint typecheck pytest

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: venv
	$(PY) -m mypy

pytest: venv dot
	$(PY) -m pytest -n 2

# PyTorch is a reference in the suite only: installed here on demand (pinned), never a test dependency.
bench: venv
	@$(PY) -c 'import torch' 2>/dev/null || $(PY) -m pip install --quiet torch==2.13.0 || \
		echo "torch could not be installed: the suite reports PyTorch as not installed"
	$(PY) benchmarks/bench.py --write BENCHMARKS.md
	$(PY) benchmarks/bench_nn.py --write BENCHMARKS.md
	$(PY) benchmarks/suite.py --write BENCHMARKS.md
	$(PY) benchmarks/bench_scale.py --write BENCHMARKS.md

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || \
		{ echo "chainrule needs Python 3.10 or newer ($(PYTHON) is older)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

# graphviz's `dot` program renders the graphs; install it when missing and allowed.
dot:
	@bash scripts/ensure-dot.sh

# .venv-3.X: the per-version environments of .ci/run
clean:
	rm -rf $(VENV) .venv-3.* out .pytest_cache .mypy_cache .ruff_cache .hypothesis
