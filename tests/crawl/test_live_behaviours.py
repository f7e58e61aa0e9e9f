"""Real Chromium against loopback pages that behave as the live TikTok page does (../shared/DESIGN.md): tall
cards, a <main> scroller, hasMore false on a full page, server-rendered first screens, login modal, Refresh
panel, firewall interstitial, /login redirect, photo posts, a foreign region, hidden and visible captchas.
Each test asserts the exact set of ids kept."""

from dataclasses import replace

import pytest

from tiktok_top10.crawl import BotWallBlocked, CaptchaBlocked, LoginRequired, RegionMismatch, crawl_category
from tiktok_top10.storage import read_jsonl

from .hostile_site import LIVE_COUNT, live_ids, video_id

pytestmark = pytest.mark.browser


def crawl(site, tmp_path, scenario, options, *, scrolls=30):
    summary = crawl_category("dance", [site.url(f"/page/{scenario}")], out_dir=tmp_path / "raw",
                             profile_dir=tmp_path / "profile", min_views=100_000, reloads=1, scrolls=scrolls,
                             options=options)
    rows = {r["id"]: r for r in read_jsonl(tmp_path / "raw" / "items.jsonl")}
    return summary, rows


@pytest.mark.parametrize("scenario, requests", [
    ("tall", 2),  # 8 full-viewport cards per page: many scrolls before the page asks for page 2
    ("main-tall", 2),  # the same inside a scrolling <main>: the document never moves
    ("ssr-tall", 1),  # page 1 only in the server-rendered data, page 2 by XHR
    ("tall-no-more", 3),  # every page full and hasMore false: not the end by itself
])
def test_a_two_page_tall_card_feed_is_kept_whole(site, tmp_path, fast_browser, scenario, requests):
    summary, rows = crawl(site, tmp_path, scenario, fast_browser)
    assert set(rows) == live_ids(scenario) and len(rows) == 2 * LIVE_COUNT == 16
    assert site.hits["/api/live/item_list/"] == requests
    assert summary["scrolls_without_progress"] <= fast_browser.idle_scrolls
    if scenario == "ssr-tall":
        assert summary["items_from_page_data"] == LIVE_COUNT and summary["responses_ssr"] == 1
        assert summary["region"] == "KR"
    else:  # no server-rendered data: counted, not an error
        assert summary["responses_ssr_missing"] == 1 and summary["items_from_page_data"] == 0
    if scenario == "tall-no-more":
        assert summary["responses_has_more_false_on_full_page"] == 2


def test_a_one_page_feed_ends_within_a_few_scrolls_despite_a_budget_of_50(site, tmp_path, fast_browser):
    summary, rows = crawl(site, tmp_path, "tall-one", fast_browser, scrolls=50)
    assert set(rows) == live_ids("tall-one")
    # 7 viewports to scroll at >= 560 px a scroll is at most 12 scrolls that move, then 2 that show the end
    assert summary["scrolls_without_progress"] == fast_browser.idle_scrolls
    assert summary["scrolls_done"] <= 12 + fast_browser.idle_scrolls


def test_a_page_whose_items_are_only_server_rendered(site, tmp_path, fast_browser):
    summary, rows = crawl(site, tmp_path, "ssr-only", fast_browser)
    assert set(rows) == live_ids("ssr-only")  # found in three differently named scopes, one repeat
    assert site.hits["/api/live/item_list/"] == 0 and summary["items_from_page_data"] == LIVE_COUNT


@pytest.mark.parametrize("scenario, gate", [("modal", "login_modal_closed"), ("refresh", "refresh_clicked"),
                                            ("firewall", "firewall_waited")])
def test_gates_are_passed_and_the_crawl_goes_on(site, tmp_path, fast_browser, scenario, gate):
    summary, rows = crawl(site, tmp_path, scenario, fast_browser)
    assert set(rows) == live_ids(scenario)
    assert summary[f"gates_{gate}"] == 1
    if scenario == "firewall":  # the challenge page, then the page behind it
        assert site.hits["/page/firewall"] == 2 and summary["responses_ssr_missing"] == 1


def test_a_firewall_page_that_never_clears_is_a_bot_wall(site, tmp_path, fast_browser):
    with pytest.raises(BotWallBlocked, match="did not clear") as caught:
        crawl(site, tmp_path, "firewall-stuck", replace(fast_browser, firewall_wait_s=2))
    assert caught.value.exit_code == 3 and len(caught.value.artifacts) == 2


def test_a_redirect_to_login_is_login_required(site, tmp_path, fast_browser):
    with pytest.raises(LoginRequired, match="login page") as caught:
        crawl(site, tmp_path, "login", fast_browser)
    assert (caught.value.reason, caught.value.exit_code, caught.value.retry) == ("login_required", 3, "never")


def test_photo_posts_are_kept_with_photo_urls_and_imagepost_covers(site, tmp_path, fast_browser):
    summary, rows = crawl(site, tmp_path, "photo", fast_browser)
    assert set(rows) == live_ids("photo")
    for n in (1001, 1002):
        row = rows[video_id(n)]
        assert row["url"] == f"https://www.tiktok.com/@creator{n}/photo/{video_id(n)}"
        assert row["thumbnail"] and (tmp_path / "raw" / row["thumbnail"]).is_file()
    assert rows[video_id(1003)]["views"] == round(200_000 + 1003 * 1_000, -5)  # statsV2 "1.2M": stats counts
    assert summary["normalised_playCount_from_rounded_stats"] == 1


@pytest.mark.parametrize("scenario, where", [("region-us", "app context"), ("region-us-api", "API requests")])
def test_another_region_than_expected_fails_unless_allowed(site, tmp_path, fast_browser, scenario, where):
    with pytest.raises(RegionMismatch, match=f"region US \\(from the page's {where}\\).*expected KR") as caught:
        crawl(site, tmp_path, scenario, fast_browser)
    assert caught.value.exit_code == 3 and caught.value.retry == "never"
    summary, rows = crawl(site, tmp_path, scenario, replace(fast_browser, allow_other_region=True))
    assert summary["region"] == "US" and set(rows) == live_ids(scenario)


def test_captchas_count_only_when_visible(site, tmp_path, fast_browser):
    summary, rows = crawl(site, tmp_path, "hidden-captcha", fast_browser)  # hidden containers on a normal page
    assert set(rows) == live_ids("hidden-captcha")
    with pytest.raises(CaptchaBlocked):  # a visible secsdk-captcha-* after the first page
        crawl(site, tmp_path / "second", "secsdk-captcha", fast_browser)
