"""Extractive answers: pick the sentence, then the shortest clause run, that answers the question."""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from operator import mul

import rjieba

from .question import Query
from .text import normalize, words

_normalized = lru_cache(maxsize=8192)(normalize)
"""`normalize` for the passages, titles and sentences one question reads many times."""


_SENTENCE_END = re.compile(r"[^。！？!?；;\n]*(?:[。！？!?；;]+[”’」』\"']?|\n|$)")
_CLAUSE_END = re.compile(r"[^，,：:；;。！？!?]*(?:[，,：:；;。！？!?]+[”’」』\"']?|$)")

_DATE = re.compile(
    r"\d{4}\s*年(?:\s*\d{1,2}\s*月)?(?:\s*\d{1,2}\s*[日号])?(?:[上下]半年|初|底|末|中)?|\d{1,2}\s*月\s*\d{1,2}\s*[日号]|"
    r"\d{1,2}\s*月(?:初|底|末|中旬|上旬|下旬|份)?|\d{4}[-/.]\d{1,2}(?:[-/.]\d{1,2})?|[一二三四五六七八九十]+月|"
    r"\d{1,2}\s*[日号]|年初|年底|年末|年中|年内|年前|上半年|下半年|今年|去年|明年|前年|月初|月底|月末|当年|次年|同年|"
    r"第[一二三四1-4]季度|\d+\s*(?:天|周|个月|年)(?:前|后|内)"
)
_NUMBER = re.compile(
    r"\d+(?:[.,]\d+)*\s*(?:%|％|‰|亿|万|千|百|元|美元|港元|港币|人民币|欧元|英镑|日元|人|家|个|项|倍|笔|次|名|位|户|款|条|"
    r"年|岁|个月|天|日|周|小时|分钟|秒|只|件|台|份|股|点|层|轮|期|国|城|座|成|架|辆|张|枚|亩|平方米|公里|吨|节点|篇)|"
    r"(?:[二两三四五六七八九十百千]|一[百千万亿])[一二两三四五六七八九十百千万亿]*[几多余]?(?:个|家|位|名|人|项|倍|成|次|轮|年|款|亿|万|日|天|架|张|条|种|篇)|"
    r"\d+(?:\.\d+)?|[一二三四五六七八九十百]+分之[一二三四五六七八九十]+|[一二两三四五六七八九十]成|"
    r"[一二两三四五六七八九]{1,2}[十百千万亿]+"
)
_CALENDAR = re.compile(
    r"(?:19|20)\d\d\s*(?:年(?:\s*\d{1,2}\s*月)?(?:\s*\d{1,2}\s*[日号])?|[-/.]\d{1,2}(?:[-/.]\d{1,2})?)|"
    r"\d{1,2}\s*月\s*\d{1,2}\s*[日号]|(?:19|20)\d\d(?=\s*(?:[-—–~、,，;；)）]|至|到|和|及|与|$))"
)
"""Calendar dates and years: in a how-many question, 2021年1月28日 is not a number."""
_REASON = re.compile(
    r"因为|由于|原因|因此|所以|为了|导致|出于|鉴于|目的|以便|为此|是因|源于|受.{1,12}影响|故|担心|旨在|希望"
)
_MANNER = re.compile(
    r"通过|采用|利用|借助|依靠|方式|方法|模式|以.{1,10}形式|手段|收购|合作|推出|让|把"
)
_PLACE = re.compile(
    r"北京|上海|深圳|广州|杭州|香港|澳门|台湾|新加坡|美国|纽约|伦敦|日本|东京|欧洲|海外|境外|全球|国内|中国|"
    r"[\u4e00-\u9fffA-Za-z]{1,8}(?:省|(?<![上超门城股])市(?![场值民面])|区(?![块别间分])|县|国(?![际有企债资务])|州|岛)|"
    r"港股|美股|A股|纳斯达克|纽交所|科创板|创业板|上交所|深交所|港交所"
)
"""Places: countries, cities, districts and markets."""
_ORGANISATION = re.compile(
    r"[\u4e00-\u9fffA-Za-z]{1,8}(?:大学|学院|交易所|律师事务所|研究院|实验室|银行|证券|公司|集团)"
)
_NOT_PLACES = frozenset({"上市"})
"""Words jieba's dictionary tags as places that are not (上市 is listed as a county)."""


