"""The dedup stage for the DAG: one verdict per crawled item, across all categories of the day.

Decides which crawled items show the same video (a re-upload, or the same id crawled in two categories) and
keeps one per group, the most viewed (contract: docs/architecture.md).  Two covers are the same video when their
global descriptors are close (cosine ≥ the backbone's calibrated threshold) *and* the second look agrees: keypoints
under one similarity transform, and the pixels over most of both covers once laid on each other (``verify.py``);
the first alone merges a creator's template series.  An item without a usable cover is
``skipped``: it cannot be published.  Fingerprints are reused from earlier days when the cover bytes are the
same, and items are matched against the last week's published items so re-uploads under a new id are recorded.

With ``Settings.dedup_crop_robust`` (``grouping.CropRobust``) the candidates also come from regional descriptors
(a cover whole close to a window of the other: a heavy crop, a square cut, a thumbnail, a meme frame), at most
each cover's best regional match, and below that each cover's best by shared keypoints (``votes.py``); the
second look also accepts one cover lying inside the other, and a pair ORB could not verify gets a SIFT look
(``verify.SiftLook``); the fingerprint memory of that mode is kept apart (``memory.py``).

The work runs in three steps whose inputs and outputs are named types: :func:`encode` (covers → ``Encoded``
fingerprints, reusing the memory), :func:`search` (``Encoded`` → duplicate verdicts on the rows) and
:func:`summarise` (rows → the summary the manifest copies).  :func:`dedup_day` reads exactly the crawl files it is
given; :func:`run_dedup` is the same over a day's standard layout.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import storage
from ..config import CATEGORIES, Settings
from ..contracts import DedupResult
from ..models import VideoItem
from .backbones import sha256_file
from .calibration import thresholds
from .memory import DayFingerprints, FingerprintMemory, published_ids

if TYPE_CHECKING:
    from .grouping import CropRobust

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Cover:
    """An item whose cover file exists, with the SHA-256 of its bytes (the fingerprint cache key)."""

    item: VideoItem
    path: Path
    digest: str


@dataclass(frozen=True)
class Fingerprint:
    """What the dedup compares: an L2-normalised global descriptor and the keypoint look (see verify.detect);
    in the crop-robust dedup also the regional descriptors (R, D)."""

    vector: np.ndarray
    keypoints: Any
    regions: np.ndarray | None = None


@dataclass(frozen=True)
class Thresholds:
    cosine: float
    min_inliers: int
    min_agreement: int


@dataclass
class Crawls:
    """The day's crawled items as read from the given files."""

    items: list[VideoItem]  # unique by key, sorted by key
    folders: dict[str, Path]  # category -> folder its thumbnail paths are relative to
    missing_categories: list[str]
    invalid_rows: int = 0


@dataclass
class Encoded:
    """Output of :func:`encode`: the items whose cover was fingerprinted, in order, and what became of the rest."""

    covers: list[Cover]
    vectors: np.ndarray  # (n, dim) float32, row k belongs to covers[k]
    keypoints: list
    undecodable: dict[str, str] = field(default_factory=dict)  # key -> reason
    regions: np.ndarray | None = None  # (n, R, D) in the crop-robust dedup, row k belongs to covers[k]
    fingerprinted: int = 0
    reused_from_cache: int = 0
    saved: Future | None = None  # the memory's save when ``encode`` ran it elsewhere (``saving``)

    def __len__(self) -> int:
        return len(self.covers)


@dataclass
class Verdicts:
    """Output of :func:`search`: one row per item (dedup.jsonl), and the counts the summary reports."""

    rows: dict[str, dict]
    groups: int = 0
    rejected_by_geometry: int = 0
    history_matches: int = 0


