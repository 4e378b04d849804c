"""The public Retriever: cited extractive answers, abstention, persistence, libraries."""

import contextlib
import json
import os
import shutil
import threading
import time
from datetime import UTC

import pytest
from conftest import DATA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpus import Article
from retrieval import Answer, BM25Params, IndexFileError, QueryError, Retriever
from retrieval.manifest import manifest_text


def _assert_grounded(
    r: Retriever, answer: Answer, articles: dict[str, Article] | None = None
) -> None:
    """Every citation points at a real paragraph, and the answer stands in the first one."""
    for c in answer.citations:
        hits = [
            p for p in r.search(c.passage, k=50) if p.link == c.link and p.paragraph == c.paragraph
        ]
        assert hits and hits[0].text == c.passage
        if articles is not None:
            assert articles[c.article_id].paragraphs[c.paragraph - 1] == c.passage
    if answer.answered:
        assert answer.text and answer.text in answer.citations[0].passage
    else:
        assert answer.text == ""
    assert [c.rank for c in answer.citations] == list(range(1, len(answer.citations) + 1))


def test_exact_hit_with_citation(tiny: Retriever, tiny_articles) -> None:
    a = tiny.ask("云栖支付C轮融资多少钱?")
    assert a.answered
    assert "5亿元" in a.text
    first = a.citations[0]
    assert (first.title, first.paragraph) == ("云栖支付完成C轮融资 & 估值破百亿", 1)
    assert first.link == "https://news.xinghe.example/fintech/1001.html"
    assert first.published.isoformat() == "2022-03-14T08:30:00+08:00"
    _assert_grounded(tiny, a, {x.id: x for x in tiny_articles})


def test_answer_is_the_clause_not_the_paragraph(tiny: Retriever) -> None:
    a = tiny.ask("蓝鲸保险2021年净利润多少?")
    assert a.text == "净利润9.3亿元"
    assert a.citations[0].title == "蓝鲸保险发布2021年报"


def test_traditional_question_finds_simplified_text(tiny: Retriever) -> None:
    a = tiny.ask("遠山消費金融的註冊資本是多少?")
    assert a.answered and "10亿元" in a.text
    assert a.citations[0].link == "https://haichao.example/news/2003"


def test_exact_misses_abstain(tiny: Retriever) -> None:
    for q in ("火星银行的行长是谁?", "红烧肉怎么做?", "北辰证券2031年的CTO是谁?"):
        a = tiny.ask(q)
        assert not a.answered, q
        assert a.text == ""


def test_follow_up_uses_history(tiny: Retriever) -> None:
    alone = tiny.ask("他们什么时候完成核心系统迁移?")
    a = tiny.ask("他们什么时候完成核心系统迁移?", history=["北辰证券的CTO是谁?"])
    assert a.answered and "年内完成迁移" in a.text
    assert a.citations[0].title == "北辰证券数字化转型提速"
    assert (
        alone.citations == []
        or alone.citations[0].title == a.citations[0].title
        or not alone.answered
    )


def test_search_ranks_paragraphs(tiny: Retriever) -> None:
    hits = tiny.search("青松银行 AI 客服", k=2)
    assert [h.text for h in hits] == [
        "青松银行的AI客服已接入手机银行。",
        "首月服务用户超过20万人次。",
    ][: len(hits)]
    assert hits[0].score >= hits[-1].score
    assert tiny.search("完全无关的词语组合xyz", k=5) == []


@pytest.mark.parametrize(
    "bad", ["", "   \n\t", "?!。", "\x00\x01\x02", "😀🎉" * 50, "问" * 100_000, "\u202e\u200b"]
)
def test_bad_questions_get_a_clean_abstention(tiny: Retriever, bad: str) -> None:
    a = tiny.ask(bad)
    assert isinstance(a, Answer)
    _assert_grounded(tiny, a)


def test_non_string_question_is_a_query_error(tiny: Retriever) -> None:
    with pytest.raises(QueryError):
        tiny.ask(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("k", ["3", 2.5, None])
def test_a_count_that_is_not_a_whole_number_is_a_query_error(tiny: Retriever, k: object) -> None:
    with pytest.raises(QueryError, match="k must be a whole number"):
        tiny.ask("云栖支付C轮融资多少钱?", k=k)  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="k must be a whole number"):
        tiny.search("云栖支付", k=k)  # type: ignore[arg-type]


