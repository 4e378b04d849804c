"""Tests for the feed ingestion layer (corpus.feeds and corpus.html)."""

import hashlib
import http.server
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from conftest import serving

from corpus import (
    Article,
    FeedError,
    FeedReport,
    FetchError,
    bundled_feed_path,
    fetch_feed,
    load_feed,
    load_feed_report,
    parse_feed,
    parse_feed_report,
)
from corpus.html import collapse_space, html_to_paragraphs, html_to_text, text_to_paragraphs

pytestmark = pytest.mark.usefixtures("no_proxies")  # the local server, never a proxy

DATA = Path(__file__).parent / "data"
CST = timezone(timedelta(hours=8))


def read(name: str) -> bytes:
    """Bytes of a fixture file."""
    return (DATA / name).read_bytes()


# ---------------------------------------------------------------------------
# RSS 2.0


def test_rss_items_exact() -> None:
    report = parse_feed_report(read("tiny.rss.xml"), source="tiny.rss.xml")
    assert report.problems == []
    assert report.articles == [
        Article(
            id="https://news.xinghe.example/#xinghe-1001",
            title="云栖支付完成C轮融资 & 估值破百亿",
            link="https://news.xinghe.example/fintech/1001.html",
            published=datetime(2022, 3, 14, 8, 30, tzinfo=CST),
            category="金融科技",
            source="星河财经",
            paragraphs=[
                "云栖支付今日宣布完成5亿元C轮融资,由晨光资本领投。",
                "公司表示,本轮资金将用于跨境支付&风控系统建设。",
                "预计年底前覆盖东南亚市场。",
                "创始人林晓峰称:“融资<只是开始>。”",
            ],
        ),
        Article(
            id="https://news.xinghe.example/fintech/1002.html",
            title="青松银行上线AI客服",
            link="https://news.xinghe.example/fintech/1002.html",
            published=datetime(2022, 3, 13, 21, 15, tzinfo=CST),
            category="银行",
            source="星河财经",
            paragraphs=["青松银行的AI客服已接入手机银行。", "首月服务用户超过20万人次。"],
        ),
        Article(
            id="https://news.xinghe.example/fintech/1003.html",
            title="蓝鲸保险发布2021年报",
            link="https://news.xinghe.example/fintech/1003.html",
            published=datetime(2022, 3, 12, 10, 0, tzinfo=CST),
            category="",
            source="星河财经",
            paragraphs=[
                "业绩概览",
                "保费收入120亿元,同比增长8%;",
                "净利润9.3亿元。",
                "蓝鲸保险表示,将继续加大科技投入。",
            ],
        ),
    ]


def test_an_article_is_made_well_formed_on_entry(tmp_path: Path) -> None:
    from retrieval import Retriever

    odd = Article(
        id="odd-\udc80", title="京东\x00科技\ud800", link="https://x.example/\ud800",
        category="\udfff", source="源\ud800", published=datetime(2030, 1, 1),  # no offset
        paragraphs=["京东\ud800科技\x00计划上市。", "\ud83d\ude00 表情"],
    )  # fmt: skip
    assert odd.title == "京东科技\ufffd" and odd.paragraphs == [
        "京东\ufffd科技计划上市。",
        "😀 表情",
    ]
    assert odd.id == "odd-\ufffd" and odd.link == "https://x.example/\ufffd"
    assert odd.published == datetime(2030, 1, 1, tzinfo=UTC)  # read as UTC
    aware = Article(
        id="aware", title="腾讯财报", link="https://x.example/2",
        published=datetime(2030, 1, 2, 8, tzinfo=timezone(timedelta(hours=8))),
        paragraphs=["腾讯发布季度财报。"],
    )  # fmt: skip
    library = Retriever.open(tmp_path / "lib", semantic=False)
    library.add([odd, aware])
    assert library.info()["last"] == aware.published
    assert "\x00" not in library.ask("京东科技计划做什么?").text
    assert Retriever.open(tmp_path / "lib", semantic=False).info()["articles"] == 51


