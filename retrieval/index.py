"""The index: segments plus the global statistics BM25 needs, and exact top-k over them.

Scores use statistics summed over all live segments (document count, average length,
document frequency), so adding a segment gives exactly the scores of a full rebuild. The
top-k runs max-score pruning in numpy (`maxscore.py`) or, once it pays, the same algorithm
compiled with numba (`kernel.py` and `kernel_top.py`, loaded by `jit.py`); both give
identical results.
Segments live in `segment.py`, are built by `build.py` and stored by `storage.py`.
"""

import heapq
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from corpus.errors import ArgumentError

from . import jit, maxscore
from .build import CHUNK_CHARS, PARALLEL_MIN_CHARS, build_segment
from .segment import (
    NO_LEN,
    TF_GROUPS,
    Segment,
    drop_articles,
    merge_segments,
    next_names,
    tiered_merge,
)
from .storage import FORMAT, VERSION, load_segment, save_segment
from .text import tokenize

__all__ = [
    "CHUNK_CHARS",
    "FORMAT",
    "NO_LEN",
    "PARALLEL_MIN_CHARS",
    "TF_GROUPS",
    "VERSION",
    "BM25Params",
    "Index",
    "Segment",
    "build_segment",
    "drop_articles",
    "load_segment",
    "merge_segments",
    "save_segment",
]

COMPILED_POSTINGS = 2_000_000
"""An index with this many postings starts loading the compiled kernel at its first query;"""

COMPILED_AFTER = 32
"""... a smaller one after this many queries (a one-off `feedqa ask` never pays for it)."""

Kernel = Literal["auto", "numpy", "compiled"]
IDFS = ("lucene", "okapi")


@dataclass(frozen=True)
class BM25Params:
    """BM25 parameters. `idf="okapi"` with k1=1.5, b=0.75, epsilon=0.25 is rank-bm25's BM25Okapi."""

    k1: float = 1.2
    b: float = 0.75
    idf: str = "lucene"  # "lucene": log(1 + (N - df + .5) / (df + .5)); "okapi": rank-bm25's
    epsilon: float = 0.25

    def __post_init__(self) -> None:
        for key in ("k1", "b", "epsilon"):
            value = getattr(self, key)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise ArgumentError(f"BM25 parameter {key}={value!r} is not a number")
        if not (self.k1 > 0 and 0 <= self.b <= 1 and self.epsilon >= 0):
            raise ArgumentError(
                f"BM25 parameters out of range: k1={self.k1} (above 0), b={self.b} (0 to 1), "
                f"epsilon={self.epsilon} (0 or more)"
            )
        if self.idf not in IDFS:
            raise ArgumentError(f"unknown idf {self.idf!r}: one of {', '.join(IDFS)}")

    @classmethod
    def okapi(cls) -> "BM25Params":
        """rank-bm25's BM25Okapi defaults."""
        return cls(k1=1.5, b=0.75, idf="okapi", epsilon=0.25)


