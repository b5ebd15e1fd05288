# The two commands: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned: pip then keeps the CPU build instead of fetching the CUDA one.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev,cluster]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/quinr demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" -n 2

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

lint: $(STAMP)
	$(BIN)/ruff check quinr tests benchmarks examples

bench: $(STAMP)
	$(BIN)/python benchmarks/simulator.py

clean:
	rm -rf $(VENV) quinr-demo build dist *.egg-info
