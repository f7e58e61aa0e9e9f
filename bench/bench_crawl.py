"""Crawl benchmarks (``make bench``): throughput, cover download concurrency, media blocking.

Runs on the demo site (``tiktok_top10.demo.DemoSite``) when it is importable, else on the tests' hostile
loopback site, and prints ratios against the naive baseline measured in the same run:

* items/min of one category crawl (real Chromium, demo pacing);
* cover downloads: bounded-concurrent (default policy) vs sequential (concurrency 1), same URLs, warm server;
* bytes the page received with media/font/image blocking on vs off (Chrome DevTools Protocol byte counts).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tiktok_top10.config import Settings  # noqa: E402
from tiktok_top10.crawl.covers import CoverPolicy, download_covers  # noqa: E402
from tiktok_top10.crawl.sources import load_sources  # noqa: E402
from tiktok_top10.crawl.stage import absolute_urls, browser_options, crawl_category  # noqa: E402
from tiktok_top10.storage import read_jsonl  # noqa: E402


def open_site(stack: ExitStack, force_hostile: bool) -> tuple[str, str, list[str]]:
    """(name, base_url, source paths)."""
    if not force_hostile:
        try:
            from tiktok_top10.demo import DemoSite

            site = stack.enter_context(DemoSite(host="127.0.0.1", port=0))
            return "demo", site.base_url, []
        except (ImportError, AttributeError):
            print("note: tiktok_top10.demo.DemoSite not available; using the tests' hostile site")
    from tests.crawl.hostile_site import HostileSite

    site = stack.enter_context(HostileSite())
    return "hostile", site.base_url, ["/feed/ok"]


def crawl_once(base: str, paths: list[str], category: str, day: dt.date, out: Path, *, block_media: bool) -> dict:
    settings = Settings(data_root=out, source="demo", demo_url=base, min_views=0)
    spec = load_sources(None)[category]
    pacing = spec.pacing_for("demo")
    urls = absolute_urls(paths or spec.paths(), base)
    cookies = [{"name": "demo_day", "value": day.isoformat(), "url": base + "/"}]
    return crawl_category(
        category, urls, out_dir=out / "raw", profile_dir=out / "profile", min_views=0,
        reloads=pacing.reloads, scrolls=pacing.scrolls, cookies=cookies,
        options=browser_options(settings, block_media=block_media, block_images=block_media),
    )


def timed_download(covers: dict[str, str], policy: CoverPolicy, dest: Path, repeat: int) -> tuple[float, int]:
    best, ok = float("inf"), 0
    for _ in range(repeat):
        shutil.rmtree(dest, ignore_errors=True)
        started = time.perf_counter()
        report = download_covers(covers, dest, policy)
        best = min(best, time.perf_counter() - started)
        ok = report.ok
    return best, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--category", default="dance")
    parser.add_argument("--day", default="2026-01-10")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--hostile", action="store_true", help="bench on the hostile test site")
    args = parser.parse_args(argv)
    day = dt.date.fromisoformat(args.day)
    with ExitStack() as stack:
        name, base, paths = open_site(stack, args.hostile)
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-crawl-")))
        print(f"site: {name} {base}  category: {args.category}  day: {day}")

        blocked = crawl_once(base, paths, args.category, day, work / "blocked", block_media=True)
        unblocked = crawl_once(base, paths, args.category, day, work / "unblocked", block_media=False)
        per_min = blocked["items_seen"] / blocked["crawl_seconds"] * 60
        print("\n| crawl (media blocked) | value |\n|---|---|")
        print(f"| items seen / kept | {blocked['items_seen']} / {blocked['items_kept']} |")
        print(f"| crawl seconds | {blocked['crawl_seconds']:.1f} |")
        print(f"| items/min | {per_min:.0f} |")

        on, off = blocked["page_network_bytes"], unblocked["page_network_bytes"]
        print("\n| page bytes received | bytes |\n|---|---|")
        print(f"| media blocking off (baseline) | {off:,} |")
        print(f"| media blocking on | {on:,} |")
        print(f"| ratio off/on | {off / max(on, 1):.2f}x |")
        print(f"| requests blocked | { {k: v for k, v in blocked.items() if k.startswith('blocked_requests_')} } |")

        rows = list(read_jsonl(work / "blocked" / "raw" / "items.jsonl"))
        covers = {r["id"]: r["cover_url"] for r in rows if r["cover_url"]}
        policy = CoverPolicy().with_hosts(base)
        timed_download(covers, policy, work / "warm", 1)  # warm the server's cover cache for both runs
        sequential, ok_seq = timed_download(covers, replace(policy, concurrency=1), work / "seq", args.repeat)
        concurrent, ok_con = timed_download(covers, policy, work / "con", args.repeat)
        print(f"\n| cover downloads ({len(covers)} covers, best of {args.repeat}) | seconds | covers/s |\n"
              "|---|---|---|")
        print(f"| sequential (baseline) | {sequential:.2f} | {ok_seq / sequential:.0f} |")
        print(f"| concurrent x{policy.concurrency} | {concurrent:.2f} | {ok_con / concurrent:.0f} |")
        print(f"| speed-up | {sequential / concurrent:.2f}x | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
