"""The cluster's ingest and files under faults: ids a feed renamed, stale pid files, torn or
interrupted writes, damaged layouts, odd folder names, a reader while another process writes.

Like `test_sphinx.py`, the tests that need the engine start their own `searchd` processes on
free loopback ports in a temporary folder and stop them.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from filelock import FileLock
from test_sphinx import free_base_port, needs_sphinx

from bot.cli import cli
from corpus import Article
from retrieval import EngineError, LibraryBusyError, Retriever, remote, shardlog
from retrieval import cluster as cl
from retrieval.searchd import run_tool


def start_cluster(root: Path, shards: int, articles: list[Article]) -> cl.Layout:
    layout = cl.Layout(root, shards, port=free_base_port(shards + 1))
    cl.build(layout, articles)
    cl.start(layout)
    return layout


def _ids(r: Retriever) -> list[str]:
    return sorted(record["id"] for record in r.index.articles())


@needs_sphinx
def test_ingest_recognises_an_article_stored_under_its_bare_guid(
    tmp_path: Path, tiny_articles: list[Article]
) -> None:
    """As the library does: an article stored before its feed's own guid was qualified by
    the feed (`xinghe-1001`, now `https://news.xinghe.example/#xinghe-1001`) is the same
    article, found by its link; an update keeps the id it is stored under."""
    qualified = tiny_articles[0]
    assert qualified.id == "https://news.xinghe.example/#xinghe-1001"
    bare = qualified.model_copy(update={"id": "xinghe-1001"})
    layout = start_cluster(tmp_path, 2, [bare, *tiny_articles[1:]])
    try:
        r = Retriever.connect(layout.url, cluster=layout.root)
        n = r.index.n_docs
        report = r.add(tiny_articles)
        assert (report.added, report.updated, report.unchanged) == (0, 0, 6)
        assert r.index.n_docs == n
        paras = ["云栖支付今日宣布完成8亿元D轮融资,由晨光资本领投。", *qualified.paragraphs[1:]]
        report = r.add([qualified.model_copy(update={"paragraphs": paras})])
        assert (report.added, report.updated) == (0, 1)
        assert r.index.n_docs == n
        assert "xinghe-1001" in _ids(r) and qualified.id not in _ids(r)
        hits = r.search("云栖支付 融资", k=10)
        assert "8亿元D轮" in hits[0].text and not any("5亿元C轮" in h.text for h in hits)
    finally:
        cl.stop(layout)


@needs_sphinx
def test_ingest_skips_a_copy_under_a_new_guid(tmp_path: Path, tiny_articles: list[Article]) -> None:
    """A feed that makes a new guid at every fetch: the same link and text is the stored
    article (unchanged), not a second copy of it."""
    layout = start_cluster(tmp_path, 2, tiny_articles)
    try:
        r = Retriever.connect(layout.url, cluster=layout.root)
        n = r.index.n_docs
        again = [
            a.model_copy(update={"id": f"https://news.xinghe.example/#fetch-2-{i}"})
            for i, a in enumerate(tiny_articles[:3])
        ]
        report = r.add(again)
        assert (report.added, report.updated, report.unchanged) == (0, 0, 3)
        assert r.index.n_docs == n
        assert len(r.index.shards) == 2 and len(_ids(r)) == len(tiny_articles)
    finally:
        cl.stop(layout)


@needs_sphinx
def test_a_stale_pid_file_is_no_running_searchd(tmp_path: Path, tiny_articles) -> None:
    """A searchd killed by SIGKILL (or a power cut) leaves its pid file; once that pid is
    another process's, `start` must start the shard and `stop` must not signal that process."""
    layout = cl.Layout(tmp_path, 2, port=free_base_port(3))
    cl.build(layout, tiny_articles)
    other = subprocess.Popen(["sleep", "60"])
    try:
        (layout.shard_dir(0) / "searchd.pid").write_text(f"{other.pid}\n")
        assert not cl.is_running(layout.shard_dir(0))
        assert cl.status(layout)[0][:2] == ("shard 0", False)
        try:
            cl.start(layout, wait=5)
            assert Retriever.connect(layout.url).index.shards.keys() == {0, 1}
        finally:
            cl.stop(layout)
        assert other.poll() is None, "stop signalled a process that is no searchd"
    finally:
        other.kill()
        other.wait()