def test_example_questions_come_from_the_newest_articles_whatever_their_offsets() -> None:
    from datetime import datetime, timedelta, timezone

    def dated(n: int, title: str, when: datetime) -> Article:
        body = f"{title}今日宣布完成{n}亿元融资,由晨光资本领投。"
        return Article(id=f"d{n}", title=title, link=f"https://d.example/{n}", published=when,
                       paragraphs=[body])  # fmt: skip

    beijing = timezone(timedelta(hours=8))
    older = dated(1, "云栖支付完成融资", datetime(2030, 1, 1, 8, 30, tzinfo=beijing))  # 00:30 UTC
    newer = dated(2, "北辰证券完成融资", datetime(2030, 1, 1, 1, 0, tzinfo=UTC))
    r = Retriever.from_articles([older, newer], semantic=False)
    assert r.info()["last"] == newer.published
    assert r.example_questions(1) == ["北辰证券完成融资是怎么回事?"]


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda arts: BM25Params(k1=-1), ValueError, "out of range"),
        (lambda arts: BM25Params(idf="nope"), ValueError, "unknown idf"),
        (lambda arts: BM25Params(b=float("nan")), ValueError, "not a number"),
        (
            lambda arts: Retriever.from_articles(arts, semantic=False, params={"k1": 1}),
            TypeError,
            "BM25Params",
        ),
        (
            lambda arts: Retriever.from_articles(arts, semantic=False, min_confidence="x"),
            ValueError,
            "0 to 1",
        ),
        (
            lambda arts: Retriever.from_articles(arts, semantic=False, min_confidence=1.5),
            ValueError,
            "0 to 1",
        ),
        (
            lambda arts: Retriever.from_articles(arts, semantic=False).ask("谁?", history=5),
            QueryError,
            "int",
        ),
        (lambda arts: Retriever.from_articles(arts, semantic="no"), TypeError, "True or False"),
        (
            lambda arts: setattr(
                Retriever.from_articles(arts, semantic=False), "min_confidence", 2
            ),
            ValueError,
            "0 to 1",
        ),
        (
            lambda arts: setattr(Retriever.from_articles(arts, semantic=False), "semantic", 1),
            TypeError,
            "True or False",
        ),
    ],
)
def test_settings_a_retriever_cannot_use_are_refused_when_given(
    tiny_articles, make, error: type[Exception], message: str
) -> None:
    """Each is Python's TypeError or ValueError and, as the README says of every error, a
    FeedqaError."""
    from retrieval import FeedqaError

    with pytest.raises(error, match=message) as caught:
        make(tiny_articles)
    assert isinstance(caught.value, FeedqaError)


def test_a_retriever_says_why_it_cannot_be_pickled_or_copied(tiny: Retriever) -> None:
    import copy
    import pickle

    for attempt in (pickle.dumps, copy.deepcopy, copy.copy):
        with pytest.raises(TypeError, match="load or open it in each process"):
            attempt(tiny)


def test_an_archive_without_a_single_word_answers_nothing_and_warns_of_nothing() -> None:
    import warnings

    blank = Article(id="p", title="……", link="https://p.example/1", paragraphs=["……", "!!!"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = Retriever.from_articles([blank], semantic=False)
        assert r.search("京东") == [] and not r.ask("京东在哪里上市?").answered


def test_an_archive_without_a_single_word_saves_and_loads(tmp_path) -> None:
    """Its terms file is empty: checksummed and read back as no terms."""
    blank = Article(id="p", title="……", link="https://p.example/1", paragraphs=["……", "!!!"])
    Retriever.from_articles([blank], semantic=False).save(tmp_path / "idx")
    again = Retriever.load(tmp_path / "idx", semantic=False)
    assert again.info()["paragraphs"] == 2 and again.search("京东") == []


def test_no_example_questions_asked_for_none(tiny: Retriever) -> None:
    assert tiny.example_questions(0) == [] and tiny.example_questions(-1) == []
    assert len(tiny.example_questions(1)) == 1


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (["not an article"], "Article objects, not str"),
        ([None], "Article objects, not NoneType"),
        (None, "a list of Article objects, not NoneType"),
        ("one string", "a list of Article objects, not str"),
    ],
)
def test_adding_what_is_not_articles_is_one_clear_error(
    tiny_articles, given: object, message: str
) -> None:
    from retrieval import FeedqaError

    library = Retriever.from_articles(tiny_articles, semantic=False)
    before = library.info()
    with pytest.raises(TypeError, match=message):
        library.add(given)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=message):
        Retriever.from_articles(given, semantic=False)  # type: ignore[arg-type]
    with pytest.raises(FeedqaError, match="a list of Article objects, not one Article"):
        library.add(tiny_articles[0])
    assert library.info() == before


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(question=st.text(max_size=300), history=st.lists(st.text(max_size=50), max_size=3))
def test_no_string_makes_ask_raise(
    tiny: Retriever, tiny_articles, question: str, history: list[str]
) -> None:
    a = tiny.ask(question, history=history)
    _assert_grounded(tiny, a, {x.id: x for x in tiny_articles})


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    question=st.sampled_from(
        [
            "京东",
            "蚂蚁",
            "IPO",
            "融资",
            "多少",
            "谁",
            "谁说",
            "第二项",
            "哪家公司",
            "在哪里",
            "江苏银行",
        ]
    ).flatmap(lambda w: st.text(max_size=20).map(lambda t: w + t))
)
def test_bundled_answers_are_grounded(bundled: Retriever, question: str) -> None:
    _assert_grounded(bundled, bundled.ask(question))