def test_bidirectional_controls_never_reach_the_text() -> None:
    rlo = Article(id="b", title="标题\u202e反转\u202c", link="https://b.example/1",
                  paragraphs=["正文\u2066隔离\u2069,\u200f方向"])  # fmt: skip
    assert rlo.title == "标题反转" and rlo.paragraphs == ["正文隔离,方向"]


def test_a_feed_given_as_text_with_a_lone_surrogate_is_read() -> None:
    text = read("tiny.rss.xml").decode("utf-8").replace("晨光资本", "晨光\ud800资本", 1)
    assert "晨光\ufffd资本" in parse_feed(text)[0].paragraphs[0]


def test_rss_dates_keep_their_offset() -> None:
    first = parse_feed(read("tiny.rss.xml"))[0]
    assert first.published is not None
    assert first.published.utcoffset() == timedelta(hours=8)
    assert first.published.isoformat() == "2022-03-14T08:30:00+08:00"


def test_rss_content_encoded_is_preferred_over_description() -> None:
    first = parse_feed(read("tiny.rss.xml"))[0]
    assert "云栖支付宣布完成C轮融资。" not in first.paragraphs
    assert not any("trackView" in p for p in first.paragraphs)


# ---------------------------------------------------------------------------
# Atom


def test_atom_entries_exact() -> None:
    report = parse_feed_report(read("tiny.atom.xml"))
    assert report.problems == []
    assert report.articles == [
        Article(
            id="tag:haichao.example,2022:2001",
            title="橙子数科推出供应链金融平台",
            link="https://haichao.example/news/2001",
            published=datetime(2022, 3, 20, 9, 30, tzinfo=CST),
            category="供应链",
            source="海潮科技报",
            paragraphs=[
                "橙子数科3月20日发布“橙链”供应链金融平台。",
                "平台首批接入了 30家核心企业。",
            ],
        ),
        Article(
            id="tag:haichao.example,2022:2002",
            title="北辰证券数字化转型提速",
            link="https://haichao.example/news/2002",
            published=datetime(2022, 3, 19, 16, 0, tzinfo=UTC),
            category="",
            source="海潮科技报",
            paragraphs=[
                "北辰证券今年将投入3亿元建设云平台。",
                "公司CTO赵明远表示,核心交易系统将于年内完成迁移。",
            ],
        ),
        Article(
            id="tag:haichao.example,2022:2003",
            title="远山消费金融获批开业",
            link="https://haichao.example/news/2003",
            published=datetime(2022, 3, 18, 8, 0, tzinfo=timezone(timedelta(hours=-5))),
            category="",
            source="海潮科技报",
            paragraphs=["远山消费金融公司已获监管批复,注册资本10亿元。"],
        ),
    ]


def test_atom_published_wins_over_updated() -> None:
    first = parse_feed(read("tiny.atom.xml"))[0]
    assert first.published == datetime(2022, 3, 20, 9, 30, tzinfo=CST)


# ---------------------------------------------------------------------------
# Damaged XML feeds


def test_truncated_feed_keeps_the_complete_items() -> None:
    report = parse_feed_report(read("truncated.rss.xml"))
    assert [a.title for a in report.articles] == ["金桥科技发布开放银行平台", "白鹭钱包用户破千万"]
    assert report.articles[0].paragraphs == [
        "金桥科技今日发布开放银行平台。",
        "已有12家城商行接入。",
    ]
    assert report.articles[1].paragraphs == [
        "白鹭钱包注册用户突破1000万。",
        "其中三成来自县域市场。",
    ]
    assert report.articles[1].published == datetime(2022, 3, 15, 11, 20, tzinfo=CST)
    assert report.problems == ['item 3 ("紫藤征信获得个人征信牌照"): cut off before its end tag']


def test_truncated_feed_cut_outside_cdata() -> None:
    text = read("tiny.rss.xml").decode("utf-8")
    cut = text.index("<title>蓝鲸保险") + len("<title>蓝鲸保险发布2021年报</title>")
    report = parse_feed_report(text[:cut])
    assert [a.id for a in report.articles] == [
        "https://news.xinghe.example/#xinghe-1001",
        "https://news.xinghe.example/fintech/1002.html",
    ]
    assert report.articles == parse_feed(read("tiny.rss.xml"))[:2]
    assert report.problems == ['item 3 ("蓝鲸保险发布2021年报"): cut off before its end tag']


