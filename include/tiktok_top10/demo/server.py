"""The demo site: TikTok's page and API paths on loopback, serving a generated day.

The real crawler (Playwright + Chromium) crawls it exactly as it would crawl www.tiktok.com; only the base URL
differs.  Pages are infinite-scroll shells whose inline script fetches the next API page when the user scrolls
near the bottom, so items reach the crawler as JSON responses to XHR calls, in TikTok's envelopes:

* ``/discover/<slug>``  -> ``/api/recommend/item_list/?keyword=<slug>``   ``{statusCode, itemList, hasMore, cursor}``
* ``/explore``          -> ``/api/explore/item_list/``                    (same envelope)
* ``/tag/<name>``       -> ``/api/challenge/item_list/?challengeID=<id>`` (same envelope); the tags of
  ``TAG_FOR_SEARCH`` list their search's results (the search's logged-out stand-in), others every item
  carrying the hashtag
* ``/search?q=<query>`` -> first ``/api/search/general/full/`` (``{data: [{type: 1, item}]}``), then
  ``/api/search/item/full/`` (``{item_list, has_more}``), as TikTok's search tabs do
* ``/covers/<day>/<name>.jpg`` -> the cover, always labelled ``image/jpeg`` (even PNG bytes, like the CDN);
  404 for a missing cover.

The day served comes from the ``demo_day=YYYY-MM-DD`` cookie (the crawler sets it), else today in Seoul.
Nothing on a page loads from outside the site.

As on the live site (../shared/DESIGN.md): a discover page ships its first screen only in
``__UNIVERSAL_DATA_FOR_REHYDRATION__`` (with ``webapp.app-context.region``) and removes that element after
hydration, the next pages by XHR; the search grid scrolls inside ``<main>``, not the document; every feed URL
carries ``region`` and a per-load ``_nonce`` (a stand-in for TikTok's per-request ``X-Bogus`` signatures, so that
exact-URL HAR replay fails).  ``search_requires_login`` gates logged-out search (no ``sessionid`` cookie) as
TikTok often does: the page redirects to ``/login`` and the search API answers status 10102.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import inspect
import json
import logging
import signal
import threading
import time
from urllib.parse import quote

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..config import CATEGORIES, KST
from .covers import cover_bytes
from .generator import SOURCE_SPECS, TAG_FOR_SEARCH, DemoDay, DemoItem, generate_day, hash_tag, source_path

log = logging.getLogger(__name__)

DAY_COOKIE = "demo_day"
MIN_PAGE, MAX_PAGE = 14, 16  # items per API page; TikTok sends 8-16, the demo's sources fit in 8 pages


_SEARCH_BY_TAG_ID = {str(hash_tag(tag)): query for query, tag in TAG_FOR_SEARCH.items()}


class BadRequest(ValueError):
    """A request the demo answers with 400 and a message saying what was wrong."""


def page_size(feed: str, offset: int) -> int:
    """Items in the API page starting at ``offset`` of ``feed``: varies like TikTok's, deterministic."""
    return MIN_PAGE + hash_tag(f"{feed}@{offset}") % (MAX_PAGE - MIN_PAGE + 1)


def request_day(request: Request) -> dt.date:
    raw = request.cookies.get(DAY_COOKIE)
    if not raw:
        return dt.datetime.now(KST).date()
    try:
        return dt.date.fromisoformat(raw)
    except ValueError as exc:
        raise BadRequest(f"cookie {DAY_COOKIE}={raw!r} is not a date (expected YYYY-MM-DD)") from exc


def _offset(request: Request, name: str) -> int:
    raw = request.query_params.get(name, "0") or "0"
    if not raw.isdigit():
        raise BadRequest(f"{name} must be a non-negative integer, got {raw!r}")
    return int(raw)


