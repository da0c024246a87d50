# Quickstart: `make run` serves the admin on http://127.0.0.1:$(PORT)/admin/, `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PORT ?= 8000
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
# Rebuilt only when a requirements file changes, so a second `make run` is quick.
INSTALLED := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install db run test lint format clean

help:
	@echo "make run     set everything up and serve on http://127.0.0.1:$(PORT)/admin/"
	@echo "make test    set everything up and run the test suite"
	@echo "make lint    ruff check and format check"
	@echo "make format  ruff format and autofix"
	@echo "make clean   remove the virtualenv and var/"

$(INSTALLED): requirements.txt requirements-vision.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

install: $(INSTALLED)

# Local development: DEBUG on unless the environment says otherwise.
run db: export DJANGO_DEBUG ?= 1

db: install
	$(MANAGE) ensure_database
	$(MANAGE) migrate --noinput

run: db
	$(MANAGE) ensure_qdrant_collection
	$(MANAGE) ensure_superuser
	@echo "Serving http://127.0.0.1:$(PORT)/admin/ (Ctrl-C to stop)"
	$(MANAGE) runserver 127.0.0.1:$(PORT)

test: install
	@DJANGO_SETTINGS_MODULE=tests.settings $(MANAGE) ensure_database --verbosity 0
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var
