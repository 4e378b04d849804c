"""What the answer step reads from an index: one protocol, two implementations.

`retrieval.index.Index` (in process) and `retrieval.sphinx.SphinxIndex` (a Sphinx/Manticore
cluster) both satisfy `SearchBackend` structurally; the Retriever's answer step uses nothing
else, so it does not know which one it talks to. Doc ids are integers where the paragraphs of
one article are consecutive: the answer step reads a hit's neighbours as doc ± 1.
"""

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

from .index import BM25Params

Terms = Sequence[str] | Sequence[tuple[str, float]]
"""Query terms, or (term, weight) pairs; a repeated term counts its weights summed."""


@runtime_checkable
class SearchBackend(Protocol):
    """BM25 retrieval plus the statistics and texts the answer step reads."""

    params: BM25Params

    @property
    def n_docs(self) -> int:
        """Number of paragraphs."""
        ...

    def top(self, terms: Terms, k: int) -> list[tuple[int, float]]:
        """The `k` best (doc, BM25 score) pairs, best first."""
        ...

    def df(self, term: str) -> int:
        """Paragraphs holding `term`."""
        ...

    def idf(self, term: str) -> float:
        """The idf of `term` (0 for an unknown term)."""
        ...

    def idf_of_df(self, df: int) -> float:
        """The idf a term held by `df` paragraphs would have."""
        ...

    def paragraph(self, doc: int) -> str:
        """The text of paragraph `doc`."""
        ...

    def article_of(self, doc: int) -> tuple[dict, int]:
        """The record of the article holding `doc`, and the paragraph's 0-based number."""
        ...

    def articles(self) -> Iterable[dict]:
        """Every article record."""
        ...
