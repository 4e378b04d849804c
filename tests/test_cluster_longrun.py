"""The cluster in long-running use: a bot that re-reads the same feeds every half hour for
months, beside questions, ingests and merges, must not pay again for what did not change.

Like `test_sphinx.py`, the tests that need the engine start their own `searchd` processes on
free loopback ports in a temporary folder and stop them.
"""

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_sphinx import free_base_port, needs_sphinx, start_cluster

from corpus import Article
from retrieval import EngineError, Retriever, shardlog
from retrieval import cluster as cl
from retrieval.sphinx import SphinxIndex


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The engine queries every SphinxIndex sends from now on."""
    sent: list[str] = []
    query = SphinxIndex._query

    def counting(self, sql, args=(), **kwargs):
        sent.append(sql)
        return query(self, sql, args, **kwargs)

    monkeypatch.setattr(SphinxIndex, "_query", counting)
    return sent


def _recording(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen]:
    """The processes the cluster starts from now on (its `indexer` runs)."""
    started: list[subprocess.Popen] = []
    popen = subprocess.Popen

    def recording(*args, **kwargs):
        started.append(popen(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(cl.subprocess, "Popen", recording)
    return started


@needs_sphinx
def test_an_unchanged_ingest_keeps_what_the_reader_has_read(
    tmp_path: Path, tiny_articles: list[Article], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A feed read again with nothing new (most refreshes) leaves the index as it is: the
    texts, records and statistics read so far stay cached, so the next questions cost what
    repeated ones do (one engine query), not what new ones do; a change is seen at once."""
    layout = start_cluster(tmp_path, 2, tiny_articles)
    try:
        r = Retriever.connect(layout.url, cluster=layout.root)
        question = "远山消费金融的注册资本是多少?"
        first = r.ask(question)
        sent = _counting(monkeypatch)
        for _ in range(3):
            assert r.add(tiny_articles).unchanged == len(tiny_articles)
            assert r.ask(question) == first
        asks = [sql for sql in sent if "SUM(CRC32" not in sql]  # (a check for changes)
        assert len(asks) <= 3, asks
        old = tiny_articles[0]
        paras = ["云栖支付今日宣布完成8亿元D轮融资,由晨光资本领投。", *old.paragraphs[1:]]
        assert r.add([old.model_copy(update={"paragraphs": paras})]).updated == 1
        assert "8亿元D轮" in r.search("云栖支付 融资 领投", k=1)[0].text
    finally:
        cl.stop(layout)


@needs_sphinx
def test_a_failed_ingest_leaves_no_indexer_running(
    tmp_path: Path, tiny_articles: list[Article], monkeypatch: pytest.MonkeyPatch
) -> None:
    """When one shard's `indexer` fails, the others' are waited for before the error: one
    left running outlives the write lock, so the next feed's ingest (a refresh reads its
    feeds one after another) would run a second `indexer` on the same shard beside it."""
    layout = start_cluster(tmp_path, 2, tiny_articles)
    try:
        assert {cl.route(a.id, 2) for a in tiny_articles} == {0, 1}
        conf = layout.shard_dir(0) / "searchd.conf"
        conf.write_text(conf.read_text().replace("source = delta_0", "source = nosuch"))
        started = _recording(monkeypatch)
        changed = [a.model_copy(update={"title": a.title + "(更新)"}) for a in tiny_articles]
        with pytest.raises(EngineError, match="shard 0"):
            cl.ingest(layout, changed)
        assert len(started) == 2
        assert [p.poll() is not None for p in started] == [True, True]
        assert not shardlog.stale(layout.shard_dir(1))  # the shard that could is indexed
    finally:
        cl.stop(layout)


