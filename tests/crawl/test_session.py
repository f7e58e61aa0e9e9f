"""Login cookies into the persistent profile (only where missing), "logged in", and the proxy with credentials:
real Chromium against loopback servers."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from tiktok_top10.config import Settings
from tiktok_top10.crawl.browser import BrowserOptions, FeedCrawler
from tiktok_top10.crawl.session import (
    cookies_from_connection,
    has_session,
    missing_cookies,
    profile_has_session,
    proxy_settings,
)
from tiktok_top10.crawl.stage import browser_options

from .hostile_site import raw_item, video_id

pytestmark = pytest.mark.browser

FEED_PAGE = b"""<!DOCTYPE html><html><head><title>explore</title></head><body><div id="feed"></div><script>
fetch("/api/explore/item_list/?count=3").then(r => r.json()).then(b => {
  document.getElementById("feed").textContent = b.itemList.length + " items";
});
</script></body></html>"""
FEED = json.dumps({"statusCode": 0, "itemList": [raw_item(n) for n in range(3)], "hasMore": False,
                   "cursor": "3"}).encode()


class TikTokLike:
    """Serves a one-page feed; records every Cookie header; rotates ``msToken`` like TikTok (a fresh value in a
    Set-Cookie on the page)."""

    def __init__(self, *, as_proxy_for: str | None = None, proxy_auth: str | None = None):
        self.cookies: list[str] = []
        self.requests: list[tuple[str, bool]] = []  # (path, authenticated) as the proxy saw them
        self.as_proxy_for = as_proxy_for
        self.proxy_auth = proxy_auth
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if site.as_proxy_for is not None:
                    # an HTTP proxy gets absolute URLs; this one answers for one made-up host itself
                    authed = self.headers.get("Proxy-Authorization") == "Basic " + site.proxy_auth
                    site.requests.append((parts.path, authed))
                    if not authed:
                        self.send_response(407)
                        self.send_header("Proxy-Authenticate", 'Basic realm="crawl"')
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    if parts.hostname != site.as_proxy_for:
                        self.send_error(502, "this test proxy reaches nothing else")
                        return
                site.cookies.append(self.headers.get("Cookie", ""))
                if parts.path == "/api/explore/item_list/":
                    body, ctype, extra = FEED, "application/json", {}
                elif parts.path == "/explore":
                    body, ctype = FEED_PAGE, "text/html; charset=utf-8"
                    extra = {"Set-Cookie": f"msToken=fresh{len(site.cookies)}; Path=/; Max-Age=86400"}
                else:
                    body, ctype, extra = b"", "text/plain", {}
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for key, value in extra.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

        return Handler


@pytest.fixture
def tiktok_like():
    site = TikTokLike()
    yield site
    site.close()


FAST = dict(response_wait_s=1.0, scroll_pause_s=(0.02, 0.08), idle_scrolls=1, budget_s=60, seed=7, expected_region=None)


def _crawl(url: str, tmp_path, **kwargs):
    crawler = FeedCrawler(category="main", profile_dir=tmp_path / "profile", failures_dir=tmp_path / "failures",
                          options=kwargs.pop("options", BrowserOptions(**FAST)), **kwargs)
    return crawler.crawl([url], reloads=1, scrolls=0)


def _jar(header: str) -> dict[str, str]:
    return dict(part.strip().split("=", 1) for part in header.split(";") if "=" in part)


def test_connection_cookies_are_added_only_where_the_profile_lacks_them(tiktok_like, tmp_path):
    expires = time.time() + 30 * 86400
    connection = cookies_from_connection(
        "sessionid=sess-A; msToken=from-connection", {"cookies": [{"name": "sid_tt", "value": "sid-B",
                                                                   "expirationDate": expires}]},
        default_domain="127.0.0.1")
    connection = [{**c, "expires": expires} for c in connection]  # persistent, as exported from a browser
    assert has_session(connection) and not profile_has_session(tmp_path / "profile", "127.0.0.1")

    first = _crawl(f"{tiktok_like.url}/explore", tmp_path, session_cookies=connection)
    assert first.logged_in is True and {i.id for i in first.items} == {video_id(n) for n in range(3)}
    sent = _jar(tiktok_like.cookies[0])
    assert sent["sessionid"] == "sess-A" and sent["sid_tt"] == "sid-B" and sent["msToken"] == "from-connection"
    # the site rotated msToken on the page; the feed request already carried the fresh one
    assert _jar(tiktok_like.cookies[1])["msToken"] == "fresh1"
    assert profile_has_session(tmp_path / "profile", "127.0.0.1")  # read from the profile's cookie store, no browser

    tiktok_like.cookies.clear()
    again = [*connection, {"name": "sid_guard", "value": "guard-C", "domain": "127.0.0.1", "path": "/",
                           "expires": expires}]
    second = _crawl(f"{tiktok_like.url}/explore", tmp_path, session_cookies=again)
    assert second.logged_in is True
    sent = _jar(tiktok_like.cookies[0])
    assert sent["msToken"] == "fresh1", "the profile's fresh msToken must not be overwritten by the connection's"
    assert sent["sessionid"] == "sess-A" and sent["sid_guard"] == "guard-C"  # the new one was added


def test_without_a_session_cookie_the_browser_is_not_logged_in(tiktok_like, tmp_path):
    result = _crawl(f"{tiktok_like.url}/explore", tmp_path,
                    session_cookies=cookies_from_connection("only-a-token", None, default_domain="127.0.0.1"))
    assert result.logged_in is False
    assert _jar(tiktok_like.cookies[0])["msToken"] == "only-a-token"  # the earlier releases' password form
    assert not profile_has_session(tmp_path / "profile", "127.0.0.1")


@pytest.mark.parametrize("password, extra, expected", [
    ("sessionid=a; sid_tt=b", None, {"sessionid": "a", "sid_tt": "b"}),
    ("Cookie: sessionid=a;msToken=t", None, {"sessionid": "a", "msToken": "t"}),
    ("tok", '{"cookies": "sessionid=s"}', {"sessionid": "s", "msToken": "tok"}),
    (json.dumps([{"name": "sessionid", "value": "x", "domain": ".tiktok.com", "sameSite": "no_restriction",
                  "expirationDate": 2000000000.5}]), None, {"sessionid": "x"}),
    (None, {"cookies": [{"name": "sid_tt", "value": "y"}]}, {"sid_tt": "y"}),
])
def test_connection_forms_parse_into_playwright_cookies(password, extra, expected):
    cookies = cookies_from_connection(password, extra)
    assert {c["name"]: c["value"] for c in cookies} == expected
    assert all(c["domain"] == ".tiktok.com" and c["path"] == "/" for c in cookies)
    playwright_keys = {"name", "value", "domain", "path", "expires", "httpOnly", "secure", "sameSite"}
    assert all(set(c) <= playwright_keys for c in cookies)
    exported = [c for c in cookies if "sameSite" in c]
    assert all(c["sameSite"] == "None" and c["secure"] and c["expires"] == 2000000000.5 for c in exported)


def test_missing_cookies_keeps_the_profiles_copy_unless_it_expired():
    profile = [{"name": "msToken", "value": "fresh", "domain": ".tiktok.com", "path": "/",
                "expires": time.time() + 60},
               {"name": "sid_tt", "value": "old", "domain": "www.tiktok.com", "path": "/", "expires": time.time() - 60}]
    incoming = [{"name": "msToken", "value": "stale", "domain": "tiktok.com", "path": "/"},
                {"name": "sid_tt", "value": "new", "domain": "www.tiktok.com", "path": "/"},
                {"name": "sessionid", "value": "s", "domain": ".tiktok.com", "path": "/"}]
    assert [c["value"] for c in missing_cookies(profile, incoming)] == ["new", "s"]


def test_proxy_settings_split_credentials_out_of_the_server_url():
    assert proxy_settings("") is None
    legacy = proxy_settings("http://kr%40user:p%3Ass@10.0.0.1:3128")
    assert legacy.for_playwright() == {"server": "http://10.0.0.1:3128", "username": "kr@user", "password": "p:ss"}
    assert "p:ss" not in repr(legacy)
    assert proxy_settings("10.0.0.1:3128").for_playwright() == {"server": "http://10.0.0.1:3128"}
    with pytest.raises(ValueError, match="given twice"):
        proxy_settings("http://u:p@h:1", "u", "p")
    with pytest.raises(ValueError, match="must look like"):
        proxy_settings("ftp://h:1")
    with pytest.raises(ValueError, match="must not contain credentials") as caught:
        Settings(proxy_server="http://u:secret@h:1").validated()
    assert "secret" not in str(caught.value)
    settings = Settings(proxy_server="http://h:1", proxy_username="u", proxy_password="secret").validated()
    assert "secret" not in repr(settings)


@pytest.mark.parametrize("form", ["typed", "legacy-url"])
def test_page_loads_go_through_the_proxy_with_its_credentials(tmp_path, monkeypatch, form):
    """Chromium talks to the proxy with Basic credentials (after its 407 challenge) for the page and its feed.
    The made-up host is answered by the proxy itself, so nothing leaves loopback."""
    proxy = TikTokLike(as_proxy_for="tiktok.test", proxy_auth=base64.b64encode(b"kr-user:s3cret").decode())
    try:
        port = proxy.server.server_port
        if form == "typed":
            settings = Settings(proxy_server=f"http://127.0.0.1:{port}", proxy_username="kr-user",
                                proxy_password="s3cret").validated()
        else:  # the earlier releases' single URL with the credentials inside: Settings splits it
            for name in ("SERVER", "USERNAME", "PASSWORD"):
                monkeypatch.delenv(f"TIKTOK_TOP10_PROXY_{name}", raising=False)
            monkeypatch.setenv("TIKTOK_TOP10_CRAWL_PROXY", f"http://kr-user:s3cret@127.0.0.1:{port}")
            settings = Settings.from_env()
            assert (settings.proxy_server, settings.proxy_username) == (f"http://127.0.0.1:{port}", "kr-user")
        options = browser_options(settings, **FAST)
        assert options.proxy.for_playwright() == {"server": f"http://127.0.0.1:{port}", "username": "kr-user",
                                                  "password": "s3cret"}
        result = _crawl("http://tiktok.test/explore", tmp_path, options=options)
        assert {i.id for i in result.items} == {video_id(n) for n in range(3)}
        authed = {path for path, ok in proxy.requests if ok}
        assert {"/explore", "/api/explore/item_list/"} <= authed
    finally:
        proxy.close()


def test_a_wrong_proxy_password_loads_nothing(tmp_path):
    proxy = TikTokLike(as_proxy_for="tiktok.test", proxy_auth=base64.b64encode(b"kr-user:s3cret").decode())
    try:
        options = browser_options(Settings(proxy_server=f"http://127.0.0.1:{proxy.server.server_port}",
                                           proxy_username="kr-user", proxy_password="wrong").validated(), **FAST)
        result = _crawl("http://tiktok.test/explore", tmp_path, options=options)
        assert result.items == [] and result.sources[0].failed_loads == 1
        assert proxy.requests and not any(ok for _, ok in proxy.requests)
    finally:
        proxy.close()


@pytest.fixture(scope="module")
def gated_demo():
    """The demo site with its search gated for visitors without a ``sessionid`` cookie, as TikTok's often is."""
    from tiktok_top10.demo import DemoSite

    with DemoSite(port=0, search_requires_login=True) as site:
        yield site


