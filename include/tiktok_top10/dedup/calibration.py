"""Calibrated decision thresholds per backbone (from ``bench/eval_dedup.py``; see models/README.md).

``threshold`` is the global-descriptor cosine a pair must reach to be a candidate; ``min_inliers`` is the number
of keypoint matches that must agree with one similarity transform, and ``min_agreement`` the percentage of the
covers' textured cells whose pixels must agree once that transform lays one cover on the other (``verify.py``),
so a shared caption or template banner does not verify.  The original used 0.82 with ResNet50 and no second look.
"""

from __future__ import annotations

ORIGINAL_THRESHOLD = 0.82

CALIBRATION: dict[str, dict[str, float]] = {
    "efficientnet-lite0": {"threshold": 0.74, "min_inliers": 15, "min_agreement": 30},
    # not calibrated here (its weights cannot be downloaded offline): the original's threshold and the same
    # second look, which does not depend on the backbone
    "resnet50": {"threshold": ORIGINAL_THRESHOLD, "min_inliers": 15, "min_agreement": 30},
}


def thresholds(backbone: str, override: float | None = None) -> tuple[float, int, int]:
    """(cosine threshold, min_inliers, min_agreement %) for ``backbone``; ``override`` replaces the cosine."""
    entry = CALIBRATION[backbone]
    return ((float(override) if override is not None else entry["threshold"]), int(entry["min_inliers"]),
            int(entry["min_agreement"]))
