# Every target bootstraps its own virtual environment from nothing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: help demo study test test-fast test-boundscheck fuzz docs bench bench-data bench-grid bench-broker clean

help:
	@echo "make demo   - fit an Isolation Forest on generated data, print and plot it"
	@echo "make study  - a walkthrough of how Isolation Forest scores, one figure per idea"
	@echo "make test   - run the test suite (beside it a NUMBA_BOUNDSCHECK=1 pass of the kernels)"
	@echo "make fuzz   - the property tests with fresh random examples, for FUZZ_SECONDS (600)"
	@echo "make docs   - the documentation site (docs/ and the API reference) in docs/_build/html"
	@echo "make bench  - speed benchmarks against scikit-learn and isotree"
	@echo "make bench-data - the 2008 paper's table on ODDS/ADBench data sets"
	@echo "make bench-broker - the stream through RabbitMQ against a bare pika loop"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.stamp-test: pyproject.toml | $(BIN)/python
	$(PIP) install -q -e ".[test,demo]"
	touch $@

$(VENV)/.stamp-docs: pyproject.toml | $(BIN)/python
	$(PIP) install -q -e ".[docs]"
	touch $@

$(VENV)/.stamp-bench: pyproject.toml | $(BIN)/python
	$(PIP) install -q -e ".[test,bench]"
	touch $@

demo: $(VENV)/.stamp-test
	$(BIN)/python -m isoforest.demo --out demo_output

study: $(VENV)/.stamp-test
	$(BIN)/python -m reference.study --out study_output

# The bounds-checked pass runs beside the main one (each keeps about one core busy),
# its output shown when both are done; the tests that time the stream (marked
# `timing`) then run alone, on a quiet machine.
test: $(VENV)/.stamp-test
	@log=$(VENV)/test-boundscheck.log; \
	$(MAKE) --no-print-directory test-boundscheck > $$log 2>&1 & checked=$$!; \
	trap 'kill $$checked 2>/dev/null' INT TERM; \
	$(BIN)/python -m pytest -q --durations=30 -m "not timing"; main=$$?; \
	wait $$checked; bounds=$$?; \
	echo "== the kernels' tests under NUMBA_BOUNDSCHECK=1 (make test-boundscheck):"; \
	cat $$log; test $$main -eq 0 && test $$bounds -eq 0
	$(BIN)/python -m pytest -q -m timing

# Kernels index raw memory: run their tests (marked `kernels`) once more with bounds
# checking on (and the on-disk cache off, so nothing compiled without checks is reused).
test-boundscheck: $(VENV)/.stamp-test
	NUMBA_BOUNDSCHECK=1 ISOFOREST_CACHE=0 $(BIN)/python -m pytest -q -p no:cacheprovider \
		-m kernels -k "not sklearn_compatible"

# The property tests, randomized (CI runs them derandomized), FUZZ_SCALE times their
# examples per round, and the seeded fuzzers (marked `fuzz`: the model files') with
# FUZZ_SCALE times their cases and fresh seeds; rounds until FUZZ_SECONDS have passed,
# the first failure stops it.
FUZZ_SECONDS ?= 600
FUZZ_SCALE ?= 3
fuzz: $(VENV)/.stamp-test
	@end=$$(( $$(date +%s) + $(FUZZ_SECONDS) )); round=0; \
	while [ $$(date +%s) -lt $$end ]; do \
		round=$$((round + 1)); echo "fuzz round $$round"; \
		ISOFOREST_FUZZ=$(FUZZ_SCALE) $(BIN)/python -m pytest -q -x -m "not slow" || exit 1; \
	done

# Warnings are errors: a broken link, heading or docstring fails the build.
docs: $(VENV)/.stamp-docs
	rm -rf docs/generated
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs docs/_build/html

test-fast: $(VENV)/.stamp-test
	$(BIN)/python -m pytest -q -m "not slow"

# One benchmark at a time: they share two cores.
bench: $(VENV)/.stamp-bench
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/bench_zscore.py
	$(BIN)/python benchmarks/bench_lof.py
	$(BIN)/python benchmarks/bench_explain.py

clean:
	rm -rf $(VENV) demo_output study_output .pytest_cache .hypothesis docs/_build docs/generated
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# Real data (ODDS/ADBench .npz files): DATA=dir overrides ../shared/datasets.
bench-data: $(VENV)/.stamp-bench
	$(BIN)/python benchmarks/real_data.py $(if $(DATA),--data-dir $(DATA),)

# Needs Debian's rabbitmq-server (apt-get install rabbitmq-server): a private node.
bench-broker: $(VENV)/.stamp-bench
	$(BIN)/python benchmarks/bench_broker.py

bench-grid: $(VENV)/.stamp-bench
	$(BIN)/python -m pytest benchmarks -q --benchmark-only \
		--benchmark-json=benchmarks/results/grid.json
