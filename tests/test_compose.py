"""docker-compose.yaml, Dockerfile and .env.example, checked structurally (no Docker engine runs here).

What must hold for the stack to work: the official shape (CeleryExecutor, Postgres, Redis, api-server,
scheduler, dag-processor, worker, triggerer, init), one image built from ./Dockerfile on the official Airflow
image of the version this project pins, the data root on one named volume at the same path in every Airflow
container, the gallery plugin mounted, secrets only through variables, every variable documented.
"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-worker": "celery worker",
    "airflow-triggerer": "triggerer",
}
DATA_PATH = "/opt/airflow/data"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yaml").read_text())


@pytest.fixture(scope="module")
def compose_text() -> str:
    return (REPO / "docker-compose.yaml").read_text()


def test_services_in_the_official_shape(compose):
    services = compose["services"]
    assert {"postgres", "redis", "airflow-init", *AIRFLOW_SERVICES} <= set(services)
    for name, command in AIRFLOW_SERVICES.items():
        assert services[name]["command"] == command, name
        assert "healthcheck" in services[name], name
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["airflow-init"]["condition"] == "service_completed_successfully"
    assert "healthcheck" in services["postgres"] and "healthcheck" in services["redis"]
    assert services["airflow-init"]["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"


def test_every_airflow_container_shares_image_executor_and_backends(compose):
    airflow = {n: s for n, s in compose["services"].items() if n.startswith("airflow-")}
    assert len(airflow) >= 6
    for name, service in airflow.items():
        env = service["environment"]
        assert service["build"] == {"context": ".", "dockerfile": "Dockerfile", "args": {"AIRFLOW_VERSION": "3.3.2"}}
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://"), name
        assert "@postgres/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        broker_url = env["AIRFLOW__CELERY__BROKER_URL"]
        assert broker_url.startswith("redis://") and "@redis:6379" in broker_url
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"


def test_data_root_is_one_named_volume_at_the_same_path_everywhere(compose):
    assert "top10-data" in compose["volumes"]
    for name, service in compose["services"].items():
        if not name.startswith("airflow-"):
            continue
        assert f"top10-data:{DATA_PATH}" in service["volumes"], name
        assert "./plugins:/opt/airflow/plugins" in service["volumes"], name
        assert service["environment"]["TIKTOK_TOP10_DATA_ROOT"] == DATA_PATH, name


def test_secrets_come_from_variables_and_required_ones_fail_loudly(compose, compose_text):
    env = compose["services"]["airflow-apiserver"]["environment"]
    assert re.fullmatch(r"\$\{AIRFLOW_JWT_SECRET:\?.+\}", env["AIRFLOW__API_AUTH__JWT_SECRET"])
    assert re.fullmatch(r"\$\{AIRFLOW_FERNET_KEY:\?.+\}", env["AIRFLOW__CORE__FERNET_KEY"])
    assert "${POSTGRES_PASSWORD" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD")
    # The UI is published on loopback only: exposing it is a deliberate change.
    assert all(p.startswith("127.0.0.1:") for p in compose["services"]["airflow-apiserver"]["ports"])
    for must_change in ("POSTGRES_PASSWORD", "_AIRFLOW_WWW_USER_PASSWORD", "AIRFLOW_JWT_SECRET", "AIRFLOW_FERNET_KEY"):
        assert must_change in compose_text.split("services:")[0], f"{must_change} not called out in the header"


def test_every_compose_variable_is_documented_in_env_example(compose_text):
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", compose_text))
    documented = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", (REPO / ".env.example").read_text(), re.M))
    assert used, "no variables found: the regex is wrong"
    assert used <= documented, f"undocumented in .env.example: {sorted(used - documented)}"


def test_dockerfile_builds_on_the_pinned_official_image_with_chromium():
    text = (REPO / "Dockerfile").read_text()
    installed = importlib.metadata.version("apache-airflow")
    assert f"ARG AIRFLOW_VERSION={installed}" in text
    assert re.search(r"^FROM apache/airflow:\$\{AIRFLOW_VERSION\}-python", text, re.M)
    assert re.search(r"apt-get install .*\bchromium\b", text)
    assert "requirements.txt" in text and '"apache-airflow==${AIRFLOW_VERSION}"' in text
    assert "TIKTOK_TOP10_CHROMIUM=/usr/bin/chromium" in text
    assert re.search(r"^USER airflow", text, re.M), "pip must run as the airflow user in the official image"
