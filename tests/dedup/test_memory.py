"""Fingerprint memory: round trip of keypoints and grey images, the 7-day window, and published ids read from
top10 files."""

from __future__ import annotations

import datetime as dt

import numpy as np

from tiktok_top10.dedup.memory import HISTORY_DAYS, DayFingerprints, FingerprintMemory, published_ids
from tiktok_top10.storage import DayLayout, atomic_write_json


def _fps(day, n=2):
    rng = np.random.default_rng(day.toordinal())
    kps = [((rng.random((k + 3, 2)).astype(np.float32), rng.integers(0, 255, (k + 3, 32), dtype=np.uint8)),
            (rng.random((k, 2)).astype(np.float32), rng.integers(0, 255, (k, 32), dtype=np.uint8)),
            rng.integers(0, 255, (9 + k, 5 + 2 * k), dtype=np.uint8)) for k in range(n)]
    return DayFingerprints(day, [f"main/{k}" for k in range(n)], [f"{k:064x}" for k in range(n)],
                           rng.random((n, 8)).astype(np.float32), kps)


def test_round_trip_and_window(tmp_path):
    memory = FingerprintMemory(tmp_path, "efficientnet-lite0", "ab" * 32)
    today = dt.date(2026, 1, 20)
    for back in range(HISTORY_DAYS + 3):
        memory.save(_fps(today - dt.timedelta(days=back)))
    loaded = memory.load(today)
    original = _fps(today)
    assert loaded.keys == original.keys and np.array_equal(loaded.globals, original.globals)
    pairs = zip(loaded.keypoints, original.keypoints, strict=True)
    for (a_plain, a_mirror, a_small), (b_plain, b_mirror, b_small) in pairs:
        assert np.array_equal(a_plain[1], b_plain[1]) and np.array_equal(a_mirror[0], b_mirror[0])
        assert a_small.shape == b_small.shape and np.array_equal(a_small, b_small)
    assert len(memory.recent(today)) == HISTORY_DAYS + 1
    assert len(memory.recent(today, include_today=False)) == HISTORY_DAYS
    assert memory.prune(today) == 2
    assert sorted(p.stem for p in memory.dir.glob("*.npz"))[0] == "2026-01-13"


def test_damaged_file_is_a_cache_miss(tmp_path):
    memory = FingerprintMemory(tmp_path, "resnet50", "cd" * 32)
    memory.path(dt.date(2026, 1, 1)).parent.mkdir(parents=True)
    memory.path(dt.date(2026, 1, 1)).write_bytes(b"PK\x03\x04 not really")
    assert memory.load(dt.date(2026, 1, 1)) is None


def test_published_ids(tmp_path):
    day = dt.date(2026, 1, 11)
    layout = DayLayout(tmp_path, day)
    atomic_write_json(layout.top10_json("food"), [{"id": "food01", "url": "https://www.tiktok.com/@a/video/123"},
                                                  {"id": "food02", "url": "not a url"}])
    assert published_ids(tmp_path, day) == {"123"}
    assert published_ids(tmp_path, day - dt.timedelta(days=1)) == set()


def test_the_older_format_folder_is_never_read_but_its_days_are_counted_and_pruned(tmp_path):
    """Before the precision was part of the folder's name, fp32 and bf16 descriptors shared one folder: such days
    are not matched against (they would mix precisions), the dedup summary counts them, and they age out."""
    today = dt.date(2026, 1, 20)
    older = FingerprintMemory(tmp_path, "efficientnet-lite0", "ab" * 32, "int8")
    older.dir = older.older_format_dir  # write as the previous code did, into <backbone>-<sha12>/
    for back in (1, 2, HISTORY_DAYS + 2):
        older.save(_fps(today - dt.timedelta(days=back)))
    memory = FingerprintMemory(tmp_path, "efficientnet-lite0", "ab" * 32, "int8")
    memory.save(_fps(today - dt.timedelta(days=2)))  # the new format holds day -2 again: that one is not missing
    assert [fps.day for fps in memory.recent(today, include_today=False)] == [today - dt.timedelta(days=2)]
    assert memory.older_format_days(today) == [today - dt.timedelta(days=1)]
    assert memory.prune(today) == 1
    assert sorted(p.stem for p in memory.older_format_dir.glob("*.npz")) == ["2026-01-18", "2026-01-19"]


