"""Demo cover images: photo collages that an ImageNet CNN tells apart, and the edits a re-uploader makes.

An ImageNet backbone sees flat synthetic drawings (gradients, shapes, text) as near-identical, which would make
every demo video a "duplicate" of every other.  So each scene is built from natural texture: crops of the real
photographs shipped inside scikit-image (``skimage.data``, offline), at different regions and scales, mixed in
colour and layout, with a caption overlay.  Re-uploads reuse a scene and apply one or two edits seen on real
re-uploads (re-encode, crop/zoom, caption band/sticker, mirror, letterbox, tone, resize).

Everything is a pure function of the ``CoverSpec``: same spec, same bytes.
"""

from __future__ import annotations

import functools
import io
import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

WIDTH, HEIGHT = 720, 1280
EDITS = ("reencode", "crop", "band", "mirror", "pad", "tone", "resize")
COVER_STATUSES = ("ok", "png", "truncated", "missing", "html")

_COLOR_PHOTOS = ("astronaut", "cat", "coffee", "hubble_deep_field", "retina", "rocket", "immunohistochemistry",
                 "motorcycle")
_GRAY_PHOTOS = ("brick", "camera", "grass", "gravel", "moon", "coins", "cell", "clock")
_FONT_PATHS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
)
_OVERLAY_TEXTS = ("오늘의 먹방", "이거 실화?", "끝까지 보세요", "TOP 7", "챌린지 도전", "레시피 공개", "DAY 12",
                  "반전 주의", "새 안무", "ㅋㅋㅋㅋ", "NEW", "꿀팁", "브이로그", "POV", "역대급", "2편",
                  "따라해봐", "WOW", "best of", "LIVE")


@dataclass(frozen=True)
class CoverSpec:
    """What one cover file shows and how it is served.

    ``scene`` seeds the base picture (re-uploads share it with their original); ``edits`` are the re-uploader's
    changes, ``edit_seed`` their parameters; ``status`` says how the CDN serves it (see ``COVER_STATUSES``).
    """

    scene: int
    status: str = "ok"
    edits: tuple[str, ...] = ()
    edit_seed: int = 0
    quality: int = 88

    def __post_init__(self):
        if self.status not in COVER_STATUSES:
            raise ValueError(f"cover status must be one of {COVER_STATUSES}, got {self.status!r}")
        unknown = set(self.edits) - set(EDITS)
        if unknown:
            raise ValueError(f"unknown cover edits {sorted(unknown)}; known: {EDITS}")


@functools.cache
def _photo(name: str) -> Image.Image:
    import skimage.data as data

    if name == "motorcycle":
        array = data.stereo_motorcycle()[0]
    else:
        array = getattr(data, name)()
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    return Image.fromarray(np.ascontiguousarray(array[..., :3]).astype(np.uint8), "RGB")


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont:
    for path in _FONT_PATHS:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return ImageFont.load_default(size)  # no system font: PIL's bundled one (no Hangul, but still renders)


def _photo_crop(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """A crop of one photo, recoloured, fitted to ``size``."""
    color = rng.random() < 0.65
    name = rng.choice(_COLOR_PHOTOS if color else _GRAY_PHOTOS)
    photo = _photo(name)
    if rng.random() < 0.25:
        photo = photo.transpose(Image.Transpose.ROTATE_90)
    w, h = size
    aspect = w / h
    pw, ph = photo.size
    scale = rng.uniform(0.3, 1.0)
    ch = min(ph, int(pw / aspect)) * scale
    cw = ch * aspect
    x0 = rng.uniform(0, pw - cw)
    y0 = rng.uniform(0, ph - ch)
    crop = _bend(photo.resize((w, h), Image.Resampling.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch)), rng)
    if rng.random() < 0.5:
        crop = ImageOps.mirror(crop)
    arr = np.asarray(crop, dtype=np.float32)
    if color:
        # a random colour-mixing matrix near a channel permutation: same texture, different palette
        mix = np.eye(3)[rng.sample(range(3), 3)] * rng.uniform(0.6, 1.0) + np.array(
            [[rng.uniform(-0.25, 0.35) for _ in range(3)] for _ in range(3)])
        arr = arr @ mix.T.astype(np.float32)
    else:
        tint = np.array([rng.uniform(0.35, 1.25) for _ in range(3)], dtype=np.float32)
        arr = arr * tint + np.array([rng.uniform(-30, 40) for _ in range(3)], dtype=np.float32)
    gamma = rng.uniform(0.7, 1.4)
    arr = 255.0 * (np.clip(arr, 0, 255) / 255.0) ** gamma
    return _restyle(Image.fromarray(arr.astype(np.uint8), "RGB"), rng)


