"""The compiled top-k (`kernel_top.py`, numba), called as `Index.top` uses it: a short query on
one core, a long one in two halves of the doc ids at once, one on each core, the halves
sharing the threshold each learns. Compiled code is cached on disk (numba's cache, next to
this file or in the user's cache directory); where neither is writable it is compiled in
memory."""

from __future__ import annotations

import heapq
import math
import os
import threading
from typing import TYPE_CHECKING

import numba
import numpy as np

from .kernel_parts import compiled, postings, ranked
from .kernel_top import segment_top
from .segment import TF_GROUPS

SPLIT_AT = 40_000
"""A query whose lists hold this many postings or more is scored in two halves of the doc
ids, one on each core (where there are two). Below it, waking the second core costs as much
as it saves (measured at 10x and 100x with the caches cooled between queries: 20k–40k
postings 1.00–1.09 times the time on one core, 40k–80k 0.95, 80k–160k 0.85)."""

_parallel = False  # whether the halves can run on two cores (set by `warm`)


def _one_core() -> None:
    """In a forked child: GNU OpenMP's threads do not survive a fork (numba aborts a child
    that starts them again), and processes share the cores anyway."""
    global _parallel
    _parallel = False


os.register_at_fork(after_in_child=_one_core)

_searching = 0  # long queries of this process being scored: one is split only when alone
_searching_lock = threading.Lock()
_NOT_SHARED = np.full(1, np.nan)  # a threshold no other part raises (never written: nan)
_NO_MARKS = np.empty(0, np.int32)  # `seen` of a query with positive weights (never read)

if TYPE_CHECKING:
    from .index import Index


def top(index: Index, weights: dict[str, float], k: int) -> list[tuple[int, float]]:
    """`Index.top`: query weights in, (global doc, score) best first out. Segments go largest
    first, each skipping docs below the k-th best score of those before it; their few hits
    are combined in Python (a compiled call costs more when the caches are cold)."""
    if len(index.segments) == 1:  # the common case, kept lean
        return _listed(*_search(index, 0, weights, k), k)
    hits: list[tuple[float, int]] = []
    theta = -math.inf
    for s in sorted(range(len(index.segments)), key=lambda s: -index.segments[s].n_docs):
        docs, scores = _search(index, s, weights, k, theta)
        base = int(index.bases[s])
        hits.extend(zip(scores.tolist(), [d + base for d in docs.tolist()], strict=True))
        if len(hits) >= k:
            theta = max(theta, heapq.nlargest(k, hits)[-1][0])
    hits.sort(key=lambda h: (-h[0], h[1]))
    return [(d, s) for s, d in hits[:k]]


def _search(
    index: Index, s: int, weights: dict[str, float], k: int, theta: float = -math.inf
) -> tuple[np.ndarray, np.ndarray]:
    """The best docs of segment `s` and their scores. The terms it holds go rarest (largest
    weight) first, ties by term: every segment sums the same terms in the same order. Each
    term is looked up once (a cold dictionary costs cache misses), its idf in a table."""
    vocab, idfs = index.segments[s].vocab, index.idf_table(s)
    held = []
    for t, w in weights.items():
        if (i := vocab.get(t)) is not None and (w := idfs.item(i) * w):
            held.append((-w, t, i))
    if not held:
        return np.zeros(0, np.int64), np.zeros(0, index._dtype)
    held.sort()
    ids = np.array([i for _, _, i in held], np.int64)
    ws = np.array([-w for w, _, _ in held], np.float64)
    positive = held[-1][0] < 0  # (the smallest weight comes last)
    return _run(index, s, ids, ws, k, theta, positive)


def _listed(docs: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    return list(zip(docs.tolist()[:k], scores.tolist()[:k], strict=True))


def _run(
    index: Index, s: int, ids: np.ndarray, ws: np.ndarray, k: int, theta: float, positive: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The top-k of segment `s` (best first; ties past k may follow), in two halves on two
    cores when the query is long, its weights positive, the machine has the cores and no
    other long query of this process is being scored (its threads would share the cores)."""
    arrays, p = index._arrays(s), index.params
    args = (*arrays, ids, ws, p.k1, p.b, index.avgdl, k, theta)
    indptr = arrays[2]
    acc, cand = index._candidates()
    if not positive:  # only then are candidates marked
        return segment_top(*args, acc, index._slots(0), cand, 0, len(arrays[3]), _NOT_SHARED)
    if _parallel and postings(indptr, ids) >= SPLIT_AT:
        global _searching
        with _searching_lock:
            _searching += 1
            alone = _searching == 1
        try:
            if alone:
                return _halves(*args, acc, _NO_MARKS, cand)
        finally:
            with _searching_lock:
                _searching -= 1
    return segment_top(*args, acc, _NO_MARKS, cand, 0, len(arrays[3]), _NOT_SHARED)


def warm(width: str) -> None:
    """Compile (or read from the cache) the kernel for scores of `width` ("float32" or
    "float64"), and find whether the halves of a long query can run on two cores (a
    threading layer that is safe to enter from several threads at once, OpenMP or TBB, and
    two threads)."""
    global _parallel
    numba.config.THREADING_LAYER = "threadsafe"
    halves = numba.config.NUMBA_NUM_THREADS >= 2
    dtype = np.dtype(width).type
    arrays = [
        np.zeros(1, np.int32), np.ones(1, np.uint8), np.array([0, 1], np.int64),
        np.ones(1, dtype), np.ones((1, TF_GROUPS), np.int32), np.ones(1, np.float32),
    ]  # fmt: skip
    for a in arrays:
        a.flags.writeable = False
    scratch = (np.zeros(1, dtype), np.full(1, -1, np.int32), np.empty(3, np.int32))
    ids, ws = np.zeros(1, np.int64), np.ones(1)
    args = (*arrays, ids, ws, 1.2, 0.75, 1.0, 1, -math.inf)
    segment_top(*args, *scratch, 0, 1, _NOT_SHARED)
    postings(arrays[2], ids)
    if halves:
        try:
            _halves(*args, *scratch)
        except Exception:  # no such threading layer: one core it is
            halves = False
    _parallel = halves


@compiled(parallel=True)
def _halves(
    post_doc, post_tf, indptr, norm, tf_len, max_tf, ids, ws,
    k1, b, avgdl, k, theta, acc, seen, cand,
):  # fmt: skip
    """`segment_top` of docs [0, n/2) and [n/2, n) at once, the k best of both. The halves
    share the scores (each touches only its own docs' entries) and split the candidates'
    scratch (n + 2 slots: a slot more than its docs for each); with positive weights `seen`
    is not used."""
    n = len(norm)
    half = n // 2
    bounds = (0, half, n)
    shared = np.full(1, theta)
    docs = np.zeros((2, k), np.int64)
    scores = np.zeros((2, k), acc.dtype)
    found = np.zeros(2, np.int64)
    for part in numba.prange(2):
        c = cand[: half + 1] if part == 0 else cand[half + 1 :]
        d, sc = segment_top(
            post_doc, post_tf, indptr, norm, tf_len, max_tf, ids, ws,
            k1, b, avgdl, k, theta, acc, seen, c, bounds[part], bounds[part + 1], shared,
        )  # fmt: skip
        m = min(k, len(d))
        found[part] = m
        docs[part, :m] = d[:m]
        scores[part, :m] = sc[:m]
    # best first, ties by doc id: as one call over all the docs returns them
    best, best_scores = ranked(
        np.concatenate((docs[0, : found[0]], docs[1, : found[1]])),
        np.concatenate((scores[0, : found[0]], scores[1, : found[1]])),
    )
    return best[:k], best_scores[:k]