def test_bad_items_are_reported_and_later_items_recovered() -> None:
    report = parse_feed_report(read("feeds-bad-items.rss.xml"))
    assert report.problems == [
        'item 2 ("赤霞支付遭遇系统故障"): malformed XML (mismatched tag); skipped',
        "item 3: no title and no text",
        'item 4 ("海蓝基金更换总经理"): no text',
    ]
    first, last = report.articles
    # A relative link is resolved against the channel link.
    assert first.link == "https://news.xinghe.example/fintech/4001.html"
    assert first.id == first.link
    assert first.published is None
    # No guid and no link: the id is a hash of the title and text.
    assert last.title == "云帆科技发布风控大模型"
    assert last.link == ""
    expected = hashlib.sha1(
        "云帆科技发布风控大模型\n云帆科技发布面向中小银行的风控大模型。".encode()
    )
    assert last.id == expected.hexdigest()


def test_items_sharing_a_link_are_read_once_and_reported() -> None:
    def item(title: str, text: str, date: str) -> str:
        return (
            f"<item><title>{title}</title><link>https://x.example/1.html</link>"
            f"<pubDate>{date}</pubDate><description>{text}</description></item>"
        )

    feed = (
        "<rss><channel><title>t</title>"
        + item("旧标题", "第一版正文。", "Mon, 14 Mar 2022 08:00:00 +0800")
        + item("新标题", "第二版正文。", "Mon, 14 Mar 2022 09:00:00 +0800")
        + item("另一篇", "别的正文。", "Mon, 14 Mar 2022 07:00:00 +0800").replace(
            "1.html", "2.html"
        )
        + "</channel></rss>"
    )
    report = parse_feed_report(feed)
    assert [a.title for a in report.articles] == ["新标题", "另一篇"]  # the newer copy
    assert report.problems == ['"旧标题": same id as "新标题", which is newer; skipped']


def test_an_item_without_title_or_web_link_is_kept_and_reported() -> None:
    feed = (
        "<rss><channel><title>t</title><link>https://x.example/</link>"
        "<item><link>javascript:alert(1)</link><guid>g1</guid>"
        "<description>只有正文的一条新闻。</description></item>"
        "<item><title>有标题</title><link>data:text/html,hi</link><guid>g2</guid>"
        "<description>另一条新闻。</description></item>"
        "</channel></rss>"
    )
    report = parse_feed_report(feed)
    assert [(a.title, a.link) for a in report.articles] == [("", ""), ("有标题", "")]
    assert report.problems == [
        "item 1: no title; cited as untitled",
        "item 1: link 'javascript:alert(1)' is not a web address; cited without a link",
        "item 2 (\"有标题\"): link 'data:text/html,hi' is not a web address; cited without a link",
    ]


def test_an_item_longer_than_a_book_is_cut_and_reported(monkeypatch) -> None:
    from corpus import feeds

    monkeypatch.setattr(feeds, "MAX_ARTICLE_CHARS", 100)
    paragraphs = "".join(f"<p>第{i}段。{'字' * 36}</p>" for i in range(10))  # 40 characters each
    feed = (
        "<rss><channel><title>t</title><item><title>长文</title><guid>g</guid>"
        f"<description><![CDATA[{paragraphs}]]></description></item></channel></rss>"
    )
    report = parse_feed_report(feed)
    [article] = report.articles
    assert [p[:3] for p in article.paragraphs] == ["第0段", "第1段"]  # whole paragraphs
    assert report.problems == [
        '"长文": 400 characters of text; only its first 2 paragraphs (80) are kept'
    ]
    one = feed.replace("</p><p>", "")  # a single paragraph longer than the limit: its start
    [article] = parse_feed_report(one).articles
    assert [len(p) for p in article.paragraphs] == [100]


