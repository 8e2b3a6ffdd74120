# `make study` and `make test` each set up .venv first (only when pyproject.toml or the
# lock changed), with the exact versions of requirements.lock; `make lock` re-resolves it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
export PATH := $(abspath $(BIN)):$(PATH)
# One OpenBLAS thread a process (unless you set it): the two pytest workers, or two
# Snakemake jobs, each with a BLAS thread per core spend their time waiting on each other
# (`make test-fast`: 165 s -> 115 s; docs/performance.md).
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: setup study test test-fast lint browser slurm bench lock clean

setup: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Re-resolve every dependency (for every platform and Python >= 3.11) into the lock, and
# pin environment.yml to the same versions.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra test --extra lm_eval --extra wandb --universal --python-version 3.11 --quiet -o $(LOCK)
	$(BIN)/python tools/sync_environment.py

# `make study` runs the default study (config/config.yaml) here; `make study STUDY=name` runs
# the ready study config/studies/name.yaml in a folder of its own, studies/name/ (its results/ and
# reports/ there), so that studies never share outputs.
STUDY ?=
study: $(STAMP)
ifeq ($(STUDY),)
	$(BIN)/snakemake
else
	@test -f config/studies/$(STUDY).yaml || { echo "make study: no config/studies/$(STUDY).yaml; ready studies: $(basename $(notdir $(wildcard config/studies/*.yaml)))" >&2; exit 2; }
	$(BIN)/snakemake --configfile config/studies/$(STUDY).yaml --directory studies/$(STUDY)
endif

lint: $(STAMP)
	$(BIN)/ruff check src tests tools
	$(BIN)/ruff format --check src tests tools
	$(BIN)/snakemake --lint

# The report's browser test drives Debian's Chromium: installed here where apt-get can (as
# root), else that one test is skipped with its reason.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1; } || \
	  echo "Chromium is not installed: the report's browser test will be skipped"

# The Slurm test (tests/test_slurm.py) starts a one-node cluster from Debian's slurm-wlm and
# munge packages: installed here where apt-get can (as root), else that test is skipped.
slurm:
	@command -v slurmctld >/dev/null 2>&1 || [ -x /usr/sbin/slurmctld ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge) >/dev/null 2>&1; } || \
	  echo "Slurm is not installed: the Slurm cluster test will be skipped"

# The whole suite on two workers, as CI runs it (`.ci/run`); it ends with the 15 slowest
# tests, so the next slowdown shows (last list: docs/performance.md, "The test suite").
test: $(STAMP) lint browser slurm
	$(BIN)/pytest -n 2 --durations=15

# The loop to run while working: unit tests, no Snakemake, no training beyond a few steps
# (tests marked slow, or using a fixture that trains: tests/conftest.py, are left out).
test-fast: $(STAMP)
	$(BIN)/pytest -n 2 -m "not slow"

bench: $(STAMP)
	$(BIN)/emergence perf train

clean:
	rm -rf results logs benchmarks .snakemake reports/figures reports/tables
