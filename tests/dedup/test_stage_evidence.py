"""The evidence on a duplicate row when the grouping joined it to the kept item through another member (a chain):
the row names that member, and still shows the second look at the pair with the kept item itself."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from dedup_covers import make_cover, make_reupload

from tiktok_top10.dedup.images import decode_cover
from tiktok_top10.dedup.stage import Cover, Encoded, Thresholds, _row, search
from tiktok_top10.dedup.verify import detect, pair_match
from tiktok_top10.models import VideoItem


def _item(vid: str, views: int) -> VideoItem:
    return VideoItem(id=vid, category="main", author_unique_id="creator", views=views, likes=1,
                     url=f"https://www.tiktok.com/@creator/video/{vid}", thumbnail=f"thumbnails/{vid}.jpg")


def test_a_chained_duplicate_names_the_link_and_shows_its_own_pair(tmp_path):
    astronaut = make_cover("astronaut")
    covers, looks = [], []
    for vid, views, image in (("1", 900, astronaut), ("2", 500, make_reupload(astronaut, 7)),
                              ("3", 100, make_reupload(astronaut, 2, ("crop", "tone")))):
        path = tmp_path / f"{vid}.jpg"
        image.save(path, quality=90)
        covers.append(Cover(_item(vid, views), path, digest=vid))
        looks.append(detect(decode_cover(path)[1]))
    # global descriptors laid out so that only 1~2 and 2~3 are candidates (cosine 0.9), 1~3 is not (0.62):
    # 3 joins the group through 2, and the kept item is 1 (most views)
    angles = np.radians([0.0, 25.84, 51.68])
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    rows = {c.item.key: _row(c.item) for c in covers}
    limits = Thresholds(cosine=0.85, min_inliers=12, min_agreement=30)

    search(Encoded(covers, vectors, looks), limits, rows)

    assert rows["main/1"]["status"] == "kept"
    direct = rows["main/2"]
    assert (direct["duplicate_of"], direct["matched_by"], direct["via"]) == ("main/1", "cover", None)
    assert direct["inliers"] >= 12 and direct["agreement"] >= 30
    chained = rows["main/3"]
    assert (chained["duplicate_of"], chained["matched_by"], chained["via"]) == ("main/1", "chain", "main/2")
    assert chained["similarity"] == round(float(vectors[2] @ vectors[0]), 4)
    # the look at (kept, chained) itself, taken though the grouping never compared them
    expected = pair_match(looks, 0, looks, 2, enough=(12, 30))
    assert (chained["inliers"], chained["agreement"]) == expected and expected[0] > 0


def test_crop_robust_search_gives_a_failed_orb_look_the_sift_look(tmp_path):
    """A tiny re-encoded thumbnail of a heavy crop, a candidate of its cover: ORB cannot verify it, so today's
    search keeps it; the crop-robust search's SIFT look joins it, and its row shows that look."""
    import io

    from PIL import Image

    from tiktok_top10.dedup.grouping import CropRobust

    cover = make_cover("chelsea")
    w, h = cover.size
    crop = cover.crop((round(0.4 * w), round(0.35 * h), w, round(0.95 * h)))
    buf = io.BytesIO()
    crop.resize((120, round(crop.size[1] * 120 / crop.size[0])), Image.BILINEAR).save(buf, "JPEG", quality=25)
    (tmp_path / "1.jpg").write_bytes(buf.getvalue())
    cover.save(tmp_path / "0.jpg", quality=90)
    covers = [Cover(_item("0", 900), tmp_path / "0.jpg", digest="0"), Cover(_item("1", 100), tmp_path / "1.jpg",
                                                                             digest="1")]
    looks = [detect(decode_cover(c.path)[1]) for c in covers]
    vectors = np.asarray([[1.0, 0.0], [1.0, 0.0]], np.float32)  # a candidate pair, whatever found it
    regions = np.stack([vectors[:, None, :]] * 4, axis=1).reshape(2, 4, 2).astype(np.float16)
    limits = Thresholds(cosine=0.78, min_inliers=10, min_agreement=40)
    outcomes = {}
    calibrated = CropRobust.calibrated("efficientnet-lite0", precision="fp32")
    for name, robust in (("today", None), ("no sift", replace(calibrated, sift_look=False)),
                         ("crop-robust", calibrated)):
        rows = {c.item.key: _row(c.item) for c in covers}
        search(Encoded(covers, vectors, looks, regions=regions), limits, rows, robust)
        outcomes[name] = rows["main/1"]
    assert outcomes["today"]["status"] == "kept" and outcomes["no sift"]["status"] == "kept"
    joined = outcomes["crop-robust"]
    assert joined["status"] == "duplicate" and joined["duplicate_of"] == "main/0" and joined["matched_by"] == "cover"
    assert joined["inliers"] >= 10 and joined["agreement"] >= 40


def test_crop_robust_search_lets_keypoint_votes_pick_between_equally_weak_regional_pairs(tmp_path):
    """A tiny recoloured corner of a cover is as far from its original by the regional descriptors (between the
    calibrated vote floor and regional threshold) as from an unrelated cover: the regions cannot tell which pair
    to look at.  With
    keypoint votes the search looks at each cover's best voted pair and joins the corner to its original; without
    them (``votes_per_cover=0``) the corner stays kept; the unrelated cover stays kept either way."""
    from dedup_covers import tiny_recoloured_corner

    from tiktok_top10.dedup.grouping import WHOLE_REGIONS, CropRobust

    astronaut = make_cover("astronaut")
    images = {"0": astronaut, "1": tiny_recoloured_corner(astronaut), "2": make_cover("coffee"),
              "3": make_cover("rocket")}
    covers = []
    for vid, image in images.items():
        image.save(tmp_path / f"{vid}.jpg", quality=90)
        covers.append(Cover(_item(vid, 1000 - 100 * int(vid)), tmp_path / f"{vid}.jpg", digest=vid))
    looks = [detect(decode_cover(c.path)[1]) for c in covers]
    calibrated = CropRobust.calibrated("efficientnet-lite0", precision="fp32")
    weak = (calibrated.vote_floor + calibrated.region_threshold) / 2
    vectors = np.eye(4, dtype=np.float32)  # no global pair
    regions = np.repeat(vectors[:, None, :], WHOLE_REGIONS + 1, axis=1)
    # one window each of the original and of the unrelated cover lies at ``weak`` of the corner, whole
    regions[0, WHOLE_REGIONS] = np.sqrt(1 - weak ** 2) * vectors[0] + weak * vectors[1]
    regions[2, WHOLE_REGIONS] = np.sqrt(1 - weak ** 2) * vectors[2] + weak * vectors[1]
    limits = Thresholds(cosine=0.78, min_inliers=10, min_agreement=40)
    outcomes = {}
    for name, robust in (("without votes", replace(calibrated, votes_per_cover=0)), ("with votes", calibrated)):
        assert robust.vote_floor + 0.005 < weak < robust.region_threshold - 0.005  # fp16 regions keep it there
        rows = {c.item.key: _row(c.item) for c in covers}
        search(Encoded(covers, vectors, looks, regions=regions.astype(np.float16)), limits, rows, robust)
        outcomes[name] = rows
    assert outcomes["without votes"]["main/1"]["status"] == "kept"
    joined = outcomes["with votes"]["main/1"]
    assert joined["status"] == "duplicate" and joined["duplicate_of"] == "main/0" and joined["matched_by"] == "cover"
    for rows in outcomes.values():
        assert rows["main/2"]["status"] == "kept" and rows["main/3"]["status"] == "kept"
