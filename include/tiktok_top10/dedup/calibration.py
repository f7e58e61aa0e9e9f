"""Decision thresholds per backbone, weights file and precision: read from ``calibration.json``, which
``make calibrate`` (``bench/calibrate_dedup.py``) generates — nothing here is typed in by hand.

``threshold`` is the global-descriptor cosine a pair must reach to be a candidate; ``min_inliers`` is the number
of keypoint matches that must agree with one similarity transform, and ``min_agreement`` the percentage of the
covers' textured cells whose pixels must agree once that transform lays one cover on the other (``verify.py``),
so a shared caption or template banner does not verify.

The selection rule is ``choose`` below (code, not prose): every point of a fixed grid is measured on the
calibration split (by video), and among the points that merge no two distinct videos, the cheapest second look
(fewest candidate pairs above the cosine) is taken whose recall is within ``RECALL_GIVE`` of the best.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path

from .backbones import WeightsError

log = logging.getLogger(__name__)

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
ORIGINAL_THRESHOLD = 0.82  # the original's rule (ResNet50, average pooling, no second look), for comparison only

# --- the rule (changing any of these changes calibration.json: run `make calibrate`) -----------------------
GRID_THRESHOLDS = tuple(round(0.64 + 0.02 * k, 2) for k in range(14))  # 0.64 … 0.90
GRID_MIN_INLIERS = (10, 15, 20, 30)
GRID_MIN_AGREEMENT = (20, 25, 30, 35, 40)
# Recall worth giving up for a cheaper second look: it costs ~2.5 ms of CPU per candidate pair (two ORB
# matchings and a RANSAC), and the candidates above 0.68 are ~6x those above 0.74 on the reference covers.
RECALL_GIVE = 0.01
SPLIT_SEED = 14
CALIBRATION_SHARE = 0.5  # of the distinct videos; the rest is held out for `make eval-dedup`
VARIANTS = 2  # re-uploads per distinct video
VARIANT_SEED = 0
THREADS = 2  # fp32 sums in a fixed order: the same threads on every machine


class CalibrationMissing(WeightsError):
    """No calibration entry for this backbone's weights (and the operator gave no threshold): a weights problem
    like a missing file, reported (and never retried) the same way."""


def choose(points: list[dict]) -> dict | None:
    """The selection rule.  ``points``: one dict per grid point with ``threshold``, ``min_inliers``,
    ``min_agreement``, ``recall``, ``merges`` (distinct videos merged) and ``candidates`` (pairs at or above the
    cosine: what the second look has to check).

    1. admissible: no merge of two distinct videos;
    2. affordable: recall within ``RECALL_GIVE`` of the best admissible recall;
    3. among those, the fewest candidates (the cheapest second look); ties go to the higher recall, then the
       stricter geometry (higher agreement, more inliers: further from a merge)."""
    admissible = [p for p in points if p["merges"] == 0]
    if not admissible:
        return None
    best = max(p["recall"] for p in admissible)
    affordable = [p for p in admissible if p["recall"] >= best - RECALL_GIVE - 1e-9]
    return min(affordable, key=lambda p: (p["candidates"], -p["recall"], -p["min_agreement"], -p["min_inliers"],
                                          -p["threshold"]))


@lru_cache(maxsize=4)
def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"entries": []}


def load(path: Path | None = None) -> dict:
    return _load(Path(path or CALIBRATION_FILE))


def entries(path: Path | None = None) -> list[dict]:
    return list(load(path).get("entries", []))


def find_entry(backbone: str, precision: str | None = None, weights_sha256: str | None = None,
               path: Path | None = None) -> dict | None:
    """The entry for ``backbone`` (and ``weights_sha256`` when given) at ``precision``; at another precision
    when there is none for this one (fp32 and bf16 descriptors differ by < 0.002 cosine), logged."""
    matching = [e for e in entries(path) if e["backbone"] == backbone
                and (weights_sha256 is None or e["weights_sha256"] == weights_sha256)]
    exact = [e for e in matching if precision is None or e["precision"] == precision]
    if exact:
        return sorted(exact, key=lambda e: e["precision"] != "fp32")[0]
    if matching:
        other = sorted(matching, key=lambda e: e["precision"] != "fp32")[0]
        log.warning("no %s calibration for %s; using its %s entry", precision, backbone, other["precision"])
        return other
    return None


def has_entry(backbone: str, weights_sha256: str, path: Path | None = None) -> bool:
    return find_entry(backbone, None, weights_sha256, path) is not None


def thresholds(backbone: str, override: float | None = None, *, precision: str | None = None,
               weights_sha256: str | None = None, path: Path | None = None) -> tuple[float, int, int]:
    """(cosine threshold, min_inliers, min_agreement %) for ``backbone`` from the calibration file.

    ``override`` replaces the cosine (the operator's ``--threshold``); the second look's values then come from
    this backbone's entry, or from any calibrated backbone's (they judge pixels, not descriptors).  Without an
    entry and without an override this raises ``CalibrationMissing``: no threshold is applied that nobody measured."""
    entry = find_entry(backbone, precision, weights_sha256, path)
    if entry is None and override is not None:
        entry = next(iter(sorted(entries(path), key=lambda e: (e["precision"] != "fp32", e["backbone"]))), None)
    if entry is None:
        raise CalibrationMissing(
            f"no calibration for {backbone} (weights sha256 {(weights_sha256 or '?')[:16]}…) "
            f"in {path or CALIBRATION_FILE}: "
            "run `make calibrate` with these weights present, or give a threshold explicitly")
    threshold = float(override) if override is not None else float(entry["threshold"])
    return threshold, int(entry["min_inliers"]), int(entry["min_agreement"])
