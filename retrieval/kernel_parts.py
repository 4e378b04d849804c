"""Small compiled helpers of `kernel.py`: the jit decorator, the look-up of a doc in a
posting list, a query's number of postings, the k-th largest score, the ranking, a cache
prefetch hint, a probe (exact scores of the best candidates) and the test whether filtering
candidates pays."""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

SAMPLE = 64
"""More candidates than this are filtered only if a sample of this many shows that a
quarter of them or more would go."""

AHEAD = 64
"""Loops over a posting list prefetch the score and length of the doc this many ahead."""

WINDOW = 32
"""A look-up checks this many postings past each interpolated guess (two cache lines)."""


def compiled(fn=None, *, inline: str = "never", parallel: bool = False):
    """njit with numba's disk cache when it has a writable place for it."""
    if fn is None:
        return lambda f: compiled(f, inline=inline, parallel=parallel)
    try:
        return njit(cache=True, nogil=True, inline=inline, parallel=parallel)(fn)
    except RuntimeError:  # no writable cache location
        return njit(nogil=True, inline=inline, parallel=parallel)(fn)


@compiled(inline="always")
def floor(theta):
    """Docs whose score bound is below this cannot reach theta (margin for rounding)."""
    return theta - 1e-5 * abs(theta) - 1e-9


@compiled
def postings(indptr, ids):
    """The number of postings in the lists `ids`."""
    n = 0
    for i in ids:
        n += indptr[i + 1] - indptr[i]
    return n


@compiled
def kth(sc, c, k):
    """The k-th largest of sc[:c] (c >= k), with a min-heap of the k largest (no copy)."""
    heap = np.empty(k, np.float64)
    for i in range(k):  # heapify the first k
        x = float(sc[i])
        j = i
        while j > 0 and heap[(j - 1) >> 1] > x:
            heap[j] = heap[(j - 1) >> 1]
            j = (j - 1) >> 1
        heap[j] = x
    for i in range(k, c):
        x = float(sc[i])
        if x <= heap[0]:
            continue
        j = 0  # replace the smallest and sift down
        while True:
            child = 2 * j + 1
            if child >= k:
                break
            if child + 1 < k and heap[child + 1] < heap[child]:
                child += 1
            if heap[child] >= x:
                break
            heap[j] = heap[child]
            j = child
        heap[j] = x
    return heap[0]


@compiled(inline="always")
def share(shared, theta):
    """theta raised to the shared threshold, which it raises in turn: the k-th best score of
    either part of the docs is a lower bound of the k-th best of all (nan: nothing shared)."""
    if theta > shared[0]:
        shared[0] = theta
    return max(theta, shared[0]) if shared[0] == shared[0] else theta


