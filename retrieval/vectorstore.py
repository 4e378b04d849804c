"""The sentence vectors of an index: saved and checked beside its segments, made for the
segments that lack them, and searched for the sentences closest to a question.

Each segment's vectors are memory-mapped `.npy` files with a checksummed manifest; vectors of
another model or sentence splitter, or corrupt ones, are made again. A large segment's vectors
also get a partition (`ann.py`) that its closest-sentence search goes through.
"""

import contextlib
import json
import logging
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import ann
from .semantic import (
    DIM,
    EMBEDDING,
    MODEL,
    Known,
    Progress,
    Vectors,
    bundled_table,
    embed,
    encoder,
)
from .storage import crc, replace_file, replacing

if TYPE_CHECKING:
    from .index import Index

log = logging.getLogger(__name__)

MATMUL_ROWS = 1 << 16
"""Rows of float16 vectors converted and multiplied at a time (bounds scratch memory)."""

_FILES = ("spans", "hashes", "vectors")
_LISTS = ("centroids", "order", "offsets", "codes", "scales")


def _write_npy(path: Path, array: np.ndarray) -> str:
    """Write `array` to `path` atomically and durably; its checksum."""
    with replacing(path) as f:
        np.save(f, np.ascontiguousarray(array), allow_pickle=False)
    return crc(path)


def save_vectors(vectors: Vectors, folder: Path, saved: dict[str, str] | None = None) -> None:
    """Write `vectors` into `folder` (a segment's) with a checksummed manifest, atomically.

    saved: files already there and their checksums (of a manifest read), not written again."""
    files = dict(saved or {})
    arrays = {name: getattr(vectors, name) for name in _FILES}
    if vectors.lists is not None:
        arrays.update((name, getattr(vectors.lists, name)) for name in _LISTS)
    for name, array in arrays.items():
        if f"sent-{name}.npy" not in files:
            files[f"sent-{name}.npy"] = _write_npy(folder / f"sent-{name}.npy", array)
    manifest = {"model": MODEL, "splitter": SPLITTER, "n": len(vectors.hashes), "files": files}
    replace_file(folder / "sentences.json", json.dumps(manifest).encode("utf-8"))


def load_vectors(folder: Path, *, verify: bool = True) -> Vectors | None:
    """The vectors saved in `folder`; None when missing, of another model, or corrupt.

    A large segment's vectors saved without their partition get one (saved with them when
    the folder is writable)."""
    try:
        manifest = json.loads((folder / "sentences.json").read_text(encoding="utf-8"))
        if manifest.get("model") != MODEL or manifest.get("splitter") != SPLITTER:
            return None
        n = manifest["n"]
        for name, expected in manifest["files"].items():
            if verify and crc(folder / name) != expected:
                log.warning("%s: %s is corrupt; its sentences are embedded again", folder, name)
                return None

        def read(name: str) -> np.ndarray:
            path = folder / f"sent-{name}.npy"
            return np.load(path, mmap_mode="r", allow_pickle=False).view(np.ndarray)

        arrays = [read(n) for n in _FILES]
        partitioned = all(f"sent-{n}.npy" in manifest["files"] for n in _LISTS)
        lists = ann.Lists(*(read(n) for n in _LISTS)) if partitioned else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    vectors = Vectors(*arrays, lists)
    if vectors.spans.shape != (n, 3) or vectors.hashes.shape != (n,):
        return None
    if vectors.vectors.shape != (n, DIM):
        return None
    if lists is not None and (
        lists.order.shape != (n,) or lists.offsets[-1] != n or lists.codes.shape != (n, DIM)
    ):
        return None
    if lists is None and n >= ann.MIN_ROWS:
        vectors = Vectors(*arrays, ann.build(vectors.vectors))
        with contextlib.suppress(OSError):  # the partition only: the rest is there
            save_vectors(vectors, folder, saved=manifest["files"])
    return vectors


SPLITTER = "sentences-1"
"""Version of the sentence splitter the spans follow (vectors of another are re-made)."""