@needs_sphinx
def test_an_article_updated_at_every_refresh_keeps_few_copies_in_the_delta_log(
    tmp_path: Path, tiny_articles: list[Article]
) -> None:
    """A story revised at every feed refresh between merges: the delta log keeps its latest
    version (and what it kills in `main`), not a copy per refresh, which each ingest reads
    again; searches and the next merge see the latest one."""
    layout = start_cluster(tmp_path, 2, tiny_articles)
    try:
        r = Retriever.connect(layout.url, cluster=layout.root)
        n = r.index.n_docs
        old = tiny_articles[0]
        folder = layout.shard_dir(cl.route(old.id, 2))
        for i in range(12):
            paras = [
                f"云栖支付今日宣布完成{i + 8}亿元D轮融资,由晨光资本领投。",
                *old.paragraphs[1:],
            ]
            assert r.add([old.model_copy(update={"paragraphs": paras})]).updated == 1
        lines = (folder / "delta.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(lines) <= 2
        assert r.index.n_docs == n
        hits = r.search("云栖支付 融资 领投", k=10)
        assert "19亿元D轮" in hits[0].text and not any("5亿元C轮" in h.text for h in hits)
        r.compact()
        assert r.index.n_docs == n
        assert "19亿元D轮" in r.search("云栖支付 融资 领投", k=1)[0].text
    finally:
        cl.stop(layout)


@needs_sphinx
def test_a_delta_log_rewritten_to_its_indexed_size_is_indexed_again(
    tmp_path: Path, tiny_articles: list[Article]
) -> None:
    """The delta index counted as holding its log when the log's size was the size indexed.
    A log rewritten whole after failed ingests can have that size again (revisions of the
    same length, a time stamp in the text): once the indexer worked again, an unchanged feed
    left the first version served, and a merge folded it into main for good."""
    layout = start_cluster(tmp_path, 1, tiny_articles)
    try:
        r = Retriever.connect(layout.url, cluster=layout.root)
        old = tiny_articles[0]

        def version(i: int) -> Article:
            paras = [f"云栖支付今日宣布完成{i}亿元D轮融资,由晨光资本领投。", *old.paragraphs[1:]]
            return old.model_copy(update={"paragraphs": paras})

        r.add([version(1)])
        conf = layout.shard_dir(0) / "searchd.conf"
        good = conf.read_text()
        conf.write_text(good.replace("source = delta_0", "source = nosuch"))
        for i in (2, 3):  # the indexer fails: logged, the second time written whole
            with pytest.raises(EngineError):
                r.add([version(i)])
        conf.write_text(good)
        r.add([version(3)])  # the feed unchanged, the indexer working again
        assert "3亿元D轮" in r.search("云栖支付 融资 领投", k=1)[0].text
    finally:
        cl.stop(layout)


@needs_sphinx
def test_a_rotation_that_times_out_leaves_no_indexer_running(
    tmp_path: Path, tiny_articles: list[Article], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shard's searchd that does not load its new index in time failed the ingest before
    the other shards' indexers were waited for: one left running outlives the write lock."""
    layout = start_cluster(tmp_path, 2, tiny_articles)
    try:
        started = _recording(monkeypatch)
        stuck, pending, wait = layout.shard_dir(0), cl.rotate_pending, cl._wait_rotation

        def timed_out(folder: Path) -> None:
            if folder == stuck:
                raise EngineError(f"searchd in {folder} did not load the new index")
            wait(folder)

        monkeypatch.setattr(cl, "rotate_pending", lambda f: f == stuck or pending(f))
        monkeypatch.setattr(cl, "_wait_rotation", timed_out)
        changed = [a.model_copy(update={"title": a.title + "(更新)"}) for a in tiny_articles]
        with pytest.raises(EngineError, match="did not load"):
            cl.ingest(layout, changed)
        assert len(started) == 2
        assert [p.poll() is not None for p in started] == [True, True]
        assert not shardlog.stale(layout.shard_dir(1))  # the shard that could is indexed
    finally:
        cl.stop(layout)


def test_a_delta_is_due_for_a_merge_at_an_eighth_of_its_main_log() -> None:
    """Each ingest rebuilds a shard's delta index whole, so its time grows with the delta
    until a merge; an eighth of the main log (and 1 MiB, below which the rebuild is quick)
    bounds it."""
    mib = 1 << 20
    assert not cl.merge_due(mib // 2, 0) and cl.merge_due(mib, 0)
    assert not cl.merge_due(mib, 16 * mib) and cl.merge_due(2 * mib, 16 * mib)


@needs_sphinx
def test_an_ingest_folds_a_grown_delta_into_main(
    tmp_path: Path, tiny_articles: list[Article], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a `feedqa cluster merge`, a bot refreshing its feeds for months would rebuild
    an ever larger delta at every ingest. A shard whose delta is due is merged by the ingest
    that made it so, the others are left as they are; searches and statistics are then those
    of a fresh build."""
    layout = start_cluster(tmp_path, 2, tiny_articles)
    try:
        r = Retriever.connect(layout.url, cluster=layout.root)
        old = tiny_articles[0]
        s = cl.route(old.id, 2)
        folder, other = layout.shard_dir(s), layout.shard_dir(1 - s)
        paras = ["云栖支付今日宣布完成8亿元D轮融资,由晨光资本领投。", *old.paragraphs[1:]]
        changed = old.model_copy(update={"paragraphs": paras})
        assert r.add([changed]).updated == 1  # far below 1 MiB: kept in the delta
        assert (folder / "delta.jsonl").stat().st_size > 0
        elsewhere = next(a for a in tiny_articles if cl.route(a.id, 2) != s)
        assert r.add([elsewhere.model_copy(update={"title": "(更新)"})]).updated == 1
        kept = (other / "delta.jsonl").read_bytes()
        monkeypatch.setattr(cl, "MERGE_MIN_BYTES", len(kept) + 1)  # the other shard's is not due
        long = "云栖支付的年报很长。" * 5000  # over an eighth of the shard's main log
        again = changed.model_copy(
            update={"title": old.title + "(更新)", "paragraphs": [*paras, long]}
        )
        assert r.add([again]).updated == 1
        assert (folder / "delta.jsonl").read_bytes() == b""
        assert any("(更新)" in e["article"]["title"] for e in shardlog.main_entries(folder))
        assert (other / "delta.jsonl").read_bytes() == kept  # not due: left as it was
        final = [again if a.id == old.id else a for a in tiny_articles]
        final = [
            a.model_copy(update={"title": "(更新)"}) if a.id == elsewhere.id else a for a in final
        ]
        fresh = Retriever.from_articles(final, semantic=False)
        for term in ("云栖", "融资", "领投"):
            assert r.index.df(term) == fresh.index.df(term)
        assert "8亿元D轮" in r.search("云栖支付 融资 领投", k=1)[0].text
    finally:
        cl.stop(layout)


@needs_sphinx
@pytest.mark.parametrize(
    ("error", "said"),
    [(errno.EMFILE, "cannot start indexer for shard 1: Too many"), (errno.ENOENT, "not installed")],
)
def test_an_indexer_that_cannot_start_leaves_none_running(
    tmp_path: Path,
    tiny_articles: list[Article],
    monkeypatch: pytest.MonkeyPatch,
    error: int,
    said: str,
) -> None:
    """The second shard's indexer could not be started (no descriptor left, the binary
    gone): the first one, already running, was not waited for (it outlived the write lock,
    its shard left unmarked), and the error was a traceback, not a line."""
    layout = start_cluster(tmp_path, 2, tiny_articles)
    try:
        started = _recording(monkeypatch)
        recording = cl.subprocess.Popen

        def second_fails(*args, **kwargs):
            if started:
                raise OSError(error, os.strerror(error))
            return recording(*args, **kwargs)

        monkeypatch.setattr(cl.subprocess, "Popen", second_fails)
        changed = [a.model_copy(update={"title": a.title + "(更新)"}) for a in tiny_articles]
        with pytest.raises(EngineError, match=said) as raised:
            cl.ingest(layout, changed)
        assert "\n" not in str(raised.value)
        assert len(started) == 1 and started[0].poll() is not None
        assert not shardlog.stale(layout.shard_dir(0))  # the shard whose indexer ran is indexed
        assert shardlog.stale(layout.shard_dir(1))  # the next ingest indexes the other
    finally:
        monkeypatch.undo()  # stop starts processes too
        cl.stop(layout)


@needs_sphinx
def test_an_automatic_merge_cut_short_leaves_no_old_paragraph(
    tmp_path: Path, tiny_articles: list[Article], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ingest's merge failed on one shard after another's `indexer --merge` had folded
    its delta into main: that main index then held the delta's versions while the logs
    still said the delta held them, so the next update of such an article killed only the
    paragraphs its older version had, and the rest of the merged version stayed found. The
    ingest itself stands: its articles are served, and the failure is noted in `repairs`
    (the bot logs them, `feedqa ingest` prints them), not raised, which would have failed
    every later refresh of its feed the same way."""
    layout = start_cluster(tmp_path, 2, tiny_articles)
    try:
        r = Retriever.connect(layout.url, cluster=layout.root)
        old = tiny_articles[0]
        s = cl.route(old.id, 2)
        extra = "云栖支付另外披露了海外扩张的计划,首站选在新加坡。"
        grown = old.model_copy(update={"paragraphs": [*old.paragraphs, extra]})
        assert r.add([grown]).updated == 1
        elsewhere = next(a for a in tiny_articles if cl.route(a.id, 2) != s)
        popen = cl.subprocess.Popen

        def other_merge_fails(args, *rest, **kwargs):
            if "--merge" in args and f"main_{1 - s}" in args:
                args = ["false"]
            return popen(args, *rest, **kwargs)

        monkeypatch.setattr(cl.subprocess, "Popen", other_merge_fails)
        monkeypatch.setattr(cl, "MERGE_MIN_BYTES", 1)
        # the articles are added all the same: the failed merge is noted, not raised
        assert r.add([elsewhere.model_copy(update={"title": "(更新)"})]).updated == 1
        assert len(r.repairs) == 1 and "merge" in r.repairs[0] and "\n" not in r.repairs[0]
        assert any(p.article_id == elsewhere.id for p in r.search("青松银行 AI客服", k=5))
        monkeypatch.undo()
        assert r.add([old]).updated == 1  # back to the paragraphs it had
        final = [
            a.model_copy(update={"title": "(更新)"}) if a.id == elsewhere.id else a
            for a in tiny_articles
        ]
        fresh = Retriever.from_articles(final, semantic=False)
        assert [p.text for p in r.search("新加坡 海外扩张", k=5) if "新加坡" in p.text] == []
        cl.merge(layout)  # and no merge brings it back
        r = Retriever.connect(layout.url, cluster=layout.root)
        assert [p.text for p in r.search("新加坡 海外扩张", k=5) if "新加坡" in p.text] == []
        for term in ("新加坡", "海外", "云栖"):
            assert r.index.df(term) == fresh.index.df(term), term
    finally:
        cl.stop(layout)


@needs_sphinx
def test_an_automatic_merge_that_cannot_write_its_files_leaves_the_ingest_done(
    tmp_path: Path, tiny_articles: list[Article], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A merge that fails on a full disk is noted like one an indexer fails: raised, it
    failed the ingest whose articles were added, and left them unserved."""
    layout = start_cluster(tmp_path, 1, tiny_articles[:2])
    try:
        r = Retriever.connect(layout.url, cluster=layout.root)

        def full(layout: cl.Layout) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(layout.root))

        monkeypatch.setattr(cl, "build_idf", full)
        monkeypatch.setattr(cl, "MERGE_MIN_BYTES", 1)
        assert r.add(tiny_articles[2:3]).added == 1
        assert len(r.repairs) == 1 and "merge" in r.repairs[0] and "\n" not in r.repairs[0]
        assert tiny_articles[2].id in {p.article_id for p in r.search("蓝鲸保险 年报", k=5)}
    finally:
        monkeypatch.undo()
        cl.stop(layout)


def test_an_id_or_link_holding_a_unicode_line_separator_keeps_its_slot_row(tmp_path: Path) -> None:
    """The slots file is written with ids and links as they are (JSON without ASCII escapes)
    and was read with `splitlines`, which also breaks at U+2028, U+0085 and U+001C–U+001E:
    such an id's row came apart, and reading the shard's slots failed."""
    entries = [
        {"slot": 7, "article": {"id": f"a\u2028{i}\x85", "link": f"https://x.example/\u2029{i}",
                                "title": "标题", "paragraphs": ["段落。"]}}
        for i in range(2)
    ]  # fmt: skip
    shardlog.write_slots(tmp_path, entries)
    slots = shardlog.slots(tmp_path)
    assert set(slots) == {"a\u20280\x85", "a\u20281\x85"}
    assert slots["a\u20281\x85"][3] == "https://x.example/\u20291"


def test_what_a_failing_indexer_says_on_stderr_is_its_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """`indexer` and the feed script it runs (a Python traceback) may say why they failed on
    stderr: that went to the terminal beside the error, which said only the last line of
    stdout."""
    layout = cl.Layout(tmp_path, 1)
    layout.shard_dir(0).mkdir(parents=True)
    popen = subprocess.Popen
    script = "import sys; print('using config file', flush=True); sys.exit('FATAL: source failed')"
    monkeypatch.setattr(
        cl.subprocess, "Popen", lambda args, **kw: popen([sys.executable, "-c", script], **kw)
    )
    with pytest.raises(EngineError, match="indexer for shard 0 failed: FATAL: source failed"):
        cl._index_all(layout, [["delta_0"]])
    assert "FATAL" not in capfd.readouterr().err


def _engine_weights(layout: cl.Layout, terms: list[str]) -> list[tuple[int, int]]:
    """The engine's own ranking of the paragraphs holding any of `terms`: its BM25 with the
    global IDF, as it picks the candidates feedqa scores."""
    sql = (
        "SELECT id, WEIGHT() AS w FROM feedqa WHERE MATCH(%s) ORDER BY w DESC, id ASC "
        "LIMIT 50 OPTION ranker=expr('10000*bm25f(1.2,0.75)'), "
        "idf='plain,tfidf_unnormalized', global_idf=1"
    )
    rows, _ = SphinxIndex(layout.url)._query(sql, [" | ".join(terms)])
    return [(int(doc), int(w)) for doc, w in rows]


@needs_sphinx
@pytest.mark.parametrize("path", ["merge", "rebuild"])
def test_a_running_cluster_ranks_with_the_idf_of_its_last_merge_or_rebuild(
    tmp_path: Path, tiny_articles: list[Article], path: str
) -> None:
    """searchd reads the global IDF file as it loads an index: after a merge (of one shard
    only) or a rebuild wrote a new one, every running shard ranks with it, as after a restart."""
    layout = start_cluster(tmp_path, 2, tiny_articles)
    try:
        news = [
            Article(
                id=f"https://news.example/{i}", title=f"快讯{i}", link=f"https://news.example/{i}",
                paragraphs=[f"第{i}家企业完成新一轮融资。"],
            )
            for i in range(12)
        ]  # fmt: skip
        assert {cl.route(a.id, 2) for a in news} == {0, 1}
        if path == "merge":
            Retriever.connect(layout.url, cluster=layout.root).add(news)
            cl.merge(layout, [0])
        else:
            cl.build(layout, [*tiny_articles, *news])
        terms = ["融资", "亿元"]  # 融资 was the rarer word, and is now the commoner
        served = _engine_weights(layout, terms)
        cl.stop(layout)
        cl.start(layout)
        assert served == _engine_weights(layout, terms)
    finally:
        cl.stop(layout)


@needs_sphinx
def test_a_new_global_idf_is_dated_after_the_one_it_replaces(
    tmp_path: Path, tiny_articles: list[Article]
) -> None:
    """searchd reads the file again only if its mtime, in whole seconds, changed: one written
    within the second of the last (here: a file dated ahead) must still be dated after it."""
    layout = cl.Layout(tmp_path, 1, port=free_base_port(2))
    cl.build(layout, tiny_articles[:2])
    idf = tmp_path / "global.idf"
    ahead = int(time.time()) + 100
    os.utime(idf, (ahead, ahead))
    cl.build_idf(layout)
    assert int(idf.stat().st_mtime) > ahead


@needs_sphinx
def test_a_global_idf_cut_short_leaves_the_last_whole_one(
    tmp_path: Path, tiny_articles: list[Article], monkeypatch: pytest.MonkeyPatch
) -> None:
    """indextool writes the file it is given as it goes: a searchd starting (or a build
    failing) half-way must still find the last whole file, and no half-written copy stays."""
    layout = cl.Layout(tmp_path, 1, port=free_base_port(2))
    cl.build(layout, tiny_articles[:2])
    idf = tmp_path / "global.idf"
    whole = idf.read_bytes()

    def cut_short(args: list[str]) -> None:
        Path(args[args.index("--out") + 1]).write_bytes(whole[: len(whole) // 2])
        raise EngineError("indextool failed")

    monkeypatch.setattr(cl, "run_tool", cut_short)
    with pytest.raises(EngineError):
        cl.build_idf(layout)
    assert idf.read_bytes() == whole
    assert sorted(p.name for p in tmp_path.iterdir() if "idf" in p.name) == ["global.idf"]
