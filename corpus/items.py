"""What both feed formats share: the report of a parse, how an item is named in a problem
message, absolute links, dates and ids."""

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

from corpus.article import Article


@dataclass(frozen=True)
class FeedReport:
    """The articles read from a feed, and one message per item that was skipped or damaged."""

    articles: list[Article] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def item_label(index: int, title: str) -> str:
    """How a problem message names an item: its 1-based number and the start of its title."""
    return f'item {index} ("{short_title(title)}")' if title else f"item {index}"


def short_title(title: str) -> str:
    """A title cut to 20 characters for a message."""
    return title if len(title) <= 20 else title[:20] + "…"


def absolute_link(link: str, base: str = "") -> str:
    """Make a link absolute: https: for protocol-relative links, else resolved against base;
    '' for a link that is not a web address (javascript:, data:, mailto:…)."""
    link = link.strip()
    if link.startswith("//"):
        return "https:" + link
    scheme = urlsplit(link).scheme.lower()
    if link and not scheme and base:
        return absolute_link(urljoin(base, link))
    return "" if scheme and scheme not in ("http", "https") else link


def parse_date(raw: str | None) -> datetime | None:
    """Parse an RFC 822 or ISO 8601 date, keeping its offset, or seconds since 1970 (9 or 10
    digits); naive dates are taken as UTC, and CST as China's (UTC+8). A four-digit year that the date does not keep
    (0001, which RFC 822 parsing reads as 2001) makes it unreadable."""
    if not raw or not raw.strip():
        return None
    raw = _CHINA_TIME.sub("+0800", raw.strip())
    if raw.isascii() and raw.isdigit():
        return datetime.fromtimestamp(int(raw), UTC) if 9 <= len(raw) <= 10 else None
    numeric = _NUMERIC_DATE.fullmatch(raw)
    if numeric:  # 2022/03/14 08:30, 2022年3月14日, 2022.03.14: no offset, so UTC
        try:
            return in_range(datetime(*(int(n) for n in numeric.groups(0)), tzinfo=UTC))
        except ValueError:
            return None
    try:
        parsed = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            return None
    return as_written(raw, parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def as_written(raw: str, parsed: datetime) -> datetime | None:
    """`parsed` if it keeps what `raw` says (any four-digit year of it; a number of digits is
    no date but seconds, read above) and is in range, else None."""
    year = _YEAR.search(raw)
    if raw.strip().isdigit() or (year and int(year.group()) != parsed.year):
        return None
    ymd = _YMD.search(raw)
    if ymd and (int(ymd.group(2)), int(ymd.group(3))) != (parsed.month, parsed.day):
        return None  # feedparser reads "2022/03/14" as 2022-12-01
    return in_range(parsed)


_CHINA_TIME = re.compile(r"\bCST\b", re.IGNORECASE)
"""China Standard Time in the feeds of a Chinese archive (RFC 822 reads it as US Central)."""
_YEAR = re.compile(r"(?<![\d+-])\d{4}(?!\d)")  # not a numeric offset (+0800)
_YMD = re.compile(r"(?<!\d)(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})(?!\d)")
_NUMERIC_DATE = re.compile(
    r"(\d{4})\s*[/.年]\s*(\d{1,2})\s*[/.月]\s*(\d{1,2})\s*日?"
    r"(?:\s*(\d{1,2})\s*[:时]\s*(\d{2})(?:\s*[:分]\s*(\d{2})\s*秒?)?分?)?"
)


def in_range(value: datetime) -> datetime | None:
    """`value` if it can be expressed in UTC (year 1 to 9999 there), else None."""
    try:
        value.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return value


def article_id(guid: str, link: str, feed: str) -> str:
    """An item's id: its guid when that is an address (http:…, urn:…, tag:…); a guid of the
    feed's own (1, 12345), which another feed may use too, qualified by the feed's address
    (`https://site.example/#1`; kept bare when the feed has none, as its file name or title
    may change); without a guid, its link."""
    guid = guid.strip()
    if not guid:
        return link
    return guid if _SCHEME.match(guid) or not feed else f"{feed}#{guid}"


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S")


def make_id(title: str, paragraphs: list[str]) -> str:
    """Stable id for an item with neither guid nor link."""
    text = "\n".join([title, *paragraphs])
    return hashlib.sha1(text.encode("utf-8")).hexdigest()
