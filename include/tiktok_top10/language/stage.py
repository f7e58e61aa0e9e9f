"""The language stage of the DAG: decide Korean content for every kept item of a day.

Reads ``work/dedup.jsonl`` (rows with ``status == "kept"``), takes each item's caption, nickname and TikTok
``textLanguage`` from its category's ``raw/items.jsonl``, and writes ``work/language.jsonl`` (one row per kept
item, sorted by key) and ``work/language_summary.json`` (detector, fallback, requests, characters, cache hits,
counts by basis, ``rule_<name>`` for every decision rule, zero included); each row names its ``rule``.

Detector choice (``settings.detector``): ``google`` needs credentials; ``auto`` uses Google when credentials
are configured (passed in by the DAG from the ``google_cloud_default`` connection, or
``GOOGLE_APPLICATION_CREDENTIALS``), else the offline lingua detector.  If Google stays down after its retries
the stage fails (Airflow retries the task) unless the operator set ``Settings.language_fallback = "lingua"``
(``TIKTOK_TOP10_LANGUAGE_FALLBACK``); a fallback is recorded in the summary.  Its other knobs are ``Settings``
fields too: ``google_endpoint`` (API base URL; tests point it at a loopback stub) and ``use_text_language``.

:func:`decide_day` reads exactly the files its upstream ``DedupResult`` names (dedup verdicts, each category's
crawl); :func:`run_language` is the same over a day's standard layout.  Rows of a crawl that are not valid items
are skipped, as dedup and publish skip them (``storage.read_items``).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from .. import storage
from ..config import CATEGORIES, Settings
from ..contracts import DedupResult, LanguageResult
from ..models import VideoItem
from .airflow_credentials import CredentialLookup, credentials_from_env
from .decide import Candidate, KoreanFilter
from .detectors import Detector, GoogleDetector, LinguaDetector, RetryPolicy

log = logging.getLogger(__name__)

FALLBACKS = ("", "lingua")


def build_detector(
    choice: str,
    credentials: Any,
    *,
    endpoint: str | None = None,
    retry: RetryPolicy | None = None,
) -> Detector:
    """``auto`` | ``lingua`` | ``google`` → a detector. ``credentials``: service-account info or None."""
    if choice == "lingua" or (choice == "auto" and credentials is None):
        return LinguaDetector()
    if choice in {"google", "auto"}:
        if credentials is None:
            raise ValueError(
                "detector 'google' needs credentials: set the Airflow connection google_cloud_default "
                "(key_path or keyfile_dict in extras) or GOOGLE_APPLICATION_CREDENTIALS"
            )
        return GoogleDetector(credentials, endpoint=endpoint or None, retry=retry)
    raise ValueError(f"detector must be one of auto, lingua, google; got {choice!r}")


def filter_for_settings(settings: Settings, google_credentials: Any = None, *, retry: RetryPolicy | None = None):
    """The ``KoreanFilter`` a run uses, and the settings that shaped it (for the summary)."""
    # the DAG passes credentials_from_airflow()'s CredentialLookup: its failed-lookup problem goes to the summary
    lookup = google_credentials if isinstance(google_credentials, CredentialLookup) else None
    if lookup is not None:
        google_credentials = lookup.info
    credentials = google_credentials if google_credentials is not None else credentials_from_env()
    fallback = settings.language_fallback.strip().lower()
    if fallback not in FALLBACKS:
        raise ValueError(f"language_fallback must be '' or 'lingua', got {fallback!r}")
    use_text_language = settings.use_text_language
    endpoint = settings.google_endpoint or None
    detector = build_detector(settings.detector, credentials, endpoint=endpoint, retry=retry)
    korean_filter = KoreanFilter(
        detector,
        cache_dir=storage.cache_dir(settings.data_root, "language"),
        fallback=LinguaDetector() if fallback == "lingua" and detector.name != "lingua" else None,
        use_text_language=use_text_language,
    )
    return korean_filter, {"fallback_allowed": fallback or None, "use_text_language": use_text_language,
                           "credentials_problem": lookup.problem if lookup is not None else None}


def _crawled(raw_items: dict[str, Path], category: str, counts: dict[str, int]) -> dict[str, VideoItem]:
    path = raw_items.get(category)
    if path is None or not path.exists():
        raise FileNotFoundError(f"dedup kept items of {category!r} but its crawl file {path} does not exist")
    crawled = storage.read_items(path, invalid=storage.SKIP_INVALID)
    counts[category] = len(crawled.invalid_lines)
    return crawled.by_id()


def decide_day(
    settings: Settings,
    dedup: DedupResult,
    work_dir: Path,
    *,
    google_credentials: Any = None,
    retry: RetryPolicy | None = None,
) -> LanguageResult:
    """Decide every item ``dedup`` kept, reading its caption from the crawl file ``dedup`` names; write
    ``language.jsonl`` and ``language_summary.json`` into ``work_dir``."""
    dedup_path = Path(dedup.dedup_path)
    if not dedup_path.exists():
        raise FileNotFoundError(f"language stage needs {dedup_path} (run dedup first)")
    kept = sorted((r for r in storage.read_jsonl(dedup_path) if r.get("status") == "kept"), key=lambda r: r["key"])

    raw_items = dedup.raw_item_paths
    raw: dict[str, dict[str, VideoItem]] = {}
    invalid_rows: dict[str, int] = {}
    items: list[VideoItem] = []
    for row in kept:
        category = row["category"]
        if category not in raw:
            raw[category] = _crawled(raw_items, category, invalid_rows)
        item = raw[category].get(str(row["id"]))
        if item is None:
            raise ValueError(f"{dedup_path}: kept {row['key']} is not in {raw_items[category]}")
        items.append(item)

    korean_filter, knobs = filter_for_settings(settings, google_credentials, retry=retry)
    decisions = korean_filter.decide_many(
        [Candidate(i.title, i.author_nickname, i.text_language) for i in items]
    )
    rows = [
        {"key": item.key, "category": item.category, "id": item.id, **decision.row()}
        for item, decision in zip(items, decisions, strict=True)
    ]
    work_dir = Path(work_dir)
    out = storage.atomic_write_jsonl(work_dir / "language.jsonl", rows)
    summary = summarize(settings, korean_filter, knobs, decisions)
    summary["invalid_rows"] = sum(invalid_rows.values())
    summary_path = storage.atomic_write_json(work_dir / "language_summary.json", summary)
    log.info("language: %d items, %d Korean", len(rows), sum(r["korean"] for r in rows))
    return LanguageResult(language_path=str(out), summary_path=str(summary_path), dedup=dedup,
                          items=len(rows), korean=sum(bool(r["korean"]) for r in rows))


def run_language(
    settings: Settings,
    day: dt.date,
    *,
    google_credentials: Any = None,
    retry: RetryPolicy | None = None,
) -> Path:
    """:func:`decide_day` over the day's standard layout; returns the path of ``work/language.jsonl``."""
    layout = storage.DayLayout(settings.data_root, storage.parse_day(day))
    dedup = DedupResult(dedup_path=str(layout.work_dir / "dedup.jsonl"),
                        summary_path=str(layout.work_dir / "dedup_summary.json"),
                        raw_items={c: str(layout.raw_items(c)) for c in CATEGORIES},
                        categories=list(CATEGORIES))
    return Path(decide_day(settings, dedup, layout.work_dir, google_credentials=google_credentials,
                           retry=retry).language_path)