def test_another_precision_or_descriptor_input_is_never_read_but_counted_and_pruned(tmp_path):
    """The crop-robust dedup keeps its descriptors in a folder of its own (``variant``); a day only another
    folder of the same backbone remembers is not read, is counted, and ages out with the others."""
    today = dt.date(2026, 1, 20)
    plain = FingerprintMemory(tmp_path, "efficientnet-lite0", "ab" * 32, "int8")
    robust = FingerprintMemory(tmp_path, "efficientnet-lite0", "ab" * 32, "int8", variant="w128ac2")
    assert robust.dir.name == "efficientnet-lite0-abababababab-int8-w128ac2" and robust.dir != plain.dir
    # not this backbone and weights file: another backbone, other weights, a name this one's is a prefix of
    strangers = [FingerprintMemory(tmp_path, "resnet50", "cd" * 32, "int8"),
                 FingerprintMemory(tmp_path, "efficientnet-lite0", "ef" * 32, "int8"),
                 FingerprintMemory(tmp_path, "efficientnet-lite0x", "ab" * 32, "int8")]
    for back in (1, 2, HISTORY_DAYS + 2):
        plain.save(_fps(today - dt.timedelta(days=back)))
        for stranger in strangers:
            stranger.save(_fps(today - dt.timedelta(days=back)))
    robust.save(_fps(today - dt.timedelta(days=2)))
    assert [fps.day for fps in robust.recent(today, include_today=False)] == [today - dt.timedelta(days=2)]
    assert robust.other_format_days(today) == [today - dt.timedelta(days=1)]
    assert plain.other_format_days(today) == []  # the robust folder holds no day the plain one lacks
    assert robust.prune(today) == 1  # the plain folder's old day; the strangers' folders are not this one's
    assert sorted(p.stem for p in plain.dir.glob("*.npz")) == ["2026-01-18", "2026-01-19"]
    assert [len(list(stranger.dir.glob("*.npz"))) for stranger in strangers] == [3, 3, 3]
    # once the plain mode's days have all aged out, its folder goes too; the folder in use stays
    assert robust.prune(today + dt.timedelta(days=HISTORY_DAYS + 2)) == 3
    assert not plain.dir.exists() and robust.dir.is_dir() and all(stranger.dir.is_dir() for stranger in strangers)


def test_regions_are_stored_undeflated_and_the_same_day_makes_the_same_bytes(tmp_path):
    """Deflating float16 regional descriptors took ~2 s a demo day for 40 % of their size: they are stored as
    they are, everything else compressed; the file stays an ``.npz`` that round-trips, byte-identical on a rerun."""
    import zipfile

    day = dt.date(2026, 1, 20)
    fps = _fps(day, n=3)
    fps.regions = np.random.default_rng(1).random((3, 15, 8)).astype(np.float16)
    memory = FingerprintMemory(tmp_path, "efficientnet-lite0", "ab" * 32, "int8", variant="w128ac2")
    first = memory.save(fps).read_bytes()
    assert memory.save(fps).read_bytes() == first
    with zipfile.ZipFile(memory.path(day)) as archive:
        methods = {info.filename: info.compress_type for info in archive.infolist()}
    assert methods.pop("regions.npy") == zipfile.ZIP_STORED
    assert set(methods.values()) == {zipfile.ZIP_DEFLATED} and "small_pixels.npy" in methods
    loaded = memory.load(day)
    assert np.array_equal(loaded.regions, fps.regions) and loaded.regions.dtype == np.float16
    assert loaded.keys == fps.keys and all(np.array_equal(a[2], b[2]) for a, b in zip(loaded.keypoints, fps.keypoints,
                                                                                    strict=True))
