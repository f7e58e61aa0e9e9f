"""Shared fixtures. Airflow reads its environment at import, so AIRFLOW_HOME is set here, before any test
module imports it: a throw-away home per test session, never the developer's ``.airflow``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_REFERENCE = REPO.parent / "shared" / "reference"

_airflow_home = tempfile.mkdtemp(prefix="tiktok-top10-airflow-")
os.environ["AIRFLOW_HOME"] = _airflow_home
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_airflow_home}/airflow.db"
# Tests must never see a developer's real credentials or data root.
for name in ("GOOGLE_APPLICATION_CREDENTIALS", "TIKTOK_TOP10_DATA_ROOT", "TIKTOK_TOP10_SOURCE",
             "TIKTOK_TOP10_DETECTOR", "TIKTOK_TOP10_BACKBONE", "AIRFLOW_VAR_TIKTOK_TOP10_SOURCES"):
    os.environ.pop(name, None)


def pytest_unconfigure(config):
    """The throw-away Airflow home goes when the session ends (each session left one in /tmp before)."""
    import shutil

    shutil.rmtree(_airflow_home, ignore_errors=True)


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    return root


@pytest.fixture
def settings(data_root: Path):
    from tiktok_top10.config import Settings

    return Settings(data_root=data_root)


@pytest.fixture(scope="session")
def shared_reference() -> Path:
    if not (SHARED_REFERENCE / "seed-crawls").is_dir():
        pytest.skip(f"reference data not found at {SHARED_REFERENCE} (it lives in ../shared beside the repo)")
    return SHARED_REFERENCE


@pytest.fixture(scope="session")
def demo_site():
    """The TikTok stand-in on a free loopback port, for the whole session."""
    from tiktok_top10.demo import DemoSite

    with DemoSite(host="127.0.0.1", port=0) as site:
        yield site


def _jpeg(color: tuple[int, int, int], size=(72, 128), fmt="JPEG") -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB" if fmt == "JPEG" else "RGBA", size, color).save(out, format=fmt)
    return out.getvalue()


@pytest.fixture
def make_day(settings):
    """Write a day's stage outputs by hand (raw items + covers, dedup and language verdicts), so publish and
    retention can be tested without running the crawl, dedup and language stages.

    ``items``: list of dicts with id, category, views, and optional likes/title/author/status/duplicate_of/
    korean/cover ("jpeg" | "png" | "broken" | None)."""
    import datetime as dt

    from tiktok_top10.models import VideoItem, canonical_url
    from tiktok_top10.storage import DayLayout, atomic_write_json, atomic_write_jsonl

    def build(items: list[dict], day: dt.date = dt.date(2026, 11, 22)) -> DayLayout:
        layout = DayLayout(settings.data_root, day)
        by_category: dict[str, list[dict]] = {}
        dedup_rows, language_rows = [], []
        for n, spec in enumerate(items):
            category, vid = spec["category"], spec["id"]
            raw = layout.raw_dir(category)
            (raw / "thumbnails").mkdir(parents=True, exist_ok=True)
            cover = spec.get("cover", "jpeg")
            thumb = None
            if cover:
                data = {"jpeg": _jpeg((n * 37 % 255, 90, 160)), "png": _jpeg((10, 200, 30), fmt="PNG"),
                        "broken": b"\xff\xd8\xff\xe0 truncated"}[cover]
                (raw / "thumbnails" / f"{vid}.jpg").write_bytes(data)
                thumb = f"thumbnails/{vid}.jpg"
            author = spec.get("author", f"creator{n}")
            item = VideoItem(id=vid, category=category, title=spec.get("title", f"제목 {n}"),
                             author_nickname=spec.get("nickname", author), author_unique_id=author,
                             views=spec["views"], likes=spec.get("likes", spec["views"] // 20),
                             url=canonical_url(author, vid), thumbnail=thumb)
            by_category.setdefault(category, []).append(item.to_json())
            key = f"{category}/{vid}"
            status = spec.get("status", "kept")
            dedup_rows.append({"key": key, "category": category, "id": vid, "status": status,
                               "duplicate_of": spec.get("duplicate_of"), "similarity": None,
                               "reason": spec.get("reason"), "matched_history": None})
            if status == "kept":
                korean = spec.get("korean", True)
                language_rows.append({"key": key, "category": category, "id": vid, "korean": korean,
                                      "language": "ko" if korean else "en", "confidence": 0.99,
                                      "basis": "title", "detector": "test"})
        for category, rows in by_category.items():
            atomic_write_jsonl(layout.raw_items(category), sorted(rows, key=lambda r: r["id"]))
            atomic_write_json(layout.raw_dir(category) / "crawl_summary.json", {"kept": len(rows)})
        atomic_write_jsonl(layout.work_dir / "dedup.jsonl", sorted(dedup_rows, key=lambda r: r["key"]))
        atomic_write_jsonl(layout.work_dir / "language.jsonl", sorted(language_rows, key=lambda r: r["key"]))
        atomic_write_json(layout.work_dir / "dedup_summary.json", {"backbone": "test", "threshold": 0.9})
        atomic_write_json(layout.work_dir / "language_summary.json", {"detector": "test"})
        return layout

    return build
