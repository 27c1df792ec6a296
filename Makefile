# pieced-admin: the two commands of the Quick start are `make dev` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
# Installs come from the committed lock (requirements-dev.txt), never from
# whatever the index serves today; the stamp follows the lock and pyproject.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements-dev.txt | md5sum | cut -c1-12)
PORT ?= 5000
# Parallel test workers (pytest-xdist); "auto" = one per core.
WORKERS ?= auto

.PHONY: dev test install lock system-deps lint bench clean help

help:
	@echo "make dev    - install, migrate, load demo data and serve http://127.0.0.1:$(PORT) with a local login"
	@echo "make test   - install what the tests need (PostgreSQL, Chromium, poppler) and run the whole suite"
	@echo "make bench  - run the benchmarks in bench/ and print their figures"
	@echo "make lock   - refresh requirements.txt and requirements-dev.txt from the ranges in pyproject.toml"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# Refresh requirements.txt and requirements-dev.txt from pyproject.toml's ranges (a commit of its own).
lock: install
	UV=$(BIN)/uv ./scripts/lock.sh

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
