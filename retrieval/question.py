"""Question analysis: expected answer type, query terms, and follow-up resolution."""

import re
from dataclasses import dataclass

from .text import normalize, tokenize, words

# Question and function words: dropped from the BM25 query, kept for answer typing.
STOP_TERMS = frozenset(
    [
        "的",
        "了",
        "是",
        "在",
        "和",
        "与",
        "及",
        "或",
        "吗",
        "呢",
        "吧",
        "啊",
        "呀",
        "么",
        "嘛",
        "哦",
        "之",
        "其",
        "该",
        "此",
        "这",
        "那",
        "这个",
        "那个",
        "这些",
        "那些",
        "这家",
        "那家",
        "什么",
        "啥",
        "哪",
        "哪里",
        "哪儿",
        "哪些",
        "哪个",
        "哪家",
        "哪位",
        "哪年",
        "哪一年",
        "哪天",
        "哪个月",
        "几",
        "多少",
        "多大",
        "多久",
        "多长",
        "谁",
        "怎么",
        "怎样",
        "如何",
        "为什么",
        "为何",
        "是否",
        "是不是",
        "有没有",
        "有无",
        "能否",
        "可否",
        "会不会",
        "能不能",
        "请问",
        "请",
        "一下",
        "告诉",
        "知道",
        "想",
        "问",
        "我",
        "我们",
        "你",
        "你们",
        "他",
        "她",
        "它",
        "他们",
        "她们",
        "它们",
        "有",
        "被",
        "把",
        "让",
        "给",
        "就",
        "都",
        "也",
        "还",
        "又",
        "能",
        "会",
        "要",
        "对",
        "从",
        "向",
        "于",
        "以",
        "为",
        "将",
        "个",
        "一个",
        "时候",
        "什么时候",
        "时间",
        "当时",
        "现在",
        "目前",
        "之前",
        "之后",
        "以前",
        "以后",
        "后来",
        "曾经",
        "已经",
        "到底",
        "究竟",
        "具体",
        "主要",
        "一共",
        "总共",
        "分别",
        "大概",
        "大约",
        "左右",
        "叫",
        "叫做",
        "称为",
        "名字",
        "东西",
        "情况",
        "方面",
        "呀",
        "啦",
        "嗯",
        "吗",
        "么",
        "那么",
        "这么",
        "怎么样",
        "干啥",
        "干嘛",
        "咋",
        "咋样",
        "多",
        "少",
        "年",
        "月",
        "日",
        "号",
        "人",
    ]
)

_PRONOUN = re.compile(
    r"(他|她|它|他们|她们|它们|该公司|这家公司|那家公司|这家|那家|该|其|此人|这个人|那个人|对方|前者|后者|这款|这项|那款)"
)

# (type, pattern) in priority order; patterns run on the normalised question.
_TYPES: list[tuple[str, re.Pattern[str]]] = [
    ("why", re.compile(r"为什么|为何|原因|为啥|怎么会|何故|动机|目的是")),
    (
        "when",
        re.compile(
            r"什么时候|何时|哪一?年|哪天|哪一天|几月|几号|哪个月|什么时间|几时|哪个季度|日期|时间点|多久以前|哪年"
        ),
    ),
    (
        "number",
        re.compile(
            r"多少|几(?!乎)[\u4e00-\u9fff]|多大|多高|多长|多久|多重|比例|占比|百分之|几成|估值|规模|金额|增长了|下降了|多远"
        ),
    ),
    ("list", re.compile(r"哪些|哪几|有什么|都有|包括什么|分别是")),
    ("who", re.compile(r"谁|哪位|什么人|哪个人|何人|哪些人|负责人是|创始人是|掌门")),
    (
        "where",
        re.compile(
            r"哪里|哪儿|在哪|什么地方|何地|何处|哪个城市|哪个国家|哪国|哪个省|哪座|去哪|哪个交易所|哪家律师|哪所"
        ),
    ),
    ("how", re.compile(r"怎么|如何|怎样|什么方式|通过什么|用什么方法")),
    ("yesno", re.compile(r"是否|是不是|有没有|能不能|会不会|可不可以|对不对|吗[?？!！。]*$")),
]


@dataclass(frozen=True)
class Query:
    """An analysed question."""

    text: str
    kind: str  # who, when, number, where, what, why, how, list, yesno
    terms: list[str]  # content terms of the question itself
    words: frozenset[str]  # those that are plain jieba words (not joined pairs)
    needs_context: bool  # uses a pronoun or names nothing specific


def answer_type(question: str) -> str:
    """The expected answer type of `question`."""
    q = normalize(question)
    for kind, pattern in _TYPES:
        if pattern.search(q):
            return kind
    return "what"


def content_terms(text: str) -> list[str]:
    """Query terms of `text`: its tokens without question and function words, in order, distinct."""
    seen: dict[str, None] = {}
    for t in tokenize(text):
        if t not in STOP_TERMS and t not in seen:
            seen[t] = None
    return list(seen)


def analyse(question: str) -> Query:
    """Answer type, query terms and whether the question leans on the chat's earlier questions."""
    q = normalize(question)
    terms = content_terms(question)
    needs_context = bool(_PRONOUN.search(q)) or len(terms) <= 1
    return Query(question, answer_type(question), terms, frozenset(words(question)), needs_context)
