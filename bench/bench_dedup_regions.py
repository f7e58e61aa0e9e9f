"""What the crop-robust dedup costs (``make bench-dedup-regions``), against today's global-only pipeline, in one run.

On the real covers of ../shared/reference/seed-crawls (skipped with a note when absent):
* fingerprinting wall time with and without ``regions`` (same covers, same threads, plain first), and the
  pooling alone (``fingerprint.region_descriptors`` on a batch's feature maps), per cover;
* candidate pairs the second look has to check: global cosine ≥ t (today) against ``grouping.region_candidates``
  (global ≥ t, or a cover whole ≥ the calibrated regional cosine to a region of the other), with the search time,
  scaled to 1,000 covers as pairs per cover × 1,000 (the count grows with the square of the covers: the scaling is
  said);
* the second look's time on those candidates, and the regional descriptors' bytes per cover in a memory file;
* the whole (fingerprints + candidate search + second look) of both, and their ratio: today = global
  descriptors of the covers as decoded, cosine candidates, the plain look; crop-robust = regional descriptors of
  ``--descriptor-input`` (``images.DescriptorInput``), regional candidates at ``--region-threshold``, the
  contained look;
* the dedup stage itself on a demo day (``--demo-day``, default the first reference day): the day's crawl as the
  demo site serves it (every category, items at or above min views, their covers) is written to a scratch data
  root, and ``run_dedup`` runs in a fresh process per run (model load, fingerprints, search, history, files), with
  ``TIKTOK_TOP10_DEDUP_CROP_ROBUST`` off and on alternately, ``--stage-runs`` times each, no fingerprint memory
  carried between runs.  The ratio of the medians is the stage's cost of the crop-robust dedup; as the machine
  drifts between rounds, each round's own ratio (both modes back to back) and their median are printed too.
  So are each mode's CPU seconds (the run's process, all its threads) and the CPU time the host took from this
  virtual machine while each mode ran (steal, /proc/stat): on a shared host the wall time of a run grows with
  what other guests do, and these say how much of a ratio is the machine's and how much the work's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
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
    parser.add_argument("--region-threshold", type=float, default=None, help="default: the stage's")
    parser.add_argument("--per-cover", type=int, default=None, help="default: the stage's")
    parser.add_argument("--demo-day", type=dt.date.fromisoformat, default=dt.date(2026, 1, 10))
    parser.add_argument("--stage-runs", type=int, default=5, help="runs of the stage per mode (0: skip)")
    args = parser.parse_args(argv)
    from tiktok_top10.dedup.images import DescriptorInput

    descriptor_input = DescriptorInput.parse(args.descriptor_input)
    seed_crawls = args.shared / "reference" / "seed-crawls"
    if not seed_crawls.is_dir():
        print(f"bench-dedup-regions: {seed_crawls} is absent: the real covers' figures are skipped")
        if args.stage_runs:
            bench_stage_on_demo_day(args.demo_day, args.stage_runs)
        return 0

    import torch

    from tiktok_top10.config import Settings
    from tiktok_top10.dedup import calibration as cal
    from tiktok_top10.dedup.evaluation import reference_covers
    from tiktok_top10.dedup.fingerprint import GEM_P, REGION_DTYPE, Fingerprinter, n_regions, region_descriptors
    from tiktok_top10.dedup.grouping import CropRobust, crop_robust_candidates, similar_pairs
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
          f"file: +{n_regions() * dim * np.dtype(REGION_DTYPE).itemsize / 1024:.0f} KiB/cover (stored undeflated)")

    # the stage's crop-robust rule: make calibrate's values for these weights (calibration.json)
    stage_rule = CropRobust.calibrated(fp.name, fp.choice.weights_sha256, fp.precision)
    args.region_threshold = stage_rule.region_threshold if args.region_threshold is None else args.region_threshold
    args.per_cover = stage_rule.per_cover if args.per_cover is None else args.per_cover
    entry = cal.find_entry(fp.name, fp.precision, fp.choice.weights_sha256)
    threshold = float(entry["threshold"]) if entry else DOCUMENTED_THRESHOLD
    rule = (int(entry["min_inliers"]), int(entry["min_agreement"])) if entry else (15, 30)
    res = results[True]
    start = time.perf_counter()
    today = similar_pairs(results[False].globals, threshold)
    t_today = time.perf_counter() - start
    start = time.perf_counter()
    regional = crop_robust_candidates(replace(stage_rule, region_threshold=args.region_threshold,
                                              per_cover=args.per_cover), res.globals, res.regions, threshold,
                                      res.keypoints)
    t_regional = time.perf_counter() - start
    scale = 1000 / n
    print(f"candidate pairs (cos >= {threshold}{'' if entry else ', the documented rule'}; regions >= "
          f"{args.region_threshold}, each cover's best {args.per_cover or 'all'}, and by keypoint votes each "
          f"cover's best {stage_rule.votes_per_cover} down to {stage_rule.vote_floor}, on "
          f"{descriptor_input.tag if descriptor_input else 'the covers as decoded'}): "
          f"today {len(today)} ({len(today) * scale:.0f} per 1,000 covers at this density; "
          f"x{1000 / n:.1f} more again at 1,000 covers, pairs grow with n^2), search {1000 * t_today:.0f} ms; "
          f"crop-robust {len(regional)} ({len(regional) * scale:.0f} per 1,000 covers), search "
          f"{1000 * t_regional:.0f} ms")
    start = time.perf_counter()
    pair_scores(results[False].keypoints, today, enough=rule)
    t_look_today = time.perf_counter() - start
    start = time.perf_counter()
    pair_scores(res.keypoints, regional, enough=rule, contained=stage_rule.contained_min_agreement,
                sift=stage_rule.sift_look)
    t_look = time.perf_counter() - start
    print(f"second look: today's {len(today)} candidates {t_look_today:.2f} s; the {len(regional)} crop-robust "
          f"candidates, contained look{' + SIFT' if stage_rule.sift_look else ''}: {t_look:.2f} s "
          f"({1000 * t_look / max(1, len(regional)):.1f} ms/pair)")
    whole_today = timings[False] + t_today + t_look_today
    whole_robust = timings[True] + t_regional + t_look
    print(f"whole (fingerprints + search + second look): today {whole_today:.2f} s, crop-robust {whole_robust:.2f} s:"
          f" {whole_robust / whole_today:.2f}x ({100 * (whole_robust / whole_today - 1):+.0f} %)")
    if args.stage_runs:
        bench_stage_on_demo_day(args.demo_day, args.stage_runs)
    return 0


def write_demo_crawl(root: Path, day: dt.date) -> tuple[list[str], int]:
    """The demo site's crawl of ``day`` as the crawl stage leaves it (items.jsonl and thumbnails per category),
    without a browser: the generator's items at or above min views, not ads, once per category, each with the
    cover bytes the site serves when the crawler's own check (``crawl.covers.sniff_image``) keeps them, else
    with the reason, as the crawl records it.  Returns the categories and the covers written."""
    from tiktok_top10.config import CATEGORIES, Settings
    from tiktok_top10.crawl.covers import CoverFailure, sniff_image
    from tiktok_top10.crawl.parse import video_item
    from tiktok_top10.demo import generate_day
    from tiktok_top10.demo.covers import cover_bytes
    from tiktok_top10.storage import DayLayout, atomic_write_bytes, atomic_write_jsonl

    demo, layout, min_views, covers = generate_day(day, history=None), DayLayout(root, day), Settings().min_views, 0
    for category in CATEGORIES:
        rows, thumbs = {}, layout.raw_thumbnails(category)
        thumbs.mkdir(parents=True, exist_ok=True)
        for it in demo.items[category]:
            if it.is_ad or it.views < min_views or it.id in rows:
                continue
            item = video_item(it.item, category=category, source_url="https://www.tiktok.com/")
            data = cover_bytes(it.cover)
            try:
                if data is None:
                    raise CoverFailure("http_404")
                ext = sniff_image(data)
            except CoverFailure as failure:
                item = item.model_copy(update={"thumbnail": None, "thumbnail_error": failure.reason})
            else:
                atomic_write_bytes(thumbs / f"{it.id}.{ext}", data)
                item = item.model_copy(update={"thumbnail": f"{thumbs.name}/{it.id}.{ext}"})
                covers += 1
            rows[it.id] = item.to_json()
        atomic_write_jsonl(layout.raw_items(category), [rows[k] for k in sorted(rows)])
    return list(CATEGORIES), covers


def _children_cpu() -> float:
    """User + system CPU seconds of this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def host_steal(stat: Path = Path("/proc/stat")) -> float | None:
    """Seconds of CPU time the hypervisor gave other guests while this machine's CPUs wanted it (all CPUs, since
    boot: the ``steal`` column of /proc/stat's ``cpu`` line); ``None`` where the kernel does not report it."""
    try:
        fields = stat.read_text(encoding="ascii").splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if fields[:1] != ["cpu"] or len(fields) < 9:
        return None
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


