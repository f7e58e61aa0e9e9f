"""Real Chromium on a demo page: the infinite scroll must deliver items through API responses, as on TikTok."""

import datetime as dt
from urllib.parse import quote, urlsplit

import pytest

from tiktok_top10.demo import generate_day

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
DAY = dt.date(2026, 1, 10)


@pytest.fixture(scope="module")
def browser():
    import os

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def test_wheel_scrolling_a_discover_page_fetches_api_pages(browser, demo_site):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": "demo_day", "value": DAY.isoformat(), "url": demo_site.base_url}])
    page = context.new_page()
    api, hosts = [], set()
    page.on("request", lambda r: hosts.add(urlsplit(r.url).hostname))
    page.on("response", lambda r: api.append(r) if "/api/recommend/item_list/" in r.url else None)
    slug = "틱톡-조회수-많은-순으로-정렬"
    page.goto(f"{demo_site.base_url}/discover/{quote(slug)}", wait_until="load")
    page.wait_for_function("document.body.dataset.pages === '1'")
    first_cards = page.locator("#feed .card").count()
    for i in range(8):
        page.mouse.move(640, 450)
        page.mouse.wheel(0, 2500)
        page.wait_for_timeout(300)
    page.wait_for_function("Number(document.body.dataset.pages) >= 3")
    assert len(api) >= 3 and all(r.status == 200 for r in api)
    ids = [it["id"] for r in api for it in r.json()["itemList"]]
    assert ids == [it.id for it in generate_day(DAY).sources[f"/discover/{slug}"][: len(ids)]]
    assert page.locator("#feed .card").count() == len(ids) > first_cards
    assert hosts == {"127.0.0.1"}, f"the page reached outside loopback: {hosts}"
    context.close()


def test_scrolling_a_search_page_reaches_the_end(browser, demo_site):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": "demo_day", "value": DAY.isoformat(), "url": demo_site.base_url}])
    page = context.new_page()
    seen = []
    page.on("response", lambda r: seen.append(urlsplit(r.url).path) if "/api/search/" in r.url else None)
    query = "tts 밈"
    page.goto(f"{demo_site.base_url}/search?q={quote(query)}", wait_until="load")
    page.wait_for_function("document.body.dataset.pages === '1'")
    for _ in range(8):  # the crawler's demo pacing: one load, 8 wheel scrolls
        page.mouse.wheel(0, 2500)
        page.wait_for_timeout(400)
    page.wait_for_function("document.body.dataset.end === '1'", timeout=10_000)
    assert seen[0] == "/api/search/general/full/" and set(seen[1:]) == {"/api/search/item/full/"}
    assert page.locator("#feed .card").count() == len(generate_day(DAY).sources[f"/search?q={query}"])
    context.close()
