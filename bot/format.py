"""Render answers as Telegram HTML messages, and split long ones safely.

Everything here is pure: strings in, strings out. Every piece of text that comes from
the archive is escaped with `html.escape`; the only markup added is ``<b>``. Long
messages are split between blocks, or at line/sentence boundaries inside a block, so
that no part is longer than Telegram's limit and every part is balanced HTML.
"""

import html
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from html.parser import HTMLParser

from retrieval.models import Answer, Citation, Passage

from .render import NOT_FOUND, UNTITLED, mark_terms, notes

MESSAGE_LIMIT = 4096
"""Telegram's limit on a message, in UTF-16 code units."""

CLOSEST = "以下是最接近的文章:"
SOURCES = "来源:"
NO_SOURCES = "没有可显示的原文。"

_BLOCK_SEPARATOR = "\n\n"
_ATOM = re.compile(r"<[^<>]*>|&#?[0-9A-Za-z]+;|.", re.DOTALL)
_TAG = re.compile(r"<\s*(/?)\s*([A-Za-z][\w-]*)")
_SENTENCE_END = frozenset("。!?;!?;…")


def utf16_len(text: str) -> int:
    """Length of `text` as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def bold_terms(text: str, terms: Iterable[str]) -> str:
    """Escape `text` and wrap every occurrence of any term in ``<b>``.

    Overlapping or adjacent matches merge into one bold run, so tags are never nested, and
    entities are made after matching, so they stay whole.
    """
    return mark_terms(text, list(terms), lambda s: f"<b>{_escape(s)}</b>", _escape)


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


def _date(published: datetime | None) -> str:
    return published.strftime("%Y-%m-%d") if published else "日期不详"


def _heading(rank: int, title: str, published: datetime | None, paragraph: int) -> str:
    title = html.escape(title or UNTITLED, quote=False)
    return f"<b>[{rank}]</b> {title} · {_date(published)} · 第{paragraph}段"


def _lines(*lines: str) -> str:
    """The lines that are not empty (an article without a link leaves no blank line)."""
    return "\n".join(filter(None, lines))


def _citation_block(citation: Citation) -> str:
    heading = _heading(citation.rank, citation.title, citation.published, citation.paragraph)
    return _lines(heading, html.escape(citation.link, quote=False))


def format_answer(answer: Answer, limit: int = MESSAGE_LIMIT) -> list[str]:
    """The reply to a question: the answer with its terms in bold, then numbered citations.

    When the archive holds no answer, say so and list the closest articles instead.
    """
    citations = [_citation_block(c) for c in answer.citations]
    if answer.answered:
        blocks = [bold_terms(answer.text, answer.terms)]
        if citations:
            citations[0] = f"<b>{SOURCES}</b>\n{citations[0]}"
    else:
        blocks = [f"{NOT_FOUND}\n{CLOSEST}" if citations else NOT_FOUND]
    italics = [f"<i>{_escape(note)}</i>" for note in notes(answer, "/reset")]
    return split_message(blocks + citations + italics, limit)


def format_sources(answer: Answer, limit: int = MESSAGE_LIMIT) -> list[str]:
    """The full paragraphs an answer cites, each with its article title, date and link."""
    blocks = []
    for c in answer.citations:
        blocks.append(
            _lines(
                f"<b>[{c.rank}] {html.escape(c.title or UNTITLED, quote=False)}</b>",
                f"{_date(c.published)} · 第{c.paragraph}段",
                bold_terms(c.passage, answer.terms),
                html.escape(c.link, quote=False),
            )
        )
    return split_message(blocks or [NO_SOURCES], limit)


def format_passages(
    passages: Sequence[Passage],
    start_rank: int,
    terms: Iterable[str] = (),
    limit: int = MESSAGE_LIMIT,
) -> list[str]:
    """Further search results, numbered from `start_rank`."""
    terms = list(terms)
    blocks = [
        _lines(
            _heading(rank, p.title, p.published, p.paragraph),
            bold_terms(p.text, terms),
            html.escape(p.link, quote=False),
        )
        for rank, p in enumerate(passages, start=start_rank)
    ]
    return split_message(blocks, limit)


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, with an ellipsis when cut."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def format_inline_answer(answer: Answer, limit: int = MESSAGE_LIMIT) -> str:
    """One message for an inline result: the answer and its first citation."""
    return format_answer(answer.model_copy(update={"citations": answer.citations[:1]}), limit)[0]


def format_inline_passage(passage: Passage, rank: int = 1, limit: int = MESSAGE_LIMIT) -> str:
    """One message for an inline result built from a single search hit."""
    return format_passages([passage], rank, limit=limit)[0]


class _PlainText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)


def to_plain(markup: str) -> str:
    """The text of an HTML message without tags and with entities decoded."""
    parser = _PlainText()
    parser.feed(markup)
    parser.close()
    return "".join(parser.chunks)


def split_message(blocks: Sequence[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Pack balanced HTML blocks into as few messages as fit in `limit` each.

    Blocks are joined with a blank line. A block too long on its own is cut with
    `split_html`, which only cuts between tags and entities and re-balances tags.
    """
    parts: list[str] = []
    current = ""
    for block in blocks:
        block = block.strip("\n")
        if not block.strip():
            continue
        candidate = f"{current}{_BLOCK_SEPARATOR}{block}" if current else block
        if utf16_len(candidate) <= limit:
            current = candidate
            continue
        if current:
            parts.append(current)
        if utf16_len(block) <= limit:
            current = block
        else:
            *full, current = split_html(block, limit)
            parts.extend(full)
    if current:
        parts.append(current)
    return parts


