"""``top10 explain VIDEO --day DAY [--json]``: why a video is (or is not) in a day's Top-10.

For each category where the day saw the video, the outcome and its reason, read from what the run left:
the published app files, the manifest, and the crawl (kept and dropped items), dedup and language files — in the
day's folder while the run is in progress, in ``residual_archive/<day>/`` after ``archive_and_cleanup`` moved
them there.

Outcomes: ``published`` (rank, previous rank), ``below_min_views`` (its views and the threshold) and ``ad`` (the
crawl dropped it: ``raw/dropped.jsonl``), ``duplicate`` (the kept video and the evidence the dedup row carries:
cosine similarity, keypoint inliers, pixel agreement and how the two were joined), ``cover_failed`` (the download
or decode reason), ``not_korean`` (language, confidence, basis, detector, rule), ``not_in_top_n`` (its position
among the category's eligible videos), ``skipped`` (any other dedup skip reason).  Any of them can add
``reupload_of``: the dedup memory matched the video to one published in the last 7 days under another id (that
day, category, id, URL and rank).  A day crawled before ``dropped.jsonl`` existed has only counts of what the
crawl dropped: a video dropped there is "not seen", and the note says so.

Exit status: 0 found, 1 the day never saw it, 2 bad arguments, 3 the day's archive has expired (and the video
is not in a published file, the only part of a day kept for good).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .config import CATEGORIES, Settings
from .storage import DATE_FORMAT, DayLayout, read_json, read_jsonl, read_manifest

FOUND, NOT_SEEN, BAD_ARGUMENTS, ARCHIVE_EXPIRED = 0, 1, 2, 3
_VIDEO_ID = re.compile(r"^[0-9]{1,25}$")
_VIDEO_URL = re.compile(r"^https?://(?:www\.|m\.)?tiktok\.com/@[^/\s?#]+/(?:video|photo)/([0-9]{1,25})(?:[/?#].*)?$")


def video_id_of(value: str) -> str:
    """The video id in ``value`` (an id or a TikTok video URL); ValueError otherwise."""
    value = value.strip()
    if _VIDEO_ID.match(value):
        return value
    match = _VIDEO_URL.match(value)
    if match:
        return match.group(1)
    raise ValueError(f"not a TikTok video id or URL: {value!r}")


@dataclass
class Outcome:
    category: str
    # published | below_min_views | ad | duplicate | cover_failed | not_korean | not_in_top_n | skipped
    outcome: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Explanation:
    video: str
    day: str
    data: str  # where the unpublished part was read: "day" (run in progress), "archive", "expired", "none"
    outcomes: list[Outcome]
    note: str = ""

    @property
    def exit_code(self) -> int:
        if self.outcomes:
            return FOUND
        return ARCHIVE_EXPIRED if self.data == "expired" else NOT_SEEN

    def to_json(self) -> dict[str, Any]:
        return {"video": self.video, "day": self.day, "data": self.data, "found": bool(self.outcomes),
                "note": self.note, "outcomes": [asdict(o) for o in self.outcomes]}


@dataclass
class _DayFiles:
    """Where the day's unpublished part lives now: its own folders, or the residual archive."""

    layout: DayLayout
    where: str

    def items(self, category: str) -> list[dict]:
        if self.where == "day":
            path = self.layout.raw_items(category)
        else:
            path = self.layout.archive_dir / category / "items.jsonl"
        return list(read_jsonl(path)) if path.is_file() else []

    def cover(self, category: str, row: dict) -> Path | None:
        thumb = row.get("thumbnail")
        if not isinstance(thumb, str) or not thumb:
            return None
        if self.where == "day":
            return self.layout.raw_dir(category) / thumb
        return self.layout.archive_dir / category / "thumbnails" / Path(thumb).name

    def dropped(self, category: str) -> dict[str, dict] | None:
        """The crawl's dropped items by id; None when the day has no record of them (crawled before they were
        kept, or the archive has expired)."""
        if self.where == "day":
            path = self.layout.raw_dropped(category)
        elif self.where == "archive":
            path = self.layout.archive_dir / category / "dropped.jsonl"
        else:
            return None
        if not path.is_file():
            return None
        return {str(row.get("id")): row for row in read_jsonl(path)}

    def work(self, name: str) -> list[dict]:
        folder = self.layout.work_dir if self.where == "day" else self.layout.archive_dir / "work"
        path = folder / name
        return list(read_jsonl(path)) if path.is_file() else []


