"""``top10 probe [--category C] [--json]``: before the first live run, load each configured source once with the
live settings (site, proxy, login cookies, headful) and say what the site did.

Per source: the HTTP status of the page, the region TikTok assigned, whether the browser was logged in, the gate
met (a login modal closed, a firewall waited out, a captcha, a login wall...), the feed endpoints the page
called, the items found, and a screenshot.  Each source gets its own browser session, so one blocked source
does not hide the others.  Exit 0 when every probed category has a source that works for this session (one the
crawl would use, with items); otherwise the exit code of the table in errors.py for the worst failure seen
(3 blocked / needs a person, 1 unreachable), else 4 (nothing found).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ..config import CATEGORIES, Settings
from .browser import FeedCrawler, SourceStats, is_feed_response
from .errors import EXIT_BLOCKED, EXIT_EMPTY, EXIT_FAILED, EXIT_OK, EXIT_USAGE, CrawlError, error_table_text
from .sources import Source, load_sources

log = logging.getLogger(__name__)


@dataclass
class SourceProbe:
    """What one load of one source showed."""

    category: str
    path: str
    kind: str
    requires_login: bool
    used_by_crawl: bool  # False: a login-only source, and this session is logged out
    http_status: int | None = None
    region: str | None = None
    logged_in: bool | None = None
    gates: dict = field(default_factory=dict)
    error: str | None = None  # the CrawlError's reason (captcha, login_required, region_mismatch, ...)
    exit_code: int = EXIT_OK
    message: str = ""
    feed_endpoints: list[str] = field(default_factory=list)
    items: int = 0
    screenshot: str | None = None
    seconds: float = 0.0
    value: str = ""  # the slug, query or hashtag, readable

    @property
    def works(self) -> bool:
        return self.used_by_crawl and self.error is None and self.items > 0

    def line(self) -> str:
        if self.works:
            state = "ok"
        elif not self.used_by_crawl:
            state = (f"login-only: the crawl skips it without a session ({self.error or f'{self.items} items'} "
                     "when loaded logged out)")
        else:
            state = self.error or "no items"
        gates = ",".join(f"{k}={v}" for k, v in sorted(self.gates.items())) or "-"
        return (f"  {self.path} ({self.kind} {self.value})\n"
                f"    {state}; HTTP {self.http_status or '-'}; region {self.region or '?'}; "
                f"logged in: {'yes' if self.logged_in else 'no'}; gates: {gates}; items: {self.items}\n"
                f"    feeds: {', '.join(self.feed_endpoints) or '-'}\n"
                f"    screenshot: {self.screenshot or '-'}"
                + (f"\n    {self.message}" if self.message else ""))


class ProbingCrawler(FeedCrawler):
    """The crawl's own browser and page logic, plus what a human needs to see: the page's HTTP status, the feed
    endpoints it called, and a screenshot of where it ended."""

    def __init__(self, *args, screenshot: Path, **kwargs):
        super().__init__(*args, **kwargs)
        self.screenshot_path = screenshot
        self.screenshot_taken = False
        self.statuses: list[int] = []
        self.feed_paths: dict[str, None] = {}

    def _launch(self, playwright):
        context = super()._launch(playwright)
        context.on("request", self._note_request)
        context.on("response", self._note_response)
        return context

    def _note_request(self, request) -> None:
        if is_feed_response(request.url):
            self.feed_paths[urlsplit(request.url).path] = None

    def _note_response(self, response) -> None:
        try:
            if response.request.resource_type == "document" and response.frame.parent_frame is None:
                self.statuses.append(response.status)
        except Exception:  # a frame gone mid-navigation: nothing to note
            pass

    def _crawl_source(self, page, url, stats, reloads, scrolls):
        try:
            return super()._crawl_source(page, url, stats, reloads, scrolls)
        finally:
            try:
                self.screenshot_path.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(self.screenshot_path), timeout=10_000)
                self.screenshot_taken = True
            except Exception as exc:
                log.warning("probe: no screenshot of %s: %s", url, str(exc).splitlines()[0])


def probe_source(settings: Settings, category: str, source: Source, *, used_by_crawl: bool, session: list[dict],
                 shots: Path, index: int, options) -> SourceProbe:
    from .stage import absolute_urls, profile_dir_for

    url = absolute_urls([source.path], settings.source_base_url)[0]
    result = SourceProbe(category, source.path, source.kind, source.requires_login, used_by_crawl, value=source.value)
    crawler = ProbingCrawler(category=category, profile_dir=profile_dir_for(settings, category),
                             failures_dir=shots / "failures", options=options, session_cookies=session,
                             screenshot=shots / f"{category}-{index}-{source.kind}.png")
    started = time.monotonic()
    try:
        browsed = crawler.crawl([url], reloads=1, scrolls=1)
        stats: SourceStats | None = browsed.sources[0] if browsed.sources else None
        result.items = len({item.id for item in browsed.items})
        result.region, result.logged_in = browsed.region, browsed.logged_in
        if stats is not None:
            result.gates = dict(getattr(stats, "gates", {}) or {})
            if stats.last_load_failed:
                result.error, result.exit_code = "unreachable", EXIT_FAILED
                result.message = "the page did not load (timeout, refused, DNS): check the proxy and network"
    except CrawlError as exc:
        result.error, result.exit_code, result.message = exc.reason, exc.exit_code, str(exc)
        result.region = crawler._result.region
        result.logged_in = crawler._result.logged_in
        result.items = len({item.id for item in crawler._result.items})
    result.http_status = crawler.statuses[-1] if crawler.statuses else None
    result.feed_endpoints = list(crawler.feed_paths)
    result.screenshot = str(crawler.screenshot_path) if crawler.screenshot_taken else None
    result.seconds = round(time.monotonic() - started, 2)
    return result


def run_probe(settings: Settings, categories: list[str], *, sources_override: str | None = None,
              out_dir: Path | None = None, headful: bool = False) -> tuple[int, list[SourceProbe]]:
    from .stage import browser_options, is_logged_in, profile_dir_for, session_cookies_from_settings

    specs = load_sources(sources_override)
    session = session_cookies_from_settings(settings)
    shots = out_dir or settings.data_root / "probe" / time.strftime("%Y%m%dT%H%M%S")
    options = browser_options(settings, headful=headful or settings.headful)
    probes: list[SourceProbe] = []
    code = EXIT_OK
    for category in categories:
        plan = specs[category].plan(settings.source,
                                    logged_in=is_logged_in(settings, session, profile_dir_for(settings, category)))
        used = {s.path for s in plan.crawl}
        found = [probe_source(settings, category, source, used_by_crawl=source.path in used, session=session,
                              shots=shots, index=i, options=options)
                 for i, source in enumerate(specs[category].for_site(settings.source))]
        probes += found
        if not any(p.works for p in found):
            worst = max((p.exit_code for p in found if p.used_by_crawl and p.error), default=EXIT_EMPTY,
                        key=lambda c: {EXIT_BLOCKED: 3, EXIT_FAILED: 2, EXIT_EMPTY: 1}.get(c, 0))
            code = max(code, worst, key=lambda c: {EXIT_BLOCKED: 3, EXIT_FAILED: 2, EXIT_EMPTY: 1}.get(c, 0))
    return code, probes


def cli_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="top10 probe", description=__doc__.splitlines()[0],
                                     epilog=error_table_text(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--category", action="append", choices=CATEGORIES, help="repeatable; default: all")
    parser.add_argument("--sources-json", help="override of crawl sources (same shape as sources.json)")
    parser.add_argument("--out", type=Path, help="screenshot dir (default: DATA_ROOT/probe/<time>)")
    parser.add_argument("--headful", action="store_true", help="a headed browser on Xvfb")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("-v", "--verbose", action="store_true")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)
    try:
        settings = Settings.from_env()
        categories = args.category or list(settings.categories)
        code, probes = run_probe(settings, categories, sources_override=args.sources_json, out_dir=args.out,
                                 headful=args.headful)
    except ValueError as exc:
        print(f"top10 probe: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps({"site": settings.source_base_url, "exit_code": code,
                          "sources": [{**p.__dict__, "works": p.works} for p in probes]}, ensure_ascii=False, indent=2))
        return code
    print(f"probe of {settings.source_base_url} (proxy: {'yes' if settings.proxy_server else 'no'}, "
          f"headful: {'yes' if args.headful or settings.headful else 'no'})")
    for category in categories:
        mine = [p for p in probes if p.category == category]
        print(f"{category}: {'WORKS' if any(p.works for p in mine) else 'NO WORKING SOURCE'}")
        for p in mine:
            print(p.line())
    print(f"exit {code}")
    return code
