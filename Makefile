# supportdesk: `make run` starts everything on this machine; `make test` runs the whole suite.
# `make setup` installs what `make run` needs and no more (a virtualenv with the packages, Kafka's
# jars; needs Python 3.11, Java 17 and Maven). `make setup-test` adds what the tests need: the
# development packages (pytest, ruff, mypy, ...; all `make lint` needs), Helm (built with Go),
# Dovecot and Chromium. A stamp in .venv for each step, so nothing is redone until its inputs change.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PACKAGES := libs/contract libs/calendar libs/observability libs/messaging libs/service deploy/devstack \
            services/intake services/triage services/sla-clock \
            services/escalation services/notifier services/board services/assignment
STAMP  := $(VENV)/.installed
DEV_STAMP  := $(VENV)/.dev-packages
TEST_STAMP := $(VENV)/.test-tools
HELM_VERSION := v3.22.0
HELM   := $(HOME)/go/bin/helm

.PHONY: setup setup-test run test unit lint bench bench-board chaos docs first-run-check clean

setup: $(STAMP)

setup-test: $(TEST_STAMP)

$(STAMP): Makefile constraints.txt $(addsuffix /pyproject.toml,$(PACKAGES))
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	  || { echo "error: $(PYTHON) is missing or older than Python 3.11"; exit 1; }
	@command -v java >/dev/null || { echo "error: java not found (Kafka runs on Java 17)"; exit 1; }
	@command -v mvn  >/dev/null || { echo "error: mvn not found (Kafka's jars come from Maven Central)"; exit 1; }
	@test -x $(BIN)/python || { echo "creating the virtualenv $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "installing the desk's Python packages into $(VENV) (a minute or two, once)"
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt $(addprefix -e ,$(PACKAGES))
	$(BIN)/devstack fetch-kafka
	touch $(STAMP)

# requirements-dev.txt: the test and lint tools, in the same virtualenv.
$(DEV_STAMP): $(STAMP) requirements-dev.txt
	@echo "installing the development packages (pytest, ruff, mypy, playwright, ...; a minute or two, once)"
	$(BIN)/pip install -q -c constraints.txt -r requirements-dev.txt
	touch $(DEV_STAMP)

# What only the tests use, outside Python: Helm (the deploy tests lint the chart), Dovecot (the
# IMAP tests) and Chromium (the board's browser tests).
$(TEST_STAMP): $(DEV_STAMP)
	@command -v helm >/dev/null || test -x $(HELM) || { \
	  command -v go >/dev/null || { echo "error: helm not found and no go to build it (the deploy tests lint the chart)"; exit 1; }; \
	  echo "installing helm $(HELM_VERSION) with go install (a few minutes, once)"; \
	  go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION); }
	@test -x /usr/sbin/dovecot || command -v dovecot >/dev/null || { \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's dovecot-imapd: the IMAP tests run a real IMAP server"; \
	    apt-get install -y -q dovecot-imapd >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q dovecot-imapd >/dev/null; }; \
	  else echo "note: no dovecot and no apt-get as root here: the IMAP tests will be skipped"; fi; }
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  echo "chromium not found: installing Debian's chromium with apt-get (the board's browser tests drive it)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo "sudo -n" ); \
	  { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; } >/dev/null 2>&1 \
	    || echo "warning: could not install chromium; only the board's browser tests will be skipped"; }
	touch $(TEST_STAMP)

run: setup
	$(BIN)/devstack run

test: setup-test
	$(BIN)/pytest

# Every chaos scenario (tests/chaos) at full scale; CHAOS_BOUNDED=1 for the bounded scale.
# `make test` runs the chaos_quick ones, bounded. The summary lands in .data/chaos-summary.md.
chaos: setup-test
	$(BIN)/pytest tests/chaos --chaos=$(if $(CHAOS_BOUNDED),bounded,full)

unit: setup-test
	$(BIN)/pytest -m "not integration and not e2e"

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(DEV_STAMP)
	@ls bench/*.py >/dev/null 2>&1 && for b in bench/*.py; do $(BIN)/python $$b; done || echo "no benchmarks yet"

# The board's read benchmark on 1,000,000 tickets (BOARD_BENCH_TICKETS to change); not part of `make test`.
bench-board: $(DEV_STAMP)
	$(BIN)/python bench/board_bench.py

# The documentation site (mkdocs.yml, docs/), built strictly: a broken link or anchor fails.
docs: $(DEV_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d .data/site

# A fresh clone's `make run` with only python3, java and mvn on the PATH: every service ready, the
# demo tickets on the board, a clean stop on Ctrl-C (deploy/tests/first_run.sh).
first-run-check:
	deploy/tests/first_run.sh

clean:
	rm -rf .data
