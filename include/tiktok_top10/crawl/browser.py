"""Drive Chromium through TikTok-shaped pages and collect the feed JSON the page itself fetches.

We do not call TikTok's API directly: its requests carry signatures (``X-Bogus``, ``msToken``) that only the
page's own scripts compute.  Instead a real browser loads the page, scrolls it the way a person would (mouse
wheel, jittered pauses) and we read the bodies of the feed XHRs it makes (``page.on("response")``).

The profile is persistent (cookies and local storage survive between runs, as for a returning visitor) and
locked, because Chromium lets one process use a profile directory at a time.  Korean locale, Asia/Seoul time
and a desktop viewport match the audience the rankings are for.  Video, audio and font requests are aborted:
a crawl would otherwise download megabytes of video per scroll.  Captchas, bot walls, login walls and a
foreign region stop the crawl with distinct errors after saving a screenshot and the HTML for a human.

Page logic, each piece from what public scrapers report of the live site (../shared/DESIGN.md):

* Items come from two places: the feed XHRs, and the page's server-rendered ``__UNIVERSAL_DATA_FOR_REHYDRATION__``
  read from the navigation response's body (the page removes the element after hydration; the first screen may
  arrive only there).  A load without the blob (a service worker's warm load) is counted, not an error.
* Scrolling wheels over the element that actually scrolls (the document, or ``<main>`` on search) and stops on
  evidence: the scroll position no longer moves and no feed request came within ``response_wait_s``, twice in a
  row (``idle_scrolls``).  ``hasMore: false`` ends a load only on a page shorter than the request's ``count``: on
  a full page it can be throttling.  The scroll budget stays the upper bound.
* Gates: a login modal is closed and the crawl goes on; a "Refresh" panel is clicked once per load; a redirect to
  ``/login`` is ``LoginRequired``; a "Please wait..." firewall page (``_wafchallengeid``) is waited out while the
  browser solves it and reloads; captcha containers count only when visible (TikTok ships hidden ones).
* The region TikTok assigned (``webapp.app-context.region``, or ``region`` on the page's API URLs) is recorded and
  checked against the expected one.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import random
import re
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from ..models import VideoItem
from ..storage import atomic_write_bytes, atomic_write_text
from .errors import (
    BotWallBlocked,
    BrowserCrashed,
    CaptchaBlocked,
    CrawlError,
    LoginRequired,
    ProfileBusy,
    RegionMismatch,
)
from .fingerprint import MediaBlocker, consistent_user_agent, virtual_display
from .har import HarReplayer
from .parse import ParseTally, items_from_entries, items_from_payload, ssr_blob, ssr_items
from .session import ProxySettings, has_session, missing_cookies

log = logging.getLogger(__name__)

CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-blink-features=AutomationControlled",  # hides navigator.webdriver, a common bot signal
)
# TikTok's slider captcha and verify overlays (selectors seen in public scrapers' detection code).  TikTok ships
# some of these containers hidden on ordinary pages: only a visible one is a captcha.
CAPTCHA_SELECTOR = ", ".join(
    (
        '[id^="captcha-verify"]',
        '[id^="captcha_container"]',
        '[class*="captcha-verify"]',
        '[class*="captcha_verify"]',
        "#tiktok-verify-ele",
        '[id^="secsdk-captcha"]',
        '[class*="secsdk-captcha"]',
        'iframe[src*="captcha"]',
    )
)
LOGIN_MODAL_CLOSE = '[data-e2e="modal-close-inner-button"]'  # pytok closes the logged-out modal with it
REFRESH_TEXT = r"^\s*(Refresh|새로\s?고침)\s*$"  # the panel TikTok shows when a feed request failed
FIREWALL_MARKER = "_wafchallengeid"  # TikTok's "Please wait..." page solves a JS challenge, then reloads
BOT_WALL_STATUS = {403, 429}
BOT_WALL_TITLE = re.compile(r"access denied|attention required|just a moment|too many requests", re.I)
# One round trip that says what stands in front of the feed: each flag is a visible element, not just a node.
PAGE_STATE_JS = """([captcha, modal, refresh, marker]) => {
  const visible = (el) => {
    if (!el.isConnected) return false;
    const r = el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) return false;
    return el.checkVisibility ? el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true}) : true;
  };
  const any = (sel) => [...document.querySelectorAll(sel)].some(visible);
  const refreshRe = new RegExp(refresh, "i");
  // the firewall page is tiny: serialise the DOM only then, never a full feed page on every scroll
  const small = document.getElementsByTagName("*").length < 300 && document.documentElement;
  return {
    captcha: any(captcha),
    modal: any(modal),
    refresh: [...document.querySelectorAll("button")].some((b) => refreshRe.test(b.textContent || "") && visible(b)),
    firewall: /please wait/i.test(document.title) || Boolean(small && small.innerHTML.includes(marker)),
    title: document.title,
  };
}"""
# The element the wheel scrolls at point ``pt``: the scrollable ancestor under it, else a scrollable <main>
# (TikTok's search grid), else the document; with its position and the visible rectangle to wheel over.
SCROLLER_JS = """(pt) => {
  const canScroll = (el) => {
    if (!el || el.scrollHeight - el.clientHeight <= 2) return false;
    const y = getComputedStyle(el).overflowY;
    return y === "auto" || y === "scroll" || y === "overlay";
  };
  const doc = document.scrollingElement || document.documentElement;
  const hidden = (el) => el && getComputedStyle(el).overflowY === "hidden";
  const docScrolls = doc.scrollHeight - doc.clientHeight > 2
    && !hidden(document.body) && !hidden(document.documentElement);
  let el = document.elementFromPoint(pt.x, pt.y);
  while (el && el !== document.body && el !== document.documentElement && !canScroll(el)) el = el.parentElement;
  let target = el && el !== document.body && el !== document.documentElement ? el : null;
  if (!target && !docScrolls) target = [...document.querySelectorAll("main")].find(canScroll) || null;
  if (!target) return {kind: "document", top: doc.scrollTop, max: doc.scrollHeight - doc.clientHeight,
                       rect: [0, 0, innerWidth, innerHeight]};
  const r = target.getBoundingClientRect();
  const x = Math.max(r.left, 0), y = Math.max(r.top, 0);
  return {kind: target.tagName.toLowerCase(), top: target.scrollTop, max: target.scrollHeight - target.clientHeight,
          rect: [x, y, Math.max(Math.min(r.right, innerWidth) - x, 1),
                 Math.max(Math.min(r.bottom, innerHeight) - y, 1)]};
}"""


def is_feed_response(url: str) -> bool:
    """The XHRs that carry item lists: ``/api/*item_list*`` feeds and ``/api/search/*``."""
    path = urlsplit(url).path
    return path.startswith("/api/") and ("item_list" in path or path.startswith("/api/search/"))


@dataclass(frozen=True)
class BrowserOptions:
    chromium_path: str | None = "/usr/bin/chromium"  # falls back to Playwright's own browser when absent
    headless: bool = True
    proxy: ProxySettings | None = None  # server + username + password (credentials inside server fail)
    headful: bool = False  # a headed browser on a virtual display (Xvfb), see fingerprint.py
    record_har: Path | None = None  # write the session's traffic here (sanitised by har.sanitize_har after)
    replay_har: Path | None = None  # answer every request from this HAR; nothing goes to the network
    block_media: bool = True
    # The page's own <img> covers: we download covers separately (checked, capped), so the page need not.
    block_images: bool = True
    viewport: tuple[int, int] = (1440, 900)
    nav_timeout_s: float = 30.0
    budget_s: float = 900.0  # the whole category; when spent we stop scrolling and keep what we have
    response_wait_s: float = 3.0  # bounded wait for the page's next feed request/response after a scroll
    scroll_pause_s: tuple[float, float] = (0.4, 1.2)
    # scrolls in a row that neither moved the scroll position nor brought a feed request (each after waiting
    # ``response_wait_s``): the evidence that a load's feed has ended
    idle_scrolls: int = 2
    firewall_wait_s: float = 20.0  # how long a "Please wait..." firewall page may take to solve itself
    expected_region: str | None = "KR"  # None: record the region, check nothing
    allow_other_region: bool = False
    count_bytes: bool = True  # network bytes the page received (Chrome DevTools Protocol), for the summary
    profile_lock_wait_s: float = 120.0
    seed: int | None = None


@dataclass
class SourceStats:
    url: str
    loads: int = 0
    scrolls: int = 0
    feed_responses: int = 0
    items: int = 0
    ssr_items: int = 0  # of ``items``, those read from the server-rendered data
    failed_loads: int = 0
    last_load_failed: bool = False
    scrolls_without_progress: int = 0  # scrolls that neither moved the page nor brought a feed request
    region: str | None = None
    # plain dicts, not Counters: the summary's per-source records are made with dataclasses.asdict
    gates: dict[str, int] = field(default_factory=dict)  # login_modal_closed, refresh_clicked, firewall_waited
    status_codes: dict[str, int] = field(default_factory=dict)  # the feed envelopes' statusCode -> responses

    def count(self, table: str, key: str) -> None:
        counts = getattr(self, table)
        counts[key] = counts.get(key, 0) + 1


@dataclass
class BrowseResult:
    items: list[VideoItem] = field(default_factory=list)  # every parsed item, duplicates included
    tally: ParseTally = field(default_factory=ParseTally)
    sources: list[SourceStats] = field(default_factory=list)
    blocked_requests: Counter = field(default_factory=Counter)
    budget_exhausted: bool = False
    network_bytes: int = 0
    empty_artifacts: list[Path] = field(default_factory=list)
    elapsed_s: float = 0.0
    region: str | None = None  # the region TikTok assigned, from the page's data or its API URLs
    region_source: str = ""  # where ``region`` was read: "app_context" or "api_url"
    gates: Counter = field(default_factory=Counter)
    logged_in: bool | None = None  # a session cookie was in the browser once the profile and cookies were loaded


@dataclass(frozen=True)
class ScrollPosition:
    kind: str  # "document" or the tag of the scrolling element ("main", "div")
    top: float
    max: float
    rect: tuple[float, float, float, float]  # x, y, width, height of its visible part

    def moved_from(self, before: ScrollPosition | None) -> bool:
        """Scrolled further, or the content below grew (new cards): both are progress."""
        return before is None or self.top > before.top + 1 or self.max > before.max + 1


@contextmanager
def profile_lock(profile_dir: Path, wait_s: float) -> Iterator[None]:
    """Exclusive use of a profile dir across processes (mapped Airflow tasks may share a host)."""
    profile_dir.mkdir(parents=True, exist_ok=True)
    with open(profile_dir.with_name(profile_dir.name + ".lock"), "w") as fh:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ProfileBusy(f"browser profile {profile_dir} is in use by another crawl") from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def save_failure(page, failures_dir: Path, reason: str, url: str) -> list[Path]:
    """Screenshot + HTML of the page as it is now; their paths are logged and carried by the error."""
    stem = f"{time.strftime('%Y%m%dT%H%M%S')}-{reason}-{re.sub(r'[^A-Za-z0-9]+', '_', urlsplit(url).path)[:40]}"
    saved: list[Path] = []
    try:
        saved.append(atomic_write_text(failures_dir / f"{stem}.html", page.content()))
        saved.append(atomic_write_bytes(failures_dir / f"{stem}.png", page.screenshot(full_page=False, timeout=10_000)))
    except Exception as exc:  # a dead page must not hide the original failure
        log.warning("could not save failure artifacts for %s: %s", url, exc)
    for path in saved:
        log.warning("crawl failure (%s) at %s: saved %s", reason, url, path)
    return saved


class FeedCrawler:
    """One browser session: ``crawl(urls, reloads, scrolls)`` returns every item the page's feeds carried."""

    def __init__(
        self,
        *,
        category: str,
        profile_dir: Path,
        failures_dir: Path,
        options: BrowserOptions = BrowserOptions(),
        cookies: list[dict] | None = None,
        session_cookies: list[dict] | None = None,
    ):
        self.category = category
        self.profile_dir = Path(profile_dir)
        self.failures_dir = Path(failures_dir)
        self.options = options
        self.cookies = list(cookies or [])
        # login cookies (the tiktok_default connection): added to the profile only where it lacks them
        self.session_cookies = list(session_cookies or [])
        self.replayer: HarReplayer | None = None
        self.rng = random.Random(options.seed)
        self._pending: list = []
        self._documents: list = []  # main-frame navigation responses of the current load, for their SSR data
        self._feed_started = 0  # feed requests the page made during the current load
        self._feed_done = 0  # ... and those answered or failed
        self._captcha_seen = False
        self._result = BrowseResult()

    # --- session ---------------------------------------------------------------------------------------

    def _launch(self, playwright):
        opts = self.options
        kwargs = dict(
            headless=opts.headless and not opts.headful,
            args=list(CHROMIUM_ARGS),
            locale="ko-KR",
            timezone_id="Asia/Seoul",
            viewport={"width": opts.viewport[0], "height": opts.viewport[1]},
            user_agent=consistent_user_agent(opts.chromium_path),
            extra_http_headers={"Accept-Language": "ko-KR,ko;q=0.9,en-US;q=0.6,en;q=0.5"},
        )
        if opts.chromium_path and os.path.exists(opts.chromium_path):
            kwargs["executable_path"] = opts.chromium_path
        if opts.proxy:
            kwargs["proxy"] = opts.proxy.for_playwright()
        if opts.record_har:
            Path(opts.record_har).parent.mkdir(parents=True, exist_ok=True)
            kwargs.update(record_har_path=str(opts.record_har), record_har_content="embed")
        if opts.replay_har:
            kwargs["service_workers"] = "block"  # a service worker's fetches would bypass the replay route
        display = ExitStack()
        if opts.headful and not os.environ.get("DISPLAY"):
            kwargs["env"] = {**os.environ, "DISPLAY": display.enter_context(virtual_display(*opts.viewport))}
        try:
            context = playwright.chromium.launch_persistent_context(str(self.profile_dir), **kwargs)
        except BaseException:
            display.close()
            raise
        context.on("close", lambda *_: display.close())
        context.set_default_navigation_timeout(opts.nav_timeout_s * 1000)
        if self.cookies:
            context.add_cookies(self.cookies)
        if self.session_cookies:
            missing = missing_cookies(context.cookies(), self.session_cookies)
            if missing:
                context.add_cookies(missing)
            log.info("login cookies: %d added, %d already in the profile", len(missing),
                     len(self.session_cookies) - len(missing))
        self._result.logged_in = has_session(context.cookies())
        page = context.pages[0] if context.pages else context.new_page()
        if opts.replay_har:
            self.replayer = HarReplayer(opts.replay_har)
            context.route("**/*", self.replayer.handle)
        elif opts.block_media or opts.block_images:
            # not context.route(): intercepting turns the HTTP cache off (fingerprint.py)
            blocker = MediaBlocker(context, page, media=opts.block_media, images=opts.block_images)
            self._result.blocked_requests = blocker.blocked
        return context

    def _on_request(self, request) -> None:
        if is_feed_response(request.url):
            self._feed_started += 1
            region = parse_qs(urlsplit(request.url).query).get("region", [""])[0]
            if region and self._result.region_source != "app_context":
                self._result.region, self._result.region_source = region.upper(), "api_url"

    def _on_request_failed(self, request) -> None:
        if is_feed_response(request.url):
            self._feed_done += 1

    def _on_response(self, response) -> None:
        url = response.url
        # the captcha widget fetches its puzzle from .../captcha/get; its scripts load on every page, so not those
        if "/captcha/get" in urlsplit(url).path.lower():
            self._captcha_seen = True
        if is_feed_response(url):
            self._feed_done += 1
            self._pending.append(response)
        elif response.request.resource_type == "document" and self._is_main_frame(response):
            self._documents.append(response)

    @staticmethod
    def _is_main_frame(response) -> bool:
        try:
            return response.frame.parent_frame is None
        except Exception:  # a service worker's own fetch has no frame
            return False

    def _feed_in_flight(self) -> bool:
        return self._feed_started > self._feed_done

    # --- crawl ------------------------------------------------------------------------------------------

    def crawl(self, urls: list[str], *, reloads: int, scrolls: int) -> BrowseResult:
        from playwright.sync_api import sync_playwright  # lazy: importing the package must not need it

        self._result = result = BrowseResult()
        received = None
        started = time.monotonic()
        self._deadline = started + self.options.budget_s
        from playwright.sync_api import Error as PlaywrightError

        with profile_lock(self.profile_dir, self.options.profile_lock_wait_s), sync_playwright() as playwright:
            context = self._launch(playwright)
            # the budget is for the pages: a slow browser start (a loaded host) must not eat it before a load
            self._deadline = time.monotonic() + self.options.budget_s
            self._browser_gone = False
            context.on("close", lambda *_: setattr(self, "_browser_gone", True))
            try:
                page = context.pages[0] if context.pages else context.new_page()
                page.on("request", self._on_request)
                page.on("requestfailed", self._on_request_failed)
                page.on("response", self._on_response)
                received = self._count_bytes(context, page) if self.options.count_bytes else None
                for url in urls:
                    stats = SourceStats(url)
                    result.sources.append(stats)
                    self._crawl_source(page, url, stats, reloads, scrolls)
                    # after a failed load the page is stuck mid-navigation: page.content() would wait forever
                    if stats.items == 0 and not result.budget_exhausted and not stats.last_load_failed:
                        result.empty_artifacts += save_failure(page, self.failures_dir, "empty", url)
                    if result.budget_exhausted:
                        break
                if self._browser_gone:  # died between two calls that would have noticed
                    raise BrowserCrashed(
                        f"{self.category}: the browser died mid-crawl; nothing of this attempt is kept"
                    )
            except PlaywrightError as exc:
                if not self._browser_died(exc):
                    raise
                raise BrowserCrashed(
                    f"{self.category}: the browser died mid-crawl after {len(result.items)} items "
                    f"({str(exc).splitlines()[0][:200]}); nothing of this attempt is kept"
                ) from exc
            finally:
                if received is not None:
                    result.network_bytes = sum(max(v) for v in received.values())
                try:
                    context.close()
                except PlaywrightError as exc:  # already dead: the error above is the one that matters
                    log.warning("closing the browser failed: %s", str(exc).splitlines()[0])
        result.elapsed_s = round(time.monotonic() - started, 3)
        return result

    def _browser_died(self, exc: Exception) -> bool:
        """Playwright's way of saying the browser process is gone (as opposed to one page load failing)."""
        message = str(exc)
        return getattr(self, "_browser_gone", False) or any(
            marker in message
            for marker in ("has been closed", "Target closed", "Browser closed", "browser has disconnected")
        )

    @staticmethod
    def _count_bytes(context, page) -> dict:
        """Bytes on the wire per request: streamed chunks (a video may never finish) or the final total."""
        received: dict[str, list[int]] = {}
        session = context.new_cdp_session(page)
        session.send("Network.enable")

        def on_data(event: dict) -> None:
            entry = received.setdefault(event["requestId"], [0, 0])
            entry[0] += event.get("encodedDataLength") or event.get("dataLength") or 0

        def on_finished(event: dict) -> None:
            received.setdefault(event["requestId"], [0, 0])[1] = int(event.get("encodedDataLength") or 0)

        session.on("Network.dataReceived", on_data)
        session.on("Network.loadingFinished", on_finished)
        return received

    def _out_of_time(self) -> bool:
        if time.monotonic() >= self._deadline:
            self._result.budget_exhausted = True
        return self._result.budget_exhausted

    def _crawl_source(self, page, url: str, stats: SourceStats, reloads: int, scrolls: int) -> None:
        from playwright.sync_api import Error as PlaywrightError

        for _ in range(reloads):
            if self._out_of_time():
                return
            self._pending.clear()
            self._documents.clear()
            self._feed_started = self._feed_done = 0
            self._captcha_seen = False
            stats.loads += 1
            try:
                try:
                    response = page.goto(url, wait_until="domcontentloaded")
                except PlaywrightError as exc:
                    if "interrupted by another navigation" not in str(exc):
                        raise
                    # the previous failed load is still settling on Chrome's error page; go again once
                    page.wait_for_load_state("load", timeout=5_000)
                    response = page.goto(url, wait_until="domcontentloaded")
            except PlaywrightError as exc:  # timeout, connection refused, DNS: try the next load/source
                if self._browser_died(exc):
                    raise
                stats.failed_loads += 1
                stats.last_load_failed = True
                self._result.tally.responses["navigation_error"] += 1
                log.warning("could not load %s: %s", url, str(exc).splitlines()[0])
                continue
            stats.last_load_failed = False
            state = self._page_state(page)
            if state.get("firewall"):
                state = self._wait_out_firewall(page, url, stats)
            status = self._documents[-1].status if self._documents else response.status if response is not None else 0
            if status in BOT_WALL_STATUS:
                self._blocked(page, BotWallBlocked, f"HTTP {status} loading {url}", url)
            ssr_before = stats.ssr_items
            self._read_server_data(page, url, stats)
            refreshed = self._pass_gates(page, url, stats, state, refreshed=False)
            ended = self._wait_and_drain(page, url, stats, first=stats.ssr_items == ssr_before)
            refreshed = self._pass_gates(page, url, stats, None, refreshed=refreshed)
            self._check_region(page, url, stats)
            quiet = 0
            for _ in range(scrolls):
                if ended or quiet >= self.options.idle_scrolls or self._out_of_time():
                    break
                stats.scrolls += 1
                before = self._scroll_position(page)
                started = self._feed_started
                self._wheel(page, before)
                after = self._scroll_position(page)
                if not (after.moved_from(before) or self._feed_started > started or self._feed_in_flight()):
                    # no movement and no request yet: the end, unless a request comes within the bounded wait
                    self._await_feed_request(page, started)
                    after = self._scroll_position(page)
                # a request still in flight (a slow server) is not the end either
                progress = after.moved_from(before) or self._feed_started > started or self._feed_in_flight()
                quiet = 0 if progress else quiet + 1
                stats.scrolls_without_progress += 0 if progress else 1
                ended = self._wait_and_drain(page, url, stats)
                refreshed = self._pass_gates(page, url, stats, None, refreshed=refreshed)
                self._check_region(page, url, stats)

    # --- reading what the page got ------------------------------------------------------------------------

    def _read_server_data(self, page, url: str, stats: SourceStats) -> None:
        """Items and region from ``__UNIVERSAL_DATA_FOR_REHYDRATION__`` in the navigation response's body; the
        DOM copy only as a fallback (the page removes it after hydration)."""
        tally = self._result.tally
        blob = None
        for response in reversed(self._documents):  # the last document is the page we are on
            if 300 <= response.status < 400:
                continue  # a redirect has no body
            try:
                body = response.body()
            except Exception:  # served by a service worker from its cache, or the page moved on
                tally.responses["ssr_body_unavailable"] += 1
                break
            blob = ssr_blob(body)
            break
        if blob is None:
            text = self._evaluate(
                page, "() => document.getElementById('__UNIVERSAL_DATA_FOR_REHYDRATION__')?.textContent ?? null", None)
            blob = ssr_blob(f'<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__">{text}</script>') if text else None
            if blob is not None:
                tally.responses["ssr_from_dom"] += 1
        if blob is None:
            tally.responses["ssr_missing"] += 1  # a warm load from the service worker, or a page without it
            return
        data = ssr_items(blob)
        tally.responses["ssr"] += 1
        if data.region:
            self._result.region, self._result.region_source = data.region.upper(), "app_context"
        items = items_from_entries(data.items, wrapped=False, category=self.category, source_url=url, tally=tally)
        stats.items += len(items)
        stats.ssr_items += len(items)
        self._result.items.extend(items)

    def _check_region(self, page, url: str, stats: SourceStats) -> None:
        region, expected = self._result.region, self.options.expected_region
        stats.region = stats.region or region
        if not region or not expected or region == expected.upper() or self.options.allow_other_region:
            return
        where = "the page's app context" if self._result.region_source == "app_context" else "the page's API requests"
        artifacts = save_failure(page, self.failures_dir, RegionMismatch.reason, url)
        raise RegionMismatch(
            f"TikTok assigned region {region} (from {where}) to this crawl, expected {expected.upper()}: what it "
            f"shows follows the IP, so this would be the {region} chart. Crawl through a {expected.upper()} IP "
            "(crawl proxy setting), or set TIKTOK_TOP10_EXPECTED_REGION / TIKTOK_TOP10_ALLOW_OTHER_REGION=1 if "
            "this region is intended.", url=url, artifacts=artifacts)

    # --- scrolling ----------------------------------------------------------------------------------------

    def _scroll_position(self, page) -> ScrollPosition:
        width, height = self.options.viewport
        found = self._evaluate(page, SCROLLER_JS, None, {"x": width / 2, "y": height / 2})
        if not isinstance(found, dict):  # mid-navigation: nothing to measure, and nothing moved
            return ScrollPosition("document", 0.0, 0.0, (0.0, 0.0, float(width), float(height)))
        return ScrollPosition(found["kind"], float(found["top"]), float(found["max"]), tuple(found["rect"]))

    def _wheel(self, page, where: ScrollPosition | None = None) -> None:
        width, height = self.options.viewport
        x0, y0, w, h = where.rect if where is not None else (0, 0, width, height)
        rng = self.rng
        page.mouse.move(x0 + w * rng.uniform(0.35, 0.65), y0 + h * rng.uniform(0.4, 0.7), steps=rng.randint(2, 6))
        for _ in range(rng.randint(2, 4)):
            page.mouse.wheel(rng.uniform(-8, 8), rng.uniform(280, 520))
            page.wait_for_timeout(rng.uniform(40, 120))
        low, high = self.options.scroll_pause_s
        page.wait_for_timeout(rng.uniform(low, high) * 1000)

    def _await_feed_request(self, page, started: int) -> None:
        """Wait (bounded) for the page to start a feed request after ``started`` were seen."""
        deadline = time.monotonic() + self.options.response_wait_s
        while self._feed_started == started and time.monotonic() < deadline and not self._captcha_seen:
            page.wait_for_timeout(100)

    def _wait_and_drain(self, page, url: str, stats: SourceStats, *, first: bool = False) -> bool:
        """Wait (bounded) for the feed requests in flight (with ``first``: for the load's first response), parse
        what arrived.  True when a response ended the feed: ``hasMore`` false on a page shorter than its
        ``count`` (on a full page it can be throttling, pytok)."""
        deadline = time.monotonic() + self.options.response_wait_s
        while time.monotonic() < deadline and not self._captcha_seen:
            if not self._feed_in_flight() and not (first and not self._pending and not self._feed_done):
                break
            page.wait_for_timeout(100)
        ended = False
        while self._pending:
            response = self._pending.pop(0)
            ended = self._parse_response(page, response, url, stats) or ended
        return ended

    def _parse_response(self, page, response, url: str, stats: SourceStats) -> bool:
        tally = self._result.tally
        stats.feed_responses += 1
        try:
            body = response.body()
        except Exception:  # the page navigated on, or the request failed: the body is gone
            tally.responses["body_unavailable"] += 1
            return False
        if not body or not body.strip():
            # TikTok intermittently answers with an empty 200; later scrolls usually recover
            tally.responses["empty_body"] += 1
            return False
        try:
            payload = json.loads(body)
        except ValueError:
            tally.responses["bad_json"] += 1
            return False
        tally.responses["feed"] += 1
        status = payload.get("statusCode", payload.get("status_code")) if isinstance(payload, dict) else None
        if status is not None:
            stats.count("status_codes", str(status))
        try:
            items, envelope = items_from_payload(payload, category=self.category, source_url=url, tally=tally)
        except CrawlError as exc:
            exc.artifacts = save_failure(page, self.failures_dir, exc.reason, url)
            raise
        stats.items += len(items)
        self._result.items.extend(items)
        if envelope.has_more is not False:
            return False
        count = parse_qs(urlsplit(response.url).query).get("count", [""])[0]
        if count.isdigit() and 0 < int(count) <= len(envelope.items):
            tally.responses["has_more_false_on_full_page"] += 1  # not the end by itself: scroll on, on evidence
            return False
        return True

    # --- gates and walls -----------------------------------------------------------------------------------

    def _evaluate(self, page, script: str, default, arg=None):
        """``page.evaluate`` that survives a navigation under it (the firewall page reloads itself): on a
        destroyed context it waits for the next document and tries again; ``default`` if that fails too."""
        from playwright.sync_api import Error as PlaywrightError

        for _ in range(3):
            try:
                return page.evaluate(script, arg)
            except PlaywrightError as exc:
                if self._browser_died(exc):
                    raise
                message = str(exc)
                if not any(m in message for m in ("Execution context was destroyed", "navigat", "Target page")):
                    raise
                try:
                    page.wait_for_load_state("domcontentloaded", timeout=5_000)
                except PlaywrightError as again:
                    if self._browser_died(again):
                        raise
        return default

    def _page_state(self, page) -> dict:
        state = self._evaluate(page, PAGE_STATE_JS, None,
                               [CAPTCHA_SELECTOR, LOGIN_MODAL_CLOSE, REFRESH_TEXT, FIREWALL_MARKER])
        return state if isinstance(state, dict) else {}

    def _wait_out_firewall(self, page, url: str, stats: SourceStats) -> dict:
        """A "Please wait..." page solves its challenge and reloads itself: wait for the page behind it."""
        self._result.gates["firewall_waited"] += 1
        stats.count("gates", "firewall_waited")
        deadline = time.monotonic() + self.options.firewall_wait_s
        while time.monotonic() < deadline:
            page.wait_for_timeout(250)
            state = self._page_state(page)
            if state and not state.get("firewall"):
                self._evaluate(page, "() => document.readyState", None)  # settles on the new document
                return state
        self._blocked(page, BotWallBlocked, f"firewall page ('Please wait...') on {url} did not clear within "
                      f"{self.options.firewall_wait_s:g} s", url)
        return {}

    def _pass_gates(self, page, url: str, stats: SourceStats, state: dict | None, *, refreshed: bool) -> bool:
        """Close a login modal, click a "Refresh" panel (once per load); raise on a login redirect or a
        captcha.  Returns whether the Refresh panel has been clicked in this load."""
        from playwright.sync_api import Error as PlaywrightError

        if urlsplit(page.url).path.rstrip("/").lower().startswith("/login"):
            self._blocked(page, LoginRequired, f"{url} redirected to the login page ({page.url}): this source needs "
                          "a logged-in session; export one into the tiktok_default connection (README, \"First live "
                          "run\") or drop the source", url)
        state = state if state is not None else self._page_state(page)
        if state.get("firewall"):
            state = self._wait_out_firewall(page, url, stats)
        if state.get("captcha") or self._captcha_seen:
            self._blocked(page, CaptchaBlocked, f"captcha shown on {url}", url)
        if BOT_WALL_TITLE.search(state.get("title") or ""):
            self._blocked(page, BotWallBlocked, f"bot wall on {url}: {state.get('title')!r}", url)
        for gate, selector, wanted in (
            ("login_modal_closed", f"{LOGIN_MODAL_CLOSE} >> visible=true", state.get("modal")),
            ("refresh_clicked", f"button >> text=/{REFRESH_TEXT}/i >> visible=true",
             state.get("refresh") and not refreshed),
        ):
            if not wanted:
                continue
            try:
                page.locator(selector).first.click(timeout=3_000)
            except PlaywrightError as exc:
                if self._browser_died(exc):
                    raise
                log.warning("could not pass the %s gate on %s: %s", gate, url, str(exc).splitlines()[0])
                continue
            self._result.gates[gate] += 1
            stats.count("gates", gate)
            refreshed = refreshed or gate == "refresh_clicked"
        return refreshed

    def _blocked(self, page, error: type[CrawlError], message: str, url: str) -> None:
        artifacts = save_failure(page, self.failures_dir, error.reason, url)
        raise error(message, url=url, artifacts=artifacts)
