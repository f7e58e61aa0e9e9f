"""The real google-cloud-translate v2 client against a loopback stub of the REST API."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.credentials import AnonymousCredentials

from tiktok_top10.language import (
    Candidate,
    DetectorResponseError,
    DetectorUnavailable,
    GoogleDetector,
    KoreanFilter,
    LinguaDetector,
    RetryPolicy,
)
from tiktok_top10.language.detectors import CredentialsRefused
from tiktok_top10.language.google_stub import DETECT_PATH, StubResponse, auth_error, invalid_grant, quota_error


def test_request_shape(google_detector, google_stub):
    found = google_detector.detect(["hello world", "안녕하세요 여러분"])
    assert [d.language for d in found] == ["en", "ko"]
    (request,) = google_stub.requests
    assert request["path"] == DETECT_PATH
    assert request["body"] == {"q": ["hello world", "안녕하세요 여러분"]}
    assert google_detector.usage.requests == 1
    assert google_detector.usage.characters == len("hello world") + len("안녕하세요 여러분")


def test_batches_hold_at_most_128_texts(google_detector, google_stub):
    texts = [f"caption number {i}" for i in range(300)]
    found = google_detector.detect(texts)
    assert len(found) == 300
    sizes = [len(r["body"]["q"]) for r in google_stub.requests]
    assert sizes == [128, 128, 44]
    assert google_stub.texts_sent() == texts


def test_batches_respect_the_character_budget(google_detector, google_stub):
    google_detector.detect(["x" * 400] * 30)  # 12,000 characters: more than one 5,000-character request
    assert all(sum(map(len, r["body"]["q"])) <= 5_000 for r in google_stub.requests)
    assert len(google_stub.requests) == 3


def test_quota_and_server_errors_are_retried_with_backoff(google_detector, google_stub, sleeps):
    google_stub.fail_next(quota_error(429), quota_error(500, "backendError"), quota_error(503, "backendError"))
    assert [d.language for d in google_detector.detect(["hello world"])] == ["en"]
    assert len(google_stub.requests) == 4
    assert sleeps.waits == [0.5, 1.0, 2.0]
    assert google_detector.usage.retries == 3 and google_detector.usage.requests == 4


def test_retry_after_is_honoured(google_detector, google_stub, sleeps):
    google_stub.fail_next(quota_error(429, retry_after="7"))
    google_detector.detect(["hello"])
    assert sleeps.waits == [7.0]


def test_google_staying_down_fails_clearly(google_detector, google_stub):
    google_stub.fail_next(*[quota_error(503, "backendError")] * 4)
    with pytest.raises(DetectorUnavailable, match="still failing after 4 attempts"):
        google_detector.detect(["hello"])
    assert len(google_stub.requests) == 4


def test_daily_quota_is_not_retried(google_detector, google_stub, sleeps):
    google_stub.fail_next(quota_error(403, "dailyLimitExceeded"))
    with pytest.raises(DetectorUnavailable, match="Forbidden"):
        google_detector.detect(["hello"])
    assert len(google_stub.requests) == 1 and sleeps.waits == []


def test_per_minute_quota_403_is_retried(google_detector, google_stub):
    google_stub.fail_next(quota_error(403, "rateLimitExceeded"))
    assert google_detector.detect(["hello"])[0].language == "en"


@pytest.mark.parametrize(
    "body",
    [
        b"<html>proxy error</html>",
        {"data": {"detections": []}},  # fewer detections than texts
        {"data": {"detections": [[{"confidence": 1.0}], [{"language": "en"}]]}},  # no language
        {"data": {"detections": [[{"language": "ko", "confidence": "high"}], [{"language": "en"}]]}},
        {"data": {"detections": [{"language": "ko"}, {"language": "en"}]}},  # not nested in lists
        {"unexpected": True},
    ],
)
def test_malformed_responses_raise(google_detector, google_stub, body):
    google_stub.fail_next(StubResponse(200, body))
    with pytest.raises(DetectorResponseError, match="malformed|non-numeric"):
        google_detector.detect(["first", "second"])


def test_undetermined_language_is_not_korean(google_stub, google_detector):
    google_stub.fail_next(StubResponse(200, {"data": {"detections": [[{"language": "und", "confidence": 0}]]}}))
    decision = KoreanFilter(google_detector).decide("zzz qqq www", "")
    assert (decision.korean, decision.language) == (False, None)


def test_only_undecidable_texts_reach_the_api_and_the_cache_makes_reruns_free(google_stub, google_detector, tmp_path):
    items = [
        Candidate("오늘 점심 메뉴 추천 #먹방", "먹방러"),  # all Hangul: local
        Candidate("🔥🔥🔥", "🥐"),  # nothing: local
        Candidate("Real strawberry rice cake for dessert", "후바"),
        Candidate("mash-up dance 어떤 트렌드가 좋아요?", "서준"),
    ]
    first = KoreanFilter(google_detector, cache_dir=tmp_path).decide_many(items)
    assert google_stub.texts_sent() == sorted(
        ["Real strawberry rice cake for dessert", "mash-up dance 어떤 트렌드가 좋아요?"]
    )
    assert len(google_stub.requests) == 1

    rerun_detector = GoogleDetector(AnonymousCredentials(), endpoint=google_stub.url)
    rerun = KoreanFilter(rerun_detector, cache_dir=tmp_path)
    second = rerun.decide_many(items)
    assert len(google_stub.requests) == 1 and rerun_detector.usage.requests == 0
    assert rerun.stats.cache_hits == 2
    assert [d.korean for d in second] == [d.korean for d in first] == [True, False, False, True]
    assert [d.detector for d in second] == ["script", "script", "cache:google", "cache:google"]


def test_fallback_to_lingua_only_when_allowed(google_stub, sleeps, tmp_path):
    def detector():
        return GoogleDetector(AnonymousCredentials(), endpoint=google_stub.url, retry=RetryPolicy(2, 0.1, sleep=sleeps))

    items = [Candidate("Hoy vamos a cocinar algo muy rico con mi abuela", "")]
    google_stub.fail_next(*[quota_error(503, "backendError")] * 2)
    with pytest.raises(DetectorUnavailable):
        KoreanFilter(detector(), cache_dir=tmp_path).decide_many(items)

    google_stub.fail_next(*[quota_error(503, "backendError")] * 2)
    allowed = KoreanFilter(detector(), cache_dir=tmp_path, fallback=LinguaDetector())
    (decision,) = allowed.decide_many(items)
    assert (decision.korean, decision.language, decision.detector) == (False, "es", "lingua")
    assert allowed.stats.fallback_used and "503" in allowed.stats.fallback_reason
    # The fallback's answers go to lingua's cache, never to Google's.
    assert not (tmp_path / "google-v2.json").exists()


def test_service_account_credentials_fetch_a_token_then_call_the_api(google_stub):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    info = {
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": "test-key",
        "private_key": pem.decode(),
        "client_email": "detector@test-project.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": f"{google_stub.url}/token",
    }
    detector = GoogleDetector(info, endpoint=google_stub.url)
    assert detector.detect(["hello world"])[0].language == "en"
    assert google_stub.token_requests == 1
    headers = {k.lower(): v for k, v in google_stub.requests[0]["headers"].items()}
    assert headers["authorization"] == "Bearer stub-token"


# --- refused credentials: a real service-account key, a token endpoint and an API that say no -----------------

# What the PEM header says, assembled so that this file holds nothing a key scan (or a pre-commit hook) flags.
PEM_MARKER = "PRIVATE" + " KEY"


@pytest.fixture
def throwaway_key(google_stub):
    """A service-account key generated now (never stored), its token endpoint the loopback stub, and a stretch
    of its key body to look for wherever it must not appear."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    assert PEM_MARKER in pem
    info = {
        "type": "service_account", "project_id": "test-project", "private_key_id": "k" * 40, "private_key": pem,
        "client_email": "refused@test-project.iam.gserviceaccount.com", "client_id": "1",
        "token_uri": f"{google_stub.url}/token",
    }
    return info, "".join(pem.strip().splitlines()[1:-1])[40:100]


