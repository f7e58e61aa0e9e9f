"""The int8 backbone (``dedup/quantize.py``): built from the real EfficientNet-Lite0 weights on a small input,
cached under the models folder with its checksum, reloaded only when the checksum matches, rebuilt when the
cached file is corrupt; the stem stays fp32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tiktok_top10.dedup import quantize  # noqa: E402
from tiktok_top10.dedup.backbones import LITE_MEAN, LITE_STD, choose_backbone, sha256_file  # noqa: E402


@pytest.fixture(scope="module")
def views():
    # 2 covers' worth of views: enough to calibrate the observers, small enough to build in seconds
    return np.random.default_rng(18).integers(0, 256, (6, 224, 224, 3), dtype=np.uint8)


def _forward(model, views):
    with torch.inference_mode():
        return model(quantize.normalise(views, LITE_MEAN, LITE_STD)).float()


def test_built_once_cached_with_checksum_and_reloaded(tmp_path, views):
    choice = choose_backbone("efficientnet-lite0", Path("/nonexistent"))
    built = quantize.load_or_build(choice, tmp_path, views)
    path = quantize.cache_path(tmp_path, choice)
    assert path.name == f"efficientnet-lite0-{choice.weights_sha256[:12]}-int8-{quantize.RECIPE}.pt"
    recorded = quantize.checksum_path(path).read_text().split()
    assert recorded == [sha256_file(path), path.name]
    # the stem is an fp32 island, the blocks after it are quantised
    stem = built.get_submodule("net._conv_stem.0")
    assert "quantized" not in type(stem).__module__ and stem[0].weight.dtype == torch.float32  # fused conv+relu
    project = built.get_submodule("net._blocks.0._project_conv")
    assert "quantized" in type(project).__module__
    expected = _forward(built, views)
    assert expected.shape == (6, 1280, 7, 7)

    reloaded = quantize.load_cached(path, choice)
    assert reloaded is not None
    assert torch.equal(_forward(reloaded, views), expected)
    mtime = path.stat().st_mtime_ns
    again = quantize.load_or_build(choice, tmp_path, views)  # from the cache: the file is not rewritten
    assert path.stat().st_mtime_ns == mtime and torch.equal(_forward(again, views), expected)


def test_a_corrupt_cache_is_rebuilt(tmp_path, views, caplog):
    choice = choose_backbone("efficientnet-lite0", Path("/nonexistent"))
    quantize.load_or_build(choice, tmp_path, views)
    path = quantize.cache_path(tmp_path, choice)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert quantize.load_cached(path, choice) is None
    assert "does not match its checksum" in caplog.text
    rebuilt = quantize.load_or_build(choice, tmp_path, views)
    assert quantize.checksum_path(path).read_text().split()[0] == sha256_file(path)
    assert quantize.load_cached(path, choice) is not None
    assert _forward(rebuilt, views).shape == (6, 1280, 7, 7)
    quantize.checksum_path(path).unlink()  # a model without its checksum file is not trusted either
    assert quantize.load_cached(path, choice) is None
