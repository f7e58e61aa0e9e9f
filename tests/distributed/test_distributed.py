"""The DAG on Airflow's distributed executor: CeleryExecutor with PostgreSQL and Redis, all on loopback.

``make test-distributed`` installs Debian's PostgreSQL and Redis (scripts/distributed/install.sh) and runs this
module (``-m distributed``; plain ``make test`` deselects it). One cluster serves the module: the test acts as a
real client would, ``POST /auth/token``, unpause, ``POST /api/v2/dags/{dag_id}/dagRuns``, poll until the run
ends, and checks what came out: first a two-task smoke DAG (scheduling, the worker, the shared data root), then
tiktok_top10 on the demo source (top10 JSON against the app schema, covers decode, manifest, ``latest.json``,
the gallery plugin lists the day, and a screenshot of the gallery signed in through the UI's login page).
Everything is stopped by process group when the module ends, also on failure, on SIGTERM and on Ctrl-C.

Knobs (environment): ``TOP10_DISTRIBUTED_DAY`` (default 2026-01-10), ``TOP10_DISTRIBUTED_TIMEOUT`` (seconds
for the whole module, default 900), ``TOP10_DISTRIBUTED_KEEP=1`` (keep the temp dir after success),
``TOP10_DISTRIBUTED_SCREENSHOT`` (where the gallery screenshot goes; empty to skip).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from .cluster import (
    ADMIN_PASSWORD,
    REPO,
    SMOKE_DAG,
    Processes,
    RunFailed,
    airflow_env,
    check_published,
    free_port,
    log,
    screenshot_gallery,
    start_postgres,
    start_redis,
    tail,
    wait_until,
)

KST = dt.timezone(dt.timedelta(hours=9))
DAY = os.environ.get("TOP10_DISTRIBUTED_DAY", "2026-01-10")
SMOKE_DAY = (dt.date.fromisoformat(DAY) - dt.timedelta(days=7)).isoformat()  # its own partition
MODULE_TIMEOUT_S = float(os.environ.get("TOP10_DISTRIBUTED_TIMEOUT", "900"))
SCREENSHOT = os.environ.get("TOP10_DISTRIBUTED_SCREENSHOT", str(REPO / "build" / "gallery-distributed.png"))

# Only `distributed`: a selection by another marker (-m slow, -m airflow) must not start a cluster by accident.
pytestmark = [pytest.mark.distributed, pytest.mark.timeout(MODULE_TIMEOUT_S + 120)]


@dataclass
class Cluster:
    base: str
    client: httpx.Client
    data_root: Path
    procs: Processes
    deadline: float

    def trigger_and_wait(self, dag_id: str, day: str, conf: dict) -> tuple[str, str]:
        """Unpause, trigger the run of ``day`` (00:00 Seoul), wait until it ends; returns (run_id, state)."""
        self.client.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": False}).raise_for_status()
        logical = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(0, 0), KST)
        body = {"dag_run_id": f"distributed__{day}__{int(time.time())}", "logical_date": logical.isoformat(),
                "conf": conf}
        response = self.client.post(f"/api/v2/dags/{dag_id}/dagRuns", json=body)
        if response.status_code >= 300:
            raise RunFailed(f"trigger failed {response.status_code}: {response.text}")
        run_id = response.json()["dag_run_id"]
        triggered = time.monotonic()
        log(f"triggered {dag_id} run {run_id} for {day}")

        def run_finished() -> str | None:
            state = self.client.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}").json()["state"]
            return state if state in ("success", "failed") else None

        state = wait_until(f"run {run_id}", run_finished, self.deadline, self.procs, 3)
        tis = self.client.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances").json()["task_instances"]
        for ti in sorted(tis, key=lambda t: (t.get("start_date") or "", t["task_id"], t.get("map_index", -1))):
            mapped = f"[{ti['map_index']}]" if ti.get("map_index", -1) >= 0 else ""
            log(f"  task {ti['task_id']}{mapped}: {ti['state']} host={ti.get('hostname')} "
                f"executor={ti.get('executor') or 'CeleryExecutor'} {ti.get('duration') or 0:.1f}s")
        log(f"run {state} in {time.monotonic() - triggered:.0f} s after trigger")
        return run_id, state


def _raise_interrupt(signum, _frame):
    # pytest runs fixture teardown for KeyboardInterrupt: `timeout` (run.sh) and Ctrl-C stop the services.
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="module")
def cluster():
    started = time.monotonic()
    deadline = started + MODULE_TIMEOUT_S
    previous_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    # Not pytest's tmp_path: PostgreSQL runs as its own user and must reach this dir (pytest's base is 0700).
    tmp = Path(tempfile.mkdtemp(prefix="top10-distributed-"))
    logs = tmp / "logs"
    logs.mkdir()
    procs = Processes(logs)
    ok = False
    log(f"work dir {tmp}")
    try:
        # One DAG folder with both DAGs: the smoke DAG, and the project's DAG file linked in.
        dags = tmp / "dags"
        dags.mkdir()
        (dags / "distributed_smoke.py").write_text(textwrap.dedent(SMOKE_DAG))
        (dags / "tiktok_top10.py").symlink_to(REPO / "dags" / "tiktok_top10.py")
        pg_port = start_postgres(tmp, procs, deadline)
        redis_port = start_redis(tmp, procs, deadline)
        log(f"postgres :{pg_port}, redis :{redis_port}")
        venv_bin = Path(sys.executable).parent
        demo_port = free_port()
        demo_url = f"http://127.0.0.1:{demo_port}"
        procs.start("demo-site", [str(venv_bin / "top10"), "demo-site", "--port", str(demo_port)], os.environ.copy())
        wait_until("demo site", lambda: httpx.get(demo_url, timeout=2).status_code < 500, deadline, procs, 0.5)
        data_root = tmp / "data"
        data_root.mkdir()
        api_port = free_port()
        env = airflow_env(tmp, dags, pg_port, redis_port, api_port, data_root, demo_url)
        airflow = str(venv_bin / "airflow")
        migrate = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True,
                                 timeout=max(30, deadline - time.monotonic()))
        if migrate.returncode != 0:
            raise RunFailed(f"airflow db migrate failed:\n{migrate.stdout[-3000:]}\n{migrate.stderr[-3000:]}")
        log(f"metadata DB migrated ({time.monotonic() - started:.0f} s)")
        procs.start("api-server", [airflow, "api-server", "-H", "127.0.0.1", "-p", str(api_port), "-w", "1"], env)
        procs.start("scheduler", [airflow, "scheduler"], env)
        procs.start("dag-processor", [airflow, "dag-processor"], env)
        procs.start("celery-worker", [airflow, "celery", "worker", "--concurrency", "2", "--queues", "default"],
                    env)
        base = f"http://127.0.0.1:{api_port}"
        wait_until("api-server health", lambda: httpx.get(f"{base}/api/v2/monitor/health", timeout=3)
                   .status_code == 200, deadline, procs)
        # A real client: a token from the auth endpoint, then the public REST API.
        token = httpx.post(f"{base}/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD}
                           ).raise_for_status().json()["access_token"]
        client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)

        def dags_parsed() -> bool:
            errors = client.get("/api/v2/importErrors").json().get("import_errors", [])
            if errors:
                raise RunFailed("DAG import errors:\n" + "\n".join(e.get("stack_trace", "")[-1500:] for e in errors))
            return all(client.get(f"/api/v2/dags/{dag_id}").status_code == 200
                       for dag_id in ("distributed_smoke", "tiktok_top10"))

        wait_until("both DAGs parsed", dags_parsed, deadline, procs, 2)
        yield Cluster(base, client, data_root, procs, deadline)
        ok = True
    finally:
        # A second signal (timeout's follow-up, another Ctrl-C) must not interrupt the cleanup.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            if not ok:
                for name in ("api-server", "scheduler", "dag-processor", "celery-worker", "demo-site"):
                    if (logs / f"{name}.log").exists():
                        print(f"----- {name}.log (tail) -----\n{tail(logs / f'{name}.log')}", flush=True)
                task_logs = sorted((tmp / "airflow" / "logs").rglob("*.log")) if (tmp / "airflow").exists() else []
                for path in task_logs[-4:]:
                    print(f"----- {path.relative_to(tmp)} (tail) -----\n{tail(path, 30)}", flush=True)
            procs.stop_all()
            log(f"wall time {time.monotonic() - started:.1f} s ({'passed' if ok else 'FAILED'})")
            if ok and os.environ.get("TOP10_DISTRIBUTED_KEEP") != "1":
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                log(f"kept {tmp}")
        finally:
            signal.signal(signal.SIGTERM, previous_term)
            signal.signal(signal.SIGINT, signal.default_int_handler)


def test_smoke_dag_runs_on_the_celery_worker(cluster: Cluster):
    run_id, state = cluster.trigger_and_wait("distributed_smoke", SMOKE_DAY, conf={})
    assert state == "success", f"run {run_id} ended {state}"
    info = json.loads((cluster.data_root / SMOKE_DAY / "smoke.json").read_text())
    log(f"  smoke output from worker host={info['host']} pid={info['pid']}")
    assert info["pid"] != os.getpid()  # written by a task process on the worker, not by this test


def test_tiktok_top10_publishes_the_day_on_the_celery_worker(cluster: Cluster):
    run_id, state = cluster.trigger_and_wait("tiktok_top10", DAY, conf={"source": "demo"})
    assert state == "success", f"run {run_id} ended {state}"
    check_published(cluster.data_root, DAY, cluster.client)
    if SCREENSHOT:
        screenshot_gallery(cluster.base, Path(SCREENSHOT))