def _public_item(item: DemoItem, base_url: str) -> dict:
    """The item as TikTok sends it: cover URLs absolute (the CDN's host here is the demo site itself)."""
    data = dict(item.item)
    video = dict(data["video"])
    for key in ("cover", "originCover", "dynamicCover", "playAddr"):
        if video.get(key):  # a photo post's video fields are empty
            video[key] = base_url + video[key]
    data["video"] = video
    if "imagePost" in data:
        image = {**data["imagePost"]["cover"], "imageURL": {"urlList": [base_url + item.cover_path]}}
        data["imagePost"] = {**data["imagePost"], "cover": image, "images": [image]}
    return data


def _page(items: list[DemoItem], feed: str, offset: int) -> tuple[list[DemoItem], bool, int]:
    end = offset + page_size(feed, offset)
    return items[offset:end], end < len(items), min(end, len(items))


def _tag_items(demo: DemoDay, challenge_id: str) -> list[DemoItem]:
    seen, out = set(), []
    for it in demo.all_items():
        if it.id not in seen and any(c["id"] == challenge_id for c in it.item["challenges"]):
            seen.add(it.id)
            out.append(it)
    return out


SESSION_COOKIE = "sessionid"  # TikTok's login cookie: its presence is what "logged in" means to the demo
USER_NOT_LOGIN = 10102


