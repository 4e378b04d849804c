"""The compiled max-score top-k of one segment, or of a range of its doc ids (`maxscore.py`'s
algorithm, compiled with numba).

One call scores a query: score bounds, the union of the essential posting lists, probes that
learn the threshold (after the first, among the docs whose partial score is high enough), the
look-ups in the others, and the ranked k best. Scores accumulate in a dense per-thread array
(with positive weights a doc is a candidate exactly while its score is not 0, which keeps the
bookkeeping free of branches). Contributions are computed and summed in the same precision
and order as numpy's, so scores are identical to the reference's bit for bit. Probes come
earlier and score fewer candidates than numpy's (they cost less here). A range shares the
threshold it learns with the other ranges of the same query (`kernel.py` scores a long query
in two halves at once)."""

import math

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


# Small helpers are inlined: a call that passes arrays costs reference-count updates (the
# length-normalised tf look-up is written out where it is used for the same reason).


@compiled
def segment_top(
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
                t = np.float32(post_tf[p])
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
                t = np.float32(post_tf[p])
                a = acc[d]
                cand[c] = d
                c += a == 0
                acc[d] = a + wj * (t / (t + norm[d]))
        else:
            for p in range(lo[j], hi[j]):
                d = post_doc[p]
                t = np.float32(post_tf[p])
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
                    t = np.float32(post_tf[at])
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
                        t = np.float32(post_tf[p])
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
                t = np.float32(post_tf[p])
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
