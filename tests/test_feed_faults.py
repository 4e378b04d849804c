"""Feeds under faults: broken encodings, odd dates, slow or huge downloads, odd files."""

import codecs
import gzip
import http.server
import os
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import serving

from corpus import FeedError, FetchError, load_feed_report, parse_feed, parse_feed_report
from corpus.encoding import Decoded, decode_feed, decode_text, garbled_share
from retrieval import Retriever

pytestmark = pytest.mark.usefixtures("no_proxies")  # the local server, never a proxy
DATA = Path(__file__).parent / "data"
GOOD = (DATA / "tiny.rss.xml").read_bytes()


def originals() -> dict[str, object]:
    return {a.id: a for a in parse_feed(GOOD)}


# --- decoding (a truncated or mis-encoded feed never overwrites good articles) ---------------


def test_feed_cut_inside_a_character_keeps_good_items_and_reports_the_byte() -> None:
    last = GOOD.rindex(b"<item>")
    cut = next(i for i in range(last + 200, len(GOOD)) if GOOD[i] >= 0xC0) + 1  # a lead byte
    report = parse_feed_report(GOOD[:cut])
    good = originals()
    assert [a.id for a in report.articles] == list(good)[:2]
    assert all(a == good[a.id] for a in report.articles)  # not re-decoded as a Latin codepage
    assert report.problems[0] == "1 undecodable byte sequence in utf-8 replaced by U+FFFD"
    library = Retriever.from_articles(parse_feed(GOOD))
    before = library.ask("云栖支付C轮融资多少钱?").text
    added = library.add(report.articles)
    assert (added.added, added.updated) == (0, 0)
    assert library.ask("云栖支付C轮融资多少钱?").text == before


def test_a_stray_latin1_byte_spoils_one_character_not_the_feed() -> None:
    stray = GOOD.replace("晨光资本".encode(), b"\xe9" + "晨光资本".encode(), 1)
    report = parse_feed_report(stray)
    assert report.problems == ["1 undecodable byte sequence in utf-8 replaced by U+FFFD"]
    first = report.articles[0].paragraphs[0]
    assert first == "云栖支付今日宣布完成5亿元C轮融资,由\ufffd晨光资本领投。"
    assert all(garbled_share(" ".join(a.paragraphs)) < 0.05 for a in report.articles)


def test_a_replacement_character_the_feed_holds_is_not_counted_as_undecodable() -> None:
    held = GOOD.replace("晨光资本".encode(), "晨光\ufffd资本".encode(), 1)
    stray = held.replace("云栖".encode(), b"\xff" + "云栖".encode(), 1)
    assert decode_feed(stray).problems == [
        "1 undecodable byte sequence in utf-8 replaced by U+FFFD"
    ]


def test_gbk_bytes_declared_utf8_are_read_as_gb18030() -> None:
    report = parse_feed_report(GOOD.decode("utf-8").encode("gbk"))
    assert report.problems == ["declared utf-8 but the bytes are gb18030"]
    assert report.articles == parse_feed(GOOD)


def test_gbk_bytes_after_a_utf8_byte_order_mark_are_read_whole() -> None:
    report = parse_feed_report(codecs.BOM_UTF8 + GOOD.decode("utf-8").encode("gbk"))
    assert report.problems == ["declared utf-8 (a byte order mark) but the bytes are gb18030"]
    assert report.articles == parse_feed(GOOD)


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("declared", [True, False])
def test_utf16_without_a_byte_order_mark_is_recognised(codec: str, declared: bool) -> None:
    text = GOOD.decode("utf-8")
    if not declared:
        text = text[text.index("<rss") :]
    report = parse_feed_report(text.encode(codec))
    assert report.problems == [] and report.articles == parse_feed(GOOD)


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_a_byte_order_mark_names_the_encoding(codec: str) -> None:
    """UTF-32-LE's mark begins with UTF-16-LE's: the longer one is looked for first."""
    report = parse_feed_report(("\ufeff" + GOOD.decode("utf-8")).encode(codec))
    assert report.problems == [] and report.articles == parse_feed(GOOD)


