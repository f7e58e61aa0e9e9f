"""Record a crawl as a HAR file, and crawl again from that file with no network.

A day recorded where TikTok is reachable becomes a regression test here.  Recording uses Playwright's own HAR
writer (bodies embedded); media is left out (the browser blocks it, and anything media-like that slipped
through is dropped), and the file is then stripped of what would let a reader act as the recorded session:
``Cookie``/``Set-Cookie`` headers, HAR cookie lists, and the values of ``sessionid``/``msToken``-like cookies
wherever they occur (URLs, headers, bodies).  Keep live recordings outside the repository all the same.

Replay answers every browser request from the file through ``context.route``: a request is matched on method,
path and its *stable* query parameters.  Signature and token parameters change on every request (``X-Bogus``,
``X-Gnarly``, ``_signature``, ``msToken``, ``verifyFp``; the demo site's per-load nonce stands in for them), so
an exact-URL replay would miss every feed call.  A request with no match is aborted, never sent.  Several
recorded answers to the same key are served in recorded order (reloads of a page get the hands they got).
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..storage import atomic_write_text
from .covers import CoverPolicy
from .fingerprint import IMAGE_URL_PATTERNS, MEDIA_URL_PATTERNS

log = logging.getLogger(__name__)

# Query parameters that differ on every request of the same call; compared case-insensitively.  ``_nonce`` is
# the demo site's per-load stand-in for them (include/tiktok_top10/demo/server.py).
VOLATILE_QUERY_PARAMS = frozenset({"x-bogus", "x-gnarly", "_signature", "mstoken", "verifyfp", "_nonce"})
# Cookies whose values are credentials or per-session tokens: their values are scrubbed from a recording.
SECRET_COOKIES = frozenset({"sessionid", "sessionid_ss", "sid_tt", "sid_guard", "sid_ucp_v1", "ssid_ucp_v1",
                            "uid_tt", "uid_tt_ss", "mstoken", "passport_csrf_token", "tt_csrf_token", "odin_tt"})
STRIPPED_HEADERS = frozenset({"cookie", "set-cookie"})
REDACTED = "REDACTED"
_MEDIA_MIME = ("video/", "audio/", "font/", "image/", "application/font", "application/x-font")
# Headers that described the recorded wire form, not the (decoded) body the HAR holds.
_WIRE_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding", "set-cookie"})


def request_key(method: str, url: str) -> tuple:
    """What makes two requests "the same call": method, path and the stable query parameters."""
    parts = urlsplit(url)
    stable = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                    if k.lower() not in VOLATILE_QUERY_PARAMS)
    return method.upper(), parts.path or "/", tuple(stable)


def _wildcard(pattern: str) -> re.Pattern:
    return re.compile("^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$")


_MEDIA_URL = [_wildcard(p) for p in MEDIA_URL_PATTERNS + IMAGE_URL_PATTERNS]


def _is_media(entry: dict) -> bool:
    mime = (entry.get("response", {}).get("content", {}).get("mimeType") or "").lower()
    url = entry.get("request", {}).get("url", "")
    return mime.startswith(_MEDIA_MIME) or any(p.match(url) for p in _MEDIA_URL)


def _secret_values(entries: list[dict]) -> set[str]:
    """Values of secret cookies seen anywhere in the recording (request cookies, Set-Cookie, query strings)."""
    found: set[str] = set()
    for entry in entries:
        for side in ("request", "response"):
            part = entry.get(side, {})
            for cookie in part.get("cookies", []) or []:
                if str(cookie.get("name", "")).lower() in SECRET_COOKIES and cookie.get("value"):
                    found.add(str(cookie["value"]))
            for header in part.get("headers", []) or []:
                name = header.get("name", "").lower()
                if name in STRIPPED_HEADERS:
                    for pair in re.split(r"[;,]\s*", header.get("value", "")):
                        key, _, value = pair.partition("=")
                        if key.strip().lower() in SECRET_COOKIES and value.strip():
                            found.add(value.strip())
        for key, value in parse_qsl(urlsplit(entry.get("request", {}).get("url", "")).query):
            if key.lower() in SECRET_COOKIES and value:
                found.add(value)
    return {v for v in found if len(v) >= 4}  # a 1-3 character "value" would scrub unrelated text


def sanitize_har(path: Path) -> dict:
    """Strip a recorded HAR in place (atomically): media entries, failed/blocked entries, cookie headers and
    lists, and every occurrence of a secret cookie's value.  Returns counts for the log."""
    path = Path(path)
    har = json.loads(path.read_text(encoding="utf-8"))
    entries = har.get("log", {}).get("entries", [])
    secrets = _secret_values(entries)
    kept, counts = [], Counter()
    for entry in entries:
        status = entry.get("response", {}).get("status", 0)
        if _is_media(entry):
            counts["dropped_media"] += 1
            continue
        if not status or status < 0:  # blocked by the browser or failed: nothing to replay
            counts["dropped_failed"] += 1
            continue
        for side in ("request", "response"):
            part = entry.get(side, {})
            before = len(part.get("headers", []))
            part["headers"] = [h for h in part.get("headers", []) if h.get("name", "").lower() not in STRIPPED_HEADERS]
            counts["headers_stripped"] += before - len(part["headers"])
            part["cookies"] = []
        kept.append(entry)
    har.setdefault("log", {})["entries"] = kept
    text = json.dumps(har, ensure_ascii=False)
    for value in sorted(secrets, key=len, reverse=True):
        counts["secret_values_scrubbed"] += text.count(value)
        text = text.replace(value, REDACTED)
        quoted = json.dumps(value)[1:-1]  # the same value as it appears JSON-escaped
        if quoted != value:
            text = text.replace(quoted, REDACTED)
    # token parameters in URLs are scrubbed even when no cookie carried them
    text = re.sub(r"((?:msToken|sessionid|sid_tt)=)[^&\"\s;]+", r"\1" + REDACTED, text, flags=re.I)
    counts["entries"] = len(kept)
    atomic_write_text(path, text)
    log.info("HAR %s sanitised: %s", path, dict(counts))
    return dict(counts)


