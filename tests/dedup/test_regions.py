"""Regional descriptors (``Fingerprinter(regions=True)``), the regional candidate search and their memory files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from dedup_covers import make_cover


def test_region_descriptors_are_gem_of_their_windows():
    import torch
    import torch.nn.functional as F

    from tiktok_top10.dedup.fingerprint import GEM_P, REGION_WINDOWS, n_regions, region_descriptors

    gen = torch.Generator().manual_seed(3)
    fmap = torch.rand(2 * 3, 16, 7, 7, generator=gen)  # 2 covers x (center, full, zoom)
    powered = fmap.pow(GEM_P)
    pooled = powered.mean((2, 3)).pow(1 / GEM_P).view(2, 3, -1)
    regions = region_descriptors(powered, pooled)
    assert regions.shape == (2, n_regions(), 16)
    assert torch.allclose(regions.norm(dim=2), torch.ones(2, n_regions()), atol=1e-5)
    assert torch.allclose(regions[:, :3], F.normalize(pooled, dim=2), atol=1e-6)  # the views whole come first
    # the first window of the first spec, computed by hand: GeM over the top-left side x side cells of that view
    view, side, _ = REGION_WINDOWS[0]
    v = {"center": 0, "full": 1, "zoom": 2}[view]
    by_hand = fmap[1 * 3 + v, :, :side, :side].pow(GEM_P).mean((1, 2)).pow(1 / GEM_P)
    assert torch.allclose(regions[1, 3], F.normalize(by_hand, dim=0), atol=1e-5)


def test_regions_option_leaves_the_global_descriptor_alone(cover_dir):
    from tiktok_top10.dedup.fingerprint import REGION_DTYPE, Fingerprinter, n_regions

    paths = sorted(cover_dir.glob("*.jpg")) + [cover_dir / "bad" / "empty.jpg"]
    plain = Fingerprinter("efficientnet-lite0", models_dir=Path("/nonexistent"), threads=1).fingerprint(paths)
    with_regions = Fingerprinter("efficientnet-lite0", models_dir=Path("/nonexistent"), threads=2, batch_size=3,
                                 regions=True).fingerprint(paths)
    assert plain.regions is None
    assert with_regions.paths == plain.paths and len(with_regions.skipped) == 1
    assert (with_regions.globals * plain.globals).sum(1).min() > 0.999
    regions = with_regions.regions
    assert regions.dtype == REGION_DTYPE and regions.shape == (len(plain.paths), n_regions(), plain.globals.shape[1])
    assert np.allclose(np.linalg.norm(regions.astype(np.float32), axis=2), 1.0, atol=2e-3)


def test_an_offcentre_heavy_crop_is_a_regional_candidate_only(tmp_path):
    """A 60 % x 60 % crop of a cover's corner is far from the cover globally, but matches one of its regions."""
    from tiktok_top10.dedup.fingerprint import Fingerprinter
    from tiktok_top10.dedup.grouping import region_candidates, similar_pairs

    names = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle")
    for name in names:
        make_cover(name).save(tmp_path / f"{name}.jpg", quality=90)
    cover = make_cover("coffee")
    w, h = cover.size
    cover.crop((w - round(0.6 * w), 0, w, round(0.6 * h))).save(tmp_path / "crop.jpg", quality=80)
    paths = [tmp_path / f"{n}.jpg" for n in names] + [tmp_path / "crop.jpg"]
    fingerprinter = Fingerprinter("efficientnet-lite0", models_dir=Path("/nonexistent"), threads=2, regions=True)
    fps = fingerprinter.fingerprint(paths)
    crop, original = len(names), names.index("coffee")
    g = float(fps.globals[crop] @ fps.globals[original])
    plain = similar_pairs(fps.globals, g + 0.01)
    found = region_candidates(fps.globals, fps.regions, threshold=g + 0.01, region_threshold=g + 0.01)
    assert (original, crop) not in set(zip(plain.i.tolist(), plain.j.tolist(), strict=True))
    assert (original, crop) in set(zip(found.i.tolist(), found.j.tolist(), strict=True))
    at = list(zip(found.i.tolist(), found.j.tolist(), strict=True)).index((original, crop))
    assert found.similarity[at] == pytest.approx(g, abs=1e-5)