def _tag_info(atom: str) -> tuple[str, str] | None:
    """('open'|'close', name) for a tag atom, None for text or an entity."""
    if not atom.startswith("<") or len(atom) < 3:
        return None
    match = _TAG.match(atom)
    if not match:
        return None
    return ("close" if match.group(1) else "open", match.group(2).lower())


def _break_quality(atoms: list[str], end: int) -> int:
    """How good a place the position before `atoms[end]` is to cut (higher is better)."""
    if end >= len(atoms):
        return 4
    last = atoms[end - 1]
    if last == "\n":
        return 3 if end >= 2 and atoms[end - 2] == "\n" else 2
    if last in _SENTENCE_END:
        return 1
    return 0


def split_html(markup: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Cut one balanced HTML string into parts of at most `limit` UTF-16 units.

    Cuts fall between tags, entities and characters only, preferring blank lines, then
    line ends, then sentence ends. Tags open at a cut are closed at the end of the part
    and opened again at the start of the next one, so every part is balanced.
    """
    atoms = _ATOM.findall(markup)
    parts: list[str] = []
    start = 0
    stack: list[tuple[str, str]] = []  # (name, opening tag) open at `start`
    while start < len(atoms):
        while start < len(atoms) and atoms[start] in ("\n", " ") and not stack:
            start += 1
        if start >= len(atoms):
            break
        prefix = "".join(tag for _, tag in stack)
        size = utf16_len(prefix)
        open_tags = list(stack)
        candidates: list[tuple[int, int, int, list[tuple[str, str]]]] = []
        end = start
        while end < len(atoms):
            atom = atoms[end]
            size += utf16_len(atom)
            if size > limit:
                break
            info = _tag_info(atom)
            if info and info[0] == "open":
                open_tags.append((info[1], atom))
            elif info and open_tags and open_tags[-1][0] == info[1]:
                open_tags.pop()
            end += 1
            closing = sum(len(name) + 3 for name, _ in open_tags)
            if size + closing <= limit:
                candidates.append((size, _break_quality(atoms, end), end, list(open_tags)))
        if not candidates:
            # A single atom does not fit: take it anyway rather than loop forever.
            info = _tag_info(atoms[start])
            open_tags = list(stack)
            if info and info[0] == "open":
                open_tags.append((info[1], atoms[start]))
            elif info and open_tags and open_tags[-1][0] == info[1]:
                open_tags.pop()
            candidates.append((size, 0, start + 1, open_tags))
        long_enough = [c for c in candidates if c[0] >= limit // 2 or c[2] >= len(atoms)]
        if long_enough:
            _, _, end, end_stack = max(long_enough, key=lambda c: (c[1], c[2]))
        else:
            _, _, end, end_stack = candidates[-1]
        body = (
            "".join(atoms[start:end]).rstrip("\n ") if not end_stack else "".join(atoms[start:end])
        )
        closing = "".join(f"</{name}>" for name, _ in reversed(end_stack))
        part = f"{prefix}{body}{closing}"
        if to_plain(part).strip():
            parts.append(part)
        start, stack = end, end_stack
    return parts
