"""Decoding covers and cutting the three views the fingerprint averages.

Covers are mostly 1080×1920 JPEGs (some 2160×3840, some PNG saved as .jpg).  JPEGs are decoded in draft mode
(DCT-domain downscaling, 1/2…1/8) straight to about the size the largest view needs, which is most of the
decode cost saved.  Any file PIL cannot decode becomes an ``UnreadableImage`` with a short reason; the stage
counts it as skipped instead of crashing.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

VIEW_SIZE = 224
# the original's views: center = short side 256 + center crop; full = squash to 224²; zoom = short side 400 + crop
CENTER_SHORT_SIDE = 256
ZOOM_SHORT_SIDE = 400
VIEWS = ("center", "full", "zoom")
MAX_PIXELS = 80_000_000  # far above 4K covers; refuses decompression bombs before decoding

# Between its pixel limit and twice that PIL only warns; such a cover is refused like a larger one.  A filter
# installed once, not ``warnings.catch_warnings()`` around each decode: that context swaps the process-wide
# filter list and restores it on exit, and decoding runs on worker threads beside code that does the same
# (torch's import did, and leaked its hidden warnings when a decode finished in between).
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)


class UnreadableImage(ValueError):
    """The file is not a decodable image; ``reason`` is what the dedup row records."""

    def __init__(self, path: Path | str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def open_rgb(path: Path | str, short_side: int = ZOOM_SHORT_SIDE) -> Image.Image:
    """Decode ``path`` to RGB with its short side ≥ ``short_side`` where the file allows (draft for JPEG)."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UnreadableImage(path, f"missing: {exc.strerror or exc}") from exc
    if size == 0:
        raise UnreadableImage(path, "empty file (0 bytes)")
    try:
        with Image.open(path) as img:
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise UnreadableImage(path, f"too large: {width}x{height} pixels")
            if img.format == "JPEG":
                scale = min(width, height) / short_side
                if scale >= 2:
                    img.draft("RGB", (max(1, round(width / scale)), max(1, round(height / scale))))
            img.load()
            rgb = _to_rgb(img)
    except UnreadableImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UnreadableImage(path, f"too large: {exc}") from exc
    except Image.UnidentifiedImageError:
        raise UnreadableImage(path, "not an image (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UnreadableImage(path, f"undecodable: {exc}") from exc
    if min(rgb.size) < 8:
        raise UnreadableImage(path, f"too small: {rgb.size[0]}x{rgb.size[1]}")
    return rgb


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img.copy() if img.readonly else img
    if img.mode in {"RGBA", "LA", "PA"} or (img.mode == "P" and "transparency" in img.info):
        # transparent PNG covers: composite on white, as an app would show them
        rgba = img.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return img.convert("RGB")


def three_views(img: Image.Image, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """The (3, 224, 224, 3) uint8 views ``center, full, zoom`` of the part of an RGB image inside ``box``.

    Each view is one resize of just the region it shows (PIL's ``box``), not a resize of the whole image followed
    by a crop: the same pixels (mean difference 0.03 grey levels) at half the cost."""
    left, top, right, bottom = box or (0, 0, *img.size)
    w, h = right - left, bottom - top
    views = []
    for short in (CENTER_SHORT_SIDE, None, ZOOM_SHORT_SIDE):
        if short is None:
            region = (left, top, right, bottom)
        else:
            # the center VIEW_SIZE² crop of the region resized to ``short`` on its short side, in source pixels
            scale = short / min(w, h)
            rw, rh = max(short, round(w * scale)), max(short, round(h * scale))
            x0, y0 = (rw - VIEW_SIZE) // 2, (rh - VIEW_SIZE) // 2
            region = (left + x0 * w / rw, top + y0 * h / rh,
                      left + (x0 + VIEW_SIZE) * w / rw, top + (y0 + VIEW_SIZE) * h / rh)
        views.append(np.asarray(img.resize((VIEW_SIZE, VIEW_SIZE), Image.BILINEAR, box=region, reducing_gap=2.0)))
    return np.stack(views)


KEYPOINT_LONG_SIDE = 512
EDGE_FLAT = 1.5  # mean absolute gradient (0-255) below which an edge row/column is a bar, not content


def content_box(gray: Image.Image) -> tuple[int, int, int, int]:
    """The (left, top, right, bottom) of a greyscale cover without the letterbox/pillarbox bars and blurred pads
    (flat rows/columns at the edges) a re-upload adds; the whole image when it is mostly flat."""
    w, h = gray.size
    small_w = 96
    small = np.asarray(gray.resize((small_w, max(8, round(small_w * h / w)))), np.float32)
    row_energy = np.abs(np.diff(small, axis=1)).mean(1)
    col_energy = np.abs(np.diff(small, axis=0)).mean(0)

    def span(energy):
        content = np.flatnonzero(energy >= EDGE_FLAT)
        return (content[0], content[-1] + 1) if len(content) else (0, len(energy))

    (r0, r1), (c0, c1) = span(row_energy), span(col_energy)
    gh, gw = small.shape
    if (r1 - r0) < 0.4 * gh or (c1 - c0) < 0.4 * gw:
        return 0, 0, w, h  # mostly flat: nothing to trust, keep the whole picture
    return round(c0 * w / gw), round(r0 * h / gh), round(c1 * w / gw), round(r1 * h / gh)


def keypoint_image(img: Image.Image, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Grayscale uint8 of the part inside ``box``, long side ``KEYPOINT_LONG_SIDE``: what the second look sees."""
    gray = img if img.mode == "L" else img.convert("L")
    left, top, right, bottom = box or (0, 0, *gray.size)
    w, h = right - left, bottom - top
    scale = KEYPOINT_LONG_SIDE / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(gray.resize(size, Image.BILINEAR, box=(left, top, right, bottom)))


def load_views(path: Path | str) -> np.ndarray:
    rgb = open_rgb(path)
    return three_views(rgb, content_box(rgb.convert("L")))


@dataclass(frozen=True)
class DescriptorInput:
    """What the CNN sees of a cover in the crop-robust dedup (``grouping.CropRobust``): the cover at most
    ``width`` px wide, each channel's levels stretched (PIL's autocontrast, ``cutoff`` % clipped at both ends).

    Reposters' thumbnails are 120-200 px wide and tone-edited (gamma, contrast, a colour cast); bringing every
    cover down to that resolution and stretching its levels removes most of what those edits change, so a
    re-upload and its original come out closer (bench/eval_dedup_hard.py: candidate-finding recall of the
    harder set's re-uploads 0.78 -> 0.91, models/README.md).  The keypoints of the second look keep the full
    resolution."""

    width: int = 128
    cutoff: float = 2.0

    @classmethod
    def parse(cls, text: str) -> DescriptorInput | None:
        """``"128:2"`` -> ``DescriptorInput(128, 2.0)``, ``"128"`` -> the default cut-off; ``""`` -> None."""
        if not text:
            return None
        width, _, cutoff = text.partition(":")
        return cls(int(width), float(cutoff or cls.cutoff))

    @property
    def tag(self) -> str:
        """Part of the name of anything these descriptors are cached under."""
        return f"w{self.width}ac{self.cutoff:g}"


def descriptor_image(rgb: Image.Image, box: tuple[int, int, int, int] | None, spec: DescriptorInput) -> Image.Image:
    """The part of ``rgb`` inside ``box`` as ``spec`` says the CNN should see it."""
    from PIL import ImageOps

    region = rgb.crop(box) if box else rgb
    w, h = region.size
    if w > spec.width:
        region = region.resize((spec.width, max(8, round(h * spec.width / w))), Image.BILINEAR, reducing_gap=2.0)
    return ImageOps.autocontrast(region, cutoff=spec.cutoff)


def decode_cover(path: Path | str, descriptor_input: DescriptorInput | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The three CNN views and the grayscale image for keypoints, both of the cover without bars (flat bars only
    add straight edges two unrelated letterboxed covers would share).  One grey conversion serves both the bar
    detection and the keypoint image.  With ``descriptor_input``, the views are of ``descriptor_image``."""
    rgb = open_rgb(path)
    gray = rgb.convert("L")
    box = content_box(gray)
    views = three_views(descriptor_image(rgb, box, descriptor_input)) if descriptor_input else three_views(rgb, box)
    return views, keypoint_image(gray, box)
