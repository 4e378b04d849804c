"""The Retriever: the one entry object of feedqa's library."""

import contextlib
import hashlib
import json
import os
import re
import shutil
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from corpus.errors import IndexFileError, QueryError

from . import answer as extract
from .build import map_chunks
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
from .question import Query, analyse, content_terms, is_word, pieces, subject_terms
from .synonyms import mine_aliases, synonyms
from .text import SEGMENTER, normalize, tokenize

if TYPE_CHECKING:
    from corpus import Article

MAX_QUESTION_CHARS = 2000
"""Longer questions are read up to this many characters."""

DEFAULT_MIN_CONFIDENCE = 0.3
"""Below this confidence `ask` says the archive does not hold the answer."""

FOCUS_COMMON = 0.02
"""A focus word held by more than this share of paragraphs is too common to judge by."""

FOCUS_RARE = 5
"""A word held by this many paragraphs or fewer is never too common to judge by."""

FOCUS_MISSING = 0.25
"""The most confidence an answer gets when its paragraph misses what the question asks about."""

CANDIDATES = 20
"""Paragraphs retrieved by BM25."""

PASSAGES = 8
"""Paragraphs read closely for an answer (each with the paragraph after it)."""

NEXT = 0.7
"""Retrieval score of the paragraph after a hit, relative to the hit's."""

ARTICLE = 0.5
"""Relative retrieval score given to the other paragraphs of the best hit's article: an
answer in other words than the question's often sits in the article it is about."""

ARTICLE_REACH = 15
"""How many paragraphs either side of the best hit count as its article (bounds the work)."""

OWN = 0.8
"""Query weight of the parts of a word jieba guessed and of alias names."""

HISTORY = 0.6
"""Query weight of the terms a follow-up borrows from the chat."""

SYNONYM = 0.3
"""Query weight of a thesaurus synonym of a question term."""

SYNONYMS = 3
"""Synonyms per question term added to the query."""

SYNONYM_CREDIT = 0.6
"""How much a synonym found in a sentence counts for the term it stands for."""

_LIBRARY_LOG = "articles.jsonl"
_MANIFEST = "index.json"


@dataclass(frozen=True)
class AddReport:
    """What `Retriever.add` did."""

    added: int
    updated: int
    unchanged: int


