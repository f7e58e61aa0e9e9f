"""``run_dedup``: the dedup.jsonl contract, the keep rule, skips, a missing category, cache reuse across days,
and history matches of re-uploads under a new id."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from dedup_covers import make_cover, make_reupload
from PIL import Image

from tiktok_top10.config import Settings
from tiktok_top10.dedup import run_dedup
from tiktok_top10.models import VideoItem
from tiktok_top10.storage import DayLayout, atomic_write_json, atomic_write_jsonl, read_json, read_jsonl

DAY1 = dt.date(2026, 1, 10)
DAY2 = dt.date(2026, 1, 11)
ROW_KEYS = {"key", "category", "id", "status", "duplicate_of", "similarity", "reason", "matched_history",
            "inliers", "agreement", "matched_by", "via"}


def _item(category, vid, views, likes, thumbnail=True, error=None):
    return VideoItem(id=vid, category=category, author_unique_id="creator", views=views, likes=likes,
                     url=f"https://www.tiktok.com/@creator/video/{vid}",
                     thumbnail=f"thumbnails/{vid}.jpg" if thumbnail else None, thumbnail_error=error)


def _write_day(root: Path, day, entries):
    """entries: category -> list of (VideoItem, PIL image | bytes | None)."""
    layout = DayLayout(root, day)
    for category, rows in entries.items():
        thumbs = layout.raw_thumbnails(category)
        thumbs.mkdir(parents=True, exist_ok=True)
        for item, image in rows:
            if isinstance(image, bytes):
                (thumbs / f"{item.id}.jpg").write_bytes(image)
            elif image is not None:
                image.save(thumbs / f"{item.id}.jpg", quality=88)
        atomic_write_jsonl(layout.raw_items(category), [it.to_json() for it, _ in sorted(rows, key=lambda r: r[0].id)])
    return layout


@pytest.fixture(scope="module")
def day1(tmp_path_factory, lite_fingerprinter):
    root = tmp_path_factory.mktemp("data")
    astronaut, coffee, chelsea = make_cover("astronaut"), make_cover("coffee"), make_cover("chelsea")
    layout = _write_day(root, DAY1, {
        "main": [
            (_item("main", "100", 5000, 10), astronaut),
            (_item("main", "300", 800, 5), chelsea),
            (_item("main", "400", 100, 1, thumbnail=False, error="http 403"), None),
            (_item("main", "500", 100, 1), b"\xff\xd8\xff garbage"),
        ],
        "dance": [
            # a re-upload of 100 with more views: it is the one kept
            (_item("dance", "200", 9000, 3), make_reupload(astronaut, 7)),
            (_item("dance", "300", 800, 5), chelsea),  # same id as main/300: one video
        ],
        "food": [
            (_item("food", "600", 1000, 50), coffee),
            (_item("food", "601", 1000, 50), make_reupload(coffee, 9, ("crop", "tone", "resize"))),
        ],
        # "challenge" has no items.jsonl: its crawl failed
    })
    settings = Settings(data_root=root, models_dir=Path("/nonexistent"))
    out = run_dedup(settings, DAY1, ["main", "dance", "challenge", "food"], fingerprinter=lite_fingerprinter)
    return settings, layout, out


def test_rows_follow_the_contract(day1):
    _, layout, out = day1
    assert out == layout.work_dir / "dedup.jsonl"
    rows = list(read_jsonl(out))
    assert [r["key"] for r in rows] == sorted(r["key"] for r in rows)
    assert all(set(r) == ROW_KEYS for r in rows)
    assert len(rows) == 8


def test_keep_most_viewed_and_tie_breaks(day1):
    rows = {r["key"]: r for r in read_jsonl(day1[2])}
    assert rows["dance/200"]["status"] == "kept"
    assert rows["main/100"] == {**rows["main/100"], "status": "duplicate", "duplicate_of": "dance/200"}
    assert 0 < rows["main/100"]["similarity"] <= 1
    # same id in two categories: main comes before dance in CATEGORIES
    assert rows["main/300"]["status"] == "kept"
    assert rows["dance/300"]["duplicate_of"] == "main/300"
    # equal views and likes, same category: the smaller id is kept
    assert rows["food/600"]["status"] == "kept" and rows["food/601"]["duplicate_of"] == "food/600"


def test_duplicates_carry_the_evidence_of_the_pair_with_the_kept_item(day1):
    rows = {r["key"]: r for r in read_jsonl(day1[2])}
    summary = read_json(day1[1].work_dir / "dedup_summary.json")
    for key, kept, how in (("main/100", "dance/200", "cover"), ("food/601", "food/600", "cover"),
                           ("dance/300", "main/300", "same_id")):
        row = rows[key]
        assert (row["duplicate_of"], row["matched_by"], row["via"]) == (kept, how, None), row
        # the second look that verified the pair (verify.py): at least the calibrated rule
        assert row["similarity"] >= summary["threshold"]
        assert row["inliers"] >= summary["min_inliers"] and row["agreement"] >= summary["min_agreement"], row
    # a kept or skipped row has no pair to show
    for key in ("dance/200", "main/300", "food/600", "main/400", "main/500"):
        assert (rows[key]["inliers"], rows[key]["agreement"], rows[key]["matched_by"]) == (None, None, None)


def test_skips_have_reasons(day1):
    rows = {r["key"]: r for r in read_jsonl(day1[2])}
    assert rows["main/400"]["status"] == "skipped" and "http 403" in rows["main/400"]["reason"]
    assert rows["main/500"]["status"] == "skipped" and "undecodable" in rows["main/500"]["reason"]


def test_summary_counts(day1):
    summary = read_json(day1[1].work_dir / "dedup_summary.json")
    assert summary["backbone"] == "efficientnet-lite0"
    assert summary["missing_categories"] == ["challenge"]
    assert (summary["items"], summary["kept"], summary["duplicates"], summary["skipped"]) == (8, 3, 3, 2)
    assert summary["skipped_by_reason"] == {"no thumbnail": 1, "thumbnail undecodable": 1}
    assert summary["fingerprinted"] == 5  # main/300 and dance/300 share bytes and id: fingerprinted once
    assert summary["reused_from_cache"] == 0
    assert summary["weights_sha256"] and summary["threshold"] > 0
    assert summary["memory_older_format_days"] == []


def test_rerun_is_deterministic_and_reuses_fingerprints(day1, lite_fingerprinter):
    settings, layout, out = day1
    before = out.read_bytes()
    run_dedup(settings, DAY1, ["main", "dance", "challenge", "food"], fingerprinter=lite_fingerprinter)
    assert out.read_bytes() == before
    summary = read_json(layout.work_dir / "dedup_summary.json")
    assert summary["fingerprinted"] == 0 and summary["reused_from_cache"] == 6  # main/500 never decodes


def test_next_day_matches_published_history(day1, lite_fingerprinter):
    settings, layout1, _ = day1
    # day 1 published dance/200 (the astronaut video) and main/300
    published = [{"id": "main01", "url": "https://www.tiktok.com/@creator/video/200"},
                 {"id": "main02", "url": "https://www.tiktok.com/@creator/video/300"}]
    atomic_write_json(layout1.top10_json("main"), published)
    src = layout1.raw_thumbnails("dance")
    layout2 = _write_day(settings.data_root, DAY2, {
        "main": [
            (_item("main", "300", 900, 6), (src / "300.jpg").read_bytes()),  # same video, same bytes
            # a re-upload, under a new id, of the cover day 1 published (captioned, resized, re-toned)
            (_item("main", "700", 50, 1), make_reupload(Image.open(src / "200.jpg").convert("RGB"), 11,
                                                        ("caption", "resize", "tone"))),
            (_item("main", "800", 50, 1), make_cover("rocket")),
        ],
    })
    run_dedup(settings, DAY2, ["main"], fingerprinter=lite_fingerprinter)
    rows = {r["key"]: r for r in read_jsonl(layout2.work_dir / "dedup.jsonl")}
    match = rows["main/700"]["matched_history"]
    assert match["key"] == "dance/200" and match["day"] == "2026-01-10" and match["similarity"] > 0.5
    dedup_rule = read_json(layout1.work_dir / "dedup_summary.json")
    assert match["inliers"] >= dedup_rule["min_inliers"] and match["agreement"] >= dedup_rule["min_agreement"]
    assert rows["main/300"]["matched_history"] is None  # the same id again is not a re-upload
    assert rows["main/800"]["matched_history"] is None
    summary = read_json(layout2.work_dir / "dedup_summary.json")
    assert summary["history_matches"] == 1
    assert summary["reused_from_cache"] == 1 and summary["fingerprinted"] == 2


def test_a_day_remembered_only_in_the_older_format_is_counted_in_the_summary(tmp_path, lite_fingerprinter):
    """A memory folder named before the precision was part of it is not read; the summary says which days."""
    from tiktok_top10.dedup.memory import FingerprintMemory

    memory = FingerprintMemory(tmp_path, lite_fingerprinter.name, lite_fingerprinter.choice.weights_sha256,
                               lite_fingerprinter.precision)
    memory.older_format_dir.mkdir(parents=True)
    (memory.older_format_dir / "2026-01-10.npz").write_bytes(b"an older day's fingerprints")
    layout = _write_day(tmp_path, DAY2, {"main": [(_item("main", "800", 50, 1), make_cover("rocket"))]})
    run_dedup(Settings(data_root=tmp_path, models_dir=Path("/nonexistent")), DAY2, ["main"],
              fingerprinter=lite_fingerprinter)
    assert read_json(layout.work_dir / "dedup_summary.json")["memory_older_format_days"] == ["2026-01-10"]


def test_a_memory_that_cannot_be_saved_fails_the_run_before_its_files(tmp_path, lite_fingerprinter):
    """The day's memory is saved while the search runs: its failure (here its folder is a file) still fails the run,
    and no dedup.jsonl or summary claims a day whose fingerprints the next days will not find."""
    from tiktok_top10.dedup.memory import FingerprintMemory

    memory = FingerprintMemory(tmp_path, lite_fingerprinter.name, lite_fingerprinter.choice.weights_sha256,
                               lite_fingerprinter.precision)
    memory.dir.parent.mkdir(parents=True)
    memory.dir.write_bytes(b"not a folder")
    cover = make_cover("rocket")
    layout = _write_day(tmp_path, DAY2, {"main": [(_item("main", "800", 50, 1), cover),
                                                  (_item("main", "801", 40, 1), cover)]})
    with pytest.raises(OSError):
        run_dedup(Settings(data_root=tmp_path, models_dir=Path("/nonexistent")), DAY2, ["main"],
                  fingerprinter=lite_fingerprinter)
    assert not (layout.work_dir / "dedup.jsonl").exists()
    assert not (layout.work_dir / "dedup_summary.json").exists()
    memory.dir.unlink()
    run_dedup(Settings(data_root=tmp_path, models_dir=Path("/nonexistent")), DAY2, ["main"],
              fingerprinter=lite_fingerprinter)
    assert read_json(layout.work_dir / "dedup_summary.json")["duplicates"] == 1
    assert memory.path(DAY2).is_file()
