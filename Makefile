# Two commands: `make run` (set up, then the main job) and `make test` (set up, then the suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test setup clean docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e ".[test,docs]"
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/python -m convzoo $(or $(ARGS),compare)

test: setup
	$(BIN)/python -m pytest -n 2 -q -rs $(PYTEST_ARGS)

docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) site
