# Two commands: `make run` (serve on the embedded default) and `make test` (the suite).
PYTHON ?= python3
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?= -n 2
BIN = $(VENV)/bin
export HOST PORT

.PHONY: run test venv install install-test migrate lint bench bench-full soak audit

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

venv: $(BIN)/python

install: venv
	$(BIN)/pip install --quiet -e .

install-test: venv
	$(BIN)/pip install --quiet -e '.[test]'

migrate: install
	$(BIN)/python manage.py migrate --noinput

run: migrate
	$(BIN)/python manage.py bootstrap
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check .
	PYTHONPATH=. $(BIN)/mypy .

bench: install-test
	$(BIN)/python -m bench.run --quick

bench-full: install-test
	$(BIN)/python -m bench.run

soak: install-test
	$(BIN)/python -m bench.soak --minutes 10 --chats 50

# Known vulnerabilities in the installed dependencies (PyPI's advisory data; needs network
# access to pypi.org's per-release JSON API, which this project's CI machine lacks).
audit: install-test
	$(BIN)/pip install --quiet pip-audit
	$(BIN)/pip-audit --local --strict --progress-spinner off
