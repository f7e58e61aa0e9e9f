"""The crawl stage: one category's sources -> ``raw/items.jsonl`` + ``raw/dropped.jsonl`` + ``raw/thumbnails/`` +
``crawl_summary.json``.

Decisions made here: which items to keep (views >= min_views), one row per video id within the category (the
observation with the most views wins: a later scroll may carry fresher counters), and the output is replaced
as a whole (staged beside the target, then swapped in), so a rerun replaces rather than appends, and a
failed crawl leaves the previous day's output untouched.  Items whose cover could not be downloaded are still
written, with ``thumbnail`` null and ``thumbnail_error`` saying why; the dedup stage decides what that means.
The items dropped here — below ``min_views``, and ads — are written to ``dropped.jsonl`` as small records with
their reason (:func:`dropped_records`), in the same swap, so ``top10 explain`` can say why a video is missing.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import socket
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from ..config import Settings
from ..models import VideoItem
from ..storage import DayLayout, atomic_write_json, atomic_write_jsonl, staged_dir
from .browser import BrowserOptions, FeedCrawler
from .covers import CoverPolicy, download_covers
from .errors import CrawlEmpty, SourceUnreachable
from .session import cookies_from_connection, has_session, profile_has_session, proxy_settings
from .sources import SourcePlan, load_sources, source_records

log = logging.getLogger(__name__)

# The demo site answers instantly and deterministically: short waits keep a category well under a minute.
DEMO_BROWSER_TIMING = dict(response_wait_s=1.5, scroll_pause_s=(0.05, 0.2), idle_scrolls=2, budget_s=120.0,
                           firewall_wait_s=10.0)


def absolute_urls(urls: list[str], base_url: str) -> list[str]:
    """Source paths joined to the site's base URL; absolute URLs pass through."""
    base = base_url.rstrip("/") + "/"
    return [u if urlsplit(u).scheme else urljoin(base, u.lstrip("/")) for u in urls]


def normalise_cookies(cookies: list[dict] | None, base_url: str) -> list[dict]:
    """Playwright cookies need a ``url`` or a ``domain`` + ``path``; bare ``{name, value}`` go to the site."""
    out = []
    for cookie in cookies or []:
        if not isinstance(cookie, dict) or not cookie.get("name") or "value" not in cookie:
            raise ValueError(f"a cookie needs 'name' and 'value', got {cookie!r}")
        cookie = dict(cookie)
        if "url" not in cookie and "domain" not in cookie:
            cookie["url"] = base_url.rstrip("/") + "/"
        if "domain" in cookie:
            cookie.setdefault("path", "/")
        out.append(cookie)
    return out


def select_items(items: list[VideoItem], min_views: int) -> tuple[list[VideoItem], Counter]:
    """Unique by id (most views wins, then first seen), views >= min_views, sorted by id."""
    best: dict[str, VideoItem] = {}
    for item in items:
        held = best.get(item.id)
        if held is None or item.views > held.views:
            best[item.id] = item
    counts = Counter(duplicates_in_category=len(items) - len(best))
    kept = []
    for item in best.values():
        if item.views >= min_views:
            kept.append(item)
        else:
            counts["below_min_views"] += 1
    kept.sort(key=lambda i: (len(i.id), i.id))  # numeric order of digit strings
    return kept, counts


DROPPED_BELOW_MIN_VIEWS = "below_min_views"
DROPPED_AD = "ad"


def dropped_records(items: list[VideoItem], ads: dict[str, VideoItem] | list[VideoItem], min_views: int) -> list[dict]:
    """What :func:`select_items` and the parser dropped, one record per video id: ``{id, url, author, views,
    reason, source}`` (+ ``min_views`` for ``below_min_views``), sorted by reason then id.  Ads are recorded as
    ``ad`` whatever their views; an id that is also an ordinary (non-ad) item is that item's, not an ad."""
    best: dict[str, VideoItem] = {}
    for item in items:
        held = best.get(item.id)
        if held is None or item.views > held.views:
            best[item.id] = item

    def record(item: VideoItem, reason: str) -> dict:
        row = {"id": item.id, "url": item.url, "author": item.author_unique_id, "views": item.views,
               "reason": reason, "source": item.source_url}
        if reason == DROPPED_BELOW_MIN_VIEWS:
            row["min_views"] = min_views
        return row

    rows = [record(item, DROPPED_BELOW_MIN_VIEWS) for item in best.values() if item.views < min_views]
    ad_items = ads.values() if isinstance(ads, dict) else ads
    rows += [record(ad, DROPPED_AD) for ad in {a.id: a for a in ad_items}.values() if ad.id not in best]
    return sorted(rows, key=lambda r: (r["reason"], len(r["id"]), r["id"]))


def _flat(prefix: str, counter: Counter) -> dict[str, int]:
    return {f"{prefix}_{key}": int(n) for key, n in sorted(counter.items())}


