"""The feedqa command, in-process, and the REPL through a real pipe."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.repl import Session
from retrieval import ann, semantic

DATA = Path(__file__).parent / "data"


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict[str, str]:
    """An isolated data and cache folder for the command."""
    values = {
        "FEEDQA_DATA_DIR": str(tmp_path / "data"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "HOME": str(tmp_path),
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)
    return values


def test_ask_prints_answer_and_citations(env) -> None:
    result = CliRunner().invoke(cli, ["ask", "京东科技计划在香港IPO募资多少?"])
    assert result.exit_code == 0, result.output
    assert "10亿至20亿美元" in result.output
    assert (
        "[1] 上市终止300天后,京东科技重启IPO (2022-01-25, 第1段) https://www.xyschoolife.com/category/BigTech/sPmMM8JZQzS3TDis.html"
        in result.output
    )


def test_ask_json_is_the_answer_model(env) -> None:
    result = CliRunner().invoke(cli, ["ask", "--json", "-k", "2", "京东科技计划在香港IPO募资多少?"])
    data = json.loads(result.output)
    assert data["answered"] is True and len(data["citations"]) == 2
    assert data["text"] in data["citations"][0]["passage"]


@pytest.mark.parametrize("question", ["   ", "\u200b\u200d", "\ufeff \u2060"])
def test_ask_empty_question_is_a_usage_error(env, question: str) -> None:
    result = CliRunner().invoke(cli, ["ask", question])
    assert result.exit_code == 2 and "empty" in result.output
    assert "Traceback" not in result.output


def test_search_lists_ranked_paragraphs(env) -> None:
    result = CliRunner().invoke(cli, ["search", "京东科技 IPO", "-k", "2"])
    assert result.exit_code == 0
    assert result.output.startswith("1. ")
    assert "\n2. " in result.output and "\n3. " not in result.output


def test_ingest_adds_feeds_and_reports(env, monkeypatch) -> None:
    # sentences another test embedded in this process are remembered: start from none
    monkeypatch.setattr(semantic.encoder(), "_memo", {})
    monkeypatch.setattr(ann, "MIN_ROWS", 8)  # the new segment is partitioned, with progress
    runner = CliRunner()
    result = runner.invoke(cli, ["ingest", str(DATA / "tiny.rss.xml"), str(DATA / "tiny.atom.xml")])
    assert result.exit_code == 0, result.output
    assert "3 articles: 3 new, 0 updated, 0 unchanged" in result.output
    assert "embedding sentences:" in result.output  # the new articles' vectors, with progress
    assert "partitioning sentence vectors: 100%" in result.output
    assert (
        "52 articles" in result.output.splitlines()[-1]
        or "55 articles" in result.output.splitlines()[-1]
    )
    again = runner.invoke(cli, ["ingest", str(DATA / "tiny.rss.xml")])
    assert "0 new, 0 updated, 3 unchanged" in again.output
    answer = runner.invoke(cli, ["ask", "云栖支付C轮融资多少钱?"])
    assert "5亿元" in answer.output


def test_ingest_reports_a_repair_made_while_it_adds(env, monkeypatch) -> None:
    """Another process's ingest, killed mid-append while this one read its second feed, left
    a torn line: this ingest's add moved it to articles.rejected and said nothing (repairs
    were reported only when the library was opened)."""
    import corpus
    from retrieval.articlelog import LOG

    real = corpus.load_feed_report
    log = Path(env["FEEDQA_DATA_DIR"]) / "index" / LOG

    def second_read(source, **limits):
        if source.endswith("atom.xml"):  # the other process, between our two feeds
            with open(log, "ab") as f:
                f.write(b'{"id": "torn", "ti')
        return real(source, **limits)

    monkeypatch.setattr(corpus, "load_feed_report", second_read)
    result = CliRunner().invoke(
        cli, ["ingest", str(DATA / "tiny.rss.xml"), str(DATA / "tiny.atom.xml")]
    )
    assert result.exit_code == 0, result.output
    assert "not a readable article; moved to articles.rejected" in result.output


def test_ingest_keeps_good_items_and_reports_bad_sources(env) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "ingest",
            str(DATA / "truncated.rss.xml"),
            str(DATA / "not-a-feed.txt"),
            "http://127.0.0.1:9/feed.xml",
        ],
    )
    assert result.exit_code == 1
    assert "2 of 3 sources could not be read" in result.output
    assert "Traceback" not in result.output
    assert "new" in result.output


def test_long_work_in_a_log_shows_a_line_every_tenth_and_every_half_minute(
    monkeypatch, capsys
) -> None:
    from bot import console as command

    report = command.Progress()
    for done in range(0, 1001):
        report("embedding sentences", done, 1000)
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"embedding sentences: {p}% ({10 * p:,} of 1,000)" for p in range(0, 101, 10)]
    clock = iter(range(0, 10_000, 31))  # a slow step every 31 s: each one shown
    monkeypatch.setattr(command.time, "monotonic", lambda: next(clock))
    for done in range(0, 5):
        report("embedding sentences", done, 1000)
    assert capsys.readouterr().err.splitlines()[-1] == "embedding sentences: 0% (4 of 1,000)"


def test_eval_prints_the_table(env, tmp_path) -> None:
    qa = tmp_path / "qa.jsonl"
    items = [
        {
            "id": "1",
            "question": "京东科技计划在香港IPO募资多少?",
            "answer": "10亿至20亿美元",
            "alternatives": [],
            "link": "//www.xyschoolife.com/category/BigTech/sPmMM8JZQzS3TDis.html",
            "style": "lexical",
            "type": "number",
        },
        {
            "id": "2",
            "question": "红烧肉怎么做?",
            "answer": None,
            "alternatives": [],
            "link": None,
            "style": "unanswerable",
            "type": "what",
        },
    ]
    qa.write_text("\n".join(json.dumps(i, ensure_ascii=False) for i in items), encoding="utf-8")
    result = CliRunner().invoke(cli, ["eval", str(qa)])
    assert result.exit_code == 0, result.output
    assert "asking questions: 100% (2 of 2)" in result.stderr  # long work shows how far it is
    lines = result.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["style", "n", "ans@1"]
    last = lines[-1].split()
    assert last[:3] == ["all", "2", "1.00"]
    assert last[-2] == "1.00"  # accuracy


def test_eval_rejects_a_broken_file(env, tmp_path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    result = CliRunner().invoke(cli, ["eval", str(bad)])
    assert result.exit_code == 1 and "not JSON" in result.output


def test_repl_session_commands(bundled) -> None:
    s = Session(bundled, k=2)
    out = s.handle("京东科技计划在香港IPO募资多少?")
    assert "10亿至20亿美元" in out and "[2]" in out and "[3]" not in out
    assert "近期有消息称" in s.handle(":sources")
    assert json.loads(s.handle(":json"))["answered"] is True
    assert s.handle(":k 1") and s.k == 1
    assert "usage" in s.handle(":k zero")
    assert s.history and "cleared" in s.handle(":reset") and s.history == []
    assert "unknown command" in s.handle(":nope")
    assert s.handle("") == "" and s.handle("\u200b\ufeff") == ""
    assert s.history == []  # an invisible line is no question
    assert s.handle(":quit") is None


def test_a_repl_follow_up_says_what_it_went_on_from_and_how_to_forget_it(bundled) -> None:
    s = Session(bundled, k=1)
    first = s.handle("京东科技计划在香港IPO募资多少?")
    assert "接着" not in first
    out = s.handle("那保荐人是哪几家?")
    assert out.endswith(
        "(接着上一个问题「京东科技计划在香港IPO募资多少?」回答;不是接着问的话,用 :reset 清除上下文)"
    )
    s.handle(":reset")
    assert "接着" not in s.handle("那保荐人是哪几家?")


def test_ask_with_history_says_what_it_went_on_from(env) -> None:
    result = CliRunner().invoke(
        cli, ["--bundled", "ask", "那保荐人是哪几家?", "-H", "京东科技计划在香港IPO募资多少?"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith("(接着上一个问题「京东科技计划在香港IPO募资多少?」回答)")


def test_repl_through_a_pipe(env) -> None:
    questions = "京东科技计划在香港IPO募资多少?\n\n红烧肉怎么做?\n:quit\n不会被读到\n"
    proc = subprocess.run(
        [sys.executable, "-c", "from bot import main; main()"],
        input=questions,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )
    assert proc.returncode == 0, proc.stderr
    blocks = proc.stdout.strip().split("\n\n")
    assert "10亿至20亿美元" in blocks[0]
    assert "\x1b[" not in proc.stdout  # no colour in a pipe
    assert "资料库中没有找到答案。" in proc.stdout
    assert "不会被读到" not in proc.stdout


def test_index_that_does_not_exist_is_an_error_not_a_new_library(env, tmp_path) -> None:
    """A mistyped --index is reported on reading; only ingest makes a library there."""
    folder = tmp_path / "no-such-library"
    for args in (["ask", "蚂蚁集团什么时候上市?"], ["search", "蚂蚁"]):
        result = CliRunner().invoke(cli, ["--index", str(folder), *args])
        assert result.exit_code == 1
        assert f"no library at {folder}" in result.output and "Traceback" not in result.output
        assert not folder.exists()
    result = CliRunner().invoke(cli, ["--index", str(folder), "ingest", str(DATA / "tiny.rss.xml")])
    assert result.exit_code == 0, result.output
    assert CliRunner().invoke(cli, ["--index", str(folder), "search", "蚂蚁"]).exit_code == 0


def test_a_folder_that_is_no_library_is_never_made_one_by_reading(env, tmp_path) -> None:
    data = Path(env["FEEDQA_DATA_DIR"])
    assert CliRunner().invoke(cli, ["ingest", str(DATA / "tiny.rss.xml")]).exit_code == 0
    before = sorted(p.name for p in data.iterdir())
    result = CliRunner().invoke(cli, ["--index", str(data), "ask", "云栖支付C轮融资多少钱?"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"no library at {data} (did you mean {data / 'index'}?)" in result.output
    assert sorted(p.name for p in data.iterdir()) == before  # nothing written there
    segment = next((data / "index").glob("seg-*"))
    result = CliRunner().invoke(cli, ["--index", str(segment), "search", "云栖"])
    assert result.exit_code == 1 and f"no library at {segment}" in result.output
    assert not (segment / "index.json").exists()


def test_a_library_whose_log_was_deleted_is_still_read(env) -> None:
    assert CliRunner().invoke(cli, ["ingest", str(DATA / "tiny.rss.xml")]).exit_code == 0
    log = Path(env["FEEDQA_DATA_DIR"]) / "index" / "articles.jsonl"
    log.unlink()
    result = CliRunner().invoke(cli, ["ask", "云栖支付C轮融资多少钱?"])
    assert result.exit_code == 0 and "5亿元" in result.output  # not the bundled corpus alone
    assert "articles.jsonl was missing: 52 articles logged from the index" in result.output
    assert log.exists()


@pytest.mark.parametrize(
    "args", [["--bundled", "ingest", "x.xml"], ["--bundled", "--index", "lib", "ask", "谁?"]]
)
def test_options_that_exclude_each_other_are_refused(env, args: list[str]) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "--bundled" in result.output
    assert not Path(env["FEEDQA_DATA_DIR"]).exists()


def test_ask_with_gbk_bytes_from_a_terminal(env) -> None:
    typed = "京东科技计划在香港IPO募资多少?".encode("gbk").decode("utf-8", "surrogateescape")
    result = CliRunner().invoke(cli, ["ask", "--json", typed])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["question"] == "京东科技计划在香港IPO募资多少?" and data["answered"]
    search = CliRunner().invoke(cli, ["search", "\udcff\udcfe"])
    assert search.exit_code == 0 and "Traceback" not in search.output
    stray = "\udced\udca0\udc80京东科技计划在香港IPO募资多少?"  # UTF-8 but for three bytes
    result = CliRunner().invoke(cli, ["ask", "--json", stray])
    data = json.loads(result.output)
    assert data["question"] == "\ufffd" * 3 + "京东科技计划在香港IPO募资多少?" and data["answered"]


def test_piped_repl_survives_a_line_in_another_encoding(env) -> None:
    """A GBK line is read as GB18030; a UTF-8 line with a stray invalid sequence (here the
    UTF-8 form of a lone surrogate) stays UTF-8 with that sequence replaced, rather than
    being misread whole as GB18030."""
    lines = (
        "陆金所2019年的总收入是多少?\n".encode("gbk")
        + b"\xed\xa0\x80"
        + "京东科技计划在香港IPO募资多少?\n".encode()
    )
    proc = subprocess.run(
        [sys.executable, "-c", "from bot import main; main()"],
        input=lines,
        capture_output=True,
        timeout=120,
        env={**os.environ, **env},
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert "Traceback" not in proc.stderr.decode()
    assert "10亿至20亿美元" in proc.stdout.decode()


def test_ingest_on_a_full_disk_is_one_line(env, monkeypatch) -> None:
    import errno

    from retrieval import library

    assert CliRunner().invoke(cli, ["ingest", str(DATA / "tiny.rss.xml")]).exit_code == 0

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(library.os, "write", full)
    result = CliRunner().invoke(cli, ["ingest", str(DATA / "tiny.atom.xml")])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1].startswith("Error: cannot write")
    assert "No space left on device" in result.output


def test_ingest_while_another_writer_holds_the_library(env, monkeypatch) -> None:
    from retrieval import library

    index = Path(env["FEEDQA_DATA_DIR"]) / "index"
    assert CliRunner().invoke(cli, ["ingest", str(DATA / "tiny.rss.xml")]).exit_code == 0
    monkeypatch.setenv("FEEDQA_LOCK_TIMEOUT_SECONDS", "0.2")
    with library.writer_lock(index).acquire(timeout=1):
        result = CliRunner().invoke(cli, ["ingest", str(DATA / "tiny.atom.xml")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "busy: another feedqa process is writing to it" in result.output


def test_a_question_during_an_interrupted_ingest_is_answered_at_once(env, monkeypatch) -> None:
    from corpus import load_feed
    from retrieval import articlelog, library

    index = Path(env["FEEDQA_DATA_DIR"]) / "index"
    assert CliRunner().invoke(cli, ["ingest", str(DATA / "tiny.rss.xml")]).exit_code == 0
    articlelog.append_log(index / "articles.jsonl", load_feed(DATA / "tiny.atom.xml"))  # killed
    monkeypatch.setenv("FEEDQA_LOCK_TIMEOUT_SECONDS", "0.2")
    with library.writer_lock(index).acquire(timeout=1):  # and another ingest is running
        result = CliRunner().invoke(cli, ["ask", "云栖支付C轮融资多少钱?"])
    assert result.exit_code == 0, result.output
    assert "5亿元" in result.output
    assert "! library: 3 articles of articles.jsonl are not indexed yet" in result.output
    finished = CliRunner().invoke(cli, ["ingest"])  # no feed: only the leftovers
    assert finished.exit_code == 0, finished.output
    assert "3 articles of articles.jsonl indexed" in finished.output
    assert "55 articles" in finished.output.splitlines()[-1]
    again = CliRunner().invoke(cli, ["ask", "云栖支付C轮融资多少钱?"])
    assert "not indexed" not in again.output


def test_ctrl_c_during_ingest_says_what_is_kept(env, monkeypatch) -> None:
    from retrieval import Retriever

    def interrupted(self, articles, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Retriever, "add", interrupted)
    result = CliRunner().invoke(cli, ["ingest", str(DATA / "tiny.rss.xml")])
    assert result.exit_code == 130 and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1] == (
        "interrupted: every article logged is kept; `feedqa ingest` indexes any not indexed yet"
    )


def test_a_torn_log_is_reported_not_fatal(env) -> None:
    assert CliRunner().invoke(cli, ["ingest", str(DATA / "tiny.rss.xml")]).exit_code == 0
    log = Path(env["FEEDQA_DATA_DIR"]) / "index" / "articles.jsonl"
    with open(log, "ab") as f:
        f.write('{"id": "x", "title": "补'.encode()[:-1])
    result = CliRunner().invoke(cli, ["ask", "云栖支付C轮融资多少钱?"])
    assert result.exit_code == 0, result.output
    assert "5亿元" in result.output
    assert "line 53: not a readable article; skipped" in result.output


def test_ingest_reports_undecodable_bytes(env, tmp_path) -> None:
    feed = tmp_path / "gbk-as-utf8.xml"
    feed.write_bytes((DATA / "tiny.rss.xml").read_text(encoding="utf-8").encode("gbk"))
    result = CliRunner().invoke(cli, ["ingest", str(feed)])
    assert result.exit_code == 0, result.output
    assert "! declared utf-8 but the bytes are gb18030" in result.output
    assert "3 articles: 3 new" in result.output


# --- the process: its streams and signals ------------------------------------------------------


def feedqa(args: list[str], env: dict[str, str], **kwargs) -> subprocess.Popen:
    """`feedqa ARGS` as its own process, through the installed entry point's function."""
    code = "import sys; from bot import main; sys.argv[1:] = sys.argv[2:]; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, "feedqa", *args],
        env={**os.environ, **env}, stderr=subprocess.PIPE, text=True, **kwargs,
    )  # fmt: skip


