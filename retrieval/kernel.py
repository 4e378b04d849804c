"""The max-score top-k of `maxscore.py`, compiled with numba.

One call scores a query in a segment: score bounds, the union of the essential posting lists,
probes that learn the threshold (after the first, among the docs whose partial score is high
enough), the look-ups in the others, and the ranked k best. Scores accumulate in a dense
per-thread array (with positive weights a doc is a candidate exactly while its score is not
0, which keeps the bookkeeping free of branches). Contributions are computed and summed in
the same precision and order as numpy's, so scores are identical to the reference's bit for
bit. Probes come earlier and score fewer candidates than numpy's (they cost less here).
A long query is scored in two halves of the doc ids at once, one on each core, the halves
sharing the threshold each learns. Compiled code is cached on disk (numba's cache, next to
this file or in the user's cache directory); where neither is writable it is compiled in
memory."""

from __future__ import annotations

import math
import os
import threading
from typing import TYPE_CHECKING

import numba
import numpy as np

from .kernel_parts import (
    AHEAD,
    SAMPLE,
    compiled,
    dropping,
    exact_probe,
    find,
    first_at,
    floor,
    kth,
    prefetch,
    ranked,
    share,
)
from .segment import NO_LEN, TF_GROUPS

PROBE_AT = 512
"""A threshold is learnt (a probe) before reading a list longer than PROBE_AT postings"""

PROBE_PER_LIST = 384
"""... plus PROBE_PER_LIST per list still to read (a probe looks each of them up)."""

HOT = 1024
"""After the first probe, later ones look only at the docs whose partial score passed the
previous probe's threshold, while there are at most this many."""

COMPACT = 4.0
"""Before a look-up list, the candidates are filtered when they are at most COMPACT times
as many as its postings."""


DENSE = 8
"""A list is scanned without branches when over 1 / DENSE of the docs are candidates."""

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


# Small helpers are inlined: a call that passes arrays costs reference-count updates (the
# length-normalised tf look-up is written out where it is used for the same reason).


def top_segment(
    index: Index, s: int, weights: list[tuple[str, float]], k: int, theta: float
) -> tuple[np.ndarray, np.ndarray]:
    """`maxscore.top_segment`, compiled, best first: `weights` come rarest (largest) first."""
    vocab = index.segments[s].vocab
    ids, ws = [], []
    for t, w in weights:
        i = vocab.get(t)
        if i is not None:
            ids.append(i)
            ws.append(w)
    if not ids:
        return np.zeros(0, np.int64), np.zeros(0, index._dtype)
    return _run(index, s, np.array(ids, np.int64), np.array(ws, np.float64), k, theta)


def top_one(index: Index, weights: dict[str, float], k: int) -> list[tuple[int, float]]:
    """`Index.top` of a one-segment index: query weights in, (doc, score) best first out."""
    vocab, idfs = index.segments[0].vocab, index._idfs  # (the idf cache, read directly)
    found = []
    for t, w in weights.items():
        i = vocab.get(t)
        if i is not None:
            idf = idfs.get(t)
            if w := (index.idf(t) if idf is None else idf) * w:
                found.append((-w, t, i))
    if not found:
        return []
    found.sort()  # rarest (largest weight) first, ties by term: as `Index.top` orders them
    ids = np.array([i for _, _, i in found], np.int64)
    docs, scores = _run(index, 0, ids, np.array([-w for w, _, _ in found]), k, -math.inf)
    return list(zip(docs.tolist()[:k], scores.tolist()[:k], strict=True))


