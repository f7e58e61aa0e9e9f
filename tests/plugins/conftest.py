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
# The day after COMPLETE_DAY, partial (main and dance), app schema v2: rank and previousRank against COMPLETE_DAY,
# and a residual archive that `top10 explain` reads.  Partial, so latest.json still names COMPLETE_DAY.
NEXT_DAY = "2026-01-11"
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


def complete_day_url(category: str, rank: int) -> str:
    """The URL ``write_day`` gives COMPLETE_DAY's ``category`` entry at ``rank``."""
    ci = CATEGORIES.index(category)
    return f"https://www.tiktok.com/@creator_{ci}{rank}/video/{7400000000000000000 + ci * 100 + rank}"


# NEXT_DAY's charts: (previous rank on COMPLETE_DAY or None, how it came back): "same" = the same URL, "reupload"
# = a new id and URL that the dedup memory matched to that video, None = new in the chart.
NEXT_CHARTS: dict[str, list[tuple[int | None, str | None]]] = {
    "main": [(3, "same"), (None, None), (1, "same"), (2, "reupload"), (5, "same")] + [(None, None)] * 5,
    "dance": [(4, "same")] + [(None, None)] * 9,
}
NEXT_DUPLICATE = "7410000000000000099"  # main: a duplicate of NEXT_DAY's main #1, not published
NEXT_FOREIGN = "7410000000000000098"  # dance: judged Japanese, not published
UNSEEN_VIDEO = "7999999999999999999"


def next_day_video(category: str, rank: int) -> str:
    return str(7410000000000000000 + CATEGORIES.index(category) * 100 + rank)


def write_next_day(root: Path) -> None:
    """NEXT_DAY as publish and archive_and_cleanup leave it (the fields explain reads)."""
    day_dir = root / NEXT_DAY
    dedup_rows, language_rows = [], []
    for category, chart in NEXT_CHARTS.items():
        top10 = day_dir / category / "top10"
        (top10 / "thumbnails").mkdir(parents=True)
        entries = []
        for rank, (previous, how) in enumerate(chart, 1):
            name = f"{category}{rank:02d}"
            (top10 / "thumbnails" / f"{name}.jpg").write_bytes(cover_bytes(category, previous or rank + 20))
            url = complete_day_url(category, previous) if how == "same" else \
                f"https://www.tiktok.com/@next_{category}{rank}/video/{next_day_video(category, rank)}"
            entries.append({"id": name, "title": f"{category} 다음 날 {rank}", "author": f"next_{category}{rank}",
                            "views": 9_000_000 - rank * 300_000, "likes": 300_000 - rank * 1000, "category": category,
                            "url": url, "imageFile": f"thumbnails/{name}.jpg", "rank": rank, "previousRank": previous})
            video = url.rsplit("/", 1)[1]
            history = None
            if how == "reupload":
                original = complete_day_url(category, previous).rsplit("/", 1)[1]
                history = {"day": COMPLETE_DAY, "key": f"{category}/{original}", "id": original, "similarity": 0.9731}
            dedup_rows.append({"key": f"{category}/{video}", "category": category, "id": video, "status": "kept",
                               "duplicate_of": None, "similarity": None, "reason": None, "matched_history": history})
            language_rows.append({"key": f"{category}/{video}", "category": category, "id": video, "korean": True,
                                  "language": "ko", "confidence": 0.99, "basis": "title", "detector": "lingua"})
        (top10 / f"{category}_top10.json").write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    kept_main = "main/" + complete_day_url("main", 3).rsplit("/", 1)[1]  # NEXT_DAY's main #1
    dedup_rows.append({"key": f"main/{NEXT_DUPLICATE}", "category": "main", "id": NEXT_DUPLICATE,
                       "status": "duplicate", "duplicate_of": kept_main, "similarity": 0.9412, "reason": None,
                       "matched_history": None})
    dedup_rows.append({"key": f"dance/{NEXT_FOREIGN}", "category": "dance", "id": NEXT_FOREIGN, "status": "kept",
                       "duplicate_of": None, "similarity": None, "reason": None, "matched_history": None})
    language_rows.append({"key": f"dance/{NEXT_FOREIGN}", "category": "dance", "id": NEXT_FOREIGN, "korean": False,
                          "language": "ja", "confidence": 0.97, "basis": "title", "detector": "lingua"})
    archive = root / "residual_archive" / NEXT_DAY
    (archive / "work").mkdir(parents=True)
    for name, rows in (("dedup.jsonl", dedup_rows), ("language.jsonl", language_rows)):
        (archive / "work" / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    for category, video, views in (("main", NEXT_DUPLICATE, 2_500_000), ("dance", NEXT_FOREIGN, 4_000_000)):
        (archive / category).mkdir()
        row = {"id": video, "category": category, "title": "今日のランチ", "author_nickname": "さくら",
               "author_unique_id": "sakura_jp", "views": views, "likes": views // 20,
               "url": f"https://www.tiktok.com/@sakura_jp/video/{video}", "thumbnail": None,
               "archive_reason": "duplicate" if category == "main" else "not_korean"}
        (archive / category / "items.jsonl").write_text(json.dumps(row, ensure_ascii=False) + "\n")
    manifest = {"day": NEXT_DAY, "status": "partial", "source": "demo", "categories": list(CATEGORIES),
                "top_n": 10, "app_schema": "top10.v2", "previous_day": COMPLETE_DAY,
                "stages": {"publish": {c: {"published": 10} for c in NEXT_CHARTS}}}
    (day_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")


@pytest.fixture(scope="session")
def published_root(tmp_path_factory) -> Path:
    """Two published days (complete + partial), latest.json, and traps: a secret outside the root and a
    symlink inside a thumbnails folder pointing at it."""
    base = tmp_path_factory.mktemp("gallery")
    root = base / "data"
    write_day(root, COMPLETE_DAY, CATEGORIES, "complete")
    write_day(root, PARTIAL_DAY, ("main", "dance"), "partial")
    write_next_day(root)
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
