"""``top10 dedup``: the JSON contract, bad inputs as counted skips, determinism, and weights errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOP10 = [sys.executable, "-m", "tiktok_top10.cli"]


def run_top10(*args, env_extra=None):
    env = dict(os.environ, TIKTOK_TOP10_MODELS_DIR=str(Path("/nonexistent-models")), **(env_extra or {}))
    return subprocess.run([*TOP10, "dedup", *map(str, args)], capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def cli_result(cover_dir):
    proc = run_top10(cover_dir, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_contract_groups_reuploads_only(cli_result, cover_dir):
    assert set(cli_result) == {"backbone", "threshold", "groups", "skipped"}
    assert cli_result["backbone"] == "efficientnet-lite0"  # no resnet50 file: auto falls back
    names = sorted(sorted(Path(p).name for p in g) for g in cli_result["groups"])
    # At the calibrated threshold (dedup/calibration.json) the coffee re-upload (caption + crop + tone) scores
    # cosine ~0.779, just under it: a miss the held-out recall of `make eval-dedup` counts. A lower threshold
    # given by hand finds it (next test); no distinct cover is ever grouped.
    assert names[0] == ["astronaut.jpg", "astronaut_reupload1.jpg", "astronaut_reupload2.jpg"]
    assert names[1:] in ([], [["coffee.jpg", "coffee_reupload.jpg"]])
    for group in cli_result["groups"]:
        assert all(Path(p).is_file() and str(cover_dir) in p for p in group)


def test_a_lower_threshold_given_by_hand_groups_the_harder_reupload(cover_dir):
    proc = run_top10(cover_dir, "--threshold", "0.74", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    names = sorted(sorted(Path(p).name for p in g) for g in out["groups"])
    assert out["threshold"] == 0.74 and names == [
        ["astronaut.jpg", "astronaut_reupload1.jpg", "astronaut_reupload2.jpg"],
        ["coffee.jpg", "coffee_reupload.jpg"],
    ]


def test_unreadable_inputs_are_skipped_with_reasons(cli_result):
    reasons = {Path(s["path"]).name: s["reason"] for s in cli_result["skipped"]}
    assert set(reasons) == {"empty.jpg", "noise.jpg", "text_named.jpg", "truncated.jpg"}
    assert "empty" in reasons["empty.jpg"]
    assert "not an image" in reasons["text_named.jpg"]
    assert "undecodable" in reasons["truncated.jpg"]


def test_deterministic_and_files_as_arguments(cli_result, cover_dir):
    files = sorted(p for p in cover_dir.glob("*.jpg"))
    proc = run_top10(*files, cover_dir / "missing.jpg", "--json")
    assert proc.returncode == 0, proc.stderr
    again = json.loads(proc.stdout)
    assert again["groups"] == cli_result["groups"]
    assert again["skipped"] == [
        {"path": str(cover_dir / "missing.jpg"), "reason": "missing: no such file or directory"}
    ]


def test_threshold_override_is_reported(cover_dir):
    proc = run_top10(cover_dir / "astronaut.jpg", cover_dir / "chelsea.jpg", "--threshold", "0.99", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["threshold"] == 0.99 and out["groups"] == []


def test_explicit_resnet50_without_weights_fails_clearly(cover_dir):
    proc = run_top10(cover_dir / "astronaut.jpg", "--backbone", "resnet50", "--json")
    assert proc.returncode == 2
    assert "resnet50 weights file is missing" in proc.stderr and proc.stdout == ""


def test_explicit_weights_that_are_not_a_resnet50(tmp_path, cover_dir):
    bogus = tmp_path / "bogus.pth"
    bogus.write_bytes(b"not a checkpoint")
    proc = run_top10(cover_dir / "astronaut.jpg", "--weights", bogus, "--json")
    assert proc.returncode == 2
    assert "cannot read weights" in proc.stderr