class Index:
    """Segments plus the global statistics BM25 needs. Doc ids are global: segment base + local.

    kernel: "auto" (numpy until the compiled kernel pays, see COMPILED_POSTINGS), "numpy"
    (the reference) or "compiled" (load it now; numpy if numba is missing).
    """

    def __init__(
        self,
        segments: list[Segment],
        params: BM25Params,
        segmenter: str,
        *,
        kernel: Kernel = "auto",
    ) -> None:
        self.segments = segments
        self.params = params
        self.segmenter = segmenter
        self.bases = np.cumsum([0] + [s.n_docs for s in segments]).astype(np.int64)
        self.n_docs = int(self.bases[-1])
        total = sum(int(np.asarray(s.doc_len, dtype=np.int64).sum()) for s in segments)
        self.avgdl = total / self.n_docs if total else 1.0  # no words at all: nothing matches
        k1, b = params.k1, params.b
        self._dtype = np.float64 if params.idf == "okapi" else np.float32
        self._width = np.dtype(self._dtype).name  # which compiled variant it uses
        self._norm = [
            (k1 * (1 - b + b * np.asarray(s.doc_len, dtype=np.float64) / self.avgdl)).astype(
                self._dtype
            )
            for s in segments
        ]
        self._avg_idf: float | None = None
        self._scratch = threading.local()
        self._impacts = maxscore.Impacts()
        self._kernel = kernel
        self._queries = 0
        self._postings = sum(len(s.post_doc) for s in segments)
        self._frozen: list[tuple | None] = [None] * len(segments)
        self._idf_tables: list[np.ndarray | None] = [None] * len(segments)
        if kernel == "compiled":
            jit.load(width=self._width)

    # --- statistics -------------------------------------------------------------------------

    def df(self, term: str) -> int:
        """Paragraphs holding `term`, over all segments."""
        return sum(s.df(term) for s in self.segments)

    def idf(self, term: str) -> float:
        """The idf of `term` under the configured variant (0 for unknown terms)."""
        for s, seg in enumerate(self.segments):
            if (i := seg.vocab.get(term)) is not None:
                return self.idf_table(s).item(i)
        return 0.0

    def _idf_for(self, df: int) -> float:
        """`idf` of a term held by `df` paragraphs in all."""
        if df == 0:
            return 0.0
        n = self.n_docs
        if self.params.idf == "okapi":
            value = math.log(n - df + 0.5) - math.log(df + 0.5)
            return value if value >= 0 else self.params.epsilon * self._average_idf()
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def idf_table(self, s: int) -> np.ndarray:
        """The idf of every term of segment `s`, by its id there (made on first use, once per
        distinct df: a few milliseconds at 976,000 paragraphs). The index never changes, so
        the idfs are kept."""
        table = self._idf_tables[s]
        if table is None:
            df = self._all_df(s)
            present = np.zeros(int(df.max(initial=0)) + 1, bool)
            present[df] = True
            values = np.zeros(len(present))
            for d in np.flatnonzero(present).tolist():
                values[d] = self._idf_for(d)
            table = self._idf_tables[s] = values[df]
        return table

    def _all_df(self, s: int) -> np.ndarray:
        """The df over all segments of each term of segment `s`, by its id there."""
        seg = self.segments[s]
        df = np.diff(np.asarray(seg.indptr, np.int64))
        for o, other in enumerate(self.segments):
            if o == s:
                continue
            other_df = np.diff(np.asarray(other.indptr, np.int64))
            if len(other.terms) <= len(seg.terms):  # walk the smaller vocabulary
                pairs = [
                    (j, i) for i, t in enumerate(other.terms) if (j := seg.vocab.get(t)) is not None
                ]
            else:
                pairs = [
                    (j, i) for j, t in enumerate(seg.terms) if (i := other.vocab.get(t)) is not None
                ]
            if pairs:
                here, there = np.array(pairs, np.int64).T
                df[here] += other_df[there]
        return df

    def idf_of_df(self, df: int) -> float:
        """The idf a term held by `df` paragraphs would have."""
        n = self.n_docs
        if self.params.idf == "okapi":
            return max(math.log(n - df + 0.5) - math.log(df + 0.5), 0.0)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def _average_idf(self) -> float:
        """rank-bm25's mean idf over the whole vocabulary (okapi variant only)."""
        if self._avg_idf is None:
            if len(self.segments) == 1:
                df = np.diff(self.segments[0].indptr).astype(np.float64)
            else:  # a term's df is summed over the segments holding it
                vocab: dict[str, int] = {}
                parts = [
                    (np.fromiter((vocab.setdefault(t, len(vocab)) for t in s.terms), np.int64), s)
                    for s in self.segments
                ]
                df = np.zeros(len(vocab))
                for remap, s in parts:
                    df[remap] += np.diff(s.indptr)
            values = np.log(self.n_docs - df + 0.5) - np.log(df + 0.5)
            self._avg_idf = float(values.mean()) if len(values) else 0.0
        return self._avg_idf

    # --- new indexes from this one ----------------------------------------------------------

    def updated(
        self, drops: dict[int, set[int]], records: list[dict], paragraphs: list[list[str]]
    ) -> "Index":
        """A new index: the articles `drops` lists (segment -> article rows) taken out, one
        segment of `records` and their `paragraphs` added, and segments merged by tiers."""
        counter = next_names(self.segments)
        segments = []
        for si, seg in enumerate(self.segments):
            if si in drops:
                seg = drop_articles(next(counter), seg, drops[si])
            if seg.articles:
                segments.append(seg)
        segments.append(build_segment(next(counter), records, paragraphs, tokenize))
        return Index(tiered_merge(segments, counter), self.params, self.segmenter)

    def merged(self) -> "Index":
        """The same index in one segment (same scores, faster queries)."""
        seg = merge_segments(next(next_names(self.segments)), self.segments)
        return Index([seg], self.params, self.segmenter)

    # --- lookup -----------------------------------------------------------------------------

    def locate(self, doc: int) -> tuple[Segment, int]:
        """The segment holding global doc id `doc`, and the local id."""
        s = int(np.searchsorted(self.bases, doc, side="right")) - 1
        return self.segments[s], doc - int(self.bases[s])

    def paragraph(self, doc: int) -> str:
        """Text of global paragraph `doc`."""
        seg, local = self.locate(doc)
        return seg.paragraph(local)

    def article_of(self, doc: int) -> tuple[dict, int]:
        """The article record holding paragraph `doc`, and the paragraph's 0-based number."""
        seg, local = self.locate(doc)
        return seg.articles[int(seg.doc_article[local])], int(seg.doc_para[local])

    def articles(self) -> Iterable[dict]:
        """Every article record, in index order."""
        for s in self.segments:
            yield from s.articles

    # --- scoring ----------------------------------------------------------------------------

    def _weights(self, terms: Sequence[str] | Sequence[tuple[str, float]]) -> dict[str, float]:
        """Query weight of each distinct term: its count, or the sum of given weights."""
        weights: dict[str, float] = {}
        for item in terms:
            term, w = (item, 1.0) if isinstance(item, str) else item
            weights[term] = weights.get(term, 0.0) + w
        return weights

    def scores(self, terms: Sequence[str] | Sequence[tuple[str, float]]) -> np.ndarray:
        """BM25 score of every paragraph (dense, for tests and comparisons)."""
        out = np.zeros(self.n_docs, dtype=np.float64)
        k1 = self.params.k1
        for term, w in self._weights(terms).items():
            idf = self.idf(term) * w
            for seg, base, norm in zip(self.segments, self.bases, self._norm, strict=False):
                i = seg.vocab.get(term)
                if i is None:
                    continue
                lo, hi = seg.indptr[i], seg.indptr[i + 1]
                d = seg.post_doc[lo:hi]
                tf = np.asarray(seg.post_tf[lo:hi], dtype=self._dtype)
                out[base + d] += idf * (tf * (k1 + 1) / (tf + norm[d]))
        return out

    def top(
        self, terms: Sequence[str] | Sequence[tuple[str, float]], k: int
    ) -> list[tuple[int, float]]:
        """The `k` best (global doc id, score) pairs, best first; exact, with max-score pruning."""
        if k <= 0 or self.n_docs == 0:
            return []
        compiled = self._compiled()
        if compiled is not None:
            return compiled.top(self, self._weights(terms), k)
        weights = [(t, self.idf(t) * w) for t, w in self._weights(terms).items()]
        weights = [(t, w) for t, w in weights if w != 0]
        if not weights:
            return []
        # Lists go rarest (largest weight) first, in the same order in every segment: each
        # doc's score is then the same sum, in the same order, whatever the segments.
        weights.sort(key=lambda tw: (-tw[1], tw[0]))
        hits: list[tuple[float, int]] = []
        theta = -math.inf
        # largest segment first: its k-th best score lets the smaller ones skip more
        for s in sorted(range(len(self.segments)), key=lambda s: -self.segments[s].n_docs):
            docs, scores = maxscore.top_segment(self, s, weights, k, theta)
            hits.extend(zip(scores.tolist(), (docs + int(self.bases[s])).tolist(), strict=True))
            if len(hits) >= k:
                theta = max(theta, heapq.nlargest(k, hits)[-1][0])
        hits.sort(key=lambda h: (-h[0], h[1]))
        return [(d, s) for s, d in hits[:k]]

    @property
    def kernel(self) -> str:
        """The top-k in use now: "compiled" or "numpy"."""
        return "numpy" if self._kernel == "numpy" or jit.get(self._width) is None else "compiled"

    def _compiled(self):
        """The compiled kernel module if it is to be used and ready, else None."""
        if self._kernel == "numpy":
            return None
        kernel = jit.get(self._width)
        if kernel is None and self._kernel == "auto":
            self._queries += 1
            if self._postings >= COMPILED_POSTINGS or self._queries >= COMPILED_AFTER:
                jit.start(self._width)
        return kernel

    def _bounds(self, s: int, terms: list[int]) -> list[float]:
        """The largest unweighted score contribution of each term (by id) in segment `s`."""
        return maxscore.bounds(self, s, terms)

    def _slots(self, n: int) -> np.ndarray:
        """This thread's scratch map doc -> candidate slot (-1: not a candidate), all -1."""
        pos = getattr(self._scratch, "pos", None)
        if pos is None or len(pos) < n:
            pos = self._scratch.pos = np.full(max(s.n_docs for s in self.segments), -1, np.int32)
        return pos

    def _candidates(self) -> tuple[np.ndarray, np.ndarray]:
        """This thread's scratch for the compiled kernel: scores (all 0) and candidates (a
        slot more than docs for each of two halves: the union writes a doc's slot before it
        knows whether the doc is new)."""
        bufs = getattr(self._scratch, "kernel", None)
        if bufs is None:
            n = max(s.n_docs for s in self.segments)
            bufs = self._scratch.kernel = (np.zeros(n, self._dtype), np.empty(n + 2, np.int32))
        return bufs

    def _arrays(self, s: int) -> tuple:
        """Segment `s`'s arrays for the compiled kernel, read-only (so one compiled variant
        serves loaded and built segments)."""
        arrays = self._frozen[s]
        if arrays is None:
            seg = self.segments[s]
            fixed = (seg.post_doc, seg.post_tf, seg.indptr, self._norm[s], seg.tf_len, seg.max_tf)
            arrays = self._frozen[s] = tuple(map(_read_only, fixed))
        return arrays


def _read_only(a: np.ndarray) -> np.ndarray:
    view = np.ascontiguousarray(a).view()
    view.flags.writeable = False
    return view
