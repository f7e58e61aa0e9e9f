"""Alerts: a failed run, a partial day, and a late day, sent through an Apprise connection (README, "Alerts").

Three kinds, most specific first: ``partial_day`` (this run published the day but not every category),
``failed_run`` (a task failed before the day could be published) and ``late_day`` (the day is not ``complete``
by ``late_after``, 13:00 Asia/Seoul by default).  A run sends at most one alert (its most specific kind); the
lateness alert goes out at most once per day.

Delivery: the Apprise provider's hook reads the connection (``conn_type`` apprise, ``extra.config`` = one or
more Apprise URLs) and the real Apprise client sends.  No connection defined = one log line, no error.  An
alert that was not delivered is not recorded as sent (so the next chance sends it) and raises
:class:`AlertNotDelivered`, which Airflow logs as a failed callback.

Sent alerts are recorded in ``<root>/<day>/alerts.json`` (atomic write, under the day's ``alerts`` lock): that
file is what makes "at most once" hold across the two runs of a day, the scheduler's deadline callbacks and
retried callbacks.

This module is imported when the DAG is parsed: Apprise and the Airflow provider are imported only when an
alert is sent.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from .config import KST, LATE_AFTER_OFF, Settings, parse_late_after
from .storage import DATE_FORMAT, DayLayout, atomic_write_json, day_lock, read_json

log = logging.getLogger(__name__)

PARTIAL_DAY = "partial_day"
FAILED_RUN = "failed_run"
LATE_DAY = "late_day"
ALERTS_FILE = "alerts.json"
# The DAG's two runs a day start at these Asia/Seoul times (its MultipleCronTriggerTimetable).
RUN_TIMES = (dt.time(0, 0), dt.time(12, 0))
SCHEDULED = "scheduled"  # DagRunType.SCHEDULED's value: only the timetable's own runs can be late


class AlertNotDelivered(RuntimeError):
    """Apprise reported that no service accepted the alert; it was not recorded as sent."""


@dataclass(frozen=True)
class Alert:
    kind: str
    day: dt.date
    run_id: str
    title: str
    body: str
    missing: dict[str, str] = field(default_factory=dict)  # category -> reason
    failed_task: str | None = None
    url: str = ""


# --- when the day is late: the deadlines -------------------------------------------------------------------


def late_day_deadline_intervals(late_after: str) -> list[dt.timedelta]:
    """How long after each run's logical date (00:00 and 12:00 Asia/Seoul) ``late_after`` of the same day falls:
    one deadline per run that starts before it (13:00 -> [13 h, 1 h]).  [] for ``"off"``.

    Also [] under ``airflow dags test`` (``make run``): Airflow 3.3.2's ``dag.test()`` crashes at the end of a
    *successful* run of a DAG with deadline alerts (``'dict' object has no attribute 'hex'`` from
    ``DeadlineAlertModel.get_by_id`` when the run is marked successful; seen with a one-task DAG too).
    ``dag.test()`` never evaluates deadlines anyway (only a running scheduler does), so dropping them there loses
    nothing.  The test suite's DAG fixture sets ``TIKTOK_TOP10_LATE_AFTER=off`` for the same reason
    (tests/dags/conftest.py)."""
    if sys.argv[1:3] == ["dags", "test"]:
        return []
    when = parse_late_after(late_after) if late_after != LATE_AFTER_OFF else None
    if when is None:
        if late_after != LATE_AFTER_OFF:
            raise ValueError(f"late_after must be HH:MM (Asia/Seoul) or {LATE_AFTER_OFF!r}, got {late_after!r}")
        return []
    due = dt.timedelta(hours=when.hour, minutes=when.minute)
    starts = (dt.timedelta(hours=t.hour, minutes=t.minute) for t in RUN_TIMES)
    return [due - start for start in starts if due > start]


def late_deadline(day: dt.date, late_after: str) -> dt.datetime | None:
    when = parse_late_after(late_after)
    return dt.datetime.combine(day, when, tzinfo=KST) if when else None


# --- reading the run and the day ---------------------------------------------------------------------------


def _get(obj: Any, name: str, default: Any = None) -> Any:
    """A field of the run, whether Airflow hands it over as a model (task context) or a dict (deadline)."""
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _as_datetime(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def run_id_of(dag_run: Any) -> str:
    """The run's id: ``run_id`` on the task SDK's run, ``dag_run_id`` in the REST API's JSON (a deadline's
    context)."""
    return str(_get(dag_run, "run_id") or _get(dag_run, "dag_run_id"))


def run_day(dag_run: Any) -> dt.date:
    """The day a run works on, as ``resolve_run`` computes it: its logical date (a manual run without one: its
    run_after) in Asia/Seoul."""
    when = _as_datetime(_get(dag_run, "logical_date")) or _as_datetime(_get(dag_run, "run_after"))
    if when is None:
        raise ValueError("the run has neither a logical date nor a run_after")
    return when.astimezone(KST).date()


def run_categories(dag_run: Any, settings: Settings) -> list[str]:
    conf = _get(dag_run, "conf") or {}
    categories = conf.get("categories") if isinstance(conf, Mapping) else None
    return list(categories or settings.categories)


def read_day_manifest(settings: Settings, day: dt.date) -> dict | None:
    from .storage import read_manifest

    try:
        return read_manifest(DayLayout(settings.data_root, day).manifest)
    except (OSError, ValueError) as exc:
        log.warning("manifest of %s unreadable: %s", day, exc)
        return None


def missing_categories(manifest: dict | None, categories: list[str]) -> dict[str, str]:
    """Category -> why it is not published, from the day's manifest; every category when there is none."""
    if manifest is None:
        return {c: "not published (no manifest for the day yet)" for c in categories}
    published = manifest.get("stages", {}).get("publish", {})
    missing = {}
    for category in categories:
        row = published.get(category)
        if row is None:
            missing[category] = "not in the day's manifest"
        elif row.get("status") != "published":
            missing[category] = str(row.get("status"))
        elif not row.get("published"):
            missing[category] = "no_candidates"
    if not missing and manifest.get("status") != "complete":
        missing = {c: f"day status {manifest.get('status')!r}" for c in categories}
    return missing


