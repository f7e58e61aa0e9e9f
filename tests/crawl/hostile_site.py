"""A loopback "hostile TikTok" for the crawler's tests: a feed page with infinite scroll whose XHRs answer in
TikTok's envelopes, and scenario switches that reproduce the failures public scrapers report (empty bodies,
captcha after N scrolls, status codes 10000/10102/10113/10114/10204, ``type: verify``, bot-wall 403, empty
feeds) plus misbehaving cover hosts (429/5xx, an endless body, a redirect off the allow-list, a PNG named .jpg,
HTML named .jpg, a trickle).

``/page/<scenario>`` serves the behaviours of the live page (../shared/DESIGN.md): full-viewport ("tall") cards
8 to a page, a ``<main>`` scroller, ``hasMore: false`` on a full page, the first screen only in
``__UNIVERSAL_DATA_FOR_REHYDRATION__`` (removed from the DOM after load), a login modal, a "Refresh" panel after a
failed feed request, a "Please wait..." firewall page that reloads itself, a redirect to ``/login``, photo posts,
and another region than KR.

Standard library only (ThreadingHTTPServer), so a stuck handler cannot block the others.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from PIL import Image

BASE_ID = 7_400_000_000_000_000_000
PAGE_SIZE = 10
PAGES = 4


def video_id(n: int) -> str:
    return str(BASE_ID + n)


def cover_bytes(n: int, fmt: str = "JPEG") -> bytes:
    """A small real image, distinct per n."""
    color = ((n * 37) % 256, (n * 91) % 256, 120, 255)[: 3 if fmt == "JPEG" else 4]
    image = Image.new("RGB" if fmt == "JPEG" else "RGBA", (72, 128), color)
    for x in range(0, 72, 8):
        for y in range(128):
            image.putpixel((x, y), (255, 255, 255) if fmt == "JPEG" else (255, 255, 255, 128))
    buf = io.BytesIO()
    image.save(buf, fmt)
    return buf.getvalue()


def raw_item(n: int, *, cover_mode: str = "ok", views: int | None = None) -> dict:
    vid = video_id(n)
    plays = views if views is not None else 200_000 + n * 1_000
    return {
        "id": vid,
        "desc": f"영상 {n} #틱톡 #fyp",
        "createTime": 1_767_000_000 + n,
        "author": {"id": str(900 + n), "uniqueId": f"creator{n}", "nickname": f"크리에이터{n}", "verified": False},
        # rounded ints in stats, exact strings in statsV2 (TikTok sends both; statsV2 wins)
        "stats": {"playCount": round(plays, -5), "diggCount": 1000 + n, "shareCount": 1, "commentCount": 2},
        "statsV2": {"playCount": str(plays), "diggCount": str(1000 + n), "shareCount": "1", "commentCount": "2"},
        "video": {"cover": f"/covers/{cover_mode}/{vid}.jpg", "playAddr": f"/media/{vid}.mp4", "duration": 15},
        "textLanguage": "ko",
        "isAd": False,
    }


def photo_item(n: int, *, empty_video: bool = True) -> dict:
    """A photo post: ``imagePost`` with its cover, ``video`` empty (or with an empty cover)."""
    item = raw_item(n)
    cover = {"imageURL": {"urlList": [f"/covers/ok/{item['id']}.jpg", "https://p16-sign.example/x.jpg"]}}
    item["video"] = {} if empty_video else {"cover": "", "duration": 0}
    item["imagePost"] = {"images": [cover, cover], "cover": cover, "title": f"사진 {n}"}
    return item


def feed_page(cursor: int) -> dict:
    """Page ``cursor`` of the standard feed, each in a different envelope and with one oddity each."""
    start = cursor * PAGE_SIZE
    items = [raw_item(n) for n in range(start, start + PAGE_SIZE)]
    more = cursor < PAGES - 1
    if cursor == 0:
        items[1] = {**items[1], "isAd": True}  # ad: skipped
        items[2] = {k: v for k, v in items[2].items() if k not in ("stats", "statsV2")}  # malformed: no stats
        items[3] = raw_item(3, views=5_000)  # below min views
        items[4] = raw_item(4, cover_mode="404")  # cover fails: kept with thumbnail_error
        items[5] = raw_item(5, cover_mode="png")  # PNG named .jpg
        return {"statusCode": 0, "itemList": items, "hasMore": more, "cursor": str(cursor + 1)}
    if cursor == 1:
        items[0] = {**items[0], "id": "not-a-number"}  # malformed: bad id
        items[1] = raw_item(0, views=999_999)  # same video again, fresher counters: dedup keeps this one
        return {"status_code": 0, "item_list": items, "has_more": int(more), "cursor": cursor + 1}
    if cursor == 2:
        data = [{"type": 1, "item": it} for it in items]
        data.insert(3, {"type": 4, "user_list": [{"uniqueId": "someone"}]})  # non-video search entry
        return {"status_code": 0, "data": data, "has_more": int(more), "cursor": cursor + 1}
    return {"statusCode": 0, "itemList": items, "hasMore": more, "cursor": str(cursor + 1)}


FEED_HTML = """<!doctype html>
<html lang="ko"><head><meta charset="utf-8"><title>TikTok - Make Your Day</title>
<style>@font-face {{ font-family: tt; src: url(/media/font.woff2); }} body {{ font-family: tt, sans-serif; }}
.item {{ height: 420px; border: 1px solid #ccc; }}</style></head>
<body><div id="list"></div><div style="height: 1200px"></div>
<video src="/media/clip.mp4" autoplay muted playsinline></video>
<script>
const scenario = {scenario!r}, captchaAfter = {captcha_after};
let cursor = 0, loading = false, more = true, calls = 0;
async function load() {{
  if (loading || !more) return;
  loading = true; calls++;
  if (captchaAfter >= 0 && calls > captchaAfter) {{
    document.body.insertAdjacentHTML("afterbegin",
      '<div id="captcha-verify-container-main-page">드래그하여 퍼즐을 맞추세요</div>');
    more = false; loading = false; return;
  }}
  try {{
    const r = await fetch(`/api/recommend/item_list/?scenario=${{scenario}}&cursor=${{cursor}}&count=10`);
    const text = await r.text();
    let data = null; try {{ data = JSON.parse(text); }} catch (e) {{}}
    cursor += 1;  // an empty body loses that page, as on TikTok; the next scroll asks for the next one
    if (data) {{
      more = Boolean(data.hasMore ?? data.has_more);
      const list = data.itemList || data.item_list || (data.data || []).map(e => e.item).filter(Boolean);
      for (const it of list) {{
        const d = document.createElement("div"); d.className = "item"; d.textContent = it.desc || "";
        document.getElementById("list").appendChild(d);
      }}
    }}
  }} finally {{ loading = false; }}
}}
window.addEventListener("wheel", () => load(), {{passive: true}});
load();
</script></body></html>
"""

WALL_HTML = "<!doctype html><html><head><title>Access Denied</title></head><body>Access Denied</body></html>"


class HostileSite:
    """``with HostileSite() as site: site.url("/feed/ok")``. Counts every request in ``site.hits``."""

    def __init__(self) -> None:
        self.hits: Counter = Counter()  # path -> requests
        self.hosts: Counter = Counter()  # Host header -> requests
        self.cookies: list[str] = []  # Cookie headers of feed XHRs
        self.bytes_sent: Counter = Counter()  # path prefix -> body bytes
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def __enter__(self) -> HostileSite:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

            def _send(self, status: int, body: bytes, ctype: str, headers: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)
                with site._lock:
                    site.bytes_sent[self.path.split("/")[1]] += len(body)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                with site._lock:
                    site.hits[parts.path] += 1
                    site.hosts[self.headers.get("Host", "").split(":")[0]] += 1
                segments = parts.path.strip("/").split("/")
                try:
                    if segments[0] in ("feed", "tag"):  # /tag/<scenario> lets sources.json pick a scenario
                        return self._feed(segments[1])
                    if segments[0] in ("discover", "explore", "search"):
                        return self._feed("ok")
                    if parts.path == "/api/recommend/item_list/":
                        with site._lock:
                            site.cookies.append(self.headers.get("Cookie", ""))
                        return self._api(parse_qs(parts.query))
                    if segments[0] == "page":
                        return self._live_page(segments[1], parts.query)
                    if parts.path == "/api/live/item_list/":
                        return self._live_api(parse_qs(parts.query))
                    if parts.path == "/login":
                        return self._send(200, b"<!doctype html><title>Log in | TikTok</title>", "text/html")
                    if segments[0] == "covers":
                        return self._cover(segments[1], segments[2], parts.path)
                    if segments[0] == "media":
                        return self._send(200, b"\x00" * 256_000, "video/mp4")
                except (BrokenPipeError, ConnectionResetError):
                    return
                self._send(404, b"not found", "text/plain")

            def _feed(self, scenario: str) -> None:
                if scenario == "wall":
                    return self._send(403, WALL_HTML.encode(), "text/html; charset=utf-8")
                captcha_after = int(scenario.split("-")[1]) if scenario.startswith("captcha-") else -1
                html = FEED_HTML.format(scenario=scenario, captcha_after=captcha_after)
                self._send(200, html.encode(), "text/html; charset=utf-8")

            def _api(self, query: dict) -> None:
                scenario = query.get("scenario", ["ok"])[0]
                cursor = int(query.get("cursor", ["0"])[0])
                if scenario == "empty-some" and cursor in (1, 2):
                    return self._send(200, b"", "application/json")  # TikTok's intermittent empty 200
                if scenario.startswith("status-") and (cursor >= 1 or scenario == "status-10204"):
                    # 10204 (VIDEO_NOT_EXIST) from the first page: a list with nothing there
                    payload = {"statusCode": int(scenario[7:]), "statusMsg": "", "itemList": []}
                elif scenario == "verify" and cursor >= 1:
                    payload = {"type": "verify", "verifyConfig": {"code": "10000", "subtype": "slide"}}
                elif scenario == "empty":
                    payload = {"statusCode": 0, "itemList": [], "hasMore": False}
                elif cursor < PAGES:
                    payload = feed_page(cursor)
                else:
                    payload = {"statusCode": 0, "itemList": [], "hasMore": False}
                self._send(200, json.dumps(payload, ensure_ascii=False).encode(), "application/json")

            def _live_page(self, scenario: str, query: str) -> None:
                if scenario not in LIVE_SCENARIOS:
                    return self._send(404, b"unknown scenario", "text/plain")
                if scenario == "login":
                    return self._send(302, b"", "text/plain", {"Location": f"/login?redirect_url=/page/{scenario}"})
                if scenario.startswith("firewall") and "waf_ok=1" not in self.headers.get("Cookie", ""):
                    solves = scenario == "firewall"
                    return self._send(200, firewall_html(solves).encode(), "text/html; charset=utf-8")
                self._send(200, live_page_html(scenario).encode(), "text/html; charset=utf-8")

            def _live_api(self, query: dict) -> None:
                scenario = query.get("scenario", ["tall"])[0]
                cursor = int(query.get("cursor", ["0"])[0])
                attempt = int(query.get("attempt", ["0"])[0])
                if LIVE_SCENARIOS.get(scenario, {}).get("refresh") and attempt == 0:
                    return self._send(500, b"upstream error", "text/plain")  # the page shows its Refresh panel
                self._send(
                    200, json.dumps(live_feed(scenario, cursor), ensure_ascii=False).encode(), "application/json"
                )

            def _cover(self, mode: str, name: str, path: str) -> None:
                n = int(name.split(".")[0]) - BASE_ID if name.split(".")[0].isdigit() else 0
                count = site.hits[path]
                if mode == "ok":
                    return self._send(200, cover_bytes(n), "image/jpeg")
                if mode == "png":
                    return self._send(200, cover_bytes(n, "PNG"), "image/jpeg")  # lies, like real covers do
                if mode == "html":
                    return self._send(200, b"<html>login required</html>", "image/jpeg")
                if mode == "truncated":
                    data = cover_bytes(n)
                    return self._send(200, data[: len(data) // 2], "image/jpeg")
                if mode in ("429", "500", "503", "404"):
                    return self._send(int(mode), b"no", "text/plain", {"Retry-After": "0"})
                if mode.startswith("flaky"):  # flaky429-2: 429 for the first 2 requests of this path, then OK
                    status, times = mode[5:].split("-")
                    if count <= int(times):
                        return self._send(int(status), b"later", "text/plain", {"Retry-After": "0"})
                    return self._send(200, cover_bytes(n), "image/jpeg")
                if mode == "redirect-ok":
                    return self._send(302, b"", "text/plain", {"Location": f"/covers/ok/{name}"})
                if mode == "redirect-away":  # "localhost" is still loopback, but not an allowed host
                    return self._send(302, b"", "text/plain", {"Location": f"http://localhost:{site.port}/covers/ok/{name}"})
                if mode == "declared-huge":
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.send_header("Content-Length", str(500 * 1024 * 1024))
                    self.end_headers()
                    self.wfile.write(cover_bytes(n)[:100])
                    return
                if mode in ("endless", "trickle"):  # no Content-Length, close-delimited body that never ends
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(cover_bytes(n)[:200])
                    chunk = b"\x00" * (65536 if mode == "endless" else 1)
                    deadline = time.monotonic() + 60
                    while time.monotonic() < deadline:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        if mode == "trickle":
                            time.sleep(0.2)
                    return
                self._send(404, b"unknown cover mode", "text/plain")

        return Handler


# --- the live page's behaviours -------------------------------------------------------------------------------

LIVE_COUNT = 8  # items per request (the request's ``count``): a page of 8 is a full page
# scenario -> page traits.  pages: feed pages of LIVE_COUNT items; tall: cards as high as the viewport;
# main: the feed scrolls inside <main> (body overflow hidden), as TikTok's search grid does; ssr: the first page
# only in __UNIVERSAL_DATA_FOR_REHYDRATION__; no_more: every page says hasMore false, the page asks again anyway
# (pytok: throttling, not the end); modal / refresh: a login modal / a failed first request; region: the region
# the page's data (and API URLs) say.
LIVE_SCENARIOS: dict[str, dict] = {
    "tall": {"pages": 2, "tall": True},
    "main-tall": {"pages": 2, "tall": True, "main": True},
    "ssr-tall": {"pages": 2, "tall": True, "ssr": True},
    "tall-no-more": {"pages": 2, "tall": True, "no_more": True},
    "tall-one": {"pages": 1, "tall": True},
    "ssr-only": {"pages": 1, "ssr": True, "feed": False},
    "modal": {"pages": 2, "modal": True},
    "refresh": {"pages": 2, "refresh": True},
    "firewall": {"pages": 2},
    "firewall-stuck": {"pages": 2},
    "login": {"pages": 1},
    "photo": {"pages": 1, "photo": True},
    "region-us": {"pages": 1, "ssr": True, "region": "US"},
    "region-us-api": {"pages": 1, "region": "US"},
    "hidden-captcha": {"pages": 2, "hidden_captcha": True},
    "secsdk-captcha": {"pages": 2, "secsdk_captcha": True},
}


def live_ids(scenario: str) -> set[str]:
    """Every id the scenario serves (all above min views, none malformed)."""
    pages = LIVE_SCENARIOS[scenario]["pages"]
    return {video_id(1000 + n) for n in range(pages * LIVE_COUNT)}


def live_items(scenario: str, cursor: int) -> list[dict]:
    traits = LIVE_SCENARIOS[scenario]
    items = [raw_item(1000 + n) for n in range(cursor * LIVE_COUNT, (cursor + 1) * LIVE_COUNT)]
    if traits.get("photo"):
        items[1] = photo_item(1001)  # video {}: cover from imagePost
        items[2] = photo_item(1002, empty_video=False)  # video.cover "": cover from imagePost
        items[3]["statsV2"]["playCount"] = "1.2M"  # not digits: stats.playCount counts
    return items


def live_feed(scenario: str, cursor: int) -> dict:
    traits = LIVE_SCENARIOS.get(scenario, {"pages": 0})
    if cursor >= traits["pages"]:
        return {"statusCode": 0, "itemList": [], "hasMore": False, "cursor": str(cursor)}
    last = cursor == traits["pages"] - 1
    # every page is full (LIVE_COUNT of count=LIVE_COUNT); no_more pages all say hasMore false
    return {"statusCode": 0, "itemList": live_items(scenario, cursor),
            "hasMore": False if traits.get("no_more") else not last, "cursor": str(cursor + 1)}


def ssr_blob(scenario: str) -> dict:
    """The rehydration data of a live-like page: items in scopes of different names and depths."""
    traits = LIVE_SCENARIOS[scenario]
    first = live_items(scenario, 0)
    scope: dict = {"webapp.app-context": {"region": traits.get("region", "KR"), "language": "ko-KR"},
                   "seo.abtest": {"vidList": []}}
    if scenario == "ssr-only":
        scope["webapp.discover-page"] = {"itemList": first[:5], "hasMore": False}
        scope["webapp.video-detail"] = {"itemInfo": {"itemStruct": first[5]}, "statusCode": 0}
        scope["webapp.recommend"] = {"modules": [{"cards": [{"x": first[6]}, {"x": first[7]}, {"x": first[0]}]}]}
    else:
        scope["webapp.discover-page"] = {"itemList": first, "cursor": "1", "hasMore": len(first) == LIVE_COUNT}
    return {"__DEFAULT_SCOPE__": scope}


LIVE_HTML = """<!doctype html>
<html lang="ko"><head><meta charset="utf-8"><title>TikTok - Make Your Day</title>
<style>html, body {{ margin: 0; }} body.main-scroller {{ overflow: hidden; height: 100vh; }}
body.main-scroller main {{ display: block; height: 100vh; overflow-y: auto; }}
.card {{ height: {card_height}; box-sizing: border-box; border-bottom: 1px solid #ccc; }}
#modal {{ position: fixed; inset: 0; background: rgba(0, 0, 0, .5); }}
.captcha {{ position: fixed; top: 20px; left: 20px; width: 300px; height: 200px; background: #fff; }}</style>
{ssr}</head>
<body class="{body_class}">{hidden}<main id="main"><div id="list"></div></main>
<script>
const cfg = {cfg};
const main = document.getElementById("main");
const scroller = cfg.main ? main : document.scrollingElement;
let cursor = 0, loading = false, more = cfg.feed, attempt = 0, loads = 0;
function render(n) {{
  for (let i = 0; i < n; i++) {{
    const d = document.createElement("div"); d.className = "card"; d.textContent = "card";
    document.getElementById("list").appendChild(d);
  }}
}}
const blob = document.getElementById("__UNIVERSAL_DATA_FOR_REHYDRATION__");
if (blob) {{  // hydrate from the server's data, then drop the element, as TikTok's page does
  const scope = JSON.parse(blob.textContent).__DEFAULT_SCOPE__["webapp.discover-page"];
  render(cfg.ssrCards); cursor = Number(scope.cursor || 0); more = cfg.feed && scope.hasMore;
  blob.remove();
}}
async function load() {{
  if (loading || !(more || cfg.noMore)) return;
  loading = true; loads++;
  if (cfg.secsdkAfter && loads > cfg.secsdkAfter) {{
    document.body.insertAdjacentHTML("beforeend", '<div id="secsdk-captcha-drag-wrapper" class="captcha">drag</div>');
    loading = false; more = false; return;
  }}
  try {{
    const url = `/api/live/item_list/?scenario=${{cfg.scenario}}&cursor=${{cursor}}&count={count}`
      + `&attempt=${{attempt}}${{cfg.region ? "&region=" + cfg.region : ""}}`;
    const r = await fetch(url);
    if (!r.ok) {{  // TikTok's "Refresh" panel after a failed feed request
      document.body.insertAdjacentHTML("beforeend",
        '<div id="panel"><p>Something went wrong</p><button id="refresh">Refresh</button></div>');
      document.getElementById("refresh").onclick = () => {{
        attempt++; document.getElementById("panel").remove(); load();
      }};
      return;
    }}
    const data = await r.json();
    render(data.itemList.length);
    cursor = Number(data.cursor); more = data.hasMore;
  }} finally {{ loading = false; }}
}}
function nearEnd() {{ return scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 100; }}
(cfg.main ? main : window).addEventListener("scroll", () => {{ if (nearEnd()) load(); }}, {{passive: true}});
if (!blob) load();
if (cfg.modal) setTimeout(() => {{
  document.body.insertAdjacentHTML("beforeend",
    '<div id="modal"><div role="dialog">로그인<button data-e2e="modal-close-inner-button">x</button></div></div>');
  const before = scroller.style.overflowY; scroller.style.overflowY = "hidden";
  if (!cfg.main) document.body.style.overflow = "hidden";
  document.querySelector('[data-e2e="modal-close-inner-button"]').onclick = () => {{
    document.getElementById("modal").remove(); scroller.style.overflowY = before; document.body.style.overflow = "";
  }};
}}, 200);
</script></body></html>
"""


def live_page_html(scenario: str) -> str:
    traits = LIVE_SCENARIOS[scenario]
    ssr = ""
    if traits.get("ssr"):
        blob = json.dumps(ssr_blob(scenario), ensure_ascii=False).replace("</", "<\\/")
        ssr = f'<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__" type="application/json">{blob}</script>'
    cfg = {"scenario": scenario, "main": bool(traits.get("main")), "feed": traits.get("feed", True),
           "noMore": bool(traits.get("no_more")), "modal": bool(traits.get("modal")),
           "region": traits.get("region", "") if not traits.get("ssr") else "",
           "ssrCards": LIVE_COUNT, "secsdkAfter": 1 if traits.get("secsdk_captcha") else 0}
    hidden = ('<div id="captcha-verify-container-main-page" class="secsdk-captcha-wrapper" style="display:none">'
              "</div><div class=\"captcha_verify_container\" style=\"visibility:hidden\"></div>"
              if traits.get("hidden_captcha") else "")
    return LIVE_HTML.format(ssr=ssr, cfg=json.dumps(cfg), count=LIVE_COUNT, hidden=hidden,
                            body_class="main-scroller" if traits.get("main") else "",
                            card_height="100vh" if traits.get("tall") else "300px")


def firewall_html(solves: bool) -> str:
    """TikTok's WAF interstitial: a script computes the challenge, sets a cookie and reloads the page."""
    script = ('setTimeout(() => { document.cookie = "waf_ok=1; path=/"; location.reload(); }, 700);'
              if solves else "")
    return ("<!doctype html><html><head><title>Please wait...</title></head><body><p>Please wait...</p>"
            f'<script>var _wafchallengeid = "3f1c0a"; {script}</script></body></html>')
