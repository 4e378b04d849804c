"""The REPL on a terminal (prompt_toolkit fed through a pipe) and in line mode."""

import contextvars
import errno
import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output.plain_text import PlainTextOutput

from bot.repl import HISTORY_KEPT, Session, run_terminal
from corpus import load_feed
from retrieval import Retriever

DATA = Path(__file__).parent / "data"
QUESTION = "云栖支付C轮融资多少钱?"
ANSWER = "云栖支付今日宣布完成5亿元C轮融资"


@pytest.fixture(scope="module")
def tiny_lexical() -> Retriever:
    return Retriever.from_articles(load_feed(DATA / "tiny.rss.xml"), semantic=False)


def on_terminal(session: Session, typed: str, history_file: Path | None = None) -> str:
    """What the terminal REPL shows for `typed` (keys, Enter as \\r); it must end by itself."""
    shown = io.StringIO()
    with create_pipe_input() as keys, create_app_session(input=keys, output=PlainTextOutput(shown)):
        keys.send_text(typed)
        context = contextvars.copy_context()  # the app session lives in a context variable
        loop = threading.Thread(
            target=context.run, args=(run_terminal, session, history_file), daemon=True
        )
        loop.start()
        loop.join(60)
        assert not loop.is_alive(), "the REPL is stuck"
    return shown.getvalue()


class Interrupted(Session):
    """A session whose answers to lines starting with "slow" are interrupted by Ctrl-C."""

    def handle(self, line: str) -> str | None:
        if line.startswith("slow"):
            raise KeyboardInterrupt
        return super().handle(line)


def test_ctrl_c_while_answering_returns_to_the_prompt(tiny_lexical: Retriever) -> None:
    shown = on_terminal(Interrupted(tiny_lexical), f"slow question\r{QUESTION}\r:quit\r")
    assert "已取消" in shown and ANSWER in shown


def test_a_history_file_it_cannot_use_is_said_once_and_kept_in_memory(
    tiny_lexical: Retriever, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unusable = tmp_path / "repl-history"
    unusable.mkdir()  # a folder where the file belongs
    shown = on_terminal(Session(tiny_lexical), f"{QUESTION}\r:quit\r", unusable)
    assert ANSWER in shown and "Press ENTER" not in shown
    assert capsys.readouterr().out.count("历史记录不可用") == 1


def test_the_history_file_of_questions_is_readable_by_its_owner_only(
    tiny_lexical: Retriever, tmp_path: Path
) -> None:
    history = tmp_path / "data" / "repl-history"
    on_terminal(Session(tiny_lexical), f"{QUESTION}\r:quit\r", history)
    assert QUESTION in history.read_text(encoding="utf-8")
    assert history.stat().st_mode & 0o077 == 0


def test_a_history_file_an_older_release_made_readable_by_all_is_made_owner_only(
    tiny_lexical: Retriever, tmp_path: Path
) -> None:
    history = tmp_path / "data" / "repl-history"
    history.parent.mkdir()
    history.write_text("\n# 2024-01-01 10:00:00.000000\n+云栖支付融资了多少?\n", encoding="utf-8")
    history.chmod(0o644)  # as releases before 0600 left it
    on_terminal(Session(tiny_lexical), f"{QUESTION}\r:quit\r", history)
    assert history.stat().st_mode & 0o077 == 0
    assert "云栖支付融资了多少?" in history.read_text(encoding="utf-8")  # kept


def test_the_history_file_keeps_the_latest_questions_not_every_one_ever_asked(
    tiny_lexical: Retriever, tmp_path: Path
) -> None:
    history = tmp_path / "repl-history"
    with history.open("w", encoding="utf-8") as f:  # years of questions, as prompt_toolkit writes
        for n in range(HISTORY_KEPT + 500):
            f.write(f"\n# 2026-01-01 00:00:{n % 60:02d}.000000\n+第{n}个问题\n+第二行\n")
    history.chmod(0o600)
    on_terminal(Session(tiny_lexical), f"{QUESTION}\r:quit\r", history)
    text = history.read_text(encoding="utf-8")
    assert text.count("\n# ") <= HISTORY_KEPT + 2  # and this session's two; was all 1,502
    assert f"+第{HISTORY_KEPT + 499}个问题\n+第二行\n" in text and "+第0个问题" not in text
    assert f"+{QUESTION}\n" in text
    assert history.stat().st_mode & 0o077 == 0


def test_a_history_file_that_is_a_symlink_is_cut_where_it_points(
    tiny_lexical: Retriever, tmp_path: Path
) -> None:
    """A history linked to a file elsewhere (a dotfiles folder) was replaced by a regular
    file when cut: the link was lost and the file it pointed to kept growing."""
    kept = tmp_path / "dotfiles" / "repl-history"
    kept.parent.mkdir()
    with kept.open("w", encoding="utf-8") as f:
        for n in range(HISTORY_KEPT + 10):
            f.write(f"\n# 2026-01-01 00:00:{n % 60:02d}.000000\n+第{n}个问题\n")
    kept.chmod(0o600)
    history = tmp_path / "repl-history"
    history.symlink_to(kept)
    on_terminal(Session(tiny_lexical), f"{QUESTION}\r:quit\r", history)
    assert history.is_symlink()
    text = kept.read_text(encoding="utf-8")
    assert "+第0个问题" not in text and f"+{QUESTION}\n" in text


def piped(data: bytes, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from bot import main; main()", "--bundled"],
        input=data, capture_output=True, timeout=120, env={**os.environ, **env},
    )  # fmt: skip


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"FEEDQA_DATA_DIR": str(tmp_path / "data"), "XDG_CACHE_HOME": str(tmp_path / "c")}


