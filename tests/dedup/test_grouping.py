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
    return set(zip(i.tolist(), j.tolist()))


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
    assert set(zip(found.i.tolist(), found.j.tolist())) == _brute(x, 0.8)
    assert len(found) > 20


def test_projected_path_loses_no_pair(monkeypatch):
    # force the PCA + Cauchy–Schwarz path on a small set and compare with brute force
    monkeypatch.setattr(grouping, "PROJECT_ABOVE", 100)
    monkeypatch.setattr(grouping, "PROJECT_DIM", 24)
    x = _planted(900, 256, 32, seed=2)
    found = similar_pairs(x, 0.85, block=256)
    assert set(zip(found.i.tolist(), found.j.tolist())) == _brute(x, 0.85)


def test_cross_set_pairs():
    x = _planted(50, 32, 32, seed=3, dups=0)
    y = np.concatenate([x[:3] + 0.001, -x[3:6]])
    found = similar_pairs(x, 0.99, others=y)
    assert sorted(zip(found.i.tolist(), found.j.tolist())) == [(0, 0), (1, 1), (2, 2)]


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
