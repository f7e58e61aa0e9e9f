"""The DAG's alerts with Airflow's own machinery and the real Apprise client posting to a loopback receiver:
a failed crawl under ``dag.test()`` sends one alert; lateness goes through Airflow 3 deadline alerts.

Deadline alerts are evaluated only by a running scheduler (``dag.test()`` ignores them), and a scheduler cannot
be told what time it is.  So the lateness tests drive the scheduler's own steps one by one on the metadata DB:
the DAG is serialized as the dag-processor does (``sync_bag_to_db``), runs are created as the scheduler creates
them (``SerializedDAG.create_dagrun``: that is where Deadline rows appear), runs end through
``DagRun.update_state`` (which prunes a successful run's deadlines), the scheduler's query for missed deadlines
is run "at 13:01" (its ``now()`` replaced by that time), ``Deadline.handle_miss`` queues the callback, and the
workload an executor would receive (``ExecuteCallback.make``) is run by the task SDK's ``execute_callback``."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from webhook_receiver import WebhookReceiver

from tiktok_top10 import alerts
from tiktok_top10.config import Settings
from tiktok_top10.storage import DayLayout, atomic_write_json

pytestmark = pytest.mark.airflow
KST = ZoneInfo("Asia/Seoul")
KEEP_DEADLINE_ALERTS = True  # tests/dags/conftest.py: this module needs the DAG's deadlines
CONN_ENV = "AIRFLOW_CONN_TIKTOK_TOP10_ALERTS"


@pytest.fixture(scope="module")
def receiver():
    with WebhookReceiver() as server:
        yield server


@pytest.fixture(scope="module")
def alert_environment(receiver, demo_site, tmp_path_factory):
    root = tmp_path_factory.mktemp("alerts") / "data"
    patch = pytest.MonkeyPatch()
    patch.setenv("TIKTOK_TOP10_DATA_ROOT", str(root))
    patch.setenv("TIKTOK_TOP10_DEMO_URL", demo_site.base_url)
    patch.setenv("TIKTOK_TOP10_SOURCE", "demo")
    patch.setenv("TIKTOK_TOP10_DETECTOR", "lingua")
    patch.setenv("AIRFLOW__API__BASE_URL", "http://127.0.0.1:8080")
    # food's only source is a tag no demo video carries: its crawl ends in CrawlEmpty (fails at once, no retry)
    patch.setenv("AIRFLOW_VAR_TIKTOK_TOP10_SOURCES", json.dumps({"categories": {"food": {"tags": ["없는태그"]}}}))
    patch.setenv(CONN_ENV, json.dumps(
        {"conn_type": "apprise", "extra": {"config": {"path": receiver.apprise_url, "tag": "alerts"}}}))
    yield root
    patch.undo()


@pytest.fixture
def fresh_receiver(receiver):
    receiver.clear()
    return receiver


def test_dag_registers_the_failure_callback_and_a_deadline_at_13_00_for_both_runs(top10_dag):
    from airflow.sdk import DeadlineReference, SyncCallback

    assert top10_dag.on_failure_callback is alerts.on_run_failure or top10_dag.on_failure_callback == [
        alerts.on_run_failure]
    deadlines = top10_dag.deadline
    assert sorted(d.interval for d in deadlines) == [dt.timedelta(hours=1), dt.timedelta(hours=13)]
    for deadline in deadlines:
        assert deadline.reference == DeadlineReference.DAGRUN_LOGICAL_DATE
        assert isinstance(deadline.callback, SyncCallback)
        assert deadline.callback.path == "tiktok_top10.alerts.late_day_callback"
        assert deadline.callback.kwargs == {"late_after": "13:00"}


# --- a failed crawl, through dag.test() ------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.slow
def test_a_failed_crawl_sends_exactly_one_alert_naming_the_day_and_categories(top10_dag, alert_environment,
                                                                             fresh_receiver):
    day = dt.date(2026, 11, 9)
    run = top10_dag.test(logical_date=dt.datetime.combine(day, dt.time(0, 0), tzinfo=KST),
                         run_conf={"categories": ["tts", "food"], "top_n": 5})
    assert str(run.state) == "failed"
    (message,) = fresh_receiver.messages()  # crawl[food] and verify_day_complete failed: still one alert
    assert "2026-11-09" in message["title"] and "partial day" in message["title"]
    body = message["message"]
    assert "Day: 2026-11-09" in body and "food (crawl_missing)" in body
    assert "Failing task: verify_day_complete" in body
    assert f"/dags/tiktok_top10/runs/{run.run_id.replace(':', '%3A').replace('+', '%2B')}" in body
    (record,) = alerts.sent_alerts(Settings.from_env(), day)
    assert (record["kind"], record["run_id"]) == ("partial_day", run.run_id)


# --- lateness, step by step through the scheduler's deadline machinery -------------------------------------------


@pytest.fixture(scope="module")
def scheduler_dag(top10_dag, alert_environment):
    """The DAG as the scheduler sees it: parsed from the DAG folder and serialized into the metadata DB with its
    deadline alerts (what the dag-processor does)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.models.dagbag import DBDagBag
    from airflow.utils.session import create_session

    manager = DagBundlesManager()
    with create_session() as session:
        manager.sync_bundles_to_db(session=session)
    for bundle in manager.get_all_dag_bundles():
        bundle.initialize()
        sync_bag_to_db(BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name),
                       bundle.name, bundle.version)
    with create_session() as session:
        return DBDagBag().get_latest_version_of_dag("tiktok_top10", session=session)