def _run(
    index: Index, s: int, ids: np.ndarray, ws: np.ndarray, k: int, theta: float
) -> tuple[np.ndarray, np.ndarray]:
    """The top-k of segment `s` (best first; ties past k may follow), in two halves on two
    cores when the query is long, its weights positive, the machine has the cores and no
    other long query of this process is being scored (its threads would share the cores)."""
    arrays, p = index._arrays(s), index.params
    args = (*arrays, ids, ws, p.k1, p.b, index.avgdl, k, theta)
    indptr = arrays[2]
    acc, cand = index._candidates()
    if not (ws > 0).all():  # only then are candidates marked
        return _top(*args, acc, index._slots(0), cand, 0, len(arrays[3]), _NOT_SHARED)
    if _parallel and (indptr[ids + 1] - indptr[ids]).sum() >= SPLIT_AT:
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
    return _top(*args, acc, _NO_MARKS, cand, 0, len(arrays[3]), _NOT_SHARED)


def warm() -> None:
    """Compile (or read from the cache) the kernel for float32 and float64 scores, and find
    whether the halves of a long query can run on two cores (a threading layer that is safe
    to enter from several threads at once, OpenMP or TBB, and two threads)."""
    global _parallel
    numba.config.THREADING_LAYER = "threadsafe"
    halves = numba.config.NUMBA_NUM_THREADS >= 2
    for dtype in (np.float32, np.float64):
        arrays = [
            np.zeros(1, np.int32), np.ones(1, np.float32), np.array([0, 1], np.int64),
            np.ones(1, dtype), np.ones((1, TF_GROUPS), np.int32), np.ones(1, np.float32),
        ]  # fmt: skip
        for a in arrays:
            a.flags.writeable = False
        scratch = (np.zeros(1, dtype), np.full(1, -1, np.int32), np.empty(3, np.int32))
        ids, ws = np.zeros(1, np.int64), np.ones(1)
        args = (*arrays, ids, ws, 1.2, 0.75, 1.0, 1, -math.inf)
        _top(*args, *scratch, 0, 1, _NOT_SHARED)
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
    """`_top` of docs [0, n/2) and [n/2, n) at once, the k best of both. The halves share
    the scores (each touches only its own docs' entries) and split the candidates' scratch
    (n + 2 slots: a slot more than its docs for each); with positive weights `seen` is not
    used."""
    n = len(norm)
    half = n // 2
    bounds = (0, half, n)
    shared = np.full(1, theta)
    docs = np.zeros((2, k), np.int64)
    scores = np.zeros((2, k), acc.dtype)
    found = np.zeros(2, np.int64)
    for part in numba.prange(2):
        c = cand[: half + 1] if part == 0 else cand[half + 1 :]
        d, sc = _top(
            post_doc, post_tf, indptr, norm, tf_len, max_tf, ids, ws,
            k1, b, avgdl, k, theta, acc, seen, c, bounds[part], bounds[part + 1], shared,
        )  # fmt: skip
        m = min(k, len(d))
        found[part] = m
        docs[part, :m] = d[:m]
        scores[part, :m] = sc[:m]
    # merged best first, ties by doc id (the first half's docs are the smaller)
    out_d, out_s = np.empty(k, np.int64), np.empty(k, acc.dtype)
    i = j = r = 0
    while r < k and (i < found[0] or j < found[1]):
        if j == found[1] or (i < found[0] and scores[0, i] >= scores[1, j]):
            out_d[r], out_s[r] = docs[0, i], scores[0, i]
            i += 1
        else:
            out_d[r], out_s[r] = docs[1, j], scores[1, j]
            j += 1
        r += 1
    return out_d[:r], out_s[:r]


