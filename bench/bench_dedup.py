"""Dedup speed, measured (``make bench``): ratios against naive baselines in the same run.

(a) the whole ``top10 dedup --json`` process (imports included) on the real covers, with the precision chosen
    automatically for this CPU (``dedup/precision.py``) and with each of fp32, bf16 and int8 set explicitly, vs
    the original's style — one image at a time, three separate fp32 forward passes, no batching — also a whole
    process, same backbone and weights; ResNet50 with random-init weights is labelled "random-init, timing only";
(b) the Fingerprinter's throughput vs the bare backbone forward rate on pre-decoded tensors (same precision,
    same batch): how close the pipeline gets to the model's limit;
(c) grouping 10k and 100k synthetic fingerprints: ``group_duplicates`` (projected bf16 bound, exact fp32 rescore,
    connected components) vs numpy's blocked ``x @ x.T`` (fp32 BLAS on every upper-triangle tile, pairs at or
    above the threshold by ``np.nonzero``, no grouping) — the baseline any engineer would write first; both on
    all cores of this process.  The baseline is timed at 10k and, unless ``--full-baseline``, extrapolated to
    100k by its n² work (said so in the output);
(d) peak RSS of each measured process;
(e) a second day over the same covers: fingerprints reused from the cache instead of recomputed.

Real covers come from ../shared/reference/seed-crawls (skipped with a note when absent).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SEED = REPO.parent / "shared" / "reference" / "seed-crawls"


def _timed_process(code_or_args: list[str], env: dict) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stdout of a child process."""
    wrapper = ("import resource, subprocess, sys, time, json; t=time.perf_counter(); "
               "p=subprocess.run(sys.argv[1:], capture_output=True, text=True); "
               "dt=time.perf_counter()-t; ru=resource.getrusage(resource.RUSAGE_CHILDREN); "
               "print(json.dumps({'rc': p.returncode, 'wall': dt, 'rss': ru.ru_maxrss/1024, "
               "'out': p.stdout, 'err': p.stderr[-2000:]}))")
    done = subprocess.run([sys.executable, "-c", wrapper, *code_or_args], capture_output=True, text=True, env=env)
    result = json.loads(done.stdout)
    if result["rc"] != 0:
        raise RuntimeError(f"{code_or_args[:3]} failed: {result['err']}")
    return result["wall"], result["rss"], result["out"]


PRECISIONS = ("fp32", "bf16", "int8")


def cpu_line() -> str:
    """The CPU's model name and the flags that decide the precision (``dedup/precision.py``)."""
    from tiktok_top10.dedup.precision import BF16_FLAGS, INT8_FLAGS, cpu_flags, this_cpu_flags_text

    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            model = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "?")
    except OSError:
        model = "?"
    flags = cpu_flags(this_cpu_flags_text())
    have = sorted(flags & set(INT8_FLAGS + BF16_FLAGS)) or ["none of " + "/".join(INT8_FLAGS + BF16_FLAGS)]
    return (f"CPU: {model}, {len(os.sched_getaffinity(0))} cores for this process; "
            f"avx2 {'yes' if 'avx2' in flags else 'no'}, avx512f {'yes' if 'avx512f' in flags else 'no'}, "
            f"precision flags: {', '.join(have)}")


def prebuild_int8(backbone: str, weights: Path | None) -> None:
    """Build (or read) the cached int8 model before any timed process: building it is a one-off per weights
    file (it is cached under models/), not part of a day's run."""
    from tiktok_top10.config import Settings
    from tiktok_top10.dedup.backbones import choose_backbone
    from tiktok_top10.dedup.quantize import load_or_build

    settings = Settings.from_env()
    start = time.perf_counter()
    load_or_build(choose_backbone(backbone, settings.models_dir, weights), settings.models_dir)
    print(f"    int8 {backbone} model ready in {time.perf_counter() - start:.1f} s (built once per weights file and "
          "cached under models/; not part of the timings below)")