def _record(article: "Article") -> dict:
    """The index's plain record of an article (everything but the paragraphs)."""
    body = json.dumps([article.title, article.paragraphs], ensure_ascii=False)
    return {
        "id": article.id,
        "title": article.title,
        "link": article.link,
        "published": article.published.isoformat() if article.published else None,
        "category": article.category,
        "source": article.source,
        "paragraphs": len(article.paragraphs),
        "hash": hashlib.sha1(body.encode("utf-8")).hexdigest()[:16],
        "aliases": mine_aliases(article.paragraphs),
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
        self, index: Index, *, path: Path | None = None, min_confidence: float | None = None
    ) -> None:
        self._index = index
        self._path = path
        self._lock = threading.Lock()
        self.min_confidence = DEFAULT_MIN_CONFIDENCE if min_confidence is None else min_confidence
        self._logged = 0  # lines of the articles log this index covers
        self._alias_cache: tuple[Index, dict[str, list[str]]] | None = None

    # --- construction -----------------------------------------------------------------------

    @classmethod
    def from_articles(
        cls, articles: Iterable["Article"], *, params: BM25Params | None = None, **kwargs
    ) -> "Retriever":
        """Index `articles` in memory (later duplicates of an id replace earlier ones)."""
        unique = list({a.id: a for a in articles}.values())
        # a large archive's records (alias mining) are made in worker processes, like its
        # tokenization in build_segment; small ones here
        records = map_chunks(_record, unique, size=lambda a: sum(map(len, a.paragraphs)))
        seg = build_segment("seg-1", records, [a.paragraphs for a in unique], tokenize)
        return cls(Index([seg], params or BM25Params(), SEGMENTER), **kwargs)

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
    def load(cls, path: str | os.PathLike, *, verify: bool = True, **kwargs) -> "Retriever":
        """Open an index saved with `save`; raise IndexFileError if it is missing, stale or corrupt."""
        path = Path(path)
        try:
            manifest = json.loads((path / _MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise IndexFileError(f"no readable index at {path} ({exc.__class__.__name__})") from exc
        if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
            raise IndexFileError(
                f"{path}: index version {manifest.get('version')!r} is not {VERSION}; rebuild it"
            )
        if manifest.get("segmenter") != SEGMENTER:
            raise IndexFileError(
                f"{path}: built with segmenter {manifest.get('segmenter')!r}, not {SEGMENTER!r}"
            )
        try:
            params = BM25Params(**manifest["params"])
            segments = [load_segment(path / name, verify=verify) for name in manifest["segments"]]
        except (KeyError, TypeError) as exc:
            raise IndexFileError(f"{path}: malformed manifest ({exc})") from exc
        retriever = cls(Index(segments, params, SEGMENTER), **kwargs)
        retriever._logged = manifest.get("logged", 0)
        return retriever

    def save(self, path: str | os.PathLike) -> None:
        """Write the index to `path` as plain files (atomic: a reader sees the old or the new)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        index = self._index
        for seg in index.segments:
            if not (path / seg.name / "segment.json").exists():
                save_segment(seg, path / seg.name)
        self._write_manifest(path, index, self._logged)

    @staticmethod
    def _write_manifest(path: Path, index: Index, logged: int) -> None:
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "segmenter": SEGMENTER,
            "params": index.params.__dict__,
            "segments": [s.name for s in index.segments],
            "logged": logged,
        }
        tmp = path / (_MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        os.replace(tmp, path / _MANIFEST)
        keep = {s.name for s in index.segments}
        for child in path.iterdir():
            if child.is_dir() and child.name.startswith("seg-") and child.name not in keep:
                shutil.rmtree(child, ignore_errors=True)

    @classmethod
    def open(cls, path: str | os.PathLike, **kwargs) -> "Retriever":
        """A library at `path`: its articles log plus an index rebuilt from it when needed.

        A new library starts with the bundled corpus. Articles added with `add` are logged
        before they are indexed, so nothing is lost if the index is damaged.
        """
        from corpus import Article, bundled_feed_path, load_feed

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        log = path / _LIBRARY_LOG
        if not log.exists():
            _append_log(log, load_feed(bundled_feed_path()))
        articles: dict[str, Article] = {}
        lines = 0
        with open(log, encoding="utf-8") as f:
            for line in f:
                lines += 1
                try:
                    a = Article.model_validate_json(line)
                except ValueError:
                    continue  # a torn last line after a crash
                articles[a.id] = a
        try:
            retriever = cls.load(path, **kwargs)
            if retriever._logged > lines:
                raise IndexFileError("index is newer than its articles log")
        except IndexFileError:
            shutil.rmtree(path / "tmp-rebuild", ignore_errors=True)
            for child in path.iterdir():
                if child.is_dir() and child.name.startswith("seg-"):
                    shutil.rmtree(child, ignore_errors=True)
            retriever = cls.from_articles(articles.values(), **kwargs)
            retriever._logged = lines
            retriever.save(path)
        retriever._path = path
        if retriever._logged < lines:  # the log holds articles the index missed
            retriever.add(articles.values(), _log=False)
            retriever._logged = lines
            retriever.save(path)
        return retriever

    # --- updating ---------------------------------------------------------------------------

    def add(self, articles: Iterable["Article"], *, _log: bool = True) -> AddReport:
        """Add new articles and replace changed ones (same id); unchanged ones are skipped.

        Only the new articles are tokenized; statistics stay global, so scores equal those of
        a full rebuild. A library opened with `open` is updated on disk.
        """
        with self._lock:
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
                _append_log(self._path / _LIBRARY_LOG, [a for _, a in fresh.values()])
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
            if self._path:
                self._persist(new_index)
            self._index = new_index
            return AddReport(len(fresh) - updated, updated, unchanged)

    def compact(self) -> None:
        """Merge all segments into one (same scores, faster queries)."""
        with self._lock:
            index = self._index
            if len(index.segments) <= 1:
                return
            seg = merge_segments(next(self._next_name(index)), index.segments)
            new_index = Index([seg], index.params, index.segmenter)
            if self._path:
                self._persist(new_index)
            self._index = new_index

    def _persist(self, index: Index) -> None:
        assert self._path is not None
        for seg in index.segments:
            if not (self._path / seg.name / "segment.json").exists():
                save_segment(seg, self._path / seg.name)
        self._write_manifest(self._path, index, self._logged)

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
        hits = index.top(content_terms(query[:MAX_QUESTION_CHARS]), max(0, k))
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
        history = [h for h in (history or []) if isinstance(h, str) and h.strip()]
        return self._ask(self._index, question, history, max(1, k))

    def _ask(self, index: Index, question: str, history: list[str], k: int) -> Answer:
        query, hits, candidates, equivalents = self._evidence(index, question, history)
        if not candidates:
            return Answer(question=question, answered=False, text="", terms=query.terms)
        best = candidates[0]
        confidence = round(extract.confidence(candidates), 4)
        if not self._asks_about(index, query, best, equivalents):
            confidence = min(confidence, FOCUS_MISSING)
        order = [best.doc] + [d for d, _ in hits if d != best.doc]
        scores = dict(hits)
        citations = [
            self._citation(index, rank, doc, scores.get(doc) or NEXT * scores.get(doc - 1, 0.0))
            for rank, doc in enumerate(order[:k], start=1)
        ]
        if confidence < self.min_confidence:
            return Answer(
                question=question,
                answered=False,
                text="",
                citations=citations,
                terms=query.terms,
                confidence=confidence,
            )
        para = index.paragraph(best.doc)
        s, e = extract.strip_span(para, best.start, best.end)
        return Answer(
            question=question, answered=True, text=para[s:e], citations=citations,
            terms=query.terms, confidence=confidence,
        )  # fmt: skip

    def _evidence(
        self, index: Index, question: str, history: list[str]
    ) -> tuple[Query, list[tuple[int, float]], list[extract.Candidate], extract.Equivalents]:
        """The analysed question, the best paragraphs and the scored answer candidates."""
        query = analyse(question[:MAX_QUESTION_CHARS])
        weights, equivalents, roles = self._weights(index, query, history)
        hits = index.top(list(weights.items()), CANDIDATES) if weights else []
        if not hits:
            return query, [], [], equivalents
        # a word the archive never uses weighs like the rarest one: missing it costs coverage;
        # pairs joined by the tokenizer count only when the archive knows them
        rarest = index.idf_of_df(1)
        importance: dict[str, float] = {}
        borrowed: dict[str, float] = {}
        for t, w in weights.items():
            value = index.idf(t) or (rarest if t in query.words else 0.0)
            if value * w and t in roles:
                (importance if roles[t] == "own" else borrowed)[t] = value * w
        top = hits[0][1] or 1.0
        passages = []
        seen = {doc for doc, _ in hits[:PASSAGES]}
        for doc, score in hits[:PASSAGES]:
            rec, para = index.article_of(doc)
            rel, text = score / top, index.paragraph(doc)
            passages.append((doc, text, rel, rec["title"], _heading(index, doc, para, text)))
            # the next paragraph often carries the answer the hit announces ("分别是:", "他…")
            if NEXT and para + 1 < rec["paragraphs"] and doc + 1 not in seen:
                seen.add(doc + 1)
                passages.append((doc + 1, index.paragraph(doc + 1), NEXT * rel, rec["title"], text))
        if ARTICLE:  # at most ARTICLE_REACH paragraphs either side of the hit
            hit = hits[0][0]
            rec, para = index.article_of(hit)
            start = hit - min(para, ARTICLE_REACH)
            stop = hit + min(rec["paragraphs"] - para, ARTICLE_REACH + 1)
            for doc in range(start, stop):
                if doc not in seen:
                    seen.add(doc)
                    text = index.paragraph(doc)
                    context = _heading(index, doc, doc - hit + para, text)
                    passages.append((doc, text, ARTICLE, rec["title"], context))
        return (
            query,
            hits,
            extract.best_spans(query, importance, borrowed, passages, equivalents),
            equivalents,
        )

    @staticmethod
    def _asks_about(
        index: Index, query: Query, best: extract.Candidate, equivalents: extract.Equivalents
    ) -> bool:
        """Whether the best paragraph speaks of what the question asks about.

        That is the question's specific focus words: nouns next to the question word that are
        not common in the archive or that it never uses (if they are jieba words, not guesses;
        a verb the archive never uses is a paraphrase, not a new subject: 退回来); and any noun
        of the question that neither the archive nor a synonym it knows ever uses (火星, 红烧肉),
        unless the answer holds its head (the last character: 读片 for 阅片).
        One of them must be found (or an equivalent); without any, the question gets the
        benefit of the doubt. Beyond those: a year the question names must be in the
        paragraph, its title or date; the answer must not speak of another year or edition
        (第二届) instead; and it must hold what the question asks for, when that is a number,
        a date or a name of some kind (哪所大学), which the question does not say itself.
        A paragraph that continues the one before it (announced by it, or pointing back at
        it) is read with it.
        """
        common = max(FOCUS_COMMON * index.n_docs, FOCUS_RARE)
        focus = [
            w
            for w, noun in query.focus
            if noun and (0 < index.df(w) <= common or (index.df(w) == 0 and is_word(w)))
        ]
        rec, para = index.article_of(best.doc)
        text = index.paragraph(best.doc)
        span = text[best.start : best.end]
        if para and not text[: best.start].strip():  # read with what it continues
            # ("财报中有句话:", "故作出上述决定", "提出三项要求:" for "二是…")
            lead = _heading(index, best.doc, para, text) or index.paragraph(best.doc - 1)
            if extract.continues(lead, span):
                text, span = lead + text, lead + span
        said = normalize(span)
        focus += [
            w
            for w in query.nouns
            if index.df(w) == 0
            and is_word(w)
            and not any(index.df(syn) for syn in synonyms(w))
            and w[-1] not in said  # 读片 where the answer says 阅片: same head, a paraphrase
        ]
        evidence = text + rec["title"] + (rec.get("published") or "")[:4]
        question = normalize(query.text)
        years = re.findall(r"\d{4}", question)  # a year asked about must be there
        if any(y not in evidence for y in years):
            return False
        kind_asked = (
            query.kind in ("number", "when") or extract.named_kind(question, span) is not None
        )
        if kind_asked and not best.feature("type"):
            return False  # no number, date or name of the kind asked
        if extract.contradicts(query.text, span):
            return False
        if extract.other_institution(query.text, span, evidence):
            return False
        if extract.other_chief(query.text, evidence):
            return False
        return not focus or bool(extract.credit(focus, text, equivalents))

    def _weights(
        self, index: Index, query: Query, history: list[str]
    ) -> tuple[dict[str, float], extract.Equivalents, dict[str, str]]:
        """Query term weights (for retrieval), what else counts as each term, and the role of
        the terms an answer is judged by: "own" (the question's) or "chat" (a follow-up's).

        The question's own terms first (a word jieba guessed and the archive never uses is
        read as its parts); then other names the archive gives the same company (aliases) and
        thesaurus synonyms, for less; then, for a follow-up, the rarest terms of the previous
        question and of its answer.
        """
        weights: dict[str, float] = {}
        equivalents: extract.Equivalents = {}
        roles: dict[str, str] = {}
        for t in query.terms:
            parts = pieces(t) if index.df(t) == 0 else []
            for p in parts or [t]:
                weights.setdefault(p, OWN if parts else 1.0)
                roles[p] = "own"
        question = normalize(query.text)
        for name, others in self._aliases(index).items():
            if name in question:
                for other in others:
                    for t in content_terms(other):
                        weights.setdefault(t, OWN)
                    for t in content_terms(name):
                        equivalents.setdefault(t, []).append((other, 1.0))
        for t in [t for t in roles if len(t) >= 2]:
            found = [syn for syn in synonyms(t) if index.df(syn) > 0]
            for syn in found[:SYNONYMS]:
                weights.setdefault(syn, SYNONYM)
            equivalents.setdefault(t, []).extend((syn, SYNONYM_CREDIT) for syn in found)
        if history and query.needs_context:
            prev = history[-1]
            borrowed = _rarest(index, subject_terms(prev), 3)
            prev_answer = self._ask(index, prev, history[:-1], 1)
            if prev_answer.answered:
                borrowed += _rarest(index, subject_terms(prev_answer.text), 2)
            for t in borrowed:
                if t not in roles:
                    weights[t] = HISTORY
                    roles[t] = "chat"
        return weights, equivalents, roles

    def _aliases(self, index: Index) -> dict[str, list[str]]:
        """Each name the archive declares equal to others (更名为, 下称…), with those others."""
        if self._alias_cache is None or self._alias_cache[0] is not index:
            groups: dict[str, set[str]] = {}
            for rec in index.articles():
                for a, b in rec.get("aliases", []):
                    merged = groups.get(a, {a}) | groups.get(b, {b})
                    for name in merged:
                        groups[name] = merged
            self._alias_cache = (index, {n: sorted(g - {n}) for n, g in groups.items()})
        return self._alias_cache[1]

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


def _append_log(log: Path, articles: Iterable["Article"]) -> None:
    with open(log, "a", encoding="utf-8") as f:
        for a in articles:
            f.write(a.model_dump_json() + "\n")
        f.flush()
        os.fsync(f.fileno())


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


LIST_REACH = 10
"""How many items back a list item looks for the paragraph that announces its list."""


def _heading(index: Index, doc: int, para: int, text: str) -> str:
    """For paragraph `doc` (`text`, number `para` in its article) that is an item of a list
    ("二是…"), the paragraph announcing the list ("提出三项整改要求:"); else ""."""
    if extract.enumerated(text) is None:
        return ""
    for back in range(1, min(para, LIST_REACH) + 1):
        before = index.paragraph(doc - back)
        if extract.announces(before):
            return before
        if extract.enumerated(before) is None:
            return ""
    return ""


def _rarest(index: Index, terms: list[str], n: int) -> list[str]:
    """The `n` known terms with the highest idf: the names and specifics of a question.

    A word joined with a lone character counts only when they mostly occur together (周靖|人,
    a name), not when the pair is a chance neighbour (部门|约 in 四部门约谈)."""
    known = [t for t in terms if index.df(t) > 0 and _cohesive(index, t)]
    return sorted(known, key=index.idf, reverse=True)[:n]


def _cohesive(index: Index, term: str) -> bool:
    """Whether `term`, if it is a joined pair, occurs in at least half the paragraphs of its
    less frequent part."""
    if is_word(term):  # a word in jieba's dictionary (中国区), not a pair it was cut into
        return True
    for left, right in ((term[:1], term[1:]), (term[:-1], term[-1:])):
        known = len(term) >= 3 and index.df(left) and index.df(right)
        if known and 2 * index.df(term) < min(index.df(left), index.df(right)):
            return False
    return True
