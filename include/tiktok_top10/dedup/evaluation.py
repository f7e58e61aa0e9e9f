"""Evaluation data and metrics for the dedup stage (used by ``bench/eval_dedup.py`` and the tests).

Positives are re-uploads made from real covers with the edits people apply when they re-post a video
(re-encode, crop/zoom, caption/sticker overlay, mirror, letterbox/pad, brightness/contrast, resize), stacked
several to a variant; the same video id found on two crawl days is a real positive too.  Negatives are the
real distinct videos, including the template series (4-split grids, "TOP7" covers) the original merged.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

from .images import UnreadableImage, open_rgb

VIDEO_URL_ID = re.compile(r"/video/(\d+)")
FILE_ID = re.compile(r"(\d{15,25})\.jpg$")


@dataclass(frozen=True)
class Cover:
    video_id: str
    path: Path
    origin: str  # "top10", "quarantine", "duplicates_storage"


def reference_covers(seed_crawls: Path) -> list[Cover]:
    """Every real cover under ``seed-crawls`` with its video id (top10 files via their JSON's url)."""
    covers: list[Cover] = []
    for top10 in sorted(seed_crawls.glob("*/*/top10/*_top10.json")):
        text = top10.read_text(encoding="utf-8").strip()
        rows = json.loads(text) if text.startswith("[") else [json.loads(x) for x in text.splitlines() if x.strip()]
        for row in rows:
            match = VIDEO_URL_ID.search(row.get("url", ""))
            thumb = top10.parent / "thumbnails" / f"{row['id']}.jpg"
            if match and thumb.is_file():
                covers.append(Cover(match.group(1), thumb, "top10"))
    for folder, origin in (("non_korean_quarantine", "quarantine"), ("duplicates_storage", "duplicates_storage")):
        for path in sorted((seed_crawls / folder).glob("*.jpg")):
            match = FILE_ID.search(path.name)
            if match:
                covers.append(Cover(match.group(1), path, origin))
    return covers


# --- re-upload edits -----------------------------------------------------------------------------------------


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # pragma: no cover - old Pillow
        return ImageFont.load_default()


def edit_reencode(img, rng):
    from io import BytesIO

    buf = BytesIO()
    img.save(buf, "JPEG", quality=rng.randint(35, 80))
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def edit_crop(img, rng):
    w, h = img.size
    keep = rng.uniform(0.78, 0.92)
    cw, ch = int(w * keep), int(h * keep)
    left, top = rng.randint(0, w - cw), rng.randint(0, h - ch)
    return img.crop((left, top, left + cw, top + ch))


def edit_caption(img, rng):
    img = img.copy()
    w, h = img.size
    draw = ImageDraw.Draw(img)
    band = int(h * rng.uniform(0.06, 0.12))
    top = rng.choice([int(h * 0.08), int(h * 0.75)])
    draw.rectangle((0, top, w, top + band), fill=rng.choice([(0, 0, 0), (255, 255, 255), (250, 220, 0)]))
    # a caption of its own per re-upload: identical overlays on different videos would be a template series
    text = "".join(chr(0xAC00 + rng.randrange(11172)) if rng.random() < 0.7 else rng.choice("ABCDEFGHJK!# 0123456789")
                   for _ in range(rng.randint(5, 12)))
    fill = (255, 255, 255) if draw.im.getpixel((0, top)) == (0, 0, 0) else (0, 0, 0)
    draw.text((w * 0.05, top + band * 0.15), text, fill=fill, font=_font(int(band * 0.6)))
    for _ in range(rng.randint(1, 3)):  # stickers
        r = int(w * rng.uniform(0.05, 0.1))
        cx, cy = rng.randint(r, w - r), rng.randint(r, h - r)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r),
                     fill=(rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255)))
    return img


def edit_mirror(img, rng):
    return img.transpose(Image.FLIP_LEFT_RIGHT)


def edit_pad(img, rng):
    w, h = img.size
    if rng.random() < 0.5:  # letterbox into a square frame
        side = max(w, h)
        canvas = Image.new("RGB", (side, side), (0, 0, 0))
        canvas.paste(img, ((side - w) // 2, (side - h) // 2))
        return canvas
    pad = int(w * rng.uniform(0.05, 0.15))  # blurred border, as editing apps add
    bg = img.resize((w + 2 * pad, h + 2 * pad)).filter(ImageFilter.GaussianBlur(12))
    bg.paste(img, (pad, pad))
    return bg


def edit_tone(img, rng):
    img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.7, 1.3))
    return ImageEnhance.Contrast(img).enhance(rng.uniform(0.7, 1.3))


