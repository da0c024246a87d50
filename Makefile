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
.PHONY: help install db run test browser lint format stop clean

help:
	@echo "make run     set everything up and serve on http://127.0.0.1:$(PORT)/admin/"
	@echo "make test    set everything up and run the test suite"
	@echo "make lint    ruff check and format check"
	@echo "make format  ruff format and autofix"
	@echo "make stop    stop the project-local PostgreSQL cluster, if one runs"
	@echo "make clean   stop it, remove the virtualenv and var/"

$(INSTALLED): requirements.txt requirements-vision.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

install: $(INSTALLED)

# Local development: DEBUG on unless the environment says otherwise.
run db: export DJANGO_DEBUG ?= 1

# DATABASE_URL, else the server on 127.0.0.1:5432, else a project-local cluster under var/
# (config/devdb.py says which, and starts the local one when it is that).
db: install
	$(eval export DATABASE_URL := $(shell $(BIN)/python -m config.devdb url))
	@test -n "$(DATABASE_URL)" || exit 1  # config/devdb.py has said why
	$(MANAGE) ensure_database
	$(MANAGE) migrate --noinput

run: db
	@$(BIN)/python -m config.devdb write-env "$(DATABASE_URL)"
	$(MANAGE) ensure_qdrant_collection
	$(MANAGE) load_demo --image-base http://127.0.0.1:$(PORT)
	$(MANAGE) sync_vectors
	$(MANAGE) ensure_superuser
	@echo "Serving http://127.0.0.1:$(PORT)/admin/ (Ctrl-C to stop)"
	$(MANAGE) runserver 127.0.0.1:$(PORT)

test: install browser
	@DJANGO_SETTINGS_MODULE=tests.settings $(MANAGE) ensure_database --verbosity 0
	$(BIN)/pytest

# The browser test drives Debian's Chromium; install it where missing and allowed (root).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Installing Debian's chromium for the browser test..."; \
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
				|| echo "Could not install chromium; the browser test will be skipped."; \
		else \
			echo "Note: /usr/bin/chromium is missing; the browser test will be skipped (sudo apt-get install chromium)."; \
		fi; \
	fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

stop:
	@$(BIN)/python -m config.devdb stop

clean: stop
	@$(BIN)/python -m config.devdb forget-env
	rm -rf $(VENV) var
