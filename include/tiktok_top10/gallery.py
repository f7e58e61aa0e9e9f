"""Read-only access to published days for the Top-10 gallery (the Airflow UI plugin) — no Airflow imports.

What it decides: which days count as published (a ``<day>/`` folder holding ``manifest.json`` or at least
one ``<cat>/top10/<cat>_top10.json``), which day is "latest" (``latest.json`` when it points at a readable
day, else the newest published day), and which files a URL may reach.  Every path built from a URL goes
through :func:`resolve_published_file`: the day must be ``YYYY-MM-DD``, the category one of
``config.CATEGORIES``, the file name a plain name without separators, and the resolved real path (symlinks
followed) must stay inside the data root — so ``..``, encoded slashes and symlinks pointing out of the root
all end in :class:`UnsafePath` rather than a file.  Zips hold only the app-facing output (``top10/`` folders
and ``manifest.json``), never raw crawls or work files.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import CATEGORIES
from .storage import DATE_FORMAT, DayLayout, read_json
from .storage import read_manifest as read_manifest_file

DAY_PATTERN = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
# A published file name: letters, digits, dot, dash, underscore; no separators, no leading dot.
FILE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")

# Magic bytes decide the content type: real covers include PNGs saved with a .jpg name.
_MAGIC_TYPES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


class UnsafePath(ValueError):
    """A requested path is malformed or would leave the data root."""


class NotPublished(LookupError):
    """The requested day or category has no published output."""


def parse_day_name(value: str) -> dt.date:
    """A day folder name ``YYYY-MM-DD`` as a date; anything else is :class:`UnsafePath`."""
    if not isinstance(value, str) or not DAY_PATTERN.match(value):
        raise UnsafePath(f"day must look like YYYY-MM-DD, got {value!r}")
    try:
        return dt.datetime.strptime(value, DATE_FORMAT).date()
    except ValueError as exc:
        raise UnsafePath(f"not a calendar date: {value!r}") from exc


def check_category(value: str) -> str:
    if value not in CATEGORIES:
        raise UnsafePath(f"category must be one of {list(CATEGORIES)}, got {value!r}")
    return value


def _inside(path: Path, root: Path) -> bool:
    real_root = root.resolve()
    real = path.resolve()
    return real == real_root or real_root in real.parents


def resolve_published_file(root: Path, day: str, category: str, *relative: str) -> Path:
    """The real path of ``<root>/<day>/<category>/top10/<relative...>`` after validating every part.

    ``relative`` parts are single names (e.g. ``"thumbnails", "main01.jpg"``).  Raises :class:`UnsafePath`
    for malformed parts or a resolved path outside the data root, :class:`NotPublished` when it is absent.
    """
    root = Path(root)
    parse_day_name(day)
    check_category(category)
    for part in relative:
        if not FILE_NAME_PATTERN.match(part) or ".." in part:
            raise UnsafePath(f"bad path component {part!r}")
    candidate = root / day / category / "top10"
    for part in relative:
        candidate = candidate / part
    if not _inside(candidate, root):
        raise UnsafePath(f"{'/'.join((day, category, 'top10', *relative))} resolves outside the data root")
    if not candidate.is_file():
        raise NotPublished(f"no such published file: {'/'.join((day, category, 'top10', *relative))}")
    return candidate.resolve()


def sniff_content_type(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(16)
    for magic, content_type in _MAGIC_TYPES:
        if head.startswith(magic):
            return content_type
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def _day_is_published(day_dir: Path) -> bool:
    if (day_dir / "manifest.json").is_file():
        return True
    return any((day_dir / c / "top10" / f"{c}_top10.json").is_file() for c in CATEGORIES)


def list_published_days(root: Path) -> list[str]:
    """Published day names, newest first.  Symlinked day folders pointing outside the root are ignored."""
    root = Path(root)
    if not root.is_dir():
        return []
    days = []
    for child in root.iterdir():
        if not DAY_PATTERN.match(child.name) or not child.is_dir() or not _inside(child, root):
            continue
        try:
            parse_day_name(child.name)
        except UnsafePath:
            continue
        if _day_is_published(child):
            days.append(child.name)
    return sorted(days, reverse=True)


def latest_day(root: Path) -> str | None:
    """The day ``latest.json`` names if it is published, else the newest published day, else None."""
    root = Path(root)
    days = list_published_days(root)
    pointer = root / "latest.json"
    if pointer.is_file():
        try:
            data = read_json(pointer)
        except (OSError, ValueError):
            data = None
        named = data.get("day") if isinstance(data, dict) else None
        if isinstance(named, str) and named in days:
            return named
    return days[0] if days else None


def read_manifest(root: Path, day: str) -> dict[str, Any]:
    """The day's manifest, ``{}`` when it is missing; :class:`ValueError` when it is not a JSON object."""
    path = DayLayout(Path(root), parse_day_name(day)).manifest
    if not _inside(path, Path(root)):
        return {}
    return read_manifest_file(path) or {}


