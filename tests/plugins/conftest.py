"""Fixtures for the gallery plugin: a data root in the published layout, and a real Airflow API server.

The data root follows docs/architecture.md exactly (top10 JSON, thumbnails/<cat>NN.jpg, manifest.json,
latest.json) so the plugin is exercised on the same shapes ``publish.py`` writes.  The API server is a real
``airflow api-server`` subprocess on loopback with the simple auth manager and a known password, in its own
process group so teardown stops every worker it forked.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageDraw

from tiktok_top10.config import CATEGORIES

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
COMPLETE_DAY = "2026-01-10"
PARTIAL_DAY = "2026-01-09"
PNG_COVER = ("food", 3)  # published with a .jpg name but PNG bytes, as some real covers are
ADMIN_USER, ADMIN_PASSWORD = "admin", "gallery-test-password"


def cover_bytes(category: str, rank: int, fmt: str = "JPEG") -> bytes:
    hue = (CATEGORIES.index(category) * 50 + rank * 9) % 255
    image = Image.new("RGB", (270, 480), (hue, 255 - hue, (hue * 3) % 255))
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 180, 250, 300), fill=(255, 255, 255))
    draw.text((40, 220), f"{category} #{rank}", fill=(0, 0, 0))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def write_day(root: Path, day: str, categories: tuple[str, ...], status: str) -> None:
    day_dir = root / day
    for ci, category in enumerate(categories):
        top10 = day_dir / category / "top10"
        (top10 / "thumbnails").mkdir(parents=True, exist_ok=True)
        items = []
        for rank in range(1, 11):
            item_id = f"{category}{rank:02d}"
            fmt = "PNG" if (category, rank) == PNG_COVER else "JPEG"
            (top10 / "thumbnails" / f"{item_id}.jpg").write_bytes(cover_bytes(category, rank, fmt))
            items.append({
                "id": item_id,
                "title": f"{category} 영상 {rank} #fyp" if rank != 7 else "",
                "author": f"creator_{ci}{rank}",
                "views": 5_000_000 - rank * 100_000 - ci,
                "likes": 200_000 - rank * 1000,
                "category": category,
                "url": f"https://www.tiktok.com/@creator_{ci}{rank}/video/{7400000000000000000 + ci * 100 + rank}",
                "imageFile": f"thumbnails/{item_id}.jpg",
            })
        (top10 / f"{category}_top10.json").write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    manifest = {
        "day": day,
        "status": status,
        "source": "demo",
        "categories": list(categories),
        "stages": {
            "crawl": {c: {"items": 40, "thumbnails": 39, "thumbnail_errors": 1} for c in categories},
            "dedup": {"backbone": "efficientnet-lite0", "threshold": 0.86, "kept": 150, "duplicate": 7},
            "language": {"detector": "lingua", "korean": 120, "rejected": 30, "translation_api_requests": 0},
            "publish": {c: {"published": 10} for c in categories},
        },
        # publish.py writes removed duplicates as objects; older manifests held bare keys: both must render.
        "dedup_groups": [{"kept": f"{categories[0]}/7400000000000000001",
                          "removed": [{"key": "dance/7400000000000000555", "similarity": 0.9312,
                                       "matched_history": None}]}
                         if status == "complete" else
                         {"kept": f"{categories[0]}/7400000000000000001", "removed": ["dance/7400000000000000555"]}],
        "language_rejected": [{"key": "tts/7400000000000000999", "language": "ja", "basis": "title",
                               "detector": "lingua"}],
        "run": {"dag_id": "tiktok_top10", "run_id": "scheduled__2026-01-09T15:00:00+00:00"},
    }
    (day_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")


@pytest.fixture(scope="session")
def published_root(tmp_path_factory) -> Path:
    """Two published days (complete + partial), latest.json, and traps: a secret outside the root and a
    symlink inside a thumbnails folder pointing at it."""
    base = tmp_path_factory.mktemp("gallery")
    root = base / "data"
    write_day(root, COMPLETE_DAY, CATEGORIES, "complete")
    write_day(root, PARTIAL_DAY, ("main", "dance"), "partial")
    (root / "latest.json").write_text(json.dumps({"day": COMPLETE_DAY}), encoding="utf-8")
    (root / PARTIAL_DAY / "work").mkdir()
    (root / PARTIAL_DAY / "work" / "dedup.jsonl").write_text("{}\n")  # never served, never zipped
    secret = base / "secret.txt"
    secret.write_text("outside the data root")
    (root / COMPLETE_DAY / "main" / "top10" / "thumbnails" / "escape.jpg").symlink_to(secret)
    (root / "2026-01-08").symlink_to(base)  # a day folder that is a symlink out of the root
    return root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ApiServer:
    base_url: str
    username: str
    password: str
    log: Path

    def token(self) -> str:
        resp = httpx.post(f"{self.base_url}/auth/token", json={"username": self.username, "password": self.password})
        resp.raise_for_status()
        return resp.json()["access_token"]


@pytest.fixture(scope="session")
def api_server(tmp_path_factory, published_root) -> ApiServer:
    home = tmp_path_factory.mktemp("airflow_home")
    (home / "dags").mkdir()
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({ADMIN_USER: ADMIN_PASSWORD}))
    port = free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API_AUTH__JWT_SECRET": "gallery-test-" + "x" * 52,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "TIKTOK_TOP10_DATA_ROOT": str(published_root),
        "NO_PROXY": "127.0.0.1,localhost",
    }
    airflow = str(VENV_BIN / "airflow")
    migrate = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    if migrate.returncode != 0:
        pytest.fail(f"airflow db migrate failed:\n{migrate.stdout[-2000:]}\n{migrate.stderr[-2000:]}")
    log = home / "api-server.log"
    with open(log, "wb") as log_fh:
        proc = subprocess.Popen(
            [airflow, "api-server", "-H", "127.0.0.1", "-p", str(port), "-w", "1"],
            env=env, stdout=log_fh, stderr=subprocess.STDOUT, start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"api-server exited rc={proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base_url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"api-server not healthy after 120 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield ApiServer(base_url, ADMIN_USER, ADMIN_PASSWORD, log)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
