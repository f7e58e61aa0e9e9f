"""The second look's ``contained`` agreement: a heavy crop lies inside its original and agrees where they overlap;
two distinct covers sharing one caption band still do not agree."""

from __future__ import annotations

import numpy as np
from dedup_covers import make_cover
from PIL import Image, ImageDraw, ImageFont


def _look(img: Image.Image):
    from tiktok_top10.dedup.images import content_box, keypoint_image
    from tiktok_top10.dedup.verify import detect

    gray = img.convert("L")
    return detect(keypoint_image(gray, content_box(gray)))


def _band(img: Image.Image) -> Image.Image:
    """One identical caption band over the top 24 % of the frame."""
    img = img.copy()
    w, h = img.size
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, w, round(0.24 * h)), fill=(250, 220, 0))
    for line in range(2):
        draw.text((0.05 * w, (0.03 + 0.09 * line) * h), "SAME CAPTION 반전 주의 #7", fill=(0, 0, 0),
                  font=ImageFont.load_default(size=round(0.06 * h)))
    return img


def test_heavy_crop_verifies_only_with_the_contained_look():
    from tiktok_top10.dedup.verify import pair_match

    cover = make_cover("chelsea")
    w, h = cover.size
    crop = cover.crop((round(0.38 * w), round(0.05 * h), w, round(0.65 * h)))  # 62 % x 60 % = 37 % of the frame
    looks = [_look(cover), _look(crop)]
    inliers, whole = pair_match(looks, 0, looks, 1)
    _, contained = pair_match(looks, 0, looks, 1, contained=True)
    assert inliers >= 15
    assert whole < 45  # the crop covers well under half of the original's textured cells
    assert contained >= 70 and contained > whole + 25


def test_shared_caption_band_is_no_containment():
    from tiktok_top10.dedup.verify import pair_match

    a, b = _band(make_cover("chelsea")), _band(make_cover("rocket"))
    looks = [_look(a), _look(b)]
    for contained in (False, True):
        inliers, agreement = pair_match(looks, 0, looks, 1, contained=contained)
        assert agreement < 35, (contained, inliers, agreement)


def test_contained_agreement_rules():
    from tiktok_top10.dedup.verify import contained_agreement

    # (agreeing, textured, covered textured) of each cover
    crop_inside = contained_agreement((90, 100, 100), (40, 120, 45))  # all of one, 37 % of the other
    assert np.isclose(crop_inside, min(90 / 100, 40 / 45))
    assert contained_agreement((90, 100, 80), (40, 120, 45)) == 0.0  # neither lies inside the other
    assert contained_agreement((20, 100, 100), (20, 120, 20)) == 0.0  # overlaps under a quarter of the other
    assert contained_agreement((0, 0, 0), (5, 10, 10)) == 0.0  # too little texture to judge
