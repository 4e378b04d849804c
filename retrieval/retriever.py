"""The Retriever: the one entry object of feedqa's library."""

import contextlib
import hashlib
import os
import shutil
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from corpus.errors import IndexFileError, LibraryError, QueryError

from . import candidates, features, library, ranker, semantic, spans
from .index import (
    FORMAT,
    VERSION,
    BM25Params,
    Index,
    Segment,
    build_segment,
    drop_articles,
    load_segment,
    merge_segments,
    save_segment,
)
from .models import Answer, Citation, Passage
from .question import Query, analyse, content_terms
from .text import SEGMENTER, normalize, tokenize

if TYPE_CHECKING:
    from corpus import Article

MAX_QUESTION_CHARS = 2000
"""Longer questions are read up to this many characters."""

_LIBRARY_LOG = library.LOG
_MANIFEST = library.MANIFEST


@dataclass(frozen=True)
class AddReport:
    """What `Retriever.add` did."""

    added: int
    updated: int
    unchanged: int


def _record(article: "Article") -> dict:
    """The index's plain record of an article (everything but the paragraphs)."""
    return {
        "id": article.id,
        "title": article.title,
        "link": article.link,
        "published": article.published.isoformat() if article.published else None,
        "category": article.category,
        "source": article.source,
        "paragraphs": len(article.paragraphs),
        "hash": library.content_hash(article.title, article.paragraphs),
    }


