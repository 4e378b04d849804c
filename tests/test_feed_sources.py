"""Feeds as they are found in the wild: shared guids, wrong encoding names, Chinese dates,
one-line doctypes, relative links, slow redirects and downloads cut short.

Only 127.0.0.1 is ever contacted (a local server fixture)."""

import http.server
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from conftest import serving

from corpus import FetchError, load_feed_report, parse_feed, parse_feed_report

CST = timezone(timedelta(hours=8))

pytestmark = pytest.mark.usefixtures("no_proxies")  # the local server, never a proxy


def rss(
    items: str, *, head: str = '<?xml version="1.0" encoding="utf-8"?>', channel: str = ""
) -> str:
    return (
        f'{head}<rss version="2.0"><channel><title>测试源</title>{channel}{items}</channel></rss>'
    )


def item(n: int, *, guid: str = "", link: str = "", date: str = "", text: str = "") -> str:
    parts = [f"<title>第{n}篇</title>"]
    if link:
        parts.append(f"<link>{link}</link>")
    if guid:
        parts.append(f'<guid isPermaLink="false">{guid}</guid>')
    if date:
        parts.append(f"<pubDate>{date}</pubDate>")
    parts.append(f"<description>{text or f'第{n}篇文章的正文。'}</description>")
    return "<item>" + "".join(parts) + "</item>"


# --- guids of one feed's own -----------------------------------------


def test_items_of_two_feeds_sharing_a_local_guid_both_stay(tmp_path) -> None:
    """guid "1" of one paper is not guid "1" of another: the second must not replace the first."""
    from retrieval import Retriever

    jia = rss(
        item(1, guid="1", link="https://jia.example/news/1.html",
             text="翡翠银行2021年净利润为88亿元,同比增长12%。"),
        channel="<link>https://jia.example/</link>",
    )  # fmt: skip
    yi = rss(
        item(1, guid="1", link="https://yi.example/a/1.html",
             text="琥珀证券宣布由王海鸥接任首席执行官。"),
        channel="<link>https://yi.example/</link>",
    )  # fmt: skip
    library = Retriever.open(tmp_path / "lib", semantic=False)
    library.add(parse_feed(jia, source="jia.xml"))
    added = library.add(parse_feed(yi, source="yi.xml"))
    assert (added.added, added.updated) == (1, 0)
    assert "88亿元" in library.ask("翡翠银行2021年净利润是多少?").text


def test_an_article_stored_under_its_bare_guid_is_the_same_article(tmp_path) -> None:
    """A library written when ids were bare guids: the feed read again neither duplicates
    its articles nor loses them."""
    from retrieval import Retriever

    feed = rss(
        item(1, guid="1", link="https://jia.example/news/1.html", text="翡翠银行净利润为88亿元。"),
        channel="<link>https://jia.example/</link>",
    )
    (article,) = parse_feed(feed, source="jia.xml")
    assert article.id == "https://jia.example/#1"
    library = Retriever.open(tmp_path / "lib", semantic=False)
    library.add([article.model_copy(update={"id": "1"})])
    stored = library.info()["articles"]
    again = library.add([article])
    assert (again.added, again.updated, again.unchanged) == (0, 0, 1)
    changed = article.model_copy(update={"paragraphs": ["翡翠银行净利润为89亿元。"]})
    assert library.add([changed]).updated == 1
    assert library.info()["articles"] == stored


def test_a_feed_that_renames_its_items_at_every_fetch_adds_no_copies(tmp_path) -> None:
    """Some feeds make new guids at every request: the same link and text is the same article."""
    from retrieval import Retriever

    def fetched(guid: str) -> str:
        text = "翡翠银行净利润为88亿元。"
        return rss(item(1, guid=guid, link="https://jia.example/news/1.html", text=text))

    library = Retriever.open(tmp_path / "lib", semantic=False)
    assert library.add(parse_feed(fetched("a1b2"))).added == 1
    stored = library.info()["articles"]
    again = library.add(parse_feed(fetched("c3d4")))
    assert (again.added, again.updated, again.unchanged) == (0, 0, 1)
    assert library.info()["articles"] == stored


# --- 2. a wrong or odd encoding name ----------------------------------------------------------


