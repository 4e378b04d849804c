"""Features of answer candidates: each sentence of the passages read, described by numbers.

A sentence is described by how much of the question it holds (and its paragraph, context and
title around it), whether it holds an answer of the kind asked, its paragraph's BM25 evidence,
its closeness in meaning to the question (the sentence encoder), and evidence checks. Long
sentences are cut to the clause run that answers. The ranker weighs these numbers.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from . import checks, spans
from .candidates import Passage, Terms
from .index import Index
from .kinds import (
    figure_named,
    named_kind,
    names_company,
    normalized,
    tells_earlier,
    type_match,
)
from .question import Query, is_word
from .synonyms import synonyms
from .text import normalize
from .vectorstore import SentenceIndex

FEATURES = (
    "own",  # share of the question's weight the sentence holds
    "near",  # ... found only elsewhere in its paragraph or the context it continues
    "title",  # ... found only in the article's title
    "history",  # share of a follow-up's borrowed weight found around it (1 without)
    "type",  # it holds an answer of the kind asked that the question does not say
    "focus",  # share of the question's focus words (难题 in 难题是什么) it holds
    "echo",  # it asks or announces (ends with ? or :) rather than states
    "continues",  # it goes on from what announces it (分别是:, a list's heading) or points back
    "length",  # its length (/100, at most 2)
    "bm25",  # its paragraph's BM25 score relative to the best hit
    "bm25_rank",  # 1 / (1 + the paragraph's rank among BM25's hits); 0 if not a hit
    "cos",  # cosine of the sentence (or of what it continues, if closer) to the question
    "cos_gap",  # that cosine minus the best of all candidates'
    "cos_rank",  # 1 / (1 + its rank among the sentences closest to the question); 0 if not
    "cos_para",  # the best cosine of its paragraph's sentences
    "cos_chat",  # for a follow-up: cosine to the previous question and this one, joined; else 0
    "previous",  # for a follow-up: 1 within a paragraph of the previous answer, 0.5 in its article
    "history_answer",  # ... of the weight borrowed from the previous answer alone (0 without)
    "cos_core",  # cosine to the question's clauses that ask, after a preamble; else as cos
    "cos_feedback",  # cosine to the question moved towards its closest sentences (`candidates`)
    "earlier",  # the question asks what came before (之前) and the span tells of it (曾任, 此前)
)
"""What a candidate sentence is described by before the evidence checks."""

CHECKS = (
    "year_missing",  # a year the question names is not in the paragraph, title or date
    "kind_missing",  # no date, figure (净利润, not 营收), person, place or name of the kind asked
    "contradicts",  # the span speaks of another year, part of a year, round or edition
    "other_institution",  # another bank, group… than asked; or the chat's subject (那蚂蚁呢?)
    "other_chief",  # the question asks about a chief officer the paragraph never names
    "focus_missing",  # the paragraph misses the specific thing the question asks about
    "unknown_noun",  # the question names a thing the archive never mentions (火星, 天气)
)
"""Evidence checks, each 1 when it fails: features too, computed for the leading candidates."""

_KIND_CHECKED = ("number", "when", "who", "where")
"""Kinds of question whose answer a span can be seen to lack (no figure, date, person, company or
place: a type match below 0.5, for a who-question no company named either)."""

FOCUS_COMMON = 0.02
"""A focus word held by more than this share of paragraphs is too common to judge by."""

FOCUS_RARE = 5
"""A word held by this many paragraphs or fewer is never too common to judge by."""


@dataclass
class Candidate:
    """An answer span inside paragraph `doc` at [start, end), and its features."""

    doc: int
    start: int
    end: int
    features: list[float]
    passage: Passage
    checks: list[float] | None = None  # CHECKS, once computed

    def feature(self, name: str) -> float:
        """One named feature (of FEATURES, or of CHECKS once computed)."""
        if name in CHECKS:
            return self.checks[CHECKS.index(name)] if self.checks else 0.0
        return self.features[FEATURES.index(name)]


MAX_SPAN = 100
"""A longer sentence is cut to the clause run that answers. Cut at 80 characters, the run often
kept the clause holding the question's words and lost the next one holding the answer (周靖人将
调任蚂蚁集团, | 担任…负责人)."""

GAP_CREDIT = 0.6
"""Credit for a term whose characters appear in order with small gaps (营收 in 营业收入)."""


@lru_cache(maxsize=4096)  # a question's words: new ones without end in a long-lived bot
def _gapped(term: str) -> re.Pattern[str] | None:
    if len(term) < 2 or len(term) > 4 or not all("\u4e00" <= ch <= "\u9fff" for ch in term):
        return None
    return re.compile(".{0,2}".join(map(re.escape, term)))


def credit(terms: Iterable[str], text: str) -> dict[str, float]:
    """How well each term is found in `text` (normalised): 1 as a substring, else GAP_CREDIT
    when its characters appear in order with small gaps (营收 in 营业收入)."""
    norm = normalized(text)
    out = {}
    for t in terms:
        if t in norm:
            out[t] = 1.0
        else:
            gapped = _gapped(t)
            if gapped is not None and gapped.search(norm):
                out[t] = GAP_CREDIT
    return out


def describe(
    query: Query,
    terms: Terms,
    passages: list[Passage],
    sentences: SentenceIndex | None = None,
    vector: np.ndarray | None = None,
    chat_vector: np.ndarray | None = None,
    close: dict[tuple[int, int], int] | None = None,
    near: dict[int, float] | None = None,
    *,
    core_vector: np.ndarray | None = None,
    feedback_vector: np.ndarray | None = None,
    max_chars: int = MAX_SPAN,
) -> list[Candidate]:
    """Every sentence of `passages` as a candidate with its FEATURES (checks come later).

    `vector` is the question's encoding (None without the encoder), `chat_vector` a
    follow-up's joined with the previous question, `close` the encoder's rank of the
    sentences closest to the question, by (doc, start), `near` each paragraph's closeness
    to a follow-up's previous answer (`nearness`), `core_vector` the encoding of the
    question's clauses that ask when it has a preamble, and `feedback_vector` the question's
    moved towards its closest sentences (`candidates.gather`).
    """
    weights, history = terms.own, terms.borrowed
    from_answer = {t: w for t, w in history.items() if t in terms.from_answer}
    close, near = close or {}, near or {}
    total = sum(weights.values()) + sum(history.values()) or 1.0
    question = normalize(query.text)
    out: list[Candidate] = []
    titles: dict[str, dict[str, float]] = {}
    focus = {t: weights[t] for t, _ in query.focus if t in weights}
    nth = spans.ordinal_asked(question)
    focus_total = sum(focus.values())
    closeness: dict[int, dict[int, float]] = {}  # each paragraph's cosines, by sentence start

    def cosines(doc: int) -> dict[int, float]:
        if doc not in closeness:
            closeness[doc] = (
                sentences.cosines(doc, vector)
                if sentences is not None and vector is not None
                else {}
            )
        return closeness[doc]

    for p in passages:
        text, title, context = p.text, p.title, p.context
        in_para = credit(weights, text + "\n" + context)
        if title not in titles:
            titles[title] = credit(weights, title)
        in_title = titles[title]
        in_history = credit(history, text + title + context) if history else {}
        titled = (
            sum(weights[t] * max(0.0, c - in_para.get(t, 0.0)) for t, c in in_title.items()) / total
        )
        borrowed = _history_share(history, in_history)
        answered = _history_share(from_answer, in_history) if from_answer else 0.0
        cos = cosines(p.doc)
        chat = (
            sentences.cosines(p.doc, chat_vector)
            if sentences is not None and chat_vector is not None
            else {}
        )
        core = (
            sentences.cosines(p.doc, core_vector)
            if sentences is not None and core_vector is not None
            else None
        )
        moved = (
            sentences.cosines(p.doc, feedback_vector)
            if sentences is not None and feedback_vector is not None
            else {}
        )
        cos_para = max(cos.values(), default=0.0)
        announced = spans.announces(context) or bool(context and spans.GOES_ON.match(text))
        # what a sentence continues is as close in meaning as it is in words: the context's
        # best sentence for the first, the sentence before it for the others
        before = (
            max(cosines(p.context_doc).values(), default=0.0) if p.context_doc is not None else 0.0
        )
        for s, e in spans.sentence_spans(text):
            sent = text[s:e]
            if not sent.strip():
                continue
            # what a colon announces ("分别是:"), an item of a list ("一是…") or a sentence
            # that points back ("上述决定") holds the words of what it continues
            anchored = announced and s == 0
            item = spans.enumerated(sent)
            goes_on = anchored or bool(item and context) or bool(spans.REFERS.search(sent))
            in_sent = in_para if goes_on or item else credit(in_para, sent)
            cs, ce = _trim(query, weights, in_sent, sent, max_chars, question, anchored)
            start, end = s + cs, s + ce
            typed = type_match(query.kind, text[start:end], question)
            if nth is not None and item is not None:  # 第一项要求 → "一是…", "1. …"
                typed = float(item == nth)
            if query.kind == "who" and (typed < 1.0 or spans.SPEAKS.search(question)):
                said = spans.speaker(text, start)  # inside a quote: who said it comes before it
                if said is not None:
                    typed = type_match("who", text[said[0] : said[1]], question)
                    # the speaker and what they said, or only the speaker when that is long
                    whole = min(start, said[0]), max(end, said[1])
                    start, end = whole if whole[1] - whole[0] <= max_chars else said
            rank = close.get((p.doc, s))
            near_question = max(cos.get(s, 0.0), before) if goes_on else cos.get(s, 0.0)
            before = near_question
            f = [
                sum(weights[t] * c for t, c in in_sent.items()) / total,
                sum(weights[t] * (c - in_sent.get(t, 0.0)) for t, c in in_para.items()) / total,
                titled,
                borrowed,
                typed,
                sum(focus[t] * c for t, c in in_sent.items() if t in focus) / focus_total
                if focus_total
                else 0.0,
                1.0 if spans.ECHO.search(sent) else 0.0,
                float(goes_on),
                min(len(sent), 200) / 100,
                p.bm25,
                1.0 / (1 + p.bm25_rank) if p.bm25_rank is not None else 0.0,
                near_question,
                0.0,
                1.0 / (1 + rank) if rank is not None else 0.0,
                cos_para,
                chat.get(s, 0.0),
                near.get(p.doc, 0.0),
                answered,
                core.get(s, 0.0) if core is not None else near_question,
                moved.get(s, 0.0),
                float(tells_earlier(question, text[start:end])),
            ]
            out.append(Candidate(p.doc, start, end, f, p))
    best = max((c.features[FEATURES.index("cos")] for c in out), default=0.0)
    cos, gap = FEATURES.index("cos"), FEATURES.index("cos_gap")
    for c in out:
        c.features[gap] = c.features[cos] - best
    return out


def nearness(index: Index, previous: int, docs: Iterable[int]) -> dict[int, float]:
    """How close each paragraph is to `previous` (a follow-up's previous answer): 1 within a
    paragraph of it, 0.5 elsewhere in its article, 0 in another article. A follow-up mostly
    asks on about the same story."""
    rec, para = index.article_of(previous)
    out = {}
    for d in docs:
        r, q = index.article_of(d)
        if r["id"] == rec["id"]:
            out[d] = 1.0 if abs(q - para) <= 1 else 0.5
    return out


def evidence_checks(index: Index, query: Query, c: Candidate) -> list[float]:
    """CHECKS of candidate `c`, each 1 when it fails.

    A paragraph that continues the one before it (announced by it, or pointing back at it) is
    read with it. The focus words are the question's specific nouns next to the question word
    that are not common in the archive, or that it never uses (if jieba words, not guesses).
    An unknown noun is one of the question's that neither the archive nor a synonym it knows
    ever uses (火星, 红烧肉), unless the answer holds its head (读片 for 阅片). Another
    institution than asked, and a follow-up's own subject, are looked for in the paragraph alone:
    a round-up's title names many.
    """
    common = max(FOCUS_COMMON * index.n_docs, FOCUS_RARE)
    focus = [
        w
        for w, noun in query.focus
        if noun and (0 < index.df(w) <= common or (index.df(w) == 0 and is_word(w)))
    ]
    rec, para = index.article_of(c.doc)
    text = c.passage.text
    span = text[c.start : c.end]
    if para and not text[: c.start].strip():  # read with what it continues
        lead = c.passage.context or index.paragraph(c.doc - 1)
        if spans.continues(lead, span):
            text, span = lead + text, lead + span
    said = normalize(span)
    unknown = [
        w
        for w in query.nouns
        if index.df(w) == 0
        and is_word(w)
        and not any(index.df(syn) for syn in synonyms(w))
        and w[-1] not in said
    ]
    year = (rec.get("published") or "")[:4]
    evidence = text + rec["title"] + year
    question = normalize(query.text)
    kind_asked = query.kind in _KIND_CHECKED or named_kind(question, span) is not None
    asked = normalize(query.asked) if query.asked else question  # 那京东呢? asks 募资多少 again
    own = query.subject  # 那蚂蚁呢? after 京东科技…募资多少?: 蚂蚁 asked, not 京东科技
    told_before = bool(own) and not credit(own, text) and any(t in said for t in query.replaced)
    figure = figure_named(asked, said) if query.kind == "number" else None
    lacks_kind = c.feature("type") < 0.5 and not (
        query.kind == "who" and names_company(question, said)
    )
    return [
        float(any(y not in evidence for y in re.findall(r"\d{4}", question))),
        float(kind_asked and (lacks_kind or figure is False)),
        float(checks.contradicts(query.text, span, int(year) if year.isdigit() else None)),
        float(checks.other_institution(query.text, span, text) or told_before),
        float(checks.other_chief(query.text, evidence)),
        float(bool(focus) and not credit(focus, text)),
        float(bool(unknown)),
    ]


def _history_share(history: dict[str, float], found: dict[str, float]) -> float:
    """The share of the weight of borrowed terms `history` found around a sentence (1 without
    history)."""
    if not history:
        return 1.0
    return sum(w * found.get(t, 0.0) for t, w in history.items()) / sum(history.values())


def _trim(
    query: Query,
    weights: dict[str, float],
    found: dict[str, float],
    sentence: str,
    max_chars: int,
    question: str,
    anchored: bool = False,
) -> tuple[int, int]:
    """The clause run of `sentence` (offsets) that best answers, or the whole trimmed sentence.

    `found` holds the terms the sentence holds: only they can be in one of its clauses. An
    `anchored` run starts the sentence (it follows the words that announce it)."""
    lead = len(sentence) - len(sentence.lstrip())
    tail = len(sentence.rstrip())
    if tail - lead <= max_chars or query.kind in ("why", "how", "yesno"):
        return lead, tail
    total = sum(weights.values()) or 1.0
    clauses = spans.clause_spans(sentence)
    best: tuple[float, int, int] | None = None
    for i in range(1 if anchored else len(clauses)):
        for j in range(i, min(i + 3, len(clauses))):
            s, e = clauses[i][0], clauses[j][1]
            piece = sentence[s:e]
            if not piece.strip() or len(piece) > max_chars:
                continue
            if j + 1 < len(clauses) and (
                spans.ANNOUNCES.search(piece) or spans.LISTS.fullmatch(sentence, *clauses[j + 1])
            ):
                continue  # "分别是:" announces the clause after it: never end on or before it
            cov = sum(weights[t] * c for t, c in credit(found, piece).items()) / total
            score = cov + 0.7 * type_match(query.kind, piece, question) - 0.002 * len(piece)
            if best is None or score > best[0]:
                best = (score, s, e)
    if best is None:
        return lead, tail
    s, e = best[1], best[2]
    piece = sentence[s:e]
    return s + len(piece) - len(piece.lstrip()), s + len(piece.rstrip())