def test_region_candidates_within_and_across_sets():
    from tiktok_top10.dedup.grouping import WHOLE_REGIONS, region_candidates

    rng = np.random.default_rng(0)
    dim, n_reg = 32, 6

    def unit(x):
        return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)

    globals_ = unit(rng.normal(size=(5, dim)))
    regions = unit(rng.normal(size=(5, n_reg, dim)))
    regions[:, 0] = globals_  # a view whole, like the real layout
    regions[3, WHOLE_REGIONS + 1] = globals_[1]  # cover 1, whole, is a region (a window) of cover 3
    found = region_candidates(globals_, regions, threshold=0.95, region_threshold=0.95)
    assert list(zip(found.i.tolist(), found.j.tolist(), strict=True)) == [(1, 3)]
    assert found.similarity[0] == pytest.approx(float(globals_[1] @ globals_[3]), abs=1e-5)
    # across sets: (this set's index, the others' index), both directions of containment
    others_g = unit(rng.normal(size=(3, dim)))
    others_r = unit(rng.normal(size=(3, n_reg, dim)))
    others_r[:, 0] = others_g
    others_r[2, WHOLE_REGIONS] = globals_[4]  # this set's cover 4 is inside the others' cover 2
    regions[0, WHOLE_REGIONS + 2] = others_g[1]  # the others' cover 1 is inside this set's cover 0
    found = region_candidates(globals_, regions, 0.95, 0.95, others_globals=others_g, others_regions=others_r)
    assert list(zip(found.i.tolist(), found.j.tolist(), strict=True)) == [(0, 1), (4, 2)]
    empty = region_candidates(globals_[:0], regions[:0], 0.95, 0.95)
    assert len(empty) == 0


def test_memory_keeps_regions_and_skips_old_format_days(tmp_path):
    from tiktok_top10.dedup.memory import DayFingerprints, FingerprintMemory

    rng = np.random.default_rng(1)
    look = ((rng.random((4, 2)).astype(np.float32), rng.integers(0, 255, (4, 32), dtype=np.uint8)),
            (np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)), rng.integers(0, 255, (6, 4), dtype=np.uint8))
    memory = FingerprintMemory(tmp_path, "efficientnet-lite0", "ef" * 32)
    today, yesterday = dt.date(2026, 1, 20), dt.date(2026, 1, 19)
    regions = rng.random((2, 5, 8)).astype(np.float16)
    memory.save(DayFingerprints(today, ["a/1", "a/2"], ["0" * 64, "1" * 64], rng.random((2, 8)).astype(np.float32),
                                [look, look], regions))
    # yesterday's file in the older format: no regional descriptors
    memory.save(DayFingerprints(yesterday, ["a/3"], ["2" * 64], rng.random((1, 8)).astype(np.float32), [look]))
    loaded = memory.load(today)
    assert loaded.regions.dtype == np.float16 and np.array_equal(loaded.regions, regions)
    assert memory.load(yesterday).regions is None
    assert [d.day for d in memory.recent(today)] == [today, yesterday]  # without the need, both days load
    assert [d.day for d in memory.recent(today, require_regions=True)] == [today]
    assert memory.skipped_without_regions == [yesterday]


def _regional_oracle(globals_, regions, threshold, region_threshold, per_cover, others=None, weak=None):
    """``region_candidates`` by pair loops: the reference the vectorised search must agree with.  ``weak``:
    (floor, score(i, j), per cover) of ``region_candidates(weak_floor=, weak=, weak_per_cover=)``."""
    from tiktok_top10.dedup.grouping import WHOLE_REGIONS

    def whole(g, r):
        return np.concatenate([g[None], r[:WHOLE_REGIONS]])

    og, orr = others if others is not None else (globals_, regions)
    pairs = [(i, j) for i in range(len(globals_)) for j in range(len(og)) if others is not None or i < j]
    base, regional = set(), {}
    for i, j in pairs:
        if float(globals_[i] @ og[j]) >= threshold:
            base.add((i, j))
        best = max(float((whole(globals_[i], regions[i]) @ orr[j].T).max()),
                   float((whole(og[j], orr[j]) @ regions[i].T).max()))
        if best >= min(region_threshold, weak[0] if weak else 1.0) and (i, j) not in base:
            regional[(i, j)] = best

    def best_of(scores: dict, side: int, owner: int, k: int) -> list:
        """``owner``'s best ``k`` partners: within one set a cover is on either side of a pair (i < j)."""
        mine = sorted((-s, p) for p, s in scores.items()
                      if (p[side] == owner if others is not None else owner in p))
        return [p for _, p in mine[:k]]

    strong = {p: s for p, s in regional.items() if s >= region_threshold}
    kept = base | (set(strong) if not per_cover else
                   {p for p in strong if p in best_of(strong, 0, p[0], per_cover)
                    or p in best_of(strong, 1, p[1], per_cover)})
    if weak is None:
        return kept
    _, score, k = weak
    scored = {p: score(*p) for p in regional if p not in kept}
    scored = {p: s for p, s in scored.items() if s > 0}
    return kept | {p for p in scored if p in best_of(scored, 0, p[0], k) or p in best_of(scored, 1, p[1], k)}


