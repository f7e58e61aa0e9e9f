"""Real Chromium against the hostile loopback site: every failure shape the crawler must tell apart."""


import pytest

from tiktok_top10.crawl import (
    BotWallBlocked,
    CaptchaBlocked,
    CrawlEmpty,
    LoginRequired,
    SourceUnreachable,
    crawl_category,
)
from tiktok_top10.crawl.browser import FeedCrawler, profile_lock
from tiktok_top10.crawl.errors import ProfileBusy
from tiktok_top10.storage import read_json, read_jsonl

from .hostile_site import PAGE_SIZE, PAGES, video_id

pytestmark = pytest.mark.browser


def crawl(site, tmp_path, scenario, fast_browser, **kwargs):
    return crawl_category(
        "dance",
        [site.url(f"/feed/{scenario}")],
        out_dir=tmp_path / "raw",
        profile_dir=tmp_path / "profile",
        min_views=100_000,
        reloads=kwargs.pop("reloads", 1),
        scrolls=kwargs.pop("scrolls", 8),
        options=fast_browser,
        **kwargs,
    )


def test_full_feed_is_parsed_deduped_filtered_and_written(site, tmp_path, fast_browser):
    summary = crawl(
        site, tmp_path, "ok", fast_browser, cookies=[{"name": "msToken", "value": "abc", "url": site.base_url}]
    )
    rows = list(read_jsonl(tmp_path / "raw" / "items.jsonl"))
    ids = [r["id"] for r in rows]
    # 40 served: 1 ad, 1 without stats, 1 bad id, 1 repeat of item 0, 1 below min views
    assert len(rows) == PAGE_SIZE * PAGES - 5 == summary["items_kept"]
    assert ids == sorted(ids, key=int) and len(set(ids)) == len(ids)
    by_id = {r["id"]: r for r in rows}
    assert by_id[video_id(0)]["views"] == 999_999  # the fresher observation won
    assert video_id(3) not in by_id  # 5,000 views
    assert by_id[video_id(4)]["thumbnail"] is None and by_id[video_id(4)]["thumbnail_error"] == "http_404"
    assert by_id[video_id(5)]["thumbnail"] == f"thumbnails/{video_id(5)}.png"
    assert (tmp_path / "raw" / by_id[video_id(6)]["thumbnail"]).is_file()
    assert summary["below_min_views"] == 1 and summary["duplicates_in_category"] == 1
    assert summary["malformed_missing_stats"] == 1 and summary["malformed_bad_id"] == 1
    assert summary["skipped_ad"] == 1 and summary["skipped_non_video_entry"] == 1
    assert summary["download_failed_http_404"] == 1 and summary["covers_downloaded"] == len(rows) - 1
    assert read_json(tmp_path / "raw" / "crawl_summary.json") == summary
    assert all("msToken=abc" in c for c in site.cookies)
    # the page ended its feed (hasMore false): no scrolling past the end
    assert site.hits["/api/recommend/item_list/"] == PAGES


def test_media_and_fonts_are_blocked_so_no_video_bytes_are_fetched(site, tmp_path, fast_browser):
    summary = crawl(site, tmp_path, "ok", fast_browser, scrolls=0)
    assert site.hits["/media/clip.mp4"] == 0 and site.hits["/media/font.woff2"] == 0
    assert summary["blocked_requests_media"] >= 1 and summary["blocked_requests_font"] >= 1


def test_empty_bodies_on_some_responses_still_succeed_with_what_was_got(site, tmp_path, fast_browser):
    summary = crawl(site, tmp_path, "empty-some", fast_browser)
    assert summary["responses_empty_body"] == 2
    assert summary["items_kept"] == PAGE_SIZE * 2 - 3  # pages 0 and 3 arrived: 40 - 2 lost pages - page-0 oddities
    assert len(list(read_jsonl(tmp_path / "raw" / "items.jsonl"))) == summary["items_kept"]


def test_captcha_after_two_scrolls_raises_and_saves_screenshot_and_html(site, tmp_path, fast_browser):
    with pytest.raises(CaptchaBlocked) as caught:
        crawl(site, tmp_path, "captcha-2", fast_browser)
    artifacts = caught.value.artifacts
    assert sorted(p.suffix for p in artifacts) == [".html", ".png"]
    assert all(p.parent == tmp_path / "raw" / "failures" and p.stat().st_size > 0 for p in artifacts)
    assert "captcha-verify-container" in next(p for p in artifacts if p.suffix == ".html").read_text()
    assert not (tmp_path / "raw" / "items.jsonl").exists()


@pytest.mark.parametrize("scenario, error", [("status-10114", CaptchaBlocked), ("status-10000", CaptchaBlocked),
                                             ("status-10113", CaptchaBlocked), ("verify", CaptchaBlocked),
                                             ("status-10102", LoginRequired)])