def _published(record: dict) -> datetime | None:
    value = record.get("published")
    return datetime.fromisoformat(value) if value else None


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
        self.min_confidence = min_confidence  # None: the ranker's calibrated threshold
        self.semantic = semantic  # False: no sentence encoder, lexical answers
        self._logged = 0  # lines of the articles log this index covers
        self._stamp: str | None = None  # checksum of the manifest this index was read or saved as
        self._file_lock = None  # the library's writer lock, for a library opened with `open`
        self.repairs: list[str] = []
        """What `open` found damaged and repaired (skipped log lines, re-logged articles)."""
        self._vectors: dict[str, semantic.Vectors] = {}  # by segment name
        self._sentence_cache: tuple[Index, semantic.SentenceIndex | None] | None = None

    # --- construction -----------------------------------------------------------------------

    @classmethod
    def from_articles(
        cls,
        articles: Iterable["Article"],
        *,
        params: BM25Params | None = None,
        progress: semantic.Progress | None = None,
        **kwargs,
    ) -> "Retriever":
        """Index `articles` in memory (later duplicates of an id replace earlier ones).

        progress: called with (sentences done, in all) while their vectors are made.
        """
        unique = list({a.id: a for a in articles}.values())
        records = [_record(a) for a in unique]  # a hash each: cheaper here than shipped to workers
        seg = build_segment("seg-1", records, [a.paragraphs for a in unique], tokenize)
        retriever = cls(Index([seg], params or BM25Params(), SEGMENTER), **kwargs)
        retriever._embed(retriever._index, progress)
        return retriever

    @classmethod
    def default(cls, cache_dir: str | os.PathLike | None = None, **kwargs) -> "Retriever":
        """The bundled corpus, its index cached on disk (rebuilt if missing, stale or corrupt).

        cache_dir: where to keep the index; default `$XDG_CACHE_HOME/feedqa` or `~/.cache/feedqa`.
        """
        from corpus import bundled_feed_path

        feed = bundled_feed_path()
        digest = hashlib.sha1(
            f"{feed.stat().st_size}:{feed.stat().st_mtime_ns}:{SEGMENTER}:{VERSION}".encode()
        ).hexdigest()[:12]
        base = (
            Path(cache_dir)
            if cache_dir
            else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "feedqa"
        )
        path = base / f"bundled-{digest}"
        try:
            return cls.load(path, **kwargs)
        except IndexFileError:
            pass
        from corpus import load_feed  # the feed readers only when the index must be built

        retriever = cls.from_articles(load_feed(feed), **kwargs)
        with contextlib.suppress(OSError):  # a read-only cache only costs start-up time
            retriever.save(path)
        return retriever

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
        progress: semantic.Progress | None = None,
        **kwargs,
    ) -> "Retriever":
        """Open an index saved with `save`; raise IndexFileError if it is missing, stale or corrupt.

        Sentence vectors that are missing or corrupt are made again (and saved when the folder
        is writable)."""
        path = Path(path)
        manifest = library.read_manifest(path / _MANIFEST)
        if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
            raise IndexFileError(
                f"{path}: index version {manifest.get('version')!r} is not {VERSION}; rebuild it"
            )
        if manifest.get("segmenter") != SEGMENTER:
            raise IndexFileError(
                f"{path}: built with segmenter {manifest.get('segmenter')!r}, not {SEGMENTER!r}"
            )
        try:
            params, names, logged = library.checked(manifest)
            params = BM25Params(**params)
            segments = [load_segment(path / name, verify=verify) for name in names]
        except (KeyError, TypeError) as exc:
            raise IndexFileError(f"{path}: malformed manifest ({exc})") from exc
        retriever = cls(Index(segments, params, SEGMENTER), **kwargs)
        retriever._logged, retriever._stamp = logged, manifest["checksum"]
        for seg in segments:
            vectors = semantic.load_vectors(path / seg.name, verify=verify)
            if vectors is not None:
                retriever._vectors[seg.name] = vectors
            else:  # missing, stale or corrupt: made again below, and saved anew
                with contextlib.suppress(OSError):
                    (path / seg.name / "sentences.json").unlink(missing_ok=True)
        if len(retriever._vectors) < len(segments):
            retriever._embed(retriever._index, progress)
            with contextlib.suppress(OSError):
                retriever._save_vectors(path)
        return retriever

    def save(self, path: str | os.PathLike) -> None:
        """Write the index to `path` as plain files (atomic: a reader sees the old or the new)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        index = self._index
        for seg in index.segments:
            if not (path / seg.name / "segment.json").exists():
                save_segment(seg, path / seg.name)
        self._save_vectors(path)
        self._stamp = self._write_manifest(path, index, self._logged)

    def _save_vectors(self, path: Path) -> None:
        """Write the vectors of segments saved under `path` that lack theirs."""
        for name, vectors in self._vectors.items():
            folder = path / name
            if folder.is_dir() and not (folder / "sentences.json").exists():
                semantic.save_vectors(vectors, folder)

    @staticmethod
    def _write_manifest(path: Path, index: Index, logged: int) -> str:
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "segmenter": SEGMENTER,
            "params": index.params.__dict__,
            "segments": [s.name for s in index.segments],
            "logged": logged,
        }
        checksum = library.write_manifest(path / _MANIFEST, manifest)
        keep = {s.name for s in index.segments}
        for child in path.iterdir():
            if child.is_dir() and child.name.startswith("seg-") and child.name not in keep:
                shutil.rmtree(child, ignore_errors=True)
        return checksum

    @classmethod
    def open(
        cls,
        path: str | os.PathLike,
        *,
        lock_timeout: float = library.LOCK_TIMEOUT,
        progress: semantic.Progress | None = None,
        **kwargs,
    ) -> "Retriever":
        """A library at `path`: its articles log plus an index rebuilt from it when needed.

        A new library starts with the bundled corpus. Articles added with `add` are logged
        before they are indexed, so nothing is lost if the index is damaged; articles the
        index holds but the log lacks are logged again from the index. What was repaired is
        listed in `repairs`. Writers lock the library: one waits up to `lock_timeout`
        seconds for another, then raises LibraryBusyError.
        """
        path = Path(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LibraryError(f"cannot create the library at {path}: {exc.strerror}") from exc
        lock = library.writer_lock(path, lock_timeout)
        retriever = library.open_at(cls, path, lock, write=False, progress=progress, **kwargs)
        if retriever is None:  # something to write: again, as the only writer
            with library.locked(lock, path):
                retriever = library.open_at(
                    cls, path, lock, write=True, progress=progress, **kwargs
                )
        return retriever

    # --- updating ---------------------------------------------------------------------------

    def add(
        self,
        articles: Iterable["Article"],
        *,
        progress: semantic.Progress | None = None,
        _log: bool = True,
    ) -> AddReport:
        """Add new articles and replace changed ones (same id); unchanged ones are skipped.

        Only the new articles are tokenized and embedded; statistics stay global, so scores
        equal those of a full rebuild. A library opened with `open` is updated on disk.
        progress: called with (sentences done, in all) while new vectors are made.
        """
        with self._lock, self._writing():
            self._catch_up()
            index = self._index
            where: dict[str, tuple[int, int, str]] = {}
            for si, seg in enumerate(index.segments):
                for ai, rec in enumerate(seg.articles):
                    where[rec["id"]] = (si, ai, rec["hash"])
            fresh: dict[str, tuple[dict, Article]] = {}
            updated = unchanged = 0
            drops: dict[int, set[int]] = {}
            for a in articles:
                rec = _record(a)
                old = where.get(a.id)
                if a.id in fresh:
                    fresh[a.id] = (rec, a)
                    continue
                if old and old[2] == rec["hash"]:
                    unchanged += 1
                    continue
                if old:
                    updated += 1
                    drops.setdefault(old[0], set()).add(old[1])
                fresh[a.id] = (rec, a)
            if not fresh:
                return AddReport(0, 0, unchanged)
            if self._path and _log:
                library.append_log(self._path / _LIBRARY_LOG, [a for _, a in fresh.values()])
                self._logged = self._logged + len(fresh)
            counter = self._next_name(index)
            segments: list[Segment] = []
            for si, seg in enumerate(index.segments):
                if si in drops:
                    seg = drop_articles(next(counter), seg, drops[si])
                if seg.articles:
                    segments.append(seg)
            recs = [r for r, _ in fresh.values()]
            segments.append(
                build_segment(
                    next(counter), recs, [a.paragraphs for _, a in fresh.values()], tokenize
                )
            )
            segments = _tiered_merge(segments, counter)
            new_index = Index(segments, index.params, index.segmenter)
            self._embed(new_index, progress)
            if self._path:
                try:
                    self._persist(new_index)
                except LibraryError:  # logged but not indexed: the next open indexes them
                    self._logged -= len(fresh) if _log else 0
                    raise
            self._index = new_index
            return AddReport(len(fresh) - updated, updated, unchanged)

    def compact(self) -> None:
        """Merge all segments into one (same scores, faster queries)."""
        with self._lock, self._writing():
            self._catch_up()
            index = self._index
            if len(index.segments) <= 1:
                return
            seg = merge_segments(next(self._next_name(index)), index.segments)
            new_index = Index([seg], index.params, index.segmenter)
            self._embed(new_index)
            if self._path:
                self._persist(new_index)
            self._index = new_index

    def _persist(self, index: Index) -> None:
        assert self._path is not None
        try:
            for seg in index.segments:
                if not (self._path / seg.name / "segment.json").exists():
                    save_segment(seg, self._path / seg.name)
            self._save_vectors(self._path)
            self._stamp = self._write_manifest(self._path, index, self._logged)
        except OSError as exc:  # the articles are logged: the next open indexes them
            raise LibraryError(
                f"cannot write the index at {self._path}: {exc.strerror or exc}"
            ) from exc

    def _writing(self) -> contextlib.AbstractContextManager:
        """The library's writer lock, for a library opened with `open`."""
        if self._file_lock is None or self._path is None:
            return contextlib.nullcontext()
        return library.locked(self._file_lock, self._path)

    def _catch_up(self) -> None:
        """Take up what another process wrote to the library since this one read or wrote it."""
        if self._path is None or library.stamp(self._path) == self._stamp:
            return
        fresh = library.open_at(
            type(self), self._path, self._file_lock, write=True, min_confidence=self.min_confidence
        )
        assert fresh is not None
        self._index, self._logged, self._stamp = fresh._index, fresh._logged, fresh._stamp
        self._vectors = fresh._vectors

    @staticmethod
    def _next_name(index: Index):
        n = max((int(s.name.split("-")[1]) for s in index.segments), default=0)
        while True:
            n += 1
            yield f"seg-{n}"

    # --- reading ----------------------------------------------------------------------------

    def info(self) -> dict:
        """Corpus size and date range."""
        index = self._index
        dates = [d for d in (_published(r) for r in index.articles()) if d]
        return {
            "articles": sum(len(s.articles) for s in index.segments),
            "paragraphs": index.n_docs,
            "segments": len(index.segments),
            "first": min(dates) if dates else None,
            "last": max(dates) if dates else None,
        }

    def example_questions(self, n: int = 3) -> list[str]:
        """Questions about the newest articles (their titles) that the archive answers."""
        records = sorted(
            self._index.articles(), key=lambda r: r.get("published") or "", reverse=True
        )
        out = []
        for rec in records:
            title = rec["title"].strip().rstrip("?？!！。")
            if 4 <= len(title) <= 30:
                question = f"{title}是怎么回事?"
                if self.ask(question).answered:
                    out.append(question)
            if len(out) == n:
                break
        return out

    def search(self, query: str, k: int = 5) -> list[Passage]:
        """The `k` best paragraphs for `query` by BM25, best first."""
        if not isinstance(query, str):
            raise QueryError(f"query must be a string, not {type(query).__name__}")
        index = self._index
        hits = index.top(content_terms(_clean(query[:MAX_QUESTION_CHARS])), max(0, k))
        return [self._passage(index, doc, score) for doc, score in hits]

    def _passage(self, index: Index, doc: int, score: float) -> Passage:
        rec, para = index.article_of(doc)
        return Passage(
            article_id=rec["id"], title=rec["title"], link=rec["link"], published=_published(rec),
            paragraph=para + 1, text=index.paragraph(doc), score=round(float(score), 4),
        )  # fmt: skip

    def ask(self, question: str, history: Sequence[str] | None = None, k: int = 3) -> Answer:
        """Answer `question` from the archive, with up to `k` citations.

        history: the chat's earlier questions, oldest first; used when the question leans on
        them (a pronoun, or no subject of its own). Never raises for any string.
        """
        if not isinstance(question, str):
            raise QueryError(f"question must be a string, not {type(question).__name__}")
        question = _clean(question)
        history = [_clean(h) for h in (history or []) if isinstance(h, str) and h.strip()]
        return self._ask(self._index, question, history, max(1, k))

    def _ask(self, index: Index, question: str, history: list[str], k: int) -> Answer:
        """Candidates and their features, then the ranker, then abstention."""
        query, terms, hits, found, model = self._candidates(index, question, history)
        if not found:
            return Answer(question=question, answered=False, text="", terms=query.terms)
        ranked, confidence = model.choose(
            found, lambda c: features.evidence_checks(index, query, c)
        )
        best = ranked[0]
        scores = dict(hits)
        order = [best.doc] + [d for d in dict.fromkeys(c.doc for c in ranked) if d != best.doc]
        citations = [
            self._citation(index, rank, doc, scores.get(doc, 0.0))
            for rank, doc in enumerate(order[:k], start=1)
        ]
        threshold = model.threshold if self.min_confidence is None else self.min_confidence
        s, e = spans.strip_span(best.passage.text, best.start, best.end)
        answered = confidence > 0 and confidence >= threshold and e > s
        return Answer(
            question=question, answered=answered, text=best.passage.text[s:e] if answered else "",
            citations=citations, terms=query.terms, confidence=round(confidence, 4),
        )  # fmt: skip

    def _candidates(
        self, index: Index, question: str, history: list[str]
    ) -> tuple[
        Query, candidates.Terms, list[tuple[int, float]], list[features.Candidate], ranker.Model
    ]:
        """The analysed question, its terms, BM25's hits, every candidate with its features,
        and the model that ranks them (with the encoder, or without it)."""
        query = analyse(question[:MAX_QUESTION_CHARS])
        sentences = self._sentences(index)
        enc = semantic.encoder() if sentences is not None else None
        vector = chat_vector = None
        if enc is not None:
            vector = enc.query(normalize(query.text))
            if history and query.needs_context:
                chat_vector = enc.query(normalize(f"{history[-1]} {query.text}"))
        terms = candidates.query_terms(
            index,
            query,
            history,
            lambda: self._ask(index, history[-1], history[:-1], 1).text,
        )
        hits, passages, close = candidates.gather(index, terms, sentences, vector)
        found = features.describe(query, terms, passages, sentences, vector, chat_vector, close)
        model = ranker.load()["semantic" if vector is not None else "lexical"]
        return query, terms, hits, found, model

    def _sentences(self, index: Index) -> semantic.SentenceIndex | None:
        """The sentence vectors of `index` (None when a segment has none: lexical answers)."""
        if not self.semantic:
            return None
        if self._sentence_cache is None or self._sentence_cache[0] is not index:
            parts = [self._vectors.get(s.name) for s in index.segments]
            value = (
                semantic.SentenceIndex([int(b) for b in index.bases[:-1]], parts)
                if parts and all(p is not None for p in parts)
                else None
            )
            self._sentence_cache = (index, value)
        return self._sentence_cache[1]

    def _embed(self, index: Index, progress: semantic.Progress | None = None) -> None:
        """Make the vectors of the segments of `index` that have none (reusing known ones)."""
        missing = [s for s in index.segments if s.name not in self._vectors]
        if not missing or not self.semantic or semantic.encoder() is None:
            return
        known = semantic.Known(
            [semantic.bundled_table()] + [(v.hashes, v.vectors) for v in self._vectors.values()]
        )
        total = sum(s.n_docs for s in missing)
        done = 0
        for seg in missing:

            def step(i: int, n: int, done: int = done, size: int = seg.n_docs) -> None:
                if progress:
                    progress(done + i * size // max(n, 1), total)

            texts = (seg.paragraph(d) for d in range(seg.n_docs))
            self._vectors[seg.name] = semantic.embed(texts, known, semantic.encoder(), step)
            done += seg.n_docs
        self._vectors = {s.name: self._vectors[s.name] for s in index.segments}

    def _citation(self, index: Index, rank: int, doc: int, score: float) -> Citation:
        p = self._passage(index, doc, score)
        return Citation(
            rank=rank, article_id=p.article_id, title=p.title, link=p.link, published=p.published,
            paragraph=p.paragraph, passage=p.text, score=p.score,
        )  # fmt: skip

    @property
    def index(self) -> Index:
        """The current index (read-only use)."""
        return self._index


def _clean(text: str) -> str:
    """`text` as well-formed Unicode: surrogate pairs joined, lone surrogates (from bytes a
    terminal or file could not decode) replaced by U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def _tiered_merge(segments: list[Segment], names) -> list[Segment]:
    """Merge the small segments once there are many, keeping large ones untouched."""
    if len(segments) <= 8:
        return segments
    largest = max(s.n_docs for s in segments)
    small = [s for s in segments if s.n_docs * 4 < largest]
    if len(small) < 2:
        return segments
    merged = merge_segments(next(names), small)
    return [s for s in segments if all(s is not x for x in small)] + [merged]
