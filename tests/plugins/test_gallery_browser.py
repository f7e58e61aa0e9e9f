"""The gallery in real Chromium: sign in through Airflow's login page, open "Top-10" from the navigation, see
5×10 covers actually decoded by the browser, download the day's zip; on a day with ranks, see the movement badges,
ask "Why (not) in the Top-10?" and open a category's day-over-day page.  Screenshots go to ``build/``."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tiktok_top10.config import CATEGORIES

from .conftest import COMPLETE_DAY, NEXT_DAY, NEXT_DUPLICATE, REPO

pytestmark = [pytest.mark.browser, pytest.mark.airflow]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
BUILD = REPO / "build"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def sign_in(page, api_server) -> None:
    page.goto(f"{api_server.base_url}/")
    page.locator("input[name='username']").fill(api_server.username)
    page.locator("input[name='password']").fill(api_server.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url, timeout=30_000)


def test_gallery_in_airflow_ui(browser, api_server, tmp_path):
    BUILD.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    try:
        sign_in(page, api_server)
        page.get_by_role("link", name="Top-10").click()  # the navigation entry from external_views
        page.wait_for_url("**/plugin/top10", timeout=30_000)
        frame = page.frame_locator("iframe").first
        grid_images = frame.locator(".grid img")
        grid_images.first.wait_for(timeout=30_000)
        assert grid_images.count() == 50
        for category in CATEGORIES:
            assert frame.locator(f".grid[data-category='{category}'] img").count() == 10
        gallery_frame = next(f for f in page.frames if "/top10-gallery/" in f.url)
        # Covers load lazily: wait until the visible first row is decoded before the screenshot.
        gallery_frame.wait_for_function(
            "[...document.querySelectorAll('.grid img')].slice(0, 10).every(i => i.complete && i.naturalWidth > 0)",
            timeout=30_000,
        )
        page.screenshot(path=str(BUILD / "gallery-in-airflow.png"))

        # The same page opened directly (the cookie session carries over): every cover decoded by Chromium.
        direct = context.new_page()
        direct.goto(f"{api_server.base_url}/top10-gallery/")
        direct.wait_for_function(
            "[...document.querySelectorAll('.grid img')].every(i => i.complete && i.naturalWidth > 0)",
            timeout=30_000,
        )
        decoded = direct.evaluate("[...document.querySelectorAll('.grid img')].filter(i => i.naturalWidth > 0).length")
        assert decoded == 50
        assert direct.locator(".card .rank").first.inner_text() == "1"
        assert direct.locator("#report").is_visible()
        direct.screenshot(path=str(BUILD / "gallery.png"), full_page=True)

        with direct.expect_download() as download_info:
            direct.locator("#download-day").click()
        download = download_info.value
        assert download.suggested_filename == f"tiktok_top10_{COMPLETE_DAY}.zip"
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        with zipfile.ZipFile(saved) as archive:
            assert archive.testzip() is None
            names = archive.namelist()
        assert f"{COMPLETE_DAY}/manifest.json" in names
        assert sum("/thumbnails/" in n for n in names) == 50
    finally:
        context.close()


def test_gallery_without_session_lands_on_login(browser, api_server):
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{api_server.base_url}/top10-gallery/")
        page.wait_for_url("**/auth/login**", timeout=30_000)
        assert page.locator("input[name='password']").is_visible()
    finally:
        context.close()


ALL_IMAGES_DECODED = "[...document.querySelectorAll('img')].every(i => i.complete && i.naturalWidth > 0)"


def test_movement_badges_search_and_day_over_day_in_chromium(browser, api_server, published_root):
    from tiktok_top10 import gallery
    from tiktok_top10.config import Settings

    BUILD.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    try:
        sign_in(page, api_server)
        page.goto(f"{api_server.base_url}/top10-gallery/?day={NEXT_DAY}")
        page.wait_for_function(ALL_IMAGES_DECODED, timeout=30_000)
        main = page.locator(".grid[data-category='main'] .card")
        assert main.count() == 10
        assert page.locator(".grid[data-category='main'] .move").all_inner_texts()[:5] == ["▲2", "NEW", "▼2", "▼2", "–"]
        # each kind in its own colour, drawn over the cover's top right corner
        for kind, colour in (("up", "rgb(198, 40, 40)"), ("down", "rgb(21, 101, 192)"), ("new", "rgb(46, 125, 50)")):
            badge = page.locator(f".grid .move.{kind}").first
            assert badge.is_visible()
            assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == colour
        card, badge = main.first.bounding_box(), main.first.locator(".move").bounding_box()
        assert card["x"] + card["width"] / 2 < badge["x"] and badge["x"] + badge["width"] <= card["x"] + card["width"]
        assert card["y"] <= badge["y"] < card["y"] + 30
        page.screenshot(path=str(BUILD / "gallery-badges.png"))

        # the search box: the same answer as `top10 explain VIDEO --day DAY`
        page.locator("#explain-video").fill(NEXT_DUPLICATE)
        page.locator("#explain-search button[type=submit]").click()
        page.wait_for_url("**/explain?**", timeout=30_000)
        answer = page.locator("#explain-answer")
        answer.wait_for(timeout=30_000)
        expected = gallery.explain_answer(Settings(data_root=published_root), NEXT_DUPLICATE, NEXT_DAY)
        assert answer.get_attribute("data-exit-code") == "0"
        assert page.locator("#explain-text").inner_text() == expected.text
        assert page.locator("table.outcomes .outcome").all_inner_texts() == ["duplicate"]
        page.screenshot(path=str(BUILD / "gallery-explain.png"))

        # a category's day over day, from its link on the day page
        page.goto(f"{api_server.base_url}/top10-gallery/?day={NEXT_DAY}")
        page.locator("#cat-main a.compare-link").click()
        page.wait_for_url(f"**/compare/{NEXT_DAY}/main", timeout=30_000)
        page.wait_for_function(ALL_IMAGES_DECODED, timeout=30_000)
        assert page.locator("#previous-day .row").count() == page.locator("#this-day .row").count() == 10
        assert page.locator("#previous-day .move").all_inner_texts()[:5] == ["→ 3", "→ 4", "→ 1", "OUT", "→ 5"]
        assert page.locator("#this-day .move").all_inner_texts()[:3] == ["▲2", "NEW", "▼2"]
        before, now = page.locator("#previous-day").bounding_box(), page.locator("#this-day").bounding_box()
        assert before["x"] + before["width"] <= now["x"], "the two days side by side"
        page.screenshot(path=str(BUILD / "gallery-compare.png"), full_page=True)
    finally:
        context.close()
