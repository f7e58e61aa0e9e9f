"""Data layout under the data root, and the only ways this project writes or deletes files.

Layout (``<date>`` is the run's logical date in Asia/Seoul, ``YYYY-MM-DD``)::

    <root>/<date>/<category>/raw/items.jsonl           crawl output (every kept item, one JSON object a line)
    <root>/<date>/<category>/raw/thumbnails/<id>.jpg    covers as downloaded, named by video id only
    <root>/<date>/<category>/raw/failures/              screenshot + HTML of a blocked page
    <root>/<date>/work/dedup.jsonl                      every item with its duplicate verdict
    <root>/<date>/work/language.jsonl                   every unique item with its language decision
    <root>/<date>/<category>/top10/<category>_top10.json + thumbnails/<category>NN.jpg   what the app reads
    <root>/<date>/manifest.json                         counts per stage and category; written last
    <root>/residual_archive/<date>/<category>/          what was not published; deleted after retention
    <root>/cache/                                       language and fingerprint caches
    <root>/latest.json                                  points at the newest complete day
    <root>/.locks/<date>.<stage>.lock                   one writer per day and stage (flock)

Writes are atomic (temp file in the same directory + ``os.replace``); directories are swapped with
``renameat2(RENAME_EXCHANGE)`` where the kernel has it.  Deletes refuse any path outside the data root.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import datetime as dt
import fcntl
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from .config import KST

DATE_FORMAT = "%Y-%m-%d"


def partition_date(logical_date: dt.datetime) -> dt.date:
    """The day a run works on: its logical date seen from Seoul (Airflow's default timezone is UTC)."""
    if logical_date.tzinfo is None:
        raise ValueError("logical_date must be timezone-aware")
    return logical_date.astimezone(KST).date()


def parse_day(value: str | dt.date) -> dt.date:
    if isinstance(value, dt.date):
        return value
    return dt.datetime.strptime(value, DATE_FORMAT).date()


@dataclass(frozen=True)
class DayLayout:
    """Paths of one day's partition."""

    root: Path
    day: dt.date

    @property
    def day_dir(self) -> Path:
        return self.root / self.day.strftime(DATE_FORMAT)

    def raw_dir(self, category: str) -> Path:
        return self.day_dir / category / "raw"

    def raw_items(self, category: str) -> Path:
        return self.raw_dir(category) / "items.jsonl"

    def raw_thumbnails(self, category: str) -> Path:
        return self.raw_dir(category) / "thumbnails"

    def top10_dir(self, category: str) -> Path:
        return self.day_dir / category / "top10"

    def top10_json(self, category: str) -> Path:
        return self.top10_dir(category) / f"{category}_top10.json"

    @property
    def work_dir(self) -> Path:
        return self.day_dir / "work"

    @property
    def manifest(self) -> Path:
        return self.day_dir / "manifest.json"

    @property
    def archive_dir(self) -> Path:
        return self.root / "residual_archive" / self.day.strftime(DATE_FORMAT)


def cache_dir(root: Path, name: str) -> Path:
    path = root / "cache" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- atomic writes -----------------------------------------------------------------------------------------


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def dumps_json(obj: Any) -> str:
    """Stable JSON: sorted keys are not used (field order is the contract), but output is deterministic."""
    return json.dumps(obj, ensure_ascii=False, indent=2) + "\n"


def atomic_write_json(path: Path, obj: Any) -> Path:
    return atomic_write_text(path, dumps_json(obj))


def atomic_write_jsonl(path: Path, rows: Iterable[dict]) -> Path:
    return atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows))


def read_jsonl(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line:
                yield json.loads(line)


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


# --- directory swap ----------------------------------------------------------------------------------------

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2). False where the kernel/filesystem cannot."""
    if _renameat2 is None:
        return False
    rc = _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


def replace_dir(staged: Path, target: Path, root: Path) -> None:
    """Make ``staged`` visible at ``target`` in one step; readers see the old tree or the new, never a mix."""
    staged, target = Path(staged), Path(target)
    if not target.exists():
        os.replace(staged, target)
        return
    if _exchange(staged, target):
        remove_tree(staged, root)  # ``staged`` now holds the old tree
        return
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.replace(target, old)
    os.replace(staged, target)
    remove_tree(old, root)


def staging_dir(parent: Path, name: str) -> Path:
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{name}.staging-", dir=parent))


# --- one writer per day ---------------------------------------------------------------------------------


@contextlib.contextmanager
def day_lock(root: Path, day: dt.date, name: str) -> Iterator[Path]:
    """Hold an exclusive lock on ``<root>/.locks/<day>.<name>.lock`` (blocking): two runs of the same day —
    a manual trigger beside the scheduled one, a CLI run beside the DAG — take turns instead of interleaving.
    ``flock`` is released by the kernel when the holder dies, so a ``kill -9`` never leaves the day locked."""
    path = Path(root) / ".locks" / f"{day.strftime(DATE_FORMAT)}.{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield path
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --- deletes, only inside the data root --------------------------------------------------------------------


def is_within(path: Path, root: Path) -> bool:
    """True when ``path`` (not following a final symlink) lies inside ``root``."""
    root = Path(root).resolve()
    parent = Path(path).parent.resolve()
    candidate = parent / Path(path).name
    return candidate != root and (root in candidate.parents)


def remove_tree(path: Path, root: Path) -> None:
    """Delete a directory tree inside the data root. A symlink is unlinked, never followed."""
    path = Path(path)
    if not is_within(path, root):
        raise PermissionError(f"refusing to delete {path}: outside the data root {root}")
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)  # rmtree does not follow symlinks inside the tree


def move_into(src: Path, dst: Path, root: Path) -> None:
    """Move ``src`` to ``dst`` inside the data root, replacing what ``dst`` held (reruns do not duplicate)."""
    if not (is_within(src, root) and is_within(dst, root)):
        raise PermissionError(f"refusing to move {src} -> {dst}: outside the data root {root}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir() and dst.is_dir() and not dst.is_symlink():
        replace_dir(src, dst, root)
        return
    if dst.exists() or dst.is_symlink():
        remove_tree(dst, root)
    os.replace(src, dst)
