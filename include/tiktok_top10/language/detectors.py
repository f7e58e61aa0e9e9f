"""Language detectors: ``lingua`` (offline) and ``google`` (Cloud Translation v2 ``detect``), one interface.

A detector maps a list of texts to one ``Detection`` each.  It is only asked about texts the script rules could
not settle (see ``text.py``), so it mostly sees mixed-script captions and Latin/CJK/Thai text.

- ``LinguaDetector`` restricts lingua to the languages that actually appear on Korean TikTok (the 13 of
  ``CANDIDATE_LANGUAGES``): with all 75 languages short captions come back as Finnish or Latin.
- ``GoogleDetector`` uses the real ``google-cloud-translate`` v2 client (``detect_language`` takes a list, one
  POST per batch of up to 128 texts; v2 because it batches natively and needs no project id).  429, 5xx and
  connection errors are retried with exponential backoff (``Retry-After`` honoured, capped); when attempts run
  out it raises ``DetectorUnavailable``.  Refused credentials (the token endpoint's ``invalid_grant``, a 401, a
  403 that is not about quota) raise ``CredentialsRefused`` (a ``DetectorUnavailable``) at once, naming the
  account and quoting nothing of the key: retrying cannot help.
  A 200 whose body does not match the request raises
  ``DetectorResponseError``.  Billing is per character, so texts are cut to ``MAX_DETECT_CHARS`` first.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

# Languages seen in Korean TikTok captions (the seed crawls) and the lingua test sets: Korean plus the languages
# of foreign creators who reach the Korean feed.
CANDIDATE_LANGUAGES = ("ko", "ja", "zh", "en", "vi", "th", "id", "es", "tl", "ms", "fr", "de", "pt")
# Detection needs a sentence or two; a 2,000-character caption costs 2,000 characters per call otherwise.
MAX_DETECT_CHARS = 500
GOOGLE_BATCH_SIZE = 128  # the v2 API's limit of strings per request
GOOGLE_BATCH_CHARS = 5_000  # Google's recommended request size for v2
GOOGLE_SCOPES = ("https://www.googleapis.com/auth/cloud-translation",)


def clip(text: str) -> str:
    return text[:MAX_DETECT_CHARS]


@dataclass(frozen=True)
class Detection:
    language: str | None  # ISO 639-1, None when the detector could not tell ("und")
    confidence: float | None


class DetectorError(RuntimeError):
    """The detector could not answer."""


class DetectorUnavailable(DetectorError):
    """The service stayed unreachable or over quota after every retry."""


class CredentialsRefused(DetectorUnavailable):
    """Google refused the credentials (token endpoint or API): no retry can help, a person must fix the key."""


class DetectorResponseError(DetectorError):
    """The service answered with something that is not a detection per text."""


class Detector(Protocol):
    name: str  # "lingua" | "google": what language.jsonl records
    cache_id: str  # changes when a different configuration could answer differently

    def detect(self, texts: Sequence[str]) -> list[Detection]: ...


@dataclass
class UsageCounter:
    requests: int = 0
    characters: int = 0
    retries: int = 0


# --- lingua ------------------------------------------------------------------------------------------------

_LINGUA_CACHE: dict[tuple[str, ...], Any] = {}


def _lingua_detector(codes: tuple[str, ...]):
    """Build once per process: loading the models takes ~1 s per language set."""
    if codes not in _LINGUA_CACHE:
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

        languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, c.upper())) for c in codes]
        _LINGUA_CACHE[codes] = LanguageDetectorBuilder.from_languages(*languages).build()
    return _LINGUA_CACHE[codes]


class LinguaDetector:
    """Offline detection with lingua, restricted to ``languages``."""

    name = "lingua"

    def __init__(self, languages: Sequence[str] = CANDIDATE_LANGUAGES):
        self.languages = tuple(sorted(languages))
        self.cache_id = "lingua-" + hashlib.sha256(",".join(self.languages).encode()).hexdigest()[:8]
        self.usage = UsageCounter()

    def detect(self, texts: Sequence[str]) -> list[Detection]:
        if not texts:
            return []
        detector = _lingua_detector(self.languages)
        clipped = [clip(t) for t in texts]
        self.usage.characters += sum(len(t) for t in clipped)
        # Sequential on purpose: on this 2-core box shared with other tasks the parallel API measured slower.
        results = [detector.compute_language_confidence_values(t) for t in clipped]
        out = []
        for values in results:
            if not values or values[0].value <= 0.0:
                out.append(Detection(None, None))
            else:
                top = values[0]
                out.append(Detection(top.language.iso_code_639_1.name.lower(), round(float(top.value), 4)))
        return out


# --- Google Cloud Translation v2 ---------------------------------------------------------------------------


def _retryable(exc: Exception) -> bool:
    import requests
    from google.api_core import exceptions as gexc

    if isinstance(exc, (gexc.TooManyRequests, gexc.ServerError, requests.ConnectionError, requests.Timeout)):
        return True
    if isinstance(exc, gexc.Forbidden):
        # 403 rateLimitExceeded is per-minute quota (retry); dailyLimitExceeded/forbidden will not heal.
        return bool(_reasons(exc) & {"rateLimitExceeded", "userRateLimitExceeded"})
    return False


# 403 reasons that are about quota, not about who is asking (the rest of the 403s refuse the credentials)
QUOTA_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "dailyLimitExceeded", "quotaExceeded",
                           "dailyLimitExceededUnreg", "limitExceeded"})


def _reasons(exc: Exception) -> set[str]:
    return {str(e.get("reason", "")) for e in (getattr(exc, "errors", None) or []) if isinstance(e, dict)}


def _refused(exc: Exception) -> bool:
    """401, or a 403 that is not about quota (permission denied, API not enabled for the key's project)."""
    from google.api_core import exceptions as gexc

    if isinstance(exc, gexc.Unauthorized):
        return True
    return isinstance(exc, gexc.Forbidden) and not (_reasons(exc) & QUOTA_REASONS)


def credentials_name(creds: Any) -> str:
    """Who is asking, for error messages: the service account's e-mail (never anything of the key)."""
    email = getattr(creds, "service_account_email", None)
    if isinstance(email, str) and email:
        return f"service account {email}"
    return f"{type(creds).__name__} credentials" if creds is not None else "no credentials"


def _retry_after(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    value = getattr(response, "headers", {}).get("Retry-After") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


@dataclass
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def delay(self, attempt: int, exc: Exception) -> float:
        hinted = _retry_after(exc)
        backoff = self.base_delay * (2 ** (attempt - 1))
        return min(self.max_delay, max(backoff, hinted or 0.0))


def google_credentials(info: Any):
    """Service-account info (a dict) → credentials; an existing google.auth credentials object passes through."""
    if info is None:
        return None
    if isinstance(info, dict):
        from google.oauth2 import service_account

        try:
            return service_account.Credentials.from_service_account_info(info, scopes=list(GOOGLE_SCOPES))
        except (ValueError, TypeError, KeyError) as exc:
            # name the account, never the key: the library's message can quote the PEM
            raise ValueError(f"invalid Google service-account key for {info.get('client_email')!r}: "
                             f"cannot load it ({type(exc).__name__})") from None
    return info


class GoogleDetector:
    """Cloud Translation v2 ``detect_language`` in batches, with retries."""

    name = "google"
    cache_id = "google-v2"

    def __init__(
        self,
        credentials: Any,
        *,
        endpoint: str | None = None,
        retry: RetryPolicy | None = None,
    ):
        from google.auth.transport.requests import AuthorizedSession
        from google.cloud import translate_v2

        options = {"api_endpoint": endpoint} if endpoint else None
        creds = google_credentials(credentials)
        self.account = credentials_name(creds)
        # The default session answers a 401 by fetching a new token and sending the request again, twice; a
        # refused key is refused again, so that only doubles the calls (and the log lines) before the same error.
        # Without it a 401 reaches _detect_batch at once and is reported as what it is.
        session = AuthorizedSession(creds, refresh_status_codes=()) if creds is not None else None
        self.client = translate_v2.Client(credentials=creds, _http=session, client_options=options)
        self.retry = retry or RetryPolicy()
        self.usage = UsageCounter()

    @staticmethod
    def batches(texts: Sequence[str]) -> list[list[str]]:
        out: list[list[str]] = []
        current: list[str] = []
        size = 0
        for text in texts:
            if current and (len(current) >= GOOGLE_BATCH_SIZE or size + len(text) > GOOGLE_BATCH_CHARS):
                out.append(current)
                current, size = [], 0
            current.append(text)
            size += len(text)
        if current:
            out.append(current)
        return out

    def detect(self, texts: Sequence[str]) -> list[Detection]:
        out: list[Detection] = []
        for batch in self.batches([clip(t) for t in texts]):
            out.extend(self._detect_batch(batch))
        return out

    def _detect_batch(self, batch: list[str]) -> list[Detection]:
        from google.auth.exceptions import GoogleAuthError

        for attempt in range(1, self.retry.attempts + 1):
            self.usage.requests += 1
            self.usage.characters += sum(len(t) for t in batch)
            try:
                raw = self.client.detect_language(batch)
            except GoogleAuthError as exc:
                # the token endpoint refused the key (invalid_grant, a deleted key, a disabled account): not retried
                raise CredentialsRefused(f"Google credentials were refused ({self.account}): the token endpoint "
                                          f"said {type(exc).__name__}: {_short(exc)}") from exc
            except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
                # ValueError: the client's own count check, or a body that is not JSON; the rest: wrong shapes.
                raise DetectorResponseError(
                    f"Google detect returned a malformed response: {type(exc).__name__}: {_short(exc)}"
                ) from exc
            except Exception as exc:  # noqa: BLE001 - classified just below
                if _refused(exc):
                    raise CredentialsRefused(f"Google credentials were refused ({self.account}): the API said "
                                              f"{type(exc).__name__}: {_short(exc)}") from exc
                if not _retryable(exc):
                    raise DetectorUnavailable(f"Google detect failed: {type(exc).__name__}: {_short(exc)}") from exc
                if attempt == self.retry.attempts:
                    raise DetectorUnavailable(
                        f"Google detect still failing after {attempt} attempts: {type(exc).__name__}: {_short(exc)}"
                    ) from exc
                wait = self.retry.delay(attempt, exc)
                log.warning("Google detect attempt %d failed (%s); retrying in %.1fs", attempt, _short(exc), wait)
                self.usage.retries += 1
                self.retry.sleep(wait)
                continue
            return [_parse_detection(item) for item in raw]
        raise AssertionError("unreachable")


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else ""


def _parse_detection(item: Any) -> Detection:
    if not isinstance(item, dict) or not isinstance(item.get("language"), str):
        raise DetectorResponseError(f"Google detect returned a malformed detection: {item!r:.200}")
    language = item["language"].lower()
    confidence = item.get("confidence")
    if confidence is not None and not isinstance(confidence, (int, float)):
        raise DetectorResponseError(f"Google detect returned a non-numeric confidence: {confidence!r:.50}")
    # "und" = undetermined; zh-CN/zh-TW → zh so codes compare with lingua's.
    if language in {"und", ""}:
        return Detection(None, None)
    return Detection(language.split("-")[0], None if confidence is None else float(confidence))