def day_is_complete(manifest: dict | None, categories: list[str]) -> bool:
    return bool(manifest) and manifest.get("status") == "complete" and set(categories) <= set(
        manifest.get("categories", []))


def run_url(dag_id: str, run_id: str) -> str:
    """The run in the Airflow UI, from Airflow's configured base URL (``[api] base_url``)."""
    from airflow.configuration import conf

    base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
    if not base:
        host = conf.get("api", "host", fallback="localhost")
        base = f"http://{'localhost' if host in ('0.0.0.0', '') else host}:{conf.get('api', 'port', fallback='8080')}"
    return f"{base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def _task_label(ti: Any) -> str | None:
    if ti is None:
        return None
    task_id = _get(ti, "task_id")
    label = _get(ti, "rendered_map_index")
    map_index = _get(ti, "map_index", -1)
    if label:
        return f"{task_id}[{label}]"
    return f"{task_id}[{map_index}]" if map_index not in (None, -1) else task_id


# --- composing ---------------------------------------------------------------------------------------------


def _body(headline: str, day: dt.date, missing: dict[str, str], failed_task: str | None, url: str,
          run_id: str) -> str:
    lines = [headline, f"Day: {day.strftime(DATE_FORMAT)} (Asia/Seoul)"]
    if missing:
        lines.append("Categories missing: " + ", ".join(f"{c} ({reason})" for c, reason in missing.items()))
    if failed_task:
        lines.append(f"Failing task: {failed_task}")
    lines.append(f"Run: {run_id}")
    lines.append(f"Open in Airflow: {url}")
    return "\n".join(lines)


def failure_alert(dag_id: str, dag_run: Any, ti: Any, settings: Settings) -> Alert:
    """The one alert for a failed run: ``partial_day`` when this run published the day partially (its manifest
    names this run), else ``failed_run`` naming the failing task."""
    day = run_day(dag_run)
    run_id = run_id_of(dag_run)
    categories = run_categories(dag_run, settings)
    manifest = read_day_manifest(settings, day)
    url = run_url(dag_id, run_id)
    failed_task = _task_label(ti)
    published_by_this_run = bool(manifest) and (manifest.get("run") or {}).get("run_id") == run_id
    if published_by_this_run and manifest.get("status") != "complete":
        missing = missing_categories(manifest, list(manifest.get("categories") or categories))
        title = f"[tiktok_top10] {day}: partial day, missing {', '.join(missing)}"
        body = _body(f"{day} was published partially.", day, missing, failed_task, url, run_id)
        return Alert(PARTIAL_DAY, day, run_id, title, body, missing, failed_task, url)
    missing = {} if day_is_complete(manifest, categories) else missing_categories(manifest, categories)
    title = f"[tiktok_top10] {day}: run failed at {failed_task or 'an unknown task'}"
    body = _body(f"The run for {day} failed.", day, missing, failed_task, url, run_id)
    return Alert(FAILED_RUN, day, run_id, title, body, missing, failed_task, url)


def late_alert(dag_id: str, dag_run: Any, settings: Settings, late_after: str,
               manifest: dict | None) -> Alert:
    day = run_day(dag_run)
    run_id = run_id_of(dag_run)
    categories = run_categories(dag_run, settings)
    missing = missing_categories(manifest, categories)
    url = run_url(dag_id, run_id)
    title = f"[tiktok_top10] {day}: not complete by {late_after} Asia/Seoul"
    body = _body(f"{day} is not published completely by {late_after} Asia/Seoul.", day, missing, None, url, run_id)
    return Alert(LATE_DAY, day, run_id, title, body, missing, None, url)


# --- the record of sent alerts -----------------------------------------------------------------------------


def alerts_path(settings: Settings, day: dt.date):
    return DayLayout(settings.data_root, day).day_dir / ALERTS_FILE


