"""Settings: every knob of the pipeline, its default, and the environment variable that overrides it.

Airflow Params (per run) override these for ``categories``, ``source``, ``min_views`` and ``top_n``; the DAG
passes them down explicitly.  Nothing here reads the wall clock: dates come from the run's logical date.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parents[2]
KST = ZoneInfo("Asia/Seoul")

CATEGORIES: tuple[str, ...] = ("main", "dance", "challenge", "food", "tts")
SOURCES = ("demo", "tiktok")
TIKTOK_BASE_URL = "https://www.tiktok.com"
DEFAULT_DEMO_URL = "http://127.0.0.1:8765"
BACKBONES = ("auto", "resnet50", "efficientnet-lite0")
PRECISIONS = ("auto", "fp32", "bf16", "int8")  # the dedup backbone's arithmetic (dedup/precision.py)
DETECTORS = ("auto", "lingua", "google")


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def _env_list(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = os.environ.get(name)
    if not raw:
        return default
    return tuple(part.strip() for part in raw.split(",") if part.strip())


TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
LANGUAGE_FALLBACKS = ("", "lingua")
# Settings fields that ``extra`` (deprecated) may still set.
LEGACY_EXTRA_KEYS = ("language_fallback", "use_text_language", "google_endpoint")


LATE_AFTER_OFF = "off"


def parse_late_after(value: str) -> dt.time | None:
    """``"13:00"`` -> 13:00; None for ``"off"`` or anything that is not a 24-hour ``HH:MM``."""
    hours, sep, minutes = value.strip().partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        return None
    if not (0 <= int(hours) < 24 and 0 <= int(minutes) < 60):
        return None
    return dt.time(int(hours), int(minutes))


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    return default if raw is None or raw == "" else raw.strip().lower() in TRUE_WORDS


def _env_float(name: str) -> float | None:
    raw = os.environ.get(name)
    return float(raw) if raw else None


@dataclass(frozen=True)
class Settings:
    """Pipeline settings. ``Settings.from_env()`` reads ``TIKTOK_TOP10_*`` variables."""

    data_root: Path = PROJECT_ROOT / "data"
    source: str = "demo"
    demo_url: str = DEFAULT_DEMO_URL
    categories: tuple[str, ...] = CATEGORIES
    min_views: int = 100_000
    top_n: int = 10
    retention_days: int = 3
    backbone: str = "auto"
    dedup_threshold: float | None = None  # None: the backbone's calibrated threshold
    precision: str = "auto"  # auto: int8 / bf16 / fp32 by the CPU's features and the int8 fidelity gate
    # Regional candidates and the contained second look (dedup.grouping.CropRobust): finds heavy crops, square
    # cuts, thumbnails and meme frames; off until make eval-dedup-hard clears its bar (issue 16).
    dedup_crop_robust: bool = False
    models_dir: Path = PROJECT_ROOT / "models"
    detector: str = "auto"
    chromium_path: str = "/usr/bin/chromium"
    image_base_url: str = ""  # "" publishes imageFile relative to the category's top10 folder
    # The language stage: "lingua" lets a Google outage fall back to the offline detector ("" = fail the task);
    # use_text_language lets TikTok's own textLanguage tip weak texts; google_endpoint points the API client
    # elsewhere (tests: a loopback stub).
    language_fallback: str = ""
    use_text_language: bool = False
    google_endpoint: str = ""
    # Deprecated spelling of the typed knobs above (``{"google_endpoint": ...}``); __post_init__ moves them over.
    extra: dict = field(default_factory=dict)
    # The live crawl's network route and browser (README, "First live run").  The proxy goes to Playwright as
    # server + username + password: credentials inside the server URL fail in Chromium.  Never logged.
    proxy_server: str = ""
    proxy_username: str = ""
    proxy_password: str = field(default="", repr=False)
    headful: bool = False  # a headed Chromium on a virtual X display (Xvfb): navigator.platform matches the UA
    # Login cookies for the CLI (the DAG reads them from the `tiktok_default` connection instead): a Cookie
    # header "sessionid=...; sid_tt=..." or a browser export (JSON list).  Never logged.
    session_cookies: str = field(default="", repr=False)
    # What TikTok shows follows the visitor's IP: a crawl assigned another region than this one fails with
    # RegionMismatch (a US IP yields a US chart), unless allow_other_region.
    expected_region: str = "KR"
    allow_other_region: bool = False
    # Alerts (README, "Alerts"): the Airflow connection (conn_type apprise) alerts go through; none defined = no
    # alerts, no error.  late_after: Asia/Seoul time of day by which the day must be complete ("HH:MM", "off").
    alert_connection: str = "tiktok_top10_alerts"
    late_after: str = "13:00"

    def __post_init__(self) -> None:
        # ``extra`` used to carry these knobs untyped; an older caller's dict still lands in the typed field.
        for key in LEGACY_EXTRA_KEYS:
            if key in self.extra and getattr(self, key) == getattr(type(self), key):
                value = self.extra[key]
                if key == "use_text_language" and not isinstance(value, bool):
                    value = str(value).strip().lower() in TRUE_WORDS
                object.__setattr__(self, key, value)

    @classmethod
    def from_env(cls) -> Settings:
        base = cls()
        settings = cls(
            data_root=Path(_env("TIKTOK_TOP10_DATA_ROOT", str(base.data_root))).resolve(),
            source=_env("TIKTOK_TOP10_SOURCE", base.source),
            demo_url=_env("TIKTOK_TOP10_DEMO_URL", base.demo_url).rstrip("/"),
            categories=_env_list("TIKTOK_TOP10_CATEGORIES", base.categories),
            min_views=int(_env("TIKTOK_TOP10_MIN_VIEWS", str(base.min_views))),
            top_n=int(_env("TIKTOK_TOP10_TOP_N", str(base.top_n))),
            retention_days=int(_env("TIKTOK_TOP10_RETENTION_DAYS", str(base.retention_days))),
            backbone=_env("TIKTOK_TOP10_BACKBONE", base.backbone),
            dedup_threshold=_env_float("TIKTOK_TOP10_DEDUP_THRESHOLD"),
            precision=_env("TIKTOK_TOP10_PRECISION", base.precision).strip().lower(),
            dedup_crop_robust=_env_bool("TIKTOK_TOP10_DEDUP_CROP_ROBUST", base.dedup_crop_robust),
            models_dir=Path(_env("TIKTOK_TOP10_MODELS_DIR", str(base.models_dir))).resolve(),
            detector=_env("TIKTOK_TOP10_DETECTOR", base.detector),
            chromium_path=_env("TIKTOK_TOP10_CHROMIUM", base.chromium_path),
            image_base_url=_env("TIKTOK_TOP10_IMAGE_BASE_URL", base.image_base_url).rstrip("/"),
            language_fallback=_env("TIKTOK_TOP10_LANGUAGE_FALLBACK", base.language_fallback).strip().lower(),
            use_text_language=_env_bool("TIKTOK_TOP10_LANGUAGE_USE_TEXT_LANGUAGE", base.use_text_language),
            google_endpoint=_env("TIKTOK_TOP10_GOOGLE_ENDPOINT", base.google_endpoint),
            proxy_server=_env("TIKTOK_TOP10_PROXY_SERVER", base.proxy_server),
            proxy_username=_env("TIKTOK_TOP10_PROXY_USERNAME", base.proxy_username),
            proxy_password=_env("TIKTOK_TOP10_PROXY_PASSWORD", base.proxy_password),
            headful=_env("TIKTOK_TOP10_HEADFUL", "0").strip().lower() in {"1", "true", "yes", "on"},
            session_cookies=_env("TIKTOK_TOP10_SESSION_COOKIES", base.session_cookies),
            expected_region=_env("TIKTOK_TOP10_EXPECTED_REGION", base.expected_region).strip().upper(),
            allow_other_region=(
                _env("TIKTOK_TOP10_ALLOW_OTHER_REGION", "0").strip().lower() in {"1", "true", "yes", "on"}
            ),
            alert_connection=_env("TIKTOK_TOP10_ALERT_CONNECTION", base.alert_connection).strip(),
            late_after=_env("TIKTOK_TOP10_LATE_AFTER", base.late_after).strip().lower(),
        )
        legacy_proxy = _env("TIKTOK_TOP10_CRAWL_PROXY", "")  # earlier releases' single URL, credentials inside
        if legacy_proxy and not settings.proxy_server:
            from .crawl.session import proxy_settings  # lazy: config must stay importable on its own

            proxy = proxy_settings(legacy_proxy)  # split: Chromium fails credentials inside the server URL
            settings = replace(settings, proxy_server=proxy.server, proxy_username=proxy.username,
                               proxy_password=proxy.password)
        return settings.validated()

    def with_overrides(self, **overrides) -> Settings:
        """Apply per-run overrides (Airflow Params); ``None`` values leave the setting as it is."""
        clean = {k: v for k, v in overrides.items() if v is not None}
        if "categories" in clean:
            clean["categories"] = tuple(clean["categories"])
        return replace(self, **clean).validated()

    def validated(self) -> Settings:
        unknown = [c for c in self.categories if c not in CATEGORIES]
        if unknown or not self.categories:
            raise ValueError(
                f"categories must be a non-empty subset of {list(CATEGORIES)}, got {list(self.categories)}"
            )
        if len(set(self.categories)) != len(self.categories):
            raise ValueError(f"categories repeat: {list(self.categories)}")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}")
        if self.min_views < 0 or self.top_n < 1:
            raise ValueError(f"min_views must be >= 0 and top_n >= 1, got {self.min_views}, {self.top_n}")
        if self.retention_days < 0:
            raise ValueError(f"retention_days must be >= 0, got {self.retention_days}")
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {self.backbone!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.detector not in DETECTORS:
            raise ValueError(f"detector must be one of {DETECTORS}, got {self.detector!r}")
        if self.language_fallback not in LANGUAGE_FALLBACKS:
            raise ValueError(f"language_fallback must be '' or 'lingua', got {self.language_fallback!r}")
        if not (len(self.expected_region) == 2 and self.expected_region.isalpha()):
            raise ValueError(
                f"expected_region must be a two-letter region code such as 'KR', got {self.expected_region!r}"
            )
        if self.late_after != LATE_AFTER_OFF and parse_late_after(self.late_after) is None:
            raise ValueError(f"late_after must be HH:MM (Asia/Seoul) or {LATE_AFTER_OFF!r}, got {self.late_after!r}")
        if self.proxy_server or self.proxy_username:
            from .crawl.session import proxy_settings  # lazy: config must stay importable on its own

            if "@" in self.proxy_server:  # the message must not echo the URL: it holds a password
                raise ValueError("proxy_server must not contain credentials (Chromium fails them there): put them "
                                 "in proxy_username / proxy_password (TIKTOK_TOP10_PROXY_USERNAME / _PASSWORD)")
            if proxy_settings(self.proxy_server, self.proxy_username, self.proxy_password) is None:
                raise ValueError("proxy_username is set but proxy_server is empty")
        return self

    @property
    def source_base_url(self) -> str:
        """Where the crawler points: the demo site or the live TikTok, same paths either way."""
        return self.demo_url if self.source == "demo" else TIKTOK_BASE_URL
