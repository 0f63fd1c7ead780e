# popheath: two commands do everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PYTHON ?= python3
UV_VERSION := 0.13.8
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat uv.lock pyproject.toml Makefile | sha256sum | cut -c1-12)
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install browser demo test test-fast bench lint clean airflow airflow-stop

install: $(STAMP)

$(STAMP): pyproject.toml uv.lock Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	@# Bytecode compiled once here: every stage and Airflow task is a fresh process, and without
	@# it each would recompile its imports (seconds for Great Expectations and Airflow).
	$(BIN)/uv sync --frozen --all-groups --compile-bytecode --quiet
	@rm -f $(VENV)/.installed-* && touch $@

# Headless Chromium from Debian's packages, for the coordinator page's browser test.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

demo: install
	$(BIN)/popheath demo

test: install browser
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

bench: install
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m popheath.bench

lint: install
	$(BIN)/ruff check src tests dags
	$(BIN)/ruff format --check src tests dags
	$(BIN)/mypy src

# A local Airflow (standalone, LocalExecutor) with the three DAGs and the demo settings.
airflow: install
	@test -d data/raw || $(BIN)/popheath synth --people 20000 --seed 42 --out data
	@bash deploy/airflow-local.sh start

airflow-stop:
	@bash deploy/airflow-local.sh stop

clean:
	rm -rf $(VENV) data .airflow .pytest_cache .mypy_cache .ruff_cache