@pytest.mark.parametrize("declared", ["utf-16", "UTF-16", "utf-32", "utf-16le"])
@pytest.mark.parametrize("pad", ["", " "])  # odd and even lengths fail differently
def test_utf8_bytes_declared_utf16_are_read_as_utf8(declared: str, pad: str) -> None:
    """.NET's StringWriter writes encoding="utf-16" into XML that is then sent as UTF-8."""
    data = (
        rss(
            item(1, link="https://x.example/1"), head=f'<?xml version="1.0" encoding="{declared}"?>'
        )
        + pad
    ).encode()
    assert [a.title for a in parse_feed(data)] == ["第1篇"]


@pytest.mark.parametrize(
    "declared", ["base64", "hex", "zlib", "rot13", "undefined", "idna", "punycode"]
)
@pytest.mark.parametrize("where", ["declaration", "server"])
def test_a_codec_that_is_no_text_encoding_is_ignored(declared: str, where: str) -> None:
    """A declared codec that cannot read the declaration itself is passed over."""
    if where == "declaration":
        head = f'<?xml version="1.0" encoding="{declared}"?>'
        report = parse_feed_report(rss(item(1, link="https://x.example/1"), head=head).encode())
    else:
        data = rss(item(1, link="https://x.example/1")).encode()
        report = parse_feed_report(data, charset=declared)
    assert [a.title for a in report.articles] == ["第1篇"]


def test_ingest_reads_the_feeds_after_a_feed_with_a_wrong_declaration(
    tmp_path, monkeypatch
) -> None:
    """One line per bad feed, never a traceback; the good feed after it is read."""
    from bot.cli import cli

    monkeypatch.setenv("FEEDQA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    bad = tmp_path / "u16.xml"
    bad.write_bytes(
        (
            rss(item(1, link="https://x.example/u"), head='<?xml version="1.0" encoding="utf-16"?>')
            + " "
        ).encode()
    )
    if len(bad.read_bytes()) % 2 == 0:
        bad.write_bytes(bad.read_bytes() + b" ")
    good = tmp_path / "good.xml"
    good.write_text(
        rss(item(2, link="https://x.example/g", text="碧玺支付获得了支付牌照。")), "utf-8"
    )
    result = CliRunner().invoke(cli, ["ingest", str(bad), str(good)])
    assert not isinstance(result.exception, UnicodeError), result.exception
    assert f"{good}: 1 articles: 1 new" in result.output


# --- 3. dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2022/03/14 08:30", datetime(2022, 3, 14, 8, 30, tzinfo=UTC)),
        ("2022年03月14日 08:30", datetime(2022, 3, 14, 8, 30, tzinfo=UTC)),
        ("2022.03.14", datetime(2022, 3, 14, tzinfo=UTC)),
        ("2022/3/5", datetime(2022, 3, 5, tzinfo=UTC)),
    ],
)
def test_a_chinese_style_date_is_never_read_as_another_day(
    written: str, expected: datetime
) -> None:
    """Read as written (no offset: UTC), never as feedparser's 1 December of that year."""
    report = parse_feed_report(rss(item(1, link="https://d.example/1", date=written)))
    published = report.articles[0].published
    assert published == expected or (published is None and report.problems)


@pytest.mark.parametrize(
    "written",
    ["Mon, 14 Mar 2022 08:30:00 CST", "Mon Mar 14 08:30:00 CST 2022", "2022-03-14 08:30:00 CST"],
)
def test_cst_is_china_standard_time(written: str) -> None:
    """A Chinese feed's CST (Java's default date text in China) is UTC+8, not US Central."""
    report = parse_feed_report(rss(item(1, link="https://d.example/1", date=written)))
    assert report.articles[0].published == datetime(2022, 3, 14, 8, 30, tzinfo=CST)


def test_a_two_digit_year_with_a_numeric_offset_is_read() -> None:
    """The offset (+0800) is not taken for the year."""
    report = parse_feed_report(
        rss(item(1, link="https://d.example/1", date="Tue, 15 Mar 22 09:00:00 +0800"))
    )
    assert report.problems == []
    assert report.articles[0].published == datetime(2022, 3, 15, 9, 0, tzinfo=CST)


# --- 4. text ----------------------------------------------------------------------------------


def test_a_doctype_on_the_declaration_line_keeps_named_entities() -> None:
    """A one-line feed's DOCTYPE is read as on its own line: named entities are kept."""
    head = (
        '<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
        '"http://my.netscape.com/publish/formats/rss-0.91.dtd">'
    )
    feed = rss(
        item(1, link="https://e.example/1", text="Hello&nbsp;world 旧正文&mdash;二"), head=head
    )
    assert parse_feed(feed)[0].paragraphs == ["Hello world 旧正文—二"]


