"""``top10 crawl CATEGORY --out DIR [--url URL ...] [--min-views N] [--reloads N] [--scrolls N]
[--record-har FILE | --replay-har FILE] [--headful]``.

Settings come from ``TIKTOK_TOP10_*`` (config.py): the site (``TIKTOK_TOP10_SOURCE``), the proxy
(``TIKTOK_TOP10_PROXY_SERVER``/``_USERNAME``/``_PASSWORD``), login cookies (``TIKTOK_TOP10_SESSION_COOKIES``).
Without a session cookie, login-only sources are skipped and counted in the summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from urllib.parse import urlsplit

from ..config import CATEGORIES, Settings
from ..storage import parse_day
from .errors import EXIT_OK, EXIT_USAGE, CrawlError, error_table_text
from .sources import load_sources


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _existing_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return path.resolve()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="top10 crawl", description=__doc__.splitlines()[0],
                                     epilog=error_table_text(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("category", choices=CATEGORIES)
    parser.add_argument("--out", required=True, type=Path, help="output dir (replaced as a whole)")
    parser.add_argument("--url", action="append", default=[], help="source URL or path (repeatable)")
    parser.add_argument("--min-views", type=_non_negative, help="default: settings.min_views")
    parser.add_argument("--reloads", type=_positive, help="page loads per source")
    parser.add_argument("--scrolls", type=_non_negative, help="wheel scrolls per load")
    parser.add_argument("--day", type=parse_day, help="YYYY-MM-DD: sets the demo site's demo_day cookie")
    parser.add_argument("--profile-dir", type=Path, help="persistent browser profile (default under data root)")
    parser.add_argument("--sources-json", help="override of crawl sources (same shape as sources.json)")
    parser.add_argument("--no-block-media", action="store_true", help="let the page download video/audio/fonts/images")
    parser.add_argument("--headful", action="store_true", help="a headed browser on Xvfb (default: settings.headful)")
    har = parser.add_mutually_exclusive_group()
    har.add_argument("--record-har", type=Path, metavar="FILE",
                     help="record the crawl's traffic (media left out, cookies and tokens stripped); keep live "
                          "recordings outside the repository")
    har.add_argument("--replay-har", type=_existing_file, metavar="FILE",
                     help="crawl from a recorded HAR with no network: unmatched requests are aborted, no covers")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def cli_main(argv: list[str]) -> int:
    from .covers import CoverPolicy
    from .har import OfflineCoverPolicy, har_summary, sanitize_har
    from .stage import (
        absolute_urls,
        browser_options,
        crawl_category,
        is_logged_in,
        profile_dir_for,
        session_cookies_from_settings,
    )

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad arguments, 0 on --help
        return int(exc.code or 0)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)
    try:
        settings = Settings.from_env()
        spec = load_sources(args.sources_json)[args.category]
        session = session_cookies_from_settings(settings)
    except (ValueError, KeyError) as exc:
        print(f"top10 crawl: {exc}", file=sys.stderr)
        return EXIT_USAGE
    pacing = spec.pacing_for(settings.source)
    base = settings.source_base_url
    profile_dir = args.profile_dir or profile_dir_for(settings, args.category)
    plan = None
    if args.url:
        urls = absolute_urls(args.url, base)
    else:
        plan = spec.plan(settings.source, logged_in=is_logged_in(settings, session, profile_dir))
        urls = absolute_urls(plan.paths, base)
    cookies = []
    if args.day is not None:
        for url in dict.fromkeys(f"{urlsplit(u).scheme}://{urlsplit(u).netloc}/" for u in urls):
            cookies.append({"name": "demo_day", "value": args.day.isoformat(), "url": url})
    block = not args.no_block_media
    options = browser_options(settings, block_media=block, block_images=block, record_har=args.record_har,
                              replay_har=args.replay_har, headful=args.headful or settings.headful)
    try:
        summary = crawl_category(
            args.category,
            urls,
            out_dir=args.out.resolve(),
            profile_dir=profile_dir,
            min_views=settings.min_views if args.min_views is None else args.min_views,
            reloads=args.reloads or pacing.reloads,
            scrolls=pacing.scrolls if args.scrolls is None else args.scrolls,
            cookies=cookies,
            session_cookies=session,
            plan=plan,
            options=options,
            cover_policy=OfflineCoverPolicy() if args.replay_har else CoverPolicy(),
        )
    except CrawlError as exc:
        print(json.dumps({"error": exc.reason, "message": str(exc), "url": exc.url,
                          "artifacts": [str(p) for p in exc.artifacts]}, ensure_ascii=False))
        return exc.exit_code
    finally:
        # the browser wrote the file when it closed, whatever the crawl's outcome: strip it before anyone reads it
        if args.record_har and args.record_har.is_file():
            sanitize_har(args.record_har)
    if args.record_har:
        summary["har"] = {"path": str(args.record_har.resolve()), **har_summary(args.record_har)}
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return EXIT_OK
