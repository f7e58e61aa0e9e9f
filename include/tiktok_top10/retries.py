"""Which failures the DAG retries, and how — as data, so the DAG's retry policy and the docs cannot drift.

Built from the crawl's ``ERROR_TABLE`` (``crawl/errors.py``: each ``CrawlError`` says ``backoff``, ``long_delay``
or ``never``) plus the errors no retry can heal: bad configuration (``ValueError``, which pydantic's and
Settings' validation errors are) and Google refusing the credentials.  Anything not listed here retries with
the task's exponential backoff.  The DAG turns these rows into Airflow's ``ExceptionRetryPolicy``; this module
imports no Airflow.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .crawl.errors import ERROR_TABLE, RETRY_BACKOFF, RETRY_LONG_DELAY, RETRY_NEVER
from .language.detectors import CredentialsRefused

# Anti-bot blocks lift after tens of minutes; retrying at once only deepens them.  Two such retries still end
# before the 12:00 fallback run.
LONG_DELAY = dt.timedelta(minutes=30)

@dataclass(frozen=True)
class RetryClass:
    """Exceptions (dotted paths, matched with isinstance) and what a task does when one ends a try."""

    exceptions: tuple[str, ...]
    retry: str  # RETRY_BACKOFF | RETRY_LONG_DELAY | RETRY_NEVER
    reason: str

    @property
    def delay(self) -> dt.timedelta | None:
        """The wait before the next try; None = the task's own (exponential) backoff."""
        return LONG_DELAY if self.retry == RETRY_LONG_DELAY else None


def _dotted(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def retry_classes() -> list[RetryClass]:
    """First match wins: specific crawl errors first, then the broad configuration error."""
    rows = [RetryClass((_dotted(row.error),), row.retry, f"{row.error.__name__} ({row.error.reason}): {row.meaning}")
            for row in ERROR_TABLE]
    rows.append(RetryClass((_dotted(CredentialsRefused),), RETRY_NEVER,
                           "Google refused the credentials (401, a 403 not about quota, invalid_grant): fix the key"))
    rows.append(RetryClass(("builtins.ValueError",), RETRY_NEVER,
                           "bad configuration or input: retrying cannot change the answer"))
    return rows


__all__ = ["LONG_DELAY", "RETRY_BACKOFF", "RETRY_LONG_DELAY", "RETRY_NEVER", "RetryClass", "retry_classes"]