def _row(item: VideoItem) -> dict:
    """A verdict row.  For a ``duplicate``: ``duplicate_of`` the kept item, ``similarity`` the cosine of the two
    covers, ``inliers`` / ``agreement`` the second look at that same pair (verify.py), ``matched_by`` why they
    are one video (``cover``: that pair verified; ``same_id``: the same video id in another category; ``chain``:
    joined through ``via``, another item of the group).  ``matched_history``: the published item of an earlier
    day this one re-uploads (``day``, ``key``, ``id``, ``similarity``, ``inliers``, ``agreement``)."""
    return {"key": item.key, "category": item.category, "id": item.id, "status": "kept", "duplicate_of": None,
            "similarity": None, "reason": None, "matched_history": None, "inliers": None, "agreement": None,
            "matched_by": None, "via": None}


def load_crawls(raw_items: Mapping[str, Path], categories: Sequence[str]) -> Crawls:
    """Read the given ``items.jsonl`` files (invalid rows skipped and counted); a category of ``categories``
    without a file is missing: its crawl failed, the others still dedup."""
    items: dict[str, VideoItem] = {}
    folders: dict[str, Path] = {}
    missing: list[str] = []
    invalid = 0
    for category in categories:
        path = raw_items.get(category)
        if path is None or not Path(path).is_file():
            missing.append(category)
            continue
        crawled = storage.read_items(Path(path), invalid=storage.SKIP_INVALID)
        invalid += len(crawled.invalid_lines)
        folders[category] = crawled.folder
        for item in crawled.items:
            items[item.key] = item  # one row per (category, id)
    return Crawls(sorted(items.values(), key=lambda it: it.key), folders, missing, invalid)


def usable_covers(crawls: Crawls, rows: dict[str, dict]) -> list[Cover]:
    """Items with a cover file on disk; the others are marked ``skipped`` with the reason."""
    covers = []
    for item in crawls.items:
        if not item.thumbnail:
            rows[item.key].update(status="skipped", reason=f"no thumbnail: {item.thumbnail_error or 'not downloaded'}")
            continue
        path = crawls.folders[item.category] / item.thumbnail
        try:
            digest = sha256_file(path)
        except OSError:
            rows[item.key].update(status="skipped", reason="thumbnail file missing")
            continue
        covers.append(Cover(item, path, digest))
    return covers


def encode(covers: list[Cover], fingerprinter, memory: FingerprintMemory, day: dt.date,
           saving: Executor | None = None) -> Encoded:
    """Fingerprint the covers, reusing the fingerprint of the same video id with the same cover bytes from the
    last days (or a rerun); save the day's fingerprints for the days after.  A fingerprinter with ``regions``
    reuses only stored days that have them.  ``saving``: the save (and the memory's pruning) runs there, and
    ``Encoded.saved`` is its future, which the caller must wait on."""
    with_regions = bool(getattr(fingerprinter, "regions", False))
    known: dict[tuple[str, str], Fingerprint | str] = {}  # (video id, digest) -> fingerprint or why it failed
    for stored in memory.recent(day, require_regions=with_regions):
        for k, (vid, digest) in enumerate(zip(stored.ids, stored.digests, strict=True)):
            regions = stored.regions[k] if with_regions else None
            known.setdefault((vid, digest), Fingerprint(stored.globals[k], stored.keypoints[k], regions))
    todo: dict[tuple[str, str], Path] = {}
    for cover in covers:
        if (cover.item.id, cover.digest) not in known:
            todo.setdefault((cover.item.id, cover.digest), cover.path)
    reused = sum(1 for c in covers if (c.item.id, c.digest) in known)
    fingerprinted = 0
    if todo:
        fresh = fingerprinter.fingerprint(list(todo.values()), digests=[d for _, d in todo])
        row_of = {p: k for k, p in enumerate(fresh.paths)}
        failed = {s["path"]: s["reason"] for s in fresh.skipped}
        for key, path in todo.items():
            k = row_of.get(str(path))
            known[key] = (Fingerprint(fresh.globals[k], fresh.keypoints[k],
                                      fresh.regions[k] if with_regions else None)
                          if k is not None else failed.get(str(path), "undecodable"))
        fingerprinted = len(fresh.paths)

    ok: list[Cover] = []
    undecodable: dict[str, str] = {}
    for cover in covers:
        value = known[(cover.item.id, cover.digest)]
        if isinstance(value, str):
            undecodable[cover.item.key] = value
        else:
            ok.append(cover)
    prints = [known[(c.item.id, c.digest)] for c in ok]
    dim = prints[0].vector.shape[0] if prints else 0
    vectors = np.stack([p.vector for p in prints]).astype(np.float32) if prints else np.zeros((0, dim), np.float32)
    keypoints = [p.keypoints for p in prints]
    regions = np.stack([p.regions for p in prints]) if with_regions and prints else None
    saved = None
    if ok:
        fps = DayFingerprints(day, [c.item.key for c in ok], [c.digest for c in ok], vectors, keypoints, regions)

        def save() -> None:
            memory.save(fps)
            memory.prune(day)

        if saving is None:
            save()
        else:
            saved = saving.submit(save)
    return Encoded(ok, vectors, keypoints, undecodable, fingerprinted=fingerprinted, reused_from_cache=reused,
                   regions=regions, saved=saved)