STAGE_RUN = ("import datetime as dt, json, sys, time; t = time.perf_counter(); "
             "from tiktok_top10.config import Settings; from tiktok_top10.dedup import run_dedup; "
             "from tiktok_top10.storage import read_json; "
             "out = run_dedup(Settings.from_env(), dt.date.fromisoformat(sys.argv[1]), sys.argv[2].split(',')); "
             "s = read_json(out.parent / 'dedup_summary.json'); "
             "print(json.dumps({'wall': time.perf_counter() - t, 'duplicates': s['duplicates'], "
             "'items': s['items'], 'crop_robust': s['crop_robust'], 'precision': s['precision']}))")


def bench_stage_on_demo_day(day: dt.date, runs: int) -> None:
    """Per mode, a first run (no fingerprint memory: every cover is fingerprinted) and a rerun (the day's memory
    file is read back: what a day costs once its covers are remembered), alternating modes, ``runs`` rounds."""
    with tempfile.TemporaryDirectory(prefix="bench-dedup-stage-") as scratch:
        root = Path(scratch)
        categories, covers = write_demo_crawl(root, day)
        walls: dict[tuple[bool, str], list[float]] = {}
        cpus: dict[tuple[bool, str], list[float]] = {}
        steals: dict[tuple[bool, str], list[float]] = {}
        last, memory_bytes = {}, {}
        for _ in range(runs):
            for robust in (False, True):
                shutil.rmtree(root / "cache", ignore_errors=True)
                env = {**os.environ, "TIKTOK_TOP10_DATA_ROOT": str(root),
                       "TIKTOK_TOP10_DEDUP_CROP_ROBUST": "1" if robust else "0"}
                for phase in ("first", "rerun"):
                    t, cpu, steal = time.perf_counter(), _children_cpu(), host_steal()
                    done = subprocess.run([sys.executable, "-c", STAGE_RUN, day.isoformat(), ",".join(categories)],
                                          capture_output=True, text=True, env=env, check=True)
                    walls.setdefault((robust, phase), []).append(time.perf_counter() - t)
                    cpus.setdefault((robust, phase), []).append(_children_cpu() - cpu)
                    if steal is not None:
                        steals.setdefault((robust, phase), []).append(host_steal() - steal)
                    last[robust] = json.loads(done.stdout.strip().splitlines()[-1])
                memory_bytes[robust] = sum(f.stat().st_size for f in (root / "cache").rglob("*.npz"))
        median = {key: statistics.median(values) for key, values in walls.items()}
        print(f"dedup stage on demo day {day} ({last[False]['items']} items, {covers} covers, "
              f"{last[False]['precision']}), a fresh process per run, median of {runs}:")
        for phase, what in (("first", "first run, no memory"), ("rerun", "rerun, the day remembered")):
            today, robust = median[(False, phase)], median[(True, phase)]
            rounds = [r / t for t, r in zip(walls[(False, phase)], walls[(True, phase)], strict=True)]
            print(f"  {what}: today {today:.2f} s, crop-robust {robust:.2f} s: {robust / today:.2f}x "
                  f"({100 * (robust / today - 1):+.0f} %); runs {[round(w, 2) for w in walls[(False, phase)]]} vs "
                  f"{[round(w, 2) for w in walls[(True, phase)]]}; each round's ratio "
                  f"{[round(r, 2) for r in rounds]}, median {statistics.median(rounds):.2f}x")
            cpu_today, cpu_robust = (statistics.median(cpus[(robust, phase)]) for robust in (False, True))
            taken = ("" if (False, phase) not in steals else
                     f"; CPU time the host took from this machine during the runs (steal, median): today "
                     f"{statistics.median(steals[(False, phase)]):.2f} s, crop-robust "
                     f"{statistics.median(steals[(True, phase)]):.2f} s")
            print(f"    CPU seconds of the run's process (median): today {cpu_today:.1f}, crop-robust "
                  f"{cpu_robust:.1f}: {cpu_robust / cpu_today:.2f}x{taken}")
        print(f"  duplicates: today {last[False]['duplicates']}, crop-robust {last[True]['duplicates']}; the day's "
              f"fingerprint memory file: today {memory_bytes[False] / 2**20:.1f} MiB, crop-robust "
              f"{memory_bytes[True] / 2**20:.1f} MiB")


if __name__ == "__main__":
    sys.exit(main())