def read_top10(root: Path, day: str, category: str) -> list[dict[str, Any]]:
    """The category's published list (the app's JSON), ``[]`` when the category was not published."""
    try:
        path = resolve_published_file(root, day, category, f"{category}_top10.json")
    except NotPublished:
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path} is not a JSON array")
    return [row for row in data if isinstance(row, dict)]


@dataclass(frozen=True)
class DayView:
    """Everything the gallery page shows for one day."""

    day: str
    manifest: dict[str, Any]
    top10: dict[str, list[dict[str, Any]]]  # category -> items, in CATEGORIES order, published ones only


def load_day(root: Path, day: str) -> DayView:
    parse_day_name(day)
    if day not in list_published_days(root):
        raise NotPublished(f"day {day} is not published")
    top10 = {c: items for c in CATEGORIES if (items := read_top10(root, day, c))}
    return DayView(day=day, manifest=read_manifest(root, day), top10=top10)


def _add_tree(archive: zipfile.ZipFile, folder: Path, arc_prefix: str, root: Path) -> int:
    """Add regular files under ``folder``; symlinks that leave the root and hidden temp files are skipped."""
    added = 0
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name.startswith(".") or not _inside(path, root):
            continue
        archive.write(path.resolve(), f"{arc_prefix}/{path.relative_to(folder).as_posix()}")
        added += 1
    return added


def build_zip(root: Path, day: str, category: str | None = None) -> bytes:
    """A zip of one category's ``top10/`` folder, or of every category's plus ``manifest.json``.

    Entries are named ``<day>/<cat>/top10/...`` so unzipping reproduces the data layout.
    """
    root = Path(root)
    parse_day_name(day)
    categories = [check_category(category)] if category is not None else list(CATEGORIES)
    buffer = io.BytesIO()
    added = 0
    # Covers are JPEG already: storing them avoids burning CPU for ~0% gain.
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for cat in categories:
            folder = root / day / cat / "top10"
            if folder.is_dir() and _inside(folder, root):
                added += _add_tree(archive, folder, f"{day}/{cat}/top10", root)
        manifest = root / day / "manifest.json"
        if category is None and manifest.is_file() and _inside(manifest, root):
            archive.write(manifest.resolve(), f"{day}/manifest.json")
            added += 1
    if added == 0:
        raise NotPublished(f"nothing published for {day}" + (f"/{category}" if category else ""))
    return buffer.getvalue()


# --- HTML (Jinja2 templates in tiktok_top10/templates/gallery/, autoescaped) ---------------------------------

FOLD_OVER = 20  # report lists longer than this start folded, so the counts stay the first thing an operator reads
_REPORT_BASICS = ("day", "status", "source", "categories")
_REPORT_SHOWN = {*_REPORT_BASICS, "stages", "dedup_groups", "language_rejected"}


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value) if value is not None else ""
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1_000:.0f}K"
    return f"{value:,}"