@lru_cache(maxsize=8192)
def _tagged_places(text: str) -> tuple[str, ...]:
    """Place names (jieba's ns tag) in `text`: 成都, 仁川, 深圳市."""
    return tuple(
        w for w, flag in rjieba.tag(text) if flag == "ns" and len(w) >= 2 and w not in _NOT_PLACES
    )


_WHERE_ORGANISATION = re.compile(
    r"哪家|哪所|哪个机构|哪个单位|工作|任职|就职|上学|读|毕业|学校|律所"
)
"""Where-questions whose answer can be an organisation (在哪家公司工作, 在哪读的博士)."""
_ROLE = re.compile(
    r"CEO|CTO|CFO|COO|CIO|CDO|总裁|董事长|总经理|负责人|创始人|首席|主席|副总裁|合伙人|总监|院长|科学家|董事|行长|高管|专家|经理|"
    r"顾问|部长|主任|研究员|架构师|监事|秘书|教授|工程师|"
    r"[A-Z][a-z]+(?:\s[A-Z][a-z]+)+",
)
_PERSON_HINT = re.compile(
    r"[\u4e00-\u9fff]{2,3}(?:表示|称|说|认为|指出|透露|坦言|介绍|出任|担任|加盟|接任)|(?:由|是|为)[\u4e00-\u9fff]{2,3}[,，。]"
)
_ROLE_ASKED = re.compile(r"什么(?:职务|职位|头衔|身份|角色|岗位|官职|位置)|任什么|当什么官")
_LIST_HINT = re.compile(r"、|以及|和|及|等|分别")
_YESNO_HINT = re.compile(r"是|不|没有|并非|未|已|将|尚|无")
_REFERS = re.compile(r"上述|前述|此举|此事|这一决定|这一举措|该决定|该举措")
"""Words that point back at what was said before: the sentence continues it."""
_ANNOUNCES = re.compile(r"[:：]\s*$")
_LISTS = re.compile(r"[^,，;；]{0,4}(?:分别|包括|如下|以下|即|是|为|有)[是为]?[:：]\s*")
"""A clause that only announces the one after it (分别是:, 包括:, 指的是:)."""
_ECHO = re.compile(r"[?？:：]\s*[”」』\"']?\s*$")

_PATTERNS = {
    "when": _DATE,
    "number": _NUMBER,
    "why": _REASON,
    "how": _MANNER,
    "list": _LIST_HINT,
    "yesno": _YESNO_HINT,
}


def announces(text: str) -> bool:
    """Whether `text` ends by announcing what follows it ("分别是:")."""
    return _ANNOUNCES.search(text) is not None


_GOES_ON = re.compile(r"\s*(?:包括|主要包括|主要有|分别是|分别为|即)")
"""How a paragraph that goes on from the one before it starts (目前业界的四种技术 / 包括MPC…)."""


def continues(before: str, text: str) -> bool:
    """Whether `text` continues `before`: announced by it, going on from it (包括…), or
    pointing back at it (上述)."""
    return announces(before) or _GOES_ON.match(text) is not None or _REFERS.search(text) is not None


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


# What a question's wording says about the unit of its answer: (question pattern, answer pattern).
_UNITS = [
    (
        re.compile(r"哪一?天|几号|哪一日|具体日期"),
        re.compile(r"\d\s*[日号]|[一二三四五六七八九十]+[日号]"),
    ),
    (re.compile(r"哪一?年|几几年"), re.compile(r"\d{4}\s*年|\d{2}\s*年")),
    (re.compile(r"几月|哪个月|几月份"), re.compile(r"\d\s*月|[一二三四五六七八九十]+月")),
    (
        re.compile(
            r"多少钱|花了多少|金额|募资|融资|估值|营收|收入|利润|身价|市值|年薪|薪酬|月薪|资本|价格|价是"
        ),
        re.compile(r"元|亿|万"),
    ),
    (
        re.compile(
            r"比例|占比|百分之|几成|率是多少|率有多|涨了多少|增长了多少|降了多少|提升了多少|提高了多少|下降了多少|涨幅|降幅"
        ),
        re.compile(r"%|％|‰|成|分之"),
    ),
    (
        re.compile(r"多久|多长时间|几年|几个月|几天|多少天|多少年"),
        re.compile(r"年|个月|月|天|日|周|小时|分钟|秒"),
    ),
    (re.compile(r"(?:多少|几)\s*([笔家人名位个项张架辆次倍款只台户条份轮期座国城股篇])"), None),
]


@lru_cache(maxsize=256)
def expected_unit(question: str) -> re.Pattern[str] | None:
    """The unit the answer to `question` (normalised) should carry, if its wording says."""
    for asked, unit in _UNITS:
        m = asked.search(question)
        if m:
            return unit or re.compile(re.escape(m.group(1)))
    return None


