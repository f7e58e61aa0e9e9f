"""The DAG parses, is wired as the pipeline diagram says, and keeps heavy imports out of parse time."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.airflow
REPO = Path(__file__).resolve().parents[2]


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {"tiktok_top10"}


def test_task_graph_reads_like_the_pipeline(dagbag):
    dag = dagbag.dags["tiktok_top10"]
    edges = {(up, down) for down in dag.task_ids for up in dag.get_task(down).upstream_task_ids}
    pipeline = {
        ("resolve_run", "should_run"),
        ("should_run", "crawl"),
        ("crawl", "dedup"),
        ("dedup", "language"),
        ("language", "rank_and_publish"),
        ("rank_and_publish", "archive_and_cleanup"),
        ("rank_and_publish", "verify_day_complete"),
    }
    # every stage but the last check gets the run spec from resolve_run, and nothing else reaches around
    spec_edges = {("resolve_run", t) for t in ("crawl", "dedup", "language", "rank_and_publish", "archive_and_cleanup")}
    assert edges == pipeline | spec_edges
    # One failed category must not stop the others from being deduplicated and published.
    assert dag.get_task("dedup").trigger_rule == "all_done"
    assert dag.get_task("should_run").ignore_downstream_trigger_rules is True


def test_crawl_is_mapped_over_categories_with_retries_and_backoff(dagbag):
    dag = dagbag.dags["tiktok_top10"]
    crawl = dag.get_task("crawl")
    assert type(crawl).__name__.endswith("MappedOperator")
    assert crawl.partial_kwargs.get("retries", crawl.retries) >= 2
    for task in dag.tasks:
        assert task.retries >= 2, task.task_id
        assert task.retry_exponential_backoff
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert dag.tags and dag.doc_md


def test_schedule_is_midnight_and_noon_in_seoul(dagbag):
    from airflow.sdk import MultipleCronTriggerTimetable

    timetable = dagbag.dags["tiktok_top10"].timetable
    assert isinstance(timetable, MultipleCronTriggerTimetable)
    crons = sorted((t.expression, str(t.timezone)) for t in timetable.timetables)
    assert crons == [("0 0 * * *", "Asia/Seoul"), ("0 12 * * *", "Asia/Seoul")]


def test_params_form(dagbag):
    params = dagbag.dags["tiktok_top10"].params
    assert params["categories"] == ["main", "dance", "challenge", "food", "tts"]
    assert params["source"] == "demo" and params["min_views"] == 100_000 and params["top_n"] == 10
    assert params["detector"] == "auto" and params["backbone"] == "auto" and params["dedup_crop_robust"] is False
    schema = params.get_param("source").schema
    assert schema["enum"] == ["demo", "tiktok"]


def test_environment_sets_the_param_defaults_at_parse_time(monkeypatch):
    """Precedence: trigger conf > environment (the Param defaults) > built-in.  Before, TIKTOK_TOP10_CATEGORIES,
    _MIN_VIEWS and _TOP_N had no effect under Airflow because the Params' built-in defaults always won."""
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("TIKTOK_TOP10_CATEGORIES", "tts,food")
    monkeypatch.setenv("TIKTOK_TOP10_MIN_VIEWS", "5000")
    monkeypatch.setenv("TIKTOK_TOP10_TOP_N", "3")
    monkeypatch.setenv("TIKTOK_TOP10_DETECTOR", "lingua")
    monkeypatch.setenv("TIKTOK_TOP10_DEDUP_CROP_ROBUST", "1")
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert not bag.import_errors
    params = bag.dags["tiktok_top10"].params
    assert params["categories"] == ["tts", "food"]
    assert (params["min_views"], params["top_n"], params["detector"]) == (5000, 3, "lingua")
    assert params["dedup_crop_robust"] is True


def test_invalid_environment_is_an_import_error(monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("TIKTOK_TOP10_CATEGORIES", "main,music")
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert "music" in next(iter(bag.import_errors.values()))


def test_tasks_take_injected_arguments_not_the_internal_context_module():
    source = (REPO / "dags" / "tiktok_top10.py").read_text()
    assert "get_current_context" not in source and "definitions.context" not in source


def test_only_verify_day_complete_emits_the_published_asset(dagbag):
    dag = dagbag.dags["tiktok_top10"]
    with_outlets = {t.task_id: [o.name for o in t.outlets] for t in dag.tasks if t.outlets}
    assert with_outlets == {"verify_day_complete": ["tiktok_top10_published"]}


def test_parsing_imports_nothing_heavy():
    code = (
        "import sys\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(REPO / 'dags')!r})\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'torch', 'torchvision', 'playwright', 'lingua', 'skimage', 'imagehash', 'cv2'} "
        "or m.startswith('google.cloud.translate'))\n"
        "print(heavy)\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_invalid_sources_variable_fails_at_parse_time(monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("AIRFLOW_VAR_TIKTOK_TOP10_SOURCES", '{"categories": {"dance": {"discover": "not a list"}}}')
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors, "an invalid sources override must be an import error"
    assert "dance" in next(iter(bag.import_errors.values()))
