"""The second look at a candidate pair: is it the same picture?

A creator's template series (4-split grids, "TOP7" compilation covers) shares layout, colours and text, so the
global descriptors of two *different* videos come out close (cosine up to ~0.9 on the reference covers, above
many real re-uploads).  A re-upload is the same pixels moved by a similarity transform (crop, zoom, pad,
resize, mirror) under overlays.  So, in two steps:

1. *Geometry*: ORB keypoints, ratio-test matches, and the matches consistent with one similarity transform
   (RANSAC), against the other cover as is and mirrored.  At least ``min_inliers`` must agree.
2. *Pixels*: the transform found lays one cover onto the other; in a grid of cells, a cell agrees when its
   pixels correlate (NCC, so brightness/contrast edits do not matter).  ``agreement`` is the share of textured
   cells that agree, counted over the whole of *both* covers (the smaller share counts), and must reach
   ``min_agreement`` percent.

Step 2 is what tells a re-upload from a template.  Shared overlay text (same caption in the same font) is itself
a rigid pattern whose glyph corners can give as many RANSAC inliers as a real re-upload — and ORB's strongest
corners crowd onto text, so a real re-upload's inliers often sit on its caption too.  Counting inliers cannot
separate the two; laying the pictures on each other can: a re-upload agrees over most of the frame (all but
its new caption, stickers and cropped margins), a shared caption or banner covers a few cells only.
Calibration: bench/eval_dedup.py (models/README.md).

A heavy crop (30-50 % of the frame) or a meme frame around the picture shares only part of the original's
textured cells, so the share over *both whole covers* stays low although every overlapping cell agrees.  The
``contained`` look (default off, ``grouping.CropRobust``) also accepts a pair whose overlap is a real part of
both covers (at least ``CONTAINED_COVERED`` of the more-covered one's textured cells and ``CONTAINED_MIN_OVERLAP``
of the other's) and inside which the pixels agree in both directions, on at least the share of cells
``contained`` gives (``make calibrate`` derives it on the harder set's calibration split: calibration.json's
``crop_robust``).  One cover inside the other (a crop) is the common case; a crop inside a meme frame overlaps its
original only partly (the frame and caption on one side, the cropped-away margins on the other), so both shares
stay below one.  A caption band two distinct covers share does not pass: the frames overlap whole, and inside that
overlap the band stays a minority.  A crop of a crop (square, then shrunk to a thumbnail) zooms beyond the plain
look's ``SCALE_RANGE``, so the contained look allows ``CONTAINED_SCALE_RANGE``.  Measured: bench/eval_dedup_hard.py
(models/README.md).

ORB finds few true matches on a tiny re-encoded thumbnail blown up to the 512-px keypoint image, or on a nearly flat
picture under a caption band.  The crop-robust dedup then takes a second, SIFT look (``SiftLook``) at the pairs
ORB tried and could not verify: SIFT keypoints of the two small grey images (which the memory keeps, so history
pairs get it too), the same RANSAC and the same pixel check, at the same ``min_inliers`` / ``min_agreement``.
"""

from __future__ import annotations

import functools
import os
import threading

import numpy as np

from .images import KEYPOINT_LONG_SIDE

N_FEATURES = 500
RATIO = 0.8
REPROJECTION_PX = 6.0  # on the 512-px keypoint image
RANSAC_SEED = 12345  # OpenCV's RANSAC draws from a global RNG: seed it per call so verdicts are deterministic
MIN_MATCHES = 10  # ratio-test matches below which no transform is estimated
SCALE_RANGE = (0.5, 2.0)  # a re-upload's zoom/resize between the keypoint images; beyond is a coincidence
PIXEL_LONG_SIDE = 256  # the image the pixel check compares: half the 512-px keypoint image, 4x cheaper
CELL_PX = 16  # pixel-check cell on that image (~1/16 of a cover's width)
CELL_NCC = 0.6  # a cell agrees above this correlation
FLAT_STD = 3.0  # cells whose grey levels vary less than this (0-255) are flat: they say nothing either way
COVERED = 0.9  # a cell is compared only where the transformed cover covers this share of it
CONTAINED_COVERED = 0.25  # the more-covered cover's textured cells the overlap must hold (a partial overlap too)
CONTAINED_MIN_OVERLAP = 0.25  # the other cover's textured cells the overlap must hold (a crop of ≥ 30 % area)
CONTAINED_SCALE_RANGE = (1 / 3, 3.0)  # a square cut of a 9:16 cover, then cropped: up to ~2.8 (eval_dedup_hard)