# 哪所大学, 哪家银行, 哪个区: the answer is a name with that ending (北京大学, 渣打银行).
_NAMED_KIND = re.compile(
    r"(?:哪|什么)一?[个家所座位]?(大学|学院|银行|研究院|交易所|医院|省|市|区|县)"
)


_COMPANY_ASKED = re.compile(r"哪家(?!银行|大学|医院|律)|哪个机构|什么机构|哪个公司|什么公司")
_COMPANY = re.compile(
    r"[\u4e00-\u9fffA-Za-z]{1,8}(?:公司|集团|科技|金融|资本|基金|支付|保险|控股|证券|银行|研究院)"
)
_NAME_TAGS = frozenset({"nt", "nz", "nr", "nrt", "eng"})


@lru_cache(maxsize=8192)
def _company_names(text: str) -> list[str]:
    """Names in `text` that can be a company's: jieba's organisation, proper-noun, person and
    Latin words (PayPal), and words with a company ending (同盾科技); not titles (CEO)."""
    tagged = [w for w, flag in rjieba.tag(text) if flag in _NAME_TAGS and len(w) >= 2]
    found = tagged + [m.group() for m in _COMPANY.finditer(text)]
    return [_normalized(w) for w in found if not _ROLE.fullmatch(w)]


@lru_cache(maxsize=256)
def _names_asked(question: str) -> Callable[[str], list[str]] | None:
    """How to find names of the kind `question` asks for (哪所大学 → X大学), if it asks for one."""
    m = _NAMED_KIND.search(question)
    if m:
        pattern = re.compile(rf"[\u4e00-\u9fffa-z]{{1,12}}{m.group(1)}")
        return lambda text: pattern.findall(_normalized(text))
    return _company_names if _COMPANY_ASKED.search(question) else None


def named_kind(question: str, text: str) -> bool | None:
    """Whether `text` holds a name of the kind the question asks for (哪所大学 → X大学, 哪家公司 →
    a company's name) that the question does not already say; None when it asks for none."""
    find = _names_asked(question)
    if find is None:
        return None
    return any(n not in question for n in find(text))


@lru_cache(maxsize=256)
def _role_asked(question: str) -> bool:
    return _ROLE_ASKED.search(question) is not None


@lru_cache(maxsize=256)
def _organisation_allowed(question: str) -> bool:
    return _WHERE_ORGANISATION.search(question) is not None


def type_match(kind: str, text: str, question: str = "") -> float:
    """How well `text` looks like an answer of type `kind` (0..1).

    Only what the question does not already say counts: a date quoted from a when-question
    is not its answer. `question` is the normalised question; when its wording names the
    unit of the answer (多少钱, 几天, 哪一天, 占比), an answer in another unit counts half.
    """
    named = named_kind(question, text)
    if named is not None:
        return float(named)
    if _role_asked(question):  # 担任什么职务: a title such as 首席科学家 or 副行长
        roles = [m.group() for m in _ROLE.finditer(text)]
        return 1.0 if any(_normalized(r) not in question for r in roles) else 0.0
    if kind == "who":
        found = [m.group() for p in (_ROLE, _PERSON_HINT) for m in p.finditer(text)]
        return 1.0 if any(_normalized(f) not in question for f in found) else 0.3
    if kind == "where":  # a place; an organisation when the question allows (在哪家公司)
        found = [m.group() for m in _PLACE.finditer(text)] + list(_tagged_places(text))
        if _organisation_allowed(question):
            found += [m.group() for m in _ORGANISATION.finditer(text)]
        return 1.0 if any(_normalized(f) not in question for f in found) else 0.0
    pattern = _PATTERNS.get(kind)
    if pattern is None:
        return 0.5
    matches = list(pattern.finditer(text))
    if kind == "number" and matches:
        dates = [m.span() for m in _CALENDAR.finditer(text)]
        matches = [m for m in matches if not any(s <= m.start() < e for s, e in dates)]
    fresh = [m for m in matches if _normalized(m.group()) not in question]
    if kind == "list":  # separators, not content: the question may use them too
        return min(1.0, len(matches) / 2)
    if kind in ("how", "yesno"):
        return 1.0 if fresh else 0.3
    if not fresh:
        return 0.0
    unit = expected_unit(question) if kind in ("number", "when") else None
    if unit is None or any(unit.search(text, m.start(), m.end() + 2) for m in fresh):
        return 1.0
    return 0.5


