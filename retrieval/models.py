"""Public result models: what `search` and `ask` return."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class Passage(BaseModel):
    """One ranked paragraph returned by `Retriever.search`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    article_id: str
    title: str
    link: str
    published: datetime | None
    paragraph: int = Field(description="1-based paragraph number within the article.")
    text: str
    score: float = Field(description="BM25 score for the query; results come best first.")


class Citation(BaseModel):
    """A paragraph an answer is drawn from or supported by, ranked from 1."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rank: int
    article_id: str
    title: str
    link: str
    published: datetime | None
    paragraph: int = Field(description="1-based paragraph number within the article.")
    passage: str = Field(description="The full text of the cited paragraph.")
    score: float = Field(
        description="BM25 score for the question if the paragraph is among BM25's hits (its best "
        "few), else 0 (found by meaning, or read beside a hit). Citations are ranked by the "
        "answer ranker, not by this score."
    )


class Answer(BaseModel):
    """The reply to a question: an extractive answer with citations, or an abstention."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    question: str
    answered: bool = Field(description="False when the archive does not hold the answer.")
    text: str = Field(description="Copied verbatim from the first citation; empty if not answered.")
    citations: list[Citation] = Field(
        default_factory=list,
        description="Ranked; when not answered, the closest paragraphs found.",
    )
    terms: list[str] = Field(default_factory=list, description="Query terms, for highlighting.")
    follows: str = Field(
        default="", description="The earlier question this one followed up on ('' if none)."
    )
    confidence: float = 0.0
    notes: list[str] = Field(
        default_factory=list,
        description="Caveats, e.g. partial results when some shards of a cluster did not answer.",
    )
