# The README's commands. Every target installs what it needs first, idempotently.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .make
# Debian packages the suite uses: a real PostgreSQL and redis-server next to the embedded Redis,
# and systemd-analyze to verify the units in deploy/.
APT_PACKAGES := postgresql redis-server systemd
# Debian's chromium for the console's browser tests (Playwright drives /usr/bin/chromium): `make test` only.
TEST_APT_PACKAGES := chromium
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install run test lint bench clean

install: $(STAMPS)/apt $(STAMPS)/venv

$(STAMPS)/apt:
	@mkdir -p $(STAMPS)
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	  echo "Installing Debian packages: $(APT_PACKAGES)"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	fi
	@touch $@

$(STAMPS)/venv: setup.cfg pyproject.toml
	@mkdir -p $(STAMPS)
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	@echo "Installing Python packages into $(VENV) (log: $(STAMPS)/pip.log)"
	@$(BIN)/pip install -q --upgrade pip >$(STAMPS)/pip.log 2>&1 || { cat $(STAMPS)/pip.log; exit 1; }
	@$(BIN)/pip install -q -e '.[dev]' >>$(STAMPS)/pip.log 2>&1 || { cat $(STAMPS)/pip.log; exit 1; }
	@touch $@

run: install
	$(BIN)/hookhub serve

$(STAMPS)/test-apt: $(STAMPS)/apt
	@if ! dpkg -s $(TEST_APT_PACKAGES) >/dev/null 2>&1; then \
	  echo "Installing Debian packages: $(TEST_APT_PACKAGES)"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(TEST_APT_PACKAGES) >/dev/null; \
	fi
	@touch $@

test: install $(STAMPS)/test-apt
	$(BIN)/pytest $(PYTEST_ARGS)

# ruff for the code, import-linter for the architecture (the contracts are in setup.cfg).
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

# The benchmarks' peers: wrk drives the inbound load, adnanh/webhook is the inbound baseline.
$(STAMPS)/bench-apt: $(STAMPS)/apt
	@if ! command -v wrk >/dev/null || ! command -v webhook >/dev/null; then \
	  echo "Installing Debian packages: wrk webhook"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends wrk webhook >/dev/null; \
	fi
	@touch $@

bench: install $(STAMPS)/bench-apt
	$(BIN)/python bench/inbound.py
	$(BIN)/python bench/outbound.py

clean:
	rm -rf $(STAMPS) $(VENV) instance .pytest_cache .ruff_cache
