# The README's two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m provenance_cli.demo demo-out

lint: $(STAMP)
	$(BIN)/ruff check provenance cli tests bench

typecheck: $(STAMP)
	$(BIN)/mypy provenance cli

test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest -q tests

bench: $(STAMP)
	$(BIN)/python bench/speed.py

clean:
	rm -rf $(VENV) demo-out build *.egg-info
