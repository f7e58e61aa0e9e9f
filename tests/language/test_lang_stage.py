"""run_language on a real day partition: dedup rows + raw items in, language.jsonl + summary out."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from google.auth.credentials import AnonymousCredentials

from tiktok_top10 import storage
from tiktok_top10.config import Settings
from tiktok_top10.language import DetectorUnavailable, RetryPolicy, run_language
from tiktok_top10.language.google_stub import quota_error
from tiktok_top10.models import VideoItem, canonical_url

DAY = dt.date(2026, 1, 10)
ITEMS = {
    "main": [("7001", "오늘 점심 메뉴 추천 #먹방", "먹방러", "ko"), ("7002", "", "🥐", None),
             ("7003", "#fyp", "틱톡맨", None)],
    "dance": [("7101", "Hoy vamos a bailar con mis amigas del colegio #추천", "Lucía", "es"), ("7102", "x", "y", None)],
}


def write_day(root, statuses=None):
    layout = storage.DayLayout(root, DAY)
    dedup = []
    for category, rows in ITEMS.items():
        items = [
            VideoItem(id=i, category=category, title=t, author_nickname=a, author_unique_id=f"u{i}", views=1000,
                      likes=10, url=canonical_url(f"u{i}", i), text_language=lang).to_json()
            for i, t, a, lang in rows
        ]
        storage.atomic_write_jsonl(layout.raw_items(category), items)
        for i, *_ in rows:
            status = (statuses or {}).get(i, "kept")
            dedup.append({"key": f"{category}/{i}", "category": category, "id": i, "status": status,
                          "duplicate_of": None, "similarity": None, "reason": None, "matched_history": None})
    storage.atomic_write_jsonl(layout.work_dir / "dedup.jsonl", sorted(dedup, key=lambda r: r["key"]))
    return layout


def test_writes_one_row_per_kept_item_sorted_by_key(tmp_path):
    layout = write_day(tmp_path, statuses={"7102": "duplicate"})
    out = run_language(Settings(data_root=tmp_path, detector="lingua"), DAY)
    assert out == layout.work_dir / "language.jsonl"
    rows = list(storage.read_jsonl(out))
    assert [r["key"] for r in rows] == ["dance/7101", "main/7001", "main/7002", "main/7003"]
    by_key = {r["key"]: r for r in rows}
    contract = {"key": "main/7001", "category": "main", "id": "7001", "korean": True,
                "language": "ko", "confidence": 1.0, "basis": "title", "detector": "script"}
    assert {k: by_key["main/7001"].get(k) for k in contract} == contract
    assert (by_key["main/7002"]["korean"], by_key["main/7002"]["basis"]) == (False, "none")
    assert (by_key["main/7003"]["korean"], by_key["main/7003"]["basis"]) == (True, "author")
    assert (by_key["dance/7101"]["korean"], by_key["dance/7101"]["language"]) == (False, "es")

    summary = json.loads((layout.work_dir / "language_summary.json").read_text())
    assert summary["detector"] == "lingua" and summary["requests"] == 0 and summary["fallback_used"] is False
    assert (summary["items"], summary["korean"], summary["foreign"], summary["none"]) == (4, 2, 1, 1)
    assert (summary["korean_by_title"], summary["korean_by_author"], summary["foreign_by_title"]) == (1, 1, 1)
    assert summary["texts_to_detector"] == 1 and summary["decided_by_script"] == 3
    assert all(not isinstance(v, (dict, list)) for v in summary.values())  # flat: the manifest copies it


def test_google_run_then_rerun_sends_nothing_twice(tmp_path, google_stub):
    write_day(tmp_path)
    settings = Settings(data_root=tmp_path, detector="google", google_endpoint=google_stub.url)
    run_language(settings, DAY, google_credentials=AnonymousCredentials())
    first = storage.read_json(tmp_path / "2026-01-10" / "work" / "language_summary.json")
    assert first["requests"] == 1 and first["characters_sent"] == sum(map(len, google_stub.texts_sent()))
    assert sorted(google_stub.texts_sent()) == ["Hoy vamos a bailar con mis amigas del colegio", "x"]

    run_language(settings, DAY, google_credentials=AnonymousCredentials())
    second = storage.read_json(tmp_path / "2026-01-10" / "work" / "language_summary.json")
    assert (second["requests"], second["characters_sent"], second["cache_hits"]) == (0, 0, 2)
    assert len(google_stub.requests) == 1


def test_google_down_fails_the_task_unless_fallback_is_allowed(tmp_path, google_stub, sleeps):
    write_day(tmp_path)
    retry = RetryPolicy(attempts=2, base_delay=0.1, sleep=sleeps)
    settings = Settings(data_root=tmp_path, detector="auto", google_endpoint=google_stub.url)
    google_stub.fail_next(*[quota_error(429)] * 2)
    with pytest.raises(DetectorUnavailable):
        run_language(settings, DAY, google_credentials=AnonymousCredentials(), retry=retry)
    assert not (tmp_path / "2026-01-10" / "work" / "language.jsonl").exists()

    google_stub.fail_next(*[quota_error(429)] * 2)
    allowed = settings.with_overrides(language_fallback="lingua")
    run_language(allowed, DAY, google_credentials=AnonymousCredentials(), retry=retry)
    summary = storage.read_json(tmp_path / "2026-01-10" / "work" / "language_summary.json")
    assert summary["fallback_allowed"] == "lingua" and summary["fallback_used"] is True
    assert summary["requests"] == 2 and "429" in summary["fallback_reason"]


def test_auto_without_credentials_is_lingua(tmp_path, monkeypatch):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    write_day(tmp_path)
    run_language(Settings(data_root=tmp_path, detector="auto"), DAY)
    assert storage.read_json(tmp_path / "2026-01-10" / "work" / "language_summary.json")["detector"] == "lingua"


def test_google_without_credentials_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    write_day(tmp_path)
    with pytest.raises(ValueError, match="google_cloud_default"):
        run_language(Settings(data_root=tmp_path, detector="google"), DAY)


def test_kept_item_missing_from_raw_is_a_clear_error(tmp_path):
    layout = write_day(tmp_path)
    rows = list(storage.read_jsonl(layout.work_dir / "dedup.jsonl"))
    rows.append({"key": "main/7999", "category": "main", "id": "7999", "status": "kept"})
    storage.atomic_write_jsonl(layout.work_dir / "dedup.jsonl", rows)
    with pytest.raises(ValueError, match="main/7999"):
        run_language(Settings(data_root=tmp_path, detector="lingua"), DAY)


def test_missing_dedup_output_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="dedup.jsonl"):
        run_language(Settings(data_root=tmp_path, detector="lingua"), DAY)


def test_an_invalid_crawl_row_is_skipped_as_dedup_and_publish_skip_it(tmp_path):
    layout = write_day(tmp_path)
    path = layout.raw_items("main")
    path.write_text(path.read_text(encoding="utf-8") + '{"id": "not digits", "views": -1}\n', encoding="utf-8")
    run_language(Settings(data_root=tmp_path, detector="lingua"), DAY)
    summary = storage.read_json(layout.work_dir / "language_summary.json")
    assert summary["items"] == 5 and summary["invalid_rows"] == 1


def test_decide_day_reads_the_files_its_dedup_result_names(tmp_path):
    from tiktok_top10.contracts import DedupResult
    from tiktok_top10.language.stage import decide_day

    layout = write_day(tmp_path / "data")
    moved = tmp_path / "elsewhere"
    (layout.root / "2026-01-10").rename(moved)
    dedup = DedupResult(dedup_path=str(moved / "work" / "dedup.jsonl"), summary_path=str(moved / "work" / "x.json"),
                        raw_items={c: str(moved / c / "raw" / "items.jsonl") for c in ITEMS}, categories=list(ITEMS))
    result = decide_day(Settings(data_root=tmp_path / "data", detector="lingua"), dedup, moved / "work")
    assert result.language_path == str(moved / "work" / "language.jsonl") and result.items == 5
    assert result.korean == 2 and result.dedup == dedup


def test_the_deprecated_extra_dict_still_sets_the_typed_knobs(tmp_path):
    legacy = {"google_endpoint": "http://127.0.0.1:9", "language_fallback": "lingua", "use_text_language": "1"}
    settings = Settings(data_root=tmp_path, extra=legacy)
    assert (settings.google_endpoint, settings.language_fallback, settings.use_text_language) == (
        "http://127.0.0.1:9", "lingua", True)
    with pytest.raises(ValueError, match="language_fallback"):
        Settings(data_root=tmp_path, language_fallback="google").validated()


def test_language_knobs_come_from_the_environment_through_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOK_TOP10_LANGUAGE_FALLBACK", "lingua")
    monkeypatch.setenv("TIKTOK_TOP10_LANGUAGE_USE_TEXT_LANGUAGE", "yes")
    monkeypatch.setenv("TIKTOK_TOP10_GOOGLE_ENDPOINT", "http://127.0.0.1:9")
    settings = Settings.from_env()
    assert (settings.language_fallback, settings.use_text_language, settings.google_endpoint) == (
        "lingua", True, "http://127.0.0.1:9")
