"""A library on disk: how an index is opened and repaired from the articles log
(`articlelog.py`), and the writer lock.

The log (`articles.jsonl`, one Article as JSON a line) is written before an article is
indexed, so the index can always be rebuilt from it; the index, in turn, holds every
article's paragraphs, so a log that lost lines is written again from the index. Writers
hold a file lock on the library (`.lock`), so two processes never interleave.
"""

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from filelock import FileLock, Timeout

from corpus.errors import IndexFileError, LibraryBusyError, LibraryError

from . import vectorstore
from .articlelog import (
    LOG,
    REJECTED,
    LogRead,
    append_log,
    compact_due,
    compact_log,
    log_size,
    read_log,
    set_aside,
    write_log,
)
from .manifest import MANIFEST, is_segment, stamp
from .records import content_hash

if TYPE_CHECKING:
    from corpus import Article

    from .index import Index
    from .retriever import Retriever

LOCK = ".lock"
SAVE_LOCK = ".save.lock"
CATCHING_UP = "indexing the articles an earlier ingest logged but did not index"
"""What progress says while a write first takes up an interrupted ingest."""

LOCK_TIMEOUT = 60.0
"""Seconds a writer waits for another one before the library counts as busy."""


def articles_from_index(index: "Index", ids: set[str] | None = None) -> Iterator["Article"]:
    """The articles an index holds (those in `ids`, or all), rebuilt from its paragraphs.

    An article whose rebuilt text does not match the hash of its record is left out.
    """
    from corpus import Article

    for seg in index.segments:
        doc_article = np.asarray(seg.doc_article)
        order = np.lexsort((np.asarray(seg.doc_para), doc_article))
        counts = np.bincount(doc_article, minlength=len(seg.articles))
        starts = np.concatenate(([0], np.cumsum(counts)))
        for ai, rec in enumerate(seg.articles):
            if ids is not None and rec["id"] not in ids:
                continue
            docs = order[starts[ai] : starts[ai + 1]]
            paragraphs = [seg.paragraph(int(d)) for d in docs]
            if content_hash(rec["title"], paragraphs) != rec["hash"]:
                continue
            yield Article(
                id=rec["id"], title=rec["title"], link=rec["link"], published=rec["published"],
                category=rec["category"], source=rec["source"], paragraphs=paragraphs,
            )  # fmt: skip


def differences(index: "Index", read: LogRead, logged: int) -> tuple[list, set[str]]:
    """What the index and the log disagree on: log articles to index, and ids to log again.

    The log wins for a version written after the index was saved (at line `logged` or
    later); the index wins for articles the log lacks, and for every difference when the
    log is shorter than the index says (it lost lines).
    """
    indexed = {rec["id"]: rec["hash"] for rec in index.articles()}
    to_index = [a for i, a in read.articles.items() if i not in indexed]
    to_log = {i for i in indexed if i not in read.articles}
    lost_lines = read.lines < logged
    for i, article in read.articles.items():
        newer = read.line_of[i] >= logged
        if i not in indexed or not (newer or lost_lines):
            continue
        if content_hash(article.title, article.paragraphs) != indexed[i]:
            if newer and not lost_lines:
                to_index.append(article)
            else:
                to_log.add(i)
    return to_index, to_log


