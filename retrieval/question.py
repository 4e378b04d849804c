"""Question analysis: expected answer type, query terms, and what a follow-up leans on."""

import re
from dataclasses import dataclass, replace
from importlib import resources

import rjieba

from .text import joined, normalize, words

STOP_TERMS = frozenset(
    word
    for line in resources.files(__package__)
    .joinpath("data/stopwords.txt")
    .read_text("utf-8")
    .splitlines()
    if not line.startswith("#")
    for word in line.split()
)
"""Question and function words: dropped from the BM25 query, kept for answer typing."""

# Pronouns and deictic phrases: they point at the chat's earlier questions.
_PRONOUN = re.compile(
    r"(?<![其吉])(他们|她们|它们|他|她|它)|该公司|这家公司|那家公司|这家|那家|该|此人|这个人|那个人|对方|前者|后者|这款|这项|那款|这笔|那笔"
)

_THEN = re.compile(
    r"(?:^|(?<=[\s,.。;!?:]))那(?![些个家边里时样么年天次位笔款种批项份部条只段回儿会阵场轮届期张件座所间名])"
)
"""An opening 那 (then: 那京东呢?), not 那些, 那年 or 那边."""

_GOES_ON = re.compile(
    r"^(那|其中|里头|里面|当时|后来|随后|之后|此后|之前|此前)"
    r"|^这(个|些|次|场|位|名|条|只|种|项|批|轮|份|部|篇|件|回|时|段)"
    r"|^.{0,8}呢[?？]?$"
)
"""A question that opens by going on from the chat (那…, 其中…, 后来…, 这些…) or asks only
about something else than the last question did (港股那边呢)."""

# (type, pattern) in priority order; patterns run on the normalised question.
_TYPES: list[tuple[str, re.Pattern[str]]] = [
    (
        "why",
        re.compile(
            r"(?<![认成作称视以名级改分转变定列选评换])为什么|为何|原因|为啥|怎么会|何故|动机|目的是"
        ),
    ),
    (
        "when",
        re.compile(
            r"什么时候|何时|哪[一几]?年|哪些年|哪天|哪一天|几月|几号|哪个月|什么时间|几时|哪个季度|日期|时间点|哪年"
        ),
    ),
    (
        "number",
        re.compile(
            r"多少|(?<!哪)几(?!乎)[\u4e00-\u9fff]|多大|多高|多长|多久|多重|比例|占比|百分之|几成|估值|规模|金额|多远"
        ),
    ),
    ("list", re.compile(r"哪些|哪几|哪[两二三四五六七八九十]|有什么|都有|包括什么|分别是")),
    ("who", re.compile(r"谁|哪位|什么人|哪个人|何人|负责人是|创始人是|掌门")),
    (
        "where",
        re.compile(
            r"哪里|哪儿|在哪|什么地方|何地|何处|哪个城市|哪个国家|哪国|哪个省|哪座|去哪|哪个交易所|哪家律师|哪所"
        ),
    ),
    ("how", re.compile(r"怎么|如何|怎样|什么方式|通过什么|用什么方法")),
    ("yesno", re.compile(r"是否|是不是|有没有|能不能|会不会|可不可以|对不对|算不算|吗[?!.。]*$")),
]


_ASKING_WORD = re.compile(
    r"什么|哪|谁|多少|几(?![十百千万亿乎])|怎么|为什么|为啥|啥|如何|怎样|是否|多[长短久大高远快]"
)
"""A question word of its own: the clause asks (我记得是黄什么翔), it does not guess."""

# A word that asks (哪一天, 几家, 怎么办) says nothing the answer holds.
_ASKING = re.compile(r"^(?:哪|几(?!乎))|多少|什么|怎么|为何|为啥|是否|谁")

_WH = re.compile(
    r"多少|几|什么时候|哪|谁|什么|为什么|为何|为啥|怎么|如何|怎样|是否|是不是|有没有|吗|啥"
)


@dataclass(frozen=True)
class Query:
    """An analysed question."""

    text: str
    kind: str  # who, when, number, where, what, why, how, list, yesno
    terms: list[str]  # content terms of the question itself
    words: frozenset[str]  # those that are plain jieba words (not joined pairs)
    needs_context: bool  # uses a pronoun or names nothing specific
    focus: tuple[tuple[str, bool], ...] = ()  # words next to the question word, and if nouns
    nouns: frozenset[str] = frozenset()  # the question's nouns
    core: str = ""  # the clauses that ask, after a preamble (`asking_part`); else ""
    asked: str = ""  # the earlier question a follow-up asks again (`in_chat`); else ""
    subject: tuple[str, ...] = ()  # ... its own subject terms (蚂蚁 in 那蚂蚁呢?)
    replaced: tuple[str, ...] = ()  # ... and those of the chat it asks it of instead


_ASKS = re.compile(r"[?？吗呢]|什么|怎|哪|谁|啥|为何|是否|如何")
_SOUGHT = [
    ("when", re.compile(r"时间|日期|年份")),
    (
        "number",
        re.compile(r"费用|收入|营收|利润|估值|金额|市值|规模|融资|募资|占比|比例|增速|人数|数量"),
    ),
]
"""Keywords that name a quantity or a time (金融壹账通 一季度 研发费用)."""