Keypoints = tuple  # (points (K, 2) float32, descriptors (K, 32) uint8) for one orientation
# per cover: (plain Keypoints, mirrored Keypoints, grey image (≤ PIXEL_LONG_SIDE px) uint8)
CoverLook = tuple


def _cv2():
    import cv2

    cv2.setNumThreads(1)
    return cv2


def detect(gray: np.ndarray) -> CoverLook:
    """ORB keypoints of the (512-px) grey cover and of its mirror image, and the small grey image the pixel
    check compares.  The mirror's keypoints are the cover's, flipped (x → w-1-x, angle → 180°-angle: FAST and
    the intensity-centroid angle are mirror-symmetric), so only their descriptors are computed again — a third
    less work than detecting on the mirror image too."""
    cv2 = _cv2()
    orb = cv2.ORB_create(nfeatures=N_FEATURES, fastThreshold=10)
    kps, des = orb.detectAndCompute(gray, None)
    h, w = gray.shape
    if des is None or not kps:
        empty = (np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8))
        plain = mirrored = empty
    else:
        plain = (np.asarray([k.pt for k in kps], np.float32), des)
        flipped = [cv2.KeyPoint(w - 1 - k.pt[0], k.pt[1], k.size, (180.0 - k.angle) % 360.0, k.response, k.octave)
                   for k in kps]
        mkps, mdes = orb.compute(np.ascontiguousarray(gray[:, ::-1]), flipped)
        mirrored = ((np.asarray([k.pt for k in mkps], np.float32), mdes) if mdes is not None and mkps
                    else (np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)))
    scale = PIXEL_LONG_SIDE / KEYPOINT_LONG_SIDE
    small = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return plain, mirrored, small


_BIT_SIGNS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).astype(np.float32) * 2 - 1  # byte -> ±1 x 8


_PRODUCT_ROWS = 512  # ≥ N_FEATURES: every ORB look's descriptors fit one product shape


@functools.cache
def _sign_table(dtype) -> np.ndarray:
    """Each byte's 8 signs already in ``dtype``, as one opaque 8-element item: a descriptor's bytes index it
    straight into the product's input, one gather of 32 items per row and no cast (several times cheaper than
    gathering floats and casting them, which cost about as much as the product)."""
    import torch

    raw = np.ascontiguousarray(torch.from_numpy(_BIT_SIGNS).to(dtype).view(torch.uint8).numpy())  # (256, 8·size)
    return raw.view(np.dtype((np.void, raw.shape[1]))).reshape(256)