def test_bundled_corpus_answers(bundled: Retriever) -> None:
    a = bundled.ask("京东科技计划在香港IPO募资多少?")
    assert a.answered and "10亿至20亿美元" in a.text
    assert a.citations[0].title == "上市终止300天后,京东科技重启IPO"
    assert a.citations[0].link.startswith("https://")
    info = bundled.info()
    assert info["articles"] == 49
    assert (
        str(info["first"]) == "2019-12-28 15:39:00+08:00"
        and str(info["last"]) == "2022-01-25 19:10:00+08:00"
    )
    assert len(bundled.example_questions(3)) == 3


def test_save_load_round_trip(tmp_path, tiny: Retriever) -> None:
    tiny.save(tmp_path / "idx")
    again = Retriever.load(tmp_path / "idx")
    for q in ("云栖支付C轮融资多少钱?", "北辰证券的CTO是谁?", "火星银行的行长是谁?"):
        assert again.ask(q) == tiny.ask(q)
    assert again.search("融资", k=3) == tiny.search("融资", k=3)


def test_saving_over_another_index_writes_this_one_and_touches_nothing_else(
    tmp_path, tiny: Retriever, tiny_articles
) -> None:
    target = tmp_path / "idx"
    other = Retriever.from_articles(tiny_articles[:1], semantic=False)
    other.save(target)
    (target / "seg-photos").mkdir()  # a folder of the user's that only looks like a segment
    (target / "seg-photos" / "a.txt").write_text("precious")
    tiny.save(target)
    again = Retriever.load(target)
    assert again.info()["articles"] == tiny.info()["articles"] == 6
    assert again.ask("北辰证券的CTO是谁?") == tiny.ask("北辰证券的CTO是谁?")
    assert (target / "seg-photos" / "a.txt").read_text() == "precious"
    tiny.save(target)  # the same index again: its own segments are kept as they are
    assert Retriever.load(target).search("融资", k=3) == tiny.search("融资", k=3)
    other.save(target)  # saved here before, then overwritten: saved again whole
    assert Retriever.load(target).info()["articles"] == 1
    tiny.save(target)
    assert Retriever.load(target).info()["articles"] == 6
    loaded = Retriever.load(target)
    other.save(target)
    loaded.save(target)  # a loaded index saved back over another one's save
    assert Retriever.load(target).info()["articles"] == 6


def test_saving_an_index_again_writes_none_of_its_segments_again(tmp_path, tiny) -> None:
    tiny.save(tmp_path / "idx")
    written = {p: p.stat().st_ino for p in (tmp_path / "idx").glob("seg-*/*")}
    assert any(p.name == "sentences.json" for p in written)  # nor their sentence vectors
    tiny.save(tmp_path / "idx")
    assert {p: p.stat().st_ino for p in (tmp_path / "idx").glob("seg-*/*")} == written


