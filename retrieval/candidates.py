"""Answer candidates: the question's weighted terms, and the paragraphs worth reading closely.

Paragraphs come from both sides: BM25's best hits (with the paragraph after each, and the
best hit's article around it) and the paragraphs of the sentences closest to the question in
meaning (the sentence encoder), so an answer in other words than the question's is read too.
"""

from dataclasses import dataclass, field

import numpy as np

from . import spans
from .index import Index
from .question import Query, analyse, is_word, pieces, subject_terms, without_guesses
from .vectorstore import SentenceIndex

CANDIDATES = 20
"""Paragraphs retrieved by BM25."""

PASSAGES = 8
"""BM25 hits read closely for an answer (each with the paragraph after it)."""

NEXT = 0.7
"""Retrieval score of the paragraph after a hit, relative to the hit's."""

ARTICLE_REACH = 15
"""How many paragraphs either side of the best hit are read as its article (bounds the work)."""

SEMANTIC = 10
"""Sentences closest to the question in meaning whose paragraphs are read."""

FEEDBACK = 30
"""Sentences closest to the question whose mean vector is added to the question's: the
feedback vector, nearer to how the archive words the question's topic (`cos_feedback`)."""

OWN = 0.8
"""Query weight of the parts of a word jieba guessed."""

HISTORY = 0.6
"""Query weight of the terms a follow-up borrows from the chat."""

LIST_REACH = 10
"""How many items back a list item looks for the paragraph that announces its list."""


@dataclass
class Terms:
    """What the question asks with: retrieval weights, and the terms an answer is judged by."""

    weights: dict[str, float] = field(default_factory=dict)  # BM25 query weights
    own: dict[str, float] = field(default_factory=dict)  # the question's terms: idf × weight
    borrowed: dict[str, float] = field(default_factory=dict)  # a follow-up's, from the chat
    from_answer: set[str] = field(default_factory=set)  # those borrowed from the last answer


@dataclass(frozen=True)
class Passage:
    """A paragraph read closely: its retrieval evidence and what it is read with."""

    doc: int
    text: str
    title: str
    context: str  # the paragraph it continues (a heading, or the hit before it), or ""
    bm25: float  # BM25 score relative to the best hit (0 when BM25 did not find it)
    bm25_rank: int | None  # rank among BM25's hits (of the hit it follows), from 0
    context_doc: int | None = None  # the paragraph `context` is


def query_terms(index: Index, query: Query, history: list[str], previous_answer: str) -> Terms:
    """The question's own terms (a word jieba guessed and the archive never uses is read as its
    parts) and, for a follow-up, the chat's subject terms (`chat_subject`) and the rarest terms
    of the previous answer. All the subject terms: what an archive is about is among its
    commonest words (蚂蚁 in a fintech archive), and the rarest of a question are often not
    whom it asks of."""
    terms = Terms()
    roles: dict[str, str] = {}
    for t in query.terms:
        parts = pieces(t) if index.df(t) == 0 else []
        for p in parts or [t]:
            terms.weights.setdefault(p, OWN if parts else 1.0)
            roles[p] = "own"
    if history and query.needs_context:
        asked = chat_subject(history)
        said = [t for t in subject_terms(previous_answer) if t not in roles and t not in asked]
        answered = _rarest(index, said, 2)  # what the answer named, not the words asked again
        for t in asked + answered:
            if t not in roles:
                terms.weights[t] = HISTORY
                roles[t] = "chat"
                if t not in asked:
                    terms.from_answer.add(t)
    # a word the archive never uses weighs like the rarest one: missing it costs coverage;
    # pairs joined by the tokenizer count only when the archive knows them
    rarest = index.idf_of_df(1)
    for t, w in terms.weights.items():
        value = index.idf(t) or (rarest if t in query.words else 0.0)
        if value * w and t in roles:
            (terms.own if roles[t] == "own" else terms.borrowed)[t] = value * w
    return terms


def chat_subject(history: list[str]) -> list[str]:
    """The subject terms of the chat: the last question's, and while a question follows up on
    the one before it (这次募了多少钱?), those of the question before, back to one that does not."""
    out: list[str] = []
    for question in reversed(history):
        out += [t for t in subject_terms(without_guesses(question)) if t not in out]
        if not analyse(question).needs_context:
            break
    return out


def gather(
    index: Index,
    terms: Terms,
    sentences: SentenceIndex | None,
    vector: np.ndarray | None,
) -> tuple[list[tuple[int, float]], list[Passage], dict[tuple[int, int], int], np.ndarray | None]:
    """BM25's hits, the passages to read, the encoder's rank of its closest sentences (by
    (doc, start)), and the feedback vector (None without the encoder)."""
    hits = index.top(list(terms.weights.items()), CANDIDATES) if terms.weights else []
    top = (hits[0][1] if hits else 0.0) or 1.0
    passages: list[Passage] = []
    seen: set[int] = set()

    def read(doc: int, bm25: float, rank: int | None, after: int | None = None) -> None:
        if doc in seen:
            return
        seen.add(doc)
        rec, para = index.article_of(doc)
        text = index.paragraph(doc)
        if after is None:
            after = heading(index, doc, para, text)
        context = index.paragraph(after) if after is not None else ""
        passages.append(Passage(doc, text, rec["title"], context, bm25, rank, after))

    for rank, (doc, score) in enumerate(hits[:PASSAGES]):
        read(doc, score / top, rank)
    for rank, (doc, score) in enumerate(hits[:PASSAGES]):
        # the next paragraph often carries the answer the hit announces ("分别是:", "他…"):
        # it is read with the hit, and found by it
        rec, para = index.article_of(doc)
        if para + 1 < rec["paragraphs"]:
            read(doc + 1, NEXT * score / top, rank, doc)
    if hits:  # the best hit's article, at most ARTICLE_REACH paragraphs either side
        hit = hits[0][0]
        rec, para = index.article_of(hit)
        for doc in range(
            hit - min(para, ARTICLE_REACH), hit + min(rec["paragraphs"] - para, ARTICLE_REACH + 1)
        ):
            read(doc, 0.0, None)
    close: dict[tuple[int, int], int] = {}
    feedback = None
    if sentences is not None and vector is not None:
        scores = dict(hits)
        nearest = sentences.top(vector, max(SEMANTIC, FEEDBACK))
        for rank, (doc, start, _) in enumerate(nearest[:SEMANTIC]):
            close[(doc, start)] = rank
            read(doc, scores.get(doc, 0.0) / top, None)
        moved = vector + sentences.mean(nearest[:FEEDBACK])
        feedback = moved / (np.linalg.norm(moved) or 1.0)
    return hits, passages, close, feedback


def heading(index: Index, doc: int, para: int, text: str) -> int | None:
    """For paragraph `doc` (`text`, number `para` in its article) that is an item of a list
    ("二是…"), the paragraph announcing the list ("提出三项整改要求:"); else None."""
    if spans.enumerated(text) is None:
        return None
    for back in range(1, min(para, LIST_REACH) + 1):
        before = index.paragraph(doc - back)
        if spans.announces(before):
            return doc - back
        if spans.enumerated(before) is None:
            return None
    return None


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
