"""Text normalisation and tokenization: one pure function for documents and queries alike."""

import json
import re
import unicodedata
from functools import lru_cache
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path

import rjieba

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
        text = to_simplified(text)
    return text


# --- Traditional to Simplified --------------------------------------------------------------
# zhconv's MediaWiki tables and its maximal forward matching for "zh-cn", read from its data
# file directly: importing zhconv itself loads pkg_resources (a tenth of a second).


@lru_cache(maxsize=1)
def _zhconv_data() -> str:
    spec = find_spec("zhconv")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("zhconv is not installed")
    folder = Path(next(iter(spec.submodule_search_locations)))
    return (folder / "zhcdict.json").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _traditional_only() -> frozenset[str]:
    """Characters only Traditional script uses: text without any is left as it is."""
    data = _zhconv_data()
    found = re.search(r'"TRADONLY":\s*("(?:[^"\\]|\\.)*")', data)  # spares parsing it all
    chars = json.loads(found.group(1)) if found else json.loads(data)["TRADONLY"]
    return frozenset(chars)


@lru_cache(maxsize=1)
def _zh_cn() -> tuple[dict[str, str], frozenset[str]]:
    """zhconv's zh-cn table (zh2Hans updated with zh2CN) and the prefixes of its keys."""
    tables = json.loads(_zhconv_data())
    table = {**tables["zh2Hans"], **tables["zh2CN"]}
    prefixes = frozenset(word[: i + 1] for word in table for i in range(len(word)))
    return table, prefixes


def to_simplified(text: str) -> str:
    """`zhconv.convert(text, "zh-cn")`: the longest table entry at each position, replaced."""
    table, prefixes = _zh_cn()
    out, pos, n = [], 0, len(text)
    while pos < n:
        end, best, frag = pos, None, text[pos]
        while frag in prefixes:
            if frag in table:
                best, last = table[frag], end
            end += 1
            if end >= n:
                break
            frag = text[pos : end + 1]
        if best is None:
            out.append(text[pos])
            pos += 1
        else:
            out.append(best)
            pos = last + 1
    return "".join(out)


# --- tokens ---------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _cut(text: str) -> tuple[str, ...]:
    return tuple(rjieba.cut(text))


def words(text: str) -> list[str]:
    """Normalise `text` and cut it into jieba words, without punctuation and spaces."""
    return list(filter(_WORD.search, _cut(normalize(text))))  # C calls, no Python frame


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


def is_blank(text: str) -> bool:
    """Whether `text` holds only white space and invisible format characters (zero-width
    spaces and joiners, a BOM, direction marks)."""
    return all(c.isspace() or unicodedata.category(c) == "Cf" for c in text)
