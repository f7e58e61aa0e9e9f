"""Fault matrix, idempotency rows: a rerun of a published day, a backfill over published days, and two runs
of the same day at once.  Outcome required: identical published bytes and no duplicates in the archive."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from tiktok_top10.publish import publish_day
from tiktok_top10.retention import archive_and_cleanup
from tiktok_top10.storage import day_lock, read_json, read_jsonl

from .conftest import leftovers, manifest_without_run_record, snapshot, start_child

DAYS = [dt.date(2026, 11, 20), dt.date(2026, 11, 21), dt.date(2026, 11, 22)]
CATEGORIES = ["main", "food"]
RUN = {"dag_id": "tiktok_top10", "run_id": "scheduled__x", "run_type": "scheduled"}


def day_items() -> list[dict]:
    items = []
    for c, category in enumerate(CATEGORIES):
        for k in range(6):
            spec = {"category": category, "id": str(8_000 + 100 * c + k), "views": 900_000 - k * 50_000}
            if k == 4:
                spec["korean"] = False  # archived as not_korean
            if k == 5:
                spec.update(status="duplicate", duplicate_of=f"{category}/{8_000 + 100 * c}")
            items.append(spec)
    return items


def run_day(settings, make_day, day):
    """What a DAG run does after crawl/dedup/language (their outputs written by ``make_day``)."""
    make_day(day_items(), day)
    publish_day(settings, day, CATEGORIES, run_info=RUN)
    archive_and_cleanup(settings, day, CATEGORIES)


def archive_rows(root, day):
    folder = root / "residual_archive" / day.isoformat()
    return {c: [r["id"] for r in read_jsonl(folder / c / "items.jsonl")] for c in CATEGORIES}


@pytest.fixture
def cat_settings(settings):
    return settings.with_overrides(categories=CATEGORIES)


def test_idempotency_rerun_of_a_published_day(cat_settings, make_day):
    root = cat_settings.data_root
    run_day(cat_settings, make_day, DAYS[-1])
    first, archived = snapshot(root, manifests=False), archive_rows(root, DAYS[-1])
    manifest = manifest_without_run_record(root / "2026-11-22" / "manifest.json")
    top_json = root / "2026-11-22" / "main" / "top10" / "main_top10.json"
    inode = top_json.stat().st_ino
    run_day(cat_settings, make_day, DAYS[-1])
    assert snapshot(root, manifests=False) == first
    assert manifest_without_run_record(root / "2026-11-22" / "manifest.json") == manifest
    assert top_json.stat().st_ino == inode  # same inputs: the published files were not even rewritten
    assert archive_rows(root, DAYS[-1]) == archived == {"main": ["8004", "8005"], "food": ["8104", "8105"]}
    assert leftovers(root) == []


def test_idempotency_backfill_over_published_days(cat_settings, make_day):
    root = cat_settings.data_root
    for day in DAYS:
        run_day(cat_settings, make_day, day)
    first = snapshot(root, manifests=False)
    manifests = {day: manifest_without_run_record(root / day.isoformat() / "manifest.json") for day in DAYS}
    archived = {day: archive_rows(root, day) for day in DAYS}
    for day in DAYS:  # a backfill re-runs the days in order, oldest first
        run_day(cat_settings, make_day, day)
        assert read_json(root / "latest.json")["day"] == "2026-11-22"  # never moved back, even mid-backfill
    assert snapshot(root, manifests=False) == first
    assert {day: manifest_without_run_record(root / day.isoformat() / "manifest.json") for day in DAYS} == manifests
    assert {day: archive_rows(root, day) for day in DAYS} == archived
    for rows in archived.values():
        assert all(len(ids) == len(set(ids)) for ids in rows.values())
    assert leftovers(root) == []


PUBLISH_CHILD = r"""
import datetime as dt, sys
from pathlib import Path
from tiktok_top10.config import Settings
from tiktok_top10.publish import publish_day
settings = Settings(data_root=Path(sys.argv[1]), categories=("main", "food"))
publish_day(settings, dt.date(2026, 11, 22), ["main", "food"],
            run_info={"dag_id": "tiktok_top10", "run_id": "scheduled__x", "run_type": "scheduled"})
print("done")
"""


@pytest.mark.airflow
def test_idempotency_two_runs_of_the_same_day_at_once(cat_settings, make_day, dag_bag):
    assert dag_bag.dags["tiktok_top10"].max_active_runs == 1  # the scheduler's guard
    root = cat_settings.data_root
    make_day(day_items(), DAYS[-1])
    # The guard beyond the scheduler (a manual CLI run beside the DAG): publish holds the day's lock.
    with day_lock(root, DAYS[-1], "publish"):
        waiting = start_child(PUBLISH_CHILD, str(root))
        time.sleep(2.0)
        assert waiting.poll() is None, waiting.communicate()  # blocked on the lock, wrote nothing
        assert not (root / "2026-11-22" / "manifest.json").exists()
    assert waiting.wait(timeout=60) == 0, waiting.communicate()
    reference = snapshot(root, manifests=False)

    runs = [start_child(PUBLISH_CHILD, str(root)) for _ in range(2)]
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
    assert snapshot(root, manifests=False) == reference
    assert len(read_json(root / "2026-11-22" / "main" / "top10" / "main_top10.json")) == 4
    assert leftovers(root) == []
