"""rank_and_publish: turn the day's verdicts into what the Android app downloads.

Per category: items kept by dedup and judged Korean, unique by canonical URL, ranked by views (ties: likes,
then the older id), the first ``top_n`` renamed ``<category>01``… with their ``rank`` and ``previousRank`` (the
rank in the same category on the previous complete day, matched by URL or by the dedup memory's history match
for a re-upload under a new id; null when it was not there); each cover is decoded and re-encoded as JPEG
(the CDN sometimes serves PNG under .jpg) so the app always gets a real JPEG.  A category is written to a
staging directory, validated against the JSON Schema, then swapped in whole; ``manifest.json`` is written
last, so a reader that finds a manifest finds every file it names.  A rerun over the same inputs produces the
same bytes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import CATEGORIES, Settings
from .contracts import DedupResult, LanguageResult, PublishResult
from .models import APP_FIELDS, VideoItem
from .schemas import APP_SCHEMA, app_schema
from .storage import (
    DATE_FORMAT,
    SKIP_INVALID,
    CrawledItems,
    DayLayout,
    StagedDir,
    atomic_write_json,
    day_lock,
    read_items,
    read_json,
    read_jsonl,
    remove_tree,
    staged_dir,
)
from .storage import (
    read_manifest as read_manifest_file,
)

log = logging.getLogger(__name__)

JPEG_QUALITY = 90
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}
MAX_COVER_PIXELS = 40_000_000  # 8K covers are ~33 MP; beyond this is a decompression bomb, not a cover
# The app shows thumbnails on a phone: covers larger than a 1080x1920 screen are scaled down to this long side
# (2160x3840 reference covers re-encoded at full size came out 2.5-2.7x the bytes); smaller ones keep theirs.
THUMBNAIL_LONG_SIDE = 1920
RANK_FIELDS = ("rank", "previousRank")  # added by app schema v2 after the app's own fields


class PublishError(RuntimeError):
    """The day cannot be published (missing stage output, schema violation)."""


@dataclass
class CategoryResult:
    category: str
    status: str  # "published" | "crawl_missing"
    published: int = 0
    candidates: int = 0
    cover_failures: int = 0
    invalid_rows: int = 0  # crawl lines that were not items (skipped)
    changed: bool = False


def rank_key(item: VideoItem) -> tuple:
    return (-item.views, -item.likes, int(item.id))


def reencode_cover(src: Path) -> bytes:
    """Decode any image format PIL reads and write a baseline JPEG, long side at most ``THUMBNAIL_LONG_SIDE``
    (deterministic for the same input)."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_COVER_PIXELS
    with Image.open(src) as img:
        if img.format == "JPEG" and max(img.size) >= 2 * THUMBNAIL_LONG_SIDE:
            img.draft("RGB", (img.width // 2, img.height // 2))  # DCT-domain halving: most of an 8K decode saved
        img.load()
        if img.mode not in ("RGB", "L"):
            # Flatten transparency on white: PNG covers with alpha would otherwise turn black.
            rgba = img.convert("RGBA")
            background = Image.new("RGB", rgba.size, (255, 255, 255))
            background.paste(rgba, mask=rgba.getchannel("A"))
            img = background
        elif img.mode == "L":
            img = img.convert("RGB")
        # scaled after the mode conversion: PIL would scale a palette image with nearest-neighbour only
        if max(img.size) > THUMBNAIL_LONG_SIDE:
            scale = THUMBNAIL_LONG_SIDE / max(img.size)
            img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.LANCZOS)
        out = io.BytesIO()
        img.save(out, format="JPEG", quality=JPEG_QUALITY)
        return out.getvalue()


def app_entry(item: VideoItem, rank: int, category: str, image_file: str,
              previous_rank: int | None = None) -> dict[str, Any]:
    entry = {
        "id": f"{category}{rank:02d}",
        "title": item.title,
        "author": item.author_nickname or item.author_unique_id,
        "views": item.views,
        "likes": item.likes,
        "category": category,
        "url": item.url,
        "imageFile": image_file,
        "rank": rank,
        "previousRank": previous_rank,
    }
    assert tuple(entry) == APP_FIELDS + RANK_FIELDS
    return entry


def _validate(entries: list[dict]) -> None:
    import jsonschema

    try:
        jsonschema.validate(entries, app_schema())
    except jsonschema.ValidationError as exc:
        raise PublishError(f"top10 JSON violates the app schema: {exc.message}") from exc


def write_category(
    settings: Settings,
    day: dt.date,
    category: str,
    crawled: CrawledItems,
    kept_korean: set[str],
    into: Path,
    previous: PreviousRanks | None = None,
) -> CategoryResult:
    """Write ``category``'s Top-N into the folder ``into`` (a staging directory): ``<category>_top10.json`` and
    ``thumbnails/<category>NN.jpg``, covers read from the crawl's folder.  Nothing visible changes here."""
    result = CategoryResult(category=category, status="published", invalid_rows=len(crawled.invalid_lines))
    items = crawled.by_id()
    candidates = sorted((items[i] for i in kept_korean if i in items), key=rank_key)
    result.candidates = len(candidates)
    (into / "thumbnails").mkdir()
    entries: list[dict] = []
    seen_urls: set[str] = set()
    for item in candidates:
        if len(entries) >= settings.top_n:
            break
        if item.url in seen_urls or not item.thumbnail:
            continue
        rank = len(entries) + 1
        name = f"{category}{rank:02d}.jpg"
        try:
            jpeg = reencode_cover(crawled.folder / item.thumbnail)
        except Exception as exc:
            # undecodable, missing or oversized cover: the next item takes the slot.  A disk error is not
            # the cover's fault and fails the run instead.
            if isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS:
                raise
            log.warning("cover of %s/%s unusable at publish: %s", category, item.id, exc)
            result.cover_failures += 1
            continue
        (into / "thumbnails" / name).write_bytes(jpeg)
        seen_urls.add(item.url)
        image_file = f"thumbnails/{name}"
        if settings.image_base_url:
            image_file = f"{settings.image_base_url}/{day.strftime(DATE_FORMAT)}/{category}/top10/{image_file}"
        entries.append(app_entry(item, rank, category, image_file, previous.of(item) if previous else None))
    _validate(entries)
    json_name = f"{category}_top10.json"
    (into / json_name).write_text(json.dumps(entries, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    result.published = len(entries)
    return result


@dataclass(frozen=True)
class PreviousRanks:
    """One category's ranks on the previous published day, and today's re-uploads of its videos."""

    by_url: dict[str, int]
    by_video_id: dict[str, int]
    history_match: dict[str, str]  # today's video id -> the earlier video id the dedup memory matched it to

    def of(self, item: VideoItem) -> int | None:
        if item.url in self.by_url:
            return self.by_url[item.url]
        matched = self.history_match.get(item.id)
        return self.by_video_id.get(matched) if matched else None


def previous_published_day(root: Path, day: dt.date) -> dt.date | None:
    """The newest day before ``day`` whose manifest says ``complete`` (a partial day is not a chart to
    compare with)."""
    candidates = []
    for child in Path(root).iterdir() if Path(root).is_dir() else ():
        try:
            earlier = dt.datetime.strptime(child.name, DATE_FORMAT).date()
        except ValueError:
            continue
        if earlier < day and earlier.strftime(DATE_FORMAT) == child.name:
            candidates.append(earlier)
    for earlier in sorted(candidates, reverse=True):
        try:
            manifest = read_manifest_file(DayLayout(root, earlier).manifest)
        except (ValueError, OSError):
            continue
        if manifest and manifest.get("status") == "complete":
            return earlier
    return None


def previous_ranks(root: Path, previous_day: dt.date | None, category: str,
                   history_match: dict[str, str]) -> PreviousRanks | None:
    """Ranks read back from ``previous_day``'s app file of ``category`` (a v1 file has no ``rank``: its order
    is the rank); None when there is no previous day."""
    if previous_day is None:
        return None
    path = DayLayout(root, previous_day).top10_json(category)
    try:
        entries = read_json(path) if path.is_file() else []
    except (ValueError, OSError):
        log.warning("previous top10 file %s unreadable: no previous ranks for %s", path, category)
        entries = []
    by_url: dict[str, int] = {}
    by_video_id: dict[str, int] = {}
    for position, entry in enumerate(e for e in entries if isinstance(e, dict) and isinstance(e.get("url"), str)):
        rank = entry.get("rank") if isinstance(entry.get("rank"), int) else position + 1
        by_url.setdefault(entry["url"], rank)
        by_video_id.setdefault(entry["url"].rsplit("/", 1)[-1], rank)
    return PreviousRanks(by_url, by_video_id, history_match)


def _history_matches(dedup_rows: list[dict]) -> dict[str, dict[str, str]]:
    """category -> {video id -> id of the earlier published video its cover matched} from the dedup rows."""
    matches: dict[str, dict[str, str]] = {}
    for row in dedup_rows:
        matched = row.get("matched_history")
        if isinstance(matched, dict) and matched.get("id") and "/" in str(row.get("key")):
            category, video_id = row["key"].split("/", 1)
            matches.setdefault(category, {})[video_id] = str(matched["id"])
    return matches


def sweep_stale_staging(settings: Settings, layout: DayLayout, categories: list[str]) -> int:
    """Remove staging directories a killed publish left behind (only ever called under the day's lock)."""
    removed = 0
    for category in categories:
        parent = layout.top10_dir(category).parent
        if not parent.is_dir():
            continue
        for leftover in parent.glob(".top10.staging-*"):
            remove_tree(leftover, settings.data_root)
            removed += 1
    if removed:
        log.warning("removed %d staging directories left by an interrupted publish of %s", removed, layout.day)
    return removed


def _read_summary(path: Path) -> dict:
    return read_json(path) if path.exists() else {}


def publish(
    settings: Settings,
    day: dt.date,
    language: LanguageResult,
    categories: list[str] | tuple[str, ...] | None = None,
    run_info: dict[str, Any] | None = None,
) -> PublishResult:
    """Rank and publish every category of ``day`` from the files ``language`` names (language verdicts, the
    dedup verdicts and crawl files it was made from) into ``<data root>/<day>/``; returns what was published.
    A category without a crawl file in ``language.dedup.raw_items`` is ``crawl_missing``: the day is partial."""
    categories = list(categories or settings.categories)
    layout = DayLayout(settings.data_root, day)
    dedup_path, language_path = Path(language.dedup.dedup_path), Path(language.language_path)
    for required in (dedup_path, language_path):
        if not required.exists():
            raise PublishError(f"missing stage output {required}: run dedup and language first")

    dedup_rows = list(read_jsonl(dedup_path))
    language_rows = {row["key"]: row for row in read_jsonl(language_path)}
    kept = {row["key"] for row in dedup_rows if row["status"] == "kept"}
    korean_keys = {key for key, row in language_rows.items() if row.get("korean") is True and key in kept}

    with day_lock(settings.data_root, day, "publish"):
        sweep_stale_staging(settings, layout, categories)
        previous_day = previous_published_day(settings.data_root, day)
        history = _history_matches(dedup_rows)
        previous = {c: previous_ranks(settings.data_root, previous_day, c, history.get(c, {})) for c in categories}
        results = _publish_categories(settings, day, layout, categories, language.dedup.raw_item_paths, korean_keys,
                                      previous)
        complete = all(r.status == "published" and r.published > 0 for r in results.values())
        crawl_counts = {c: _read_summary(p.parent / "crawl_summary.json")
                        for c, p in language.dedup.raw_item_paths.items() if c in categories}
        manifest = {
            "day": day.strftime(DATE_FORMAT),
            "status": "complete" if complete else "partial",
            "source": settings.source,
            "categories": categories,
            "min_views": settings.min_views,
            "top_n": settings.top_n,
            "app_schema": APP_SCHEMA,
            "previous_day": previous_day.strftime(DATE_FORMAT) if previous_day else None,
            "run": run_info or {},
            "stages": {
                "crawl": {c: crawl_counts.get(c, {}) for c in categories},
                "dedup": _read_summary(Path(language.dedup.summary_path)),
                "language": _read_summary(Path(language.summary_path)),
                "publish": {
                    c: {"status": r.status, "published": r.published, "candidates": r.candidates,
                        "cover_failures": r.cover_failures, "invalid_rows": r.invalid_rows, "changed": r.changed}
                    for c, r in results.items()
                },
            },
            "dedup_groups": _dedup_groups(dedup_rows),
            "language_rejected": sorted(
                ({"key": k, "language": r.get("language"), "basis": r.get("basis"), "detector": r.get("detector")}
                 for k, r in language_rows.items() if r.get("korean") is not True),
                key=lambda r: r["key"],
            ),
            "files": {c: f"{c}/top10/{c}_top10.json" for c, r in results.items() if r.status == "published"},
        }
        atomic_write_json(layout.manifest, manifest)
        if complete:
            _update_latest(settings.data_root, day)
    log.info("published %s: %s", day, {c: r.published for c, r in results.items()})
    return PublishResult(
        day=manifest["day"], status=manifest["status"], manifest_path=str(layout.manifest),
        published={c: r.published for c, r in results.items()},
        not_published={c: (r.status if r.status != "published" else "no_candidates")
                       for c, r in results.items() if r.status != "published" or not r.published},
        top10_files={c: str(layout.top10_json(c)) for c, r in results.items() if r.status == "published"},
        inputs=language,
    )


def _publish_categories(settings, day, layout, categories, raw_items, korean_keys,
                        previous=None) -> dict[str, CategoryResult]:
    results: dict[str, CategoryResult] = {}
    staged: dict[str, StagedDir] = {}
    # Stage every category before swapping any: a full disk or a bad cover fails the run while the day's
    # previous publish is still whole, instead of leaving half the categories new and half old.  Each staged
    # folder is swapped in when the ExitStack closes normally and removed when anything above raised.
    with contextlib.ExitStack() as swaps:
        for category in categories:
            path = raw_items.get(category)
            if path is None or not path.is_file():
                results[category] = CategoryResult(category=category, status="crawl_missing")
                log.error("category %s has no crawl output for %s: not published", category, day)
                continue
            crawled = read_items(path, invalid=SKIP_INVALID)
            ids = {key.split("/", 1)[1] for key in korean_keys if key.split("/", 1)[0] == category}
            staged[category] = swaps.enter_context(
                staged_dir(layout.top10_dir(category), settings.data_root, keep_identical=True))
            results[category] = write_category(settings, day, category, crawled, ids, staged[category].path,
                                               (previous or {}).get(category))
    for category, target in staged.items():
        results[category].changed = bool(target.changed)
    return results


def publish_day(
    settings: Settings,
    day: dt.date,
    categories: list[str] | tuple[str, ...] | None = None,
    run_info: dict[str, Any] | None = None,
) -> Path:
    """:func:`publish` over the day's standard layout (``top10 run-day``, tests); returns the manifest path."""
    categories = list(categories or settings.categories)
    layout = DayLayout(settings.data_root, day)
    dedup = DedupResult(dedup_path=str(layout.work_dir / "dedup.jsonl"),
                        summary_path=str(layout.work_dir / "dedup_summary.json"),
                        raw_items={c: str(layout.raw_items(c)) for c in categories if layout.raw_items(c).is_file()},
                        categories=categories)
    language = LanguageResult(language_path=str(layout.work_dir / "language.jsonl"),
                              summary_path=str(layout.work_dir / "language_summary.json"), dedup=dedup)
    return Path(publish(settings, day, language, categories, run_info).manifest_path)


def _dedup_groups(rows: list[dict]) -> list[dict]:
    groups: dict[str, list[dict]] = {}
    for row in rows:
        if row["status"] == "duplicate" and row.get("duplicate_of"):
            groups.setdefault(row["duplicate_of"], []).append(
                {"key": row["key"], "similarity": row.get("similarity"), "matched_history": row.get("matched_history")}
            )
    return [{"kept": k, "removed": sorted(v, key=lambda r: r["key"])} for k, v in sorted(groups.items())]


def _update_latest(root: Path, day: dt.date) -> None:
    """``latest.json`` points at the newest complete day; a backfill of an older day never moves it back."""
    latest = root / "latest.json"
    name = day.strftime(DATE_FORMAT)
    if latest.exists():
        try:
            current = read_json(latest).get("day", "")
        except (ValueError, OSError):
            current = ""
        if current > name:
            return
    atomic_write_json(latest, {"day": name, "manifest": f"{name}/manifest.json",
                               "categories": {c: f"{name}/{c}/top10/{c}_top10.json" for c in CATEGORIES
                                              if (root / name / c / "top10").is_dir()}})


def read_manifest(settings: Settings, day: dt.date) -> dict | None:
    """The day's manifest, None when it is absent or unreadable (a half-written one never is: atomic writes)."""
    try:
        return read_manifest_file(DayLayout(settings.data_root, day).manifest)
    except (ValueError, OSError):
        return None


def day_is_published(settings: Settings, day: dt.date, categories: list[str] | tuple[str, ...] = ()) -> bool:
    """The 12:00 run's question: did an earlier run publish this day completely (for these categories)?"""
    manifest = read_manifest(settings, day)
    if not manifest or manifest.get("status") != "complete":
        return False
    return set(categories or settings.categories) <= set(manifest.get("categories", []))
