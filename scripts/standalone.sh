#!/usr/bin/env bash
# `make up` / `make down`: airflow standalone (API server on 127.0.0.1:8080, scheduler, dag-processor,
# triggerer; SQLite, LocalExecutor) plus the demo site, in one process group so `make down` stops all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .run
pidfile=.run/standalone.pgid
case "${1:-}" in
  start)
    if [ -f "$pidfile" ] && kill -0 -- "-$(cat "$pidfile")" 2>/dev/null; then
      echo "already up (process group $(cat "$pidfile")); make down first"; exit 0
    fi
    # A stable JWT secret for this AIRFLOW_HOME, generated once, never committed (.airflow is git-ignored).
    [ -f "$AIRFLOW_HOME/jwt_secret" ] || (umask 077; .venv/bin/python -c 'import secrets;print(secrets.token_urlsafe(64))' >"$AIRFLOW_HOME/jwt_secret")
    export AIRFLOW__API_AUTH__JWT_SECRET="$(cat "$AIRFLOW_HOME/jwt_secret")"
    port="${TIKTOK_TOP10_DEMO_URL##*:}"
    setsid bash -c "
      .venv/bin/top10 demo-site --host 127.0.0.1 --port $port >.run/demo-site.log 2>&1 &
      exec .venv/bin/airflow standalone >.run/standalone.log 2>&1
    " &
    echo $! >"$pidfile"
    echo "starting Airflow on http://$AIRFLOW__API__HOST:$AIRFLOW__API__PORT (log: .run/standalone.log) ..."
    for _ in $(seq 1 120); do
      curl -fsS -o /dev/null "http://$AIRFLOW__API__HOST:$AIRFLOW__API__PORT/api/v2/monitor/health" 2>/dev/null && break
      sleep 1
    done
    echo "Airflow UI: http://$AIRFLOW__API__HOST:$AIRFLOW__API__PORT  user: admin"
    echo "admin password: $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
    echo "demo site: $TIKTOK_TOP10_DEMO_URL   data root: $TIKTOK_TOP10_DATA_ROOT"
    echo "the DAG starts paused: unpause tiktok_top10 in the UI, or trigger it. Stop with: make down"
    ;;
  stop)
    [ -f "$pidfile" ] || { echo "not running"; exit 0; }
    pgid=$(cat "$pidfile")
    kill -TERM -- "-$pgid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 1; done
    kill -KILL -- "-$pgid" 2>/dev/null || true
    rm -f "$pidfile"; echo "stopped"
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
