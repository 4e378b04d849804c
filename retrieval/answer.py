"""Extractive answers: pick the sentence, then the shortest clause run, that answers the question."""

import re
from collections.abc import Callable
from dataclasses import dataclass

from .question import Query
from .text import normalize

_SENTENCE_END = re.compile(r"[^。！？!?；;\n]*(?:[。！？!?；;]+[”’」』\"']?|\n|$)")
_CLAUSE_END = re.compile(r"[^，,：:、；;。！？!?]*(?:[，,：:、；;。！？!?]+[”’」』\"']?|$)")

_DATE = re.compile(
    r"\d{4}\s*年|\d{1,2}\s*月|\d{1,2}\s*日|\d{4}[-/.]\d{1,2}|[一二三四五六七八九十]+月|年初|年底|年末|年中|"
    r"上半年|下半年|今年|去年|明年|前年|季度|月初|月底|月末|日前|近日|此前|同年|次年|当年"
)
_NUMBER = re.compile(
    r"\d+(?:\.\d+)?\s*(?:%|％|亿|万|千|百|元|美元|港元|港币|人民币|欧元|人|家|个|项|倍|笔|次|名|位|户|款|条|年|岁|个月|天|小时|只|件|台|份|股|点|层|轮|期|国|城|座|成)|"
    r"[一二两三四五六七八九十百千万亿]+(?:个|家|位|名|人|项|倍|成|次|轮|年|款|亿|万)|\d{2,}|百分之"
)
_REASON = re.compile(
    r"因为|由于|原因|因此|所以|为了|导致|出于|鉴于|目的|以便|为此|是因|源于|受.{1,12}影响"
)
_MANNER = re.compile(r"通过|采用|利用|借助|依靠|方式|方法|模式|以.{1,10}形式|手段")
_PLACE = re.compile(
    r"北京|上海|深圳|广州|杭州|香港|澳门|台湾|新加坡|美国|纽约|伦敦|日本|东京|欧洲|海外|境外|全球|国内|中国|"
    r"[\u4e00-\u9fff]{1,6}(?:省|市|区|县|国|州|岛|大学|学院|交易所|律师事务所|研究院|实验室)|港股|纳斯达克|纽交所|科创板|创业板|上交所|深交所|港交所"
)
_ROLE = re.compile(
    r"CEO|CTO|CFO|COO|总裁|董事长|总经理|负责人|创始人|首席|主席|副总裁|合伙人|总监|院长|科学家|董事|行长|高管|专家|经理",
    re.IGNORECASE,
)
_PERSON_HINT = re.compile(
    r"[\u4e00-\u9fff]{2,3}(?:表示|称|说|认为|指出|透露|坦言|介绍)|(?:由|是|为)[\u4e00-\u9fff]{2,3}[,，。]"
)
_LIST_HINT = re.compile(r"、|以及|和|及|等")
_YESNO_HINT = re.compile(r"是|不|没有|并非|未|已|将")


