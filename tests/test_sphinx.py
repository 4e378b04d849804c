"""The archive on a Sphinx cluster: parity with the in-process index, ingest, faults.

The tests that need the engine start their own `searchd` processes on free loopback ports in
a temporary folder and stop them; they are skipped only when Sphinx's binaries are missing.
"""

import math
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.cli import cli
from corpus import Article, bundled_feed_path, load_feed
from retrieval import EngineError, Retriever, evaluate
from retrieval import cluster as cl
from retrieval.backend import SearchBackend
from retrieval.index import Index
from retrieval.question import content_terms
from retrieval.searchd import run_tool
from retrieval.sphinx import SphinxIndex
from retrieval.sphinxconf import host_configs
from retrieval.xmlpipe import engine_term

needs_sphinx = pytest.mark.skipif(
    not (shutil.which("searchd") and shutil.which("indexer") and shutil.which("indextool")),
    reason="Sphinx is not installed (apt-get install sphinxsearch)",
)

QA = Path(__file__).parent / "data" / "qa"
WEIGHTS = [1.0, 0.8, 0.6, 0.3]  # the answer step's weights: own, guessed parts, chat, synonym


def free_base_port(n: int) -> int:
    """A port p with p .. p + n free on the loopback, in FEEDQA_TEST_PORTS ("LOW-HIGH", for
    machines shared with other test runs; default 20000-32000, below the ephemeral range)."""
    low, high = map(int, os.environ.get("FEEDQA_TEST_PORTS", "20000-32000").split("-"))
    for _ in range(200):
        base = random.randint(low, high - n)
        ok = True
        for port in range(base, base + n):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free ports")


def start_cluster(root: Path, shards: int, articles: list[Article]) -> cl.Layout:
    layout = cl.Layout(root, shards, port=free_base_port(shards + 1))
    cl.build(layout, articles)
    cl.start(layout)
    return layout


@pytest.fixture(scope="module")
def bundled_articles() -> list[Article]:
    return load_feed(bundled_feed_path())


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory, bundled_articles):
    """The bundled corpus on 3 shards, and a retriever connected to it."""
    layout = start_cluster(tmp_path_factory.mktemp("three"), 3, bundled_articles)
    try:
        yield layout, Retriever.connect(layout.url)
    finally:
        cl.stop(layout)


@pytest.fixture(scope="module")
def local(bundled_articles) -> Retriever:
    # the cluster keeps no sentence vectors: compare with the in-process lexical answers
    return Retriever.from_articles(bundled_articles, semantic=False)


def questions() -> list[str]:
    """Every eighth QA question: a fixed sample of every file's wording (the parity test
    asked them all, and grew slower with every QA file added)."""
    items = [it for path in sorted(QA.glob("*/*.jsonl")) for it in evaluate.read_items(path)]
    return [it["question"] for it in items][::8]


def _keys(r: Retriever, hits: list[tuple[int, float]]) -> list[tuple[str, int]]:
    return [(r.index.article_of(d)[0]["id"], r.index.article_of(d)[1]) for d, _ in hits]


def _ndcg(ranked: list, ideal: list) -> float:
    """nDCG of `ranked` against `ideal`, an item's relevance falling with its rank there."""
    rel = {key: (len(ideal) - i) / len(ideal) for i, key in enumerate(ideal)}
    dcg = sum(rel.get(key, 0) / math.log2(i + 2) for i, key in enumerate(ranked))
    best = sum(rel[key] / math.log2(i + 2) for i, key in enumerate(ideal))
    return dcg / best if best else 1.0


@needs_sphinx
def test_both_indexes_are_search_backends(three, local: Retriever) -> None:
    _, remote = three
    assert isinstance(remote.index, SphinxIndex) and isinstance(remote.index, SearchBackend)
    assert isinstance(local.index, Index) and isinstance(local.index, SearchBackend)


@needs_sphinx
def test_cluster_layout(three) -> None:
    layout, remote = three
    assert set(remote.index.shards) == {0, 1, 2}
    assert all(n > 0 for n, _ in remote.index.shards.values())
    assert remote.index.n_docs == 2440