def edit_resize(img, rng):
    w, h = img.size
    width = rng.randint(360, 720)
    return img.resize((width, max(8, round(h * width / w))), Image.BILINEAR)


EDITS = {"crop": edit_crop, "caption": edit_caption, "mirror": edit_mirror, "pad": edit_pad,
         "tone": edit_tone, "resize": edit_resize}


def reupload(img: Image.Image, rng: random.Random, n_edits: int = 3) -> tuple[Image.Image, list[str]]:
    """A re-upload: ``n_edits`` distinct edits stacked in random order, then a lossy re-encode."""
    names = rng.sample(sorted(EDITS), n_edits)
    for name in names:
        img = EDITS[name](img, rng)
    return edit_reencode(img, rng), names + ["reencode"]


@dataclass(frozen=True)
class EvalImage:
    path: Path
    video_id: str
    kind: str  # "original" or "variant:<edits>"
    origin: str


def build_eval_set(seed_crawls: Path, out_dir: Path, variants: int = 2, seed: int = 0,
                   overwrite: bool = False) -> list[EvalImage]:
    """Originals (every real cover) plus ``variants`` re-uploads per distinct video, written under ``out_dir``
    (kept from an earlier run unless ``overwrite``: calibration rewrites them so a stale file cannot count)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    images: list[EvalImage] = []
    first_by_id: dict[str, Cover] = {}
    for cover in reference_covers(seed_crawls):
        images.append(EvalImage(cover.path, cover.video_id, "original", cover.origin))
        first_by_id.setdefault(cover.video_id, cover)
    for video_id, cover in sorted(first_by_id.items()):
        try:
            base = open_rgb(cover.path, short_side=720)
        except UnreadableImage:
            continue
        for k in range(variants):
            rng = random.Random(f"{seed}:{video_id}:{k}")
            target = out_dir / f"{video_id}_v{k}.jpg"
            img, names = reupload(base, rng)
            if overwrite or not target.exists():
                img.save(target, "JPEG", quality=90)
            images.append(EvalImage(target, video_id, "variant:" + "+".join(names), cover.origin))
    return images


def pair_metrics(video_ids: list[str], groups: list[list[int]]) -> dict:
    """Pairwise precision/recall of ``groups`` against the true video ids, and merges of distinct videos."""
    ids = np.asarray(video_ids)
    truth_pairs = sum(c * (c - 1) // 2 for c in np.unique(ids, return_counts=True)[1])
    predicted = correct = 0
    merged_videos: set[tuple[str, str]] = set()
    for group in groups:
        g = ids[group]
        predicted += len(g) * (len(g) - 1) // 2
        values, counts = np.unique(g, return_counts=True)
        correct += int(sum(c * (c - 1) // 2 for c in counts))
        merged_videos.update((a, b) for x, a in enumerate(values) for b in values[x + 1:])
    return {
        "precision": correct / predicted if predicted else 1.0,
        "recall": correct / truth_pairs if truth_pairs else 1.0,
        "predicted_pairs": predicted,
        "true_pairs": int(truth_pairs),
        "distinct_video_merges": len(merged_videos),
        "merged": sorted(merged_videos),
    }


def dataset_sha256(images: list[EvalImage], root: Path) -> str:
    """SHA-256 over every evaluation image (name relative to its origin folder, video id, kind, bytes), in order:
    two runs calibrated on the same covers and the same re-uploads have the same hash."""
    import hashlib

    digest = hashlib.sha256()
    for e in images:
        name = e.path.relative_to(root) if e.path.is_relative_to(root) else Path(e.path.name)
        digest.update(f"{name}\0{e.video_id}\0{e.kind}\0".encode())
        digest.update(hashlib.sha256(e.path.read_bytes()).digest())
    return digest.hexdigest()


def split_by_video(video_ids: list[str], seed: int, calibration_share: float) -> tuple[list[str], list[str]]:
    """(calibration videos, held-out videos), sorted: the distinct ids shuffled by ``seed``, the first
    ``calibration_share`` of them for calibration.  By video, never by image: a video's cover and its re-uploads
    are all on one side, so held-out pairs were never seen while the thresholds were chosen."""
    ids = sorted(set(video_ids))
    random.Random(seed).shuffle(ids)
    cut = round(len(ids) * calibration_share)
    return sorted(ids[:cut]), sorted(ids[cut:])


CACHE_CODE = ("images.py", "fingerprint.py", "verify.py", "backbones.py")


@dataclass
class Scored:
    """Every evaluation image that decoded, its video id, and every pair at or above ``floor`` cosine with its
    second-look scores: all that the grid needs, computed once per backbone and precision."""

    images: list[EvalImage]
    video_ids: list[str]
    pairs: object  # grouping.Pairs
    inliers: np.ndarray
    agreement: np.ndarray


def score_pairs(images: list[EvalImage], backbone: str, precision: str, floor: float, *, models_dir: Path,
                cache_dir: Path | None, dataset_hash: str, threads: int, log=print) -> Scored:
    """Fingerprint ``images`` with ``backbone`` at ``precision`` on ``threads`` threads and score every pair at
    or above ``floor``.  With ``cache_dir``, fingerprints and scores are kept in a file keyed by everything that
    decides them (the data set, the weights, the precision, the threads and the code), so a rerun is quick and
    a changed input recomputes; without it, everything is computed afresh."""
    import hashlib
    import pickle
    import time

    from .fingerprint import Fingerprinter
    from .grouping import similar_pairs
    from .verify import pair_scores

    fp = Fingerprinter(backbone, models_dir, threads=threads, precision=precision)
    here = Path(__file__).parent
    # the code that decides a fingerprint or a score (grouping.py only finds the pairs above the floor, rescored
    # exactly in fp32, so the pairs do not depend on how it finds them)
    code = hashlib.sha256(b"".join((here / f).read_bytes() for f in CACHE_CODE)).hexdigest()
    key = hashlib.sha256(f"{dataset_hash}:{fp.choice.weights_sha256}:{precision}:{threads}:{floor}:{code}:"
                         "by-position".encode())
    cache = Path(cache_dir) / f"scored-{backbone}-{precision}-{key.hexdigest()[:16]}.pkl" if cache_dir else None
    if cache is not None and cache.is_file():
        log(f"[{backbone} {precision}] fingerprints and pair scores from the cache {cache}")
        result, pairs, scores, cached_paths = pickle.loads(cache.read_bytes())
    else:
        cached_paths = [str(e.path) for e in images]
        start = time.perf_counter()
        result = fp.fingerprint([e.path for e in images])
        log(f"[{backbone} {precision}] fingerprinted {len(result)} images in {time.perf_counter() - start:.1f} s")
        pairs = similar_pairs(result.globals, floor)
        start = time.perf_counter()
        scores = pair_scores(result.keypoints, pairs)  # (inliers, pixel agreement %) of every candidate pair
        log(f"[{backbone} {precision}] second look at {len(pairs)} pairs >= {floor}: "
            f"{time.perf_counter() - start:.1f} s")
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp")
            tmp.write_bytes(pickle.dumps((result, pairs, scores, cached_paths)))
            tmp.replace(cache)
    # the same data set (same hash) read from another folder: its images match the cached ones by position
    position = {p: k for k, p in enumerate(cached_paths)}
    kept = [images[position[p]] for p in result.paths]
    return Scored(kept, [e.video_id for e in kept], pairs, scores[:, 0], scores[:, 1])


def grid_point(scored: Scored, videos: set[str], threshold: float, min_inliers: int | None,
               min_agreement: int = 0) -> dict:
    """Pairwise precision, recall, merges and candidates of one rule on the images of ``videos`` only."""
    from .grouping import Pairs, connected_groups

    index = [k for k, v in enumerate(scored.video_ids) if v in videos]
    local = np.full(len(scored.video_ids), -1, np.int64)
    local[index] = np.arange(len(index))
    p = scored.pairs
    inside = (local[p.i] >= 0) & (local[p.j] >= 0) & (p.similarity >= threshold)
    candidates = int(inside.sum())
    mask = inside.copy()
    if min_inliers is not None:
        mask &= (scored.inliers >= min_inliers) & (scored.agreement >= min_agreement)
    chosen = Pairs(local[p.i[mask]], local[p.j[mask]], p.similarity[mask])
    metrics = pair_metrics([scored.video_ids[k] for k in index], connected_groups(len(index), chosen))
    metrics["candidates"] = candidates
    return metrics
