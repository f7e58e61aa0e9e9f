"""Decoding: every kind of bad input becomes an UnreadableImage with a reason; odd-but-valid covers decode."""

from __future__ import annotations

import zlib
import struct

import numpy as np
import pytest
from PIL import Image

from tiktok_top10.dedup.images import UnreadableImage, load_views, open_rgb

from dedup_covers import make_cover


def test_views_are_three_224_crops(tmp_path):
    path = tmp_path / "c.jpg"
    make_cover("chelsea", (1080, 1920)).save(path, quality=90)
    views = load_views(path)
    assert views.shape == (3, 224, 224, 3) and views.dtype == np.uint8
    # center and zoom are different crops of the same image: not identical
    assert not np.array_equal(views[0], views[2])


def test_draft_decode_keeps_short_side_at_least_400(tmp_path):
    path = tmp_path / "big.jpg"
    make_cover("coffee", (2160, 3840)).save(path, quality=85)
    img = open_rgb(path)
    assert 400 <= min(img.size) < 2160  # decoded reduced, never below what the zoom view needs


def test_png_saved_with_jpg_name_decodes_on_white(tmp_path):
    rgba = Image.new("RGBA", (90, 160), (255, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 45, 160))
    path = tmp_path / "cover.jpg"
    rgba.save(path, format="PNG")
    img = open_rgb(path)
    assert img.mode == "RGB"
    assert img.getpixel((80, 80)) == (255, 255, 255)  # transparent → white
    assert img.getpixel((10, 80)) == (0, 0, 255)


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "name,content,reason",
    [
        ("empty.jpg", b"", "empty file"),
        ("text.jpg", b"this is not an image at all", "not an image"),
        ("huge.png", _png_header_only(30000, 30000), "too large"),
        ("tiny.png", None, "too small"),
    ],
)
def test_bad_inputs_have_reasons(tmp_path, name, content, reason):
    path = tmp_path / name
    if content is None:
        Image.new("RGB", (4, 4)).save(path)
    else:
        path.write_bytes(content)
    with pytest.raises(UnreadableImage) as info:
        open_rgb(path)
    assert reason in info.value.reason


def test_truncated_jpeg_is_unreadable(tmp_path):
    path = tmp_path / "t.jpg"
    make_cover("rocket").save(path, quality=90)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(UnreadableImage) as info:
        open_rgb(path)
    assert "undecodable" in info.value.reason


def test_missing_file(tmp_path):
    with pytest.raises(UnreadableImage) as info:
        open_rgb(tmp_path / "nope.jpg")
    assert "missing" in info.value.reason