def _cell(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


def thumbnail_name(image_file: Any) -> str | None:
    """``imageFile`` is ``thumbnails/<cat>NN.jpg`` or an absolute URL ending in that name."""
    if not isinstance(image_file, str) or not image_file:
        return None
    return image_file.rstrip("/").rsplit("/", 1)[-1]


def movement(item: Any) -> tuple[str, str] | None:
    """The card's movement badge ``(kind, label)`` from app schema v2's ``rank``/``previousRank``: ``("up",
    "▲3")``, ``("down", "▼1")``, ``("same", "–")`` or ``("new", "NEW")``; None for a file without ranks (v1)."""
    if not isinstance(item, dict):
        return None
    rank, previous = item.get("rank"), item.get("previousRank", False)
    if not isinstance(rank, int) or isinstance(rank, bool) or previous is False:
        return None
    if previous is None:
        return ("new", "NEW")
    if not isinstance(previous, int) or isinstance(previous, bool):
        return None
    if previous > rank:
        return ("up", f"▲{previous - rank}")
    if previous < rank:
        return ("down", f"▼{rank - previous}")
    return ("same", "–")


def removed_label(removed: Any) -> str:
    """A removed duplicate: ``"<cat>/<id>"`` or ``{"key", "similarity", "matched_history"}`` (publish.py)."""
    if not isinstance(removed, dict):
        return str(removed)
    label = str(removed.get("key"))
    similarity = removed.get("similarity")
    if isinstance(similarity, (int, float)) and not isinstance(similarity, bool):
        label += f" (similarity {similarity:.3f})"
    if removed.get("matched_history"):
        label += " (seen on an earlier day)"
    return label


@dataclass(frozen=True)
class StageView:
    name: str
    per_category: dict[str, dict]  # category -> counts, for stages that count per category
    count_keys: list[str]  # the union of their count names, in first-seen order
    flat: dict[str, Any]
    text: str | None = None  # a stage summary that is not an object


@dataclass(frozen=True)
class ReportView:
    """The manifest shaped for the report template; every value is data, the template escapes it."""

    basics: dict[str, Any]
    stages: list[StageView]
    groups: list[dict]  # {"kept": key, "removed": [label, ...]}
    removed_count: int
    rejected: list[dict]
    rejected_by_language: list[tuple[str, int]]
    other: dict[str, Any]


def _stage_view(name: str, summary: Any) -> StageView:
    if not isinstance(summary, dict):
        return StageView(str(name), {}, [], {}, text=str(summary))
    per_category = {k: v for k, v in summary.items() if k in CATEGORIES and isinstance(v, dict)}
    keys: list[str] = []
    for counts in per_category.values():
        keys += [k for k in counts if k not in keys]
    flat = {k: v for k, v in summary.items() if k not in per_category}
    return StageView(str(name), per_category, keys, flat)


def report_view(manifest: dict[str, Any]) -> ReportView | None:
    if not manifest:
        return None
    stages = manifest.get("stages") if isinstance(manifest.get("stages"), dict) else {}
    groups = [g for g in manifest.get("dedup_groups") or [] if isinstance(g, dict)]
    rejected = [r for r in manifest.get("language_rejected") or [] if isinstance(r, dict)]
    by_language: dict[str, int] = {}
    for row in rejected:
        language = str(row.get("language") or "unknown")
        by_language[language] = by_language.get(language, 0) + 1
    return ReportView(
        basics={k: manifest.get(k) for k in _REPORT_BASICS if k in manifest},
        stages=[_stage_view(name, summary) for name, summary in stages.items()],
        groups=[{"kept": str(g.get("kept")), "removed": [removed_label(r) for r in g.get("removed") or []]}
                for g in groups],
        removed_count=sum(len(g.get("removed") or []) for g in groups),
        rejected=rejected,
        rejected_by_language=sorted(by_language.items(), key=lambda kv: (-kv[1], kv[0])),
        other={k: v for k, v in manifest.items() if k not in _REPORT_SHOWN},
    )


@functools.lru_cache(maxsize=1)
def _templates():
    from urllib.parse import quote

    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tiktok_top10", "templates"),
        autoescape=jinja2.select_autoescape(["html"], default_for_string=True, default=True),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
    )
    env.filters.update(number=_number, cell=_cell, thumbnail_name=thumbnail_name, quote=lambda s: quote(str(s)),
                       movement=movement)
    return env


def render_day_page(view: DayView, days: list[str], base: str) -> str:
    """The gallery page of one published day; ``base`` is the plugin's URL prefix."""
    return _templates().get_template("gallery/day.html").render(
        title=f"Top-10 · {view.day}", view=view, days=days, base=base,
        status=str(view.manifest.get("status", "unknown")), report_view=report_view(view.manifest),
        fold_over=FOLD_OVER,
    )


def render_empty_page(root: Path) -> str:
    return _templates().get_template("gallery/empty.html").render(title="Top-10", root=str(root))


# --- day over day: one category's chart beside the previous published day's -----------------------------------


def previous_published_day(root: Path, day: str, category: str) -> str | None:
    """The day ``day``'s chart of ``category`` is compared with: the manifest's ``previous_day`` (what
    ``previousRank`` was computed against) when it published the category, else the newest earlier published
    day that did."""
    root = Path(root)
    parse_day_name(day)
    check_category(category)
    days = [d for d in list_published_days(root) if d < day and read_top10(root, d, category)]
    try:
        named = read_manifest(root, day).get("previous_day")
    except ValueError:
        named = None
    if isinstance(named, str) and named in days:
        return named
    return days[0] if days else None