class DemoApp:
    """Route handlers bound to a seed."""

    def __init__(self, seed: int, cdn_port: int | None = None, *, search_requires_login: bool = False,
                 region: str = "KR"):
        self.seed = seed
        self.cdn_port = cdn_port
        self.search_requires_login = search_requires_login
        self.region = region
        self.cover_limiter = anyio.CapacityLimiter(2)

    def logged_out_gated(self, request: Request) -> bool:
        return self.search_requires_login and not request.cookies.get(SESSION_COOKIE)

    def demo(self, request: Request) -> DemoDay:
        return generate_day(request_day(request), self.seed)

    def base(self, request: Request) -> str:
        """Where covers are fetched: the CDN listener (same host name as the request, its own port) when there
        is one, else this site."""
        if self.cdn_port:
            return f"{request.url.scheme}://{request.url.hostname}:{self.cdn_port}"
        return str(request.base_url).rstrip("/")

    # -- JSON APIs ---------------------------------------------------------------------------------------------

    def _feed_response(self, request: Request, feed: str, items: list[DemoItem]) -> JSONResponse:
        offset = _offset(request, "cursor")
        page, more, cursor = _page(items, feed, offset)
        base = self.base(request)
        return JSONResponse({"statusCode": 0, "statusMsg": "", "itemList": [_public_item(i, base) for i in page],
                             "hasMore": more, "cursor": str(cursor)})

    def api_recommend(self, request: Request) -> Response:
        keyword = request.query_params.get("keyword", "")
        path = source_path("discover", keyword) if keyword else source_path(*SOURCE_SPECS["main"][0])
        return self._feed_response(request, path, self.demo(request).sources.get(path, []))

    def api_explore(self, request: Request) -> Response:
        path = source_path("explore", "")
        return self._feed_response(request, path, self.demo(request).sources[path])

    def api_challenge(self, request: Request) -> Response:
        challenge_id = request.query_params.get("challengeID", "")
        if not challenge_id.isdigit():
            raise BadRequest(f"challengeID must be digits, got {challenge_id!r}")
        query = _SEARCH_BY_TAG_ID.get(challenge_id)
        if query is not None:  # a search's logged-out stand-in lists what the search would
            path = source_path("search", query)
            return self._feed_response(request, path, self.demo(request).sources.get(path, []))
        return self._feed_response(request, f"challenge:{challenge_id}", _tag_items(self.demo(request), challenge_id))

    def _search_gate(self, request: Request) -> Response | None:
        if self.logged_out_gated(request):
            return JSONResponse({"status_code": USER_NOT_LOGIN, "statusCode": USER_NOT_LOGIN,
                                 "status_msg": "user not login", "item_list": [], "data": []})
        return None

    def _search(self, request: Request) -> tuple[list[DemoItem], bool, int]:
        keyword = request.query_params.get("keyword", "")
        path = source_path("search", keyword)
        return _page(self.demo(request).sources.get(path, []), path, _offset(request, "offset"))

    def api_search_item(self, request: Request) -> Response:
        gate = self._search_gate(request)
        if gate is not None:
            return gate
        page, more, cursor = self._search(request)
        base = self.base(request)
        return JSONResponse({"status_code": 0, "item_list": [_public_item(i, base) for i in page],
                             "has_more": int(more), "cursor": cursor})

    def api_search_general(self, request: Request) -> Response:
        gate = self._search_gate(request)
        if gate is not None:
            return gate
        page, more, cursor = self._search(request)
        base = self.base(request)
        return JSONResponse({"status_code": 0, "data": [{"type": 1, "item": _public_item(i, base)} for i in page],
                             "has_more": int(more), "cursor": cursor})

    # -- covers --------------------------------------------------------------------------------------------------

    async def cover(self, request: Request) -> Response:
        try:
            day = dt.date.fromisoformat(request.path_params["day"])
        except ValueError:
            return Response("no such cover\n", status_code=404, media_type="text/plain")
        spec = generate_day(day, self.seed).covers.get(request.path_params["name"])
        # rendering is CPU-bound: a couple at a time, so API calls are not starved while a page loads its images
        data = await anyio.to_thread.run_sync(cover_bytes, spec, limiter=self.cover_limiter) if spec else None
        if data is None:
            return Response("no such cover\n", status_code=404, media_type="text/plain")
        # the CDN labels every cover image/jpeg, whatever the bytes are (PNG, an HTML error page, ...)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=86400"})

    # -- pages ---------------------------------------------------------------------------------------------------

    def app_context(self) -> dict:
        return {"region": self.region, "language": "ko-KR"}

    def discover_page(self, request: Request) -> Response:
        slug = request.path_params["slug"]
        path = source_path("discover", slug)
        demo = self.demo(request)
        if path not in demo.sources:
            return HTMLResponse(_shell("Page not available", None, self.app_context()), status_code=404)
        # the first screen is server-rendered only (no XHR for it), as on TikTok's discover pages
        first, more, cursor = _page(demo.sources[path], path, 0)
        base = self.base(request)
        data = {"webapp.app-context": self.app_context(),
                "webapp.discover": {"itemList": [_public_item(i, base) for i in first], "hasMore": more,
                                    "cursor": str(cursor)}}
        api = f"/api/recommend/item_list/?from_page=discover&keyword={quote(slug)}&count=16&region={self.region}"
        return HTMLResponse(_shell(slug.replace("-", " "), {"kind": "feed", "first": api, "next": api}, data))

    def explore_page(self, request: Request) -> Response:
        api = f"/api/explore/item_list/?count=16&region={self.region}"
        return HTMLResponse(_shell("Explore", {"kind": "feed", "first": api, "next": api}, self.app_context()))

    def tag_page(self, request: Request) -> Response:
        name = request.path_params["name"]
        api = f"/api/challenge/item_list/?challengeID={hash_tag(name)}&count=16&region={self.region}"
        return HTMLResponse(_shell(f"#{name}", {"kind": "feed", "first": api, "next": api}, self.app_context()))

    def search_page(self, request: Request) -> Response:
        query = request.query_params.get("q", "")
        if self.logged_out_gated(request):
            return RedirectResponse(f"/login?redirect_url={quote(str(request.url.path) + '?q=' + query)}", 302)
        if not query.strip():
            return HTMLResponse(_shell("Search", None, self.app_context()))
        return HTMLResponse(_shell(query, {
            "kind": "search", "first": f"/api/search/general/full/?keyword={quote(query)}&region={self.region}",
            "next": f"/api/search/item/full/?keyword={quote(query)}&region={self.region}"}, self.app_context()))

    def login_page(self, request: Request) -> Response:
        return HTMLResponse("<!DOCTYPE html><html lang='ko'><head><meta charset='utf-8'><title>Log in | TikTok</title>"
                            "</head><body><p>Log in to TikTok</p></body></html>")

    def index(self, request: Request) -> Response:
        links = "".join(f'<li><a href="{html.escape(source_path(k, v))}">{html.escape(cat)}: '
                        f"{html.escape(source_path(k, v))}</a></li>"
                        for cat in CATEGORIES for k, v in SOURCE_SPECS[cat])
        return HTMLResponse(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>TikTok demo</title></head>"
                            f"<body><h1>TikTok demo site</h1><ul>{links}</ul></body></html>")


