"""``top10 dedup PATH... [--backbone B] [--weights FILE] [--threshold T] [--json]``.

PATHs are image files or directories (searched recursively).  Prints the groups of inputs judged the same video;
unreadable images are listed as skipped with a reason.  Exit 0 unless the arguments or the weights are wrong.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".heic", ".tif", ".tiff"}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="top10 dedup", description="group images that show the same video")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--backbone", choices=["auto", "resnet50", "efficientnet-lite0"], default=None)
    p.add_argument("--weights", type=Path, default=None, help="a torchvision ResNet50 state_dict, loaded as given")
    p.add_argument("--threshold", type=float, default=None, help="global cosine threshold (default: calibrated)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def expand_paths(paths: list[Path]) -> tuple[list[Path], list[dict]]:
    """Files as given, directories walked recursively (image suffixes only, sorted); missing paths skipped."""
    files: list[Path] = []
    skipped: list[dict] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            skipped.append({"path": str(path), "reason": "missing: no such file or directory"})
    seen: set[Path] = set()
    unique = [f for f in files if not (f in seen or seen.add(f))]
    return unique, skipped


def cli_main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    from ..config import Settings
    from .backbones import WeightsError
    from .calibration import CalibrationMissing, thresholds
    from .fingerprint import Fingerprinter
    from .grouping import group_duplicates
    from .verify import verifier

    settings = Settings.from_env()
    if args.threshold is not None and not -1.0 <= args.threshold <= 1.0:
        print("top10 dedup: --threshold must be within [-1, 1]", file=sys.stderr)
        return 2
    files, skipped = expand_paths(args.paths)
    try:
        fp = Fingerprinter(args.backbone or settings.backbone, settings.models_dir, args.weights,
                           precision=settings.precision)
        if args.weights is not None:
            fp._load()  # a file given by hand is read first: "cannot read weights" says more than "not calibrated"
        threshold, min_inliers, min_agreement = thresholds(
            fp.name, args.threshold, precision=fp.precision, weights_sha256=fp.choice.weights_sha256)
        result = fp.fingerprint(files)
    except (WeightsError, CalibrationMissing) as exc:
        print(f"top10 dedup: {exc}", file=sys.stderr)
        return 2
    skipped.extend(result.skipped)
    groups, _ = group_duplicates(
        result.globals, threshold, verify=verifier(result.keypoints, min_inliers, min_agreement)
    )
    out = {
        "backbone": fp.name,
        "threshold": threshold,
        "groups": [[result.paths[k] for k in g] for g in groups],
        "skipped": skipped,
    }
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(f"backbone {fp.name} ({fp.choice.reason}), threshold {threshold}")
        for g in out["groups"]:
            print("same video: " + "  ".join(g))
        for s in skipped:
            print(f"skipped {s['path']}: {s['reason']}")
    return 0
