"""The dedup stage for the DAG: one verdict per crawled item, across all categories of the day.

Decides which crawled items show the same video (a re-upload, or the same id crawled in two categories) and
keeps one per group, the most viewed (contract: docs/architecture.md).  Two covers are the same video when their
global descriptors are close (cosine ≥ the backbone's calibrated threshold) *and* the second look agrees: keypoints
under one similarity transform, and the pixels over most of both covers once laid on each other (``verify.py``);
the first alone merges a creator's template series.  An item without a usable cover is
``skipped``: it cannot be published.  Fingerprints are reused from earlier days when the cover bytes are the
same, and items are matched against the last week's published items so re-uploads under a new id are recorded.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import storage
from ..config import CATEGORIES, Settings
from ..models import VideoItem
from .backbones import sha256_file
from .calibration import thresholds
from .memory import DayFingerprints, FingerprintMemory, published_ids

log = logging.getLogger(__name__)


def _digest(path: Path) -> str | None:
    try:
        return sha256_file(path)
    except OSError:
        return None


def _load_items(layout: storage.DayLayout, categories: Sequence[str], counts: Counter):
    items: list[VideoItem] = []
    missing: list[str] = []
    for category in categories:
        path = layout.raw_items(category)
        if not path.is_file():
            missing.append(category)  # its crawl failed: the other categories still dedup
            continue
        for row in storage.read_jsonl(path):
            try:
                items.append(VideoItem(**row))
            except (TypeError, ValueError) as exc:
                counts["invalid_rows"] += 1
                log.warning("dedup: invalid row in %s: %s", path, exc)
    return items, missing


def run_dedup(settings: Settings, day: dt.date, categories: Sequence[str],
              fingerprinter=None) -> Path:
    """Write ``<day>/work/dedup.jsonl`` and ``dedup_summary.json``; return the jsonl path."""
    from .fingerprint import Fingerprinter
    from .grouping import Pairs, connected_groups, keep_order, similar_pairs
    from .verify import agree

    day = storage.parse_day(day)
    layout = storage.DayLayout(settings.data_root, day)
    counts: Counter = Counter()
    items, missing_categories = _load_items(layout, categories, counts)
    # one row per (category, id); a crawl file repeating a line is one item
    items = list({it.key: it for it in items}.values())
    items.sort(key=lambda it: it.key)

    fp = fingerprinter or Fingerprinter(settings.backbone, settings.models_dir)
    threshold, min_inliers, min_agreement = thresholds(fp.name, settings.dedup_threshold)
    memory = FingerprintMemory(settings.data_root, fp.name, fp.choice.weights_sha256)

    rows: dict[str, dict] = {}
    usable: list[tuple[VideoItem, Path, str]] = []
    for it in items:
        row = {"key": it.key, "category": it.category, "id": it.id, "status": "kept", "duplicate_of": None,
               "similarity": None, "reason": None, "matched_history": None}
        rows[it.key] = row
        if not it.thumbnail:
            row.update(status="skipped", reason=f"no thumbnail: {it.thumbnail_error or 'not downloaded'}")
            continue
        path = layout.raw_dir(it.category) / it.thumbnail
        digest = _digest(path)
        if digest is None:
            row.update(status="skipped", reason="thumbnail file missing")
            continue
        usable.append((it, path, digest))

    # reuse fingerprints of the same video id with the same cover bytes from the last days (or a rerun)
    known: dict[tuple[str, str], tuple | str] = {}
    for stored in memory.recent(day):
        for k, (vid, dig) in enumerate(zip(stored.ids, stored.digests)):
            known.setdefault((vid, dig), (stored.globals[k], stored.keypoints[k]))
    todo_paths: dict[tuple[str, str], Path] = {}
    for it, path, digest in usable:
        if (it.id, digest) not in known:
            todo_paths.setdefault((it.id, digest), path)
    counts["reused_from_cache"] = sum(1 for it, _, d in usable if (it.id, d) in known)
    fresh = fp.fingerprint(list(todo_paths.values()), digests=[d for _, d in todo_paths]) if todo_paths else None
    if fresh is not None:
        by_path = {p: k for k, p in enumerate(fresh.paths)}
        failed = {s["path"]: s["reason"] for s in fresh.skipped}
        for key, path in todo_paths.items():
            if str(path) in by_path:
                k = by_path[str(path)]
                known[key] = (fresh.globals[k], fresh.keypoints[k])
            else:
                known[key] = failed.get(str(path), "undecodable")  # reason string
        counts["fingerprinted"] = len(fresh.paths)

    ok: list[tuple[VideoItem, str]] = []
    for it, _, digest in usable:
        value = known[(it.id, digest)]
        if isinstance(value, str):
            rows[it.key].update(status="skipped", reason=f"thumbnail undecodable: {value}")
        else:
            ok.append((it, digest))

    n = len(ok)
    dim = next((known[(it.id, d)][0].shape[0] for it, d in ok), 0)
    glob = np.stack([known[(it.id, d)][0] for it, d in ok]).astype(np.float32) if n else np.zeros((0, dim), np.float32)
    kps = [known[(it.id, d)][1] for it, d in ok]
    if n:
        memory.save(DayFingerprints(day, [it.key for it, _ in ok], [d for _, d in ok], glob, kps))
        memory.prune(day)

    # candidate pairs by global cosine, kept when the pictures agree geometrically; the same id is one video
    pairs = similar_pairs(glob, threshold)
    if len(pairs):
        verified = agree(kps, pairs, min_inliers, min_agreement)
        counts["candidates_rejected_by_geometry"] = int((~verified).sum())
        pairs = pairs.select(verified)
    by_id: dict[str, list[int]] = {}
    for k, (it, _) in enumerate(ok):
        by_id.setdefault(it.id, []).append(k)
    same_i = [ks[0] for ks in by_id.values() for _ in ks[1:]]
    same_j = [k for ks in by_id.values() for k in ks[1:]]
    joined = Pairs(np.concatenate([pairs.i, np.asarray(same_i, np.int64)]),
                   np.concatenate([pairs.j, np.asarray(same_j, np.int64)]),
                   np.concatenate([pairs.similarity, np.ones(len(same_i), np.float32)]))
    groups = connected_groups(n, joined)
    order_cats = list(CATEGORIES)
    for group in groups:
        members = [ok[k][0].to_json() for k in group]
        best = group[keep_order(members, order_cats)[0]]
        kept_key = ok[best][0].key
        for k in group:
            if k != best:
                sim = float(np.clip(glob[k] @ glob[best], -1.0, 1.0))
                rows[ok[k][0].key].update(status="duplicate", duplicate_of=kept_key, similarity=round(sim, 4))

    history_matches = _match_history(settings, memory, day, ok, glob, kps, threshold, (min_inliers, min_agreement), rows)

    ordered = [rows[k] for k in sorted(rows)]
    status = Counter(r["status"] for r in ordered)
    skipped_by_reason = Counter((r["reason"] or "").split(":")[0] for r in ordered if r["status"] == "skipped")
    summary = {
        "backbone": fp.name,
        "backbone_reason": fp.choice.reason,
        "weights_file": str(fp.choice.weights_path),
        "weights_sha256": fp.choice.weights_sha256,
        "precision": fp.precision,
        "threshold": threshold,
        "min_inliers": min_inliers,
        "min_agreement": min_agreement,
        "categories": list(categories),
        "missing_categories": missing_categories,
        "items": len(ordered),
        "kept": status["kept"],
        "duplicates": status["duplicate"],
        "skipped": status["skipped"],
        "skipped_by_reason": dict(sorted(skipped_by_reason.items())),
        "invalid_rows": counts["invalid_rows"],
        "groups": len(groups),
        "fingerprinted": counts["fingerprinted"],
        "reused_from_cache": counts["reused_from_cache"],
        "candidates_rejected_by_geometry": counts["candidates_rejected_by_geometry"],
        "history_matches": history_matches,
    }
    storage.atomic_write_json(layout.work_dir / "dedup_summary.json", summary)
    out = storage.atomic_write_jsonl(layout.work_dir / "dedup.jsonl", ordered)
    log.info("dedup %s: %s", day, {k: summary[k] for k in ("backbone", "items", "kept", "duplicates", "skipped")})
    return out


def _match_history(settings, memory, day, ok, glob, kps, threshold, geometry, rows) -> int:
    """Record on each row the best match among items published in the last days under another id."""
    from .grouping import similar_pairs
    from .verify import agree

    if not ok:
        return 0
    hist_keys, hist_days, hist_glob, hist_kps = [], [], [], []
    for stored in memory.recent(day, include_today=False):
        published = published_ids(settings.data_root, stored.day)
        for k, key in enumerate(stored.keys):
            if key.split("/", 1)[1] in published:
                hist_keys.append(key)
                hist_days.append(stored.day.strftime(storage.DATE_FORMAT))
                hist_glob.append(stored.globals[k])
                hist_kps.append(stored.keypoints[k])
    if not hist_keys:
        return 0
    hist_g = np.stack(hist_glob).astype(np.float32)
    pairs = similar_pairs(glob, threshold, others=hist_g)
    if len(pairs):
        pairs = pairs.select(agree(kps, pairs, *geometry, others=hist_kps))
    best: dict[int, tuple[float, int]] = {}
    for i, j, s in zip(pairs.i.tolist(), pairs.j.tolist(), pairs.similarity.tolist()):
        it = ok[i][0]
        if hist_keys[j].split("/", 1)[1] == it.id:
            continue  # the same video id published again is not a re-upload
        if i not in best or (s, -j) > (best[i][0], -best[i][1]):
            best[i] = (s, j)
    for i, (s, j) in best.items():
        rows[ok[i][0].key]["matched_history"] = {"day": hist_days[j], "key": hist_keys[j],
                                                 "id": hist_keys[j].split("/", 1)[1], "similarity": round(s, 4)}
    return len(best)
