"""Grouping fingerprints into videos: which pairs are the same video, and which item of a group is kept.

Pairs come from tiled matrix products (no Python pair loops) that act as a filter; every candidate a tile lets
through is rescored exactly in fp32, so a product only has to never drop a pair at or above the threshold.

Small sets filter on the exact fp32 products, cross-set comparisons on bf16 ones where the CPU has bf16 natively
(with the margin below).  Large sets filter on a cheaper product: the top ``k`` principal directions ``V`` of a
sample plus one coordinate for what they miss.  With ``Pa = Vᵀa`` and residual ``Ra = a − V·Pa`` (orthogonal to
``V``), ``cos(a, b) = <Pa, Pb> + <Ra, Rb> ≤ <Pa, Pb> + |Ra|·|Rb|`` (Cauchy–Schwarz), and ``[Pa, |Ra|]·[Pb, |Rb|]``
is that bound as a single dot product.  It holds for any orthonormal ``V`` and any ``k`` — the sample only decides
how tight it is — so ``k`` is picked by cost: the product's price per pair against the rescoring of the candidates
the bound lets through on sample pairs.  The bound's products run in bf16 where the CPU has it natively (fp32
elsewhere) with a margin that covers bf16's rounding (``BF16_MARGIN``).

The heavy loops run on ``torch.get_num_threads()`` Python threads, each with single-threaded torch ops, rather
than as many small OpenMP regions: on a shared 2-core machine a region waits for its slowest, possibly
descheduled, thread, and the many small regions of a tile's filter (or of LAPACK) then cost many times their work.

Pairs at or above the threshold may then pass a second, verifying look (``verify``) before they are joined into
groups (connected components).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from .images import DescriptorInput

BLOCK = 4096  # tile side: big enough to keep the products compute-bound, few enough tiles to keep Python idle
SEGMENT = 128  # a tile's rows are scanned as segments of this many columns: maxima first, values only where hit
PROJECT_DIM = 255  # the largest projection tried (k + 1 = 256 columns)
PROJECT_DIMS = (31, 63, 95, 127, 159, 191, 255)  # k + 1 a multiple of 32, which the bf16 kernels like
PROJECT_ABOVE = 4_000  # below this many rows the exact fp32 products are cheap enough
SAMPLE = 4_096  # at most this many rows fit the projection, as many others (two halves) probe its candidate rate
# bf16 inputs (8-bit mantissa) move a dot product of unit-norm rows by ≤ 2·2⁻⁹ + 2⁻¹⁸ and the bf16 output by
# ≤ 2⁻⁹ more; fp32 accumulation (~K·2⁻²⁴) and a basis orthonormal only to fp32 precision add ~1e-5: < 0.006 in all
BF16_MARGIN = 0.008
# cost model in seconds (2-core AVX-512; only the ratios steer k): a bf16 tile entry costs about ENTRY_COST +
# K·MAC_COST, rescoring a candidate about RESCORE_COST per input dimension (one fp32 row read from memory)
ENTRY_COST, MAC_COST, RESCORE_COST = 1.5e-10, 5.0e-12, 2.7e-10


@dataclass
class Pairs:
    """Index pairs ``i < j`` with their exact cosine similarity, sorted by ``(i, j)``.  ``voted``: which of them
    only the keypoint votes found (``region_candidates(weak=...)``); None when none were."""

    i: np.ndarray
    j: np.ndarray
    similarity: np.ndarray
    voted: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.i)

    def select(self, mask: np.ndarray) -> Pairs:
        return Pairs(self.i[mask], self.j[mask], self.similarity[mask],
                     None if self.voted is None else self.voted[mask])


@contextmanager
def _single_threaded_torch():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield threads
    finally:
        torch.set_num_threads(threads)


def _run(tasks: list[Callable[[], object]]) -> list:
    """The tasks' results, in order, computed on ``torch.get_num_threads()`` threads (torch ops release the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    import torch

    with _single_threaded_torch() as threads:
        if threads <= 1 or len(tasks) <= 1:
            return [task() for task in tasks]
        # OpenMP's thread count is per calling thread: each worker sets its own
        with ThreadPoolExecutor(min(threads, len(tasks)), initializer=torch.set_num_threads, initargs=(1,)) as pool:
            return list(pool.map(lambda task: task(), tasks))


