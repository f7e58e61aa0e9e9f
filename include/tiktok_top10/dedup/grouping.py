"""Grouping fingerprints into videos: which pairs are the same video, and which item of a group is kept.

Pairs come from blocked matrix products (no Python pair loops).  For large sets the products run on a PCA
projection of the descriptors in bf16, and a Cauchy–Schwarz bound on what the projection dropped keeps the
candidate filter exact: ``cos(a, b) ≤ <Pa, Pb> + |Ra|·|Rb|``, so no pair at or above the threshold is lost; the
candidates are then rescored exactly in fp32.  Pairs at or above the threshold may then pass a second,
verifying look (``verify``) before they are joined into groups (connected components).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

BLOCK = 1024
PROJECT_DIM = 256
PROJECT_ABOVE = 12_000  # below this many rows the exact fp32 products are cheap enough
BF16_MARGIN = 0.02  # bf16 inputs (8-bit mantissa) perturb a unit-vector dot product by well under this


@dataclass
class Pairs:
    """Index pairs ``i < j`` with their exact cosine similarity, sorted by ``(i, j)``."""

    i: np.ndarray
    j: np.ndarray
    similarity: np.ndarray

    def __len__(self) -> int:
        return len(self.i)

    def select(self, mask: np.ndarray) -> "Pairs":
        return Pairs(self.i[mask], self.j[mask], self.similarity[mask])


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if np.any(norms == 0) or not np.all(np.isfinite(norms)):
        raise ValueError("fingerprints must be finite and non-zero")
    return x / norms


def similar_pairs(fingerprints: np.ndarray, threshold: float, others: np.ndarray | None = None,
                  block: int = BLOCK) -> Pairs:
    """Pairs with cosine ≥ ``threshold``: within ``fingerprints`` (i < j), or between it and ``others``
    (then ``i`` indexes ``fingerprints`` and ``j`` indexes ``others``)."""
    import torch

    a = torch.from_numpy(_unit(fingerprints))
    b = a if others is None else torch.from_numpy(_unit(others))
    n, m = a.shape[0], b.shape[0]
    if n == 0 or m == 0:
        return Pairs(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
    if others is None and n > PROJECT_ABOVE and a.shape[1] > PROJECT_DIM:
        ii, jj = _projected_candidates(a, threshold, block)
    else:
        ii, jj = _exact_candidates(a, b, threshold, block, triangle=others is None)
    sims = np.zeros(len(ii), np.float32)
    for start in range(0, len(ii), 1 << 16):  # rescoring in chunks bounds the gathered rows' memory
        ii_t, jj_t = torch.from_numpy(ii[start:start + (1 << 16)]), torch.from_numpy(jj[start:start + (1 << 16)])
        sims[start:start + len(ii_t)] = (a[ii_t] * b[jj_t]).sum(1).numpy()
    keep = sims >= threshold
    order = np.lexsort((jj[keep], ii[keep]))
    return Pairs(ii[keep][order], jj[keep][order], sims[keep][order].astype(np.float32))


def _exact_candidates(a, b, threshold, block, triangle):
    out_i, out_j = [], []
    for start in range(0, a.shape[0], block):
        stop = min(start + block, a.shape[0])
        col0 = start if triangle else 0
        sims = a[start:stop] @ b[col0:].T
        if triangle:
            # keep j > i only: mask the diagonal block's lower triangle and diagonal
            sims[:, : stop - start].triu_(1)
        # a small slack: the exact rescoring decides; this only must not lose pairs to rounding
        hit = (sims >= threshold - 1e-5).nonzero()
        out_i.append((hit[:, 0] + start).numpy())
        out_j.append((hit[:, 1] + col0).numpy())
    return np.concatenate(out_i).astype(np.int64), np.concatenate(out_j).astype(np.int64)


def _projected_candidates(a, threshold, block):
    import torch

    n, dim = a.shape
    sample = a[torch.linspace(0, n - 1, min(n, 8192)).long()]
    # principal directions of a sample; the bound below makes the filter exact whatever the basis
    _, _, v = torch.linalg.svd(sample - sample.mean(0), full_matrices=False)
    basis = v[:PROJECT_DIM].T.contiguous()  # (dim, k), orthonormal columns
    proj = a @ basis
    resid = torch.sqrt(torch.clamp(1.0 - (proj * proj).sum(1), min=0.0)) + 1e-4
    if float(resid.median()) > 0.5:
        # the descriptors do not live near a low-dimensional subspace: the bound would pass nearly every pair,
        # so compare in full dimension (bf16 products, same margin, exact rescoring after)
        proj, resid = a, torch.zeros(n)
    # the residual norm as one more coordinate: a single product gives <Pa, Pb> + |Ra|·|Rb|, the bound itself
    aug = torch.cat([proj, resid[:, None]], dim=1).to(torch.bfloat16)
    cut = torch.tensor(threshold - BF16_MARGIN, dtype=torch.bfloat16)
    out_i, out_j = [], []
    for start in range(0, n, block):
        stop = min(start + block, n)
        hit = (aug[start:stop] @ aug[start:].T >= cut).nonzero().numpy()
        i, j = hit[:, 0] + start, hit[:, 1] + start
        keep = j > i  # upper triangle only; hits are few, so filtering them beats masking the block
        out_i.append(i[keep])
        out_j.append(j[keep])
    return np.concatenate(out_i).astype(np.int64), np.concatenate(out_j).astype(np.int64)


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