def _crawl_cli(site, tmp_path, monkeypatch, out: str, session: str) -> dict:
    from tiktok_top10.crawl.cli import cli_main
    from tiktok_top10.storage import read_json

    monkeypatch.setenv("TIKTOK_TOP10_DEMO_URL", site.base_url)
    monkeypatch.setenv("TIKTOK_TOP10_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("TIKTOK_TOP10_SESSION_COOKIES", session)
    code = cli_main(["tts", "--out", str(tmp_path / out), "--day", "2026-01-10", "--min-views", "5000000",
                     "--profile-dir", str(tmp_path / f"profile-{out}")])
    assert code == 0
    return read_json(tmp_path / out / "crawl_summary.json")


def test_logged_out_crawl_skips_login_only_sources_and_counts_them(gated_demo, tmp_path, monkeypatch):
    summary = _crawl_cli(gated_demo, tmp_path, monkeypatch, "out", "msToken=t")
    assert summary["logged_in"] is False and summary["items_kept"] > 0
    assert summary["sources_skipped"] == summary["sources_skipped_login_required"] == 2
    records = {r["path"]: r for r in summary["per_source"]}
    assert [r["skipped"] for r in records.values()] == [None, None, "login_required", "login_required"]
    assert all(r["crawled"] and r["loads"] == 1 and r["items"] > 0 for r in summary["per_source"][:2])
    # the operator's per-source record names every feed envelope's statusCode it saw (the demo answers 0: ok)
    assert all(r["status_codes"] == {"0": r["feed_responses"]} and r["feed_responses"] > 0
               for r in summary["per_source"][:2])
    assert "responses_status_10102" not in summary  # the gated search was never requested


def test_logged_in_crawl_uses_the_login_only_sources_too(gated_demo, tmp_path, monkeypatch):
    summary = _crawl_cli(gated_demo, tmp_path, monkeypatch, "in", "sessionid=demo-session; msToken=t")
    assert summary["logged_in"] is True and summary["sources_skipped"] == 0
    searches = [r for r in summary["per_source"] if r["kind"] == "search"]
    assert len(searches) == 2 and all(r["crawled"] and r["items"] > 0 and r["skipped"] is None for r in searches)


def test_logged_in_counts_only_session_cookies_for_the_crawled_site(tmp_path):
    from tiktok_top10.crawl.stage import is_logged_in

    tiktok = [{"name": "sessionid", "value": "x", "domain": ".tiktok.com", "path": "/"}]
    www = [{"name": "sid_tt", "value": "x", "domain": "www.tiktok.com", "path": "/"}]
    demo = [{"name": "sessionid", "value": "x", "url": "http://127.0.0.1:8765/"}]
    token_only = [{"name": "msToken", "value": "t", "domain": ".tiktok.com", "path": "/"}]
    live, local = Settings(source="tiktok"), Settings(source="demo", demo_url="http://127.0.0.1:8765")
    profile = tmp_path / "no-profile"
    assert is_logged_in(live, tiktok, profile) and is_logged_in(live, www, profile)
    assert not is_logged_in(live, token_only, profile) and not is_logged_in(live, demo, profile)
    assert is_logged_in(local, demo, profile) and not is_logged_in(local, tiktok, profile)
