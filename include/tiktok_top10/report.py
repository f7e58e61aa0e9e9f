"""A day's outcome in plain text: where the published files are and what each stage counted.

``top10 report DAY`` prints it (``make run`` does after its run); the exit status is 0 only for a complete day.
"""

from __future__ import annotations

import argparse
import json

from .config import Settings
from .storage import DayLayout, parse_day, read_json


def _flat(counts: dict, keys: tuple[str, ...] = ()) -> str:
    shown = {k: v for k, v in counts.items() if not isinstance(v, (dict, list)) and (not keys or k in keys)}
    return ", ".join(f"{k}={v}" for k, v in shown.items())


def format_day(settings: Settings, day: str) -> tuple[str, bool]:
    layout = DayLayout(settings.data_root, parse_day(day))
    if not layout.manifest.exists():
        return f"no manifest for {day} under {settings.data_root}: nothing was published", False
    manifest = read_json(layout.manifest)
    lines = [f"day {manifest['day']}: {manifest['status']} (source={manifest['source']})",
             f"data root: {settings.data_root}", "", "published:"]
    for category in manifest["categories"]:
        pub = manifest["stages"]["publish"].get(category, {})
        path = layout.top10_json(category)
        shown = path if path.exists() else "(not published)"
        lines.append(f"  {category:<10} {pub.get('published', 0):>2} entries  {shown}")
    lines += ["", "per-stage counts:"]
    for category in manifest["categories"]:
        crawl = manifest["stages"]["crawl"].get(category) or {}
        lines.append(f"  crawl/{category:<10} {_flat(crawl) or 'no crawl output'}")
    for stage in ("dedup", "language"):
        lines.append(f"  {stage:<16} {_flat(manifest['stages'].get(stage) or {})}")
    published = {c: s.get("published") for c, s in manifest["stages"]["publish"].items()}
    lines.append(f"  {'publish':<16} " + json.dumps(published))
    lines.append(f"\nmanifest: {layout.manifest}")
    return "\n".join(lines), manifest["status"] == "complete"


def cli_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="top10 report", description="Print a day's published files and "
                                     "per-stage counts; exit 1 unless the day is complete.")
    parser.add_argument("day", help="partition day, YYYY-MM-DD (Asia/Seoul)")
    args = parser.parse_args(argv)
    text, complete = format_day(Settings.from_env(), args.day)
    print(text)
    return 0 if complete else 1
