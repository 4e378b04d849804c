"""Read news feeds (RSS 2.0, Atom, or tag-stripped feed text) into Articles: the format is
told from the data's first characters, and items whose text is mostly mis-decoded are
dropped (`rss.py` and `stripped.py` read the two formats)."""

import contextlib
import os
import re
from pathlib import Path

from corpus.article import Article
from corpus.checks import seconds, whole
from corpus.encoding import GARBLED, decode_feed, garbled_share
from corpus.errors import ArgumentError, FeedError
from corpus.fetch import (
    FETCH_DEADLINE,
    FETCH_TIMEOUT,
    MAX_FEED_BYTES,
    fetch_feed,
    read_file,
    unpack,
)
from corpus.html import clean_text, well_formed
from corpus.items import FeedReport, short_title
from corpus.rss import parse_xml
from corpus.stripped import looks_stripped, parse_stripped

MAX_ARTICLE_CHARS = 200_000
"""The most text kept of one item (about a hundred pages; the longest bundled article has
10,600 characters): every sentence is embedded, and one junk item of megabytes would
take the better part of an hour."""


def parse_feed(data: str | bytes, *, source: str = "") -> list[Article]:
    """Parse feed data (RSS, Atom or tag-stripped text) into articles; no I/O."""
    return parse_feed_report(data, source=source).articles


def parse_feed_report(
    data: str | bytes, *, source: str = "", charset: str | None = None, base: str = ""
) -> FeedReport:
    """Parse feed data and also report the items that were skipped or damaged. For bytes,
    `charset` is the encoding their server declared: it decides over the document's own.
    base: the address the feed was read from, for its relative links."""
    if not isinstance(data, str | bytes):
        raise ArgumentError(f"feed data must be str or bytes, not {type(data).__name__}")
    if charset is not None and not isinstance(charset, str):
        raise ArgumentError(f"charset must be a string or None, not {type(charset).__name__}")
    label = source or "<data>"
    decoding: list[str] = []
    if isinstance(data, bytes):
        decoded = decode_feed(data, charset)
        data, decoding = decoded.text, decoded.problems
    else:  # text, unlike decoded bytes, may hold lone surrogates
        data = well_formed(data)
    start = data.lstrip("\ufeff \t\r\n\f\v")[:64]
    if not start:
        raise FeedError(f"not an RSS/Atom feed: {label}: empty input")
    if start.startswith("<"):
        report = parse_xml(data, source=source, label=label, base=base)
    else:
        text = clean_text(data.lstrip("\ufeff"))
        if not looks_stripped(text):
            raise FeedError(
                f"not an RSS/Atom feed: {label}: neither XML nor tag-stripped feed text"
            )
        report = parse_stripped(text, source=source)
    report = _unique(_without_garbled(_capped(report)))
    if not report.articles:
        reason = report.problems[0] if report.problems else "no items found"
        raise FeedError(f"no usable items in feed: {label}: {reason}")
    return FeedReport(report.articles, decoding + report.problems)


def load_feed(
    source: str | os.PathLike[str] | bytes,
    *,
    timeout: float = FETCH_TIMEOUT,
    deadline: float = FETCH_DEADLINE,
    max_bytes: int = MAX_FEED_BYTES,
) -> list[Article]:
    """Read a feed from a file path, raw text or bytes, or an http(s) URL (limits as in
    `load_feed_report`)."""
    return load_feed_report(
        source, timeout=timeout, deadline=deadline, max_bytes=max_bytes
    ).articles