def _bend(img: Image.Image, rng: random.Random) -> Image.Image:
    """A smooth random warp of its own per scene.  With ~15 stock photos, two *different* videos' crops of one
    photo would otherwise share pixels up to a similarity transform, i.e. look like a re-upload of each other
    (recoloured, recaptioned), which no real pair of distinct videos does; re-uploads share their scene's warp."""
    import cv2

    w, h = img.size
    gen = np.random.default_rng(rng.getrandbits(32))
    amplitude = 0.07 * max(w, h)
    coarse = gen.uniform(-amplitude, amplitude, size=(2, 6, 4)).astype(np.float32)  # (dx, dy) on a 4x6 grid
    dx, dy = (cv2.resize(c, (w, h), interpolation=cv2.INTER_CUBIC) for c in coarse)
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    out = cv2.remap(np.asarray(img), grid_x + dx, grid_y + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return Image.fromarray(out, "RGB")


def _restyle(img: Image.Image, rng: random.Random) -> Image.Image:
    """One of several looks per region.  Covers that share a source photo would otherwise share its texture
    statistics, which is what a pooled CNN descriptor mostly sees."""
    style = rng.choices(("plain", "mosaic", "rotate", "posterize", "solarize", "detail"), weights=(3, 3, 2, 1, 1, 1))[0]
    w, h = img.size
    if style == "mosaic":  # the crop repeated at a smaller scale: a different texture frequency
        n = rng.choice((2, 3, 4))
        tile = img.resize((max(1, w // n), max(1, h // n)), Image.Resampling.BILINEAR)
        out = Image.new("RGB", (w, h))
        for i in range(n + 1):
            for j in range(n + 1):
                t = ImageOps.mirror(tile) if (i + j) % 2 else tile
                out.paste(t, (i * tile.width, j * tile.height))
        return out
    if style == "rotate":  # tilted content fills the frame: other dominant orientations
        angle = math.radians(rng.choice((-1, 1)) * rng.uniform(15, 45))
        zoom = 1.8  # enough that the rotated crop has no empty corners
        cos, sin = math.cos(angle) / zoom, math.sin(angle) / zoom
        cx, cy = w / 2, h / 2
        # one affine resample, output pixel -> source pixel (rotation about the centre, zoomed in)
        return img.transform((w, h), Image.Transform.AFFINE,
                             (cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy),
                             Image.Resampling.BILINEAR)
    if style == "posterize":
        return ImageOps.posterize(img, rng.choice((2, 3)))
    if style == "solarize":
        return ImageOps.solarize(img, rng.randint(90, 180))
    if style == "detail":
        return img.filter(ImageFilter.EDGE_ENHANCE_MORE)
    return img


def _noise_field(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """Smooth coloured noise (a few octaves), for procedural texture on top of the photos."""
    gen = np.random.default_rng(rng.getrandbits(32))
    w, h = size
    sw, sh = w // 4, h // 4  # built at quarter size: the field is smooth anyway
    field = np.zeros((sh, sw, 3), dtype=np.float32)
    for cells, weight in ((4, 1.0), (12, 0.5), (40, 0.25)):
        small = gen.random((cells * h // w + 1, cells, 3), dtype=np.float32)
        layer = Image.fromarray((small * 255).astype(np.uint8), "RGB").resize((sw, sh), Image.Resampling.BICUBIC)
        field += weight * np.asarray(layer, dtype=np.float32)
    field = 255 * (field - field.min()) / max(1.0, float(field.max() - field.min()))
    return Image.fromarray(field.astype(np.uint8), "RGB").resize((w, h), Image.Resampling.BILINEAR)


def _layout(rng: random.Random) -> list[tuple[int, int, int, int]]:
    """Regions (x0, y0, x1, y1) of the collage."""
    kind = rng.choices(("full", "split", "pip", "strips"), weights=(3, 3, 2, 2))[0]
    if kind == "full":
        return [(0, 0, WIDTH, HEIGHT)]
    if kind == "split":
        cut = int(HEIGHT * rng.uniform(0.35, 0.65))
        return [(0, 0, WIDTH, cut), (0, cut, WIDTH, HEIGHT)]
    if kind == "pip":
        w = int(WIDTH * rng.uniform(0.4, 0.6))
        h = int(w * rng.uniform(0.8, 1.6))
        x = rng.randint(20, WIDTH - w - 20)
        y = rng.randint(80, HEIGHT - h - 80)
        return [(0, 0, WIDTH, HEIGHT), (x, y, x + w, y + h)]
    cuts = sorted(rng.sample(range(250, HEIGHT - 250), 2))
    return [(0, 0, WIDTH, cuts[0]), (0, cuts[0], WIDTH, cuts[1]), (0, cuts[1], WIDTH, HEIGHT)]


def _draw_text(img: Image.Image, rng: random.Random, text: str, size: int, y: int) -> None:
    draw = ImageDraw.Draw(img)
    font = _font(size)
    box = draw.textbbox((0, 0), text, font=font, stroke_width=4)
    x = max(10, (WIDTH - (box[2] - box[0])) // 2 + rng.randint(-60, 60))
    fill = tuple(rng.randint(0, 255) for _ in range(3))
    stroke = (0, 0, 0) if sum(fill) > 380 else (255, 255, 255)
    draw.text((x, y), text, font=font, fill=fill, stroke_width=4, stroke_fill=stroke)


@functools.lru_cache(maxsize=256)
def render_scene(scene: int) -> Image.Image:
    """The base picture of a video (720x1280 RGB); shared by a video and its re-uploads."""
    rng = random.Random(f"scene:{scene}")
    img = Image.new("RGB", (WIDTH, HEIGHT))
    for x0, y0, x1, y1 in _layout(rng):
        img.paste(_photo_crop(rng, (x1 - x0, y1 - y0)), (x0, y0))
    if rng.random() < 0.5:
        img = Image.blend(img, _noise_field(rng, (WIDTH, HEIGHT)), rng.uniform(0.15, 0.4))
    for _ in range(rng.randint(1, 2)):
        _draw_text(img, rng, rng.choice(_OVERLAY_TEXTS), rng.randint(70, 130), rng.randint(60, HEIGHT - 220))
    return img


def _apply_edit(img: Image.Image, edit: str, rng: random.Random) -> Image.Image:
    w, h = img.size
    if edit == "crop":
        frac = rng.uniform(0.05, 0.12)  # zoom-in by 5-12 %, off-centre
        dx, dy = frac * w, frac * h
        ox, oy = rng.uniform(0, dx), rng.uniform(0, dy)
        return img.resize((w, h), Image.Resampling.BILINEAR, box=(ox, oy, ox + w - dx, oy + h - dy))
    if edit == "band":
        out = img.copy()
        draw = ImageDraw.Draw(out)
        if rng.random() < 0.5:
            band_h = int(h * rng.uniform(0.08, 0.13))
            top = rng.choice((int(h * 0.06), h - band_h - int(h * 0.1)))
            draw.rectangle((0, top, w, top + band_h), fill=rng.choice(((0, 0, 0), (255, 255, 255), (255, 220, 0))))
            _draw_text(out, rng, rng.choice(_OVERLAY_TEXTS), int(band_h * 0.6), top + band_h // 8)
        else:  # a round sticker
            r = int(w * rng.uniform(0.1, 0.16))
            cx, cy = rng.randint(r, w - r), rng.randint(r, h - r)
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(255, 80, 120), outline=(255, 255, 255), width=8)
        return out
    if edit == "mirror":
        return ImageOps.mirror(img)
    if edit == "pad":
        scale = rng.uniform(0.8, 0.9)
        inner = img.resize((int(w * scale), int(h * scale)), Image.Resampling.BILINEAR)
        if rng.random() < 0.5:
            out = Image.new("RGB", (w, h), (0, 0, 0))
        else:
            out = img.resize((w // 8, h // 8)).filter(ImageFilter.GaussianBlur(4)).resize((w, h))
        out.paste(inner, ((w - inner.width) // 2, (h - inner.height) // 2))
        return out
    if edit == "tone":
        img = ImageEnhance.Brightness(img).enhance(rng.choice((rng.uniform(0.75, 0.88), rng.uniform(1.12, 1.25))))
        return ImageEnhance.Contrast(img).enhance(rng.uniform(0.8, 1.25))
    if edit == "resize":
        scale = rng.choice((0.75, 0.6, 0.5))
        return img.resize((int(w * scale), int(h * scale)), Image.Resampling.LANCZOS)
    if edit == "reencode":
        return img  # applied at encode time (lower JPEG quality)
    raise ValueError(f"unknown edit {edit!r}")


def render_image(spec: CoverSpec) -> Image.Image:
    """The decoded picture a cover shows (edits applied), before encoding."""
    img = render_scene(spec.scene)
    rng = random.Random(f"edit:{spec.edit_seed}")
    for edit in spec.edits:
        img = _apply_edit(img, edit, rng)
    return img


@functools.lru_cache(maxsize=512)
def cover_bytes(spec: CoverSpec) -> bytes | None:
    """The bytes the CDN serves for ``spec``; ``None`` when it answers 404 (status "missing")."""
    if spec.status == "missing":
        return None
    if spec.status == "html":
        # what a CDN error/consent page looks like when fetched as an image
        return (b"<!DOCTYPE html><html><head><title>Access Denied</title></head><body><h1>Access Denied</h1>"
                b"<p>You don't have permission to access this resource.</p></body></html>")
    img = render_image(spec)
    buf = io.BytesIO()
    if spec.status == "png":
        # real CDN quirk: PNG (often RGBA) bytes under a .jpg name
        img.convert("RGBA").save(buf, format="PNG", compress_level=1)
        return buf.getvalue()
    quality = min(spec.quality, 42) if "reencode" in spec.edits else spec.quality
    img.save(buf, format="JPEG", quality=quality)
    data = buf.getvalue()
    if spec.status == "truncated":
        return data[: len(data) * 3 // 5]  # cut mid-scan, no EOI marker: decoders fail or give a grey tail
    return data
