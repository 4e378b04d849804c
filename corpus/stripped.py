"""Tag-stripped feed text: an RSS feed with its XML tags removed, as the bundled
corpus/leiphone-fintech.txt is."""

import re

from corpus.article import Article
from corpus.items import FeedReport, absolute_link, item_label, parse_date

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


def looks_stripped(text: str) -> bool:
    """True if text looks like a tag-stripped feed: `]]>` lines and `//link#comments` lines."""
    return bool(_CDATA_END.search(text) or _TRAILER.search(text))


def parse_stripped(text: str, *, source: str) -> FeedReport:
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
        return None, f"{item_label(index, '')}: no title line"
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
    name = item_label(index, title)
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
        published = parse_date(raw_date)
        if published is None:
            problem = f"{name}: unreadable date {raw_date.strip()!r}"
        elif not ended:
            problem = f"{name}: no ']]>' line before its '#comments' line"
    link = absolute_link("//" + link)
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
