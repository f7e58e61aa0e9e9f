import datetime as dt
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from PIL import Image

from tiktok_top10.config import KST
from tiktok_top10.demo import DEMO_SOURCES, DemoSite, generate_day
from tiktok_top10.demo.server import MAX_PAGE, MIN_PAGE

DAY = dt.date(2026, 1, 10)
OTHER_DAY = dt.date(2026, 1, 11)


@pytest.fixture
def client(demo_site):
    with httpx.Client(base_url=demo_site.base_url, cookies={"demo_day": DAY.isoformat()}, timeout=30) as c:
        yield c


def _walk_feed(client, path, params, cursor_param="cursor", items_key="itemList"):
    """Follow the cursor to the end; returns (ids, pages)."""
    ids, pages, cursor = [], [], "0"
    for _ in range(50):
        body = client.get(path, params={**params, cursor_param: cursor}).raise_for_status().json()
        batch = body[items_key] if items_key != "data" else [d["item"] for d in body["data"] if d["type"] == 1]
        pages.append(len(batch))
        ids += [it["id"] for it in batch]
        more = body["hasMore"] if "hasMore" in body else bool(body["has_more"])
        cursor = str(body["cursor"])
        if not more:
            return ids, pages
    raise AssertionError("feed never ended")


def test_discover_feed_pages_through_the_source_in_order(client):
    slug = "틱톡-먹방조회수-1위-영상"
    ids, pages = _walk_feed(client, "/api/recommend/item_list/", {"keyword": slug, "count": 16})
    expected = [it.id for it in generate_day(DAY).sources[f"/discover/{slug}"]]
    assert ids == expected and len(ids) == len(set(ids))
    assert all(MIN_PAGE <= n <= MAX_PAGE for n in pages[:-1]) and 1 <= pages[-1] <= MAX_PAGE
    assert 2 <= len(pages) <= 8


def test_feed_envelope_and_item_shape(client, demo_site):
    body = client.get("/api/explore/item_list/", params={"count": 16, "cursor": 0}).json()
    assert set(body) == {"statusCode", "statusMsg", "itemList", "hasMore", "cursor"}
    assert body["statusCode"] == 0 and body["hasMore"] is True and body["cursor"] == str(len(body["itemList"]))
    item = body["itemList"][0]
    # covers come from a separate loopback origin, like TikTok's CDN
    assert item["video"]["cover"].startswith(demo_site.cdn_url + "/covers/2026-01-10/")
    assert demo_site.cdn_url != demo_site.base_url and demo_site.cdn_url.startswith("http://127.0.0.1:")
    assert isinstance(item["stats"]["playCount"], int) and item["statsV2"]["playCount"].isdigit()


def test_search_uses_both_envelopes_and_they_agree(client):
    query = "틱톡 춤"
    general = client.get("/api/search/general/full/", params={"keyword": query, "offset": 0}).json()
    assert set(general) >= {"data", "has_more", "cursor"} and general["has_more"] == 1
    assert all(d["type"] == 1 and "id" in d["item"] for d in general["data"])
    ids, _ = _walk_feed(client, "/api/search/item/full/", {"keyword": query}, "offset", "item_list")
    assert ids[: len(general["data"])] == [d["item"]["id"] for d in general["data"]]
    assert ids == [it.id for it in generate_day(DAY).sources[f"/search?q={query}"]]
    empty = client.get("/api/search/item/full/", params={"keyword": "no such query"}).json()
    assert empty["item_list"] == [] and empty["has_more"] == 0


def test_every_demo_source_page_loads_and_unknown_discover_is_404(client):
    for paths in DEMO_SOURCES.values():
        for path in paths:
            page = client.get(path)
            assert page.status_code == 200 and "<script>" in page.text
            # nothing from outside the site: the only absolute URLs are the covers in the server-rendered data,
            # on the loopback CDN
            hosts = set(re.findall(r"https?://([^/:\"]+)", page.text))
            assert hosts <= {"127.0.0.1"}, hosts
    assert client.get("/discover/no-such-page").status_code == 404


