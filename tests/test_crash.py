"""The library across crashes and races: a first open that fails half-way, a writer opened
before another was killed, a reader that cannot lock a library whose log is missing, a reader
racing a writer's save, two processes writing the same file at once."""

import errno
import os
import time
from pathlib import Path

import numpy as np
import pytest

from corpus import Article
from retrieval import Retriever, articlelog, library, semantic, storage, vectorstore
from retrieval import manifest as manifest_module
from retrieval.articlelog import LOG

BUNDLED = 49


def article(n: int, text: str) -> Article:
    return Article(
        id=f"extra-{n}", title=f"第{n}条补充新闻", link=f"https://extra.example/{n}",
        paragraphs=[text],
    )  # fmt: skip


def test_a_first_open_cut_short_by_a_full_disk_still_starts_with_the_bundled_corpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int, data) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(articlelog.os, "write", full)
    with pytest.raises(library.LibraryError, match="No space left on device"):
        Retriever.open(tmp_path / "new")  # the first `feedqa ingest`, on a full disk
    monkeypatch.undo()  # space freed
    opened = Retriever.open(tmp_path / "new")
    assert opened.info()["articles"] == BUNDLED


def test_a_first_open_killed_before_its_log_was_written_still_starts_with_the_bundled_corpus(
    tmp_path: Path,
) -> None:
    new = tmp_path / "new"
    new.mkdir()
    (new / LOG).touch()  # O_CREAT done, killed before the write: an empty log and no index
    assert Retriever.open(new).info()["articles"] == BUNDLED


def test_a_first_open_killed_while_it_logged_the_bundled_corpus_starts_with_all_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed half-way through writing the bundled corpus to a new library's log: the next
    open took the part written for a library of its own, and served 20-odd of the 49
    articles for good."""
    real_write = articlelog.os.write

    def killed(fd: int, data) -> int:
        real_write(fd, bytes(data[: len(data) // 2]))
        raise KeyboardInterrupt  # as a kill ends the process: nothing after it runs

    monkeypatch.setattr(articlelog.os, "write", killed)
    with pytest.raises(KeyboardInterrupt):
        Retriever.open(tmp_path / "new")
    monkeypatch.undo()
    assert Retriever.open(tmp_path / "new").info()["articles"] == BUNDLED


def test_an_update_a_killed_ingest_logged_is_not_lost_to_a_writer_opened_before(lib: Path) -> None:
    Retriever.open(lib).add([article(1, "海鸥银行改名为海燕银行。")])
    writer = Retriever.open(lib)  # ingest B opens the library
    articlelog.append_log(
        lib / LOG, [article(1, "海鸥银行改名为信天翁银行。")]
    )  # A: logged, killed
    writer.add([article(2, "云雀证券发布新产品。")])  # B writes next
    for opened in (writer, Retriever.open(lib)):
        assert "信天翁" in opened.search("海鸥银行改名", k=1)[0].text


def test_a_reader_serves_a_sound_index_whose_log_is_missing_when_it_cannot_lock(
    lib: Path,
) -> None:
    (lib / LOG).unlink()
    holder = library.writer_lock(lib)  # an ingest holds the library (or it is read-only)
    with holder.acquire(timeout=1):
        reader = Retriever.open(lib, lock_timeout=0.2, catch_up=False)
    assert reader.info()["articles"] == 55


def test_a_reader_never_waits_for_the_lock_when_a_save_replaced_the_index_under_it(
    lib: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = Retriever.open(lib)
    writer.add([article(1, "海鸥银行第1次发布新产品。")])  # a second segment
    real = manifest_module.read_index_manifest
    raced: list[bool] = []
    holder = library.writer_lock(lib)

    def racing(path: Path) -> dict:
        read = real(path)  # the reader has read index.json ...
        if not raced:
            raced.append(True)
            writer.compact()  # ... then a writer saves, removing the segments it lists
            holder.acquire()  # ... and goes on to its next feed
        return read

    monkeypatch.setattr(manifest_module, "read_index_manifest", racing)
    started = time.monotonic()
    try:
        reader = Retriever.open(lib, lock_timeout=3, catch_up=False)
    finally:
        waited = time.monotonic() - started
        holder.release()
    assert reader.info()["articles"] == 56
    assert waited < 2  # not the lock timeout


def test_a_repair_made_while_adding_is_reported_not_dropped(lib: Path) -> None:
    """A writer that takes up another process's work at its next add (here a torn line a
    killed ingest left) repaired the log and kept no note of it: a long-running bot, which
    reports repairs only when it opens the library, never said so."""
    writer = Retriever.open(lib, semantic=False)
    assert writer.repairs == []
    with open(lib / LOG, "ab") as f:
        f.write(article(9, "半行").model_dump_json().encode()[:40])  # killed mid-append
    writer.add([article(1, "海鸥银行改名为海燕银行。")])
    assert writer.repairs == [f"{LOG} line 56: not a readable article; moved to articles.rejected"]


# --- two processes writing the same file at once ------------------------------------------------


def test_two_writers_replacing_one_file_at_once_each_put_a_whole_copy_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two REPLs starting at once trim the same history, two starts cache the bundled
    index: each writes a copy beside the file and renames it. They shared the copy's name,
    so one removed or overwrote the other's, which then failed (or renamed a half-written
    copy into place)."""
    path = tmp_path / "repl-history"
    path.write_bytes(b"old")
    real_fsync = os.fsync

    def other_writer_meanwhile(fd: int) -> None:
        monkeypatch.setattr(os, "fsync", real_fsync)
        storage.replace_file(path, b"second\n" * 100)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", other_writer_meanwhile)
    storage.replace_file(path, b"first\n" * 100, mode=0o600)
    assert path.read_bytes() == b"first\n" * 100  # the last one renamed, whole
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["repl-history"]