_PAGE_SCRIPT = r"""
const FEED = __FEED__;
const feedEl = document.getElementById("feed");
// a new value on every page load, like TikTok's per-request signatures (X-Bogus, msToken)
const NONCE = Math.random().toString(36).slice(2) + Date.now().toString(36);
// the search grid scrolls inside <main>, every other page the document (as on TikTok)
const scroller = FEED.kind === "search" ? document.querySelector("main") : document.scrollingElement;
let cursor = "0", hasMore = true, loading = false, pages = 0, wanted = false;

function itemsOf(body) {
  if (Array.isArray(body.itemList)) return body.itemList;
  if (Array.isArray(body.item_list)) return body.item_list;
  if (Array.isArray(body.data)) return body.data.filter(d => d.type === 1 && d.item).map(d => d.item);
  return [];
}

function card(item) {
  const a = document.createElement("a");
  a.className = "card";
  a.href = "/@" + encodeURIComponent(item.author.uniqueId) + "/video/" + item.id;
  const img = document.createElement("img");
  const photo = item.imagePost && item.imagePost.cover && item.imagePost.cover.imageURL.urlList[0];
  img.loading = "lazy"; img.alt = ""; img.src = (item.video && item.video.cover) || photo || "";
  const p = document.createElement("p");
  p.textContent = item.desc || "";
  const who = document.createElement("span");
  who.textContent = item.author.nickname + " · " + item.stats.playCount;
  a.append(img, p, who);
  return a;
}

async function loadMore() {
  if (!hasMore) return;
  if (loading) { wanted = true; return; }  // a scroll during a fetch is served when the fetch returns
  loading = true;
  wanted = false;
  try {
    const base = pages === 0 ? FEED.first : FEED.next;
    const param = FEED.kind === "search" ? "offset" : "cursor";
    const url = base + "&" + param + "=" + encodeURIComponent(cursor) + "&_nonce=" + NONCE;
    const response = await fetch(url, {credentials: "same-origin"});
    const body = await response.json();
    for (const item of itemsOf(body)) feedEl.append(card(item));
    hasMore = Boolean(body.hasMore ?? body.has_more);
    cursor = String(body.cursor);
    pages += 1;
    document.body.dataset.pages = String(pages);
    if (!hasMore) document.body.dataset.end = "1";
  } catch (err) {
    console.error("feed", err);
  } finally {
    loading = false;
  }
  if (wanted && nearBottom()) loadMore();
}

function nearBottom() {
  return scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 1.5 * scroller.clientHeight;
}
window.addEventListener("wheel", () => { if (nearBottom()) loadMore(); }, {passive: true});
(FEED.kind === "search" ? scroller : window).addEventListener("scroll", () => { if (nearBottom()) loadMore(); },
                                                              {passive: true});
const ssr = document.getElementById("__UNIVERSAL_DATA_FOR_REHYDRATION__");
const first = ssr && JSON.parse(ssr.textContent).__DEFAULT_SCOPE__["webapp.discover"];
if (ssr) ssr.remove();  // hydrated: TikTok's page drops the element too
if (first) {
  for (const item of first.itemList) feedEl.append(card(item));
  hasMore = Boolean(first.hasMore); cursor = String(first.cursor); pages = 1;
  document.body.dataset.pages = "1";
  if (!hasMore) document.body.dataset.end = "1";
} else {
  loadMore();
}
"""

