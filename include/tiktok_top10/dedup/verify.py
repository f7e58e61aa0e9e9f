"""The second look at a candidate pair: is it the same picture, geometrically?

A creator's template series (4-split grids, "TOP7" compilation covers) shares layout, colours and text, so the
global descriptors of two *different* videos come out close (cosine up to ~0.9 on the reference covers, above
many real re-uploads).  A re-upload is the same pixels moved by a similarity transform (crop, zoom, pad,
resize, mirror) under overlays.  So: ORB keypoints, ratio-test matches, and the number of matches consistent with
one similarity transform (RANSAC), in both orientations (mirror).

Shared overlay text (same caption in the same font, "TOP7" banners) is itself a rigid pattern: its glyph corners
agree with one similarity transform and can give as many inliers as a real re-upload.  What text cannot fake is
*extent*: a caption band is a thin strip, while the same photo matches all over the picture.  So the inliers must
also be spread: the inliers' extent across their narrower axis (5th to 95th percentile, so one stray match
does not count) must reach ``min_spread`` pixels of the 512-px keypoint image in *both* images (the smaller one
counts, so a zoomed re-upload is judged on its narrower side).  A one-line caption is ~30-40 px tall; the same
photo matches over 100+ px.  Calibration: bench/eval_dedup.py.
"""

from __future__ import annotations

import os

import numpy as np

N_FEATURES = 500
RATIO = 0.8
REPROJECTION_PX = 6.0  # on the 512-px keypoint image
SPREAD_QUANTILES = (5, 95)  # the extent of a set of inliers, robust to a few stray ones
RANSAC_SEED = 12345  # OpenCV's RANSAC draws from a global RNG: seed it per call so verdicts are deterministic

Keypoints = tuple  # (points (K, 2) float32, descriptors (K, 32) uint8) for one orientation


def _cv2():
    import cv2

    cv2.setNumThreads(1)
    return cv2


def detect(gray: np.ndarray) -> tuple[Keypoints, Keypoints]:
    """ORB keypoints of the image and of its mirror image."""
    cv2 = _cv2()
    orb = cv2.ORB_create(nfeatures=N_FEATURES, fastThreshold=10)
    out = []
    for image in (gray, np.ascontiguousarray(gray[:, ::-1])):
        kps, des = orb.detectAndCompute(image, None)
        if des is None or not kps:
            out.append((np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)))
        else:
            out.append((np.asarray([k.pt for k in kps], np.float32), des))
    return out[0], out[1]


def spread(points: np.ndarray) -> int:
    """Extent in px of ``points`` across their narrower image axis (robust percentiles): a text line is thin."""
    if len(points) < 2:
        return 0
    lo, hi = np.percentile(points, SPREAD_QUANTILES, axis=0)
    return int(round(float((hi - lo).min())))


def match(a: Keypoints, b: Keypoints) -> tuple[int, int]:
    """(inliers, spread): matches consistent with one similarity transform, and their ``spread`` in the image
    where they are least spread."""
    cv2 = _cv2()
    (pa, da), (pb, db) = a, b
    if len(da) < 8 or len(db) < 8:
        return 0, 0
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    good = [m[0] for m in matcher.knnMatch(da, db, k=2) if len(m) == 2 and m[0].distance < RATIO * m[1].distance]
    if len(good) < 6:
        return 0, 0
    src = pa[[m.queryIdx for m in good]]
    dst = pb[[m.trainIdx for m in good]]
    cv2.setRNGSeed(RANSAC_SEED)
    _, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=REPROJECTION_PX,
                                          maxIters=2000, confidence=0.99)
    if mask is None:
        return 0, 0
    keep = mask.ravel().astype(bool)
    return int(keep.sum()), min(spread(src[keep]), spread(dst[keep]))


def passes(scores: np.ndarray, min_inliers: int, min_spread: int) -> np.ndarray:
    """Which (inliers, spread) rows verify: enough consistent matches, spread over enough of the picture."""
    scores = np.asarray(scores).reshape(-1, 2)
    return (scores[:, 0] >= min_inliers) & (scores[:, 1] >= min_spread)


def pair_match(keypoints: list, i: int, other: list, j: int, enough: tuple[int, int] | None = None) -> tuple[int, int]:
    """Best of the two orientations, A against B as is and against B mirrored: one that verifies under ``enough``
    (min_inliers, min_spread) if any (the mirror is then skipped when the plain one does), else the one with most
    inliers."""
    plain_a = keypoints[i][0]
    plain = match(plain_a, other[j][0])
    if enough is not None and plain[0] >= enough[0] and plain[1] >= enough[1]:
        return plain
    mirrored = match(plain_a, other[j][1])
    if enough is not None:
        ok = [s for s in (plain, mirrored) if s[0] >= enough[0] and s[1] >= enough[1]]
        if ok:
            return ok[0]
    return max(plain, mirrored)


def pair_scores(keypoints: list, pairs, others: list | None = None,
                enough: tuple[int, int] | None = None) -> np.ndarray:
    """(inliers, spread) of every pair as an (N, 2) int array; OpenCV releases the GIL, so pairs are checked on
    all cores."""
    from concurrent.futures import ThreadPoolExecutor

    other = keypoints if others is None else others
    work = list(zip(pairs.i.tolist(), pairs.j.tolist()))
    if len(work) < 64:
        return np.asarray([pair_match(keypoints, i, other, j, enough) for i, j in work],
                          dtype=np.int32).reshape(-1, 2)
    with ThreadPoolExecutor(max(1, len(os.sched_getaffinity(0)))) as pool:
        scores = pool.map(lambda ij: pair_match(keypoints, ij[0], other, ij[1], enough), work, chunksize=64)
        return np.asarray(list(scores), dtype=np.int32).reshape(-1, 2)


def agree(keypoints: list, pairs, min_inliers: int, min_spread: int, others: list | None = None) -> np.ndarray:
    """Bool mask of the pairs that verify geometrically."""
    rule = (min_inliers, min_spread)
    return passes(pair_scores(keypoints, pairs, others, enough=rule), *rule)


def verifier(keypoints: list, min_inliers: int, min_spread: int, others: list | None = None):
    """A ``verify`` callable for ``group_duplicates``: keeps pairs with ≥ ``min_inliers`` geometric inliers
    spread over ≥ ``min_spread`` px."""
    return lambda pairs: agree(keypoints, pairs, min_inliers, min_spread, others)