def ratio_matches(da: np.ndarray, db: np.ndarray, dtype=None) -> tuple[np.ndarray, np.ndarray]:
    """(query rows, train rows) of the descriptors ``da`` whose nearest row of ``db`` passes the ratio test
    ``d1 < RATIO * d2``, in query order: exactly the matches ``cv2.BFMatcher.knnMatch(da, db, k=2)`` and that test
    keep.  Binary (uint8, ORB's) descriptors by Hamming distance, in one matrix product instead of OpenCV's
    brute-force loop: the bits as ±1 make ``bits - 2 · distance``, integers ≤ 256 that bf16 and fp32 hold exactly
    (bf16 where the CPU multiplies it natively).  When the nearest distance is tied, the second nearest equals it
    and the test fails, so which of the tied rows is nearest never matters.  Float (SIFT's) descriptors by L2,
    with OpenCV's matcher."""
    if da.dtype != np.uint8:
        cv2 = _cv2()
        good = [m[0] for m in cv2.BFMatcher(cv2.NORM_L2).knnMatch(da, db, k=2)
                if len(m) == 2 and m[0].distance < RATIO * m[1].distance]
        return np.asarray([m.queryIdx for m in good], np.int64), np.asarray([m.trainIdx for m in good], np.int64)
    import torch

    from .grouping import bound_dtype

    dtype = bound_dtype() if dtype is None else dtype  # both hold these products exactly
    bits = 8 * da.shape[1]

    table = _sign_table(dtype)

    def signs(d: np.ndarray):  # one table lookup: no small torch ops, which cost most under load
        # zero rows up to one size for all covers: the product's kernel is made per shape (oneDNN's primitive
        # cache), and each new pair of keypoint counts cost many times the product itself; sliced off below
        rows = np.zeros((max(_PRODUCT_ROWS, len(d)), d.shape[1]), table.dtype)
        rows[: len(d)] = table[d]
        return torch.from_numpy(rows.view(np.uint8).reshape(len(rows), -1)).view(dtype)

    closeness = (signs(da) @ signs(db).T)[: len(da), : len(db)].float().numpy()  # bits - 2 · distance
    rows = np.arange(len(closeness))
    nearest = closeness.argmax(1)
    first = (bits - closeness[rows, nearest].astype(np.float64)) / 2
    closeness[rows, nearest] = -np.inf
    second = (bits - closeness.max(1).astype(np.float64)) / 2
    keep = np.flatnonzero(first < RATIO * second)
    return keep, nearest[keep]


def transform(a: Keypoints, b: Keypoints, at_least: int = MIN_MATCHES, *,
              reprojection_px: float = REPROJECTION_PX) -> tuple[int, np.ndarray | None]:
    """(inliers, 2x3 similarity mapping A's points onto B's) by RANSAC; (0, None) when there is none.  Fewer than
    ``at_least`` ratio-test matches cannot give that many inliers: RANSAC is skipped, which is most of the cost
    for the many unrelated candidate pairs.  Binary descriptors (ORB's) match by Hamming distance, float ones
    (SIFT's) by L2 (``ratio_matches``)."""
    cv2 = _cv2()
    (pa, da), (pb, db) = a, b
    if len(da) < 8 or len(db) < 8:
        return 0, None
    query, train = ratio_matches(da, db)
    if len(query) < max(MIN_MATCHES, at_least):
        return 0, None
    src = pa[query]
    dst = pb[train]
    cv2.setRNGSeed(RANSAC_SEED)
    matrix, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=reprojection_px,
                                               maxIters=2000, confidence=0.99)
    if matrix is None:
        return 0, None
    return int(mask.sum()), matrix


def _cells(x: np.ndarray, ny: int, nx: int) -> np.ndarray:
    return x[: ny * CELL_PX, : nx * CELL_PX].reshape(ny, CELL_PX, nx, CELL_PX).transpose(0, 2, 1, 3).reshape(ny, nx, -1)


def _one_way(src: np.ndarray, dst: np.ndarray, matrix: np.ndarray) -> float:
    """Share of ``dst``'s textured cells that ``src``, moved by ``matrix``, covers and correlates with."""
    agreeing, textured, _ = _one_way_counts(src, dst, matrix)
    return agreeing / textured if textured else 0.0