def test_two_saves_of_one_segment_at_once_each_leave_a_whole_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_articles: list[Article]
) -> None:
    """Two processes building the bundled corpus's cache at once save the same segment."""
    first = Retriever.from_articles(tiny_articles, semantic=False).index.segments[0]
    second = Retriever.from_articles(tiny_articles[:3], semantic=False).index.segments[0]
    folder = tmp_path / "cache" / first.name
    real_fsync_dir = storage._fsync_dir

    def other_save_meanwhile(tmp: Path) -> None:
        monkeypatch.setattr(storage, "_fsync_dir", real_fsync_dir)
        storage.save_segment(second, folder)
        real_fsync_dir(tmp)

    monkeypatch.setattr(storage, "_fsync_dir", other_save_meanwhile)
    storage.save_segment(first, folder)
    assert storage.load_segment(folder).n_docs == first.n_docs
    assert [p.name for p in folder.parent.iterdir()] == [first.name]


def test_two_saves_of_one_segments_sentence_vectors_at_once_each_leave_them_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two readers that find a segment's sentence vectors missing make and save them again."""
    rng = np.random.default_rng(3)

    def vectors(n: int) -> semantic.Vectors:
        spans = np.array([[i, 0, 5] for i in range(n)], dtype=np.int32)
        hashes = np.arange(1, n + 1, dtype=np.uint64)
        unit = rng.standard_normal((n, semantic.DIM)).astype(np.float32)
        unit /= np.linalg.norm(unit, axis=1, keepdims=True)
        return semantic.Vectors(spans, hashes, unit.astype(np.float16))

    real_fsync = os.fsync

    def other_save_meanwhile(fd: int) -> None:
        monkeypatch.setattr(os, "fsync", real_fsync)
        vectorstore.save_vectors(vectors(2), tmp_path)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", other_save_meanwhile)
    vectorstore.save_vectors(vectors(3), tmp_path)
    saved = vectorstore.load_vectors(tmp_path)
    assert saved is not None and len(saved.hashes) in (2, 3)  # one save's, whole
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_two_saves_of_different_indexes_to_one_folder_at_once_leave_one_whole_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_articles: list[Article]
) -> None:
    """Two processes saving different indexes to one folder interleaved their files: one's
    manifest named segments the other had replaced (or removed), and the folder no longer
    loaded. Saves to one folder now take turns, so it holds the last one whole."""
    import threading

    path = tmp_path / "index"
    first = Retriever.from_articles(tiny_articles[:3], semantic=False)
    first.add(tiny_articles[3:])  # two segments
    second = Retriever.from_articles(tiny_articles[:2], semantic=False)
    assert len(first.index.segments) == 2
    real_write = manifest_module.write_index_manifest
    other = threading.Thread(target=second.save, args=(path,))

    def other_save_meanwhile(*args, **kwargs):
        monkeypatch.setattr(manifest_module, "write_index_manifest", real_write)
        other.start()
        other.join(timeout=0.5)  # it waits for this save (and would have run to its end)
        return real_write(*args, **kwargs)

    monkeypatch.setattr(manifest_module, "write_index_manifest", other_save_meanwhile)
    first.save(path)
    other.join()
    loaded = Retriever.load(path, semantic=False)
    assert loaded.index.n_docs == second.index.n_docs  # the last save's, whole


def test_a_copy_a_killed_writer_left_is_removed_by_a_later_write(
    tmp_path: Path, tiny_articles: list[Article]
) -> None:
    """A write killed before its rename leaves its copy under a name no other write uses (as
    large as the file: a segment, sentence vectors): a later write beside it removes it once
    it is older than any write takes, never a copy another writer is filling now."""
    path = tmp_path / "index.json"
    hour_ago = time.time() - storage.STALE_COPY_S - 60
    left = [tmp_path / "index.json.0badc0de.tmp", tmp_path / "seg-1.0badc0de.tmp"]
    left[0].write_bytes(b"half")
    left[1].mkdir()
    (left[1] / "postings.npy").write_bytes(b"half")
    busy = tmp_path / "index.json.feedf00d.tmp"  # another writer's, just made
    busy.write_bytes(b"filling")
    for p in left:
        os.utime(p, (hour_ago, hour_ago))
    mine = tmp_path / "seg-1.0badc0de.txt"  # not a copy of ours: never touched
    mine.write_bytes(b"x")
    os.utime(mine, (hour_ago, hour_ago))
    storage.replace_file(path, b"{}")
    assert not left[0].exists() and busy.exists() and mine.exists()
    seg = Retriever.from_articles(tiny_articles, semantic=False).index.segments[0]
    storage.save_segment(seg, tmp_path / "seg-2")
    assert not left[1].exists() and busy.exists() and mine.exists()