def test_a_byte_order_mark_before_the_first_piped_line_is_no_part_of_it(env) -> None:
    proc = piped(b"\xef\xbb\xbf:quit\n" + "京东科技计划在香港IPO募资多少?\n".encode(), env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b""  # :quit was read as the command it is


def test_utf16_piped_lines_are_read_as_utf16(env) -> None:
    text = "京东科技计划在香港IPO募资多少?\r\n:quit\r\n"
    proc = piped(text.encode("utf-16"), env)
    assert proc.returncode == 0, proc.stderr
    assert "10亿至20亿美元" in proc.stdout.decode()


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, True), ({"NO_COLOR": ""}, False), ({"TERM": "dumb"}, False), ({"TERM": "xterm"}, True)],
)
def test_colour_unless_asked_not_to_or_the_terminal_is_dumb(env, expected: bool) -> None:
    from bot.repl import wants_colour

    assert wants_colour({"TERM": "xterm-256color", **env}) is expected


def on_a_terminal(typed: bytes, env: dict[str, str]) -> bytes:
    """All a `feedqa --bundled` REPL shows on a pseudo-terminal given `typed`."""
    import pty

    main_fd, child_fd = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from bot import main; main()", "--bundled"],
        stdin=child_fd, stdout=child_fd, stderr=child_fd, env={**os.environ, **env},
    )  # fmt: skip
    os.close(child_fd)
    os.write(main_fd, typed)
    shown = b""
    try:
        while chunk := os.read(main_fd, 65536):
            shown += chunk
    except OSError:  # the terminal closed with the process
        pass
    finally:
        os.close(main_fd)
    assert proc.wait(timeout=120) == 0, shown
    return shown


def test_a_dumb_terminal_gets_plain_lines_without_escape_sequences(env) -> None:
    shown = on_a_terminal(
        "京东科技计划在香港IPO募资多少?\n:quit\n".encode(), {**env, "TERM": "dumb"}
    )
    assert "10亿至20亿美元" in shown.decode() and "问> " in shown.decode()
    assert b"\x1b" not in shown


class HungUp(io.RawIOBase):
    """A terminal that hung up under a process that ignores SIGHUP: every read fails."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        raise OSError(errno.EIO, os.strerror(errno.EIO))


def test_input_that_cannot_be_read_is_not_called_the_output(
    env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`nohup feedqa | tee log`, and the terminal closes: reading the questions fails, and
    the one line says so, rather than that the output could not be written."""
    from bot import cli

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["feedqa", "--bundled"])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(HungUp())))
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "Error: cannot read the input: Input/output error"
    ]


@pytest.mark.parametrize(
    "terminal",
    [{"TERM": "xterm"}, {"TERM": "dumb"}, {"TERM": "dumb", "PYTHONIOENCODING": "utf-8"}],
    ids=["prompt_toolkit", "dumb", "dumb-strict-utf8"],
)
def test_a_question_typed_on_a_gbk_terminal_is_read_as_gb18030(env, terminal: dict) -> None:
    """The README: "the CLI reads bytes a GBK terminal sends as GB18030". `feedqa ask` and
    the piped REPL do; so does the REPL on the terminal, whose locale is UTF-8 (strict where
    it is not C: then a dumb terminal's input() failed with a traceback)."""
    typed = "京东科技计划在香港IPO募资多少?".encode("gbk") + b"\r:quit\r"
    shown = on_a_terminal(typed, {**env, **terminal, "LC_ALL": "C.UTF-8"})
    shown = shown.decode("utf-8", "replace")  # the terminal echoes the GBK bytes
    assert "10亿至20亿美元" in shown and "资料库中没有找到答案" not in shown


def test_commands_typed_with_a_chinese_input_method_are_commands(tiny_lexical: Retriever) -> None:
    """With a Chinese input method on, ":" comes out as "：" and a space as "　": those are
    the same commands, not questions sent to the archive (and kept as context)."""
    s = Session(tiny_lexical)
    assert ":help" in s.handle("：help")
    assert "2" in s.handle("：k　2") and s.k == 2
    assert s.handle("：ｑ") is None
    assert s.history == [] and s.last is None


def test_a_repl_quit_during_the_kernels_first_compile_says_why_it_waits(env) -> None:
    """A long session starts compiling the search kernel in the background (a quarter of a
    minute the first time); quitting meanwhile waited in silence. A slow stand-in for the
    compile shows the wait is explained, and the session's answers are all given."""
    stand_in = (
        "import sys, time, types; slow = types.ModuleType('retrieval.kernel'); "
        "slow.warm = lambda width: time.sleep(5); sys.modules['retrieval.kernel'] = slow; "
        "from bot import main; main()"
    )
    questions = "京东科技计划在香港IPO募资多少?\n" * 40
    proc = subprocess.run(
        [sys.executable, "-c", stand_in, "--bundled"],
        input=questions.encode(), capture_output=True, timeout=120, env={**os.environ, **env},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().count("10亿至20亿美元") >= 40
    assert "first compile" in proc.stderr.decode()
