"""End to end: the real DAG under ``dag.test()`` crawls the demo site with real Chromium, fingerprints real
covers, detects languages and publishes. Published Top-10s are checked against the demo generator's ground
truth; then the 12:00 fallback, the rerun and the unpublished-day branches run on the same metadata DB."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import jsonschema
import pytest
from PIL import Image

from tiktok_top10.config import CATEGORIES
from tiktok_top10.models import APP_FIELDS, top10_schema
from tiktok_top10.publish import RANK_FIELDS

pytestmark = [pytest.mark.airflow, pytest.mark.browser, pytest.mark.slow]

KST = ZoneInfo("Asia/Seoul")
DAY = dt.date(2026, 11, 20)
MIN_VIEWS = 100_000


def _snapshot(root: Path, day: dt.date) -> dict[str, bytes]:
    day_dir = root / day.isoformat()
    return {str(p.relative_to(day_dir)): p.read_bytes() for p in sorted(day_dir.glob("*/top10/**/*")) if p.is_file()}


def _task_states(run_id: str) -> dict[str, str]:
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter(TaskInstance.dag_id == "tiktok_top10", TaskInstance.run_id == run_id)
        return {f"{ti.task_id}[{ti.map_index}]": str(ti.state) for ti in tis}


@pytest.fixture(scope="module")
def data_root(demo_site, tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e") / "data"
    patch = pytest.MonkeyPatch()
    patch.setenv("TIKTOK_TOP10_DATA_ROOT", str(root))
    patch.setenv("TIKTOK_TOP10_DEMO_URL", demo_site.base_url)
    patch.setenv("TIKTOK_TOP10_SOURCE", "demo")
    patch.setenv("TIKTOK_TOP10_DETECTOR", "lingua")
    yield root
    patch.undo()


@pytest.fixture(scope="module")
def first_run(top10_dag, data_root):
    run = top10_dag.test(logical_date=dt.datetime.combine(DAY, dt.time(0, 0), tzinfo=KST))
    return run, _snapshot(data_root, DAY)


@pytest.fixture(scope="module")
def truth():
    from tiktok_top10.demo import expected_top10, generate_day

    return generate_day(DAY), expected_top10(DAY, min_views=MIN_VIEWS, top_n=10)


def _published(data_root: Path, category: str) -> list[dict]:
    return json.loads((data_root / DAY.isoformat() / category / "top10" / f"{category}_top10.json").read_text())


def _published_events(run_id: str) -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (session.query(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                .filter(AssetModel.name == "tiktok_top10_published", AssetEvent.source_run_id == run_id).all())
        return [dict(row.extra or {}) for row in rows]


def test_first_run_succeeds(first_run):
    run, snapshot = first_run
    assert str(run.state) == "success", _task_states(run.run_id)
    assert len([k for k in snapshot if k.endswith("_top10.json")]) == len(CATEGORIES)


def test_complete_day_emits_one_published_asset_event_with_the_day(first_run):
    run, _ = first_run
    (event,) = _published_events(run.run_id)
    assert event["day"] == DAY.isoformat() and event["status"] == "complete"


def test_published_top10_matches_the_generators_ground_truth(first_run, data_root, truth):
    _, expected = truth
    for category in CATEGORIES:
        ids = [entry["url"].rsplit("/", 1)[1] for entry in _published(data_root, category)]
        assert ids == expected[category], category


def test_published_entries_are_korean_unique_above_min_views_and_consistent(first_run, data_root, truth):
    demo_day, _ = truth
    seen_videos: set[str] = set()
    for category in CATEGORIES:
        entries = _published(data_root, category)
        jsonschema.validate(entries, top10_schema())
        assert [e["id"] for e in entries] == [f"{category}{n:02d}" for n in range(1, len(entries) + 1)]
        for entry in entries:
            assert tuple(entry) == APP_FIELDS + RANK_FIELDS
            assert entry["views"] >= MIN_VIEWS and entry["category"] == category
            video_id = entry["url"].rsplit("/", 1)[1]
            facts = demo_day.truth(category, video_id)
            assert facts.korean, (category, entry["title"])
            assert facts.video_key not in seen_videos, f"planted re-upload published twice: {entry}"
            seen_videos.add(facts.video_key)
            with Image.open(data_root / DAY.isoformat() / category / "top10" / entry["imageFile"]) as img:
                assert img.format == "JPEG"
                img.load()


def test_manifest_reports_every_stage(first_run, data_root):
    manifest = json.loads((data_root / DAY.isoformat() / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["source"] == "demo"
    assert set(manifest["stages"]["crawl"]) == set(CATEGORIES)
    assert manifest["stages"]["dedup"]["backbone"] in {"resnet50", "efficientnet-lite0"}
    assert manifest["stages"]["language"]["detector"] == "lingua"
    assert manifest["dedup_groups"], "the demo plants re-uploads: dedup must have removed some"
    assert manifest["language_rejected"], "the demo plants foreign captions: some must be rejected"
    latest = json.loads((data_root / "latest.json").read_text())
    assert latest["day"] == DAY.isoformat()
    assert (data_root / "residual_archive" / DAY.isoformat()).is_dir()
    assert not list((data_root / DAY.isoformat()).glob("*/raw"))


def test_noon_run_skips_a_day_that_is_already_published(first_run, top10_dag, data_root):
    run = top10_dag.test(logical_date=dt.datetime.combine(DAY, dt.time(12, 0), tzinfo=KST))
    states = _task_states(run.run_id)
    assert states["resolve_run[-1]"] == states["should_run[-1]"] == "success"
    assert all(state == "skipped" for task, state in states.items()
               if not task.startswith(("resolve_run", "should_run"))), states
    assert _published_events(run.run_id) == []  # nothing new was published
    assert _snapshot(data_root, DAY) == first_run[1]


def test_rerun_of_the_day_is_byte_identical(first_run, top10_dag, data_root):
    archive = data_root / "residual_archive" / DAY.isoformat()
    archived_before = {c: (archive / c / "items.jsonl").read_text().count("\n") for c in CATEGORIES}
    run = top10_dag.test(logical_date=dt.datetime.combine(DAY, dt.time(0, 0), tzinfo=KST))
    assert str(run.state) == "success"
    assert _snapshot(data_root, DAY) == first_run[1]
    archived_after = {c: (archive / c / "items.jsonl").read_text().count("\n") for c in CATEGORIES}
    assert archived_after == archived_before


def test_noon_run_does_the_work_when_the_day_was_not_published(top10_dag, data_root):
    """The 12:00 fallback branch: no complete manifest for the day (as if 00:00 had failed) → it publishes what
    the ground truth says."""
    from tiktok_top10.demo import expected_top10

    day = DAY + dt.timedelta(days=1)
    assert not (data_root / day.isoformat() / "manifest.json").exists()
    run = top10_dag.test(logical_date=dt.datetime.combine(day, dt.time(12, 0), tzinfo=KST),
                         run_conf={"categories": ["tts"]})
    states = _task_states(run.run_id)
    assert str(run.state) == "success", states
    assert states["crawl[0]"] == "success" and states["rank_and_publish[-1]"] == "success", states
    manifest = json.loads((data_root / day.isoformat() / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["categories"] == ["tts"]
    entries = json.loads((data_root / day.isoformat() / "tts" / "top10" / "tts_top10.json").read_text())
    jsonschema.validate(entries, top10_schema())
    assert len(entries) == 10 and all(e["views"] >= MIN_VIEWS for e in entries)
    expected = expected_top10(day, min_views=MIN_VIEWS, top_n=10, categories=["tts"])["tts"]
    assert [e["url"].rsplit("/", 1)[1] for e in entries] == expected
