"""The interactive REPL: questions in, cited answers out; plain line mode when piped."""

import codecs
import contextlib
import io
import os
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO, TextIO

from corpus.encoding import decode_text
from retrieval import Answer, FeedqaError, Retriever
from retrieval.answering import MAX_QUESTION_CHARS
from retrieval.storage import replace_file
from retrieval.text import is_blank

from .render import answer_text, sources_text

HELP = """输入问题即可提问 (Type a question in Chinese). Commands:
  :help       this help
  :sources    show the full paragraphs cited by the last answer
  :k N        number of citations per answer (now {k})
  :json       show the last answer as JSON
  :reset      forget the chat context (earlier questions)
  :quit       leave (also Ctrl-D)"""

BOLD_TERM = "\x1b[1;33m{}\x1b[0m"

HISTORY_KEPT = 1000
"""Entries the history file keeps: the oldest go at start-up (prompt_toolkit only appends)."""


class InputError(OSError):
    """The questions could not be read (a terminal that hung up, a failing disk)."""


class Session:
    """One chat: the retriever, the last questions and settings; `handle` turns a line into output."""

    def __init__(
        self, retriever: Retriever, *, k: int = 3, turns: int = 3, color: bool = False
    ) -> None:
        self.retriever = retriever
        self.k = k
        self.turns = turns
        self.history: list[str] = []
        self.last: Answer | None = None
        self.mark: Callable[[str], str] = BOLD_TERM.format if color else str

    def handle(self, line: str) -> str | None:
        """The output for one input line; None means quit."""
        line = line.strip()
        if is_blank(line):
            return ""
        if line.startswith((":", "：")):  # "：" as a Chinese input method types it
            return self.command(line)
        try:
            self.retriever.refresh()  # an ingest may have run beside this session
            answer = self.retriever.ask(line, history=self.history, k=self.k)
        except FeedqaError as exc:
            return f"出错了: {exc}"
        self.last = answer
        recent = [*self.history, line[:MAX_QUESTION_CHARS]][-self.turns :]
        self.history = recent if self.turns > 0 else []  # [-0:] would keep everything
        return answer_text(answer, self.mark, reset=":reset")

    def command(self, line: str) -> str | None:
        """Run a `:command`."""
        # NFKC: full-width letters, digits and the ideographic space of an input method
        name, _, arg = unicodedata.normalize("NFKC", line[1:]).partition(" ")
        name = name.lower()
        if name in ("quit", "q", "exit"):
            return None
        if name in ("help", "h", "?"):
            return HELP.format(k=self.k)
        if name == "reset":
            self.history.clear()
            return "(上下文已清除 / context cleared)"
        if name == "k":
            try:
                value = int(arg)
                if not 1 <= value <= 20:
                    raise ValueError
            except ValueError:
                return "用法 usage: :k N  (1-20)"
            self.k = value
            return f"(每个回答最多 {value} 条引用)"
        if name in ("sources", "src"):
            return (
                sources_text(self.last, self.mark) if self.last else "(还没有回答 / no answer yet)"
            )
        if name == "json":
            return (
                self.last.model_dump_json(indent=2) if self.last else "(还没有回答 / no answer yet)"
            )
        return f"未知命令 unknown command :{name} (try :help)"


def from_terminal(text: str) -> str:
    """Text as typed: bytes the locale could not decode (a GBK terminal) are read as GB18030,
    or replaced if the rest is UTF-8, rather than kept as lone surrogates."""
    if not any("\udc80" <= c <= "\udcff" for c in text):
        return text
    return decode_text(text.encode("utf-8", "surrogateescape"))


def decoded_lines(stream: BinaryIO) -> Iterator[str]:
    """The lines of a byte stream as text: UTF-16 if it starts with its byte order mark,
    else each line UTF-8, or GB18030 (a GBK terminal or file), so one line in another
    encoding never ends the session. A UTF-8 byte order mark is no part of the first line."""
    head = stream.peek(2)[:2] if isinstance(stream, io.BufferedReader) else b""
    if head in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        yield from io.TextIOWrapper(stream, encoding="utf-16", errors="replace")
        return
    for n, raw in enumerate(stream):
        yield decode_text(raw.removeprefix(codecs.BOM_UTF8) if n == 0 else raw)


def _reading(lines: Iterable[str]) -> Iterator[str]:
    """`lines`, a failure to read them an InputError (not taken for the output's)."""
    try:
        yield from lines
    except OSError as exc:
        raise InputError(exc.errno, exc.strerror or str(exc)) from exc


