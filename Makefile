# supportdesk: `make run` starts everything on this machine; `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PACKAGES := libs/events libs/calendar deploy/devstack services/intake services/triage services/sla-clock \
            services/escalation services/notifier services/board
STAMP  := $(VENV)/.installed
HELM_VERSION := v3.22.0
HELM   := $(HOME)/go/bin/helm

.PHONY: setup run test unit lint bench bench-board chaos clean

setup: $(STAMP)

$(STAMP): Makefile requirements-dev.txt constraints.txt $(addsuffix /pyproject.toml,$(PACKAGES))
	@command -v java >/dev/null || { echo "error: java not found (Kafka runs on Java 17)"; exit 1; }
	@command -v mvn  >/dev/null || { echo "error: mvn not found (Kafka's jars come from Maven Central)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -r requirements-dev.txt $(addprefix -e ,$(PACKAGES))
	$(BIN)/devstack fetch-kafka
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
	touch $(STAMP)

run: setup
	$(BIN)/devstack run

test: setup
	$(BIN)/pytest

# Every chaos scenario (tests/chaos) at full scale; CHAOS_BOUNDED=1 for the bounded scale.
# `make test` runs the chaos_quick ones, bounded. The summary lands in .data/chaos-summary.md.
chaos: setup
	$(BIN)/pytest tests/chaos --chaos=$(if $(CHAOS_BOUNDED),bounded,full)

unit: setup
	$(BIN)/pytest -m "not integration and not e2e"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: setup
	@ls bench/*.py >/dev/null 2>&1 && for b in bench/*.py; do $(BIN)/python $$b; done || echo "no benchmarks yet"

# The board's read benchmark on 1,000,000 tickets (BOARD_BENCH_TICKETS to change); not part of `make test`.
bench-board: setup
	$(BIN)/python bench/board_bench.py

clean:
	rm -rf .data