def test_undefined_entity_is_reported_but_item_kept() -> None:
    xml = (
        '<rss version="2.0"><channel><title>T</title>'
        "<item><title>甲&nbsp;乙</title><description>正文&nbsp;一</description></item>"
        "<item><title>丙</title><description>正文二</description></item>"
        "</channel></rss>"
    )
    report = parse_feed_report(xml)
    assert [a.title for a in report.articles] == ["甲 乙", "丙"]
    assert report.problems == [
        'item 1 ("甲 乙"): malformed XML (undefined entity); kept what could be read'
    ]


# ---------------------------------------------------------------------------
# Not a feed


@pytest.mark.parametrize(
    "data",
    [
        b"",
        "",
        "   \n\t ",
        b"\xef\xbb\xbf  ",
        b"<html><body><p>Hello</p></body></html>",
        "<<<>>>",
        '<?xml version="1.0"?><rss',
        "plain words, no feed here",
    ],
)
def test_not_a_feed_raises_feed_error(data: str | bytes) -> None:
    with pytest.raises(FeedError, match=r"^not an RSS/Atom feed: <data>: \S"):
        parse_feed(data)


@pytest.mark.parametrize(
    "data",
    [
        '<?xml version="1.0"?><rss version="2.0"><channel><title>空</title></channel></rss>',
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>空</title></feed>',
    ],
)
def test_a_feed_without_items_is_called_empty_not_no_feed(data: str) -> None:
    with pytest.raises(
        FeedError, match=r"^no usable items in feed: <data>: the feed has no items$"
    ):
        parse_feed(data)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (
            '<rss version="2.0"><channel><title>甲&nbsp;乙</title></channel></rss>',
            "undefined entity",
        ),
        ('<rss version="2.0"><channel><title>甲</title>', "no element found"),
    ],
)
def test_a_feed_without_items_and_with_an_xml_fault_is_called_empty_with_the_fault(
    data: str, why: str
) -> None:
    """An `&nbsp;` in an empty feed's title made it "not an RSS/Atom feed"."""
    with pytest.raises(FeedError) as info:
        parse_feed(data)
    assert str(info.value) == (
        f"no usable items in feed: <data>: the feed has no items (its XML is malformed: {why})"
    )


def test_not_a_feed_file_names_the_file() -> None:
    path = DATA / "not-a-feed.txt"
    with pytest.raises(FeedError) as info:
        load_feed(path)
    message = str(info.value)
    assert message.startswith(f"not an RSS/Atom feed: {path}: ")
    assert "\n" not in message


def test_feed_whose_items_are_all_bad_raises() -> None:
    xml = '<rss version="2.0"><channel><title>T</title><item><title>只有标题</title></item></channel></rss>'
    with pytest.raises(
        FeedError, match=r'no usable items in feed: x\.xml: item 1 \("只有标题"\): no text'
    ):
        parse_feed(xml, source="x.xml")


def test_missing_file_raises_feed_error() -> None:
    with pytest.raises(FeedError, match="cannot read feed file"):
        load_feed(DATA / "no-such-feed.xml")


def test_parse_feed_never_fetches_urls() -> None:
    with pytest.raises(FeedError, match="not an RSS/Atom feed"):
        parse_feed("http://127.0.0.1:9/feed.xml")


def test_parse_feed_rejects_other_types_with_a_feedqa_error() -> None:
    """A TypeError, and a FeedqaError as the README says every error is."""
    from corpus.errors import FeedqaError

    with pytest.raises(TypeError, match="feed data must be str or bytes, not int") as caught:
        parse_feed(123)  # type: ignore[arg-type]
    assert isinstance(caught.value, FeedqaError)


