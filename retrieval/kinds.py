"""What kind of answer a span holds: a date, a number, a place, a person, a named company…"""

import re
from collections.abc import Callable
from functools import lru_cache

import rjieba

from .text import normalize

normalized = lru_cache(maxsize=8192)(normalize)
"""`normalize` for the passages, titles and sentences one question reads many times."""

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
    r"[一二两三四五六七八九]{1,2}[十百千万亿]+|半个?(?:天|年|月|小时|钟头)"
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
    r"港股|美股|A股|纳斯达克|纽交所|科创板|创业板|上交所|深交所|港交所|"
    r"(?<=[在赴来于])[港沪美](?![元币团国])"
)
"""Places: countries, cities, districts and markets, and the one-character names of a
listing's place (在港, 赴美)."""
_ORGANISATION = re.compile(
    r"[\u4e00-\u9fffA-Za-z]{1,8}(?:大学|学院|交易所|律师事务所|研究院|实验室|银行|证券|公司|集团)"
)
_NOT_PLACES = frozenset({"上市"})
"""Words jieba's dictionary tags as places that are not (上市 is listed as a county)."""


@lru_cache(maxsize=8192)
def _tags(text: str) -> tuple[tuple[str, str], ...]:
    """jieba's words of `text` with their parts of speech."""
    return tuple(rjieba.tag(text))


def _tagged_places(text: str) -> list[str]:
    """Place names (jieba's ns tag) in `text`: 成都, 仁川, 深圳市."""
    return [w for w, flag in _tags(text) if flag == "ns" and len(w) >= 2 and w not in _NOT_PLACES]


_PERSON_TAGS = frozenset({"nr", "nrfg", "nrt"})


def tagged_people(text: str) -> list[str]:
    """Person names (jieba's nr tags) in `text`: 李捷, 井贤栋."""
    return [w for w, flag in _tags(text) if flag in _PERSON_TAGS and len(w) >= 2]


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

_PATTERNS = {
    "when": _DATE,
    "number": _NUMBER,
    "why": _REASON,
    "how": _MANNER,
    "list": _LIST_HINT,
    "yesno": _YESNO_HINT,
}


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


_FIGURES = [
    (re.compile(asked), re.compile(named or asked))
    for asked, named in [
        (r"营收|收入|营业额", None),
        (r"利润|净利|净赚|盈利", None),
        (r"亏", None),
        (r"估值", None),
        (r"市值", None),
        (r"罚", None),
        (r"薪", None),
        (r"募资|募集|募了|融资|筹资|筹集", r"募|融资|筹"),
    ]
]
"""A company's figures a how-much question can ask for (revenue, profit, loss, valuation,
market value, a fine, pay, funds raised): how a question asks for one, and how a span names it."""


@lru_cache(maxsize=256)
def _figures_asked(question: str) -> tuple[re.Pattern[str], ...]:
    return tuple(named for asked, named in _FIGURES if asked.search(question))


def figure_named(question: str, text: str) -> bool | None:
    """Whether `text` names a figure the question asks for (净利润: not a span of 营业收入);
    None when it asks for none. Both normalised."""
    asked = _figures_asked(question)
    if not asked:
        return None
    return any(p.search(text) for p in asked)


# 哪所大学, 哪家银行, 哪个区: the answer is a name with that ending (北京大学, 渣打银行).
_NAMED_KIND = re.compile(
    r"(?:哪|什么)一?[个家所座位]?"
    r"(大学|学院|银行|研究院|交易所|医院|省|市(?![场值民面])|区(?![块别间分域])|县)"
)
_SHORT_NAMES = {"交易所": "交易所|交所"}
"""Endings a name of the kind can have instead (纽交所, 港交所)."""


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
    return [normalized(w) for w in found if not _ROLE.fullmatch(w)]


@lru_cache(maxsize=256)
def _names_asked(question: str) -> Callable[[str], list[str]] | None:
    """How to find names of the kind `question` asks for (哪所大学 → X大学), if it asks for one."""
    m = _NAMED_KIND.search(question)
    if m:
        ending = _SHORT_NAMES.get(m.group(1), m.group(1))
        pattern = re.compile(rf"[\u4e00-\u9fffa-z]{{1,12}}(?:{ending})")
        return lambda text: pattern.findall(normalized(text))
    return _company_names if _COMPANY_ASKED.search(question) else None


def names_company(question: str, text: str) -> bool:
    """Whether `text` names a company or organisation the question does not: who-questions
    are answered by one too (谁领投 → 青松资本)."""
    return any(n not in question for n in _company_names(text))


def named_kind(question: str, text: str) -> bool | None:
    """Whether `text` holds a name of the kind the question asks for (哪所大学 → X大学, 哪家公司 →
    a company's name) that the question does not already say; None when it asks for none."""
    find = _names_asked(question)
    if find is None:
        return None
    return any(n not in question for n in find(text))


_EARLIER_ASKED = re.compile(
    r"之前|以前|此前|早年|原先|原来|先前|前身|曾经|(?:进|来|加入|入职).{1,8}前"
)
_EARLIER_TOLD = re.compile(r"曾|此前|之前|以前|早年|历任|先后|原任|前任|出身")


def tells_earlier(question: str, text: str) -> bool:
    """Whether the question asks what came before (他之前在哪家公司, 加入蚂蚁前) and `text`
    tells of an earlier time (曾任, 此前, 历任): a career sentence's past, not its present."""
    return _asks_earlier(question) and _EARLIER_TOLD.search(text) is not None


@lru_cache(maxsize=256)
def _asks_earlier(question: str) -> bool:
    return _EARLIER_ASKED.search(question) is not None


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
        return 1.0 if any(normalized(r) not in question for r in roles) else 0.0
    if kind == "who":
        found = [m.group() for p in (_ROLE, _PERSON_HINT) for m in p.finditer(text)]
        found += tagged_people(text)  # a name alone: 李捷将接管技术团队
        return 1.0 if any(normalized(f) not in question for f in found) else 0.3
    if kind == "where":  # a place; an organisation when the question allows (在哪家公司)
        found = [m.group() for m in _PLACE.finditer(text)] + _tagged_places(text)
        if _organisation_allowed(question):
            found += [m.group() for m in _ORGANISATION.finditer(text)]
        return 1.0 if any(normalized(f) not in question for f in found) else 0.0
    pattern = _PATTERNS.get(kind)
    if pattern is None:
        return 0.5
    matches = list(pattern.finditer(text))
    if kind == "number" and matches:
        dates = [m.span() for m in _CALENDAR.finditer(text)]
        matches = [m for m in matches if not any(s <= m.start() < e for s, e in dates)]
    fresh = [m for m in matches if normalized(m.group()) not in question]
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
