# Everything runs from .venv; `make run` and `make test` create it when missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# The live feed's WebSockets (the Procfile's `live`): the next port.
WS_PORT ?= $(shell echo $$(($(PORT) + 1)))
export DJANGO_SETTINGS_MODULE := analytics_project.settings

.PHONY: run test test-deps lint format install install-dev services migrate bench bench-metrics bench-alerts bench-partitions bench-multihost bench-health bench-ai bench-insights bench-live bench-slow-clients bench-reads bench-console clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.base-installed: requirements/base.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements/base.txt
	touch $@

$(VENV)/.dev-installed: requirements/dev.txt requirements/base.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements/dev.txt
	touch $@ $(VENV)/.base-installed

install: $(VENV)/.base-installed
install-dev: $(VENV)/.dev-installed

# A local secret, made once; settings.py and honcho both read .env. Mode 0600
# (umask in the same shell as the write): other users must not read the key.
.env:
	@umask 077 && echo "SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" > .env
	@echo "Wrote .env (mode 0600) with a generated SECRET_KEY."

# Says in one sentence what to start when PostgreSQL or Redis is not answering.
services: install .env
	@$(BIN)/python manage.py ensure_services --create-database

migrate: services
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py setup_schedules
	$(BIN)/python manage.py install_alert_rules
	$(BIN)/python manage.py install_monitoring_checks

# Exported variables win over .env. honcho would let its env file (.env by default)
# override them, so .env is read here as settings.py reads it (load_dotenv: a variable
# already set stays) and honcho is given an empty one. PORT and WS_PORT: exported or on
# make's command line, else .env, else 8000 and PORT + 1. env.py is run by path: importing
# the package would load the settings (and this checkout's .env) first.
RUN_PORTS := $(if $(filter file,$(origin PORT)),,PORT=$(PORT)) $(if $(filter file,$(origin WS_PORT)),,WS_PORT=$(WS_PORT))
RUN_HONCHO := import os, runpy; runpy.run_path("$(CURDIR)/analytics_project/env.py")["load_dotenv"](".env"); os.environ.setdefault("PORT", "8000"); os.environ.setdefault("WS_PORT", str(int(os.environ["PORT"]) + 1)); os.execv("$(BIN)/honcho", ["honcho", "start", "-e", os.devnull])
run: migrate
	$(RUN_PORTS) $(BIN)/python -c '$(RUN_HONCHO)'

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# System packages the suite drives besides PostgreSQL and Redis, from Debian:
# chromium for tests/alerts/test_admin_triage.py (playwright launches
# /usr/bin/chromium itself and downloads no browser) and nginx-light for
# tests/serving/test_nginx.py (deploy/nginx for real), pgbouncer for
# tests/core/test_pgbouncer_live.py (transaction pooling). Installed with apt-get
# when missing and running as root, bounded so a dead mirror cannot hang the
# run; otherwise one sentence says what to install.
TEST_CHROMIUM ?= /usr/bin/chromium
TEST_APT_GET ?= apt-get
TEST_APT_TIMEOUT ?= 900
test-deps:
	@missing=""; \
	[ -x $(TEST_CHROMIUM) ] || missing=" chromium"; \
	command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$$missing nginx-light"; \
	command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || missing="$$missing pgbouncer"; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v $(TEST_APT_GET) >/dev/null 2>&1; then \
	  echo "installing$$missing with apt-get (for the browser, nginx and pgbouncer tests)"; \
	  timeout $(TEST_APT_TIMEOUT) sh -c "$(TEST_APT_GET) update -qq && DEBIAN_FRONTEND=noninteractive $(TEST_APT_GET) install -y -qq $$missing >/dev/null" \
	    || echo "apt-get could not install$$missing"; \
	fi; \
	if ! [ -x $(TEST_CHROMIUM) ]; then \
	  echo "make test needs Debian's chromium at $(TEST_CHROMIUM): run 'sudo apt-get install chromium nginx-light pgbouncer' (or make test as root, which installs them)." >&2; \
	  exit 1; \
	fi; \
	if ! command -v nginx >/dev/null 2>&1 && ! [ -x /usr/sbin/nginx ]; then \
	  echo "nginx is not installed, so tests/serving/test_nginx.py is skipped: run 'sudo apt-get install nginx-light' to run it."; \
	fi; \
	if ! command -v pgbouncer >/dev/null 2>&1 && ! [ -x /usr/sbin/pgbouncer ]; then \
	  echo "pgbouncer is not installed, so tests/core/test_pgbouncer_live.py is skipped: run 'sudo apt-get install pgbouncer' to run it."; \
	fi