@compiled(inline="always")
def first_at(post_doc, lo, hi, doc):
    """The first position of the sorted post_doc[lo:hi] at or past `doc` (hi if none)."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if post_doc[mid] < doc:
            lo = mid + 1
        else:
            hi = mid
    return lo


@compiled(inline="always")
def find(post_doc, lo, hi, doc):
    """Position of `doc` in the sorted post_doc[lo:hi], or -1.

    Doc ids of a long list are spread fairly evenly, so a few interpolation steps (each
    also checking WINDOW postings past its guess) narrow the range to a cache line or two,
    where bisection ends; bisection all the way costs a cache miss a step.
    """
    a, z = lo, hi  # doc is in post_doc[a:z] if anywhere
    steps = 0
    while z - a > WINDOW:
        if steps < 4:  # interpolate, bracketing the guess by WINDOW
            steps += 1
            first, last = post_doc[a], post_doc[z - 1]
            if doc <= first:
                return a if doc == first else -1
            if doc >= last:
                return z - 1 if doc == last else -1
            g = a + int((z - 1 - a) * (float(doc - first) / float(last - first)))
            if post_doc[g] < doc:
                a = g + 1
                g = min(g + WINDOW, z - 1)
                if post_doc[g] >= doc:
                    z = g + 1
                else:
                    a = g + 1
            else:
                z = g + 1
                g = max(g - WINDOW, a)
                if post_doc[g] < doc:
                    a = g + 1
                else:
                    z = g + 1
                    if post_doc[g] == doc:
                        return g
        else:
            mid = (a + z) >> 1
            if post_doc[mid] < doc:
                a = mid + 1
            else:
                z = mid + 1
                if post_doc[mid] == doc:
                    return mid
    a = first_at(post_doc, a, z, doc)
    return a if a < hi and post_doc[a] == doc else -1


@compiled
def ranked(cand, sc):
    """Copies of docs and scores, best first (ties by doc id)."""
    n = len(cand)
    docs = cand.astype(np.int64)
    scores = sc.copy()
    if n > 64:
        order = np.argsort(docs, kind="mergesort")
        order = order[np.argsort(-scores[order], kind="mergesort")]
        return docs[order], scores[order]
    for i in range(1, n):  # insertion sort: a handful of hits
        d, x = docs[i], scores[i]
        j = i - 1
        while j >= 0 and (scores[j] < x or (scores[j] == x and docs[j] > d)):
            docs[j + 1], scores[j + 1] = docs[j], scores[j]
            j -= 1
        docs[j + 1], scores[j + 1] = d, x
    return docs, scores


@intrinsic
def prefetch(typingctx, array, i):
    """Hint that array[i] (a 1-d array) is about to be written: the misses of loops that
    read and write a score at random doc ids then overlap. No effect on results."""
    if not isinstance(array, types.Array) or array.ndim != 1 or not isinstance(i, types.Integer):
        return None
    sig = types.void(array, i)

    def codegen(context, builder, signature, args):
        arrayty, ity = signature.args
        arr = context.make_array(arrayty)(context, builder, args[0])
        at = context.cast(builder, args[1], ity, types.intp)
        ptr = cgutils.get_item_pointer(context, builder, arrayty, arr, [at], wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = builder.module.declare_intrinsic("llvm.prefetch", [i8p], fnty)
        write, locality, data = ir.Constant(i32, 1), ir.Constant(i32, 3), ir.Constant(i32, 1)
        builder.call(fn, [builder.bitcast(ptr, i8p), write, locality, data])
        return context.get_dummy_value()

    return sig, codegen


@compiled
def exact_probe(post_doc, post_tf, norm, lo, hi, w1, j, n, cand, acc, c, m, k, hot):
    """Exact scores of the (about) m best of candidates cand[:c] (their partial scores plus
    lists j..n-1). Returns their k-th best (-inf if fewer than k) and, if there are more than
    m candidates, the m-th best partial score with the docs above it (put in `hot`: fewer
    than m) and their number; else -inf and 0."""
    sc = np.empty(c, acc.dtype)
    for i in range(c):
        prefetch(acc, cand[min(i + AHEAD, c - 1)])
        sc[i] = acc[cand[i]]
    thr = kth(sc, c, m) if c > m else -np.inf
    exact = np.empty(m, np.float64)
    got = 0
    above = 0
    for i in range(c):
        if sc[i] < thr or got == m:
            if sc[i] > thr:
                hot[above] = cand[i]
                above += 1
            continue
        total = sc[i]
        d = cand[i]
        if sc[i] > thr:
            hot[above] = d
            above += 1
        for q in range(j, n):
            at = find(post_doc, lo[q], hi[q], d)
            if at >= 0:
                t = np.float32(post_tf[at])
                total += w1[q] * (t / (t + norm[d]))
        exact[got] = total
        got += 1
    return (kth(exact, got, k) if got >= k else -np.inf), thr, above


@compiled(inline="always")
def dropping(acc, cand, c, f):
    """Whether a sample of SAMPLE of the c candidates has a quarter or more below f."""
    below = 0
    for i in range(0, SAMPLE):
        s = acc[cand[i * c // SAMPLE]]
        below += (s < f) | (s == 0)
    return 4 * below >= SAMPLE
