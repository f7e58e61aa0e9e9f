"""archive_and_cleanup: keep what was not published for a few days, then let it go.

After publishing, each category's ``raw/`` crawl output is split: items that made the Top-10 are already in
``top10/``; everything else (duplicates, non-Korean, below the cut, unusable covers) moves to
``residual_archive/<day>/<category>/`` with the reason it was not published, together with the day's stage
work files.  Archives older than ``retention_days`` — counted from the run's logical date, never the wall
clock, so a backfill does not delete what a later day still keeps — are deleted.  Nothing outside the data
root is ever touched: symlinks are unlinked, not followed.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from pathlib import Path
from typing import Any

from .config import Settings
from .storage import (
    DATE_FORMAT,
    DayLayout,
    atomic_write_json,
    atomic_write_jsonl,
    is_within,
    read_json,
    read_jsonl,
    remove_tree,
    replace_dir,
    staging_dir,
)

log = logging.getLogger(__name__)


def _published_ids(layout: DayLayout, category: str) -> set[str]:
    """Video ids published for ``category``, read back from the app JSON (ids there are renamed)."""
    path = layout.top10_json(category)
    if not path.exists():
        return set()
    return {entry["url"].rsplit("/", 1)[-1] for entry in read_json(path)}


def _reasons(layout: DayLayout) -> dict[str, str]:
    reasons: dict[str, str] = {}
    dedup = layout.work_dir / "dedup.jsonl"
    if dedup.exists():
        for row in read_jsonl(dedup):
            if row["status"] == "duplicate":
                reasons[row["key"]] = f"duplicate_of:{row.get('duplicate_of')}"
            elif row["status"] == "skipped":
                reasons[row["key"]] = f"skipped:{row.get('reason')}"
    language = layout.work_dir / "language.jsonl"
    if language.exists():
        for row in read_jsonl(language):
            if row.get("korean") is not True:
                reasons.setdefault(row["key"], f"not_korean:{row.get('language')}:{row.get('basis')}")
    return reasons


def archive_day(settings: Settings, day: dt.date, categories: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Move the unpublished part of ``day`` into its residual archive. Idempotent: a rerun replaces it."""
    layout = DayLayout(settings.data_root, day)
    root = settings.data_root
    reasons = _reasons(layout)
    counts: dict[str, Any] = {}
    raw_present = [c for c in categories if layout.raw_dir(c).is_dir()]
    if not raw_present and not layout.work_dir.is_dir():
        log.info("nothing to archive for %s (already archived)", day)
        return {"archived": {}, "already_archived": True}

    staged = staging_dir(layout.archive_dir.parent, layout.day.strftime(DATE_FORMAT))
    try:
        for category in raw_present:
            raw = layout.raw_dir(category)
            published = _published_ids(layout, category)
            rows = []
            (staged / category / "thumbnails").mkdir(parents=True)
            items_path = raw / "items.jsonl"
            for row in (read_jsonl(items_path) if items_path.exists() else []):
                if row["id"] in published:
                    continue
                row["archive_reason"] = reasons.get(f"{category}/{row['id']}", "below_top_n")
                rows.append(row)
                thumb = row.get("thumbnail")
                src = raw / thumb if thumb else None
                if src and src.is_file() and not src.is_symlink() and is_within(src, root):
                    shutil.copy2(src, staged / category / "thumbnails" / src.name)
            atomic_write_jsonl(staged / category / "items.jsonl", sorted(rows, key=lambda r: r["id"]))
            for extra in ("crawl_summary.json", "failures"):
                if (raw / extra).exists():
                    (shutil.copytree if (raw / extra).is_dir() else shutil.copy2)(raw / extra, staged / category / extra)
            counts[category] = len(rows)
        if layout.work_dir.is_dir():
            shutil.copytree(layout.work_dir, staged / "work", symlinks=True)
        atomic_write_json(staged / "archive_summary.json", {"day": layout.day.strftime(DATE_FORMAT), "archived": counts})
        replace_dir(staged, layout.archive_dir, root)
    except BaseException:
        if staged.exists():
            remove_tree(staged, root)
        raise
    # Only once the archive is in place does the raw data go: a crash above loses nothing.
    for category in raw_present:
        remove_tree(layout.raw_dir(category), root)
    if layout.work_dir.is_dir():
        remove_tree(layout.work_dir, root)
    return {"archived": counts, "already_archived": False}


def cleanup_archives(settings: Settings, day: dt.date) -> dict[str, list[str]]:
    """Delete residual archives more than ``retention_days`` older than ``day``; ignore what is not a date."""
    archive_root = settings.data_root / "residual_archive"
    result: dict[str, list[str]] = {"deleted": [], "kept": [], "ignored": []}
    if not archive_root.is_dir():
        return result
    for entry in sorted(archive_root.iterdir()):
        try:
            archived_day = dt.datetime.strptime(entry.name, DATE_FORMAT).date()
        except ValueError:
            archived_day = None
        # strptime also reads "2026-1-5": only the zero-padded names this stage writes are ours to delete
        if archived_day is None or archived_day.strftime(DATE_FORMAT) != entry.name:
            result["ignored"].append(entry.name)  # staging dirs, stray files, foreign folders: not ours to judge
            continue
        if (day - archived_day).days > settings.retention_days:
            remove_tree(entry, settings.data_root)
            result["deleted"].append(entry.name)
        else:
            result["kept"].append(entry.name)
    if result["deleted"]:
        log.info("deleted residual archives %s (retention %d days from %s)", result["deleted"], settings.retention_days, day)
    return result


def archive_and_cleanup(settings: Settings, day: dt.date, categories: list[str] | tuple[str, ...] | None = None) -> Path:
    categories = list(categories or settings.categories)
    archived = archive_day(settings, day, categories)
    cleaned = cleanup_archives(settings, day)
    layout = DayLayout(settings.data_root, day)
    summary = {"day": day.strftime(DATE_FORMAT), **archived, "retention": cleaned}
    if layout.archive_dir.is_dir():
        atomic_write_json(layout.archive_dir / "cleanup_summary.json", summary)
    return layout.archive_dir
