"""Google credentials for the language stage: from an Airflow connection, else ``GOOGLE_APPLICATION_CREDENTIALS``.

The one place this package touches Airflow, imported lazily so the stage itself runs without it.  Returns the
service-account info as a dict (what ``run_language(..., google_credentials=...)`` takes) or None.  Key material
is never logged: errors name the connection or file, never the contents.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Extras keys the Google provider has used for a key file path / inline JSON (with and without the prefix).
PATH_KEYS = ("key_path", "extra__google_cloud_platform__key_path")
JSON_KEYS = ("keyfile_dict", "extra__google_cloud_platform__keyfile_dict")


def _load_key_file(path: str, origin: str) -> dict:
    try:
        info = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{origin}: cannot read a service-account JSON key at {path!r} ({type(exc).__name__})") from None
    return _checked(info, origin)


def _checked(info: Any, origin: str) -> dict:
    if not isinstance(info, dict) or "client_email" not in info or "private_key" not in info:
        raise ValueError(f"{origin}: not a service-account key (needs client_email and private_key)")
    return info


def credentials_from_extras(extras: dict, origin: str) -> dict | None:
    """Service-account info from a connection's extras (inline JSON wins over a key path)."""
    for key in JSON_KEYS:
        value = extras.get(key)
        if value:
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except json.JSONDecodeError:
                    raise ValueError(f"{origin}: extras[{key!r}] is not valid JSON") from None
            return _checked(value, origin)
    for key in PATH_KEYS:
        if extras.get(key):
            return _load_key_file(str(extras[key]), origin)
    return None


def credentials_from_env() -> dict | None:
    path = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    return _load_key_file(path, "GOOGLE_APPLICATION_CREDENTIALS") if path else None


def credentials_from_airflow(conn_id: str = "google_cloud_default") -> dict | None:
    """Resolve ``conn_id`` inside a running task; a missing connection falls back to the environment variable."""
    try:
        from airflow.sdk import BaseHook
    except ImportError:  # Airflow < 3 layout, or no Airflow at all
        try:
            from airflow.hooks.base import BaseHook  # type: ignore[no-redef]
        except ImportError:
            return credentials_from_env()
    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception:  # noqa: BLE001 - Airflow raises different types for "not defined" across versions
        log.info("connection %r not defined; trying GOOGLE_APPLICATION_CREDENTIALS", conn_id)
        return credentials_from_env()
    extras = conn.extra_dejson if hasattr(conn, "extra_dejson") else json.loads(conn.extra or "{}")
    info = credentials_from_extras(extras or {}, f"connection {conn_id!r}")
    if info is None:
        log.info("connection %r has no key; trying GOOGLE_APPLICATION_CREDENTIALS", conn_id)
        return credentials_from_env()
    log.info("using Google credentials from connection %r", conn_id)
    return info
