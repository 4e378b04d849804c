"""Read news feeds (RSS 2.0, Atom, or tag-stripped feed text) into Articles."""

import hashlib
import io
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from corpus.article import Article
from corpus.encoding import GARBLED, as_utf8_xml, decode_feed, garbled_share
from corpus.errors import FeedError
from corpus.fetch import FETCH_DEADLINE, FETCH_TIMEOUT, MAX_FEED_BYTES, fetch_feed, read_file
from corpus.html import clean_text, collapse_space, html_to_paragraphs, html_to_text
from corpus.html import text_to_paragraphs as plain_to_paragraphs

BUNDLED_FEED = "leiphone-fintech.txt"


@dataclass(frozen=True)
class FeedReport:
    """The articles read from a feed, and one message per item that was skipped or damaged."""

    articles: list[Article] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------
# Public API


def parse_feed(data: str | bytes, *, source: str = "") -> list[Article]:
    """Parse feed data (RSS, Atom or tag-stripped text) into articles; no I/O."""
    return parse_feed_report(data, source=source).articles


def parse_feed_report(data: str | bytes, *, source: str = "") -> FeedReport:
    """Parse feed data and also report the items that were skipped or damaged."""
    if not isinstance(data, str | bytes):
        raise TypeError(f"feed data must be str or bytes, not {type(data).__name__}")
    label = source or "<data>"
    start = _start(data)
    if not start:
        raise FeedError(f"not an RSS/Atom feed: {label}: empty input")
    decoding: list[str] = []
    if isinstance(data, bytes):
        decoded = decode_feed(data)
        data, decoding = decoded.text, decoded.problems
    if start.startswith("<"):
        report = _parse_xml(data, source=source, label=label)
    else:
        text = clean_text(data.lstrip("\ufeff"))
        if not _looks_stripped(text):
            raise FeedError(
                f"not an RSS/Atom feed: {label}: neither XML nor tag-stripped feed text"
            )
        report = _parse_stripped(text, source=source)
    report = _without_garbled(report)
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
    read from a URL (after decompression) or a file. Only regular files are read.
    """
    if isinstance(source, bytes):
        return parse_feed_report(source)
    if isinstance(source, str):
        if re.match(r"https?://", source.strip(), re.IGNORECASE):
            url = source.strip()
            data = fetch_feed(url, timeout=timeout, deadline=deadline, max_bytes=max_bytes)
            return parse_feed_report(data, source=url)
        if not source.strip() or "\n" in source or source.lstrip().startswith("<"):
            return parse_feed_report(source)
    path = Path(source)
    return parse_feed_report(read_file(path, max_bytes), source=str(path))


def bundled_feed_path() -> Path:
    """Path of the feed text bundled with the package (corpus/leiphone-fintech.txt)."""
    return Path(__file__).with_name(BUNDLED_FEED)


# ---------------------------------------------------------------------------
# Shared helpers


def _start(data: str | bytes) -> str:
    """The first characters of the data after any BOM and whitespace ('' if there are none)."""
    if isinstance(data, bytes):
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            data = data.decode("utf-16", errors="replace")
        else:
            data = data.removeprefix(b"\xef\xbb\xbf").lstrip()[:64].decode("utf-8", "ignore")
    return data.lstrip("\ufeff \t\r\n\f\v")[:64]


def _label(index: int, title: str) -> str:
    """How a problem message names an item: its 1-based number and the start of its title."""
    if not title:
        return f"item {index}"
    short = title if len(title) <= 20 else title[:20] + "…"
    return f'item {index} ("{short}")'


def _absolute_link(link: str, base: str = "") -> str:
    """Make a link absolute: https: for protocol-relative links, else resolved against base."""
    link = link.strip()
    if link.startswith("//"):
        return "https:" + link
    if link and not urlsplit(link).scheme and base:
        return _absolute_link(urljoin(base, link))
    return link


def _parse_date(raw: str | None) -> datetime | None:
    """Parse an RFC 822 or ISO 8601 date, keeping its offset; naive dates are taken as UTC."""
    if not raw or not raw.strip():
        return None
    raw = raw.strip()
    try:
        parsed = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            return None
    return _in_range(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def _in_range(value: datetime) -> datetime | None:
    """`value` if it can be expressed in UTC (year 1 to 9999 there), else None."""
    try:
        value.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return value


def _make_id(title: str, paragraphs: list[str]) -> str:
    """Stable id for an item with neither guid nor link."""
    text = "\n".join([title, *paragraphs])
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _without_garbled(report: FeedReport) -> FeedReport:
    """The report without items whose text is mostly mis-decoded (each one reported), so
    they never replace a good stored copy."""
    kept, problems = [], list(report.problems)
    for article in report.articles:
        if garbled_share(article.title + "".join(article.paragraphs)) > GARBLED:
            short = article.title if len(article.title) <= 20 else article.title[:20] + "…"
            problems.append(
                f'"{short}": mostly undecodable or mis-decoded characters; skipped '
                "(a stored copy is kept)"
            )
        else:
            kept.append(article)
    return FeedReport(kept, problems)


# ---------------------------------------------------------------------------
# RSS and Atom

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


def _parse_xml(text: str, *, source: str, label: str) -> FeedReport:
    """Parse RSS or Atom with feedparser, item by item if the XML is broken."""
    result = _feedparse(as_utf8_xml(text), utf8=True, label=label)
    items = [_XmlItem(entry) for entry in result.entries]
    if result.bozo:
        items = _items_one_by_one(text, label) or items
    if not items:
        reason = _xml_error(result) if result.bozo and not result.version else "no items found"
        raise FeedError(f"not an RSS/Atom feed: {label}: {reason}")
    feed_title = collapse_space(clean_text(result.feed.get("title", "")))
    feed_link = result.feed.get("link", "")
    articles: list[Article] = []
    problems: list[str] = []
    for index, item in enumerate(items, start=1):
        title = _entry_title(item.entry)
        name = _label(index, title or item.title_hint)
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
    if "html" in (detail.get("type") or "text/html"):
        return html_to_paragraphs(value)
    return plain_to_paragraphs(value)


def _entry_date(entry: dict) -> tuple[datetime | None, str]:
    """The entry's published date, else its updated date, with the original offset if
    possible; and the text of a date that could not be read ('' if none)."""
    unreadable = ""
    for key in ("published", "updated", "created"):
        # read as a plain dict: feedparser's own fallback from updated to published is
        # deprecated, and published is tried first here anyway
        raw = dict.get(entry, key)
        parsed = _parse_date(raw)
        struct = dict.get(entry, f"{key}_parsed")
        if parsed is None and struct:
            try:
                parsed = _in_range(datetime(*struct[:6], tzinfo=UTC))
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
    link = _absolute_link(entry.get("link", ""), base)
    tags = entry.get("tags") or []
    category = ""
    if tags:
        category = collapse_space(clean_text(tags[0].get("term") or tags[0].get("label") or ""))
    return Article(
        id=(entry.get("id") or "").strip() or link or _make_id(title, paragraphs),
        title=title,
        link=link,
        published=published,
        category=category,
        source=source,
        paragraphs=paragraphs,
    )


def _is_html(detail: Any) -> bool:
    """True if a feedparser text construct holds HTML."""
    return bool(detail) and "html" in (detail.get("type") or "")


# ---------------------------------------------------------------------------
# Tag-stripped feed text
#
# The layout, as in corpus/leiphone-fintech.txt (an RSS feed with its tags removed):
#
#   SITE //site-link //logo-url SITE //site-link COPYRIGHT zh_cn LAST-BUILD-DATE TITLE //LINK PARA
#   <blank line>
#   PARA
#   ...
#   ]]>
#   CATEGORY //LINK#comments PUB-DATE
#   TITLE //LINK PARA          (the next item; PARA is missing for some items)
#   ...

_RFC822_DATE = (
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),\s*)?\d{1,2}\s+"
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+\d{4}\s+"
    r"\d{1,2}:\d{2}(?::\d{2})?(?:\s*[+-]\d{4}|\s+[A-Z]{2,4}(?!\w))?"
)
_TRAILER = re.compile(
    r"^(?P<category>[^\n]*?)[^\S\n]*(?<!\S)//(?P<link>[^\s#]+)#comments(?:[^\S\n]+(?P<date>[^\n]*))?$",
    re.MULTILINE,
)
_CDATA_END = re.compile(r"^[^\S\n]*\]\]>[^\S\n]*$", re.MULTILINE)
_HEADER = re.compile(rf"^(?P<head>.*?{_RFC822_DATE}(?:\s+{_RFC822_DATE})*)\s*")
_LINK_TOKEN = re.compile(r"(?<!\S)//(\S+)")


def _looks_stripped(text: str) -> bool:
    """True if text looks like a tag-stripped feed: `]]>` lines and `//link#comments` lines."""
    return bool(_CDATA_END.search(text) or _TRAILER.search(text))


def _parse_stripped(text: str, *, source: str) -> FeedReport:
    """Parse tag-stripped feed text: items end with `]]>` then `CATEGORY //LINK#comments DATE`."""
    site, body_start = _header(text)
    source = site or source
    articles: list[Article] = []
    problems: list[str] = []
    start = body_start
    index = 0
    for trailer in _TRAILER.finditer(text, body_start):
        index += 1
        segment = text[start : trailer.start()]
        start = trailer.end()
        article, problem = _stripped_item(segment, trailer, index, source=source)
        if article:
            articles.append(article)
        if problem:
            problems.append(problem)
    rest = text[start:]
    if rest.strip():
        article, problem = _stripped_item(rest, None, index + 1, source=source)
        if article:
            articles.append(article)
        if problem:
            problems.append(problem)
    return FeedReport(articles, problems)


def _header(text: str) -> tuple[str, int]:
    """Find the channel header (site, links, copyright, language, build date) before item 1.

    Returns the site title ('' if there is no header) and where the first item starts.
    """
    first_line = text.split("\n", 1)[0]
    if len(_LINK_TOKEN.findall(first_line)) < 2:
        return "", 0
    match = _HEADER.match(first_line)
    if not match:
        return "", 0
    return first_line.split(" //", 1)[0].strip(), match.end()


def _stripped_item(
    segment: str, trailer: re.Match[str] | None, index: int, *, source: str
) -> tuple[Article | None, str | None]:
    """Build one article from its text segment and its `#comments` trailer line (if any)."""
    lines = segment.strip("\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        return None, f"{_label(index, '')}: no title line"
    title_line, body = lines[0], lines[1:]
    hint = trailer.group("link") if trailer else ""
    title, link, first = _split_title_line(title_line, hint)
    if not link and hint:
        title, link, first = title_line.strip(), hint, ""
    ended = False
    for position, line in enumerate(body):
        if _CDATA_END.match(line):
            body, ended = body[:position], True
            break
    blocks = re.split(r"\n[^\S\n]*\n", "\n".join(body))
    paragraphs = [p for p in (b.strip() for b in [first, *blocks]) if p]
    name = _label(index, title)
    if not link:
        return None, f"{name}: no //link on its title line"
    if not paragraphs:
        return None, f"{name}: no text"
    published = None
    problem = None
    if trailer is None:
        problem = f"{name}: no '#comments' line after it (feed cut off?); kept without a date"
    else:
        raw_date = trailer.group("date") or ""
        published = _parse_date(raw_date)
        if published is None:
            problem = f"{name}: unreadable date {raw_date.strip()!r}"
        elif not ended:
            problem = f"{name}: no ']]>' line before its '#comments' line"
    link = _absolute_link("//" + link)
    article = Article(
        id=link,
        title=title,
        link=link,
        published=published,
        category=trailer.group("category").strip() if trailer else "",
        source=source,
        paragraphs=paragraphs,
    )
    return article, problem


def _split_title_line(line: str, hint: str) -> tuple[str, str, str]:
    """Split `TITLE //LINK FIRST-PARAGRAPH` into its three parts ('' where missing)."""
    match = None
    if hint:
        match = re.search(rf"(?<!\S)//({re.escape(hint)})(?=\s|$)", line)
    if match is None:
        match = _LINK_TOKEN.search(line)
    if match is None:
        return line.strip(), "", ""
    return line[: match.start()].strip(), match.group(1), line[match.end() :].strip()
