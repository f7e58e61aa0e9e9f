"""Calibrated decision thresholds per backbone (from ``bench/eval_dedup.py``; see models/README.md).

``threshold`` is the global-descriptor cosine a pair must reach to be a candidate; ``min_inliers`` is the number
of geometrically consistent keypoint matches (``verify.py``) it must then show, and ``min_spread`` how far (px on
the 512-px keypoint image, across their narrower axis) those matches must extend in both covers, so a shared
caption line does not verify.  The original used 0.82 with ResNet50 and no second look.
"""

from __future__ import annotations

ORIGINAL_THRESHOLD = 0.82

CALIBRATION: dict[str, dict[str, float]] = {
    "efficientnet-lite0": {"threshold": 0.68, "min_inliers": 60, "min_spread": 40},
    # not calibrated here (its weights cannot be downloaded offline): the original's threshold and the same
    # geometric rule, which does not depend on the backbone
    "resnet50": {"threshold": ORIGINAL_THRESHOLD, "min_inliers": 60, "min_spread": 40},
}


def thresholds(backbone: str, override: float | None = None) -> tuple[float, int, int]:
    """(cosine threshold, min_inliers, min_spread) for ``backbone``; ``override`` replaces the cosine threshold."""
    entry = CALIBRATION[backbone]
    return ((float(override) if override is not None else entry["threshold"]), int(entry["min_inliers"]),
            int(entry["min_spread"]))
