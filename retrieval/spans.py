"""Where sentences, clauses and list items begin and end in a paragraph (offsets stay verbatim)."""

import re
from collections.abc import Callable
from functools import lru_cache

_SENTENCE_END = re.compile(r"[^。！？!?；;\n]*(?:[。！？!?；;]+[”’」』\"']?|\n|$)")
_CLAUSE_END = re.compile(r"[^，,：:；;。！？!?]*(?:[，,：:；;。！？!?]+[”’」』\"']?|$)")
REFERS = re.compile(r"上述|前述|此举|此事|这一决定|这一举措|该决定|该举措")
"""Words that point back at what was said before: the sentence continues it."""
ANNOUNCES = re.compile(r"[:：]\s*$")
LISTS = re.compile(r"[^,，;；]{0,4}(?:分别|包括|如下|以下|即|是|为|有)[是为]?[:：]\s*")
"""A clause that only announces the one after it (分别是:, 包括:, 指的是:)."""
ECHO = re.compile(r"[?？:：]\s*[”」』\"']?\s*$")


def announces(text: str) -> bool:
    """Whether `text` ends by announcing what follows it ("分别是:")."""
    return ANNOUNCES.search(text) is not None


GOES_ON = re.compile(r"\s*(?:包括|主要包括|主要有|分别是|分别为|即)")
"""How a paragraph that goes on from the one before it starts (目前业界的四种技术 / 包括MPC…)."""


def continues(before: str, text: str) -> bool:
    """Whether `text` continues `before`: announced by it, going on from it (包括…), or
    pointing back at it (上述)."""
    return announces(before) or GOES_ON.match(text) is not None or REFERS.search(text) is not None


def spans(text: str, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    """Non-empty (start, end) pieces of `text` cut by `pattern`, covering it in order."""
    out = []
    for m in pattern.finditer(text):
        if m.end() > m.start() and text[m.start() : m.end()].strip():
            out.append((m.start(), m.end()))
    return out


@lru_cache(maxsize=8192)
def sentence_spans(paragraph: str) -> tuple[tuple[int, int], ...]:
    """Sentences of `paragraph` as (start, end) offsets (cached: a question reads the same
    paragraphs as the one before it)."""
    return tuple(spans(paragraph, _SENTENCE_END))


def clause_spans(sentence: str) -> list[tuple[int, int]]:
    """Clauses of `sentence` as (start, end) offsets."""
    return spans(sentence, _CLAUSE_END)


_CN_DIGITS = "一二三四五六七八九十"
_CN = f"[{_CN_DIGITS}]"
_NTH_ASKED = re.compile(rf"第({_CN}|\d{{1,2}})(?:项|个|条|点|类|步|大|方面|层)")
_ITEM_STARTS = frozenset(_CN_DIGITS + "0123456789其第首(（ \t\n\u3000•·-*")
"""The characters a list item can start with (一是, 1., (1), • …)."""
_ITEM = re.compile(
    rf"^[\s•·\-*]*(?:({_CN})是|其({_CN})[,，、:：]|第({_CN})[,，、:：点条]|"
    rf"(\d{{1,2}})\s*[.、．](?!\d)|[(（](\d{{1,2}}|{_CN})[)）]|(首先))"
)


def _number(numeral: str) -> int:
    return int(numeral) if numeral.isdigit() else _CN_DIGITS.index(numeral) + 1


def ordinal_asked(question: str) -> int | None:
    """Which item of a list the question asks for (第一项要求 → 1), if any."""
    m = _NTH_ASKED.search(question)
    return _number(m.group(1)) if m else None


def enumerated(sentence: str) -> int | None:
    """The place of `sentence` in an enumeration it starts (一是, 其二, 3., (4), 首先), if any."""
    if sentence[:1] not in _ITEM_STARTS:  # most sentences: no pattern to run
        return None
    m = _ITEM.match(sentence)
    if m is None:
        return None
    if m.group(6):
        return 1
    return _number(next(g for g in m.groups() if g))


_SPEECH = "表示|说|称|指出|认为|坦言|透露|直言|强调|回应|介绍|提到|写道|感慨|笑称"
SPEAKS = re.compile(_SPEECH)
_SAYS = re.compile(rf"[^,，。！？!?；;:：“”\n]{{2,30}}(?:{_SPEECH})[:：,，]?\s*“$")
"""The clause that opens a quotation by naming who speaks (井贤栋表示:“)."""
_SAID = re.compile(rf"[,，]?\s*([^,，。！？!?；;:：“”\n]{{2,30}}?(?:{_SPEECH}))(?:[。,，!！]|$)")
"""The clause after a quotation that names who spoke it (”,井贤栋说。)."""


def speaker(paragraph: str, start: int) -> tuple[int, int] | None:
    """When `start` lies inside a quotation, the (start, end) of the clause that names its
    speaker, before it (蚂蚁集团CEO井贤栋表示:“…) or after it (…”,井贤栋说。); else None."""
    opened = paragraph.rfind("“", 0, start + 1)
    if opened < 0 or "”" in paragraph[opened:start]:
        return None
    m = _SAYS.search(paragraph, 0, opened + 1)
    if m is not None:
        return m.start(), m.start() + len(m.group().rstrip(":：,，“ \t"))
    closed = paragraph.find("”", start)
    m = _SAID.match(paragraph, closed + 1) if closed >= 0 else None
    return (m.start(1), m.end(1)) if m else None


def strip_span(
    text: str, start: int, end: int, keep: Callable[[str], bool] = str.isalnum
) -> tuple[int, int]:
    """Drop leading/trailing punctuation from text[start:end] (stays verbatim)."""
    while start < end and not keep(text[start]) and text[start] not in '“《(「"':
        start += 1
    while end > start and not keep(text[end - 1]) and text[end - 1] not in '”》)」"%':
        end -= 1
    return start, end
