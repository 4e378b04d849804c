"""The library on disk under damage and faults: torn log lines, a full disk, a lost or
shortened log, a corrupted manifest, two writers, and input that is not well-formed Unicode."""

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpus import Article
from retrieval import IndexFileError, QueryError, Retriever, articlelog, library, semantic
from retrieval import manifest as manifest_module
from retrieval.articlelog import LOG, REJECTED
from retrieval.manifest import MANIFEST, manifest_text
from retrieval.retriever import AddReport

BUNDLED = 49


def extra(n: int) -> Article:
    return Article(
        id=f"extra-{n}", title=f"第{n}条补充新闻", link=f"https://extra.example/{n}",
        paragraphs=[f"补充新闻{n}号:海鸥银行第{n}次发布新产品。"],
    )  # fmt: skip


def ids_in_log(path: Path) -> set[str]:
    return set(articlelog.read_log(path / LOG).articles)


def test_a_new_library_starts_with_the_bundled_corpus_and_reports_no_repair(tmp_path) -> None:
    opened = Retriever.open(tmp_path / "new")
    assert opened.info()["articles"] == BUNDLED
    assert opened.repairs == []  # nothing was damaged: there was nothing yet
    assert Retriever.open(tmp_path / "new").repairs == []


# --- 2: a torn last line -------------------------------------------------------------------------


@pytest.mark.parametrize("cut", ["inside a character", "on an ASCII byte"])
def test_a_torn_last_line_is_skipped_reported_and_never_glued_onto(lib: Path, cut: str) -> None:
    log = lib / LOG
    line = extra(1).model_dump_json().encode()
    at = line.index("补".encode()) + 1 if cut == "inside a character" else line.index(b'"link"')
    with open(log, "ab") as f:
        f.write(line[:at])  # a crash or a full disk mid-append
    reader = Retriever.open(lib, catch_up=False)
    assert reader.repairs == [f"{LOG} line 56: not a readable article; skipped"]
    opened = Retriever.open(lib)
    assert opened.info()["articles"] == 55
    assert opened.repairs == [f"{LOG} line 56: not a readable article; moved to {REJECTED}"]
    assert (lib / REJECTED).read_bytes() == line[:at] + b"\n"  # kept, out of the log's way
    assert Retriever.open(lib).repairs == []  # reported once, not at every start
    opened.add([extra(2), extra(3)])
    for seg in lib.glob("seg-*"):
        shutil.rmtree(seg)  # force a rebuild from the log alone
    rebuilt = Retriever.open(lib)
    assert rebuilt.info()["articles"] == 57
    assert {"extra-2", "extra-3"} <= ids_in_log(lib)


def test_an_updated_article_is_read_and_compacted_at_its_last_version_s_place(tmp_path) -> None:
    log = tmp_path / LOG
    newer = extra(1).model_copy(update={"title": "更新"})
    articlelog.append_log(log, [extra(1), extra(2), newer])
    assert list(articlelog.read_log(log).articles.values()) == [extra(2), newer]
    assert articlelog.compact_log(log) == 2
    assert log.read_bytes().splitlines()[1] == newer.model_dump_json().encode()


def test_an_append_after_a_torn_line_starts_a_line_of_its_own(tmp_path) -> None:
    log = tmp_path / LOG
    log.write_bytes(extra(1).model_dump_json().encode()[:20])  # another process's torn write
    assert articlelog.append_log(log, [extra(2)]) == 1
    read = articlelog.read_log(log)
    assert list(read.articles) == ["extra-2"] and read.skipped == [1]


def test_a_new_log_holds_what_was_written_not_a_leftover(tmp_path) -> None:
    (tmp_path / f"{LOG}.tmp").write_bytes(extra(1).model_dump_json().encode() + b"\n")
    assert articlelog.write_log(tmp_path / LOG, [extra(2)]) == 1
    assert list(articlelog.read_log(tmp_path / LOG).articles) == ["extra-2"]
    assert [p.name for p in tmp_path.iterdir()] == [LOG]


@pytest.mark.parametrize(
    "lines, articles, due",
    [(2000, 1000, False), (2001, 1000, True), (5000, 3000, False), (600, 100, False)],
)
def test_the_log_is_compacted_once_superseded_lines_outnumber_both_limits(
    lines: int, articles: int, due: bool
) -> None:
    assert articlelog.compact_due(lines, articles) is due


def test_a_log_with_a_torn_line_is_not_compacted(tmp_path) -> None:
    """Its torn lines are set aside first (by a writer's open), never dropped."""
    log = tmp_path / LOG
    articlelog.append_log(log, [extra(1), extra(1)])
    log.write_bytes(log.read_bytes() + b'{"id": "ex')
    before = log.read_bytes()
    assert articlelog.compact_log(log) is None and log.read_bytes() == before