def test_declared_gb2312_and_latin1_labels() -> None:
    gb = GOOD.decode("utf-8").replace("UTF-8", "GB2312").encode("gbk")
    assert parse_feed_report(gb).articles == parse_feed(GOOD)
    latin = GOOD.decode("utf-8").replace("UTF-8", "ISO-8859-1").encode("utf-8")
    report = parse_feed_report(latin)
    assert report.articles == parse_feed(GOOD)
    assert "the bytes are UTF-8" in report.problems[0]


@pytest.mark.parametrize(
    ("label", "codec"), [("ISO-8859-1", "iso8859-1"), ("windows-1252", "cp1252")]
)
def test_gbk_bytes_declared_latin1_are_read_as_gb18030(label: str, codec: str) -> None:
    gbk = GOOD.decode("utf-8").replace("UTF-8", label).encode("gbk")
    report = parse_feed_report(gbk)
    assert report.articles == parse_feed(GOOD)
    assert report.problems == [f"declared {codec} but the bytes are gb18030"]


@pytest.mark.parametrize("label", ["GB2312", "GBK"])
def test_a_feed_declared_gb2312_or_gbk_is_read_as_their_superset_gb18030(label: str) -> None:
    feed = GOOD.decode("utf-8").replace("UTF-8", label).replace("晨光资本", "晨光㐀资本", 1)
    report = parse_feed_report(feed.encode("gb18030"))  # 㐀: four bytes, in GB18030 alone
    assert report.problems == []
    assert "晨光㐀资本" in report.articles[0].paragraphs[0]


def test_ascii_bytes_declared_latin1_are_no_problem() -> None:
    feed = GOOD.decode("utf-8").replace("UTF-8", "ISO-8859-1")
    ascii_feed = re.sub(r"[^\x00-\x7f]", "x", feed).encode("ascii")
    assert parse_feed_report(ascii_feed).problems == []


def test_latin1_text_declared_latin1_stays_latin1() -> None:
    feed = (
        '<?xml version="1.0" encoding="ISO-8859-1"?><rss version="2.0"><channel><title>Le '
        "journal</title><item><title>Été</title><link>https://fr.example/1</link><description>"
        "Le prix a été fixé à 12 € après la réunion; les élèves étaient très déçus.</description>"
        "</item></channel></rss>"
    )
    report = parse_feed_report(feed.encode("cp1252"))
    assert report.problems == []
    assert report.articles[0].paragraphs == [
        "Le prix a été fixé à 12 € après la réunion; les élèves étaient très déçus."
    ]


def test_mojibake_items_are_skipped_so_the_stored_copy_stays() -> None:
    text = GOOD.decode("utf-8")
    title = "蓝鲸保险发布2021年报"
    start = text.index(title)
    end = text.index("</item>", start)
    garbled = text[:start] + text[start:end].encode().decode("cp1252", "replace") + text[end:]
    report = parse_feed_report(garbled)
    assert len(report.articles) == 2
    assert report.problems[-1].endswith("mostly undecodable or mis-decoded characters; skipped "
                                        "(a stored copy is kept)")  # fmt: skip
    library = Retriever.from_articles(parse_feed(GOOD))
    assert library.add(report.articles).updated == 0
    with pytest.raises(FeedError, match="mis-decoded"):
        parse_feed_report(GOOD.decode("utf-8").encode("utf-8").decode("cp1252", "replace"))


def test_decode_feed_counts_what_it_replaced() -> None:
    assert decode_feed("中文".encode() + b"\xff\xfe\xfd").problems  # not silently dropped
    assert decode_feed(b"<?xml version='1.0' encoding='bogus'?><rss/>").encoding == "utf-8"


TRADITIONAL = "螞蟻集團暫緩在上海和香港上市,京東數科也撤回了科創板的上市申請。"
SIMPLIFIED = "蚂蚁集团暂缓在上海和香港上市,京东数科也撤回了科创板的上市申请。"


def rss(text: str, declaration: str = "") -> str:
    item = f"<item><title>{text[:6]}</title><description>{text}</description></item>"
    return f"{declaration}<rss><channel>{item}</channel></rss>"


