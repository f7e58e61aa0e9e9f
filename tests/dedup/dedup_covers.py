"""Covers for the dedup tests, made from scikit-image's real photographs (shipped in its wheel, offline)."""

from __future__ import annotations

import random
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

REPO = Path(__file__).resolve().parents[2]
SEED_CRAWLS = REPO.parent / "shared" / "reference" / "seed-crawls"

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle", "immunohistochemistry", "hubble", "retina")


def photo(name: str) -> Image.Image:
    import skimage.data as data

    loaders = {"motorcycle": lambda: data.stereo_motorcycle()[0], "hubble": data.hubble_deep_field}
    arr = loaders.get(name, getattr(data, name, None))()
    return Image.fromarray(np.asarray(arr)).convert("RGB")


def make_cover(name: str, size=(540, 960)) -> Image.Image:
    """A 9:16 cover filled with a real photograph (center-cropped to the aspect)."""
    img = photo(name)
    w, h = img.size
    target = size[0] / size[1]
    if w / h > target:
        cw = int(h * target)
        img = img.crop(((w - cw) // 2, 0, (w - cw) // 2 + cw, h))
    else:
        ch = int(w / target)
        img = img.crop((0, (h - ch) // 2, w, (h - ch) // 2 + ch))
    return img.resize(size, Image.BICUBIC)


def make_reupload(img: Image.Image, seed: int, edits=("crop", "caption", "tone")) -> Image.Image:
    from tiktok_top10.dedup.evaluation import EDITS, edit_reencode

    rng = random.Random(seed)
    for name in edits:
        img = EDITS[name](img, rng)
    return edit_reencode(img, rng)


def tiny_recoloured_corner(img: Image.Image) -> Image.Image:
    """A reposter's cut: 65 % of the width and height off-centre, a colour cast, a 200-px JPEG at quality 40."""
    w, h = img.size
    cut = img.crop((int(w * 0.10), int(h * 0.20), int(w * 0.75), int(h * 0.85)))
    cut = ImageEnhance.Color(cut).enhance(1.8)
    cut = Image.blend(cut, Image.new("RGB", cut.size, (200, 40, 40)), 0.15)
    small = cut.resize((200, round(cut.size[1] * 200 / cut.size[0])), Image.BILINEAR)
    buf = BytesIO()
    small.save(buf, "JPEG", quality=40)
    return Image.open(BytesIO(buf.getvalue())).convert("RGB")
