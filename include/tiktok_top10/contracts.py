"""What the stages hand each other: the run spec and one typed result per stage (docs/architecture.md).

The DAG's XComs carry exactly these, as plain JSON objects (``to_dict`` / ``from_dict``): a first task resolves
the run's Params and the environment once into a :class:`RunSpec`; every later task gets its upstream result
as an argument, reads the paths named there (not paths rebuilt from the day), and returns its own result.
``top10 run-day`` chains the same functions in one process.

No secrets travel here: proxy credentials and cookies stay in the environment and the Airflow connection, where
the task that needs them reads them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .config import KST, Settings
from .storage import DATE_FORMAT, DayLayout

# Settings fields a run spec pins besides the Params: the crawl's route and browser (no credentials).
CRAWL_KNOBS = ("proxy_server", "headful", "expected_region", "allow_other_region")
FALLBACK_HOUR = 12  # the 12:00 Asia/Seoul run redoes the day only when the 00:00 run did not publish it fully


class _Wire:
    """``to_dict`` gives JSON-ready values (lists, not tuples); ``from_dict`` ignores keys it does not know, so
    an XCom written by an older task still loads."""

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


@dataclass(frozen=True)
class RunSpec(_Wire):
    """One run's resolved configuration: trigger conf > environment (the Param defaults) > built-in defaults."""

    day: str  # the partition, YYYY-MM-DD: the run's logical date in Asia/Seoul
    data_root: str
    categories: list[str]
    source: str
    min_views: int
    top_n: int
    detector: str
    backbone: str
    dedup_crop_robust: bool = False  # the crop-robust dedup (dedup.grouping.CropRobust)
    fallback_run: bool = False  # the 12:00 run, which works only when the day is not complete yet
    proxy_server: str = ""
    headful: bool = False
    expected_region: str = "KR"
    allow_other_region: bool = False

    @classmethod
    def resolve(cls, params: Mapping[str, Any], when: dt.datetime, environment: Settings) -> RunSpec:
        """``params`` are the run's Params (trigger conf already applied over the defaults the environment set
        at parse time); ``environment`` supplies everything that is not a Param.  Validates like Settings."""
        overrides = {k: params[k] for k in ("categories", "source", "min_views", "top_n", "detector", "backbone",
                                            "dedup_crop_robust")
                     if params.get(k) is not None}
        settings = environment.with_overrides(**overrides)
        seoul = when.astimezone(KST)
        return cls(
            day=seoul.date().strftime(DATE_FORMAT),
            data_root=str(settings.data_root),
            categories=list(settings.categories),
            source=settings.source,
            min_views=settings.min_views,
            top_n=settings.top_n,
            detector=settings.detector,
            backbone=settings.backbone,
            dedup_crop_robust=settings.dedup_crop_robust,
            fallback_run=(seoul.hour, seoul.minute) == (FALLBACK_HOUR, 0),
            **{k: getattr(settings, k) for k in CRAWL_KNOBS},
        )

    @property
    def partition(self) -> dt.date:
        return dt.datetime.strptime(self.day, DATE_FORMAT).date()

    @property
    def layout(self) -> DayLayout:
        return DayLayout(Path(self.data_root), self.partition)

    def settings(self, environment: Settings | None = None) -> Settings:
        """The stages' Settings: this spec over ``environment`` (default: read now), which keeps the knobs a
        spec does not carry (secrets, retention, model paths)."""
        base = environment if environment is not None else Settings.from_env()
        return base.with_overrides(
            data_root=Path(self.data_root), categories=self.categories, source=self.source,
            min_views=self.min_views, top_n=self.top_n, detector=self.detector, backbone=self.backbone,
            dedup_crop_robust=self.dedup_crop_robust, **{k: getattr(self, k) for k in CRAWL_KNOBS},
        )


@dataclass(frozen=True)
class CrawlResult(_Wire):
    """One category's crawl: ``raw/items.jsonl`` (thumbnails are relative to its folder) and its summary."""

    category: str
    items_path: str
    items: int = 0  # rows kept
    covers: int = 0  # covers downloaded

    @property
    def summary_path(self) -> Path:
        return Path(self.items_path).parent / "crawl_summary.json"

    @classmethod
    def from_items_path(cls, category: str, items_path: Path) -> CrawlResult:
        from .storage import read_json

        summary_path = Path(items_path).parent / "crawl_summary.json"
        summary = read_json(summary_path) if summary_path.is_file() else {}
        return cls(category=category, items_path=str(items_path), items=int(summary.get("items_kept", 0)),
                   covers=int(summary.get("covers_downloaded", 0)))


def crawled_paths(crawls: list[Mapping[str, Any] | CrawlResult | None]) -> dict[str, Path]:
    """category -> items.jsonl of the crawls that finished (a failed mapped crawl hands on None)."""
    out: dict[str, Path] = {}
    for crawl in crawls:
        if crawl is None:
            continue
        result = crawl if isinstance(crawl, CrawlResult) else CrawlResult.from_dict(crawl)
        out[result.category] = Path(result.items_path)
    return out


@dataclass(frozen=True)
class DedupResult(_Wire):
    """The duplicate verdicts, and the crawl files they were made from (later stages read those, not others)."""

    dedup_path: str
    summary_path: str
    raw_items: dict[str, str]  # category -> items.jsonl, only categories whose crawl finished
    categories: list[str]
    missing_categories: list[str] = field(default_factory=list)
    items: int = 0
    kept: int = 0
    duplicates: int = 0
    skipped: int = 0

    @property
    def raw_item_paths(self) -> dict[str, Path]:
        return {c: Path(p) for c, p in self.raw_items.items()}


@dataclass(frozen=True)
class LanguageResult(_Wire):
    """The language verdicts, with the dedup result they were made from carried on."""

    language_path: str
    summary_path: str
    dedup: DedupResult
    items: int = 0
    korean: int = 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LanguageResult:
        known = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        known["dedup"] = DedupResult.from_dict(data["dedup"])
        return cls(**known)


@dataclass(frozen=True)
class PublishResult(_Wire):
    """What was published: the manifest, each category's top10 JSON, and the stage files archive reads next."""

    day: str
    status: str  # "complete" | "partial"
    manifest_path: str
    published: dict[str, int]  # category -> entries written (0: not published)
    not_published: dict[str, str]  # category -> why ("crawl_missing", "no_candidates")
    top10_files: dict[str, str]  # category -> <cat>_top10.json
    inputs: LanguageResult

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PublishResult:
        known = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        known["inputs"] = LanguageResult.from_dict(data["inputs"])
        return cls(**known)


@dataclass(frozen=True)
class ArchiveResult(_Wire):
    """The residual archive of the day and what retention deleted."""

    archive_dir: str
    archived: dict[str, int]  # category -> items archived
    already_archived: bool = False
    deleted_archives: list[str] = field(default_factory=list)
