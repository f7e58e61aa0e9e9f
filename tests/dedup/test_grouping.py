"""Grouping: blocked products find exactly the pairs a brute-force comparison finds; the keep rule's order."""

from __future__ import annotations

import numpy as np
import pytest

from tiktok_top10.dedup import grouping
from tiktok_top10.dedup.grouping import Pairs, connected_groups, group_duplicates, keep_order, similar_pairs


def _brute(x, threshold):
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = x @ x.T
    i, j = np.nonzero(np.triu(sims >= threshold, 1))
    return set(zip(i.tolist(), j.tolist(), strict=True))


def _planted(n, dim, rank, seed, dups=40):
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((rank, dim))
    x = rng.standard_normal((n, rank)) @ basis + 0.05 * rng.standard_normal((n, dim))
    src = rng.choice(n, dups, replace=False)
    for k, s in enumerate(src):
        x[(s + 1 + k) % n] = x[s] + rng.uniform(0.05, 0.6) * rng.standard_normal(dim) * np.linalg.norm(x[s]) / dim**0.5
    return x.astype(np.float32)


def test_blocked_pairs_equal_brute_force():
    x = _planted(700, 64, 64, seed=1)
    found = similar_pairs(x, 0.8, block=128)
    assert set(zip(found.i.tolist(), found.j.tolist(), strict=True)) == _brute(x, 0.8)
    assert len(found) > 20


def test_projected_path_loses_no_pair(monkeypatch):
    # force the PCA + Cauchy–Schwarz path on a small set and compare with brute force
    monkeypatch.setattr(grouping, "PROJECT_ABOVE", 100)
    monkeypatch.setattr(grouping, "PROJECT_DIM", 24)
    x = _planted(900, 256, 32, seed=2)
    found = similar_pairs(x, 0.85, block=256)
    assert set(zip(found.i.tolist(), found.j.tolist(), strict=True)) == _brute(x, 0.85)


def _spy_tile_widths(monkeypatch):
    widths = []
    tiles = grouping._tile_candidates

    def spy(rows, cols, cut, block, triangle):
        widths.append((rows.shape[1], str(rows.dtype)))
        return tiles(rows, cols, cut, block, triangle)

    monkeypatch.setattr(grouping, "_tile_candidates", spy)
    return widths