def test_an_output_that_cannot_be_written_is_one_line_and_ingest_reads_every_feed(env) -> None:
    feeds = [str(DATA / "tiny.rss.xml"), str(DATA / "tiny.atom.xml")]
    with open("/dev/full", "w") as full:
        for args in (["--bundled", "ask", "京东科技计划在哪里上市?"], ["ingest", *feeds]):
            proc = feedqa(args, env, stdout=full)
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 1 and "Traceback" not in err, err
            assert err.strip().splitlines()[-1] == (
                "Error: cannot write the output: No space left on device"
            )
    library = CliRunner().invoke(cli, ["search", "北辰证券", "-k", "1"])  # from the second feed
    assert "北辰证券今年将投入3亿元建设云平台" in library.output


def test_ctrl_c_exits_130_with_no_traceback(env) -> None:
    for wait in (0.3, 6.0):  # while the modules load, and while the REPL reads its input
        proc = feedqa(["--bundled", "repl"], env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        time.sleep(wait)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130 and "Traceback" not in err and "Aborted" not in err, err


def test_closed_streams_are_no_traceback(env) -> None:
    proc = feedqa(["--bundled", "repl"], env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    assert proc.wait(timeout=120) == 0
    closed_in = feedqa(["--bundled", "repl"], env, stdout=subprocess.PIPE, pass_fds=(),
                       preexec_fn=lambda: os.close(0))  # fmt: skip
    _, err = closed_in.communicate(timeout=120)
    assert closed_in.returncode == 0 and "Traceback" not in err, err
    closed_out = feedqa(["--bundled", "ask", "京东科技计划在哪里上市?"], env,
                        preexec_fn=lambda: os.close(1))  # fmt: skip
    _, err = closed_out.communicate(timeout=120)
    assert closed_out.returncode == 1 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "Error: the output is closed"


def test_a_search_cut_to_its_limit_says_so(env) -> None:
    from retrieval.answering import MAX_QUESTION_CHARS

    long = CliRunner().invoke(cli, ["--bundled", "search", "京东科技" * MAX_QUESTION_CHARS])
    short = CliRunner().invoke(cli, ["--bundled", "search", "京东科技"])
    assert long.exit_code == 0 and f"只读取了前 {MAX_QUESTION_CHARS} 个字符" in long.output
    assert "只读取了前" not in short.output


def test_an_ingest_that_reads_no_feed_makes_no_library(env, tmp_path) -> None:
    result = CliRunner().invoke(cli, ["--index", str(tmp_path / "lib"), "ingest", "nowhere.xml"])
    assert result.exit_code == 1 and "1 of 1 sources could not be read" in result.output
    assert not (tmp_path / "lib").exists()


def test_a_folder_that_cannot_be_made_is_named_not_called_the_output(env, tmp_path) -> None:
    (tmp_path / "afile").write_text("x")
    proc = feedqa(["cluster", "init", "--shards", "1"], {**env, "FEEDQA_CLUSTER_DIR": str(tmp_path / "afile")},
                  stdout=subprocess.PIPE)  # fmt: skip
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == f"Error: File exists: {tmp_path / 'afile'}"


def test_ingest_with_stderr_closed_reads_and_indexes_every_feed(env) -> None:
    """`feedqa ingest FEED 2>&-` (a cron job, a daemon): the progress that cannot be shown
    stops nothing."""
    feeds = [str(DATA / "tiny.rss.xml"), str(DATA / "tiny.atom.xml")]
    proc = feedqa(["ingest", *feeds], env, stdout=subprocess.PIPE,
                  preexec_fn=lambda: os.close(2))  # fmt: skip
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert out.count("3 articles: 3 new") == 2 and "55 articles" in out.splitlines()[-1]
    library = CliRunner().invoke(cli, ["search", "北辰证券", "-k", "1"])  # indexed, not only logged
    assert "北辰证券今年将投入3亿元建设云平台" in library.output
    assert "not indexed" not in library.output


EMOJI_QUESTION = "😀京东科技计划在香港IPO募资多少?"


@pytest.mark.parametrize("encoding", ["gbk", "latin-1"])
def test_characters_the_output_encoding_lacks_are_no_traceback(env, encoding: str) -> None:
    """A GBK terminal has no emoji, a Latin-1 one no Chinese: the answer is still printed
    (what cannot be shown replaced), and the JSON is still JSON."""
    proc = subprocess.run(
        [sys.executable, "-c", "from bot import main; main()", "--bundled", "ask", "--json",
         EMOJI_QUESTION],
        capture_output=True, timeout=120, env={**os.environ, **env, "PYTHONIOENCODING": encoding},
    )  # fmt: skip
    assert proc.returncode == 0 and b"Traceback" not in proc.stderr, proc.stderr.decode()
    data = json.loads(proc.stdout.decode(encoding))
    assert data["answered"] is True
    assert data["question"] == EMOJI_QUESTION.encode(encoding, "replace").decode(encoding)


def test_eval_details_of_a_question_with_a_lone_surrogate_is_no_traceback(env, tmp_path) -> None:
    """JSON may escape a lone surrogate (\\ud800); listing that miss is no traceback, also
    where the output is strict UTF-8 (a UTF-8 locale other than C)."""
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"question": "红烧肉\\ud800怎么做?", "answer": "五花肉"}\n', encoding="utf-8")
    proc = feedqa(["--bundled", "eval", "--details", str(qa)],
                  {**env, "PYTHONIOENCODING": "utf-8"}, stdout=subprocess.PIPE)  # fmt: skip
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert "✗" in out and "红烧肉" in out and out.splitlines()[-1].startswith("all")


def test_ingest_with_stdout_closed_still_reads_every_feed(env) -> None:
    """`feedqa ingest FEED >&-`: the report cannot be written, the feeds are still read (the
    README: "ingest reads every feed even when its report cannot be written")."""
    feeds = [str(DATA / "tiny.rss.xml"), str(DATA / "tiny.atom.xml")]
    proc = feedqa(["ingest", *feeds], env, preexec_fn=lambda: os.close(1))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "Error: the output is closed"
    library = CliRunner().invoke(cli, ["search", "北辰证券", "-k", "1"])  # from the second feed
    assert "北辰证券今年将投入3亿元建设云平台" in library.output


def test_a_dot_env_that_is_not_utf8_is_named_in_the_error(env, tmp_path) -> None:
    """A .env saved as GBK by an editor (a Chinese comment): the one line names the file."""
    (tmp_path / ".env").write_bytes("# 机器人的令牌\nFEEDQA_HISTORY_TURNS=3\n".encode("gbk"))
    result = CliRunner().invoke(cli, ["--bundled", "ask", "京东科技计划在哪里上市?"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and ".env" in lines[0] and "UTF-8" in lines[0], lines


def test_ingest_with_stderr_that_cannot_be_written_reads_and_indexes_every_feed(env) -> None:
    """Progress and notes on a stderr whose writes fail (`2>/dev/full`, a full log disk, or
    `2>&-` through a shell script, which leaves fd 2 open read-only) stop nothing, as a closed
    stderr stops nothing."""
    feeds = [str(DATA / "tiny.rss.xml"), str(DATA / "tiny.atom.xml")]
    code = "import sys; from bot import main; sys.argv[1:] = sys.argv[2:]; main()"
    with open("/dev/full", "w") as full:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, "feedqa", "ingest", *feeds],
            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=full, text=True,
        )  # fmt: skip
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert out.count("3 articles: 3 new") == 2 and "55 articles" in out.splitlines()[-1]
    library = CliRunner().invoke(cli, ["search", "北辰证券", "-k", "1"])
    assert "北辰证券今年将投入3亿元建设云平台" in library.output


def test_ingest_with_a_bad_bot_setting_and_stderr_that_cannot_be_written_reads_every_feed(
    env,
) -> None:
    """The note that a bot setting is bad (and ignored here) was written to stderr with no
    care: on `2>/dev/full` it failed the command before a feed was read ("Error: cannot
    write the output"), though the note is no reason to stop an ingest."""
    feeds = [str(DATA / "tiny.rss.xml"), str(DATA / "tiny.atom.xml")]
    code = "import sys; from bot import main; sys.argv[1:] = sys.argv[2:]; main()"
    bad = {"TELEGRAM_QUESTIONS_PER_MINUTE": "many"}
    with open("/dev/full", "w") as full:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, "feedqa", "ingest", *feeds],
            env={**os.environ, **env, **bad}, stdout=subprocess.PIPE, stderr=full, text=True,
        )  # fmt: skip
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert out.count("3 articles: 3 new") == 2 and "55 articles" in out.splitlines()[-1]
