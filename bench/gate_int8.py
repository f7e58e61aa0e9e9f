"""The int8 fidelity gate (``make gate-int8``): may the quantised EfficientNet-Lite0 replace fp32?

On the evaluation set of ``make eval-dedup`` (../shared/reference/seed-crawls: every real cover plus seeded
re-uploads; exits 2 when absent) it fingerprints every image in fp32 and with the cached int8 model
(``dedup/quantize.py``, built first if needed), both on ``calibration.THREADS`` threads, and compares on the
*held-out* split of ``calibration.json`` with the fp32 entry's thresholds (the ones int8 runs with):

* pairwise precision P, recall R and distinct-video merges: int8 passes only with P and R equal or better and
  no more merges than fp32;
* the descriptors' cosine to fp32 (min, mean) over every evaluation image, and nearest-neighbour agreement
  (the share of images whose nearest other image is the same in both precisions): reported, not gated.

The verdict goes to ``include/tiktok_top10/dedup/fidelity.json`` (package data), keyed by the weights'
SHA-256 and the quantisation recipe; ``precision.choose_precision`` uses int8 only with a passing entry.
ResNet50's quality cannot be checked here without its ImageNet weights: it gets an entry only when its
verified weights and a calibration entry are present.

    .venv/bin/python bench/gate_int8.py [--shared ../shared] [--backbone efficientnet-lite0] [--variants]

``--variants`` first prints why the recipe is what it is: the descriptors' cosine to fp32 and nearest-neighbour
agreement on the first 48 real covers for the x86 and oneDNN engines, each with every layer int8 and with the
stem kept fp32 (built in memory, nothing cached or written).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def fingerprint_and_score(images, backbone: str, precision: str, models_dir: Path, floor: float, threads: int):
    """(Scored, globals) of ``images`` at ``precision``: the same scoring as ``make eval-dedup``."""
    from tiktok_top10.dedup.evaluation import Scored
    from tiktok_top10.dedup.fingerprint import Fingerprinter
    from tiktok_top10.dedup.grouping import similar_pairs
    from tiktok_top10.dedup.verify import pair_scores

    fp = Fingerprinter(backbone, models_dir, threads=threads, precision=precision)
    fp._load()  # the int8 model built (or read from its cache) before the clock starts
    start = time.perf_counter()
    result = fp.fingerprint([e.path for e in images])
    took = time.perf_counter() - start
    pairs = similar_pairs(result.globals, floor)
    scores = pair_scores(result.keypoints, pairs)
    by_path = {str(e.path): e for e in images}
    kept = [by_path[p] for p in result.paths]
    print(f"[{backbone} {precision}] {len(result)} images fingerprinted in {took:.1f} s "
          f"({len(result) / took:.1f}/s on {threads} threads), {len(pairs)} pairs >= {floor}")
    return Scored(kept, [e.video_id for e in kept], pairs, scores[:, 0], scores[:, 1]), result


def descriptor_fidelity(ref: np.ndarray, low: np.ndarray) -> dict:
    cos = (ref * low).sum(1)
    sim_ref, sim_low = ref @ ref.T, low @ low.T
    np.fill_diagonal(sim_ref, -2.0)
    np.fill_diagonal(sim_low, -2.0)
    agree = float((sim_ref.argmax(1) == sim_low.argmax(1)).mean())
    return {"cosine_min": round(float(cos.min()), 3), "cosine_mean": round(float(cos.mean()), 3),
            "nn_agreement": round(agree, 3), "images": len(ref)}


def variants(seed: Path, backbone: str, models_dir: Path, threads: int, covers: int = 48) -> None:
    import torch
    import torch.nn.functional as F

    from tiktok_top10.dedup.backbones import build_model, choose_backbone
    from tiktok_top10.dedup.fingerprint import GEM_P
    from tiktok_top10.dedup.images import load_views
    from tiktok_top10.dedup.quantize import CALIBRATION_BATCH, ENGINE, calibration_views, normalise, quantize_model

    torch.set_num_threads(threads)
    choice = choose_backbone(backbone, models_dir)
    paths = sorted(seed.rglob("*.jpg"))[:covers]
    _, mean, std = build_model(choice)
    x = normalise(np.concatenate([load_views(p) for p in paths]), mean, std)
    calibration = list(torch.split(normalise(calibration_views(), mean, std), CALIBRATION_BATCH))

    def descriptors(model) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for batch in torch.split(x, 12):
                fmap = model(batch).float().clamp(min=1e-6).pow(GEM_P)
                pooled = fmap.mean((2, 3)).pow(1.0 / GEM_P)
                out.append(F.normalize(pooled.view(-1, 3, pooled.shape[1]).mean(1), dim=1))
        return torch.cat(out).numpy()

    ref = descriptors(build_model(choice)[0])
    print(f"int8 variants, {backbone}, descriptors of the first {len(paths)} real covers vs fp32 "
          "(calibrated on the generated demo covers):")
    for engine in ("x86", "onednn"):
        for islands in (False, True):
            model = quantize_model(build_model(choice)[0], backbone, calibration, islands=islands, engine=engine)
            f = descriptor_fidelity(ref, descriptors(model))
            print(f"  engine {engine:<6} {'stem fp32' if islands else 'every layer int8':<17} cosine mean "
                  f"{f['cosine_mean']:.3f} min {f['cosine_min']:.3f}, "
                  f"nearest-neighbour agreement {f['nn_agreement']:.3f}")
    torch.backends.quantized.engine = ENGINE  # the recipe's engine again for the gate itself


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--work", type=Path, default=Path("/tmp/tiktok_top10_calibrate"))
    parser.add_argument("--backbone", default="efficientnet-lite0", choices=("efficientnet-lite0", "resnet50"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--variants", action="store_true", help="print the recipe's alternatives first")
    args = parser.parse_args(argv)

    seed = args.shared / "reference" / "seed-crawls"
    if not seed.is_dir():
        print(f"gate-int8: {seed} is absent; the gate needs the real covers (nothing written)", file=sys.stderr)
        return 2

    from tiktok_top10.config import Settings
    from tiktok_top10.dedup import calibration as cal
    from tiktok_top10.dedup import precision as prec
    from tiktok_top10.dedup.backbones import WeightsError, choose_backbone
    from tiktok_top10.dedup.evaluation import build_eval_set, dataset_sha256, grid_point, split_by_video
    from tiktok_top10.dedup.quantize import ENGINE, RECIPE, cache_path

    out = args.out or prec.FIDELITY_FILE
    models_dir = Settings.from_env().models_dir
    if args.variants:
        variants(seed, args.backbone, models_dir, cal.THREADS)
    document = cal.load()
    try:
        choice = choose_backbone(args.backbone, models_dir)
    except WeightsError as exc:
        print(f"gate-int8: {args.backbone} not gated: {exc}", file=sys.stderr)
        return 1
    entry = cal.find_entry(args.backbone, "fp32", choice.weights_sha256)
    if entry is None:
        print(f"gate-int8: no fp32 calibration entry for {args.backbone} ({choice.weights_sha256[:12]}…): "
              "run `make calibrate`", file=sys.stderr)
        return 1
    images = build_eval_set(seed, args.work / "images", variants=document["dataset"]["variants_per_video"],
                            seed=document["dataset"]["variant_seed"], overwrite=True)
    data_hash = dataset_sha256(images, seed)
    if data_hash != document["dataset"]["sha256"]:
        print(f"gate-int8: the evaluation set ({data_hash[:16]}…) is not the one calibration.json was made from: "
              "run `make calibrate`", file=sys.stderr)
        return 1
    split = document["split"]
    _, held_out = split_by_video([e.video_id for e in images], split["seed"], split["calibration_share"])
    assert hashlib.sha256("\n".join(held_out).encode()).hexdigest() == split["held_out_videos_sha256"]
    held = set(held_out)
    flags = prec.this_cpu_flags_text()
    print(f"CPU flags for precision: int8 {sorted(prec.cpu_flags(flags) & set(prec.INT8_FLAGS)) or 'none'}, "
          f"bf16 {sorted(prec.cpu_flags(flags) & set(prec.BF16_FLAGS)) or 'none'}; int8 model "
          f"{cache_path(models_dir, choice).name} (engine {ENGINE})")

    t, a, c = entry["threshold"], entry["min_inliers"], entry["min_agreement"]
    floor = cal.GRID_THRESHOLDS[0]
    scored, results = {}, {}
    for precision in ("fp32", "int8"):
        scored[precision], results[precision] = fingerprint_and_score(images, args.backbone, precision, models_dir,
                                                                      floor, cal.THREADS)
    assert results["fp32"].paths == results["int8"].paths
    figures = {}
    print(f"\nheld-out split ({len(held_out)} videos), fp32 thresholds cos>={t} + inliers>={a} agreement>={c}%:")
    print(f"{'precision':<10} {'P':>6} {'R':>6} {'merges':>6} {'pairs':>6} {'candidates':>10}")
    for precision, s in scored.items():
        m = grid_point(s, held, t, a, c)
        figures[precision] = {"precision": round(m["precision"], 3), "recall": round(m["recall"], 3),
                              "merges": m["distinct_video_merges"], "candidates": m["candidates"]}
        print(f"{precision:<10} {m['precision']:>6.3f} {m['recall']:>6.3f} {m['distinct_video_merges']:>6} "
              f"{m['predicted_pairs']:>6} {m['candidates']:>10}")
    fidelity = descriptor_fidelity(results["fp32"].globals, results["int8"].globals)
    print(f"int8 vs fp32 descriptors on {fidelity['images']} images: cosine min {fidelity['cosine_min']:.3f}, "
          f"mean {fidelity['cosine_mean']:.3f}; nearest-neighbour agreement {fidelity['nn_agreement']:.3f}")
    f32, i8 = figures["fp32"], figures["int8"]
    failed = [name for name, ok in (("precision", i8["precision"] >= f32["precision"]),
                                    ("recall", i8["recall"] >= f32["recall"]),
                                    ("merges", i8["merges"] <= f32["merges"])) if not ok]
    verdict = "fail" if failed else "pass"
    why = (f"held-out P/R/merges int8 {i8['precision']:.3f}/{i8['recall']:.3f}/{i8['merges']} vs fp32 "
           f"{f32['precision']:.3f}/{f32['recall']:.3f}/{f32['merges']}"
           + (f": worse {', '.join(failed)}" if failed else ": equal or better"))
    print(f"gate: {verdict.upper()} ({why})")

    previous = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else {}
    kept = [e for e in previous.get("entries", [])
            if (e["backbone"], e["weights_sha256"]) != (args.backbone, choice.weights_sha256)]
    new = {"backbone": args.backbone, "weights_file": Path(choice.weights_path).name,
           "weights_sha256": choice.weights_sha256, "recipe": RECIPE, "engine": ENGINE, "verdict": verdict,
           "why": why, "thresholds": {"threshold": t, "min_inliers": a, "min_agreement": c},
           "held_out": figures, "descriptors": fidelity, "dataset_sha256": data_hash,
           "measured_with_flags": sorted(prec.cpu_flags(flags) & set(prec.INT8_FLAGS + prec.BF16_FLAGS))}
    text = json.dumps({"format": 1, "generated_by": "make gate-int8 (bench/gate_int8.py)",
                       "entries": sorted(kept + [new], key=lambda e: (e["backbone"], e["weights_sha256"]))},
                      indent=1, sort_keys=True) + "\n"
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    print(f"wrote {out}")
    return 0 if verdict == "pass" else 1


if __name__ == "__main__":
    sys.exit(main())
