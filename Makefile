# Two entry points for a fresh machine: `make run` (the main job) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,peers,dask,postgres]'
	touch $@

# The main job: tune a small suite, train the model, run unseen workloads, write the report.
run: $(VENV)/.installed
	$(VENV)/bin/autotune demo

bench: $(VENV)/.installed
	$(PY) -m experiments.bench_kernels --size small

test: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m pytest -q -n 2

lint: $(VENV)/.installed
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache autotune-report
