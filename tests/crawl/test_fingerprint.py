"""What a page sees of the crawler's browser (headless and headful under Xvfb), and media blocking that keeps the
HTTP cache on: real Chromium against loopback pages."""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tiktok_top10.crawl.browser import BrowserOptions, FeedCrawler
from tiktok_top10.crawl.fingerprint import virtual_display

pytestmark = pytest.mark.browser

# The page reports what a fingerprinting script would read, in the page and in a Worker.
REPORT_PAGE = b"""<!DOCTYPE html><html><head><title>report</title></head><body><script>
(async () => {
  const d = navigator.userAgentData;
  const hints = d ? await d.getHighEntropyValues(["platform", "architecture", "fullVersionList"]) : null;
  const worker = new Worker(URL.createObjectURL(new Blob([
    "postMessage({platform: navigator.platform, ua: navigator.userAgent, " +
    "uadPlatform: navigator.userAgentData && navigator.userAgentData.platform})"])));
  const inWorker = await new Promise(resolve => { worker.onmessage = e => resolve(e.data); });
  const report = {webdriver: navigator.webdriver, platform: navigator.platform, ua: navigator.userAgent,
    brands: d ? d.brands.map(b => b.brand) : null, uadPlatform: d ? d.platform : null, mobile: d ? d.mobile : null,
    hintsPlatform: hints && hints.platform, plugins: navigator.plugins.length, languages: navigator.languages,
    worker: inWorker, windowFrame: outerHeight - innerHeight};
  await fetch("/report?data=" + encodeURIComponent(JSON.stringify(report)));
})();
</script></body></html>"""
# A page with a cacheable script, a video and an image: the script should come from the cache the second time.
CACHE_PAGE = b"""<!DOCTYPE html><html><head><title>cache</title><script src="/static/app.js"></script></head>
<body><video src="/media/clip.mp4" autoplay muted></video><img src="/covers/one.jpg" alt=""></body></html>"""


class ReportSite:
    def __init__(self):
        self.hits: Counter = Counter()
        self.reports: list[dict] = []
        self.headers: list[dict] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

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
                site.hits[parts.path] += 1
                cache = "no-store"
                if parts.path == "/report":
                    site.reports.append(json.loads(parse_qs(parts.query)["data"][0]))
                    site.headers.append({k.lower(): v for k, v in self.headers.items()})
                    body, ctype = b"{}", "application/json"
                elif parts.path == "/fingerprint":
                    body, ctype = REPORT_PAGE, "text/html"
                elif parts.path == "/cache":
                    body, ctype = CACHE_PAGE, "text/html"
                elif parts.path == "/static/app.js":
                    body, ctype, cache = b"window.appLoaded = true;", "application/javascript", "public, max-age=3600"
                elif parts.path == "/media/clip.mp4":
                    body, ctype = b"\x00" * 50_000, "video/mp4"
                elif parts.path == "/covers/one.jpg":
                    body, ctype = b"\xff\xd8\xff", "image/jpeg"
                else:
                    body, ctype = b"", "text/plain"
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", cache)
                self.end_headers()
                self.wfile.write(body)

        return Handler


@pytest.fixture
def report_site():
    site = ReportSite()
    yield site
    site.close()


FAST = dict(response_wait_s=1.0, scroll_pause_s=(0.02, 0.08), idle_scrolls=1, budget_s=60, seed=7,
            expected_region=None)


def _load(url: str, tmp_path: Path, options: BrowserOptions, reloads: int = 1):
    crawler = FeedCrawler(category="main", profile_dir=tmp_path / "profile", failures_dir=tmp_path / "failures",
                          options=options)
    return crawler.crawl([url], reloads=reloads, scrolls=0)


@pytest.mark.parametrize("headful", [False, True], ids=["headless", "headful-xvfb"])
def test_user_agent_platform_and_client_hints_agree_in_page_and_worker(report_site, tmp_path, monkeypatch, headful):
    monkeypatch.delenv("DISPLAY", raising=False)  # headful must bring its own display
    _load(report_site.url("/fingerprint"), tmp_path, BrowserOptions(headful=headful, **FAST))
    assert len(report_site.reports) == 1
    seen, headers = report_site.reports[0], report_site.headers[0]
    assert seen["webdriver"] is False
    assert "X11; Linux x86_64" in seen["ua"] and "Headless" not in seen["ua"]
    assert seen["platform"] == "Linux x86_64"
    assert seen["uadPlatform"] == seen["hintsPlatform"] == "Linux" and seen["mobile"] is False
    assert "Chromium" in seen["brands"] and not any("Headless" in b for b in seen["brands"])
    assert seen["worker"] == {"platform": seen["platform"], "ua": seen["ua"], "uadPlatform": "Linux"}
    assert headers["user-agent"] == seen["ua"] and headers["sec-ch-ua-platform"] == '"Linux"'
    assert "HeadlessChrome" not in headers.get("sec-ch-ua", "")
    assert seen["languages"][0] == "ko-KR" and seen["plugins"] > 0
    # a headed window has a frame (tabs, toolbar) around the page; headless has none: the mode really changed
    assert (seen["windowFrame"] > 0) == headful


def test_virtual_display_is_a_working_x_server_and_is_stopped_after(monkeypatch):
    with virtual_display(800, 600) as display:
        number = display.lstrip(":")
        socket_path = Path(f"/tmp/.X11-unix/X{number}")
        assert socket_path.exists()
    assert not socket_path.exists()


def test_media_is_blocked_while_static_scripts_still_come_from_the_http_cache(report_site, tmp_path):
    result = _load(report_site.url("/cache"), tmp_path, BrowserOptions(**FAST), reloads=2)
    assert result.sources[0].loads == 2
    assert report_site.hits["/cache"] == 2
    assert report_site.hits["/static/app.js"] == 1, "the second load's script must come from the HTTP cache"
    assert report_site.hits["/media/clip.mp4"] == 0 and report_site.hits["/covers/one.jpg"] == 0
    assert result.blocked_requests["media"] >= 2 and result.blocked_requests["image"] >= 2


def test_control_route_interception_would_refetch_the_script(report_site, tmp_path):
    """Why route() is not used for blocking: with it, the same two loads fetch the script twice."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        context = browser.new_context()
        context.route("**/*.mp4", lambda route: route.abort())
        page = context.new_page()
        for _ in range(2):
            page.goto(report_site.url("/cache"), wait_until="load")
        browser.close()
    assert report_site.hits["/static/app.js"] == 2
