#!/usr/bin/env bash
# Distributed integration run (make test-distributed): PostgreSQL + Redis + Airflow CeleryExecutor on loopback,
# the tiktok_top10 DAG triggered over the REST API, its output checked. Extra args go to run_distributed.py
# (--smoke, --day YYYY-MM-DD, --timeout S, --keep, --no-screenshot).
# Bounded: `timeout` sends SIGTERM (run_distributed.py then stops every process group it started) and SIGKILL
# 60 s later; the EXIT trap kills whatever process groups are still recorded, should Python die first.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${PYTHON:-$repo/.venv/bin/python}"
limit="${TOP10_DISTRIBUTED_TIMEOUT:-900}"
start=$(date +%s)
export TOP10_DISTRIBUTED_PGIDS="$(mktemp -t top10-distributed-pgids.XXXXXX)"

cleanup() {
  local pgid
  while read -r pgid; do
    [ -n "$pgid" ] && kill -KILL -- "-$pgid" 2>/dev/null && echo "test-distributed: killed leftover process group $pgid"
  done < "$TOP10_DISTRIBUTED_PGIDS" || true
  rm -f "$TOP10_DISTRIBUTED_PGIDS"
}
child=""
on_signal() {
  # Forward to the run so it stops its services in order, then leave through the EXIT trap.
  [ -n "$child" ] && kill -TERM "$child" 2>/dev/null && wait "$child"
  exit 143
}
trap cleanup EXIT
trap on_signal INT TERM

set +e
timeout --signal=TERM --kill-after=60 "$((limit + 60))" "$python" "$here/run_distributed.py" --timeout "$limit" "$@" &
child=$!
wait "$child"
rc=$?
set -e
echo "test-distributed: rc=$rc, wall time $(( $(date +%s) - start )) s"
exit $rc
