# The two commands of the README: `make run` and `make test`. Everything else is help.
PYTHON ?= $(shell command -v python3.13 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench messages install lock

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

# SQLite always; PostgreSQL too when DATABASE_URL names one.
test: messages lint
	env -u DATABASE_URL $(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)
	if [ -n "$$DATABASE_URL" ]; then $(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS); fi

bench: messages
	$(PY) -m bench $(BENCH_ARGS)

lock:
	$(PY) -m pip freeze --exclude-editable > requirements.txt
