# shellcheck shell=bash
# The project's Airflow settings, in one place. Sourced by bin/airflow, scripts/standalone.sh (make up/down),
# scripts/run_today.sh (make run) and read by the Makefile, so a command pasted from the README into a plain
# shell sees the same AIRFLOW_HOME, DAG folder, API address and data root as `make up` does.
# Every value already set in the environment wins: that is how a test runs its own instance under a temp dir.

TOP10_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOP10_VENV="${TOP10_VENV:-$TOP10_REPO/.venv}"
# .run/ holds make up's process-group id and logs; one per instance.
export TOP10_RUN_DIR="${TOP10_RUN_DIR:-$TOP10_REPO/.run}"

export AIRFLOW_HOME="${AIRFLOW_HOME:-$TOP10_REPO/.airflow}"
# SQLite, as `airflow standalone` uses it, with a 60 s busy timeout instead of sqlite3's 5 s: the CLI (e.g. a
# backfill) writes while the scheduler, API server and dag-processor do, and on a busy machine 5 s of waiting for
# the write lock ran out ("database is locked").
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-sqlite:///$AIRFLOW_HOME/airflow.db?timeout=60}"
export AIRFLOW__CORE__DAGS_FOLDER="${AIRFLOW__CORE__DAGS_FOLDER:-$TOP10_REPO/dags}"
export AIRFLOW__CORE__PLUGINS_FOLDER="${AIRFLOW__CORE__PLUGINS_FOLDER:-$TOP10_REPO/plugins}"
export AIRFLOW__CORE__LOAD_EXAMPLES="${AIRFLOW__CORE__LOAD_EXAMPLES:-False}"
# Airflow's default pre-forks 32 LocalExecutor workers; four are plenty on a laptop.
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
export AIRFLOW__API__HOST="${AIRFLOW__API__HOST:-127.0.0.1}"
export AIRFLOW__API__PORT="${AIRFLOW__API__PORT:-8080}"
export AIRFLOW__API__BASE_URL="${AIRFLOW__API__BASE_URL:-http://$AIRFLOW__API__HOST:$AIRFLOW__API__PORT}"
# Task runners reach the API server here; Airflow's default (localhost:8080) would miss a non-default port and
# may resolve to ::1 while the server listens on 127.0.0.1 only.
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="${AIRFLOW__CORE__EXECUTION_API_SERVER_URL:-$AIRFLOW__API__BASE_URL/execution/}"

export TIKTOK_TOP10_DATA_ROOT="${TIKTOK_TOP10_DATA_ROOT:-$TOP10_REPO/data}"
export TIKTOK_TOP10_DEMO_URL="${TIKTOK_TOP10_DEMO_URL:-http://127.0.0.1:8765}"

# `airflow standalone` starts its components as `airflow ...` looked up on PATH: the venv must be on it.
case ":$PATH:" in *":$TOP10_VENV/bin:"*) ;; *) export PATH="$TOP10_VENV/bin:$PATH" ;; esac

# A stable JWT secret per AIRFLOW_HOME (tokens stay valid across restarts and between the API server and the
# CLI), generated once into AIRFLOW_HOME (git-ignored), never printed.
top10_jwt_secret() {
  local file="$AIRFLOW_HOME/jwt_secret"
  if [ ! -s "$file" ]; then
    mkdir -p "$AIRFLOW_HOME"
    (umask 077
     tmp="$(mktemp "$file.XXXXXX")"
     head -c 64 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=' >"$tmp"
     mv -f "$tmp" "$file")
  fi
  AIRFLOW__API_AUTH__JWT_SECRET="$(cat "$file")"
  export AIRFLOW__API_AUTH__JWT_SECRET
}