def spans(text: str, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    """Non-empty (start, end) pieces of `text` cut by `pattern`, covering it in order."""
    out = []
    for m in pattern.finditer(text):
        if m.end() > m.start() and text[m.start() : m.end()].strip():
            out.append((m.start(), m.end()))
    return out


def sentence_spans(paragraph: str) -> list[tuple[int, int]]:
    """Sentences of `paragraph` as (start, end) offsets."""
    return spans(paragraph, _SENTENCE_END)


def clause_spans(sentence: str) -> list[tuple[int, int]]:
    """Clauses of `sentence` as (start, end) offsets."""
    return spans(sentence, _CLAUSE_END)


def type_match(kind: str, text: str) -> float:
    """How well `text` looks like an answer of type `kind` (0..1)."""
    if kind == "when":
        return 1.0 if _DATE.search(text) else 0.0
    if kind == "number":
        return 1.0 if _NUMBER.search(text) else 0.0
    if kind == "why":
        return 1.0 if _REASON.search(text) else 0.0
    if kind == "how":
        return 1.0 if _MANNER.search(text) else 0.3
    if kind == "where":
        return 1.0 if _PLACE.search(text) else 0.0
    if kind == "who":
        return 1.0 if _ROLE.search(text) or _PERSON_HINT.search(text) else 0.3
    if kind == "list":
        return min(1.0, len(_LIST_HINT.findall(text)) / 2)
    if kind == "yesno":
        return 0.5 if _YESNO_HINT.search(text) else 0.0
    return 0.5


@dataclass(frozen=True)
class Candidate:
    """A scored answer span inside a paragraph (doc id) at [start, end)."""

    doc: int
    start: int
    end: int
    score: float
    coverage: float
    type_score: float


def _covered(weights: dict[str, float], text: str) -> set[str]:
    """Query terms found in `text` (normalised), as substrings: robust to how jieba cut it."""
    norm = normalize(text)
    return {t for t in weights if t in norm}


def best_spans(
    query: Query,
    weights: dict[str, float],
    passages: list[tuple[int, str, float, str]],
    *,
    max_chars: int = 80,
) -> list[Candidate]:
    """Score every sentence of `passages` (doc, text, relative score, title); best first.

    `weights` maps each query term to its importance (idf times query weight). A sentence
    scores by the weighted share of query terms it holds (the rest of the paragraph and the
    article title count for less), by how well it matches the expected answer type, and by
    the passage's retrieval score. Long sentences are cut to the clause run that answers.
    """
    total = sum(weights.values()) or 1.0
    out: list[Candidate] = []
    for doc, text, rel, title in passages:
        in_para = _covered(weights, text)
        in_title = _covered(weights, title)
        for s, e in sentence_spans(text):
            sent = text[s:e]
            in_sent = _covered({t: 1.0 for t in in_para}, sent)
            cov = sum(weights[t] for t in in_sent) / total
            para_cov = sum(weights[t] for t in in_para - in_sent) / total
            title_cov = sum(weights[t] for t in in_title - in_para) / total
            support = cov + 0.35 * para_cov + 0.35 * title_cov
            cs, ce = _trim(query, weights, sent, max_chars)
            tm = type_match(query.kind, sent[cs:ce])
            score = support + 0.45 * tm + 0.25 * rel
            out.append(Candidate(doc, s + cs, s + ce, score, support, tm))
    out.sort(key=lambda c: -c.score)
    return out


def _trim(query: Query, weights: dict[str, float], sentence: str, max_chars: int) -> tuple[int, int]:
    """The clause run of `sentence` (offsets) that best answers, or the whole trimmed sentence."""
    lead = len(sentence) - len(sentence.lstrip())
    tail = len(sentence.rstrip())
    if tail - lead <= max_chars or query.kind in ("why", "how", "yesno"):
        return lead, tail
    total = sum(weights.values()) or 1.0
    clauses = clause_spans(sentence)
    best: tuple[float, int, int] | None = None
    for i in range(len(clauses)):
        for j in range(i, min(i + 3, len(clauses))):
            s, e = clauses[i][0], clauses[j][1]
            piece = sentence[s:e]
            if not piece.strip() or len(piece) > max_chars:
                continue
            cov = sum(weights[t] for t in _covered(weights, piece)) / total
            score = cov + 0.7 * type_match(query.kind, piece) - 0.002 * len(piece)
            if best is None or score > best[0]:
                best = (score, s, e)
    if best is None:
        return lead, tail
    s, e = best[1], best[2]
    piece = sentence[s:e]
    return s + len(piece) - len(piece.lstrip()), s + len(piece.rstrip())


def strip_span(
    text: str, start: int, end: int, keep: Callable[[str], bool] = str.isalnum
) -> tuple[int, int]:
    """Drop leading/trailing punctuation from text[start:end] (stays verbatim)."""
    while start < end and not keep(text[start]) and text[start] not in '“《(「"':
        start += 1
    while end > start and not keep(text[end - 1]) and text[end - 1] not in '”》)」"%':
        end -= 1
    return start, end
