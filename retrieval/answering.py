"""Answering a question: candidates → features → ranker (→ cross-encoder → ranker again) →
abstention, then the cited answer."""

import threading
import weakref
from collections.abc import Callable

from . import candidates, crossencoder, features, ranker, records, semantic, spans, vectorstore
from .index import Index
from .models import Answer, Citation, Passage
from .question import Query, analyse, asks, in_chat
from .text import normalize

MAX_QUESTION_CHARS = 2000
"""Longer questions are read up to this many characters."""

Hits = list[tuple[int, float]]
"""BM25's hits: (doc, score), best first."""


def ask(
    index: Index,
    sentences: vectorstore.SentenceIndex | None,
    question: str,
    history: list[str],
    k: int,
    min_confidence: float | None,
) -> Answer:
    """The answer to `question` with up to `k` citations, or none when too unsure.

    sentences: the sentence vectors of `index` (None: lexical answers).
    min_confidence: the least confidence to answer with (None: the ranker's threshold).
    A question without a single letter, digit or character of a word (???, 😀) gets no
    citations either: nothing in it could make a paragraph closer than another.
    """
    if not any(c.isalnum() for c in question):
        return Answer(question=question, answered=False, text="")
    query, hits, ranked, confidence, answered = choose(
        index, sentences, question, history, min_confidence
    )
    _given.remember(
        index, (question, tuple(history), min_confidence, sentences is None), ranked, answered
    )
    follows = history[-1] if history and query.needs_context else ""
    if not ranked:
        return Answer(
            question=question, answered=False, text="", terms=query.terms, follows=follows
        )
    best = ranked[0]
    scores = dict(hits)
    order = [best.doc] + [d for d in dict.fromkeys(c.doc for c in ranked) if d != best.doc]
    citations = [
        citation(index, rank, doc, scores.get(doc, 0.0))
        for rank, doc in enumerate(order[:k], start=1)
    ]
    s, e = spans.strip_span(best.passage.text, *widen(ranked))
    notes = (
        [ASK_IN_CHINESE] if not answered and not _han(question) and _han(best.passage.text) else []
    )
    return Answer(
        question=question, answered=answered, text=best.passage.text[s:e] if answered else "",
        citations=citations, terms=query.terms, confidence=round(confidence, 4), follows=follows,
        notes=notes,
    )  # fmt: skip


ASK_IN_CHINESE = (
    "资料库的文章是中文的,请用中文提问 / the archive is in Chinese: please ask in Chinese"
)
"""The note of a question without a Chinese character left unanswered from Chinese paragraphs
(English questions match little: the archive's words are Chinese)."""


def _han(text: str) -> bool:
    """Whether `text` holds a Chinese character."""
    return any(
        "\u3400" <= ch <= "\u9fff"
        or "\uf900" <= ch <= "\ufaff"
        or "\U00020000" <= ch <= "\U0003ffff"
        for ch in text
    )


MAX_ANSWER = 120
"""The longest answer joined from leading candidates that share a paragraph (about two
sentences)."""


def widen(
    ranked: list[features.Candidate], n: int = 3, max_chars: int = MAX_ANSWER
) -> tuple[int, int]:
    """The answer's span in the best candidate's paragraph: the best joined with those of the
    next `n - 1` candidates in the same paragraph, while the whole fits in `max_chars`. The
    ranker often divides its belief between neighbouring sentences of the right paragraph."""
    best = ranked[0]
    start, end = best.start, best.end
    for c in ranked[1:n]:
        if c.doc == best.doc and max(end, c.end) - min(start, c.start) <= max_chars:
            start, end = min(start, c.start), max(end, c.end)
    return start, end


def choose(
    index: Index,
    sentences: vectorstore.SentenceIndex | None,
    question: str,
    history: list[str],
    min_confidence: float | None,
) -> tuple[Query, Hits, list[features.Candidate], float, bool]:
    """The analysed question, BM25's hits, the candidates best first, the probability that
    the first holds the answer, and whether it is given (not withheld or too unsure).

    A question without a word to find its answer by (你是谁?, or 今天天气怎么样? whose words
    the archive never uses) gets no answer, only the closest paragraphs, and so does a message
    that neither asks nor points back at the chat (你好 after a question)."""
    query, terms, hits, found, model = find_candidates(
        index, sentences, question, history, min_confidence
    )
    if not found:
        return query, hits, [], 0.0, False
    check = lambda c: features.evidence_checks(index, query, c)  # noqa: E731
    ranked, confidence = model.choose(found, check)
    if sentences is not None and model is ranker.load()["semantic"]:
        earlier = history if query.needs_context else []
        asked = crossencoder.question_text(question[:MAX_QUESTION_CHARS], earlier)
        ranked, confidence = second_stage(asked, found, ranked, check) or (ranked, confidence)
    known = any(index.df(t) for t in terms.own)  # a word the archive uses
    if not known and not (terms.borrowed and asks(question)):
        confidence = 0.0
    threshold = model.threshold if min_confidence is None else min_confidence
    best = ranked[0]
    s, e = spans.strip_span(best.passage.text, best.start, best.end)
    return query, hits, ranked, confidence, confidence > 0 and confidence >= threshold and e > s


