"""Airflow fixtures: a DagBag parsed from ``dags/`` and a migrated SQLite metadata DB for ``dag.test()``."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


@pytest.fixture(scope="session")
def airflow_db():
    from airflow.utils import db

    db.resetdb()
    yield


@pytest.fixture(scope="module")
def top10_dag(airflow_db, request):
    """The DAG parsed afresh for each test module: ``dag.test(run_conf=...)`` runs tasks in-process, and the
    SDK's params merge writes the conf into the DAG's own Param objects, so one module's conf would otherwise
    become the next module's defaults.  (A deepcopy is no way out: it loses the mapped operators' methods.)

    Without its deadline alerts (``TIKTOK_TOP10_LATE_AFTER=off`` for the whole module: ``dag.test()`` parses the
    DAG folder again) unless the module sets ``KEEP_DEADLINE_ALERTS = True``: Airflow 3.3.2's ``dag.test()``
    crashes at the end of a successful run of a DAG with deadline alerts (tiktok_top10.alerts,
    ``late_day_deadline_intervals``)."""
    from airflow.dag_processing.dagbag import DagBag

    patch = pytest.MonkeyPatch()
    if not getattr(request.module, "KEEP_DEADLINE_ALERTS", False):
        patch.setenv("TIKTOK_TOP10_LATE_AFTER", "off")
    yield DagBag(dag_folder=str(REPO / "dags")).dags["tiktok_top10"]
    patch.undo()
