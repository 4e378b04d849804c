"""BM25 over paragraphs: immutable segments that share global statistics.

A segment holds the paragraphs of some articles (text, lengths, postings by term). Scores use
statistics summed over all live segments (document count, average length, document frequency),
so adding a segment gives exactly the scores of a full rebuild. Segments are saved as plain
`.npy`, text and JSON files (no pickle) and memory-mapped on load.
"""

import contextlib
import heapq
import json
import math
import os
import pickle
import shutil
import threading
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

import numpy as np

from corpus.errors import IndexFileError

FORMAT = "feedqa-index"
VERSION = 2


@dataclass(frozen=True)
class BM25Params:
    """BM25 parameters. `idf="okapi"` with k1=1.5, b=0.75, epsilon=0.25 is rank-bm25's BM25Okapi."""

    k1: float = 1.2
    b: float = 0.75
    idf: str = "lucene"  # "lucene": log(1 + (N - df + .5) / (df + .5)); "okapi": rank-bm25's
    epsilon: float = 0.25

    @classmethod
    def okapi(cls) -> "BM25Params":
        """rank-bm25's BM25Okapi defaults."""
        return cls(k1=1.5, b=0.75, idf="okapi", epsilon=0.25)


@dataclass
class Segment:
    """Paragraphs of some articles with their postings; doc ids are local to the segment."""

    name: str
    articles: list[dict]  # article records (no paragraphs), in order
    doc_article: np.ndarray  # int32, local article index of each paragraph
    doc_para: np.ndarray  # int32, 0-based paragraph number within its article
    doc_len: np.ndarray  # int32, number of terms
    text: np.ndarray  # uint8, UTF-8 paragraph texts, concatenated
    text_off: np.ndarray  # int64, n_docs + 1 offsets into text
    terms: list[str]
    indptr: np.ndarray  # int64, n_terms + 1
    post_doc: np.ndarray  # int32, local doc ids, ascending within a term
    post_tf: np.ndarray  # float32 term frequencies
    max_tf: np.ndarray  # float32, per term
    min_len: np.ndarray  # int32, per term: shortest paragraph holding it
    vocab: dict[str, int] = field(default_factory=dict, repr=False)
    tf_len: np.ndarray | None = None  # int32 (n_terms, TF_GROUPS), see _term_bounds

    def __post_init__(self) -> None:
        if not self.vocab:
            self.vocab = dict(zip(self.terms, range(len(self.terms)), strict=True))
        if self.tf_len is None:  # segments saved before tf_len: the max_tf, min_len bound
            self.tf_len = np.full((len(self.terms), TF_GROUPS), NO_LEN, np.int32)
            self.tf_len[:, -1] = self.min_len

    @property
    def n_docs(self) -> int:
        return len(self.doc_len)

    def paragraph(self, doc: int) -> str:
        """The text of local paragraph `doc`."""
        return bytes(self.text[self.text_off[doc] : self.text_off[doc + 1]]).decode("utf-8")

    def df(self, term: str) -> int:
        """Number of paragraphs of this segment holding `term`."""
        i = self.vocab.get(term)
        return 0 if i is None else int(self.indptr[i + 1] - self.indptr[i])


PROBE = 3
"""`Index.top` scores PROBE * k promising candidates exactly to learn a score threshold."""

SHORT = 4096
"""`Index.top` reads the leading posting lists whole while they add up to this many docs."""

IMPACT_MIN = 8192
"""`Index.top` keeps the length-normalised tf of posting lists this long that it read whole,"""

IMPACT_CACHE = 16_000_000
"""... up to this many values in all (the oldest go first)."""

TF_GROUPS = 4
"""Score bounds keep each term's shortest paragraph per tf = 1, 2, ..., >= TF_GROUPS."""

NO_LEN = np.iinfo(np.int32).max
"""tf_len of a group without postings."""

PARALLEL_MIN_CHARS = 4_000_000
"""`build_segment` tokenizes in worker processes from this many characters on."""

CHUNK_CHARS = 1_000_000
"""Paragraphs are tokenized in chunks of about this many characters (bounds the memory)."""


