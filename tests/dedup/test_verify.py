"""The geometric second look on covers carrying the same overlay caption: shared text alone must not verify.

Two different photographs with the same caption in the same font (a template series; the demo's "반전 주의"
merge) give glyph keypoints that agree with one similarity transform; a re-upload of one of them (caption band,
crop, tone, re-encode) must still verify."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from dedup_covers import make_cover, make_reupload
from PIL import Image, ImageDraw, ImageFont

CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")
CAPTION = "반전 주의"

pytestmark = pytest.mark.skipif(not CJK_FONT.is_file(), reason=f"Noto CJK font absent: {CJK_FONT}")


def with_caption(img: Image.Image, size: int = 110, y: int = 600) -> Image.Image:
    """The caption centred at height ``y``, white with a black outline like TikTok's text tool."""
    img = img.copy()
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(CJK_FONT), size)
    box = draw.textbbox((0, 0), CAPTION, font=font, stroke_width=4)
    draw.text(((img.width - (box[2] - box[0])) // 2, y), CAPTION, font=font, fill=(255, 255, 255),
              stroke_width=4, stroke_fill=(0, 0, 0))
    return img


def keypoints(img: Image.Image, path: Path):
    from tiktok_top10.dedup.images import decode_cover
    from tiktok_top10.dedup.verify import detect

    img.save(path, quality=90)
    return detect(decode_cover(path)[1])


@pytest.mark.parametrize("first,second", [("chelsea", "coffee"), ("astronaut", "rocket"), ("hubble", "chelsea")])
def test_shared_caption_on_different_photos_does_not_verify(tmp_path, first, second):
    from tiktok_top10.dedup.calibration import thresholds
    from tiktok_top10.dedup.grouping import Pairs
    from tiktok_top10.dedup.verify import agree, pair_match

    _, min_inliers, min_agreement = thresholds("efficientnet-lite0")
    a = keypoints(with_caption(make_cover(first)), tmp_path / "a.jpg")
    b = keypoints(with_caption(make_cover(second)), tmp_path / "b.jpg")
    inliers, agreement = pair_match([a], 0, [b], 0)
    assert not (inliers >= min_inliers and agreement >= min_agreement), (inliers, agreement)
    assert not agree([a, b], Pairs(np.array([0]), np.array([1]), np.array([0.9], np.float32)),
                     min_inliers, min_agreement)[0]


@pytest.mark.parametrize("name,seed", [("chelsea", 0), ("coffee", 1), ("rocket", 2)])
def test_reupload_with_caption_band_still_verifies(tmp_path, name, seed):
    from tiktok_top10.dedup.calibration import thresholds
    from tiktok_top10.dedup.verify import pair_match

    _, min_inliers, min_agreement = thresholds("efficientnet-lite0")
    original = with_caption(make_cover(name))
    a = keypoints(original, tmp_path / "a.jpg")
    b = keypoints(make_reupload(original, seed, ("caption", "crop", "tone")), tmp_path / "b.jpg")
    inliers, agreement = pair_match([a], 0, [b], 0)
    assert inliers >= min_inliers and agreement >= min_agreement, (inliers, agreement)


def _small(name: str) -> np.ndarray:
    from tiktok_top10.dedup.images import keypoint_image
    from tiktok_top10.dedup.verify import detect

    return detect(keypoint_image(make_cover(name)))[2]


def test_agreement_is_full_for_the_same_picture_and_low_for_another():
    from tiktok_top10.dedup.verify import agreement

    same = np.float64([[1, 0, 0], [0, 1, 0]])
    cat, coffee = _small("chelsea"), _small("coffee")
    assert agreement(cat, cat, same) == 100
    assert agreement(cat, coffee[: cat.shape[0], : cat.shape[1]], same) < 10
    # twice the zoom: no re-upload does that between two covers, whatever the pixels say
    assert agreement(cat, cat, same * 2.5) == 0


def test_agreement_of_flat_covers_is_never_a_match():
    from tiktok_top10.dedup.verify import agreement

    flat = np.full((256, 144), 128, np.uint8)
    assert agreement(flat, flat, np.float64([[1, 0, 0], [0, 1, 0]])) == 0


def test_half_a_shared_picture_is_not_the_whole_picture():
    """Two covers that share one region (the same photo in the top half, different bottoms) agree only there."""
    from tiktok_top10.dedup.calibration import thresholds
    from tiktok_top10.dedup.verify import agreement

    top, other_bottom = _small("chelsea"), _small("coffee")
    mixed = top.copy()
    half = top.shape[0] // 2
    mixed[half:] = other_bottom[half: top.shape[0], : top.shape[1]]
    score = agreement(top, mixed, np.float64([[1, 0, 0], [0, 1, 0]]))
    assert 35 <= score <= 65
    assert score < 100 and thresholds("efficientnet-lite0")[2] <= 100


def test_mirrored_keypoints_match_the_mirror_image():
    """The mirror set is the cover's keypoints flipped with their descriptors recomputed: it must match what
    detection on the mirror image finds, under the identity."""
    from tiktok_top10.dedup.images import keypoint_image
    from tiktok_top10.dedup.verify import detect, transform

    gray = keypoint_image(make_cover("astronaut"))
    plain, mirrored, _ = detect(gray)
    of_mirror_image = detect(np.ascontiguousarray(gray[:, ::-1]))[0]
    inliers, matrix = transform(of_mirror_image, mirrored)
    assert inliers >= 0.6 * len(plain[0])
    assert np.allclose(matrix[:, :2], np.eye(2), atol=0.02) and np.abs(matrix[:, 2]).max() < 3
    # and the mirrored set is not the plain set: against the unflipped cover it finds no transform
    assert transform(plain, mirrored)[0] < 0.2 * len(plain[0])