def test_decode_text_reads_utf8_cut_inside_its_last_character_as_utf8() -> None:
    assert decode_text("蚂蚁集团蚂".encode()[:-1]) == "蚂蚁集团\ufffd"  # ends b"\xe8\x9a"
    assert decode_text("蚂蚁集团蚂".encode()[:-2]) == "蚂蚁集团\ufffd"  # ends b"\xe8"
    question = "京东科技计划在香港IPO募资多少?蚂蚁".encode()
    for cut in range(1, len(question)):
        assert decode_text(question[:cut]) == question[:cut].decode("utf-8", "replace"), cut


def test_decode_text_keeps_utf8_with_invalid_bytes_inside() -> None:
    assert decode_text("蚂蚁".encode() + b"\xe8\x9a" + "集团上市".encode()) == "蚂蚁\ufffd集团上市"
    stray = "京东".encode() + b"\xe8" + "科技计划".encode() + b"\xa0" + "在香港".encode()
    assert decode_text(stray) == "京东\ufffd科技计划\ufffd在香港"
    assert decode_text(SIMPLIFIED.encode("gbk")) == SIMPLIFIED  # a GBK line is still GBK


def test_big5_feeds_are_read_as_big5() -> None:
    for declaration, said in [
        ("", "no encoding"),
        ('<?xml version="1.0" encoding="utf-8"?>', "utf-8"),
    ]:
        decoded = decode_feed(rss(TRADITIONAL, declaration).encode("big5"))
        assert decoded.problems == [f"declared {said} but the bytes are big5"]
        assert (decoded.text, decoded.encoding) == (rss(TRADITIONAL, declaration), "big5")
    long = (DATA / "tiny-traditional.rss.xml").read_text(encoding="utf-8")
    report = parse_feed_report(long.encode("big5"))
    assert report.problems == ["declared utf-8 but the bytes are big5"]
    assert report.articles == parse_feed(long.encode())
    undeclared = decode_feed(long.split("?>", 1)[1].encode("big5"))
    assert (undeclared.encoding, undeclared.text) == ("big5", long.split("?>", 1)[1])
    assert decode_text(TRADITIONAL.encode("big5")) == TRADITIONAL


def test_big5_read_as_gb18030_counts_as_garbled() -> None:
    assert garbled_share(TRADITIONAL.encode("big5").decode("gb18030")) > 0.2  # private use
    assert garbled_share(TRADITIONAL) == garbled_share(SIMPLIFIED) == 0


def test_simplified_feeds_are_still_read_as_gb18030() -> None:
    for codec in ("gb2312", "gbk", "gb18030"):
        for declaration, said in [("", "no encoding"), ('<?xml version="1.0"?>', "no encoding")]:
            decoded = decode_feed(rss(SIMPLIFIED, declaration).encode(codec))
            assert decoded.problems == [f"declared {said} but the bytes are gb18030"]
            assert (decoded.text, decoded.encoding) == (rss(SIMPLIFIED, declaration), "gb18030")
        report = parse_feed_report(GOOD.decode("utf-8").encode(codec))
        assert report.problems == ["declared utf-8 but the bytes are gb18030"]
        assert report.articles == parse_feed(GOOD)
    for text in (SIMPLIFIED, TRADITIONAL):
        assert decode_feed(rss(text).encode()) == Decoded(rss(text), "utf-8")


# --- dates -------------------------------------------------------------------------------------

