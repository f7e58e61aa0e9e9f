"""Backbones: the bundled EfficientNet-Lite0 weights load strictly and classify a real photo; resnet50 runs
only from a verified file, and ``auto`` falls back (and says why) otherwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tiktok_top10.dedup.backbones import (RESNET50_FILE, WeightsError, build_model, choose_backbone,
                                          efficientnet_lite0_weights)


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
    assert "fell back" in choice.reason and expected in choice.reason
    with pytest.raises(WeightsError, match=expected):
        choose_backbone("resnet50", tmp_path)


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
