"""Alerts through the real Apprise client to a loopback webhook receiver: what a failed run, a partial day and a
late day send, at most once, and what happens without a connection or when delivery fails."""

from __future__ import annotations

import datetime as dt
import json
import sys
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from webhook_receiver import WebhookReceiver

from tiktok_top10 import alerts
from tiktok_top10.config import Settings
from tiktok_top10.storage import DayLayout, atomic_write_json

KST = ZoneInfo("Asia/Seoul")
DAY = dt.date(2026, 11, 12)
RUN_00 = "scheduled__2026-11-11T15:00:00+00:00"
CONN_ENV = "AIRFLOW_CONN_TIKTOK_TOP10_ALERTS"


@pytest.fixture
def receiver():
    with WebhookReceiver() as server:
        yield server


@pytest.fixture
def alert_env(receiver, data_root, monkeypatch):
    """The settings the callbacks read from the environment, and an Apprise connection to the receiver (its
    extra exactly as the README shows it, tag included)."""
    monkeypatch.setenv("TIKTOK_TOP10_DATA_ROOT", str(data_root))
    monkeypatch.setenv("TIKTOK_TOP10_CATEGORIES", "tts,food")
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://127.0.0.1:8080")
    monkeypatch.setenv(CONN_ENV, json.dumps(
        {"conn_type": "apprise", "extra": {"config": {"path": receiver.apprise_url, "tag": "alerts"}}}))
    return Settings.from_env()


def _dag_run(run_id=RUN_00, logical=dt.datetime(2026, 11, 12, 0, 0, tzinfo=KST), run_type="scheduled", conf=None):
    """A run as the task SDK hands it to a DAG callback (attributes)."""
    return SimpleNamespace(dag_id="tiktok_top10", run_id=run_id, logical_date=logical, run_after=logical,
                           run_type=run_type, conf=conf or {})


def _deadline_context(run_id, logical: dt.datetime, deadline: dt.datetime, run_type="scheduled"):
    """The context the scheduler puts into a deadline callback's kwargs (``Deadline.handle_miss``): the run as
    the REST API's JSON, and the deadline."""
    return {"dag_run": {"dag_id": "tiktok_top10", "dag_run_id": run_id, "run_type": run_type,
                        "logical_date": logical.astimezone(dt.UTC).isoformat(), "conf": {}},
            "deadline": {"id": "0", "deadline_time": deadline.astimezone(dt.UTC).isoformat()}}


def _manifest(settings: Settings, day: dt.date, status: str, run_id: str, publish: dict) -> None:
    atomic_write_json(DayLayout(settings.data_root, day).manifest,
                      {"day": day.isoformat(), "status": status, "categories": list(publish),
                       "run": {"dag_id": "tiktok_top10", "run_id": run_id, "run_type": "scheduled"},
                       "stages": {"publish": publish}})


PARTIAL = {"tts": {"status": "published", "published": 5}, "food": {"status": "crawl_missing", "published": 0}}
COMPLETE = {"tts": {"status": "published", "published": 5}, "food": {"status": "published", "published": 4}}


# --- the deadlines -----------------------------------------------------------------------------------------


def test_deadline_intervals_put_both_runs_deadline_at_late_after_of_the_day(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["pytest"])
    assert alerts.late_day_deadline_intervals("13:00") == [dt.timedelta(hours=13), dt.timedelta(hours=1)]
    assert alerts.late_day_deadline_intervals("11:30") == [dt.timedelta(hours=11, minutes=30)]  # 12:00 starts later
    assert alerts.late_day_deadline_intervals("off") == []
    with pytest.raises(ValueError, match="late_after"):
        alerts.late_day_deadline_intervals("1pm")
    monkeypatch.setattr(sys, "argv", ["/repo/.venv/bin/airflow", "dags", "test", "tiktok_top10", "2026-11-12"])
    assert alerts.late_day_deadline_intervals("13:00") == []  # dag.test()'s crash with deadlines (see alerts.py)


def test_settings_read_the_alert_knobs_from_the_environment(monkeypatch):
    assert (Settings().alert_connection, Settings().late_after) == ("tiktok_top10_alerts", "13:00")
    monkeypatch.setenv("TIKTOK_TOP10_ALERT_CONNECTION", "team_slack")
    monkeypatch.setenv("TIKTOK_TOP10_LATE_AFTER", "Off")
    assert (Settings.from_env().alert_connection, Settings.from_env().late_after) == ("team_slack", "off")
    monkeypatch.setenv("TIKTOK_TOP10_LATE_AFTER", "25:00")
    with pytest.raises(ValueError, match="late_after"):
        Settings.from_env()


# --- a failed run --------------------------------------------------------------------------------------------


