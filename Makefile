# The README's two set-up commands, `make demo` and `make test`, each create .venv when it is missing.
# Use another interpreter (3.11 or newer) with `make test PYTHON=python3.12`.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The editable install is redone when pyproject.toml changes (new dependency or extra).
STAMP := $(VENV)/.sk2tensor-cpu-dev
BENCH_STAMP := $(VENV)/.sk2tensor-bench
# Two workers: CI and the development machines have two cores.
PYTEST_WORKERS ?= 2

.PHONY: demo test lint format docs bench clean

demo: $(STAMP)
	$(PY) -m sk2tensor.demo

test: $(STAMP)
	$(PY) -m pytest -q -n $(PYTEST_WORKERS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Regenerates the supported-estimator and metadata tables of README.md.
docs: $(STAMP)
	$(PY) -m sk2tensor.docs

bench:
	@if [ ! -d benchmarks ]; then \
		echo "make bench: there is no benchmarks/ package in this checkout yet; nothing to run." >&2; exit 1; \
	fi
	@$(MAKE) --no-print-directory $(BENCH_STAMP)
	$(PY) -m benchmarks

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { \
		echo "make: '$(PYTHON)' was not found; sk2tensor needs Python >= 3.11 (e.g. make $(MAKECMDGOALS) PYTHON=python3.12)." >&2; \
		exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || { \
		echo "make: sk2tensor needs Python >= 3.11, but '$(PYTHON)' is $$($(PYTHON) -c 'import platform; print(platform.python_version())'); choose another with PYTHON=, e.g. make $(MAKECMDGOALS) PYTHON=python3.12" >&2; \
		exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -e '.[cpu,dev]'
	@touch $@

$(BENCH_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -e '.[cpu,dev,bench]'
	@touch $@ $(STAMP)

clean:
	rm -rf demo-output build dist .pytest_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
