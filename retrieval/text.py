"""Text normalisation and tokenization: one pure function for documents and queries alike."""

import re
import unicodedata
from functools import lru_cache
from importlib.metadata import version

import rjieba
import zhconv

SEGMENTER = f"rjieba-{version('rjieba')}+zhconv-{version('zhconv')}+pairs-1"
"""Recorded in the index so documents and queries are always cut the same way."""

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")
_WORD = re.compile(r"[0-9a-z\u3400-\u9fff\uf900-\ufaff]")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")

# Single characters that never start or end a name: joining them to a neighbour adds noise.
_FUNCTION_CHARS = frozenset("的了是在和与及为对将也等并而被从以于或就都又个这那其之着过把让向由")


def normalize(text: str) -> str:
    """Full-width to half-width (NFKC), lower case, Traditional to Simplified, no control chars."""
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub("", text).lower()
    if not _traditional_only().isdisjoint(text):
        text = zhconv.convert(text, "zh-cn")
    return text


@lru_cache(maxsize=1)
def _traditional_only() -> frozenset[str]:
    """Characters only Traditional script uses: text without any is left as it is."""
    from zhconv import zhconv as tables

    tables.loaddict()
    return frozenset(tables.zhcdicts["TRADONLY"])


def _is_word(token: str) -> bool:
    return _WORD.search(token) is not None


@lru_cache(maxsize=4096)
def _cut(text: str) -> tuple[str, ...]:
    return tuple(rjieba.cut(text))


def words(text: str) -> list[str]:
    """Normalise `text` and cut it into jieba words, without punctuation and spaces."""
    return [w for w in _cut(normalize(text)) if _is_word(w)]


def joined(found: list[str]) -> list[str]:
    """Adjacent word pairs where one is a lone Chinese character (陆金|所 → 陆金所)."""
    out = []
    for left, right in zip(found, found[1:], strict=False):
        if (
            (len(left) == 1 or len(right) == 1)
            and left not in _FUNCTION_CHARS
            and right not in _FUNCTION_CHARS
            and _CJK.match(left[-1])
            and _CJK.match(right[0])
        ):
            out.append(left + right)
    return out


def tokenize(text: str) -> list[str]:
    """Normalise `text` and cut it into index terms.

    jieba words, minus punctuation and spaces, plus a joined term for each pair of adjacent
    words where one is a lone Chinese character (so names jieba does not know, like 陆金|所,
    also match as 陆金所).
    """
    found = words(text)
    return found + joined(found)