@compiled
def _top(
    post_doc, post_tf, indptr, norm, tf_len, max_tf, ids, ws,
    k1, b, avgdl, k, theta, acc, seen, cand, dlo, dhi, shared,
):  # fmt: skip
    """Max-score top-k of the docs [dlo, dhi) of one segment; see `maxscore.top_segment`.

    acc (scores) is all 0 and seen (read only with a weight <= 0) all -1 on entry, and left
    so; cand is scratch. shared[0]
    is a threshold another part of the docs may raise as this one does (nan: none).
    """
    n_in = len(ids)
    lo = np.empty(n_in, np.int64)
    hi = np.empty(n_in, np.int64)
    w1 = np.empty(n_in, acc.dtype)
    bound = np.empty(n_in, np.float64)
    n = 0
    prunable = True
    for j in range(n_in):
        i = ids[j]
        a, z = indptr[i], indptr[i + 1]
        if dlo > 0 or dhi < len(norm):
            a, z = first_at(post_doc, a, z, dlo), first_at(post_doc, a, z, dhi)
        if z == a:
            continue
        lo[n], hi[n] = a, z
        w1[n] = ws[j] * (k1 + 1.0)
        u = 0.0  # the largest contribution of the term: over its shortest doc per tf group
        for g in range(TF_GROUPS):
            length = tf_len[i, g]
            if length != NO_LEN:
                tf = g + 1.0 if g < TF_GROUPS - 1 else max(float(max_tf[i]), float(TF_GROUPS))
                u = max(u, tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avgdl)))
        bound[n] = ws[j] * u
        prunable = prunable and ws[j] > 0
        n += 1
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, acc.dtype)
    rest = np.zeros(n + 1, np.float64)
    for j in range(n - 1, -1, -1):
        rest[j] = rest[j + 1] + bound[j]
    probe = k + k // 2  # candidates a probe scores exactly
    # essential lists: read whole, their docs become candidates. With positive weights a
    # candidate's score is never 0; otherwise `seen` marks the candidates. Partial scores
    # only grow, so after a probe the m best are always among the "hot" docs: those above
    # its m-th best partial score (tau) and those whose score passes tau later (each once).
    # The next probe looks at them only (at all candidates if there are too many).
    c = 0
    j = 0
    tau = np.inf
    hot = np.empty(0, np.int32)  # allocated at the first probe
    spare = hot
    h = 0
    while j < n:
        if prunable and j > 0:
            size = hi[j] - lo[j]
            if c >= k and size > PROBE_AT + PROBE_PER_LIST * (n - j):
                if len(hot) == 0:
                    hot = np.empty(max(HOT, probe), np.int32)
                    spare = np.empty(max(HOT, probe), np.int32)
                from_hot = tau < np.inf and h <= len(hot)
                if from_hot:  # the m best partial scores are all above tau: hot docs
                    hot, spare = spare, hot
                    src = spare
                else:  # look at every candidate
                    h, src = c, cand
                found, thr, above = exact_probe(post_doc, post_tf, norm, lo, hi, w1, j, n, src, acc, h, probe, k, hot)  # fmt: skip
                theta = share(shared, max(theta, found))
                if thr > -np.inf:  # more than m docs looked at: tau rises, fewer are hot
                    tau, h = thr, above
                elif from_hot:
                    hot, spare = spare, hot  # m or fewer hot docs: all stay
            theta = share(shared, theta)
            if rest[j] < floor(theta):
                break  # a doc in none of lists[:j] cannot reach theta
        wj = w1[j]
        if prunable and tau < np.inf:  # ... and a doc whose score passes tau becomes hot
            last = hi[j] - 1
            for p in range(lo[j], hi[j]):
                ahead = post_doc[min(p + AHEAD, last)]
                prefetch(acc, ahead)
                prefetch(norm, ahead)
                d = post_doc[p]
                t = post_tf[p]
                a = acc[d]
                cand[c] = d
                c += a == 0
                s = a + wj * (t / (t + norm[d]))
                acc[d] = s
                if s > tau and a <= tau:  # once: scores only grow
                    if h < len(hot):
                        hot[h] = d
                    h += 1
        elif prunable:  # a candidate's score is never 0: branch-free bookkeeping
            last = hi[j] - 1
            for p in range(lo[j], hi[j]):
                ahead = post_doc[min(p + AHEAD, last)]
                prefetch(acc, ahead)
                prefetch(norm, ahead)
                d = post_doc[p]
                t = post_tf[p]
                a = acc[d]
                cand[c] = d
                c += a == 0
                acc[d] = a + wj * (t / (t + norm[d]))
        else:
            for p in range(lo[j], hi[j]):
                d = post_doc[p]
                t = post_tf[p]
                if seen[d] < 0:
                    seen[d] = 0
                    cand[c] = d
                    c += 1
                acc[d] += wj * (t / (t + norm[d]))
        j += 1
    # the other lists: looked up for the candidates that can still reach theta. Learning
    # theta from the partial scores and dropping the hopeless candidates take a pass over
    # them, done when the list is long next to it; a scan also drops the hopeless
    # candidates it meets (their score set to 0; a live candidate's score never is).
    sc = np.empty(c if j < n else 0, acc.dtype)  # the candidates' scores (c only shrinks)
    if j < n and tau < np.inf and k <= h <= len(hot):
        # the k best partial scores are among the hot docs: their k-th best is theirs
        for i in range(h):
            sc[i] = acc[hot[i]]
        theta = share(shared, max(theta, kth(sc, h, k)))
    zero = acc.dtype.type(0)
    for q in range(j, n):
        theta = share(shared, theta)
        size = hi[q] - lo[q]
        f = floor(theta) - rest[q]
        if c <= COMPACT * size and (c <= SAMPLE or dropping(acc, cand, c, f)):
            kept = 0  # in one pass, without branches
            for i in range(c):
                prefetch(acc, cand[min(i + AHEAD, c - 1)])
                d = cand[i]
                s = acc[d]
                keep = (s >= f) & (s != 0)
                cand[kept] = d
                sc[kept] = s
                kept += keep
                acc[d] = s if keep else zero
            c = kept
            if c >= k:  # the dropped ones were below theta: the k-th best is among these
                theta = share(shared, max(theta, kth(sc, c, k)))
            if c == 0:
                break
        wj = w1[q]
        if c * (math.log2(size) + 1) < size:  # few candidates: look them up
            for i in range(c):
                d = cand[i]
                at = find(post_doc, lo[q], hi[q], d)
                if at >= 0:
                    t = post_tf[at]
                    acc[d] += wj * (t / (t + norm[d]))
        elif c * DENSE < len(norm):  # scan the list: a candidate's score is not 0
            f = floor(theta) - rest[q]
            last = hi[q] - 1
            for p in range(lo[q], hi[q]):
                ahead = post_doc[min(p + AHEAD, last)]
                prefetch(acc, ahead)
                prefetch(norm, ahead)
                d = post_doc[p]
                a = acc[d]
                if a != 0:
                    if a < f:
                        acc[d] = 0
                    else:
                        t = post_tf[p]
                        acc[d] = a + wj * (t / (t + norm[d]))
        else:  # many candidates: the same without branches (which it would mispredict)
            f = floor(theta) - rest[q]
            last = hi[q] - 1
            for p in range(lo[q], hi[q]):
                ahead = post_doc[min(p + AHEAD, last)]
                prefetch(acc, ahead)
                prefetch(norm, ahead)
                d = post_doc[p]
                a = acc[d]
                t = post_tf[p]
                x = a + wj * (t / (t + norm[d]))
                acc[d] = x if (a != 0) & (a >= f) else zero
    if not prunable:  # only then are candidates marked
        for i in range(c):
            seen[cand[i]] = -1
    # the candidates that reach theta (0: dropped by a scan), their scores reset
    cut = floor(share(shared, theta)) if prunable else -np.inf
    sc = np.empty(c, acc.dtype)
    kept = 0
    for i in range(c):
        prefetch(acc, cand[min(i + AHEAD, c - 1)])
        d = cand[i]
        s = acc[d]
        acc[d] = 0
        cand[kept] = d
        sc[kept] = s
        kept += (s >= cut) & ((s != 0) | (not prunable))
    c = kept
    if c > k:  # the k best, and any ties (the caller breaks them by doc id)
        cut = max(cut, kth(sc, c, k))
        kept = 0
        for i in range(c):
            if sc[i] >= cut:
                cand[kept] = cand[i]
                sc[kept] = sc[i]
                kept += 1
    return ranked(cand[:kept], sc[:kept])
