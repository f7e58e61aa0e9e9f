"""The distributed cluster for tests/distributed: PostgreSQL, Redis and Airflow on CeleryExecutor, on loopback.

Each service runs in its own process group (its own session) under one temp dir: PostgreSQL (Debian's
binaries, trust auth, fsync off), Redis (no persistence), the demo site, and Airflow's api-server, scheduler,
dag-processor and one Celery worker. ``Processes.stop_all`` stops them by process group, newest first; the
groups are also written to ``$TOP10_DISTRIBUTED_PGIDS`` for scripts/distributed/run.sh, whose EXIT trap kills
whatever is left should the Python process die without cleaning up.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "distributed-run-password"

SMOKE_DAG = '''
"""Two tasks on the Celery worker: proves scheduling, the worker and the shared data root."""
import json, os, socket
from pathlib import Path
from airflow.sdk import dag, task

@dag(dag_id="distributed_smoke", schedule=None, catchup=False, tags=["smoke"])
def distributed_smoke():
    @task
    def where() -> dict:
        return {"host": socket.gethostname(), "pid": os.getpid()}

    @task
    def write(info: dict, logical_date=None) -> str:
        from tiktok_top10.storage import atomic_write_json, partition_date
        day = partition_date(logical_date).isoformat()
        path = Path(os.environ["TIKTOK_TOP10_DATA_ROOT"]) / day / "smoke.json"
        atomic_write_json(path, info)
        return str(path)

    write(where())

distributed_smoke()
'''


class RunFailed(AssertionError):  # a failed check or a service that would not start: the test fails
    pass


def log(message: str) -> None:
    try:
        print(f"[distributed {time.strftime('%H:%M:%S')}] {message}", flush=True)
    except OSError:  # a closed stdout (e.g. a killed pipe reader) must not abort the cleanup
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_bin() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), reverse=True)
    if not candidates:
        raise RunFailed("PostgreSQL not found under /usr/lib/postgresql: run scripts/distributed/install.sh")
    return candidates[0].parent


class Processes:
    """Children started in their own sessions; ``stop_all`` signals each process group, newest first."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.started: list[tuple[str, subprocess.Popen, int]] = []

    def start(self, name: str, argv: list[str], env: dict, stop_signal: int = signal.SIGTERM,
              **kwargs) -> subprocess.Popen:
        log_path = self.logs / f"{name}.log"
        with open(log_path, "ab") as fh:
            proc = subprocess.Popen(argv, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
                                    **kwargs)
        self.started.append((name, proc, stop_signal))
        self._record()
        log(f"started {name} (pgid {proc.pid})")
        return proc

    def _record(self) -> None:
        """Live process groups for run.sh's trap: its last resort if this process dies without cleaning up."""
        path = os.environ.get("TOP10_DISTRIBUTED_PGIDS")
        if path:
            Path(path).write_text("".join(f"{proc.pid}\n" for _, proc, _ in self.started))

    def check_alive(self) -> None:
        for name, proc, _ in self.started:
            if proc.poll() is not None:
                raise RunFailed(f"{name} exited rc={proc.returncode}\n{tail(self.logs / f'{name}.log')}")

    def stop_all(self) -> None:
        for name, proc, stop_signal in reversed(self.started):
            try:
                for sig, wait in ((stop_signal, 30), (signal.SIGKILL, 5)):
                    try:
                        os.killpg(proc.pid, sig)
                    except ProcessLookupError:
                        break
                    try:
                        proc.wait(timeout=wait)
                        break
                    except subprocess.TimeoutExpired:
                        continue
                # The session leader may be gone while children linger: sweep the group once more.
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                log(f"stopped {name}")
            except Exception as exc:  # noqa: BLE001 - keep stopping the others
                log(f"could not stop {name}: {exc!r}")
        self.started.clear()
        self._record()


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def wait_until(what: str, check, deadline: float, procs: Processes, interval: float = 1.0):
    while True:
        procs.check_alive()
        try:
            result = check()
        except (httpx.HTTPError, OSError, subprocess.SubprocessError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise RunFailed(f"timed out waiting for {what}")
        time.sleep(interval)


def start_postgres(tmp: Path, procs: Processes, deadline: float) -> int:
    bin_dir = postgres_bin()
    data, sockets = tmp / "pgdata", tmp / "pgsock"
    sockets.mkdir()
    run_as: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        user = pwd.getpwnam("postgres")
        for path in (tmp, sockets, tmp / "logs"):
            os.chown(path, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    init = subprocess.run([*run_as, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                           "-E", "UTF8", "--locale=C.UTF-8"], capture_output=True, text=True, timeout=120)
    if init.returncode != 0:
        raise RunFailed(f"initdb failed:\n{init.stdout}\n{init.stderr}")
    port = free_port()
    procs.start("postgres", [*run_as, str(bin_dir / "postgres"), "-D", str(data), "-p", str(port),
                             "-k", str(sockets), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                             "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                             "-c", "max_connections=200"], os.environ.copy(),
                stop_signal=signal.SIGINT)  # "fast" shutdown: SIGTERM would wait for clients to leave

    def ready() -> bool:
        return subprocess.run([str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                              capture_output=True, timeout=10).returncode == 0

    wait_until("PostgreSQL", ready, deadline, procs, 0.5)
    create = subprocess.run([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                             "airflow"], capture_output=True, text=True, timeout=60)
    if create.returncode != 0:
        raise RunFailed(f"createdb failed: {create.stderr}")
    return port


def start_redis(tmp: Path, procs: Processes, deadline: float) -> int:
    server = shutil.which("redis-server")
    if not server:
        raise RunFailed("redis-server not found: run scripts/distributed/install.sh")
    port = free_port()
    (tmp / "redis").mkdir()
    procs.start("redis", [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                          "--dir", str(tmp / "redis")], os.environ.copy())

    def ready() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    wait_until("Redis", ready, deadline, procs, 0.3)
    return port


def airflow_env(tmp: Path, dags: Path, pg_port: int, redis_port: int, api_port: int, data_root: Path,
                demo_url: str | None) -> dict:
    home = tmp / "airflow"
    home.mkdir()
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({"admin": ADMIN_PASSWORD}))
    db = f"postgresql+psycopg2://postgres@127.0.0.1:{pg_port}/airflow"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db,
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://postgres@127.0.0.1:{pg_port}/airflow",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(48).hex(),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        # Only the run this script triggers: unpausing must not also start the DAG's latest scheduled run.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
        "TIKTOK_TOP10_DATA_ROOT": str(data_root),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    if demo_url:
        env["TIKTOK_TOP10_SOURCE"] = "demo"
        env["TIKTOK_TOP10_DEMO_URL"] = demo_url
    return env


def check_published(data_root: Path, day: str, client: httpx.Client) -> None:
    """What the app and operators read: schema-valid lists, decodable covers, manifest, latest.json, gallery."""
    import jsonschema
    from PIL import Image

    from tiktok_top10.models import top10_schema

    manifest_path = data_root / day / "manifest.json"
    if not manifest_path.is_file():
        raise RunFailed(f"no manifest at {manifest_path}")
    manifest = json.loads(manifest_path.read_text())
    schema = top10_schema()
    total = 0
    for category in manifest.get("categories", []):
        top10_dir = data_root / day / category / "top10"
        items = json.loads((top10_dir / f"{category}_top10.json").read_text())
        jsonschema.validate(items, schema)
        if not items:
            raise RunFailed(f"{category}: published list is empty")
        for item in items:
            with Image.open(top10_dir / item["imageFile"]) as image:
                image.verify()
        total += len(items)
        log(f"  {category}: {len(items)} items, covers decode, schema valid")
    log(f"  manifest status={manifest.get('status')} items={total}")
    if manifest.get("status") != "complete":
        raise RunFailed(f"day {day} published as {manifest.get('status')!r}, expected 'complete'")
    latest = json.loads((data_root / "latest.json").read_text())
    if latest.get("day") != day:
        raise RunFailed(f"latest.json points at {latest.get('day')!r}, expected {day}")
    days = client.get("/top10-gallery/api/days").raise_for_status().json()
    if days.get("latest") != day:
        raise RunFailed(f"gallery plugin reports latest={days.get('latest')!r}, expected {day}")
    log("  gallery plugin lists the day as latest")


def screenshot_gallery(base: str, out: Path) -> None:
    """Sign in through the UI's login page in real Chromium and save the gallery of the published day."""
    chromium = "/usr/bin/chromium"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        log("  screenshot skipped: playwright not installed")
        return
    if not Path(chromium).exists():
        log(f"  screenshot skipped: no Chromium at {chromium}")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(f"{base}/top10-gallery/")  # no session yet: the plugin sends the browser to the login page
            page.locator("input[name='username']").fill("admin")
            page.locator("input[name='password']").fill(ADMIN_PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(lambda url: "/auth/login" not in url, timeout=30_000)
            page.goto(f"{base}/top10-gallery/")
            page.wait_for_function("[...document.querySelectorAll('.grid img')].length > 0 && "
                                   "[...document.querySelectorAll('.grid img')]"
                                   ".every(i => i.complete && i.naturalWidth > 0)",
                                   timeout=30_000)
            covers = page.evaluate("document.querySelectorAll('.grid img').length")
            page.screenshot(path=str(out))  # the first screen: header and the first categories' covers
            log(f"  gallery screenshot ({covers} covers decoded by Chromium): {out}")
        finally:
            browser.close()