_PAGE_STYLE = """
body{margin:0;font-family:sans-serif;background:#fff;color:#161823}
header{position:sticky;top:0;background:#fff;padding:12px 20px;border-bottom:1px solid #eee;font-weight:bold}
#feed{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:16px;padding:20px}
.card{color:inherit;text-decoration:none;display:block}
.card img{width:100%;aspect-ratio:9/16;object-fit:cover;border-radius:8px;background:#ddd;display:block}
.card p{margin:6px 0 2px;font-size:14px;height:2.6em;overflow:hidden}
.card span{font-size:12px;color:#888}
body.search{height:100vh;overflow:hidden;display:flex;flex-direction:column}
body.search main{flex:1;overflow-y:auto}
"""


def _shell(title: str, feed: dict | None, scope: dict | None = None) -> str:
    """A page: ``feed`` says what its script fetches; ``scope`` goes into ``__DEFAULT_SCOPE__`` of its
    server-rendered data (a dict with only ``webapp.app-context`` is the app context alone)."""
    script = f"<script>{_PAGE_SCRIPT.replace('__FEED__', json.dumps(feed))}</script>" if feed else ""
    body = '<main><div id="feed"></div></main>' if feed else "<main><p>Nothing to show.</p></main>"
    if scope is not None and "webapp.app-context" not in scope:
        scope = {"webapp.app-context": scope}
    data = ""
    if scope is not None:
        blob = json.dumps({"__DEFAULT_SCOPE__": scope}, ensure_ascii=False).replace("</", "<\\/")
        data = f'<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__" type="application/json">{blob}</script>'
    kind = "search" if feed and feed.get("kind") == "search" else "feed"
    return (f"<!DOCTYPE html><html lang='ko'><head><meta charset='utf-8'><title>{html.escape(title)} | TikTok</title>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><style>{_PAGE_STYLE}</style>{data}"
            f"</head><body class='{kind}'><header>{html.escape(title)}</header>{body}{script}</body></html>")


def _guarded(fn):
    async def endpoint(request: Request) -> Response:
        # the JSON and page handlers are quick: they run on the event loop, never queued behind covers
        try:
            result = fn(request)
            return await result if inspect.isawaitable(result) else result
        except BadRequest as exc:
            if request.url.path.startswith("/api/"):
                return JSONResponse({"statusCode": 10201, "statusMsg": str(exc)}, status_code=400)
            return HTMLResponse(f"<!DOCTYPE html><p>{html.escape(str(exc))}</p>", status_code=400)
    return endpoint


def create_app(seed: int = 7, cdn_port: int | None = None, *, search_requires_login: bool = False,
               region: str = "KR") -> Starlette:
    """The demo site as an ASGI app.  Items point their covers at port ``cdn_port`` of the host the request
    named (a ``create_cdn_app`` listener, like TikTok's CDN host) when given, else at this site's ``/covers/``.
    ``search_requires_login`` gates search for visitors without a ``sessionid`` cookie; ``region`` is the
    region the pages say TikTok assigned."""
    handlers = DemoApp(seed, cdn_port, search_requires_login=search_requires_login, region=region)
    routes = [
        Route("/", _guarded(handlers.index)),
        Route("/discover/{slug}", _guarded(handlers.discover_page)),
        Route("/explore", _guarded(handlers.explore_page)),
        Route("/search", _guarded(handlers.search_page)),
        Route("/tag/{name}", _guarded(handlers.tag_page)),
        Route("/login", _guarded(handlers.login_page)),
        Route("/api/recommend/item_list/", _guarded(handlers.api_recommend)),
        Route("/api/explore/item_list/", _guarded(handlers.api_explore)),
        Route("/api/challenge/item_list/", _guarded(handlers.api_challenge)),
        Route("/api/search/item/full/", _guarded(handlers.api_search_item)),
        Route("/api/search/general/full/", _guarded(handlers.api_search_general)),
        Route("/covers/{day}/{name}.jpg", _guarded(handlers.cover)),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
    ]
    return Starlette(routes=routes)


