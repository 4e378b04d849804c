"""Tests of bot.format: escaping, bold terms, splitting and the plain-text fallback."""

import html
import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from fakebot import EntityError, parse_telegram_html

from bot.format import (
    MESSAGE_LIMIT,
    NOT_FOUND,
    bold_terms,
    format_answer,
    format_inline_answer,
    format_passages,
    format_sources,
    split_html,
    split_message,
    to_plain,
    truncate,
    utf16_len,
)
from retrieval.models import Answer, Citation, Passage


class _Balance(HTMLParser):
    """Checks that markup is balanced and uses only tags the formatter emits."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "b":
            self.errors.append(f"unexpected tag <{tag}>")
        if tag in self.stack:
            self.errors.append(f"nested <{tag}>")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unbalanced </{tag}>")
        else:
            self.stack.pop()

    def handle_entityref(self, name: str) -> None:
        if name not in ("lt", "gt", "amp", "quot"):
            self.errors.append(f"entity &{name};")


def assert_valid(markup: str) -> None:
    """Balanced HTML that Telegram accepts and that fits one message."""
    checker = _Balance()
    checker.feed(markup)
    checker.close()
    assert not checker.errors, checker.errors
    assert not checker.stack, f"unclosed {checker.stack}"
    assert "<" not in checker.rawdata  # nothing left unparsed
    assert utf16_len(markup) <= MESSAGE_LIMIT
    parse_telegram_html(markup)  # the same rules the fake server enforces


def citation(rank: int = 1, **overrides: object) -> Citation:
    values: dict[str, object] = {
        "rank": rank,
        "article_id": f"a{rank}",
        "title": f"标题{rank}",
        "link": f"https://news.example.com/{rank}",
        "published": datetime(2024, 5, 20, 8, 30, tzinfo=UTC),
        "paragraph": 2,
        "passage": "星河支付董事会宣布,任命林晓薇为公司首席执行官。",
        "score": 3.2,
    }
    values.update(overrides)
    return Citation.model_validate(values)


def answer(**overrides: object) -> Answer:
    values: dict[str, object] = {
        "question": "星河支付的CEO是谁?",
        "answered": True,
        "text": "任命林晓薇为公司首席执行官",
        "citations": [citation(1), citation(2)],
        "terms": ["林晓薇"],
        "confidence": 0.9,
    }
    values.update(overrides)
    return Answer.model_validate(values)


# --- bold_terms -------------------------------------------------------------------------------


def test_bold_terms_escapes_then_bolds() -> None:
    assert bold_terms("a<b>&c", []) == "a&lt;b&gt;&amp;c"
    assert bold_terms("星河支付的CEO", ["CEO"]) == "星河支付的<b>CEO</b>"


def test_bold_terms_is_case_insensitive() -> None:
    assert bold_terms("the Ceo said", ["ceo"]) == "the <b>Ceo</b> said"


def test_bold_terms_with_ampersand_keeps_entity_whole() -> None:
    out = bold_terms("AT&T 与 A&B", ["AT&T"])
    assert out == "<b>AT&amp;T</b> 与 A&amp;B"
    assert_valid(out)


def test_bold_terms_overlapping_and_nested_terms_merge() -> None:
    out = bold_terms("星河支付宣布", ["星河", "河支付", "支付"])
    assert out == "<b>星河支付</b>宣布"
    out = bold_terms("星河支付宣布", ["星河支付", "支付"])
    assert out == "<b>星河支付</b>宣布"
    assert_valid(out)


def test_bold_terms_does_not_match_inside_entities() -> None:
    # "amp" and "lt" appear in the escaped text but not in the raw text.
    out = bold_terms("x & y < z", ["amp", "lt", "&"])
    assert out == "x <b>&amp;</b> y &lt; z"
    assert_valid(out)


def test_bold_terms_ignores_blank_terms() -> None:
    assert bold_terms("abc", ["", "  "]) == "abc"


# --- format_answer -----------------------------------------------------------------------------


def test_answer_has_text_terms_and_numbered_citations() -> None:
    [message] = format_answer(answer())
    assert_valid(message)
    assert message.startswith("任命<b>林晓薇</b>为公司首席执行官")
    assert "来源" in message
    assert "<b>[1]</b> 标题1 · 2024-05-20 · 第2段\nhttps://news.example.com/1" in message
    assert "<b>[2]</b> 标题2" in message


def test_answer_escapes_titles_links_and_text() -> None:
    odd = citation(
        1,
        title="<script>alert('x')</script> & Co",
        link="https://example.com/?a=1&b=<2>",
        passage="a < b & c",
    )
    result = answer(text="A&B <i>不是标签</i>", citations=[odd], terms=["A&B"])
    [message] = format_answer(result)
    assert_valid(message)
    assert "&lt;script&gt;alert('x')&lt;/script&gt; &amp; Co" in message
    assert "https://example.com/?a=1&amp;b=&lt;2&gt;" in message
    assert message.startswith("<b>A&amp;B</b> &lt;i&gt;不是标签&lt;/i&gt;")
    assert "A&B <i>不是标签</i>" in to_plain(message)


def test_a_follow_up_says_which_question_it_went_on_from() -> None:
    earlier = "星河支付<b>去年</b>&的CEO是谁?" + "又" * 40
    [message] = format_answer(answer(follows=earlier))
    parse_telegram_html(message)  # notes are in italics: valid as Telegram reads it
    assert message.endswith(
        "<i>接着上一个问题「星河支付&lt;b&gt;去年&lt;/b&gt;&amp;的CEO是谁?" + "又" * 9
        + "…」回答;不是接着问的话,用 /reset 清除上下文</i>"
    )  # fmt: skip
    [alone] = format_answer(answer())
    assert "接着" not in alone


def test_answer_without_date_says_so() -> None:
    [message] = format_answer(answer(citations=[citation(1, published=None)]))
    assert "日期不详" in message


def test_not_answered_offers_closest_articles() -> None:
    [message] = format_answer(answer(answered=False, text=""))
    assert_valid(message)
    assert message.startswith(NOT_FOUND)
    assert "最接近" in message
    assert "标题1" in message and "https://news.example.com/2" in message


def test_not_answered_without_citations_is_just_not_found() -> None:
    assert format_answer(answer(answered=False, text="", citations=[])) == [NOT_FOUND]


def test_huge_answer_is_split_into_valid_parts() -> None:
    paragraph = "星河支付宣布 <融资> & 扩张,林晓薇表示。" * 40
    text = "\n\n".join([paragraph] * 12) + "\n" + "无标点长句" * 1500
    cites = [citation(i, title=f"<标题{i}> & 更多", passage=paragraph) for i in range(1, 40)]
    parts = format_answer(answer(text=text, citations=cites, terms=["林晓薇", "&", "星河支付"]))
    assert len(parts) > 3
    for part in parts:
        assert_valid(part)
    plain = "".join(to_plain(p) for p in parts)
    assert plain.count("林晓薇") == text.count("林晓薇")
    assert "[39]" in plain


def test_split_counts_utf16_units() -> None:
    emoji = "😀" * 3000  # 6000 UTF-16 units, 3000 code points
    parts = split_message([html.escape(emoji)])
    assert len(parts) == 2
    assert all(utf16_len(p) <= MESSAGE_LIMIT for p in parts)
    assert "".join(parts) == emoji


# --- split_message / split_html -----------------------------------------------------------------


def test_split_message_packs_blocks_and_keeps_them_whole() -> None:
    blocks = [f"<b>[{i}]</b> " + "字" * 900 for i in range(10)]
    parts = split_message(blocks, limit=2000)
    assert len(parts) == 5
    for part in parts:
        assert_valid(part)
        assert part.count("<b>[") == 2


def test_split_message_skips_blank_blocks() -> None:
    assert split_message(["", "  ", "a", "\n"]) == ["a"]


def test_split_html_prefers_blank_lines() -> None:
    text = "\n\n".join(f"第{i}段。" + "字" * 50 for i in range(10))
    parts = split_html(text, limit=200)
    assert all(p.startswith("第") for p in parts)
    assert all(utf16_len(p) <= 200 for p in parts)


@pytest.mark.parametrize("limit", [20, 33, 57, 100])
def test_split_html_never_cuts_tags_or_entities(limit: int) -> None:
    markup = bold_terms(
        "甲&乙<丙>丁。" * 30 + "长长长长长长长长长长长长" * 5, ["乙", "丁。甲", "长长长长长长"]
    )
    parts = split_html(markup, limit)
    for part in parts:
        assert_valid(part)
        assert utf16_len(part) <= limit
    assert "".join(to_plain(p) for p in parts).replace("\n", "") == to_plain(markup)


def test_split_html_reopens_a_long_bold_run() -> None:
    markup = "<b>" + "粗" * 250 + "</b>"
    parts = split_html(markup, limit=100)
    assert len(parts) == 3
    for part in parts:
        assert part.startswith("<b>") and part.endswith("</b>")
        assert_valid(part)


# --- sources, passages, inline, plain ---------------------------------------------------------------


def test_format_sources_shows_full_paragraphs() -> None:
    long_passage = "林晓薇此前担任首席运营官 & 于2018年加入。" * 3
    [message] = format_sources(answer(citations=[citation(1, passage=long_passage)]))
    assert_valid(message)
    assert "<b>[1] 标题1</b>" in message
    assert to_plain(message).count("林晓薇此前担任首席运营官 & 于2018年加入。") == 3
    assert "https://news.example.com/1" in message


def test_format_sources_without_citations() -> None:
    assert format_sources(answer(citations=[])) == ["没有可显示的原文。"]


def test_format_passages_numbers_from_start_rank() -> None:
    passages = [
        Passage(
            article_id=f"p{i}",
            title=f"<T{i}>",
            link=f"https://x.example/{i}?a&b",
            published=None,
            paragraph=i,
            text=f"段落 {i} & 内容",
            score=1.0,
        )
        for i in range(1, 3)
    ]
    [message] = format_passages(passages, start_rank=4, terms=["内容"])
    assert_valid(message)
    assert "<b>[4]</b> &lt;T1&gt;" in message and "<b>[5]</b> &lt;T2&gt;" in message
    assert "段落 1 &amp; <b>内容</b>" in message
    assert "https://x.example/1?a&amp;b" in message


def test_inline_answer_is_one_message_with_first_citation() -> None:
    message = format_inline_answer(answer())
    assert_valid(message)
    assert "标题1" in message and "标题2" not in message


def test_to_plain_decodes_entities_and_drops_tags() -> None:
    assert to_plain("<b>A&amp;B</b> &lt;i&gt; &quot;x&quot; &#20013;") == 'A&B <i> "x" 中'


def test_plain_fallback_round_trip() -> None:
    [message] = format_answer(answer(text="a<b & c", terms=["c"]))
    assert to_plain(message).startswith("a<b & c\n\n来源:\n[1] 标题1")


def test_truncate() -> None:
    assert truncate("abc", 5) == "abc"
    assert truncate("abcdef", 4) == "abc…"
    assert truncate("a \n b", 10) == "a b"


def test_checker_catches_bad_markup() -> None:
    with pytest.raises(EntityError):
        parse_telegram_html("<b>open")
    with pytest.raises(EntityError):
        parse_telegram_html("a & b")
    with pytest.raises(EntityError):
        parse_telegram_html("<x>y</x>")
    bad = _Balance()
    bad.feed("<b><b>x</b></b></i>")
    assert bad.errors


def test_an_untitled_linkless_citation_says_so_and_leaves_no_blank() -> None:
    from bot.render import answer_text, passages_text, sources_text

    bare = answer(citations=[citation(1, title="", link="")])
    passage = Passage(
        article_id="p", title="", link="", published=None, paragraph=1, text="段落", score=1.0
    )
    messages = [
        *format_answer(bare), *format_sources(bare), *format_passages([passage], start_rank=1)
    ]  # fmt: skip
    texts = [to_plain(m) for m in messages] + [
        answer_text(bare), sources_text(bare), passages_text([passage])
    ]  # fmt: skip
    for text in texts:
        assert "(无标题)" in text
        assert all(line == line.rstrip() for line in text.splitlines()), text  # no blank link
        assert not text.endswith("\n") and not re.search(r"段\)?\n\n", text), text
