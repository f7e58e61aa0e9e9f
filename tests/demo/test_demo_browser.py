"""Real Chromium on a demo page: the infinite scroll must deliver items through API responses, as on TikTok."""

import datetime as dt
from urllib.parse import parse_qs, quote, urlsplit

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
    """The first screen comes server-rendered (and the element is gone after hydration), the rest by XHR."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": "demo_day", "value": DAY.isoformat(), "url": demo_site.base_url}])
    page = context.new_page()
    api, hosts = [], set()
    page.on("request", lambda r: hosts.add(urlsplit(r.url).hostname))
    page.on("response", lambda r: api.append(r) if "/api/recommend/item_list/" in r.url else None)
    slug = "틱톡-조회수-많은-순으로-정렬"
    response = page.goto(f"{demo_site.base_url}/discover/{quote(slug)}", wait_until="load")
    page.wait_for_function("document.body.dataset.pages === '1'")
    first_cards = page.locator("#feed .card").count()
    source = generate_day(DAY).sources[f"/discover/{slug}"]
    assert "__UNIVERSAL_DATA_FOR_REHYDRATION__" in response.text() and '"region": "KR"' in response.text()
    assert page.locator("#__UNIVERSAL_DATA_FOR_REHYDRATION__").count() == 0 and not api  # no XHR for screen one
    assert 14 <= first_cards <= 16
    for _ in range(8):
        page.mouse.move(640, 450)
        page.mouse.wheel(0, 2500)
        page.wait_for_timeout(300)
    page.wait_for_function("Number(document.body.dataset.pages) >= 3")
    assert len(api) >= 3 and all(r.status == 200 for r in api)
    ids = [it["id"] for r in api for it in r.json()["itemList"]]
    assert ids == [it.id for it in source[first_cards: first_cards + len(ids)]]
    assert page.locator("#feed .card").count() == first_cards + len(ids)
    nonces = {parse_qs(urlsplit(r.url).query)["_nonce"][0] for r in api}
    assert len(nonces) == 1 and all(parse_qs(urlsplit(r.url).query)["region"] == ["KR"] for r in api)
    page.reload(wait_until="load")  # a new load, a new nonce
    page.mouse.wheel(0, 2500)
    page.wait_for_function("Number(document.body.dataset.pages) >= 2")
    assert parse_qs(urlsplit(api[-1].url).query)["_nonce"][0] not in nonces
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
    # the grid scrolls inside <main>: the document itself does not move
    assert page.evaluate("getComputedStyle(document.body).overflow") == "hidden"
    page.mouse.move(640, 450)  # over the grid
    for _ in range(8):  # the crawler's demo pacing: one load, 8 wheel scrolls
        page.mouse.wheel(0, 2500)
        page.wait_for_timeout(400)
    assert page.evaluate("document.querySelector('main').scrollTop") > 0 and page.evaluate("window.scrollY") == 0
    page.wait_for_function("document.body.dataset.end === '1'", timeout=10_000)
    assert seen[0] == "/api/search/general/full/" and set(seen[1:]) == {"/api/search/item/full/"}
    assert page.locator("#feed .card").count() == len(generate_day(DAY).sources[f"/search?q={query}"])
    context.close()


def test_search_gated_for_logged_out_visitors_when_asked(browser):
    from tiktok_top10.demo import DemoSite

    with DemoSite(port=0, search_requires_login=True) as site:
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{site.base_url}/search?q={quote('tts 밈')}")
        assert urlsplit(page.url).path == "/login"
        gated = page.request.get(f"{site.base_url}/api/search/item/full/?keyword=x").json()
        assert gated["statusCode"] == 10102
        context.add_cookies([{"name": "sessionid", "value": "s", "url": site.base_url}])
        page.goto(f"{site.base_url}/search?q={quote('tts 밈')}")
        assert urlsplit(page.url).path == "/search"
        page.wait_for_function("document.body.dataset.pages === '1'")
        context.close()
