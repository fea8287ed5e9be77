# glassbench — one Makefile for bench engineers and CI. Every target is idempotent.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.glassbench-installed
ALLURE  := node_modules/.bin/allure
PYTEST_ARGS ?=

.PHONY: setup demo test benchmarks clean system-deps

setup: $(STAMP) $(ALLURE)

system-deps:
	@bash ci/install-system-deps.sh

$(STAMP): pyproject.toml ci/install-system-deps.sh
	@bash ci/install-system-deps.sh
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

# Allure 3 (npm), pinned by package-lock.json, installed locally: reports are generated offline.
$(ALLURE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

demo: setup
	$(VENV)/bin/bench demo

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)
	$(PY) -m pytest tests/dut --bench fixtures/benches/reference-omi.yaml -rs $(PYTEST_ARGS)

benchmarks: setup
	@for f in benchmarks/*.py; do echo "# $$f" >&2; $(PY) $$f || exit 1; done

clean:
	rm -rf out .pytest_cache allure-results node_modules
