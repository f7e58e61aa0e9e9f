"""
### tiktok_top10 — the daily Korean TikTok Top-10 per category

`resolve_run` (Params + environment → the run spec) → `should_run` (the 12:00 run only redoes an incomplete
day) → `crawl` (one mapped task per category) → `dedup` (visual fingerprints, all categories together) →
`language` (Korean content only) → `rank_and_publish` (`<day>/<category>/top10/`, `manifest.json`) →
`archive_and_cleanup` (residual archive, 3-day retention) and `verify_day_complete` (fails a partial day; its
`tiktok_top10_published` Asset event means "published completely").

Runs at 00:00 and 12:00 Asia/Seoul; the day worked on is the run's logical date in Asia/Seoul.  Each task gets
the run spec and its upstream task's result (paths, status, counts: `tiktok_top10.contracts`) and reads the
paths it is given.  Failures retry by kind (`tiktok_top10.retries`): configuration, "nothing found", login and
region problems fail at once, anti-bot blocks retry after a long delay, network errors back off.

Alerts (`tiktok_top10.alerts`, README "Alerts"): a failed run sends one alert (partial day, else the failing
task); a deadline at 13:00 Asia/Seoul sends one "late day" alert when the day is still not complete.
"""

from __future__ import annotations

import datetime as dt
import os

from airflow.sdk import (
    Asset,
    DeadlineAlert,
    DeadlineReference,
    ExceptionRetryPolicy,
    MultipleCronTriggerTimetable,
    Param,
    RetryAction,
    RetryRule,
    SyncCallback,
    dag,
    task,
)

from tiktok_top10.alerts import late_day_callback, late_day_deadline_intervals, on_run_failure
from tiktok_top10.config import BACKBONES, CATEGORIES, DETECTORS, KST, SOURCES, Settings
from tiktok_top10.retries import RETRY_NEVER, retry_classes

DAG_ID = "tiktok_top10"
PUBLISHED = Asset(name="tiktok_top10_published", uri="file:///tiktok-top10/published")
SOURCES_VARIABLE = "tiktok_top10_sources"
TIKTOK_CONNECTION = "tiktok_default"

# The environment sets the Params' defaults when the DAG is parsed; a trigger's conf overrides them per run.
ENVIRONMENT = Settings.from_env()

RETRY_POLICY = ExceptionRetryPolicy(rules=[
    RetryRule(exception=list(row.exceptions),
              action=RetryAction.FAIL if row.retry == RETRY_NEVER else RetryAction.RETRY,
              retry_delay=row.delay, reason=row.reason)
    for row in retry_classes()
])


# Lateness (README, "Alerts"): a deadline at ENVIRONMENT.late_after (13:00 Asia/Seoul) of the run's day, for the
# 00:00 and the 12:00 run alike.  The scheduler evaluates deadlines and keeps one until its own run succeeds; the
# callback re-reads the day's manifest when it fires, so a failed 00:00 run whose day the 12:00 run completed
# sends nothing.  One interval per run time: each also lands on the other run at another hour, which the
# callback ignores.
LATE_DAY_DEADLINES = [
    DeadlineAlert(reference=DeadlineReference.DAGRUN_LOGICAL_DATE, interval=interval,
                  callback=SyncCallback(late_day_callback, kwargs={"late_after": ENVIRONMENT.late_after}),
                  name=f"day not complete by {ENVIRONMENT.late_after} Asia/Seoul")
    for interval in late_day_deadline_intervals(ENVIRONMENT.late_after)
]


