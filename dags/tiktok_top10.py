"""
### tiktok_top10 — the daily Korean TikTok Top-10 per category

`crawl` (one mapped task per category) → `dedup` (visual fingerprints, all categories together) →
`language` (Korean content only) → `rank_and_publish` (`<day>/<category>/top10/`, `manifest.json`) →
`archive_and_cleanup` (residual archive, 3-day retention) → `verify_day_complete`.

Runs at 00:00 and 12:00 Asia/Seoul. The 12:00 run redoes the day only when that day's manifest is not
`complete` (the 00:00 run failed or published partially); otherwise it ends skipped. The day worked on is the
run's logical date in Asia/Seoul. XComs carry file paths only; the work itself is in `tiktok_top10.*`.
"""

from __future__ import annotations

import datetime as dt
import os

from airflow.sdk import Asset, MultipleCronTriggerTimetable, Param, dag, task
from airflow.sdk.definitions.context import get_current_context

from tiktok_top10.config import CATEGORIES, KST, SOURCES, Settings

DAG_ID = "tiktok_top10"
PUBLISHED = Asset(name="tiktok_top10_published", uri="file:///tiktok-top10/published")
SOURCES_VARIABLE = "tiktok_top10_sources"
TIKTOK_CONNECTION = "tiktok_default"

DEFAULT_SOURCE = os.environ.get("TIKTOK_TOP10_SOURCE", "demo")


def _settings() -> Settings:
    """Settings from the environment with this run's Params applied."""
    params = get_current_context()["params"]
    return Settings.from_env().with_overrides(
        categories=params["categories"],
        source=params["source"],
        min_views=params["min_views"],
        top_n=params["top_n"],
    )


def _day() -> dt.date:
    """The run's partition: its logical date in Seoul (manual runs without one use run_after)."""
    from tiktok_top10.storage import partition_date

    context = get_current_context()
    when = context.get("logical_date") or context["dag_run"].run_after
    return partition_date(when)


@dag(
    dag_id=DAG_ID,
    schedule=MultipleCronTriggerTimetable("0 0 * * *", "0 12 * * *", timezone="Asia/Seoul"),
    start_date=dt.datetime(2026, 1, 1, tzinfo=KST),
    catchup=False,
    max_active_runs=1,  # two runs of one day must not publish over each other
    doc_md=__doc__,
    tags=["tiktok", "top10", "publish"],
    default_args={
        "owner": "tiktok-top10",
        "retries": 2,
        "retry_delay": dt.timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(minutes=20),
        "execution_timeout": dt.timedelta(minutes=45),
    },
    params={
        "categories": Param(list(CATEGORIES), type="array", items={"type": "string", "enum": list(CATEGORIES)},
                            minItems=1, uniqueItems=True, description="Categories to crawl and publish"),
        "source": Param(DEFAULT_SOURCE, type="string", enum=list(SOURCES),
                        description="demo: the bundled TikTok stand-in; tiktok: www.tiktok.com"),
        "min_views": Param(100_000, type="integer", minimum=0, description="Items below this view count are dropped"),
        "top_n": Param(10, type="integer", minimum=1, maximum=50, description="Entries per category"),
    },
)
def tiktok_top10():
    @task.short_circuit(ignore_downstream_trigger_rules=True)
    def should_run() -> bool:
        """The 12:00 run is a fallback: it works only if the day is not already completely published."""
        from tiktok_top10.publish import day_is_published

        context = get_current_context()
        when = (context.get("logical_date") or context["dag_run"].run_after).astimezone(KST)
        settings = _settings()
        if (when.hour, when.minute) == (12, 0) and day_is_published(settings, _day(), settings.categories):
            print(f"{_day()} is already published completely; the 12:00 fallback has nothing to do")
            return False
        return True

    @task
    def plan_categories() -> list[str]:
        return list(_settings().categories)

    @task(map_index_template="{{ category }}", max_active_tis_per_dagrun=2)
    def crawl(category: str) -> str:
        from tiktok_top10.crawl import run_crawl

        return str(run_crawl(_settings(), _day(), category, sources_override=_sources_override(), cookies=_tiktok_cookies()))

    @task(trigger_rule="all_done")
    def dedup(crawled: list[str | None]) -> str:
        """Runs when every crawl is done, failed or not: one blocked category must not lose the others."""
        from tiktok_top10.dedup import run_dedup

        settings = _settings()
        return str(run_dedup(settings, _day(), list(settings.categories)))

    @task
    def language(dedup_path: str) -> str:
        from tiktok_top10.language import credentials_from_airflow, run_language

        return str(run_language(_settings(), _day(), google_credentials=credentials_from_airflow()))

    @task(outlets=[PUBLISHED])
    def rank_and_publish(language_path: str) -> str:
        from tiktok_top10.publish import publish_day
        from tiktok_top10.storage import read_json

        context = get_current_context()
        settings = _settings()
        run = context["dag_run"]
        manifest = publish_day(settings, _day(), list(settings.categories),
                               run_info={"dag_id": run.dag_id, "run_id": run.run_id, "run_type": str(run.run_type)})
        summary = read_json(manifest)
        context["outlet_events"][PUBLISHED].extra = {"day": summary["day"], "status": summary["status"],
                                                     "manifest": str(manifest)}
        return str(manifest)

    @task
    def archive_and_cleanup(manifest_path: str) -> str:
        from tiktok_top10.retention import archive_and_cleanup as archive

        settings = _settings()
        return str(archive(settings, _day(), list(settings.categories)))

    @task
    def verify_day_complete(manifest_path: str) -> str:
        """Fails the run when a category could not be published, so the 12:00 run does the day again."""
        from tiktok_top10.storage import read_json

        manifest = read_json(manifest_path)
        if manifest["status"] != "complete":
            missing = {c: s for c, s in manifest["stages"]["publish"].items() if s["status"] != "published" or not s["published"]}
            raise RuntimeError(f"{manifest['day']} published partially; not published: {missing}")
        return manifest_path

    gate = should_run()
    categories = plan_categories()
    gate >> categories
    crawled = crawl.expand(category=categories)
    manifest = rank_and_publish(language(dedup(crawled)))
    archive_and_cleanup(manifest)
    verify_day_complete(manifest)


def _sources_override() -> str | None:
    from airflow.sdk import Variable

    return Variable.get(SOURCES_VARIABLE, default=None)


def _tiktok_cookies() -> list[dict] | None:
    """msToken (and other cookies) for the live TikTok from the `tiktok_default` connection, if defined."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = Connection.get(TIKTOK_CONNECTION)
    except AirflowNotFoundException:
        return None
    cookies = list(conn.extra_dejson.get("cookies", []))
    if conn.password:
        cookies.append({"name": "msToken", "value": conn.password, "domain": ".tiktok.com", "path": "/"})
    return cookies or None


# Invalid source configuration must fail here, at parse time, where the operator sees it as an import error.
# (The Variable itself is read by the crawl task; its AIRFLOW_VAR_ form is checked here without a DB call.)
from tiktok_top10.crawl.sources import load_sources  # noqa: E402  light: JSON + validation, no browser

load_sources(os.environ.get("AIRFLOW_VAR_TIKTOK_TOP10_SOURCES"))

tiktok_top10()
