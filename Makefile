# geomflow: the two commands a newcomer needs are `make demo` and `make test`.
# Both create .venv (if missing) with the Python found as $(PYTHON) and install geomflow into it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.geomflow-installed
# Several host "devices" so the sharding tests run on a CPU-only machine.
export XLA_FLAGS ?= --xla_force_host_platform_device_count=4
JOBS   ?= 2

.PHONY: install demo test test-slow bench figures figures-full lint clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,plot]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/geomflow demo --out runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" -n $(JOBS) --durations=15

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow -n $(JOBS) -s

bench: $(STAMP)
	$(BIN)/python benchmarks/flow_throughput.py
	$(BIN)/python benchmarks/ed_throughput.py

figures: $(STAMP)
	$(BIN)/geomflow figures

figures-full: $(STAMP)
	$(BIN)/geomflow figures --full

lint: $(STAMP)
	$(BIN)/python -m pip install -q ruff
	$(BIN)/ruff check geomflow tests benchmarks experiments

clean:
	rm -rf $(VENV) runs .pytest_cache
