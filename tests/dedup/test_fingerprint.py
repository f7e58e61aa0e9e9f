"""The fingerprint pipeline: input order, skips and descriptors do not depend on how covers are batched or on how
many workers share the cores."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _inputs(cover_dir: Path) -> list[Path]:
    # unreadable files in between, so batches mix good and bad covers
    return sorted(cover_dir.glob("*.jpg")) + sorted((cover_dir / "bad").glob("*.jpg")) + [cover_dir / "missing.jpg"]


def test_batching_and_workers_do_not_change_the_result(cover_dir):
    from tiktok_top10.dedup.fingerprint import Fingerprinter

    paths = _inputs(cover_dir)
    one = Fingerprinter("efficientnet-lite0", models_dir=Path("/nonexistent"), threads=1, batch_size=1)
    two = Fingerprinter("efficientnet-lite0", models_dir=Path("/nonexistent"), threads=2, batch_size=3)
    assert (one.workers, two.workers) == (1, 2)
    a, b = one.fingerprint(paths), two.fingerprint(paths)
    assert a.paths == b.paths == [str(p) for p in sorted(cover_dir.glob("*.jpg"))]
    assert [s["path"] for s in a.skipped] == [s["path"] for s in b.skipped] == [
        str(p) for p in paths if str(p) not in a.paths]
    assert a.globals.shape == b.globals.shape == (len(a.paths), a.globals.shape[1])
    assert np.allclose(np.linalg.norm(a.globals, axis=1), 1.0, atol=1e-5)
    assert (a.globals * b.globals).sum(1).min() > 0.999
    for (pa, ma, sa), (pb, mb, sb) in zip(a.keypoints, b.keypoints, strict=True):
        assert np.array_equal(pa[1], pb[1]) and np.array_equal(ma[1], mb[1]) and np.array_equal(sa, sb)


def test_nothing_to_fingerprint(tmp_path):
    from tiktok_top10.dedup.fingerprint import Fingerprinter

    fp = Fingerprinter("efficientnet-lite0", models_dir=Path("/nonexistent"))
    empty = fp.fingerprint([])
    assert empty.paths == [] and empty.globals.shape[0] == 0
    (tmp_path / "x.jpg").write_bytes(b"")
    only_bad = fp.fingerprint([tmp_path / "x.jpg"])
    assert only_bad.paths == [] and only_bad.skipped[0]["reason"].startswith("empty file")


def test_files_with_the_same_bytes_are_fingerprinted_once(cover_dir, tmp_path, monkeypatch, lite_fingerprinter):
    import shutil

    from tiktok_top10.dedup import fingerprint as module

    day2 = tmp_path / "day2"
    day2.mkdir()
    copy = day2 / "astronaut.jpg"
    shutil.copyfile(cover_dir / "astronaut.jpg", copy)
    bad_copy = day2 / "empty.jpg"
    bad_copy.write_bytes(b"")
    decoded = []
    real = module.decode_cover
    monkeypatch.setattr(module, "decode_cover", lambda p, *spec: decoded.append(str(p)) or real(p, *spec))

    paths = [cover_dir / "astronaut.jpg", cover_dir / "coffee.jpg", cover_dir / "bad" / "empty.jpg", copy, bad_copy]
    result = lite_fingerprinter.fingerprint(paths)
    assert sorted(decoded) == sorted(map(str, paths[:3]))  # the copies were not decoded again
    assert result.paths == [str(paths[0]), str(paths[1]), str(copy)]
    assert np.array_equal(result.globals[0], result.globals[2])
    assert result.keypoints[2] is result.keypoints[0]
    assert [s["path"] for s in result.skipped] == [str(paths[2]), str(bad_copy)]
    assert all(s["reason"].startswith("empty file") for s in result.skipped)
