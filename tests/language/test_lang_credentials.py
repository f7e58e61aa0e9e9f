"""Credentials from an Airflow connection (env-defined, the way Airflow tests mock connections) or the env var."""

from __future__ import annotations

import json

import pytest

from tiktok_top10.language import credentials_from_airflow
from tiktok_top10.language.airflow_credentials import credentials_from_extras

KEY = {"type": "service_account", "client_email": "a@example.iam.gserviceaccount.com", "private_key": "SECRET-KEY-MATERIAL"}


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
    assert credentials_from_airflow() == KEY
    assert "SECRET" not in caplog.text

    key_file = tmp_path / "adc.json"
    key_file.write_text(json.dumps(KEY))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    assert credentials_from_airflow("not_defined_anywhere") == KEY
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    assert credentials_from_airflow("not_defined_anywhere") is None
