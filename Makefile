# tiktok-top10 — `make run` (one day on the demo source) and `make test` do all setup themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PROJECT     := $(abspath .)
PYTHON      ?= $(shell command -v python3.11 || command -v python3)
VENV        := $(PROJECT)/.venv
PY          := $(VENV)/bin/python
export AIRFLOW_HOME                 ?= $(PROJECT)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER   := $(PROJECT)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(PROJECT)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__PARALLELISM   ?= 4
export AIRFLOW__API__HOST           ?= 127.0.0.1
export AIRFLOW__API__PORT           ?= 8080
export TIKTOK_TOP10_DATA_ROOT       ?= $(PROJECT)/data
DEMO_PORT   ?= 8765
export TIKTOK_TOP10_DEMO_URL        ?= http://127.0.0.1:$(DEMO_PORT)
RUN_DIR     := $(PROJECT)/.run

.PHONY: help setup system venv airflow-db run up down test test-distributed bench eval-dedup eval-lang weights clean demo-site demo-measure

help:
	@echo "make run     set up everything, run the DAG for today (Asia/Seoul) on the demo source, print the artifacts"
	@echo "make test    set up everything, run the test suite"
	@echo "make up      airflow standalone on http://127.0.0.1:8080 + demo site (make down stops both)"
	@echo "make bench | eval-dedup | eval-lang | weights | test-distributed | clean"

# --- setup --------------------------------------------------------------------------------------------------
setup: system venv

system:
	@bash scripts/install_system.sh

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

airflow-db: $(AIRFLOW_HOME)/.migrated

$(AIRFLOW_HOME)/.migrated: $(VENV)/.installed
	@mkdir -p $(AIRFLOW_HOME)
	$(VENV)/bin/airflow db migrate >/dev/null
	@touch $@

# --- the main job -------------------------------------------------------------------------------------------
run: setup airflow-db
	@bash scripts/run_today.sh

up: setup airflow-db
	@bash scripts/standalone.sh start

down:
	@bash scripts/standalone.sh stop

# --- tests, benchmarks, evaluations -------------------------------------------------------------------------
test: setup
	$(VENV)/bin/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test-distributed: setup
	@bash scripts/distributed/install.sh
	@bash scripts/distributed/run.sh

bench: setup
	$(PY) bench/bench_dedup.py
	$(PY) bench/bench_lang.py
	$(PY) bench/bench_crawl.py

eval-dedup: setup
	$(PY) bench/eval_dedup.py

eval-lang: setup
	$(PY) bench/eval_lang.py

demo-site: venv
	$(VENV)/bin/top10 demo-site --host 127.0.0.1 --port $(DEMO_PORT)

demo-measure: venv
	$(PY) -m tiktok_top10.demo.measure --distinct 200 --agreement

weights: venv
	$(PY) scripts/download_weights.py

clean:
	rm -rf $(RUN_DIR) $(PROJECT)/.airflow $(PROJECT)/build
