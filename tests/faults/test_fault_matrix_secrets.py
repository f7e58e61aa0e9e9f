"""Fault matrix, secrets rows: no key material in the repository; no configured credential in the logs of a
run; every default password flagged where an operator will read it.

The run: one category crawled with real Chromium from the loopback hostile site carrying a (fake) ``msToken``
cookie, then the language stage talking to the loopback Google stub with a freshly generated (fake)
service-account key.  Every log record and every byte printed is captured and searched for the credentials."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import re
import subprocess

import pytest
from crawl.hostile_site import HostileSite

from tiktok_top10 import storage
from tiktok_top10.config import Settings
from tiktok_top10.crawl import run_crawl
from tiktok_top10.language import RetryPolicy, run_language
from tiktok_top10.language.google_stub import GoogleTranslateStub

from .conftest import REPO

# What key material looks like in a file: PEM private keys, Google service-account JSON, Google API keys,
# AWS access keys, Fernet keys assigned in config, a generic "password = <literal>" assignment.
KEY_PATTERNS = {
    "pem private key": re.compile(
        r"-----BEGIN (?:RSA |EC |OPENSSH |ENCRYPTED )?PRIVATE KEY-----" r"\s*\n\s*[A-Za-z0-9+/]{20}"
    ),
    "service-account private_key": re.compile(r'"private_key"\s*:\s*"-----BEGIN'),
    "google api key": re.compile(r"AIza[0-9A-Za-z_\-]{35}"),
    "aws access key": re.compile(r"AKIA[0-9A-Z]{16}"),
    "fernet key": re.compile(r"FERNET_KEY\s*[:=]\s*['\"]?[A-Za-z0-9_\-]{43}="),
    "github token": re.compile(r"gh[pousr]_[A-Za-z0-9]{36}"),
}
# Flagged default credentials: (variable, default) pairs the compose file falls back to.
DEFAULT_CREDENTIAL = re.compile(r"\$\{([A-Z_]*(?:PASSWORD|USERNAME|SECRET|TOKEN|KEY)[A-Z_]*):-([^}]+)\}")


def tracked_files() -> list[str]:
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=30).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"not a git checkout ({exc})")
    return [name for name in listed.decode().split("\0") if name]


def test_secrets_no_key_material_in_the_repository():
    files = tracked_files()
    assert len(files) > 20
    found = []
    for name in files:
        path = REPO / name
        if not path.is_file() or path.stat().st_size > 5_000_000:
            continue
        text = path.read_bytes().decode("utf-8", "replace")
        found += [(name, kind) for kind, pattern in KEY_PATTERNS.items() if pattern.search(text)]
    assert found == []


def test_secrets_patterns_find_what_they_are_for():
    """The scan above can fail: each pattern matches a sample of what it hunts."""
    samples = {
        # Assembled from parts so that this file itself holds nothing the scan (or a pre-commit hook) flags.
        "pem private key": "-----BEGIN " + "PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n",
        "service-account private_key": '{"private_key": "' + "-----BEGIN " + 'PRIVATE KEY-----\\nMII"}',
        "google api key": "key=AIza" + "A" * 35,
        "aws access key": "AKIA" + "ABCDEFGHIJKLMNOP",
        "fernet key": "AIRFLOW__CORE__FERNET_KEY: " + "a" * 43 + "=",
        "github token": "ghp_" + "a" * 36,
    }
    assert {kind for kind, text in samples.items() if KEY_PATTERNS[kind].search(text)} == set(KEY_PATTERNS)


@pytest.fixture(scope="module")
def service_account() -> tuple[dict, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    body = "".join(pem.strip().splitlines()[1:-1])
    return {"type": "service_account", "project_id": "fake-project", "private_key_id": "f" * 40,
            "private_key": pem, "client_email": "top10@fake-project.iam.gserviceaccount.com",
            "client_id": "1234567890", "token_uri": "http://127.0.0.1:9/token"}, body


@pytest.mark.browser
def test_secrets_not_in_the_logs_of_a_run(tmp_path, caplog, capfd, service_account):
    info, key_body = service_account
    ms_token = "fakeMsToken-" + base64.urlsafe_b64encode(b"do-not-log-this-cookie-value").decode().rstrip("=")
    day = dt.date(2026, 11, 22)
    caplog.set_level(logging.DEBUG)
    with HostileSite() as site, GoogleTranslateStub() as google:
        settings = Settings(data_root=tmp_path / "data", demo_url=site.base_url, categories=("main",),
                            detector="google", extra={"google_endpoint": google.url})
        override = json.dumps({"categories": {"main": {"tags": ["ok"]}}})
        run_crawl(settings, day, "main", sources_override=override, cookies=[{"name": "msToken", "value": ms_token}])
        assert any(ms_token in c for c in site.cookies)  # the credential was really used
        layout = storage.DayLayout(settings.data_root, day)
        rows = list(storage.read_jsonl(layout.raw_items("main")))
        rows[0]["title"] = "Dance practice with friends"  # one caption the script rules cannot settle: Google's
        storage.atomic_write_jsonl(layout.raw_items("main"), rows)
        storage.atomic_write_jsonl(layout.work_dir / "dedup.jsonl", [
            {"key": f"main/{r['id']}", "category": "main", "id": r["id"], "status": "kept", "duplicate_of": None,
             "similarity": None, "reason": None, "matched_history": None} for r in rows])
        info = {**info, "token_uri": google.url + "/token"}
        run_language(settings, day, google_credentials=info, retry=RetryPolicy(attempts=2, sleep=lambda s: None))
        assert google.token_requests >= 1  # the key signed a real token request
    printed = capfd.readouterr()
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert len(caplog.records) > 5
    secrets = {"msToken": ms_token, "private key": key_body[40:100], "private key id": info["private_key_id"],
               "access token": "stub-token"}
    for name, value in secrets.items():
        for where, text in (("log records", logged), ("stdout", printed.out), ("stderr", printed.err)):
            assert value not in text, f"{name} leaked into {where}"
    # Nor into anything the run wrote, except the browser profile (Chromium's cookie store, by design).
    for path in settings.data_root.rglob("*"):
        if path.is_file() and "browser-profiles" not in path.parts:
            data = path.read_bytes()
            assert ms_token.encode() not in data and key_body[40:100].encode() not in data, path


def compose_defaults() -> dict[str, str]:
    text = (REPO / "docker-compose.yaml").read_text()
    return dict(DEFAULT_CREDENTIAL.findall(text))


def test_secrets_compose_flags_every_default_password():
    defaults = compose_defaults()
    assert {"POSTGRES_PASSWORD", "_AIRFLOW_WWW_USER_PASSWORD"} <= set(defaults)
    header = "\n".join(line for line in (REPO / "docker-compose.yaml").read_text().splitlines() if line.startswith("#"))
    example = (REPO / ".env.example").read_text()
    for variable in defaults:
        assert variable in header, f"docker-compose.yaml's header does not flag the default of {variable}"
        flagged = rf"# CHANGE[^\n]*\n(?:(?:#[^\n]*|[A-Z_]+=[^\n]*)\n)*{re.escape(variable)}="
        assert re.search(flagged, example), f".env.example: {variable}"


def test_secrets_readme_flags_every_default_password():
    readme = (REPO / "README.md").read_text()
    missing = [v for v in compose_defaults() if v not in readme]
    assert missing == []