def assert_names_the_account_and_quotes_no_key(error: Exception, info: dict, key_body: str, logged: str) -> None:
    assert isinstance(error, CredentialsRefused)  # the task's retry policy never retries this type
    message = str(error)
    assert "credentials were refused" in message and info["client_email"] in message
    for text in (message, logged):
        assert key_body not in text and PEM_MARKER not in text and info["private_key_id"] not in text


def test_a_key_the_token_endpoint_refuses_fails_at_once_naming_the_account(google_stub, throwaway_key, sleeps, caplog):
    info, key_body = throwaway_key
    google_stub.refuse_next_token(invalid_grant())
    detector = GoogleDetector(info, endpoint=google_stub.url, retry=RetryPolicy(attempts=4, sleep=sleeps))
    caplog.set_level("DEBUG")
    with pytest.raises(DetectorUnavailable) as failure:
        detector.detect(["hello world"])
    assert "token endpoint" in str(failure.value) and "invalid_grant" in str(failure.value)
    assert_names_the_account_and_quotes_no_key(failure.value, info, key_body, caplog.text)
    # one token request, refused; the API never called; nothing retried
    assert (google_stub.token_requests, len(google_stub.requests), sleeps.waits) == (1, 0, [])


@pytest.mark.parametrize("status, said", [(401, "Unauthorized"), (403, "Forbidden")])
def test_an_api_refusing_the_token_fails_at_once_naming_the_account(google_stub, throwaway_key, sleeps, caplog,
                                                                    status, said):
    info, key_body = throwaway_key
    google_stub.fail_next(auth_error(status))
    detector = GoogleDetector(info, endpoint=google_stub.url, retry=RetryPolicy(attempts=4, sleep=sleeps))
    caplog.set_level("DEBUG")
    with pytest.raises(DetectorUnavailable) as failure:
        detector.detect(["hello world"])
    assert f"the API said {said}" in str(failure.value)
    assert_names_the_account_and_quotes_no_key(failure.value, info, key_body, caplog.text)
    # one token, one API call: neither the auth session's refresh-and-resend nor our retry loop ran
    assert (google_stub.token_requests, len(google_stub.requests), sleeps.waits) == (1, 1, [])
    assert detector.usage.retries == 0


def test_with_the_fallback_allowed_a_refused_key_is_named_in_the_fallback_reason(google_stub, throwaway_key,
                                                                                  tmp_path, sleeps):
    """The operator allowed lingua as a fallback: it answers, and the reason the summary records says whose
    credentials were refused — without the key."""
    info, key_body = throwaway_key
    google_stub.refuse_next_token(invalid_grant())
    detector = GoogleDetector(info, endpoint=google_stub.url, retry=RetryPolicy(attempts=4, sleep=sleeps))
    korean_filter = KoreanFilter(detector, cache_dir=tmp_path, fallback=LinguaDetector())
    (decision,) = korean_filter.decide_many([Candidate("Dance practice with friends", "")])
    # the fallback answered, and the summary's reason names the refused account, not the key
    assert korean_filter.stats.fallback_used and decision.detector == "lingua"
    assert "credentials were refused" in korean_filter.stats.fallback_reason
    assert info["client_email"] in korean_filter.stats.fallback_reason
    assert key_body not in korean_filter.stats.fallback_reason and google_stub.token_requests == 1