def second_stage(
    question: str,
    found: list[features.Candidate],
    ranked: list[features.Candidate],
    check: Callable[[features.Candidate], list[float]],
) -> tuple[list[features.Candidate], float] | None:
    """The candidates ranked again with the cross-encoder's scores of the first stage's
    leaders, and the confidence; None without the cross-encoder or its ranker."""
    second = ranker.load().get("crossencoder")
    model = crossencoder.cross_encoder() if second is not None else None
    if model is None:
        return None
    lead = ranked[: ranker.RERANKED]
    scores = model.score(question, [normalize(c.passage.text[c.start : c.end]) for c in lead])
    at = {id(c): i for i, c in enumerate(found)}
    extra = ranker.cross_inputs(len(found), [at[id(c)] for c in lead], scores)
    return second.choose(found, check, extra)


def find_candidates(
    index: Index,
    sentences: vectorstore.SentenceIndex | None,
    question: str,
    history: list[str],
    min_confidence: float | None,
) -> tuple[Query, candidates.Terms, Hits, list[features.Candidate], ranker.Model]:
    """The analysed question, its terms, BM25's hits, every candidate with its features,
    and the model that ranks them (with the encoder, or without it).

    A follow-up's previous answer is chosen with `min_confidence` too."""
    query = analyse(question[:MAX_QUESTION_CHARS])
    enc = semantic.encoder() if sentences is not None else None
    vector = chat_vector = core_vector = None
    previous = None  # a follow-up's previous answer: its rarest words are borrowed
    follows = bool(history and query.needs_context)
    if follows:
        query = in_chat(query, history)
        previous = previous_answer(index, sentences, history[-1], history[:-1], min_confidence)
    if enc is not None:
        chat = normalize(f"{history[-1]} {query.text}") if follows else None
        vector, core_vector, chat_vector = enc.queries(
            normalize(query.text), query.core or None, chat
        )
    said = previous.passage.text[previous.start : previous.end] if previous else ""
    terms = candidates.query_terms(index, query, history, said)
    hits, passages, close, feedback = candidates.gather(index, terms, sentences, vector)
    near = features.nearness(index, previous.doc, (p.doc for p in passages)) if previous else {}
    found = features.describe(
        query, terms, passages, sentences, vector, chat_vector, close, near,
        core_vector=core_vector, feedback_vector=feedback,
    )  # fmt: skip
    model = ranker.load()["semantic" if vector is not None else "lexical"]
    return query, terms, hits, found, model


def previous_answer(
    index: Index,
    sentences: vectorstore.SentenceIndex | None,
    question: str,
    history: list[str],
    min_confidence: float | None,
) -> features.Candidate | None:
    """The answer a follow-up's previous question got (None if it got none): remembered from
    when it was asked on `index`, as a chat asks it just before, else chosen again."""
    key = (question, tuple(history), min_confidence, sentences is None)
    known, best = _given.recall(index, key)
    if not known:
        _, _, ranked, _, answered = choose(index, sentences, question, history, min_confidence)
        best = _given.remember(index, key, ranked, answered)
    return best


class _Given:
    """The answers of the latest questions asked on each index (up to RECENT an index), with
    the models that chose them; forgotten with their index."""

    RECENT = 256

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_index: weakref.WeakKeyDictionary[Index, dict] = weakref.WeakKeyDictionary()

    def recall(self, index: Index, key: tuple) -> tuple[bool, features.Candidate | None]:
        """Whether the question of `key` was answered on `index` by the models in use, and
        its best candidate."""
        with self._lock:
            models, best = self._by_index.get(index, {}).get(key, (None, None))
            return (models is ranker.load(), best)

    def remember(
        self, index: Index, key: tuple, ranked: list[features.Candidate], answered: bool
    ) -> features.Candidate | None:
        """Note what the question of `key` got on `index`; its answer's candidate, or None."""
        best = ranked[0] if answered and ranked else None
        with self._lock:
            given = self._by_index.setdefault(index, {})
            given.pop(key, None)
            given[key] = (ranker.load(), best)
            while len(given) > self.RECENT:
                del given[next(iter(given))]
        return best


_given = _Given()


def passage(index: Index, doc: int, score: float) -> Passage:
    """Paragraph `doc` of `index` as a search result."""
    rec, para = index.article_of(doc)
    return Passage(
        article_id=rec["id"], title=rec["title"], link=rec["link"], published=records.published(rec),
        paragraph=para + 1, text=index.paragraph(doc), score=round(float(score), 4),
    )  # fmt: skip


def citation(index: Index, rank: int, doc: int, score: float) -> Citation:
    """Paragraph `doc` of `index` cited at `rank`."""
    p = passage(index, doc, score)
    return Citation(
        rank=rank, article_id=p.article_id, title=p.title, link=p.link, published=p.published,
        paragraph=p.paragraph, passage=p.text, score=p.score,
    )  # fmt: skip