@pytest.mark.parametrize(
    "limits, name",
    [
        ({"timeout": "5"}, "timeout"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": 0}, "timeout"),
        ({"deadline": None}, "deadline"),
        ({"deadline": float("nan")}, "deadline"),
        ({"max_bytes": "1000"}, "max_bytes"),
        ({"max_bytes": -1}, "max_bytes"),
        ({"max_bytes": 1.5}, "max_bytes"),
    ],
)
def test_load_feed_refuses_limits_of_the_wrong_type_or_value_by_name(
    limits: dict, name: str
) -> None:
    """load_feed(url, timeout="5") raised a bare TypeError from inside the fetch, timeout=-1
    socket's "Timeout value out of range", max_bytes="1000" a TypeError reading a file."""
    from corpus.errors import ArgumentError

    for source in ("http://127.0.0.1:9/feed.xml", str(DATA / "tiny.rss.xml")):
        with pytest.raises(ArgumentError, match=f"{name} must be"):
            load_feed(source, **limits)


# ---------------------------------------------------------------------------
# Input forms and encodings


@pytest.mark.parametrize(
    "name", ["tiny.rss.xml", "tiny.atom.xml", "truncated.rss.xml", "tiny-stripped.txt"]
)
def test_bytes_str_and_path_give_the_same_result(name: str) -> None:
    path = DATA / name
    raw = path.read_bytes()
    by_bytes = load_feed_report(raw)
    by_text = load_feed_report(raw.decode("utf-8"))
    by_path = load_feed_report(path)
    by_str_path = load_feed_report(str(path))
    assert by_bytes == by_text == by_path == by_str_path
    assert by_bytes.articles == parse_feed(raw) == load_feed(path)


@pytest.mark.parametrize("name", ["tiny.rss.xml", "tiny-stripped.txt"])
def test_crlf_and_bom_make_no_difference(name: str) -> None:
    raw = read(name)
    crlf = b"\xef\xbb\xbf" + raw.replace(b"\n", b"\r\n")
    assert parse_feed(crlf) == parse_feed(raw)


def test_xml_text_with_a_foreign_encoding_declaration() -> None:
    xml = (
        '<?xml version="1.0" encoding="gb2312"?><rss version="2.0"><channel><title>测试台</title>'
        "<item><title>标题一</title><link>https://a.example/1</link>"
        "<description>正文一。</description></item></channel></rss>"
    )
    from_text = parse_feed(xml)
    from_gb_bytes = parse_feed(xml.encode("gb18030"))
    assert from_text == from_gb_bytes
    assert [(a.title, a.source, a.paragraphs) for a in from_text] == [
        ("标题一", "测试台", ["正文一。"])
    ]


def test_feed_report_is_frozen() -> None:
    report = FeedReport(articles=[], problems=[])
    with pytest.raises(AttributeError):
        report.problems = ["x"]  # type: ignore[misc]


# ---------------------------------------------------------------------------
# Tag-stripped feed text


def test_stripped_items_exact() -> None:
    report = parse_feed_report(read("tiny-stripped.txt"))
    base = "https://www.haichao.example/category/Fintech/"
    assert report.problems == []
    assert report.articles == [
        Article(
            id=base + "aB3dE5fG7hJ9kL1m.html",
            title="橙子数科获批设立理财子公司",
            link=base + "aB3dE5fG7hJ9kL1m.html",
            published=datetime(2022, 3, 20, 18, 30, tzinfo=CST),
            category="金融科技",
            source="海潮快讯",
            paragraphs=[
                "3月20日,橙子数科宣布旗下理财子公司获批筹建。",
                "该公司注册资本为10亿元,由橙子数科全资持有。",
                "业内人士认为,此举将补齐其财富管理业务的短板。",
            ],
        ),
        Article(
            id=base + "Zx8Yw6Vu4Ts2Rq0P.html",
            title="北辰证券 AI 投顾上线",
            link=base + "Zx8Yw6Vu4Ts2Rq0P.html",
            published=datetime(2022, 3, 19, 9, 5, tzinfo=CST),
            category="金融科技",
            source="海潮快讯",
            paragraphs=[
                "北辰证券的AI投顾服务已在手机App上线,首批开放给5万名客户。",
                "• 支持基金组合诊断;",
                "• 支持7×24小时问答。",
            ],
        ),
        Article(
            id=base + "Mn5Bv7Cx9Lk3Jh1G.html",
            title="远山银行发布绿色信贷报告",
            link=base + "Mn5Bv7Cx9Lk3Jh1G.html",
            published=datetime(2022, 3, 18, 20, 0, tzinfo=CST),
            category="金融科技",
            source="海潮快讯",
            paragraphs=[
                "远山银行2021年绿色信贷余额达到320亿元,同比增长45%。",
                "详情见 https://www.yuanshan-bank.example/report/2021",
            ],
        ),
    ]


def test_stripped_truncated_item_is_kept_without_date() -> None:
    report = parse_feed_report(read("feeds-stripped-truncated.txt"))
    assert [a.title for a in report.articles] == [
        "橙子数科获批设立理财子公司",
        "北辰证券 AI 投顾上线",
        "远山银行发布绿色信贷报告",
    ]
    last = report.articles[-1]
    assert last.link == "https://www.haichao.example/category/Fintech/Mn5Bv7Cx9Lk3Jh1G.html"
    assert last.published is None
    assert last.paragraphs == ["远山银行2021年绿色信贷余额达到320亿元,同比增长45%。", "详情见"]
    assert report.problems == [
        'item 3 ("远山银行发布绿色信贷报告"): '
        "no '#comments' line after it (feed cut off?); kept without a date"
    ]


def test_stripped_item_without_text_is_skipped() -> None:
    text = read("tiny-stripped.txt").decode("utf-8")
    start = text.index("远山银行2021年")
    end = text.index("]]>", start)
    report = parse_feed_report(text[:start] + "\n" + text[end:])
    assert len(report.articles) == 2
    assert report.problems == ['item 3 ("远山银行发布绿色信贷报告"): no text']


def test_stripped_fragment_without_channel_header() -> None:
    text = read("tiny-stripped.txt").decode("utf-8")
    fragment = text[text.index("北辰证券 AI") :]
    articles = parse_feed(fragment, source="fragment.txt")
    assert [(a.title, a.source) for a in articles] == [
        ("北辰证券 AI 投顾上线", "fragment.txt"),
        ("远山银行发布绿色信贷报告", "fragment.txt"),
    ]
    same_source = [a.model_copy(update={"source": "海潮快讯"}) for a in articles]
    assert same_source == parse_feed(text)[1:]


def test_stripped_header_on_its_own_line() -> None:
    text = read("tiny-stripped.txt").decode("utf-8")
    assert parse_feed(text.replace("+0800 橙子数科", "+0800\n橙子数科", 1)) == parse_feed(text)


def test_stripped_bad_date_is_reported() -> None:
    text = read("tiny-stripped.txt").decode("utf-8")
    report = parse_feed_report(text.replace("Fri, 18 Mar 2022 20:00:00 +0800", "昨天"))
    assert report.articles[-1].published is None
    assert report.problems == ["item 3 (\"远山银行发布绿色信贷报告\"): unreadable date '昨天'"]


# ---------------------------------------------------------------------------
# The bundled corpus


@pytest.fixture(scope="module")
def bundled() -> FeedReport:
    return load_feed_report(bundled_feed_path())


def test_bundled_path() -> None:
    path = bundled_feed_path()
    assert path.name == "leiphone-fintech.txt"
    assert path.parent.name == "corpus"
    assert path.is_file()


def test_bundled_feed_has_49_clean_articles(bundled: FeedReport) -> None:
    assert len(bundled.articles) == 49
    assert bundled.problems == []


def test_bundled_first_article(bundled: FeedReport) -> None:
    first = bundled.articles[0]
    assert first.title == "上市终止300天后,京东科技重启IPO"
    assert first.link == "https://www.xyschoolife.com/category/BigTech/sPmMM8JZQzS3TDis.html"
    assert first.id == first.link
    assert first.published == datetime(2022, 1, 25, 19, 10, tzinfo=CST)
    assert str(first.published) == "2022-01-25 19:10:00+08:00"
    assert first.paragraphs[0].startswith("近期有消息称,京东科技计划于2022年在港IPO")
    assert first.paragraphs[0] == "近期有消息称,京东科技计划于2022年在港IPO,募资10亿至20亿美元。"
    assert first.paragraphs[-1].endswith("更多营收状况、战略布局及业务细节将得以披露。")
    assert first.source == "雷峰网"


def test_bundled_last_article(bundled: FeedReport) -> None:
    last = bundled.articles[-1]
    assert last.title == "蚂蚁金服十四郎"
    assert str(last.published) == "2019-12-28 15:39:00+08:00"
    assert last.paragraphs[-1] == "雷锋网原创文章,未经授权禁止转载。详情见雷锋网转载须知。"


def test_bundled_item_without_first_paragraph(bundled: FeedReport) -> None:
    article = next(a for a in bundled.articles if a.title.startswith("平安科技再度出走两名"))
    assert article.paragraphs[0] == "平安科技的高层阵容,似乎没能在2021年维持平静无波的局面。"


def test_bundled_every_article_is_complete(bundled: FeedReport) -> None:
    links = [a.link for a in bundled.articles]
    assert len(set(links)) == 49
    prefix = "https://www.xyschoolife.com/category/BigTech/"
    for article in bundled.articles:
        assert article.link.startswith(prefix) and article.link.endswith(".html")
        assert article.title and " //" not in article.title
        assert article.category == "金融科技巨头"
        assert article.published is not None
        assert article.published.utcoffset() == timedelta(hours=8)
        assert article.paragraphs
        assert all(p and p == p.strip() for p in article.paragraphs)
        assert not any(p == "]]>" or "#comments" in p for p in article.paragraphs)
    dates = [a.published for a in bundled.articles]
    assert dates == sorted(dates, reverse=True)


def test_bundled_paragraph_text_is_verbatim(bundled: FeedReport) -> None:
    text = bundled_feed_path().read_text(encoding="utf-8")
    for article in bundled.articles:
        for paragraph in article.paragraphs:
            assert paragraph in text


# ---------------------------------------------------------------------------
# HTML to paragraphs


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>一</p><p>二</p>", ["一", "二"]),
        ("第一行<br>第二行<br/>第三行", ["第一行", "第二行", "第三行"]),
        ("<p>中文\n  接着写</p>", ["中文接着写"]),
        ("<p>Hello\n  world</p>", ["Hello world"]),
        ("<p>营收 100 亿元</p>", ["营收 100 亿元"]),
        ("<p>A &amp; B &lt;C&gt; &#x4E2D;&#25991; &nbsp;</p>", ["A & B <C> 中文"]),
        ("<p>a<script>alert('x')</script>b<style>p{}</style>c</p>", ["abc"]),
        ("<noscript><p>请开启脚本</p></noscript><iframe>视频</iframe>正文", ["正文"]),
        ("<ul><li>甲</li><li>乙</li></ul>", ["甲", "乙"]),
        ("<h2>标题</h2>正文<blockquote>引用</blockquote>", ["标题", "正文", "引用"]),
        (
            "<table><tr><td>收入</td><td>8亿</td></tr><tr><td>利润</td></tr></table>",
            ["收入 8亿", "利润"],
        ),
        ("<figure><img src=x><figcaption>图注</figcaption></figure>", ["图注"]),
        ("零\u200b宽\ufeff字符\x07", ["零宽字符"]),
        ("<p> </p><div>\n</div><p>&nbsp;</p>", []),
        ("<p>未闭合段落<b>加粗", ["未闭合段落加粗"]),
        ("<![foo[ x ]]><p>怪异标记</p>", ["怪异标记"]),
        ("<![foo[ x ]]><p>正文</p><script>var a = 1;", ["正文"]),  # cut inside a script
        ("<p>甲</p></script><p>乙</p>", ["甲", "乙"]),  # a stray end tag skips nothing
        ("<p>甲<noscript><div>请开启脚本</div></noscript>乙</p>", ["甲乙"]),
    ],
)
def test_html_to_paragraphs(html: str, expected: list[str]) -> None:
    assert html_to_paragraphs(html) == expected