FEATURES = (
    "own",
    "near",
    "title",
    "history",
    "type",
    "retrieval",
    "rank",
    "echo",
    "length",
    "focus",
)
"""What a candidate sentence is scored on (see `best_spans`)."""

WEIGHTS = (1.0, 0.35, 0.35, 0.3, 0.45, 0.25, 0.0, -0.5, 0.0, 0.2)
"""Linear weights of FEATURES."""

PRUNE = True
"""Skip a paragraph none of whose sentences can outscore the best candidate found so far (the
answer is the same; calibration turns this off to see every candidate)."""


@dataclass(frozen=True)
class Candidate:
    """A scored answer span inside a paragraph (doc id) at [start, end)."""

    doc: int
    start: int
    end: int
    score: float
    features: tuple[float, ...]

    def feature(self, name: str) -> float:
        """One named feature of this candidate."""
        return self.features[FEATURES.index(name)]


Equivalents = dict[str, list[tuple[str, float]]]
"""For a query term: other strings that count as it, with the credit each earns (0..1)."""

GAP_CREDIT = 0.6
"""Credit for a term whose characters appear in order with small gaps (营收 in 营业收入)."""


@cache
def _gapped(term: str) -> re.Pattern[str] | None:
    if len(term) < 2 or len(term) > 4 or not all("\u4e00" <= ch <= "\u9fff" for ch in term):
        return None
    return re.compile(".{0,2}".join(map(re.escape, term)))


def credit(terms: Iterable[str], text: str, equivalents: Equivalents) -> dict[str, float]:
    """How well each term is found in `text` (normalised): 1 as a substring, else the best
    credit of an equivalent (a synonym or alias), or of its characters in order with gaps."""
    norm = _normalized(text)
    out = {}
    for t in terms:
        if t in norm:
            out[t] = 1.0
            continue
        best = 0.0
        for alt, c in equivalents.get(t, ()):
            if c > best and alt in norm:
                best = c
        if best < GAP_CREDIT:
            gapped = _gapped(t)
            if gapped is not None and gapped.search(norm):
                best = GAP_CREDIT
        if best:
            out[t] = best
    return out


def best_spans(
    query: Query,
    weights: dict[str, float],
    history: dict[str, float],
    passages: list[tuple[int, str, float, str, str]],
    equivalents: Equivalents | None = None,
    *,
    max_chars: int = 80,
) -> list[Candidate]:
    """Score every sentence of `passages` (doc, text, relative score, title, context); best first.

    `weights` maps the question's own terms to their importance (idf times query weight),
    `history` the terms a follow-up borrows from the chat. A sentence is described by
    FEATURES: the share of the question's weight it holds (own), found only elsewhere in
    its paragraph or the neighbouring `context` (near) or in the article title (title); the
    share of the history's weight found anywhere there; whether it holds an answer of the
    expected type that the question does not already say; its passage's retrieval score
    and rank; whether it asks or announces rather than states (echo: it ends with a
    question mark or a colon); its length; the share of the question's focus words (those
    next to the question word: 难题 in 难题是什么) it holds. Long sentences are cut to
    the clause run that answers. A term also counts, for less, through its `equivalents`.
    """
    equivalents = equivalents or {}
    total = sum(weights.values()) or 1.0
    question = normalize(query.text)
    out: list[Candidate] = []
    titles: dict[str, dict[str, float]] = {}
    focus = {t: weights[t] for t, _ in query.focus if t in weights}
    nth = ordinal_asked(question)
    focus_total = sum(focus.values())
    best = float("-inf")
    for rank, (doc, text, rel, title, context) in enumerate(passages):
        in_para = credit(weights, text + "\n" + context, equivalents)
        if title not in titles:
            titles[title] = credit(weights, title, equivalents)
        in_title = titles[title]
        in_history = credit(history, text + title + context, equivalents) if history else {}
        titled = (
            sum(weights[t] * max(0.0, c - in_para.get(t, 0.0)) for t, c in in_title.items()) / total
        )
        borrowed = _history_share(history, in_history)
        if PRUNE:  # no sentence here can beat the best so far: skip the paragraph
            share = sum(weights[t] * c for t, c in in_para.items()) / total
            low = (0.0, 0.0, titled, borrowed, 0.0, rel, 1.0 / (1 + rank), 0.0, 0.0, 0.0)
            high = (share, share, titled, borrowed, 1.0, rel, 1.0 / (1 + rank), 1.0, 2.0, 1.0)
            bound = sum(map(max, map(mul, WEIGHTS, low), map(mul, WEIGHTS, high)))
            if bound < best:
                continue
        announced = announces(context) or bool(context and _GOES_ON.match(text))
        for s, e in sentence_spans(text):
            sent = text[s:e]
            # what a colon announces ("分别是:"), an item of a list ("一是…") or a sentence
            # that points back ("上述决定") holds the words of what it continues
            anchored = announced and s == 0
            item = enumerated(sent)
            if anchored or item or _REFERS.search(sent):
                in_sent = in_para
            else:
                in_sent = credit(in_para, sent, equivalents) if in_para else {}
            cs, ce = _trim(
                query, weights, in_sent, sent, max_chars, question, equivalents, anchored
            )
            start, end = s + cs, s + ce
            typed = type_match(query.kind, text[start:end], question)
            if nth is not None and item is not None:  # 第一项要求 → "一是…", "1. …"
                typed = float(item == nth)
            if query.kind == "who" and (typed < 1.0 or _SPEAKS.search(question)):
                said = speaker(text, start)  # inside a quote: who said it comes before it
                if said is not None:
                    typed = type_match("who", text[said[0] : said[1]], question)
                    # the speaker and what they said, or only the speaker when that is long
                    whole = min(start, said[0]), max(end, said[1])
                    start, end = whole if whole[1] - whole[0] <= max_chars else said
            f = (
                sum(weights[t] * c for t, c in in_sent.items()) / total,
                sum(weights[t] * (c - in_sent.get(t, 0.0)) for t, c in in_para.items()) / total,
                titled,
                borrowed,
                typed,
                rel,
                1.0 / (1 + rank),
                1.0 if _ECHO.search(sent) else 0.0,
                min(len(sent), 200) / 100,
                sum(focus[t] * c for t, c in in_sent.items() if t in focus) / focus_total
                if focus_total
                else 0.0,
            )
            score = sum(map(mul, WEIGHTS, f))
            best = max(best, score)
            out.append(Candidate(doc, start, end, score, f))
    out.sort(key=lambda c: -c.score)
    return out


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
_SPEAKS = re.compile(_SPEECH)
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


