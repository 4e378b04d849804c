"""feedqa's library: BM25 over news paragraphs with cited, extractive answers.

>>> from retrieval import Retriever
>>> r = Retriever.default()
>>> r.ask("京东科技计划在哪里上市?").text
"""

from corpus.errors import (
    ArgumentError,
    EngineError,
    FeedqaError,
    IndexFileError,
    LibraryBusyError,
    LibraryError,
    QueryError,
    RetrievalError,
)

from .index import BM25Params
from .models import Answer, Citation, Passage
from .retriever import AddReport, Retriever
from .text import normalize, tokenize

__all__ = [
    "AddReport",
    "Answer",
    "ArgumentError",
    "BM25Params",
    "Citation",
    "EngineError",
    "FeedqaError",
    "IndexFileError",
    "LibraryBusyError",
    "LibraryError",
    "Passage",
    "QueryError",
    "RetrievalError",
    "Retriever",
    "normalize",
    "tokenize",
]
