# tiktok-top10 — `make run` (one day on the demo source) and `make test` do all setup themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PROJECT     := $(abspath .)
PYTHON      ?= $(shell command -v python3.11 || command -v python3)
VENV        := $(PROJECT)/.venv
PY          := $(VENV)/bin/python
# The Airflow settings (AIRFLOW_HOME, DAG and plugin folders, API address, data root, demo URL) live in one
# file, bin/airflow-env.sh, which bin/airflow and scripts/*.sh source; make reads the few it needs from it.
# Any of them can be overridden from the environment or the make command line (make up AIRFLOW__API__PORT=8081).
top10_setting = $(shell bash -c 'source "$(PROJECT)/bin/airflow-env.sh" && printf %s "$$$(1)"')
AIRFLOW_HOME          := $(call top10_setting,AIRFLOW_HOME)
TIKTOK_TOP10_DEMO_URL := $(call top10_setting,TIKTOK_TOP10_DEMO_URL)
RUN_DIR               := $(call top10_setting,TOP10_RUN_DIR)

.PHONY: help setup system venv airflow-db run up down lint test test-distributed bench eval-dedup eval-lang calibrate weights clean demo-site demo-measure
.PHONY: eval-dedup-hard bench-dedup-regions gate-int8

help:
	@echo "make run     set up everything, run the DAG for today (Asia/Seoul) on the demo source, print the artifacts"
	@echo "make test    set up everything, lint (make lint), run the test suite (make test-distributed: the Celery run)"
	@echo "make up      airflow standalone on http://127.0.0.1:8080 + demo site (make down stops both)"
	@echo "make lint    ruff (pycodestyle, pyflakes, isort, bugbear, pyupgrade and Airflow's AIR rules; pyproject.toml)"
	@echo "make bench | eval-dedup | eval-lang | calibrate | weights | test-distributed | clean"

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
	$(PROJECT)/bin/airflow db migrate >/dev/null
	@touch $@

# --- the main job -------------------------------------------------------------------------------------------
run: setup airflow-db
	@bash scripts/run_today.sh

up: setup airflow-db
	@bash scripts/standalone.sh start

down:
	@bash scripts/standalone.sh stop

# --- tests, benchmarks, evaluations -------------------------------------------------------------------------
lint: venv
	$(VENV)/bin/ruff check $(PROJECT)

# Lint first: a finding fails `make test` (and CI) before the suite runs.
test: setup lint
	$(VENV)/bin/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test-distributed: setup
	@bash scripts/distributed/install.sh
	@bash scripts/distributed/run.sh

bench: setup
	$(PY) bench/bench_dedup.py
	$(PY) bench/bench_dedup_regions.py
	$(PY) bench/bench_lang.py
	$(PY) bench/bench_crawl.py

eval-dedup: setup
	$(PY) bench/eval_dedup.py --sweep

# The harder dedup evaluation (heavy/square crops, tiny thumbnails, meme frames, tone; banded hard negatives),
# today's rule against the crop-robust one (regional candidates on the descriptor input, the contained look; off
# by default in the stage; its values from `make calibrate`), on the whole harder set, on its held-out split and on
# eval-dedup's held-out split; exits 2 without ../shared/reference.
eval-dedup-hard: setup
	$(PY) bench/eval_dedup_hard.py --regions --descriptor-input 128:2 --existing $(EVAL_HARD_ARGS)

# What the crop-robust dedup costs against today's, in one run: regional descriptors and candidates on the real
# covers (skipped where ../shared/reference is absent), and the dedup stage on a demo day.
bench-dedup-regions: setup
	$(PY) bench/bench_dedup_regions.py

# Derive the dedup thresholds from the calibration split of ../shared/reference (fails, saying so, where it is
# absent) and write include/tiktok_top10/dedup/calibration.json; CALIBRATE_ARGS=--no-cache recomputes every
# fingerprint, CALIBRATE_ARGS=--check only compares with the committed file.
calibrate: venv
	$(PY) bench/calibrate_dedup.py $(CALIBRATE_ARGS)

# The int8 fidelity gate: fp32 vs the quantised EfficientNet-Lite0 on the held-out split (P, R, distinct merges;
# descriptor cosine, nearest-neighbour agreement); writes include/tiktok_top10/dedup/fidelity.json, which decides
# whether `precision=auto` may use int8 (GATE_ARGS=--variants first prints the recipe's alternatives).  Exits 2
# without ../shared/reference, 1 when int8 fails the gate.
gate-int8: venv
	$(PY) bench/gate_int8.py $(GATE_ARGS)

eval-lang: setup
	$(PY) bench/eval_lang.py

demo-site: venv
	$(VENV)/bin/top10 demo-site --host 127.0.0.1 --port $(lastword $(subst :, ,$(TIKTOK_TOP10_DEMO_URL)))

demo-measure: venv
	$(PY) -m tiktok_top10.demo.measure --distinct 200 --agreement

weights: venv
	$(PY) scripts/download_weights.py

clean:
	rm -rf $(RUN_DIR) $(PROJECT)/.airflow $(PROJECT)/build
