# Set-up and run tooling for `meter`. `make help` lists the targets.
#
# Every target honours the METER_* environment variables (see docs/configuration.md); e.g.
#   METER_REDIS_URL=redis://redis.example.internal:6379/0 make run
#   PYTEST_ARGS='-k ledger -x' make test

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed

.PHONY: help venv run test test-at soak lint bench stop-redis clean dashboards bench-dashboards secrets

help: ## list the targets
	@echo "meter: quota metering service"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'
	@echo "Settings come from METER_* variables; PYTEST_ARGS is passed to pytest."

venv: $(STAMP) ## create .venv and install meter with its test extras (again only when pyproject.toml changes)

# The interpreter is the venv's marker: a missing or dangling .venv/bin/python re-creates it.
$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# The stamp lives inside .venv, so a fresh venv never carries a stale stamp.
$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $@

# A single plain command: make runs it without a shell, and run.sh ends by exec'ing the server,
# so the server is make's direct child and gets the SIGTERM that make forwards.
run: venv ## serve in the foreground (starts a private Redis on :6390 if none answers)
	scripts/run.sh

test: venv lint ## lint and type-check, ensure Redis, nginx and promtool are there, then run the whole suite
	scripts/test-deps.sh
	PATH="$$PATH:/usr/local/sbin:/usr/sbin:/sbin" $(VENV)/bin/python -m pytest -q $(PYTEST_ARGS)

test-at: venv ## the date-dependent tests with the clock moved (libfaketime): make test-at DATE='2026-12-31 22:30:00'
	@test -n "$(DATE)" || { echo "make test-at DATE='YYYY-MM-DD HH:MM:SS' (UTC) [PYTEST_ARGS=tests]"; exit 2; }
	scripts/at-date.sh "$(DATE)" $(PYTEST_ARGS)

soak: venv ## mixed load on loopback with faults injected, then the invariants as a table (SOAK_S=180, at most 600)
	scripts/test-deps.sh
	PATH="$$PATH:/usr/local/sbin:/usr/sbin:/sbin" $(VENV)/bin/python scripts/soak.py

lint: venv ## ruff (lint and import order) on meter/, tests/ and bench/; mypy on meter/ (strict on core/, ledger/, store/)
	$(VENV)/bin/ruff check meter tests bench
	$(VENV)/bin/python -m mypy meter

bench: venv ## run the benchmarks (ingestion, then the hot path with wrk and nginx); figures in docs/benchmarks.md
	scripts/test-deps.sh wrk
	$(VENV)/bin/python bench/ingest.py
	PATH="$$PATH:/usr/local/sbin:/usr/sbin:/sbin" $(VENV)/bin/python bench/check.py

dashboards: venv ## regenerate the Grafana dashboards' JSON (dashboards/json) from the Python under dashboards/
	$(VENV)/bin/python -m dashboards

bench-dashboards: venv ## every dashboard panel query on a year of history in chDB; figures in docs/benchmarks.md
	$(VENV)/bin/python bench/dashboards.py

# Every variable of .env.example, each a fresh random value; an existing .env is never overwritten.
secrets: ## write .env for docker compose: random passwords and meter's tokens (openssl rand -hex 32)
	@test ! -e .env || { echo ".env exists; remove it to make new secrets" >&2; exit 1; }
	@umask 077 && for name in $$(sed -n 's/^\([A-Z_]*\)=.*/\1/p' .env.example); do \
		echo "$$name=$$(openssl rand -hex 32)"; done > .env
	@echo "wrote .env (readable by you only)"

stop-redis: ## stop the private Redis that `make run` started (it outlives the server)
	scripts/private-redis.sh stop

clean: stop-redis ## remove var/ (stopping the private Redis first) and caches; keeps .venv
	rm -rf var/ .pytest_cache/ .hypothesis/ build/ dist/ *.egg-info/
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