def _candidates(vectors: np.ndarray, regions: np.ndarray | None, limits: Thresholds, robust: CropRobust | None,
                looks: list, others: tuple[np.ndarray, np.ndarray | None, list] | None = None):
    """Pairs for the second look: global cosine ≥ the threshold; in the crop-robust dedup also a cover whole
    close to a region of the other, and below that each cover's best by shared keypoints
    (``grouping.crop_robust_candidates``).  ``others``: (vectors, regions, looks) of the covers searched
    against."""
    from .grouping import crop_robust_candidates, similar_pairs

    if robust is None:
        return similar_pairs(vectors, limits.cosine, others=None if others is None else others[0])
    return crop_robust_candidates(robust, vectors, regions, limits.cosine, looks, others)


def search(encoded: Encoded, limits: Thresholds, rows: dict[str, dict], robust: CropRobust | None = None) -> Verdicts:
    """Group the same video: candidate pairs by global cosine (and regions, ``robust``), kept when the pictures
    agree geometrically; the same id in two categories is one video.  In each group the first by (views, likes,
    category order, id) is kept and the others become ``duplicate`` of it."""
    from .grouping import Pairs, connected_groups, keep_order
    from .verify import pair_scores, passes

    verdicts = Verdicts(rows)
    for key, reason in encoded.undecodable.items():
        rows[key].update(status="skipped", reason=f"thumbnail undecodable: {reason}")
    rule = (limits.min_inliers, limits.min_agreement)
    contained, sift = _looks(robust)
    pairs = _candidates(encoded.vectors, encoded.regions, limits, robust, encoded.keypoints)
    looked: dict[tuple[int, int], tuple[int, int]] = {}  # candidate pair (i < j) -> (inliers, agreement %)
    if len(pairs):
        scores = pair_scores(encoded.keypoints, pairs, enough=rule, contained=contained, sift=sift)
        verified = passes(scores, *rule)
        looked = {(min(i, j), max(i, j)): (int(n), int(a)) for i, j, (n, a)
                  in zip(pairs.i.tolist(), pairs.j.tolist(), scores.tolist(), strict=True)}
        verdicts.rejected_by_geometry = int((~verified).sum())
        pairs = pairs.select(verified)
    by_id: dict[str, list[int]] = {}
    for k, cover in enumerate(encoded.covers):
        by_id.setdefault(cover.item.id, []).append(k)
    same_i = [ks[0] for ks in by_id.values() for _ in ks[1:]]
    same_j = [k for ks in by_id.values() for k in ks[1:]]
    joined = Pairs(np.concatenate([pairs.i, np.asarray(same_i, np.int64)]),
                   np.concatenate([pairs.j, np.asarray(same_j, np.int64)]),
                   np.concatenate([pairs.similarity, np.ones(len(same_i), np.float32)]))
    groups = connected_groups(len(encoded), joined)
    verdicts.groups = len(groups)
    edges = {(min(i, j), max(i, j)) for i, j in zip(joined.i.tolist(), joined.j.tolist(), strict=True)}
    for group in groups:
        members = [encoded.covers[k].item.to_json() for k in group]
        best = group[keep_order(members, list(CATEGORIES))[0]]
        kept_key = encoded.covers[best].item.key
        parent = _paths_to(best, group, edges)
        for k in group:
            if k != best:
                similarity = float(np.clip(encoded.vectors[k] @ encoded.vectors[best], -1.0, 1.0))
                rows[encoded.covers[k].item.key].update(
                    status="duplicate", duplicate_of=kept_key, similarity=round(similarity, 4),
                    **_evidence(encoded, k, best, parent, edges, looked, rule, contained, sift))
    return verdicts


