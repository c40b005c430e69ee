# The README's two commands live here: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# Not --quiet: the first install takes minutes, and pip's line per package shows it is moving.
PIP    := $(PY) -m pip install --disable-pip-version-check -c constraints.txt
COUNT   = $$(grep -cvE '^[[:space:]]*(\#|$$)' $(1))

.PHONY: run test lint fix clean help browser tools bench drills
.DEFAULT_GOAL := help

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(VENV)/.runtime: requirements.txt constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "hamdam needs Python 3.11 or newer (set PYTHON=...)")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing $(call COUNT,requirements.txt) pinned requirements (and what they need) into $(VENV) ..."
	@$(PIP) -r requirements.txt
	@touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	@echo "installing $(call COUNT,requirements-dev.txt) pinned test tools (and what they need) into $(VENV) ..."
	@$(PIP) -r requirements-dev.txt
	@touch $@

run: $(VENV)/.runtime  ## run web + worker + scheduler (and Redis if none answers) on :5000
	@$(PY) -m gateway.launch

lint: $(VENV)/.dev  ## ruff lint + format check, import-linter contracts, vulture (dead code)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/vulture

browser:  ## install Debian's chromium for the browser tests if missing (needs root and apt)
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser tests ..."; \
	    apt-get update -qq >/dev/null 2>&1; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 \
	      || echo "could not install chromium: the browser tests will be skipped"; \
	  else echo "no chromium and no root to install it: the browser tests will be skipped"; fi; }

tools:  ## install Debian's nginx-light for the proxy tests if missing (needs root and apt)
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's nginx-light for the proxy tests ..."; \
	    apt-get update -qq >/dev/null 2>&1; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null 2>&1 \
	      || echo "could not install nginx: the proxy tests will be skipped"; \
	  else echo "no nginx and no root to install it: the proxy tests will be skipped"; fi; }

test: lint browser tools  ## lint, then the whole test suite against a real Redis
	@$(PY) -m pytest; status=$$?; \
	  if [ $$status -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$status

bench: $(VENV)/.dev  ## benchmarks beside same-run baselines, writes bench/results.json (needs wrk)
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && { apt-get update -qq >/dev/null 2>&1; apt-get install -y -qq wrk >/dev/null 2>&1; }; } \
	  || true
	@$(PY) -m bench.run $(BENCH_ARGS)

drills: $(VENV)/.dev  ## failure drills against the Procfile's processes (about 20-25 minutes)
	@$(PY) -m pytest tests/drills --drills

fix: $(VENV)/.dev  ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:  ## remove the virtualenv (var/ keeps development secrets and Redis data)
	rm -rf $(VENV)
