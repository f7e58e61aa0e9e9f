"""Download torchvision's ImageNet ResNet50 weights (IMAGENET1K_V2) into models/ and verify them (`make weights`).

Needs internet; the dedup stage works without the file (it falls back to the bundled EfficientNet-Lite0).  The
file is written atomically and kept only when its SHA-256 starts with the prefix torchvision publishes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "include"))

from tiktok_top10.dedup.backbones import RESNET50_FILE, RESNET50_URL, WeightsError, verify_resnet50_file  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    parser.add_argument("--url", default=RESNET50_URL)
    args = parser.parse_args(argv)
    target = args.models_dir / RESNET50_FILE
    try:
        print(f"{target} already present and verified (sha256 {verify_resnet50_file(target)})")
        return 0
    except WeightsError:
        pass
    args.models_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{RESNET50_FILE}.", dir=args.models_dir)
    os.close(fd)
    try:
        print(f"downloading {args.url} ...")
        with urllib.request.urlopen(args.url, timeout=60) as response, open(tmp, "wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
        digest = verify_resnet50_file(Path(tmp))
        os.replace(tmp, target)
    except (OSError, WeightsError) as exc:
        print(f"download failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    print(f"{target}: sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