def test_tag_feed_lists_items_with_that_hashtag(client):
    page = client.get("/tag/요리")  # not a search's stand-in (TAG_FOR_SEARCH): the plain hashtag listing
    assert page.status_code == 200
    ids, _ = _walk_feed(client, "/api/challenge/item_list/",
                        {"challengeID": page.text.split("challengeID=")[1].split("&")[0]})
    demo = generate_day(DAY)
    tagged = {it.id for it in demo.all_items() if "#요리" in it.item["desc"]}
    assert set(ids) == tagged and len(ids) == len(set(ids)) > 10


def test_cookie_selects_the_day(demo_site):
    def first_ids(cookies):
        with httpx.Client(base_url=demo_site.base_url, cookies=cookies) as c:
            return [it["id"] for it in c.get("/api/explore/item_list/").json()["itemList"]]

    day_ids = first_ids({"demo_day": DAY.isoformat()})
    assert day_ids == [it.id for it in generate_day(DAY).sources["/explore"][: len(day_ids)]]
    other = first_ids({"demo_day": OTHER_DAY.isoformat()})
    assert other == [it.id for it in generate_day(OTHER_DAY).sources["/explore"][: len(other)]]
    assert set(day_ids).isdisjoint(other)
    today = dt.datetime.now(KST).date()
    assert first_ids({})[0] == generate_day(today).sources["/explore"][0].id


def test_bad_requests_get_a_clear_400(demo_site, client):
    with httpx.Client(base_url=demo_site.base_url, cookies={"demo_day": "yesterday"}) as c:
        r = c.get("/api/explore/item_list/")
    assert r.status_code == 400 and "demo_day" in r.json()["statusMsg"]
    r = client.get("/api/explore/item_list/", params={"cursor": "-3"})
    assert r.status_code == 400 and "cursor" in r.json()["statusMsg"]


def test_covers_are_served_as_declared(client, demo_site):
    demo = generate_day(DAY)
    first = {}
    for it in demo.all_items():
        if not it.cover.edits:
            first.setdefault(it.cover_status, it)
    url = lambda it: it.cover_path  # noqa: E731  (site-relative: the site serves covers too)
    ok = client.get(url(first["ok"]))
    assert ok.status_code == 200 and ok.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(ok.content)).size == (720, 1280)
    png = client.get(url(first["png"]))
    assert png.headers["content-type"] == "image/jpeg" and png.content.startswith(b"\x89PNG")
    Image.open(io.BytesIO(png.content)).convert("RGB")
    assert client.get(url(first["missing"])).status_code == 404
    html = client.get(url(first["html"]))
    assert html.status_code == 200 and html.headers["content-type"] == "image/jpeg"
    with pytest.raises(Image.UnidentifiedImageError):
        Image.open(io.BytesIO(html.content))
    truncated = client.get(url(first["truncated"]))
    assert truncated.status_code == 200
    with pytest.raises(OSError):
        Image.open(io.BytesIO(truncated.content)).load()
    assert client.get("/covers/2026-01-10/0000.jpg").status_code == 404
    assert client.get("/covers/not-a-day/0000.jpg").status_code == 404
    with httpx.Client(base_url=demo_site.cdn_url) as cdn:
        assert cdn.get(url(first["ok"])).content == ok.content
        assert cdn.get(url(first["missing"])).status_code == 404
        assert cdn.get("/api/explore/item_list/").status_code == 404  # the CDN serves covers only


def test_demosite_picks_free_ports_and_stops_cleanly():
    with DemoSite(port=0) as a, DemoSite(port=0) as b:
        assert len({a.base_url, b.base_url, a.cdn_url, b.cdn_url}) == 4
        assert httpx.get(a.base_url + "/").status_code == 200
        urls = [b.base_url, b.cdn_url]
    for url in urls:
        with pytest.raises(httpx.ConnectError):
            httpx.get(url + "/")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_serves_until_sigterm():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tiktok_top10.cli", "demo-site", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ})
    try:
        for _ in range(200):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/explore").status_code == 200:
                    break
            except httpx.ConnectError:
                time.sleep(0.1)
        else:
            raise AssertionError("demo-site did not come up")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
