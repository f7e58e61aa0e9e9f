"""Fault matrix, storage rows: a full disk, an unwritable data root and ``kill -9`` during publish.

Outcome required: the day's previous published state (or none) stays intact and readable, and the next run
completes.  Each fault is injected into the real ``publish_day`` on a real data root."""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import signal
import time
from pathlib import Path

import pytest

from tiktok_top10 import publish, storage
from tiktok_top10.publish import day_is_published, publish_day
from tiktok_top10.storage import read_json

from .conftest import leftovers, snapshot, start_child

DAY = dt.date(2026, 11, 22)
CATEGORIES = ["main", "dance", "food"]


def day_items(boost: int = 0) -> list[dict]:
    """Three categories of four Korean items; ``boost`` changes the ranking so a new publish differs."""
    items = []
    for c, category in enumerate(CATEGORIES):
        for k in range(4):
            items.append({"category": category, "id": str(7_000 + 100 * c + k),
                          "views": 500_000 + (k * boost if boost else -k) * 10_000})
    return items


@pytest.fixture
def published(settings, make_day):
    """A day published once (the state every fault must leave intact), then new inputs for the next run."""
    settings = settings.with_overrides(categories=CATEGORIES)
    make_day(day_items(), DAY)
    publish_day(settings, DAY, CATEGORIES)
    before = snapshot(settings.data_root)
    assert day_is_published(settings, DAY, CATEGORIES) and len(before) > 10
    make_day(day_items(boost=3), DAY)  # the rerun's inputs rank differently: its publish would change files
    return settings, before


def assert_intact_then_next_run_completes(settings, before):
    assert snapshot(settings.data_root) == before
    assert leftovers(settings.data_root) == []
    manifest = read_json(settings.data_root / "2026-11-22" / "manifest.json")  # still readable JSON
    assert manifest["status"] == "complete"
    publish_day(settings, DAY, CATEGORIES)
    after = snapshot(settings.data_root)
    assert after != before and day_is_published(settings, DAY, CATEGORIES)
    assert leftovers(settings.data_root) == []
    first = json.loads(after["2026-11-22/main/top10/main_top10.json"])
    assert first[0]["url"].endswith("/7003")  # the new ranking is what got published


def test_storage_disk_full_while_staging_covers(published, monkeypatch):
    settings, before = published
    real_write = Path.write_bytes
    calls = []

    def write_until_full(self, data):
        calls.append(self)
        if len(calls) >= 6:  # mid-way through the second category's covers
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_until_full)
    with pytest.raises(OSError) as failure:
        publish_day(settings, DAY, CATEGORIES)
    assert failure.value.errno == errno.ENOSPC
    monkeypatch.setattr(Path, "write_bytes", real_write)
    assert_intact_then_next_run_completes(settings, before)


def test_storage_disk_full_while_writing_the_manifest(published, monkeypatch):
    settings, before = published
    real_fsync = os.fsync

    def full_disk_on_manifest(fd):
        if os.readlink(f"/proc/self/fd/{fd}").rsplit("/", 1)[-1].startswith(".manifest.json."):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(storage.os, "fsync", full_disk_on_manifest)
    with pytest.raises(OSError, match="No space left"):
        publish_day(settings, DAY, CATEGORIES)
    monkeypatch.setattr(storage.os, "fsync", real_fsync)
    # The categories were swapped in whole before the manifest write failed; the old manifest is intact.
    after = snapshot(settings.data_root)
    assert after["2026-11-22/manifest.json"] == before["2026-11-22/manifest.json"]
    assert leftovers(settings.data_root) == []
    publish_day(settings, DAY, CATEGORIES)
    assert read_json(settings.data_root / "2026-11-22" / "manifest.json")["stages"]["publish"]["main"]["changed"] is False
    assert day_is_published(settings, DAY, CATEGORIES)


def test_storage_unwritable_data_root(published, monkeypatch):
    settings, before = published

    def denied(*args, **kwargs):  # what mkdtemp raises on a read-only mount (chmod means nothing to root)
        raise PermissionError(errno.EROFS, "Read-only file system", kwargs.get("dir"))

    monkeypatch.setattr(storage.tempfile, "mkdtemp", denied)
    with pytest.raises(PermissionError, match="Read-only"):
        publish_day(settings, DAY, CATEGORIES)
    monkeypatch.undo()
    assert_intact_then_next_run_completes(settings, before)


# A child that publishes the day and stops dead (SIGKILL from the parent) once it has staged two covers.
KILL_ME_MID_PUBLISH = r"""
import datetime as dt, sys, time
from pathlib import Path
from tiktok_top10 import publish
from tiktok_top10.config import Settings

marker = Path(sys.argv[2])
real = publish.reencode_cover
calls = []
def slow_reencode(src):
    calls.append(src)
    if len(calls) == 6:
        marker.write_text("staging")
        time.sleep(120)
    return real(src)
publish.reencode_cover = slow_reencode
settings = Settings(data_root=Path(sys.argv[1]), categories=("main", "dance", "food"))
publish.publish_day(settings, dt.date(2026, 11, 22), ["main", "dance", "food"])
"""


def test_storage_kill_9_mid_publish(published, tmp_path):
    settings, before = published
    marker = tmp_path / "reached"
    child = start_child(KILL_ME_MID_PUBLISH, str(settings.data_root), str(marker))
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the child never reached the middle of its publish"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert snapshot(settings.data_root) == before  # readers still see the previous publish, whole
    stale = leftovers(settings.data_root)
    assert stale and all(".top10.staging-" in s for s in stale)  # the killed run's half-written staging
    # The next run takes the day's lock (the kernel released the dead child's), sweeps the staging and completes.
    publish_day(settings, DAY, CATEGORIES)
    assert leftovers(settings.data_root) == []
    assert snapshot(settings.data_root) != before and day_is_published(settings, DAY, CATEGORIES)
