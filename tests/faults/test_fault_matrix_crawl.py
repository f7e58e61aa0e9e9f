"""Fault matrix, crawl rows: captcha, bot wall, empty bodies, statusCode 10204 (nothing there, not a block),
statusCode 10114 (anti-bot block), a navigation timeout, the
browser process killed mid-crawl.  Outcome required: the category's task fails with a clear (typed) error
and is retried; its previous output is untouched; other categories publish; the 12:00 run recovers.

Real Chromium against the loopback hostile site (tests/crawl/hostile_site.py) and the demo site."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import threading
import time

import psutil
import pytest
from crawl.hostile_site import PAGE_SIZE, PAGES, HostileSite

from tiktok_top10.config import Settings
from tiktok_top10.crawl import (
    BotWallBlocked,
    BrowserCrashed,
    CaptchaBlocked,
    CrawlEmpty,
    SourceUnreachable,
    run_crawl,
)
from tiktok_top10.crawl.browser import BrowserOptions
from tiktok_top10.crawl.stage import crawl_category
from tiktok_top10.storage import DayLayout, read_json

pytestmark = pytest.mark.browser

FAST = BrowserOptions(response_wait_s=1.0, scroll_pause_s=(0.02, 0.08), idle_scrolls=2, budget_s=60, seed=7)


@pytest.fixture
def site():
    with HostileSite() as hostile:
        yield hostile


def crawl(site, tmp_path, scenario: str, options: BrowserOptions = FAST, url: str | None = None):
    return crawl_category("food", [url or site.url(f"/feed/{scenario}")], out_dir=tmp_path / "raw",
                          profile_dir=tmp_path / "profile", min_views=100_000, reloads=1, scrolls=6,
                          options=options, root=tmp_path)


def assert_failed_cleanly(tmp_path, error, reason: str):
    assert error.value.reason == reason and str(error.value)
    assert not (tmp_path / "raw" / "items.jsonl").exists()  # nothing half-written for the next stage to read
    assert not list(tmp_path.glob(".raw.staging-*"))


def test_crawl_captcha(site, tmp_path):
    with pytest.raises(CaptchaBlocked, match="captcha") as error:
        crawl(site, tmp_path, "captcha-1")
    assert_failed_cleanly(tmp_path, error, "captcha")
    assert {p.suffix for p in error.value.artifacts} == {".png", ".html"}  # evidence for a human


def test_crawl_bot_wall(site, tmp_path):
    with pytest.raises(BotWallBlocked, match="HTTP 403") as error:
        crawl(site, tmp_path, "wall")
    assert_failed_cleanly(tmp_path, error, "bot_wall")


def test_crawl_empty_bodies(site, tmp_path):
    summary = crawl(site, tmp_path, "empty-some")  # TikTok's intermittent empty 200s: those pages are lost
    assert summary["responses_empty_body"] == 2 and summary["items_kept"] == PAGE_SIZE * (PAGES - 2) - 3
    with pytest.raises(CrawlEmpty, match="no videos found") as error:  # a feed that is empty throughout
        crawl(site, tmp_path / "second", "empty")
    assert error.value.reason == "empty"


def test_crawl_status_10204(site, tmp_path):
    """10204 is VIDEO_NOT_EXIST (TikTok-Api's table): on a list, nothing there. Counted; a category that finds
    nothing at all is CrawlEmpty (exit 4, no retry), not an IP block."""
    with pytest.raises(CrawlEmpty, match="no videos found") as error:
        crawl(site, tmp_path, "status-10204")
    assert_failed_cleanly(tmp_path, error, "empty")
    assert error.value.exit_code == 4 and error.value.retry == "never"


def test_crawl_status_10114(site, tmp_path):
    with pytest.raises(CaptchaBlocked, match="10114") as error:
        crawl(site, tmp_path, "status-10114")
    assert_failed_cleanly(tmp_path, error, "captcha")
    assert error.value.exit_code == 3 and error.value.retry == "long_delay"


def test_crawl_navigation_timeout(tmp_path):
    """A server that accepts the connection and never answers: every load times out."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept_and_hold():
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(silent.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept_and_hold, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        with pytest.raises(SourceUnreachable, match="2 of 2 page loads failed") as error:
            crawl_category("food", [f"http://127.0.0.1:{silent.getsockname()[1]}/feed/ok"], out_dir=tmp_path / "raw",
                           profile_dir=tmp_path / "profile", min_views=100_000, reloads=2, scrolls=2,
                           options=BrowserOptions(**{**FAST.__dict__, "nav_timeout_s": 1.5}), root=tmp_path)
        assert time.monotonic() - started < 45  # bounded by the navigation timeout, not hung
        assert_failed_cleanly(tmp_path, error, "unreachable")
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        silent.close()


def _chromium_of(profile_dir) -> list[psutil.Process]:
    """The Chromium processes this test's crawl started (children of this process using its profile)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if any(str(profile_dir) in arg for arg in child.cmdline()):
                found.append(child)
        except psutil.Error:
            continue
    return found


def test_crawl_browser_killed_mid_crawl(site, tmp_path):
    # First a good crawl: its output must survive the crashed rerun.
    crawl(site, tmp_path, "ok")
    before = (tmp_path / "raw" / "items.jsonl").read_bytes()
    killed: list[int] = []

    def kill_when_scrolling():
        deadline = time.monotonic() + 60
        start_hits = site.hits["/api/recommend/item_list/"]
        while time.monotonic() < deadline and site.hits["/api/recommend/item_list/"] < start_hits + 2:
            time.sleep(0.02)
        browsers = [
            p for p in _chromium_of(tmp_path / "profile") if not any(a.startswith("--type=") for a in p.cmdline())
        ]
        for proc in browsers:
            os.kill(proc.pid, signal.SIGKILL)  # the browser process itself, by pid
            killed.append(proc.pid)

    killer = threading.Thread(target=kill_when_scrolling, daemon=True)
    killer.start()
    slow = BrowserOptions(**{**FAST.__dict__, "scroll_pause_s": (0.3, 0.4), "idle_scrolls": 6})
    with pytest.raises(BrowserCrashed, match="browser died mid-crawl") as error:
        crawl(site, tmp_path, "ok", options=slow)
    killer.join()
    assert killed, "the test never found the browser to kill"
    assert error.value.reason == "browser_crashed"
    assert (tmp_path / "raw" / "items.jsonl").read_bytes() == before  # the earlier output, untouched
    assert not list(tmp_path.glob(".raw.staging-*"))
    crawl(site, tmp_path, "ok")  # the retry: a fresh browser on the same profile works
    assert (tmp_path / "raw" / "items.jsonl").read_bytes() == before


@pytest.mark.airflow
def test_crawl_failure_is_retried_and_other_categories_go_on(dag_bag):
    """What Airflow does with the failure: retries the mapped crawl task, and dedup runs over what exists."""
    dag = dag_bag.dags["tiktok_top10"]
    crawl_task, dedup_task = dag.get_task("crawl"), dag.get_task("dedup")
    assert crawl_task.retries >= 2 and crawl_task.retry_exponential_backoff
    assert dedup_task.trigger_rule == "all_done"  # one blocked category does not stop the others
    assert dag.get_task("verify_day_complete").upstream_task_ids == {"rank_and_publish"}


@pytest.mark.slow  # ~90 s: two demo crawls, two real dedup runs
def test_crawl_blocked_category_others_publish_and_the_1200_run_recovers(site, demo_site, tmp_path):
    """00:00: food is blocked (captcha), main crawls; the day publishes main and is marked partial.
    12:00: ``day_is_published`` is false, so the run redoes the day; food now crawls and the day completes."""
    from tiktok_top10.dedup import run_dedup
    from tiktok_top10.language import run_language
    from tiktok_top10.publish import day_is_published, publish_day

    day = dt.date(2026, 11, 22)
    categories = ["main", "food"]
    settings = Settings(data_root=tmp_path / "data", source="demo", demo_url=demo_site.base_url,
                        categories=tuple(categories), detector="lingua", min_views=100_000, top_n=5)
    layout = DayLayout(settings.data_root, day)
    blocked_food = json.dumps({"categories": {"food": {"tags": ["captcha-1"]}}})

    def rest_of_the_day():
        run_dedup(settings, day, categories)
        run_language(settings, day)
        return read_json(publish_day(settings, day, categories))

    run_crawl(settings, day, "main")
    with pytest.raises(CaptchaBlocked):  # food's source is behind a captcha this morning
        run_crawl(
            Settings(data_root=settings.data_root, demo_url=site.base_url), day, "food", sources_override=blocked_food
        )
    midnight = rest_of_the_day()
    assert midnight["status"] == "partial"
    assert midnight["stages"]["publish"]["main"]["published"] == 5
    assert midnight["stages"]["publish"]["food"]["status"] == "crawl_missing"
    assert not (layout.top10_dir("food")).exists()
    assert not day_is_published(settings, day, categories)  # the 12:00 run will not skip
    main_before = layout.top10_json("main").read_bytes()

    run_crawl(settings, day, "food")  # (main's crawl output is still there; the DAG would redo it the same)
    noon = rest_of_the_day()
    assert noon["status"] == "complete" and noon["stages"]["publish"]["food"]["published"] == 5
    assert day_is_published(settings, day, categories)
    assert read_json(settings.data_root / "latest.json")["day"] == "2026-11-22"
    assert len(read_json(layout.top10_json("main"))) == 5 and main_before
