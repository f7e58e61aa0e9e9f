"""The language stage of the DAG: decide Korean content for every kept item of a day.

Reads ``work/dedup.jsonl`` (rows with ``status == "kept"``), takes each item's caption, nickname and TikTok
``textLanguage`` from its category's ``raw/items.jsonl``, and writes ``work/language.jsonl`` (one row per kept
item, sorted by key) and ``work/language_summary.json`` (detector, fallback, requests, characters, cache hits,
counts by basis).

Detector choice (``settings.detector``): ``google`` needs credentials; ``auto`` uses Google when credentials
are configured (passed in by the DAG from the ``google_cloud_default`` connection, or
``GOOGLE_APPLICATION_CREDENTIALS``), else the offline lingua detector.  If Google stays down after its retries
the stage fails (Airflow retries the task) unless the operator set ``language_fallback = "lingua"`` (settings
``extra`` or ``TIKTOK_TOP10_LANGUAGE_FALLBACK``); a fallback is recorded in the summary.

Knobs beyond ``Settings`` fields (``settings.extra`` key / environment variable):
``google_endpoint`` / ``TIKTOK_TOP10_GOOGLE_ENDPOINT`` (API base URL; tests point it at a loopback stub),
``language_fallback`` / ``TIKTOK_TOP10_LANGUAGE_FALLBACK`` (``""`` or ``"lingua"``),
``use_text_language`` / ``TIKTOK_TOP10_LANGUAGE_USE_TEXT_LANGUAGE`` (``1`` to let textLanguage tip weak texts).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path
from typing import Any

from .. import storage
from ..config import Settings
from ..models import VideoItem
from .airflow_credentials import credentials_from_env
from .decide import Candidate, KoreanFilter
from .detectors import Detector, GoogleDetector, LinguaDetector, RetryPolicy

log = logging.getLogger(__name__)

FALLBACKS = ("", "lingua")


def _knob(settings: Settings, key: str, env: str, default: str = "") -> str:
    value = settings.extra.get(key)
    if value is None:
        value = os.environ.get(env, default)
    return str(value)


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
    credentials = google_credentials if google_credentials is not None else credentials_from_env()
    fallback = _knob(settings, "language_fallback", "TIKTOK_TOP10_LANGUAGE_FALLBACK").strip().lower()
    if fallback not in FALLBACKS:
        raise ValueError(f"language_fallback must be '' or 'lingua', got {fallback!r}")
    use_text_language = _knob(settings, "use_text_language", "TIKTOK_TOP10_LANGUAGE_USE_TEXT_LANGUAGE").lower() in {
        "1", "true", "yes"
    }
    endpoint = _knob(settings, "google_endpoint", "TIKTOK_TOP10_GOOGLE_ENDPOINT") or None
    detector = build_detector(settings.detector, credentials, endpoint=endpoint, retry=retry)
    korean_filter = KoreanFilter(
        detector,
        cache_dir=storage.cache_dir(settings.data_root, "language"),
        fallback=LinguaDetector() if fallback == "lingua" and detector.name != "lingua" else None,
        use_text_language=use_text_language,
    )
    return korean_filter, {"fallback_allowed": fallback or None, "use_text_language": use_text_language}


def _raw_items(layout: storage.DayLayout, category: str) -> dict[str, VideoItem]:
    path = layout.raw_items(category)
    if not path.exists():
        raise FileNotFoundError(f"dedup kept items of {category!r} but {path} does not exist")
    items = {}
    for n, row in enumerate(storage.read_jsonl(path), 1):
        try:
            item = VideoItem(**row)
        except Exception as exc:  # noqa: BLE001 - pydantic's error is reported with the line
            raise ValueError(f"{path}:{n}: not a VideoItem: {exc}") from None
        items[item.id] = item
    return items


def run_language(
    settings: Settings,
    day: dt.date,
    *,
    google_credentials: Any = None,
    retry: RetryPolicy | None = None,
) -> Path:
    """Decide every kept item of ``day``; returns the path of ``work/language.jsonl``."""
    layout = storage.DayLayout(settings.data_root, storage.parse_day(day))
    dedup_path = layout.work_dir / "dedup.jsonl"
    if not dedup_path.exists():
        raise FileNotFoundError(f"language stage needs {dedup_path} (run dedup first)")
    kept = sorted((r for r in storage.read_jsonl(dedup_path) if r.get("status") == "kept"), key=lambda r: r["key"])

    raw: dict[str, dict[str, VideoItem]] = {}
    items: list[VideoItem] = []
    for row in kept:
        category = row["category"]
        if category not in raw:
            raw[category] = _raw_items(layout, category)
        item = raw[category].get(str(row["id"]))
        if item is None:
            raise ValueError(f"{dedup_path}: kept {row['key']} is not in {layout.raw_items(category)}")
        items.append(item)

    korean_filter, knobs = filter_for_settings(settings, google_credentials, retry=retry)
    decisions = korean_filter.decide_many(
        [Candidate(i.title, i.author_nickname, i.text_language) for i in items]
    )
    rows = [
        {"key": item.key, "category": item.category, "id": item.id, **decision.row()}
        for item, decision in zip(items, decisions)
    ]
    out = storage.atomic_write_jsonl(layout.work_dir / "language.jsonl", rows)
    storage.atomic_write_json(layout.work_dir / "language_summary.json", summarize(settings, korean_filter, knobs, decisions))
    log.info("language: %d items, %d Korean", len(rows), sum(r["korean"] for r in rows))
    return out


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
