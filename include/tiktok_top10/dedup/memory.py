"""Fingerprint memory across days, per backbone, weights file and precision.

* Reuse: the same videos recur day after day, so a cover fingerprinted on an earlier day (same video id, same
  bytes: SHA-256 of the file) is not fingerprinted again.  Each day's fingerprints are one ``.npz`` under
  ``<root>/cache/fingerprints/<backbone>-<weights sha256[:12]>-<precision>/<day>.npz``; files older than
  ``HISTORY_DAYS`` are deleted.  fp32, bf16 and int8 descriptors of one cover differ (int8 by a few hundredths of
  cosine), so each precision has its own folder and they never mix; a folder of the older naming (without the
  precision, whose files may hold either) is not read: its days in the window are counted
  (``older_format_days``, in the dedup summary) and its files are pruned like the others.
* History: of those, the items that were *published* (their id is in that day's ``top10`` files) are what a new
  day's items are matched against, so a re-upload of yesterday's video under a new id is recognised.
* Regional descriptors (``Fingerprinter(regions=True)``) are stored with a day's fingerprints when it has them
  (``regions``, float16).  A file written without them (the older format) still loads, with ``regions=None``;
  a caller that needs them asks ``recent(..., require_regions=True)``, which leaves such days out and counts them
  in ``skipped_without_regions``: their covers are fingerprinted again, their history is not matched.
* The crop-robust dedup (``grouping.CropRobust``) computes its descriptors from another input
  (``images.DescriptorInput``), so they live in a folder of their own (``variant``: ``-<input tag>``) and always
  carry regions.  A day stored only in another folder of the same backbone and weights (another precision or
  descriptor input: the dedup was switched) is not read either: ``other_format_days`` counts it for the summary.
  ``prune`` sweeps every folder of the backbone and weights file, and removes those it empties, so a folder no
  run reads any more does not stay behind.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import storage

HISTORY_DAYS = 7


@dataclass
class DayFingerprints:
    """One day's fingerprints: ``keys[k]`` = ``"<category>/<id>"``, ``digests[k]`` = the cover's SHA-256."""

    day: dt.date
    keys: list[str]
    digests: list[str]
    globals: np.ndarray
    keypoints: list  # per item: (plain, mirrored ORB keypoints, small grey image), see verify.detect
    regions: np.ndarray | None = None  # (N, R, D) float16 regional descriptors, None when not computed

    @property
    def ids(self) -> list[str]:
        return [k.split("/", 1)[1] for k in self.keys]


class FingerprintMemory:
    """The fingerprint files of one backbone (identified by name and weights hash) in one precision under the
    data root."""

    def __init__(self, root: Path, backbone: str, weights_sha256: str, precision: str = "fp32", variant: str = ""):
        self.root = Path(root)
        self.precision = precision
        self.variant = variant
        # a different weights file, precision or descriptor input makes different vectors: keep them apart
        self.family = f"{backbone}-{weights_sha256[:12]}"
        self.dir = self.root / "cache" / "fingerprints" / "-".join(filter(None, (self.family, precision, variant)))
        self.skipped_without_regions: list[dt.date] = []  # days ``recent(require_regions=True)`` left out
        # the folder of the naming before the precision was part of it; never read, only counted and pruned
        self.older_format_dir = self.root / "cache" / "fingerprints" / self.family

    def path(self, day: dt.date) -> Path:
        return self.dir / f"{day.strftime(storage.DATE_FORMAT)}.npz"

    def save(self, fps: DayFingerprints) -> Path:
        buf = io.BytesIO()
        sets = [kp for look in fps.keypoints for kp in look[:2]]
        offsets = np.cumsum([0] + [len(pts) for pts, _ in sets]).astype(np.int64)
        smalls = [look[2] for look in fps.keypoints]
        shapes = np.asarray([s.shape for s in smalls], np.int64).reshape(-1, 2)
        # compressed: the grey images are most of the bytes and compress well; the regional descriptors
        # (float16, 38 KiB a cover) are stored as they are: deflate takes ~2 s on a demo day's 700 covers to save
        # 40 % of them (make bench-dedup-regions)
        _write_npz(buf, stored={} if fps.regions is None else {"regions": np.asarray(fps.regions, np.float16)},
                   compressed=dict(
                       keys=np.asarray(fps.keys, dtype=str), digests=np.asarray(fps.digests, dtype=str),
                       globals=fps.globals.astype(np.float32), kp_offsets=offsets,
                       kp_points=np.concatenate([p for p, _ in sets]) if sets else np.zeros((0, 2), np.float32),
                       kp_descriptors=np.concatenate([d for _, d in sets]) if sets else np.zeros((0, 32), np.uint8),
                       small_shapes=shapes,
                       small_pixels=np.concatenate([s.ravel() for s in smalls]) if smalls else np.zeros(0, np.uint8)))
        return storage.atomic_write_bytes(self.path(fps.day), buf.getvalue())

    def load(self, day: dt.date) -> DayFingerprints | None:
        path = self.path(day)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                off, pts, des = data["kp_offsets"], data["kp_points"], data["kp_descriptors"]
                sets = [(pts[off[k]:off[k + 1]], des[off[k]:off[k + 1]]) for k in range(len(off) - 1)]
                shapes, pixels = data["small_shapes"], data["small_pixels"]
                ends = np.cumsum([0] + [int(h) * int(w) for h, w in shapes])
                smalls = [pixels[ends[k]:ends[k + 1]].reshape(int(h), int(w)) for k, (h, w) in enumerate(shapes)]
                regions = data["regions"] if "regions" in data.files else None
                if regions is not None and regions.shape[0] != len(smalls):
                    return None  # inconsistent file: recompute
                return DayFingerprints(day, data["keys"].tolist(), data["digests"].tolist(), data["globals"],
                                       [(sets[2 * k], sets[2 * k + 1], smalls[k]) for k in range(len(smalls))],
                                       regions)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            return None  # a damaged (or older-format) cache file costs a recomputation, never a failed run

    def recent(self, day: dt.date, include_today: bool = True, require_regions: bool = False) -> list[DayFingerprints]:
        """The stored days within ``HISTORY_DAYS`` before ``day`` (and ``day`` itself for a rerun).  With
        ``require_regions``, days stored without regional descriptors are left out and counted in
        ``skipped_without_regions``."""
        days = [day - dt.timedelta(days=n) for n in range(0 if include_today else 1, HISTORY_DAYS + 1)]
        found = [fps for d in days if (fps := self.load(d)) is not None]
        if not require_regions:
            return found
        self.skipped_without_regions = [fps.day for fps in found if fps.regions is None]
        return [fps for fps in found if fps.regions is not None]

    def older_format_days(self, day: dt.date) -> list[dt.date]:
        """Days of the history window (before ``day``) stored only in the older-format folder: their covers are
        fingerprinted again and their history is not matched."""
        days = [day - dt.timedelta(days=n) for n in range(1, HISTORY_DAYS + 1)]
        return [d for d in days if (self.older_format_dir / self.path(d).name).is_file() and not self.path(d).is_file()]

    def _sibling_dirs(self) -> list[Path]:
        """The other folders of this backbone and weights file: other precisions and descriptor inputs."""
        parent = self.root / "cache" / "fingerprints"
        return sorted(d for d in parent.glob(f"{self.family}-*")
                      if d.is_dir() and d != self.dir and d != self.older_format_dir)

    def other_format_days(self, day: dt.date) -> list[dt.date]:
        """Days of the history window (before ``day``) stored only in a folder of another precision or descriptor
        input: not read, so their covers are fingerprinted again and their history is not matched."""
        days = [day - dt.timedelta(days=n) for n in range(1, HISTORY_DAYS + 1)]
        siblings = self._sibling_dirs()
        return [d for d in days if not self.path(d).is_file()
                and any((folder / self.path(d).name).is_file() for folder in siblings)]

    def prune(self, day: dt.date) -> int:
        """Delete fingerprint files older than the history window, in every folder of this backbone and weights
        (the older-format one, other precisions and descriptor inputs too); returns how many."""
        removed = 0
        oldest = day - dt.timedelta(days=HISTORY_DAYS)
        folders = [self.dir, self.older_format_dir, *self._sibling_dirs()]
        for path in [p for folder in folders for p in folder.glob("*.npz")]:
            try:
                file_day = storage.parse_day(path.stem)
            except ValueError:
                continue
            if file_day < oldest:
                storage.remove_tree(path, self.root)
                removed += 1
        for folder in folders[1:]:  # another mode's folder that holds nothing any more goes too
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        return removed


def _write_npz(buf: io.BytesIO, stored: dict[str, np.ndarray], compressed: dict[str, np.ndarray]) -> None:
    """An ``.npz`` (what ``np.load`` reads) whose ``stored`` arrays are kept as they are and the others deflated;
    fixed timestamps, so the same fingerprints make the same bytes."""
    with zipfile.ZipFile(buf, "w", allowZip64=True) as archive:
        for arrays, method in ((compressed, zipfile.ZIP_DEFLATED), (stored, zipfile.ZIP_STORED)):
            for name, array in arrays.items():
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = method
                with archive.open(info, "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def published_ids(root: Path, day: dt.date) -> set[str]:
    """Video ids published on ``day`` (from the urls in its ``top10`` files); empty when nothing was."""
    ids: set[str] = set()
    layout = storage.DayLayout(Path(root), day)
    for path in layout.day_dir.glob("*/top10/*_top10.json"):
        try:
            ids |= storage.read_published_ids(path)
        except (OSError, ValueError):  # an unreadable day is no history, not a failed dedup
            continue
    return ids