def create_cdn_app(seed: int = 7) -> Starlette:
    """Covers only.  A separate origin matters: a browser opens at most 6 connections per origin, and a page
    full of cover images would otherwise hold the next feed request back (TikTok serves covers from a CDN)."""
    return Starlette(routes=[Route("/covers/{day}/{name}.jpg", _guarded(DemoApp(seed).cover))])


class _Listener:
    """One uvicorn server in a daemon thread (no signal handlers: those belong to the main thread)."""

    def __init__(self, app, host: str, port: int, timeout: float):
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"demo-site-{port}", daemon=True)
        self.thread.start()
        waited = 0.0
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError(f"demo site failed to start on {host}:{port} (port in use?)")
            if waited > timeout:
                self.server.should_exit = True
                raise RuntimeError(f"demo site did not start on {host}:{port} within {timeout} s")
            time.sleep(0.02)
            waited += 0.02
        self.port = self.server.servers[0].sockets[0].getsockname()[1]

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class DemoSite:
    """The demo site in background threads: ``with DemoSite(port=0) as site: site.base_url``.

    Two loopback listeners: the site itself on ``port`` (0 picks a free one) and a cover "CDN" on
    ``cdn_port`` (default: a free one).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, seed: int = 7, cdn_port: int = 0,
                 start_timeout: float = 10.0, *, search_requires_login: bool = False, region: str = "KR"):
        self.host, self.port, self.seed, self.cdn_port = host, port, seed, cdn_port
        self.start_timeout = start_timeout
        self.search_requires_login, self.region = search_requires_login, region
        self._site: _Listener | None = None
        self._cdn: _Listener | None = None

    @property
    def base_url(self) -> str:
        if self._site is None:
            raise RuntimeError("DemoSite is not running")
        return f"http://{self.host}:{self.port}"

    @property
    def cdn_url(self) -> str:
        if self._cdn is None:
            raise RuntimeError("DemoSite is not running")
        return f"http://{self.host}:{self.cdn_port}"

    def start(self) -> DemoSite:
        self._cdn = _Listener(create_cdn_app(self.seed), self.host, self.cdn_port, self.start_timeout)
        self.cdn_port = self._cdn.port
        try:
            app = create_app(self.seed, self.cdn_port, search_requires_login=self.search_requires_login,
                             region=self.region)
            self._site = _Listener(app, self.host, self.port, self.start_timeout)
        except BaseException:
            self._cdn.stop()
            self._cdn = None
            raise
        self.port = self._site.port
        return self

    def stop(self) -> None:
        for listener in (self._site, self._cdn):
            if listener is not None:
                listener.stop()
        self._site = self._cdn = None

    def __enter__(self) -> DemoSite:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def cli_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="top10 demo-site", description="Serve the TikTok stand-in until SIGINT/SIGTERM."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cdn-port", type=int, default=0, help="port of the cover CDN listener (0: a free one)")
    parser.add_argument("--search-requires-login", action="store_true",
                        help="gate search for visitors without a sessionid cookie (redirect to /login, status 10102)")
    parser.add_argument("--region", default="KR", help="the region the pages say TikTok assigned (default KR)")
    args = parser.parse_args(argv)
    stop = threading.Event()
    # served from threads, so the signals are ours: a clean stop exits 0 (uvicorn would re-raise them)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    site = DemoSite(host=args.host, port=args.port, seed=args.seed, cdn_port=args.cdn_port,
                    search_requires_login=args.search_requires_login, region=args.region).start()
    print(f"demo site on {site.base_url}, covers on {site.cdn_url} (seed {args.seed}); Ctrl-C stops it", flush=True)
    stop.wait()
    site.stop()
    return 0