def _looks(robust: CropRobust | None) -> tuple[float, bool]:
    """(contained look's share of agreeing cells, SIFT look) of the second look: both off (0, False) in today's
    dedup."""
    if robust is None:
        return 0.0, False
    return robust.contained_min_agreement, robust.sift_look


def _paths_to(best: int, group: list[int], edges: set[tuple[int, int]]) -> dict[int, int]:
    """For each member of ``group``, its neighbour on a shortest path of ``edges`` to ``best`` (breadth first)."""
    members = set(group)
    neighbours: dict[int, list[int]] = {k: [] for k in group}
    for i, j in sorted(edges):
        if i in members and j in members:
            neighbours[i].append(j)
            neighbours[j].append(i)
    parent, frontier = {best: best}, [best]
    while frontier:
        following = []
        for node in frontier:
            for other in neighbours[node]:
                if other not in parent:
                    parent[other] = node
                    following.append(other)
        frontier = following
    return parent


def _evidence(encoded: Encoded, k: int, best: int, parent: dict[int, int], edges: set[tuple[int, int]],
              looked: dict[tuple[int, int], tuple[int, int]], rule: tuple[int, int], contained: float = 0.0,
              sift: bool = False) -> dict:
    """Why ``k`` is a duplicate of ``best``: how they were joined, and the second look at the pair itself (taken
    now when the grouping never compared the two directly: a chain, or the same id under a far cover)."""
    from .verify import SiftLook, pair_match

    pair = (min(k, best), max(k, best))
    if encoded.covers[k].item.id == encoded.covers[best].item.id:
        matched_by, via = "same_id", None
    elif pair in edges:
        matched_by, via = "cover", None
    else:
        matched_by, via = "chain", encoded.covers[parent[k]].item.key
    inliers, agreement = looked.get(pair) or pair_match(encoded.keypoints, pair[0], encoded.keypoints, pair[1],
                                                        enough=rule, contained=contained,
                                                        sift=SiftLook() if sift else None)
    return {"inliers": int(inliers), "agreement": int(agreement), "matched_by": matched_by, "via": via}