@dataclass(frozen=True)
class CompareRow:
    rank: int
    item: dict[str, Any]
    move: tuple[str, str] | None  # this day: the movement badge; the previous day: ("now", "→ 3") or ("out", "OUT")


@dataclass(frozen=True)
class CompareView:
    """One category on two published days, for the day-over-day page."""

    day: str
    category: str
    previous_day: str | None
    rows: list[CompareRow]
    previous_rows: list[CompareRow]
    entered: int  # this day's entries new in the chart
    left: int  # the previous day's entries no longer in it


def _rank_of(item: dict[str, Any], position: int) -> int:
    rank = item.get("rank")
    return rank if isinstance(rank, int) and not isinstance(rank, bool) else position


def compare_category(root: Path, day: str, category: str) -> CompareView:
    """``category`` on ``day`` beside its previous published day.  A previous entry's fate follows this day's
    ``previousRank`` (so a re-upload under a new id, matched by the dedup memory, counts as staying); for a file
    without ranks (app schema v1), the URL."""
    root = Path(root)
    parse_day_name(day)
    check_category(category)
    items = read_top10(root, day, category)
    if not items:
        raise NotPublished(f"{category} is not published for {day}")
    previous_day = previous_published_day(root, day, category)
    previous = read_top10(root, previous_day, category) if previous_day else []
    ranked = [(_rank_of(item, n), item) for n, item in enumerate(items, 1)]
    rows = [CompareRow(rank, item, movement(item)) for rank, item in ranked]
    by_previous_rank: dict[int, int] = {}
    with_ranks = all("previousRank" in item and (item["previousRank"] is None or (
        isinstance(item["previousRank"], int) and not isinstance(item["previousRank"], bool))) for _, item in ranked)
    try:
        manifest_previous = read_manifest(root, day).get("previous_day")
    except ValueError:
        manifest_previous = None
    if with_ranks and manifest_previous == previous_day:
        for rank, item in ranked:
            if isinstance(item.get("previousRank"), int):
                by_previous_rank.setdefault(item["previousRank"], rank)
    else:  # v1 files, or a previous day other than the one previousRank refers to: match by URL
        now_by_url = {item.get("url"): rank for rank, item in ranked}
        for n, item in enumerate(previous, 1):
            if item.get("url") in now_by_url:
                by_previous_rank.setdefault(_rank_of(item, n), now_by_url[item.get("url")])
    previous_rows = []
    for n, item in enumerate(previous, 1):
        rank = _rank_of(item, n)
        now = by_previous_rank.get(rank)
        previous_rows.append(CompareRow(rank, item, ("now", f"→ {now}") if now else ("out", "OUT")))
    entered = sum(1 for row in rows if row.move and row.move[0] == "new") if previous_day else len(rows)
    left = sum(1 for row in previous_rows if row.move and row.move[0] == "out")
    return CompareView(day, category, previous_day, rows, previous_rows, entered, left)


def render_compare_page(view: CompareView, base: str) -> str:
    return _templates().get_template("gallery/compare.html").render(
        title=f"Top-10 · {view.category} · {view.day} vs {view.previous_day or 'no previous day'}", view=view,
        base=base)


# --- "Why (not) in the Top-10?": the answer of `top10 explain` --------------------------------------------------


@dataclass(frozen=True)
class ExplainAnswer:
    """What ``top10 explain VIDEO --day DAY --json`` prints (``json``), its text form and exit status."""

    json: dict[str, Any]
    text: str
    exit_code: int


def explain_answer(settings: Any, video: str, day: str) -> ExplainAnswer:
    """Ask :func:`tiktok_top10.explain.explain` (the CLI's own function) about ``video`` (id or TikTok URL) on
    ``day``; malformed arguments are :class:`UnsafePath` (the CLI's exit status 2)."""
    from . import explain

    try:
        video_id = explain.video_id_of(video or "")
    except ValueError as exc:
        raise UnsafePath(str(exc)) from exc
    result = explain.explain(settings, video_id, parse_day_name(day))
    return ExplainAnswer({**result.to_json(), "exit_code": result.exit_code}, explain.format_text(result),
                         result.exit_code)


def render_explain_page(base: str, days: list[str], video: str, day: str | None, answer: ExplainAnswer | None,
                        error: str | None = None) -> str:
    return _templates().get_template("gallery/explain.html").render(
        title="Why (not) in the Top-10?" + (f" · {video}" if video else ""), base=base, days=days, video=video,
        day=day, answer=answer, error=error)
