"""The Article model: one news item, split into paragraphs."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class Article(BaseModel):
    """A news item as it enters the index."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="Stable id: the guid, else the link, else a hash of the text.")
    title: str
    link: str = Field(description="Absolute link (https: added to protocol-relative links).")
    published: datetime | None = Field(default=None, description="Timezone-aware, or None.")
    category: str = ""
    source: str = Field(default="", description="The feed's title or location.")
    paragraphs: list[str]
