# The README's two set-up commands, `make demo` and `make test`, each create .venv when it is missing.
# Use another interpreter (3.11 or newer) with `make test PYTHON=python3.12`.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
GOAL := $(or $(firstword $(MAKECMDGOALS)),demo)
# The editable install is redone when pyproject.toml changes (new dependency or extra).
STAMP := $(VENV)/.sk2tensor-cpu-dev
BENCH_STAMP := $(VENV)/.sk2tensor-bench
# The oldest supported release of every dependency (constraints/oldest.txt), in a virtual environment of its own.
OLDEST_VENV := .venv-oldest
OLDEST_STAMP := $(OLDEST_VENV)/.sk2tensor-oldest
# Two pytest-xdist workers: CI and the development machines have two cores (tests/conftest.py keeps BLAS and
# OpenMP at one thread per worker). Override with e.g. `make test PYTEST_ARGS='-p no:xdist'` to run serially.
PYTEST_ARGS ?= -n 2

.PHONY: demo test test-oldest lint format docs bench clean

demo: $(STAMP)
	$(PY) -m sk2tensor.demo

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

# The suite again on the oldest releases pyproject.toml allows (CI runs it after `make test`); the Ray and Spark
# tests skip there (they are not installed).
test-oldest: $(OLDEST_STAMP)
	$(OLDEST_VENV)/bin/python -m pytest -q $(PYTEST_ARGS)

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
	@$(PYTHON) -c "import sys" >/dev/null 2>&1 || { \
		echo "make: '$(PYTHON)' cannot be run; sk2tensor needs Python >= 3.11: name one with PYTHON=, e.g. make $(GOAL) PYTHON=python3.12" >&2; \
		exit 1; }
	@$(PYTHON) -c "import sys; v = sys.version_info; sys.exit(0 if v >= (3, 11) else 'make: sk2tensor needs Python >= 3.11, but $(PYTHON) is %d.%d: name another with PYTHON=, e.g. make $(GOAL) PYTHON=python3.12' % v[:2])"
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -e '.[cpu,dev]'
	@touch $@

$(OLDEST_STAMP): pyproject.toml constraints/oldest.txt | $(PY)
	rm -rf $(OLDEST_VENV)
	$(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/python -m pip install -c constraints/oldest.txt -e '.[cpu,data]' pytest pytest-xdist hypothesis \
		lightgbm xgboost-cpu catboost imbalanced-learn category-encoders feature-engine
	@touch $@

$(BENCH_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -e '.[cpu,dev,bench]'
	@touch $@ $(STAMP)

clean:
	rm -rf demo-output build dist .pytest_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