def test_block_and_login_envelopes_raise_their_error_with_evidence(site, tmp_path, fast_browser, scenario, error):
    with pytest.raises(error) as caught:
        crawl(site, tmp_path, scenario, fast_browser)
    assert len(caught.value.artifacts) == 2 and not (tmp_path / "raw" / "items.jsonl").exists()
    assert caught.value.exit_code == 3


def test_status_10204_on_a_list_is_nothing_there_counted_not_a_block(site, tmp_path, fast_browser):
    summary = crawl_category(
        "dance", [site.url("/feed/status-10204"), site.url("/feed/ok")], out_dir=tmp_path / "raw",
        profile_dir=tmp_path / "profile", min_views=100_000, reloads=1, scrolls=8, options=fast_browser)
    assert summary["responses_status_10204"] == 1 and summary["items_kept"] == PAGE_SIZE * PAGES - 5
    assert summary["responses_status_0"] == PAGES  # every status code seen is counted
    with pytest.raises(CrawlEmpty, match="no videos found") as caught:  # nothing anywhere: exit 4
        crawl(site, tmp_path / "again", "status-10204", fast_browser)
    assert caught.value.exit_code == 4


def test_http_403_page_is_a_bot_wall(site, tmp_path, fast_browser):
    with pytest.raises(BotWallBlocked, match="HTTP 403"):
        crawl(site, tmp_path, "wall", fast_browser)


def test_a_feed_with_nothing_raises_empty_after_its_scrolls(site, tmp_path, fast_browser):
    with pytest.raises(CrawlEmpty, match="no videos found") as caught:
        crawl(site, tmp_path, "empty", fast_browser)
    assert [p.suffix for p in caught.value.artifacts] == [".html", ".png"]


def test_a_budget_spent_before_any_page_load_is_unreachable_not_empty(site, tmp_path, fast_browser):
    # "nothing usable came back" (CrawlEmpty, never retried) would be a lie when no page was even asked for
    from dataclasses import replace

    with pytest.raises(SourceUnreachable, match="budget .* ran out before any page was loaded"):
        crawl(site, tmp_path, "full", replace(fast_browser, budget_s=0.0))
    assert not (tmp_path / "raw").exists()


def test_rerun_replaces_output_and_a_failed_rerun_keeps_the_previous(site, tmp_path, fast_browser):
    crawl(site, tmp_path, "ok", fast_browser)
    first = (tmp_path / "raw" / "items.jsonl").read_bytes()
    (tmp_path / "raw" / "thumbnails" / "stale.jpg").write_bytes(b"x")
    crawl(site, tmp_path, "ok", fast_browser)
    assert (tmp_path / "raw" / "items.jsonl").read_bytes() == first  # replaced, not appended
    assert not (tmp_path / "raw" / "thumbnails" / "stale.jpg").exists()
    with pytest.raises(CaptchaBlocked):
        crawl(site, tmp_path, "captcha-1", fast_browser)
    assert (tmp_path / "raw" / "items.jsonl").read_bytes() == first
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left behind


def test_a_profile_in_use_is_refused(tmp_path, fast_browser):
    from dataclasses import replace

    crawler = FeedCrawler(
        category="main", profile_dir=tmp_path / "p", failures_dir=tmp_path / "f",
        options=replace(fast_browser, profile_lock_wait_s=0.2),
    )
    with profile_lock(tmp_path / "p", 1), pytest.raises(ProfileBusy):
        crawler.crawl(["http://127.0.0.1:9/"], reloads=1, scrolls=0)


def test_browser_reports_korean_locale_and_seoul_timezone(site, tmp_path, fast_browser):
    from playwright.sync_api import sync_playwright

    crawler = FeedCrawler(
        category="main", profile_dir=tmp_path / "p", failures_dir=tmp_path / "f", options=fast_browser
    )
    with sync_playwright() as playwright:
        context = crawler._launch(playwright)
        try:
            page = context.new_page()
            page.goto(site.url("/feed/empty"))
            seen = page.evaluate(
                "[navigator.language, Intl.DateTimeFormat().resolvedOptions().timeZone, navigator.userAgent, "
                "navigator.webdriver]"
            )
        finally:
            context.close()
    assert seen[0] == "ko-KR" and seen[1] == "Asia/Seoul"
    assert "Headless" not in seen[2] and seen[3] is False


def test_an_unreachable_source_is_counted_and_the_other_sources_still_count(site, tmp_path, fast_browser):
    summary = crawl_category(
        "dance", ["http://127.0.0.1:9/discover/nothing-listens-here", site.url("/feed/ok")],
        out_dir=tmp_path / "raw", profile_dir=tmp_path / "profile", min_views=100_000, reloads=1, scrolls=8,
        options=fast_browser,
    )
    assert summary["responses_navigation_error"] == 1 and summary["items_kept"] == PAGE_SIZE * PAGES - 5
