# glassbench — one Makefile for bench engineers and CI. Every target is idempotent.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.glassbench-installed
ALLURE  := node_modules/.bin/allure
PYTEST_ARGS ?=

.PHONY: setup demo lint test test-pool test-product benchmarks clean clean-history system-deps

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

# ruff and mypy on bench/ (config in pyproject.toml), both clean; `make test` starts with them
lint: setup
	$(VENV)/bin/ruff check bench
	$(VENV)/bin/mypy

# Every suite runs even when an earlier one fails (each has its own outputs); the last line names the failed ones.
test: setup lint
	@failed=; \
	$(PY) -m pytest $(PYTEST_ARGS) || failed="$$failed main"; \
	$(PY) -m pytest tests/dut --bench fixtures/benches/reference-omi.yaml --bench-out out/omi -rs $(PYTEST_ARGS) || failed="$$failed omi"; \
	$(PY) -m pytest tests/dut --bench fixtures/benches/reference-stock.yaml --bench-out out/stock $(PYTEST_ARGS) || failed="$$failed stock"; \
	$(PY) -m pytest tests/dut --bench fixtures/benches/reference-esp32s3.yaml --bench-out out/esp32s3 $(PYTEST_ARGS) || failed="$$failed esp32s3"; \
	$(MAKE) --no-print-directory test-pool || failed="$$failed pool"; \
	$(MAKE) --no-print-directory test-product || failed="$$failed product"; \
	if [ -n "$$failed" ]; then echo "make test: failed suites:$$failed" >&2; exit 1; fi; echo "make test: every suite passed"

# A pool of two reference DUTs (docs/lab.md): part of the DUT suites spread over two xdist workers, one DUT
# each (outputs in out/pool/duts/<id>/), then the two-DUT tests, which need both DUTs in one process.
# (30-60 s on this 2-core machine; the labgrid place and the killed-worker case are tests/unit/test_lab.py and test_pool.py.)
POOL_SUITES := tests/dut/test_smoke.py tests/dut/test_link.py tests/dut/test_protocol_messages.py tests/dut/test_power_states.py
test-pool: setup
	$(PY) -m pytest -n 2 --bench pool-reference --bench-out out/pool $(POOL_SUITES) $(PYTEST_ARGS)
	$(PY) -m pytest --bench pool-reference --bench-out out/pool-pair tests/dut/test_two_duts.py $(PYTEST_ARGS)

# The wheel in a fresh venv (out/product-venv), examples/product-repo's tests run from a temp dir.
test-product: setup
	PYTHON=$(PY) bash ci/test-product.sh

benchmarks: setup
	@rc=0; for f in benchmarks/*.py; do echo "# $$f" >&2; $(PY) $$f || { echo "# $$f: target missed or failed" >&2; rc=1; }; done; exit $$rc

# out/history (the Allure trends per plan) survives `make clean`; `make clean-history` removes it.
clean:
	@if [ -d out ]; then find out -mindepth 1 -maxdepth 1 ! -name history -exec rm -rf {} +; fi
	rm -rf .pytest_cache allure-results node_modules

clean-history:
	rm -rf out/history