def summarize(settings: Settings, korean_filter: KoreanFilter, knobs: dict, decisions) -> dict:
    stats = korean_filter.stats
    google = korean_filter.detector if korean_filter.detector.name == "google" else None
    summary = {
        "detector_setting": settings.detector,
        "detector": korean_filter.detector.name,
        "fallback_allowed": knobs["fallback_allowed"],
        "fallback_used": stats.fallback_used,
        "fallback_reason": stats.fallback_reason,
        "use_text_language": knobs["use_text_language"],
        "credentials_problem": knobs.get("credentials_problem"),
        "requests": google.usage.requests if google else 0,
        "retries": google.usage.retries if google else 0,
        "characters_sent": google.usage.characters if google else 0,
        "texts_to_detector": stats.detector_texts,
        "cache_hits": stats.cache_hits,
        "decided_by_script": stats.decided_by_script,
        "items": len(decisions),
        "korean": sum(d.korean for d in decisions),
        "foreign": sum(not d.korean and d.basis != "none" for d in decisions),
    }
    for verdict in ("korean", "foreign"):
        for basis in ("title", "author"):
            summary[f"{verdict}_by_{basis}"] = sum(
                d.basis == basis and d.korean == (verdict == "korean") for d in decisions
            )
    summary["none"] = sum(d.basis == "none" for d in decisions)
    for rule, count in sorted(stats.rules.items()):
        summary[f"rule_{rule.replace('-', '_')}"] = count
    return summary
