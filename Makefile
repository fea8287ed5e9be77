# glassbench — one Makefile for bench engineers and CI. Every target is idempotent.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.glassbench-installed
ALLURE  := node_modules/.bin/allure
PYTEST_ARGS ?=

.PHONY: setup demo lint test test-product benchmarks clean clean-history system-deps

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

# ruff + mypy on bench/ (config in pyproject.toml). Not yet a prerequisite of `test`: mypy still has findings.
# ruff and mypy on bench/, both clean; `make test` starts with them
lint: setup
	$(VENV)/bin/ruff check bench
	$(VENV)/bin/mypy

test: setup lint
	$(PY) -m pytest $(PYTEST_ARGS)
	$(PY) -m pytest tests/dut --bench fixtures/benches/reference-omi.yaml --bench-out out/omi -rs $(PYTEST_ARGS)
	$(PY) -m pytest tests/dut --bench fixtures/benches/reference-stock.yaml --bench-out out/stock $(PYTEST_ARGS)
	$(PY) -m pytest tests/dut --bench fixtures/benches/reference-esp32s3.yaml --bench-out out/esp32s3 $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory test-product

# The wheel in a fresh venv (out/product-venv), examples/product-repo's tests run from a temp dir.
test-product: setup
	PYTHON=$(PY) bash ci/test-product.sh

benchmarks: setup
	@for f in benchmarks/*.py; do echo "# $$f" >&2; $(PY) $$f || exit 1; done

# out/history (the Allure trends per plan) survives `make clean`; `make clean-history` removes it.
clean:
	@if [ -d out ]; then find out -mindepth 1 -maxdepth 1 ! -name history -exec rm -rf {} +; fi
	rm -rf .pytest_cache allure-results node_modules

clean-history:
	rm -rf out/history
