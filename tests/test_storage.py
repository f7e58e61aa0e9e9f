import datetime as dt
import os

import pytest

from tiktok_top10.storage import atomic_write_bytes, partition_date, replace_dir, staging_dir


def test_partition_date_is_the_seoul_date_of_the_logical_date():
    midnight_kst = dt.datetime(2026, 11, 21, 15, 0, tzinfo=dt.timezone.utc)  # 00:00 KST on the 22nd
    assert partition_date(midnight_kst) == dt.date(2026, 11, 22)
    assert partition_date(dt.datetime(2026, 11, 22, 3, 0, tzinfo=dt.timezone.utc)) == dt.date(2026, 11, 22)
    with pytest.raises(ValueError):
        partition_date(dt.datetime(2026, 11, 22))


def test_atomic_write_leaves_no_temp_file_and_keeps_old_content_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "a" / "file.json"
    atomic_write_bytes(target, b"old")

    def boom(*_):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert os.listdir(target.parent) == ["file.json"]


def test_replace_dir_swaps_whole_trees(tmp_path):
    root = tmp_path
    target = root / "top10"
    target.mkdir()
    (target / "old.txt").write_text("old")
    staged = staging_dir(root, "top10")
    (staged / "new.txt").write_text("new")
    replace_dir(staged, target, root)
    assert sorted(os.listdir(target)) == ["new.txt"]
    assert sorted(os.listdir(root)) == ["top10"]
