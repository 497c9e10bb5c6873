# The two commands a newcomer needs:  make demo   and   make test
# (both set everything up from a fresh clone first).

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# pyenv reads .python-version (3.13); fall back to a python3.13 on the PATH.
BASE_PYTHON := $(shell pyenv which python 2>/dev/null || command -v python3.13)
POSTGRES_TEST_URL ?= postgres://postgres@127.0.0.1:5432/d0010
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test setup lint test-sqlite test-postgres coverage serve services browser clean bench bench-compare bench-scale

demo: setup ## Set up, migrate, import sample_data/, create the admin account, serve
	$(PY) manage.py migrate --no-input -v0
	$(PY) manage.py import_d0010 sample_data/ --no-progress
	$(PY) manage.py ensure_admin
	@echo "Serving on http://$(HOST):$(PORT)/admin/ (Ctrl-C to stop)"
	DJANGO_SECURE_COOKIES=false $(PY) manage.py runserver $(HOST):$(PORT)

test: setup browser lint test-sqlite test-postgres coverage ## Set up and run every check and test

setup: $(VENV)/.installed .env

$(VENV)/.installed: requirements.txt .python-version
	@test -n "$(BASE_PYTHON)" || { echo "Python 3.13 not found: install it with pyenv (pyenv install 3.13)"; exit 1; }
	@$(BASE_PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 13), sys.version' \
		|| { echo "$(BASE_PYTHON) is not Python 3.13"; exit 1; }
	test -x $(PY) || $(BASE_PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

.env:
	@echo "Writing .env with a new random DJANGO_SECRET_KEY (git-ignored)"
	@$(BASE_PYTHON) -c 'import secrets; print("DJANGO_SECRET_KEY=" + secrets.token_urlsafe(50))' > .env

lint: setup
	$(PY) -m black --check --quiet .
	$(PY) -m flake8 .
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m mypy
	$(PY) manage.py makemigrations --check --dry-run

test-sqlite: setup
	$(PY) -m coverage erase
	$(PY) -m coverage run --parallel-mode -m pytest -q

# The same suite against the real PostgreSQL (started if it is not running). In CI a
# PostgreSQL failure fails the build; on a laptop without one it is skipped.
test-postgres: setup services
	@if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then \
		DATABASE_URL=$(POSTGRES_TEST_URL) $(PY) -m coverage run --parallel-mode -m pytest -q; \
	elif [ "$$CI" = "true" ]; then echo "PostgreSQL is not reachable on 127.0.0.1:5432"; exit 1; \
	else echo "PostgreSQL not reachable: skipping the PostgreSQL run"; fi

# Coverage of the runs above together: each database has code only it runs.
coverage: setup
	$(PY) -m coverage combine --quiet
	$(PY) -m coverage report

services:
	@bash deployment_scripts/ensure_local_services.sh

# Debian's Chromium and ChromeDriver for the browser tests (installed when missing).
browser:
	@bash deployment_scripts/ensure_browser.sh

clean:
	rm -rf $(VENV) .coverage .coverage.* htmlcov .pytest_cache .hypothesis

bench: setup ## Benchmark imports and pages (100k, 300k, 1M readings; SQLite and PostgreSQL)
	$(PY) bench/run.py

# The import at commit REV against the working tree, back to back (bench/compare.py).
bench-compare: setup
	@test -n "$(REV)" || { echo "usage: make bench-compare REV=<commit>"; exit 2; }
	$(PY) bench/compare.py $(REV)

# A national book on PostgreSQL (bench/scale_build.py, SCALE=100M by default; 1M and 10M
# for a quick look), then imports, pages, load, reads during an import, parallel imports
# and disk measured on it (bench/scale_run.py). Locust goes in a venv of its own.
SCALE ?= 100M
bench-scale: setup services .venv-load/.installed
	$(PY) bench/scale_run.py --scale $(SCALE)

.venv-load/.installed: bench/load-requirements.txt
	test -x .venv-load/bin/python || $(BASE_PYTHON) -m venv .venv-load
	.venv-load/bin/python -m pip install --quiet -r bench/load-requirements.txt
	touch $@
