"""Record a crawl of the demo site as a HAR, stop the site, and crawl again from the file with no network."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest

from tiktok_top10.crawl.cli import cli_main
from tiktok_top10.crawl.har import VOLATILE_QUERY_PARAMS, HarReplayer, request_key, sanitize_har
from tiktok_top10.demo import DemoSite
from tiktok_top10.storage import read_json, read_jsonl

pytestmark = pytest.mark.browser

DAY = dt.date(2026, 1, 10)


class Trap:
    """Listens where the demo site was: any request reaching it left the browser."""

    def __init__(self, port: int):
        self.hits: Counter = Counter()
        trap = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                trap.hits[self.path] += 1
                self.send_error(418)

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _crawl(tmp_path, monkeypatch, base_url: str, out: str, *extra: str) -> tuple[int, dict]:
    monkeypatch.setenv("TIKTOK_TOP10_DEMO_URL", base_url)
    monkeypatch.setenv("TIKTOK_TOP10_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("TIKTOK_TOP10_SESSION_COOKIES", "msToken=SECRET-TOKEN-4711")
    code = cli_main(["tts", "--out", str(tmp_path / out), "--day", DAY.isoformat(), "--min-views", "3000000",
                     "--profile-dir", str(tmp_path / f"profile-{out}"), *extra])
    summary = read_json(tmp_path / out / "crawl_summary.json") if code == 0 else {}
    return code, summary


def test_record_stop_the_site_and_replay_the_same_items_with_nothing_leaving_the_browser(tmp_path, monkeypatch):
    har = tmp_path / "live" / "tts.har"
    with DemoSite(port=0) as site:
        base_url, port, cdn_port = site.base_url, site.port, site.cdn_port
        code, recorded = _crawl(tmp_path, monkeypatch, base_url, "recorded", "--record-har", str(har))
        assert code == 0
    recorded_ids = [row["id"] for row in read_jsonl(tmp_path / "recorded" / "items.jsonl")]
    assert len(recorded_ids) >= 10

    text = har.read_text(encoding="utf-8")
    entries = json.loads(text)["log"]["entries"]
    assert "SECRET-TOKEN-4711" not in text  # the token was in every request's Cookie header
    assert not any(h["name"].lower() in {"cookie", "set-cookie"}
                   for e in entries for side in ("request", "response") for h in e[side]["headers"])
    assert not any(e["response"]["content"].get("mimeType", "").startswith(("video/", "image/", "font/"))
                   for e in entries)
    feeds = [e["request"]["url"] for e in entries if urlsplit(e["request"]["url"]).path.startswith("/api/")]
    assert feeds and all(e["response"]["status"] == 200 for e in entries if e["request"]["url"] in feeds)
    # the demo's feed URLs carry a per-load nonce (a stand-in for X-Bogus & co.): replay must ignore it
    nonces = {k for url in feeds for k, _ in parse_qsl(urlsplit(url).query) if k.lower() in VOLATILE_QUERY_PARAMS}
    assert nonces, "the demo's feed URLs should carry a volatile per-load parameter"

    traps = [Trap(port), Trap(cdn_port)]
    try:
        code, replayed = _crawl(tmp_path, monkeypatch, base_url, "replayed", "--replay-har", str(har))
    finally:
        for trap in traps:
            trap.close()
    assert code == 0
    assert [row["id"] for row in read_jsonl(tmp_path / "replayed" / "items.jsonl")] == recorded_ids
    assert sum(trap.hits.total() for trap in traps) == 0, [dict(t.hits) for t in traps]
    assert replayed["har_replay"]["fulfilled"] >= len(feeds)
    assert replayed["items_seen"] == recorded["items_seen"]
    # no covers in a replay: none were downloaded, every item says why
    assert replayed["covers_downloaded"] == 0
    assert {row["thumbnail_error"] for row in read_jsonl(tmp_path / "replayed" / "items.jsonl")} == {"host_not_allowed"}


def test_exact_url_matching_would_miss_the_feed_calls(tmp_path, monkeypatch):
    """The reason for matching on stable parameters: a later load's feed URLs differ from the recorded ones."""
    har = tmp_path / "tts.har"
    with DemoSite(port=0) as site:
        assert _crawl(tmp_path, monkeypatch, site.base_url, "first", "--record-har", str(har))[0] == 0
        second = tmp_path / "second.har"
        assert _crawl(tmp_path, monkeypatch, site.base_url, "second", "--record-har", str(second))[0] == 0
    first_urls = {e["request"]["url"] for e in json.loads(har.read_text())["log"]["entries"]
                  if "/api/" in e["request"]["url"]}
    second_urls = [e["request"]["url"] for e in json.loads(second.read_text())["log"]["entries"]
                   if "/api/" in e["request"]["url"]]
    assert second_urls and not (set(second_urls) & first_urls)  # exact URLs never repeat
    replayer = HarReplayer(har)
    assert all(replayer.answer("GET", url) is not None for url in second_urls)  # stable keys do


