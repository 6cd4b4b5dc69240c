# Open Bids: `make run` serves the portal with demo content; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app portal
PORT ?= 5000
STAMP := $(VENV)/.installed

.PHONY: install chromium axe db run test test-fast bench eval clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Browser tests drive Debian's chromium; Playwright's own browser download is never used.
chromium:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
		sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium is missing and cannot be installed here: browser tests will fail"; fi

# The accessibility check injects axe-core (npm) into the browser tests' pages.
AXE := node_modules/axe-core/axe.min.js
$(AXE):
	npm install --no-save --no-audit --no-fund axe-core@4

axe: $(AXE)

db: install
	$(FLASK) db upgrade
	$(FLASK) seed-demo --if-empty

run: db
	$(FLASK) run --host 127.0.0.1 --port $(PORT)

test: install chromium axe
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not browser and not slow"

bench: install
	$(PY) -m benchmarks

eval: install
	$(PY) -m benchmarks --only similarity

clean:
	rm -rf $(VENV) instance .pytest_cache
