"""Backbones: the bundled EfficientNet-Lite0 weights load strictly and classify a real photo; resnet50 runs
only from a verified file, ``auto`` picks it only when calibration.json has an entry for that very file, and
falls back (and says why) otherwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tiktok_top10.dedup.backbones import (
    RESNET50_FILE,
    WeightsError,
    build_model,
    choose_backbone,
    efficientnet_lite0_weights,
)


def test_efficientnet_lite0_classifies_chelsea_as_a_cat():
    import torch
    import torchvision
    from dedup_covers import photo

    from tiktok_top10.dedup.backbones import LITE_MEAN, LITE_STD, _lite0_classes

    net = _lite0_classes()[0]()
    net.load_state_dict(torch.load(efficientnet_lite0_weights(), weights_only=True), strict=True)
    img = photo("chelsea").resize((224, 224))
    x = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float()[None] / 255.0
    x = (x - torch.tensor(LITE_MEAN).view(1, 3, 1, 1)) / torch.tensor(LITE_STD).view(1, 3, 1, 1)
    with torch.inference_mode():
        top = net.eval()(x).softmax(1)[0].topk(3)
    names = torchvision.models.ResNet50_Weights.IMAGENET1K_V2.meta["categories"]
    labels = [names[i] for i in top.indices.tolist()]
    assert labels[0] in {"tabby", "tiger cat", "Egyptian cat"}, labels
    assert float(top.values.sum()) > 0.7


def _sparse_file(path: Path, size: int) -> Path:
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


@pytest.mark.parametrize("content", ["missing", "truncated", "wrong-checksum"])
def test_auto_falls_back_when_resnet50_file_is_bad(tmp_path, content):
    target = tmp_path / RESNET50_FILE
    if content == "truncated":
        target.write_bytes(b"\x00" * 1000)
    elif content == "wrong-checksum":
        _sparse_file(target, 102_530_333)
    choice = choose_backbone("auto", tmp_path)
    assert choice.name == "efficientnet-lite0"
    expected = {"missing": "missing", "truncated": "truncated", "wrong-checksum": "wrong checksum"}[content]
    assert choice.reason.startswith("auto: efficientnet-lite0 because") and expected in choice.reason
    with pytest.raises(WeightsError, match=expected):
        choose_backbone("resnet50", tmp_path)


@pytest.fixture
def calibration_file(tmp_path, monkeypatch):
    """An empty calibration file in place of the package's; ``add(backbone, sha256)`` gives it an entry."""
    import json

    from tiktok_top10.dedup import calibration

    path = tmp_path / "calibration.json"
    document = {"entries": []}

    def add(backbone: str, sha256: str) -> None:
        document["entries"].append({"backbone": backbone, "precision": "fp32", "weights_sha256": sha256,
                                    "threshold": 0.7, "min_inliers": 15, "min_agreement": 30})
        path.write_text(json.dumps(document))
        calibration._load.cache_clear()

    add.path = path
    path.write_text(json.dumps(document))
    monkeypatch.setattr(calibration, "CALIBRATION_FILE", path)
    calibration._load.cache_clear()
    yield add
    calibration._load.cache_clear()


def test_auto_uses_resnet50_only_with_a_calibration_entry_for_its_checksum(tmp_path, calibration_file):
    """Selection only: a stand-in file (not real weights) and an entry for its SHA-256."""
    from tiktok_top10.dedup.backbones import sha256_file
    from tiktok_top10.dedup.calibration import thresholds

    models = tmp_path / "models"
    models.mkdir()
    stand_in = models / RESNET50_FILE
    stand_in.write_bytes(b"stand-in for the resnet50 weights " * 1000)
    digest = sha256_file(stand_in)

    uncalibrated = choose_backbone("auto", models)
    assert uncalibrated.name == "efficientnet-lite0"
    assert "truncated" in uncalibrated.reason  # (the stand-in is small) and the reason says what was wrong

    calibration_file("resnet50", "0" * 64)  # an entry for other weights does not count
    assert choose_backbone("auto", models).name == "efficientnet-lite0"

    calibration_file("resnet50", digest)
    chosen = choose_backbone("auto", models)
    assert (chosen.name, chosen.weights_sha256, chosen.weights_path) == ("resnet50", digest, stand_in)
    assert "calibrated" in chosen.reason and digest[:12] in chosen.reason
    assert thresholds("resnet50", weights_sha256=digest) == (0.7, 15, 30)


def test_auto_says_verified_but_uncalibrated_resnet50_weights_need_make_calibrate(tmp_path, calibration_file,
                                                                                   monkeypatch):
    from tiktok_top10.dedup import backbones

    models = tmp_path / "models"
    models.mkdir()
    (models / RESNET50_FILE).write_bytes(b"weights")
    monkeypatch.setattr(backbones, "verify_resnet50_file", lambda path, digest=None: digest)  # as if verified
    choice = choose_backbone("auto", models)
    assert choice.name == "efficientnet-lite0" and "make calibrate" in choice.reason


def test_no_threshold_without_a_calibration_entry(calibration_file):
    from tiktok_top10.dedup.calibration import CalibrationMissing, thresholds

    with pytest.raises(CalibrationMissing, match="make calibrate"):
        thresholds("resnet50", weights_sha256="f" * 64)
    calibration_file("efficientnet-lite0", "e" * 64)
    # an operator's explicit threshold runs, with the second look's calibrated values
    assert thresholds("resnet50", 0.9, weights_sha256="f" * 64) == (0.9, 15, 30)


def test_the_package_calibration_file_has_an_fp32_entry_for_the_bundled_weights():
    import json

    from tiktok_top10.dedup.backbones import sha256_file
    from tiktok_top10.dedup.calibration import CALIBRATION_FILE

    document = json.loads(CALIBRATION_FILE.read_text())
    digest = sha256_file(efficientnet_lite0_weights())
    (entry,) = [e for e in document["entries"] if e["weights_sha256"] == digest and e["precision"] == "fp32"]
    assert entry["backbone"] == "efficientnet-lite0" and document["split"]["by"] == "video"
    assert entry["calibration_split"]["merges"] == 0
    assert 0.5 < entry["threshold"] < 1.0 and entry["threshold"] == round(entry["threshold"], 3)


def test_explicit_weights_load_a_torchvision_state_dict(tmp_path):
    import torch
    import torchvision

    path = tmp_path / "r50.pth"
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), path)
    choice = choose_backbone("auto", tmp_path / "nowhere", weights=path)
    assert choice.name == "resnet50" and choice.reason == "weights file given explicitly"
    model, _, _ = build_model(choice)
    with torch.inference_mode():
        assert model(torch.zeros(1, 3, 64, 64)).shape[1] == 2048
    # a state_dict of another architecture does not load
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(WeightsError, match="not a torchvision ResNet50"):
        build_model(choose_backbone("auto", tmp_path, weights=path))


def test_importing_the_package_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, tiktok_top10.dedup; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
