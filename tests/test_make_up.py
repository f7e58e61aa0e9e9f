"""`make up` as a new user runs it, and the README's commands against it.

A plain shell (``PATH=/usr/bin:/bin``, no venv activated) runs ``make up``; the test signs in over the REST API,
runs the README's REST blocks as written (unpause, trigger a run with non-default Params, read its state),
waits for that run to succeed on the demo source, opens the Top-10 gallery (401 without a token, 200 with),
runs the README's backfill command for two days as written, and checks that ``make down`` leaves no process
behind. The README's commands are read from README.md, so the text and the test cannot drift apart.

The instance is the test's own: AIRFLOW_HOME, data root, run dir and every port come from the environment,
which bin/airflow-env.sh lets win over its defaults; the developer's ``.airflow`` and ``data`` are not touched.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import psutil
import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DAG_ID = "tiktok_top10"
TRIGGERED_RUN = "manual__2026-11-20"  # the README's trigger block creates this run
BACKFILL_DAYS = ("2026-11-18", "2026-11-19")  # the README's backfill covers these two days
RUN_TIMEOUT_S = 900
HTTP_TIMEOUT_S = 120  # generous: on a loaded 2-core machine a request may wait for SQLite's write lock

pytestmark = [pytest.mark.make_up, pytest.mark.airflow, pytest.mark.browser, pytest.mark.slow,
              pytest.mark.timeout(2400)]


# --- the README's commands -----------------------------------------------------------------------------------

def readme_bash_blocks() -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", README.read_text(), flags=re.M | re.S)


def readme_block(containing: str) -> str:
    blocks = [block for block in readme_bash_blocks() if containing in block]
    assert len(blocks) == 1, f"README.md should have one bash block with {containing!r}, found {len(blocks)}"
    return blocks[0]


def readme_command(prefix: str) -> str:
    lines = [line for block in readme_bash_blocks() for line in block.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, f"README.md should show one command starting {prefix!r}, found {lines}"
    return lines[0]


def run_shell(script: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    """``bash -c`` in the repository root with the plain environment, as a pasted command runs."""
    return subprocess.run(["/bin/bash", "-c", f"set -euo pipefail\n{script}"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def json_documents(text: str) -> list[dict]:
    """curl prints the responses back to back without newlines."""
    decoder, docs, index = json.JSONDecoder(), [], 0
    while index < len(text):
        if text[index].isspace():
            index += 1
            continue
        doc, index = decoder.raw_decode(text, index)
        docs.append(doc)
    return docs


# --- the instance ---------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def plain_env(tmp: Path) -> dict[str, str]:
    """A fresh login's environment: the system PATH, no venv, nothing of this pytest process's Airflow setup."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": os.environ.get("HOME", str(tmp)),
        "LANG": "C.UTF-8",
        # This instance's places and ports instead of .airflow, data/, .run/, 8080, 8765, 8793, 8794.
        "AIRFLOW_HOME": str(tmp / "airflow"),
        "TIKTOK_TOP10_DATA_ROOT": str(tmp / "data"),
        "TOP10_RUN_DIR": str(tmp / "run"),
        "AIRFLOW__API__PORT": str(free_port()),
        "TIKTOK_TOP10_DEMO_URL": f"http://127.0.0.1:{free_port()}",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        # Keeps the backfill's runs (default Params) to one category: the environment sets the Param defaults.
        "TIKTOK_TOP10_CATEGORIES": "dance",
        # Only the runs this test creates: a 00:00/12:00 Seoul tick during the test must not add a scheduled run.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
    }


