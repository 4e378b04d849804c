"""The Retriever: the one entry object of feedqa's library."""

import contextlib
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from corpus.checks import seconds
from corpus.errors import ArgumentError, IndexFileError, LibraryError

from . import answering, arguments, bundled, library, manifest, records, vectorstore
from .answering import MAX_QUESTION_CHARS
from .index import BM25Params, Index, build_segment, load_segment, save_segment
from .models import Answer, Passage
from .question import content_terms
from .semantic import Progress
from .storage import saved_in
from .text import SEGMENTER, tokenize
from .vectorstore import SentenceStore

if TYPE_CHECKING:
    from corpus import Article


@dataclass(frozen=True)
class AddReport:
    """What `Retriever.add` did."""

    added: int
    updated: int
    unchanged: int


class Retriever:
    """BM25 over the paragraphs of a news archive, with cited extractive answers.

    Build with `from_articles`, `default()` (the bundled corpus) or `open(path)` (a library
    on disk that grows with `add`); persist with `save`/`load`. Safe to use from many threads.
    """

    def __init__(
        self,
        index: Index,
        *,
        path: Path | None = None,
        min_confidence: float | None = None,
        semantic: bool = True,
    ) -> None:
        self._index = index
        self._path = path
        self._lock = threading.Lock()
        self.min_confidence = min_confidence
        self.semantic = semantic
        self._logged = 0  # lines of the articles log this index covers
        self._stamp: str | None = None  # checksum of the manifest this index was read or saved as
        self._file_lock = None  # the library's writer lock, for a library opened with `open`
        self._pid = os.getpid()  # the process whose writer lock `_file_lock` is
        self._behind = False  # the log holds what the index lacks: the next write takes it up
        self._log_size = -1  # bytes of the log when this index was read or saved
        self.repairs: list[str] = []
        """What was found damaged and repaired, by `open` (skipped log lines, re-logged
        articles) or by a later write (a library removed while open)."""
        self._vectors = SentenceStore()  # sentence vectors of the segments

    min_confidence = arguments.Checked(arguments.probability)
    """The least confidence to answer with (None: the ranker's calibrated threshold)."""
    semantic = arguments.Checked(arguments.switch)
    """Whether answers use the sentence encoder (False: lexical answers)."""

    # --- construction -----------------------------------------------------------------------

    @classmethod
    def from_articles(
        cls,
        articles: Iterable["Article"],
        *,
        params: BM25Params | None = None,
        progress: Progress | None = None,
        reuse: Iterable[vectorstore.Vectors] = (),
        **kwargs,
    ) -> "Retriever":
        """Index `articles` in memory (later duplicates of an id replace earlier ones).

        progress: called with (what, steps done, in all) while their vectors are made;
        reuse: sentence vectors made before (of a damaged index), looked up by sentence.
        """
        if params is not None and not isinstance(params, BM25Params):
            raise ArgumentError(f"params must be a BM25Params, not {type(params).__name__}")
        arguments.callback(progress)
        unique = list({a.id: a for a in arguments.articles(articles)}.values())
        # a hash each: cheaper here than shipped to worker processes
        recs = [records.article_record(a) for a in unique]
        seg = build_segment("seg-1", recs, [a.paragraphs for a in unique], tokenize)
        retriever = cls(Index([seg], params or BM25Params(), SEGMENTER), **kwargs)
        if retriever.semantic:
            retriever._vectors.embed(retriever._index, progress, reuse)
        return retriever

    @classmethod
    def default(cls, cache_dir: str | os.PathLike | None = None, **kwargs) -> "Retriever":
        """The bundled corpus, its index cached on disk (rebuilt if missing, stale or corrupt).

        cache_dir: where to keep the index; default `$XDG_CACHE_HOME/feedqa` or `~/.cache/feedqa`.
        """
        return bundled.open_bundled(cls, cache_dir, **kwargs)

    @classmethod
    def connect(
        cls, url: str, *, cluster: str | os.PathLike | None = None, **kwargs
    ) -> "Retriever":
        """The archive on a Sphinx/Manticore cluster, `url` like "sphinx://host:port/index".

        cluster: the cluster's folder (`feedqa cluster init`), needed by `add` and `compact`.
        Raises EngineError (one line) when the engine cannot be reached.
        """
        from .remote import connect

        return connect(url, cluster=cluster, **kwargs)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        *,
        verify: bool = True,
        progress: Progress | None = None,
        **kwargs,
    ) -> "Retriever":
        """Open an index saved with `save`; raise IndexFileError if it is missing, stale or corrupt.

        Sentence vectors that are missing or corrupt are made again (and saved when the folder
        is writable). An index that a writer replaced while it was read (an ingest beside
        this process removed the segments it merged) is read again."""
        path, verify = library.as_folder(path, "index"), arguments.switch(verify, "verify")
        arguments.callback(progress)

        def read(saved: dict) -> tuple[tuple, bool]:
            try:
                params, names, logged = manifest.checked(saved)
                segments = [load_segment(path / name, verify=verify) for name in names]
            except (KeyError, TypeError) as exc:
                raise IndexFileError(f"{path}: malformed manifest ({exc})") from exc
            vectors = SentenceStore()
            whole = vectors.load(path, names, verify=verify)
            return (BM25Params(**params), segments, logged, vectors), whole

        saved, (params, segments, logged, vectors), complete = manifest.read_consistent(path, read)
        retriever = cls(Index(segments, params, SEGMENTER), **kwargs)
        retriever._logged, retriever._stamp = logged, saved["checksum"]
        retriever._vectors = vectors
        if not complete:
            if retriever.semantic:  # made again, and saved anew
                retriever._vectors.embed(retriever._index, progress)
            with contextlib.suppress(OSError):
                retriever._vectors.save(path)
        return retriever

    def save(self, path: str | os.PathLike) -> None:
        """Write the index to `path` as plain files (atomic: a reader sees the old or the new);
        LibraryError if it cannot be written there. An `add` in another thread waits for it
        (the index and its sentence vectors are written as one), and so does a save to the same
        folder in another process (LibraryBusyError past a minute)."""
        path = library.as_folder(path, "index")
        try:
            path.mkdir(parents=True, exist_ok=True)
            # saves to one folder take turns (another process's too): files of two indexes
            # interleaved would not load
            with self._lock, library.locked(library.save_lock(path), path, "index"):
                self._write(path, self._index)
        except OSError as exc:
            raise LibraryError(f"cannot save the index to {path}: {exc.strerror or exc}") from exc

    def _write(self, path: Path, index: Index) -> None:
        """Write the segments of `index` not saved under `path` yet (replacing another index's
        segments of the same name), their vectors, then the manifest."""
        for seg in index.segments:
            folder = path / seg.name
            if not saved_in(seg, folder):
                save_segment(seg, folder)
        self._vectors.save(path)
        self._stamp = manifest.write_index_manifest(path, index, self._logged)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike,
        *,
        lock_timeout: float = library.LOCK_TIMEOUT,
        progress: Progress | None = None,
        catch_up: bool = True,
        **kwargs,
    ) -> "Retriever":
        """A library at `path`: its articles log plus an index rebuilt from it when needed.

        A new library starts with the bundled corpus. Articles are logged before they are
        indexed, so a damaged index loses nothing; articles the index holds but the log lacks
        are logged again. Repairs are listed in `repairs`. A writer waits up to `lock_timeout`
        seconds for another, then raises LibraryBusyError.
        catch_up: False, for readers: logged articles an ingest has not indexed yet (running,
        or killed) are left to the next `add`. A damaged index a reader cannot repair (another
        process writes, or it is read-only) is rebuilt in memory, and repaired by the next write.
        """
        timeout = seconds(lock_timeout, "lock_timeout")
        catch_up, progress = arguments.switch(catch_up, "catch_up"), arguments.callback(progress)
        return library.open_library(
            cls, path, timeout, catch_up=catch_up, progress=progress, **kwargs
        )

    def __reduce__(self):
        raise TypeError(
            "a Retriever holds memory-mapped files and locks and cannot be pickled or copied: "
            "load or open it in each process"
        )

    # --- updating ---------------------------------------------------------------------------

    def add(
        self,
        articles: Iterable["Article"],
        *,
        progress: Progress | None = None,
        _log: bool = True,
    ) -> AddReport:
        """Add new articles and replace changed ones (same id; an id given twice counts once,
        as its last copy); unchanged ones are skipped.

        Only the new articles are tokenized and embedded; statistics stay global, so scores
        equal those of a full rebuild. A library opened with `open` is updated on disk.
        progress: called with (what, steps done, in all) while new vectors are made.
        """
        arguments.callback(progress)
        with self._lock, self._writing():
            self._catch_up(progress)
            index = self._index
            stored = records.Stored(index)
            fresh: dict[str, tuple[dict, Article]] = {}
            drops: dict[int, set[int]] = {}  # segment -> slots of the updated articles
            for a, old in stored.changed(arguments.articles(articles), records.text_hash):
                if old:
                    drops.setdefault(old[0], set()).add(old[1])
                fresh[a.id] = (records.article_record(a), a)
            updated, unchanged = sum(map(len, drops.values())), stored.unchanged
            if not fresh:
                return AddReport(0, 0, unchanged)
            if self._path and _log:
                library.append_log(self._path / library.LOG, [a for _, a in fresh.values()])
                self._logged = self._logged + len(fresh)
                self._log_size = library.log_size(self._path)
            new_index = index.updated(
                drops, [r for r, _ in fresh.values()], [a.paragraphs for _, a in fresh.values()]
            )
            self._vectors.embed(new_index, progress, previous=index, make=self.semantic)
            if self._path:
                try:
                    self._persist(new_index)
                except LibraryError:  # logged but not indexed: the next open indexes them
                    self._logged -= len(fresh) if _log else 0
                    raise
            self._index = new_index
            if self._path and _log:
                library.compact_if_due(self)
            return AddReport(len(fresh) - updated, updated, unchanged)

    def compact(self) -> None:
        """Merge all segments into one (same scores, faster queries)."""
        with self._lock, self._writing():
            self._catch_up()
            index = self._index
            if len(index.segments) <= 1:
                return
            new_index = index.merged()
            self._vectors.embed(new_index, previous=index, make=self.semantic)
            if self._path:
                self._persist(new_index)
            self._index = new_index

    def _persist(self, index: Index) -> None:
        assert self._path is not None
        try:
            self._write(self._path, index)
        except OSError as exc:  # the articles are logged: the next open indexes them
            raise LibraryError(
                f"cannot write the index at {self._path}: {exc.strerror or exc}"
            ) from exc

    def _writing(self) -> contextlib.AbstractContextManager:
        """The library's writer lock, for a library opened with `open`."""
        if self._file_lock is None or self._path is None:
            return contextlib.nullcontext()
        if self._pid != os.getpid():  # a forked child: a lock of its own (one is not inherited)
            self._file_lock = library.writer_lock(self._path, self._file_lock.timeout)
            self._pid = os.getpid()
        return library.locked(self._file_lock, self._path)

    def refresh(self) -> bool:
        """Take up what another process saved to the library since this one read or wrote
        it (an ingest that ran beside a REPL or a bot); whether anything changed. A library
        found damaged is left to its next writer."""
        if self._path is None or manifest.stamp(self._path) == self._stamp:
            return False
        with self._lock:
            fresh = library.open_at(
                type(self), self._path, self._file_lock, write=False, catch_up=False,
                min_confidence=self.min_confidence, semantic=self.semantic,
            )  # fmt: skip
            if fresh is None:
                return False
            self._adopt(fresh)
        return True

    def _catch_up(self, progress: Progress | None = None) -> None:
        """Take up what another process wrote to the library since this one read or wrote
        it, and what its log holds that the index lacks."""
        if self._path is None or (
            not self._behind
            and manifest.stamp(self._path) == self._stamp
            and library.log_size(self._path) == self._log_size  # another process logged more
        ):
            return
        if not (self._path / library.LOG).exists() and manifest.stamp(self._path) is None:
            library.write_again(self)  # removed or emptied while open
            return
        fresh = library.open_at(
            type(self), self._path, self._file_lock, write=True, progress=progress,
            min_confidence=self.min_confidence, semantic=self.semantic,
        )  # fmt: skip
        assert fresh is not None
        self._adopt(fresh)
        self.repairs.extend(fresh.repairs)  # what taking up another process's work repaired

    def _adopt(self, fresh: "Retriever") -> None:
        """Serve what `fresh`, the same library opened again, read from disk. The vectors go
        first, knowing the index served until now: a question reads the index, then them."""
        fresh._vectors.carry(self._vectors, self._index)
        self._vectors, self._behind = fresh._vectors, fresh._behind
        self._index, self._logged, self._stamp = fresh._index, fresh._logged, fresh._stamp
        self._log_size = fresh._log_size

    # --- reading ----------------------------------------------------------------------------

    def info(self) -> dict:
        """Corpus size and date range."""
        index = self._index
        return records.summary(
            index.articles(), paragraphs=index.n_docs, segments=len(index.segments)
        )

    def example_questions(self, n: int = 3) -> list[str]:
        """Up to `n` questions about the newest articles (their titles) that the archive
        answers."""
        if arguments.count(n, "n") == 0:
            return []
        out = []
        for title in records.newest_titles(self._index.articles()):
            question = f"{title}是怎么回事?"
            if 4 <= len(title) <= 30 and self.ask(question).answered:
                out.append(question)
                if len(out) >= n:
                    break
        return out

    def search(self, query: str, k: int = 5) -> list[Passage]:
        """The `k` best paragraphs for `query` by BM25, best first."""
        query = arguments.text(query, "query")[:MAX_QUESTION_CHARS]
        index = self._index
        hits = index.top(content_terms(query), arguments.count(k))
        return [answering.passage(index, doc, score) for doc, score in hits]

    def ask(self, question: str, history: Sequence[str] | None = None, k: int = 3) -> Answer:
        """Answer `question` from the archive, with up to `k` citations (at least one: an
        answer always cites its source).

        history: the chat's earlier questions, oldest first; used when the question leans on
        them (a pronoun, or no subject of its own). Never raises for any string. Questions
        and history items are read up to MAX_QUESTION_CHARS; a cut question gets a note.
        """
        question, history = arguments.text(question, "question"), arguments.history(history)
        index = self._index
        k = max(1, arguments.count(k))
        answer = answering.ask(
            index, self._sentences(index), question, history, k, self.min_confidence
        )
        if len(question) > MAX_QUESTION_CHARS:
            note = f"问题过长,只读取了前 {MAX_QUESTION_CHARS} 个字符"
            answer = answer.model_copy(update={"notes": [*answer.notes, note]})
        return answer

    def _sentences(self, index: Index) -> vectorstore.SentenceIndex | None:
        """The sentence vectors answers use (None with `semantic` off: lexical answers)."""
        return self._vectors.sentence_index(index) if self.semantic else None

    @property
    def index(self) -> Index:
        """The current index (read-only use)."""
        return self._index
