"""The DAG's XComs are the contract between stages: the run spec, each task reading the paths it is given, the
retry policy built from the crawl's error table, and the Asset event meaning "published completely"."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tiktok_top10.config import Settings
from tiktok_top10.contracts import (
    DedupResult,
    LanguageResult,
    PublishResult,
    RunSpec,
)
from tiktok_top10.storage import read_json, read_jsonl

pytestmark = pytest.mark.airflow
KST = ZoneInfo("Asia/Seoul")


# --- the run spec ----------------------------------------------------------------------------------------


def test_run_spec_resolves_params_over_the_environment_once_and_round_trips_as_json(tmp_path):
    environment = Settings(data_root=tmp_path, min_views=7, top_n=4, detector="lingua", proxy_server="http://127.0.0.1:3128",
                           proxy_password="secret-pw")
    midnight_kst = dt.datetime(2026, 11, 21, 15, 0, tzinfo=dt.UTC)
    spec = RunSpec.resolve({"categories": ["tts", "food"], "top_n": 5}, midnight_kst, environment)
    assert spec.day == "2026-11-22" and spec.fallback_run is False
    assert (spec.categories, spec.top_n, spec.min_views, spec.detector) == (["tts", "food"], 5, 7, "lingua")
    wire = json.loads(json.dumps(spec.to_dict()))
    assert RunSpec.from_dict(wire) == spec
    assert "secret-pw" not in json.dumps(wire)  # secrets stay in the environment, never in XCom
    assert spec.settings(environment).proxy_password == "secret-pw" and spec.settings(environment).top_n == 5
    noon = RunSpec.resolve({}, dt.datetime(2026, 11, 22, 12, 0, tzinfo=KST), environment)
    assert noon.fallback_run is True and noon.day == "2026-11-22"
    with pytest.raises(ValueError, match="categories"):
        RunSpec.resolve({"categories": ["music"]}, midnight_kst, environment)


def test_resolve_run_task_uses_injected_params_and_logical_date(top10_dag, tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOK_TOP10_DATA_ROOT", str(tmp_path))
    resolve = top10_dag.get_task("resolve_run").python_callable
    spec = resolve(params={"categories": ["dance"], "source": "demo", "min_views": 1, "top_n": 3, "detector": "lingua",
                           "backbone": "efficientnet-lite0"},
                   logical_date=dt.datetime(2026, 11, 22, 3, 0, tzinfo=KST), dag_run=None)
    assert spec["day"] == "2026-11-22" and spec["data_root"] == str(tmp_path) and spec["categories"] == ["dance"]
    assert spec["dedup_crop_robust"] is False
    json.dumps(spec)
    spec = resolve(params={"dedup_crop_robust": True}, logical_date=dt.datetime(2026, 11, 22, 3, 0, tzinfo=KST),
                   dag_run=None)
    assert spec["dedup_crop_robust"] is True
    assert RunSpec.from_dict(spec).settings().dedup_crop_robust is True  # what the dedup task runs with


# --- retries by error kind -----------------------------------------------------------------------------------


def _decide(policy, exc):
    return policy.evaluate(exception=exc, try_number=1, max_tries=3)


def test_retry_policy_maps_each_error_class_as_the_error_table_says(top10_dag):
    from airflow.sdk import RetryAction
    from pydantic import BaseModel

    from tiktok_top10.crawl.errors import ERROR_TABLE, RETRY_BACKOFF, RETRY_LONG_DELAY, RETRY_NEVER
    from tiktok_top10.language.detectors import CredentialsRefused, DetectorUnavailable
    from tiktok_top10.retries import LONG_DELAY

    policy = top10_dag.get_task("language").retry_policy
    assert top10_dag.get_task("crawl").partial_kwargs["retry_policy"] is policy
    seen = set()
    for row in ERROR_TABLE:
        decision = _decide(policy, row.error("test"))
        seen.add(row.retry)
        if row.retry == RETRY_NEVER:
            assert decision.action == RetryAction.FAIL, row.error
        elif row.retry == RETRY_LONG_DELAY:
            assert (decision.action, decision.retry_delay) == (RetryAction.RETRY, LONG_DELAY), row.error
        else:
            assert row.retry == RETRY_BACKOFF
            assert (decision.action, decision.retry_delay) == (RetryAction.RETRY, None), row.error  # task's backoff
    assert seen == {RETRY_NEVER, RETRY_LONG_DELAY, RETRY_BACKOFF}
    names = {row.error.__name__: row.retry for row in ERROR_TABLE}
    assert names["CrawlEmpty"] == names["LoginRequired"] == names["RegionMismatch"] == RETRY_NEVER
    assert names["CaptchaBlocked"] == names["BotWallBlocked"] == RETRY_LONG_DELAY
    assert names["SourceUnreachable"] == RETRY_BACKOFF

    class Knob(BaseModel):
        n: int

    with pytest.raises(ValueError) as invalid:
        Knob(n="many")
    assert _decide(policy, ValueError("categories must be ...")).action == RetryAction.FAIL
    assert _decide(policy, invalid.value).action == RetryAction.FAIL  # pydantic's ValidationError is a ValueError
    assert _decide(policy, CredentialsRefused("Google credentials were refused")).action == RetryAction.FAIL
    # Google down after its own retries, a disk hiccup: the task's exponential backoff
    assert _decide(policy, DetectorUnavailable("still failing")).action == RetryAction.DEFAULT
    assert _decide(policy, OSError("EIO")).action == RetryAction.DEFAULT


# --- each task reads the paths it is given ---------------------------------------------------------------


def _move(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(src), str(dst))
    return dst


def test_each_downstream_task_follows_the_paths_it_is_given(top10_dag, settings, make_day, monkeypatch):
    """The day's crawl and work folders are moved elsewhere in the data root and the new paths handed to the
    tasks: dedup, language, rank_and_publish and archive_and_cleanup read them there (nothing is left where a
    task could find it by rebuilding the day's layout)."""
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    day = dt.date(2026, 11, 22)
    items = [{"id": str(7300000000000000000 + 100 * c + n), "category": category, "views": 900_000 - n * 1000,
              "title": f"{category} 한국어 제목 {n}" if n % 4 else f"plain english caption number {n}"}
             for c, category in enumerate(("main", "dance")) for n in range(12)]
    layout = make_day(items, day=day)
    root = settings.data_root
    elsewhere = root / "moved"
    moved_raw = {c: _move(layout.raw_dir(c), elsewhere / c / "raw") / "items.jsonl" for c in ("main", "dance")}
    shutil.rmtree(layout.work_dir)  # dedup must produce the verdicts from the moved crawl alone
    spec = RunSpec(day="2026-11-22", data_root=str(root), categories=["main", "dance"], source="demo", min_views=0,
                   top_n=10, detector="lingua", backbone="efficientnet-lite0").to_dict()
    task = {t: top10_dag.get_task(t).python_callable for t in
            ("dedup", "language", "rank_and_publish", "archive_and_cleanup")}

    crawled = [{"category": c, "items_path": str(p), "items": 12, "covers": 12} for c, p in moved_raw.items()]
    deduped = DedupResult.from_dict(task["dedup"](spec, crawled))
    assert deduped.items == 24 and deduped.missing_categories == []
    assert deduped.raw_items == {c: str(p) for c, p in moved_raw.items()}

    moved_work = _move(Path(deduped.dedup_path).parent, elsewhere / "work")
    deduped_moved = DedupResult.from_dict({**deduped.to_dict(), "dedup_path": str(moved_work / "dedup.jsonl"),
                                           "summary_path": str(moved_work / "dedup_summary.json")})
    decided = LanguageResult.from_dict(task["language"](spec, deduped_moved.to_dict()))
    assert Path(decided.language_path) == moved_work / "language.jsonl"  # written beside the dedup it extends
    assert decided.items == deduped.kept and 0 < decided.korean < decided.items
    assert not layout.work_dir.exists()

    published = PublishResult.from_dict(task["rank_and_publish"](spec, decided.to_dict(), dag_run=None))
    manifest = read_json(published.manifest_path)
    korean = {r["key"] for r in read_jsonl(moved_work / "language.jsonl") if r["korean"]}
    for category in ("main", "dance"):
        expected = min(10, sum(1 for k in korean if k.startswith(f"{category}/")))
        assert published.published[category] == expected > 0
        assert len(read_json(layout.top10_json(category))) == expected
        assert manifest["stages"]["crawl"][category] == {"kept": 12}  # the moved crawl's summary
    assert manifest["stages"]["dedup"]["items"] == 24 and manifest["stages"]["language"]["detector"] == "lingua"

    archived = task["archive_and_cleanup"](spec, published.to_dict())
    for category in ("main", "dance"):
        rows = list(read_jsonl(Path(archived["archive_dir"]) / category / "items.jsonl"))
        assert len(rows) == 12 - published.published[category] == archived["archived"][category]
        assert not moved_raw[category].parent.exists()  # the moved crawl folder was archived and removed
    assert not moved_work.exists() and (Path(archived["archive_dir"]) / "work" / "language.jsonl").is_file()


# --- dag.test(): a partial day fails at verify_day_complete and emits no Asset event -------------------------


def _task_states(run_id: str) -> dict[str, tuple[str, int]]:
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter(TaskInstance.dag_id == "tiktok_top10", TaskInstance.run_id == run_id)
        return {f"{ti.task_id}[{ti.map_index}]": (str(ti.state), ti.try_number) for ti in tis}


def _published_events(run_id: str) -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (session.query(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                .filter(AssetModel.name == "tiktok_top10_published", AssetEvent.source_run_id == run_id).all())
        return [dict(row.extra or {}) for row in rows]


@pytest.fixture(scope="module")
def demo_environment(demo_site, tmp_path_factory):
    root = tmp_path_factory.mktemp("contract") / "data"
    patch = pytest.MonkeyPatch()
    patch.setenv("TIKTOK_TOP10_DATA_ROOT", str(root))
    patch.setenv("TIKTOK_TOP10_DEMO_URL", demo_site.base_url)
    patch.setenv("TIKTOK_TOP10_SOURCE", "demo")
    patch.setenv("TIKTOK_TOP10_DETECTOR", "lingua")
    # food's only source is a tag no demo video carries: its crawl ends in CrawlEmpty
    patch.setenv("AIRFLOW_VAR_TIKTOK_TOP10_SOURCES", json.dumps({"categories": {"food": {"tags": ["없는태그"]}}}))
    yield root
    patch.undo()


@pytest.mark.browser
@pytest.mark.slow
def test_partial_day_fails_at_verify_without_retrying_the_empty_crawl_and_emits_no_event(top10_dag, demo_environment):
    day = dt.date(2026, 11, 10)
    run = top10_dag.test(logical_date=dt.datetime.combine(day, dt.time(0, 0), tzinfo=KST),
                         run_conf={"categories": ["tts", "food"], "top_n": 5})
    states = _task_states(run.run_id)
    assert str(run.state) == "failed", states
    # CrawlEmpty is "never" in the error table: failed on its first try (no 2-minute backoff wait, no retry)
    assert states["crawl[1]"] == ("failed", 1), states
    assert states["crawl[0]"][0] == "success" and states["rank_and_publish[-1]"][0] == "success", states
    assert states["verify_day_complete[-1]"] == ("failed", 1), states  # AirflowFailException: no retry
    manifest = read_json(demo_environment / day.isoformat() / "manifest.json")
    assert manifest["status"] == "partial" and manifest["stages"]["publish"]["food"]["status"] == "crawl_missing"
    assert manifest["stages"]["publish"]["tts"]["published"] == 5
    assert _published_events(run.run_id) == []

# A complete day's single event (with its day in extra): test_dag_end_to_end.py, on the full five-category run.