@pytest.mark.parametrize("per_cover", [0, 1, 2])
def test_per_cover_bound_keeps_each_covers_best_regional_pairs_and_every_global_one(per_cover):
    """Many covers cut from the same pictures: the regions add many pairs, and ``per_cover`` keeps a regional-only
    pair when it is among either cover's best; the global pairs stay whatever the bound."""
    from tiktok_top10.dedup.grouping import region_candidates, similar_pairs

    rng = np.random.default_rng(7)
    dim, n_reg, n = 16, 8, 24

    def unit(x):
        return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)

    pictures = unit(rng.normal(size=(4, dim)))  # four shared pictures, as in a day of template covers
    globals_ = unit(pictures[rng.integers(0, 4, n)] + 0.9 * rng.normal(size=(n, dim)))
    regions = unit(pictures[rng.integers(0, 4, (n, n_reg))] + 0.4 * rng.normal(size=(n, n_reg, dim)))
    regions[:, 0] = globals_
    found = region_candidates(globals_, regions, 0.8, 0.7, per_cover=per_cover)
    got = set(zip(found.i.tolist(), found.j.tolist(), strict=True))
    assert got == _regional_oracle(globals_, regions, 0.8, 0.7, per_cover)
    everything = _regional_oracle(globals_, regions, 0.8, 0.7, 0)
    plain = similar_pairs(globals_, 0.8)
    assert set(zip(plain.i.tolist(), plain.j.tolist(), strict=True)) <= got
    if per_cover:
        assert len(got) < len(everything)  # the bound binds on this set
        regional = got - set(zip(plain.i.tolist(), plain.j.tolist(), strict=True))
        # each regional pair is one of its covers' best: per_cover choices per cover at most
        assert len(regional) <= per_cover * n
    # across sets (history): the same rule, the best per cover on each side
    others_g, others_r = globals_[:9].copy(), regions[:9].copy()
    cross = region_candidates(globals_[9:], regions[9:], 0.8, 0.7, others_g, others_r, per_cover=per_cover)
    assert set(zip(cross.i.tolist(), cross.j.tolist(), strict=True)) == _regional_oracle(
        globals_[9:], regions[9:], 0.8, 0.7, per_cover, others=(others_g, others_r))


@pytest.mark.parametrize(("per_cover", "weak_per_cover"), [(1, 1), (0, 1), (1, 2)])
def test_weak_pairs_join_when_they_are_a_covers_best_by_their_own_score(per_cover, weak_per_cover):
    """Below the regional threshold down to the floor (and beyond the per-cover bound) a pair is undecided; the
    ``weak`` score (keypoint votes in the stage) picks each cover's best of those.  Pairs below the floor and pairs
    scored 0 never join; without ``weak`` nothing changes."""
    from tiktok_top10.dedup.grouping import region_candidates

    rng = np.random.default_rng(11)
    dim, n_reg, n = 16, 8, 24

    def unit(x):
        return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)

    pictures = unit(rng.normal(size=(4, dim)))
    globals_ = unit(pictures[rng.integers(0, 4, n)] + 0.9 * rng.normal(size=(n, dim)))
    regions = unit(pictures[rng.integers(0, 4, (n, n_reg))] + 0.6 * rng.normal(size=(n, n_reg, dim)))
    regions[:, 0] = globals_
    table = rng.random((n, n)).astype(np.float32) * (rng.random((n, n)) < 0.7)  # some pairs share no keypoint

    def score(i, j):
        return table[np.asarray(i), np.asarray(j)]

    args = (globals_, regions, 0.8, 0.7)
    plain = region_candidates(*args, per_cover=per_cover)
    found = region_candidates(*args, per_cover=per_cover, weak_floor=0.5, weak=score, weak_per_cover=weak_per_cover)
    got = set(zip(found.i.tolist(), found.j.tolist(), strict=True))
    assert got == _regional_oracle(*args, per_cover, weak=(0.5, lambda i, j: float(table[i, j]), weak_per_cover))
    assert set(zip(plain.i.tolist(), plain.j.tolist(), strict=True)) < got  # the weak pairs add some
    assert set(zip(plain.i.tolist(), plain.j.tolist(), strict=True)) == _regional_oracle(*args, per_cover)
    assert all(table[i, j] > 0 for i, j in got - set(zip(plain.i.tolist(), plain.j.tolist(), strict=True)))
    # the pairs only the weak score brought are marked (pair_scores gives them no SIFT look), and only those
    assert plain.voted is None
    assert voted_pairs(found) == got - set(zip(plain.i.tolist(), plain.j.tolist(), strict=True))
    assert voted_pairs(found.select(found.voted)) == voted_pairs(found)
    others_g, others_r = globals_[:9].copy(), regions[:9].copy()
    cross_args = (globals_[9:], regions[9:], 0.8, 0.7, others_g, others_r)
    cross = region_candidates(*cross_args, per_cover=per_cover, weak_floor=0.5,
                              weak=lambda i, j: score(np.asarray(i) + 9, j), weak_per_cover=weak_per_cover)
    cross_got = set(zip(cross.i.tolist(), cross.j.tolist(), strict=True))
    assert cross_got == _regional_oracle(
        globals_[9:], regions[9:], 0.8, 0.7, per_cover, others=(others_g, others_r),
        weak=(0.5, lambda i, j: float(table[i + 9, j]), weak_per_cover))
    cross_plain = region_candidates(*cross_args, per_cover=per_cover)
    assert voted_pairs(cross) == cross_got - set(zip(cross_plain.i.tolist(), cross_plain.j.tolist(), strict=True))


def voted_pairs(pairs) -> set:
    return {(i, j) for i, j, v in zip(pairs.i.tolist(), pairs.j.tolist(), pairs.voted.tolist(), strict=True) if v}
