"""Feed ingestion: read RSS, Atom and tag-stripped feed text into Articles.

The feed readers (feedparser, httpx) are imported on first use, so code that only needs the
`Article` model or the errors does not pay for them.
"""

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

from corpus.article import Article
from corpus.errors import FeedError, FetchError

if TYPE_CHECKING:
    from corpus.feeds import (
        FeedReport,
        fetch_feed,
        load_feed,
        load_feed_report,
        parse_feed,
        parse_feed_report,
    )

__all__ = [
    "Article",
    "FeedError",
    "FeedReport",
    "FetchError",
    "bundled_feed_path",
    "fetch_feed",
    "load_feed",
    "load_feed_report",
    "parse_feed",
    "parse_feed_report",
]

_FEEDS = {
    "FeedReport",
    "fetch_feed",
    "load_feed",
    "load_feed_report",
    "parse_feed",
    "parse_feed_report",
}


def bundled_feed_path() -> Path:
    """Path of the feed text bundled with the package (corpus/leiphone-fintech.txt)."""
    return Path(__file__).with_name("leiphone-fintech.txt")


def __getattr__(name: str):
    if name in _FEEDS:
        return getattr(import_module("corpus.feeds"), name)
    raise AttributeError(f"module 'corpus' has no attribute {name!r}")
