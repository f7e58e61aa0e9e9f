"""The second look's ``contained`` agreement: a heavy crop lies inside its original and agrees where they overlap,
a crop inside a meme frame overlaps it partly and agrees there, a square cut shrunk to a thumbnail zooms beyond
the plain look's range; two distinct covers sharing one caption band still do not agree."""

from __future__ import annotations

import numpy as np
import pytest
from dedup_covers import make_cover
from PIL import Image, ImageDraw, ImageFont

from tiktok_top10.dedup.calibration import crop_robust_limits

# the contained look's share of agreeing cells the stage uses (make calibrate; calibration.json)
CONTAINED = crop_robust_limits("efficientnet-lite0", precision="fp32")["contained_min_agreement"]


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
    _, contained = pair_match(looks, 0, looks, 1, contained=CONTAINED)
    assert inliers >= 15
    assert whole < 45  # the crop covers well under half of the original's textured cells
    assert contained >= 70 and contained > whole + 25


def test_shared_caption_band_is_no_containment():
    from tiktok_top10.dedup.verify import pair_match

    a, b = _band(make_cover("chelsea")), _band(make_cover("rocket"))
    looks = [_look(a), _look(b)]
    for contained in (0.0, CONTAINED):
        inliers, agreement = pair_match(looks, 0, looks, 1, contained=contained)
        assert agreement < 35, (contained, inliers, agreement)


def test_contained_agreement_rules():
    from tiktok_top10.dedup.verify import contained_agreement as calibrated

    def contained_agreement(forward, backward, min_inside=0.5):
        return calibrated(forward, backward, min_inside)

    # (agreeing, textured, covered textured) of each cover
    crop_inside = contained_agreement((90, 100, 100), (40, 120, 45))  # all of one, 37 % of the other
    assert np.isclose(crop_inside, min(90 / 100, 40 / 45))
    # a crop inside a meme frame: 60 % of one cover and 40 % of the other overlap, and agree there
    assert np.isclose(contained_agreement((50, 100, 60), (40, 120, 48)), min(50 / 60, 40 / 48))
    assert contained_agreement((20, 100, 100), (20, 120, 20)) == 0.0  # overlaps under a quarter of the other
    assert contained_agreement((20, 100, 20), (20, 120, 29)) == 0.0  # a quarter of neither (a corner)
    assert contained_agreement((0, 0, 0), (5, 10, 10)) == 0.0  # too little texture to judge
    # inside the overlap, fewer than the share asked for agreeing is no verdict at all (a shared caption band or
    # template inside a whole-frame overlap agrees on a minority); at it, the share counts
    assert contained_agreement((47, 100, 100), (60, 120, 100)) == 0.0
    assert np.isclose(contained_agreement((50, 100, 100), (60, 120, 100)), 0.5)
    assert contained_agreement((50, 100, 100), (60, 120, 100), min_inside=0.55) == 0.0
    assert np.isclose(contained_agreement((47, 100, 100), (60, 120, 100), min_inside=0.45), 0.47)


