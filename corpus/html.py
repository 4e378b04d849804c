"""Turn feed HTML into clean text paragraphs, using only the standard library."""

import re
import unicodedata
from html import unescape
from html.parser import HTMLParser

# Elements that start and end a paragraph.
_BLOCKS = """
    address article aside blockquote caption dd div dl dt figcaption figure footer
    h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table tbody tfoot thead tr ul
"""
BLOCK_TAGS = frozenset(_BLOCKS.split())
# Elements dropped together with everything inside them.
SKIP_TAGS = frozenset({"script", "style", "noscript", "iframe", "template"})
# Elements that separate words inside a paragraph (table cells).
CELL_TAGS = frozenset({"td", "th"})

_JUNK = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_UNCLEAN = re.compile(_JUNK.pattern[:-1] + "\r\ud800-\udfff]")  # and CR, lone surrogates
_SPACE = re.compile(r"\s+")


def well_formed(text: str) -> str:
    """`text` as well-formed Unicode: surrogate pairs joined, lone surrogates (from bytes a
    terminal or file could not decode) replaced by U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def is_clean(text: str) -> bool:
    """Whether `clean_text(well_formed(text))` would leave `text` as it is (one fast scan)."""
    return _UNCLEAN.search(text) is None


def clean_text(text: str) -> str:
    """Normalise line ends and remove zero-width, direction and control characters (tab and
    newline stay): a right-to-left override in a title would reverse a terminal's line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _JUNK.sub("", text)


def _is_wide(char: str) -> bool:
    """True for CJK and other full-width characters, which are not separated by spaces."""
    return unicodedata.east_asian_width(char) in ("W", "F")


def collapse_space(text: str) -> str:
    """Collapse runs of whitespace to one space and strip the ends.

    A line break between two CJK characters is removed instead, so that text
    wrapped in the source does not gain spaces inside Chinese sentences.
    """

    def replace(match: re.Match[str]) -> str:
        start, end = match.span()
        if (
            "\n" in match.group()
            and start > 0
            and end < len(text)
            and _is_wide(text[start - 1])
            and _is_wide(text[end])
        ):
            return ""
        return " "

    return _SPACE.sub(replace, text).strip()


class _ParagraphParser(HTMLParser):
    """Collect the text of an HTML fragment, one string per paragraph."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self._parts: list[str] = []
        self._skip_depth = 0

    def _flush(self) -> None:
        text = collapse_space(clean_text("".join(self._parts)))
        if text:
            self.paragraphs.append(text)
        self._parts = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIP_TAGS:
            self._skip_depth += 1
        else:
            self._boundary(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIP_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        else:
            self._boundary(tag)

    def _boundary(self, tag: str) -> None:
        """A block or <br> ends a paragraph; a table cell ends a word."""
        if self._skip_depth:
            return
        if tag == "br" or tag in BLOCK_TAGS:
            self._flush()
        elif tag in CELL_TAGS:
            self._parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self._parts.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


_SKIPPED_ELEMENT = re.compile(
    rf"<({'|'.join(SKIP_TAGS)})\b.*?(?:</\1\s*>|\Z)", re.IGNORECASE | re.DOTALL
)
_BREAK_TAG = re.compile(rf"</?(?:br|{'|'.join(BLOCK_TAGS)})\b[^>]*>", re.IGNORECASE)
_ANY_TAG = re.compile(r"<[^>]*>")


def _html_to_paragraphs_by_regex(html: str) -> list[str]:
    """Rough fallback for markup that the HTML parser rejects."""
    html = _SKIPPED_ELEMENT.sub("", html)
    html = _BREAK_TAG.sub("\n\n", html)
    text = unescape(_ANY_TAG.sub("", html))
    return [p for p in (collapse_space(clean_text(b)) for b in text.split("\n\n")) if p]


def html_to_paragraphs(html: str) -> list[str]:
    """Split an HTML fragment into non-empty plain-text paragraphs."""
    parser = _ParagraphParser()
    try:
        parser.feed(html)
        parser.close()
    except AssertionError:  # html.parser rejects some malformed <! ... > declarations
        return _html_to_paragraphs_by_regex(html)
    return parser.paragraphs


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment on one line (for titles and labels)."""
    return " ".join(html_to_paragraphs(html))


def text_to_paragraphs(text: str) -> list[str]:
    """Split plain text into paragraphs at blank lines, collapsing whitespace inside each."""
    blocks = re.split(r"\n[^\S\n]*\n", clean_text(text))
    return [p for p in (collapse_space(block) for block in blocks) if p]
