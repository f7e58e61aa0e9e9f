"""Google credentials for the language stage: from an Airflow connection, else ``GOOGLE_APPLICATION_CREDENTIALS``.

The one place this package touches Airflow, imported lazily so the stage itself runs without it.
``credentials_from_airflow`` returns a ``CredentialLookup``: the service-account info as a dict (or None), where
it came from, and the problem when the connection lookup itself failed (a secrets backend or the API server
unreachable) — which ``run_language(..., google_credentials=...)`` takes as is and writes to the language summary,
so a failed lookup that turns ``detector=auto`` into lingua is visible in the manifest, not silent.  A connection
that is simply not defined is no problem: the environment variable is the documented alternative.  Key material
is never logged: errors name the connection or file, never the contents.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
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
        raise ValueError(
            f"{origin}: cannot read a service-account JSON key at {path!r} ({type(exc).__name__})"
        ) from None
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


@dataclass(frozen=True)
class CredentialLookup:
    """The outcome of looking for Google credentials: ``info`` (service-account dict or None), ``source`` (where
    it came from, None when nowhere) and ``problem`` (why the connection lookup failed, None when it did not)."""

    info: dict | None
    source: str | None
    problem: str | None = None


def _from_env(problem: str | None = None) -> CredentialLookup:
    info = credentials_from_env()
    return CredentialLookup(info, "GOOGLE_APPLICATION_CREDENTIALS" if info is not None else None, problem)


def _is_not_found(exc: Exception) -> bool:
    """True when Airflow says the connection is not defined (as opposed to: could not look it up)."""
    try:
        from airflow.exceptions import AirflowNotFoundException
    except ImportError:  # pragma: no cover - Airflow is installed wherever this is called
        AirflowNotFoundException = ()  # type: ignore[assignment]
    if AirflowNotFoundException and isinstance(exc, AirflowNotFoundException):
        return True
    error = getattr(exc, "error", None)  # airflow.sdk.exceptions.AirflowRuntimeError carries an ErrorResponse
    return "CONNECTION_NOT_FOUND" in str(getattr(error, "error", ""))


def _safe_detail(exc: Exception) -> str:
    """The first line of the exception's text (a URL, a backend's complaint), unless it could quote a key."""
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    if not text or any(marker in text for marker in ("private_key", "PRIVATE KEY", "keyfile_dict")):
        return ""
    return f": {text}"


def credentials_from_airflow(conn_id: str = "google_cloud_default") -> CredentialLookup:
    """Resolve ``conn_id`` inside a running task; a connection that is not defined falls back to the environment
    variable; a lookup that fails is logged as a warning, falls back the same way, and says so in ``problem``."""
    try:
        from airflow.sdk import BaseHook
    except ImportError:  # Airflow < 3 layout, or no Airflow at all
        try:
            from airflow.hooks.base import BaseHook  # type: ignore[no-redef]
        except ImportError:
            return _from_env()
    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:  # noqa: BLE001 - classified: "not defined" is normal, anything else is a failure
        if _is_not_found(exc):
            log.info("connection %r not defined; trying GOOGLE_APPLICATION_CREDENTIALS", conn_id)
            return _from_env()
        problem = f"looking up connection {conn_id!r} failed: {type(exc).__name__}{_safe_detail(exc)}"
        log.warning("%s; trying GOOGLE_APPLICATION_CREDENTIALS", problem)
        return _from_env(problem)
    extras = conn.extra_dejson if hasattr(conn, "extra_dejson") else json.loads(conn.extra or "{}")
    origin = f"connection {conn_id!r}"
    info = credentials_from_extras(extras or {}, origin)
    if info is None:
        log.info("connection %r has no key; trying GOOGLE_APPLICATION_CREDENTIALS", conn_id)
        return _from_env()
    log.info("using Google credentials from connection %r", conn_id)
    return CredentialLookup(info, origin)