def crawl_category(
    category: str,
    urls: list[str],
    *,
    out_dir: Path,
    profile_dir: Path,
    min_views: int,
    reloads: int,
    scrolls: int,
    cookies: list[dict] | None = None,
    options: BrowserOptions = BrowserOptions(),  # noqa: B008 - a frozen dataclass: a shared default cannot be mutated
    cover_policy: CoverPolicy = CoverPolicy(),  # noqa: B008 - a frozen dataclass: a shared default cannot be mutated
    root: Path | None = None,
    session_cookies: list[dict] | None = None,
    plan: SourcePlan | None = None,
) -> dict:
    """Crawl ``urls``, keep and download, then replace ``out_dir`` with ``items.jsonl``, ``dropped.jsonl``,
    ``thumbnails/`` and ``crawl_summary.json``. Returns the summary. Raises ``CrawlBlocked`` / ``CrawlEmpty``
    (``out_dir`` untouched, apart from screenshots in ``out_dir/failures/``)."""
    if not urls:
        raise ValueError(f"no source URLs for category {category!r}")
    out_dir = Path(out_dir)
    root = Path(root) if root is not None else out_dir.parent
    failures_dir = out_dir / "failures"
    crawler = FeedCrawler(
        category=category, profile_dir=profile_dir, failures_dir=failures_dir, options=options, cookies=cookies,
        session_cookies=session_cookies,
    )
    browsed = crawler.crawl(urls, reloads=reloads, scrolls=scrolls)
    for source in browsed.sources:
        log.info("crawled %s: %s", source.url, source)
    kept, counts = select_items(browsed.items, min_views)
    responses = browsed.tally.responses
    if not browsed.items and responses["navigation_error"] and not responses["feed"]:
        loads = sum(s.loads for s in browsed.sources)
        raise SourceUnreachable(
            f"{category}: {responses['navigation_error']} of {loads} page loads failed "
            f"(navigation timeout or connection error) and no feed answered", url=urls[0])
    if not browsed.items and browsed.budget_exhausted and not any(s.loads for s in browsed.sources):
        # no page was even asked for: "nothing usable came back" (CrawlEmpty, never retried) would be a lie
        raise SourceUnreachable(
            f"{category}: the crawl budget ({options.budget_s:g} s) ran out before any page was loaded", url=urls[0])
    if not kept:
        found = len({i.id for i in browsed.items})
        why = f"{found} videos found, all below {min_views} views" if found else "no videos found"
        raise CrawlEmpty(f"{category}: {why} after crawling {len(urls)} source(s)", artifacts=browsed.empty_artifacts)

    with staged_dir(out_dir, root) as staging:
        staged = staging.path
        started = time.monotonic()
        policy = cover_policy.with_hosts(*urls)
        report = download_covers({i.id: i.cover_url for i in kept}, staged / "thumbnails", policy)
        download_seconds = round(time.monotonic() - started, 3)
        rows = []
        for item in kept:
            result = report.results[item.id]
            thumbnail = str(result.path) if result.path else None
            rows.append(item.model_copy(update={"thumbnail": thumbnail, "thumbnail_error": result.error}).to_json())
        atomic_write_jsonl(staged / "items.jsonl", rows)
        dropped = dropped_records(browsed.items, browsed.tally.ads, min_views)
        atomic_write_jsonl(staged / "dropped.jsonl", dropped)
        summary = {
            "category": category,
            "sources": len(urls),
            "reloads": reloads,
            "scrolls": scrolls,
            "min_views": min_views,
            "items_seen": len(browsed.items),
            "items_from_page_data": sum(s.ssr_items for s in browsed.sources),  # server-rendered, not a feed XHR
            "region": browsed.region or "",  # the region TikTok assigned ("" when the page did not say)
            "scrolls_done": sum(s.scrolls for s in browsed.sources),
            "scrolls_without_progress": sum(s.scrolls_without_progress for s in browsed.sources),
            "items_kept": len(kept),
            "below_min_views": counts["below_min_views"],
            "dropped_recorded": len(dropped),  # rows of dropped.jsonl: below_min_views + unique well-formed ads
            "duplicates_in_category": counts["duplicates_in_category"],
            "malformed": sum(browsed.tally.malformed.values()),
            **_flat("malformed", browsed.tally.malformed),
            **_flat("skipped", browsed.tally.skipped),
            **_flat("normalised", browsed.tally.normalised),
            **_flat("responses", browsed.tally.responses),
            **_flat("blocked_requests", browsed.blocked_requests),
            **_flat("gates", browsed.gates),
            "covers_downloaded": report.ok,
            "download_failures": sum(report.failures.values()),
            **_flat("download_failed", report.failures),
            "cover_bytes": report.bytes,
            "page_network_bytes": browsed.network_bytes,
            "budget_exhausted": browsed.budget_exhausted,
            "crawl_seconds": browsed.elapsed_s,
            "download_seconds": download_seconds,
            "logged_in": browsed.logged_in,
            "sources_skipped": len(plan.skipped) if plan else 0,
            **_flat("sources_skipped", Counter(reason for _, reason in plan.skipped) if plan else Counter()),
            "per_source": source_records(plan, browsed.sources),
        }
        if crawler.replayer is not None:  # --replay-har: what the file answered, and what was refused
            summary["har_replay"] = {"fulfilled": crawler.replayer.fulfilled, "aborted": len(crawler.replayer.aborted),
                                     "aborted_urls": crawler.replayer.aborted[:20]}
        atomic_write_json(staged / "crawl_summary.json", summary)
        if failures_dir.is_dir():  # keep the evidence of earlier failed attempts across the swap
            shutil.copytree(failures_dir, staged / "failures")
    return summary


