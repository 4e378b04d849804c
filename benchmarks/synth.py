"""Synthetic news archives grown from the bundled corpus, for the benchmark.

Method (fixed seed, deterministic):

* 1x is the bundled corpus itself (49 articles, 2,440 paragraphs).
* m x adds m - 1 synthetic copies. Copy c has one article per real article with the same
  paragraph count; each of its paragraphs has the clause count of the matching real
  paragraph (so paragraph lengths follow the real distribution), filled with clauses drawn
  at random from all 10,071 real clauses (text up to and including a ， , ； ; 。 ！ ？ : mark).
  Clauses rather than whole sentences: most real paragraphs are a single sentence, and
  resampling sentences would fill a 1M-paragraph archive with hundreds of identical copies
  of each paragraph (endless score ties, unrealistically easy pruning).
* The vocabulary grows like a real archive's (Heaps' law): a "rare" word is a jieba word of
  two or more characters found in at most two real clauses (names, numbers, uncommon
  words: 6,012 of them). In copy c each occurrence of a rare word is, with probability 1/2,
  replaced by variant j of that word, j drawn uniformly from [0, ceil(c ** 0.65)): the word's
  n-th variant is a fixed new name (a digit string of the same length for numbers, else 5-7
  Latin letters, which jieba keeps as one token). By copy c a rare word has about c ** 0.65
  variants, so new rare terms keep arriving while common words' frequencies grow linearly.
"""

import hashlib
import math
import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import rjieba

from corpus import Article, bundled_feed_path, load_feed

SEED = 20240601
HEAPS_BETA = 0.65
MUTATE = 0.5
RARE_DF = 2
GENERATOR = f"synth-v2-{SEED}-{HEAPS_BETA}-{MUTATE}-{RARE_DF}"
"""Changes whenever the generated text would change (used as a cache key)."""

_SENTENCE_END = re.compile(r"(?<=[。！？!?；;])")
_CLAUSE_END = re.compile(r"(?<=[，,；;。！？!?：:])")
_WORDISH = re.compile(r"[0-9A-Za-z\u3400-\u9fff]")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def split_sentences(paragraph: str) -> list[str]:
    """A paragraph cut after each sentence-ending mark (the pieces join back to it)."""
    return [s for s in _SENTENCE_END.split(paragraph) if s]


def split_clauses(paragraph: str) -> list[str]:
    """A paragraph cut after each clause-ending mark (the pieces join back to it)."""
    return [s for s in _CLAUSE_END.split(paragraph) if s]


@dataclass
class _Clause:
    text: str
    pieces: list[str]  # jieba words, joining back to text
    rare: list[int]  # positions of rare words in pieces


def _variant(word: str, j: int) -> str:
    """The j-th stand-in for rare `word`: a fixed new name (or number) per (word, j)."""
    h = int.from_bytes(hashlib.blake2b(f"{word}\x00{j}".encode(), digest_size=8).digest(), "big")
    if word.isdigit():
        digits = str(h)[: len(word)].rjust(len(word), "7")
        return digits if word[0] != "0" and digits[0] != "0" else "1" + digits[1:]
    n = 5 + h % 3
    h //= 3
    out = []
    for _ in range(n):
        h, r = divmod(h, 26)
        out.append(_LETTERS[r])
    return "".join(out)


class Synth:
    """Generator of synthetic copies of the bundled corpus."""

    def __init__(self, articles: list[Article] | None = None) -> None:
        self.articles = articles if articles is not None else load_feed(bundled_feed_path())
        texts: dict[str, int] = {}
        self.shapes: list[list[int]] = []  # per article: clause count of each paragraph
        for a in self.articles:
            shape = []
            for p in a.paragraphs:
                clauses = split_clauses(p)
                shape.append(max(1, len(clauses)))
                for s in clauses:
                    texts.setdefault(s, len(texts))
            self.shapes.append(shape)
        cut = {s: list(rjieba.cut(s)) for s in texts}
        df = Counter(w for s in texts for w in set(cut[s]))
        rare = {w for w, n in df.items() if n <= RARE_DF and len(w) >= 2 and _WORDISH.search(w)}
        self.rare_words = rare
        self.clauses = [
            _Clause(s, cut[s], [i for i, w in enumerate(cut[s]) if w in rare]) for s in texts
        ]
        self.titles = [_Clause(a.title, (p := list(rjieba.cut(a.title))), [
            i for i, w in enumerate(p) if w in rare]) for a in self.articles]  # fmt: skip

    @property
    def chars_per_copy(self) -> int:
        return sum(len(p) for a in self.articles for p in a.paragraphs)

    def _mutate(self, s: _Clause, copy: int, rng: random.Random) -> str:
        if not s.rare or copy == 0:
            return s.text
        n_variants = math.ceil(copy**HEAPS_BETA)
        pieces = None
        for i in s.rare:
            if rng.random() < MUTATE:
                if pieces is None:
                    pieces = list(s.pieces)
                pieces[i] = _variant(s.pieces[i], rng.randrange(n_variants))
        return s.text if pieces is None else "".join(pieces)

    def copy(self, c: int) -> list[Article]:
        """Copy `c` (0 is the bundled corpus itself)."""
        if c == 0:
            return list(self.articles)
        rng = random.Random(f"{SEED}-{c}")
        n = len(self.clauses)
        out = []
        for a, (real, shape) in enumerate(zip(self.articles, self.shapes, strict=True)):
            paragraphs = [
                "".join(self._mutate(self.clauses[rng.randrange(n)], c, rng) for _ in range(k))
                for k in shape
            ]
            title = self._mutate(self.titles[rng.randrange(len(self.titles))], c, rng)
            out.append(
                Article(
                    id=f"synth-{c}-{a}",
                    title=title,
                    link=f"https://synth.example/{c}/{a}.html",
                    published=real.published,
                    category=real.category,
                    source="synthetic",
                    paragraphs=paragraphs,
                )
            )
        return out

    def corpus(self, multiple: int) -> Iterator[Article]:
        """The `multiple` x corpus: the bundled articles, then copies 1 .. multiple - 1."""
        for c in range(multiple):
            yield from self.copy(c)
