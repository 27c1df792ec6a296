# pieced-admin: the two commands of the Quick start are `make dev` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-12)
PORT ?= 5000
# Parallel test workers (pytest-xdist); "auto" = one per core.
WORKERS ?= auto

.PHONY: dev test install system-deps lint bench clean help

help:
	@echo "make dev    - install, migrate, load demo data and serve http://127.0.0.1:$(PORT) with a local login"
	@echo "make test   - install what the tests need (PostgreSQL, Chromium, poppler) and run the whole suite"
	@echo "make bench  - run the benchmarks in bench/ and print their figures"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

dev: install
	$(BIN)/pieced-admin dev --port $(PORT)

system-deps:
	./scripts/ensure-system-deps.sh

test: install system-deps
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadgroup $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) instance test-output .pytest_cache
