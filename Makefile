# Open Bids: `make run` serves the portal with demo content; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app portal
PORT ?= 5000
STAMP := $(VENV)/.installed

.PHONY: install chromium postgres db run test test-postgres test-fast lint axe bench loadtest eval clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Tests need Debian's chromium (browser tests; Playwright's own browser download is never used)
# and redis-server (shared rate limits). Installed with apt when missing.
SYSTEM_PACKAGES := chromium:chromium redis-server:redis-server
chromium:
	@missing=""; for pair in $(SYSTEM_PACKAGES); do \
		command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; done; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Debian's$$missing for the tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
		sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "Missing:$$missing and cannot be installed here: some tests will fail"; fi

# The accessibility check injects axe-core (npm) into the browser tests' pages.
AXE := node_modules/axe-core/axe.min.js
$(AXE):
	npm install --no-save --no-audit --no-fund axe-core@4

axe: $(AXE)

db: install
	$(FLASK) db upgrade
	$(FLASK) seed-demo --if-empty

# The web server and the worker (Procfile), both stopped by Ctrl-C.
run: db
	PORT=$(PORT) $(VENV)/bin/honcho start -f Procfile

# One test worker per core (pytest-xdist); PYTEST_WORKERS=0 runs the suite in one process.
# PYTEST_ARGS adds options (CI: `--durations=25`, the slowest tests).
PYTEST_WORKERS ?= auto
PYTEST_ARGS ?=
PYTEST := $(PY) -m pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

test: install chromium axe
	$(PYTEST)

test-fast: install
	$(PYTEST) -m "not browser and not slow"

# The layer contracts, lint, format and types (settings in pyproject.toml).
LINT_PATHS := portal bids search_index tests benchmarks migrations config.py
lint: install
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy bids search_index

bench: install
	$(PY) -m benchmarks

# A local PostgreSQL 15 with a role `openbids` (password `openbids`) that may create databases.
postgres:
	@command -v pg_ctlcluster >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
	@pg_lsclusters -h | grep -q online || pg_ctlcluster $$(pg_lsclusters -h | awk 'NR==1{print $$1, $$2}') start
	@su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='openbids'\"" | grep -q 1 || \
		su postgres -c "psql -qc \"CREATE ROLE openbids LOGIN CREATEDB PASSWORD 'openbids'\""

# The suite against PostgreSQL (all but the browser tests and those that touch no database,
# which the SQLite run covers).
PG_TEST_URL ?= postgresql+psycopg://openbids:openbids@localhost/openbids_test
test-postgres: install chromium postgres
	@su postgres -c "dropdb --if-exists --force openbids_test && createdb -O openbids openbids_test"
	TEST_DATABASE_URL=$(PG_TEST_URL) $(PYTEST) -m "not browser and not no_database"

loadtest: install postgres
	$(PY) -m benchmarks.loadtest

eval: install
	$(PY) -m benchmarks --only similarity

clean:
	rm -rf $(VENV) instance .pytest_cache
