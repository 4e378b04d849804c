"""An inverted-file partition of a large segment's sentence vectors, for fast closest-sentence
search.

The vectors are clustered (spherical k-means, from faiss) into about 2·√n lists; a question
is compared with the list centroids and then only with the sentences of its `PROBES` closest
lists. Each list keeps its vectors again as int8 codes (a scale per row), stored in list
order: a list is one contiguous read, and numpy converts int8 to float32 ten times faster than
float16. The `RERANK` best by their codes are scored again exactly on the float16 vectors.
Below `MIN_ROWS` sentences a segment is searched exhaustively (exact and fast enough). The
partition is plain arrays saved beside the vectors; faiss is needed only to make them.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

MIN_ROWS = 20_000
"""Segments with fewer sentences are searched exhaustively."""

PROBES = 24
"""Lists searched per question."""

RERANK = 64
"""Sentences, best by their codes, whose exact cosines decide the top k (at least 4·k)."""

SAMPLE = 256
"""Vectors per centroid that k-means is trained on (at most)."""

ITERATIONS = 20
"""k-means iterations."""

ROUND = 5
"""Iterations a k-means call runs (progress is reported between calls; each call costs a
pass over the sample besides)."""

CHUNK = 1 << 16
"""Rows converted at a time while assigning and coding (bounds scratch memory)."""


@dataclass(frozen=True)
class Lists:
    """The partition: centroids, the rows of each list and their codes, where each list starts."""

    centroids: np.ndarray  # float32 (nlist, dim), unit length
    order: np.ndarray  # int32 (n,): row ids, grouped by list
    offsets: np.ndarray  # int64 (nlist + 1,): list i is order[offsets[i]:offsets[i + 1]]
    codes: np.ndarray  # int8 (n, dim): the vectors of `order`'s rows, each row × 127 / its max
    scales: np.ndarray  # float32 (n,): each code row's max / 127

    def top(self, vectors: np.ndarray, query: np.ndarray, k: int, probes: int = PROBES):
        """The rows of the `k` vectors closest to `query` among the `probes` closest lists, and
        their cosines, best first."""
        near = np.argsort(-(self.centroids @ query), kind="stable")[:probes]
        spans = [(int(self.offsets[i]), int(self.offsets[i + 1])) for i in near]
        at = np.concatenate([np.arange(a, b) for a, b in spans] or [np.zeros(0, np.int64)])
        if not len(at) or k <= 0:
            return at[:0].astype(np.int64), np.zeros(0, np.float32)
        approx = np.concatenate(
            [(self.codes[a:b].astype(np.float32) @ query) * self.scales[a:b] for a, b in spans]
        )
        take = min(max(RERANK, 4 * k), len(at))
        short = np.argpartition(-approx, take - 1)[:take]
        rows = np.sort(self.order[at[short]]).astype(np.int64)  # file order
        cos = vectors[rows].astype(np.float32) @ query
        best = np.argsort(-cos, kind="stable")[: min(k, len(rows))]
        return rows[best], cos[best]


def build(
    vectors: np.ndarray, seed: int = 1, progress: Callable[[int, int], None] | None = None
) -> Lists | None:
    """The partition of `vectors` (unit rows); None when there are too few to need one.

    progress: called with (steps done, steps in all): k-means iterations, then chunks of rows
    assigned to their lists and coded."""
    n, dim = vectors.shape
    if n < MIN_ROWS:
        return None
    import faiss  # only to make a partition: a search needs none

    nlist = int(2 * np.sqrt(n))
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, min(n, nlist * SAMPLE), replace=False))
    chunks = -(-n // CHUNK)
    steps, done = ITERATIONS // ROUND + 2 * chunks, 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, steps)

    # a few iterations a call, each from the last one's centroids: the same k-means, with progress
    kmeans = faiss.Kmeans(dim, nlist, niter=ROUND, spherical=True, seed=seed)
    train = np.ascontiguousarray(vectors[sample], dtype=np.float32)
    for i in range(ITERATIONS // ROUND):
        kmeans.train(train, init_centroids=kmeans.centroids if i else None)
        step()
    labels = np.empty(n, np.int64)
    for lo in range(0, n, CHUNK):
        chunk = np.ascontiguousarray(vectors[lo : lo + CHUNK], dtype=np.float32)
        labels[lo : lo + CHUNK] = kmeans.index.search(chunk, 1)[1][:, 0]
        step()
    order = np.argsort(labels, kind="stable").astype(np.int32)
    offsets = np.searchsorted(labels[order], np.arange(nlist + 1)).astype(np.int64)
    codes = np.empty((n, dim), np.int8)
    scales = np.empty(n, np.float32)
    for lo in range(0, n, CHUNK):
        x = vectors[order[lo : lo + CHUNK]].astype(np.float32)
        scale = np.maximum(np.abs(x).max(axis=1), 1e-12) / 127
        codes[lo : lo + CHUNK] = np.rint(x / scale[:, None]).astype(np.int8)
        scales[lo : lo + CHUNK] = scale
        step()
    return Lists(np.asarray(kmeans.centroids, np.float32), order, offsets, codes, scales)