@needs_sphinx
def test_parity_over_three_shards(three, local: Retriever) -> None:
    """The in-process top-10 for the QA questions, plain and weighted: the same scores in
    the same order, the paragraphs differing only where scores tie (repeated boilerplate)."""
    _, remote = three
    overlaps, ndcgs, same_scores = [], [], 0
    qs = questions()
    for q in qs:
        plain = content_terms(q)
        weighted = [(t, WEIGHTS[i % len(WEIGHTS)]) for i, t in enumerate(plain)]
        for terms in (plain, weighted):
            if not terms:
                continue
            want_hits, got_hits = local.index.top(terms, 10), remote.index.top(terms, 10)
            want, got = _keys(local, want_hits), _keys(remote, got_hits)
            overlaps.append(len(set(want) & set(got)) / max(1, len(want)))
            ndcgs.append(_ndcg(got, want))
            same_scores += len(want_hits) == len(got_hits) and all(
                math.isclose(a, b, rel_tol=1e-4)
                for (_, a), (_, b) in zip(want_hits, got_hits, strict=True)
            )
    assert len(qs) > 300
    assert sum(overlaps) / len(overlaps) >= 0.95
    assert sum(ndcgs) / len(ndcgs) >= 0.95
    assert same_scores == len(overlaps)


@needs_sphinx
def test_scores_equal_in_process(three, local: Retriever) -> None:
    _, remote = three
    for q in ["京东科技 IPO", "陆金所 总收入", "平安 首席科学家"]:
        want = [(p.article_id, p.paragraph, p.score) for p in local.search(q, 10)]
        got = [(p.article_id, p.paragraph, p.score) for p in remote.search(q, 10)]
        assert got == want
        assert remote.index.df(content_terms(q)[0]) == local.index.df(content_terms(q)[0])


@needs_sphinx
def test_answers_equal_in_process(three, local: Retriever) -> None:
    """`ask` through the cluster: the same answers, citations and accuracy."""
    _, remote = three
    items = evaluate.read_items(QA / "held-out" / "train5.jsonl")
    want = evaluate.run(local, items)
    got = evaluate.run(remote, items)
    same = sum(a.answer.text == b.answer.text for a, b in zip(want, got, strict=True))
    assert same / len(items) >= 0.97
    acc = evaluate.summarize(want)["accuracy"], evaluate.summarize(got)["accuracy"]
    assert abs(acc[0] - acc[1]) <= 0.01
    a = remote.ask("京东科技计划在香港IPO募资多少?", history=[])
    assert a.answered and "10亿至20亿美元" in a.text and not a.notes
    assert (
        a.citations[0].paragraph
        == local.ask("京东科技计划在香港IPO募资多少?").citations[0].paragraph
    )


@needs_sphinx
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(question=st.text(max_size=60))
def test_any_question_is_answered_or_abstained(three, question: str) -> None:
    """Any string through the cluster: no exception, citations point at real paragraphs."""
    _, remote = three
    a = remote.ask(question)
    assert not a.answered or a.text in a.citations[0].passage
    assert all(c.passage and c.paragraph >= 1 and c.link for c in a.citations)


@needs_sphinx
def test_a_pasted_long_question_is_answered_with_few_words_per_engine_query(
    three, monkeypatch
) -> None:
    """1,500 distinct characters and a question: each engine query holds a bounded number of
    words (the engine's time grows faster than their number), so no shard times out."""
    _, remote = three
    index = remote.index
    sent: list[int] = []
    query = index._query

    def counting(sql, args=(), **kwargs):
        if "MATCH" in sql:
            sent.append(args[0].count(" | ") + 1)
        return query(sql, args, **kwargs)

    monkeypatch.setattr(index, "_query", counting)
    rng = random.Random(7)
    noise = "".join(rng.sample([chr(c) for c in range(0x4E00, 0x9FA5)], 1500))
    a = remote.ask(noise + "京东科技计划在香港IPO募资多少?")
    assert sent and max(sent) <= SphinxIndex.MAX_WORDS
    assert a.citations