def test_limits_in_seconds_and_whole_numbers_are_checked() -> None:
    from corpus.checks import seconds, whole
    from corpus.errors import ArgumentError

    assert seconds(0, "lock_timeout") == 0 and seconds(0.5, "timeout", zero=False) == 0.5
    assert whole(1, "max_bytes") == 1
    for value, zero in [(float("inf"), True), (-1, True), (True, True), (0, False)]:
        with pytest.raises(ArgumentError, match="0 or more" if zero else "above 0"):
            seconds(value, "timeout", zero=zero)
    for value in (True, 0, 1.0):
        with pytest.raises(ArgumentError, match="max_bytes must be a whole number, 1 or more"):
            whole(value, "max_bytes")


def test_html_to_text_and_plain_text() -> None:
    assert html_to_text("<b>橙子</b>数科<br>推出平台") == "橙子数科 推出平台"
    assert text_to_paragraphs("第一段\r\n第一段续\r\n\r\n  第二段  ") == [
        "第一段第一段续",
        "第二段",
    ]
    assert collapse_space("  a \t b\n") == "a b"
    assert collapse_space("中文\n") == "中文"  # a line end after CJK at the very end
    assert text_to_paragraphs("甲\n \t\n乙") == ["甲", "乙"]  # a blank line of spaces


