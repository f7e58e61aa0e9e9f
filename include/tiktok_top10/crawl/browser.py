"""Drive Chromium through TikTok-shaped pages and collect the feed JSON the page itself fetches.

We do not call TikTok's API directly: its requests carry signatures (``X-Bogus``, ``msToken``) that only the
page's own scripts compute.  Instead a real browser loads the page, scrolls it the way a person would (mouse
wheel, jittered pauses) and we read the bodies of the feed XHRs it makes (``page.on("response")``).

The profile is persistent (cookies and local storage survive between runs, as for a returning visitor) and
locked, because Chromium lets one process use a profile directory at a time.  Korean locale, Asia/Seoul time
and a desktop viewport match the audience the rankings are for.  Video, audio and font requests are aborted:
a crawl would otherwise download megabytes of video per scroll.  Captchas, bot walls and IP blocks stop the
crawl with distinct errors after saving a screenshot and the HTML for a human.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import random
import re
import subprocess
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

from ..models import VideoItem
from ..storage import atomic_write_bytes, atomic_write_text
from .errors import BotWallBlocked, BrowserCrashed, CaptchaBlocked, CrawlBlocked, ProfileBusy
from .parse import ParseTally, items_from_payload

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
BLOCKED_RESOURCE_TYPES = frozenset({"media", "font"})
MEDIA_SUFFIXES = (".mp4", ".webm", ".m3u8", ".m4s", ".ts", ".mp3", ".m4a", ".aac", ".woff", ".woff2", ".ttf", ".otf")
# TikTok's slider captcha and verify overlays (selectors seen in public scrapers' detection code).
CAPTCHA_SELECTOR = ", ".join(
    (
        '[id^="captcha-verify"]',
        '[id^="captcha_container"]',
        '[class*="captcha-verify"]',
        '[class*="captcha_verify"]',
        "#tiktok-verify-ele",
        'iframe[src*="captcha"]',
    )
)
BOT_WALL_STATUS = {403, 429}
BOT_WALL_TITLE = re.compile(r"access denied|attention required|just a moment|please wait|too many requests", re.I)


def is_feed_response(url: str) -> bool:
    """The XHRs that carry item lists: ``/api/*item_list*`` feeds and ``/api/search/*``."""
    path = urlsplit(url).path
    return path.startswith("/api/") and ("item_list" in path or path.startswith("/api/search/"))


@dataclass(frozen=True)
class BrowserOptions:
    chromium_path: str | None = "/usr/bin/chromium"  # falls back to Playwright's own browser when absent
    headless: bool = True
    proxy: str | None = None  # e.g. "http://user:pass@host:3128"
    block_media: bool = True
    # The page's own <img> covers: we download covers separately (checked, capped), so the page need not.
    block_images: bool = True
    viewport: tuple[int, int] = (1440, 900)
    nav_timeout_s: float = 30.0
    budget_s: float = 900.0  # the whole category; when spent we stop scrolling and keep what we have
    response_wait_s: float = 3.0  # after a scroll, how long to wait for the page's next feed request
    scroll_pause_s: tuple[float, float] = (0.4, 1.2)
    idle_scrolls: int = 3  # scrolls in a row without a new feed response before giving up on a load
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
    failed_loads: int = 0
    last_load_failed: bool = False


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


def chrome_user_agent(chromium_path: str | None) -> str:
    """A desktop Chrome UA matching the engine's major version (headless Chromium says "HeadlessChrome")."""
    major = "131"
    if chromium_path and os.path.exists(chromium_path):
        try:
            out = subprocess.run([chromium_path, "--version"], capture_output=True, text=True, timeout=10).stdout
            found = re.search(r"(\d+)\.\d+\.\d+\.\d+", out)
            major = found.group(1) if found else major
        except (OSError, subprocess.SubprocessError):
            pass
    return (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{major}.0.0.0 Safari/537.36"
    )


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
    ):
        self.category = category
        self.profile_dir = Path(profile_dir)
        self.failures_dir = Path(failures_dir)
        self.options = options
        self.cookies = list(cookies or [])
        self.rng = random.Random(options.seed)
        self._pending: list = []
        self._captcha_seen = False
        self._result = BrowseResult()

    # --- session ---------------------------------------------------------------------------------------

    def _launch(self, playwright):
        opts = self.options
        kwargs = dict(
            headless=opts.headless,
            args=list(CHROMIUM_ARGS),
            locale="ko-KR",
            timezone_id="Asia/Seoul",
            viewport={"width": opts.viewport[0], "height": opts.viewport[1]},
            user_agent=chrome_user_agent(opts.chromium_path),
            extra_http_headers={"Accept-Language": "ko-KR,ko;q=0.9,en-US;q=0.6,en;q=0.5"},
        )
        if opts.chromium_path and os.path.exists(opts.chromium_path):
            kwargs["executable_path"] = opts.chromium_path
        if opts.proxy:
            kwargs["proxy"] = {"server": opts.proxy}
        context = playwright.chromium.launch_persistent_context(str(self.profile_dir), **kwargs)
        context.set_default_navigation_timeout(opts.nav_timeout_s * 1000)
        if self.cookies:
            context.add_cookies(self.cookies)
        if opts.block_media or opts.block_images:
            context.route("**/*", self._route)
        return context

    def _route(self, route) -> None:
        request = route.request
        path = urlsplit(request.url).path.lower()
        kind = request.resource_type
        media = kind in BLOCKED_RESOURCE_TYPES or path.endswith(MEDIA_SUFFIXES)
        if (media and self.options.block_media) or (kind == "image" and self.options.block_images):
            self._result.blocked_requests[kind] += 1
            route.abort("blockedbyclient")
        else:
            route.continue_()

    def _on_response(self, response) -> None:
        url = response.url
        # the captcha widget fetches its puzzle from .../captcha/get; its scripts load on every page, so not those
        if "/captcha/get" in urlsplit(url).path.lower():
            self._captcha_seen = True
        if is_feed_response(url):
            self._pending.append(response)

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
            self._browser_gone = False
            context.on("close", lambda *_: setattr(self, "_browser_gone", True))
            try:
                page = context.pages[0] if context.pages else context.new_page()
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
                    raise BrowserCrashed(f"{self.category}: the browser died mid-crawl; nothing of this attempt is kept")
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
            marker in message for marker in ("has been closed", "Target closed", "Browser closed", "browser has disconnected")
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
            status = response.status if response is not None else 0
            if status in BOT_WALL_STATUS:
                self._blocked(page, BotWallBlocked, f"HTTP {status} loading {url}", url)
            self._check_walls(page, url)
            has_more = self._wait_and_drain(page, url, stats)
            idle = 0
            for _ in range(scrolls):
                if has_more is False or idle >= self.options.idle_scrolls or self._out_of_time():
                    break
                stats.scrolls += 1
                self._wheel(page)
                before = stats.feed_responses
                more = self._wait_and_drain(page, url, stats)
                has_more = more if more is not None else has_more
                idle = idle + 1 if stats.feed_responses == before else 0

    def _wheel(self, page) -> None:
        width, height = self.options.viewport
        rng = self.rng
        page.mouse.move(width * rng.uniform(0.35, 0.65), height * rng.uniform(0.4, 0.7), steps=rng.randint(2, 6))
        for _ in range(rng.randint(2, 4)):
            page.mouse.wheel(rng.uniform(-8, 8), rng.uniform(280, 520))
            page.wait_for_timeout(rng.uniform(40, 120))
        low, high = self.options.scroll_pause_s
        page.wait_for_timeout(rng.uniform(low, high) * 1000)

    def _wait_and_drain(self, page, url: str, stats: SourceStats) -> bool | None:
        """Wait (bounded) for the page's next feed response(s), parse them; returns the last has-more flag."""
        deadline = time.monotonic() + self.options.response_wait_s
        while not self._pending and time.monotonic() < deadline and not self._captcha_seen:
            page.wait_for_timeout(100)
        if self._pending:
            page.wait_for_timeout(150)  # a scroll can trigger two requests back to back
        has_more = None
        while self._pending:
            response = self._pending.pop(0)
            more = self._parse_response(page, response, url, stats)
            has_more = more if more is not None else has_more
        self._check_walls(page, url)
        return has_more

    def _parse_response(self, page, response, url: str, stats: SourceStats) -> bool | None:
        tally = self._result.tally
        stats.feed_responses += 1
        try:
            body = response.body()
        except Exception:  # the page navigated on, or the request failed: the body is gone
            tally.responses["body_unavailable"] += 1
            return None
        if not body or not body.strip():
            # TikTok intermittently answers with an empty 200; later scrolls usually recover
            tally.responses["empty_body"] += 1
            return None
        try:
            payload = json.loads(body)
        except ValueError:
            tally.responses["bad_json"] += 1
            return None
        tally.responses["feed"] += 1
        try:
            items, envelope = items_from_payload(payload, category=self.category, source_url=url, tally=tally)
        except CrawlBlocked as exc:
            exc.artifacts = save_failure(page, self.failures_dir, exc.reason, url)
            raise
        stats.items += len(items)
        self._result.items.extend(items)
        return envelope.has_more

    def _check_walls(self, page, url: str) -> None:
        if self._captcha_seen or page.query_selector(CAPTCHA_SELECTOR) is not None:
            self._blocked(page, CaptchaBlocked, f"captcha shown on {url}", url)
        try:
            title = page.title()
        except Exception:
            title = ""
        if BOT_WALL_TITLE.search(title or ""):
            self._blocked(page, BotWallBlocked, f"bot wall on {url}: {title!r}", url)

    def _blocked(self, page, error: type[CrawlBlocked], message: str, url: str) -> None:
        artifacts = save_failure(page, self.failures_dir, error.reason, url)
        raise error(message, url=url, artifacts=artifacts)
