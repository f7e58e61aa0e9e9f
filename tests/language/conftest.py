"""Fixtures for the language stage: a loopback Google stub, fast retry policies, the shared reference data."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials

from tiktok_top10.config import PROJECT_ROOT
from tiktok_top10.language import GoogleDetector, RetryPolicy
from tiktok_top10.language.google_stub import GoogleTranslateStub

REFERENCE = PROJECT_ROOT.parent / "shared" / "reference"


class RecordedSleep:
    """Stands in for time.sleep in retry tests: records the waits instead of spending them."""

    def __init__(self):
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def google_stub():
    with GoogleTranslateStub() as stub:
        yield stub


@pytest.fixture
def sleeps() -> RecordedSleep:
    return RecordedSleep()


@pytest.fixture
def google_detector(google_stub, sleeps):
    return GoogleDetector(
        AnonymousCredentials(), endpoint=google_stub.url, retry=RetryPolicy(attempts=4, base_delay=0.5, sleep=sleeps)
    )


@pytest.fixture
def reference() -> Path:
    if not (REFERENCE / "seed-crawls").is_dir() or not (REFERENCE / "lingua-testdata").is_dir():
        pytest.skip(f"reference data not found at {REFERENCE} (../shared/reference next to the repo)")
    return REFERENCE