def processes_of(airflow_home: str, pgid: int | None) -> list[psutil.Process]:
    """Everything of this instance still alive: its process group, and any process that left the group but
    still carries the instance's AIRFLOW_HOME."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.pid == os.getpid():
                continue
            if (pgid is not None and os.getpgid(proc.pid) == pgid) or \
                    proc.environ().get("AIRFLOW_HOME") == airflow_home:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
        except (psutil.Error, ProcessLookupError):
            continue
    return found


class Api:
    """The test's own REST client: signs in as admin with the generated password, as the README does."""

    def __init__(self, base: str, airflow_home: Path):
        self.base = base
        password = json.loads((airflow_home / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
        token = httpx.post(f"{base}/auth/token", json={"username": "admin", "password": password},
                           timeout=HTTP_TIMEOUT_S).raise_for_status().json()["access_token"]
        self.token = token
        self.client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"},
                                   timeout=HTTP_TIMEOUT_S)

    def wait_for_dag(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            errors = self.client.get("/api/v2/importErrors").raise_for_status().json()["import_errors"]
            assert not errors, "DAG import errors:\n" + "\n".join(e["stack_trace"][-2000:] for e in errors)
            if self.client.get(f"/api/v2/dags/{DAG_ID}").status_code == 200:
                return
            time.sleep(2)
        raise AssertionError(f"DAG {DAG_ID} not parsed in time")

    def runs(self) -> list[dict]:
        return self.client.get(f"/api/v2/dags/{DAG_ID}/dagRuns", params={"limit": 100}
                               ).raise_for_status().json()["dag_runs"]

    def task_states(self, run_id: str) -> str:
        tis = self.client.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances"
                              ).raise_for_status().json()["task_instances"]
        return ", ".join(f"{ti['task_id']}[{ti.get('map_index', -1)}]={ti['state']}" for ti in tis)

    def wait_finished(self, run_ids: set[str], deadline: float) -> dict[str, str]:
        while True:
            states = {run["dag_run_id"]: run["state"] for run in self.runs() if run["dag_run_id"] in run_ids}
            if len(states) == len(run_ids) and all(s in ("success", "failed") for s in states.values()):
                return states
            if time.monotonic() > deadline:
                raise AssertionError(f"runs not finished in time: {states}; " +
                                     "; ".join(f"{r}: {self.task_states(r)}" for r in states))
            time.sleep(3)


def task_log_tails(airflow_home: Path, run_id: str, lines: int = 15) -> str:
    logs = sorted((airflow_home / "logs").glob(f"dag_id={DAG_ID}/run_id={run_id}/**/*.log"))
    out = []
    for path in logs:
        out.append(f"--- {path.relative_to(airflow_home)}")
        out += path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join(out)


def published(data_root: Path, day: str, category: str) -> list[dict]:
    return json.loads((data_root / day / category / "top10" / f"{category}_top10.json").read_text())


# --- the test ---------------------------------------------------------------------------------------------------

def test_make_up_readme_commands_and_make_down(tmp_path: Path):
    env = plain_env(tmp_path)
    airflow_home, data_root, run_dir = Path(env["AIRFLOW_HOME"]), Path(env["TIKTOK_TOP10_DATA_ROOT"]), \
        Path(env["TOP10_RUN_DIR"])
    base = f"http://127.0.0.1:{env['AIRFLOW__API__PORT']}"
    pgid = None
    started = time.monotonic()
    try:
        up = subprocess.run(["make", "up"], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
        print(f"make up: rc={up.returncode} in {time.monotonic() - started:.1f} s\n{up.stdout[-3000:]}"
              f"\n{up.stderr[-3000:]}")
        pgid = int((run_dir / "standalone.pgid").read_text()) if (run_dir / "standalone.pgid").exists() else None
        assert up.returncode == 0, "make up failed"
        assert "Airflow healthy after" in up.stdout
        health = httpx.get(f"{base}/api/v2/monitor/health", timeout=HTTP_TIMEOUT_S).raise_for_status().json()
        assert {health[c]["status"] for c in ("metadatabase", "scheduler", "triggerer", "dag_processor")} == \
            {"healthy"}

        api = Api(base, airflow_home)
        api.wait_for_dag(time.monotonic() + 300)

        # The README's REST blocks, as written: token, unpause, trigger with conf, read the state.
        rest = run_shell(readme_block("/auth/token") + "\n" + readme_block("/dagRuns"), env, timeout=300)
        assert rest.returncode == 0, f"README REST commands failed:\n{rest.stdout}\n{rest.stderr}"
        dag, triggered, state = json_documents(rest.stdout)
        assert dag["dag_id"] == DAG_ID and dag["is_paused"] is False
        assert triggered["dag_run_id"] == TRIGGERED_RUN
        assert triggered["conf"] == {"categories": ["dance"], "top_n": 5}
        assert state["dag_run_id"] == TRIGGERED_RUN and state["state"] in ("queued", "running", "success")

        run_states = api.wait_finished({TRIGGERED_RUN}, time.monotonic() + RUN_TIMEOUT_S)
        assert run_states[TRIGGERED_RUN] == "success", task_log_tails(airflow_home, TRIGGERED_RUN)
        dance = published(data_root, "2026-11-20", "dance")
        assert len(dance) == 5  # top_n from the trigger's conf, not the default 10
        manifest = json.loads((data_root / "2026-11-20" / "manifest.json").read_text())
        assert manifest["status"] == "complete" and manifest["categories"] == ["dance"]
        report = run_shell(readme_command(".venv/bin/top10 report"), env, timeout=120)
        assert report.returncode == 0, f"{report.stdout}\n{report.stderr}"
        assert re.search(r"dance\s+5 entries", report.stdout), report.stdout

        # The gallery: only for signed-in users.
        signed_in = {"Authorization": f"Bearer {api.token}"}
        anonymous = httpx.get(f"{base}/top10-gallery/", headers={"Accept": "application/json"},
                              timeout=HTTP_TIMEOUT_S)
        assert anonymous.status_code == 401
        page = httpx.get(f"{base}/top10-gallery/", headers=signed_in, timeout=HTTP_TIMEOUT_S)
        assert page.status_code == 200 and "2026-11-20" in page.text
        cover = f"{base}/top10-gallery/files/2026-11-20/dance/{dance[0]['imageFile']}"
        assert httpx.get(cover, timeout=HTTP_TIMEOUT_S).status_code == 401
        image = httpx.get(cover, headers=signed_in, timeout=HTTP_TIMEOUT_S)
        assert image.status_code == 200 and image.content[:3] == b"\xff\xd8\xff"  # the published JPEG

        # The README's backfill command, as written: two days, both slots.
        before = {run["dag_run_id"] for run in api.runs()}
        command = readme_command("bin/airflow backfill create")
        backfill = run_shell(command, env, timeout=300)
        assert backfill.returncode == 0, f"{command}\n{backfill.stdout}\n{backfill.stderr}"
        created = {run["dag_run_id"]: run for run in api.runs() if run["dag_run_id"] not in before}
        assert {run["run_type"] for run in created.values()} == {"backfill"}
        assert len(created) == 4, sorted(created)  # 00:00 and 12:00 Seoul of each day
        states = api.wait_finished(set(created), time.monotonic() + 2 * RUN_TIMEOUT_S)
        failed = [run_id for run_id, s in states.items() if s != "success"]
        assert not failed, "\n".join(task_log_tails(airflow_home, run_id) for run_id in failed)
        for day in BACKFILL_DAYS:
            day_manifest = json.loads((data_root / day / "manifest.json").read_text())
            assert day_manifest["status"] == "complete", day_manifest
            assert published(data_root, day, "dance")
    finally:
        down = subprocess.run(["make", "down"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        print(f"make down: rc={down.returncode}\n{down.stdout}\n{down.stderr}")
        left = []
        for proc in processes_of(env["AIRFLOW_HOME"], pgid):  # never leak into the next test, but fail below
            try:
                left.append(f"{proc.pid} {shlex.join(proc.cmdline())}")
                proc.send_signal(signal.SIGKILL)
            except psutil.Error:
                pass
        print(f"test wall time {time.monotonic() - started:.1f} s")
    assert down.returncode == 0 and "stopped" in down.stdout
    assert not left, "make down left processes behind:\n" + "\n".join(left)
    assert not (run_dir / "standalone.pgid").exists()


def test_make_up_fails_with_the_log_when_airflow_is_not_healthy_in_time(tmp_path: Path):
    """No time at all to become healthy (Airflow needs seconds just to import): make up must say so, show the
    log, exit non-zero and leave nothing running, instead of printing the UI's address."""
    env = {**plain_env(tmp_path), "TOP10_UP_TIMEOUT": "0"}
    run_dir = Path(env["TOP10_RUN_DIR"])
    up = subprocess.run(["make", "up"], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert up.returncode != 0, up.stdout
    assert "Airflow UI:" not in up.stdout
    assert "Airflow not healthy after 0 s" in up.stderr
    assert f"the last lines of {run_dir / 'standalone.log'}" in up.stderr
    assert (run_dir / "standalone.log").exists()
    assert not (run_dir / "standalone.pgid").exists()
    left = [f"{p.pid} {shlex.join(p.cmdline())}" for p in processes_of(env["AIRFLOW_HOME"], None)]
    assert not left, "make up left processes behind after failing:\n" + "\n".join(left)
