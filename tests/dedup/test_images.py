"""Decoding: every kind of bad input becomes an UnreadableImage with a reason; odd-but-valid covers decode."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from dedup_covers import make_cover
from PIL import Image

from tiktok_top10.dedup.images import UnreadableImage, load_views, open_rgb


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
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b"")
    )


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


def _resize_then_crop(img: Image.Image, short: int | None) -> np.ndarray:
    """The views as the original cut them: resize the whole image, then crop its center."""
    if short is None:
        return np.asarray(img.resize((224, 224), Image.BILINEAR, reducing_gap=2.0))
    w, h = img.size
    s = short / min(w, h)
    r = img.resize((max(short, round(w * s)), max(short, round(h * s))), Image.BILINEAR, reducing_gap=2.0)
    left, top = (r.width - 224) // 2, (r.height - 224) // 2
    return np.asarray(r.crop((left, top, left + 224, top + 224)))


@pytest.mark.parametrize("size", [(1080, 1920), (720, 1280), (1278, 720)])
def test_views_cut_from_the_region_equal_resize_then_crop(size):
    from tiktok_top10.dedup.images import three_views

    img = make_cover("astronaut", size)
    views = three_views(img)
    for view, short in zip(views, (256, None, 400), strict=True):
        diff = np.abs(view.astype(np.int16) - _resize_then_crop(img, short))
        assert diff.mean() < 0.5 and np.percentile(diff, 99) <= 3


def test_letterbox_bars_are_cut_before_the_views():
    from tiktok_top10.dedup.images import content_box, keypoint_image, three_views

    picture = make_cover("coffee", (720, 1280))
    boxed = Image.new("RGB", (720, 1280 + 2 * 200), (0, 0, 0))
    boxed.paste(picture, (0, 200))
    box = content_box(boxed.convert("L"))
    assert abs(box[1] - 200) <= 16 and abs(box[3] - 1480) <= 16 and box[0] <= 8 and box[2] >= 712
    # the views of the letterboxed cover within its box are the views of the picture itself
    diff = np.abs(three_views(boxed, box).astype(np.int16) - three_views(picture).astype(np.int16))
    assert diff.mean() < 6
    assert keypoint_image(boxed, box).shape[0] == 512  # the bars do not count towards the long side


def test_a_flat_cover_keeps_its_whole_box():
    from tiktok_top10.dedup.images import content_box

    assert content_box(Image.new("L", (300, 500), 128)) == (0, 0, 300, 500)


def test_descriptor_image_brings_a_cover_down_to_the_width_and_stretches_its_levels():
    from tiktok_top10.dedup.images import DescriptorInput, descriptor_image

    dull = Image.fromarray((np.asarray(make_cover("chelsea"), np.float32) * 0.4 + 90).astype(np.uint8))  # 90-192
    box = (10, 20, 530, 940)
    out = descriptor_image(dull, box, DescriptorInput(128, 2.0))
    assert out.size == (128, round(920 * 128 / 520))  # the box only, its aspect kept
    levels = np.asarray(out)
    assert levels.reshape(-1, 3).min(0).max() <= 5 and levels.reshape(-1, 3).max(0).min() >= 250  # per channel
    small = dull.resize((100, 178))
    assert descriptor_image(small, None, DescriptorInput(128, 2.0)).size == (100, 178)  # never enlarged
    assert DescriptorInput(128, 2.0).tag == "w128ac2"
    assert DescriptorInput.parse("96:1.5") == DescriptorInput(96, 1.5) and DescriptorInput.parse("") is None
    assert DescriptorInput.parse("128") == DescriptorInput()


def test_the_descriptor_input_brings_a_tone_edited_thumbnail_closer_to_its_original(tmp_path):
    """What the crop-robust candidates rely on (bench/eval_dedup_hard.py measures it on real covers): a small,
    strongly re-toned re-upload is nearer its original on the descriptor input than on the cover as decoded,
    while distinct covers stay apart."""
    from PIL import ImageEnhance

    from tiktok_top10.dedup.fingerprint import Fingerprinter
    from tiktok_top10.dedup.images import DescriptorInput

    names = ("astronaut", "chelsea", "coffee", "rocket")
    paths = []
    for name in names:
        cover = make_cover(name)
        cover.save(tmp_path / f"{name}.jpg", quality=90)
        toned = ImageEnhance.Contrast(cover.point(lambda v: round(255 * (v / 255) ** 1.7))).enhance(0.6)
        toned = Image.blend(toned, Image.new("RGB", toned.size, (200, 60, 20)), 0.2).resize((150, 267))
        toned.save(tmp_path / f"{name}_toned.jpg", quality=30)
        paths += [tmp_path / f"{name}.jpg", tmp_path / f"{name}_toned.jpg"]

    def cosines(descriptor_input):
        fps = Fingerprinter("efficientnet-lite0", models_dir=Path("/nonexistent"), threads=2,
                            precision="fp32", descriptor_input=descriptor_input).fingerprint(paths)
        g = fps.globals / np.linalg.norm(fps.globals, axis=1, keepdims=True)
        same = [float(g[2 * k] @ g[2 * k + 1]) for k in range(len(names))]
        distinct = [float(g[2 * a] @ g[2 * b + 1]) for a in range(len(names)) for b in range(len(names)) if a != b]
        return np.mean(same), max(distinct)

    plain_same, plain_distinct = cosines(None)
    robust_same, robust_distinct = cosines(DescriptorInput(128, 2.0))
    assert robust_same > plain_same + 0.03, (plain_same, robust_same)
    assert robust_distinct < robust_same - 0.1, (robust_distinct, robust_same)
