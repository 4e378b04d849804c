"""Plain-text and terminal rendering of answers and passages (pure functions)."""

from collections.abc import Callable, Sequence

from retrieval import Answer, Passage, normalize

NOT_FOUND = "资料库中没有找到答案。"
UNTITLED = "(无标题)"


def term_spans(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    """(start, end) spans of `text` where any term occurs; overlapping or adjacent ones merged.

    Matching runs on normalised text and terms (so case, Traditional or full-width forms
    match), or on the lower-cased text when normalising changes its length.
    """
    folded = normalize(text)
    if len(folded) != len(text):
        folded = text.lower()
    marked = [False] * len(text)
    for term in {normalize(t) for t in terms if t and t.strip()}:
        start = folded.find(term)
        while start != -1:
            marked[start : start + len(term)] = [True] * len(term)
            start = folded.find(term, start + 1)
    spans: list[tuple[int, int]] = []
    for i, on in enumerate(marked):
        if on and spans and spans[-1][1] == i:
            spans[-1] = (spans[-1][0], i + 1)
        elif on:
            spans.append((i, i + 1))
    return spans


def mark_terms(
    text: str, terms: Sequence[str], mark: Callable[[str], str], plain: Callable[[str], str] = str
) -> str:
    """`text` with each term occurrence passed through `mark` and the rest through `plain`."""
    out, pos = [], 0
    for s, e in term_spans(text, terms):
        out.append(plain(text[pos:s]))
        out.append(mark(text[s:e]))
        pos = e
    out.append(plain(text[pos:]))
    return "".join(out)


FOLLOWED_SHOWN = 30
"""Characters of the earlier question a follow-up's note shows."""


def notes(answer: Answer, reset: str = "") -> list[str]:
    """An answer's notes, and for one read as a follow-up which earlier question it went on
    from, with the command (`reset`, if any) that forgets the chat when that was not meant."""
    if not answer.follows:
        return answer.notes
    asked = " ".join(answer.follows.split())
    if len(asked) > FOLLOWED_SHOWN:
        asked = asked[:FOLLOWED_SHOWN] + "…"
    note = f"接着上一个问题「{asked}」回答"
    return [*answer.notes, f"{note};不是接着问的话,用 {reset} 清除上下文" if reset else note]


def date(value) -> str:
    """YYYY-MM-DD, or 日期不详."""
    return value.strftime("%Y-%m-%d") if value else "日期不详"


def heading(title: str, published, paragraph: int) -> str:
    """An article's title (or 无标题), date and paragraph number."""
    return f"{title or UNTITLED} ({date(published)}, 第{paragraph}段)"


def citation_line(rank: int, title: str, published, paragraph: int, link: str) -> str:
    """One numbered citation line (the link, if the article has one, at its end)."""
    return " ".join(filter(None, [f"[{rank}]", heading(title, published, paragraph), link]))


def answer_text(answer: Answer, mark: Callable[[str], str] = str, reset: str = "") -> str:
    """The answer and its numbered citations as plain text (`reset`: the command that forgets
    the chat, named when the answer went on from it)."""
    lines = []
    if answer.answered:
        lines.append(mark_terms(answer.text, answer.terms, mark))
        lines.append("")
        lines.append("来源:")
    else:
        lines.append(NOT_FOUND)
        if answer.citations:
            lines.append("")
            lines.append("最接近的文章:")
    for c in answer.citations:
        lines.append(citation_line(c.rank, c.title, c.published, c.paragraph, c.link))
    lines += [f"({note})" for note in notes(answer, reset)]
    return "\n".join(lines)


def sources_text(answer: Answer, mark: Callable[[str], str] = str) -> str:
    """The full cited paragraphs, with titles and links."""
    blocks = []
    for c in answer.citations:
        lines = [f"[{c.rank}] {heading(c.title, c.published, c.paragraph)}", c.link]
        blocks.append("\n".join(filter(None, [*lines, mark_terms(c.passage, answer.terms, mark)])))
    return "\n\n".join(blocks) if blocks else "(没有引用)"


def passages_text(
    passages: Sequence[Passage], terms: Sequence[str] = (), mark: Callable[[str], str] = str
) -> str:
    """Ranked paragraphs as plain text."""
    blocks = []
    for rank, p in enumerate(passages, start=1):
        lines = [f"{rank}. {heading(p.title, p.published, p.paragraph)} score={p.score:.3f}"]
        lines += [f"   {p.link}"] * bool(p.link) + [f"   {mark_terms(p.text, terms, mark)}"]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) if blocks else "(没有结果)"