def bench_process(covers: list[Path], backbone: str, env: dict, weights: Path | None = None, label: str = "",
                  precisions: tuple[str, ...] = ("auto", *PRECISIONS)) -> None:
    """(a): ``top10 dedup`` as a whole process at each of ``precisions`` (``auto`` first: what a user gets;
    ``TIKTOK_TOP10_PRECISION`` sets the others) vs the original-style fp32 loop, same weights."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("\n".join(map(str, covers)))
        listing = fh.name
    threads = len(os.sched_getaffinity(0))
    naive_code = ("import sys; from pathlib import Path; "
                  "from tiktok_top10.dedup.backbones import choose_backbone; "
                  "from tiktok_top10.dedup.fingerprint import naive_fingerprint; "
                  f"import torch; torch.set_num_threads({threads}); "
                  "paths=Path(sys.argv[1]).read_text().split(chr(10)); "
                  "w=Path(sys.argv[3]) if len(sys.argv) > 3 else None; "
                  "v,_=naive_fingerprint(choose_backbone(sys.argv[2], Path('models'), w), paths); print(len(v))")
    # random-init features put every pair of covers above any calibrated cosine, which would time the second
    # look on all 20k pairs instead of the fingerprints: such a run compares identical covers only
    extra = ["--weights", str(weights), "--threshold", "1.0"] if weights else []
    from tiktok_top10.dedup.fingerprint import Fingerprinter

    base_env = {k: v for k, v in env.items() if k != "TIKTOK_TOP10_PRECISION"}
    if "int8" in precisions:
        prebuild_int8(backbone, weights)
    naive_wall, naive_rss, _ = _timed_process(
        [sys.executable, "-c", naive_code, listing, backbone, *([str(weights)] if weights else [])], base_env)
    n = len(covers)
    distinct = len(distinct_files(covers))
    print(f"(a) whole process, {n} real covers ({distinct} distinct files: top10 dedup embeds a repeated file once, "
          f"the naive loop every time), {backbone}{label}: naive per-image fp32 loop (3 separate fp32 forwards per "
          f"cover, no batching) {naive_wall:.1f} s ({n / naive_wall:.1f}/s), peak RSS {naive_rss:.0f} MB")
    for precision in precisions:
        run_env = dict(base_env) if precision == "auto" else {**base_env, "TIKTOK_TOP10_PRECISION": precision}
        fast_wall, fast_rss, out = _timed_process(
            [sys.executable, "-m", "tiktok_top10.cli", "dedup", *map(str, covers), "--backbone", backbone, *extra,
             "--json"], run_env)
        result = json.loads(out) if out.strip().startswith("{") else {}
        # the CLI's JSON is a contract (backbone, threshold, groups, skipped): the precision it ran in is the
        # same choice made here, from the same flags, fidelity file and setting
        chosen = Fingerprinter(backbone, weights=weights, precision=precision).precision_choice
        used = chosen.precision
        shown = f"auto -> {used}" if precision == "auto" else used
        print(f"    top10 dedup precision {shown}: {fast_wall:.1f} s ({n / fast_wall:.1f} fingerprints/s, "
              f"{len(result.get('groups', [])) if result else '?'} groups, peak RSS {fast_rss:.0f} MB) vs naive fp32 "
              f"{naive_wall:.1f} s: ratio {naive_wall / fast_wall:.2f}x")
        if precision == "auto":
            print(f"      why {used}: {chosen.reason}")
    os.unlink(listing)


def bench_resnet50_speed(covers: list[Path], env: dict) -> None:
    """(a) and (b) for the ResNet50 compute as well.  Its ImageNet weights cannot be downloaded here, so unless
    ``make weights`` has put them under models/, a randomly initialised torchvision ResNet50 state_dict is passed
    as ``--weights``: the same arithmetic, so the same speed — for timing only, never for a dedup verdict."""
    from tiktok_top10.config import Settings
    from tiktok_top10.dedup.backbones import RESNET50_FILE

    real = Settings.from_env().models_dir / RESNET50_FILE
    if real.is_file():
        bench_process(covers, "resnet50", env)
        bench_pipeline_vs_forward(covers, "resnet50")
        return
    import torch
    import torchvision

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "resnet50-random-init.pth"
        torch.manual_seed(0)
        torch.save(torchvision.models.resnet50(weights=None).state_dict(), path)
        label = " (random-init, timing only)"
        bench_process(covers, "resnet50", env, weights=path, label=label + " --threshold 1.0",
                      precisions=PRECISIONS)
        bench_pipeline_vs_forward(covers, "resnet50", weights=path, label=label)


def distinct_files(covers: list[Path]) -> list[Path]:
    """The first of each set of byte-identical files."""
    seen: set[bytes] = set()
    return [p for p in covers if not ((d := hashlib.sha256(p.read_bytes()).digest()) in seen or seen.add(d))]


def bench_pipeline_vs_forward(covers: list[Path], backbone: str, weights: Path | None = None, label: str = "") -> None:
    import torch

    from tiktok_top10.dedup.fingerprint import Fingerprinter
    from tiktok_top10.dedup.images import load_views

    covers = distinct_files(covers)  # a repeated file is embedded once: the pipeline must do every cover's work
    fp = Fingerprinter(backbone, weights=weights)
    fp.fingerprint(covers[:fp.batch_size])  # warm-up: weights loaded, kernels chosen
    start = time.perf_counter()
    fp.fingerprint(covers)
    pipeline_rate = len(covers) / (time.perf_counter() - start)
    batch = np.concatenate([load_views(p) for p in covers[: fp.batch_size]])
    rounds = max(2, len(covers) // fp.batch_size)
    # the limit: the faster of one batch at a time on all cores, and the pipeline's own layout (its workers,
    # each with its share of the cores, forwarding batches side by side)
    start = time.perf_counter()
    for _ in range(rounds):
        fp.embed_views(batch)
    rates = {f"1 batch x {torch.get_num_threads()} threads": rounds * fp.batch_size / (time.perf_counter() - start)}
    with ThreadPoolExecutor(fp.workers, initializer=torch.set_num_threads, initargs=(fp.threads_per_worker,)) as pool:
        start = time.perf_counter()
        list(pool.map(fp.embed_views, [batch] * rounds))
        rates[f"{fp.workers} workers x {fp.threads_per_worker} threads"] = (
            rounds * fp.batch_size / (time.perf_counter() - start))
    layout, forward_rate = max(rates.items(), key=lambda kv: kv[1])
    sample = covers[:32]
    fp32 = Fingerprinter(backbone, weights=weights, precision="fp32").fingerprint(sample).globals
    low = fp.fingerprint(sample).globals
    cos = (fp32 * low).sum(1)
    print(f"    {fp.precision} vs fp32 descriptors on {len(sample)} covers: cosine min {cos.min():.5f}, "
          f"mean {cos.mean():.5f}")
    print(f"(b) {fp.name}{label}: pipeline {pipeline_rate:.1f} covers/s vs bare forward on pre-decoded tensors "
          f"{forward_rate:.1f} covers/s ({fp.precision}, batch {fp.batch_size}, {layout}; "
          f"{', '.join(f'{k}: {v:.1f}' for k, v in rates.items())}): ratio {pipeline_rate / forward_rate:.2f}")


def synthetic_fingerprints(n: int, dim: int = 2048, seed: int = 0) -> np.ndarray:
    """Descriptor-like vectors: a shared positive mean (post-ReLU features), a 128-factor structure and 5%
    isotropic noise; every 50th row has a planted near-duplicate."""
    rng = np.random.default_rng(seed)
    decay = (np.arange(1, 129, dtype=np.float32) ** -0.5)[:, None]
    factors = rng.standard_normal((128, dim)).astype(np.float32) * decay
    x = rng.standard_normal((n, 128), dtype=np.float32) @ factors
    x += 0.3 * np.abs(rng.standard_normal(dim, dtype=np.float32)) * np.linalg.norm(x, axis=1).mean() / dim**0.5
    x += 0.25 * rng.standard_normal((n, dim), dtype=np.float32) * np.linalg.norm(x, axis=1, keepdims=True) / dim**0.5
    x[1::50] = x[0::50][: len(x[1::50])] + 0.2 * rng.standard_normal((len(x[1::50]), dim), dtype=np.float32) * \
        np.linalg.norm(x[0::50][: len(x[1::50])], axis=1, keepdims=True) / dim**0.5
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def blocked_matmul_pairs(x: np.ndarray, threshold: float, block: int = 4096) -> int:
    """The baseline: every upper-triangle tile of ``x @ x.T`` by numpy (fp32 BLAS), pairs at or above
    ``threshold`` found with ``np.nonzero``; returns how many."""
    n, found = len(x), 0
    for r0 in range(0, n, block):
        r1 = min(r0 + block, n)
        tile = x[r0:r1] @ x[r0:].T  # this row block against itself and every later row
        rows, cols = np.nonzero(tile >= threshold)
        found += int((cols > rows).sum())  # columns start at r0: keep j > i only
    return found


def bench_grouping(threshold: float, full_baseline: bool = False) -> None:
    from tiktok_top10.dedup.grouping import group_duplicates

    baseline_10k = None
    for n in (10_000, 100_000):
        x = synthetic_fingerprints(n, seed=n)
        runs = []
        for _ in range(3):  # a shared 2-core machine is noisy: the median of three
            start = time.perf_counter()
            groups, pairs = group_duplicates(x, threshold)
            runs.append(time.perf_counter() - start)
        took = float(np.median(runs))
        if n == 10_000 or full_baseline:
            start = time.perf_counter()
            found = blocked_matmul_pairs(x, threshold)
            base, how = time.perf_counter() - start, f"measured, {found} pairs"
            if n == 10_000:
                baseline_10k = base
        else:
            base, how = baseline_10k * (n / 10_000) ** 2, "extrapolated from 10k by n² (--full-baseline measures it)"
        print(f"(c) grouping {n} x 2048-d at cos {threshold}: group_duplicates (projected bf16 bound + exact fp32 "
              f"rescore + components) {took:.2f} s median (runs {', '.join(f'{r:.2f}' for r in runs)}), "
              f"{len(groups)} groups, {len(pairs)} pairs; numpy blocked x @ x.T (fp32, every upper tile, "
              f"pairs only) {base:.1f} s ({how}): ratio {base / took:.1f}x; peak RSS so far "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
        del x


def bench_cache(covers: list[Path], backbone: str) -> None:
    import datetime as dt
    import shutil

    from tiktok_top10.config import Settings
    from tiktok_top10.dedup.fingerprint import Fingerprinter
    from tiktok_top10.dedup.stage import run_dedup
    from tiktok_top10.models import VideoItem
    from tiktok_top10.storage import DayLayout, atomic_write_jsonl, read_json

    root = Path(tempfile.mkdtemp(prefix="bench-dedup-"))
    settings = Settings(data_root=root)
    fp = Fingerprinter(backbone)
    times = []
    for day in (dt.date(2026, 1, 10), dt.date(2026, 1, 11)):
        layout = DayLayout(root, day)
        thumbs = layout.raw_thumbnails("main")
        thumbs.mkdir(parents=True)
        items = []
        for k, path in enumerate(covers):
            vid = str(7_000_000_000_000_000_000 + k)
            shutil.copyfile(path, thumbs / f"{vid}.jpg")
            items.append(VideoItem(id=vid, category="main", author_unique_id="u", views=1000 + k, likes=k,
                                   url=f"https://www.tiktok.com/@u/video/{vid}",
                                   thumbnail=f"thumbnails/{vid}.jpg").to_json())
        atomic_write_jsonl(layout.raw_items("main"), items)
        start = time.perf_counter()
        run_dedup(settings, day, ["main"], fingerprinter=fp)
        times.append(time.perf_counter() - start)
        summary = read_json(layout.work_dir / "dedup_summary.json")
    print(f"(e) run_dedup day 1 {times[0]:.1f} s, day 2 (same {len(covers)} covers) {times[1]:.1f} s: "
          f"fingerprinted {summary['fingerprinted']}, reused {summary['reused_from_cache']}; "
          f"ratio {times[0] / times[1]:.1f}x")
    shutil.rmtree(root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="dedup benchmarks")
    parser.add_argument("--backbone", default="efficientnet-lite0")
    parser.add_argument("--covers", type=int, default=200)
    parser.add_argument("--only", default="a,b,c,e")
    parser.add_argument("--full-baseline", action="store_true", help="(c): time numpy's x @ x.T at 100k too")
    args = parser.parse_args(argv)
    parts = set(args.only.split(","))
    from tiktok_top10.dedup.calibration import thresholds

    env = dict(os.environ)
    print(cpu_line())
    covers = sorted(SEED.rglob("*.jpg"))[: args.covers] if SEED.is_dir() else []
    if not covers and parts & {"a", "b", "e"}:
        print(f"real covers absent ({SEED}): (a), (b), (e) skipped")
    if covers and "a" in parts:
        bench_process(covers, args.backbone, env)
        bench_process(distinct_files(covers), args.backbone, env, label=" (distinct files only)",
                      precisions=("auto",))
        if "resnet50" not in args.backbone:
            bench_resnet50_speed(covers, env)
    if covers and "b" in parts:
        bench_pipeline_vs_forward(covers, args.backbone)
    if "c" in parts:
        bench_grouping(thresholds(args.backbone)[0], args.full_baseline)
    if covers and "e" in parts:
        bench_cache(covers, args.backbone)
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
