"""A day's outcome in plain text: where the published files are and what each stage counted."""

from __future__ import annotations

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
    lines.append(f"  {'publish':<16} " + json.dumps({c: s.get("published") for c, s in manifest["stages"]["publish"].items()}))
    lines.append(f"\nmanifest: {layout.manifest}")
    return "\n".join(lines), manifest["status"] == "complete"
