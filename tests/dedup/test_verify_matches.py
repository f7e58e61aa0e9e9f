"""``verify.ratio_matches``: the second look's descriptor matches by one matrix product are exactly the ones
OpenCV's brute-force matcher and the ratio test keep, in both precisions, ties included."""

from __future__ import annotations

import numpy as np
import pytest
from dedup_covers import make_cover, make_reupload


def _opencv(da: np.ndarray, db: np.ndarray, norm: int) -> tuple[list[int], list[int]]:
    import cv2

    from tiktok_top10.dedup.verify import RATIO

    good = [m[0] for m in cv2.BFMatcher(norm).knnMatch(da, db, k=2)
            if len(m) == 2 and m[0].distance < RATIO * m[1].distance]
    return [m.queryIdx for m in good], [m.trainIdx for m in good]


@pytest.fixture(scope="module")
def orb_looks():
    """ORB looks (plain, mirrored, small image) of covers, re-uploads of them, and unrelated covers."""
    from tiktok_top10.dedup.images import content_box, keypoint_image
    from tiktok_top10.dedup.verify import detect

    images = []
    for name in ("chelsea", "rocket", "coffee"):
        cover = make_cover(name)
        images += [cover, make_reupload(cover, seed=len(images))]
    return [detect(keypoint_image(img.convert("L"), content_box(img.convert("L")))) for img in images]


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_orb_matches_are_opencvs_hamming_knn_matches(orb_looks, precision):
    import cv2
    import torch

    from tiktok_top10.dedup.verify import ratio_matches

    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[precision]
    compared = matched = 0
    for a in orb_looks:
        for b in orb_looks:
            for side in (b[0], b[1]):  # the other cover as it is and mirrored
                query, train = ratio_matches(a[0][1], side[1], dtype)
                assert (query.tolist(), train.tolist()) == _opencv(a[0][1], side[1], cv2.NORM_HAMMING)
                compared += 1
                matched += len(query)
    assert compared == 2 * len(orb_looks) ** 2 and matched > 1000  # real matches, not only empty lists


def test_a_tied_nearest_descriptor_is_no_match():
    import cv2

    from tiktok_top10.dedup.verify import ratio_matches

    rng = np.random.default_rng(7)
    a = rng.integers(0, 256, (60, 32), dtype=np.uint8)
    unique = rng.integers(0, 256, (40, 32), dtype=np.uint8)
    b = np.concatenate([a[:20], a[:10], unique])  # a's first 10 rows twice (tied), the next 10 once
    query, train = ratio_matches(a, b)
    assert (query.tolist(), train.tolist()) == _opencv(a, b, cv2.NORM_HAMMING)
    assert query.tolist()[:10] == list(range(10, 20)) and train.tolist()[:10] == list(range(10, 20))


def test_sift_matches_are_opencvs_l2_knn_matches(orb_looks):
    import cv2

    from tiktok_top10.dedup.verify import SiftLook, ratio_matches

    look = SiftLook()
    features = [look.features(small) for _, _, small in orb_looks]
    for _, da in features:
        for _, db in features:
            query, train = ratio_matches(da, db)
            assert (query.tolist(), train.tolist()) == _opencv(da, db, cv2.NORM_L2)


def test_more_descriptors_than_the_products_padded_rows_still_match_exactly():
    """The product pads each side's rows up to one size (one kernel shape); a side with more rows than that, and
    sides of different lengths, give exactly OpenCV's matches too."""
    import cv2

    from tiktok_top10.dedup.verify import _PRODUCT_ROWS, ratio_matches

    rng = np.random.default_rng(11)
    base = rng.integers(0, 256, (_PRODUCT_ROWS + 90, 32), dtype=np.uint8)
    noisy = base.copy()
    flips = rng.random(noisy.shape) < 0.04  # the same corners, a few bits apart: real matches
    noisy[flips] ^= rng.integers(1, 256, int(flips.sum()), dtype=np.uint8)
    for a, b in ((base, noisy), (base[:37], noisy), (base, noisy[:300])):
        query, train = ratio_matches(a, b)
        assert (query.tolist(), train.tolist()) == _opencv(a, b, cv2.NORM_HAMMING)
        assert len(query) > 20
    # a match far off (110 of 256 bits) whose every other row is farther than a padded row could be (128): the
    # padding must never stand in for the second nearest
    far = base[:1].copy()
    far[0, :14] ^= 0xFF  # 112 bits flipped
    far[0, 0] ^= 0x03  # 2 of them back: 110
    others = ~base[:1] ^ (rng.random((39, 32)) < 0.1).astype(np.uint8)  # near its complement: ~250 bits away
    b = np.concatenate([far, others])
    query, train = ratio_matches(base[:1], b)
    assert (query.tolist(), train.tolist()) == _opencv(base[:1], b, cv2.NORM_HAMMING) == ([0], [0])