# The JavaScript SDKs the live tests drive under Node and in Chromium (the OpenTelemetry
# exporters, posthog-js), pinned by tests/npm/package-lock.json, installed into the venv
# with npm when the machine has it; without npm those two tests are skipped.
TEST_NPM := $(VENV)/npm-test
TEST_NPM_TIMEOUT ?= 300
$(TEST_NPM)/.installed: tests/npm/package.json tests/npm/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  mkdir -p $(TEST_NPM) && cp tests/npm/package.json tests/npm/package-lock.json $(TEST_NPM)/ && \
	  (cd $(TEST_NPM) && timeout $(TEST_NPM_TIMEOUT) npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) && touch $@ \
	    || echo "npm ci failed: the JavaScript SDK live tests will be skipped"; \
	else \
	  echo "npm is not installed, so the JavaScript SDK live tests are skipped: install nodejs and npm to run them."; \
	fi

test: install-dev lint test-deps $(TEST_NPM)/.installed
	@DEBUG=true $(BIN)/python manage.py ensure_services
	DEBUG=true $(BIN)/pytest -m "not live" -n 2
	DEBUG=true OTEL_JS_NODE_MODULES=$(TEST_NPM)/node_modules \
	  POSTHOG_JS=$(TEST_NPM)/node_modules/posthog-js/dist/array.full.js $(BIN)/pytest -m live -n 2

bench: install-dev
	DEBUG=true $(BIN)/python bench/ingest.py

bench-metrics: install-dev
	DEBUG=true $(BIN)/python bench/metrics.py

# Reuses the database bench-metrics loads (run that first).
bench-alerts: install-dev
	DEBUG=true $(BIN)/python bench/alerts.py

# Reuses the database bench-metrics loads (run that first); purges two of its days.
bench-partitions: install-dev
	DEBUG=true $(BIN)/python bench/partitions.py

# deploy/README.md's multi-host layout in network namespaces (root, nginx): hosts lost
# under load and brought back.
bench-multihost: install-dev
	DEBUG=true $(BIN)/python bench/multihost.py

# A check cycle with hanging services; the public health answer idle and under ingest.
bench-health: install-dev
	DEBUG=true $(BIN)/python bench/health.py

# The AI dashboard's reads over 1M usage records; log-ai-usage ingest.
bench-ai: install-dev
	DEBUG=true $(BIN)/python bench/ai.py

bench-insights: install-dev
	DEBUG=true $(BIN)/python bench/insights.py

bench-live: install-dev
	DEBUG=true $(BIN)/python bench/live.py

# The widest reads of one key (active users over 365 days, /advanced, metrics grouped by a
# 50,000-value tag), alone and eight at once, and health's latency meanwhile.
bench-reads: install-dev
	DEBUG=true $(BIN)/python bench/costly_reads.py

# Health latency and ingest items/s with and without 50 slow clients.
bench-slow-clients: install-dev
	DEBUG=true $(BIN)/python bench/slow_clients.py

# Each staff-console page's first chart in Chromium over the bench data sets (loads them
# with the other benches first; bench/console.py --skip-load reuses them).
bench-console: install-dev
	DEBUG=true $(BIN)/python bench/console.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
