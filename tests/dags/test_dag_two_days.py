"""Two consecutive demo days through the real DAG (``dag.test()``, real Chromium, real covers and dedup memory):
the second day's ``previousRank`` comes from the first day's published file — by video URL for the videos the
demo carried over, by the dedup memory's history match for the one it re-uploaded under a new id — and is null
for the rest.  One category (``tts``, via the run conf) keeps the two runs short."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import jsonschema
import pytest

from tiktok_top10.models import APP_FIELDS
from tiktok_top10.publish import RANK_FIELDS
from tiktok_top10.schemas import APP_SCHEMA, app_schema
from tiktok_top10.storage import read_jsonl

pytestmark = [pytest.mark.airflow, pytest.mark.browser, pytest.mark.slow]

KST = ZoneInfo("Asia/Seoul")
DAY1 = dt.date(2026, 12, 1)
DAY2 = DAY1 + dt.timedelta(days=1)
CATEGORY = "tts"


def _task_states(run_id: str) -> dict[str, str]:
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter(TaskInstance.dag_id == "tiktok_top10", TaskInstance.run_id == run_id)
        return {f"{ti.task_id}[{ti.map_index}]": str(ti.state) for ti in tis}


def _published(root: Path, day: dt.date) -> list[dict]:
    return json.loads((root / day.isoformat() / CATEGORY / "top10" / f"{CATEGORY}_top10.json").read_text())


def _video_id(entry: dict) -> str:
    return entry["url"].rsplit("/", 1)[1]


@pytest.fixture(scope="module")
def data_root(demo_site, tmp_path_factory):
    # the demo site runs in this process: it reads the same data root to carry day 1's chart into day 2
    root = tmp_path_factory.mktemp("two_days") / "data"
    patch = pytest.MonkeyPatch()
    patch.setenv("TIKTOK_TOP10_DATA_ROOT", str(root))
    patch.setenv("TIKTOK_TOP10_DEMO_URL", demo_site.base_url)
    patch.setenv("TIKTOK_TOP10_SOURCE", "demo")
    patch.setenv("TIKTOK_TOP10_DETECTOR", "lingua")
    yield root
    patch.undo()


@pytest.fixture(scope="module")
def two_runs(top10_dag, data_root):
    runs = []
    for day in (DAY1, DAY2):
        run = top10_dag.test(logical_date=dt.datetime.combine(day, dt.time(0, 0), tzinfo=KST),
                             run_conf={"categories": [CATEGORY]})
        assert str(run.state) == "success", (day, _task_states(run.run_id))
        runs.append(run)
    return runs


@pytest.fixture(scope="module")
def days(two_runs, data_root):
    return _published(data_root, DAY1), _published(data_root, DAY2)


def test_both_days_publish_schema_valid_v2_files(days, data_root):
    for day, entries in zip((DAY1, DAY2), days, strict=True):
        jsonschema.validate(entries, app_schema())
        assert len(entries) == 10
        assert [e["rank"] for e in entries] == list(range(1, 11))
        assert all(tuple(e) == APP_FIELDS + RANK_FIELDS for e in entries)
        manifest = json.loads((data_root / day.isoformat() / "manifest.json").read_text())
        assert manifest["status"] == "complete" and manifest["app_schema"] == APP_SCHEMA
    assert all(e["previousRank"] is None for e in days[0]), "day 1 has no previous day"
    manifest2 = json.loads((data_root / DAY2.isoformat() / "manifest.json").read_text())
    assert manifest2["previous_day"] == DAY1.isoformat()


def test_previous_rank_is_day_ones_rank_for_every_video_that_stayed(days, data_root):
    day1, day2 = days
    rank_by_url = {e["url"]: e["rank"] for e in day1}
    history = _history_matches(data_root)
    stayed = [e for e in day2 if e["url"] in rank_by_url]
    assert stayed, "the demo carries day 1's videos over: some must still be in the chart"
    for entry in stayed:
        assert entry["previousRank"] == rank_by_url[entry["url"]], entry
    # neither carried over (URL) nor a re-upload of a day-1 video (history match): new in the chart
    new = [e for e in day2 if e["url"] not in rank_by_url and _video_id(e) not in history]
    assert new
    assert all(e["previousRank"] is None for e in new), new
    assert any(e["previousRank"] != e["rank"] for e in stayed), "ranks should move from day to day"


def _history_matches(data_root: Path) -> dict[str, dict]:
    """Day 2's dedup rows (archived with the day) that the dedup memory matched to an earlier published video."""
    rows = read_jsonl(data_root / "residual_archive" / DAY2.isoformat() / "work" / "dedup.jsonl")
    return {row["id"]: row["matched_history"] for row in rows
            if row.get("category") == CATEGORY and isinstance(row.get("matched_history"), dict)}


def test_the_re_upload_gets_the_originals_rank_through_the_dedup_memory(days, data_root):
    from tiktok_top10.demo import generate_day

    day1, day2 = days
    truth = generate_day(DAY2)  # the configured data root: the same history the demo site served
    (copy_id,) = [vid for vid, _ in truth.previous_ranks[CATEGORY].items()
                  if not truth.truth(CATEGORY, vid).carried_from]
    original_id = truth.truth(CATEGORY, copy_id).reupload_of
    original = next(e for e in day1 if _video_id(e) == original_id)
    entry = next(e for e in day2 if _video_id(e) == copy_id)
    assert entry["url"] not in {e["url"] for e in day1}  # a new id and URL: only the covers tie it to day 1
    match = _history_matches(data_root)[copy_id]
    assert match["id"] == original_id and match["day"] == DAY1.isoformat(), match
    assert entry["previousRank"] == original["rank"]


def test_both_days_agree_with_the_generators_ground_truth(days):
    from tiktok_top10.demo import generate_day

    for day, entries in zip((DAY1, DAY2), days, strict=True):
        demo = generate_day(day)
        expected = demo.expected_top10(categories=(CATEGORY,))[CATEGORY]
        assert [_video_id(e) for e in entries] == expected, day
        assert [e["previousRank"] for e in entries] == [demo.previous_rank(CATEGORY, vid) for vid in expected]