class SentenceIndex:
    """The sentence vectors of every segment of an index, addressed by global doc id."""

    def __init__(self, bases: list[int], vectors: list[Vectors]) -> None:
        self._parts = list(zip(bases, vectors, strict=True))
        self._bases = np.array(bases, np.int64)
        # a small segment's vectors as float32 once: converting them for every question took
        # longer than the products themselves
        self._dense = [
            np.asarray(v.vectors, np.float32)
            if v.lists is None and len(v.hashes) < ann.MIN_ROWS
            else None
            for v in vectors
        ]

    def top(self, query: np.ndarray, k: int) -> list[tuple[int, int, float]]:
        """The `k` sentences closest to `query`: (global doc, start offset, cosine), best first."""
        best: list[tuple[float, int, int]] = []
        for i, (base, v) in enumerate(self._parts):
            rows, cos = self._closest(i, query, k)
            for row, c in zip(rows.tolist(), cos.tolist(), strict=True):
                doc, start, _ = v.spans[row]
                best.append((c, base + int(doc), int(start)))
        best = sorted(best, reverse=True)[:k]
        return [(d, s, c) for c, d, s in best]

    def _closest(self, part: int, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The rows of segment `part`'s `k` sentences closest to `query` and their cosines:
        through its partition if it has one, else all of them."""
        v, dense = self._parts[part][1], self._dense[part]
        if v.lists is not None:
            return v.lists.top(v.vectors, query, k)
        if dense is not None:
            cos = dense @ query
        else:
            cos = np.concatenate(
                [
                    v.vectors[lo : lo + MATMUL_ROWS].astype(np.float32) @ query
                    for lo in range(0, len(v.hashes), MATMUL_ROWS)
                ]
                or [np.zeros(0, np.float32)]
            )
        take = min(k, len(cos))
        if take <= 0:
            return np.zeros(0, np.int64), cos[:0]
        rows = np.argpartition(-cos, take - 1)[:take]
        return rows, cos[rows]

    def cosines(self, doc: int, query: np.ndarray) -> dict[int, float]:
        """The cosine of each sentence of global paragraph `doc` to `query`, by start offset."""
        v, vectors, lo, hi = self._paragraph(doc)
        if lo == hi:
            return {}
        return dict(zip(v.spans[lo:hi, 1].tolist(), (vectors @ query).tolist(), strict=True))

    def mean(self, found: list[tuple[int, int, float]]) -> np.ndarray:
        """The mean vector of sentences as `top` gives them (zeros for none)."""
        total = np.zeros(self._parts[0][1].vectors.shape[1], np.float32)
        for doc, start, _ in found:
            v, vectors, lo, hi = self._paragraph(doc)
            total += vectors[int(np.searchsorted(v.spans[lo:hi, 1], start))]
        return total / max(len(found), 1)

    def _paragraph(self, doc: int) -> tuple[Vectors, np.ndarray, int, int]:
        """The vectors of global paragraph `doc`'s segment, its sentences' float32 vectors,
        and their rows in the segment."""
        part = int(np.searchsorted(self._bases, doc, side="right")) - 1
        (base, v), dense = self._parts[part], self._dense[part]
        lo, hi = v.rows(doc - base)
        vectors = dense[lo:hi] if dense is not None else v.vectors[lo:hi].astype(np.float32)
        return v, vectors, lo, hi


class SentenceStore:
    """The sentence vectors of an index's segments, by segment name: made for the segments
    that lack them, read and written beside the segments, joined into a `SentenceIndex`."""

    def __init__(self) -> None:
        self.by_segment: dict[str, Vectors] = {}
        # joined once per index, and kept while anything (a question being answered) holds it
        self._joined: weakref.WeakKeyDictionary[Index, SentenceIndex | None] = (
            weakref.WeakKeyDictionary()
        )

    def sentence_index(self, index: "Index") -> SentenceIndex | None:
        """The sentence vectors of `index` (None when a segment has none: lexical answers)."""
        try:
            return self._joined[index]
        except KeyError:
            parts = [self.by_segment.get(s.name) for s in index.segments]
            value = (
                SentenceIndex([int(b) for b in index.bases[:-1]], parts)
                if parts and all(p is not None for p in parts)
                else None
            )
            self._joined[index] = value
            return value

    def carry(self, other: "SentenceStore", index: "Index") -> None:
        """Keep what `other` joined, `index`'s vectors included: a question that began on
        `index` before this store replaced `other` still finds them."""
        other.sentence_index(index)
        self._joined.update(other._joined)

    def embed(
        self,
        index: "Index",
        progress: Progress | None = None,
        reuse: Iterable[Vectors] = (),
        previous: "Index | None" = None,
        make: bool = True,
    ) -> None:
        """Make the vectors of the segments of `index` that have none (reusing known ones,
        and those of `reuse`); forget those of segments `index` no longer has, once those
        of `previous` (the index served until now) are joined for the questions on it.
        make: False for lexical answers: only forget (the vectors a read mapped)."""
        missing = [s for s in index.segments if s.name not in self.by_segment]
        if not (missing and make) or encoder() is None:
            self.forget(index, previous if make else None)
            return
        if previous is not None:
            self.sentence_index(previous)
        others = [*self.by_segment.values(), *reuse]
        known = Known([bundled_table()] + [(v.hashes, v.vectors) for v in others])
        total = sum(s.n_docs for s in missing)
        done = 0
        for seg in missing:

            def step(what: str, i: int, n: int, done: int = done, size: int = seg.n_docs) -> None:
                if progress and what == EMBEDDING:  # one count over all the segments
                    progress(what, done + i * size // max(n, 1), total)
                elif progress:
                    progress(what, i, n)

            texts = (seg.paragraph(d) for d in range(seg.n_docs))
            self.by_segment[seg.name] = embed(texts, known, encoder(), step)
            done += seg.n_docs
        self.forget(index, previous)

    def forget(self, index: "Index", previous: "Index | None" = None) -> None:
        """Forget the vectors of segments `index` no longer has (a writer removed their files:
        still mapped, they would hold that disk space for the life of the process), once
        those of `previous` are joined for the questions on it."""
        if previous is not None:
            self.sentence_index(previous)
        names = {s.name for s in index.segments}
        self.by_segment = {n: v for n, v in self.by_segment.items() if n in names}

    def load(self, path: Path, names: Iterable[str], *, verify: bool = True) -> bool:
        """Read the vectors saved beside the segments `names` under `path`; whether all were.

        The manifest of vectors missing, stale or corrupt is removed: they are made again."""
        complete = True
        for name in names:
            vectors = load_vectors(path / name, verify=verify)
            if vectors is not None:
                self.by_segment[name] = vectors
            else:
                complete = False
                with contextlib.suppress(OSError):
                    (path / name / "sentences.json").unlink(missing_ok=True)
        return complete

    def save(self, path: Path) -> None:
        """Write the vectors of segments saved under `path` that lack theirs."""
        for name, vectors in self.by_segment.items():
            folder = path / name
            if folder.is_dir() and not (folder / "sentences.json").exists():
                save_vectors(vectors, folder)
