"""Fault matrix, retention rows: archives exactly 3 and 4 days old, a symlink in the archive pointing outside
the data root, date-named folders that are not dates.  Outcome required: only what should go is deleted."""

from __future__ import annotations

import datetime as dt

from tiktok_top10.retention import cleanup_archives

DAY = dt.date(2026, 11, 22)


def archive(root, name: str):
    folder = root / "residual_archive" / name
    (folder / "main").mkdir(parents=True)
    (folder / "main" / "items.jsonl").write_text("{}\n")
    return folder


def test_retention_archives_3_and_4_days_old(settings):
    root = settings.data_root
    for days_old in (0, 3, 4, 9):
        archive(root, (DAY - dt.timedelta(days=days_old)).isoformat())
    result = cleanup_archives(settings, DAY)
    assert result["deleted"] == ["2026-11-13", "2026-11-18"]  # 9 and 4 days old
    assert result["kept"] == ["2026-11-19", "2026-11-22"]  # exactly 3 days old stays
    assert sorted(p.name for p in (root / "residual_archive").iterdir()) == ["2026-11-19", "2026-11-22"]


def test_retention_symlink_in_archive_pointing_outside_the_data_root(settings, tmp_path):
    root = settings.data_root
    outside = tmp_path / "outside"
    (outside / "precious").mkdir(parents=True)
    (outside / "precious" / "keep.txt").write_text("not ours")
    old = archive(root, "2026-11-10")
    (old / "main" / "link-to-outside").symlink_to(outside / "precious")  # inside an expired archive
    (root / "residual_archive" / "2026-11-11").symlink_to(outside / "precious")  # an expired day that is a link
    kept = archive(root, "2026-11-21")
    (kept / "main" / "link").symlink_to(outside)
    result = cleanup_archives(settings, DAY)
    assert result["deleted"] == ["2026-11-10", "2026-11-11"]
    assert (outside / "precious" / "keep.txt").read_text() == "not ours"  # never followed
    assert not (root / "residual_archive" / "2026-11-11").is_symlink()
    assert (kept / "main" / "link").is_symlink()


def test_retention_date_named_folders_that_are_not_dates(settings):
    root = settings.data_root
    names = ["2026-02-30", "2026-13-01", "2026-1-5", "2026-11-1", "2026-11-01.bak", "2026-11-01 copy", "notes"]
    for name in names:
        archive(root, name)
    (root / "residual_archive" / ".2026-11-01.staging-abc").mkdir()  # a staging dir of a running archive
    result = cleanup_archives(settings, DAY)
    assert result["deleted"] == []
    assert sorted(result["ignored"]) == sorted(names + [".2026-11-01.staging-abc"])
    assert all((root / "residual_archive" / name).is_dir() for name in names)