ATOM_BAD_DATE = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>源</title>
<entry><title>公元零年的文章</title><link href="https://x.example/0"/><id>x0</id>
<published>0000-01-01T00:00:00Z</published><updated>0000-01-01T00:00:00Z</updated>
<content type="html">&lt;p&gt;日期超出范围的一条。&lt;/p&gt;</content></entry>
<entry><title>正常的文章</title><link href="https://x.example/1"/><id>x1</id>
<published>2024-05-01T08:00:00+08:00</published>
<content type="html">&lt;p&gt;这一条的日期正常。&lt;/p&gt;</content></entry>
<entry><title>第一年的文章</title><link href="https://x.example/2"/><id>x2</id>
<published>0001-01-01T00:00:00+05:00</published>
<content type="html">&lt;p&gt;换成UTC就溢出的一条。&lt;/p&gt;</content></entry>
</feed>"""


@pytest.mark.filterwarnings("error::DeprecationWarning")  # no reliance on feedparser's fallbacks
def test_an_out_of_range_date_loses_only_the_date() -> None:
    report = parse_feed_report(ATOM_BAD_DATE.encode())
    assert [a.id for a in report.articles] == ["x0", "x1", "x2"]
    assert report.articles[0].published is None and report.articles[2].published is None
    assert report.articles[1].published is not None
    assert report.problems == [
        "item 1 (\"公元零年的文章\"): unreadable date '0000-01-01T00:00:00Z'; kept without a date",
        "item 3 (\"第一年的文章\"): unreadable date '0001-01-01T00:00:00+05:00'; "
        "kept without a date",
    ]
    Retriever.from_articles(report.articles).info()  # dates compare without overflow


def _rss_dated(*dates: str) -> bytes:
    items = "".join(
        f"<item><title>第{n}篇</title><link>https://d.example/{n}</link><pubDate>{d}</pubDate>"
        f"<description>第{n}篇文章的正文。</description></item>"
        for n, d in enumerate(dates, start=1)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel>{items}</channel></rss>'.encode()


def test_eight_digits_are_no_seconds_since_1970() -> None:
    """20220314 is a date without separators, not 1970-08-23: unreadable, and said so."""
    report = parse_feed_report(_rss_dated("20220314"))
    assert report.articles[0].published is None
    assert report.problems == [
        "item 1 (\"第1篇\"): unreadable date '20220314'; kept without a date"
    ]


def test_a_numeric_date_of_no_day_is_unreadable_not_an_error() -> None:
    report = parse_feed_report(_rss_dated("2022/13/45"))
    assert report.articles[0].published is None
    assert report.problems == [
        "item 1 (\"第1篇\"): unreadable date '2022/13/45'; kept without a date"
    ]


def test_a_slashed_date_is_never_read_as_another_day() -> None:
    """feedparser reads 2022/03/14 with an offset as 2022-12-01: that is no reading of it."""
    published = parse_feed_report(_rss_dated("2022/03/14 08:30:00 +0800")).articles[0].published
    assert published is None or (published.month, published.day) == (3, 14)


def test_a_date_is_read_as_written_or_reported() -> None:
    report = parse_feed_report(
        _rss_dated("1700000000", "Mon, 01 Jan 0001 00:00:00 GMT", "Tue, 14 Nov 23 22:13:20 GMT")
    )
    first, second, third = (a.published for a in report.articles)
    assert first == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)  # seconds since 1970
    assert second == datetime(1, 1, 1, tzinfo=UTC)  # as written, not 2001
    assert third == first  # a two-digit year is this century's
    assert report.problems == []


@pytest.mark.parametrize("written", ["1700000000000", "99999999999", "2022-13-01"])
def test_a_date_no_reading_keeps_as_written_is_reported(written: str) -> None:
    report = parse_feed_report(_rss_dated(written))
    assert report.articles[0].published is None
    assert report.problems == [
        f"item 1 (\"第1篇\"): unreadable date '{written}'; kept without a date"
    ]


# --- fetching: deadline, size cap, files -------------------------------------------------------

BOMB = gzip.compress(b"\0" * 50_000_000, compresslevel=9)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            for _ in range(100):  # bounded: 10 s at most
                try:
                    self.wfile.write(b"<")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.1)
        elif self.path in ("/bomb", "/big"):
            body = BOMB if self.path == "/bomb" else GOOD * 100
            self.send_response(200)
            if self.path == "/bomb":
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/gzip":
            body = gzip.compress(GOOD)
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path in ("/gbk", "/gbk-latin1"):  # declares UTF-8 in the XML, wrongly
            body = GOOD.decode("utf-8").encode("gbk")
            charset = "GBK" if self.path == "/gbk" else "ISO-8859-1"  # a server's default
            self.send_response(200)
            self.send_header("Content-Type", f"application/rss+xml; charset={charset}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serving(_Handler) as url:
        yield url


def test_the_charset_a_server_sends_decides_over_the_documents_own(server: str) -> None:
    report = load_feed_report(f"{server}/gbk")
    assert report.problems == [] and report.articles == parse_feed(GOOD)


def test_a_latin1_charset_sent_by_default_does_not_garble_chinese(server: str) -> None:
    report = load_feed_report(f"{server}/gbk-latin1")
    assert report.articles == parse_feed(GOOD)
    assert report.problems == ["declared utf-8 but the bytes are gb18030"]


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("http://[::1", FetchError),
        ("https://exa mple.com/feed", FetchError),
        ("/tmp/a\x00b", FeedError),
    ],
)
def test_an_address_that_cannot_be_one_is_a_feed_error(source: str, error: type) -> None:
    with pytest.raises(error) as raised:
        load_feed_report(source)
    assert "<data>" not in str(raised.value)


def test_gzipped_feed_bytes_are_unpacked_like_a_gzipped_file() -> None:
    assert load_feed_report(gzip.compress(GOOD)).articles == parse_feed(GOOD)


def test_a_dripping_server_is_abandoned_at_the_deadline(server: str) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"gave up on .*/drip after 0\.6s \(the deadline\)"):
        load_feed_report(f"{server}/drip", timeout=5, deadline=0.6)
    assert time.monotonic() - started < 2


def test_a_gzip_bomb_is_refused_without_expanding_it(server: str) -> None:
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(FetchError, match=r"larger than 1 MB"):
        load_feed_report(f"{server}/bomb", max_bytes=1_000_000)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 30


def test_size_cap_and_gzip(server: str) -> None:
    with pytest.raises(FetchError, match="larger than 10,000 bytes"):
        load_feed_report(f"{server}/big", max_bytes=10_000)
    assert load_feed_report(f"{server}/gzip").articles == parse_feed(GOOD)


def test_only_regular_files_are_read(tmp_path: Path) -> None:
    fifo = tmp_path / "feed.fifo"
    os.mkfifo(fifo)
    errors: list[str] = []

    def read_fifo() -> None:  # in a thread: reading a FIFO without a writer would block
        try:
            load_feed_report(fifo)
        except FeedError as exc:
            errors.append(str(exc))

    reader = threading.Thread(target=read_fifo, daemon=True)
    reader.start()
    reader.join(2)
    assert errors and "not a regular file" in errors[0]
    started = time.monotonic()
    with pytest.raises(FeedError, match="not a regular file"):
        load_feed_report("/dev/zero")
    with pytest.raises(FeedError, match="not a regular file"):
        load_feed_report(tmp_path)
    assert time.monotonic() - started < 1
    big = tmp_path / "big.xml"
    big.write_bytes(GOOD * 10)
    with pytest.raises(FeedError, match="larger than 5,000 bytes"):
        load_feed_report(big, max_bytes=5_000)


def test_a_gzipped_feed_file_is_read_within_the_size_cap(tmp_path: Path) -> None:
    import gzip

    packed = tmp_path / "feed.xml.gz"
    packed.write_bytes(gzip.compress(GOOD))
    assert load_feed_report(packed).articles == parse_feed(GOOD)
    bomb = tmp_path / "bomb.xml.gz"
    bomb.write_bytes(gzip.compress(b"<rss>" + b" " * 5_000_000))
    with pytest.raises(FeedError, match=r"larger than 1 MB once unpacked"):
        load_feed_report(bomb, max_bytes=1_000_000)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("ftp://example.com/feed.xml", "unsupported address 'ftp://example.com/feed.xml'"),
        ("file:///etc/feed.xml", "unsupported address 'file:///etc/feed.xml'"),
        ("http://", "not a complete URL: 'http://'"),
    ],
)
def test_addresses_that_are_not_web_urls_or_files_say_so(source: str, message: str) -> None:
    with pytest.raises(FeedError, match=re.escape(message)):
        load_feed_report(source)


def test_the_per_character_cache_of_the_misreading_check_is_bounded() -> None:
    """One entry was kept for every character any feed declared in a Latin codepage ever
    held (the check weighs readings of such feeds), for the life of a bot that refreshes
    feeds."""
    from corpus.encoding import _reading, _unusual

    text = "".join(map(chr, range(0x20000, 0x20000 + 80_000)))
    _reading(text.encode("utf-8"), "utf-8")
    assert _unusual.cache_info().currsize <= 65_536