def match_history(data_root: Path, memory: FingerprintMemory, day: dt.date, encoded: Encoded,
                  limits: Thresholds, rows: dict[str, dict], robust: CropRobust | None = None) -> int:
    """Record on each row the best match among items published in the last days under another id (the same
    candidates and look as ``search``)."""
    from .verify import pair_scores, passes

    if not len(encoded):
        return 0
    hist_keys, hist_days, hist_vectors, hist_keypoints, hist_regions = [], [], [], [], []
    for stored in memory.recent(day, include_today=False, require_regions=robust is not None):
        published = published_ids(data_root, stored.day)
        for k, key in enumerate(stored.keys):
            if key.split("/", 1)[1] in published:
                hist_keys.append(key)
                hist_days.append(stored.day.strftime(storage.DATE_FORMAT))
                hist_vectors.append(stored.globals[k])
                hist_keypoints.append(stored.keypoints[k])
                if robust is not None:
                    hist_regions.append(stored.regions[k])
    if not hist_keys:
        return 0
    rule = (limits.min_inliers, limits.min_agreement)
    others = (np.stack(hist_vectors).astype(np.float32), np.stack(hist_regions) if hist_regions else None,
              hist_keypoints)
    pairs = _candidates(encoded.vectors, encoded.regions, limits, robust, encoded.keypoints, others)
    scores = np.zeros((0, 2), np.int32)
    if len(pairs):
        contained, sift = _looks(robust)
        scores = pair_scores(encoded.keypoints, pairs, others=hist_keypoints, enough=rule, contained=contained,
                             sift=sift)
        verified = passes(scores, *rule)
        pairs, scores = pairs.select(verified), scores[verified]
    best: dict[int, tuple[float, int, tuple[int, int]]] = {}
    for i, j, s, look in zip(pairs.i.tolist(), pairs.j.tolist(), pairs.similarity.tolist(), scores.tolist(),
                             strict=True):
        if hist_keys[j].split("/", 1)[1] == encoded.covers[i].item.id:
            continue  # the same video id published again is not a re-upload
        if i not in best or (s, -j) > (best[i][0], -best[i][1]):
            best[i] = (s, j, (int(look[0]), int(look[1])))
    for i, (s, j, (inliers, agreement)) in best.items():
        rows[encoded.covers[i].item.key]["matched_history"] = {
            "day": hist_days[j], "key": hist_keys[j], "id": hist_keys[j].split("/", 1)[1], "similarity": round(s, 4),
            "inliers": inliers, "agreement": agreement}
    return len(best)


def summarise(fingerprinter, limits: Thresholds, categories: Sequence[str], crawls: Crawls, encoded: Encoded,
              verdicts: Verdicts) -> dict:
    """The flat summary the manifest copies: backbone and thresholds used, and the counts."""
    ordered = [verdicts.rows[k] for k in sorted(verdicts.rows)]
    status = Counter(r["status"] for r in ordered)
    skipped_by_reason = Counter((r["reason"] or "").split(":")[0] for r in ordered if r["status"] == "skipped")
    return {
        "backbone": fingerprinter.name,
        "backbone_reason": fingerprinter.choice.reason,
        "weights_file": str(fingerprinter.choice.weights_path),
        "weights_sha256": fingerprinter.choice.weights_sha256,
        "precision": fingerprinter.precision,
        "precision_reason": fingerprinter.precision_choice.reason,
        "threshold": limits.cosine,
        "min_inliers": limits.min_inliers,
        "min_agreement": limits.min_agreement,
        "categories": list(categories),
        "missing_categories": crawls.missing_categories,
        "items": len(ordered),
        "kept": status["kept"],
        "duplicates": status["duplicate"],
        "skipped": status["skipped"],
        "skipped_by_reason": dict(sorted(skipped_by_reason.items())),
        "invalid_rows": crawls.invalid_rows,
        "groups": verdicts.groups,
        "fingerprinted": encoded.fingerprinted,
        "reused_from_cache": encoded.reused_from_cache,
        "candidates_rejected_by_geometry": verdicts.rejected_by_geometry,
        "history_matches": verdicts.history_matches,
    }


