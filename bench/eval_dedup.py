"""Calibrate and evaluate the dedup decision on real covers (``make eval-dedup``).

Reads ../shared/reference/seed-crawls at run time (exits 1 when absent), writes re-upload variants of every
distinct video to a work directory, fingerprints everything with each available backbone, and prints pairwise
precision/recall and merges of distinct real videos for: the original's rule (global cosine ≥ 0.82), the
calibrated global threshold alone, and the calibrated threshold + the second look (keypoint inliers and pixel
agreement, ``verify.py``).  ``--sweep`` prints the grid the calibrated values were chosen from (highest recall
with precision ≥ 0.99 and zero merges).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEDUP = REPO / "include" / "tiktok_top10" / "dedup"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--work", type=Path, default=Path("/tmp/tiktok_top10_eval_dedup"))
    parser.add_argument("--variants", type=int, default=2)
    parser.add_argument("--backbones", default="efficientnet-lite0,resnet50")
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)

    seed = args.shared / "reference" / "seed-crawls"
    if not seed.is_dir():
        print(f"eval-dedup: {seed} is absent; the evaluation needs the real covers", file=sys.stderr)
        return 1

    from tiktok_top10.config import Settings
    from tiktok_top10.dedup.backbones import WeightsError
    from tiktok_top10.dedup.calibration import CALIBRATION, ORIGINAL_THRESHOLD
    from tiktok_top10.dedup.evaluation import build_eval_set, pair_metrics
    from tiktok_top10.dedup.fingerprint import Fingerprinter
    from tiktok_top10.dedup.grouping import connected_groups, similar_pairs
    from tiktok_top10.dedup.verify import pair_scores

    images = build_eval_set(seed, args.work / "images", variants=args.variants)
    print(f"evaluation set: {len(images)} images, {len({e.video_id for e in images})} distinct videos "
          f"({sum(e.kind == 'original' for e in images)} real covers, "
          f"{sum(e.kind != 'original' for e in images)} re-uploads with 3 stacked edits + re-encode)")
    report = {"phash": phash_stage(images)}
    for name in args.backbones.split(","):
        try:
            fp = Fingerprinter(name, Settings.from_env().models_dir)
        except WeightsError as exc:
            print(f"\n[{name}] not evaluated: {exc}")
            report[name] = {"error": str(exc)}
            continue
        # keyed by the weights and by the code that turns an image into a fingerprint: a change there recomputes
        code = hashlib.sha256(b"".join((DEDUP / f).read_bytes() for f in ("images.py", "fingerprint.py",
                                                                          "verify.py", "backbones.py"))).hexdigest()
        cache = args.work / f"fingerprints-{name}-{fp.choice.weights_sha256[:12]}-{code[:12]}.pkl"
        if cache.is_file():
            result = pickle.loads(cache.read_bytes())
        else:
            start = time.perf_counter()
            result = fp.fingerprint([e.path for e in images])
            print(f"[{name}] fingerprinted {len(result)} images in {time.perf_counter() - start:.1f} s")
            cache.write_bytes(pickle.dumps(result))
        index = {p: k for k, p in enumerate(result.paths)}
        kept = [e for e in images if str(e.path) in index]
        order = [index[str(e.path)] for e in kept]
        glob, kps = result.globals[order], [result.keypoints[k] for k in order]
        ids = [e.video_id for e in kept]
        pairs = similar_pairs(glob, 0.64)  # the lowest threshold evaluated
        start = time.perf_counter()
        scores = pair_scores(kps, pairs)  # (inliers, pixel agreement %) of every candidate pair
        inliers, agreement = scores[:, 0], scores[:, 1]
        print(f"[{name}] geometric check of {len(pairs)} candidate pairs: {time.perf_counter() - start:.1f} s")

        def evaluate(threshold: float, min_inliers: int | None, min_agreement: int = 0) -> dict:
            mask = pairs.similarity >= threshold
            if min_inliers is not None:
                mask &= (inliers >= min_inliers) & (agreement >= min_agreement)
            return pair_metrics(ids, connected_groups(len(ids), pairs.select(mask)))

        cal = CALIBRATION[name]
        geo = f"inliers>={cal['min_inliers']} agreement>={cal['min_agreement']}%"
        chosen = f"calibrated cos>={cal['threshold']} + {geo}"
        rows = {
            f"original rule: cos>={ORIGINAL_THRESHOLD}": evaluate(ORIGINAL_THRESHOLD, None),
            f"cos>={ORIGINAL_THRESHOLD} + {geo}": evaluate(ORIGINAL_THRESHOLD, cal["min_inliers"], cal["min_agreement"]),
            f"calibrated cos>={cal['threshold']} alone": evaluate(cal["threshold"], None),
            f"calibrated cos>={cal['threshold']} + inliers>={cal['min_inliers']} (no pixel check)":
                evaluate(cal["threshold"], cal["min_inliers"]),
            chosen: evaluate(cal["threshold"], cal["min_inliers"], cal["min_agreement"]),
        }
        print(f"\n[{name}] precision {fp.precision}, {len(ids)} images")
        print(f"{'rule':<62} {'precision':>9} {'recall':>7} {'pairs':>6} {'merges':>6}")
        for label, m in rows.items():
            print(f"{label:<62} {m['precision']:>9.4f} {m['recall']:>7.4f} {m['predicted_pairs']:>6} "
                  f"{m['distinct_video_merges']:>6}")
        worst = rows[chosen]["merged"]
        if worst:
            print("  merged distinct videos:", [tuple(map(str, pair)) for pair in worst[:20]])
        if args.sweep:
            print("  sweep (threshold | min_inliers/min_agreement %: precision recall merges):")
            for t in (0.64, 0.68, 0.72, 0.74, 0.76, 0.82):
                line = []
                for a in (10, 15, 20, 30):
                    for c in (20, 30, 40):
                        m = evaluate(float(t), a, c)
                        line.append(f"{a}/{c}: {m['precision']:.3f} {m['recall']:.3f} {m['distinct_video_merges']}")
                print(f"  {t:.2f} | " + " | ".join(line))
        # the hardest cases, for the record: the weakest re-upload found and the closest distinct pair
        same = np.asarray(ids)[pairs.i] == np.asarray(ids)[pairs.j]
        if same.any() and (~same).any():
            print(f"  re-upload pairs: cosine min {pairs.similarity[same].min():.3f}; distinct pairs: cosine max "
                  f"{pairs.similarity[~same].max():.3f}, inliers max {inliers[~same].max()}, "
                  f"agreement max {agreement[~same].max()}%; re-uploads' agreement 5th percentile "
                  f"{np.percentile(agreement[same], 5):.0f}%")
        report[name] = {label: {k: v for k, v in m.items() if k != "merged"} for label, m in rows.items()}
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2))
    return 0


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
        print(f"  hamming <= {k:>2}: re-upload/re-crawl pairs caught {caught}/{int(same.sum())}, distinct pairs {merged}")
        out[f"hamming<={k}"] = {"caught": caught, "distinct": merged}
    return out


if __name__ == "__main__":
    sys.exit(main())
