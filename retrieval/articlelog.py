"""The articles log of a library (`articles.jsonl`, one Article as JSON a line): appended
and fsynced before articles are indexed, read line by line, torn lines set aside."""

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from corpus.errors import LibraryError

from .storage import replace_file

if TYPE_CHECKING:
    from corpus import Article

LOG = "articles.jsonl"
REJECTED = "articles.rejected"
"""Where a writer moves the log's unreadable lines (torn writes), byte for byte."""


COMPACT_MIN = 1000
"""Superseded lines (older versions of updated articles) the log keeps before it is
rewritten, at least: it is rewritten once they outnumber the articles too."""


@dataclass
class LogRead:
    """What the articles log holds: the last version of each article and where it is."""

    articles: dict[str, "Article"] = field(default_factory=dict)
    line_of: dict[str, int] = field(default_factory=dict)  # 0-based line of the last version
    lines: int = 0  # lines, counting unreadable ones and an unterminated last one
    skipped: list[int] = field(default_factory=list)  # 1-based numbers of unreadable lines


def read_log(path: Path) -> LogRead:
    """Read the log line by line; a line that is not valid UTF-8 JSON of an Article (a torn
    write after a crash or a full disk) is skipped and listed, never fatal."""
    from corpus import Article

    read = LogRead()
    try:
        with open(path, "rb") as f:
            for n, raw in enumerate(f):
                read.lines += 1
                try:
                    article = Article.model_validate_json(raw.decode("utf-8"))
                except ValueError:  # UnicodeDecodeError and ValidationError included
                    read.skipped.append(n + 1)
                    continue
                read.articles.pop(article.id, None)  # keep log order: last version last
                read.articles[article.id] = article
                read.line_of[article.id] = n
    except OSError as exc:
        raise LibraryError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return read


def append_log(path: Path, articles: Iterable["Article"]) -> int:
    """Append articles to the log (created if missing) and fsync; return the lines written
    (see `append_lines`)."""
    return append_lines(path, [a.model_dump_json().encode("utf-8") + b"\n" for a in articles])


def write_log(path: Path, articles: Iterable["Article"]) -> int:
    """Write a new log whole or not at all (a kill half-way leaves none, not a part taken
    for a library of its own later); return the lines written."""
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()  # a kill's leftover
    written = append_log(tmp, articles)
    try:
        os.replace(tmp, path)
    except OSError as exc:
        raise LibraryError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return written


def append_lines(path: Path, lines: list[bytes]) -> int:
    """Append lines (each ending in a newline) to `path` and fsync; return how many.

    An unterminated last line (a torn write) is ended first, so nothing is glued onto it.
    If writing fails (a full disk), the file is cut back to its old length and LibraryError
    is raised.
    """
    if not lines:
        return 0
    data = b"".join(lines)
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise LibraryError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise
    except OSError as exc:
        raise LibraryError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    return len(lines)


def set_aside(path: Path, skipped: list[int]) -> int:
    """Move the log's lines numbered `skipped` (1-based) to REJECTED beside it, durably and
    before the log is replaced atomically without them; return the lines the log keeps."""
    with open(path, "rb") as f:
        lines = f.readlines()  # split at LF alone, as read_log numbers them
    drop = set(skipped)
    moved = [ln if ln.endswith(b"\n") else ln + b"\n" for n, ln in enumerate(lines, 1) if n in drop]
    kept = [ln for n, ln in enumerate(lines, 1) if n not in drop]
    append_lines(path.with_name(REJECTED), moved)
    try:
        replace_file(path, b"".join(kept))
    except OSError as exc:
        raise LibraryError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return len(kept)


def log_size(library: Path) -> int:
    """The size of the library's log in bytes (-1 if there is none): a writer opened before
    another process logged articles sees it grew, and takes them up before it writes."""
    try:
        return (library / LOG).stat().st_size
    except OSError:
        return -1


def compact_due(lines: int, articles: int) -> bool:
    """Whether a log of `lines` holding `articles` is mostly superseded versions (updates
    append whole copies, which every start reads)."""
    return lines - articles > max(COMPACT_MIN, articles)


def compact_log(path: Path) -> int | None:
    """Rewrite the log with the last version of each article alone, in log order, replaced
    atomically; return its lines, or None if it holds unreadable lines (left to `set_aside`)."""
    read = read_log(path)
    return None if read.skipped else write_log(path, read.articles.values())
