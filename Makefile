# Two commands on a fresh Debian/Ubuntu machine with Python 3.11+:
#   make demo   - a real local registry, the five checks and referrer discovery against it
#   make test   - the whole test suite (installs what it needs, including Debian's docker-registry)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
EXAMPLES := $(wildcard plugins/examples/*/pyproject.toml)
STAMP := $(VENV)/.installed
# The standing checks' tools live in a virtualenv of their own: import-linter pulls in click and
# rich, which httpx imports at start-up when they are installed -- in the product's environment
# they would cost every doctor run (and the bench's numbers) what no user's install pays.
TOOLS ?= .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed
SOURCE_PATH := .:plugins/integration_oci:plugins/examples/net_checks:plugins/examples/prometheus_reporter

.PHONY: help demo test check lint bench system-deps referrers-registry venv tools clean

help:
	@echo "make demo   - start a local registry, run 'doctor --tag registry' and 'doctor oci referrers' against it"
	@echo "make test   - make check, then install everything the tests need and run the whole suite"
	@echo "make check  - format check, lint, strict type check, import contracts (make test runs it first)"
	@echo "make lint   - ruff"
	@echo "make bench  - benchmarks (bench/RESULTS.md)"

# Debian's docker-registry (CNCF distribution 2.8) is the real registry of the demo, tests and bench.
system-deps:
	@if command -v docker-registry >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's docker-registry with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry >/dev/null; \
	else \
		echo "error: the 'docker-registry' program is needed (Debian/Ubuntu: sudo apt-get install docker-registry)" >&2; exit 1; \
	fi

# A real registry with the OCI 1.1 referrers API (oras-project/distribution, built once from the vendored
# source into .cache/oras-registry/ with Debian's Go). DOCTOR_TEST_REFERRERS_REGISTRY=/path/to/registry
# uses another build instead. Without Go (and not root to install it) the tests that need it are skipped.
REFERRERS_REGISTRY := .cache/oras-registry/registry
referrers-registry: venv
	@if [ -n "$$DOCTOR_TEST_REFERRERS_REGISTRY" ] || [ -x $(REFERRERS_REGISTRY) ]; then :; \
	else \
		if ! command -v go >/dev/null 2>&1; then \
			if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
				echo "installing Debian's golang-go with apt-get"; \
				apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends golang-go >/dev/null; \
			else \
				echo "warning: 'go' is missing (sudo apt-get install golang-go): referrers-API registry tests will be skipped" >&2; \
			fi; \
		fi; \
		if command -v go >/dev/null 2>&1; then echo "building the referrers-API registry (oras-project/distribution)"; \
			$(PY) -m devtools.referrers_registry build || true; fi; \
	fi

$(STAMP): pyproject.toml plugins/integration_oci/pyproject.toml $(EXAMPLES)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP) install -q --upgrade pip >/dev/null
	$(PIP) install -q -e '.[test]' -e plugins/integration_oci $(foreach p,$(EXAMPLES),-e $(dir $(p)))
	@touch $(STAMP)

venv: $(STAMP)

demo: system-deps referrers-registry venv
	$(PY) -m devtools.demo

# `make check` first: a tree that does not format, lint, type-check or keep its import contracts
# does not get to run its tests.
test: venv check system-deps referrers-registry
	$(PY) -m pytest -q -p no:cacheprovider

$(TOOLS_STAMP): pyproject.toml
	@test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	@$(TOOLS)/bin/python -m pip install -q --upgrade pip >/dev/null
	$(TOOLS)/bin/python -m pip install -q 'ruff>=0.5' 'mypy>=1.10' 'types-PyYAML>=6.0' 'import-linter>=2.1'
	@touch $(TOOLS_STAMP)

tools: $(TOOLS_STAMP)

# The test directories type-checked by a mypy run each, with the directory as the package base:
# each holds a conftest.py and modules its tests import as top-level siblings (pytest puts the
# directory on sys.path), and one run cannot hold several top-level `conftest` modules. The rest
# of the tests are checked with the sources ([tool.mypy] in pyproject.toml says which and why).
TEST_TYPE_ROOTS := tests/docs plugins/integration_oci/tests/checks plugins/integration_oci/tests/referrers \
	plugins/integration_oci/tests/client plugins/examples/net_checks/tests

# The standing checks: formatting, lint, a strict type checker over the sources and the tests
# (against the product's virtualenv, where the dependencies are), and the architecture's import
# contracts ([tool.importlinter] in pyproject.toml; the packages found on the source path).
check: venv tools
	$(TOOLS)/bin/ruff format --check --quiet .
	$(TOOLS)/bin/ruff check --quiet .
	$(TOOLS)/bin/mypy --python-executable $(PY)
	@status=0; for root in $(TEST_TYPE_ROOTS); do \
		echo "MYPYPATH=$$root $(TOOLS)/bin/mypy --python-executable $(PY) $$root"; \
		MYPYPATH=$$root $(TOOLS)/bin/mypy --python-executable $(PY) $$root || status=1; \
	done; exit $$status
	PYTHONPATH=$(SOURCE_PATH) $(TOOLS)/bin/lint-imports --no-cache

lint: tools
	$(TOOLS)/bin/ruff check .

bench: system-deps venv
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) $(TOOLS) .demo bench/.work .pytest_cache .ruff_cache .mypy_cache .cache