def sent_alerts(settings: Settings, day: dt.date) -> list[dict]:
    path = alerts_path(settings, day)
    if not path.is_file():
        return []
    data = read_json(path)
    return data if isinstance(data, list) else []


def _already_sent(records: list[dict], alert: Alert) -> bool:
    if alert.kind == LATE_DAY:
        return any(r.get("kind") == LATE_DAY for r in records)  # once per day
    return any(r.get("run_id") == alert.run_id and r.get("kind") != LATE_DAY for r in records)  # once per run


# --- sending -----------------------------------------------------------------------------------------------


def deliver(conn_id: str, title: str, body: str) -> bool | None:
    """Send through the Apprise connection ``conn_id``: True when Apprise reports delivery, False when it does
    not, None when no such connection is defined.  The hook reads the connection; the client's own ``notify``
    result is kept (the hook's ``notify`` discards it)."""
    import apprise
    from airflow.providers.apprise.hooks.apprise import AppriseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    hook = AppriseHook(apprise_conn_id=conn_id)
    try:
        conn = hook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
    client = apprise.Apprise()
    hook.set_config_from_conn(conn=conn, apprise_obj=client)
    # Apprise 2's result is an AppriseResult whose truth value is "every matched service accepted it" (no service
    # matched, a 4xx/5xx answer or a timeout are all false).
    result = client.notify(body=body, title=title, notify_type=apprise.NotifyType.FAILURE,
                           tag=apprise.common.MATCH_ALL_TAG)
    return bool(result)


def send(alert: Alert, settings: Settings) -> bool:
    """Send ``alert`` unless one of its kind was already sent (per run; ``late_day``: per day), and record it.
    False when nothing was sent (already sent, or no connection); AlertNotDelivered when Apprise failed."""
    with day_lock(settings.data_root, alert.day, "alerts"):
        records = sent_alerts(settings, alert.day)
        if _already_sent(records, alert):
            log.info("%s alert for %s (run %s) already sent; not sending again", alert.kind, alert.day, alert.run_id)
            return False
        delivered = deliver(settings.alert_connection, alert.title, alert.body)
        if delivered is None:
            log.info("no alert connection %r defined: %s alert for %s not sent (README, \"Alerts\")",
                     settings.alert_connection, alert.kind, alert.day)
            return False
        if not delivered:
            raise AlertNotDelivered(f"{alert.kind} alert for {alert.day} was not delivered through connection "
                                    f"{settings.alert_connection!r}; not recorded, the next chance sends it")
        records.append({"kind": alert.kind, "day": alert.day.strftime(DATE_FORMAT), "run_id": alert.run_id,
                        "sent_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                        "missing": alert.missing, "failed_task": alert.failed_task})
        atomic_write_json(alerts_path(settings, alert.day), records)
    log.info("sent %s alert for %s (run %s)", alert.kind, alert.day, alert.run_id)
    return True


# --- the callbacks the DAG registers ---------------------------------------------------------------------


def on_run_failure(context: Mapping[str, Any]) -> bool:
    """The DAG's ``on_failure_callback``: one alert for the failed run, the most specific kind."""
    dag_run = context["dag_run"]
    dag = context.get("dag")
    dag_id = _get(dag, "dag_id") or _get(dag_run, "dag_id")
    settings = Settings.from_env()
    return send(failure_alert(dag_id, dag_run, context.get("ti"), settings), settings)


def late_day_callback(context: Mapping[str, Any], late_after: str = "13:00") -> bool:
    """The deadline alerts' callback, run by the scheduler's executor when a run's deadline passes.  Sends the
    ``late_day`` alert only for a scheduled run's deadline at ``late_after`` of its day, only when the day's
    manifest, read now, is not complete, and only once per day.  A deadline survives when its own run failed
    even if the other run completed the day later: the manifest, not the run's state, decides."""
    dag_run = context["dag_run"]
    run_type = str(_get(dag_run, "run_type", "")).lower().removeprefix("dagruntype.")
    if run_type != SCHEDULED:
        log.info("run %s is %s, not scheduled: no lateness alert", run_id_of(dag_run), run_type)
        return False
    day = run_day(dag_run)
    due = late_deadline(day, late_after)
    fired = _as_datetime((context.get("deadline") or {}).get("deadline_time"))
    if due is None or fired is None or fired != due:
        # The same interval also lands the other run's deadline elsewhere (00:00 + 1 h): not the day's deadline.
        log.info("deadline %s of run %s is not %s's %s deadline: ignored", fired, run_id_of(dag_run), day,
                 late_after)
        return False
    settings = Settings.from_env()
    manifest = read_day_manifest(settings, day)
    if day_is_complete(manifest, run_categories(dag_run, settings)):
        log.info("%s is complete: no lateness alert", day)
        return False
    dag_id = _get(dag_run, "dag_id")
    return send(late_alert(dag_id, dag_run, settings, late_after, manifest), settings)
