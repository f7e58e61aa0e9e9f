"""Data layout under the data root, and the only ways this project writes or deletes files.

Layout (``<date>`` is the run's logical date in Asia/Seoul, ``YYYY-MM-DD``)::

    <root>/<date>/<category>/raw/items.jsonl           crawl output (every kept item, one JSON object a line)
    <root>/<date>/<category>/raw/dropped.jsonl         items the crawl dropped (below min_views, ads), with reason
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
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import KST

log = logging.getLogger(__name__)

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

    def raw_dropped(self, category: str) -> Path:
        """The items the crawl saw and dropped (below ``min_views``, ads), one small record a line."""
        return self.raw_dir(category) / "dropped.jsonl"

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


# --- reading a day's data: one reader per kind, used by every stage ---------------------------------------

SKIP_INVALID = "skip"  # log the line, count it, go on: one bad row must not cost the whole day
RAISE_INVALID = "raise"  # a tool that must see every row (an audit) stops at the first bad one


@dataclass(frozen=True)
class CrawledItems:
    """The rows of one ``raw/items.jsonl`` that are valid ``VideoItem``s, and the line numbers of those that
    were not.  A video id repeated in the file is one item (the last line wins, as the crawl wrote it)."""

    path: Path
    items: tuple  # tuple[VideoItem, ...], file order, unique by id
    invalid_lines: tuple[int, ...]

    @property
    def folder(self) -> Path:
        """Where ``thumbnail`` paths of these items are relative to (the crawl's ``raw/``)."""
        return self.path.parent

    def by_id(self) -> dict:
        return {item.id: item for item in self.items}


def read_items(path: Path, *, invalid: str = SKIP_INVALID) -> CrawledItems:
    """Read a crawl's ``items.jsonl``.  ``invalid`` says what a line that is not a ``VideoItem`` does:
    ``SKIP_INVALID`` (every stage of the pipeline) or ``RAISE_INVALID`` (ValueError naming file and line).
    A missing file is FileNotFoundError: the caller knows whether a missing crawl is expected."""
    from pydantic import ValidationError

    from .models import VideoItem

    if invalid not in (SKIP_INVALID, RAISE_INVALID):
        raise ValueError(f"invalid must be {SKIP_INVALID!r} or {RAISE_INVALID!r}, got {invalid!r}")
    path = Path(path)
    items: dict[str, Any] = {}
    bad: list[int] = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                item = VideoItem.model_validate(json.loads(line))
            except (ValidationError, ValueError, TypeError) as exc:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                if invalid == RAISE_INVALID:
                    raise ValueError(f"{path}:{n}: not a VideoItem: {first}") from None
                log.warning("%s:%d: not a VideoItem, skipped: %s", path, n, first)
                bad.append(n)
                continue
            items.pop(item.id, None)  # re-insert: a repeated id takes the later line's place and order
            items[item.id] = item
    return CrawledItems(path=path, items=tuple(items.values()), invalid_lines=tuple(bad))


_VIDEO_ID = re.compile(r"/(?:video|photo)/(\d+)")  # canonical urls: /@user/video/<id>, photo posts /@user/photo/<id>


def read_published_ids(top10_json: Path) -> set[str]:
    """Video ids a category published, read back from the app JSON (its ``id`` is the rank, the URL holds the
    video id).  An absent file is an empty set."""
    path = Path(top10_json)
    if not path.is_file():
        return set()
    entries = read_json(path)
    found = (_VIDEO_ID.search(str(entry.get("url", ""))) for entry in entries if isinstance(entry, dict))
    return {match.group(1) for match in found if match}


def read_manifest(path: Path) -> dict | None:
    """A day's ``manifest.json``: None when absent, ValueError when it is not a JSON object."""
    path = Path(path)
    if not path.is_file():
        return None
    data = read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a JSON object")
    return data


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


def same_tree(a: Path, b: Path) -> bool:
    """Two directories hold the same files with the same bytes."""
    if not (Path(a).is_dir() and Path(b).is_dir()):
        return False
    files_a = sorted(p.relative_to(a) for p in Path(a).rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in Path(b).rglob("*") if p.is_file())
    return files_a == files_b and all((a / f).read_bytes() == (b / f).read_bytes() for f in files_a)


@dataclass
class StagedDir:
    """A staging directory beside ``target``; ``changed`` tells, after the swap, whether ``target`` changed."""

    path: Path
    target: Path
    changed: bool | None = None


@contextlib.contextmanager
def staged_dir(target: Path, root: Path, *, keep_identical: bool = False) -> Iterator[StagedDir]:
    """Write into a fresh temp directory beside ``target``; when the block ends normally it is swapped in whole
    (readers see the old tree or the new, never a mix), when it raises it is removed and ``target`` is left as
    it was.  ``keep_identical``: if the new tree equals ``target`` byte for byte, drop it instead of swapping
    (a rerun then touches nothing).  Staging directories are named ``.<target>.staging-*``."""
    target = Path(target)
    staged = StagedDir(path=staging_dir(target.parent, target.name), target=target)
    try:
        yield staged
        if keep_identical and same_tree(staged.path, target):
            remove_tree(staged.path, root)
            staged.changed = False
        else:
            replace_dir(staged.path, target, root)
            staged.changed = True
    except BaseException:
        if staged.path.exists():
            remove_tree(staged.path, root)
        raise


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
