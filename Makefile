# Two commands do all the set-up: `make test` and `make demo` (only python3 with venv/pip needed).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test demo lint format install bench clean dist browser

# One line per step, with its time (the whole set-up takes one to three minutes on a fresh machine); a step's own
# output goes to setup.log and is shown when the step fails.
SETUP_LOG := setup.log
STEP = @start=$$(date +%s); printf '[setup] %s ... ' "$(1)"; \
	if $(2) >>$(SETUP_LOG) 2>&1; then echo "done ($$(( $$(date +%s) - start ))s)"; \
	else echo "FAILED; the last lines of $(SETUP_LOG):"; tail -n 30 $(SETUP_LOG); exit 1; fi

$(STAMP): pyproject.toml
	$(call STEP,1/4 creating the virtual environment $(VENV),$(PYTHON) -m venv $(VENV))
	$(call STEP,2/4 upgrading pip,$(PY) -m pip install --quiet --upgrade pip)
	$(call STEP,3/4 installing kfp-model-lifecycle (kfp; model-registry; kubernetes),$(PY) -m pip install --quiet -e .)
	$(call STEP,4/4 installing the local tooling and test tools (kserve; scikit-learn; pytest; ruff),$(PY) -m pip install --quiet -e '.[dev]')
	@touch $(STAMP) && rm -f $(SETUP_LOG)

install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: lint check-compiled browser
	$(VENV)/bin/pytest

# The browser tests of `kml ui` drive Debian's chromium: install it when it is missing and this user can (root with
# apt-get); otherwise those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "[setup] installing chromium for the browser tests ..."; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
	      || echo "[setup] could not install chromium: the browser tests will skip"; \
	  else echo "[setup] chromium is missing and cannot be installed here: the browser tests will skip"; fi; }

demo: $(STAMP)
	$(PY) -m kfp_model_lifecycle.local.demo

# Every benchmark side by side (MLflow's registry server goes into .bench/mlflow-venv, never a project dependency);
# `make bench BENCH_ARGS=--quick` for a shorter run.
bench: $(STAMP)
	$(PY) bench/all.py $(BENCH_ARGS)

# The sdist and wheel that component pods pip-install (see README: how the package reaches the pods).
dist: $(STAMP)
	rm -rf dist
	$(PY) -m build --sdist --wheel --outdir dist .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist $(SETUP_LOG)

.PHONY: compile check-compiled
compile: $(STAMP)
	$(VENV)/bin/kml compile --out compiled

check-compiled: $(STAMP)
	$(VENV)/bin/kml compile --check --out compiled
