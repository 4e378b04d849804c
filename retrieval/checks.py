"""Evidence checks: a span that speaks of another year, round, institution or officer than asked."""

import re
from functools import lru_cache

from .kinds import tagged_people
from .text import normalize, words

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


_RELATIVE_YEARS = {"前年": -2, "去年": -1, "今年": 0, "明年": 1}


def contradicts(question: str, span: str, year: int | None = None) -> bool:
    """Whether `span` speaks of another year, part of a year, funding round or edition than the
    question names: it names some of the same kind (years; 一季度, 上半年, 全年; A轮; 第N届,
    第N次, 第N大…), and none of them is the question's. year: the article's, which the span's
    今年, 去年… name."""
    q, s = normalize(question), normalize(span)
    relative = (
        set() if year is None else {str(year + d) for w, d in _RELATIVE_YEARS.items() if w in s}
    )
    for asked, said in (
        (_years(q), _years(s) | relative),
        (_periods(q), _periods(s)),
        (set(_ROUND.findall(q)), set(_ROUND.findall(s))),
    ):
        if asked and said and not asked & said:
            return True
    editions = _ORDINAL.findall(s)
    for n, unit in _ORDINAL.findall(q):
        others = {m for m, u in editions if u == unit}
        if others and n not in others:
            return True
    return False


_KINDS = ("银行", "集团", "证券", "保险", "财险", "寿险", "大学", "交易所", "研究院", "数科")
"""Endings that make a name of a kind of institution (江苏银行, 平安集团, 京东数科; not 科技, as
金融科技 names none)."""


_NOT_A_NAME = re.compile(r"[哪那这该某每各其此几一两二三四五六七八九十多他她它我你咱]|什么|个$")
"""Words before 银行 that point or count rather than name (哪家银行, 多家银行, 他们集团, 有个财险)."""


@lru_cache(maxsize=1024)
def _kind_names(text: str) -> dict[str, frozenset[str]]:
    """For each kind of institution, the names `text` gives it without the ending (江苏银行 → 江苏
    under 银行); a name is the word holding the ending or the word before it, past other kinds
    (远山银行集团: 远山 under 集团 too)."""
    out: dict[str, set[str]] = {}
    tokens = words(text)
    for i, token in enumerate(tokens):
        for kind in _KINDS:
            if not token.endswith(kind):
                continue
            name, j = token[: -len(kind)], i - 1
            while name in ("", *_KINDS) and j >= 0:
                name, j = tokens[j], j - 1
            if j == i - 1 or (len(name) >= 2 and not _NOT_A_NAME.search(name)):
                out.setdefault(kind, set()).add(name)
    named = {
        kind: {n for n in names if n and not n.endswith(_KINDS)} for kind, names in out.items()
    }
    return {kind: frozenset(names) for kind, names in named.items() if names}


def other_institution(question: str, span: str, evidence: str) -> bool:
    """Whether `span` names a bank, group, university… other than the one of that kind the
    question names, while the `evidence` (its paragraph) never names the question's."""
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
_CHIEF_SAME = {"风控": "风险", "资讯": "信息"}  # 資訊: Taiwan's word for 信息
_CHIEF = re.compile(
    r"首席((?:[\u4e00-\u9fff]{1,3}/)*[\u4e00-\u9fff]{1,3})官|(?<![a-z])(c[efotirdmc]o)(?![a-z])"
    r"|(行政总裁)"  # Hong Kong's chief executive
)


def chief_titles(text: str) -> set[str]:
    """The chief officers `text` names, by what they are chief of (首席风险官, CRO → 风险;
    首席信息/技术官 → 信息, 技术)."""
    return _titles(normalize(text))


def _titles(text: str) -> set[str]:
    """`chief_titles` of normalised text."""
    return {t for m in _CHIEF.finditer(text) for t in _chief_of(m)}


def _chief_of(m: re.Match[str]) -> set[str]:
    """What the chief officer of a match of _CHIEF is chief of."""
    long, short, executive = m.groups()
    if executive:
        return {"执行"}
    if short:
        return {_CHIEF_SHORT[short]}
    return {_CHIEF_SAME.get(part[-2:], part[-2:]) for part in long.split("/")}


def _titles_of_named(question: str, evidence: str) -> set[str]:
    """The chief titles the question gives a person it names, who `evidence` names too (前CTO
    方国伟, 当CEO的特纳夫): they say whom the question asks about, not which officer."""
    people = [p for p in tagged_people(question) if p in evidence]
    out: set[str] = set()
    for m in _CHIEF.finditer(question):
        near = question[max(0, m.start() - 4) : m.end() + 5]
        if any(p in near for p in people):
            out |= _chief_of(m)
    return out


def other_chief(question: str, evidence: str) -> bool:
    """Whether the question asks about a chief officer (首席风险官) the `evidence` never names."""
    question = normalize(question)
    asked = _titles(question)
    if not asked:
        return False
    evidence = normalize(evidence)
    asked -= _titles_of_named(question, evidence)
    return bool(asked) and not asked & _titles(evidence)