def _where(layout: DayLayout, categories: list[str]) -> str:
    if layout.work_dir.is_dir() or any(layout.raw_items(c).is_file() for c in categories):
        return "day"
    if layout.archive_dir.is_dir():
        return "archive"
    return "expired" if layout.manifest.is_file() else "none"


def _published(layout: DayLayout, category: str) -> list[dict]:
    path = layout.top10_json(category)
    try:
        entries = read_json(path) if path.is_file() else []
    except (ValueError, OSError):
        return []
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("url"), str)]


def _entry_id(entry: dict) -> str:
    return entry["url"].rsplit("/", 1)[-1]


def _rank_key(row: dict) -> tuple:
    return (-int(row.get("views") or 0), -int(row.get("likes") or 0), int(row["id"]))


def _history(layout: DayLayout, row: dict | None) -> dict[str, Any]:
    """``{"reupload_of": ...}`` when dedup matched the video to one published on an earlier day (within the dedup
    memory's 7 days) under another id: that day, key, id, similarity and second look, plus the category, URL and
    rank it was published at (read from that day's app file, which is kept for good)."""
    matched = (row or {}).get("matched_history")
    if not isinstance(matched, dict):
        return {}
    matched = dict(matched)
    category, _, video = str(matched.get("key") or "").partition("/")
    matched.setdefault("id", video or None)
    matched["category"] = category or None
    try:
        past = DayLayout(layout.root, dt.datetime.strptime(str(matched.get("day")), DATE_FORMAT).date())
    except ValueError:
        return {"reupload_of": matched}
    for position, entry in enumerate(_published(past, category) if category in CATEGORIES else [], 1):
        if _entry_id(entry) == str(matched.get("id")):
            matched["url"] = entry["url"]
            matched["rank"] = entry.get("rank") if isinstance(entry.get("rank"), int) else position
            break
    return {"reupload_of": matched}


def _duplicate_evidence(row: dict) -> str:
    """The dedup row's evidence in words: what joined the two, and the second look's numbers."""
    looks = []
    if row.get("similarity") is not None:
        looks.append(f"cosine {row['similarity']}")
    if row.get("inliers") is not None:
        looks.append(f"{row['inliers']} inliers")
    if row.get("agreement") is not None:
        looks.append(f"{row['agreement']}% agreement")
    how = {"same_id": "the same video id", "chain": f"joined through {row.get('via')}"}.get(row.get("matched_by"))
    if how is None and not looks:
        return "the same video id"  # rows written before the evidence fields: only a same-id match has no cosine
    return ", ".join([how] * bool(how) + looks)


def _dropped(category: str, record: dict, history: dict) -> Outcome:
    """The crawl dropped the video: below ``min_views``, or an ad."""
    details = {k: record.get(k) for k in ("id", "url", "author", "views", "source")}
    if record.get("reason") == "ad":
        return Outcome(category, "ad", f"an ad (isAd), dropped by the crawl; seen on {record.get('source')}",
                       {**details, **history})
    threshold = record.get("min_views")
    return Outcome(category, "below_min_views", f"{record.get('views')} views, below min_views {threshold}; "
                   "dropped by the crawl", {**details, "min_views": threshold, **history})


def _cover_error(path: Path | None) -> str | None:
    """Why publish could not use this cover (its own decode and re-encode), None when it can."""
    from .publish import reencode_cover

    if path is None:
        return "no cover file"
    try:
        reencode_cover(path)
    except Exception as exc:  # the same breadth publish catches: any undecodable cover loses its slot
        return f"{type(exc).__name__}: {exc}"
    return None


