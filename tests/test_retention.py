import datetime as dt
import os

import pytest

from tiktok_top10.publish import publish_day
from tiktok_top10.retention import archive_and_cleanup, cleanup_archives
from tiktok_top10.storage import read_json, read_jsonl

DAY = dt.date(2026, 11, 22)


def _publish_small_day(settings, make_day, day=DAY):
    items = [{"id": str(7200000000000000000 + i), "category": "main", "views": 200_000 + i} for i in range(12)]
    items[0]["korean"] = False
    items[1].update(status="duplicate", duplicate_of=f"main/{items[2]['id']}")
    layout = make_day(items, day=day)
    s = settings.with_overrides(categories=["main"])
    publish_day(s, day)
    return s, layout, items


def test_unpublished_items_move_to_the_archive_with_their_reason(settings, make_day):
    s, layout, items = _publish_small_day(settings, make_day)
    archive = archive_and_cleanup(s, DAY)
    rows = {r["id"]: r for r in read_jsonl(archive / "main" / "items.jsonl")}
    # 12 items: 1 foreign, 1 duplicate, 10 published → 2 archived.
    assert set(rows) == {items[0]["id"], items[1]["id"]}
    assert rows[items[0]["id"]]["archive_reason"].startswith("not_korean")
    assert rows[items[1]["id"]]["archive_reason"] == f"duplicate_of:main/{items[2]['id']}"
    assert sorted(p.name for p in (archive / "main" / "thumbnails").iterdir()) == sorted(f"{i}.jpg" for i in rows)
    assert not layout.raw_dir("main").exists() and not layout.work_dir.exists()
    assert len(read_json(layout.top10_json("main"))) == 10  # the published day is untouched


def test_rerun_replaces_the_archive_without_duplicates(settings, make_day):
    s, layout, _ = _publish_small_day(settings, make_day)
    archive_and_cleanup(s, DAY)
    _publish_small_day(settings, make_day)  # the whole day runs again
    archive = archive_and_cleanup(s, DAY)
    assert len(list(read_jsonl(archive / "main" / "items.jsonl"))) == 2
    assert not [p for p in archive.parent.iterdir() if p.name.startswith(".")]
    assert archive_and_cleanup(s, DAY) == archive  # archiving an archived day is a no-op
    assert len(list(read_jsonl(archive / "main" / "items.jsonl"))) == 2


def test_retention_deletes_only_archives_older_than_three_days(settings, tmp_path):
    root = settings.data_root / "residual_archive"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    for name in ("2026-11-18", "2026-11-19", "2026-11-22", "not-a-date", "2026-13-40"):
        (root / name).mkdir(parents=True)
        (root / name / "items.jsonl").write_text("{}\n")
    os.symlink(outside, root / "2026-11-18" / "escape")  # a link inside an old archive
    os.symlink(outside, root / "2026-11-10")  # a date-named link pointing outside the root

    result = cleanup_archives(settings, DAY)

    assert sorted(result["deleted"]) == ["2026-11-10", "2026-11-18"]
    assert sorted(p.name for p in root.iterdir()) == ["2026-11-19", "2026-11-22", "2026-13-40", "not-a-date"]
    assert (outside / "precious.txt").read_text() == "keep me"
    assert sorted(result["ignored"]) == ["2026-13-40", "not-a-date"]


def test_retention_counts_from_the_logical_date_not_the_wall_clock(settings):
    (settings.data_root / "residual_archive" / "2020-01-01").mkdir(parents=True)
    assert cleanup_archives(settings, dt.date(2020, 1, 3))["kept"] == ["2020-01-01"]


def test_delete_outside_the_data_root_is_refused(settings, tmp_path):
    from tiktok_top10.storage import remove_tree

    victim = tmp_path / "victim"
    victim.mkdir()
    with pytest.raises(PermissionError):
        remove_tree(victim, settings.data_root)
    with pytest.raises(PermissionError):
        remove_tree(settings.data_root / ".." / "victim", settings.data_root)
    with pytest.raises(PermissionError):
        remove_tree(settings.data_root, settings.data_root)
    assert victim.exists()
