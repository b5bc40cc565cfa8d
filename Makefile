# make run: the whole product on this machine (SQLite, filesystem broker, web + worker + beat).
# make test: lint (ruff with its security rules, the import contracts, mypy), migrations check,
# the whole suite on PostgreSQL + Redis (tenancy crawl, API fuzzing, fault injection, browser
# journeys, real workers) with coverage (at least 90% of lines, or it fails), then a SQLite pass.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
TEST_DATABASE_URL ?= postgres://root@127.0.0.1:5432/crm
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test lint format bench load services chromium migrate demo clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --no-input

demo: migrate
	$(BIN)/python manage.py seed_demo

run: demo
	@echo
	@echo "  CRM at http://127.0.0.1:$(PORT)/   (log in as demo-admin / demo-password)"
	@echo "  API docs at http://127.0.0.1:$(PORT)/api/v1/docs/   Ctrl-C stops web, worker and beat."
	@echo
	PATH="$(CURDIR)/$(BIN):$$PATH" PORT=$(PORT) $(BIN)/honcho start -f Procfile

chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }

services: $(STAMP)
	CHECK_POSTGRES_URL=$(dir $(TEST_DATABASE_URL))postgres CHECK_REDIS_URL=$(TEST_REDIS_URL) \
		$(BIN)/python bin/check_services.py

# Style and security rules, the import contracts (who may import whom) and the types.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: $(STAMP) chromium services lint
	$(BIN)/python manage.py makemigrations --check --dry-run
	@echo "== PostgreSQL + Redis: the whole suite, browser and worker tests included"
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
		$(BIN)/pytest --cov --cov-report=term:skip-covered --cov-fail-under=90 -q
	@echo "== SQLite + filesystem broker (the embedded default): core tests"
	env -u DATABASE_URL -u REDIS_URL CRM_VAR_DIR=$$(mktemp -d) \
		$(BIN)/pytest -q -m "not browser and not postgres"

bench: $(STAMP)
	$(BIN)/python bench/crm_api.py
	$(BIN)/python bench/bin_history.py

# 50 users for 2 minutes against gunicorn + PostgreSQL + Redis + a worker, while one account
# takes a snapshot and another is rolled back; prints p95 per endpoint, fails on any error.
load: $(STAMP) services
	$(BIN)/python bench/load.py

clean:
	rm -rf $(VENV) var
