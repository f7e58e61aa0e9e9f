#!/usr/bin/env bash
# `make run`: today's run (Asia/Seoul) of the tiktok_top10 DAG on the demo source, via `airflow dags test`.
# Settings (AIRFLOW_HOME, data root, demo URL) come from bin/airflow-env.sh, as for bin/airflow and `make up`.
set -euo pipefail
cd "$(dirname "$0")/.."
source bin/airflow-env.sh
mkdir -p "$TOP10_RUN_DIR"
DAY="${DAY:-$(TZ=Asia/Seoul date +%F)}"
export TIKTOK_TOP10_SOURCE="${TIKTOK_TOP10_SOURCE:-demo}"
demo_pid=""
cleanup() { [ -n "$demo_pid" ] && kill -- "-$demo_pid" 2>/dev/null || true; }
trap cleanup EXIT

if [ "$TIKTOK_TOP10_SOURCE" = demo ]; then
  if curl --noproxy '*' -fsS -o /dev/null "$TIKTOK_TOP10_DEMO_URL/explore" 2>/dev/null; then
    echo "demo site already up at $TIKTOK_TOP10_DEMO_URL"
  else
    port="${TIKTOK_TOP10_DEMO_URL##*:}"
    setsid top10 demo-site --host 127.0.0.1 --port "$port" >"$TOP10_RUN_DIR/demo-site.log" 2>&1 &
    demo_pid=$!
    for _ in $(seq 1 100); do
      curl --noproxy '*' -fsS -o /dev/null "$TIKTOK_TOP10_DEMO_URL/explore" 2>/dev/null && break
      kill -0 "$demo_pid" 2>/dev/null || { cat "$TOP10_RUN_DIR/demo-site.log"; echo "demo site failed to start" >&2; exit 1; }
      sleep 0.2
    done
    echo "demo site up at $TIKTOK_TOP10_DEMO_URL (log: $TOP10_RUN_DIR/demo-site.log)"
  fi
fi

log="$TOP10_RUN_DIR/dags-test-$DAY.log"
echo "running DAG tiktok_top10 for $DAY (source=$TIKTOK_TOP10_SOURCE, data root $TIKTOK_TOP10_DATA_ROOT); log: $log"
start=$(date +%s)
if ! bin/airflow dags test tiktok_top10 "$DAY" >"$log" 2>&1; then
  tail -n 60 "$log"
  echo "the DAG run failed; full log: $log" >&2
  top10 report "$DAY" || true
  exit 1
fi
end=$(date +%s)
top10 report "$DAY"
echo "wall time of the DAG run: $((end - start)) s"