class HarReplayer:
    """A ``context.route`` handler answering from a HAR file; unmatched requests are aborted and listed."""

    def __init__(self, path: Path):
        har = json.loads(Path(path).read_text(encoding="utf-8"))
        self._answers: dict[tuple, list[dict]] = {}
        for entry in har.get("log", {}).get("entries", []):
            request = entry.get("request", {})
            self._answers.setdefault(request_key(request.get("method", "GET"), request.get("url", "")), []).append(
                entry["response"])
        self._served: Counter = Counter()
        self.fulfilled = 0
        self.aborted: list[str] = []

    def answer(self, method: str, url: str) -> dict | None:
        key = request_key(method, url)
        answers = self._answers.get(key)
        if not answers:
            return None
        index = min(self._served[key], len(answers) - 1)  # past the recording: repeat its last answer
        self._served[key] += 1
        return answers[index]

    def handle(self, route) -> None:
        request = route.request
        response = self.answer(request.method, request.url)
        if response is None:
            self.aborted.append(request.url)
            route.abort("blockedbyclient")
            return
        content = response.get("content", {})
        text = content.get("text") or ""
        body = base64.b64decode(text) if content.get("encoding") == "base64" else text.encode("utf-8")
        headers = {h["name"]: h["value"] for h in response.get("headers", [])
                   if h.get("name", "").lower() not in _WIRE_HEADERS}
        self.fulfilled += 1
        route.fulfill(status=int(response.get("status") or 200), headers=headers, body=body)


class OfflineCoverPolicy(CoverPolicy):
    """Replay downloads no covers: every host is refused, so items keep ``thumbnail_error: host_not_allowed``."""

    def with_hosts(self, *urls: str) -> OfflineCoverPolicy:
        return self

    def allows(self, url: str) -> bool:
        return False


def har_summary(path: Path) -> dict[str, Any]:
    """Entry counts of a HAR by request path (for the CLI's report of what was recorded)."""
    har = json.loads(Path(path).read_text(encoding="utf-8"))
    paths = Counter(urlsplit(e["request"]["url"]).path for e in har.get("log", {}).get("entries", []))
    return {"entries": sum(paths.values()), "feed_calls": sum(n for p, n in paths.items() if p.startswith("/api/"))}
