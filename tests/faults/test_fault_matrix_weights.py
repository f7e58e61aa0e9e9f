"""Fault matrix, weights rows: the ResNet50 weights file missing, truncated or of the wrong checksum, and a
corrupt file given explicitly.  Outcome required: the documented fallback (``auto`` → EfficientNet-Lite0 from
its installed package, the reason recorded) or a clear failure — never random weights.  Tested through the
public ``tiktok_top10.dedup`` API and the ``top10 dedup`` CLI as they are."""

from __future__ import annotations

import subprocess
import sys

import pytest
from PIL import Image

from tiktok_top10.dedup import Fingerprinter
from tiktok_top10.dedup.backbones import RESNET50_FILE, WeightsError, efficientnet_lite0_weights, sha256_file

from .conftest import REPO, child_env


@pytest.fixture
def models_dir(tmp_path):
    path = tmp_path / "models"
    path.mkdir()
    return path


def truncated(models_dir):
    (models_dir / RESNET50_FILE).write_bytes(b"PK\x03\x04" + b"\x00" * 4096)


def wrong_checksum(models_dir):
    with open(models_dir / RESNET50_FILE, "wb") as fh:  # full size (sparse), wrong bytes
        fh.truncate(103_000_000)


FAULTS = {"missing": lambda d: None, "truncated": truncated, "wrong checksum": wrong_checksum}


def cli(models_dir, *args):
    image = models_dir.parent / "cover.png"
    Image.new("RGB", (64, 96), (200, 30, 30)).save(image)
    return subprocess.run([sys.executable, "-m", "tiktok_top10.cli", "dedup", str(image), *args], cwd=REPO,
                          env=child_env(TIKTOK_TOP10_MODELS_DIR=str(models_dir)), capture_output=True, text=True,
                          timeout=300)


def check_resnet50_fault(models_dir, fault):
    FAULTS[fault](models_dir)
    with pytest.raises(WeightsError, match=fault):
        Fingerprinter("resnet50", models_dir)
    auto = Fingerprinter("auto", models_dir)
    assert auto.name == "efficientnet-lite0" and fault in auto.choice.reason
    assert auto.choice.weights_sha256 == sha256_file(efficientnet_lite0_weights())  # real, checked weights


def test_weights_missing(models_dir):
    check_resnet50_fault(models_dir, "missing")
    done = cli(models_dir, "--backbone", "resnet50")
    assert done.returncode == 2 and "resnet50 weights file is missing" in done.stderr and "make weights" in done.stderr


def test_weights_truncated(models_dir):
    check_resnet50_fault(models_dir, "truncated")


def test_weights_wrong_checksum(models_dir):
    check_resnet50_fault(models_dir, "wrong checksum")
    done = cli(models_dir, "--backbone", "resnet50", "--json")
    assert done.returncode == 2 and "wrong checksum" in done.stderr and done.stdout == ""


def test_weights_corrupt_file_given_explicitly(models_dir):
    corrupt = models_dir / "mine.pth"
    corrupt.write_bytes(b"not a torch checkpoint" * 100)
    done = cli(models_dir, "--weights", str(corrupt), "--threshold", "0.9")
    assert done.returncode == 2 and "cannot read weights" in done.stderr
    assert "Traceback" not in done.stderr
    # without a threshold the file is still read first: "cannot read weights" names the real fault, where
    # "no calibration" would send the operator to `make calibrate` with a file that can never load
    # (weights that load but nobody calibrated: tests/dedup/test_backbones.py)
    done = cli(models_dir, "--weights", str(corrupt))
    assert done.returncode == 2 and "cannot read weights" in done.stderr and "no calibration" not in done.stderr
    assert "Traceback" not in done.stderr
