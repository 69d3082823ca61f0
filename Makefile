# Promo Campaigns — the two commands: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements.txt
PORT ?= 8000
DB_START := $(if $(DATABASE_URL),true,$(PY) -m config.embedded_db start)

# Tests always run on PostgreSQL (and Redis where a test needs a real worker).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/promo
TEST_REDIS_URL ?= redis://127.0.0.1:6379/12
# The suite runs on TEST_WORKERS pytest-xdist workers (one per core here), each with its own test
# database (pytest-django names them test_<name>_gw0, _gw1) and its own Redis database
# (TEST_REDIS_URL's number, +1 for gw1: tests/harness.py). TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2

.PHONY: run test lint install db db-stop migrate demo services bench clean

# Installed when requirements.txt differs from the copy kept in the venv (by content, not mtime,
# so a fresh clone sharing an up-to-date venv does not reinstall).
install:
	@cmp -s requirements.txt $(STAMP) 2>/dev/null || { \
	  if [ ! -d $(VENV) ]; then \
	    command -v $(PYTHON) >/dev/null || { echo "Python 3.11 ($(PYTHON)) is required."; exit 1; }; \
	    $(PYTHON) -m venv $(VENV) && $(PY) -m pip install --quiet --upgrade pip || exit 1; \
	  fi; \
	  echo "Installing requirements.txt into $(VENV)"; \
	  $(PY) -m pip install --quiet -r requirements.txt && cp requirements.txt $(STAMP); }

# The embedded PostgreSQL server (config/embedded_db.py, data in var/postgres) unless DATABASE_URL
# names a PostgreSQL server. `make migrate` / `make demo` leave it running (`make db-stop` ends it);
# `make run` starts it itself and stops it with the rest on Ctrl-C.
db: install
	@$(DB_START)

db-stop:
	@$(if $(DATABASE_URL),true,$(PY) -m config.embedded_db stop)

migrate: db
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py setup_demo --port $(PORT)

# The embedded server (unless DATABASE_URL), migrate, demo data, then web + Celery worker + beat on
# http://127.0.0.1:$(PORT); Ctrl-C stops them all, the embedded server last (config/stack.py).
run: install
	@$(PY) -m config.stack --port $(PORT)

services:
	@.ci/services

# The 25 slowest tests are listed at the end of every run.
test: install services
	DATABASE_URL=$(TEST_DATABASE_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) CELERY_BROKER_URL=memory:// \
		$(VENV)/bin/pytest --durations=25 $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist worksteal) \
		$(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# SPEC 9 figures (not part of `make test` / CI): own database promo_benchmark (SMALL=1:
# promo_benchmark_small, 1/10 scale) on the bench's own PostgreSQL server (bench/cluster.py,
# port 5433, bench/postgresql.conf), data set generated once and reused; REGENERATE=1 forces it.
# BENCH_DATABASE_URL=postgres://…/promo_benchmark measures on another server instead.
# WORKERS=1,2,4: distribute_scaling times 4 worker processes too (1 and 2 always).
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/14
bench: install services
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) BENCH_REDIS_URL=$(BENCH_REDIS_URL) CELERY_BROKER_URL=memory:// \
		BENCH_WORKERS=$(WORKERS) $(PY) bench/run.py $(if $(SMALL),--small) $(if $(REGENERATE),--regenerate) $(if $(ONLY),--only $(ONLY))

clean:
	-python3 bench/cluster.py stop
	-test -x $(PY) && $(PY) -m config.embedded_db stop
	rm -rf var/ .pytest_cache