def test_saving_removes_the_segments_the_index_no_longer_has(tmp_path, tiny_articles) -> None:
    two = Retriever.from_articles(tiny_articles[:3], semantic=False)
    two.add(tiny_articles[3:])
    two.save(tmp_path / "idx")
    assert len(list((tmp_path / "idx").glob("seg-*"))) == 2
    Retriever.from_articles(tiny_articles[:1], semantic=False).save(tmp_path / "idx")
    assert [p.name for p in (tmp_path / "idx").glob("seg-*")] == ["seg-1"]


@pytest.mark.parametrize("where", ["", "a file", "inside a file"])
def test_saving_where_no_index_can_go_is_one_library_error(
    tmp_path, tiny: Retriever, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retrieval import LibraryError

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a file").write_text("x")
    path = {"": "", "a file": tmp_path / "a file", "inside a file": tmp_path / "a file" / "i"}
    with pytest.raises(LibraryError, match="no index path given|cannot save the index"):
        tiny.save(path[where])
    assert not (tmp_path / "index.json").exists()


def test_load_rejects_missing_stale_and_corrupt(tmp_path, tiny: Retriever) -> None:
    with pytest.raises(IndexFileError):
        Retriever.load(tmp_path / "nothing")
    tiny.save(tmp_path / "idx")
    manifest = tmp_path / "idx" / "index.json"
    stale = {**json.loads(manifest.read_text()), "version": 999}
    manifest.write_text(manifest_text(stale))  # as a later feedqa would write it
    with pytest.raises(IndexFileError, match="version"):
        Retriever.load(tmp_path / "idx")
    manifest.write_text("{not json")
    with pytest.raises(IndexFileError):
        Retriever.load(tmp_path / "idx")


def test_the_bundled_corpus_answers_when_its_cache_cannot_be_written(tmp_path) -> None:
    (tmp_path / "cache").write_text("a file where the cache folder belongs")
    r = Retriever.default(cache_dir=tmp_path / "cache", semantic=False)
    assert r.info()["articles"] == 49 and r.search("京东科技 IPO", k=1)


def test_default_rebuilds_a_corrupt_cache(tmp_path) -> None:
    first = Retriever.default(cache_dir=tmp_path)
    (folder,) = list(tmp_path.iterdir())
    (seg,) = [p for p in folder.iterdir() if p.is_dir()]
    (seg / "terms.txt").write_text("garbage")
    again = Retriever.default(cache_dir=tmp_path)
    assert again.search("京东科技 IPO", k=3) == first.search("京东科技 IPO", k=3)


def test_building_the_bundled_cache_removes_old_caches_of_other_versions(tmp_path) -> None:
    from retrieval.bundled import STALE_CACHE_DAYS

    old, recent = tmp_path / "bundled-0ld", tmp_path / "bundled-recent"
    for folder in (old, recent):
        folder.mkdir()
        (folder / "index.json").write_text("{}")
    then = time.time() - (STALE_CACHE_DAYS + 1) * 86_400
    os.utime(old, (then, then))
    other = tmp_path / "my-library"  # not a cache of the bundled corpus
    other.mkdir()
    os.utime(other, (then, then))
    Retriever.default(cache_dir=tmp_path)
    left = {p.name for p in tmp_path.iterdir()}
    assert "bundled-0ld" not in left
    assert {"bundled-recent", "my-library"} <= left
    assert len([n for n in left if n.startswith("bundled-")]) == 2  # the new one and recent


def test_library_grows_and_survives_a_damaged_index(tmp_path, tiny_articles) -> None:
    lib = Retriever.open(tmp_path / "lib")
    assert lib.info()["articles"] == 49
    report = lib.add(tiny_articles)
    assert (report.added, report.updated, report.unchanged) == (6, 0, 0)
    assert lib.add(tiny_articles).unchanged == 6
    reopened = Retriever.open(tmp_path / "lib")
    assert reopened.info()["articles"] == 55
    assert reopened.ask("云栖支付C轮融资多少钱?") == lib.ask("云栖支付C轮融资多少钱?")
    for seg in (tmp_path / "lib").glob("seg-*"):
        shutil.rmtree(seg)
    rebuilt = Retriever.open(tmp_path / "lib")
    assert rebuilt.info()["articles"] == 55
    assert rebuilt.ask("云栖支付C轮融资多少钱?").text == lib.ask("云栖支付C轮融资多少钱?").text


def test_traditional_questions_are_answered_like_simplified(tiny: Retriever) -> None:
    from retrieval import normalize

    for q in (
        "雲棲支付C輪融資多少錢?",
        "北辰證券的CTO是誰?",
        "藍鯨保險2021年淨利潤多少?",
        "遠山消費金融註冊資本多少?",
    ):
        a, b = tiny.ask(q), tiny.ask(normalize(q))
        assert (a.answered, a.text, a.citations) == (b.answered, b.text, b.citations)
        assert a.answered


# --- found by an exploratory pass of the Python API ----------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_retriever_answers_in_a_process_forked_after_it_answered(tiny: Retriever) -> None:
    """A server that loads the index, then forks its workers (multiprocessing's default on
    Linux, gunicorn's preload): the encoder's OpenMP threads do not survive the fork, and the
    child's first question waited for them forever."""
    import select
    import signal

    tiny.ask("北辰证券的CTO是谁?")  # the encoder has run in this process
    question = "在分叉出的子进程里问:云栖支付C轮融资多少钱?"  # encoded by no one yet
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer, report, and leave without pytest's teardown
        try:
            os.close(read)
            os.write(write, tiny.ask(question).text.encode())
        finally:
            os._exit(0)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], 4.0)
        got = os.read(read, 4096).decode() if ready else None
    finally:
        os.close(read)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert got is not None, "the forked child did not answer within 4 s"
    assert got == tiny.ask(question).text