# ---------------------------------------------------------------------------
# Fetching over HTTP (a local server on 127.0.0.1 only)


class _FeedHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/feed.xml":
            body = read("tiny.rss.xml")
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/moved":
            self.send_response(301)
            self.send_header("Location", "/feed.xml")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/slow":
            time.sleep(1.0)
            self.send_response(200)
            self.end_headers()
        else:
            self.send_error(404, "Not Found")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serving(_FeedHandler) as url:
        yield url


def test_fetch_feed_returns_the_bytes(server: str) -> None:
    got = fetch_feed(f"{server}/feed.xml")
    assert got.data == read("tiny.rss.xml") and got.charset == "utf-8"


def test_fetch_feed_follows_redirects(server: str) -> None:
    assert fetch_feed(f"{server}/moved").data == read("tiny.rss.xml")


def test_fetch_feed_with_own_client(server: str) -> None:
    with httpx.Client(trust_env=False) as client:
        assert fetch_feed(f"{server}/feed.xml", client=client).data == read("tiny.rss.xml")


def test_fetch_feed_404(server: str) -> None:
    with pytest.raises(FetchError, match=r"cannot fetch .*/missing\.xml: HTTP 404 Not Found$"):
        fetch_feed(f"{server}/missing.xml")


def test_fetch_feed_timeout(server: str) -> None:
    with pytest.raises(FetchError, match=r"timed out after 0\.2s fetching .*/slow"):
        fetch_feed(f"{server}/slow", timeout=0.2)