def _scheduled_run(sdag, day: dt.date, hour: int) -> int:
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    logical = dt.datetime.combine(day, dt.time(hour, 0), tzinfo=KST).astimezone(dt.UTC)
    with create_session() as session:
        run = sdag.create_dagrun(run_id=f"scheduled__{logical.isoformat()}", logical_date=logical,
                                 data_interval=(logical, logical), run_after=logical, conf={},
                                 run_type=DagRunType.SCHEDULED, triggered_by=DagRunTriggeredByType.TIMETABLE,
                                 state=DagRunState.RUNNING, session=session)
        return run.id


def _finish(sdag, dagrun_id: int, task_state) -> str:
    """End a run the way the scheduler does: its tasks' states decide, ``DagRun.update_state`` sets the run's
    state (and, on success, prunes the run's deadlines that were not missed)."""
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.get(DagRun, dagrun_id)
        run.dag = sdag
        for ti in run.get_task_instances(session=session):
            ti.state = task_state
        session.flush()
        run.update_state(session=session, execute_callbacks=False)
        return str(run.state)


def _deadlines(dagrun_id: int) -> list[dt.datetime]:
    from airflow.models import Deadline
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(select(Deadline).where(Deadline.dagrun_id == dagrun_id)).all()
        return sorted(row.deadline_time.astimezone(KST) for row in rows)


def _scheduler_at(now: dt.datetime, dagrun_ids: list[int]) -> list[tuple[bool, str | None]]:
    """One scheduler loop at ``now`` for these runs: its query for expired, unhandled deadlines, ``handle_miss``
    on each (the callback is queued with the run as context), then each queued callback run as an executor
    runs the ``ExecuteCallback`` workload.  Returns each callback's (success, error)."""
    import structlog
    from airflow.executors import workloads
    from airflow.models import DagRun, Deadline
    from airflow.sdk.execution_time.callback_supervisor import execute_callback
    from airflow.utils.session import create_session
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    queued = []
    with create_session() as session:
        missed = session.scalars(
            select(Deadline).where(Deadline.deadline_time < now).where(~Deadline.missed)
            .where(Deadline.dagrun_id.in_(dagrun_ids))
            .options(selectinload(Deadline.callback), selectinload(Deadline.dagrun))
        ).all()
        for deadline in missed:
            deadline.handle_miss(session)
        session.flush()
        for deadline in missed:
            queued.append(workloads.ExecuteCallback.make(callback=deadline.callback,
                                                         dag_run=session.get(DagRun, deadline.dagrun_id)))
    log = structlog.get_logger("test_dag_alerts")
    return [execute_callback(w.callback.data["path"], w.callback.data["kwargs"], w.dag_rel_path, None, log)
            for w in queued]


def _write_manifest(day: dt.date, status: str, publish: dict, run_id: str) -> None:
    """The day's manifest as rank_and_publish writes it (the fields the alerts read)."""
    atomic_write_json(DayLayout(Settings.from_env().data_root, day).manifest,
                      {"day": day.isoformat(), "status": status, "categories": list(publish),
                       "run": {"dag_id": "tiktok_top10", "run_id": run_id, "run_type": "scheduled"},
                       "stages": {"publish": publish}})


def _future_day(offset: int) -> dt.date:
    """Days ahead of the real clock: runs that end "now" end before their deadlines, as on a normal day."""
    return dt.datetime.now(KST).date() + dt.timedelta(days=offset)


def _at_13_01(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(13, 1), tzinfo=KST).astimezone(dt.UTC)


PARTIAL = {"main": {"status": "published", "published": 10}, "food": {"status": "crawl_missing", "published": 0}}
COMPLETE = {"main": {"status": "published", "published": 10}, "food": {"status": "published", "published": 9}}