def _one_way_counts(src: np.ndarray, dst: np.ndarray, matrix: np.ndarray) -> tuple[int, int, int]:
    """(agreeing, textured, covered textured) cells of ``dst`` under ``src`` moved by ``matrix``; textured is 0
    when ``dst`` has too little texture to judge."""
    cv2 = _cv2()
    h, w = dst.shape
    ny, nx = h // CELL_PX, w // CELL_PX
    if ny == 0 or nx == 0:
        return 0, 0, 0
    moved = cv2.warpAffine(src, matrix, (w, h), flags=cv2.INTER_LINEAR).astype(np.float32)
    inside = cv2.warpAffine(np.full(src.shape, 1, np.uint8), matrix, (w, h), flags=cv2.INTER_NEAREST)
    a, b = _cells(moved, ny, nx), _cells(dst.astype(np.float32), ny, nx)
    covered = _cells(inside, ny, nx).mean(-1) >= COVERED
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    norm_a, norm_b = np.sqrt((a * a).sum(-1)), np.sqrt((b * b).sum(-1))
    flat = FLAT_STD * CELL_PX  # = std · sqrt(cell pixels)
    textured = norm_b > flat
    if textured.sum() < 8:
        return 0, 0, 0  # too little texture to judge: never a verdict of "same"
    ncc = (a * b).sum(-1) / np.maximum(norm_a * norm_b, 1e-6)
    agreeing = (ncc > CELL_NCC) & covered & (norm_a > flat) & textured
    # over all textured cells, covered or not: a region two covers share cannot pass for the whole picture
    return int(agreeing.sum()), int(textured.sum()), int((covered & textured).sum())


def check_contained(contained: float) -> float:
    """``contained``: the share of the overlap's cells that must agree for the contained look, in (0, 1); 0 for no
    contained look.  A bool is refused: ``True`` would silently ask for every cell."""
    if isinstance(contained, bool) or not (contained == 0 or 0 < contained < 1):
        raise ValueError(f"contained={contained!r}: the share of the overlap's cells that must agree, in (0, 1), "
                         "or 0 for no contained look (calibration.json's crop_robust entry has it)")
    return float(contained)


def agreement(small_a: np.ndarray, small_b: np.ndarray, matrix: np.ndarray, contained: float = 0.0) -> int:
    """Pixel agreement (percent) of two covers under ``matrix`` (found on the 512-px keypoint images), the smaller
    of the two directions; 0 for a zoom no re-upload makes.  With ``contained`` (> 0), the larger of that and the
    agreement inside the overlap when one cover lies inside the other and at least ``contained`` of the overlap's
    cells agree (``contained_agreement``)."""
    contained = check_contained(contained)
    cv2 = _cv2()
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    low, high = CONTAINED_SCALE_RANGE if contained else SCALE_RANGE
    if not low <= scale <= high:
        return 0
    m = matrix.astype(np.float64).copy()
    m[:, 2] *= PIXEL_LONG_SIDE / KEYPOINT_LONG_SIDE  # the same transform between the small images
    forward = _one_way_counts(small_a, small_b, m)
    backward = _one_way_counts(small_b, small_a, cv2.invertAffineTransform(m))
    whole = min(f[0] / f[1] if f[1] else 0.0 for f in (forward, backward))
    if not SCALE_RANGE[0] <= scale <= SCALE_RANGE[1]:
        whole = 0.0  # beyond the plain look's zoom only a containment may verify
    if contained:
        whole = max(whole, contained_agreement(forward, backward, contained))
    return int(round(100 * whole))


def contained_agreement(forward: tuple[int, int, int], backward: tuple[int, int, int], min_inside: float) -> float:
    """Agreement inside the overlap, both ways, of two covers whose overlap is a real part of both (one inside
    the other, or a partial overlap) when it is at least ``min_inside``; 0 otherwise.  ``forward``/``backward``:
    ``(agreeing, textured, covered textured)`` cells of each cover."""
    if not forward[1] or not backward[1] or not forward[2] or not backward[2]:
        return 0.0
    covered = [f[2] / f[1] for f in (forward, backward)]
    inner, outer = (0, 1) if covered[0] >= covered[1] else (1, 0)
    if covered[inner] < CONTAINED_COVERED or covered[outer] < CONTAINED_MIN_OVERLAP:
        return 0.0
    inside = min(f[0] / f[2] for f in (forward, backward))
    return inside if inside >= min_inside else 0.0


