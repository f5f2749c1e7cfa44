# The cookbook's commands. `make help` lists them.
#
# Every target that needs Python first makes sure a virtualenv holds requirements-docs.txt:
# the active one ($VIRTUAL_ENV) if there is one, otherwise .venv/ in this folder, created on
# first use. The packages are (re)installed only when requirements-docs.txt is newer than the
# stamp file left in that virtualenv by the last install.

SHELL := /bin/bash
PYTHON ?= python3
VENV := $(if $(VIRTUAL_ENV),$(VIRTUAL_ENV),$(CURDIR)/.venv)
PY := $(VENV)/bin/python
STAMP := $(VENV)/.cookbook-requirements-installed

BUILD := _build
HTML := $(BUILD)/html
# Options for sphinx-build; empty: cookbook/site/build.py's DEFAULT_OPTIONS (warnings are errors,
# keep going so that one build reports all of them, a process per core and one more).
SPHINXOPTS ?=
# Extra options for pytest, e.g. `make test PYTEST_ARGS="-k seed"`.
PYTEST_ARGS ?=
# Run one part of the tests for CI: `make test SHARD=1/3` (the site is built by shard 1 only).
SHARD ?=

.DEFAULT_GOAL := help
.PHONY: help install html stop-zygote test accessibility notebooks lint matcher-eval bench screenshots behaviour-report history clean distclean

help:  ## List the commands.
	@echo "Usage: make <target>"
	@echo
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | awk -F'\t' '{printf "  %-16s %s\n", $$1, $$2}'
	@echo
	@echo "Python environment: $(VENV)"

$(PY):
	$(PYTHON) -m venv $(VENV)

# uv (pinned in requirements-docs.txt) installs the requirements: pip bootstraps it, then it reads
# only requirements-docs.txt and PyPI (no pip configuration), and shares one cache between virtualenvs.
# --compile-bytecode writes the .pyc files at install time: uv does not by default, and where
# PYTHONDONTWRITEBYTECODE is set (as on many CI machines) every recipe's process would otherwise
# compile torch's modules from source again (DEVELOPERS.md's performance note says how much).
$(STAMP): requirements-docs.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check "$$(grep -E '^uv==' requirements-docs.txt)"
	$(PY) -m uv pip install --quiet --compile-bytecode --python $(PY) -r requirements-docs.txt
	touch $@

install: $(STAMP)  ## Create the virtualenv (if none is active) and install requirements-docs.txt.

html: $(STAMP)  ## Build the site into _build/html, running every recipe that changed.
	$(PY) -m cookbook.site.build $(SPHINXOPTS)

test: $(STAMP)  ## Find or install Chromium and axe-core, build the site, then run every recipe and the site's tests.
	@status=0; \
	if [ -z "$(SHARD)" ] || [ "$${SHARD%%/*}" = "1" ]; then \
	  $(PY) tests/support/browser.py || exit 1; \
	  $(PY) tests/support/axe.py || exit 1; \
	  $(MAKE) --no-print-directory html || status=1; \
	fi; \
	$(PY) -m pytest tests $(if $(SHARD),--shard=$(SHARD)) $(PYTEST_ARGS) || status=1; \
	exit $$status

# axe-core (tools/axe/package.json and its lock file) is installed with `npm ci` by tests/support/axe.py,
# only when the pinned version is not in tools/axe/node_modules already.
accessibility: $(STAMP)  ## Check every page of the site with axe-core, light and dark (minutes; make test checks one page of each kind).
	$(PY) tests/support/browser.py
	$(PY) tests/support/axe.py
	@test -f $(HTML)/index.html || $(MAKE) --no-print-directory html
	COOKBOOK_AXE_EVERY_PAGE=1 $(PY) -m pytest tests/test_accessibility.py $(PYTEST_ARGS)

# make test runs one notebook per distinct first cell in a kernel and proves the others hold their
# recipe's code (tests/test_notebooks.py); this runs every one of them in a fresh kernel.
notebooks: $(STAMP)  ## Run every downloadable notebook in a fresh Jupyter kernel (minutes; make test runs one per first cell).
	@test -f $(HTML)/index.html || $(MAKE) --no-print-directory html
	COOKBOOK_EVERY_NOTEBOOK=1 $(PY) -m pytest tests/test_notebooks.py $(PYTEST_ARGS)

lint: $(STAMP)  ## The static checks: the recipes' rules, and ruff on all the Python (fast).
	$(PY) -m cookbook.harness.lint
	$(PY) -m ruff check .

matcher-eval: $(STAMP)  ## The error matcher on the corpus of real reports: top-1, top-3, "no match" per split, page answer time.
	@test -f $(HTML)/index.html || $(MAKE) --no-print-directory html
	$(PY) -m cookbook.matcher_eval --timing $(MATCHER_EVAL_ARGS)

bench: $(STAMP)  ## Measure the harness against running each recipe with `python`, and the doc build.
	$(PY) scripts/bench.py

# The Python whose torch is recorded by `make behaviour-report` (another virtualenv, e.g. with a newer torch).
REPORT_PYTHON ?= $(PY)
# The torch releases `make history` records (default: every release of cookbook/harness/history.py).
RELEASES ?=

behaviour-report:  ## Record every expectation of every recipe for REPORT_PYTHON's torch into _doc/behaviour/.
	@if [ "$(REPORT_PYTHON)" = "$(PY)" ]; then $(MAKE) --no-print-directory install; fi
	PYTHONPATH=$(CURDIR) $(REPORT_PYTHON) -m cookbook.harness.behaviour record --out _doc/behaviour

history: $(STAMP)  ## Record every expectation on each torch release since 2.9 (one throwaway virtualenv at a time).
	$(PY) -m cookbook.harness.history $(RELEASES)

screenshots: $(STAMP)  ## Screenshots of the built site (landing and recipe pages, light and dark) in _build/screenshots.
	@test -f $(HTML)/index.html || $(MAKE) --no-print-directory html
	$(PY) scripts/screenshots.py

stop-zygote:  ## Stop the recipes' zygote that make html keeps between builds (it stops by itself after 15 idle minutes).
	@if [ -x $(PY) ]; then $(PY) -c "from cookbook.site.warm_zygote import stop_server; print('stopped' if stop_server() else 'no zygote was running')"; fi

clean: stop-zygote  ## Remove the built site, the generated gallery and the test reports (keeps .venv).
	rm -rf $(BUILD) _doc/auto_recipes _doc/sg_execution_times.rst

distclean: clean  ## Also remove .venv.
	rm -rf .venv