@pytest.mark.parametrize("contained", [True, 1.0, -0.1, 1.5])
def test_the_contained_share_is_a_share_and_never_a_switch(contained):
    """``contained=True`` once meant "on": as a number it would ask for every cell, so it is refused, as is any
    value that is not a share."""
    from tiktok_top10.dedup.verify import pair_match

    cover = make_cover("chelsea")
    looks = [_look(cover), _look(cover.crop((0, 0, cover.size[0] // 2, cover.size[1] // 2)))]
    with pytest.raises(ValueError, match="share of the overlap"):
        pair_match(looks, 0, looks, 1, contained=contained)


def _meme(picture: Image.Image, top: float = 0.3, bottom: float = 0.12) -> Image.Image:
    """``picture`` on a white frame between a big two-line caption and a credit line (what a meme account posts)."""
    w, h = picture.size
    top_px, bottom_px = round(top * h), round(bottom * h)
    frame = Image.new("RGB", (w, h + top_px + bottom_px), (255, 255, 255))
    frame.paste(picture, (0, top_px))
    draw = ImageDraw.Draw(frame)
    font = ImageFont.load_default(size=top_px // 4)
    draw.text((0.05 * w, 0.15 * top_px), "이거 실화냐 ㅋㅋ #7", fill=(0, 0, 0), font=font)
    draw.text((0.05 * w, 0.55 * top_px), "끝까지 보세요 !!", fill=(0, 0, 0), font=font)
    draw.text((0.05 * w, top_px + h + 0.2 * bottom_px), "출처: 원본 영상", fill=(0, 0, 0),
              font=ImageFont.load_default(size=bottom_px // 2))
    return frame


def test_a_crop_inside_a_meme_frame_overlaps_partly_and_verifies_only_with_the_contained_look():
    """Neither cover lies inside the other (the frame's captions on one side, the cropped-away margins on the
    other), but the overlap is a real part of both and agrees."""
    from tiktok_top10.dedup.verify import pair_match

    cover = make_cover("rocket")
    w, h = cover.size
    crop = cover.crop((round(0.30 * w), round(0.25 * h), w, round(0.90 * h)))  # 70 % x 65 %, off-centre
    looks = [_look(cover), _look(_meme(crop))]
    inliers, whole = pair_match(looks, 0, looks, 1)
    _, overlap = pair_match(looks, 0, looks, 1, contained=CONTAINED)
    assert inliers >= 15
    assert whole < 40  # under the calibrated 40 %
    assert overlap >= 60, (inliers, whole, overlap)


def test_a_square_cut_shrunk_to_a_thumbnail_zooms_beyond_the_plain_look_but_verifies_contained():
    from tiktok_top10.dedup.verify import CONTAINED_SCALE_RANGE, SCALE_RANGE, pair_match, transform

    cover = make_cover("astronaut").resize((540, 960))
    side = 540
    # the square cut, cropped again to 41 % of the frame's area, then a 150-px thumbnail
    square = cover.crop((0, 300, side, 300 + side)).crop((40, 40, 500, 500)).resize((150, 150))
    looks = [_look(cover), _look(square)]
    _, matrix = transform(looks[0][0], looks[1][0])
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    assert SCALE_RANGE[1] < scale <= CONTAINED_SCALE_RANGE[1], scale
    assert pair_match(looks, 0, looks, 1)[1] == 0
    assert pair_match(looks, 0, looks, 1, contained=CONTAINED)[1] >= 60


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    import io

    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def test_sift_look_verifies_a_tiny_thumbnail_of_a_heavy_crop_orb_cannot():
    """A 36 %-area crop shrunk to a 120-px thumbnail at JPEG quality 25: ORB, on the blown-up 512-px image, finds
    a transform with a handful of inliers; SIFT on the small grey images lines the pictures up."""
    from tiktok_top10.dedup.verify import SiftLook, pair_match

    cover = make_cover("chelsea")
    w, h = cover.size
    crop = cover.crop((round(0.4 * w), round(0.35 * h), w, round(0.95 * h)))
    thumb = _jpeg(crop.resize((120, round(crop.size[1] * 120 / crop.size[0])), Image.BILINEAR), 25)
    looks = [_look(cover), _look(thumb)]
    rule = (10, 40)
    orb = pair_match(looks, 0, looks, 1, enough=rule, contained=CONTAINED)
    assert 0 < orb[0] < rule[0]  # ORB tried and failed
    with_sift = pair_match(looks, 0, looks, 1, enough=rule, contained=CONTAINED, sift=SiftLook())
    assert with_sift[0] >= 15 and with_sift[1] >= 80
    again = pair_match(looks, 0, looks, 1, enough=rule, contained=CONTAINED, sift=SiftLook())
    assert again == with_sift  # deterministic across instances
    # without the rule the SIFT look does not run: nothing says ORB failed
    assert pair_match(looks, 0, looks, 1, contained=CONTAINED, sift=SiftLook()) == pair_match(looks, 0, looks, 1,
                                                                                         contained=CONTAINED)
    # in a batch, the SIFT look is for the pairs the votes did not bring: the votes found a pair by ORB
    # descriptors both share, so the ORB look is the one for it
    from tiktok_top10.dedup.grouping import Pairs
    from tiktok_top10.dedup.verify import pair_scores

    one = (np.zeros(1, np.int64), np.ones(1, np.int64), np.zeros(1, np.float32))
    for voted, expected in ((None, with_sift), (np.array([False]), with_sift), (np.array([True]), orb)):
        scores = pair_scores(looks, Pairs(*one, voted), enough=rule, contained=CONTAINED, sift=True)
        assert tuple(scores[0]) == tuple(expected), voted


def test_a_sift_look_that_verifies_wins_over_an_orb_look_that_agreed_more_but_failed():
    """ORB may line up a few keypoints of a flat picture and agree over most of it, yet fall short of the inliers
    the rule needs; when the SIFT look then verifies, the pair verifies (the harder set's square thumbnail of a toned
    cover was lost so: ORB (9, 89) kept over SIFT (29, 86) by agreement).  Here the rule asks ORB for more inliers
    than any look has, and a SIFT look stands in that meets it at a lower agreement."""
    from tiktok_top10.dedup.verify import pair_match

    class VerifyingSift:
        calls = 0

        def match(self, small_a, small_b, enough, contained):
            self.calls += 1
            return enough[0], enough[1] + 1

    cover = make_cover("coffee")
    looks = [_look(cover), _look(_jpeg(cover.resize((240, 427), Image.BILINEAR), 40))]
    inliers, _ = pair_match(looks, 0, looks, 1, contained=CONTAINED)
    rule = (inliers + 1, 40)  # one inlier more than ORB finds
    orb = pair_match(looks, 0, looks, 1, enough=rule, contained=CONTAINED)
    assert 0 < orb[0] < rule[0] and orb[1] > rule[1] + 1  # ORB tried and failed, agreeing more than SIFT will
    sift = VerifyingSift()
    assert pair_match(looks, 0, looks, 1, enough=rule, contained=CONTAINED, sift=sift) == (rule[0], rule[1] + 1)
    assert sift.calls == 1


def test_sift_look_does_not_verify_a_shared_caption_band():
    from tiktok_top10.dedup.verify import SiftLook, pair_match

    for a, b in (("chelsea", "rocket"), ("coffee", "astronaut")):
        looks = [_look(_band(make_cover(a))), _look(_band(make_cover(b)))]
        sift_alone = SiftLook().match(looks[0][2], looks[1][2], enough=(10, 40), contained=CONTAINED)
        assert sift_alone[1] < 35, (a, b, sift_alone)  # the band's glyphs may line up; the pictures do not
        score = pair_match(looks, 0, looks, 1, enough=(10, 40), contained=CONTAINED, sift=SiftLook())
        assert score[1] < 35, (a, b, score)


def test_a_voted_pair_gets_the_look_at_the_covers_as_they_are_only():
    """A mirrored re-upload verifies through the ORB look at the mirror image.  The keypoint votes come from the
    covers' descriptors as they are, so a pair they brought gets that look only: the mirror, like the SIFT look, is
    for the pairs the CNN descriptors found."""
    from tiktok_top10.dedup.grouping import Pairs
    from tiktok_top10.dedup.verify import pair_match, pair_scores

    cover = make_cover("coffee")
    looks = [_look(cover), _look(_jpeg(cover.transpose(Image.Transpose.FLIP_LEFT_RIGHT), 80))]
    rule = (10, 40)
    as_they_are = pair_match(looks, 0, looks, 1, enough=rule, mirror=False)
    with_mirror = pair_match(looks, 0, looks, 1, enough=rule)
    assert as_they_are[0] < rule[0] or as_they_are[1] < rule[1]  # not the same picture as it is
    assert with_mirror[0] >= 3 * rule[0] and with_mirror[1] >= 80  # the same picture mirrored
    one = (np.zeros(1, np.int64), np.ones(1, np.int64), np.zeros(1, np.float32))
    for voted, expected in ((None, with_mirror), (np.array([False]), with_mirror), (np.array([True]), as_they_are)):
        assert tuple(pair_scores(looks, Pairs(*one, voted), enough=rule)[0]) == tuple(expected), voted
