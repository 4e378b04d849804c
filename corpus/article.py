"""The Article model: one news item, split into paragraphs."""

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from corpus.html import clean_text, is_clean, well_formed


class Article(BaseModel):
    """A news item as it enters the index. Its text is made well-formed on entry (lone
    surrogates replaced, control and zero-width characters removed), and a date without
    an offset is read as UTC."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(
        description="Stable id: the guid (qualified by the feed when it is no address), "
        "else the link, else a hash of the text."
    )
    title: str
    link: str = Field(description="Absolute link (https: added to protocol-relative links).")
    published: datetime | None = Field(default=None, description="Timezone-aware, or None.")
    category: str = ""
    source: str = Field(default="", description="The feed's title or location.")
    paragraphs: list[str]

    @field_validator("id", "link", "category", "source")
    @classmethod
    def _well_formed(cls, value: str) -> str:
        return well_formed(value)

    @field_validator("title")
    @classmethod
    def _clean_title(cls, value: str) -> str:
        return value if is_clean(value) else clean_text(well_formed(value))

    @field_validator("paragraphs")
    @classmethod
    def _clean_paragraphs(cls, value: list[str]) -> list[str]:
        if is_clean("".join(value)):  # as read back from a library's log: one quick check
            return value
        return [clean_text(well_formed(p)) for p in value]

    @field_validator("published")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value and value.tzinfo is None else value
