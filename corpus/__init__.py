"""Feed ingestion: read RSS, Atom and tag-stripped feed text into Articles."""

from corpus.article import Article
from corpus.errors import FeedError, FetchError
from corpus.feeds import (
    FeedReport,
    bundled_feed_path,
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
