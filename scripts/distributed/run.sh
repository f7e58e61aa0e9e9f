#!/usr/bin/env bash
# Distributed integration run (make test-distributed): PostgreSQL + Redis + Airflow CeleryExecutor on loopback,
# the DAGs triggered over the REST API, their output checked: the pytest module tests/distributed (marker
# `distributed`, deselected by plain `make test`). Extra args go to pytest (e.g. -k smoke); knobs are environment
# variables (TOP10_DISTRIBUTED_DAY, _TIMEOUT, _KEEP, _SCREENSHOT; see the module's docstring).
# Bounded: `timeout` sends SIGTERM (the module's fixture then stops every process group it started) and SIGKILL
# 60 s later; the EXIT trap kills whatever process groups are still recorded, should Python die first.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${PYTHON:-$repo/.venv/bin/python}"
limit="${TOP10_DISTRIBUTED_TIMEOUT:-900}"
export TOP10_DISTRIBUTED_TIMEOUT="$limit"
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

cd "$repo"
set +e
timeout --signal=TERM --kill-after=60 "$((limit + 180))" \
  "$python" -m pytest -q -p no:cacheprovider -s -m distributed tests/distributed "$@" &
child=$!
wait "$child"
rc=$?
set -e
echo "test-distributed: rc=$rc, wall time $(( $(date +%s) - start )) s"
exit $rc