def run_pipe(session: Session, stdin: Iterable[str], stdout: TextIO) -> None:
    """One question per line, plain answers separated by blank lines."""
    for line in _reading(stdin):
        out = session.handle(line)
        if out is None:
            break
        if out:
            stdout.write(out + "\n\n")
            stdout.flush()


def run_terminal(session: Session, history_file: Path | None) -> None:
    """Interactive loop with line editing, history and colour."""
    from prompt_toolkit import PromptSession, print_formatted_text
    from prompt_toolkit.formatted_text import ANSI
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    history = InMemoryHistory()
    if history_file:
        try:  # FileHistory reads and appends later, in its event loop: try both here first
            _prepare_history(history_file)
            history = FileHistory(str(history_file))
        except OSError as exc:
            print(f"(历史记录不可用,只保存在本次会话中: {history_file}: {exc.strerror or exc})")
    prompt = PromptSession(history=history)
    _loop(
        session,
        lambda: prompt.prompt(ANSI("\x1b[1;36m问> \x1b[0m")),
        lambda text: print_formatted_text(ANSI(text)),
    )


def _prepare_history(path: Path) -> None:
    """Make the history file, or one an older release left readable by all, readable by its
    owner only (the user's questions, as a shell's history is), and cut it to its last
    HISTORY_KEPT entries; OSError if it cannot be read or written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        if (mode := os.fstat(fd).st_mode) & 0o077:
            with contextlib.suppress(OSError):  # not the user's file: used as it is
                os.fchmod(fd, mode & 0o700)
    finally:
        os.close(fd)
    _keep_latest(path, HISTORY_KEPT)


def _keep_latest(path: Path, keep: int) -> None:
    """Cut a prompt_toolkit history file (each entry a "# time" line, then "+" lines) to its
    last `keep` entries, replaced atomically and readable by its owner only; OSError if it
    cannot be read (one that cannot be cut is left whole). A symlink's file is cut in place."""
    path = Path(os.path.realpath(path))
    data = path.read_bytes()
    starts = [m.start() for m in re.finditer(rb"^#", data, re.MULTILINE)]
    if len(starts) <= keep:
        return
    with contextlib.suppress(OSError):
        replace_file(path, data[starts[-keep] :], mode=0o600)


def run_dumb(session: Session) -> None:
    """Interactive loop for a dumb terminal (an editor's shell): plain lines, no escapes."""
    with contextlib.suppress(AttributeError, ValueError):  # bytes it cannot decode: kept
        sys.stdin.reconfigure(errors="surrogateescape")  # for from_terminal, not an error
    _loop(session, lambda: input("问> "), print)


def _loop(session: Session, read: Callable[[], str], show: Callable[[str], None]) -> None:
    info = session.retriever.info()
    show(
        f"feedqa · {info['articles']} 篇文章, {info['paragraphs']} 段 · :help 查看命令, Ctrl-D 退出"
    )
    while True:
        try:
            line = read()
        except KeyboardInterrupt:
            continue  # Ctrl-C clears the line, like a shell
        except EOFError:
            break
        except OSError as exc:  # the terminal hung up
            raise InputError(exc.errno, exc.strerror or str(exc)) from exc
        try:
            out = session.handle(from_terminal(line))
        except KeyboardInterrupt:
            out = "(已取消 / cancelled)"  # Ctrl-C while answering: back to the prompt
        if out is None:
            break
        if out:
            show(out + "\n")


def run(
    retriever: Retriever, *, k: int = 3, turns: int = 3, history_file: Path | None = None
) -> None:
    """Start the REPL on the terminal, or in line mode when stdin is not a terminal."""
    if sys.stdin.isatty() and sys.stdout.isatty():
        if os.environ.get("TERM") == "dumb":
            run_dumb(Session(retriever, k=k, turns=turns))
        else:
            color = wants_colour(os.environ)
            run_terminal(Session(retriever, k=k, turns=turns, color=color), history_file)
    else:
        run_pipe(Session(retriever, k=k, turns=turns), decoded_lines(sys.stdin.buffer), sys.stdout)


def wants_colour(env: Mapping[str, str]) -> bool:
    """Colour on a terminal unless NO_COLOR is set or the terminal is dumb."""
    return "NO_COLOR" not in env and env.get("TERM") != "dumb"
