"""Calibration: the selection rule is code and picks what it says; the split is by video and seeded; the
package's calibration.json is what `make calibrate` writes; without ../shared/reference it refuses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tiktok_top10.dedup import calibration as cal
from tiktok_top10.dedup.evaluation import split_by_video

REPO = Path(__file__).resolve().parents[2]


def point(threshold, recall, merges=0, candidates=100, min_inliers=15, min_agreement=30):
    return {"threshold": threshold, "min_inliers": min_inliers, "min_agreement": min_agreement,
            "recall": recall, "merges": merges, "candidates": candidates}


def test_the_rule_never_takes_a_point_that_merges_distinct_videos():
    assert cal.choose([point(0.64, 1.0, merges=1), point(0.70, 0.5, merges=2)]) is None
    assert cal.choose([point(0.64, 1.0, merges=1), point(0.70, 0.9)])["threshold"] == 0.70


def test_the_rule_gives_a_little_recall_for_a_much_cheaper_second_look():
    best_recall = point(0.68, 0.985, candidates=9000)
    cheaper = point(0.74, 0.985 - cal.RECALL_GIVE, candidates=1500)
    too_costly_in_recall = point(0.80, 0.985 - 2 * cal.RECALL_GIVE, candidates=300)
    assert cal.choose([best_recall, cheaper, too_costly_in_recall]) is cheaper
    # equal cost and recall: the stricter geometry (further from a merge)
    loose, strict = point(0.74, 0.98, min_agreement=20), point(0.74, 0.98, min_agreement=35)
    assert cal.choose([loose, strict]) is strict


def test_the_split_is_by_video_seeded_and_disjoint():
    ids = [str(7_000 + k // 3) for k in range(300)]  # 100 videos, three images each
    first = split_by_video(ids, seed=14, calibration_share=0.5)
    assert first == split_by_video(list(reversed(ids)), seed=14, calibration_share=0.5)
    calibration_videos, held_out = first
    assert len(calibration_videos) == len(held_out) == 50 and not set(calibration_videos) & set(held_out)
    assert split_by_video(ids, seed=15, calibration_share=0.5) != first


def test_calibrate_without_the_reference_says_so_and_fails(tmp_path):
    run = subprocess.run([sys.executable, str(REPO / "bench" / "calibrate_dedup.py"), "--shared", str(tmp_path),
                          "--out", str(tmp_path / "calibration.json")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert "is absent" in run.stderr and "reference" in run.stderr
    assert not (tmp_path / "calibration.json").exists()


def test_the_calibration_file_ships_as_package_data():
    text = (REPO / "pyproject.toml").read_text()
    assert "dedup/calibration.json" in text
    assert cal.CALIBRATION_FILE.is_file() and cal.entries()


@pytest.mark.shared
@pytest.mark.slow
def test_make_calibrate_reproduces_the_committed_file(shared_reference):
    """`make calibrate --check` on the fingerprint cache (minutes without it): the committed file, byte for byte."""
    run = subprocess.run([sys.executable, str(REPO / "bench" / "calibrate_dedup.py"), "--check",
                          "--shared", str(shared_reference.parent)], capture_output=True, text=True, timeout=3600)
    assert run.returncode == 0, run.stdout + run.stderr


def _calibrate_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("calibrate_dedup", REPO / "bench" / "calibrate_dedup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LITE0_SHA = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


@pytest.mark.parametrize(("flags", "expected"), [
    ("flags : fpu sse2 avx2 avx512f", ["fp32"]),
    ("flags : fpu avx2 avx512f avx512_bf16", ["fp32", "bf16"]),
    ("flags : fpu avx2 avx512f avx512_vnni", ["fp32", "int8"]),
    ("flags : fpu avx512_vnni avx512_bf16 amx_bf16 amx_int8 amx_tile", ["fp32", "bf16", "int8"]),
])
def test_calibrate_measures_each_precision_the_cpu_runs_natively(flags, expected):
    from tiktok_top10.dedup import precision as prec

    calibrate = _calibrate_module()
    assert calibrate.precisions_here(prec, flags, "efficientnet-lite0", LITE0_SHA) == expected


def test_calibrate_skips_int8_for_weights_whose_int8_model_has_no_passing_gate():
    from tiktok_top10.dedup import precision as prec

    calibrate = _calibrate_module()
    assert calibrate.precisions_here(prec, "flags : avx512_vnni", "efficientnet-lite0", "0" * 64) == ["fp32"]


def test_a_bf16_or_int8_entry_names_the_cpu_flags_it_was_measured_with():
    from tiktok_top10.dedup import precision as prec

    calibrate = _calibrate_module()
    amx = "flags : fpu avx512_vnni avx512_bf16 amx_bf16 amx_int8 amx_tile"
    assert calibrate.precision_flags(prec, amx, "fp32") == []
    assert calibrate.precision_flags(prec, amx, "bf16") == ["amx_bf16", "avx512_bf16"]
    assert calibrate.precision_flags(prec, amx, "int8") == ["amx_int8", "avx512_vnni"]
    # the committed file: each entry's flags say which CPU class reproduces it; fp32 entries name none
    for entry in cal.entries():
        assert bool(entry.get("measured_with_flags")) == (entry["precision"] != "fp32"), entry


def test_the_committed_file_has_an_entry_per_precision_for_lite0():
    assert {e["precision"] for e in cal.entries() if e["backbone"] == "efficientnet-lite0"} >= {"fp32", "bf16", "int8"}


def test_a_precision_without_its_own_entry_uses_the_fp32_one_and_says_so(tmp_path, caplog):
    import json

    def entry(precision, threshold):
        return {"backbone": "efficientnet-lite0", "precision": precision, "weights_sha256": LITE0_SHA,
                "threshold": threshold, "min_inliers": 10, "min_agreement": 40}

    path = tmp_path / "calibration.json"
    path.write_text(json.dumps({"entries": [entry("fp32", 0.78), entry("bf16", 0.76)]}))
    assert cal.thresholds("efficientnet-lite0", precision="bf16", weights_sha256=LITE0_SHA, path=path)[0] == 0.76
    assert not caplog.records
    with caplog.at_level("WARNING"):
        assert cal.thresholds("efficientnet-lite0", precision="int8", weights_sha256=LITE0_SHA, path=path)[0] == 0.78
    assert "no int8 calibration for efficientnet-lite0; using its fp32 entry" in caplog.text


def crop_point(region_threshold, vote_floor, contained, recall, merges=0, candidates=100):
    return {"region_threshold": region_threshold, "vote_floor": vote_floor, "contained_min_agreement": contained,
            "recall": recall, "merges": merges, "candidates": candidates}


def test_the_crop_robust_rule_is_the_same_rule_with_its_own_strictness_and_no_recall_given():
    rule = {"strictness": cal.CROP_STRICTNESS, "give": cal.CROP_RECALL_GIVE}
    merging = crop_point(0.64, 0.52, 0.40, 1.0, merges=1, candidates=50)
    cheaper = crop_point(0.86, 0.58, 0.55, 0.959, candidates=352)  # one pair fewer: regions that add nothing
    best = crop_point(0.76, 0.58, 0.60, 0.966, candidates=383)
    costlier = crop_point(0.70, 0.58, 0.60, 0.966, candidates=494)
    assert cal.choose([merging, cheaper, best, costlier], **rule) is best
    assert cal.choose([merging, cheaper, best, costlier], cal.CROP_STRICTNESS) is cheaper  # the global rule's give
    # equal candidates and recall: the higher contained share first, then the higher vote floor and region cosine
    loose, strict = crop_point(0.72, 0.60, 0.45, 0.95), crop_point(0.70, 0.58, 0.55, 0.95)
    assert cal.choose([loose, strict], **rule) is strict
    lower, higher = crop_point(0.70, 0.58, 0.5, 0.9), crop_point(0.70, 0.60, 0.5, 0.9)
    assert cal.choose([lower, higher], **rule) is higher
    assert cal.choose([merging], **rule) is None


def test_the_crop_robust_grid_measures_no_vote_floor_at_or_above_its_regional_cosine():
    grid = cal.crop_grid()
    assert grid and all(floor < region for region, floor, _ in grid)
    assert len(grid) == len(set(grid))
    assert {c for _, _, c in grid} == set(cal.CROP_GRID_CONTAINED)
    assert all(0 < c < 1 for c in cal.CROP_GRID_CONTAINED)  # what verify.agreement(contained=...) takes


def test_the_committed_crop_robust_values_come_from_make_calibrate_and_every_entry_resolves_to_some(caplog):
    """make calibrate wrote the crop-robust values next to the fp32 entry's global rule (and next to each entry it
    measured here), chosen on the harder set's calibration split with no distinct videos merged; an entry kept
    from another CPU class without them uses the fp32 entry's, and says so; the stage reads them
    (grouping.CropRobust.calibrated)."""
    from tiktok_top10.dedup.grouping import CropRobust

    document = cal.load()
    assert document["crop_robust_rule"]["code"].endswith("choose(points, CROP_STRICTNESS, CROP_RECALL_GIVE)")
    assert document["crop_robust_rule"]["recall_give"] == cal.CROP_RECALL_GIVE
    fp32 = [e for e in cal.entries() if e["precision"] == "fp32"]
    assert fp32 and all("crop_robust" in e for e in fp32)
    for entry in cal.entries():
        own = entry.get("crop_robust")
        robust = own or next(e["crop_robust"] for e in fp32 if e["weights_sha256"] == entry["weights_sha256"])
        assert robust["calibration_split"]["merges"] == 0 and robust["calibration_split"]["banded_merged"] == 0
        assert (robust["region_threshold"], robust["vote_floor"], robust["contained_min_agreement"]) in cal.crop_grid()
        caplog.clear()
        with caplog.at_level("WARNING"):
            rule = CropRobust.calibrated(entry["backbone"], entry["weights_sha256"], entry["precision"])
        assert (rule.region_threshold, rule.vote_floor, rule.contained_min_agreement) == (
            robust["region_threshold"], robust["vote_floor"], robust["contained_min_agreement"])
        assert ("has no crop-robust values; using its fp32 entry's" in caplog.text) == (own is None), entry


def test_an_entry_without_crop_robust_values_refuses_the_crop_robust_dedup(tmp_path):
    """A calibration.json written before the crop-robust values (or for weights whose grid had no admissible
    point): the crop-robust dedup names `make calibrate` rather than run on values nobody measured."""
    import json

    from tiktok_top10.dedup.grouping import CropRobust

    path = tmp_path / "calibration.json"
    path.write_text(json.dumps({"entries": [{"backbone": "efficientnet-lite0", "precision": "fp32",
                                             "weights_sha256": LITE0_SHA, "threshold": 0.78, "min_inliers": 10,
                                             "min_agreement": 40}]}))
    assert cal.thresholds("efficientnet-lite0", weights_sha256=LITE0_SHA, path=path) == (0.78, 10, 40)
    with pytest.raises(cal.CalibrationMissing, match="no crop-robust calibration.*make calibrate"):
        CropRobust.calibrated("efficientnet-lite0", LITE0_SHA, "fp32", path=path)


def test_the_harder_split_is_by_video_and_keeps_each_banded_pair_on_one_side():
    """make calibrate chooses the crop-robust values on one side and make eval-dedup-hard reports the other: a
    video's cover and its re-upload are on one side, and so are the two distinct videos of one caption band (split
    across the sides, the pair would be a hard negative of neither)."""
    hard = _calibrate_module().hard_module()
    images = []
    for k in range(60):
        vid = str(7_100 + k)
        images.append(hard.HardImage(Path(f"{vid}.jpg"), vid, "original"))
        if k < 30:
            images.append(hard.HardImage(Path(f"{vid}_hard.jpg"), vid, "reupload:heavy_crop+meme+tone"))
    for pair in range(15):
        for vid in (str(7_130 + 2 * pair), str(7_131 + 2 * pair)):
            images.append(hard.HardImage(Path(f"{vid}_band{pair}.jpg"), vid, f"band:{pair}"))
    calibration, held_out = hard.hard_split(images, cal.SPLIT_SEED, cal.CALIBRATION_SHARE)
    assert not set(calibration) & set(held_out) and set(calibration) | set(held_out) == {e.video_id for e in images}
    assert hard.hard_split(list(reversed(images)), cal.SPLIT_SEED, cal.CALIBRATION_SHARE) == (calibration, held_out)
    for pair in range(15):
        a, b = str(7_130 + 2 * pair), str(7_131 + 2 * pair)
        assert (a in calibration) == (b in calibration), pair
    banded_in_calibration = sum(str(7_130 + 2 * pair) in calibration for pair in range(15))
    assert 0 < banded_in_calibration < 15  # the pairs are shared between the sides, not all sent to one


def test_the_harder_sets_fingerprint_cache_names_the_images_it_was_asked_for(tmp_path):
    """The cache is keyed by the images' bytes, so a clone elsewhere (its originals under another ``../shared``)
    reads the same file: what it returns names this call's images, not the ones the cache was made from."""
    import shutil

    from dedup_covers import make_cover

    hard = _calibrate_module().hard_module()
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    for name in ("astronaut", "coffee"):
        make_cover(name).save(first / f"{name}.jpg", quality=90)
    (first / "broken.jpg").write_bytes(b"not a jpeg")
    shutil.copytree(first, second)

    def images(root):
        return [hard.HardImage(root / f"{n}.jpg", n, "original") for n in ("astronaut", "broken", "coffee")]

    cache = tmp_path / "cache"
    made_paths = hard.fingerprint_cached(images(first), "efficientnet-lite0", "fp32", Path("/nonexistent"), 1,
                                         cache, regions=False)[1]
    assert len(list(cache.glob("hard-*.pkl"))) == 1
    read = hard.fingerprint_cached(images(second), "efficientnet-lite0", "fp32", Path("/nonexistent"), 1,
                                   cache, regions=False)[1]
    assert len(list(cache.glob("hard-*.pkl"))) == 1  # read, not made again
    assert made_paths.paths == [str(first / "astronaut.jpg"), str(first / "coffee.jpg")]
    assert read.paths == [str(second / "astronaut.jpg"), str(second / "coffee.jpg")]
    assert [s["path"] for s in read.skipped] == [str(second / "broken.jpg")]
    assert (read.globals == made_paths.globals).all()


def test_the_committed_crop_robust_values_were_chosen_under_the_stages_bounds():
    """The grid varies three values; the per-cover bounds, the SIFT look and the descriptor input are fixed while it
    runs.  A change to any of them (VOTES_PER_COVER, say) without `make calibrate` would run values chosen for
    another rule."""
    bounds = _calibrate_module().crop_robust_bounds()
    assert cal.load()["crop_robust_rule"]["bounds"] == bounds
    assert bounds["votes_per_cover"] >= 1 and bounds["per_cover"] >= 1
