#!/usr/bin/env bash
# `make up` / `make down`: airflow standalone (API server, scheduler, dag-processor, triggerer; SQLite,
# LocalExecutor) plus the demo site, in one process group so `make down` stops all of it. Settings come from
# bin/airflow-env.sh, the same file bin/airflow sources. `make up` succeeds only once Airflow reports every
# component healthy; otherwise it prints the end of the log, stops what it started and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
source bin/airflow-env.sh
mkdir -p "$TOP10_RUN_DIR"
pidfile="$TOP10_RUN_DIR/standalone.pgid"
log="$TOP10_RUN_DIR/standalone.log"
demo_log="$TOP10_RUN_DIR/demo-site.log"
health_url="$AIRFLOW__API__BASE_URL/api/v2/monitor/health"
up_timeout="${TOP10_UP_TIMEOUT:-180}"

group_alive() { kill -0 -- "-$1" 2>/dev/null; }

stop_group() {
  local pgid=$1
  kill -TERM -- "-$pgid" 2>/dev/null || return 0
  for _ in $(seq 1 60); do group_alive "$pgid" || return 0; sleep 0.5; done
  echo "process group $pgid still running 30 s after SIGTERM: SIGKILL" >&2
  kill -KILL -- "-$pgid" 2>/dev/null || true
  for _ in $(seq 1 20); do group_alive "$pgid" || return 0; sleep 0.5; done
  return 1
}

# Healthy = the API answers and reports the metadata DB, scheduler, triggerer and dag-processor healthy.
airflow_healthy() {
  "$TOP10_VENV/bin/python" - "$health_url" <<'PY'
import json, sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy
try:
    with opener.open(sys.argv[1], timeout=3) as response:
        health = json.load(response)
except Exception:
    sys.exit(1)
components = ("metadatabase", "scheduler", "triggerer", "dag_processor")
sys.exit(0 if all((health.get(name) or {}).get("status") == "healthy" for name in components) else 1)
PY
}

demo_up() { curl --noproxy '*' -fsS -o /dev/null "$TIKTOK_TOP10_DEMO_URL/explore" 2>/dev/null; }

case "${1:-}" in
  start)
    if [ -f "$pidfile" ] && group_alive "$(cat "$pidfile")"; then
      echo "already up (process group $(cat "$pidfile")); make down first"; exit 0
    fi
    top10_jwt_secret
    # SQLite in WAL mode (kept in the DB file): readers, e.g. the API server answering the UI, no longer wait
    # for the scheduler's and dag-processor's writes; without it REST calls stalled for 30 s on a busy machine.
    case "$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" in
      sqlite:///*)
        db="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN#sqlite:///}"
        wal='import sqlite3, sys; sqlite3.connect(sys.argv[1], timeout=60).execute("PRAGMA journal_mode=WAL")'
        "$TOP10_VENV/bin/python" -c "$wal" "${db%%\?*}"
        ;;
    esac
    demo_port="${TIKTOK_TOP10_DEMO_URL##*:}"
    started=$SECONDS
    # setsid: a new session whose id is the group every component inherits, so `make down` can stop them all.
    setsid bash -c '
      "$1/bin/top10" demo-site --host 127.0.0.1 --port "$2" >"$3" 2>&1 &
      exec "$1/bin/airflow" standalone >"$4" 2>&1
    ' standalone "$TOP10_VENV" "$demo_port" "$demo_log" "$log" &
    pgid=$!
    echo "$pgid" >"$pidfile"
    echo "starting Airflow on $AIRFLOW__API__BASE_URL (log: $log) ..."
    fail() {
      echo "make up: $1; the last lines of $log:" >&2
      tail -n 40 "$log" >&2 || true
      stop_group "$pgid" || true
      rm -f "$pidfile"
      echo "make up: stopped what it started (process group $pgid)" >&2
      exit 1
    }
    until airflow_healthy && demo_up; do
      kill -0 "$pgid" 2>/dev/null || fail "airflow standalone exited"
      (( SECONDS - started < up_timeout )) || fail "Airflow not healthy after ${up_timeout} s (TOP10_UP_TIMEOUT)"
      sleep 1
    done
    echo "Airflow healthy after $((SECONDS - started)) s"
    echo "Airflow UI: $AIRFLOW__API__BASE_URL  user: admin"
    echo "admin password: $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
    echo "demo site: $TIKTOK_TOP10_DEMO_URL   data root: $TIKTOK_TOP10_DATA_ROOT"
    echo "the DAG starts paused: bin/airflow dags unpause tiktok_top10 (or the toggle in the UI). Stop with: make down"
    ;;
  stop)
    [ -f "$pidfile" ] || { echo "not running"; exit 0; }
    pgid=$(cat "$pidfile")
    if ! stop_group "$pgid"; then
      echo "make down: process group $pgid survived SIGKILL:" >&2
      pgrep -a -g "$pgid" >&2 || true
      exit 1
    fi
    rm -f "$pidfile"; echo "stopped"
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
