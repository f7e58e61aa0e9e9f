"""Fixtures for the dedup tests: one shared model, and a folder of covers with broken files among them."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from dedup_covers import make_cover, make_reupload


@pytest.fixture(scope="session")
def lite_fingerprinter():
    from tiktok_top10.dedup.fingerprint import Fingerprinter

    return Fingerprinter("efficientnet-lite0", models_dir=Path("/nonexistent"))


@pytest.fixture(scope="session")
def cover_dir(tmp_path_factory) -> Path:
    """Four distinct covers, two re-uploads of ``astronaut``, one of ``coffee``, and broken files."""
    d = tmp_path_factory.mktemp("covers")
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        make_cover(name).save(d / f"{name}.jpg", quality=90)
    make_reupload(make_cover("astronaut"), 7).save(d / "astronaut_reupload1.jpg", quality=85)
    make_reupload(make_cover("astronaut"), 2, ("mirror", "pad", "resize")).save(d / "astronaut_reupload2.jpg")
    make_reupload(make_cover("coffee"), 3, ("caption", "crop", "tone")).save(d / "coffee_reupload.jpg")
    bad = d / "bad"
    bad.mkdir()
    (bad / "empty.jpg").write_bytes(b"")
    (bad / "noise.jpg").write_bytes(random.Random(0).randbytes(5000))
    (bad / "notes.txt").write_text("not an image")  # ignored: not an image suffix
    (bad / "text_named.jpg").write_text("hello, not a jpeg")
    full = (d / "rocket.jpg").read_bytes()
    (bad / "truncated.jpg").write_bytes(full[: len(full) // 3])
    return d
