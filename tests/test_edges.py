"""Edge cases of article ids across feeds and library versions, plain-text descriptions,
dates and refreshes."""

import subprocess
import sys

import pytest

from corpus import Article, load_feed_report, parse_feed, parse_feed_report
from retrieval import Retriever, library


def rss(
    items: str, *, channel: str = "<title>甲报</title><link>https://jia.example/</link>"
) -> str:
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>{channel}{items}</channel></rss>'


def item(guid: str, text: str, *, link: str = "https://jia.example/news/2.html",
         title: str = "琥珀证券换帅", date: str = "") -> str:  # fmt: skip
    parts = [f"<title>{title}</title>"]
    if link:
        parts.append(f"<link>{link}</link>")
    parts.append(f'<guid isPermaLink="false">{guid}</guid>')
    if date:
        parts.append(f"<pubDate>{date}</pubDate>")
    parts.append(f"<description>{text}</description>")
    return "<item>" + "".join(parts) + "</item>"


OLD_TEXT = "琥珀证券宣布由王海鸥接任首席执行官。"
NEW_TEXT = "更正:琥珀证券宣布由李青松接任首席执行官。"


def ids(r: Retriever) -> list[str]:
    return sorted(rec["id"] for rec in r.index.articles())


# --- guids qualified by the feed -----------------------------------------------------


def test_a_qualified_guid_without_a_link_is_not_taken_for_a_bare_one() -> None:
    """Only the same link tells that `https://jia.example/#1` was stored as `1`."""
    from retrieval.records import Stored

    stored = Stored()
    stored.keep("1", "", (0, 0, "hash"))
    qualified = Article(id="https://jia.example/#1", title="甲", link="", paragraphs=["乙"])
    assert stored.id_of(qualified) is None
    stored.keep("2", "https://jia.example/2", (0, 1, "hash"))
    linked = qualified.model_copy(
        update={"id": "https://jia.example/#2", "link": "https://jia.example/2"}
    )
    assert stored.id_of(linked) == "2"


def test_an_update_of_an_article_stored_under_its_bare_guid_stays_replaced_after_reopening(
    tmp_path,
) -> None:
    """A library written before fe4933d holds guid "2" bare. The feed, read again with the
    article updated, replaces it (updated=1); but the old version is still in the log under
    "2", and the next open indexes it again: two copies, the outdated one ranked first."""
    lib = tmp_path / "lib"
    (old,) = parse_feed(rss(item("2", OLD_TEXT)))
    r = Retriever.open(lib, semantic=False)
    r.add([old.model_copy(update={"id": "2"})])  # as the library was written before
    stored = r.info()["articles"]
    assert r.add(parse_feed(rss(item("2", NEW_TEXT)))).updated == 1
    again = Retriever.open(lib, semantic=False)
    assert again.info()["articles"] == stored, (ids(again)[-3:], again.repairs)
    assert not any(h.text == OLD_TEXT for h in again.search("琥珀证券 首席执行官", k=3))


def test_an_update_of_an_article_whose_bare_guid_holds_a_hash_sign_replaces_it(tmp_path) -> None:
    """Guid "post#2" was stored bare; the qualified id is `https://jia.example/#post#2`, and
    `Stored.find` splits it at the last "#", looking for "2"."""
    (old,) = parse_feed(rss(item("post#2", OLD_TEXT)))
    r = Retriever.open(tmp_path / "lib", semantic=False)
    r.add([old.model_copy(update={"id": "post#2"})])
    stored = r.info()["articles"]
    report = r.add(parse_feed(rss(item("post#2", NEW_TEXT))))
    assert (report.added, report.updated) == (0, 1)
    assert r.info()["articles"] == stored


def test_a_feed_without_channel_link_or_title_keeps_its_ids_wherever_its_file_is(
    tmp_path,
) -> None:
    """Without a channel link or title a guid is qualified by the file's path: the same feed
    saved under another name (a download, a dated copy) gets other ids, so an updated item
    is added next to the old one instead of replacing it (bare guids, before, were stable)."""
    first, second = tmp_path / "feed.xml", tmp_path / "feed-2022-03-15.xml"
    first.write_text(rss(item("2", OLD_TEXT), channel=""), encoding="utf-8")
    second.write_text(rss(item("2", NEW_TEXT), channel=""), encoding="utf-8")
    r = Retriever.open(tmp_path / "lib", semantic=False)
    r.add(load_feed_report(str(first)).articles)
    stored = r.info()["articles"]
    report = r.add(load_feed_report(str(second)).articles)
    assert (report.added, report.updated) == (0, 1)
    assert r.info()["articles"] == stored