def _explain_category(files: _DayFiles, category: str, video: str, published: list[dict], dedup: dict[str, dict],
                      language: dict[str, dict], top_n: int) -> Outcome | None:
    key = f"{category}/{video}"
    dedup_row = dedup.get(key)
    for position, entry in enumerate(published, 1):
        if _entry_id(entry) == video:
            rank = entry.get("rank") if isinstance(entry.get("rank"), int) else position
            details = {"rank": rank, "previous_rank": entry.get("previousRank"), "id": entry.get("id"),
                       "url": entry["url"], "views": entry.get("views"), **_history(files.layout, dedup_row)}
            return Outcome(category, "published", f"rank {rank}", details)
    items = {str(row.get("id")): row for row in files.items(category)} if files.where != "expired" else {}
    item = items.get(video)
    if dedup_row is None and item is None:
        dropped = (files.dropped(category) or {}).get(video)
        return _dropped(category, dropped, {}) if dropped is not None else None
    history = _history(files.layout, dedup_row)
    status = (dedup_row or {}).get("status")
    if status == "duplicate":
        kept = dedup_row.get("duplicate_of")
        kept_category, _, kept_id = str(kept).partition("/")
        kept_rank = next((e.get("rank") or n for n, e in enumerate(_published(files.layout, kept_category), 1)
                          if _entry_id(e) == kept_id), None)
        details = {"kept": kept, "kept_rank": kept_rank, "cosine": dedup_row.get("similarity"),
                   "inliers": dedup_row.get("inliers"), "agreement": dedup_row.get("agreement"),
                   "matched_by": dedup_row.get("matched_by"), "via": dedup_row.get("via"), **history}
        fate = f"published at rank {kept_rank}" if kept_rank else "not published"
        return Outcome(category, "duplicate",
                       f"duplicate of {kept} ({_duplicate_evidence(dedup_row)}), which is {fate}", details)
    if status == "skipped":
        reason = str(dedup_row.get("reason") or "")
        if reason.startswith(("no thumbnail", "thumbnail")):
            error = (item or {}).get("thumbnail_error")
            return Outcome(category, "cover_failed", f"cover unusable at dedup: {reason}",
                           {"stage": "dedup", "reason": reason, "download_error": error, **history})
        return Outcome(category, "skipped", f"skipped by dedup: {reason}", {"reason": reason, **history})
    decision = language.get(key)
    if decision is not None and decision.get("korean") is not True:
        details = {k: decision.get(k) for k in ("language", "confidence", "basis", "detector", "rule")}
        shown = ", ".join(f"{k} {v}" for k, v in details.items() if v not in (None, ""))
        return Outcome(category, "not_korean", f"not Korean: {shown}", {**details, **history})
    if item is None:
        return Outcome(category, "skipped", "kept by dedup but absent from the crawl file", history)
    # kept and Korean but not published: its cover failed at publish, or it ranked below the cut
    error = _cover_error(files.cover(category, item))
    if error:
        return Outcome(category, "cover_failed", f"cover unusable at publish: {error}",
                       {"stage": "publish", "reason": error, **history})
    eligible = {_entry_id(e): {"id": _entry_id(e), "views": e.get("views"), "likes": e.get("likes"),
                               "url": e["url"]} for e in published}
    for other_id, row in items.items():
        row_key = f"{category}/{other_id}"
        if (dedup.get(row_key) or {}).get("status") == "kept" and (language.get(row_key) or {}).get("korean") is True:
            eligible.setdefault(other_id, row)
    ranked, seen_urls = [], set()
    for row in sorted(eligible.values(), key=_rank_key):
        if row.get("url") not in seen_urls:
            seen_urls.add(row.get("url"))
            ranked.append(str(row["id"]))
    position = ranked.index(video) + 1 if video in ranked else None
    return Outcome(category, "not_in_top_n", f"position {position} by views among {len(ranked)} eligible, top {top_n} "
                   "published", {"position": position, "eligible": len(ranked), "top_n": top_n,
                                 "views": item.get("views"), **history})


