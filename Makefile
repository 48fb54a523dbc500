# Two commands do all the set-up: `make demo` and `make test`.
# Both create .venv when it is missing and install the package with its dev extras into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench notebooks strip-notebooks docs clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "tinygrad_gd needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/tinygrad-gd example

test: $(STAMP)  # one pytest worker per core (pytest-xdist): the notebooks and PyTorch comparisons dominate
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n auto

lint: $(STAMP)
	$(BIN)/ruff check .

notebooks: $(STAMP)  # run every notebook in place, keeping the outputs, for reading
	$(BIN)/python notebooks/run.py --execute

strip-notebooks: $(STAMP)  # remove outputs again before committing: diffs show only what was written
	$(BIN)/python notebooks/run.py --strip

BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)  # the peers; torch only as exactly 2.13.0 (a missing peer is reported as absent)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	-$(BIN)/python -m pip install --quiet 'torch==2.13.0'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)  # every workload, every installed system, one thread each (see benchmarks/README.md)
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m benchmarks

docs: $(STAMP)  # the README's picture of the seed example's graph
	$(BIN)/tinygrad-gd example --graph docs/seed_graph.svg

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis
