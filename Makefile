# make demo / make test / make bench / make lint — each creates its virtual environment if needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BENCH_VENV := .venv-bench
BENCH_PY := $(BENCH_VENV)/bin/python
PYTEST := $(PY) -m pytest -n 2 --dist worksteal -q

.PHONY: demo test test-fast test-full bench bench-quick notebooks lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,examples]"
	touch $@

$(BENCH_VENV)/.installed: pyproject.toml benchmarks/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip install --quiet --upgrade pip
	$(BENCH_PY) -m pip install --quiet -e ".[dev]" -r benchmarks/requirements.txt
	-$(BENCH_PY) -m pip install --quiet "torch==2.13.0"
	touch $@

## demo: a VAE on 5,000 MNIST digits, Normal against Gamma and Dirichlet latents (examples/vae.py)
demo: $(VENV)/.installed
	$(PY) examples/vae.py

## notebooks: execute notebooks/*.ipynb in full with Jupyter and store their outputs
notebooks: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[dev,examples,notebooks]"
	$(PY) notebooks/execute.py

# One run's programs, compiled by several processes (the two test workers, the notebooks' and
# examples' runs), are compiled once: JAX's persistent compilation cache in a folder made for the
# run and removed after it, so that nothing compiled by an earlier run is reused. (A size limit
# turns on the cache's file lock, which the two workers need; it needs the filelock package.)
RUN_CACHE = cache=$$(mktemp -d) && trap 'rm -rf "$$cache"' EXIT && \
	export JAX_COMPILATION_CACHE_DIR="$$cache" JAX_COMPILATION_CACHE_MAX_SIZE=4000000000 &&

## test: the suite in float32, then its precision-dependent checks in float64 (JAX_ENABLE_X64=1),
## compiled at XLA's default settings (what users run)
test: $(VENV)/.installed
	$(RUN_CACHE) $(PYTEST) && JAX_ENABLE_X64=1 $(PYTEST)

## test-full: heavy sweeps in full, both dtypes everywhere (CI runs them reduced)
test-full: $(VENV)/.installed
	$(RUN_CACHE) MNJ_FULL=1 $(PYTEST) && MNJ_FULL=1 JAX_ENABLE_X64=1 $(PYTEST)

# For local iteration only (certifies nothing): LLVM at -O0 and XLA:CPU's older loop emitters
# compile the same XLA programs to unoptimized machine code in about two thirds of the time.
FAST_COMPILE := XLA_FLAGS="--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false $(XLA_FLAGS)"

## test-fast: `make test` with the fast-compile flags above
test-fast: $(VENV)/.installed
	$(RUN_CACHE) $(FAST_COMPILE) $(PYTEST) && $(FAST_COMPILE) JAX_ENABLE_X64=1 $(PYTEST)

## bench: families, mixtures and the head step against the peers, written to benchmarks/results/
## (and the "Latest figures" table of benchmarks/README.md)
bench: $(BENCH_VENV)/.installed
	$(BENCH_PY) -m benchmarks.run

bench-quick: $(BENCH_VENV)/.installed  ## the same with N = 32,768, float32 only, no batch sweep, fewer rounds
	$(BENCH_PY) -m benchmarks.run --quick

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) $(BENCH_VENV) .pytest_cache build *.egg-info
