"""``top10 run-day``: the DAG's chain in one process, each stage fed the previous stage's result."""

from __future__ import annotations

import datetime as dt

import pytest

from tiktok_top10.config import Settings
from tiktok_top10.pipeline import run_day
from tiktok_top10.storage import DayLayout, read_json

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_run_day_publishes_a_category_and_archives_the_rest(demo_site, data_root):
    day = dt.date(2026, 11, 12)
    settings = Settings(data_root=data_root, source="demo", demo_url=demo_site.base_url, categories=("tts",),
                        top_n=3, detector="lingua", backbone="efficientnet-lite0")
    result = run_day(settings, day)
    layout = DayLayout(data_root, day)
    assert result["status"] == "complete" and result["crawl_failed"] == {}
    manifest = read_json(result["manifest"])
    assert manifest["stages"]["publish"]["tts"]["published"] == 3 == len(read_json(layout.top10_json("tts")))
    assert manifest["stages"]["crawl"]["tts"]["items_kept"] > 3
    archived = read_json(layout.archive_dir / "archive_summary.json")["archived"]["tts"]
    assert archived == manifest["stages"]["crawl"]["tts"]["items_kept"] - 3
    assert not layout.raw_dir("tts").exists() and not layout.work_dir.exists()
