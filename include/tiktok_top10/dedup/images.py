"""Decoding covers and cutting the three views the fingerprint averages.

Covers are mostly 1080×1920 JPEGs (some 2160×3840, some PNG saved as .jpg).  JPEGs are decoded in draft mode
(DCT-domain downscaling, 1/2…1/8) straight to about the size the largest view needs, which is most of the
decode cost saved.  Any file PIL cannot decode becomes an ``UnreadableImage`` with a short reason; the stage
counts it as skipped instead of crashing.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image

VIEW_SIZE = 224
# the original's views: center = short side 256 + center crop; full = squash to 224²; zoom = short side 400 + crop
CENTER_SHORT_SIDE = 256
ZOOM_SHORT_SIDE = 400
VIEWS = ("center", "full", "zoom")
MAX_PIXELS = 80_000_000  # far above 4K covers; refuses decompression bombs before decoding


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
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
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


def _resize_short(img: Image.Image, short: int) -> Image.Image:
    w, h = img.size
    scale = short / min(w, h)
    return img.resize((max(short, round(w * scale)), max(short, round(h * scale))), Image.BILINEAR, reducing_gap=2.0)


def _center_crop(img: Image.Image, size: int) -> Image.Image:
    w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    return img.crop((left, top, left + size, top + size))


def three_views(img: Image.Image) -> np.ndarray:
    """The (3, 224, 224, 3) uint8 views ``center, full, zoom`` of an RGB image."""
    center = _center_crop(_resize_short(img, CENTER_SHORT_SIDE), VIEW_SIZE)
    full = img.resize((VIEW_SIZE, VIEW_SIZE), Image.BILINEAR, reducing_gap=2.0)
    zoom = _center_crop(_resize_short(img, ZOOM_SHORT_SIDE), VIEW_SIZE)
    return np.stack([np.asarray(center), np.asarray(full), np.asarray(zoom)])


KEYPOINT_LONG_SIDE = 512
EDGE_FLAT = 1.5  # mean absolute gradient (0-255) below which an edge row/column is a bar, not content


def trim_borders(img: Image.Image) -> Image.Image:
    """Cut letterbox/pillarbox bars and blurred pads (flat rows/columns at the edges) a re-upload adds."""
    w, h = img.size
    small_w = 96
    gray = np.asarray(img.convert("L").resize((small_w, max(8, round(small_w * h / w)))), np.float32)
    row_energy = np.abs(np.diff(gray, axis=1)).mean(1)
    col_energy = np.abs(np.diff(gray, axis=0)).mean(0)

    def span(energy):
        content = np.flatnonzero(energy >= EDGE_FLAT)
        return (content[0], content[-1] + 1) if len(content) else (0, len(energy))

    (r0, r1), (c0, c1) = span(row_energy), span(col_energy)
    gh, gw = gray.shape
    if (r1 - r0) < 0.4 * gh or (c1 - c0) < 0.4 * gw:
        return img  # mostly flat: nothing to trust, keep the whole picture
    return img.crop((round(c0 * w / gw), round(r0 * h / gh), round(c1 * w / gw), round(r1 * h / gh)))


def keypoint_image(img: Image.Image) -> np.ndarray:
    """Grayscale uint8 with the long side at ``KEYPOINT_LONG_SIDE``: what the geometric check looks at."""
    w, h = img.size
    scale = KEYPOINT_LONG_SIDE / max(w, h)
    return np.asarray(img.convert("L").resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR))


def load_views(path: Path | str) -> np.ndarray:
    return three_views(trim_borders(open_rgb(path)))


def decode_cover(path: Path | str) -> tuple[np.ndarray, np.ndarray]:
    """The three CNN views and the grayscale image for keypoints, both of the cover without bars (flat bars only
    add straight edges two unrelated letterboxed covers would share)."""
    img = trim_borders(open_rgb(path))
    return three_views(img), keypoint_image(img)