def test_saving_while_another_thread_adds_is_neither_an_error_nor_a_torn_index(
    tmp_path, tiny_articles, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`save` read the sentence vectors' dict while `add` (another thread) put the new
    segment's into it: RuntimeError: dictionary changed size during iteration."""
    from retrieval import vectorstore

    r = Retriever.from_articles(tiny_articles)
    r.ask("北辰证券的CTO是谁?")  # the encoder loaded
    new = Article(id="t-1", title="海鸥银行发布新产品", link="https://t.example/1",
                  paragraphs=["海鸥银行今天在线程里发布了第一款数字理财产品。"])  # fmt: skip
    added = threading.Event()
    failed: list[BaseException] = []

    def add() -> None:
        try:
            r.add([new])
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failed.append(exc)
        added.set()

    adder = threading.Thread(target=add)
    real = vectorstore.save_vectors

    def save_vectors(*args, **kwargs):
        if not adder.is_alive() and not added.is_set():  # the add lands mid-save
            adder.start()
            added.wait(1.0)
        return real(*args, **kwargs)

    monkeypatch.setattr(vectorstore, "save_vectors", save_vectors)
    r.save(tmp_path / "idx")
    adder.join(10)
    assert not failed
    saved = Retriever.load(tmp_path / "idx")
    assert saved.info()["articles"] in (6, 7)
    assert saved.ask("北辰证券的CTO是谁?") == Retriever.from_articles(
        [a for a in [*tiny_articles, new] if a.id in {x["id"] for x in saved.index.articles()}]
    ).ask("北辰证券的CTO是谁?")
    assert r.info()["articles"] == 7


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: Retriever.load(None), id="load(None)"),
        pytest.param(lambda: Retriever.load(5), id="load(5)"),
        pytest.param(lambda: Retriever.load(b"/tmp/idx"), id="load(bytes)"),
        pytest.param(lambda: Retriever.default(cache_dir=5), id="default(cache_dir=5)"),
        pytest.param(lambda: Retriever.default(cache_dir=b"/tmp/c"), id="default(cache_dir=bytes)"),
        pytest.param(lambda: Retriever.connect(None), id="connect(None)"),
        pytest.param(lambda: Retriever.connect(5), id="connect(5)"),
        pytest.param(
            lambda: Retriever.connect("sphinx://127.0.0.1:1/feedqa", cluster=5),
            id="connect(cluster=5)",
        ),
        pytest.param(  # these were checked only once connected: "cannot reach" said first
            lambda: Retriever.connect("sphinx://127.0.0.1:1/feedqa", timeout="5"),
            id="connect(timeout='5')",
        ),
        pytest.param(
            lambda: Retriever.connect("sphinx://127.0.0.1:1/feedqa", pool=0),
            id="connect(pool=0)",
        ),
        pytest.param(
            lambda: Retriever.connect("sphinx://127.0.0.1:1/feedqa", semantic="no"),
            id="connect(semantic='no')",
        ),
        pytest.param(
            lambda: Retriever.connect("sphinx://127.0.0.1:1/feedqa", min_confidence=2),
            id="connect(min_confidence=2)",
        ),
    ],
)
def test_a_path_or_address_of_the_wrong_type_is_one_feedqa_error(call) -> None:
    """Their siblings `save(None)` and `open(None)` say "the index path must be a path, not
    NoneType"; these raised a TypeError or AttributeError from deep inside (os.fspath,
    pathlib, `self.url.index`)."""
    from retrieval import FeedqaError

    with pytest.raises(FeedqaError, match="must be"):
        call()


