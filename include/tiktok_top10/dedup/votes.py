"""Candidate pairs from shared keypoints: the crop-robust dedup's second source of candidates (issue 16).

A re-upload cut to a corner of the frame, shrunk to a tiny thumbnail under a meme caption and recoloured keeps
little of what a CNN descriptor sees: its cosine to the original falls to 0.5-0.7, where unrelated covers lie,
so neither the global nor the regional descriptors make it a candidate.  Yet the second look's ORB keypoints
(``verify.detect``, computed for every cover anyway) still match by the dozen.  Matching every pair's
keypoints would be a pair loop; instead each binary descriptor is hashed into ``TABLES`` buckets (each a fixed
random subset of ``BITS`` of its 256 bits: two descriptors a few bits apart, the same corner seen again, share
most buckets; unrelated ones almost never), and two covers' votes are the buckets they share, each weighted by
its rarity (idf: corners every caption has say little).  All pairs' votes are one sparse product of the cover ×
bucket incidence matrices.  ``grouping.region_candidates(weak=...)`` takes each cover's best partners by votes
among the pairs its regional cosines leave undecided; the same second look confirms or rejects them.

Measured on the harder evaluation (make eval-dedup-hard, models/README.md).
"""

from __future__ import annotations

import numpy as np

BITS = 24  # bits per bucket key: 16 lets unrelated descriptors collide, 32 loses the re-encoded thumbnails
TABLES = 16  # buckets per descriptor: 8 make which re-uploads are found depend on which bits are drawn
TABLE_BITS = int(TABLES - 1).bit_length()  # the table number's bits above a key's
SEED = 16  # which bits each table takes: fixed, so a day's votes and a rerun's are the same


def _bit_positions() -> np.ndarray:
    rng = np.random.default_rng(SEED)
    return np.stack([rng.choice(256, BITS, replace=False) for _ in range(TABLES)])  # (TABLES, BITS)


def bucket_keys(descriptors: np.ndarray) -> np.ndarray:
    """(K, TABLES) bucket keys of (K, 32) uint8 ORB descriptors; table ``t``'s keys are ``t << BITS | bits``.
    Picking and packing each table's bits is one product with powers of two (exact in fp32 below 2**24)."""
    d = np.asarray(descriptors, np.uint8).reshape(-1, 32)
    weights = np.zeros((256, TABLES), np.float32)
    for t, positions in enumerate(_bit_positions()):
        weights[positions, t] = 2.0 ** np.arange(BITS)
    keys = np.empty((len(d), TABLES), np.int64)
    for s in range(0, len(d), 65536):
        bits = np.unpackbits(d[s:s + 65536], axis=1).astype(np.float32)
        keys[s:s + 65536] = (bits @ weights).astype(np.int64)
    return keys | (np.arange(TABLES, dtype=np.int64) << BITS)


def _holdings(descriptor_sets: list[np.ndarray], others: list[np.ndarray] | None = None):
    """The distinct (bucket, side, cover) holdings of the covers' descriptors (side 1: ``others``'), sorted by
    bucket key, as (bucket column, side, cover) arrays; buckets numbered in key order.  One sort of one int64 per
    (descriptor, table) gives the holdings, their buckets' numbers and who holds each."""
    sets = list(descriptor_sets) + list(others or [])
    sizes = np.asarray([len(d) for d in sets], np.int64)
    side = np.r_[np.zeros(len(descriptor_sets), np.int64), np.ones(len(sets) - len(descriptor_sets), np.int64)]
    cover = np.r_[np.arange(len(descriptor_sets)), np.arange(len(sets) - len(descriptor_sets))].astype(np.int64)
    if not sizes.sum():
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    cover_bits = max(int(cover.max()).bit_length(), 1)
    keys = bucket_keys(np.concatenate([np.asarray(d, np.uint8).reshape(-1, 32) for d in sets]))
    holder = np.repeat(side << cover_bits | cover, sizes)[:, None]
    combined = np.sort((keys << (cover_bits + 1) | holder).reshape(-1))  # one sortable key per holding
    combined = combined[np.r_[True, combined[1:] != combined[:-1]]]
    key = combined >> (cover_bits + 1)
    column = np.cumsum(np.r_[True, key[1:] != key[:-1]]) - 1
    return column, (combined >> cover_bits) & 1, combined & ((1 << cover_bits) - 1)


def vote_matrix(looks: list, others: list | None = None):
    """Every pair of covers' votes as a sparse (N, M) matrix: rows the covers of ``looks``, columns those of
    ``others`` (or of ``looks``, the diagonal then left out).  Only the descriptors as they are vote: letting the
    mirror images vote too doubled the votes' cost and found no more of the harder set's re-uploads (make
    eval-dedup-hard); a mirrored re-upload is left to the CNN descriptors and the ORB look, which tries the
    mirror."""
    import scipy.sparse as sp

    n = len(looks)
    m = n if others is None else len(others)
    column, side, cover = _holdings([look[0][1] for look in looks],
                                    None if others is None else [look[0][1] for look in others])
    buckets = int(column[-1]) + 1 if len(column) else 0
    # a bucket half of the covers share says little; one only two share, a lot (rarity over both sets)
    seen_by = np.bincount(column, minlength=buckets)
    idf = np.log((m + (0 if others is None else n) + 1) / (seen_by + 1)).astype(np.float32)
    # a bucket votes only where both sides hold it; most hold one cover's descriptor alone, and leaving those out
    # of the product changes no vote: it only makes the product smaller
    if others is None:
        shared = seen_by[column] > 1
        q_cover, q_col = d_cover, d_col = cover[shared], column[shared]
    else:
        in_queries = np.bincount(column[side == 0], minlength=buckets) > 0
        in_database = np.bincount(column[side == 1], minlength=buckets) > 0
        q = (side == 0) & in_database[column]
        d = (side == 1) & in_queries[column]
        q_cover, q_col, d_cover, d_col = cover[q], column[q], cover[d], column[d]
    queries = sp.csr_matrix((idf[q_col], (q_cover, q_col)), shape=(n, buckets))
    # the holdings come sorted by bucket, so the database's transpose (bucket x cover) is a CSR matrix as it is:
    # no conversion of the database before the product (a fifth of the votes' time)
    bucket_starts = np.r_[0, np.cumsum(np.bincount(d_col, minlength=buckets))]
    database_t = sp.csr_matrix((np.ones(len(d_col), np.float32), d_cover, bucket_starts), shape=(buckets, m))
    votes = (queries @ database_t).tocsr()
    if others is None:  # one set: symmetric already; a cover is not its own partner
        votes.setdiag(0)
        votes.eliminate_zeros()
    return votes


def pair_votes(looks: list, i: np.ndarray, j: np.ndarray, others: list | None = None) -> np.ndarray:
    """The votes of the pairs (``looks[i]``, ``others[j]``) (``looks[j]`` without ``others``), 0 where none."""
    if len(i) == 0:
        return np.zeros(0, np.float32)
    return votes_at(vote_matrix(looks, others), i, j)


def votes_at(votes, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """The entries (``i``, ``j``) of a ``vote_matrix``, 0 where none."""
    return np.asarray(votes[np.asarray(i), np.asarray(j)], np.float32).ravel()
