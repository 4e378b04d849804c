"""Segments: the paragraphs of some articles with their postings, and how they combine.

A segment is immutable. `chunk_postings` turns tokenized paragraphs into postings (the unit
of a parallel build, see `build.py`), `merge_segments` and `drop_articles` make new segments
from old ones, and each term keeps the bounds that max-score pruning needs (`term_bounds`).
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

import numpy as np

TF_GROUPS = 4
"""Score bounds keep each term's shortest paragraph per tf = 1, 2, ..., >= TF_GROUPS."""

NO_LEN = np.iinfo(np.int32).max
"""tf_len of a group without postings."""


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
    post_tf: np.ndarray  # term frequencies, unsigned (see `tf_counts`)
    max_tf: np.ndarray  # float32, per term
    min_len: np.ndarray  # int32, per term: shortest paragraph holding it
    vocab: dict[str, int] = field(default_factory=dict, repr=False)
    tf_len: np.ndarray | None = None  # int32 (n_terms, TF_GROUPS), see term_bounds
    # each folder it was read from or written to, and its segment.json's digest then (a
    # library's segments saved to a backup too are still saved in the library)
    on_disk: dict[Path, str] = field(default_factory=dict, compare=False, repr=False)

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


@dataclass
class Part:
    """Postings of consecutive paragraphs, as `chunk_postings` returns them (local ids)."""

    terms: list[str]  # in order of first occurrence
    indptr: np.ndarray  # int64, len(terms) + 1
    post_doc: np.ndarray  # int32, ascending within a term
    post_tf: np.ndarray  # unsigned, see `tf_counts`
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
    post_tf = tf_counts(np.diff(first, append=len(ids)))
    indptr = np.zeros(len(terms) + 1, dtype=np.int64)
    np.cumsum(np.bincount(ids[first], minlength=len(terms)), out=indptr[1:])
    text_len = np.fromiter((len(t.encode("utf-8")) for t in texts), np.int64, len(texts))
    max_tf, _, tf_len = term_bounds(indptr, post_doc, post_tf, doc_len)
    return Part(terms, indptr, post_doc, post_tf, doc_len, text_len, max_tf, tf_len)


def tf_counts(counts: np.ndarray) -> np.ndarray:
    """Term frequencies in the smallest unsigned type that holds them: one byte, unless a
    term occurs more than 255 times in one paragraph (a quarter of float32's memory)."""
    return counts.astype(np.min_scalar_type(int(counts.max()) if len(counts) else 0))


def _stable_order(keys: np.ndarray, n_keys: int) -> np.ndarray:
    """A stable ordering permutation of small non-negative int32 `keys` (LSD radix sort)."""
    if n_keys <= 1 << 16:
        return np.argsort(keys.astype(np.uint16), kind="stable")
    low = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
    return low[np.argsort((keys[low] >> 16).astype(np.uint16), kind="stable")]


def merge_postings(
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
    post_tf = np.empty(int(indptr[-1]), np.result_type(np.uint8, *(p[3].dtype for p in parts)))
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


def from_parts(
    name: str,
    articles: list[dict],
    doc_article: np.ndarray,
    doc_para: np.ndarray,
    parts: list[Part],
    text: bytes,
) -> Segment:
    terms, indptr, post_doc, post_tf, remaps = merge_postings(
        [(p.terms, p.indptr, p.post_doc, p.post_tf, len(p.doc_len)) for p in parts]
    )
    max_tf, min_len, tf_len = merge_bounds(
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


def term_bounds(
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


def merge_bounds(
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
    terms, indptr, post_doc, post_tf, remaps = merge_postings(
        [(s.terms, s.indptr, s.post_doc, s.post_tf, s.n_docs) for s in segments]
    )
    max_tf, min_len, tf_len = merge_bounds(
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
        np.asarray(post_tf), max_tf, min_len, tf_len=tf_len,
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
    max_tf, min_len, tf_len = term_bounds(indptr, post_doc, post_tf, doc_len)
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


def next_names(segments: Sequence[Segment]) -> Iterator[str]:
    """Names for new segments: "seg-N" numbered on from the highest of `segments`."""
    n = max((int(s.name.split("-")[1]) for s in segments), default=0)
    while True:
        n += 1
        yield f"seg-{n}"


MAX_SEGMENTS = 8
"""Segments an index keeps: every query visits each one, so more make every query slower."""


def tiered_merge(segments: list[Segment], names: Iterator[str]) -> list[Segment]:
    """Merge the small segments once there are many, keeping large ones untouched; when
    none is small (many adds of about one size), all but the largest, so an index never
    keeps more than MAX_SEGMENTS (the merged one outgrows the largest: geometric sizes)."""
    if len(segments) <= MAX_SEGMENTS:
        return segments
    largest = max(s.n_docs for s in segments)
    small = [s for s in segments if s.n_docs * 4 < largest]
    if len(small) < 2 or len(segments) - len(small) + 1 > MAX_SEGMENTS:
        small = sorted(segments, key=lambda s: s.n_docs)[:-1]
    merged = merge_segments(next(names), small)
    return [s for s in segments if all(s is not x for x in small)] + [merged]
