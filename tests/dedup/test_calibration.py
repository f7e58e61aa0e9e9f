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