def test_odd_tokens_stay_whole() -> None:
    assert engine_term("京东") == "京东"
    assert engine_term("10.5").startswith("_") and engine_term("c++") != engine_term("c")


@needs_sphinx
def test_ingest_replaces_updated_articles(tmp_path: Path, tiny_articles) -> None:
    layout = start_cluster(tmp_path, 2, tiny_articles[:4])
    try:
        r = Retriever.connect(layout.url, cluster=layout.root)
        assert not r.ask("远山消费金融的注册资本是多少?").answered
        report = r.add(tiny_articles)  # two new, four unchanged
        assert (report.added, report.updated, report.unchanged) == (2, 0, 4)
        a = r.ask("远山消费金融的注册资本是多少?")
        assert a.answered and "10亿元" in a.text
        old = tiny_articles[0]
        paras = ["云栖支付今日宣布完成8亿元D轮融资,由晨光资本领投。", *old.paragraphs[1:3]]
        changed = old.model_copy(update={"paragraphs": paras})
        assert r.add([changed]).updated == 1
        hits = r.search("云栖支付 融资", k=10)
        mine = [h for h in hits if h.article_id == old.id]
        assert "8亿元D轮" in mine[0].text
        assert not any("5亿元C轮" in h.text for h in hits)
        assert len({h.paragraph for h in mine}) == len(mine)  # no duplicates
        n = r.index.n_docs
        assert n == sum(len(a.paragraphs) for a in tiny_articles) - 1
        r.compact()  # deltas folded into main: same results
        assert [(h.article_id, h.paragraph) for h in r.search("云栖支付 融资", k=10)] == [
            (h.article_id, h.paragraph) for h in hits
        ]
        assert r.index.n_docs == n
        final = Retriever.from_articles([changed, *tiny_articles[1:]])
        for term in ("云栖", "融资", "领投", "10亿元"):  # merged: exact statistics again
            assert r.index.df(term) == final.index.df(term)
        want = [(p.article_id, p.paragraph, p.score) for p in final.search("云栖支付 融资", k=5)]
        assert [
            (p.article_id, p.paragraph, p.score) for p in r.search("云栖支付 融资", k=5)
        ] == want
        assert r.add([changed]).unchanged == 1
    finally:
        cl.stop(layout)


