"""The dedup stage with ``Settings.dedup_crop_robust`` (``TIKTOK_TOP10_DEDUP_CROP_ROBUST``): heavy crops and
square thumbnails today's stage keeps as new videos are found, within the day and against the published history,
and the fingerprint memory of either mode is never read by the other (counted in the summary)."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from dedup_covers import make_cover
from PIL import Image, ImageEnhance
from test_stage import DAY1, DAY2, _item, _write_day

from tiktok_top10.config import Settings
from tiktok_top10.dedup import run_dedup
from tiktok_top10.dedup.calibration import crop_robust_limits
from tiktok_top10.storage import atomic_write_json, read_json, read_jsonl


def heavy_crop(img: Image.Image) -> Image.Image:
    """62 % x 60 % of the frame (37 % of its area), off centre: the kind the issue's re-uploaders cut."""
    w, h = img.size
    return img.crop((0, round(0.3 * h), round(0.62 * w), round(0.9 * h)))


def square_thumbnail(img: Image.Image) -> bytes:
    """The 9:16 cover's top square, re-toned (less colour, darker, an orange cast) and shrunk to a 180-px
    thumbnail at JPEG quality 35: globally far from the cover (cosine ~0.72), a region of it."""
    w, _ = img.size
    square = ImageEnhance.Color(img.crop((0, 0, w, w))).enhance(0.4)
    square = square.point([round(255 * (v / 255) ** 1.5) for v in range(256)] * 3)
    square = Image.blend(square, Image.new("RGB", square.size, (200, 120, 40)), 0.2).resize((180, 180), Image.BILINEAR)
    buf = io.BytesIO()
    square.save(buf, "JPEG", quality=35)
    return buf.getvalue()


@pytest.fixture(scope="module")
def robust_fingerprinter():
    from tiktok_top10.dedup.fingerprint import Fingerprinter
    from tiktok_top10.dedup.images import DescriptorInput

    return Fingerprinter("efficientnet-lite0", models_dir=Path("/nonexistent"), regions=True,
                         descriptor_input=DescriptorInput())


def _run(root: Path, day: dt.date, robust: bool, fingerprinter, categories=("main",)) -> dict[str, dict]:
    settings = Settings(data_root=root, models_dir=Path("/nonexistent"), dedup_crop_robust=robust)
    out = run_dedup(settings, day, list(categories), fingerprinter=fingerprinter)
    return {r["key"]: r for r in read_jsonl(out)}


def _day_with_cut_reuploads(root: Path):
    coffee, astronaut = make_cover("coffee"), make_cover("astronaut")
    return _write_day(root, DAY1, {"main": [
        (_item("main", "100", 9000, 10), coffee),
        (_item("main", "101", 500, 1), heavy_crop(coffee)),
        (_item("main", "200", 8000, 10), astronaut),
        (_item("main", "201", 400, 1), square_thumbnail(astronaut)),
        (_item("main", "300", 700, 1), make_cover("rocket")),
        (_item("main", "400", 600, 1), make_cover("chelsea")),
    ]})


def test_crop_robust_stage_finds_cut_reuploads_todays_stage_keeps(tmp_path, lite_fingerprinter,
                                                                   robust_fingerprinter):
    today_root, robust_root = tmp_path / "today", tmp_path / "robust"
    _day_with_cut_reuploads(today_root)
    layout = _day_with_cut_reuploads(robust_root)
    today = _run(today_root, DAY1, False, lite_fingerprinter)
    robust = _run(robust_root, DAY1, True, robust_fingerprinter)
    assert today["main/101"]["status"] == "kept" and today["main/201"]["status"] == "kept"
    summary = read_json(layout.work_dir / "dedup_summary.json")
    rule = (summary["min_inliers"], summary["min_agreement"])
    for key, original in (("main/101", "main/100"), ("main/201", "main/200")):
        row = robust[key]
        assert row["status"] == "duplicate" and row["duplicate_of"] == original and row["matched_by"] == "cover"
        assert row["inliers"] >= rule[0] and row["agreement"] >= rule[1]
    assert {k for k, r in robust.items() if r["status"] == "kept"} == {"main/100", "main/200", "main/300", "main/400"}
    assert summary["crop_robust"] is True and summary["region_per_cover"] >= 1 and summary["sift_look"] is True
    # the values make calibrate derived for these weights at this precision, and the summary says which
    calibrated = crop_robust_limits(robust_fingerprinter.name, robust_fingerprinter.choice.weights_sha256,
                                    precision=robust_fingerprinter.precision)
    assert summary["descriptor_input"] == "w128ac2"
    assert summary["region_threshold"] == pytest.approx(calibrated["region_threshold"])
    assert summary["contained_min_agreement"] == pytest.approx(calibrated["contained_min_agreement"])
    assert summary["votes_per_cover"] >= 1 and summary["vote_floor"] == pytest.approx(calibrated["vote_floor"])
    folders = sorted(p.name for p in (robust_root / "cache" / "fingerprints").iterdir())
    assert len(folders) == 1 and folders[0].endswith("-w128ac2")