def _chunks(n: int, size: int) -> list[tuple[int, int]]:
    return [(s, min(s + size, n)) for s in range(0, n, size)]


def _unit(x: np.ndarray):
    import torch

    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    norms = torch.empty(t.shape[0], 1)
    out = torch.empty_like(t)

    def normalise(s, e):
        torch.linalg.vector_norm(t[s:e], dim=1, keepdim=True, out=norms[s:e])
        torch.div(t[s:e], norms[s:e], out=out[s:e])

    _run([lambda s=s, e=e: normalise(s, e) for s, e in _chunks(t.shape[0], 8192)])
    if bool((norms == 0).any()) or not bool(torch.isfinite(norms).all()):
        raise ValueError("fingerprints must be finite and non-zero")
    return out


def similar_pairs(fingerprints: np.ndarray, threshold: float, others: np.ndarray | None = None,
                  block: int = BLOCK) -> Pairs:
    """Pairs with cosine ≥ ``threshold``: within ``fingerprints`` (i < j), or between it and ``others``
    (then ``i`` indexes ``fingerprints`` and ``j`` indexes ``others``)."""
    import torch

    a = _unit(fingerprints)
    b = a if others is None else _unit(others)
    n, m = a.shape[0], b.shape[0]
    if n == 0 or m == 0:
        return Pairs(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
    block = -(-block // SEGMENT) * SEGMENT
    if others is None and n > PROJECT_ABOVE and threshold - BF16_MARGIN > 0:
        ii, jj = _projected_candidates(a, threshold, block)
    elif others is not None and threshold - BF16_MARGIN > 0 and bound_dtype() != torch.float32:
        # a cross search (a day against history, covers against regions: up to tens of millions of entries) filters
        # on the bf16 product with the bf16 margin, as the projected bound does; the rescoring below is exact
        dtype = bound_dtype()
        ii, jj = _tile_candidates(a.to(dtype), b.to(dtype), threshold - BF16_MARGIN, block, triangle=False)
    else:
        # a small slack: the exact rescoring decides; this only must not lose pairs to rounding
        ii, jj = _tile_candidates(a, b, threshold - 1e-5, block, triangle=others is None)
    sims = _rescore(a, b, ii, jj)
    keep = sims >= threshold
    return Pairs(ii[keep], jj[keep], sims[keep])


def _rescore(a, b, ii: np.ndarray, jj: np.ndarray) -> np.ndarray:
    """Exact fp32 cosines of pairs sorted by ``(i, j)``: a sampled product reads each row once per pair and
    gathers no copies."""
    import torch

    def score(s, e):
        r0, r1 = int(ii[s]), int(ii[e - 1]) + 1
        crow = torch.from_numpy(np.searchsorted(ii[s:e], np.arange(r0, r1 + 1)).astype(np.int64))
        pattern = torch.sparse_csr_tensor(crow, torch.from_numpy(jj[s:e]), torch.zeros(e - s),
                                          size=(r1 - r0, b.shape[0]), check_invariants=False)
        return torch.sparse.sampled_addmm(pattern, a[r0:r1], b.T, beta=0.0).values().numpy()

    if len(ii) == 0:
        return np.zeros(0, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta state"
        return np.concatenate(_run([lambda s=s, e=e: score(s, e) for s, e in _chunks(len(ii), 1 << 17)]))


def _tile_candidates(rows, cols, cut: float, block: int, triangle: bool) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)`` with ``rows[i]·cols[j] ≥ cut`` (``j > i`` when ``triangle``), sorted by ``(i, j)``.

    A tile's product goes into a reused buffer that is read once for its segment maxima; only the few segments
    reaching ``cut`` are looked at value by value, so no per-entry mask is ever written."""
    import torch

    n, m = rows.shape[0], cols.shape[0]
    pad = -m % SEGMENT
    if pad:  # whole segments in every tile; hits in the padding columns are dropped below
        cols = torch.cat([cols, torch.zeros(pad, cols.shape[1], dtype=cols.dtype)])
    as_int = cut > 0  # positive floats order like their bit patterns, and integer maxima are much cheaper
    key_dtype = torch.int16 if rows.dtype == torch.bfloat16 else torch.int32
    if as_int:
        key_cut = torch.tensor(cut, dtype=rows.dtype).view(key_dtype).item()
        if torch.tensor(key_cut, dtype=key_dtype).view(rows.dtype).item() > cut:
            key_cut -= 1  # the cut rounded to the tile's precision must not sit above the real cut
    elif rows.dtype == torch.bfloat16:
        raise ValueError("bf16 tiles need a positive cut")
    else:
        key_cut = cut
    buffers = threading.local()

    def row_block(r0: int) -> tuple[np.ndarray, np.ndarray]:
        r1 = min(r0 + block, n)
        if not hasattr(buffers, "tile"):
            buffers.tile = torch.empty(block * block, dtype=rows.dtype)
        out_i, out_j = [], []
        for c0 in range(r0 if triangle else 0, m + pad, block):
            c1 = min(c0 + block, m + pad)
            h, w = r1 - r0, c1 - c0
            tile = torch.mm(rows[r0:r1], cols[c0:c1].T, out=buffers.tile[: h * w].view(h, w))
            key = (tile.view(key_dtype) if as_int else tile).view(-1, SEGMENT)  # row-major: w // SEGMENT per row
            segs = (key.amax(1) >= key_cut).nonzero().squeeze(1)
            if len(segs) == 0:
                continue
            hit, col = (torch.index_select(key, 0, segs) >= key_cut).nonzero(as_tuple=True)
            seg_r, seg_s = np.divmod(segs[hit].numpy(), w // SEGMENT)
            i = seg_r + r0
            j = seg_s * SEGMENT + col.numpy() + c0
            keep = (j < m) & (j > i) if triangle else j < m
            out_i.append(i[keep])
            out_j.append(j[keep])
        if not out_i:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        i, j = np.concatenate(out_i), np.concatenate(out_j)
        order = np.argsort(i, kind="stable")  # tiles come in column order, each sorted by (i, j)
        return i[order], j[order]

    # row blocks in order, handed out as workers free up: the triangle's longest rows go first
    found = _run([lambda r0=r0: row_block(r0) for r0 in range(0, n, block)])
    return (np.concatenate([f[0] for f in found]).astype(np.int64),
            np.concatenate([f[1] for f in found]).astype(np.int64))


def _principal_basis(fit, q: int):
    """``q`` orthonormal directions of most energy in the (uncentred: the shared mean is worth capturing)
    sample, by subspace iteration; orthonormal to fp32 precision (QR), which is all the bound needs."""
    import torch

    with torch.random.fork_rng(devices=[]):  # a fixed start, and the caller's RNG left alone
        torch.manual_seed(0)
        basis = torch.randn(fit.shape[1], q)
    for _ in range(2):  # the bound is exact whatever the basis: two power steps make it tight enough
        with _single_threaded_torch():  # LAPACK's many small OpenMP regions stall on a busy machine
            basis = torch.linalg.qr(basis).Q
        basis = fit.T @ (fit @ basis)
    with _single_threaded_torch():
        basis = torch.linalg.qr(basis).Q
    scores = fit @ basis
    with _single_threaded_torch():
        _, rot = torch.linalg.eigh((scores.T @ scores).double())  # Rayleigh–Ritz: order by energy
        return torch.linalg.qr(basis @ rot.flip(1).float()).Q


def _projected_candidates(a, threshold: float, block: int) -> tuple[np.ndarray, np.ndarray]:
    import torch

    n, dim = a.shape
    cut = threshold - BF16_MARGIN
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        perm = torch.randperm(n)
    size = min(SAMPLE, max(1024, n // 16))  # small sets have little product work to save
    fit = a[perm[:size]]
    probe = a[perm[-size:]]  # other rows (the same ones, for small sets): no fitting bias in the estimate
    top = min(PROJECT_DIM, dim - 1, fit.shape[0])
    v = _principal_basis(fit, min(top + 16, dim))
    probe_a, probe_b = probe[0::2], probe[1::2]
    pa, pb = probe_a @ v[:, :top], probe_b @ v[:, :top]
    entries = n * (n + block) / 2
    per_candidate = entries / (probe_a.shape[0] * probe_b.shape[0]) * dim * RESCORE_COST

    def cost(width: int, hits: int) -> float:
        return entries * (ENTRY_COST + width * MAC_COST) + (hits + 1) * per_candidate

    def passed(k: int) -> int:  # probe pairs the k-dimensional bound lets through
        bound = torch.outer(_residual(pa[:, :k]), _residual(pb[:, :k]))
        return int((bound.addmm_(pa[:, :k], pb[:, :k].T) >= cut).sum())

    ks = sorted({k for k in PROJECT_DIMS if k < top} | {top})
    options = {k: cost(k + 1, hits) for k, hits in zip(ks, _run([lambda k=k: passed(k) for k in ks]), strict=True)}
    best_k = min(options, key=options.get)
    # the full-dimension bf16 product when no projection is tight enough to pay for itself
    dtype = bound_dtype()
    if cost(dim, 0) < options[best_k] and cost(dim, int((probe_a @ probe_b.T >= cut).sum())) < options[best_k]:
        aug = a.to(dtype)
    else:
        basis = v[:, :best_k].contiguous()
        aug = torch.empty(n, best_k + 1, dtype=dtype)

        def project(s, e):
            proj = a[s:e] @ basis
            # the residual norm as one more coordinate: one product gives <Pa, Pb> + |Ra|·|Rb|, the bound itself
            aug[s:e, :best_k] = proj
            aug[s:e, best_k] = _residual(proj)

        _run([lambda s=s, e=e: project(s, e) for s, e in _chunks(n, 8192)])
    return _tile_candidates(aug, aug, cut, block, triangle=True)


def bound_dtype():
    """bf16 for the bound's products where the CPU multiplies bf16 natively (AVX512-BF16, AMX), else fp32: an
    emulated bf16 product is several times slower than fp32 (``make bench``, grouping rows).  The margin is the
    bf16 one either way; in fp32 it only lets a few more candidates through to the exact rescoring."""
    import torch

    from .fingerprint import cpu_has_native_bf16

    return torch.bfloat16 if cpu_has_native_bf16() else torch.float32


def _residual(proj):
    """|Ra| = sqrt(1 − |Pa|²) for unit rows, rounded up: +1e-5 covers fp32 error in |a|² and |Pa|² (~1e-6)."""
    import torch

    return torch.sqrt(torch.clamp(1.0 - (proj * proj).sum(1), min=0.0) + 1e-5)


# Regional candidates (``region_candidates``): a cover's whole descriptors (its global one and its three views)
# against every regional descriptor of the other cover, both ways, at the regional cosine ``make calibrate`` derives
# on the harder set's calibration split (calibration.json's ``crop_robust``; models/README.md).
# What regions add, bounded per cover (region_candidates(per_cover=...)): on a demo day (704 covers cut from a
# few stock photos) the regions at 0.70 add ~12,000 pairs to ~1,300, ten times the second look's work; each
# cover's best match keeps ~600 of them, its best 2 ~1,100, at the same recall on the harder set
# (make bench-dedup-regions, make eval-dedup-hard EVAL_HARD_ARGS="--per-cover 1 2").
REGION_PER_COVER = 1
# Below the regional threshold down to the vote floor (calibrated too) a regional cosine alone says little
# (unrelated covers lie there too), but a tiny recoloured thumbnail of a corner of the frame under a meme caption
# lies there as well: such a pair is a candidate when it is the best of either cover by shared keypoints
# (votes.py), VOTES_PER_COVER of them.  Distinct covers under one identical caption band share the most keypoints
# of all, at low regional cosines, which is what the floor keeps out.  Two, not one: the more covers a set has,
# the more often an unrelated cover outvotes a re-upload for its original's best.  The floor is calibrated under
# this bound (calibration.json's crop_robust_rule.bounds).  With 1, make calibrate took the int8 floor 0.56 and the
# whole harder set (twice the covers of the split it was chosen on, still fewer than a day's 700) kept recall
# 0.949; with 2 it took 0.58 and the whole set gave 0.953 (make eval-dedup-hard), the calibration split 0.966
# either way.  Chosen after that look at the whole set, of which the held-out split is half (models/README.md).
# The voted pairs get the ORB look only, the cheapest (verify.pair_scores); make bench-dedup-regions measures it.
VOTES_PER_COVER = 2
WHOLE_REGIONS = 3  # the first regional descriptors of a cover are its views whole (fingerprint.region_descriptors)


@dataclass(frozen=True)
class CropRobust:
    """The crop-robust dedup (issue 16), opt-in (models/README.md says why it is not the default yet): the stage
    uses it when ``Settings.dedup_crop_robust`` (``TIKTOK_TOP10_DEDUP_CROP_ROBUST=1``), with the values ``make
    calibrate`` derived for the backbone's weights (``CropRobust.calibrated``).

    Fingerprint with regional descriptors (``Fingerprinter(regions=True)``) of ``descriptor_input`` and take
    candidates from ``region_candidates`` at ``region_threshold``, what the regions add bounded to each cover's
    best ``per_cover``, and below that down to ``vote_floor`` each cover's best ``votes_per_cover`` by shared
    keypoints (``votes.py``); the second look also accepts a cover lying inside the other or overlapping it in a
    real part of both when at least ``contained_min_agreement`` of the overlap's cells agree
    (``verify.agreement(contained=...)``), which heavy crops and meme frames need; ``sift_look``: a pair ORB could
    not verify gets a SIFT look (``verify.SiftLook``)."""

    region_threshold: float
    vote_floor: float
    contained_min_agreement: float
    per_cover: int = REGION_PER_COVER  # 0: every regional pair
    sift_look: bool = True  # verify.SiftLook after a failed ORB look (thumbnails, flat pictures under a band)
    votes_per_cover: int = VOTES_PER_COVER  # 0: no candidates by keypoint votes (region_candidates(weak=...))
    descriptor_input: DescriptorInput = field(default_factory=DescriptorInput)

    @classmethod
    def calibrated(cls, backbone: str, weights_sha256: str | None = None, precision: str | None = None, path=None,
                   **fields) -> CropRobust:
        """The rule with the values ``make calibrate`` derived for ``backbone``'s weights at ``precision``
        (``fields`` replace any); ``calibration.CalibrationMissing`` when it has none."""
        from .calibration import crop_robust_limits

        return cls(**(crop_robust_limits(backbone, weights_sha256, path, precision) | fields))


def crop_robust_candidates(robust: CropRobust, globals_: np.ndarray, regions: np.ndarray, threshold: float,
                           looks: list, others: tuple | None = None) -> Pairs:
    """The crop-robust rule's candidate pairs, the one way the stage, its evaluation and its benchmark take them:
    ``region_candidates`` at ``robust``'s region threshold and per-cover bound and, when ``votes_per_cover`` > 0,
    the keypoint votes of ``looks`` (``votes.vote_matrix``) for the pairs the regions leave undecided.
    ``others``: (globals, regions, looks) of the covers searched against."""
    from concurrent.futures import ThreadPoolExecutor

    from .votes import vote_matrix, votes_at

    other_globals, other_regions, other_looks = (None, None, None) if others is None else others
    with ThreadPoolExecutor(1) as pool:
        # the votes need no cosine: they are counted on a thread of their own while the global and regional
        # products run (their sorts and sparse product use one core)
        votes = pool.submit(vote_matrix, looks, other_looks) if robust.votes_per_cover > 0 else None
        pairs = region_candidates(globals_, regions, threshold, robust.region_threshold, other_globals,
                                  other_regions, per_cover=robust.per_cover, weak_floor=robust.vote_floor,
                                  weak=None if votes is None else lambda i, j: votes_at(votes.result(), i, j),
                                  weak_per_cover=robust.votes_per_cover)
        if votes is not None:
            votes.result()  # a failure to count them is raised even when no pair was left to them
        return pairs


def region_candidates(globals_: np.ndarray, regions: np.ndarray, threshold: float, region_threshold: float,
                      others_globals: np.ndarray | None = None, others_regions: np.ndarray | None = None,
                      block: int = BLOCK, per_cover: int = 0, weak_floor: float = 0.0,
                      weak: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None, weak_per_cover: int = 1
                      ) -> Pairs:
    """Candidate pairs for the second look: the global pairs (cosine ≥ ``threshold``) and the pairs where one
    cover, whole, is close (≥ ``region_threshold``) to a region of the other: a crop, whatever part of the frame
    it kept, matches the window of the original's feature map it shows.  ``regions`` is (N, R, D) as
    ``fingerprint.region_descriptors`` makes them.  Within the set (i < j), or between it and ``others_*``
    (``i`` indexes this set, ``j`` the others).  All by blocked matrix products, no pair loop: the global pairs
    by ``similar_pairs``, the regional ones by whole descriptors (N·(1+WHOLE_REGIONS) rows) against regions
    (N·R rows), each block reduced to its cover pairs' best (``_best_regional``); ``similarity`` is the pair's
    global cosine, as for ``similar_pairs``.

    ``per_cover`` > 0 bounds what the regions add: a pair found only by its regions is kept when it is among the
    ``per_cover`` best regional matches (by their best regional cosine) of either of its covers (within one set,
    among all of a cover's partners; across sets, among its partners in the other set).  Covers cut from
    the same pictures (a day of template covers, the demo's stock photos) match each other's regions by the
    hundred, and each candidate costs a second look; a re-upload is almost always among its original's best.

    ``weak`` (with ``weak_floor`` < ``region_threshold``): the pairs whose best regional cosine is at least
    ``weak_floor`` and that are not candidates yet are scored by ``weak(i, j)`` (an array of scores, 0 for
    none: keypoint votes, ``votes.py``), and each cover's ``weak_per_cover`` best by that score join."""
    cross = others_globals is not None
    b_glob = others_globals if cross else globals_
    b_reg = others_regions if cross else regions
    n, m = len(globals_), len(b_glob)
    width = max(n, m, 1)
    base = similar_pairs(globals_, threshold, others=b_glob if cross else None, block=block)
    floor = min(region_threshold, weak_floor) if weak else region_threshold
    i, j, score = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    if n and m:
        i, j, score = _best_regional(_whole(globals_, regions), b_reg, floor)
        if cross:  # and the other way: the other set's whole covers against this set's regions
            back_j, back_i, back_score = _best_regional(_whole(b_glob, b_reg), regions, floor)
            i, j, score = np.r_[i, back_i], np.r_[j, back_j], np.r_[score, back_score]
        # within one set, both directions are the same search: (a, b) and (b, a) are both found
    if not cross:
        keep = i != j
        i, j, score = np.minimum(i[keep], j[keep]), np.maximum(i[keep], j[keep]), score[keep]
    strong = score >= region_threshold
    # the weak pairs are ranked by ``weak``, not by their cosine: their distinct keys are all that is needed
    weak_key = np.unique((i * width + j)[~strong])
    key, score = _best_per_key((i * width + j)[strong], score[strong])
    regional_only = ~np.isin(key, base.i * width + base.j)
    if per_cover > 0:
        ri, rj = key[regional_only] // width, key[regional_only] % width
        near = _near(ri, rj, score[regional_only], per_cover, cross)
        dropped = np.flatnonzero(regional_only)[~near]
        weak_key = np.r_[weak_key, key[dropped]]  # beyond the bound: a weak pair, which votes may still pick
        regional_only[dropped] = False
    kept = np.union1d(base.i * width + base.j, key[regional_only])
    if weak is not None and len(weak_key):
        weak_key = np.setdiff1d(weak_key, kept)
        wi, wj = weak_key // width, weak_key % width
        votes = np.asarray(weak(wi, wj), np.float32)
        scored = votes > 0
        wi, wj, votes = wi[scored], wj[scored], votes[scored]
        voted_key = (wi * width + wj)[_near(wi, wj, votes, weak_per_cover, cross)]
    else:
        voted_key = np.zeros(0, np.int64)
    key = np.union1d(kept, voted_key)
    if len(key) == 0:
        return Pairs(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
    i, j = key // width, key % width
    a, b = np.asarray(globals_, np.float32), np.asarray(b_glob, np.float32)
    sims = np.einsum("kd,kd->k", a[i], b[j]) / (np.linalg.norm(a[i], axis=1) * np.linalg.norm(b[j], axis=1))
    return Pairs(i, j, sims.astype(np.float32), None if weak is None else np.isin(key, voted_key))


def _near(i: np.ndarray, j: np.ndarray, score: np.ndarray, per_cover: int, cross: bool) -> np.ndarray:
    """Which pairs are among the ``per_cover`` best by ``score`` of either of their covers: within one set a cover
    ranks all its partners, whichever side of i < j it is on; across sets each side ranks its partners."""
    if cross:
        return (_rank_within(i, score) < per_cover) | (_rank_within(j, score) < per_cover)
    rank = _rank_within(np.concatenate([i, j]), np.concatenate([score, score]))
    return (rank[:len(i)] < per_cover) | (rank[len(i):] < per_cover)


def _best_per_key(key: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys, sorted, with the highest score each had."""
    if len(key) == 0:
        return key, score
    order = np.lexsort((-score, key))
    key, score = key[order], score[order]
    first = np.r_[True, key[1:] != key[:-1]]
    return key[first], score[first]


def _rank_within(owner: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Each entry's rank (0 = best score, ties by position) among the entries of the same owner."""
    if len(owner) == 0:
        return np.zeros(0, np.int64)
    order = np.lexsort((np.arange(len(owner)), -score, owner))
    sorted_owner = owner[order]
    starts = np.flatnonzero(np.r_[True, sorted_owner[1:] != sorted_owner[:-1]])
    ranks = np.arange(len(owner)) - np.repeat(starts, np.diff(np.r_[starts, len(owner)]))
    out = np.empty(len(owner), np.int64)
    out[order] = ranks
    return out


def _whole(globals_: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Each cover's whole descriptors, (N, 1+WHOLE_REGIONS, D): its global one and its views whole."""
    g = np.asarray(globals_, np.float32)[:, None, :]
    return np.concatenate([g, np.asarray(regions[:, :WHOLE_REGIONS], np.float32)], axis=1)


REGIONAL_BLOCK = 1 << 22  # product entries per block of query covers (16 MiB of fp32)


def _best_regional(whole: np.ndarray, regions: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray,
                                                                                     np.ndarray]:
    """(a, b, cosine) of the cover pairs where a whole descriptor of cover ``a`` (``whole``: (N, W, D)) is at
    least ``floor`` close to a region of cover ``b`` (``regions``: (M, R, D)): the best such cosine of the
    pair.  Blocks of query covers times all regions, fp32, each reduced to its covers' best at once: the
    pairs are counted by cover pair, and no descriptor pair is rescored on its own (many descriptor pairs of
    one cover pair reach the threshold together)."""
    n, w, dim = whole.shape
    m, r, _ = regions.shape
    queries = _unit(whole.reshape(-1, dim))
    database = _unit(np.asarray(regions, np.float32).reshape(-1, dim))
    per_block = max(1, REGIONAL_BLOCK // (w * m * r))

    def block(s: int, e: int):
        best = (queries[s * w:e * w] @ database.T).view(e - s, w, m, r).amax(dim=(1, 3))
        a, b = (best >= floor).nonzero(as_tuple=True)
        return (a + s).numpy(), b.numpy(), best[a, b].numpy()

    found = _run([lambda s=s, e=e: block(s, e) for s, e in _chunks(n, per_block)])
    return (np.concatenate([f[0] for f in found]).astype(np.int64),
            np.concatenate([f[1] for f in found]).astype(np.int64),
            np.concatenate([f[2] for f in found]).astype(np.float32))


def connected_groups(n: int, pairs: Pairs) -> list[list[int]]:
    """Groups (≥ 2 members, each sorted) of the graph the pairs draw, ordered by their first member."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if n == 0 or len(pairs) == 0:
        return []
    graph = coo_matrix((np.ones(len(pairs), np.int8), (pairs.i, pairs.j)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    groups = [g.tolist() for g in np.split(order, bounds) if len(g) >= 2]
    return sorted(groups, key=lambda g: g[0])


def group_duplicates(fingerprints: np.ndarray, threshold: float,
                     verify: Callable[[Pairs], np.ndarray] | None = None) -> tuple[list[list[int]], Pairs]:
    """Groups of indices judged the same video, and the pairs that joined them.

    ``verify(pairs) -> bool mask`` is the second look at pairs above the threshold; pairs it rejects do not join.
    """
    pairs = similar_pairs(fingerprints, threshold)
    if verify is not None and len(pairs):
        pairs = pairs.select(np.asarray(verify(pairs), dtype=bool))
    return connected_groups(len(fingerprints), pairs), pairs


def keep_order(items: Sequence[dict], categories: Sequence[str]) -> list[int]:
    """Indices of ``items`` best first by the contract's keep rule:
    ``(-views, -likes, CATEGORIES.index(category), int(id))``."""
    rank = {c: i for i, c in enumerate(categories)}
    return sorted(range(len(items)), key=lambda k: (-int(items[k]["views"]), -int(items[k]["likes"]),
                                                     rank.get(items[k]["category"], len(rank)), int(items[k]["id"])))