def pair_match(looks: list, i: int, other: list, j: int, enough: tuple[int, int] | None = None,
               contained: float = 0.0, sift: SiftLook | None = None, mirror: bool = True) -> tuple[int, int]:
    """(inliers, agreement %) of A against B as is and against B mirrored: the first orientation that verifies
    under ``enough`` = (min_inliers, min_agreement) (the mirror is then not tried), else the better one.  With
    ``sift`` and ``enough``, a pair ORB found a transform for but could not verify also gets the SIFT look.
    ``mirror=False``: B as is only."""
    contained = check_contained(contained)
    plain_a, _, small_a = looks[i]
    b_plain, b_mirror, small_b = other[j]
    floor = enough[0] if enough is not None else MIN_MATCHES
    best = (0, 0)
    for b_kps, b_small in ((b_plain, small_b), (b_mirror, None))[: 2 if mirror else 1]:
        inliers, matrix = transform(plain_a, b_kps, floor)
        if matrix is None:
            continue
        if b_small is None:
            b_small = np.ascontiguousarray(small_b[:, ::-1])
        score = (inliers, agreement(small_a, b_small, matrix, contained))
        if enough is not None and score[0] >= enough[0] and score[1] >= enough[1]:
            return score
        best = max(best, score, key=lambda s: (s[1], s[0]))
    if sift is not None and enough is not None and best[0] > 0:
        # ORB had enough matches to try but did not verify: a re-upload it could not line up?  A SIFT look that
        # verifies is the answer even where ORB's failed one agreed more (a few ORB inliers over a flat picture)
        found = sift.match(small_a, small_b, enough, contained)
        if found[0] >= enough[0] and found[1] >= enough[1]:
            return found
        best = max(best, found, key=lambda s: (s[1], s[0]))
    return best


SIFT_FEATURES = 500
# SIFT doubles its input before its first octave, so most of its cost is that octave: the small image shrunk to 3/4
# has 9/16 of the pixels in every octave, and the re-uploads only the SIFT look verifies keep at least 19 inliers
# where the rule needs 10 (make eval-dedup-hard prints the fewest; models/README.md)
SIFT_SCALE = 0.75
SIFT_REPROJECTION_PX = REPROJECTION_PX * PIXEL_LONG_SIDE / KEYPOINT_LONG_SIDE  # the same tolerance on the small image


class SiftLook:
    """The SIFT look of ``pair_match(sift=...)`` on the small grey images of a cover look (≤ 256 px, what
    ``detect`` keeps and the memory stores).  Each image's SIFT keypoints are computed once per instance, so one
    instance serves one batch of pairs (``pair_scores``); thread-safe.  The covers as they are only: the ORB look
    tries the mirror; a SIFT look at it too doubled the SIFT look's cost, verified none more of the harder set's
    re-uploads and a few of the existing set's mirrored ones (make eval-dedup-hard; models/README.md)."""

    def __init__(self):
        self._features: dict[int, tuple[np.ndarray, Keypoints]] = {}
        self._lock = threading.Lock()

    def features(self, small: np.ndarray) -> Keypoints:
        with self._lock:
            known = self._features.get(id(small))
        if known is not None:
            return known[1]
        cv2 = _cv2()
        h, w = small.shape
        shrunk = cv2.resize(small, (max(1, round(w * SIFT_SCALE)), max(1, round(h * SIFT_SCALE))),
                            interpolation=cv2.INTER_AREA)
        kps, des = cv2.SIFT_create(nfeatures=SIFT_FEATURES).detectAndCompute(shrunk, None)
        found = (np.asarray([k.pt for k in kps], np.float32).reshape(-1, 2)
                 * np.float32([w / shrunk.shape[1], h / shrunk.shape[0]]),  # back on the small image
                 des if des is not None else np.zeros((0, 128), np.float32))
        with self._lock:  # the image is kept with its entry, so its id cannot be reused by another while cached
            self._features.setdefault(id(small), (small, found))
        return found

    def match(self, small_a: np.ndarray, small_b: np.ndarray, enough: tuple[int, int] | None = None,
              contained: float = 0.0) -> tuple[int, int]:
        """(inliers, agreement %) like ``pair_match``'s, from SIFT keypoints of the small images."""
        floor = enough[0] if enough is not None else MIN_MATCHES
        inliers, matrix = transform(self.features(small_a), self.features(small_b), floor,
                                    reprojection_px=SIFT_REPROJECTION_PX)
        if matrix is None:
            return 0, 0
        matrix = matrix.astype(np.float64)
        matrix[:, 2] *= KEYPOINT_LONG_SIDE / PIXEL_LONG_SIDE  # agreement() takes the keypoint image's pixels
        return inliers, agreement(small_a, small_b, matrix, contained)


