# make up: venv, install, start Spendpilot on embedded defaults with demo data.
# make test: install test needs (Chromium, services), lint and type-check, run the whole suite.
# make lint: ruff and mypy only (the first step of make test).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-dev
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: up test lint install services browser bench bench-peers clean

# uv resolves and installs in seconds where pip takes minutes; it comes from PyPI too.
$(UV):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv

# Bytecode is compiled once here: where PYTHONDONTWRITEBYTECODE is set (as on CI machines), nothing is ever
# cached, and every process (each server a test starts) would compile every module it imports from source,
# about half of its start-up CPU. A module edited later is compiled from source again, as it must be.
$(STAMP): pyproject.toml | $(UV)
	$(UV) pip install --quiet --compile-bytecode --python $(PY) -e .
	$(PY) -m compileall -q src
	touch $(STAMP)

$(TEST_STAMP): pyproject.toml $(STAMP)
	$(UV) pip install --quiet --compile-bytecode --python $(PY) -e '.[dev]'
	touch $(TEST_STAMP)

install: $(STAMP)

up: $(STAMP)
	$(PY) -m spendpilot up --host $(HOST) --port $(PORT)

# Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing chromium"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# PostgreSQL and Redis for the real-service tests: start them if they are installed but stopped.
services:
	@bash deploy/ensure-services.sh

# Paths and rules come from pyproject.toml ([tool.ruff], [tool.mypy]).
lint: $(TEST_STAMP)
	$(PY) -m ruff check src tests bench
	$(PY) -m mypy

# lint comes first: a finding fails the target before Chromium and the services are set up.
# Two pytest workers (pytest-xdist), a module's tests kept together so its shared servers start once: most of
# the suite's time is spent waiting on servers, deadlines and sockets, so two run in about a third of the time
# one takes. Each test already brings its own servers, data dirs, databases and Redis prefixes.
# TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2
test: lint browser services
	$(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) bench/golden_path.py

# Chainlit peer for bench/compare.py, in its own venv so that the project's stays clean.
bench-peers: bench/peers/.venv/.installed

bench/peers/.venv/.installed: bench/peers/requirements.txt
	PYTHON=$(PYTHON) bash bench/peers/setup.sh

clean:
	rm -rf $(VENV) .spendpilot .pytest_cache
