# Promo Campaigns — the two commands: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Tests always run on PostgreSQL (and Redis where a test needs a real worker).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/promo
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test lint install migrate demo services bench clean

$(STAMP): requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 ($(PYTHON)) is required."; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py setup_demo

# Web + Celery worker + beat; Ctrl-C stops all three.
run: demo
	@echo "Starting web (http://127.0.0.1:8000), worker and beat — Ctrl-C stops them all."
	@trap 'kill 0' INT TERM EXIT; \
	$(VENV)/bin/celery -A config worker --loglevel=INFO --concurrency=2 --hostname=worker@%h & \
	$(VENV)/bin/celery -A config beat --loglevel=INFO & \
	$(PY) manage.py runserver 127.0.0.1:8000 --noreload & \
	wait

services:
	@.ci/services

test: install services
	DATABASE_URL=$(TEST_DATABASE_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) CELERY_BROKER_URL=memory:// \
		$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# SPEC 9 figures (not part of `make test` / CI): own database promo_benchmark (SMALL=1:
# promo_benchmark_small, 1/10 scale) on the bench's own PostgreSQL server (bench/cluster.py,
# port 5433, bench/postgresql.conf), data set generated once and reused; REGENERATE=1 forces it.
# BENCH_DATABASE_URL=postgres://…/promo_benchmark measures on another server instead.
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/14
bench: install services
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) BENCH_REDIS_URL=$(BENCH_REDIS_URL) CELERY_BROKER_URL=memory:// \
		$(PY) bench/run.py $(if $(SMALL),--small) $(if $(REGENERATE),--regenerate) $(if $(ONLY),--only $(ONLY))

clean:
	-python3 bench/cluster.py stop
	rm -rf var/ .pytest_cache