def test_setting_torn_lines_aside_moves_those_lines_whatever_bytes_they_hold(tmp_path) -> None:
    """A carriage return inside a torn line does not end it: the log's lines end in LF."""
    log = tmp_path / LOG
    good = [extra(n).model_dump_json().encode() + b"\n" for n in (1, 2)]
    torn = [b'{"id": "ex\rtra-\n', b"\x00\x00\n", b"\n"]
    log.write_bytes(torn[0] + good[0] + torn[1] + good[1] + torn[2])
    read = articlelog.read_log(log)
    assert read.skipped == [1, 3, 5]
    assert articlelog.set_aside(log, read.skipped) == 2
    assert log.read_bytes() == b"".join(good)
    assert (tmp_path / REJECTED).read_bytes() == b"".join(torn)


def test_a_full_disk_is_a_clear_error_and_leaves_the_log_as_it_was(
    lib: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = Retriever.open(lib)
    size = (lib / LOG).stat().st_size
    real_write = os.write

    def full(fd: int, data) -> int:
        real_write(fd, bytes(data)[:10])  # part of it lands, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(library.os, "write", full)
    with pytest.raises(library.LibraryError, match="No space left on device"):
        opened.add([extra(1)])
    monkeypatch.undo()
    assert (lib / LOG).stat().st_size == size
    assert opened.info()["articles"] == 55
    assert opened.add([extra(1)]).added == 1
    assert Retriever.open(lib).info()["articles"] == 56


def test_a_segment_a_full_disk_cut_short_is_removed(lib: Path, monkeypatch) -> None:
    """Its part written would hold the disk's last free bytes until the next write."""
    from retrieval import storage

    opened = Retriever.open(lib)
    real_save = storage.np.save

    def full(file, *args, **kwargs) -> None:
        if "post_doc" in str(file):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(file, *args, **kwargs)

    monkeypatch.setattr(storage.np, "save", full)
    with pytest.raises(library.LibraryError, match="No space left on device"):
        opened.add([extra(1)])
    monkeypatch.undo()
    assert not [p.name for p in lib.iterdir() if p.name.endswith(".tmp")]
    assert opened.add([extra(1)]).added == 1


# --- 3: a missing, emptied or shortened log ---------------------------------------------------


@pytest.mark.parametrize("damage", ["deleted", "emptied", "shortened"])
def test_a_lost_log_is_written_again_from_the_index(lib: Path, damage: str) -> None:
    log = lib / LOG
    before = ids_in_log(lib)
    if damage == "deleted":
        log.unlink()
    elif damage == "emptied":
        log.write_bytes(b"")
    else:
        log.write_bytes(b"".join(log.read_bytes().splitlines(keepends=True)[:-4]))
    opened = Retriever.open(lib)
    assert opened.info()["articles"] == 55
    assert ids_in_log(lib) == before
    assert any("from the index" in note for note in opened.repairs)
    lines = len(log.read_bytes().splitlines())
    assert json.loads((lib / MANIFEST).read_text())["logged"] == lines  # relogged ones counted
    for seg in lib.glob("seg-*"):
        shutil.rmtree(seg)
    assert Retriever.open(lib).info()["articles"] == 55  # the log alone now holds them all


def test_a_log_line_the_index_holds_already_is_counted_as_indexed(lib: Path) -> None:
    """The same version logged again (an ingest killed after it logged what it indexed)."""
    log = lib / LOG
    log.write_bytes(log.read_bytes() + log.read_bytes().splitlines(keepends=True)[-1])
    assert Retriever.open(lib).info()["articles"] == 55
    assert json.loads((lib / MANIFEST).read_text())["logged"] == 56


def test_a_rebuild_removes_the_folder_an_older_rebuild_left(lib: Path) -> None:
    (lib / "tmp-rebuild").mkdir()
    (lib / "tmp-rebuild" / "post_doc.npy").write_bytes(b"left")
    (lib / MANIFEST).unlink()
    assert Retriever.open(lib).info()["articles"] == 55
    assert not (lib / "tmp-rebuild").exists()


def test_a_segment_replaced_by_a_file_is_rebuilt_from_the_log(lib: Path) -> None:
    seg = lib / "seg-1"
    shutil.rmtree(seg)
    seg.write_text("not a folder")
    opened = Retriever.open(lib)
    assert any(note.startswith("index rebuilt from") for note in opened.repairs)
    assert opened.info()["articles"] == 55 and seg.is_dir()
    assert Retriever.open(lib).repairs == []


def test_a_library_removed_while_open_is_written_again_from_memory(lib: Path) -> None:
    opened = Retriever.open(lib)
    shutil.rmtree(lib)
    assert opened.add([extra(1)]).added == 1
    assert opened.info()["articles"] == 56  # not the bundled corpus alone
    assert opened.repairs == [f"the library at {lib} was removed while open: written again"]
    again = Retriever.open(lib)
    assert again.info()["articles"] == 56 and len(ids_in_log(lib)) == 56
    assert again.search("海鸥银行第1次", k=1)[0].article_id == "extra-1"


def test_a_segment_whose_file_names_another_segment_is_rebuilt_from_the_log(lib: Path) -> None:
    """One bit flipped in a segment.json's name: served under it, the next add crashed."""
    seg = lib / "seg-1" / "segment.json"
    seg.write_bytes(seg.read_bytes().replace(b'"name": "seg-1"', b'"name": "segm1"'))
    opened = Retriever.open(lib)
    assert any(note.startswith("index rebuilt from") for note in opened.repairs)
    assert opened.add([extra(1)]).added == 1 and opened.info()["articles"] == 56


def test_an_index_of_an_older_format_is_rebuilt_from_the_log(lib: Path) -> None:
    from retrieval.storage import VERSION

    question = "云栖支付融资了多少?"
    before = Retriever.open(lib).ask(question)
    manifest = json.loads((lib / MANIFEST).read_text(encoding="utf-8"))
    (lib / MANIFEST).write_text(manifest_text({**manifest, "version": VERSION - 1}))
    with pytest.raises(IndexFileError, match="rebuild"):
        Retriever.load(lib)
    opened = Retriever.open(lib)
    assert opened.info()["articles"] == 55
    note = next(note for note in opened.repairs if "index rebuilt" in note)
    assert "rebuild it" not in note and str(lib) not in note  # said once, not as advice
    assert f"index version {VERSION - 1} is not {VERSION}" in note
    assert opened.ask(question) == before
    assert json.loads((lib / MANIFEST).read_text(encoding="utf-8"))["version"] == VERSION


def test_an_older_saved_index_without_a_log_is_refused_not_replaced(tmp_path, tiny) -> None:
    """A `Retriever.save` folder of an older release opened as a library: its articles are
    only in its segments, so it is not started over from the bundled corpus."""
    from retrieval.storage import VERSION

    saved = tmp_path / "saved"
    tiny.save(saved)
    manifest = json.loads((saved / MANIFEST).read_text(encoding="utf-8"))
    (saved / MANIFEST).write_text(manifest_text({**manifest, "version": VERSION - 1}))
    before = {p: p.read_bytes() for p in saved.rglob("*") if p.is_file()}
    with pytest.raises(library.LibraryError, match=f"no {LOG} to rebuild it from") as err:
        Retriever.open(saved)
    assert str(saved) in str(err.value) and "\n" not in str(err.value)
    assert {p: p.read_bytes() for p in before} == before  # every file as it was


def test_the_index_wins_for_an_article_the_shortened_log_holds_an_older_version_of(
    lib: Path,
) -> None:
    opened = Retriever.open(lib)
    old = extra(1)
    opened.add([old])
    new = old.model_copy(update={"paragraphs": ["补充新闻1号:海鸥银行改名为海燕银行。"]})
    opened.add([new])
    log = lib / LOG
    log.write_bytes(b"".join(log.read_bytes().splitlines(keepends=True)[:-1]))  # loses `new`
    Retriever.open(lib)
    assert articlelog.read_log(log).articles["extra-1"] == new


# --- 4: index.json's checksum and parameters ---------------------------------------------------


def test_no_bit_flip_of_the_manifest_is_served(tmp_path: Path, tiny: Retriever) -> None:
    tiny.save(tmp_path / "idx")
    manifest = tmp_path / "idx" / MANIFEST
    good = manifest.read_bytes()
    bits = len(good) * 8
    served = 0
    for bit in range(0, bits, max(1, bits // 252))[:252]:
        flipped = bytearray(good)
        flipped[bit // 8] ^= 1 << (bit % 8)
        manifest.write_bytes(bytes(flipped))
        try:
            Retriever.load(tmp_path / "idx")
        except IndexFileError:
            continue
        served += 1
    assert served == 0
    manifest.write_bytes(good)
    assert Retriever.load(tmp_path / "idx").ask("云栖支付C轮融资多少钱?").answered


@pytest.mark.parametrize("text", ['["checksum"]', '"checksum"', "null"])
def test_a_manifest_that_is_no_json_object_is_refused(tmp_path, tiny: Retriever, text) -> None:
    tiny.save(tmp_path / "idx")
    (tmp_path / "idx" / MANIFEST).write_text(text)
    with pytest.raises(IndexFileError, match="no checksum"):
        Retriever.load(tmp_path / "idx")


@pytest.mark.parametrize(
    "change",
    [
        {"params": {"k1": -1.0, "b": 0.75, "idf": "lucene", "epsilon": 0.25}},
        {"params": {"k1": 1.2, "b": 7.5, "idf": "lucene", "epsilon": 0.25}},
        {"params": {"k1": 1.2, "b": 0.75, "idf": "nonsense", "epsilon": 0.25}},
        {"params": {"k1": "NaN", "b": 0.75, "idf": "lucene", "epsilon": 0.25}},
        {"format": "another-index"},
        {"segmenter": "another-segmenter"},
        {"segments": ["../../elsewhere"]},
        {"segments": ["seg-1", "seg-1"]},
        {"logged": -1},
        {"logged": True},
    ],
)
def test_invalid_parameters_are_refused_even_with_a_valid_checksum(
    tmp_path: Path, tiny: Retriever, change: dict
) -> None:
    tiny.save(tmp_path / "idx")
    manifest = tmp_path / "idx" / MANIFEST
    manifest.write_text(manifest_text({**json.loads(manifest.read_text()), **change}))
    with pytest.raises(IndexFileError):
        Retriever.load(tmp_path / "idx")


def test_a_segment_dropped_from_the_manifest_is_not_lost(lib: Path) -> None:
    opened = Retriever.open(lib)
    opened.add([extra(1)])  # a second segment
    manifest = json.loads((lib / MANIFEST).read_text())
    assert len(manifest["segments"]) >= 2
    manifest["segments"] = manifest["segments"][:-1]  # the one holding extra-1
    (lib / MANIFEST).write_text(manifest_text(manifest))
    reopened = Retriever.open(lib)
    assert reopened.info()["articles"] == 56
    assert reopened.search("海鸥银行", k=1)[0].article_id == "extra-1"


# --- 5: two writers ------------------------------------------------------------------------------


def test_a_lock_that_cannot_be_taken_is_no_busy_library(lib: Path) -> None:
    opened = Retriever.open(lib)
    (lib / library.LOCK).unlink()
    (lib / library.LOCK).mkdir()  # not a file it can lock
    with pytest.raises(library.LibraryError, match="cannot lock the library") as err:
        opened.add([extra(1)])
    assert not isinstance(err.value, library.LibraryBusyError)


def test_two_writers_keep_both_their_articles(lib: Path) -> None:
    first, second = Retriever.open(lib), Retriever.open(lib)
    first.add([extra(1)])
    second.add([extra(2)])  # takes up what `first` wrote before writing
    assert second.info()["articles"] == 57
    assert Retriever.load(lib).info()["articles"] == 57  # the index alone, not healed by open
    first.add([extra(3)])
    assert Retriever.load(lib).info()["articles"] == 58


def test_a_second_writer_waits_then_says_the_library_is_busy(lib: Path) -> None:
    opened = Retriever.open(lib, lock_timeout=0.2)
    holder = library.writer_lock(lib)  # another writer
    with holder.acquire(timeout=1), pytest.raises(library.LibraryBusyError, match="busy"):
        opened.add([extra(1)])
    assert opened.add([extra(1)]).added == 1


def test_an_interrupted_ingest_is_answered_around_and_left_to_the_next_writer(lib: Path) -> None:
    articlelog.append_log(lib / LOG, [extra(1)])  # logged, then killed before it was indexed
    holder = library.writer_lock(lib)  # and another writer is busy
    with holder.acquire(timeout=1):
        reader = Retriever.open(lib, lock_timeout=0.2, catch_up=False)  # neither waits nor fails
    assert reader.info()["articles"] == 55  # the last saved index, as it was
    assert reader.repairs == [
        f"1 article of {LOG} is not indexed yet (an ingest is running or was interrupted); "
        "the next ingest indexes it"
    ]
    assert Retriever.load(lib).info()["articles"] == 55  # the reader wrote nothing
    reader.add([extra(2)])  # the next write indexes the leftover too
    assert reader.info()["articles"] == 57
    assert reader.search("海鸥银行第1次", k=1)[0].article_id == "extra-1"
    assert Retriever.load(lib).info()["articles"] == 57


def test_the_write_that_takes_up_an_interrupted_ingest_shows_its_progress(
    lib: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(semantic.encoder(), "_memo", {})  # nothing embedded earlier is reused
    articlelog.append_log(lib / LOG, [extra(1), extra(2)])
    reader = Retriever.open(lib, catch_up=False)
    steps: list[tuple[str, int, int]] = []
    reader.add([extra(3)], progress=lambda *step: steps.append(step))
    assert reader.info()["articles"] == 58
    done = [(what, total) for what, n, total in steps if n == total]
    embedded = [total for what, total in done if what == semantic.EMBEDDING]
    assert embedded == [2, 1]  # the two left over, then the new one
    finishing = [step for step in steps if step[0] == library.CATCHING_UP]
    assert finishing == [(library.CATCHING_UP, 0, 2), (library.CATCHING_UP, 2, 2)]  # said first


def test_an_id_given_twice_is_the_last_copy_and_unchanged_when_given_again(lib: Path) -> None:
    opened = Retriever.open(lib)
    first, last = extra(1), extra(1).model_copy(update={"title": "改过的标题"})
    assert opened.add([first, last]) == AddReport(1, 0, 0)
    size = (lib / LOG).stat().st_size
    assert opened.add([first, last]) == AddReport(0, 0, 1)  # not "updated" every time
    assert (lib / LOG).stat().st_size == size
    assert [r["title"] for r in opened.index.articles() if r["id"] == "extra-1"] == ["改过的标题"]


# --- 6: any string, ask/search/history never raise -------------------------------------------

ANY_CHAR = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
AWKWARD = st.sampled_from(["\ud800", "\udcd6\udcd0", "\ud83d\ude00", "\x00", "\u202e", "e\u0301"])
TEXT = st.lists(st.one_of(st.text(ANY_CHAR, max_size=12), AWKWARD), max_size=5).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(question=TEXT, history=st.lists(TEXT, max_size=3))
def test_any_string_is_asked_searched_and_remembered_without_error(
    tiny: Retriever, question: str, history: list[str]
) -> None:
    answer = tiny.ask(question, history=history)
    answer.model_dump_json()  # well-formed Unicode all the way out
    answer.question.encode("utf-8")
    for hit in tiny.search(question, k=3):
        hit.model_dump_json()


def test_a_lone_surrogate_is_replaced_not_raised(tiny: Retriever) -> None:
    answer = tiny.ask("云栖支付\udcd6C轮融资多少钱?", history=["\ud800"])
    assert answer.question == "云栖支付\ufffdC轮融资多少钱?"
    assert answer.answered
    assert tiny.search("云栖\ud83d\ude00支付", k=1)[0].title.startswith("云栖支付")


def test_a_question_cut_to_its_limit_says_so(tiny: Retriever) -> None:
    from retrieval.answering import MAX_QUESTION_CHARS

    long = "云栖支付C轮融资多少钱?" + "啊" * MAX_QUESTION_CHARS
    assert tiny.ask(long).notes == [f"问题过长,只读取了前 {MAX_QUESTION_CHARS} 个字符"]
    assert tiny.ask("云栖支付C轮融资多少钱?").notes == []


def test_history_must_be_a_list_not_one_string(tiny: Retriever) -> None:
    with pytest.raises(QueryError, match="history must be a list of earlier questions"):
        tiny.ask("它融资多少钱?", history="云栖支付是做什么的?")


def test_open_takes_a_home_path_and_refuses_what_is_no_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert Retriever.open("~/lib").info()["articles"] == BUNDLED
    assert (tmp_path / "lib" / LOG).exists() and not (tmp_path / "~").exists()
    for blank in ("", "  "):
        with pytest.raises(library.LibraryError, match="no library path given"):
            Retriever.open(blank)
    (tmp_path / "file").write_text("x")
    with pytest.raises(library.LibraryError, match="cannot create the library at"):
        Retriever.open(tmp_path / "file")
    with pytest.raises(library.LibraryError, match="the library path must be"):
        Retriever.open(None)  # type: ignore[arg-type]


def test_a_library_it_may_not_read_is_one_clear_error(lib: Path, monkeypatch) -> None:
    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(manifest_module, "read_manifest", denied)
    monkeypatch.setattr(library.shutil, "rmtree", denied)
    with pytest.raises(
        library.LibraryError, match=r"cannot open the library at .*: Permission denied$"
    ):
        Retriever.open(lib)


def damage_postings_only(lib: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Flip a byte in every segment's postings (the vectors stay intact); the list of the
    texts embedded from now on (none was embedded before)."""
    monkeypatch.setattr(semantic.encoder(), "_memo", {})  # nothing embedded earlier is reused
    embedded: list[str] = []
    monkeypatch.setattr(
        semantic.Encoder, "passages", lambda self, texts, p=None: embedded.extend(texts)
    )
    for post in lib.glob("seg-*/post_doc.npy"):  # the postings damaged, the vectors not
        data = bytearray(post.read_bytes())
        data[len(data) // 2] ^= 0x5A
        post.write_bytes(bytes(data))
    return embedded


def test_a_rebuilt_index_reuses_the_intact_sentence_vectors(lib: Path, monkeypatch) -> None:
    embedded = damage_postings_only(lib, monkeypatch)
    opened = Retriever.open(lib)
    assert any(note.startswith("index rebuilt from") for note in opened.repairs)
    assert embedded == []
    assert "5亿元" in opened.ask("云栖支付C轮融资多少钱?").text


def test_a_reader_answers_around_a_damaged_index_it_cannot_lock(lib: Path, monkeypatch) -> None:
    embedded = damage_postings_only(lib, monkeypatch)
    holder = library.writer_lock(lib)  # an ingest holds the library (or it is read-only)
    with holder.acquire(timeout=1):
        reader = Retriever.open(lib, lock_timeout=0.2, catch_up=False)
        with pytest.raises(library.LibraryBusyError):
            Retriever.open(lib, lock_timeout=0.2)  # a writer still waits for the lock
    assert reader.info()["articles"] == 55 and embedded == []
    assert "5亿元" in reader.ask("云栖支付C轮融资多少钱?").text
    assert any("rebuilt in memory" in note for note in reader.repairs)
    with pytest.raises(IndexFileError):
        Retriever.load(lib)  # the reader wrote nothing: the repair is left to the next writer
    assert reader.refresh() is False  # still damaged on disk: the reader keeps its rebuild
    Retriever.open(lib).add([extra(1)])  # the next writer repairs, and adds
    assert reader.refresh() is True and reader.info()["articles"] == 56


def test_a_question_begun_before_a_refresh_keeps_its_sentence_vectors(lib: Path) -> None:
    reader = Retriever.open(lib, catch_up=False)
    old = reader.index  # a question has read the index, and not yet its vectors
    writer = Retriever.open(lib)
    writer.add([extra(1)])
    writer.compact()  # the segments the reader serves are gone from disk
    assert reader.refresh() is True
    assert reader._sentences(old) is not None and reader._sentences(reader.index) is not None


def test_a_lexical_writer_lets_go_of_the_vectors_of_the_segments_it_merged(lib: Path) -> None:
    """A long-lived writer without the encoder: the sentence vectors its open read (and
    mapped) were kept for the life of the process, holding the disk space of the files its
    own compaction removed (2.3 GB at 400x)."""
    import gc

    writer = Retriever.open(lib, semantic=False)
    writer.add([extra(1)])
    writer.compact()
    gc.collect()
    maps = Path("/proc/self/maps").read_text().splitlines()
    held = [m for m in maps if str(lib) in m and "(deleted)" in m]
    assert held == []  # were 7: the sent-*.npy of seg-1 and seg-2
    assert set(writer._vectors.by_segment) <= {s.name for s in writer.index.segments}


def test_a_reader_takes_up_what_a_writer_saved_when_it_refreshes(lib: Path) -> None:
    from bot.repl import Session

    reader = Retriever.open(lib, catch_up=False)
    session = Session(reader, k=1)
    assert reader.refresh() is False  # nothing new
    Retriever.open(lib).add([extra(1)])  # another process ingests
    assert "海鸥银行第1次" in session.handle("海鸥银行第1次发布了什么?")  # the REPL refreshes
    assert reader.info()["articles"] == 56
    assert reader.refresh() is False


@pytest.mark.parametrize("question", ["???!!!。。。", "😀🚀💰", "……"])
def test_a_question_without_a_single_word_lists_no_closest_articles(
    tiny: Retriever, question: str
) -> None:
    answer = tiny.ask(question)
    assert not answer.answered and answer.citations == []


def test_load_beside_a_writer_that_merges_reads_the_index_before_or_after(
    lib: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`Retriever.load` of a library while an ingest in another process writes to it: the
    reader read index.json, the writer saved a merged index and removed the segments it
    replaced, and the reader's next segment was gone: IndexFileError ("unreadable index
    segment ... No such file or directory") about a sound library, at random (14 of 300
    loads beside 300 adds). `save` promises a reader sees the old or the new index."""
    from retrieval import retriever as retriever_module

    writer = Retriever.open(lib, semantic=False)
    writer.add([extra(1)])  # a segment more, which the compaction below merges away
    assert len(writer.index.segments) > 1
    real = retriever_module.load_segment
    merged: list[bool] = []

    def load_segment(folder: Path, **kwargs):
        if not merged:  # the writer's save lands just after the reader read the manifest
            merged.append(True)
            writer.compact()
        return real(folder, **kwargs)

    monkeypatch.setattr(retriever_module, "load_segment", load_segment)
    reader = Retriever.load(lib, semantic=False)
    assert merged and reader.info()["articles"] == 56
    assert reader.search("海鸥银行第1次", k=1)[0].article_id == "extra-1"


def test_load_beside_a_writer_that_keeps_adding_keeps_the_version_it_read(
    lib: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer that saves while every read is under way (a busy ingest) must not make
    `load` read the library again and again, and give up: a read whose segments all loaded
    is one version, the one its manifest named."""
    from retrieval import retriever as retriever_module

    writer = Retriever.open(lib, semantic=False)
    real = retriever_module.load_segment
    reads: list[str] = []

    def load_segment(folder: Path, **kwargs):
        reads.append(folder.name)
        writer.add([extra(len(reads))])  # a new version saved during every read
        return real(folder, **kwargs)

    monkeypatch.setattr(retriever_module, "load_segment", load_segment)
    before = writer.info()["articles"]
    reader = Retriever.load(lib, semantic=False)
    assert reader.info()["articles"] == before
    assert len(reads) == len(set(reads)) == len(reader.index.segments)


def test_a_copy_saved_elsewhere_does_not_make_the_next_add_rewrite_the_library(
    lib: Path, tmp_path: Path
) -> None:
    """A backup (`save` to another folder) moved each segment's "saved in" mark to the
    backup, so the library's next `add` wrote every segment again in place (the whole
    archive, 376 MB at 400x), and a reader opening the library in between found a segment
    folder missing and rebuilt the index from the log."""
    opened = Retriever.open(lib, semantic=False)

    def written() -> dict[str, int]:
        return {p.name: (p / "segment.json").stat().st_ino for p in lib.glob("seg-*")}

    before = written()
    opened.save(tmp_path / "backup")
    opened.add([extra(1)])
    after = written()
    kept = before.keys() & after.keys()
    assert kept, (before, after)
    assert {n: after[n] for n in kept} == {n: before[n] for n in kept}  # not written again
    assert Retriever.load(tmp_path / "backup").info()["articles"] == 55
    assert Retriever.open(lib).info()["articles"] == 56


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_library_opened_before_a_fork_takes_articles_in_the_child(lib: Path) -> None:
    """A worker forked from a process that opened the library: its `add` raised filelock's
    RuntimeError ("UnixFileLock ... was inherited across fork; construct a new instance"),
    no feedqa error, and nothing was added."""
    import signal
    import time
    import traceback

    opened = Retriever.open(lib, semantic=False)
    opened.add([extra(1)])  # the lock was taken and released in this process
    pid = os.fork()
    if pid == 0:  # the child: add, and leave without pytest's teardown
        code = 1
        try:
            code = 0 if opened.add([extra(2)]).added == 1 else 2
        except BaseException:  # noqa: BLE001 - shown in the test's output
            traceback.print_exc()
        finally:
            os._exit(code)
    deadline = time.monotonic() + 10
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    if done[0] == 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child's add did not finish within 10 s")
    assert os.waitstatus_to_exitcode(done[1]) == 0
    assert "extra-2" in ids_in_log(lib)
    assert opened.add([extra(3)]).added == 1  # the parent still writes, after the child
    assert Retriever.open(lib, semantic=False).info()["articles"] == 58


# --- an articles log that updates would grow without end ------------------------------------------


def updated(n: int, version: int) -> Article:
    return extra(n).model_copy(
        update={"paragraphs": [f"补充新闻{n}号第{version}版:海鸥银行更新。"]}
    )


def test_updates_do_not_grow_the_log_without_end(
    lib: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each update of an article appended a whole copy to the log, never taken out: a feed
    whose items change at every refresh grew it by megabytes a day, all read at every start."""
    monkeypatch.setattr(articlelog, "COMPACT_MIN", 20)
    writer = Retriever.open(lib, semantic=False)
    for version in range(120):
        writer.add([updated(1, version), updated(2, version)])
    lines = len((lib / LOG).read_bytes().splitlines())
    assert lines <= 2 * (55 + 2) + 20 + 2  # at most about as many superseded lines as articles
    for opened in (writer, Retriever.open(lib, semantic=False)):
        assert opened.info()["articles"] == 57
        assert opened.repairs == [] or opened is writer
        top = opened.search("补充新闻1号第119版", k=1)[0]
        assert "第119版" in top.text
    log = articlelog.read_log(lib / LOG)
    assert log.articles["extra-1"].paragraphs == updated(1, 119).paragraphs
    assert not log.skipped


def test_a_library_opened_after_a_compaction_cut_short_is_whole(
    lib: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the log was rewritten and before the index said how long it is: the next
    open finds the log shorter than the index says, and takes nothing from it as lost."""
    monkeypatch.setattr(articlelog, "COMPACT_MIN", 20)
    writer = Retriever.open(lib, semantic=False)
    real = manifest_module.write_index_manifest

    def killed_once_compacted(path: Path, index, logged: int) -> str:
        if logged == 56:  # the log rewritten: one line an article, no superseded ones
            raise KeyboardInterrupt  # the kill: nothing after it runs
        return real(path, index, logged)

    monkeypatch.setattr(manifest_module, "write_index_manifest", killed_once_compacted)
    with pytest.raises(KeyboardInterrupt):
        for version in range(200):
            writer.add([updated(1, version)])
    monkeypatch.setattr(manifest_module, "write_index_manifest", real)
    assert len((lib / LOG).read_bytes().splitlines()) == 56  # rewritten before the kill
    opened = Retriever.open(lib, semantic=False)
    assert opened.info()["articles"] == 56
    text = articlelog.read_log(lib / LOG).articles["extra-1"].paragraphs[0]
    assert "第" in text and opened.search(text, k=1)[0].text == text
    again = Retriever.open(lib, semantic=False)
    assert again.repairs == [] and again.info()["articles"] == 56


def test_a_writer_s_open_compacts_a_log_of_mostly_superseded_lines(
    lib: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(articlelog, "COMPACT_MIN", 20)
    log = lib / LOG
    last = list(articlelog.read_log(log).articles.values())[-1]
    articlelog.append_log(log, [last] * 60)  # the same version, logged again and again
    opened = Retriever.open(lib, semantic=False)
    assert opened.info()["articles"] == 55 and len(log.read_bytes().splitlines()) == 55
    reads = []
    monkeypatch.setattr(library, "read_log", lambda p: reads.append(p) or articlelog.read_log(p))
    opened.add([extra(1)])
    assert reads == []  # its own compaction is no other process's work to take up


def test_a_compaction_on_a_full_disk_leaves_the_add_done_and_the_library_whole(
    lib: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rewrite is housekeeping: a full disk then must not fail the add that was done."""
    monkeypatch.setattr(articlelog, "COMPACT_MIN", 20)

    def full(path: Path, articles) -> int:
        raise library.LibraryError(f"cannot write {path}: No space left on device")

    real = articlelog.append_log  # the rewrite's (the add's own appends are library's)
    monkeypatch.setattr(articlelog, "append_log", full)
    writer = Retriever.open(lib, semantic=False)
    for version in range(130):
        writer.add([updated(1, version)])  # never raises
    assert len((lib / LOG).read_bytes().splitlines()) > 130  # the disk was full: not rewritten
    monkeypatch.setattr(articlelog, "append_log", real)
    assert "第129版" in writer.search("补充新闻1号第129版", k=1)[0].text
    writer.add([updated(1, 130)])  # space freed: this add compacts
    assert len((lib / LOG).read_bytes().splitlines()) <= 2 * 56 + 20 + 1
    opened = Retriever.open(lib, semantic=False)
    assert opened.info()["articles"] == 56 and opened.repairs == []
    assert "第130版" in opened.search("补充新闻1号第130版", k=1)[0].text


def test_a_compaction_whose_index_write_fails_leaves_the_add_done(
    lib: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log rewritten, the disk fills before the index says so: the next open matches them."""
    monkeypatch.setattr(articlelog, "COMPACT_MIN", 20)
    writer = Retriever.open(lib, semantic=False)
    compacted: list[Path] = []
    real_compact, real_write = library.compact_log, writer._write
    monkeypatch.setattr(library, "compact_log", lambda p: compacted.append(p) or real_compact(p))

    def write(path: Path, index) -> None:
        if compacted:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, index)

    monkeypatch.setattr(writer, "_write", write)
    for version in range(100):
        writer.add([updated(1, version)])  # never raises
        if compacted:
            break
    assert compacted
    opened = Retriever.open(lib, semantic=False)
    assert opened.info()["articles"] == 56
    assert f"第{version}版" in opened.search(f"补充新闻1号第{version}版", k=1)[0].text
