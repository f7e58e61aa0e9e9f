"""bin/airflow, the README's CLI wrapper: a `backfill create` that loses SQLite's write lock is retried (Airflow
removes the partial backfill for that), and nothing else is. The venv's airflow is replaced by a script that
fails the way Airflow's CLI does, so the wrapper itself runs for real in a plain shell."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LOCKED = "sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) database is locked"


def fake_airflow(tmp_path: Path, failures: int, message: str) -> Path:
    """A venv whose airflow prints ``message`` to stderr and exits 1 for its first ``failures`` calls, then
    succeeds; every call's arguments go to calls.log."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    script = venv / "bin" / "airflow"
    script.write_text(f"""#!/bin/bash
echo "$*" >> {tmp_path}/calls.log
calls=$(wc -l < {tmp_path}/calls.log)
if [ "$calls" -le {failures} ]; then echo "{message}" >&2; exit 1; fi
echo "created"
""")
    script.chmod(0o755)
    return venv


def run_wrapper(tmp_path: Path, venv: Path, *args: str, conn: str | None = None) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TOP10_VENV": str(venv),
           "AIRFLOW_HOME": str(tmp_path / "airflow"), "TOP10_RUN_DIR": str(tmp_path / "run")}
    if conn:
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = conn
    return subprocess.run([str(REPO / "bin" / "airflow"), *args], env=env, capture_output=True, text=True,
                          timeout=60)


def calls(tmp_path: Path) -> list[str]:
    return (tmp_path / "calls.log").read_text().splitlines()


BACKFILL = ("backfill", "create", "--dag-id", "tiktok_top10", "--from-date", "2026-11-18T00:00+09:00")


def test_backfill_retried_after_losing_the_sqlite_lock(tmp_path):
    result = run_wrapper(tmp_path, fake_airflow(tmp_path, failures=2, message=LOCKED), *BACKFILL)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "created"
    assert calls(tmp_path) == [" ".join(BACKFILL)] * 3  # the same arguments each time
    assert result.stderr.count("database is locked") == 2  # Airflow's own error stays visible
    assert "attempt 2 of 5" in result.stderr


def test_backfill_gives_up_after_the_last_attempt(tmp_path):
    venv = fake_airflow(tmp_path, failures=10, message=LOCKED)
    result = run_wrapper(tmp_path, venv, *BACKFILL)
    assert result.returncode == 1
    assert len(calls(tmp_path)) == 5


@pytest.mark.parametrize(("args", "message", "conn"), [
    (BACKFILL, "AlreadyRunningBackfill: Another backfill is running", None),  # not a lock: the operator's to read
    (("dags", "trigger", "tiktok_top10"), LOCKED, None),  # only backfill create is known to be safe to repeat
    (BACKFILL, LOCKED, "postgresql+psycopg2://airflow@127.0.0.1/airflow"),  # Postgres waits for its locks
])
def test_nothing_else_is_retried(tmp_path, args, message, conn):
    result = run_wrapper(tmp_path, fake_airflow(tmp_path, failures=1, message=message), *args, conn=conn)
    assert result.returncode == 1
    assert len(calls(tmp_path)) == 1
    assert message in result.stderr
