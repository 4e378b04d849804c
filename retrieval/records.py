"""An index's article records (everything of an article but its paragraphs): their text
hash, telling new and changed articles from stored ones, and summaries of an archive."""

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from corpus import Article

    from .index import Index


def content_hash(title: str, paragraphs: list[str]) -> str:
    """The short hash an index record keeps of an article's title and paragraphs."""
    body = json.dumps([title, paragraphs], ensure_ascii=False)
    return hashlib.sha1(body.encode("utf-8")).hexdigest()[:16]


class Stored:
    """The articles an index holds, to tell new articles from updated and unchanged ones.

    `where` maps an id to where its article is stored, a tuple whose last item is the hash of
    its text: (segment, slot, hash) in process; a cluster keeps its own places (`keep`)."""

    def __init__(self, index: "Index | None" = None) -> None:
        self.where: dict[str, tuple] = {}  # id -> (segment, slot, text hash)
        self._links: dict[str, str] = {}
        self._copies: set[tuple[str, str]] = set()
        for si, seg in enumerate(index.segments if index is not None else ()):
            for ai, rec in enumerate(seg.articles):
                self.keep(rec["id"], rec["link"], (si, ai, rec["hash"]))

    def keep(self, article_id: str, link: str, where: tuple) -> None:
        """Note an article stored under `article_id` at `where` (its text hash last)."""
        self.where[article_id] = where
        self._links[article_id] = link
        self._copies.add((link, where[-1]))

    def id_of(self, article: "Article") -> str | None:
        """The id the article is stored under: its own, or the one it had before a guid of
        one feed's own was qualified by the feed (`https://site.example/#1` was `1`)."""
        if article.id in self.where:
            return article.id
        feed, qualified, guid = article.id.partition("#")
        same = qualified and feed and article.link and self._links.get(guid) == article.link
        return guid if same else None

    def place(self, article: "Article") -> tuple["Article", tuple | None]:
        """The article under the id it is stored under, and where its stored version is."""
        known = self.id_of(article)
        if known is None:
            return article, None
        if known != article.id:  # stored under its bare guid: it keeps that id
            article = article.model_copy(update={"id": known})
        return article, self.where[known]

    def changed(
        self, articles: Iterable["Article"], digest: Callable[["Article"], str]
    ) -> Iterator[tuple["Article", tuple | None]]:
        """The articles given (an id given twice: its last copy) that are new or changed, each
        under the id it is stored under, with where its stored version is (None: new). The
        others are counted in `unchanged`: the same text under the same id, or under another
        id with the same link (some feeds make new guids at every request)."""
        self.unchanged = 0
        for a in {a.id: a for a in articles}.values():
            a, old = self.place(a)
            text = digest(a)
            if old[-1] == text if old else bool(a.link) and (a.link, text) in self._copies:
                self.unchanged += 1
                continue
            yield a, old


def text_hash(article: "Article") -> str:
    """The hash an index record keeps of the article's title and paragraphs."""
    return content_hash(article.title, article.paragraphs)


def article_record(article: "Article") -> dict:
    """The index's plain record of an article (everything but the paragraphs)."""
    return {
        "id": article.id,
        "title": article.title,
        "link": article.link,
        "published": article.published.isoformat() if article.published else None,
        "category": article.category,
        "source": article.source,
        "paragraphs": len(article.paragraphs),
        "hash": text_hash(article),
    }


def published(record: dict) -> datetime | None:
    """When the article of an index record was published, if known (UTC if it was saved
    without an offset)."""
    value = record.get("published")
    if not value:
        return None
    when = datetime.fromisoformat(value)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def summary(records: Iterable[dict], *, paragraphs: int, segments: int) -> dict:
    """An archive's size and date range, as `Retriever.info` gives it."""
    records = list(records)
    dates = [d for d in map(published, records) if d]
    return {
        "articles": len(records),
        "paragraphs": paragraphs,
        "segments": segments,
        "first": min(dates, default=None),
        "last": max(dates, default=None),
    }


def newest_titles(records: Iterable[dict]) -> Iterator[str]:
    """The titles of the articles, newest first, without their closing punctuation."""
    oldest = datetime.min.replace(tzinfo=UTC)
    for rec in sorted(records, key=lambda r: published(r) or oldest, reverse=True):
        yield rec["title"].strip().rstrip("?？!！。")
