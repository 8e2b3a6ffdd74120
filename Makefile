# `make study` and `make test` each set up .venv first (only when pyproject.toml changed).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup study test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

study: $(STAMP)
	$(BIN)/snakemake

lint: $(STAMP)
	$(BIN)/snakemake --lint

test: $(STAMP) lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/emergence bench train

clean:
	rm -rf results logs benchmarks .snakemake reports/figures reports/tables
