# Everything runs from a local virtualenv that `make` builds by itself.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-fast test-slow bench lint typecheck install-service clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,plot]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ccd demo

test: $(STAMP)
	$(BIN)/pytest -q

test-fast: $(STAMP)
	$(BIN)/pytest -q -m 'not slow and not browser'

test-slow: $(STAMP)
	$(BIN)/pytest -q -m slow

bench: $(STAMP)
	for b in bench/[!_]*.py; do $(BIN)/python $$b || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check ccd tests bench
	$(BIN)/mypy

# Strict type check of the ccd package (settings in pyproject.toml's [tool.mypy]).
typecheck: $(STAMP)
	$(BIN)/mypy

install-service: $(STAMP)
	sudo scripts/install.sh

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
