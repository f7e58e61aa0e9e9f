"""Fault matrix, cover rows: truncated, 0-byte, PNG named .jpg, an 8K image and a decompression bomb, an HTML
error page served as an image, an item whose cover file is missing.  Outcome required: each bad cover is
skipped and counted, and the run publishes the rest.

Two levels, both real: the crawl's downloader against a loopback cover host, then the day's stages (real
dedup on the installed EfficientNet-Lite0 weights, lingua, publish) over raw output holding those files."""

from __future__ import annotations

import datetime as dt
import io
import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from tiktok_top10.crawl.covers import CoverPolicy, download_covers
from tiktok_top10.models import VideoItem, canonical_url
from tiktok_top10.publish import publish_day
from tiktok_top10.storage import DayLayout, atomic_write_jsonl, read_json, read_jsonl

DAY = dt.date(2026, 11, 22)


def photo(seed: int, size=(180, 320), fmt="JPEG") -> bytes:
    """A noisy, distinct picture per seed (flat colours would all look alike to a CNN)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (8, 6, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize(size, Image.BICUBIC)
    if fmt == "PNG":
        image = image.convert("RGBA")
    out = io.BytesIO()
    image.save(out, fmt, quality=85)
    return out.getvalue()


def png_bomb(width=30_000, height=30_000) -> bytes:
    """A valid-looking PNG header claiming 900 MP with almost no data behind it."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


GOOD = photo(1)
COVERS = {  # name -> (bytes served, outcome)
    "good": (GOOD, "ok"),
    "truncated": (GOOD[: len(GOOD) // 2], "truncated_image"),
    "zero": (b"", "empty_body"),
    "png_named_jpg": (photo(2, fmt="PNG"), "ok"),
    "html": (b"<!doctype html><html><body>Error 503. Please log in</body></html>", "not_image"),
    "bomb": (png_bomb(), "too_many_pixels"),
}


@pytest.fixture(scope="module")
def eight_k() -> bytes:
    return photo(3, size=(4320, 7680))


@pytest.fixture
def cover_host(eight_k):
    bodies = {f"/{name}.jpg": data for name, (data, _) in COVERS.items()} | {"/eightk.jpg": eight_k}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            body = bodies.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "image/jpeg")  # every one of them claims to be a JPEG
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_covers_each_bad_download_is_skipped_and_counted(cover_host, tmp_path):
    urls = {str(1000 + n): f"{cover_host}/{name}.jpg" for n, name in enumerate([*COVERS, "eightk"])}
    report = download_covers(urls, tmp_path / "thumbnails", CoverPolicy(backoff_s=0.01).with_hosts(cover_host))
    outcome = {name: report.results[str(1000 + n)] for n, name in enumerate([*COVERS, "eightk"])}
    for name, (_, expected) in COVERS.items():
        assert (outcome[name].error or "ok") == expected, name
    assert outcome["png_named_jpg"].path.name == "1003.png"  # the bytes decide the extension
    assert outcome["eightk"].error is None and outcome["eightk"].path.name == "1006.jpg"  # 33 MP: a real cover
    assert dict(report.failures) == {"truncated_image": 1, "empty_body": 1, "not_image": 1, "too_many_pixels": 1}
    assert sorted(p.name for p in (tmp_path / "thumbnails").iterdir()) == ["1000.jpg", "1003.png", "1006.jpg"]


def test_covers_bad_files_on_disk_are_skipped_by_dedup_and_the_rest_publish(settings, eight_k):
    """Files that got past the downloader (an older crawl, a hand copy, a disk error) meet dedup and publish."""
    layout = DayLayout(settings.data_root, DAY)
    files = {"truncated": GOOD[: len(GOOD) // 2], "zero": b"", "html": COVERS["html"][0], "bomb": png_bomb(),
             "png_named_jpg": photo(2, fmt="PNG"), "eightk": eight_k, "missing": None,
             **{f"good{k}": photo(10 + k) for k in range(3)}}
    rows = []
    for n, (name, data) in enumerate(files.items()):
        vid = str(2000 + n)
        if data is not None:
            (layout.raw_thumbnails("main") / f"{vid}.jpg").parent.mkdir(parents=True, exist_ok=True)
            (layout.raw_thumbnails("main") / f"{vid}.jpg").write_bytes(data)
        rows.append(VideoItem(id=vid, category="main", title=f"한국어 영상 {name}", author_nickname="크리에이터",
                              author_unique_id=f"c{n}", views=900_000 - n * 1000, likes=10,
                              url=canonical_url(f"c{n}", vid), thumbnail=f"thumbnails/{vid}.jpg").to_json())
    atomic_write_jsonl(layout.raw_items("main"), rows)
    settings = settings.with_overrides(categories=["main"], detector="lingua")
    names = {str(2000 + n): name for n, name in enumerate(files)}

    from tiktok_top10.dedup import run_dedup
    from tiktok_top10.language import run_language

    run_dedup(settings, DAY, ["main"])
    verdicts = {names[r["id"]]: r for r in read_jsonl(layout.work_dir / "dedup.jsonl")}
    skipped = {name for name, r in verdicts.items() if r["status"] == "skipped"}
    assert skipped == {"truncated", "zero", "html", "bomb", "missing"}
    assert all(verdicts[name]["reason"] for name in skipped)
    summary = read_json(layout.work_dir / "dedup_summary.json")
    assert sum(v for k, v in summary.items() if k.startswith("skipped") and isinstance(v, int)) == 5

    run_language(settings, DAY)
    publish_day(settings, DAY, ["main"])
    manifest = read_json(layout.manifest)
    published = read_json(layout.top10_json("main"))
    assert manifest["status"] == "complete" and manifest["stages"]["publish"]["main"]["published"] == len(published)
    assert {names[e["url"].rsplit("/", 1)[-1]] for e in published} <= {
        "png_named_jpg", "eightk", "good0", "good1", "good2"
    }
    assert len(published) >= 3
    for k in range(1, len(published) + 1):
        with Image.open(layout.top10_dir("main") / "thumbnails" / f"main{k:02d}.jpg") as img:
            assert img.format == "JPEG"
