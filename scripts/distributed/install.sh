#!/usr/bin/env bash
# Installs what the distributed run needs on a fresh Debian machine: PostgreSQL and Redis (servers are started
# by run.sh on loopback, not as system services), and the Celery provider + Postgres driver in the venv.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || ! command -v redis-server >/dev/null; then
  $sudo apt-get update
  # policy-rc.d 101: do not start the system services at install time; run.sh starts private instances.
  own_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends postgresql redis-server
  [ -z "$own_policy" ] || $sudo rm -f /usr/sbin/policy-rc.d
fi
"${PYTHON:-$repo/.venv/bin/python}" -m pip install --quiet \
  "apache-airflow-providers-celery==3.26.0" "psycopg2-binary==2.9.13" "asyncpg==0.32.0" "celery==5.6.3"
