# juncture: the one door. `make demo` serves a demo company; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
VENDOR := src/juncture/web/static/vendor
DEMO_DB ?= sqlite:///.juncture/demo.db

.PHONY: help install install-dev assets demo serve test test-all lint fmt docs bench bench-nab clean

help:
	@echo "make demo   - install, create a demo company, serve it on http://127.0.0.1:8000"
	@echo "make test   - install test tools and run the whole suite"
	@echo "make lint   - ruff, format check, mypy --strict, import contracts, migrations, docs"
	@echo "make bench  - run the benchmarks in bench/"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: $(BIN)/python requirements/runtime.lock pyproject.toml
	$(BIN)/pip install --quiet -r requirements/runtime.lock
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements/dev.lock
	$(BIN)/pip install --quiet -r requirements/dev.lock
	@touch $@

$(VENDOR)/.stamp: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed to install the front-end libraries (htmx)"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/
	@touch $@

install: $(VENV)/.runtime assets
install-dev: $(VENV)/.dev assets
assets: $(VENDOR)/.stamp

demo: install
	@mkdir -p .juncture
	JUNCTURE_DATABASE_URL=$${JUNCTURE_DATABASE_URL:-$(DEMO_DB)} $(BIN)/juncture demo

serve: install
	JUNCTURE_DATABASE_URL=$${JUNCTURE_DATABASE_URL:-$(DEMO_DB)} $(BIN)/juncture serve

test: install-dev
	$(BIN)/python -m pytest

lint: install-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	JUNCTURE_DATABASE_URL=sqlite:///$$(mktemp -d)/check.db $(BIN)/juncture db check
	$(BIN)/python -m juncture.docsgen --check

fmt: install-dev
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

docs: install-dev
	$(BIN)/python -m juncture.docsgen

bench: install-dev
	@for f in bench/[a-z]*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

bench-nab: install-dev
	$(BIN)/python bench/nab.py

clean:
	rm -rf $(VENV) node_modules $(VENDOR) .pytest_cache .mypy_cache .ruff_cache
