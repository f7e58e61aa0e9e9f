"""Keypoint votes (``votes.py``): the crop-robust dedup's candidates for pairs the CNN descriptors leave undecided."""

from __future__ import annotations

import numpy as np
import pytest
from dedup_covers import make_cover, tiny_recoloured_corner
from PIL import Image


def _look(img: Image.Image, tmp_path, name: str):
    """The second look's keypoints of ``img`` as the fingerprinter makes them (decoded from a JPEG file)."""
    from tiktok_top10.dedup.images import decode_cover
    from tiktok_top10.dedup.verify import detect

    path = tmp_path / f"{name}.jpg"
    img.save(path, "JPEG", quality=90)
    return detect(decode_cover(path)[1])


def test_bucket_keys_are_the_drawn_bits_of_each_descriptor():
    from tiktok_top10.dedup import votes

    rng = np.random.default_rng(3)
    descriptors = rng.integers(0, 256, (50, 32), dtype=np.uint8)
    keys = votes.bucket_keys(descriptors)
    assert keys.shape == (50, votes.TABLES)
    positions = votes._bit_positions()
    for k in (0, 17, 49):
        bits = np.unpackbits(descriptors[k])
        for t in range(votes.TABLES):
            expected = sum(int(bits[p]) << b for b, p in enumerate(positions[t])) | (t << votes.BITS)
            assert keys[k, t] == expected
    # the same descriptor, the same keys; one bit off moves only the tables that drew that bit
    flipped = descriptors[:1].copy()
    flipped[0, 0] ^= 0x80  # bit 0 in numpy's MSB-first order
    moved = votes.bucket_keys(flipped)[0] != keys[0]
    assert moved.tolist() == [0 in positions[t] for t in range(votes.TABLES)]


def test_a_tiny_recoloured_corner_votes_for_its_original_first(tmp_path):
    """The cut the CNN descriptors miss still shares keypoints with its original: its votes for it are the highest
    of the set, within one set and against another (history)."""
    from tiktok_top10.dedup.votes import pair_votes, vote_matrix

    names = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle")
    covers = [make_cover(name) for name in names]
    looks = [_look(c, tmp_path, n) for c, n in zip(covers, names, strict=True)]
    corner = _look(tiny_recoloured_corner(covers[0]), tmp_path, "corner")

    within = vote_matrix([*looks, corner]).toarray()
    assert np.allclose(within, within.T) and not np.diag(within).any()
    assert int(np.argmax(within[-1])) == 0
    assert within[-1, 0] > 3 * np.sort(within[-1])[-2]  # not a near tie: the original stands out
    across = vote_matrix([corner], looks).toarray()[0]
    assert int(np.argmax(across)) == 0 and across[0] > 3 * np.sort(across)[-2]
    assert pair_votes([corner], np.array([0, 0]), np.array([0, 3]), looks).tolist() == [across[0], across[3]]


def test_votes_of_covers_without_keypoints_are_zero(tmp_path):
    """A flat cover has no keypoints: it votes for nothing and nothing votes for it; no error."""
    from tiktok_top10.dedup.votes import pair_votes, vote_matrix

    flat = _look(Image.new("RGB", (540, 960), (30, 30, 30)), tmp_path, "flat")
    photo = _look(make_cover("coffee"), tmp_path, "coffee")
    assert len(flat[0][1]) == 0
    assert vote_matrix([flat, photo]).toarray().tolist() == [[0, 0], [0, 0]]
    assert pair_votes([flat], np.array([0]), np.array([0]), [photo]).tolist() == [0.0]
    assert pair_votes([], np.zeros(0, np.int64), np.zeros(0, np.int64)).tolist() == []


def _reference_votes(query_sets, database_sets, within: bool) -> np.ndarray:
    """The votes by their definition, pair by pair: the buckets both covers hold, each weighted by its idf over
    all the covers (of both sets across two)."""
    from tiktok_top10.dedup.votes import bucket_keys

    def buckets(d):
        return set(bucket_keys(d).ravel().tolist()) if len(d) else set()

    q, d = [buckets(s) for s in query_sets], [buckets(s) for s in database_sets]
    every = d if within else q + d
    out = np.zeros((len(q), len(d)))
    for a, qa in enumerate(q):
        for b, db in enumerate(d):
            if within and a == b:
                continue
            out[a, b] = sum(np.log((len(every) + 1) / (sum(k in s for s in every) + 1)) for k in qa & db)
    return out


def test_votes_are_the_idf_of_the_buckets_both_covers_hold():
    """Against the definition, within one set and across two: buckets held by one cover alone (most of them) and
    buckets held by a single cover on each side both count where they should, and only there."""
    from tiktok_top10.dedup.votes import vote_matrix

    rng = np.random.default_rng(16)
    sets = [rng.integers(0, 256, (40, 32), dtype=np.uint8) for _ in range(6)]
    sets[1][:12] = sets[0][:12]  # covers 0 and 1 share 12 corners: buckets held by exactly two covers
    sets[2][:5] = sets[0][20:25]
    sets[3][:3] = sets[1][30:33]
    sets[3][:3, 0] ^= np.uint8(1)  # one bit apart: the buckets of the tables that did not draw it shared
    sets[4][:8] = sets[3][10:18]
    sets[5] = sets[5][:0]  # no keypoints
    looks = [((np.zeros((len(s), 2), np.float32), s),) for s in sets]

    within = vote_matrix(looks).toarray()
    expected = _reference_votes(sets, sets, within=True)
    assert np.allclose(within, expected, rtol=1e-5, atol=1e-6)
    assert within[0, 1] > 0 and within[0, 2] > 0 and within[3, 4] > 0 and within[1, 3] > 0
    assert within[0, 3] == 0 and not within[5].any()

    across = vote_matrix(looks[:3], looks[3:]).toarray()
    assert np.allclose(across, _reference_votes(sets[:3], sets[3:], within=False), rtol=1e-5, atol=1e-6)
    assert across[1, 0] > 0 and across[0, 0] == 0 and not across[:, 2].any()


def test_a_failure_to_count_the_votes_is_raised_even_when_no_pair_needed_them(monkeypatch):
    """The votes are counted on another thread while the products run: an error there must not vanish because the
    regions left no pair to the votes (two identical covers: a global pair, nothing undecided)."""
    from tiktok_top10.dedup import grouping, votes

    def broken(*_args):
        raise RuntimeError("vote counting failed")

    monkeypatch.setattr(votes, "vote_matrix", broken)
    rng = np.random.default_rng(5)
    globals_ = np.repeat(rng.normal(size=(1, 64)).astype(np.float32), 2, axis=0)
    regions = np.repeat(globals_[:, None, :], 5, axis=1)
    robust = grouping.CropRobust(region_threshold=0.9, vote_floor=0.99, contained_min_agreement=0.6)
    looks = [((np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)),) * 2 + (np.zeros((8, 8), np.uint8),)] * 2
    with pytest.raises(RuntimeError, match="vote counting failed"):
        grouping.crop_robust_candidates(robust, globals_, regions, 0.9, looks)
    monkeypatch.undo()
    pairs = grouping.crop_robust_candidates(robust, globals_, regions, 0.9, looks)
    assert (pairs.i.tolist(), pairs.j.tolist(), pairs.voted.tolist()) == ([0], [1], [False])