def open_at(
    cls: type["Retriever"], path: Path, lock: FileLock, *, write: bool, catch_up: bool = True,
    in_memory: bool = False, **kwargs,
):  # fmt: skip
    """The library at `path` as a `cls`, repaired; None if that needs writing to it and
    `write` is False (the caller then holds the writer lock and asks again).

    catch_up: False leaves a log ahead of a sound index (an ingest running, or killed) to
    the next write, and serves the index as saved; a damaged index is rebuilt regardless.
    in_memory: for a reader that cannot lock the library (another process writes to it, or
    it is read-only): a damaged index is rebuilt from the log in memory only, and its repair
    on disk left to the next writer.
    """
    from corpus import bundled_feed_path, load_feed

    log = path / LOG
    repairs: list[str] = []
    # nothing there yet, or a first open cut short before its log was written (a kill, a full disk)
    new = not (path / MANIFEST).exists() and (not log.exists() or log.stat().st_size == 0)
    try:
        retriever: Retriever | None = cls.load(path, **kwargs)
    except IndexFileError as exc:
        retriever, damage = None, str(exc)  # (load reads again an index replaced meanwhile)
    if not log.exists() or (new and retriever is None):
        if not write:
            if in_memory and retriever is not None:  # a sound index: served, relogged later
                retriever._path, retriever._file_lock, retriever._behind = path, lock, True
                retriever._log_size = -1
                retriever.repairs = [
                    f"{LOG} is missing; the library cannot be written now, so the next write "
                    "logs its articles again from the index"
                ]
                return retriever
            return None
        if retriever is not None and retriever.index.n_docs:
            written = append_log(log, articles_from_index(retriever.index))
            repairs.append(f"{LOG} was missing: {written} articles logged from the index")
        elif retriever is None and not new:  # its articles are only in the unread index
            raise LibraryError(
                f"{path}: the index cannot be read ({_cause(damage, path)}) and there is no {LOG} "
                "to rebuild it from; if an older release saved it, open it once with that "
                "release (which logs its articles), or remove the folder to start over"
            )
        else:  # a new library: the bundled corpus, whole or not at all
            write_log(log, load_feed(bundled_feed_path()))
    read = read_log(log)
    fate = f"moved to {REJECTED}" if write else "skipped"  # a writer sets them aside, below
    repairs += [f"{LOG} line {n}: not a readable article; {fate}" for n in read.skipped]
    if retriever is None:  # rebuilt from the log, reusing the sentence vectors still intact
        if not write and (not in_memory or not read.articles):
            return None
        segments = [child for child in path.iterdir() if is_segment(child)]
        reuse = [v for v in map(vectorstore.load_vectors, segments) if v is not None]
        retriever = cls.from_articles(read.articles.values(), reuse=reuse, **kwargs)
        retriever._logged = read.lines
        if write:
            shutil.rmtree(path / "tmp-rebuild", ignore_errors=True)
            for child in segments:  # the vectors are mapped: readable once removed
                shutil.rmtree(child, ignore_errors=True)
            retriever.save(path)
            if not new:
                repairs.append(f"index rebuilt from {LOG} ({_cause(damage, path)})")
        else:
            retriever._stamp, retriever._behind = stamp(path), True  # the next write repairs
            repairs.append(
                f"index rebuilt in memory from {LOG} ({_cause(damage, path)}); the library cannot be "
                "written now, so the next write repairs it on disk"
            )
    else:
        to_index, to_log = differences(retriever.index, read, retriever._logged)
        behind = bool(to_index or to_log or retriever._logged != read.lines)
        if behind and not write and catch_up:
            return None
        if behind and not write:
            retriever._behind = True
            if to_index:
                n = len(to_index)
                repairs.append(
                    f"{n} article{'s' * (n > 1)} of {LOG} {'are' if n > 1 else 'is'} not indexed "
                    f"yet (an ingest is running or was interrupted); the next ingest indexes "
                    f"{'them' if n > 1 else 'it'}"
                )
        elif to_log:
            relog = list(articles_from_index(retriever.index, to_log))
            read.lines += append_log(log, relog)
            repairs.append(f"{len(relog)} articles missing from {LOG} logged from the index")
        retriever._path, retriever._file_lock = path, lock
        retriever._log_size = log_size(path)  # read now: its own catch-up starts no other
        if to_index and write:  # the log holds articles the index missed
            progress = kwargs.get("progress") or (lambda what, done, total: None)
            progress(CATCHING_UP, 0, len(to_index))
            retriever.add(to_index, progress=kwargs.get("progress"), _log=False)
            progress(CATCHING_UP, len(to_index), len(to_index))
            repairs.append(f"{len(to_index)} articles of {LOG} indexed")
        if retriever._logged != read.lines and write:
            retriever._logged = read.lines
            retriever.save(path)
    if write and read.skipped:  # the index now holds every readable line: renumbering is safe
        retriever._logged = set_aside(log, read.skipped)
        retriever.save(path)
    retriever._path, retriever._file_lock = path, lock
    retriever._log_size = log_size(path)
    if write:
        compact_if_due(retriever)
    retriever.repairs = repairs
    return retriever


