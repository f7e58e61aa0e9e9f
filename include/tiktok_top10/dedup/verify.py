"""The second look at a candidate pair: is it the same picture, geometrically?

A creator's template series (4-split grids, "TOP7" compilation covers) shares layout, colours and text, so the
global descriptors of two *different* videos come out close (cosine up to ~0.9 on the reference covers, above
many real re-uploads).  A re-upload is the same pixels moved by a similarity transform (crop, zoom, pad,
resize, mirror) under overlays.  So: ORB keypoints, ratio-test matches, and the number of matches consistent with
one similarity transform (RANSAC), in both orientations (mirror).  Shared overlay text alone yields a few dozen
inliers; the same picture yields many more (calibration: bench/eval_dedup.py).
"""

from __future__ import annotations

import os

import numpy as np

N_FEATURES = 500
RATIO = 0.8
REPROJECTION_PX = 6.0  # on the 512-px keypoint image
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


def inliers(a: Keypoints, b: Keypoints) -> int:
    """Matches between two keypoint sets consistent with one similarity transform."""
    cv2 = _cv2()
    (pa, da), (pb, db) = a, b
    if len(da) < 8 or len(db) < 8:
        return 0
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    good = [m[0] for m in matcher.knnMatch(da, db, k=2) if len(m) == 2 and m[0].distance < RATIO * m[1].distance]
    if len(good) < 6:
        return 0
    src = pa[[m.queryIdx for m in good]]
    dst = pb[[m.trainIdx for m in good]]
    cv2.setRNGSeed(RANSAC_SEED)
    _, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=REPROJECTION_PX,
                                          maxIters=2000, confidence=0.99)
    return int(mask.sum()) if mask is not None else 0


def pair_inliers(keypoints: list, i: int, other: list, j: int, enough: int | None = None) -> int:
    """Best of the two orientations: A against B as is, and against B mirrored (skipped once ``enough``)."""
    plain_a = keypoints[i][0]
    best = inliers(plain_a, other[j][0])
    if enough is not None and best >= enough:
        return best
    return max(best, inliers(plain_a, other[j][1]))


def pair_scores(keypoints: list, pairs, others: list | None = None, enough: int | None = None) -> np.ndarray:
    """Inliers of every pair; OpenCV releases the GIL, so pairs are checked on all cores."""
    from concurrent.futures import ThreadPoolExecutor

    other = keypoints if others is None else others
    work = list(zip(pairs.i.tolist(), pairs.j.tolist()))
    if len(work) < 64:
        return np.asarray([pair_inliers(keypoints, i, other, j, enough) for i, j in work], dtype=np.int32)
    with ThreadPoolExecutor(max(1, len(os.sched_getaffinity(0)))) as pool:
        scores = pool.map(lambda ij: pair_inliers(keypoints, ij[0], other, ij[1], enough), work, chunksize=64)
        return np.fromiter(scores, dtype=np.int32, count=len(work))


def verifier(keypoints: list, min_inliers: int, others: list | None = None):
    """A ``verify`` callable for ``group_duplicates``: keeps pairs with ≥ ``min_inliers`` geometric inliers."""
    return lambda pairs: pair_scores(keypoints, pairs, others, enough=min_inliers) >= min_inliers