def session_domain(settings: Settings) -> str:
    """The cookie domain of the crawled site: TikTok's, or the demo's host."""
    return ".tiktok.com" if settings.source == "tiktok" else urlsplit(settings.source_base_url).hostname or ""


def is_logged_in(settings: Settings, session: list[dict], profile_dir: Path) -> bool:
    """A session cookie for the crawled site in the login cookies given, or already in the persistent profile.
    (TikTok's cookies do not log the browser in to the demo site, and the other way round.)"""
    site = session_domain(settings).lstrip(".")

    def for_site(cookie: dict) -> bool:
        host = (cookie.get("domain") or urlsplit(cookie.get("url", "")).hostname or "").lstrip(".")
        return host == site or host.endswith("." + site) or site.endswith("." + host)

    return has_session([c for c in session if for_site(c)]) or profile_has_session(profile_dir, site)


def session_cookies_from_settings(settings: Settings) -> list[dict]:
    """Login cookies from ``Settings.session_cookies`` (the CLI's way; the DAG reads the connection)."""
    return cookies_from_connection(settings.session_cookies, None, default_domain=session_domain(settings))


def profile_dir_for(settings: Settings, category: str) -> Path:
    """One profile per host and category: mapped tasks run concurrently and a profile has one user at a time."""
    return settings.data_root / "browser-profiles" / f"{socket.gethostname()}-{category}"


def browser_options(settings: Settings, **overrides) -> BrowserOptions:
    timing = DEMO_BROWSER_TIMING if settings.source == "demo" else {}
    proxy = proxy_settings(settings.proxy_server, settings.proxy_username, settings.proxy_password)
    timing = {**timing, "headful": settings.headful}
    region = {"expected_region": settings.expected_region, "allow_other_region": settings.allow_other_region}
    return BrowserOptions(**{"chromium_path": settings.chromium_path, "proxy": proxy, **timing, **region, **overrides})


def run_crawl(
    settings: Settings,
    day: dt.date,
    category: str,
    *,
    sources_override: str | None = None,
    cookies: list[dict] | None = None,
) -> Path:
    """DAG stage: crawl ``category`` for ``day`` into ``<day>/<category>/raw/``; returns the items.jsonl path.

    ``cookies``: the login cookies (``session.cookies_from_connection``); without a session cookie, here or in
    the profile, the category's login-only sources are skipped and counted."""
    specs = load_sources(sources_override)
    if category not in specs:
        raise ValueError(f"no crawl sources configured for category {category!r}")
    spec = specs[category]
    pacing = spec.pacing_for(settings.source)
    base = settings.source_base_url
    # ``cookies`` are the login cookies of the tiktok_default connection (else the settings'): the profile's own
    # copies win over them (session.py); demo_day is set on every run
    session = normalise_cookies(cookies if cookies else session_cookies_from_settings(settings), base)
    profile_dir = profile_dir_for(settings, category)
    plan = spec.plan(settings.source, logged_in=is_logged_in(settings, session, profile_dir))
    for source, reason in plan.skipped:
        log.warning("crawl %s: skipping %s (%s): no TikTok session; see README \"First live run\"",
                    category, source.path, reason)
    jar = []
    if settings.source == "demo":
        jar.append({"name": "demo_day", "value": day.isoformat(), "url": base.rstrip("/") + "/"})
    layout = DayLayout(settings.data_root, day)
    summary = crawl_category(
        category,
        absolute_urls(plan.paths, base),
        out_dir=layout.raw_dir(category),
        profile_dir=profile_dir_for(settings, category),
        min_views=settings.min_views,
        reloads=pacing.reloads,
        scrolls=pacing.scrolls,
        cookies=jar,
        options=browser_options(settings),
        root=settings.data_root,
        session_cookies=session,
        plan=plan,
    )
    log.info("crawl %s %s: %s", day, category, summary)
    return layout.raw_items(category)