def asks(question: str) -> bool:
    """Whether `question` asks something (a question word, 吗, 呢, ?) or points back at the
    chat (a pronoun): 你好 and 谢谢 do neither."""
    q = normalize(question)
    return bool(_ASKS.search(q) or _PRONOUN.search(q))


_COLLOQUIAL = [("啥", "什么"), ("咋", "怎么"), ("多会儿", "什么时候")]
"""Colloquial question words and the ones the types are written with (啥时候: 什么时候)."""


def answer_type(question: str) -> str:
    """The expected answer type of `question`."""
    q = normalize(question)
    for said, written in _COLLOQUIAL:
        q = q.replace(said, written)
    for kind, pattern in _TYPES:
        if pattern.search(q):
            return kind
    if not _ASKS.search(q):  # search-box keywords: the last one names what is sought
        last = (q.split() or [q])[-1]
        for kind, pattern in _SOUGHT:
            if pattern.search(last):
                return kind
    return "what"


def in_chat(query: Query, history: list[str]) -> Query:
    """`query` read in its chat. A follow-up with no question word of its own (那远山保险呢?,
    港股那边呢) asks what the last earlier question with one asked, of its own subject instead of
    the one the chat's questions name (their subject terms it does not share)."""
    if _asks_itself(query.text):
        return query
    asked = next((h for h in reversed(history) if _asks_itself(h)), None)
    if asked is None:
        return query
    own = subject_terms(query.text)
    replaced = dict.fromkeys(
        t for h in history for t in subject_terms(h) if len(t) >= 2 and t not in own
    )
    kind = answer_type(asked)
    return replace(query, kind=kind, asked=asked, subject=tuple(own), replaced=tuple(replaced))


def _asks_itself(question: str) -> bool:
    return answer_type(question) != "what" or bool(_ASKING_WORD.search(normalize(question)))


_HEDGE = re.compile(
    r"是不是|好像|似乎|貌似|记得|印象|应该|大概|估计|没记错|左右|对吧|对不对|没错吧|是吧|还是说|吗"
)
"""Words that offer a guess for the other side to confirm or correct."""

_CLAUSE = re.compile(r"(?:[^,;.!?。!\s]|(?<=\d)(?:\.(?=\d)|,(?=\d{3}(?!\d))))+[,;.!?。!\s]*")
"""A clause and the marks after it (a point between digits, or a comma before three, is part
of a number: 2.5亿, 1,200万; 第1,2020年 is two clauses)."""
_TIME = re.compile(
    r"\d{2,4}年(?:\d{1,2}月)?(?:\d{1,2}[日号])?|\d{1,2}月(?:\d{1,2}[日号])?|\d{1,2}[日号]|\d{4}"
    r"|[一二三四五六七八九十]{1,3}月(?:[一二三四五六七八九十]{1,3}[日号])?"
    r"|[去前今明后]年|[年月][底初中末]|[上下]半年|[一二三四]季度"
)
_UNITS = r"(?:万亿|亿|万|千|百|倍|成|个|家|人|位|次|条|元|美元|块)"
_AMOUNT = re.compile(
    rf"(?<!\d)\d+(?:\.\d+)?(?![\d.]*[年月日号])\s*(?:%|{_UNITS})*|[一二两三四五六七八九十百千几]+{_UNITS}+"
)
_GUESSED = {"when": _TIME, "number": _AMOUNT}
"""The values a guess at an answer of each kind offers."""


_GUESS_WORDS = re.compile(
    r"没记错的话|没记错|印象[中里]|记得|好像|似乎|貌似|应该|大概|估计|是不是|对不对|没错|还是说"
    r"|[我是吗吧呢啊呀的话对,;.!?。\s]"
)
"""What hedges a guess: taken away, a short remainder is the guess itself (是建行吗: 建行)."""

GUESS_CHARS = 10
"""The longest remainder read as a guess; a longer clause adds to the question (我记得招股书里
说它是按某种量来收费的)."""


def without_guesses(question: str) -> str:
    """`question` (normalised) without the guess at the answer it holds: people put their own
    in for the bot to confirm or correct, and it may be wrong. A short clause that hedges
    (是不是, 好像, 我记得…) after the clause that asks is a guess (是建行吗?, 是不是2019年?); one
    before it keeps its words but not the values of the kind asked (a date for when, an
    amount for how much): 印象中是2020年,它是哪天上市的? asks for the day whatever the year."""
    q = normalize(question)
    clauses = _CLAUSE.findall(q)
    hedged = [bool(_HEDGE.search(c)) and not _ASKING_WORD.search(c) for c in clauses]
    asking = [
        i for i, (c, h) in enumerate(zip(clauses, hedged, strict=True)) if not h and _WH.search(c)
    ]
    if not any(hedged) or not asking:
        return q
    asked = "".join(c for c, h in zip(clauses, hedged, strict=True) if not h)
    value = _GUESSED.get(answer_type(asked))
    kept = []
    for i, (c, h) in enumerate(zip(clauses, hedged, strict=True)):
        if h and i > asking[0] and len(_GUESS_WORDS.sub("", c)) <= GUESS_CHARS:
            continue
        kept.append(value.sub("", c) if h and value is not None else c)
    return "".join(kept)