def explain(settings: Settings, video: str, day: dt.date) -> Explanation:
    layout = DayLayout(settings.data_root, day)
    try:
        manifest = read_manifest(layout.manifest) or {}
    except (ValueError, OSError):
        manifest = {}
    categories = [c for c in manifest.get("categories") or CATEGORIES if c in CATEGORIES]
    where = _where(layout, categories)
    files = _DayFiles(layout, where)
    dedup = {row["key"]: row for row in files.work("dedup.jsonl") if "key" in row}
    language = {row["key"]: row for row in files.work("language.jsonl") if "key" in row}
    top_n = int(manifest.get("top_n") or settings.top_n)
    outcomes = []
    for category in categories:
        outcome = _explain_category(files, category, video, _published(layout, category), dedup, language, top_n)
        if outcome:
            outcomes.append(outcome)
    name = day.strftime(DATE_FORMAT)
    unrecorded = [c for c in categories if where in ("day", "archive") and files.dropped(c) is None]
    note = ""
    if where == "expired":
        note = (f"the residual archive of {name} has expired (kept {settings.retention_days} days): only the "
                "published files remain")
    elif where == "none":
        note = f"nothing recorded for {name} under {settings.data_root}"
    elif not outcomes:
        threshold = manifest.get("min_views", settings.min_views)
        note = (f"the day's crawl files do not hold video {video}: neither among the kept items nor among those "
                f"dropped (below min_views {threshold}, ads)")
        if unrecorded:
            note += (f"; {', '.join(unrecorded)} kept only counts of what its crawl dropped (no dropped.jsonl), so "
                     "a video dropped there is not seen")
    return Explanation(video=video, day=name, data=where, outcomes=outcomes, note=note)


def format_text(explanation: Explanation) -> str:
    lines = [f"video {explanation.video} on {explanation.day}:"]
    for o in explanation.outcomes:
        line = f"  {o.category:<10} {o.outcome}: {o.reason}"
        if o.outcome == "published":
            previous = o.details.get("previous_rank")
            line += f" (previous rank {previous})" if previous else " (new in this category's chart)"
        matched = o.details.get("reupload_of")
        if matched:
            where = f" in {matched['category']}" if matched.get("category") else ""
            rank = f" at rank {matched['rank']}" if matched.get("rank") else ""
            line += f"; re-upload of {matched.get('id')} published on {matched.get('day')}{where}{rank}"
            if matched.get("url"):
                line += f" ({matched['url']})"
        lines.append(line)
    if not explanation.outcomes:
        lines.append("  not seen in any category")
    if explanation.note:
        lines.append(f"  note: {explanation.note}")
    return "\n".join(lines)


def cli_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="top10 explain", description="Why a video is or is not in a day's "
                                     "Top-10. Exit 0 found, 1 not seen that day, 2 bad arguments, 3 archive expired.")
    parser.add_argument("video", help="TikTok video id or URL")
    parser.add_argument("--day", required=True, help="partition day, YYYY-MM-DD (Asia/Seoul)")
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")
    parser.add_argument("--data-root", type=Path, help="default: TIKTOK_TOP10_DATA_ROOT")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse's own usage errors are this command's "bad arguments"
        return FOUND if exc.code == 0 else BAD_ARGUMENTS
    try:
        video = video_id_of(args.video)
        day = dt.datetime.strptime(args.day, DATE_FORMAT).date()
        if day.strftime(DATE_FORMAT) != args.day:
            raise ValueError(f"day must be YYYY-MM-DD, got {args.day!r}")
    except ValueError as exc:
        print(f"top10 explain: {exc}", file=sys.stderr)
        return BAD_ARGUMENTS
    settings = Settings.from_env()
    if args.data_root is not None:
        settings = settings.with_overrides(data_root=args.data_root.resolve())
    result = explain(settings, video, day)
    print(json.dumps(result.to_json(), ensure_ascii=False, indent=2) if args.json else format_text(result))
    return result.exit_code
