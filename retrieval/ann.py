"""An inverted-file partition of a large segment's sentence vectors, for fast closest-sentence
search.

The vectors are clustered (spherical k-means, from faiss) into about 2·√n lists; a question
is compared with the list centroids and then only with the sentences of its `PROBES` closest
lists. Below `MIN_ROWS` sentences a segment is searched exhaustively (exact and fast enough).
The partition is three plain arrays saved beside the vectors; faiss is needed only to make
them, never to search.
"""

from dataclasses import dataclass

import numpy as np

MIN_ROWS = 20_000
"""Segments with fewer sentences are searched exhaustively."""

PROBES = 24
"""Lists searched per question."""

SAMPLE = 256
"""Vectors per centroid that k-means is trained on (at most)."""

CHUNK = 1 << 16
"""Rows converted to float32 at a time while assigning (bounds scratch memory)."""


@dataclass(frozen=True)
class Lists:
    """The partition: centroids, the rows of each list, and where each list starts."""

    centroids: np.ndarray  # float32 (nlist, dim), unit length
    order: np.ndarray  # int32 (n,): row ids, grouped by list
    offsets: np.ndarray  # int64 (nlist + 1,): list i is order[offsets[i]:offsets[i + 1]]

    def top(self, vectors: np.ndarray, query: np.ndarray, k: int, probes: int = PROBES):
        """The rows of the `k` vectors closest to `query` among the `probes` closest lists, and
        their cosines, best first."""
        near = np.argsort(-(self.centroids @ query), kind="stable")[:probes]
        rows = np.concatenate([self.order[self.offsets[i] : self.offsets[i + 1]] for i in near])
        if not len(rows) or k <= 0:
            return rows[:0], np.zeros(0, np.float32)
        rows.sort()  # reads the memory-mapped vectors in file order
        from .f16dot import dots  # numba: loaded only where a segment is this large

        cos = dots(vectors, rows, query)
        take = min(k, len(cos))
        best = np.argpartition(-cos, take - 1)[:take]
        best = best[np.argsort(-cos[best], kind="stable")]
        return rows[best], cos[best]


def build(vectors: np.ndarray, seed: int = 1) -> Lists | None:
    """The partition of `vectors` (unit rows); None when there are too few to need one."""
    n, dim = vectors.shape
    if n < MIN_ROWS:
        return None
    import faiss  # only to make a partition: a search needs none

    nlist = int(2 * np.sqrt(n))
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, min(n, nlist * SAMPLE), replace=False))
    kmeans = faiss.Kmeans(dim, nlist, niter=20, spherical=True, seed=seed)
    kmeans.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
    labels = np.empty(n, np.int64)
    for lo in range(0, n, CHUNK):
        chunk = np.ascontiguousarray(vectors[lo : lo + CHUNK], dtype=np.float32)
        labels[lo : lo + CHUNK] = kmeans.index.search(chunk, 1)[1][:, 0]
    order = np.argsort(labels, kind="stable").astype(np.int32)
    offsets = np.searchsorted(labels[order], np.arange(nlist + 1)).astype(np.int64)
    return Lists(np.asarray(kmeans.centroids, np.float32), order, offsets)
