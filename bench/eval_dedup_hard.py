"""The harder dedup evaluation (``make eval-dedup-hard``): re-uploads cut the way reposting accounts cut them.

Fixed in advance and seeded (``SEED``), built at run time from the real covers in ../shared/reference/seed-crawls
(exits 2 when they are absent; nothing of them is copied into the repository):

* ``REUPLOADS`` re-uploads, one per distinct video, each three stacked edits of the five hard kinds:
  ``heavy_crop`` (55-70 % of the width and of the height, 30-50 % of the area, at a random offset), ``square``
  (9:16 cut to a square at a random offset), ``thumb`` (≤ 200 px wide, JPEG quality ≤ 40, always the last edit),
  ``meme`` (the picture shrunk into a white or black frame under a big caption) and ``tone`` (strong
  saturation/gamma/contrast changes and a colour cast).  ``heavy_crop`` and ``square`` never stack (a square of a
  60 % crop is a different question); the seven remaining triples are used equally often.
* ``HARD_NEGATIVES`` pairs of distinct real videos given one identical caption band (same text, font, colours and
  pixel size, ≥ 20 % of the height): they must not merge.  Each banded cover is also a positive of its own
  original (kind ``band``).

Every real cover is in the set too.  The rule evaluated is the pipeline's: candidates by global cosine (and, with
``--regions``, by regional descriptors: ``grouping.region_candidates``), the second look (``verify.py``),
connected components; printed: pairwise precision and recall, distinct-video merges, hard negatives merged, and
the recall of the re-upload pairs per edit kind.  Thresholds: the backbone's entry in ``calibration.json``
(``make calibrate``) when there is one, else the rule documented in models/README.md (cos 0.74, 15 inliers,
30 % agreement), said so in the output.  Fingerprints are cached under ``--work`` keyed by the images' bytes and
the dedup code, so a rerun only re-scores.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import pickle
import random
import sys
import time
from dataclasses import dataclass, replace
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

REPO = Path(__file__).resolve().parents[1]
SEED = 16
REUPLOADS = 126  # 18 of each of the 7 edit triples
HARD_NEGATIVES = 32
HARD_KINDS = ("heavy_crop", "square", "thumb", "meme", "tone")
GEOMETRIC = ("heavy_crop", "square")
# the README's rule (cos 0.74 + >= 15 inliers + >= 30 % pixel agreement) when calibration.json has no entry
DOCUMENTED_RULE = (0.74, 15, 30)


# --- the edits ---------------------------------------------------------------------------------------------


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # pragma: no cover - old Pillow
        return ImageFont.load_default()


def _text(rng: random.Random, n: tuple[int, int] = (4, 9)) -> str:
    return "".join(chr(0xAC00 + rng.randrange(11172)) if rng.random() < 0.75 else rng.choice("ABCDEFGHJK!?0123456789")
                   for _ in range(rng.randint(*n)))


def heavy_crop(img: Image.Image, rng: random.Random) -> Image.Image:
    """55-70 % of the width and of the height, 30-50 % of the area, at a random offset."""
    w, h = img.size
    fw = rng.uniform(0.55, 0.70)
    fh = rng.uniform(max(0.55, 0.30 / fw), min(0.70, 0.50 / fw))
    cw, ch = round(w * fw), round(h * fh)
    left, top = rng.randint(0, w - cw), rng.randint(0, h - ch)
    return img.crop((left, top, left + cw, top + ch))


def square(img: Image.Image, rng: random.Random) -> Image.Image:
    """The largest square at a random offset along the long side (9:16 -> 1:1)."""
    w, h = img.size
    side = min(w, h)
    left, top = rng.randint(0, w - side), rng.randint(0, h - side)
    return img.crop((left, top, left + side, top + side))


def thumb(img: Image.Image, rng: random.Random) -> Image.Image:
    """A tiny re-encoded thumbnail: 120-200 px wide, JPEG quality 15-40."""
    w, h = img.size
    width = rng.randint(120, 200)
    small = img.resize((width, max(8, round(h * width / w))), Image.BILINEAR)
    return _jpeg(small, rng.randint(15, 40))


def meme(img: Image.Image, rng: random.Random) -> Image.Image:
    """The picture shrunk to 70-85 % of a white or black frame's width under a big caption (20-30 % of the frame's
    height), sometimes with a second line below."""
    w, h = img.size
    scale = rng.uniform(0.70, 0.85)
    pw, ph = round(w * scale), round(h * scale)
    top_band = round(h * rng.uniform(0.20, 0.30))
    bottom_band = round(h * rng.uniform(0.05, 0.12)) if rng.random() < 0.5 else round(h * 0.03)
    frame_h = top_band + ph + bottom_band
    back, ink = ((255, 255, 255), (0, 0, 0)) if rng.random() < 0.6 else ((0, 0, 0), (255, 255, 255))
    canvas = Image.new("RGB", (w, frame_h), back)
    canvas.paste(img.resize((pw, ph), Image.BILINEAR), ((w - pw) // 2, top_band))
    draw = ImageDraw.Draw(canvas)
    size = max(10, top_band // 3)
    for line in range(2):
        draw.text((w * 0.06, top_band * (0.12 + 0.42 * line)), _text(rng), fill=ink, font=_font(size))
    if bottom_band > h * 0.04:
        draw.text((w * 0.06, top_band + ph + bottom_band * 0.15), _text(rng), fill=ink,
                  font=_font(max(8, int(bottom_band * 0.6))))
    return canvas


def tone(img: Image.Image, rng: random.Random) -> Image.Image:
    """Strong tone changes: saturation, gamma, contrast and a colour cast (or grey)."""
    if rng.random() < 0.2:
        img = ImageOps.grayscale(img).convert("RGB")
    else:
        img = ImageEnhance.Color(img).enhance(rng.choice([rng.uniform(0.2, 0.6), rng.uniform(1.5, 2.0)]))
    gamma = rng.uniform(0.55, 1.8)
    img = img.point([round(255 * (v / 255) ** gamma) for v in range(256)] * 3)
    img = ImageEnhance.Contrast(img).enhance(rng.uniform(0.6, 1.5))
    cast = Image.new("RGB", img.size, tuple(rng.randint(0, 255) for _ in range(3)))
    return Image.blend(img, cast, rng.uniform(0.10, 0.25))


EDITS = {"heavy_crop": heavy_crop, "square": square, "thumb": thumb, "meme": meme, "tone": tone}
# every triple of hard kinds without both geometric cuts: 7 of them
TRIPLES = [t for t in itertools.combinations(HARD_KINDS, 3) if not set(GEOMETRIC) <= set(t)]


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = BytesIO()
    img.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def hard_reupload(img: Image.Image, triple: tuple[str, ...], rng: random.Random) -> Image.Image:
    """The triple's edits in the order a reposter applies them: the cut first, meme frame and tone in a random
    order, the thumbnail last (it is the final encode); otherwise a final JPEG re-encode at quality 50-85."""
    order = [k for k in triple if k in GEOMETRIC]
    middle = [k for k in triple if k in ("meme", "tone")]
    rng.shuffle(middle)
    order += middle + [k for k in triple if k == "thumb"]
    for name in order:
        img = EDITS[name](img, rng)
    return img if "thumb" in triple else _jpeg(img, rng.randint(50, 85))


def caption_band(img: Image.Image, band: dict) -> Image.Image:
    """``img`` resized to the band's width with the band drawn on it, identically for every cover it is given to."""
    w, h = img.size
    width = band["width"]
    img = img.resize((width, round(h * width / w)), Image.BILINEAR)
    draw = ImageDraw.Draw(img)
    top = band["top"] if band["at"] == "top" else img.size[1] - band["top"] - band["height"]
    draw.rectangle((0, top, width, top + band["height"]), fill=band["back"])
    for line, text in enumerate(band["lines"]):
        draw.text((width * 0.05, top + band["height"] * (0.1 + 0.45 * line)), text, fill=band["ink"],
                  font=_font(band["height"] // 3))
    return img


# --- the set -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HardImage:
    path: Path
    video_id: str
    kind: str  # "original", "reupload:<a>+<b>+<c>", "band:<pair number>"


def build_hard_set(seed_crawls: Path, out_dir: Path, reuploads: int = REUPLOADS,
                   negatives: int = HARD_NEGATIVES, seed: int = SEED) -> list[HardImage]:
    """Every real cover, ``reuploads`` hard re-uploads and ``negatives`` banded pairs, written (over any earlier
    run's files) under ``out_dir``; the same seed gives the same bytes."""
    from tiktok_top10.dedup.evaluation import reference_covers
    from tiktok_top10.dedup.images import UnreadableImage, open_rgb

    out_dir.mkdir(parents=True, exist_ok=True)
    covers = reference_covers(seed_crawls)
    images = [HardImage(c.path, c.video_id, "original") for c in covers]
    first: dict[str, Path] = {}
    for c in covers:
        first.setdefault(c.video_id, c.path)
    bases: dict[str, Image.Image] = {}
    for video_id in sorted(first):
        try:
            bases[video_id] = open_rgb(first[video_id], short_side=720)
        except UnreadableImage:
            continue
    ids = sorted(bases)
    rng = random.Random(f"{seed}:choose")
    rng.shuffle(ids)
    if reuploads + 2 * negatives > len(ids):
        raise SystemExit(f"eval-dedup-hard: {len(ids)} decodable videos, {reuploads} + 2x{negatives} wanted")
    for k, video_id in enumerate(ids[:reuploads]):
        triple = TRIPLES[k % len(TRIPLES)]
        img = hard_reupload(bases[video_id], triple, random.Random(f"{seed}:{video_id}:reupload"))
        target = out_dir / f"{video_id}_hard.jpg"
        img.save(target, "JPEG", quality=95)
        images.append(HardImage(target, video_id, "reupload:" + "+".join(triple)))
    rest = ids[reuploads:reuploads + 2 * negatives]
    for k in range(negatives):
        brng = random.Random(f"{seed}:band:{k}")
        a, b = rest[2 * k], rest[2 * k + 1]
        width = 720
        tallest = max(round(bases[v].size[1] * width / bases[v].size[0]) for v in (a, b))
        back = brng.choice([(0, 0, 0), (255, 255, 255), (250, 220, 0), (230, 30, 60)])
        band = {"width": width, "height": round(tallest * brng.uniform(0.20, 0.28)),
                "at": brng.choice(["top", "bottom"]),
                "top": round(tallest * brng.uniform(0.0, 0.08)), "back": back,
                "ink": (255, 255, 255) if sum(back) < 400 else (0, 0, 0), "lines": [_text(brng), _text(brng)]}
        for video_id in (a, b):
            target = out_dir / f"{video_id}_band{k}.jpg"
            caption_band(bases[video_id], band).save(target, "JPEG", quality=88)
            images.append(HardImage(target, video_id, f"band:{k}"))
    return images


def dataset_sha256(images: list[HardImage]) -> str:
    digest = hashlib.sha256()
    for e in images:
        digest.update(f"{e.path.name}\0{e.video_id}\0{e.kind}\0".encode())
        digest.update(hashlib.sha256(e.path.read_bytes()).digest())
    return digest.hexdigest()


def code_sha256() -> str:
    """The code a cached fingerprint depends on: its descriptors' and its keypoints' (``verify.detect``)."""
    here = REPO / "include" / "tiktok_top10" / "dedup"
    return hashlib.sha256(b"".join((here / f).read_bytes() for f in
                                   ("images.py", "fingerprint.py", "backbones.py", "quantize.py", "verify.py"))
                          ).hexdigest()


def fingerprint_cached(images: list[HardImage], backbone: str, precision: str, models_dir: Path, threads: int,
                       cache_dir: Path, regions: bool, descriptor_input=None):
    """``Fingerprints`` of ``images`` (with regional descriptors when ``regions``; of what ``descriptor_input``
    makes of each cover when given), from the cache when the images and the code are the ones it was made from."""
    from tiktok_top10.dedup.fingerprint import Fingerprinter

    fp = Fingerprinter(backbone, models_dir, threads=threads, precision=precision, regions=regions,
                       descriptor_input=descriptor_input)
    tag = descriptor_input.tag if descriptor_input else "as-decoded"
    key = hashlib.sha256(f"{dataset_sha256(images)}:{fp.choice.weights_sha256}:{precision}:{threads}:"
                         f"{regions}:{tag}:{code_sha256()}:by-position".encode()).hexdigest()[:16]
    cache = cache_dir / f"hard-{fp.name}-{precision}-{key}.pkl"
    paths = [str(e.path) for e in images]
    if cache.is_file():
        print(f"fingerprints from the cache {cache}")
        result, cached_paths = pickle.loads(cache.read_bytes())
        return fp, at_paths(result, cached_paths, paths)
    start = time.perf_counter()
    result = fp.fingerprint([e.path for e in images])
    print(f"fingerprinted {len(result)} images ({fp.name} {fp.precision}, regions={regions}, {tag}) in "
          f"{time.perf_counter() - start:.1f} s")
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps((result, paths)))
    tmp.replace(cache)
    return fp, result


def at_paths(result, cached_paths: list[str], paths: list[str]):
    """``result`` as made from ``cached_paths``, named by ``paths``: the same images (the key is their bytes) read
    from another folder, such as the originals under another clone's ``../shared``, match by position."""
    import dataclasses

    if len(cached_paths) != len(paths):
        raise ValueError(f"the cache holds {len(cached_paths)} images, {len(paths)} were asked for")
    rename = dict(zip(cached_paths, paths, strict=True))
    return dataclasses.replace(result, paths=[rename[p] for p in result.paths],
                               skipped=[{**s, "path": rename.get(s["path"], s["path"])} for s in result.skipped])


# --- scoring -------------------------------------------------------------------------------------------------


def evaluate(images: list[HardImage], video_ids: list[str], pairs, verified: np.ndarray) -> dict:
    """P, R, merges over all images; recall of the re-upload pairs per edit kind; banded pairs merged."""
    from tiktok_top10.dedup.evaluation import pair_metrics
    from tiktok_top10.dedup.grouping import connected_groups

    groups = connected_groups(len(video_ids), pairs.select(verified))
    metrics = pair_metrics(video_ids, groups)
    label = np.full(len(video_ids), -1, np.int64)
    for g, members in enumerate(groups):
        label[members] = g
    same = lambda a, b: label[a] >= 0 and label[a] == label[b]  # noqa: E731
    by_video: dict[str, list[int]] = {}
    for k, v in enumerate(video_ids):
        by_video.setdefault(v, []).append(k)
    per_kind: dict[str, list[int]] = {k: [0, 0] for k in (*HARD_KINDS, "band")}
    for k, e in enumerate(images):
        if e.kind == "original":
            continue
        kinds = e.kind.split(":", 1)[1].split("+") if e.kind.startswith("reupload:") else ["band"]
        partners = [o for o in by_video[e.video_id] if o != k and images[o].kind == "original"]
        found = sum(same(k, o) for o in partners)
        for kind in kinds:
            per_kind[kind][0] += int(found)
            per_kind[kind][1] += len(partners)
    band_pairs: dict[str, list[int]] = {}
    for k, e in enumerate(images):
        if e.kind.startswith("band:"):
            band_pairs.setdefault(e.kind, []).append(k)
    band_merged = sum(same(*ks) for ks in band_pairs.values() if len(ks) == 2)
    return {"precision": metrics["precision"], "recall": metrics["recall"], "true_pairs": metrics["true_pairs"],
            "predicted_pairs": metrics["predicted_pairs"], "distinct_video_merges": metrics["distinct_video_merges"],
            "merged": [list(map(str, m)) for m in metrics["merged"]],
            "banded_pairs_merged": int(band_merged), "banded_pairs": len(band_pairs),
            "recall_per_kind": {k: (f / t if t else None) for k, (f, t) in per_kind.items()},
            "pairs_per_kind": {k: int(t) for k, (_, t) in per_kind.items()}, "candidates": len(pairs)}


class SecondLooks:
    """The second look at candidate pairs as the stage takes it (``verify.pair_scores``): a pair only the keypoint
    votes found gets neither the SIFT look nor the mirror.  Each (pair, contained share, look, mirror) is scored
    once, so the rows and grid points that share candidates share their looks."""

    def __init__(self, keypoints: list, rule: tuple[float, int, int]):
        self.keypoints, self.rule = keypoints, rule
        self.scored: dict[tuple[int, int, float, bool, bool], tuple[int, int]] = {}

    def __call__(self, pairs, contained: float, sift: bool = False) -> np.ndarray:
        """Which ``pairs`` verify; ``contained``: the contained look's share of agreeing cells (0: none)."""
        from tiktok_top10.dedup.grouping import Pairs
        from tiktok_top10.dedup.verify import pair_scores, passes

        _, min_inliers, min_agreement = self.rule
        voted = [False] * len(pairs) if pairs.voted is None else pairs.voted.tolist()
        listed = [(i, j, contained, sift and not by_votes, not by_votes)
                  for i, j, by_votes in zip(pairs.i.tolist(), pairs.j.tolist(), voted, strict=True)]
        for look_sift, mirror in ((False, False), (False, True), (True, True)):
            todo = [(i, j) for i, j, _, s, m in listed
                    if (s, m) == (look_sift, mirror) and (i, j, contained, s, m) not in self.scored]
            if todo:
                ti, tj = np.asarray(todo, np.int64).T
                as_voted = None if mirror else np.ones(len(ti), bool)
                # the SIFT look follows a failed ORB one: it needs the rule (the pairs' pass/fail is the same)
                found = pair_scores(self.keypoints, Pairs(ti, tj, np.zeros(len(ti), np.float32), as_voted),
                                    contained=contained, sift=look_sift,
                                    enough=(min_inliers, min_agreement) if look_sift else None)
                for (i, j), score in zip(todo, found, strict=True):
                    self.scored[(i, j, contained, look_sift, mirror)] = (int(score[0]), int(score[1]))
        scores = np.asarray([self.scored[key] for key in listed], np.int32).reshape(-1, 2)
        return passes(scores, min_inliers, min_agreement)


def crop_robust_point(kept: list[HardImage], result, robust, rule: tuple[float, int, int], stage,
                      looks: SecondLooks | None = None, candidates=None) -> dict:
    """``evaluate`` of the crop-robust rule ``stage`` (``grouping.CropRobust``) under the global ``rule`` on these
    images: the stage's candidates (``grouping.crop_robust_candidates``; or ``candidates``, when they are known)
    and its second look.  ``result``: the fingerprints whose keypoints the look takes; ``robust``: those the
    regional candidates come from."""
    from tiktok_top10.dedup.grouping import crop_robust_candidates

    if candidates is None:
        candidates = crop_robust_candidates(stage, robust.globals, robust.regions, rule[0], result.keypoints)
    looks = looks or SecondLooks(result.keypoints, rule)
    return evaluate(kept, [e.video_id for e in kept], candidates,
                    looks(candidates, stage.contained_min_agreement, stage.sift_look))


def rows_of(kept: list[HardImage], videos: set[str]) -> list[int]:
    return [k for k, e in enumerate(kept) if e.video_id in videos]


def stage_rule(fp):
    """The crop-robust rule calibrated for ``fp``'s weights and precision, or None (said so) when calibration.json
    has none."""
    from tiktok_top10.dedup.calibration import CalibrationMissing
    from tiktok_top10.dedup.grouping import CropRobust

    try:
        return CropRobust.calibrated(fp.name, fp.choice.weights_sha256, fp.precision)
    except CalibrationMissing as exc:
        print(f"the crop-robust rows are left out: {exc}")
        return None


def print_row(name: str, m: dict) -> None:
    kinds = " ".join(f"{k}={v:.3f}" if v is not None else f"{k}=-" for k, v in m["recall_per_kind"].items())
    print(f"{name:<44} P={m['precision']:.3f} R={m['recall']:.3f} merges={m['distinct_video_merges']} "
          f"banded-merged={m['banded_pairs_merged']}/{m['banded_pairs']} candidates={m['candidates']}")
    print(f"{'':<44} recall per edit kind (re-upload pairs): {kinds}")


def hard_split(images: list[HardImage], seed: int, calibration_share: float) -> tuple[list[str], list[str]]:
    """(calibration videos, held-out videos) of the harder set, sorted: by video and seeded, as ``make calibrate``
    splits the reference (``evaluation.split_by_video``), except that the two videos of a banded pair go to one
    side together: a pair split across the sides would be a hard negative of neither.  ``make calibrate`` chooses
    the crop-robust values on the first, ``make eval-dedup-hard`` reports the second."""
    from tiktok_top10.dedup.evaluation import split_by_video

    unit = {e.video_id: e.video_id for e in images}
    for e in images:
        if e.kind.startswith("band:"):
            unit[e.video_id] = e.kind
    calibration_units = set(split_by_video(list(unit.values()), seed, calibration_share)[0])
    return (sorted(v for v, u in unit.items() if u in calibration_units),
            sorted(v for v, u in unit.items() if u not in calibration_units))


def held_out_videos(cal, video_ids: list[str]) -> set[str]:
    from tiktok_top10.dedup.evaluation import split_by_video

    split = cal.load().get("split")
    if not split:
        raise SystemExit("eval-dedup-hard: calibration.json has no split: run `make calibrate`")
    return set(split_by_video(video_ids, split["seed"], split["calibration_share"])[1])


def subset(result, rows: list[int]):
    from tiktok_top10.dedup.fingerprint import Fingerprints

    return Fingerprints([result.paths[k] for k in rows], result.globals[rows], [result.keypoints[k] for k in rows],
                        result.skipped, result.regions[rows] if result.regions is not None else None)


def existing_set(args, cal, seed_crawls: Path, rule: tuple, fp, models_dir: Path, stage) -> dict:
    """The same rules on ``make eval-dedup``'s set (its held-out split): are its figures any worse?"""
    from tiktok_top10.dedup.evaluation import build_eval_set, pair_metrics
    from tiktok_top10.dedup.grouping import connected_groups, similar_pairs
    from tiktok_top10.dedup.verify import agree

    dataset = cal.load()["dataset"]
    images = build_eval_set(seed_crawls, args.work / "existing", variants=dataset["variants_per_video"],
                            seed=dataset["variant_seed"], overwrite=True)
    hard = [HardImage(e.path, e.video_id, e.kind) for e in images]
    _, result = fingerprint_cached(hard, fp.name, args.precision, models_dir, args.threads,
                                   args.work / "cache", regions=True)
    robust = result
    if args.descriptor_input:
        _, robust = fingerprint_cached(hard, fp.name, args.precision, models_dir, args.threads,
                                       args.work / "cache", regions=True, descriptor_input=args.descriptor_input)
        assert robust.paths == result.paths
    by_path = {str(e.path): e for e in hard}
    kept = [by_path[p] for p in result.paths]
    held = held_out_videos(cal, [e.video_id for e in kept])
    rows = [k for k, e in enumerate(kept) if e.video_id in held]
    kept, result, robust = [kept[k] for k in rows], subset(result, rows), subset(robust, rows)
    ids = [e.video_id for e in kept]
    threshold, min_inliers, min_agreement = rule
    out = {}
    print(f"\n[existing evaluation set, held-out split] {len(kept)} images")
    thresholds = sorted({stage.region_threshold, *args.region_thresholds})
    variants = [(None, 0, False, False, 0)] + [(rt, *look) for rt in thresholds for look in robust_looks(args)]
    searched = {}  # (region threshold, per cover, votes) -> candidates: every look checks the same ones
    for region_threshold, per_cover, contained, sift, votes in variants:
        if region_threshold is None:
            pairs, name = similar_pairs(result.globals, threshold), "global cosine (today's pipeline)"
        else:
            if (region_threshold, per_cover, votes) not in searched:
                searched[(region_threshold, per_cover, votes)] = robust_search(
                    stage, robust, result.keypoints, threshold, region_threshold, per_cover, votes)
            pairs = searched[(region_threshold, per_cover, votes)]
            name = robust_name(args, stage, region_threshold, per_cover, contained, sift, votes)
        ok = agree(result.keypoints, pairs, min_inliers, min_agreement,
                   contained=stage.contained_min_agreement if contained else 0.0, sift=sift)
        m = pair_metrics(ids, connected_groups(len(ids), pairs.select(ok)))
        out[name] = {k: v for k, v in m.items() if k != "merged"} | {"candidates": len(pairs)}
        print(f"{name:<44} P={m['precision']:.3f} R={m['recall']:.3f} merges={m['distinct_video_merges']} "
              f"candidates={len(pairs)}")
    return out


def held_out_rows(cal, images: list[HardImage], kept: list[HardImage], result, robust, rule: tuple, stage) -> dict:
    """Today's rule and the stage's crop-robust rule on the harder set's held-out split (``hard_split`` of all the
    set's ``images``, as make calibrate splits it): the videos whose images `make calibrate` did not choose the
    crop-robust values on.  ``kept``: the images that decoded, ``result``'s rows."""
    from tiktok_top10.dedup.grouping import similar_pairs

    rows = rows_of(kept, set(hard_split(images, cal.SPLIT_SEED, cal.CALIBRATION_SHARE)[1]))
    part, fps, robust_part = [kept[k] for k in rows], subset(result, rows), subset(robust, rows)
    looks = SecondLooks(fps.keypoints, rule)
    print(f"\n[the harder set's held-out split (make calibrate chose the crop-robust values on the other half)] "
          f"{len(part)} images, {sum(e.kind.startswith('reupload') for e in part)} re-uploads, "
          f"{len({e.kind for e in part if e.kind.startswith('band:')})} banded pairs")
    today = similar_pairs(fps.globals, rule[0])
    out = {"global": evaluate(part, [e.video_id for e in part], today, looks(today, 0.0)),
           "crop_robust": crop_robust_point(part, fps, robust_part, rule, stage, looks)}
    print_row("global cosine (today's pipeline)", out["global"])
    print_row("the stage's crop-robust rule", out["crop_robust"])
    return out


def robust_looks(args) -> list[tuple[int, bool, bool, int]]:
    """(per cover, contained look, SIFT look, each cover's best by keypoint votes) rows of the regional
    candidates: unbounded with the plain, the contained and the contained + SIFT look; each ``--per-cover`` bound
    with the contained look, without and with SIFT, and with SIFT and each ``--votes-per-cover`` count of the
    keypoint votes (``grouping.CropRobust.votes_per_cover``)."""
    bounded = [(k, True, sift, 0) for k in args.per_cover if k for sift in (False, True)]
    voted = [(k, True, True, v) for k in args.per_cover if k for v in args.votes_per_cover if v]
    return [(0, False, False, 0), (0, True, False, 0), (0, True, True, 0), *bounded, *voted]


def robust_search(stage, robust, looks, threshold: float, region_threshold: float, per_cover: int, votes: int):
    """The candidates (``grouping.crop_robust_candidates``) of the ``stage`` rule at ``region_threshold`` and
    ``per_cover``, with each cover's best ``votes`` by keypoint votes (0: none)."""
    from tiktok_top10.dedup.grouping import crop_robust_candidates

    rule = replace(stage, region_threshold=region_threshold, per_cover=per_cover, votes_per_cover=votes)
    return crop_robust_candidates(rule, robust.globals, robust.regions, threshold, looks)


def robust_name(args, stage, region_threshold: float, per_cover: int, contained: bool, sift: bool = False,
                votes: int = 0) -> str:
    shipped = (contained and sift == stage.sift_look and per_cover == stage.per_cover
               and votes == stage.votes_per_cover
               and region_threshold == stage.region_threshold and args.descriptor_input == stage.descriptor_input)
    return (f"regions>={region_threshold}{args.robust_label}" + (f", best {per_cover}/cover" if per_cover else "")
            + (f" + best {votes} by votes>={stage.vote_floor}" if votes else "")
            + (f" + contained look>={stage.contained_min_agreement}" if contained else "")
            + (" + SIFT" if sift else "") + (" [the stage's rule]" if shipped else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--work", type=Path, default=Path("/tmp/tiktok_top10_eval_hard"))
    parser.add_argument("--backbone", default="efficientnet-lite0")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--regions", action="store_true",
                        help="also evaluate the regional candidates (grouping.region_candidates)")
    parser.add_argument("--region-thresholds", type=float, nargs="*", default=(),
                        help="regional cosines to evaluate besides the calibrated one (calibration.json)")
    parser.add_argument("--held-out", action="store_true",
                        help="only the harder set's held-out split (hard_split: make calibrate's seed and share)")
    parser.add_argument("--existing", action="store_true",
                        help="also the existing evaluation set (make eval-dedup's held-out split), same rules")
    parser.add_argument("--descriptor-input", default="",
                        help="WIDTH:CUTOFF: the regional candidates from covers brought down to WIDTH px and "
                             "autocontrasted (images.DescriptorInput); empty: the covers as decoded")
    parser.add_argument("--per-cover", type=int, nargs="*", default=None,
                        help="also with the regions' additions bounded to each cover's best K "
                             "(region_candidates(per_cover=K)); default: the stage's CropRobust.per_cover")
    parser.add_argument("--votes-per-cover", type=int, nargs="*", default=None,
                        help="the keypoint votes' rows with each cover's best K by votes (CropRobust.votes_per_cover="
                             "K); default: the stage's")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)
    from tiktok_top10.dedup.grouping import REGION_PER_COVER, VOTES_PER_COVER

    if args.per_cover is None:
        args.per_cover = [REGION_PER_COVER]
    if args.votes_per_cover is None:
        args.votes_per_cover = [VOTES_PER_COVER]
    from tiktok_top10.dedup.images import DescriptorInput

    args.descriptor_input = DescriptorInput.parse(args.descriptor_input)
    args.robust_label = f" on {args.descriptor_input.tag}" if args.descriptor_input else ""

    seed_crawls = args.shared / "reference" / "seed-crawls"
    if not seed_crawls.is_dir():
        print(f"eval-dedup-hard: {seed_crawls} is absent; the evaluation needs the real covers", file=sys.stderr)
        return 2

    from tiktok_top10.config import Settings
    from tiktok_top10.dedup import calibration as cal
    from tiktok_top10.dedup.grouping import similar_pairs

    start = time.perf_counter()
    images = build_hard_set(seed_crawls, args.work / "images")
    print(f"harder set (seed {SEED}): {sum(e.kind == 'original' for e in images)} real covers, "
          f"{sum(e.kind.startswith('reupload') for e in images)} re-uploads "
          f"(3 stacked edits of {', '.join(HARD_KINDS)}), "
          f"{sum(e.kind.startswith('band') for e in images) // 2} pairs of distinct videos with one identical caption "
          f"band; built in {time.perf_counter() - start:.1f} s")
    fp, result = fingerprint_cached(images, args.backbone, args.precision, Settings.from_env().models_dir,
                                    args.threads, args.work / "cache", args.regions)
    robust = result  # the descriptors the regional candidates come from
    if args.regions and args.descriptor_input:
        _, robust = fingerprint_cached(images, args.backbone, args.precision, Settings.from_env().models_dir,
                                       args.threads, args.work / "cache", True, args.descriptor_input)
        assert robust.paths == result.paths
    by_path = {str(e.path): e for e in images}
    kept = [by_path[p] for p in result.paths]
    if len(kept) != len(images):
        print(f"  {len(images) - len(kept)} images did not decode: {result.skipped}")
    if args.held_out:
        held = set(hard_split(images, cal.SPLIT_SEED, cal.CALIBRATION_SHARE)[1])
        rows = rows_of(kept, held)
        kept = [kept[k] for k in rows]
        result, robust = subset(result, rows), subset(robust, rows)
        print(f"the harder set's held-out split only: {len(held)} videos, {len(kept)} images")
    video_ids = [e.video_id for e in kept]
    entry = cal.find_entry(fp.name, fp.precision, fp.choice.weights_sha256)
    if entry is not None:
        rule = (float(entry["threshold"]), int(entry["min_inliers"]), int(entry["min_agreement"]))
        source = f"calibration.json ({entry['backbone']} {entry['precision']})"
    else:
        rule = DOCUMENTED_RULE
        source = "models/README.md's documented rule (calibration.json has no entry for this backbone)"
    threshold, min_inliers, min_agreement = rule
    print(f"rule: cos >= {threshold} + inliers >= {min_inliers} + agreement >= {min_agreement}% from {source}")
    stage = stage_rule(fp)
    if stage is not None:
        print(f"crop-robust rule: regions >= {stage.region_threshold}, votes >= {stage.vote_floor}, contained look >= "
              f"{stage.contained_min_agreement} of the overlap's cells, from calibration.json (make calibrate)")
    share = lambda contained: stage.contained_min_agreement if contained else 0.0  # noqa: E731

    report = {"images": len(kept), "rule": rule, "rule_source": source, "backbone": fp.name,
              "precision": fp.precision}
    second_look = SecondLooks(result.keypoints, rule)

    def print_voted(voted, contained: bool) -> None:
        """What the votes brought, and whether the looks the stage does not give them (SIFT, the mirror) would
        have helped."""
        same = np.asarray([video_ids[i] == video_ids[j] for i, j in zip(voted.i.tolist(), voted.j.tolist(),
                                                                        strict=True)], bool)
        orb = second_look(voted, share(contained), False) & same
        with_sift = second_look(replace(voted, voted=None), share(contained), True) & same
        print(f"{'':45s}keypoint votes brought {len(voted)} pairs, {int(same.sum())} of one video: ORB verifies "
              f"{int(orb.sum())} of those as they are, ORB with the mirror + SIFT {int(with_sift.sum())} "
              "(voted pairs get the first look only)")

    def print_sift_only(pairs, contained: bool) -> None:
        """The re-uploads only the SIFT look verifies, and their fewest inliers: the margin over the rule that
        the SIFT look's cost-saving shrink (``verify.SIFT_SCALE``) leaves."""
        same = np.asarray([video_ids[i] == video_ids[j] for i, j in zip(pairs.i.tolist(), pairs.j.tolist(),
                                                                        strict=True)], bool)
        only = second_look(pairs, share(contained), True) & ~second_look(pairs, share(contained), False) & same
        inliers = [second_look.scored[(i, j, share(contained), True, True)][0]
                   for i, j in zip(pairs.i[only].tolist(), pairs.j[only].tolist(), strict=True)]
        print(f"{'':45s}the SIFT look verifies {len(inliers)} pairs of one video ORB does not; their fewest "
              f"inliers: {min(inliers, default=None)} (the rule needs {min_inliers})")

    t0 = time.perf_counter()
    today = similar_pairs(result.globals, threshold)
    report["global"] = evaluate(kept, video_ids, today, second_look(today, 0.0))
    print(f"\n[{fp.name} {fp.precision}] {len(kept)} images ({time.perf_counter() - t0:.1f} s)")
    print_row("global cosine (today's pipeline)", report["global"])
    if stage is not None:
        report["global+contained"] = evaluate(kept, video_ids, today, second_look(today, share(True)))
        print_row("global cosine + contained look", report["global+contained"])
    if args.regions and stage is not None:
        from tiktok_top10.dedup.grouping import region_candidates

        if args.descriptor_input:  # the step before the descriptor input: the same rule on the covers as decoded
            candidates = region_candidates(result.globals, result.regions, threshold, stage.region_threshold)
            name = f"regions>={stage.region_threshold} as decoded + contained look"
            report[name] = evaluate(kept, video_ids, candidates, second_look(candidates, share(True)))
            print_row(name, report[name])
        for region_threshold in sorted({stage.region_threshold, *args.region_thresholds}):
            searched = {}  # (per cover, votes) -> candidates: every look checks the same ones
            for per_cover, contained, sift, votes in robust_looks(args):
                if (per_cover, votes) not in searched:
                    searched[(per_cover, votes)] = robust_search(stage, robust, result.keypoints, threshold,
                                                                 region_threshold, per_cover, votes)
                candidates = searched[(per_cover, votes)]
                name = robust_name(args, stage, region_threshold, per_cover, contained, sift, votes)
                report[name] = evaluate(kept, video_ids, candidates,
                                        second_look(candidates, share(contained), sift))
                print_row(name, report[name])
                if votes and sift and candidates.voted is not None and candidates.voted.any():
                    print_voted(candidates.select(candidates.voted), contained)
                if sift:
                    print_sift_only(candidates, contained)
    for name, m in report.items():
        if isinstance(m, dict) and m["merged"]:
            print(f"  {name}: merged distinct videos {m['merged'][:10]}")
    if args.regions and stage is not None and not args.held_out:
        report["held_out"] = held_out_rows(cal, images, kept, result, robust, rule, stage)
    if args.existing and stage is not None:
        report["existing"] = existing_set(args, cal, seed_crawls, rule, fp, Settings.from_env().models_dir, stage)
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