@pytest.fixture
def two_categories(monkeypatch):
    monkeypatch.setenv("TIKTOK_TOP10_CATEGORIES", "main,food")


def test_a_failed_midnight_run_then_a_complete_noon_run_sends_no_lateness_alert(scheduler_dag, alert_environment,
                                                                              fresh_receiver, two_categories):
    from airflow.utils.state import TaskInstanceState

    day = _future_day(2)
    midnight, noon = _scheduled_run(scheduler_dag, day, 0), _scheduled_run(scheduler_dag, day, 12)
    thirteen = dt.datetime.combine(day, dt.time(13, 0), tzinfo=KST)
    # created with each run: 13:00 of the day for both, and each interval's other landing (ignored when it fires)
    assert _deadlines(midnight) == [dt.datetime.combine(day, dt.time(1, 0), tzinfo=KST), thirteen]
    assert _deadlines(noon) == [thirteen, dt.datetime.combine(day + dt.timedelta(days=1), dt.time(1, 0), tzinfo=KST)]

    _write_manifest(day, "partial", PARTIAL, "midnight")
    assert _finish(scheduler_dag, midnight, TaskInstanceState.FAILED) == "failed"
    _write_manifest(day, "complete", COMPLETE, "noon")  # the 12:00 fallback completed the day
    assert _finish(scheduler_dag, noon, TaskInstanceState.SUCCESS) == "success"
    assert _deadlines(noon) == []  # pruned: its run succeeded before them
    assert len(_deadlines(midnight)) == 2  # kept: a deadline is cleared only by its own run's success

    outcomes = _scheduler_at(_at_13_01(day), [midnight, noon])
    assert outcomes == [(True, None), (True, None)]  # both of the 00:00 run's deadlines fired, callbacks ran
    assert fresh_receiver.received == []  # the manifest, read when the deadline fired, says complete
    assert alerts.sent_alerts(Settings.from_env(), day) == []


def test_a_late_day_sends_exactly_one_lateness_alert(scheduler_dag, alert_environment, fresh_receiver,
                                                    two_categories):
    from airflow.utils.state import TaskInstanceState

    day = _future_day(3)
    midnight, noon = _scheduled_run(scheduler_dag, day, 0), _scheduled_run(scheduler_dag, day, 12)
    _write_manifest(day, "partial", PARTIAL, "midnight")
    assert _finish(scheduler_dag, midnight, TaskInstanceState.FAILED) == "failed"
    assert _finish(scheduler_dag, noon, TaskInstanceState.FAILED) == "failed"

    outcomes = _scheduler_at(_at_13_01(day), [midnight, noon])
    assert len(outcomes) == 3 and all(ok for ok, _ in outcomes)  # 00:00's two deadlines and 12:00's 13:00 one
    (message,) = fresh_receiver.messages()  # both runs' 13:00 deadlines fired: one alert for the day
    assert f"{day}: not complete by 13:00" in message["title"]
    assert f"Day: {day}" in message["message"] and "food (crawl_missing)" in message["message"]
    (record,) = alerts.sent_alerts(Settings.from_env(), day)
    assert record["kind"] == "late_day" and record["run_id"].startswith("scheduled__")
    assert f"/dags/tiktok_top10/runs/{record['run_id'].replace(':', '%3A').replace('+', '%2B')}" in message["message"]
    assert _scheduler_at(_at_13_01(day), [midnight, noon]) == []  # handled deadlines never fire again


def test_an_undelivered_lateness_alert_is_not_recorded_and_the_next_deadline_sends_it(
        scheduler_dag, alert_environment, fresh_receiver, two_categories):
    from airflow.utils.state import TaskInstanceState

    day = _future_day(4)
    midnight, noon = _scheduled_run(scheduler_dag, day, 0), _scheduled_run(scheduler_dag, day, 12)
    assert _finish(scheduler_dag, midnight, TaskInstanceState.FAILED) == "failed"  # no manifest at all
    assert _finish(scheduler_dag, noon, TaskInstanceState.FAILED) == "failed"
    fresh_receiver.answers.append(500)  # the first delivery is refused

    outcomes = _scheduler_at(_at_13_01(day), [midnight, noon])
    failed = [error for ok, error in outcomes if not ok]
    assert len(failed) == 1 and "AlertNotDelivered" in failed[0]  # a failed callback in Airflow's records
    assert [r.status for r in fresh_receiver.received] == [500, 200]  # the other run's 13:00 deadline sent it
    (record,) = alerts.sent_alerts(Settings.from_env(), day)
    assert record["kind"] == "late_day" and record["missing"] == {
        "main": "not published (no manifest for the day yet)", "food": "not published (no manifest for the day yet)"}
