"""What the crop-robust dedup costs (``make bench-dedup-regions``), against today's global-only pipeline, in one run.

On the real covers of ../shared/reference/seed-crawls (exits 2 when absent):
* fingerprinting wall time with and without ``regions`` (same covers, same threads, plain first), and the
  pooling alone (``fingerprint.region_descriptors`` on a batch's feature maps), per cover;
* candidate pairs the second look has to check: global cosine ≥ t (today) against ``grouping.region_candidates``
  (global ≥ t, or a cover whole ≥ ``REGION_THRESHOLD`` to a region of the other), with the search time, scaled to
  1,000 covers as pairs per cover × 1,000 (the count grows with the square of the covers: the scaling is said);
* the second look's time on those candidates, and the regional descriptors' bytes per cover in a memory file;
* the whole (fingerprints + candidate search + second look) of both, and their ratio: today = global
  descriptors of the covers as decoded, cosine candidates, the plain look; crop-robust = regional descriptors of
  ``--descriptor-input`` (``images.DescriptorInput``), regional candidates at ``--region-threshold``, the
  contained look.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DOCUMENTED_THRESHOLD = 0.74  # models/README.md's rule, used when calibration.json has no entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--backbone", default="efficientnet-lite0")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--covers", type=int, default=200, help="how many real covers (at most all of them)")
    parser.add_argument("--descriptor-input", default="128:2", help="WIDTH:CUTOFF, or empty for the covers as decoded")
    parser.add_argument("--region-threshold", type=float, default=0.70)
    args = parser.parse_args(argv)
    from tiktok_top10.dedup.images import DescriptorInput

    descriptor_input = DescriptorInput.parse(args.descriptor_input)
    seed_crawls = args.shared / "reference" / "seed-crawls"
    if not seed_crawls.is_dir():
        print(f"bench-dedup-regions: {seed_crawls} is absent; the benchmark needs the real covers", file=sys.stderr)
        return 2

    import torch

    from tiktok_top10.config import Settings
    from tiktok_top10.dedup import calibration as cal
    from tiktok_top10.dedup.evaluation import reference_covers
    from tiktok_top10.dedup.fingerprint import GEM_P, REGION_DTYPE, Fingerprinter, n_regions, region_descriptors
    from tiktok_top10.dedup.grouping import region_candidates, similar_pairs
    from tiktok_top10.dedup.verify import pair_scores

    paths = list(dict.fromkeys(c.path for c in reference_covers(seed_crawls)))[: args.covers]
    models_dir = Settings.from_env().models_dir
    timings = {}
    results = {}
    for regions in (False, True):
        fp = Fingerprinter(args.backbone, models_dir, threads=args.threads, regions=regions,
                           descriptor_input=descriptor_input if regions else None)
        fp._load()  # the weights' load is not what is compared
        start = time.perf_counter()
        results[regions] = fp.fingerprint(paths)
        timings[regions] = time.perf_counter() - start
    n = len(results[True])
    print(f"{n} real covers, {fp.name} {fp.precision}, {args.threads} threads ({len(paths)} files)")
    print(f"fingerprint wall time: global only {timings[False]:.2f} s ({1000 * timings[False] / n:.1f} ms/cover), "
          f"with regions {timings[True]:.2f} s ({1000 * timings[True] / n:.1f} ms/cover): "
          f"{100 * (timings[True] / timings[False] - 1):+.1f} % (noise on a shared machine: ±10-15 %)")

    dim = results[True].globals.shape[1]
    powered = torch.rand(4 * 3, dim, 7, 7).pow(GEM_P)
    pooled = powered.mean((2, 3)).pow(1 / GEM_P).view(4, 3, -1)
    region_descriptors(powered, pooled)
    reps = 50
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # CPU time of one thread: what a busy machine cannot inflate
    start = time.process_time()
    for _ in range(reps):
        region_descriptors(powered, pooled)
    pooling = (time.process_time() - start) / (reps * 4)
    torch.set_num_threads(threads)
    print(f"regional pooling alone: {1e6 * pooling:.0f} µs of CPU per cover ({n_regions()} regions of {dim} dims); "
          f"memory "
          f"file: +{n_regions() * dim * np.dtype(REGION_DTYPE).itemsize / 1024:.0f} KiB/cover before compression")

    entry = cal.find_entry(fp.name, fp.precision, fp.choice.weights_sha256)
    threshold = float(entry["threshold"]) if entry else DOCUMENTED_THRESHOLD
    rule = (int(entry["min_inliers"]), int(entry["min_agreement"])) if entry else (15, 30)
    res = results[True]
    start = time.perf_counter()
    today = similar_pairs(results[False].globals, threshold)
    t_today = time.perf_counter() - start
    start = time.perf_counter()
    regional = region_candidates(res.globals, res.regions, threshold, args.region_threshold)
    t_regional = time.perf_counter() - start
    scale = 1000 / n
    print(f"candidate pairs (cos >= {threshold}{'' if entry else ', the documented rule'}; regions >= "
          f"{args.region_threshold} on {descriptor_input.tag if descriptor_input else 'the covers as decoded'}): "
          f"today {len(today)} ({len(today) * scale:.0f} per 1,000 covers at this density; "
          f"x{1000 / n:.1f} more again at 1,000 covers, pairs grow with n^2), search {1000 * t_today:.0f} ms; "
          f"crop-robust {len(regional)} ({len(regional) * scale:.0f} per 1,000 covers), search "
          f"{1000 * t_regional:.0f} ms")
    start = time.perf_counter()
    pair_scores(results[False].keypoints, today, enough=rule)
    t_look_today = time.perf_counter() - start
    start = time.perf_counter()
    pair_scores(res.keypoints, regional, enough=rule, contained=True)
    t_look = time.perf_counter() - start
    print(f"second look: today's {len(today)} candidates {t_look_today:.2f} s; the {len(regional)} crop-robust "
          f"candidates, contained look: {t_look:.2f} s ({1000 * t_look / max(1, len(regional)):.1f} ms/pair)")
    whole_today = timings[False] + t_today + t_look_today
    whole_robust = timings[True] + t_regional + t_look
    print(f"whole (fingerprints + search + second look): today {whole_today:.2f} s, crop-robust {whole_robust:.2f} s:"
          f" {whole_robust / whole_today:.2f}x ({100 * (whole_robust / whole_today - 1):+.0f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