def _exact_path(x, threshold, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(grouping, "PROJECT_ABOVE", 10**9)
        return similar_pairs(x, threshold, block=256)


def _assert_same(found, exact):
    assert np.array_equal(found.i, exact.i) and np.array_equal(found.j, exact.j)
    assert np.array_equal(found.similarity, exact.similarity)


def _just_above(n, dim, rank, threshold, seed):
    """Rows in an exact ``rank``-dimensional subspace (so the bound is tight), half of them partners of the other
    half at a cosine within 0.003 above ``threshold``: what bf16 rounding alone could push below the cut."""
    rng = np.random.default_rng(seed)
    embed = np.linalg.qr(rng.standard_normal((dim, rank)))[0]
    u = rng.standard_normal((n // 2, rank))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    w = rng.standard_normal((n // 2, rank))
    w -= (w * u).sum(1, keepdims=True) * u
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    c = rng.uniform(threshold + 1e-4, threshold + 0.003, (n // 2, 1))
    return (np.concatenate([u, c * u + np.sqrt(1 - c**2) * w]) @ embed.T).astype(np.float32)


BOUND_DTYPES = ["bfloat16", "float32"]  # native-bf16 CPUs use the first, the others the second (bound_dtype)


def _force_bound_dtype(monkeypatch, name):
    import torch

    monkeypatch.setattr(grouping, "bound_dtype", lambda: getattr(torch, name))


def test_bound_dtype_follows_the_cpu(monkeypatch):
    import torch

    from tiktok_top10.dedup import fingerprint

    monkeypatch.setattr(fingerprint, "cpu_has_native_bf16", lambda: True)
    assert grouping.bound_dtype() == torch.bfloat16
    monkeypatch.setattr(fingerprint, "cpu_has_native_bf16", lambda: False)
    assert grouping.bound_dtype() == torch.float32


@pytest.mark.parametrize("dtype", BOUND_DTYPES)
@pytest.mark.parametrize("case", ["planted", "tight", "loose"])
def test_projected_path_equals_exact_path(monkeypatch, case, dtype):
    _force_bound_dtype(monkeypatch, dtype)
    rng = np.random.default_rng(5)
    if case == "planted":
        x = _planted(1300, 160, 24, seed=6, dups=120)
        threshold = 0.9
    elif case == "tight":
        threshold = 0.8125  # exact in bf16: the cut's own rounding gives no slack
        x = _just_above(1300, 64, 24, threshold, seed=8)
    else:
        # isotropic rows: a 7-dimensional projection keeps almost nothing, so |Ra|·|Rb| ≈ 1 and the bound passes
        # nearly every pair; a high cost per product column keeps the projection chosen anyway
        x = rng.standard_normal((1300, 96)).astype(np.float32)
        x[1::7] = x[0::7][: len(x[1::7])] + rng.uniform(0.1, 1.0, (len(x[1::7]), 1)).astype(np.float32) * \
            rng.standard_normal((len(x[1::7]), 96)).astype(np.float32)
        threshold = 0.6
        monkeypatch.setattr(grouping, "PROJECT_DIM", 7)
        monkeypatch.setattr(grouping, "MAC_COST", 1.0)
    exact = _exact_path(x, threshold, monkeypatch)
    widths = _spy_tile_widths(monkeypatch)
    monkeypatch.setattr(grouping, "PROJECT_ABOVE", 500)
    found = similar_pairs(x, threshold, block=256)
    assert len(widths) == 1 and widths[0][1] == f"torch.{dtype}" and widths[0][0] < x.shape[1]  # projected
    _assert_same(found, exact)
    assert set(zip(found.i.tolist(), found.j.tolist(), strict=True)) == _brute(x, threshold)
    assert len(found) > 30


@pytest.mark.parametrize("dtype", BOUND_DTYPES)
def test_full_dimension_fallback_equals_exact_path(monkeypatch, dtype):
    _force_bound_dtype(monkeypatch, dtype)
    # no low-dimensional structure: ≤ 31 of 128 isotropic dimensions bound almost nothing, so the cost model
    # falls back to full-dimension bf16 products
    rng = np.random.default_rng(7)
    x = rng.standard_normal((900, 128)).astype(np.float32)
    x[1::5] = x[0::5][: len(x[1::5])] + 0.5 * rng.standard_normal((len(x[1::5]), 128)).astype(np.float32)
    exact = _exact_path(x, 0.7, monkeypatch)
    widths = _spy_tile_widths(monkeypatch)
    monkeypatch.setattr(grouping, "PROJECT_ABOVE", 100)
    monkeypatch.setattr(grouping, "PROJECT_DIM", 31)
    found = similar_pairs(x, 0.7, block=128)
    assert widths == [(128, f"torch.{dtype}")]
    _assert_same(found, exact)
    assert len(found) > 30


def test_cross_set_pairs():
    x = _planted(50, 32, 32, seed=3, dups=0)
    y = np.concatenate([x[:3] + 0.001, -x[3:6]])
    found = similar_pairs(x, 0.99, others=y)
    assert sorted(zip(found.i.tolist(), found.j.tolist(), strict=True)) == [(0, 0), (1, 1), (2, 2)]


def test_groups_are_transitive_and_verified():
    x = np.array([[1, 0, 0], [0.95, 0.31, 0], [0.81, 0.59, 0], [0, 0, 1]], np.float32)
    groups, pairs = group_duplicates(x, 0.9)
    assert groups == [[0, 1, 2]]  # 0~1 and 1~2 join 0 and 2 although cos(0, 2) < 0.9
    groups, _ = group_duplicates(x, 0.9, verify=lambda p: (p.i != 1) & (p.j != 1))
    assert groups == []


def test_zero_vector_is_an_error():
    with pytest.raises(ValueError):
        similar_pairs(np.zeros((2, 4), np.float32), 0.5)


def test_keep_order_tie_breaks():
    items = [
        {"id": "30", "category": "tts", "views": 500, "likes": 5},
        {"id": "20", "category": "dance", "views": 500, "likes": 5},
        {"id": "10", "category": "dance", "views": 500, "likes": 5},
        {"id": "40", "category": "main", "views": 500, "likes": 4},
        {"id": "50", "category": "food", "views": 900, "likes": 1},
    ]
    order = keep_order(items, ["main", "dance", "challenge", "food", "tts"])
    # most views first; then likes; then category order; then numeric id
    assert [items[k]["id"] for k in order] == ["50", "10", "20", "30", "40"]


def test_connected_groups_empty():
    assert connected_groups(3, Pairs(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))) == []
