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


def test_the_host_steal_is_read_from_the_cpu_line_and_is_none_where_not_reported(tmp_path):
    """The bench reports the CPU time the hypervisor took during each mode's runs: the ``steal`` column (the 8th
    number) of /proc/stat's summed ``cpu`` line, in seconds; a kernel or file without it gives no figure, not 0."""
    import os

    bench = _bench()
    stat = tmp_path / "stat"
    stat.write_text("cpu  8240650 1339514 810224 5810748 42797 0 27151 537402 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
    assert bench.host_steal(stat) == 537402 / os.sysconf("SC_CLK_TCK")
    stat.write_text("cpu  8240650 1339514 810224 5810748 42797 0 27151\n")  # before steal was counted
    assert bench.host_steal(stat) is None
    assert bench.host_steal(tmp_path / "absent") is None
    real = bench.host_steal()
    assert real is None or real >= 0


def test_the_cpu_seconds_of_a_run_are_its_child_process_own():
    """A stage run's CPU seconds are the finished child's user + system time: a child that spins for 0.3 s of CPU
    adds about that, and a sleeping one almost nothing."""
    import subprocess
    import sys

    bench = _bench()
    before = bench._children_cpu()
    subprocess.run([sys.executable, "-c", "import time\nend = time.process_time() + 0.3\n"
                    "while time.process_time() < end: pass"], check=True)
    spun = bench._children_cpu() - before
    subprocess.run([sys.executable, "-c", "import time; time.sleep(0.3)"], check=True)
    slept = bench._children_cpu() - before - spun
    assert 0.3 <= spun < 3 and slept < 0.25