def _history_share(history: dict[str, float], found: dict[str, float]) -> float:
    """The share of the chat's borrowed weight found around a sentence (1 without history)."""
    if not history:
        return 1.0
    return sum(history[t] * c for t, c in found.items()) / sum(history.values())


_YEAR = re.compile(r"(?<!\d)((?:19|20)\d\d)(?:\s*年?\s*[-—–~至到]\s*((?:19|20)\d\d))?(?!\d)")
_ORDINAL = re.compile(r"第([一二三四五六七八九十百\d]+)(届|次|期|季|轮|代|批|家|名|大)")


def _years(text: str) -> set[str]:
    """The years `text` names, ranges (2017—2019) spelled out."""
    out = set()
    for first, last in _YEAR.findall(text):
        out.update(map(str, range(int(first), int(last or first) + 1)))
    return out


_PERIODS = [
    ("9m", re.compile(r"前三季度|前三个季度|1-9月|1至9月")),
    ("q", re.compile(r"(?:第)?([一二三四1-4])季度|q([1-4])")),
    ("h1", re.compile(r"上半年|前半年|h1|中报|半年报")),
    ("h2", re.compile(r"下半年|h2")),
    ("fy", re.compile(r"全年")),
]
_QUARTER = {"一": "1", "二": "2", "三": "3", "四": "4"}
_ROUND = re.compile(r"(天使|pre-?a|pre-?ipo|(?<![a-z])[a-h]\+?)\s*轮")


def _periods(text: str) -> set[str]:
    """The parts of a year `text` names: q1…q4, h1, h2, 9m (前三季度), fy (全年)."""
    out = set()
    for name, pattern in _PERIODS:
        for m in pattern.finditer(text):
            if name == "q":
                n = m.group(1) or m.group(2)
                out.add("q" + _QUARTER.get(n, n))
            else:
                out.add(name)
        text = pattern.sub(" ", text)
    return out


def contradicts(question: str, span: str) -> bool:
    """Whether `span` speaks of another year, part of a year, funding round or edition than the
    question names: it names some of the same kind (years; 一季度, 上半年, 全年; A轮; 第N届,
    第N次, 第N大…), and none of them is the question's."""
    q, s = normalize(question), normalize(span)
    for values in (_years, _periods, lambda t: set(_ROUND.findall(t))):
        asked, said = values(q), values(s)
        if asked and said and not asked & said:
            return True
    editions = _ORDINAL.findall(s)
    for n, unit in _ORDINAL.findall(q):
        others = {m for m, u in editions if u == unit}
        if others and n not in others:
            return True
    return False


