# The few verbs people type. `make demo` and `make test` install everything they need first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
SYNCED := $(VENV)/.synced
CUSTOMERS ?= $(or $(CVW_SYNTHETIC_CUSTOMERS),5000)

# Airflow runs in-process against an ignored home in the repo with a SQLite metadata database.
export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES := False
# A warehouse of customer data calls no one: usage telemetry of Airflow, dbt and Cosmos is off.
export AIRFLOW__USAGE_DATA_COLLECTION__ENABLED := False
export SCARF_ANALYTICS := false
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export AIRFLOW__COSMOS__ENABLE_TELEMETRY := False
# The dbt build's producer task never retries, so Cosmos need not back its XComs up after every dbt event.
export AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY := False
AIRFLOW_PORT ?= 8080
# uv uses this machine's Python 3.11 and never downloads an interpreter.
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)

.PHONY: help install demo test lint clean airflow

help:  ## list the verbs
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

# Compiled at install, as pip does: on a machine with PYTHONDONTWRITEBYTECODE set (as ours is), Python would
# compile dbt's and Airflow's modules from source in every process, about 1 s of CPU each.
$(SYNCED): uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	@touch $@

install: $(SYNCED)  ## create .venv and install the locked dependencies

demo: $(SYNCED)  ## generate a shop, run ingest → dbt → train → score → monitor → publish through Airflow, print the top customers
	$(PY) -m ml.cli generate --customers $(CUSTOMERS)
	$(PY) -m ml.cli pipeline
	$(PY) -m ml.cli top

test: $(SYNCED)  ## ruff, then every test (unit, dbt, Airflow end to end)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

airflow: $(SYNCED)  ## run Airflow on http://127.0.0.1:8080 (api-server, scheduler, dag-processor, triggerer)
	$(PY) -m include.airflow_local --home $(AIRFLOW_HOME) --port $(AIRFLOW_PORT)

lint: $(SYNCED)  ## ruff on the Python code: its checks and its formatting
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:  ## delete data/ (the warehouse, landing files, imports too), artifacts/ (models) and Airflow state; keeps .venv
	rm -rf data artifacts .airflow dbt_project/target dbt_project/logs
