"""``make bench-dedup-regions`` times the dedup stage on a demo day written without a browser
(``bench_dedup_regions.write_demo_crawl``): that day must be what the crawl stage leaves, or the stage's cost is
measured on something else."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

from PIL import Image

from tiktok_top10.config import CATEGORIES, Settings
from tiktok_top10.demo import generate_day
from tiktok_top10.storage import RAISE_INVALID, DayLayout, read_items

REPO = Path(__file__).resolve().parents[2]
DAY = dt.date(2026, 1, 10)


def _bench():
    spec = importlib.util.spec_from_file_location("bench_dedup_regions", REPO / "bench" / "bench_dedup_regions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_crawl_holds_the_items_a_crawl_keeps_and_the_covers_it_would_download(tmp_path):
    categories, covers = _bench().write_demo_crawl(tmp_path, DAY)
    assert categories == list(CATEGORIES)
    demo, layout, min_views = generate_day(DAY, history=None), DayLayout(tmp_path, DAY), Settings().min_views
    written = failed = 0
    for category in categories:
        crawled = read_items(layout.raw_items(category), invalid=RAISE_INVALID)
        expected = {it.id: it for it in demo.items[category] if not it.is_ad and it.views >= min_views}
        assert {item.id for item in crawled.items} == set(expected)
        for item in crawled.items:
            truth = expected[item.id]
            assert item.views == truth.views and item.url == truth.url
            if truth.cover_status in ("ok", "png"):  # served as an image (a PNG under a .jpg name too)
                with Image.open(crawled.folder / item.thumbnail) as image:
                    image.load()
                    assert image.format == ("PNG" if truth.cover_status == "png" else "JPEG")
                written += 1
            else:  # truncated, HTML or missing: the crawl records why, and dedup skips the item
                assert item.thumbnail is None and item.thumbnail_error
                failed += 1
    assert written == covers and covers > 500 and failed > 0