def dedup_day(settings: Settings, day: dt.date, raw_items: Mapping[str, Path], work_dir: Path,
              categories: Sequence[str] | None = None, fingerprinter=None) -> DedupResult:
    """Dedup the crawls in ``raw_items`` (category -> items.jsonl; thumbnails relative to its folder) and write
    ``dedup.jsonl`` + ``dedup_summary.json`` into ``work_dir``.  ``categories`` (default: those of
    ``raw_items``) names every category the run wanted: one without a file is reported missing."""
    from .fingerprint import Fingerprinter
    from .grouping import CropRobust
    from .images import DescriptorInput

    day = storage.parse_day(day)
    categories = list(categories if categories is not None else raw_items)
    crawls = load_crawls(raw_items, categories)
    rows = {item.key: _row(item) for item in crawls.items}
    covers = usable_covers(crawls, rows)

    crop_robust = settings.dedup_crop_robust
    fp = fingerprinter or Fingerprinter(settings.backbone, settings.models_dir, precision=settings.precision,
                                        regions=crop_robust,
                                        descriptor_input=DescriptorInput() if crop_robust else None)
    # its values are the ones `make calibrate` derived for these weights (CalibrationMissing when none)
    robust = CropRobust.calibrated(fp.name, fp.choice.weights_sha256, fp.precision) if crop_robust else None
    if robust is not None and (not fp.regions or fp.descriptor_input != robust.descriptor_input):
        raise ValueError(f"the crop-robust dedup needs a fingerprinter with regions of {robust.descriptor_input}")
    limits = Thresholds(*thresholds(fp.name, settings.dedup_threshold, precision=fp.precision,
                                    weights_sha256=fp.choice.weights_sha256))
    # the folder follows what the descriptors were made of, so a fingerprinter given in never mixes its own in
    memory = FingerprintMemory(settings.data_root, fp.name, fp.choice.weights_sha256, fp.precision,
                               variant=fp.descriptor_input.tag if fp.descriptor_input else "")
    # the day's memory is deflated (one core, seconds on a demo day) while the search runs; history matching
    # reads only the days before, and pruning deletes only days older than those
    with ThreadPoolExecutor(1) as saving:
        encoded = encode(covers, fp, memory, day, saving)
        verdicts = search(encoded, limits, rows, robust)
        verdicts.history_matches = match_history(settings.data_root, memory, day, encoded, limits, rows, robust)
        if encoded.saved is not None:
            encoded.saved.result()  # saved before anything is written or reported, or its error raised
    summary = summarise(fp, limits, categories, crawls, encoded, verdicts)
    summary["crop_robust"] = robust is not None
    summary["region_threshold"] = robust.region_threshold if robust else None
    summary["contained_min_agreement"] = robust.contained_min_agreement if robust else None
    summary["region_per_cover"] = robust.per_cover if robust else None
    summary["sift_look"] = robust.sift_look if robust else False
    summary["votes_per_cover"] = robust.votes_per_cover if robust else None
    summary["vote_floor"] = robust.vote_floor if robust and robust.votes_per_cover else None
    summary["descriptor_input"] = robust.descriptor_input.tag if robust else None
    older, other = memory.older_format_days(day), memory.other_format_days(day)
    summary["memory_older_format_days"] = [d.strftime(storage.DATE_FORMAT) for d in older]
    summary["memory_other_format_days"] = [d.strftime(storage.DATE_FORMAT) for d in other]
    if older:
        log.warning("dedup %s: fingerprint memory of %s is in the older format (no precision in its folder): not "
                    "read, so those days' re-uploads are not matched", day, ", ".join(map(str, older)))
    if other:
        log.warning("dedup %s: fingerprint memory of %s was made with another precision or descriptor input "
                    "(%s is read): not read, so those days' re-uploads are not matched", day,
                    ", ".join(map(str, other)), memory.dir.name)

    work_dir = Path(work_dir)
    summary_path = storage.atomic_write_json(work_dir / "dedup_summary.json", summary)
    out = storage.atomic_write_jsonl(work_dir / "dedup.jsonl", [rows[k] for k in sorted(rows)])
    log.info("dedup %s: %s", day, {k: summary[k] for k in ("backbone", "items", "kept", "duplicates", "skipped")})
    return DedupResult(
        dedup_path=str(out), summary_path=str(summary_path),
        raw_items={c: str(raw_items[c]) for c in categories if c not in crawls.missing_categories},
        categories=categories, missing_categories=list(crawls.missing_categories),
        items=summary["items"], kept=summary["kept"], duplicates=summary["duplicates"], skipped=summary["skipped"],
    )


def run_dedup(settings: Settings, day: dt.date, categories: Sequence[str], fingerprinter=None) -> Path:
    """:func:`dedup_day` over the day's standard layout (``top10 run-day``, the CLI, benchmarks); returns the
    ``dedup.jsonl`` path."""
    layout = storage.DayLayout(settings.data_root, storage.parse_day(day))
    raw_items = {c: layout.raw_items(c) for c in categories}
    return Path(dedup_day(settings, day, raw_items, layout.work_dir, categories, fingerprinter).dedup_path)
