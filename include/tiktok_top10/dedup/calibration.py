"""Decision thresholds per backbone, weights file and precision: read from ``calibration.json``, which
``make calibrate`` (``bench/calibrate_dedup.py``) generates — nothing here is typed in by hand.

``threshold`` is the global-descriptor cosine a pair must reach to be a candidate; ``min_inliers`` is the number
of keypoint matches that must agree with one similarity transform, and ``min_agreement`` the percentage of the
covers' textured cells whose pixels must agree once that transform lays one cover on the other (``verify.py``),
so a shared caption or template banner does not verify.

The selection rule is ``choose`` below (code, not prose): every point of a fixed grid is measured on the
calibration split (by video), and among the points that merge no two distinct videos, the cheapest second look
(fewest candidate pairs above the cosine) is taken whose recall is within ``RECALL_GIVE`` of the best.

Each entry also carries the crop-robust dedup's values (``crop_robust``: ``grouping.CropRobust``): the regional
cosine, the keypoint votes' floor and the contained look's share of agreeing cells, chosen by the same rule on
the harder evaluation's set (bench/eval_dedup_hard.py: heavy and square crops, thumbnails, meme frames, tone;
distinct videos under one caption band), split by video with the same seed and share (the two videos of a banded
pair on one side: ``hard_split``).
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
# the crop-robust dedup's grid (grouping.CropRobust), each point under the entry's own global rule; a vote floor
# at or above the regional threshold adds nothing, so those points are not measured
CROP_GRID_REGION = tuple(round(0.66 + 0.02 * k, 2) for k in range(11))  # 0.66 … 0.86
CROP_GRID_VOTE_FLOOR = tuple(round(0.54 + 0.02 * k, 2) for k in range(9))  # 0.54 … 0.70
CROP_GRID_CONTAINED = (0.40, 0.45, 0.50, 0.55, 0.60, 0.65, 0.70)
CROP_STRICTNESS = ("contained_min_agreement", "vote_floor", "region_threshold")
# No recall is given for fewer candidates here: the crop-robust dedup exists for recall, its cost is bounded by the
# stage's wall time (make bench-dedup-regions), and on the harder set's calibration split one pair is 0.007 of
# recall: giving RECALL_GIVE traded a pair for regions that add nothing over the votes (0.86, the grid's top), and
# held out that rule found 0.938 (make eval-dedup-hard, the first run of this calibration; models/README.md).
CROP_RECALL_GIVE = 0.0


class CalibrationMissing(WeightsError):
    """No calibration entry for this backbone's weights (and the operator gave no threshold): a weights problem
    like a missing file, reported (and never retried) the same way."""


def choose(points: list[dict], strictness: tuple[str, ...] = ("min_agreement", "min_inliers", "threshold"),
           give: float = RECALL_GIVE) -> dict | None:
    """The selection rule.  ``points``: one dict per grid point with its values, ``recall``, ``merges``
    (distinct videos merged) and ``candidates`` (pairs at or above the cosine: what the second look has to check).

    1. admissible: no merge of two distinct videos;
    2. affordable: recall within ``give`` (``RECALL_GIVE``; the crop-robust rule's ``CROP_RECALL_GIVE``) of the
       best admissible recall;
    3. among those, the fewest candidates (the cheapest second look); ties go to the higher recall, then the
       stricter values, in the order of ``strictness`` (for the global rule: higher agreement, more inliers,
       higher cosine; for the crop-robust one ``CROP_STRICTNESS``: further from a merge)."""
    admissible = [p for p in points if p["merges"] == 0]
    if not admissible:
        return None
    best = max(p["recall"] for p in admissible)
    affordable = [p for p in admissible if p["recall"] >= best - give - 1e-9]
    return min(affordable, key=lambda p: (p["candidates"], -p["recall"], *(-p[k] for k in strictness)))


def crop_grid() -> list[tuple[float, float, float]]:
    """(region threshold, vote floor, contained share) of every crop-robust grid point."""
    return [(r, v, c) for r in CROP_GRID_REGION for v in CROP_GRID_VOTE_FLOOR if v < r for c in CROP_GRID_CONTAINED]


def crop_robust_limits(backbone: str, weights_sha256: str | None = None, path: Path | None = None,
                       precision: str | None = None) -> dict:
    """The crop-robust dedup's calibrated values for ``backbone``'s weights at ``precision`` (``region_threshold``,
    ``vote_floor``, ``contained_min_agreement``: ``grouping.CropRobust``'s fields).  An entry kept from another
    CPU class (``make calibrate`` measures bf16/int8 only on the class that made them) may have none: then the
    fp32 entry's, logged, as ``find_entry`` does for a precision without an entry.  ``CalibrationMissing`` when
    no entry of these weights has them (a calibration.json older than them: run `make calibrate`)."""
    entry = find_entry(backbone, precision, weights_sha256, path)
    if entry is not None and "crop_robust" not in entry:
        others = sorted((e for e in entries(path) if e["backbone"] == backbone and "crop_robust" in e
                         and e["weights_sha256"] == entry["weights_sha256"]), key=lambda e: e["precision"] != "fp32")
        if others:
            log.warning("the %s calibration of %s has no crop-robust values; using its %s entry's", entry["precision"],
                        backbone, others[0]["precision"])
            entry = others[0]
    if entry is None or "crop_robust" not in entry:
        raise CalibrationMissing(
            f"no crop-robust calibration for {backbone} (weights sha256 {(weights_sha256 or '?')[:16]}…) "
            f"in {path or CALIBRATION_FILE}: run `make calibrate` with these weights present")
    values = entry["crop_robust"]
    return {k: float(values[k]) for k in ("region_threshold", "vote_floor", "contained_min_agreement")}


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