_KINDS = ("银行", "集团", "证券", "保险", "财险", "寿险", "大学", "交易所", "研究院")
"""Endings that make a name of a kind of institution (江苏银行, 平安集团)."""


_NOT_A_NAME = re.compile(r"[哪那这该某每各其此几一两二三四五六七八九十多]|什么")
"""Words before 银行 that point or count rather than name (哪家银行, 这家银行, 多家银行)."""


@lru_cache(maxsize=1024)
def _kind_names(text: str) -> dict[str, frozenset[str]]:
    """For each kind of institution, the names `text` gives it without the ending (江苏银行 → 江苏
    under 银行); a name is the word holding the ending or the word before it."""
    out: dict[str, set[str]] = {}
    tokens = words(text)
    for before, token in zip(["", *tokens], tokens, strict=False):
        for kind in _KINDS:
            if token.endswith(kind) and len(token) > len(kind):
                out.setdefault(kind, set()).add(token[: -len(kind)])
            elif token == kind and len(before) >= 2 and not _NOT_A_NAME.search(before):
                out.setdefault(kind, set()).add(before)
    return {kind: frozenset(names) for kind, names in out.items()}


def other_institution(question: str, span: str, evidence: str) -> bool:
    """Whether `span` names a bank, group, university… other than the one of that kind the
    question names, while the `evidence` (paragraph, title) never names the question's."""
    asked = _kind_names(question)
    if not asked:
        return False
    said, evidence = _kind_names(span), normalize(evidence)
    for kind, names in asked.items():
        others = said.get(kind, set()) - names
        if others and not any(name in evidence for name in names):
            return True
    return False


_CHIEF_SHORT = {
    "ceo": "执行",
    "cfo": "财务",
    "cto": "技术",
    "coo": "运营",
    "cio": "信息",
    "cro": "风险",
    "cdo": "数据",
    "cmo": "市场",
    "cco": "合规",
}
_CHIEF_SAME = {"风控": "风险"}
_CHIEF = re.compile(
    r"首席((?:[\u4e00-\u9fff]{1,3}/)*[\u4e00-\u9fff]{1,3})官|(?<![a-z])(c[efotirdmc]o)(?![a-z])"
)


def chief_titles(text: str) -> set[str]:
    """The chief officers `text` names, by what they are chief of (首席风险官, CRO → 风险;
    首席信息/技术官 → 信息, 技术)."""
    out = set()
    for long, short in _CHIEF.findall(normalize(text)):
        if short:
            out.add(_CHIEF_SHORT[short])
        else:
            out.update(part[-2:] for part in long.split("/"))
    return {_CHIEF_SAME.get(t, t) for t in out}


def other_chief(question: str, evidence: str) -> bool:
    """Whether the question asks about a chief officer (首席风险官) the `evidence` never names."""
    asked = chief_titles(question)
    return bool(asked) and not asked & chief_titles(evidence)


def confidence(candidates: list[Candidate]) -> float:
    """How likely the best candidate answers the question (0..1)."""
    best = candidates[0]
    support = best.feature("own") + 0.35 * best.feature("near") + 0.35 * best.feature("title")
    return min(1.0, 0.7 * support + 0.3 * best.feature("type"))


def _trim(
    query: Query,
    weights: dict[str, float],
    found: dict[str, float],
    sentence: str,
    max_chars: int,
    question: str,
    equivalents: Equivalents,
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
    clauses = clause_spans(sentence)
    best: tuple[float, int, int] | None = None
    for i in range(1 if anchored else len(clauses)):
        for j in range(i, min(i + 3, len(clauses))):
            s, e = clauses[i][0], clauses[j][1]
            piece = sentence[s:e]
            if not piece.strip() or len(piece) > max_chars:
                continue
            if j + 1 < len(clauses) and (
                _ANNOUNCES.search(piece) or _LISTS.fullmatch(sentence, *clauses[j + 1])
            ):
                continue  # "分别是:" announces the clause after it: never end on or before it
            cov = sum(weights[t] * c for t, c in credit(found, piece, equivalents).items()) / total
            score = cov + 0.7 * type_match(query.kind, piece, question) - 0.002 * len(piece)
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