def test_partial_day_beats_failed_task_and_a_run_alerts_once(alert_env, receiver):
    _manifest(alert_env, DAY, "partial", RUN_00, PARTIAL)
    context = {"dag_run": _dag_run(), "ti": SimpleNamespace(task_id="verify_day_complete", map_index=-1)}
    assert alerts.on_run_failure(context) is True
    assert alerts.on_run_failure(context) is False  # a retried callback: still one alert for the run
    (message,) = receiver.messages()
    assert "partial day" in message["title"] and "2026-11-12" in message["title"]
    body = message["message"]
    assert "Day: 2026-11-12" in body and "food (crawl_missing)" in body and "tts" not in body.split("missing:")[1]
    assert "Failing task: verify_day_complete" in body
    assert "http://127.0.0.1:8080/dags/tiktok_top10/runs/scheduled__2026-11-11T15%3A00%3A00%2B00%3A00" in body
    assert message["type"] == "failure"
    (record,) = alerts.sent_alerts(alert_env, DAY)
    assert (record["kind"], record["run_id"], record["missing"]) == ("partial_day", RUN_00, {"food": "crawl_missing"})


def test_a_run_that_failed_before_publishing_names_the_failing_task(alert_env, receiver):
    # yesterday's-style leftover: a manifest from another run does not make this run's failure a partial day
    _manifest(alert_env, DAY, "partial", "manual__earlier", PARTIAL)
    context = {"dag_run": _dag_run(), "ti": SimpleNamespace(task_id="crawl", map_index=1, rendered_map_index="food")}
    assert alerts.on_run_failure(context) is True
    (message,) = receiver.messages()
    assert "run failed at crawl[food]" in message["title"]
    assert "Failing task: crawl[food]" in message["message"] and "food (crawl_missing)" in message["message"]
    assert alerts.sent_alerts(alert_env, DAY)[0]["kind"] == "failed_run"


def test_no_connection_configured_sends_nothing_and_raises_nothing(alert_env, receiver, monkeypatch, caplog):
    monkeypatch.delenv(CONN_ENV)
    caplog.set_level("INFO", logger="tiktok_top10.alerts")
    context = {"dag_run": _dag_run(), "ti": SimpleNamespace(task_id="crawl", map_index=-1)}
    assert alerts.on_run_failure(context) is False
    assert receiver.received == [] and alerts.sent_alerts(alert_env, DAY) == []
    assert "no alert connection 'tiktok_top10_alerts' defined" in caplog.text


def test_an_undelivered_alert_is_not_recorded_and_the_next_chance_sends_it(alert_env, receiver):
    receiver.answers.append(500)
    context = {"dag_run": _dag_run(), "ti": SimpleNamespace(task_id="crawl", map_index=-1)}
    with pytest.raises(alerts.AlertNotDelivered):
        alerts.on_run_failure(context)
    assert [r.status for r in receiver.received] == [500]  # Apprise did post; the receiver refused it
    assert alerts.sent_alerts(alert_env, DAY) == []
    assert alerts.on_run_failure(context) is True
    assert [r.status for r in receiver.received] == [500, 200]
    assert len(alerts.sent_alerts(alert_env, DAY)) == 1


# --- a late day ------------------------------------------------------------------------------------------------


MIDNIGHT = dt.datetime(2026, 11, 12, 0, 0, tzinfo=KST)
NOON = dt.datetime(2026, 11, 12, 12, 0, tzinfo=KST)
LATE = dt.datetime(2026, 11, 12, 13, 0, tzinfo=KST)


def test_a_late_day_alerts_once_naming_the_missing_categories(alert_env, receiver):
    _manifest(alert_env, DAY, "partial", RUN_00, PARTIAL)
    assert alerts.late_day_callback(_deadline_context(RUN_00, MIDNIGHT, LATE), late_after="13:00") is True
    noon_run = "scheduled__2026-11-12T03:00:00+00:00"
    assert alerts.late_day_callback(_deadline_context(noon_run, NOON, LATE), late_after="13:00") is False  # once a day
    (message,) = receiver.messages()
    assert "not complete by 13:00" in message["title"] and "food (crawl_missing)" in message["message"]
    assert "Day: 2026-11-12" in message["message"]
    assert "/dags/tiktok_top10/runs/scheduled__2026-11-11T15%3A00%3A00%2B00%3A00" in message["message"]
    assert alerts.sent_alerts(alert_env, DAY)[0]["run_id"] == RUN_00


def test_no_manifest_yet_names_every_category(alert_env, receiver):
    assert alerts.late_day_callback(_deadline_context(RUN_00, MIDNIGHT, LATE), late_after="13:00") is True
    (message,) = receiver.messages()
    assert "tts (not published" in message["message"] and "food (not published" in message["message"]


def test_late_callback_ignores_complete_days_other_deadlines_and_unscheduled_runs(alert_env, receiver):
    # the 00:00 run's other deadline (00:00 + 1 h) is not the day's deadline
    assert alerts.late_day_callback(_deadline_context(RUN_00, MIDNIGHT, MIDNIGHT + dt.timedelta(hours=1))) is False
    for run_type in ("backfill", "manual", "asset_triggered"):
        assert alerts.late_day_callback(_deadline_context("x", MIDNIGHT, LATE, run_type=run_type)) is False
    _manifest(alert_env, DAY, "complete", "scheduled__2026-11-12T03:00:00+00:00", COMPLETE)
    assert alerts.late_day_callback(_deadline_context(RUN_00, MIDNIGHT, LATE)) is False  # re-read when it fires
    assert receiver.received == [] and alerts.sent_alerts(alert_env, DAY) == []
