# Set-up is folded into every target: a fresh clone needs only `make train` or `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.cnnlab-installed
STORE := outputs/mlflow
# make ui serves this machine only; `make ui UI_HOST=0.0.0.0` serves the network (the UI has no authentication)
UI_HOST ?= 127.0.0.1
UI_PORT ?= 5000

.PHONY: train test ui lint bench gpu-check lock postgres

# requirements.lock: the exact versions the suite passed with, as constraints (`make lock` rewrites it)
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev,postgres]'
	touch $(STAMP)

train: $(STAMP)
	$(BIN)/cnnlab train $(ARGS)

test: $(STAMP) postgres
	$(BIN)/ruff check src tests scripts
	$(BIN)/pytest -q --durations=20 $(ARGS)

# tests/tracking/test_postgres.py starts a real PostgreSQL server: Debian's package, installed here when missing
# (as root or with sudo); where that cannot be done the test is skipped, and this says so.
postgres:
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql >/dev/null; } || \
	  echo "make: could not install PostgreSQL (apt-get install postgresql): its test will be skipped"

ui: $(STAMP)
	mkdir -p $(STORE)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(STORE)/mlflow.db --host $(UI_HOST) --port $(UI_PORT)

bench: $(STAMP)
	$(BIN)/python scripts/bench_default.py
	$(BIN)/python scripts/bench_segmentation.py
	$(BIN)/python scripts/bench_detection.py
	$(BIN)/python scripts/bench_overhead.py
	$(BIN)/python scripts/bench_augment.py
	$(BIN)/python scripts/bench_startup.py
	$(BIN)/python scripts/bench_export.py

# The GPU path on a machine with one CUDA GPU (README "GPU check"); ARGS=--quick runs tiny sizes on any device.
gpu-check: $(STAMP)
	$(BIN)/python scripts/gpu_check.py $(ARGS)

# After upgrading a package and passing `make test`: record the venv's versions as the new constraints.
lock: $(STAMP)
	{ echo "# The exact versions the test suite passed with; make train / make test install with them as pip constraints."; \
	  echo "# Rewritten by make lock (after make test passes), from: $$($(BIN)/python -V), $$(uname -m)."; \
	  $(BIN)/pip freeze --exclude-editable; } > requirements.lock
