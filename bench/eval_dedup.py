"""Evaluate the calibrated dedup decision on the held-out split (``make eval-dedup``).

Reads ../shared/reference/seed-crawls at run time (exits 2 when absent), rebuilds the evaluation set (every real
cover plus seeded re-uploads of every distinct video), takes the split and the thresholds from the package's
``calibration.json`` (``make calibrate``) and, for every entry whose weights and precision this machine has,
prints pairwise precision/recall, distinct-video merges and candidate pairs on the *held-out* videos only — the
ones the thresholds were not chosen on — for: the original's rule (global cosine ≥ 0.82), the calibrated cosine
alone, and the calibrated cosine + the second look (keypoint inliers and pixel agreement, ``verify.py``).
``--sweep`` also prints the grid the rule chose from, on the calibration split (what ``make calibrate`` saw).
Fingerprints come from the same cache as ``make calibrate`` (keyed by data set, weights, precision and code).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--work", type=Path, default=Path("/tmp/tiktok_top10_calibrate"))
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--no-phash", action="store_true")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)

    seed = args.shared / "reference" / "seed-crawls"
    if not seed.is_dir():
        print(f"eval-dedup: {seed} is absent; the evaluation needs the real covers", file=sys.stderr)
        return 2

    from tiktok_top10.config import Settings
    from tiktok_top10.dedup import calibration as cal
    from tiktok_top10.dedup import precision as prec
    from tiktok_top10.dedup.backbones import WeightsError, choose_backbone
    from tiktok_top10.dedup.evaluation import build_eval_set, dataset_sha256, grid_point, score_pairs, split_by_video

    document = cal.load()
    if not document.get("entries"):
        print(f"eval-dedup: {cal.CALIBRATION_FILE} has no entries: run `make calibrate`", file=sys.stderr)
        return 1
    models_dir = Settings.from_env().models_dir
    images = build_eval_set(seed, args.work / "images", variants=document["dataset"]["variants_per_video"],
                            seed=document["dataset"]["variant_seed"], overwrite=True)
    data_hash = dataset_sha256(images, seed)
    if data_hash != document["dataset"]["sha256"]:
        print(f"eval-dedup: the evaluation set ({data_hash[:16]}…) is not the one calibration.json was made from "
              f"({document['dataset']['sha256'][:16]}…): run `make calibrate`", file=sys.stderr)
        return 1
    split = document["split"]
    calibration_videos, held_out = split_by_video(
        [e.video_id for e in images], split["seed"], split["calibration_share"]
    )
    assert hashlib.sha256("\n".join(held_out).encode()).hexdigest() == split["held_out_videos_sha256"]
    held = set(held_out)
    n_held = sum(e.video_id in held for e in images)
    print(f"held-out split: {len(held_out)} of {len(held_out) + len(calibration_videos)} videos, {n_held} images "
          f"({sum(e.kind == 'original' and e.video_id in held for e in images)} real covers, "
          f"{sum(e.kind != 'original' and e.video_id in held for e in images)} re-uploads with 3 stacked edits + "
          f"re-encode); thresholds chosen on the other {len(calibration_videos)} videos")
    report = {"held_out_videos": len(held_out), "held_out_images": n_held}
    if not args.no_phash:
        report["phash"] = phash_stage([e for e in images if e.video_id in held])
    flags_text = prec.this_cpu_flags_text()
    for entry in document["entries"]:
        name, precision = entry["backbone"], entry["precision"]
        label = f"{name} {precision}"
        try:
            choice = choose_backbone(name, models_dir)
        except WeightsError as exc:
            print(f"\n[{label}] not evaluated: {exc}")
            continue
        runnable = {"fp32"} | ({"bf16"} if prec.native_bf16(flags_text) else set()) | (
            {"int8"} if prec.native_int8(flags_text) and prec.int8_gate(name, choice.weights_sha256)[0] else set())
        if choice.weights_sha256 != entry["weights_sha256"] or precision not in runnable:
            print(f"\n[{label}] not evaluated here (other weights or a precision this CPU does not run natively)")
            continue
        scored = score_pairs(images, name, precision, cal.GRID_THRESHOLDS[0], models_dir=models_dir,
                             cache_dir=args.work / "cache", dataset_hash=data_hash, threads=cal.THREADS)
        t, a, c = entry["threshold"], entry["min_inliers"], entry["min_agreement"]
        geo = f"inliers>={a} agreement>={c}%"
        chosen = f"calibrated cos>={t} + {geo}"
        rows = {
            f"original rule: cos>={cal.ORIGINAL_THRESHOLD}": grid_point(scored, held, cal.ORIGINAL_THRESHOLD, None),
            f"cos>={cal.ORIGINAL_THRESHOLD} + {geo}": grid_point(scored, held, cal.ORIGINAL_THRESHOLD, a, c),
            f"calibrated cos>={t} alone": grid_point(scored, held, t, None),
            f"calibrated cos>={t} + inliers>={a} (no pixel check)": grid_point(scored, held, t, a),
            chosen: grid_point(scored, held, t, a, c),
        }
        print(f"\n[{label}] held-out split, {n_held} images")
        print(f"{'rule':<62} {'precision':>9} {'recall':>7} {'pairs':>6} {'merges':>6} {'candidates':>10}")
        for rule, m in rows.items():
            print(f"{rule:<62} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['predicted_pairs']:>6} "
                  f"{m['distinct_video_merges']:>6} {m['candidates']:>10}")
        if rows[chosen]["merged"]:
            print("  merged distinct videos:", [tuple(map(str, pair)) for pair in rows[chosen]["merged"][:20]])
        margins(scored, held, t)
        if args.sweep:
            print("  sweep on the CALIBRATION split (what the rule chose from; threshold | "
                  "min_inliers/min_agreement %: precision recall merges), candidates per threshold:")
            videos = set(calibration_videos)
            for threshold in cal.GRID_THRESHOLDS:
                line = []
                for inl in cal.GRID_MIN_INLIERS:
                    for agr in cal.GRID_MIN_AGREEMENT:
                        m = grid_point(scored, videos, threshold, inl, agr)
                        line.append(f"{inl}/{agr}: {m['precision']:.3f} {m['recall']:.3f} {m['distinct_video_merges']}")
                print(f"  {threshold:.2f} ({m['candidates']} candidates) | " + " | ".join(line))
        report[label] = {rule: {k: v for k, v in m.items() if k != "merged"} for rule, m in rows.items()}
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2))
    return 0


def margins(scored, videos: set[str], threshold: float) -> None:
    """The hardest held-out cases: the weakest re-upload and the closest distinct pair."""
    ids = np.asarray(scored.video_ids)
    p = scored.pairs
    inside = np.isin(ids[p.i], list(videos)) & np.isin(ids[p.j], list(videos))
    same = inside & (ids[p.i] == ids[p.j])
    other = inside & (ids[p.i] != ids[p.j])
    if same.any() and other.any():
        print(f"  held-out margins: re-upload pairs cosine min {p.similarity[same].min():.3f} (of pairs >= "
              f"{p.similarity.min():.2f}); distinct pairs cosine max {p.similarity[other].max():.3f}, inliers max "
              f"{scored.inliers[other].max()}, agreement max {scored.agreement[other].max()}%; re-uploads' "
              f"agreement 5th percentile {np.percentile(scored.agreement[same], 5):.0f}%")


def phash_stage(images) -> dict:
    """Would an exact/near-exact stage (imagehash's pHash, before the CNN) pay for itself?  Prints how many
    re-upload pairs and distinct pairs fall within a few bits, and what hashing costs per cover."""
    import imagehash

    from tiktok_top10.dedup.images import UnreadableImage, content_box, open_rgb

    bits, ids, took = [], [], 0.0
    for e in images:
        try:
            gray = open_rgb(e.path).convert("L")
        except UnreadableImage:
            continue
        start = time.perf_counter()
        bits.append(imagehash.phash(gray.crop(content_box(gray))).hash.ravel())
        took += time.perf_counter() - start
        ids.append(e.video_id)
    h, ids = np.asarray(bits, np.uint8), np.asarray(ids)
    dist = (h[:, None, :] != h[None, :, :]).sum(-1)
    iu = np.triu_indices(len(ids), 1)
    same, d = ids[iu[0]] == ids[iu[1]], dist[iu]
    print(f"\n[phash] imagehash pHash of the bar-trimmed grey cover: {1000 * took / max(1, len(ids)):.1f} ms/cover")
    out = {"ms_per_cover": 1000 * took / max(1, len(ids)), "same_video_pairs": int(same.sum())}
    for k in (0, 4, 10):
        caught, merged = int(((d <= k) & same).sum()), int(((d <= k) & ~same).sum())
        print(f"  hamming <= {k:>2}: re-upload/re-crawl pairs caught {caught}/{int(same.sum())}, "
              f"distinct pairs {merged}")
        out[f"hamming<={k}"] = {"caught": caught, "distinct": merged}
    return out


if __name__ == "__main__":
    sys.exit(main())