def test_request_key_ignores_signatures_and_tokens_only():
    a = request_key("get", "https://www.tiktok.com/api/challenge/item_list/?challengeID=1&cursor=30&count=30"
                           "&X-Bogus=abc&msToken=t1&_signature=s&X-Gnarly=g&verifyFp=v")
    b = request_key("GET", "https://www.tiktok.com/api/challenge/item_list/?count=30&cursor=30&challengeID=1"
                           "&X-Bogus=zzz&msToken=t2")
    assert a == b == ("GET", "/api/challenge/item_list/", (("challengeID", "1"), ("count", "30"), ("cursor", "30")))
    assert request_key("GET", "https://www.tiktok.com/api/challenge/item_list/?challengeID=1&cursor=60") != a


def test_sanitize_strips_cookies_and_secret_values_everywhere(tmp_path):
    secret_session, secret_token = "sess-0123456789", "tok-ABCDEFGH"
    har = {"log": {"entries": [
        {"request": {"method": "GET", "url": f"https://www.tiktok.com/api/explore/item_list/?msToken={secret_token}",
                     "headers": [{"name": "Cookie", "value": f"sessionid={secret_session}; msToken={secret_token}"},
                                 {"name": "Referer", "value": "https://www.tiktok.com/explore"}],
                     "cookies": [{"name": "sessionid", "value": secret_session}]},
         "response": {"status": 200, "headers": [{"name": "Set-Cookie", "value": f"msToken={secret_token}x; Path=/"}],
                      "cookies": [], "content": {"mimeType": "application/json",
                                                 "text": json.dumps({"echo": secret_session})}}},
        {"request": {"method": "GET", "url": "https://v16-webapp.tiktok.com/video/tos/abc/?mime_type=video_mp4",
                     "headers": [], "cookies": []},
         "response": {"status": 206, "headers": [], "cookies": [], "content": {"mimeType": "video/mp4"}}},
        {"request": {"method": "GET", "url": "https://www.tiktok.com/blocked.js", "headers": [], "cookies": []},
         "response": {"status": 0, "headers": [], "cookies": [], "content": {}}},
    ]}}
    path = tmp_path / "x.har"
    path.write_text(json.dumps(har))
    counts = sanitize_har(path)
    text = path.read_text()
    assert secret_session not in text and secret_token not in text
    entries = json.loads(text)["log"]["entries"]
    assert len(entries) == 1 and counts["dropped_media"] == 1 and counts["dropped_failed"] == 1
    assert [h["name"] for h in entries[0]["request"]["headers"]] == ["Referer"]
    assert entries[0]["response"]["headers"] == [] and entries[0]["request"]["cookies"] == []
    assert "msToken=REDACTED" in entries[0]["request"]["url"]


def test_replayer_serves_repeats_in_recorded_order_and_aborts_the_unknown(tmp_path):
    def entry(cursor, body):
        return {"request": {"method": "GET", "url": f"http://x/api/explore/item_list/?cursor={cursor}&X-Bogus={body}"},
                "response": {"status": 200, "headers": [{"name": "Content-Type", "value": "application/json"}],
                             "content": {"text": base64.b64encode(body.encode()).decode(), "encoding": "base64"}}}
    path = tmp_path / "r.har"
    path.write_text(json.dumps({"log": {"entries": [entry(0, "first"), entry(0, "second"), entry(16, "third")]}}))
    replayer = HarReplayer(path)
    texts = [replayer.answer("GET", "http://y/api/explore/item_list/?cursor=0&X-Bogus=new")["content"]["text"]
             for _ in range(3)]
    assert [base64.b64decode(t).decode() for t in texts] == ["first", "second", "second"]
    assert replayer.answer("GET", "http://y/api/explore/item_list/?cursor=32") is None
