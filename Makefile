# The front door: `make run` serves on http://127.0.0.1:5000, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP_COMPILE := $(BIN)/python -m piptools compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links

.PHONY: run test lint format audit bench reliability dashboard up down lock clean

# The environment is rebuilt whenever the lock file changes.
$(BIN)/.installed: requirements-dev.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "fibsvc needs Python 3.11 or newer as $(PYTHON)"; exit 1; }
	@$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo "$(PYTHON) cannot create a virtual environment; on Debian or Ubuntu: apt-get install python3-venv"; exit 1; }
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements-dev.lock
	touch $@

run: $(BIN)/.installed
	$(BIN)/python -m fibsvc

test: lint
	$(BIN)/pytest

lint: $(BIN)/.installed
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: $(BIN)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Known vulnerabilities in the locked dependencies; needs internet access to a vulnerability database.
audit: $(BIN)/.installed
	$(BIN)/pip-audit --requirement requirements.lock --no-deps --disable-pip --strict

bench: $(BIN)/.installed
	$(BIN)/python -m bench

reliability: $(BIN)/.installed
	$(BIN)/python -m bench.reliability

# The Grafana dashboard is generated from code; never edit its JSON by hand.
dashboard: $(BIN)/.installed
	$(BIN)/python observability/grafana/dashboard.py

# The whole stack on one machine (needs a Docker engine and GRAFANA_ADMIN_PASSWORD).
up:
	docker compose up -d --build

down:
	docker compose down

# Re-resolve the pinned, hashed lock files from pyproject.toml.
lock: $(BIN)/.installed
	$(PIP_COMPILE) --output-file requirements.lock pyproject.toml
	$(PIP_COMPILE) --extra dev --output-file requirements-dev.lock pyproject.toml

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
