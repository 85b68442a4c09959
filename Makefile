# The two commands of the README: `make run` and `make test`. Everything else is help.
PYTHON ?= $(shell command -v python3.13 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-sqlite test-postgres lint format bench messages install lock

install: $(STAMP)

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# Translation catalogues are compiled, never committed (needs gettext's msgfmt).
messages: install
	cd emporter && ../$(PY) ../manage.py compilemessages --verbosity 0

run: messages
	mkdir -p data
	$(PY) manage.py migrate --verbosity 0
	$(PY) manage.py seed_demo --if-empty
	$(PY) manage.py collectstatic --noinput --verbosity 0
	exec bin/serve

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# SQLite always; PostgreSQL too when DATABASE_URL names one. The two suites run side by
# side (TEST_JOBS=1: one after the other); each prints its report as it ends. The
# PostgreSQL suite is the longer (its server works too): the SQLite one runs niced, on
# what CPU the other leaves, and alone runs the tests that use no database (a second run
# would test the same code on the same input; `make test-postgres` alone runs them all).
TEST_JOBS ?= 2
test: messages lint
	@if [ -n "$$DATABASE_URL" ] && [ "$(TEST_JOBS)" != 1 ]; then \
	  echo "SQLite and PostgreSQL suites run side by side: each prints its report when it ends."; fi
	$(MAKE) --no-print-directory -j$(TEST_JOBS) --output-sync=target test-sqlite test-postgres \
	  POSTGRES_ARGS=--database-tests-only

test-sqlite: messages
	nice -n 10 env -u DATABASE_URL $(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

test-postgres: messages
	if [ -n "$$DATABASE_URL" ]; then $(PY) -m pytest -p no:cacheprovider $(POSTGRES_ARGS) $(PYTEST_ARGS); fi

bench: messages
	$(PY) -m bench $(BENCH_ARGS)

lock:
	$(PY) -m pip freeze --exclude-editable > requirements.txt