@dag(
    dag_id=DAG_ID,
    schedule=MultipleCronTriggerTimetable("0 0 * * *", "0 12 * * *", timezone="Asia/Seoul"),
    start_date=dt.datetime(2026, 1, 1, tzinfo=KST),
    catchup=False,
    max_active_runs=1,  # two runs of one day must not publish over each other
    doc_md=__doc__,
    tags=["tiktok", "top10", "publish"],
    on_failure_callback=on_run_failure,  # one alert per failed run: partial day, else the failing task
    deadline=LATE_DAY_DEADLINES or None,
    default_args={
        "owner": "tiktok-top10",
        "retries": 2,
        "retry_delay": dt.timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(minutes=20),
        "execution_timeout": dt.timedelta(minutes=45),
        "retry_policy": RETRY_POLICY,
    },
    params={
        "categories": Param(list(ENVIRONMENT.categories), type="array",
                            items={"type": "string", "enum": list(CATEGORIES)}, minItems=1, uniqueItems=True,
                            description="Categories to crawl and publish ($TIKTOK_TOP10_CATEGORIES sets the default)"),
        "source": Param(ENVIRONMENT.source, type="string", enum=list(SOURCES),
                        description="demo: the bundled TikTok stand-in; tiktok: www.tiktok.com"),
        "min_views": Param(ENVIRONMENT.min_views, type="integer", minimum=0,
                           description="Items below this view count are dropped"),
        "top_n": Param(ENVIRONMENT.top_n, type="integer", minimum=1, maximum=50, description="Entries per category"),
        "detector": Param(ENVIRONMENT.detector, type="string", enum=list(DETECTORS),
                          description="Language detector: lingua (offline), google, auto (google with credentials)"),
        "backbone": Param(ENVIRONMENT.backbone, type="string", enum=list(BACKBONES),
                          description="Cover fingerprint network for dedup"),
        "dedup_crop_robust": Param(ENVIRONMENT.dedup_crop_robust, type="boolean",
                                   description="Dedup also finds heavy crops, square cuts, thumbnails and meme frames "
                                               "of a cover (regional candidates, contained look; "
                                               "$TIKTOK_TOP10_DEDUP_CROP_ROBUST sets the default). Its fingerprint "
                                               "memory is its own: the days before a switch are not matched"),
    },
)
def tiktok_top10():
    @task
    def resolve_run(params: dict | None = None, logical_date: dt.datetime | None = None, dag_run=None) -> dict:
        """Params (trigger conf over the environment's defaults) + the environment → the run spec, once."""
        from tiktok_top10.contracts import RunSpec

        when = logical_date or dag_run.run_after  # a manual run without a logical date works on its run_after
        spec = RunSpec.resolve(params or {}, when, Settings.from_env())
        print(f"run spec: {spec.to_dict()}")
        return spec.to_dict()

    @task.short_circuit(ignore_downstream_trigger_rules=True)
    def should_run(spec: dict) -> list[str]:
        """The categories to crawl, or none (everything after is skipped) when this is the 12:00 fallback and
        the day is already published completely."""
        from tiktok_top10.contracts import RunSpec
        from tiktok_top10.publish import day_is_published

        run = RunSpec.from_dict(spec)
        if run.fallback_run and day_is_published(run.settings(), run.partition, run.categories):
            print(f"{run.day} is already published completely; the 12:00 fallback has nothing to do")
            return []
        return list(run.categories)

    @task(map_index_template="{{ category }}", max_active_tis_per_dagrun=2)
    def crawl(spec: dict, category: str) -> dict:
        from tiktok_top10.contracts import CrawlResult, RunSpec
        from tiktok_top10.crawl import run_crawl

        run = RunSpec.from_dict(spec)
        items = run_crawl(run.settings(), run.partition, category, sources_override=_sources_override(),
                          cookies=_tiktok_cookies())
        return CrawlResult.from_items_path(category, items).to_dict()

    @task(trigger_rule="all_done")
    def dedup(spec: dict, crawled: list[dict | None]) -> dict:
        """Runs when every crawl is done, failed or not: one blocked category must not lose the others."""
        from tiktok_top10.contracts import RunSpec, crawled_paths
        from tiktok_top10.dedup.stage import dedup_day

        run = RunSpec.from_dict(spec)
        return dedup_day(run.settings(), run.partition, crawled_paths(list(crawled)), run.layout.work_dir,
                         run.categories).to_dict()

    @task
    def language(spec: dict, deduped: dict) -> dict:
        from pathlib import Path

        from tiktok_top10.contracts import DedupResult, RunSpec
        from tiktok_top10.language import credentials_from_airflow
        from tiktok_top10.language.stage import decide_day

        run = RunSpec.from_dict(spec)
        upstream = DedupResult.from_dict(deduped)
        # the verdicts go beside the dedup output they extend: the work folder is where dedup wrote
        return decide_day(run.settings(), upstream, Path(upstream.dedup_path).parent,
                          google_credentials=credentials_from_airflow()).to_dict()

    @task
    def rank_and_publish(spec: dict, decided: dict, dag_run=None) -> dict:
        from tiktok_top10.contracts import LanguageResult, RunSpec
        from tiktok_top10.publish import publish

        run = RunSpec.from_dict(spec)
        run_info = ({"dag_id": dag_run.dag_id, "run_id": dag_run.run_id, "run_type": str(dag_run.run_type)}
                    if dag_run is not None else {})
        return publish(run.settings(), run.partition, LanguageResult.from_dict(decided), run.categories,
                       run_info=run_info).to_dict()

    @task
    def archive_and_cleanup(spec: dict, published: dict) -> dict:
        from tiktok_top10.contracts import PublishResult, RunSpec
        from tiktok_top10.retention import archive

        run = RunSpec.from_dict(spec)
        return archive(run.settings(), run.partition, PublishResult.from_dict(published)).to_dict()

    @task(outlets=[PUBLISHED])
    def verify_day_complete(published: dict, outlet_events=None) -> dict:
        """Fails a partial day (no retry: the 12:00 run redoes it); only a complete day emits the Asset event."""
        from airflow.sdk.exceptions import AirflowFailException

        from tiktok_top10.contracts import PublishResult
        from tiktok_top10.storage import read_manifest

        result = PublishResult.from_dict(published)
        manifest = read_manifest(result.manifest_path) or {}
        if not result.complete or manifest.get("status") != "complete":
            raise AirflowFailException(f"{result.day} published partially; not published: {result.not_published}")
        outlet_events[PUBLISHED].extra = {"day": result.day, "status": "complete", "manifest": result.manifest_path}
        return {"day": result.day, "status": "complete", "manifest": result.manifest_path}

    spec = resolve_run()
    crawled = crawl.partial(spec=spec).expand(category=should_run(spec))
    published = rank_and_publish(spec, language(spec, dedup(spec, crawled)))
    archive_and_cleanup(spec, published)
    verify_day_complete(published)


def _sources_override() -> str | None:
    from airflow.sdk import Variable

    return Variable.get(SOURCES_VARIABLE, default=None)


def _tiktok_cookies() -> list[dict] | None:
    """Login cookies for the live TikTok from the `tiktok_default` connection, if defined: its password is a
    browser cookie export, a Cookie header or a bare msToken (README, "First live run")."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    from tiktok_top10.crawl.session import cookies_from_connection

    try:
        conn = Connection.get(TIKTOK_CONNECTION)
    except AirflowNotFoundException:
        return None
    return cookies_from_connection(conn.password, conn.extra_dejson) or None


# Invalid source configuration must fail here, at parse time, where the operator sees it as an import error.
# (The Variable itself is read by the crawl task; its AIRFLOW_VAR_ form is checked here without a DB call.)
from tiktok_top10.crawl.sources import load_sources  # noqa: E402  light: JSON + validation, no browser

load_sources(os.environ.get("AIRFLOW_VAR_TIKTOK_TOP10_SOURCES"))

tiktok_top10()
