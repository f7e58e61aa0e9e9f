"""Settings: every knob of the pipeline, its default, and the environment variable that overrides it.

Airflow Params (per run) override these for ``categories``, ``source``, ``min_views`` and ``top_n``; the DAG
passes them down explicitly.  Nothing here reads the wall clock: dates come from the run's logical date.
"""

from __future__ import annotations

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
DETECTORS = ("auto", "lingua", "google")


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def _env_list(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = os.environ.get(name)
    if not raw:
        return default
    return tuple(part.strip() for part in raw.split(",") if part.strip())


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
    models_dir: Path = PROJECT_ROOT / "models"
    detector: str = "auto"
    chromium_path: str = "/usr/bin/chromium"
    image_base_url: str = ""  # "" publishes imageFile relative to the category's top10 folder
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> "Settings":
        base = cls()
        return cls(
            data_root=Path(_env("TIKTOK_TOP10_DATA_ROOT", str(base.data_root))).resolve(),
            source=_env("TIKTOK_TOP10_SOURCE", base.source),
            demo_url=_env("TIKTOK_TOP10_DEMO_URL", base.demo_url).rstrip("/"),
            categories=_env_list("TIKTOK_TOP10_CATEGORIES", base.categories),
            min_views=int(_env("TIKTOK_TOP10_MIN_VIEWS", str(base.min_views))),
            top_n=int(_env("TIKTOK_TOP10_TOP_N", str(base.top_n))),
            retention_days=int(_env("TIKTOK_TOP10_RETENTION_DAYS", str(base.retention_days))),
            backbone=_env("TIKTOK_TOP10_BACKBONE", base.backbone),
            dedup_threshold=_env_float("TIKTOK_TOP10_DEDUP_THRESHOLD"),
            models_dir=Path(_env("TIKTOK_TOP10_MODELS_DIR", str(base.models_dir))).resolve(),
            detector=_env("TIKTOK_TOP10_DETECTOR", base.detector),
            chromium_path=_env("TIKTOK_TOP10_CHROMIUM", base.chromium_path),
            image_base_url=_env("TIKTOK_TOP10_IMAGE_BASE_URL", base.image_base_url).rstrip("/"),
        ).validated()

    def with_overrides(self, **overrides) -> "Settings":
        """Apply per-run overrides (Airflow Params); ``None`` values leave the setting as it is."""
        clean = {k: v for k, v in overrides.items() if v is not None}
        if "categories" in clean:
            clean["categories"] = tuple(clean["categories"])
        return replace(self, **clean).validated()

    def validated(self) -> "Settings":
        unknown = [c for c in self.categories if c not in CATEGORIES]
        if unknown or not self.categories:
            raise ValueError(f"categories must be a non-empty subset of {list(CATEGORIES)}, got {list(self.categories)}")
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
        if self.detector not in DETECTORS:
            raise ValueError(f"detector must be one of {DETECTORS}, got {self.detector!r}")
        return self

    @property
    def source_base_url(self) -> str:
        """Where the crawler points: the demo site or the live TikTok, same paths either way."""
        return self.demo_url if self.source == "demo" else TIKTOK_BASE_URL