def passes(scores: np.ndarray, min_inliers: int, min_agreement: int) -> np.ndarray:
    """Which (inliers, agreement %) rows verify."""
    scores = np.asarray(scores).reshape(-1, 2)
    return (scores[:, 0] >= min_inliers) & (scores[:, 1] >= min_agreement)


def pair_scores(looks: list, pairs, others: list | None = None,
                enough: tuple[int, int] | None = None, contained: float = 0.0, sift: bool = False) -> np.ndarray:
    """(inliers, agreement %) of every pair as an (N, 2) int array; OpenCV releases the GIL, so pairs are
    checked on all cores.  ``sift``: the SIFT look after a failed ORB one (``pair_match``), except for the pairs
    only the keypoint votes found (``pairs.voted``): the votes found them by the ORB descriptors the two covers
    share as they are, so the ORB look at the covers as they are is the one to line them up; they get neither the
    SIFT look nor the ORB look at the mirror image.  Those looks verify none more of the re-uploads the votes find
    in make eval-dedup-hard, and on a demo day most voted pairs are distinct covers, which ORB fails and the other
    looks then tried in vain (models/README.md)."""
    from concurrent.futures import ThreadPoolExecutor

    other = looks if others is None else others
    contained = check_contained(contained)
    second = SiftLook() if sift else None
    voted = [False] * len(pairs.i) if pairs.voted is None else pairs.voted.tolist()
    work = [(i, j, None if by_votes else second, not by_votes)
            for i, j, by_votes in zip(pairs.i.tolist(), pairs.j.tolist(), voted, strict=True)]
    if len(work) < 64:
        return np.asarray([pair_match(looks, i, other, j, enough, contained, look, mirror)
                           for i, j, look, mirror in work], dtype=np.int32).reshape(-1, 2)
    import torch

    # one pair per core: each worker's products (``ratio_matches``) on its own thread (OpenMP's count is per thread)
    with ThreadPoolExecutor(max(1, len(os.sched_getaffinity(0))), initializer=torch.set_num_threads,
                            initargs=(1,)) as pool:
        scores = pool.map(lambda w: pair_match(looks, w[0], other, w[1], enough, contained, w[2], w[3]), work,
                          chunksize=64)
        return np.asarray(list(scores), dtype=np.int32).reshape(-1, 2)


def agree(looks: list, pairs, min_inliers: int, min_agreement: int, others: list | None = None,
          contained: float = 0.0, sift: bool = False) -> np.ndarray:
    """Bool mask of the pairs that verify."""
    rule = (min_inliers, min_agreement)
    return passes(pair_scores(looks, pairs, others, enough=rule, contained=contained, sift=sift), *rule)


def verifier(looks: list, min_inliers: int, min_agreement: int, others: list | None = None,
             contained: float = 0.0):
    """A ``verify`` callable for ``group_duplicates``."""
    return lambda pairs: agree(looks, pairs, min_inliers, min_agreement, others, contained)