def build_segment(
    name: str,
    articles: Sequence[dict],
    paragraphs: Sequence[Sequence[str]],
    tokenize: Callable[[str], list[str]],
    *,
    workers: int | None = None,
) -> Segment:
    """Index `paragraphs[i]` (the texts of `articles[i]`) with `tokenize`.

    workers: processes that tokenize; None picks all CPUs for inputs of at least
    PARALLEL_MIN_CHARS characters (and a picklable `tokenize`), else 1. The result does not
    depend on it.
    """
    texts = [t for paras in paragraphs for t in paras]
    counts = np.fromiter(map(len, paragraphs), np.int64, len(paragraphs))
    doc_article = np.repeat(np.arange(len(paragraphs), dtype=np.int32), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    doc_para = (np.arange(len(texts), dtype=np.int64) - first).astype(np.int32)
    chunks = _chunks(texts, CHUNK_CHARS)
    if workers is None:
        workers = _auto_workers(sum(map(len, texts)), tokenize)
    if workers > 1 and len(chunks) > 1:
        from .build import tokenize_chunks

        parts, text = tokenize_chunks(tokenize, chunks, workers, texts)
    else:
        parts = [chunk_postings(tokenize, c) for c in chunks]
        text = "".join(texts).encode("utf-8")
    return _from_parts(name, list(articles), doc_article, doc_para, parts, text)


def _auto_workers(chars: int, fn: Callable) -> int:
    """All CPUs for `chars` >= PARALLEL_MIN_CHARS and a picklable `fn`, else 1."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if (cpus or 1) < 2 or chars < PARALLEL_MIN_CHARS:
        return 1
    try:
        pickle.dumps(fn)
    except (pickle.PicklingError, AttributeError, TypeError):
        return 1
    return cpus or 1


def _chunk_bounds(weights: Sequence[int], size: int) -> list[int]:
    """Cut points splitting items of `weights` into consecutive runs of about `size`."""
    if not len(weights):
        return [0, 0]
    ends = np.cumsum(np.asarray(weights, dtype=np.int64))
    n = max(1, math.ceil(int(ends[-1]) / size))
    cuts = np.searchsorted(ends, np.arange(1, n) * (int(ends[-1]) / n))
    return [0, *sorted(set(cuts.tolist()) - {0, len(weights)}), len(weights)]


def _chunks(texts: list[str], size: int) -> list[list[str]]:
    """`texts` cut into consecutive runs of about `size` characters (at least one run)."""
    bounds = _chunk_bounds([len(t) for t in texts], size)
    return [texts[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


@dataclass
class Part:
    """Postings of consecutive paragraphs, as `chunk_postings` returns them (local ids)."""

    terms: list[str]  # in order of first occurrence
    indptr: np.ndarray  # int64, len(terms) + 1
    post_doc: np.ndarray  # int32, ascending within a term
    post_tf: np.ndarray  # float32
    doc_len: np.ndarray  # int32, terms per paragraph
    text_len: np.ndarray  # int64, UTF-8 bytes per paragraph
    max_tf: np.ndarray  # float32, per term
    tf_len: np.ndarray  # int32, per term and tf group


def chunk_postings(tokenize: Callable[[str], list[str]], texts: Sequence[str]) -> Part:
    """Tokenize `texts` and build their postings (the unit of work of a parallel build)."""
    cut = list(map(tokenize, texts))
    doc_len = np.fromiter(map(len, cut), np.int32, len(cut))
    tokens = list(chain.from_iterable(cut))
    del cut
    terms = list(dict.fromkeys(tokens))
    ids = np.fromiter(
        map(dict(zip(terms, range(len(terms)), strict=True)).__getitem__, tokens),
        np.int32,
        len(tokens),
    )
    del tokens
    docs = np.repeat(np.arange(len(texts), dtype=np.int32), doc_len)
    order = _stable_order(ids, len(terms))
    ids, docs = ids[order], docs[order]
    # one posting per run of equal (term, doc); docs ascend within a term (stable order)
    start = np.ones(len(ids), dtype=bool)
    np.not_equal(ids[1:], ids[:-1], out=start[1:])
    start[1:] |= docs[1:] != docs[:-1]
    first = np.flatnonzero(start)
    post_doc = docs[first]
    post_tf = np.diff(first, append=len(ids)).astype(np.float32)
    indptr = np.zeros(len(terms) + 1, dtype=np.int64)
    np.cumsum(np.bincount(ids[first], minlength=len(terms)), out=indptr[1:])
    text_len = np.fromiter((len(t.encode("utf-8")) for t in texts), np.int64, len(texts))
    max_tf, _, tf_len = _term_bounds(indptr, post_doc, post_tf, doc_len)
    return Part(terms, indptr, post_doc, post_tf, doc_len, text_len, max_tf, tf_len)


def _stable_order(keys: np.ndarray, n_keys: int) -> np.ndarray:
    """A stable ordering permutation of small non-negative int32 `keys` (LSD radix sort)."""
    if n_keys <= 1 << 16:
        return np.argsort(keys.astype(np.uint16), kind="stable")
    low = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
    return low[np.argsort((keys[low] >> 16).astype(np.uint16), kind="stable")]


def _merge_postings(
    parts: Sequence[tuple[Sequence[str], np.ndarray, np.ndarray, np.ndarray, int]],
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """Concatenate the postings of consecutive runs of documents, without sorting.

    parts: (terms, indptr, post_doc, post_tf, n_docs) each, doc ids local to the part.
    Returns the terms (first occurrence order), indptr, post_doc, post_tf and each part's
    map from its term ids to the merged ones.
    """
    vocab: dict[str, int] = {}
    remaps = [
        np.fromiter((vocab.setdefault(t, len(vocab)) for t in p[0]), np.int64, len(p[0]))
        for p in parts
    ]
    terms = list(vocab)
    if len(parts) == 1:
        _, indptr, post_doc, post_tf, _ = parts[0]
        return terms, indptr, post_doc, post_tf, remaps
    counts = np.zeros(len(terms), np.int64)
    for remap, p in zip(remaps, parts, strict=True):
        counts[remap] += np.diff(p[1])
    indptr = np.zeros(len(terms) + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    post_doc = np.empty(int(indptr[-1]), np.int32)
    post_tf = np.empty(int(indptr[-1]), np.float32)
    cursor = indptr[:-1].copy()  # where each term's next block goes
    doc_base = 0
    for remap, (_, p_indptr, p_doc, p_tf, n_docs) in zip(remaps, parts, strict=True):
        size = np.diff(p_indptr)
        dest = np.repeat(cursor[remap] - p_indptr[:-1], size)
        dest += np.arange(len(p_doc), dtype=np.int64)
        cursor[remap] += size
        post_doc[dest] = np.asarray(p_doc) + np.int32(doc_base)
        post_tf[dest] = p_tf
        doc_base += n_docs
    return terms, indptr, post_doc, post_tf, remaps


def _from_parts(
    name: str,
    articles: list[dict],
    doc_article: np.ndarray,
    doc_para: np.ndarray,
    parts: list[Part],
    text: bytes,
) -> Segment:
    terms, indptr, post_doc, post_tf, remaps = _merge_postings(
        [(p.terms, p.indptr, p.post_doc, p.post_tf, len(p.doc_len)) for p in parts]
    )
    max_tf, min_len, tf_len = _merge_bounds(
        len(terms), [(remap, p.max_tf, p.tf_len) for remap, p in zip(remaps, parts, strict=True)]
    )
    doc_len = _concat([p.doc_len for p in parts], np.int32)
    text_off = np.zeros(len(doc_len) + 1, dtype=np.int64)
    np.cumsum(_concat([p.text_len for p in parts], np.int64), out=text_off[1:])
    return Segment(
        name, articles, doc_article, doc_para, doc_len, np.frombuffer(text, dtype=np.uint8),
        text_off, terms, indptr, post_doc, post_tf, max_tf, min_len, tf_len=tf_len,
    )  # fmt: skip


def _concat(arrays: Sequence[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(0, dtype)


def _term_bounds(
    indptr: np.ndarray, post_doc: np.ndarray, post_tf: np.ndarray, doc_len: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per term, for score upper bounds: the largest tf, the shortest paragraph, and the
    shortest paragraph among those with tf = 1, 2, ..., >= TF_GROUPS (NO_LEN if none).

    A term's contribution grows with tf and shrinks with length, so its exact maximum is
    over the shortest paragraph of each tf; tf_len gives it for any average length.
    """
    n_terms = len(indptr) - 1
    tf_len = np.full((n_terms, TF_GROUPS), NO_LEN, np.int32)
    if len(post_doc) == 0:
        return np.zeros(n_terms, np.float32), np.zeros(n_terms, np.int32), tf_len
    starts = indptr[:-1].copy()
    empty = (starts >= len(post_doc)) | (indptr[1:] == indptr[:-1])
    starts[starts >= len(post_doc)] = 0
    max_tf = np.maximum.reduceat(post_tf, starts).astype(np.float32)
    max_tf[empty] = 0
    lens = np.asarray(doc_len)[post_doc]
    group = np.minimum(post_tf, TF_GROUPS).astype(np.int8)
    for g in range(TF_GROUPS):
        tf_len[:, g] = np.minimum.reduceat(np.where(group == g + 1, lens, NO_LEN), starts)
    tf_len[empty] = NO_LEN
    min_len = tf_len.min(axis=1)
    return max_tf, min_len, tf_len


def _merge_bounds(
    n_terms: int, parts: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """max_tf, min_len and tf_len of merged parts: (term remap, max_tf, tf_len) each."""
    max_tf = np.zeros(n_terms, np.float32)
    tf_len = np.full((n_terms, TF_GROUPS), NO_LEN, np.int32)
    for remap, p_max_tf, p_tf_len in parts:
        np.maximum.at(max_tf, remap, np.asarray(p_max_tf))
        np.minimum.at(tf_len, remap, np.asarray(p_tf_len))
    return max_tf, tf_len.min(axis=1), tf_len


def merge_segments(name: str, segments: Sequence[Segment]) -> Segment:
    """One segment holding everything in `segments`, in order."""
    terms, indptr, post_doc, post_tf, remaps = _merge_postings(
        [(s.terms, s.indptr, s.post_doc, s.post_tf, s.n_docs) for s in segments]
    )
    max_tf, min_len, tf_len = _merge_bounds(
        len(terms), [(r, s.max_tf, s.tf_len) for r, s in zip(remaps, segments, strict=True)]
    )
    art_offsets = np.cumsum([0] + [len(s.articles) for s in segments[:-1]])
    doc_article = _concat(
        [np.asarray(s.doc_article) + off for s, off in zip(segments, art_offsets, strict=True)],
        np.int32,
    )
    text_bases = np.cumsum([0] + [int(s.text_off[-1]) for s in segments[:-1]])
    text_off = np.concatenate(
        [[0]]
        + [np.asarray(s.text_off[1:]) + base for s, base in zip(segments, text_bases, strict=True)]
    ).astype(np.int64)
    return Segment(
        name,
        [a for s in segments for a in s.articles],
        doc_article,
        _concat([s.doc_para for s in segments], np.int32),
        _concat([s.doc_len for s in segments], np.int32),
        _concat([s.text for s in segments], np.uint8),
        text_off,
        terms, np.asarray(indptr, np.int64), np.asarray(post_doc, np.int32),
        np.asarray(post_tf, np.float32), max_tf, min_len, tf_len=tf_len,
    )  # fmt: skip


def drop_articles(name: str, seg: Segment, drop: set[int]) -> Segment:
    """A copy of `seg` without the articles at local indexes `drop`."""
    keep_art = np.array([i not in drop for i in range(len(seg.articles))], dtype=bool)
    keep_doc = keep_art[seg.doc_article]
    new_doc_id = np.cumsum(keep_doc) - 1
    new_art_id = np.cumsum(keep_art) - 1
    keep_post = keep_doc[seg.post_doc]
    counts = (
        np.add.reduceat(keep_post.astype(np.int64), seg.indptr[:-1]) if len(keep_post) else None
    )
    n_terms = len(seg.terms)
    if counts is None:
        counts = np.zeros(n_terms, np.int64)
    else:
        counts[np.diff(seg.indptr) == 0] = 0
    alive = counts > 0
    terms = [t for t, a in zip(seg.terms, alive, strict=True) if a]
    indptr = np.zeros(len(terms) + 1, dtype=np.int64)
    np.cumsum(counts[alive], out=indptr[1:])
    post_doc = new_doc_id[seg.post_doc[keep_post]].astype(np.int32)
    post_tf = np.asarray(seg.post_tf)[keep_post]
    doc_len = np.asarray(seg.doc_len)[keep_doc]
    max_tf, min_len, tf_len = _term_bounds(indptr, post_doc, post_tf, doc_len)
    lengths = np.diff(seg.text_off)
    text = np.asarray(seg.text)[np.repeat(keep_doc, lengths)]
    text_off = np.zeros(int(keep_doc.sum()) + 1, dtype=np.int64)
    np.cumsum(lengths[keep_doc], out=text_off[1:])
    return Segment(
        name,
        [a for i, a in enumerate(seg.articles) if keep_art[i]],
        new_art_id[np.asarray(seg.doc_article)[keep_doc]].astype(np.int32),
        np.asarray(seg.doc_para)[keep_doc],
        doc_len, text, text_off, terms, indptr, post_doc, post_tf, max_tf, min_len,
        tf_len=tf_len,
    )  # fmt: skip


class Index:
    """Segments plus the global statistics BM25 needs. Doc ids are global: segment base + local."""

    def __init__(self, segments: list[Segment], params: BM25Params, segmenter: str) -> None:
        self.segments = segments
        self.params = params
        self.segmenter = segmenter
        self.bases = np.cumsum([0] + [s.n_docs for s in segments]).astype(np.int64)
        self.n_docs = int(self.bases[-1])
        total = sum(int(np.asarray(s.doc_len, dtype=np.int64).sum()) for s in segments)
        self.avgdl = total / self.n_docs if self.n_docs else 1.0
        k1, b = params.k1, params.b
        self._dtype = np.float64 if params.idf == "okapi" else np.float32
        self._norm = [
            (k1 * (1 - b + b * np.asarray(s.doc_len, dtype=np.float64) / self.avgdl)).astype(
                self._dtype
            )
            for s in segments
        ]
        self._avg_idf: float | None = None
        self._scratch = threading.local()
        self._impacts: dict[tuple[int, int], np.ndarray] = {}  # see _Postings.unit
        self._impacts_size = 0
        self._impacts_lock = threading.Lock()

    # --- statistics -------------------------------------------------------------------------

    def df(self, term: str) -> int:
        """Paragraphs holding `term`, over all segments."""
        return sum(s.df(term) for s in self.segments)

    def idf(self, term: str) -> float:
        """The idf of `term` under the configured variant (0 for unknown terms)."""
        df = self.df(term)
        if df == 0:
            return 0.0
        n = self.n_docs
        if self.params.idf == "okapi":
            value = math.log(n - df + 0.5) - math.log(df + 0.5)
            return value if value >= 0 else self.params.epsilon * self._average_idf()
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

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
        weights = [(t, self.idf(t) * w) for t, w in self._weights(terms).items()]
        weights = [(t, w) for t, w in weights if w != 0]
        if not weights:
            return []
        hits: list[tuple[float, int]] = []
        theta = -math.inf
        # largest segment first: its k-th best score lets the smaller ones skip more
        for s in sorted(range(len(self.segments)), key=lambda s: -self.segments[s].n_docs):
            docs, scores = self._top_segment(s, weights, k, theta)
            hits.extend(zip(scores.tolist(), (docs + int(self.bases[s])).tolist(), strict=True))
            if len(hits) >= k:
                theta = max(theta, heapq.nlargest(k, hits)[-1][0])
        hits.sort(key=lambda h: (-h[0], h[1]))
        return [(d, s) for s, d in hits[:k]]

    def _top_segment(
        self, s: int, weights: list[tuple[str, float]], k: int, theta: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """The best (local doc, score) of segment `s`, skipping docs scoring below `theta`.

        Max-score, term at a time, rarest term first. A list is "essential" (read whole, its
        docs become candidates) until the score bounds of the lists left sum below theta, a
        lower bound of the k-th best score; theta comes from the exact scores of the best
        candidates so far (probed in the other lists). The other lists are only probed for
        the candidates, which are dropped as soon as they cannot reach theta.
        """
        seg = self.segments[s]
        # Lists go rarest (largest weight) first, in the same order in every segment: each
        # doc's score is then the same sum, in the same order, whatever the segments.
        order = sorted(weights, key=lambda tw: (-tw[1], tw[0]))
        found = [(i, w) for t, w in order if (i := seg.vocab.get(t)) is not None]
        bounds = self._bounds(s, [i for i, _ in found])
        lists = [_Postings(self, s, i, w, w * u) for (i, w), u in zip(found, bounds, strict=True)]
        lists = [p for p in lists if len(p.docs)]
        if not lists:
            return np.zeros(0, np.int64), np.zeros(0, self._dtype)
        prunable = all(p.w > 0 for p in lists)
        n = len(lists)
        rest = np.cumsum([p.bound for p in lists][::-1])[::-1].tolist() + [0.0]
        # lists[:j] are read whole; short leading lists at once (deciding costs more)
        j, size = 1, len(lists[0].docs)
        while j < n and size + len(lists[j].docs) <= SHORT:
            size += len(lists[j].docs)
            j += 1
        pos = self._slots(seg.n_docs)
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
            sc += lists[m].contrib_for(cand, self._slots(seg.n_docs))
            if len(cand) >= k:
                theta = max(theta, _kth(sc, k))
        if prunable:
            keep = sc >= _floor(theta)
            cand, sc = cand[keep], sc[keep]
        if len(cand) > k:  # the k best, and any ties (the caller breaks them by doc id)
            keep = sc >= _kth(sc, k)
            cand, sc = cand[keep], sc[keep]
        return cand.astype(np.int64), sc

    def _bounds(self, s: int, terms: list[int]) -> list[float]:
        """The largest unweighted score contribution of each term (by id) in segment `s`."""
        seg, k1, b = self.segments[s], self.params.k1, self.params.b
        lens = seg.tf_len[terms]
        tf = np.empty(lens.shape)
        tf[:] = np.arange(1, TF_GROUPS + 1)
        tf[:, -1] = np.maximum(seg.max_tf[terms], TF_GROUPS)  # tf >= TF_GROUPS: at most max_tf
        f = tf * (k1 + 1) / (tf + k1 * (1 - b + b * lens / self.avgdl))
        f[lens == NO_LEN] = 0
        return f.max(axis=1, initial=0.0).tolist()

    def _keep_impact(self, key: tuple[int, int], values: np.ndarray) -> np.ndarray:
        """Keep a long posting list's tf / (tf + norm) for later queries (IMPACT_CACHE values
        at most, the oldest dropped first); it depends on this index's average length."""
        with self._impacts_lock:
            while self._impacts and self._impacts_size + len(values) > IMPACT_CACHE:
                self._impacts_size -= len(self._impacts.pop(next(iter(self._impacts))))
            if key not in self._impacts and len(values) <= IMPACT_CACHE:
                self._impacts[key] = values
                self._impacts_size += len(values)
        return values

    def _slots(self, n: int) -> np.ndarray:
        """This thread's scratch map doc -> candidate slot (-1: not a candidate), all -1."""
        pos = getattr(self._scratch, "pos", None)
        if pos is None or len(pos) < n:
            pos = self._scratch.pos = np.full(max(s.n_docs for s in self.segments), -1, np.int32)
        return pos


class _Postings:
    """One query term's posting list in one segment, with its weight and score bound."""

    __slots__ = ("index", "key", "docs", "tf", "norm", "w", "w1", "bound", "_unit")

    def __init__(self, index: Index, s: int, term: int, w: float, bound: float) -> None:
        seg = index.segments[s]
        lo, hi = int(seg.indptr[term]), int(seg.indptr[term + 1])
        self.docs = seg.post_doc[lo:hi]
        self.tf = seg.post_tf[lo:hi]
        if index._dtype != np.float32:
            self.tf = self.tf.astype(index._dtype)
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
            self._unit = self.index._keep_impact(self.key, self._tf_part())
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


# --- persistence ----------------------------------------------------------------------------

_ARRAYS = (
    "doc_article",
    "doc_para",
    "doc_len",
    "text_off",
    "indptr",
    "post_doc",
    "post_tf",
    "max_tf",
    "min_len",
    "tf_len",
)
_OPTIONAL = {"tf_len"}  # absent from segments written before it existed
_POPULATE = {"post_doc", "post_tf"}  # mapped up front: queries touch them all over
_MADV_POPULATE_READ = 22  # Linux >= 5.14 (older kernels refuse it: nothing happens)


def _load_array(path: Path, mmap: bool, populate: bool = False) -> np.ndarray:
    """An .npy file, memory-mapped (as a plain ndarray view: np.memmap's subclass hooks cost
    in every query) or read."""
    if not mmap:
        return np.load(path, allow_pickle=False)
    array = np.load(path, mmap_mode="r", allow_pickle=False)
    if populate and getattr(array, "_mmap", None) is not None:
        # map the pages now rather than fault them in one by one during queries
        with contextlib.suppress(OSError, ValueError, AttributeError):
            array._mmap.madvise(_MADV_POPULATE_READ)
    return array.view(np.ndarray)


def _crc(path: Path) -> int:
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            crc = zlib.crc32(chunk, crc)
    return crc


def save_segment(seg: Segment, folder: Path) -> None:
    """Write `seg` into `folder` (created; must not exist) with a checksummed manifest."""
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in _ARRAYS:
        np.save(tmp / f"{name}.npy", np.ascontiguousarray(getattr(seg, name)), allow_pickle=False)
    (tmp / "text.bin").write_bytes(np.asarray(seg.text).tobytes())
    (tmp / "terms.txt").write_text("\n".join(seg.terms), encoding="utf-8")
    with open(tmp / "articles.jsonl", "w", encoding="utf-8") as f:
        for a in seg.articles:
            f.write(json.dumps(a, ensure_ascii=False) + "\n")
    files = {p.name: {"size": p.stat().st_size, "crc32": _crc(p)} for p in sorted(tmp.iterdir())}
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "name": seg.name,
        "n_docs": seg.n_docs,
        "files": files,
    }
    (tmp / "segment.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    _fsync_dir(tmp)
    os.replace(tmp, folder)


def load_segment(folder: Path, *, verify: bool = True, mmap: bool = True) -> Segment:
    """Read a segment written by `save_segment`; raise IndexFileError if anything is off."""
    try:
        manifest = json.loads((folder / "segment.json").read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
            raise IndexFileError(f"{folder}: unsupported index version {manifest.get('version')!r}")
        for fname, info in manifest["files"].items():
            p = folder / fname
            if p.stat().st_size != info["size"] or (verify and _crc(p) != info["crc32"]):
                raise IndexFileError(f"{folder}: {fname} is corrupt (size or checksum mismatch)")
        arrays = {
            n: _load_array(folder / f"{n}.npy", mmap, populate=n in _POPULATE)
            for n in _ARRAYS
            if n not in _OPTIONAL or f"{n}.npy" in manifest["files"]
        }
        terms_text = (folder / "terms.txt").read_text(encoding="utf-8")
        terms = terms_text.split("\n") if terms_text else []
        text = (
            np.memmap(folder / "text.bin", dtype=np.uint8, mode="r").view(np.ndarray)
            if mmap and (folder / "text.bin").stat().st_size
            else np.fromfile(folder / "text.bin", dtype=np.uint8)
        )
        lines = (folder / "articles.jsonl").read_text(encoding="utf-8").strip()
        articles = json.loads(f"[{lines.replace(chr(10), ',')}]")  # one record a line
    except IndexFileError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexFileError(f"{folder}: unreadable index segment ({exc})") from exc
    if "tf_len" in arrays and arrays["tf_len"].shape != (len(terms), TF_GROUPS):
        del arrays["tf_len"]  # written with other tf groups: fall back to the coarser bound
    seg = Segment(manifest["name"], articles, text=text, terms=terms, **arrays)
    if len(seg.indptr) != len(terms) + 1 or len(seg.doc_len) != manifest["n_docs"]:
        raise IndexFileError(f"{folder}: inconsistent segment")
    return seg


def _fsync_dir(folder: Path) -> None:
    for p in folder.iterdir():
        with open(p, "rb") as f:
            os.fsync(f.fileno())
