"""Derive the dedup thresholds from the calibration split and write them to the package (``make calibrate``).

For every backbone whose weights are present here (efficientnet-lite0 always; resnet50 when ``models/`` holds its
verified file) and every precision this CPU runs natively (fp32 always; bf16 with AVX512-BF16/AMX; int8 with
VNNI/AMX-INT8 when the backbone's int8 model passed ``make gate-int8``), it
fingerprints the evaluation set (../shared/reference/seed-crawls: every real cover plus seeded re-uploads), splits
it by video (seeded), measures every point of the fixed grid on the calibration half and applies the selection
rule (``tiktok_top10.dedup.calibration.choose``).  Then, under the rule chosen, it measures the crop-robust dedup's
grid (``calibration.crop_grid``: regional cosine, vote floor, contained look's share) on the calibration half of
the harder evaluation's set (bench/eval_dedup_hard.py, built from the same covers; split by video with the same
seed, a banded pair's two videos on one side: ``hard_split``) and applies the same rule (``choose(points,
CROP_STRICTNESS, CROP_RECALL_GIVE)``).  The result, with the data sets' hashes, the splits and the rules, goes to
``include/tiktok_top10/dedup/calibration.json`` (package data).  Deterministic: fixed grids, seeded re-uploads,
split and RANSAC, fp32 on a fixed number of threads, floats rounded to 3 decimals; entries this run could not
compute (another CPU's precision) are carried over when they were made from the same data sets.
Each bf16/int8 entry names the CPU flags it was measured with: another CPU class (AMX instead of AVX512-BF16)
may round differently, so such an entry is re-measured (and ``--check`` compares it) only on a CPU with the same
flags, unless ``--remeasure`` says to replace it; the fp32 entries are the ones every machine reproduces.

    .venv/bin/python bench/calibrate_dedup.py [--no-cache] [--check] [--remeasure]

``--no-cache`` recomputes every fingerprint (the reproducibility check); ``--check`` writes nothing and exits 1
when the file would change.  Exits 2 when ../shared/reference is absent.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FORMAT = 1


def round3(value: float) -> float:
    return round(float(value), 3)


def calibrate_one(scored, videos: set[str], log=print) -> tuple[dict | None, list[dict]]:
    from tiktok_top10.dedup import calibration as cal
    from tiktok_top10.dedup.evaluation import grid_point

    points = []
    for threshold in cal.GRID_THRESHOLDS:
        for min_inliers in cal.GRID_MIN_INLIERS:
            for min_agreement in cal.GRID_MIN_AGREEMENT:
                m = grid_point(scored, videos, threshold, min_inliers, min_agreement)
                points.append({"threshold": threshold, "min_inliers": min_inliers, "min_agreement": min_agreement,
                               "precision": round3(m["precision"]), "recall": round3(m["recall"]),
                               "merges": m["distinct_video_merges"], "candidates": m["candidates"]})
    return cal.choose(points), points


def hard_module():
    """bench/eval_dedup_hard.py, which builds the harder set and scores the crop-robust rule."""
    import importlib.util

    if "eval_dedup_hard" not in sys.modules:
        spec = importlib.util.spec_from_file_location("eval_dedup_hard", REPO / "bench" / "eval_dedup_hard.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["eval_dedup_hard"] = module  # before running it: its dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules["eval_dedup_hard"]


def calibrate_crop_robust(hard_images, backbone: str, precision: str, rule: tuple[float, int, int],
                          videos: set[str], models_dir: Path, cache_dir: Path | None) -> tuple[dict | None, list]:
    """The crop-robust grid on the harder set's images of ``videos`` (the calibration split) under the global
    ``rule`` (cosine, inliers, agreement %) chosen for this backbone and precision, and the point the rule picks."""
    import tempfile

    from tiktok_top10.dedup import calibration as cal
    from tiktok_top10.dedup.grouping import CropRobust, crop_robust_candidates
    from tiktok_top10.dedup.images import DescriptorInput

    hard = hard_module()
    with tempfile.TemporaryDirectory() as scratch:  # --no-cache: fingerprints kept for this run only
        cache = cache_dir or Path(scratch)
        _, result = hard.fingerprint_cached(hard_images, backbone, precision, models_dir, cal.THREADS, cache, True)
        _, robust = hard.fingerprint_cached(hard_images, backbone, precision, models_dir, cal.THREADS, cache, True,
                                            DescriptorInput())
    by_path = {str(e.path): e for e in hard_images}
    kept = [by_path[p] for p in result.paths]
    rows = hard.rows_of(kept, videos)
    part, fps, robust_part = [kept[k] for k in rows], hard.subset(result, rows), hard.subset(robust, rows)
    bands = {e.kind for e in part if e.kind.startswith("band:")}
    whole_bands = sum(sum(e.kind == b for e in part) == 2 for b in bands)
    print(f"[{backbone} {precision}] crop-robust grid on the harder set's calibration split: {len(part)} images, "
          f"{sum(e.kind.startswith('reupload') for e in part)} re-uploads, {whole_bands} banded pairs of distinct "
          f"videos (both in the split)")
    looks = hard.SecondLooks(fps.keypoints, rule)
    points, searched = [], {}
    for region_threshold, vote_floor, contained in cal.crop_grid():
        stage = CropRobust(region_threshold=region_threshold, vote_floor=vote_floor,
                           contained_min_agreement=contained)
        if (region_threshold, vote_floor) not in searched:
            searched[(region_threshold, vote_floor)] = crop_robust_candidates(
                stage, robust_part.globals, robust_part.regions, rule[0], fps.keypoints)
        m = hard.crop_robust_point(part, fps, robust_part, rule, stage, looks,
                                   searched[(region_threshold, vote_floor)])
        points.append({"region_threshold": region_threshold, "vote_floor": vote_floor,
                       "contained_min_agreement": contained, "precision": round3(m["precision"]),
                       "recall": round3(m["recall"]), "merges": m["distinct_video_merges"],
                       "banded_merged": m["banded_pairs_merged"], "candidates": m["candidates"]})
    return cal.choose(points, cal.CROP_STRICTNESS, cal.CROP_RECALL_GIVE), points


def crop_robust_bounds() -> dict:
    """The crop-robust rule's parts the grid does not vary (``grouping.CropRobust``'s other fields): the values
    are chosen under them, so calibration.json records them."""
    from tiktok_top10.dedup.grouping import CropRobust

    rule = CropRobust(region_threshold=1.0, vote_floor=0.0, contained_min_agreement=0.5)
    return {"per_cover": rule.per_cover, "votes_per_cover": rule.votes_per_cover, "sift_look": rule.sift_look,
            "descriptor_input": rule.descriptor_input.tag}


def precisions_here(prec, flags_text: str, backbone: str, weights_sha256: str) -> list[str]:
    """The precisions this CPU runs ``backbone`` in natively: fp32; bf16 where native; int8 where native and the
    int8 model of these weights passed its fidelity gate (an int8 that failed it is never chosen, so it needs no
    thresholds)."""
    out = ["fp32"]
    if prec.native_bf16(flags_text):
        out.append("bf16")
    if prec.native_int8(flags_text) and prec.int8_gate(backbone, weights_sha256)[0]:
        out.append("int8")
    return out


def precision_flags(prec, flags_text: str, precision: str) -> list[str]:
    """The CPU flags a ``precision`` result depends on (none for fp32)."""
    wanted = {"bf16": prec.BF16_FLAGS, "int8": prec.INT8_FLAGS}.get(precision, ())
    return sorted(prec.cpu_flags(flags_text) & set(wanted))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--work", type=Path, default=Path("/tmp/tiktok_top10_calibrate"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--remeasure", action="store_true",
                        help="replace bf16/int8 entries measured on another CPU class with this CPU's")
    args = parser.parse_args(argv)

    seed = args.shared / "reference" / "seed-crawls"
    if not seed.is_dir():
        print(f"calibrate: {seed} is absent; calibration needs the real covers of ../shared/reference "
              "(nothing written)", file=sys.stderr)
        return 2

    from tiktok_top10.config import Settings
    from tiktok_top10.dedup import calibration as cal
    from tiktok_top10.dedup import precision as prec
    from tiktok_top10.dedup.backbones import RESNET50_FILE, WeightsError, choose_backbone
    from tiktok_top10.dedup.evaluation import build_eval_set, dataset_sha256, score_pairs, split_by_video

    out = args.out or cal.CALIBRATION_FILE
    models_dir = Settings.from_env().models_dir
    images = build_eval_set(seed, args.work / "images", variants=cal.VARIANTS, seed=cal.VARIANT_SEED, overwrite=True)
    data_hash = dataset_sha256(images, seed)
    calibration_videos, held_out = split_by_video([e.video_id for e in images], cal.SPLIT_SEED, cal.CALIBRATION_SHARE)
    print(f"data set {data_hash[:16]}…: {len(images)} images of {len(calibration_videos) + len(held_out)} videos; "
          f"calibration split {len(calibration_videos)} videos, held out {len(held_out)} (seed {cal.SPLIT_SEED})")
    hard = hard_module()
    hard_images = hard.build_hard_set(seed, args.work / "hard-images")
    hard_hash = hard.dataset_sha256(hard_images)
    hard_calibration, hard_held_out = hard.hard_split(hard_images, cal.SPLIT_SEED, cal.CALIBRATION_SHARE)
    print(f"harder set {hard_hash[:16]}…: {len(hard_images)} images (bench/eval_dedup_hard.py, seed {hard.SEED}); "
          f"calibration split {len(hard_calibration)} videos, held out {len(hard_held_out)} (seed {cal.SPLIT_SEED}, "
          "a banded pair's videos together)")

    flags_text = prec.this_cpu_flags_text()
    previous = cal.load(out) if out.is_file() else {}
    # the crop-robust values are chosen under the rule's fixed parts: values chosen under others are not carried
    bounds = crop_robust_bounds()
    same_bounds = previous.get("crop_robust_rule", {}).get("bounds") == bounds
    computed, skipped, kept, attempted = [], [], [], set()
    for backbone in ("efficientnet-lite0", "resnet50"):
        try:
            choice = choose_backbone(backbone, models_dir)
        except WeightsError as exc:
            # no absolute path in the file: it must come out the same in any clone
            skipped.append({"backbone": backbone, "reason": str(exc).replace(str(models_dir), "models")})
            print(f"[{backbone}] not calibrated: {exc}")
            continue
        for precision in precisions_here(prec, flags_text, backbone, choice.weights_sha256):
            measured_with = precision_flags(prec, flags_text, precision)
            attempted.add((backbone, precision))
            committed = next((e for e in previous.get("entries", []) if e["backbone"] == backbone
                              and e["precision"] == precision and e["weights_sha256"] == choice.weights_sha256), None)
            if not args.remeasure and committed is not None \
                    and committed.get("measured_with_flags", []) != measured_with:
                print(f"[{backbone} {precision}] kept as committed: measured with "
                      f"{committed.get('measured_with_flags')}, this CPU has {measured_with} (another CPU class "
                      "may round differently; --remeasure replaces it)")
                if not same_bounds and "crop_robust" in committed:
                    print(f"[{backbone} {precision}] its crop-robust values were chosen under other bounds "
                          f"({previous.get('crop_robust_rule', {}).get('bounds')}): dropped")
                    committed = {k: v for k, v in committed.items() if k != "crop_robust"}
                kept.append(committed)
                continue
            scored = score_pairs(images, backbone, precision, cal.GRID_THRESHOLDS[0], models_dir=models_dir,
                                 cache_dir=None if args.no_cache else args.work / "cache", dataset_hash=data_hash,
                                 threads=cal.THREADS)
            chosen, _ = calibrate_one(scored, set(calibration_videos))
            if chosen is None:
                print(f"[{backbone} {precision}] no grid point merges no distinct videos: not calibrated")
                skipped.append({"backbone": backbone, "precision": precision, "reason": "no admissible grid point"})
                continue
            entry = {"backbone": backbone, "precision": precision,
                     "weights_file": RESNET50_FILE if backbone == "resnet50" else Path(choice.weights_path).name,
                     "weights_sha256": choice.weights_sha256,
                     "threshold": chosen["threshold"], "min_inliers": chosen["min_inliers"],
                     "min_agreement": chosen["min_agreement"],
                     "calibration_split": {k: chosen[k] for k in ("precision", "recall", "merges", "candidates")}}
            if measured_with:
                entry["measured_with_flags"] = measured_with
            print(f"[{backbone} {precision}] chosen: cos >= {entry['threshold']}, inliers >= {entry['min_inliers']}, "
                  f"agreement >= {entry['min_agreement']}% (calibration split: {entry['calibration_split']})")
            robust, _ = calibrate_crop_robust(
                hard_images, backbone, precision, (entry["threshold"], entry["min_inliers"], entry["min_agreement"]),
                set(hard_calibration), models_dir, None if args.no_cache else args.work / "cache")
            if robust is None:
                print(f"[{backbone} {precision}] no crop-robust grid point merges no distinct videos: the crop-robust "
                      "dedup is not calibrated for it")
                skipped.append({"backbone": backbone, "precision": precision,
                                "reason": "crop_robust: no admissible grid point"})
            else:
                entry["crop_robust"] = {k: robust[k] for k in ("region_threshold", "vote_floor",
                                                               "contained_min_agreement")}
                entry["crop_robust"]["calibration_split"] = {k: robust[k] for k in (
                    "precision", "recall", "merges", "banded_merged", "candidates")}
                print(f"[{backbone} {precision}] crop-robust chosen: regions >= {robust['region_threshold']}, votes >= "
                      f"{robust['vote_floor']}, contained look >= {robust['contained_min_agreement']} "
                      f"(calibration split: {entry['crop_robust']['calibration_split']})")
            computed.append(entry)

    done = {(e["backbone"], e["precision"], e["weights_sha256"]) for e in computed + kept}
    carried = kept + [e for e in previous.get("entries", [])
                      if previous.get("dataset", {}).get("sha256") == data_hash
                      and previous.get("crop_robust_dataset", {}).get("sha256") == hard_hash and same_bounds
                      and (e["backbone"], e["precision"], e["weights_sha256"]) not in done
                      and (e["backbone"], e["precision"]) not in attempted]
    for e in carried[len(kept):]:
        print(f"[{e['backbone']} {e['precision']}] carried over from the existing file (not computable on this CPU)")
    document = {
        "format": FORMAT,
        "generated_by": "make calibrate (bench/calibrate_dedup.py)",
        "dataset": {"source": "../shared/reference/seed-crawls", "sha256": data_hash, "images": len(images),
                    "videos": len(calibration_videos) + len(held_out), "variants_per_video": cal.VARIANTS,
                    "variant_seed": cal.VARIANT_SEED},
        "crop_robust_dataset": {"source": "bench/eval_dedup_hard.py on ../shared/reference/seed-crawls",
                                "sha256": hard_hash, "images": len(hard_images), "seed": hard.SEED,
                                "reuploads": hard.REUPLOADS, "banded_pairs": hard.HARD_NEGATIVES,
                                "split": {"by": "video, a banded pair's two videos together (hard_split)",
                                          "seed": cal.SPLIT_SEED, "calibration_share": cal.CALIBRATION_SHARE,
                                          "calibration_videos": len(hard_calibration),
                                          "held_out_videos_sha256": hashlib.sha256(
                                              "\n".join(hard_held_out).encode()).hexdigest(),
                                          "held_out_count": len(hard_held_out)}},
        "crop_robust_rule": {
            "code": "tiktok_top10.dedup.calibration.choose(points, CROP_STRICTNESS, CROP_RECALL_GIVE)",
            "text": "under each entry's global rule and the bounds below, the crop-robust grid points "
                    "(grouping.CropRobust) that merge no "
                    "two distinct videos of the harder set's calibration split (hard_split); of those within "
                    f"{cal.CROP_RECALL_GIVE} recall of the best, the fewest candidate pairs; ties: higher recall, "
                    "then the higher contained share, vote floor and regional cosine",
            "recall_give": cal.CROP_RECALL_GIVE,
            "bounds": bounds,
            "grid": {"region_threshold": list(cal.CROP_GRID_REGION), "vote_floor": list(cal.CROP_GRID_VOTE_FLOOR),
                     "contained_min_agreement": list(cal.CROP_GRID_CONTAINED)}},
        "split": {"by": "video", "seed": cal.SPLIT_SEED, "calibration_share": cal.CALIBRATION_SHARE,
                  "calibration_videos": calibration_videos,
                  "held_out_videos_sha256": hashlib.sha256("\n".join(held_out).encode()).hexdigest(),
                  "held_out_count": len(held_out)},
        "rule": {"code": "tiktok_top10.dedup.calibration.choose",
                 "text": "grid points that merge no two distinct videos of the calibration split; of those within "
                         f"{cal.RECALL_GIVE} recall of the best, the fewest candidate pairs (the second look's cost); "
                         "ties: higher recall, then higher min_agreement, then more min_inliers",
                 "grid": {"threshold": list(cal.GRID_THRESHOLDS), "min_inliers": list(cal.GRID_MIN_INLIERS),
                          "min_agreement": list(cal.GRID_MIN_AGREEMENT)},
                 "recall_give": cal.RECALL_GIVE, "threads": cal.THREADS},
        "entries": sorted(computed + carried, key=lambda e: (e["backbone"], e["precision"], e["weights_sha256"])),
        "not_calibrated": skipped,
    }
    text = json.dumps(document, indent=1, sort_keys=True, ensure_ascii=True) + "\n"
    if args.check:
        same = out.is_file() and out.read_text(encoding="utf-8") == text
        print(f"calibrate --check: {out} {'is up to date' if same else 'WOULD CHANGE'}")
        return 0 if same else 1
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    print(f"wrote {out} (sha256 {hashlib.sha256(text.encode()).hexdigest()[:16]}…)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
