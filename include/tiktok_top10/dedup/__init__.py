"""The dedup stage: which crawled covers show the same video, and which item of each group is kept.

Visual fingerprints (ResNet50 or EfficientNet-Lite0, three views per cover) give candidate pairs by global
cosine; a second look (keypoints under one similarity transform, then the pixels of the two covers laid on
each other) rejects covers that merely share a template; groups keep the most-viewed item.
Heavy imports (torch) happen on first use of these names, not when the package is imported.
"""

from __future__ import annotations

__all__ = ["run_dedup", "Fingerprinter", "group_duplicates", "cli_main"]

_WHERE = {
    "run_dedup": ".stage",
    "Fingerprinter": ".fingerprint",
    "group_duplicates": ".grouping",
    "cli_main": ".cli",
}


def __getattr__(name: str):
    if name in _WHERE:
        import importlib

        value = getattr(importlib.import_module(_WHERE[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
