# Souverain: two commands on a fresh machine.
#   make run   – set up, index the sample documents in examples/, serve on http://127.0.0.1:8000
#   make test  – set up and run the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= data

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# llama-cpp-python compiles from source (~10 min on 2 cores) the first time; pip keeps the wheel cached.
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/souverain --data-dir $(DATA) ingest examples
	$(BIN)/souverain --data-dir $(DATA) serve

test: install
	# the browser tests drive Debian's chromium (Playwright's own browser download is never used)
	command -v chromium || (apt-get update && apt-get install -y chromium)
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/mypy src

bench: install
	$(BIN)/python bench/retrieval.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/sync.py
	$(BIN)/python bench/gateway.py

clean:
	rm -rf $(VENV) $(DATA) .pytest_cache .ruff_cache .mypy_cache