def test_fetch_feed_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/feed.xml"
    with pytest.raises(FetchError, match=rf"cannot fetch {url}: .*refused"):
        fetch_feed(url, timeout=2)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/feed.xml", "file:///etc/hostname", "feed.xml"])
def test_fetch_feed_rejects_other_schemes(url: str) -> None:
    with pytest.raises(FetchError, match="not an http"):
        fetch_feed(url)


def test_fetch_error_is_a_feed_error() -> None:
    assert issubclass(FetchError, FeedError)


def test_load_feed_from_url(server: str) -> None:
    assert load_feed(f"{server}/feed.xml") == load_feed(DATA / "tiny.rss.xml")


def test_load_feed_from_url_404(server: str) -> None:
    with pytest.raises(FetchError, match="HTTP 404"):
        load_feed(f"{server}/nothing")


def test_a_feed_file_under_a_home_relative_path_is_read(tmp_path, monkeypatch) -> None:
    """`load("~/idx")`, `save`, `open`, `connect(cluster=…)` and `default(cache_dir=…)` expand
    `~`; `load_feed("~/feed.xml")` did not ("cannot read feed file ~/feed.xml"), nor did
    FEEDQA_FEEDS=~/feeds/a.xml in a .env (no shell expands it) for the bot's refresh."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "feed.xml").write_bytes((DATA / "tiny.rss.xml").read_bytes())
    assert load_feed("~/feed.xml") == load_feed(DATA / "tiny.rss.xml")
    assert len(load_feed(Path("~/feed.xml"))) == 3


@pytest.mark.parametrize("source", [None, 5, ["feed.xml"]])
def test_a_feed_source_of_the_wrong_type_is_one_feedqa_error(source) -> None:
    """As `load(None)` and `connect(None)` are: "Every error is a FeedqaError" (the README);
    `load_feed(None)` raised os.fspath's TypeError, which names no argument."""
    with pytest.raises(FeedError, match="source must be"):
        load_feed(source)  # type: ignore[arg-type]
