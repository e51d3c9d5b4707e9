# Two commands do all the set-up: `make test` and `make demo` (only python3 with venv/pip needed).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test demo lint format install bench clean dist

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: lint check-compiled
	$(VENV)/bin/pytest

demo: $(STAMP)
	$(PY) -m kfp_model_lifecycle.local.demo

bench: $(STAMP)
	$(PY) bench/registry.py

# The sdist and wheel that component pods pip-install (see README: how the package reaches the pods).
dist: $(STAMP)
	rm -rf dist
	$(PY) -m build --sdist --wheel --outdir dist .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist

.PHONY: compile check-compiled
compile: $(STAMP)
	$(VENV)/bin/kml compile --out compiled

check-compiled: $(STAMP)
	$(VENV)/bin/kml compile --check --out compiled