def load_feed_report(
    source: str | os.PathLike[str] | bytes,
    *,
    timeout: float = FETCH_TIMEOUT,
    deadline: float = FETCH_DEADLINE,
    max_bytes: int = MAX_FEED_BYTES,
) -> FeedReport:
    """Like load_feed, but also report the items that were skipped or damaged.

    timeout, deadline: seconds, for a URL (see `fetch_feed`); max_bytes: the largest feed
    read from a URL (after decompression) or a file. Only regular files are read; a gzipped
    file or body is unpacked. Other addresses (ftp://, file://) are refused.
    """
    seconds(timeout, "timeout", zero=False)
    seconds(deadline, "deadline", zero=False)
    whole(max_bytes, "max_bytes")
    if isinstance(source, bytes):
        return parse_feed_report(unpack(source, max_bytes, "feed data"))
    if isinstance(source, str):
        if re.match(r"https?://", source.strip(), re.IGNORECASE):
            url = source.strip()
            got = fetch_feed(url, timeout=timeout, deadline=deadline, max_bytes=max_bytes)
            data = unpack(got.data, max_bytes, f"feed at {url}")
            report = parse_feed_report(data, source=url, charset=got.charset, base=got.url or url)
            if got.cut:
                note = f"download cut short ({got.cut}); kept the items that arrived whole"
                report = FeedReport(report.articles, [note, *report.problems])
            return report
        if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", source.strip()):
            raise FeedError(
                f"unsupported address {source.strip()!r}: only http(s) URLs and files are read"
            )
        if not source.strip():
            raise FeedError("no feed given: the source is empty")
        if "\n" in source or source.lstrip().startswith("<"):
            return parse_feed_report(source)
    if not isinstance(source, str | os.PathLike):
        raise FeedError(
            f"the feed source must be a path, URL, text or bytes, not {type(source).__name__}"
        )
    path = Path(source)
    with contextlib.suppress(RuntimeError):  # ~ expanded as the library's paths are (~nobody: kept)
        path = path.expanduser()
    data = unpack(read_file(path, max_bytes), max_bytes, f"feed file {path}")
    return parse_feed_report(data, source=str(path))


def _without_garbled(report: FeedReport) -> FeedReport:
    """The report without items whose text is mostly mis-decoded (each one reported), so
    they never replace a good stored copy."""
    kept, problems = [], list(report.problems)
    for article in report.articles:
        if garbled_share(article.title + "".join(article.paragraphs)) > GARBLED:
            problems.append(
                f'"{short_title(article.title)}": mostly undecodable or mis-decoded characters; skipped '
                "(a stored copy is kept)"
            )
        else:
            kept.append(article)
    return FeedReport(kept, problems)


def _unique(report: FeedReport) -> FeedReport:
    """The report with one article per id (guid or link): the newest copy, or the first
    listed if none is dated later (feeds list the newest first); each other one reported."""
    chosen: dict[str, Article] = {}
    for article in report.articles:
        other = chosen.setdefault(article.id, article)
        if article.published and (not other.published or article.published > other.published):
            chosen[article.id] = article
    if len(chosen) == len(report.articles):
        return report
    problems = list(report.problems)
    for article in report.articles:
        kept = chosen[article.id]
        if kept is not article:
            why = "which is newer" if kept.published != article.published else "listed first"
            problems.append(
                f'"{short_title(article.title)}": same id as "{short_title(kept.title)}", '
                f"{why}; skipped"
            )
    return FeedReport([a for a in report.articles if chosen[a.id] is a], problems)


def _capped(report: FeedReport) -> FeedReport:
    """The report with each item's text cut to MAX_ARTICLE_CHARS (whole paragraphs, or the
    start of the first if that alone is longer), each cut reported."""
    articles, problems = [], list(report.problems)
    for article in report.articles:
        total = sum(map(len, article.paragraphs))
        if total <= MAX_ARTICLE_CHARS:
            articles.append(article)
            continue
        kept, size = [], 0
        for p in article.paragraphs:
            if size + len(p) > MAX_ARTICLE_CHARS:
                break
            kept.append(p)
            size += len(p)
        if kept:
            what = f"only its first {len(kept)} paragraphs ({size:,}) are kept"
        else:
            kept = [article.paragraphs[0][:MAX_ARTICLE_CHARS]]
            what = f"only its first {MAX_ARTICLE_CHARS:,} characters are kept"
        problems.append(f'"{short_title(article.title)}": {total:,} characters of text; {what}')
        articles.append(article.model_copy(update={"paragraphs": kept}))
    return FeedReport(articles, problems)
