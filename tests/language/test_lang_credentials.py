"""Credentials from an Airflow connection (env-defined, the way Airflow tests mock connections) or the env var."""

from __future__ import annotations

import json

import pytest
from airflow.sdk.exceptions import AirflowSecretsBackendAccessDenied
from airflow.secrets import BaseSecretsBackend

from tiktok_top10.language import credentials_from_airflow
from tiktok_top10.language.airflow_credentials import CredentialLookup, credentials_from_extras

KEY = {
    "type": "service_account",
    "client_email": "a@example.iam.gserviceaccount.com",
    "private_key": "SECRET-KEY-MATERIAL",
}


def test_inline_json_and_key_path_extras(tmp_path):
    assert credentials_from_extras({"keyfile_dict": json.dumps(KEY)}, "c") == KEY
    path = tmp_path / "key.json"
    path.write_text(json.dumps(KEY))
    assert credentials_from_extras({"extra__google_cloud_platform__key_path": str(path)}, "c") == KEY
    assert credentials_from_extras({}, "c") is None


def test_bad_keys_are_named_but_never_shown(tmp_path):
    with pytest.raises(ValueError, match="not a service-account key") as err:
        credentials_from_extras({"keyfile_dict": {"private_key": "SECRET-KEY-MATERIAL"}}, "connection 'g'")
    assert "SECRET" not in str(err.value)
    with pytest.raises(ValueError, match="cannot read"):
        credentials_from_extras({"key_path": str(tmp_path / "missing.json")}, "c")


@pytest.mark.airflow
def test_airflow_connection_then_environment_fallback(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    conn = {"conn_type": "google_cloud_platform", "extra": {"keyfile_dict": json.dumps(KEY)}}
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps(conn))
    caplog.set_level("DEBUG")
    assert credentials_from_airflow() == CredentialLookup(KEY, "connection 'google_cloud_default'")
    assert "SECRET" not in caplog.text

    key_file = tmp_path / "adc.json"
    key_file.write_text(json.dumps(KEY))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    # a connection that is not defined is no problem: the environment variable is the documented alternative
    assert credentials_from_airflow("not_defined_anywhere") == CredentialLookup(KEY, "GOOGLE_APPLICATION_CREDENTIALS")
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    assert credentials_from_airflow("not_defined_anywhere") == CredentialLookup(None, None)


class DenyingSecretsBackend(BaseSecretsBackend):
    """A secrets backend that refuses this worker (what Vault or a cloud secret manager answers to a revoked
    role): Airflow treats the deny as authoritative and raises it from ``get_connection``."""

    def get_conn_value(self, conn_id: str):
        raise AirflowSecretsBackendAccessDenied(f"permission denied reading secret connections/{conn_id}")


@pytest.fixture
def denying_secrets_backend(monkeypatch, tmp_path):
    from airflow.sdk.configuration import clear_secrets_backends_cache

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND", f"{__name__}.DenyingSecretsBackend")
    # a connection defined in the environment too: the deny must win over it, as Airflow documents
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps({"conn_type": "google_cloud_platform",
                                                                         "extra": {"keyfile_dict": json.dumps(KEY)}}))
    clear_secrets_backends_cache()
    yield
    clear_secrets_backends_cache()


@pytest.mark.airflow
def test_a_failing_connection_lookup_is_logged_and_recorded(denying_secrets_backend, caplog):
    caplog.set_level("INFO")
    lookup = credentials_from_airflow()
    assert lookup.info is None and lookup.source is None
    assert lookup.problem.startswith("looking up connection 'google_cloud_default' failed: "
                                     "AirflowSecretsBackendAccessDenied: permission denied")
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "google_cloud_default" in r.getMessage()]
    assert warnings and "SECRET" not in caplog.text


@pytest.mark.airflow
def test_auto_detector_after_a_failing_lookup_says_so_in_the_summary(denying_secrets_backend, tmp_path):
    """``detector=auto`` goes on with lingua, and the language summary (which the manifest copies) says why."""
    from test_lang_stage import DAY, write_day

    from tiktok_top10.config import Settings
    from tiktok_top10.language import run_language
    from tiktok_top10.storage import read_json

    layout = write_day(tmp_path / "data")
    run_language(Settings(data_root=tmp_path / "data", detector="auto"), DAY,
                 google_credentials=credentials_from_airflow())
    summary = read_json(layout.work_dir / "language_summary.json")
    assert summary["detector"] == "lingua"
    assert "AirflowSecretsBackendAccessDenied" in summary["credentials_problem"]
    # nothing of the sort when the lookup simply found nothing
    run_language(
        Settings(data_root=tmp_path / "data", detector="auto"), DAY, google_credentials=CredentialLookup(None, None)
    )
    assert read_json(layout.work_dir / "language_summary.json")["credentials_problem"] is None
