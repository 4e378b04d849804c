"""Exact top-k by max-score pruning, in numpy: the reference for the compiled kernel.

Term at a time, rarest term first. A posting list is "essential" (read whole, its docs become
candidates) until the score bounds of the lists left sum below theta, a lower bound of the
k-th best score; theta comes from the exact scores of the best candidates so far (probed in
the other lists). The other lists are only probed for the candidates, which are dropped as
soon as they cannot reach theta. Scores are summed in list order, so any top-k that sums the
same way (the compiled kernel in `kernel_top.py`) gives bit-identical scores.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .segment import NO_LEN, TF_GROUPS

if TYPE_CHECKING:
    from .index import Index

PROBE = 3
"""Max-score scores PROBE * k promising candidates exactly to learn a score threshold."""

SHORT = 4096
"""The leading posting lists are read whole while they add up to this many docs."""

IMPACT_MIN = 8192
"""The length-normalised tf of posting lists this long that were read whole is kept,"""

IMPACT_CACHE = 16_000_000
"""... up to this many values in all (the oldest go first)."""


def top_segment(
    index: Index, s: int, weights: list[tuple[str, float]], k: int, theta: float
) -> tuple[np.ndarray, np.ndarray]:
    """The best (local doc, score) of segment `s`, skipping docs scoring below `theta`.

    weights: (term, idf times query weight). Returns the k best and any ties with the k-th.
    """
    seg = index.segments[s]
    # Lists go rarest (largest weight) first, in the same order in every segment: each
    # doc's score is then the same sum, in the same order, whatever the segments.
    order = sorted(weights, key=lambda tw: (-tw[1], tw[0]))
    found = [(i, w) for t, w in order if (i := seg.vocab.get(t)) is not None]
    ubs = bounds(index, s, [i for i, _ in found])
    lists = [_Postings(index, s, i, w, w * u) for (i, w), u in zip(found, ubs, strict=True)]
    lists = [p for p in lists if len(p.docs)]
    if not lists:
        return np.zeros(0, np.int64), np.zeros(0, index._dtype)
    prunable = all(p.w > 0 for p in lists)
    n = len(lists)
    rest = np.cumsum([p.bound for p in lists][::-1])[::-1].tolist() + [0.0]
    # lists[:j] are read whole; short leading lists at once (deciding costs more)
    j, size = 1, len(lists[0].docs)
    while j < n and size + len(lists[j].docs) <= SHORT:
        size += len(lists[j].docs)
        j += 1
    pos = index._slots(seg.n_docs)
    cand, sc = _merge(pos, lists[:j])
    while j < n:
        if prunable:
            # learn theta first when the next list is long enough for it to pay off
            if len(cand) >= k and len(lists[j].docs) > SHORT // 2 + 512 * (n - j):
                probed = _probe_scores(cand, sc, lists[j:], PROBE * k)
                theta = max(theta, _kth(probed, k))
            if rest[j] < _floor(theta):
                break  # a doc in none of lists[:j] cannot reach theta
        cand, sc = _union(pos, cand, sc, lists[j])
        j += 1
    for m in range(j, n):
        keep = sc + rest[m] >= _floor(theta)
        if not keep.all():
            cand, sc = cand[keep], sc[keep]
        if not len(cand):
            break
        sc += lists[m].contrib_for(cand, index._slots(seg.n_docs))
        if len(cand) >= k:
            theta = max(theta, _kth(sc, k))
    if prunable:
        keep = sc >= _floor(theta)
        cand, sc = cand[keep], sc[keep]
    if len(cand) > k:  # the k best, and any ties (the caller breaks them by doc id)
        keep = sc >= _kth(sc, k)
        cand, sc = cand[keep], sc[keep]
    return cand.astype(np.int64), sc


def bounds(index: Index, s: int, terms: list[int]) -> list[float]:
    """The largest unweighted score contribution of each term (by id) in segment `s`."""
    seg, k1, b = index.segments[s], index.params.k1, index.params.b
    lens = seg.tf_len[terms]
    tf = np.empty(lens.shape)
    tf[:] = np.arange(1, TF_GROUPS + 1)
    tf[:, -1] = np.maximum(seg.max_tf[terms], TF_GROUPS)  # tf >= TF_GROUPS: at most max_tf
    f = tf * (k1 + 1) / (tf + k1 * (1 - b + b * lens / index.avgdl))
    f[lens == NO_LEN] = 0
    return f.max(axis=1, initial=0.0).tolist()


class Impacts:
    """Long posting lists' tf / (tf + norm), kept for later queries (IMPACT_CACHE values at
    most, the oldest dropped first); they depend on the index's average length."""

    def __init__(self) -> None:
        self._values: dict[tuple[int, int], np.ndarray] = {}
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[int, int]) -> np.ndarray | None:
        return self._values.get(key)

    def keep(self, key: tuple[int, int], values: np.ndarray) -> np.ndarray:
        """Keep `values` under `key` (if they fit); return them."""
        with self._lock:
            while self._values and self._size + len(values) > IMPACT_CACHE:
                self._size -= len(self._values.pop(next(iter(self._values))))
            if key not in self._values and len(values) <= IMPACT_CACHE:
                self._values[key] = values
                self._size += len(values)
        return values


