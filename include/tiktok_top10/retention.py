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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Settings
from .contracts import ArchiveResult, PublishResult
from .storage import (
    DATE_FORMAT,
    DayLayout,
    atomic_write_json,
    atomic_write_jsonl,
    is_within,
    read_jsonl,
    read_published_ids,
    remove_tree,
    staged_dir,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArchiveInputs:
    """What the archive reads: each category's crawl file (its folder is moved), the stage verdicts, the work
    folder they sit in, and what was published (those items are not archived)."""

    raw_items: dict[str, Path]
    dedup_path: Path
    language_path: Path
    top10_files: dict[str, Path]

    @property
    def work_dir(self) -> Path:
        return self.dedup_path.parent

    @classmethod
    def of(cls, published: PublishResult) -> ArchiveInputs:
        return cls(raw_items=published.inputs.dedup.raw_item_paths,
                   dedup_path=Path(published.inputs.dedup.dedup_path),
                   language_path=Path(published.inputs.language_path),
                   top10_files={c: Path(p) for c, p in published.top10_files.items()})

    @classmethod
    def at(cls, layout: DayLayout, categories: list[str] | tuple[str, ...]) -> ArchiveInputs:
        return cls(raw_items={c: layout.raw_items(c) for c in categories},
                   dedup_path=layout.work_dir / "dedup.jsonl", language_path=layout.work_dir / "language.jsonl",
                   top10_files={c: layout.top10_json(c) for c in categories})


def _reasons(inputs: ArchiveInputs) -> dict[str, str]:
    reasons: dict[str, str] = {}
    if inputs.dedup_path.exists():
        for row in read_jsonl(inputs.dedup_path):
            if row["status"] == "duplicate":
                reasons[row["key"]] = f"duplicate_of:{row.get('duplicate_of')}"
            elif row["status"] == "skipped":
                reasons[row["key"]] = f"skipped:{row.get('reason')}"
    if inputs.language_path.exists():
        for row in read_jsonl(inputs.language_path):
            if row.get("korean") is not True:
                reasons.setdefault(row["key"], f"not_korean:{row.get('language')}:{row.get('basis')}")
    return reasons


def archive_day(settings: Settings, day: dt.date, inputs: ArchiveInputs) -> dict[str, Any]:
    """Move the unpublished part of ``day`` (read from ``inputs``) into its residual archive, then delete the
    crawl folders and the work folder it came from.  Idempotent: a rerun replaces the archive."""
    layout = DayLayout(settings.data_root, day)
    root = settings.data_root
    reasons = _reasons(inputs)
    counts: dict[str, Any] = {}
    raw_present = {c: p.parent for c, p in inputs.raw_items.items() if p.parent.is_dir()}
    work_dir = inputs.work_dir
    if not raw_present and not work_dir.is_dir():
        log.info("nothing to archive for %s (already archived)", day)
        return {"archived": {}, "already_archived": True}

    with staged_dir(layout.archive_dir, root) as staged:
        for category, raw in raw_present.items():
            published = read_published_ids(inputs.top10_files.get(category, raw / "none"))
            target = staged.path / category
            (target / "thumbnails").mkdir(parents=True)
            items_path = inputs.raw_items[category]
            rows = []
            for row in (read_jsonl(items_path) if items_path.exists() else []):
                if row.get("id") in published:
                    continue
                row["archive_reason"] = reasons.get(f"{category}/{row.get('id')}", "below_top_n")
                rows.append(row)
                thumb = row.get("thumbnail")
                src = raw / thumb if isinstance(thumb, str) and thumb else None
                if src and src.is_file() and not src.is_symlink() and is_within(src, root):
                    shutil.copy2(src, target / "thumbnails" / src.name)
            atomic_write_jsonl(target / "items.jsonl", sorted(rows, key=lambda r: str(r.get("id"))))
            for extra in ("crawl_summary.json", "dropped.jsonl", "failures"):  # dropped.jsonl: for top10 explain
                if (raw / extra).exists():
                    (shutil.copytree if (raw / extra).is_dir() else shutil.copy2)(raw / extra, target / extra)
            counts[category] = len(rows)
        if work_dir.is_dir():
            shutil.copytree(work_dir, staged.path / "work", symlinks=True)
        atomic_write_json(staged.path / "archive_summary.json",
                          {"day": layout.day.strftime(DATE_FORMAT), "archived": counts})
    # Only once the archive is in place does the raw data go: a crash above loses nothing.
    for raw in raw_present.values():
        remove_tree(raw, root)
    if work_dir.is_dir():
        remove_tree(work_dir, root)
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
        log.info("deleted residual archives %s (retention %d days from %s)", result["deleted"],
                 settings.retention_days, day)
    return result


def archive(settings: Settings, day: dt.date, published: PublishResult) -> ArchiveResult:
    """The DAG's stage: archive what ``published`` did not publish, from the files it names, then apply
    retention (counted from ``day``)."""
    archived = archive_day(settings, day, ArchiveInputs.of(published))
    cleaned = cleanup_archives(settings, day)
    archive_dir = _write_cleanup_summary(settings, day, archived, cleaned)
    return ArchiveResult(archive_dir=str(archive_dir), archived=archived["archived"],
                         already_archived=archived["already_archived"], deleted_archives=cleaned["deleted"])


def _write_cleanup_summary(settings: Settings, day: dt.date, archived: dict, cleaned: dict) -> Path:
    layout = DayLayout(settings.data_root, day)
    summary = {"day": day.strftime(DATE_FORMAT), **archived, "retention": cleaned}
    if layout.archive_dir.is_dir():
        atomic_write_json(layout.archive_dir / "cleanup_summary.json", summary)
    return layout.archive_dir


def archive_and_cleanup(settings: Settings, day: dt.date,
                        categories: list[str] | tuple[str, ...] | None = None) -> Path:
    """:func:`archive` over the day's standard layout; returns the archive folder."""
    categories = list(categories or settings.categories)
    archived = archive_day(settings, day, ArchiveInputs.at(DayLayout(settings.data_root, day), categories))
    cleaned = cleanup_archives(settings, day)
    return _write_cleanup_summary(settings, day, archived, cleaned)