@needs_sphinx
@pytest.mark.parametrize("name", ["my cluster", "集群数据", "feeds#1"])
def test_a_cluster_in_a_folder_with_spaces_chinese_or_a_hash(
    tmp_path: Path, tiny_articles, name: str
) -> None:
    layout = start_cluster(tmp_path / name, 2, tiny_articles[:4])
    try:
        r = Retriever.connect(layout.url, cluster=layout.root)
        assert r.index.n_docs == sum(len(a.paragraphs) for a in tiny_articles[:4])
        assert r.add(tiny_articles).added == 2
        r.compact()
        assert r.ask("远山消费金融的注册资本是多少?").answered
    finally:
        cl.stop(layout)


@needs_sphinx
def test_an_ingest_after_a_torn_log_line_indexes_its_articles(
    tmp_path: Path, tiny_articles: list[Article]
) -> None:
    """An ingest killed while appending to a shard's log leaves a torn last line; the next
    ingest's articles must not be glued onto it (and lost while reported as new)."""
    layout = start_cluster(tmp_path, 1, tiny_articles[:4])
    try:
        r = Retriever.connect(layout.url, cluster=layout.root)
        entry = {"slot": 7, "kill": 0, "article": tiny_articles[4].model_dump(mode="json")}
        line = json.dumps(entry, ensure_ascii=False)
        with open(layout.shard_dir(0) / "delta.jsonl", "a", encoding="utf-8") as f:
            f.write(line[: len(line) // 2])  # the kill
        assert r.add([tiny_articles[5]]).added == 1
        assert tiny_articles[5].id in _ids(r)
        assert r.ask("远山消费金融的注册资本是多少?").answered
        assert r.add([tiny_articles[5]]).unchanged == 1
    finally:
        cl.stop(layout)


@needs_sphinx
def test_an_interrupted_merge_loses_no_article(
    tmp_path: Path, tiny_articles: list[Article], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (or a kill) while merge rewrites a shard's main log must not lose the articles
    that log held: the next merge, and `init` after it, still have every one."""
    layout = start_cluster(tmp_path, 1, tiny_articles[:4])
    try:
        r = Retriever.connect(layout.url, cluster=layout.root)
        r.add(tiny_articles)
        real_dumps, calls = json.dumps, []

        def interrupted(*args, **kwargs):
            calls.append(1)
            if len(calls) == 3:  # the third line of the main log
                raise KeyboardInterrupt
            return real_dumps(*args, **kwargs)

        fake_json = type("J", (), {"dumps": interrupted, "loads": json.loads})
        monkeypatch.setattr(shardlog, "json", fake_json)
        with pytest.raises(KeyboardInterrupt):
            cl.merge(layout)
        monkeypatch.undo()
        cl.merge(layout)
        assert sorted(a.id for a in cl.logged_articles(layout)) == sorted(
            a.id for a in tiny_articles
        )
        assert cl.unserved(layout) == []
        r = Retriever.connect(layout.url, cluster=layout.root)
        assert r.index.n_docs == sum(len(a.paragraphs) for a in tiny_articles)
    finally:
        cl.stop(layout)


@needs_sphinx
def test_a_rebuild_on_other_shards_cut_short_loses_no_article(
    tmp_path: Path, tiny_articles: list[Article], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`init --shards 3` over a 2-shard cluster, killed after it rewrote one shard's log: an
    article that moves to a shard not rewritten yet is in neither log, unless the rebuild
    keeps the whole set until it is done."""
    old = cl.Layout(tmp_path, 2, port=free_base_port(3))
    cl.build(old, tiny_articles)
    real, calls = shardlog.write_entries, []

    def killed(path: Path, entries, **kwargs) -> None:
        calls.append(path)
        if len(calls) == 2:  # the first shard's main and delta logs are written
            raise KeyboardInterrupt
        real(path, entries, **kwargs)

    monkeypatch.setattr(shardlog, "write_entries", killed)
    with pytest.raises(KeyboardInterrupt):
        cl.build(cl.Layout(tmp_path, 3, port=old.port), tiny_articles)
    monkeypatch.undo()
    found = cl.Layout.found(tmp_path)
    assert found is not None
    assert sorted(a.id for a in cl.logged_articles(found)) == sorted(a.id for a in tiny_articles)
    for write in (cl.ingest, lambda layout, _: cl.merge(layout)):  # not over the torn shards
        with pytest.raises(EngineError, match=r"cut short.*feedqa cluster init"):
            write(found, tiny_articles[:1])
    cl.build(found, cl.logged_articles(found))  # what init does
    assert sorted(a.id for a in cl.logged_articles(found)) == sorted(a.id for a in tiny_articles)
    assert not (tmp_path / cl.REBUILDING).exists()


@needs_sphinx
@pytest.mark.parametrize("damage", ['{"shards": 2, "ho', "[]", '{"shards": 2, "x": 1}'])
def test_a_damaged_cluster_json_is_one_line_and_init_builds_again(
    tmp_path: Path, damage: str
) -> None:
    """A cluster.json cut short (init killed while writing it) or not a layout: every command
    says so in one line, and `init` (which the message names) builds the cluster again,
    keeping the articles ingested through the cluster."""
    port = free_base_port(3)
    env = {"FEEDQA_DATA_DIR": str(tmp_path / "data"), "FEEDQA_CLUSTER_DIR": str(tmp_path / "c")}
    runner = CliRunner()
    init = ["--bundled", "cluster", "init", "--shards", "2", "--port", str(port)]
    assert runner.invoke(cli, init, env=env).exit_code == 0
    extra = Article(
        id="urn:x:1", title="额外", link="https://x.example/1", paragraphs=["额外的段落。"]
    )
    cl.ingest(cl.Layout.load(tmp_path / "c"), [extra])
    (tmp_path / "c" / "cluster.json").write_text(damage, encoding="utf-8")
    for command in (["cluster", "status"], ["cluster", "start"], ["cluster", "merge"]):
        result = runner.invoke(cli, command, env=env)
        assert result.exit_code == 1, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert result.output.strip().count("\n") == 0, result.output
    result = runner.invoke(cli, init, env=env)
    assert result.exit_code == 0, result.output
    assert "built 50 articles" in result.output, result.output
    assert "urn:x:1" in {a.id for a in cl.logged_articles(cl.Layout.load(tmp_path / "c"))}


@needs_sphinx
def test_a_reader_sees_another_processs_update_of_the_same_size(
    tmp_path: Path, tiny_articles: list[Article], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long-running reader (the bot) and an ingest in another process: once the reader
    checks for changes, it serves the new title and texts, even when the update kept every
    paragraph's length (a corrected title, a corrected figure)."""
    monkeypatch.setattr(remote, "REFRESH_S", 0.0)
    layout = start_cluster(tmp_path, 2, tiny_articles)
    try:
        reader = Retriever.connect(layout.url)
        writer = Retriever.connect(layout.url, cluster=layout.root)
        old = tiny_articles[0]
        assert reader.search("云栖支付 融资", k=1)[0].title == old.title
        assert reader.ask("云栖支付完成了多少融资?").answered
        paras = [old.paragraphs[0].replace("5亿元", "8亿元"), *old.paragraphs[1:]]
        title = old.title.replace("百亿", "千亿")
        assert writer.add([old.model_copy(update={"title": title, "paragraphs": paras})]).updated
        time.sleep(0.01)
        hit = reader.search("云栖支付 融资", k=1)[0]
        assert hit.title == title and "8亿元" in hit.text
        a = reader.ask("云栖支付完成了多少融资?")
        assert all(c.title != old.title for c in a.citations)
    finally:
        cl.stop(layout)


def test_a_second_cluster_writer_waits_then_says_the_cluster_is_busy(
    tmp_path: Path, tiny_articles: list[Article], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer stuck in another process made every other build, ingest and merge wait for
    ever; now each waits the lock timeout, then says the cluster is busy."""
    layout = cl.Layout(tmp_path / "cluster", 2)
    layout.root.mkdir()
    monkeypatch.setattr(cl, "LOCK_TIMEOUT", 0.2)
    writes = {
        "build": lambda: cl.build(layout, tiny_articles),
        "ingest": lambda: cl.ingest(layout, tiny_articles),
        "merge": lambda: cl.merge(layout),
    }
    with FileLock(layout.root / "write.lock").acquire(timeout=1):  # another writer
        for name, write in writes.items():
            raised = errors_within(write, 10)
            assert raised is not None, f"{name} still waits"
            assert len(raised) == 1 and isinstance(raised[0], LibraryBusyError), name
            assert f"the cluster at {layout.root} is busy" in str(raised[0])
    assert not list(layout.root.glob("shard-*")), "nothing was written while it was busy"


def errors_within(call, seconds: float) -> list[BaseException] | None:
    """What `call` raised, run on a thread; None if it is still running after `seconds`."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return None if thread.is_alive() else raised


def test_free_ports_come_from_the_range_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDQA_TEST_PORTS", "29500-29599")
    assert all(29500 <= free_base_port(3) <= 29597 for _ in range(5))


@needs_sphinx
def test_stop_stops_the_others_and_says_why_when_a_shard_hangs(
    tmp_path: Path, tiny_articles: list[Article]
) -> None:
    """A hung shard (SIGSTOP) does not exit on `stop`: the message says so, not Sphinx's
    banner, and the head and the other shards are stopped all the same."""
    layout = start_cluster(tmp_path, 2, tiny_articles)
    pid = int((layout.shard_dir(0) / "searchd.pid").read_text())
    os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(EngineError) as info:
            cl.stop(layout)
        message = str(info.value)
        assert "Copyright" not in message and "shard-0" in message, message
        assert "\n" not in message
        assert not cl.is_running(layout.root) and not cl.is_running(layout.shard_dir(1))
    finally:
        os.kill(pid, signal.SIGCONT)
        cl.stop(layout)


def test_a_searchd_that_exits_though_its_stop_command_failed_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`searchd --stopwait` can exit non-zero while its searchd exits all the same (a stop
    sent to one already stopping): stop's job is done, which is no error."""
    from retrieval import searchd

    layout = cl.Layout(tmp_path, 2)
    running = {tmp_path, layout.shard_dir(0), layout.shard_dir(1)}

    def stopwait(args: list[str]) -> None:
        running.discard(Path(args[2]).parent)  # it exits, yet the command says it failed
        raise EngineError(f"{args[0]} failed: stop: successfully sent SIGTERM to pid 1")

    monkeypatch.setattr(searchd, "is_running", lambda folder: folder in running)
    monkeypatch.setattr(searchd, "run_tool", stopwait)
    searchd.stop(layout)
    assert not running


def test_a_tool_whose_lines_carry_a_timestamp_is_reported_by_its_error() -> None:
    """searchd prefixes its lines with a timestamp and its pid."""
    script = (
        "echo \"[Sun Dec  6 02:12:49.562 2026] [26353] using config file 'x'...\"; "
        "echo \"[Sun Dec  6 02:12:49.562 2026] [26353] FATAL: stop: pid file 'x' does not "
        'exist or is not readable"; '
        "echo 'Sphinx 2.2.11-id64-release (95ae9a6)'; "
        "echo 'Copyright (c) 2008-2016, Sphinx Technologies Inc (http://sphinxsearch.com)'"
    )
    with pytest.raises(EngineError, match=r"failed: FATAL: stop: pid file 'x' does not exist"):
        run_tool(["sh", "-c", script + "; exit 1"])


def test_a_log_line_torn_inside_a_character_loses_no_other_entry(
    tmp_path: Path, tiny_articles: list[Article]
) -> None:
    """A kill tears a log line at a byte, not at a character: most of an article's text is
    Chinese (three bytes a character), so the torn line usually ends inside one. Reading the
    log as strict UTF-8 text then raised UnicodeDecodeError for the whole log: every later
    ingest, merge and indexer run of that shard failed, instead of skipping the torn line."""
    log = tmp_path / "delta.jsonl"
    entries = [
        {"slot": 7 + i, "kill": 0, "article": a.model_dump(mode="json")}
        for i, a in enumerate(tiny_articles[:3])
    ]
    shardlog.write_entries(log, entries[:1])
    raw = json.dumps(entries[1], ensure_ascii=False).encode("utf-8")
    cut = raw.index("。".encode()) + 1  # inside the three bytes of "。"
    with open(log, "ab") as f:
        f.write(raw[:cut])  # the kill
    shardlog.write_entries(log, entries[2:], append=True)
    ids = [e["article"]["id"] for e in shardlog.read_entries(str(log))]
    assert ids == [tiny_articles[0].id, tiny_articles[2].id]
    assert set(shardlog.logged(tmp_path)) == set(ids)


@needs_sphinx
def test_cluster_init_from_a_library_whose_log_has_a_torn_line(
    tmp_path: Path, tiny_articles: list[Article]
) -> None:
    """`cluster init` reads the library's articles log itself, as strict UTF-8 text: a line a
    kill tore inside a character (the library skips it) was a UnicodeDecodeError traceback."""
    env = {"FEEDQA_DATA_DIR": str(tmp_path / "data"), "FEEDQA_CLUSTER_DIR": str(tmp_path / "c")}
    Retriever.open(tmp_path / "data" / "index", semantic=False).add(tiny_articles)
    raw = tiny_articles[0].model_copy(update={"id": "urn:torn"}).model_dump_json().encode()
    with open(tmp_path / "data" / "index" / "articles.jsonl", "ab") as f:
        f.write(raw[: raw.index("。".encode()) + 1])  # the kill, inside the bytes of "。"
    init = ["cluster", "init", "--port", str(free_base_port(1))]
    result = CliRunner().invoke(cli, init, env=env)
    assert result.exit_code == 0, result.output
    assert "built 55 articles" in result.output, result.output


@pytest.mark.parametrize(
    "damage",
    ['{"shards": 100000000}', '{"shards": 2, "port": 99999}', '{"shards": 2, "port": -1}'],
)
def test_a_cluster_json_out_of_range_is_damaged_too(tmp_path: Path, damage: str) -> None:
    """A cluster.json whose numbers init never writes (a digit too many, a port no machine
    has) is as damaged as a mistyped one: `cluster status` went through 100,000,000 shard
    folders (minutes, silent), and a port past 65535 was taken as a cluster that is stopped."""
    env = {"FEEDQA_DATA_DIR": str(tmp_path / "data"), "FEEDQA_CLUSTER_DIR": str(tmp_path / "c")}
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "cluster.json").write_text(damage, encoding="utf-8")
    code = "import sys; from bot import main; sys.argv[1:] = ['cluster', 'status']; main()"
    done = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True,
        timeout=20,
    )  # fmt: skip
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert said.strip().count("\n") == 0 and "is damaged" in said, said


@needs_sphinx
@pytest.mark.parametrize("where", ["write_configs", "_index_all"])
def test_ingest_refuses_after_a_rebuild_cut_short_before_or_after_its_logs(
    tmp_path: Path, tiny_articles: list[Article], monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """`init --shards 3` over a 2-shard cluster, killed after cluster.json says 3 shards but
    before rebuilding.jsonl is written (its configs), or after the logs are written while
    `indexer` builds the shards (the longest part): the shards' indexes hold the old layout,
    yet ingest and merge went on over them (an article moved to another shard is then in
    two indexes, its update in one)."""
    old = cl.Layout(tmp_path, 2, port=free_base_port(3))
    cl.build(old, tiny_articles)

    def killed(*args, **kwargs) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cl, where, killed)
    with pytest.raises(KeyboardInterrupt):
        cl.build(cl.Layout(tmp_path, 3, port=old.port), tiny_articles)
    monkeypatch.undo()
    found = cl.Layout.found(tmp_path)
    assert found is not None and found.shards == 3
    assert sorted(a.id for a in cl.logged_articles(found)) == sorted(a.id for a in tiny_articles)
    for write in (cl.ingest, lambda layout, _: cl.merge(layout)):
        with pytest.raises(EngineError, match=r"cut short.*feedqa cluster init"):
            write(found, tiny_articles[:1])
    cl.build(found, cl.logged_articles(found))  # what init does
    assert not (tmp_path / cl.REBUILDING).exists()
    assert sorted(a.id for a in cl.logged_articles(found)) == sorted(a.id for a in tiny_articles)


@needs_sphinx
def test_two_stops_at_once_are_no_error(tmp_path: Path, tiny_articles: list[Article]) -> None:
    """Two `feedqa cluster stop` at once (two scripts, or a supervisor and a person): the
    second one's `searchd --stopwait` fails while the searchd the first one stops is still
    exiting, and stop named that searchd as hung ("kill -9") the moment after, exit 1."""
    import threading

    layout = start_cluster(tmp_path, 2, tiny_articles)
    errors: list[Exception] = []

    def stop() -> None:
        try:
            cl.stop(layout)
        except EngineError as exc:
            errors.append(exc)

    try:
        threads = [threading.Thread(target=stop) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        assert not any(running for _, running, _ in cl.status(layout))
    finally:
        cl.stop(layout)
