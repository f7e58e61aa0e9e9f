"""``top10 crawl CATEGORY --out DIR [--url URL ...] [--min-views N] [--reloads N] [--scrolls N]``.

Exit codes: 0 items kept, 2 bad arguments, 3 blocked (captcha / bot wall / IP block), 4 nothing found.
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
from .errors import CrawlBlocked, CrawlEmpty, CrawlError
from .sources import load_sources

EXIT_OK, EXIT_USAGE, EXIT_BLOCKED, EXIT_EMPTY, EXIT_FAILED = 0, 2, 3, 4, 1


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="top10 crawl", description=__doc__.splitlines()[0])
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
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def cli_main(argv: list[str]) -> int:
    from .stage import absolute_urls, browser_options, crawl_category, profile_dir_for

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad arguments, 0 on --help
        return int(exc.code or 0)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)
    try:
        settings = Settings.from_env()
        spec = load_sources(args.sources_json)[args.category]
    except (ValueError, KeyError) as exc:
        print(f"top10 crawl: {exc}", file=sys.stderr)
        return EXIT_USAGE
    pacing = spec.pacing_for(settings.source)
    base = settings.source_base_url
    urls = absolute_urls(args.url or spec.paths(), base)
    cookies = []
    if args.day is not None:
        for url in dict.fromkeys(f"{urlsplit(u).scheme}://{urlsplit(u).netloc}/" for u in urls):
            cookies.append({"name": "demo_day", "value": args.day.isoformat(), "url": url})
    try:
        summary = crawl_category(
            args.category,
            urls,
            out_dir=args.out.resolve(),
            profile_dir=args.profile_dir or profile_dir_for(settings, args.category),
            min_views=settings.min_views if args.min_views is None else args.min_views,
            reloads=args.reloads or pacing.reloads,
            scrolls=pacing.scrolls if args.scrolls is None else args.scrolls,
            cookies=cookies,
            options=browser_options(settings, block_media=not args.no_block_media, block_images=not args.no_block_media),
        )
    except CrawlError as exc:
        code = EXIT_BLOCKED if isinstance(exc, CrawlBlocked) else EXIT_EMPTY if isinstance(exc, CrawlEmpty) else EXIT_FAILED
        print(json.dumps({"error": exc.reason, "message": str(exc), "url": exc.url,
                          "artifacts": [str(p) for p in exc.artifacts]}, ensure_ascii=False))
        return code
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return EXIT_OK
