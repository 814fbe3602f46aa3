PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.PHONY: run test test-nojit lint bench fixtures clean clean-cache

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

run: $(STAMP)
	$(BIN)/rnnlab run

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

test-nojit: $(STAMP)
	NUMBA_DISABLE_JIT=1 QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	$(BIN)/python benchmarks/bench_vs_torch.py --memory --markdown docs/benchmarks-latest.md

fixtures: $(STAMP)
	$(BIN)/python -m pip install -q 'torch==2.13.0'
	$(BIN)/python tests/make_golden.py
	$(BIN)/python tests/make_golden_training.py
	$(BIN)/python tests/make_golden_weights.py

# Numba's cache keys on each kernel's own file: after editing a shared kernel module
# (kernels/common.py, kernels/gemm.py) or a kernel (the task drivers in kernels/tasks.py
# embed them) run `make clean-cache` so callers recompile.
clean-cache:
	find rnnlab -name '*.nbi' -delete -o -name '*.nbc' -delete

clean: clean-cache
	rm -rf $(VENV) build *.egg-info