def test_items_without_a_link_are_not_copies_of_each_other_across_ingests(tmp_path) -> None:
    """Two notices with the same title and text but their own guid and date and no link:
    one ingest keeps both, two ingests keep one (("", hash) matches any link-less article)."""
    day1 = item(
        "n1", "本所今日休市。", link="", title="休市公告", date="Mon, 14 Mar 2022 08:00:00 +0800"
    )
    day2 = item(
        "n2", "本所今日休市。", link="", title="休市公告", date="Tue, 15 Mar 2022 08:00:00 +0800"
    )
    together = Retriever.open(tmp_path / "a", semantic=False)
    assert together.add(parse_feed(rss(day1 + day2))).added == 2
    apart = Retriever.open(tmp_path / "b", semantic=False)
    apart.add(parse_feed(rss(day1)))
    assert apart.add(parse_feed(rss(day2))).added == 1


# --- a description without a tag --------------------------------------------------


@pytest.mark.parametrize("sign", ["A&lt;B", "x&lt;y", "市盈率&lt;PE均值"])
def test_a_less_than_sign_before_a_letter_keeps_the_paragraphs(sign: str) -> None:
    desc = f"第一段:估值显示{sign},翡翠银行被低估。\n\n第二段:琥珀证券换帅。"
    (article,) = parse_feed(rss(item("2", desc)))
    assert len(article.paragraphs) == 2, article.paragraphs


# --- CST ---------------------------------------------------------------------------


def test_a_record_saved_without_an_offset_is_dated_in_utc() -> None:
    from datetime import UTC, datetime

    from retrieval.records import published, summary

    naive, aware = {"published": "2022-01-01T08:00:00"}, {"published": "2022-01-01T09:00:00+08:00"}
    assert published(naive) == datetime(2022, 1, 1, 8, tzinfo=UTC)
    assert summary([naive, aware], paragraphs=2, segments=1)["first"] == published(aware)


def test_the_newest_titles_come_without_their_closing_punctuation() -> None:
    from retrieval.records import newest_titles

    records = [
        {"title": "旧闻。", "published": "2020-01-01"},
        {"title": " 新闻？! ", "published": None},
    ]
    assert list(newest_titles(records)) == ["旧闻", "新闻"]


def test_a_guid_that_is_a_web_address_is_the_link_of_an_item_without_one() -> None:
    entry = "<item><title>甲</title><guid>https://jia.example/n/1.html</guid><description>乙</description></item>"
    assert parse_feed(rss(entry))[0].link == "https://jia.example/n/1.html"


def test_a_relative_channel_link_is_resolved_against_the_feed_s_address() -> None:
    feed = rss(
        item("1", "正文", link="news/2.html"), channel="<title>甲报</title><link>/zh/</link>"
    )
    report = parse_feed_report(feed, base="https://jia.example/rss.xml")
    assert report.articles[0].link == "https://jia.example/zh/news/2.html"
    assert report.articles[0].id == "https://jia.example/zh/#1"


def test_a_problem_names_an_item_by_its_title_cut_past_twenty_characters() -> None:
    from corpus.items import item_label

    assert item_label(3, "一" * 20) == f'item 3 ("{"一" * 20}")'
    assert item_label(3, "一" * 21) == f'item 3 ("{"一" * 20}…")'
    assert item_label(3, "") == "item 3"


def test_cst_in_lower_case_is_china_time_too() -> None:
    from datetime import UTC, datetime

    (article,) = parse_feed(rss(item("2", OLD_TEXT, date="Mon, 14 Mar 2022 08:30:00 cst")))
    assert article.published.astimezone(UTC) == datetime(2022, 3, 14, 0, 30, tzinfo=UTC)


# --- the log size a writer last saw ----------------------------------------------------


def test_a_refreshed_reader_does_not_reopen_the_library_at_every_write(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bot answers (refresh) and ingests (its periodic feed refresh). After one refresh
    that took up another process's ingest, every later write of the bot opens the whole
    library again (index and full log), even with nothing new: `_adopt` keeps the old
    `_log_size`, which `_catch_up` compares."""
    lib = tmp_path / "lib"
    mine = Article(id="https://x.example/1", title="一", link="https://x.example/1",
                   paragraphs=["海鸥银行发布新产品。"])  # fmt: skip
    Retriever.open(lib, semantic=False).add([mine])
    bot = Retriever.open(lib, semantic=False, catch_up=False)
    other = Article(id="https://y.example/1", title="二", link="https://y.example/1",
                    paragraphs=["云雀证券发布新产品。"])  # fmt: skip
    code = (f"from retrieval import Retriever; from corpus import Article\n"
            f"Retriever.open({str(lib)!r}, semantic=False).add([Article.model_validate_json({other.model_dump_json()!r})])")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True)
    assert bot.refresh()
    opened: list = []
    real = library.open_at
    monkeypatch.setattr(library, "open_at", lambda *a, **k: opened.append(k) or real(*a, **k))
    for _ in range(3):
        assert bot.add([mine]).unchanged == 1
    assert opened == []
