"""RSS 2.0 and Atom feeds, read with feedparser: item by item when the XML is broken, so one
bad item spares the rest."""

import html
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser

from corpus.article import Article
from corpus.encoding import as_utf8_xml
from corpus.errors import FeedError
from corpus.html import clean_text, collapse_space, html_to_paragraphs, html_to_text
from corpus.html import text_to_paragraphs as plain_to_paragraphs
from corpus.items import (
    FeedReport,
    absolute_link,
    article_id,
    as_written,
    item_label,
    make_id,
    parse_date,
)

_ROOT_TAG = re.compile(r"<(rss|feed|rdf:RDF)\b[^>]*>", re.IGNORECASE)
_TITLE_TAG = re.compile(r"<title\b[^>]*>([^<]*)")
_ITEM = re.compile(r"<(item|entry)\b[^>]*>.*?(?:(</\1\s*>)|(?=<\1\b[^>]*>)|\Z)", re.DOTALL)


def _feedparse(data: bytes, *, utf8: bool, label: str) -> Any:
    """Run feedparser on in-memory bytes only (so it never opens URLs or files itself)."""
    headers = {"content-type": "application/xml; charset=utf-8"} if utf8 else {}
    try:
        return feedparser.parse(
            io.BytesIO(data),
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:  # feedparser can fail in odd ways on hostile input
        raise FeedError(f"not an RSS/Atom feed: {label}: {exc}") from exc


def _xml_error(result: Any) -> str:
    """feedparser's complaint about malformed XML, without its position prefix."""
    message = str(result.get("bozo_exception") or "") or "malformed XML"
    return re.sub(r"^<unknown>:\d+:\d+:\s*", "", message)


@dataclass
class _XmlItem:
    """One feed entry as read by feedparser, with what went wrong around it."""

    entry: Any
    title_hint: str = ""  # title found by a regex, for messages when the parser lost it
    fault: str = ""  # XML error inside this item
    cut_off: bool = False  # the item has no end tag (the feed was truncated)


def parse_xml(text: str, *, source: str, label: str, base: str = "") -> FeedReport:
    """Parse RSS or Atom with feedparser, item by item if the XML is broken. base: the
    feed's own address, against which relative links are resolved."""
    # feedparser drops a DOCTYPE only at the start of a line; one it keeps (a one-line
    # feed) makes expat skip every undefined entity without a word
    text = re.sub(r"(?<=>)[^\S\n]*(?=<!DOCTYPE\b)", "\n", text, count=1)
    result = _feedparse(as_utf8_xml(text), utf8=True, label=label)
    items = [_XmlItem(entry) for entry in result.entries]
    if result.bozo:
        items = _items_one_by_one(text, label) or items
    if not items:
        if result.version:  # a feed, with nothing in it (yet)
            fault = f" (its XML is malformed: {_xml_error(result)})" if result.bozo else ""
            raise FeedError(f"no usable items in feed: {label}: the feed has no items{fault}")
        reason = _xml_error(result) if result.bozo else "no items found"
        raise FeedError(f"not an RSS/Atom feed: {label}: {reason}")
    if _is_html(result.feed.get("title_detail")):
        feed_title = html_to_text(result.feed.get("title", ""))
    else:
        feed_title = collapse_space(clean_text(result.feed.get("title", "")))
    feed_link = result.feed.get("link", "")
    if base:
        feed_link = urljoin(base, feed_link) if feed_link else base
    articles: list[Article] = []
    problems: list[str] = []
    for index, item in enumerate(items, start=1):
        title = _entry_title(item.entry)
        name = item_label(index, title or item.title_hint)
        if item.cut_off:
            problems.append(f"{name}: cut off before its end tag")
            continue
        published, bad_date = _entry_date(item.entry)
        try:
            article = _entry_to_article(
                item.entry, title, source=feed_title or source, base=feed_link, published=published
            )
        except (ValueError, TypeError, OverflowError) as exc:  # one odd item spares the rest
            problems.append(f"{name}: unreadable ({type(exc).__name__}); skipped")
            continue
        if article is None:
            if item.fault:
                what = f"malformed XML ({item.fault}); skipped"
            else:
                what = "no text" if title else "no title and no text"
            problems.append(f"{name}: {what}")
            continue
        articles.append(article)
        if not title:
            problems.append(f"{name}: no title; cited as untitled")
        raw_link = _entry_link(item.entry)
        if raw_link and not article.link:
            problems.append(f"{name}: link {raw_link!r} is not a web address; cited without a link")
        if bad_date:
            problems.append(f"{name}: unreadable date {bad_date!r}; kept without a date")
        if item.fault:
            problems.append(f"{name}: malformed XML ({item.fault}); kept what could be read")
    return FeedReport(articles, problems)


def _items_one_by_one(text: str, label: str) -> list[_XmlItem]:
    """Parse each <item>/<entry> on its own inside a minimal copy of the feed's root element."""
    chunks = list(_ITEM.finditer(text))
    if not chunks:
        return []
    root = _ROOT_TAG.search(text)
    if root and root.group(1).lower() == "rss":
        opening, closing = root.group(0) + "<channel>", "</channel></rss>"
    elif root:
        opening, closing = root.group(0), f"</{root.group(1)}>"
    elif chunks[0].group(1) == "entry":
        opening, closing = '<feed xmlns="http://www.w3.org/2005/Atom">', "</feed>"
    else:
        opening, closing = '<rss version="2.0"><channel>', "</channel></rss>"
    items = []
    for chunk in chunks:
        xml = (opening + chunk.group(0) + closing).encode("utf-8")
        parsed = _feedparse(xml, utf8=True, label=label)
        hint = _TITLE_TAG.search(chunk.group(0))
        items.append(
            _XmlItem(
                entry=parsed.entries[0] if parsed.entries else feedparser.FeedParserDict(),
                title_hint=collapse_space(clean_text(hint.group(1))) if hint else "",
                fault=_xml_error(parsed) if parsed.bozo else "",
                cut_off=chunk.group(2) is None,
            )
        )
    return items


def _detail_paragraphs(detail: Any) -> list[str]:
    """Paragraphs of a feedparser text construct (content, summary or title)."""
    if not detail:
        return []
    value = detail.get("value") or ""
    if "html" not in (detail.get("type") or "text/html"):
        return plain_to_paragraphs(value)
    if not _TAG.search(value) and _BLANK_LINE.search(value):  # HTML in name only
        return plain_to_paragraphs(html.unescape(value))
    return html_to_paragraphs(value)


_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>|<!--")
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")
"""RSS calls every description HTML: one without a tag whose paragraphs are parted by blank
lines is text, and read as HTML it would lose them."""


def _entry_date(entry: dict) -> tuple[datetime | None, str]:
    """The entry's published date, else its updated date, with the original offset if
    possible; and the text of a date that could not be read ('' if none)."""
    unreadable = ""
    for key in ("published", "updated", "created"):
        # read as a plain dict: feedparser's own fallback from updated to published is
        # deprecated, and published is tried first here anyway
        raw = dict.get(entry, key)
        parsed = parse_date(raw)
        struct = dict.get(entry, f"{key}_parsed")
        if parsed is None and struct:  # feedparser reads more formats, and some too freely
            try:
                parsed = as_written(str(raw or ""), datetime(*struct[:6], tzinfo=UTC))
            except (ValueError, TypeError, OverflowError):
                parsed = None
        if parsed:
            return parsed, ""
        unreadable = unreadable or str(raw or "").strip()
    return None, unreadable


def _entry_title(entry: Any) -> str:
    """The entry's title as plain text on one line."""
    raw_title = entry.get("title", "")
    if _is_html(entry.get("title_detail")):
        return html_to_text(raw_title)
    return collapse_space(clean_text(raw_title))


def _entry_to_article(
    entry: Any, title: str, *, source: str, base: str, published: datetime | None
) -> Article | None:
    """Turn one feedparser entry into an Article, or None if it has no text."""
    paragraphs: list[str] = []
    for content in entry.get("content") or []:
        paragraphs = _detail_paragraphs(content)
        if paragraphs:
            break
    if not paragraphs:
        paragraphs = _detail_paragraphs(entry.get("summary_detail"))
    if not paragraphs:
        return None
    link = absolute_link(_entry_link(entry), base)
    tags = entry.get("tags") or []
    category = ""
    if tags:
        category = collapse_space(clean_text(tags[0].get("term") or tags[0].get("label") or ""))
    return Article(
        id=article_id(entry.get("id") or "", link, base) or make_id(title, paragraphs),
        title=title,
        link=link,
        published=published,
        category=category,
        source=source,
        paragraphs=paragraphs,
    )


def _entry_link(entry: Any) -> str:
    """The entry's link; a link feedparser copied from the id only if it is a web address
    (an Atom id like tag:…, or an RSS guid like 12345, is no link)."""
    link = str(entry.get("link") or "").strip()
    if entry.get("guidislink") and not re.match(r"https?://", link, re.IGNORECASE):
        return ""
    return link


def _is_html(detail: Any) -> bool:
    """True if a feedparser text construct holds HTML."""
    return bool(detail) and "html" in (detail.get("type") or "")