@pytest.mark.parametrize("timeout", ["x", None, float("nan"), -1, True])
def test_a_lock_timeout_that_is_not_seconds_is_refused_before_the_library_is_touched(
    tmp_path, timeout: object
) -> None:
    """`open(lock_timeout="x")` raised filelock's TypeError from inside the lock, after the
    library's folder was made; a negative one waited for ever."""
    with pytest.raises(ValueError, match="lock_timeout must be"):
        Retriever.open(tmp_path / "lib", lock_timeout=timeout)  # type: ignore[arg-type]
    assert not (tmp_path / "lib").exists()


@pytest.mark.parametrize("flag", ["verify", "catch_up"])
def test_a_switch_that_is_not_true_or_false_is_refused_by_name(
    tmp_path, tiny: Retriever, flag: str
) -> None:
    """`load(verify="no")` and `open(catch_up="no")` were taken as True, as `semantic="no"`
    was before it was checked."""
    from retrieval import ArgumentError

    tiny.save(tmp_path / "index")
    opening = Retriever.load if flag == "verify" else Retriever.open
    with pytest.raises(ArgumentError, match=f"{flag} must be True or False"):
        opening(tmp_path / "index", semantic=False, **{flag: "no"})


def test_a_progress_that_cannot_be_called_is_refused_before_any_work(
    tmp_path, tiny_articles
) -> None:
    """`from_articles(progress=5)` was a TypeError from deep inside the embedding, and
    `add(progress=5)` was taken when nothing needed embedding."""
    from retrieval import ArgumentError

    lib = Retriever.open(tmp_path / "lib", semantic=False)
    logged = (tmp_path / "lib" / "articles.jsonl").read_bytes()
    calls = [
        lambda: Retriever.from_articles(tiny_articles, progress=5),
        lambda: Retriever.open(tmp_path / "lib", progress=5),
        lambda: Retriever.load(tmp_path / "lib", progress="bar"),
        lambda: lib.add(tiny_articles, progress=5),
    ]
    for call in calls:
        with pytest.raises(ArgumentError, match="progress must be"):
            call()
    assert (tmp_path / "lib" / "articles.jsonl").read_bytes() == logged  # nothing added


def test_a_charset_of_the_wrong_type_is_refused_with_its_name() -> None:
    """parse_feed_report(data=5) says "feed data must be str or bytes, not int"; charset=5
    reached codecs.lookup: "lookup() argument must be str, not int"."""
    from corpus.feeds import parse_feed_report

    raw = (DATA / "tiny.rss.xml").read_bytes()
    from retrieval import FeedqaError

    for charset in (5, b"utf-8"):
        with pytest.raises(FeedqaError, match="charset must be"):
            parse_feed_report(raw, charset=charset)  # type: ignore[arg-type]


def test_an_index_saved_under_a_home_relative_path_loads_from_it(
    tmp_path, tiny: Retriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`save("~/idx")` expands the `~` (as `open` does) but `load("~/idx")` did not: the index
    just saved was "missing"."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    tiny.save("~/idx")
    assert (tmp_path / "home" / "idx" / "index.json").exists()
    assert Retriever.load("~/idx").search("融资", k=3) == tiny.search("融资", k=3)
    assert not (tmp_path / "~").exists()


def test_the_bundled_cache_under_a_home_relative_folder_is_used_again(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`default(cache_dir="~/cache")` saved the index under the expanded folder but looked
    for it under a literal "~": every call rebuilt the bundled corpus's index."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    Retriever.default(cache_dir="~/cache", semantic=False)
    built: list[int] = []
    real = Retriever.from_articles.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(
        Retriever,
        "from_articles",
        classmethod(lambda cls, *a, **k: built.append(1) or real(cls, *a, **k)),
    )
    assert Retriever.default(cache_dir="~/cache", semantic=False).info()["articles"] == 49
    assert built == []  # read from the cache, not built again