def compact_if_due(retriever: "Retriever") -> None:
    """Rewrite the log of a library opened for writing without the superseded versions of
    its articles, when they are most of it. The log is replaced first: killed before the index
    says its new length, the next open finds it shorter and matching the index, and keeps it."""
    index, path = retriever.index, retriever._path
    assert path is not None
    if not compact_due(retriever._logged, sum(len(s.articles) for s in index.segments)):
        return
    try:
        lines = compact_log(path / LOG)
        if lines is not None:
            retriever._logged = lines
            retriever._write(path, index)
    except (OSError, LibraryError):  # housekeeping (a full disk): the next write sets it right
        retriever._behind = True
    retriever._log_size = log_size(path)


def _cause(damage: str, path: Path) -> str:
    """What an IndexFileError says is wrong, without its path and its advice to rebuild."""
    return damage.removeprefix(f"{path}: ").removesuffix("; rebuild it")


def open_library(
    cls: type["Retriever"], path: object, lock_timeout: float, *, catch_up: bool, **kwargs
):
    """`Retriever.open`: the library at `path`, read, and repaired under the writer lock
    when it needs writing (in memory only, for a reader that cannot lock it)."""
    path = as_folder(path, "library")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LibraryError(f"cannot create the library at {path}: {exc.strerror}") from exc
    lock = writer_lock(path, lock_timeout)
    try:
        retriever = open_at(cls, path, lock, write=False, catch_up=catch_up, **kwargs)
        if retriever is None:  # something to write: again, as the only writer
            try:
                with locked(lock, path):
                    retriever = open_at(cls, path, lock, write=True, **kwargs)
            except LibraryError:  # busy or read-only: a reader makes do in memory
                retriever = None if catch_up else open_at(
                    cls, path, lock, write=False, catch_up=False, in_memory=True, **kwargs
                )  # fmt: skip
                if retriever is None:
                    raise
    except OSError as exc:  # a folder or file it may not read or write
        raise LibraryError(f"cannot open the library at {path}: {exc.strerror or exc}") from exc
    return retriever


def as_folder(path: object, what: str) -> Path:
    """A library's or an index's folder as given (`~` expanded); LibraryError for an empty
    path or something that is not a path."""
    if not isinstance(path, str | os.PathLike):
        raise LibraryError(f"the {what} path must be a path, not {type(path).__name__}")
    if not str(path).strip():
        raise LibraryError(f"no {what} path given")
    return Path(path).expanduser()


def write_again(retriever: "Retriever") -> None:
    """Write a library removed or emptied while `retriever` had it open again, from what
    `retriever` serves (rather than start over from the bundled corpus)."""
    path = retriever._path
    assert path is not None
    retriever._logged = append_log(path / LOG, articles_from_index(retriever.index))
    retriever._log_size = log_size(path)
    retriever._write(path, retriever.index)
    retriever.repairs.append(f"the library at {path} was removed while open: written again")


# --- the writer lock ------------------------------------------------------------------------


def writer_lock(path: Path, timeout: float = LOCK_TIMEOUT) -> FileLock:
    """The library's writer lock (re-entrant within a thread)."""
    return FileLock(path / LOCK, timeout=timeout)


def save_lock(path: Path, timeout: float = LOCK_TIMEOUT) -> FileLock:
    """The lock `Retriever.save` holds on the folder it writes."""
    return FileLock(path / SAVE_LOCK, timeout=timeout)


@contextlib.contextmanager
def locked(lock: FileLock, path: Path, what: str = "library") -> Iterator[None]:
    """Hold `lock` (a library's writer lock, or a save's); LibraryBusyError if another process
    keeps it past its timeout."""
    try:
        lock.acquire()
    except Timeout:
        raise LibraryBusyError(
            f"the {what} at {path} is busy: another feedqa process is writing to it "
            f"(waited {lock.timeout:g}s)"
        ) from None
    except OSError as exc:
        raise LibraryError(f"cannot lock the {what} at {path}: {exc.strerror or exc}") from exc
    try:
        yield
    finally:
        lock.release()