def test_crop_robust_history_matches_a_cut_reupload_of_a_published_video(tmp_path, robust_fingerprinter):
    coffee = make_cover("coffee")
    layout1 = _write_day(tmp_path, DAY1, {"main": [(_item("main", "100", 9000, 10), coffee),
                                                   (_item("main", "300", 700, 1), make_cover("rocket"))]})
    _run(tmp_path, DAY1, True, robust_fingerprinter)
    atomic_write_json(layout1.top10_json("main"), [{"id": "main01", "url": "https://www.tiktok.com/@creator/video/100"}])
    layout2 = _write_day(tmp_path, DAY2, {"main": [(_item("main", "777", 50, 1), heavy_crop(coffee)),
                                                   (_item("main", "800", 50, 1), make_cover("chelsea"))]})
    rows = _run(tmp_path, DAY2, True, robust_fingerprinter)
    match = rows["main/777"]["matched_history"]
    assert match is not None and match["key"] == "main/100" and match["day"] == "2026-01-10"
    summary = read_json(layout2.work_dir / "dedup_summary.json")
    assert match["inliers"] >= summary["min_inliers"] and match["agreement"] >= summary["min_agreement"]
    assert rows["main/800"]["matched_history"] is None
    assert summary["history_matches"] == 1 and summary["reused_from_cache"] == 0


def test_switching_the_mode_counts_the_days_the_other_mode_remembered(tmp_path, lite_fingerprinter,
                                                                        robust_fingerprinter):
    """Descriptors of one mode are never compared with the other's: a day remembered only by the other mode is
    not read, and the summary names it."""
    _write_day(tmp_path, DAY1, {"main": [(_item("main", "100", 9000, 10), make_cover("coffee"))]})
    _run(tmp_path, DAY1, False, lite_fingerprinter)
    layout2 = _write_day(tmp_path, DAY2, {"main": [(_item("main", "100", 9100, 10), make_cover("coffee"))]})
    _run(tmp_path, DAY2, True, robust_fingerprinter)
    summary = read_json(layout2.work_dir / "dedup_summary.json")
    assert summary["memory_other_format_days"] == ["2026-01-10"] and summary["memory_older_format_days"] == []
    assert summary["reused_from_cache"] == 0 and summary["fingerprinted"] == 1  # the same cover, computed again
    _run(tmp_path, DAY2, False, lite_fingerprinter)  # and back: day 1 is today's mode's own again
    summary = read_json(layout2.work_dir / "dedup_summary.json")
    assert summary["memory_other_format_days"] == [] and summary["reused_from_cache"] == 1
    assert summary["crop_robust"] is False and summary["region_threshold"] is None
    assert summary["votes_per_cover"] is None and summary["vote_floor"] is None


def test_crop_robust_stage_refuses_a_fingerprinter_without_regions(tmp_path, lite_fingerprinter):
    _write_day(tmp_path, DAY1, {"main": [(_item("main", "100", 9000, 10), make_cover("coffee"))]})
    with pytest.raises(ValueError, match="crop-robust"):
        _run(tmp_path, DAY1, True, lite_fingerprinter)


def test_crop_robust_setting_from_the_environment(monkeypatch):
    monkeypatch.setenv("TIKTOK_TOP10_DEDUP_CROP_ROBUST", "1")
    assert Settings.from_env().dedup_crop_robust is True
    monkeypatch.setenv("TIKTOK_TOP10_DEDUP_CROP_ROBUST", "0")
    assert Settings.from_env().dedup_crop_robust is False
    monkeypatch.delenv("TIKTOK_TOP10_DEDUP_CROP_ROBUST")
    assert Settings.from_env().dedup_crop_robust is False