CORE_EXTRA = 8
"""A question with at least this many characters besides its clauses that ask has a preamble
(我孙子学计算机的,以后想去搞金融科技。…是哪几类公司?): its meaning is diluted by it."""


def asking_part(question: str) -> str:
    """The clauses of `question` (normalised) that ask, when the rest is a preamble of at
    least CORE_EXTRA characters; else ""."""
    q = normalize(question)
    core = "".join(c for c in _CLAUSE.findall(q) if _WH.search(c) and not _HEDGE.search(c))
    return core if core and len(q) - len(core) >= CORE_EXTRA else ""


def _without_pronouns(text: str) -> str:
    """`text` with pronouns and an opening 那 replaced by a space, so jieba does not glue them to
    a neighbour (那联易融)."""
    return _THEN.sub(" ", _PRONOUN.sub(" ", normalize(text)))


def content_terms(text: str) -> list[str]:
    """Query terms of `text`: its terms without pronouns, question and function words; distinct.

    A joined pair counts only if neither half is a question or function word.
    """
    cut = words(_without_pronouns(text))
    found = [w for w in cut if not _ASKING.search(w)]
    pairs = [  # neighbours in the question, not across a question word (募资|多少|钱)
        p
        for a, b, p in _pairs(cut)
        if not (_ASKING.search(a) or _ASKING.search(b)) and STOP_TERMS.isdisjoint((a, b))
    ]
    return list(dict.fromkeys(t for t in found + pairs if t not in STOP_TERMS))


def _pairs(found: list[str]) -> list[tuple[str, str, str]]:
    joins = set(joined(found))
    return [(a, b, a + b) for a, b in zip(found, found[1:], strict=False) if a + b in joins]


def is_word(word: str) -> bool:
    """Whether jieba's dictionary holds `word` (rather than jieba guessing it)."""
    return rjieba.has_word(word)


def pieces(word: str) -> list[str]:
    """A word jieba guessed (not in its dictionary) cut into known-looking parts of 2+ characters."""
    if is_word(word) or len(word) < 3:
        return []
    return [
        t for t in content_terms(" ".join(rjieba.cut(word, False))) if len(t) >= 2 and t != word
    ]


_NOUNISH = ("n", "vn", "eng", "j", "nz", "ns", "nt", "nr")
_WHICH = re.compile(r"哪|什么|啥")


def _tagged(question: str) -> list[tuple[str, str]]:
    """Words of `question` (pronouns dropped) with their part of speech."""
    return [(w, flag) for w, flag in rjieba.tag(_without_pronouns(question)) if w.strip()]


def subject_terms(question: str) -> list[str]:
    """Content terms of `question` that can name what it is about: nouns, names, words jieba
    guessed, and joined pairs (verbs like 辞职 or 加入 say what happened, not to whom)."""
    tagged = _tagged(question)
    verbs = {w for w, flag in tagged if not flag.startswith(_NOUNISH) and is_word(w)}
    return [t for t in content_terms(question) if t not in verbs]


def focus_words(question: str) -> tuple[tuple[str, bool], ...]:
    """Content words within two places of the first question word (年薪 in 年薪是多少), each
    with whether it is a noun (verbs and adverbs say less about what is asked). The noun
    right after 哪/什么 names the kind of answer (哪座城市), so it is left out."""
    tagged = _tagged(question)
    at = next((i for i, (w, _) in enumerate(tagged) if _WH.search(w)), None)
    if at is None:
        return ()
    near = [tagged[j] for j in (at + 1, at - 1, at + 2, at - 2) if 0 <= j < len(tagged)]
    if _WHICH.match(tagged[at][0]) and at + 1 < len(tagged) and tagged[at + 1][1].startswith("n"):
        near.remove(tagged[at + 1])  # 哪座城市, 什么职务: the kind of answer, not its subject
    return tuple(
        (w, flag.startswith(_NOUNISH))
        for w, flag in near
        if len(w) >= 2 and w not in STOP_TERMS and not _WH.search(w) and _is_term(w)
    )


def _is_term(word: str) -> bool:
    return bool(words(word))


def analyse(question: str) -> Query:
    """Answer type, query terms and whether the question leans on the chat's earlier questions.
    A guess at the answer inside the question is not part of it (`without_guesses`)."""
    question = without_guesses(question)
    terms = content_terms(question)
    plain = normalize(question)
    needs_context = (
        bool(_PRONOUN.search(plain) or _GOES_ON.search(plain.strip())) or len(terms) <= 1
    )
    found = words(_without_pronouns(question))
    nouns = frozenset(
        w
        for w, flag in _tagged(question)
        if flag.startswith(_NOUNISH)
        and len(w) >= 2
        and w not in STOP_TERMS
        and w[0] != w[1]  # not 顺顺利利
    )
    return Query(
        question,
        answer_type(question),
        terms,
        frozenset(found),
        needs_context,
        focus_words(question),
        nouns,
        asking_part(question),
    )