def test_an_atom_feed_title_in_html_is_plain_text() -> None:
    feed = (
        '<feed xmlns="http://www.w3.org/2005/Atom"><title type="html">海潮&lt;b&gt;科技&lt;/b&gt;报 &amp;amp; 快讯</title>'
        '<entry><id>https://h.example/1</id><title>标题</title><link href="https://h.example/1"/>'
        '<content type="html">&lt;p&gt;正文。&lt;/p&gt;</content></entry></feed>'
    )
    assert parse_feed(feed)[0].source == "海潮科技报 & 快讯"


def test_an_atom_entry_without_a_link_is_not_said_to_have_a_bad_one() -> None:
    feed = (
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>'
        "<entry><id>tag:h.example,2022:1</id><title>标题</title>"
        '<content type="html">&lt;p&gt;正文。&lt;/p&gt;</content></entry></feed>'
    )
    report = parse_feed_report(feed)
    assert not any("not a web address" in p for p in report.problems), report.problems


# --- 5. fetching ------------------------------------------------------------------------------

FEED = rss(item(1, link="/news/1.html") + item(2, link="https://x.example/2")).encode()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/feed":
            self.send_response(200)
            self.send_header("Content-Length", str(len(FEED)))
            self.end_headers()
            self.wfile.write(FEED)
        elif self.path == "/moved":
            self.send_response(301)
            self.send_header("Location", "/feeds/feed")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/feeds/feed":
            self.path = "/feed"
            self.do_GET()
        elif self.path.startswith("/slow-redirect"):
            time.sleep(0.3)
            self.send_response(302)
            self.send_header("Location", "/slow-redirect")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/drip":  # a tarpit: the status line, then a byte at a time
            try:
                for b in b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 40:
                    self.wfile.write(bytes([b]))
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass
            self.close_connection = True
        elif self.path in ("/nowhere", "/busy"):
            self.send_response(302 if self.path == "/nowhere" else 429)
            if self.path == "/busy":
                self.send_header("Retry-After", "120")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/cut":  # every item sent, then the connection drops mid-body
            cut = FEED.rindex(b"</channel>")
            self.send_response(200)
            self.send_header("Content-Length", str(len(FEED)))
            self.end_headers()
            self.wfile.write(FEED[:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        else:
            self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serving(_Handler) as url:
        yield url


def test_a_relative_link_is_resolved_against_the_feed_address(server: str) -> None:
    first = load_feed_report(f"{server}/feed").articles[0]
    assert first.link == f"{server}/news/1.html"
    assert load_feed_report(f"{server}/moved").articles[0].link == f"{server}/news/1.html"


@pytest.mark.parametrize("path", ["/slow-redirect", "/drip"])
def test_the_deadline_covers_the_redirects_and_the_headers(server: str, path: str) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match="the deadline|timed out"):
        load_feed_report(f"{server}{path}", timeout=1, deadline=1)
    assert time.monotonic() - started < 2.5


def test_a_download_cut_short_keeps_its_complete_items(server: str) -> None:
    """As a truncated file does; the cut is reported."""
    report = load_feed_report(f"{server}/cut")
    assert [a.title for a in report.articles] == ["第1篇", "第2篇"]
    assert report.problems  # the cut is reported


def test_a_plain_text_description_keeps_its_paragraphs() -> None:
    """RSS calls every description HTML; one without a tag is text, split at blank lines."""
    text = "云栖支付完成C轮融资。\n\n本轮由晨光资本领投 &amp; 跟投。\n\n资金将用于风控。"
    (article,) = parse_feed(rss(item(1, link="https://p.example/1", text=text)))
    assert article.paragraphs == [
        "云栖支付完成C轮融资。",
        "本轮由晨光资本领投 & 跟投。",
        "资金将用于风控。",
    ]
    html = "<p>第一段。</p>\n\n<p>第二段。</p>"
    (article,) = parse_feed(
        rss(item(2, link="https://p.example/2", text=html.replace("<", "&lt;")))
    )
    assert article.paragraphs == ["第一段。", "第二段。"]


@pytest.mark.parametrize(
    ("path", "said"),
    [
        ("/nowhere", "HTTP 302 Found without a Location to go to"),
        ("/busy", "HTTP 429 Too Many Requests (the server asks to wait 120 s)"),
    ],
)
def test_an_answer_that_is_no_feed_is_said_as_such(server: str, path: str, said: str) -> None:
    with pytest.raises(FetchError) as caught:
        load_feed_report(f"{server}{path}")
    assert str(caught.value) == f"cannot fetch {server}{path}: {said}"