class _Postings:
    """One query term's posting list in one segment, with its weight and score bound."""

    __slots__ = ("index", "key", "docs", "tf", "norm", "w", "w1", "bound", "_unit")

    def __init__(self, index: Index, s: int, term: int, w: float, bound: float) -> None:
        seg = index.segments[s]
        lo, hi = int(seg.indptr[term]), int(seg.indptr[term + 1])
        self.docs = seg.post_doc[lo:hi]
        self.tf = seg.post_tf[lo:hi].astype(index._dtype)
        self.norm = index._norm[s]
        self.w = w
        self.w1 = index._dtype(w * (index.params.k1 + 1))
        self.bound = bound
        self.index, self.key = index, (s, term)
        self._unit = index._impacts.get(self.key)  # tf / (tf + norm), if kept

    def _tf_part(self, at: np.ndarray | None = None, docs: np.ndarray | None = None) -> np.ndarray:
        """tf / (tf + norm) of the list (or of its entries `at`, holding `docs`)."""
        if at is None:
            return self.tf / (self.tf + self.norm[self.docs])
        if self._unit is not None:
            return self._unit[at]
        tf = self.tf[at]
        return tf / (tf + self.norm[docs])

    def contrib(self) -> np.ndarray:
        """The score contribution to each doc of the list: w (k1 + 1) tf / (tf + norm)."""
        if self._unit is None and len(self.docs) >= IMPACT_MIN:
            self._unit = self.index._impacts.keep(self.key, self._tf_part())
        return self.w1 * (self._tf_part() if self._unit is None else self._unit)

    def contrib_for(self, docs: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """The contribution to each of `docs` (0 where the term is absent)."""
        out = np.zeros(len(docs), self.norm.dtype)
        n = len(self.docs)
        if len(docs) * (n.bit_length() + 1) < n:  # few docs: binary search
            at = np.searchsorted(self.docs, docs)
            at[at == n] = 0
            hit = self.docs[at] == docs
            at = at[hit]
        else:  # scan the list, looking docs up in the scratch map
            try:
                pos[docs] = np.arange(len(docs), dtype=np.int32)
                slot = pos[self.docs]
            finally:
                pos[docs] = -1
            at = np.flatnonzero(slot >= 0)
            hit = slot[at]
        out[hit] = self.w1 * self._tf_part(at, docs[hit])
        return out


def _floor(theta: float) -> float:
    """Docs whose score bound is below this cannot reach theta (with a margin for rounding)."""
    return theta - 1e-5 * abs(theta) - 1e-9


def _best(x: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values of `x`, in no order (all of them if there are fewer).

    A large `x` is first cut at the k-th largest value of a strided sample (no larger than
    the k-th largest of x), so the exact selection runs on a few percent of it.
    """
    n = len(x)
    if n <= k:
        return np.arange(n)
    if n > 4096 and k <= 64:
        sample = x[:: n // 1024]
        idx = np.flatnonzero(x >= np.partition(sample, len(sample) - k)[len(sample) - k])
        return idx[np.argpartition(x[idx], len(idx) - k)[len(idx) - k :]]
    return np.argpartition(x, n - k)[n - k :]


def _kth(x: np.ndarray, k: int) -> float:
    """The k-th largest of `x` (-inf if there are fewer)."""
    return float(x[_best(x, k)].min()) if len(x) >= k else -math.inf


def _probe_scores(
    cand: np.ndarray, sc: np.ndarray, lists: Sequence[_Postings], k: int
) -> np.ndarray:
    """Exact scores of the (up to) k best candidates: their partial scores plus `lists`."""
    best = _best(sc, k)
    cand, total = cand[best], sc[best]
    for p in lists:
        at = np.searchsorted(p.docs, cand)
        at[at == len(p.docs)] = 0
        hit = np.flatnonzero(p.docs[at] == cand)
        total[hit] += p.w1 * p._tf_part(at[hit], cand[hit])
    return total


def _merge(pos: np.ndarray, lists: Sequence[_Postings]) -> tuple[np.ndarray, np.ndarray]:
    """The docs of short `lists` and their summed contributions, in one go.

    `pos` is an all -1 scratch map doc -> slot (left so).
    """
    if len(lists) == 1:
        return lists[0].docs, lists[0].contrib()
    docs = np.concatenate([p.docs for p in lists])
    at = np.arange(len(docs), dtype=np.int32)
    try:
        pos[docs] = at  # of a doc's several positions, one wins: the doc's slot
        slot = pos[docs]
    finally:
        pos[docs] = -1
    sc = np.zeros(len(docs), lists[0].norm.dtype)
    np.add.at(sc, slot, np.concatenate([p.contrib() for p in lists]))  # in list order
    keep = slot == at
    return docs[keep], sc[keep]


def _union(
    pos: np.ndarray, cand: np.ndarray, sc: np.ndarray, p: _Postings
) -> tuple[np.ndarray, np.ndarray]:
    """Add list `p` to the candidates: sum scores of docs already there, append new docs.

    `pos` is an all -1 scratch map doc -> candidate slot (left so).
    """
    c = p.contrib()
    try:
        pos[cand] = np.arange(len(cand), dtype=np.int32)
        slot = pos[p.docs]
    finally:
        pos[cand] = -1
    old = slot >= 0
    sc[slot[old]] += c[old]
    new = ~old
    return np.concatenate([cand, p.docs[new]]), np.concatenate([sc, c[new]])
