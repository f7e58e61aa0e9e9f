import datetime as dt
import os

import pytest

from tiktok_top10.storage import atomic_write_bytes, partition_date, replace_dir, staging_dir


def test_partition_date_is_the_seoul_date_of_the_logical_date():
    midnight_kst = dt.datetime(2026, 11, 21, 15, 0, tzinfo=dt.UTC)  # 00:00 KST on the 22nd
    assert partition_date(midnight_kst) == dt.date(2026, 11, 22)
    assert partition_date(dt.datetime(2026, 11, 22, 3, 0, tzinfo=dt.UTC)) == dt.date(2026, 11, 22)
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


def _item_row(vid: str, views: int = 1000) -> dict:
    return {"id": vid, "category": "main", "author_unique_id": "u", "views": views, "likes": 1,
            "url": f"https://www.tiktok.com/@u/video/{vid}"}


def test_read_items_skips_or_raises_on_invalid_rows_as_asked(tmp_path):
    import json

    from tiktok_top10.storage import RAISE_INVALID, SKIP_INVALID, read_items

    path = tmp_path / "raw" / "items.jsonl"
    path.parent.mkdir()
    lines = [json.dumps(_item_row("1")), "{not json", json.dumps({**_item_row("2"), "views": -5}), "",
             json.dumps(_item_row("3")), json.dumps(_item_row("1", views=2000))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    crawled = read_items(path, invalid=SKIP_INVALID)
    assert [i.id for i in crawled.items] == ["3", "1"]  # a repeated id is one item: the later line wins
    assert crawled.by_id()["1"].views == 2000
    assert crawled.invalid_lines == (2, 3) and crawled.folder == path.parent
    with pytest.raises(ValueError, match=r"items.jsonl:2: not a VideoItem"):
        read_items(path, invalid=RAISE_INVALID)
    with pytest.raises(FileNotFoundError):
        read_items(tmp_path / "absent.jsonl")


def test_read_manifest_and_published_ids(tmp_path):
    from tiktok_top10.storage import atomic_write_json, read_manifest, read_published_ids

    assert read_manifest(tmp_path / "manifest.json") is None
    atomic_write_json(tmp_path / "manifest.json", {"day": "2026-11-22", "status": "complete"})
    assert read_manifest(tmp_path / "manifest.json")["status"] == "complete"
    atomic_write_json(tmp_path / "list.json", [1, 2])
    with pytest.raises(ValueError, match="not a JSON object"):
        read_manifest(tmp_path / "list.json")
    atomic_write_json(tmp_path / "main_top10.json", [{"id": "main01", "url": "https://www.tiktok.com/@a/video/42"},
                                                     {"id": "main02", "url": "https://www.tiktok.com/@b/video/7"}])
    assert read_published_ids(tmp_path / "main_top10.json") == {"42", "7"}
    assert read_published_ids(tmp_path / "absent.json") == set()


def test_staged_dir_swaps_in_on_success_and_leaves_the_target_on_failure(tmp_path):
    from tiktok_top10.storage import staged_dir

    root = tmp_path
    target = root / "day" / "top10"
    target.mkdir(parents=True)
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError, match="cover broke"):
        with staged_dir(target, root) as staged:
            (staged.path / "half.txt").write_text("half")
            raise RuntimeError("cover broke")
    assert sorted(os.listdir(target)) == ["old.txt"] and sorted(os.listdir(target.parent)) == ["top10"]

    with staged_dir(target, root) as staged:
        assert staged.path.name.startswith(".top10.staging-") and staged.path.parent == target.parent
        (staged.path / "new.txt").write_text("new")
    assert staged.changed is True
    assert sorted(os.listdir(target)) == ["new.txt"] and sorted(os.listdir(target.parent)) == ["top10"]

    before = (target / "new.txt").stat().st_ino
    with staged_dir(target, root, keep_identical=True) as staged:
        (staged.path / "new.txt").write_text("new")
    assert staged.changed is False and (target / "new.txt").stat().st_ino == before  # a rerun touches nothing
    assert sorted(os.listdir(target.parent)) == ["top10"]
