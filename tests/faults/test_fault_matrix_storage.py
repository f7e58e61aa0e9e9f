"""Fault matrix, storage rows: a full disk, an unwritable data root and ``kill -9`` during publish.

Outcome required: the day's previous published state (or none) stays intact and readable, and the next run
completes.  Each fault is injected into the real ``publish_day`` on a real data root.

The disk-full-while-staging row fills a real filesystem where the machine allows it: as root, a child process
in a mount namespace of its own (``unshare -m``) mounts a 1 MiB tmpfs, copies the data root onto it, fills it up
to a few blocks and publishes, so the kernel's own ENOSPC hits wherever publish happens to write; the tree is
copied back out for the checks.  The disk-full-while-writing-the-manifest row does the same, but fills the tmpfs
to its last byte at the moment publish starts its manifest write (after the categories were swapped in), so the
kernel refuses that write.  Where mounting is not permitted both rows fall back to a simulated ENOSPC
(``Path.write_bytes`` / ``os.fsync`` failing), and the test prints which of the two ran."""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tiktok_top10 import storage
from tiktok_top10.publish import day_is_published, publish_day
from tiktok_top10.storage import read_json

from .conftest import PYTHON, REPO, child_env, leftovers, snapshot, start_child

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


# Runs inside the mount namespace: the data root on the fresh tmpfs, the filesystem filled to ``free`` bytes, one
# publish; prints its outcome as JSON and copies the tree back to where the parent can check it.  With ``free``
# = -1 the filesystem is left alone until publish starts writing its manifest, and is then filled to the last byte.
PUBLISH_ON_A_FULL_TMPFS = r"""
import datetime as dt, errno, json, os, shutil, sys
from pathlib import Path
from tiktok_top10 import publish
from tiktok_top10.config import Settings
from tiktok_top10.publish import publish_day

source, mount, back, free = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
root = mount / "data"
shutil.copytree(source, root, symlinks=True)
stat = os.statvfs(mount)
outcome = {"errno": None, "full_at_manifest": False}

def fill(to_free):
    with open(mount / "filler", "ab", buffering=0) as fh:  # unbuffered: ENOSPC surfaces here, not at close
        try:
            fh.write(b"\0" * max(0, os.statvfs(mount).f_bavail * stat.f_frsize - to_free))
            while to_free == 0:
                fh.write(b"\0" * stat.f_frsize)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc

if free >= 0:
    fill(free)
else:
    write_json = publish.atomic_write_json

    def manifest_on_a_full_disk(path, obj):
        if Path(path).name == "manifest.json":
            fill(0)
            outcome["full_at_manifest"] = os.statvfs(mount).f_bavail == 0
        return write_json(path, obj)

    publish.atomic_write_json = manifest_on_a_full_disk
outcome["free_before_publish"] = os.statvfs(mount).f_bavail * stat.f_frsize
try:
    publish_day(Settings(data_root=root, categories=("main", "dance", "food")), dt.date(2026, 11, 22),
                ["main", "dance", "food"])
except OSError as exc:
    outcome.update(errno=exc.errno, error=str(exc))
shutil.copytree(root, back, symlinks=True)
print(json.dumps(outcome))
"""
TMPFS_SIZE = "1m"
# Free space left for the publish: room for some of its files, not all (a publish writes ~20 files of one 4 KiB
# tmpfs page or more each), so it fails mid-way, not on its first write.
FREE_BYTES = 8 * 4096


def publish_on_a_full_tmpfs(data_root: Path, work: Path, free: int = FREE_BYTES) -> tuple[dict | None, str]:
    """(outcome, how) of one publish of ``data_root`` on a filled tmpfs (``free`` bytes left, or -1: full from the
    manifest write on); (None, why not) where it cannot mount."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return None, "not root or no unshare(1)"
    mount, back = work / "mnt", work / "after"
    mount.mkdir()
    script = (f'mount -t tmpfs -o size={TMPFS_SIZE} tmpfs "$1" && exec "$2" -c "$3" "$4" "$1" "$5" "$6"')
    run = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", str(mount), PYTHON, PUBLISH_ON_A_FULL_TMPFS,
                          str(data_root), str(back), str(free)],
                         capture_output=True, text=True, timeout=120, cwd=REPO, env=child_env())
    if run.returncode != 0 and not back.exists():
        return None, f"unshare -m + mount tmpfs not permitted here: {run.stderr.strip().splitlines()[-1:]}"
    assert run.returncode == 0, run.stderr
    shutil.rmtree(data_root)
    shutil.copytree(back, data_root, symlinks=True)
    return json.loads(run.stdout.strip().splitlines()[-1]), f"real ENOSPC: {TMPFS_SIZE} tmpfs in a mount namespace"


def test_storage_disk_full_while_staging_covers(published, monkeypatch, tmp_path, capsys):
    settings, before = published
    outcome, how = publish_on_a_full_tmpfs(settings.data_root, tmp_path)
    with capsys.disabled():
        print(f"\n[disk-full row] {how if outcome else 'simulated ENOSPC (Path.write_bytes), because ' + how}")
    if outcome is not None:
        assert outcome["errno"] == errno.ENOSPC, outcome
        assert outcome["free_before_publish"] <= FREE_BYTES
        assert_intact_then_next_run_completes(settings, before)
        return
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


def test_storage_disk_full_while_writing_the_manifest(published, monkeypatch, tmp_path, capsys):
    settings, before = published
    outcome, how = publish_on_a_full_tmpfs(settings.data_root, tmp_path, free=-1)
    with capsys.disabled():
        print(f"\n[manifest disk-full row] {how if outcome else 'simulated ENOSPC (os.fsync), because ' + how}")
    if outcome is not None:
        assert outcome["errno"] == errno.ENOSPC and outcome["full_at_manifest"], outcome
        assert_manifest_kept_then_next_run_completes(settings, before)
        return
    real_fsync = os.fsync

    def full_disk_on_manifest(fd):
        if os.readlink(f"/proc/self/fd/{fd}").rsplit("/", 1)[-1].startswith(".manifest.json."):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(storage.os, "fsync", full_disk_on_manifest)
    with pytest.raises(OSError, match="No space left"):
        publish_day(settings, DAY, CATEGORIES)
    monkeypatch.setattr(storage.os, "fsync", real_fsync)
    assert_manifest_kept_then_next_run_completes(settings, before)


def assert_manifest_kept_then_next_run_completes(settings, before):
    # The categories were swapped in whole before the manifest write failed; the old manifest is intact.
    after = snapshot(settings.data_root)
    assert after["2026-11-22/manifest.json"] == before["2026-11-22/manifest.json"]
    assert leftovers(settings.data_root) == []
    publish_day(settings, DAY, CATEGORIES)
    assert (
        read_json(settings.data_root / "2026-11-22" / "manifest.json")["stages"]["publish"]["main"]["changed"] is False
    )
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