@needs_sphinx
def test_an_ingest_that_failed_after_logging_is_indexed_by_the_next_write(
    tmp_path: Path, tiny_articles, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = start_cluster(tmp_path, 2, tiny_articles)
    try:
        r = Retriever.connect(layout.url, cluster=layout.root)
        old = tiny_articles[0]
        paras = ["云栖支付今日宣布完成8亿元D轮融资,由紫藤资本领投。", *old.paragraphs[1:]]
        changed = old.model_copy(update={"paragraphs": paras})
        real = cl._index_all

        def fails(layout, targets):  # indexer dies after the logs are written
            raise EngineError("indexer for shard 0 failed")

        monkeypatch.setattr(cl, "_index_all", fails)
        with pytest.raises(EngineError):
            r.add([changed])
        monkeypatch.setattr(cl, "_index_all", real)
        r.add([tiny_articles[1]])  # the next write, of anything: the logged update is indexed
        assert "8亿元D轮" in r.search("云栖支付 融资 领投", k=1)[0].text
        r.compact()
        assert "8亿元D轮" in r.search("云栖支付 融资 领投", k=1)[0].text
        monkeypatch.setattr(cl, "_index_all", fails)
        with pytest.raises(EngineError):
            r.add([old])
        monkeypatch.setattr(cl, "_index_all", real)
        r.compact()  # a merge first indexes what the log holds
        assert "5亿元C轮" in r.search("云栖支付 融资 领投", k=1)[0].text
    finally:
        cl.stop(layout)


@needs_sphinx
def test_init_again_keeps_the_articles_ingested_through_the_cluster(tmp_path: Path) -> None:
    port = free_base_port(4)
    env = {"FEEDQA_DATA_DIR": str(tmp_path / "data"), "FEEDQA_CLUSTER_DIR": str(tmp_path / "c")}
    runner = CliRunner()
    init = ["--bundled", "cluster", "init", "--port", str(port)]
    try:
        assert runner.invoke(cli, [*init, "--shards", "3"], env=env).exit_code == 0
        env["FEEDQA_ENGINE_URL"] = f"sphinx://127.0.0.1:{port}/feedqa"
        feed = str(Path(__file__).parent / "data" / "tiny.rss.xml")
        runner.invoke(cli, ["cluster", "start"], env=env)
        assert "3 new" in runner.invoke(cli, ["ingest", feed], env=env).output
        again = runner.invoke(cli, [*init, "--shards", "2", "--start"], env=env)  # resharded
        assert again.exit_code == 0, again.output
        assert (
            "built 52 articles" in again.output
            and "3 of them ingested through the cluster" in again.output
        )
        assert not (tmp_path / "c" / "shard-2").exists()
        found = runner.invoke(cli, ["search", "云栖支付 融资", "-k", "1"], env=env)
        assert "云栖支付今日宣布完成5亿元C轮融资" in found.output
    finally:
        runner.invoke(cli, ["cluster", "stop"], env=env)


def test_a_failing_tool_is_reported_by_its_error_not_its_banner() -> None:
    script = "echo 'FATAL: bind() failed: Address already in use'; echo 'Copyright (c) Sphinx'"
    with pytest.raises(EngineError, match="FATAL: bind"):
        run_tool(["sh", "-c", script + "; exit 1"])


@needs_sphinx
def test_a_port_in_use_is_said_at_once(tmp_path: Path, tiny_articles) -> None:
    layout = cl.Layout(tmp_path, 2, port=free_base_port(3))
    cl.build(layout, tiny_articles)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", layout.shard_port(1)))
        taken.listen()
        started = time.monotonic()
        try:
            with pytest.raises(EngineError, match=f"port {layout.shard_port(1)} .* in use"):
                cl.start(layout)
        finally:
            cl.stop(layout)
        assert time.monotonic() - started < 10
    shutil.rmtree(layout.shard_dir(0))
    with pytest.raises(EngineError, match="shard-0 is missing"):
        cl.start(layout)
    assert not any(cl.is_running(f) for f in (layout.shard_dir(1), layout.root))


@needs_sphinx
def test_killed_shard_gives_partial_results_then_recovers(three, bundled_articles) -> None:
    layout, remote = three
    question = "京东科技计划在香港IPO募资多少?"
    link_shard = {a.link: cl.route(a.id, layout.shards) for a in bundled_articles}
    best = remote.ask(question)
    home = link_shard[best.citations[0].link]
    victim = (home + 1) % layout.shards
    pid = int((layout.shard_dir(victim) / "searchd.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    try:
        _wait(lambda: not cl.is_running(layout.shard_dir(victim)))
        a = remote.ask(question)
        assert a.answered and a.text == best.text
        assert a.notes and "partial" in a.notes[0]
        hits = remote.search("京东 科技", k=10)
        assert hits and all(link_shard[h.link] != victim for h in hits)
        assert remote.partial_note()
        seen: dict[str, object] = {}  # info in a thread of its own (notes are per thread)

        def info() -> None:
            seen.update(articles=remote.info()["articles"], note=remote.partial_note())

        worker = threading.Thread(target=info)
        worker.start()
        worker.join(30)
        assert seen["articles"] < len(bundled_articles) and seen["note"]
    finally:
        cl.start(layout)
    a = remote.ask(question)
    assert a.answered and not a.notes
    assert remote.partial_note() is None
    assert {link_shard[h.link] for h in remote.search("京东 科技", k=30)} == {0, 1, 2}


@needs_sphinx
def test_slow_shard_is_left_out_after_the_agent_timeout(tmp_path: Path, tiny_articles) -> None:
    """A shard that hangs (SIGSTOP): answers come from the others after
    agent_query_timeout, marked partial; once it resumes, it answers again."""
    layout = cl.Layout(tmp_path, 3, port=free_base_port(4), agent_query_timeout_ms=300)
    cl.build(layout, tiny_articles)
    cl.start(layout)
    try:
        r = Retriever.connect(layout.url)
        home = cl.route("tag:haichao.example,2022:2003", 3)
        victim = (home + 1) % 3
        assert not r.ask("远山消费金融的注册资本是多少?").notes  # texts and statistics cached
        pid = int((layout.shard_dir(victim) / "searchd.pid").read_text())
        os.kill(pid, signal.SIGSTOP)
        try:
            t = time.monotonic()
            a = r.ask("远山消费金融的注册资本是多少?")
            assert a.answered and "10亿元" in a.text and a.notes
            assert time.monotonic() - t < 5
        finally:
            os.kill(pid, signal.SIGCONT)
        a = r.ask("远山消费金融的注册资本是多少?")
        assert a.answered and not a.notes
    finally:
        cl.stop(layout)


def test_dead_engine_is_a_one_line_error(tmp_path: Path) -> None:
    port = free_base_port(1)
    with pytest.raises(EngineError) as info:
        Retriever.connect(f"sphinx://127.0.0.1:{port}/feedqa")
    assert "not reachable" in str(info.value) and "\n" not in str(info.value)
    env = {"FEEDQA_ENGINE_URL": f"sphinx://127.0.0.1:{port}/feedqa",
           "FEEDQA_DATA_DIR": str(tmp_path)}  # fmt: skip
    result = CliRunner().invoke(cli, ["ask", "京东科技在哪里上市?"], env=env)
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and "not reachable" in result.output


@pytest.mark.parametrize("greeting", [b"", b"\x00\x00\x00\x01"])  # an http server; an agent
def test_a_port_that_is_not_sphinxql_is_said_within_the_timeout(greeting: bytes) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]

        def serve() -> None:
            conn, _ = server.accept()
            with conn:
                conn.sendall(greeting)
                time.sleep(3)

        threading.Thread(target=serve, daemon=True).start()
        started = time.monotonic()
        with pytest.raises(EngineError, match=f"no SphinxQL server at 127.0.0.1:{port}"):
            Retriever.connect(f"sphinx://127.0.0.1:{port}/feedqa", timeout=1)
        assert time.monotonic() - started < 2.5


@needs_sphinx
def test_cluster_commands(tmp_path: Path) -> None:
    """`feedqa cluster init` and `start`, then questions through the cluster; `stop`."""
    port = free_base_port(3)
    env = {"FEEDQA_DATA_DIR": str(tmp_path / "data"), "FEEDQA_CLUSTER_DIR": str(tmp_path / "c")}
    runner = CliRunner()
    try:
        result = runner.invoke(
            cli, ["--bundled", "cluster", "init", "--shards", "2", "--port", str(port)], env=env
        )
        assert result.exit_code == 0, result.output
        result = runner.invoke(cli, ["cluster", "start"], env=env)
        assert result.exit_code == 0, result.output
        assert f"sphinx://127.0.0.1:{port}/feedqa" in result.output
        env["FEEDQA_ENGINE_URL"] = f"sphinx://127.0.0.1:{port}/feedqa"
        result = runner.invoke(cli, ["ask", "京东科技计划在香港IPO募资多少?"], env=env)
        assert result.exit_code == 0 and "10亿至20亿美元" in result.output
        result = runner.invoke(cli, [], input="京东科技计划在香港IPO募资多少?\n", env=env)
        assert result.exit_code == 0 and "10亿至20亿美元" in result.output  # the REPL, piped
        result = runner.invoke(
            cli, ["ingest", str(Path(__file__).parent / "data" / "tiny.rss.xml")], env=env
        )
        assert result.exit_code == 0, result.output
        assert "3 new" in result.output
        result = runner.invoke(cli, ["cluster", "status"], env=env)
        assert result.exit_code == 0 and result.output.count("running") == 3
    finally:
        result = runner.invoke(cli, ["cluster", "stop"], env=env)
    assert result.exit_code == 0
    assert not cl.is_running(tmp_path / "c")
    stopped = runner.invoke(cli, ["cluster", "status"], env=env)  # for health checks
    assert stopped.exit_code == 1 and stopped.output.count("stopped") == 3


@needs_sphinx
def test_a_shard_whose_index_did_not_load_is_said_by_start_and_status(tmp_path: Path) -> None:
    port = free_base_port(3)
    env = {"FEEDQA_DATA_DIR": str(tmp_path / "data"), "FEEDQA_CLUSTER_DIR": str(tmp_path / "c")}
    runner = CliRunner()
    init = ["--bundled", "cluster", "init", "--shards", "2", "--port", str(port), "--start"]
    try:
        assert runner.invoke(cli, init, env=env).exit_code == 0
        assert runner.invoke(cli, ["cluster", "status"], env=env).exit_code == 0
        runner.invoke(cli, ["cluster", "stop"], env=env)
        (tmp_path / "c" / "shard-1" / "main.spa").unlink()
        for command in ("start", "status"):
            result = runner.invoke(cli, ["cluster", command], env=env)
            assert result.exit_code == 1, result.output
            assert "shard 1 serves 0 of its" in result.output
            assert "! shard 0" not in result.output
    finally:
        runner.invoke(cli, ["cluster", "stop"], env=env)


@needs_sphinx
def test_host_config_serves_the_layout(tmp_path: Path, tiny_articles) -> None:
    """The multi-host config, on one host: shards built by `build` answer through it."""
    layout = cl.Layout(tmp_path, 2, port=free_base_port(3))
    cl.build(layout, tiny_articles)
    port = free_base_port(7)
    (conf,) = host_configs(["127.0.0.1"], 2, str(tmp_path), port=port, bind="127.0.0.1").values()
    (tmp_path / "host.conf").write_text(conf, encoding="utf-8")
    proc = subprocess.Popen(
        ["searchd", "-c", str(tmp_path / "host.conf"), "--nodetach"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(lambda: _listening(port))
        r = Retriever.connect(f"sphinx://127.0.0.1:{port}/feedqa")
        assert r.index.n_docs == sum(len(a.paragraphs) for a in tiny_articles)
        a = r.ask("远山消费金融的注册资本是多少?")
        assert a.answered and "10亿元" in a.text and not a.notes
    finally:
        proc.terminate()
        proc.wait(10)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def test_partial_note_is_shown_everywhere() -> None:
    from bot.format import format_answer
    from bot.render import answer_text
    from retrieval import Answer
    from retrieval.remote import PARTIAL_NOTE

    note = PARTIAL_NOTE.format(missing=1)
    a = Answer(question="q", answered=False, text="", notes=[note])
    assert note in answer_text(a)
    assert note in "".join(format_answer(a))
    assert Answer.model_validate_json(a.model_dump_json()).notes == [note]


def test_host_configs_place_mirrors() -> None:
    configs = host_configs(["a", "b", "c"], 3, "/srv/feedqa", replicas=2)
    assert set(configs) == {"a", "b", "c"}
    assert "agent = a:9312|b:9312:main_0,delta_0" in configs["a"]
    assert "index main_0" in configs["a"] and "index main_2" in configs["a"]
    assert "index main_1" not in configs["a"]
    assert "agent_retry_count = 1" in configs["a"]  # a failed mirror is retried on another


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hosts", "a,b", "--port", "70000"], "70000"),
        (["--hosts", "a,b", "--port", "-5"], "-5"),
        (["--hosts", "a,b", "--port", "65530"], "65530"),  # its agents would need 65536
        (["--hosts", "a,a", "--shards", "2"], "a is named twice"),
        (["--hosts", " , "], "no host"),
    ],
)
def test_cluster_config_refuses_what_no_searchd_could_serve(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(cli, ["cluster", "config", *args, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "o").exists()


def _wait(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.05)
