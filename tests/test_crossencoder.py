"""The cross-encoder: its patch, the merged model file it caches, and the second stage."""

import cProfile
import hashlib
import logging

import numpy as np
import pytest
from test_answer import ARCHIVE, candidates_of

from corpus.errors import IndexFileError
from retrieval import Retriever, crossencoder, features, normalize, ranker


@pytest.fixture(scope="module")
def archive() -> Retriever:
    return Retriever.from_articles(ARCHIVE)


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> crossencoder.CrossEncoder:
    return crossencoder.CrossEncoder(tmp_path_factory.mktemp("cache"))


def test_a_patch_holds_the_changed_blocks_and_checks_both_files() -> None:
    base = bytes(range(256)) * 100  # six blocks and a quarter
    trained = bytearray(base)
    trained[5000] ^= 1
    trained[-1] ^= 1
    patch = crossencoder.make_patch(base, bytes(trained), np.ones(3))
    assert patch["blocks"].tolist() == [1, 6] and patch["data"].shape == (2, crossencoder.BLOCK)
    assert crossencoder.apply_patch(base, patch) == bytes(trained)
    with pytest.raises(IndexFileError, match="another release"):
        crossencoder.apply_patch(b"\1" + base[1:], patch)
    damaged = {**patch, "data": patch["data"].copy()}
    damaged["data"][0, 0] ^= 1
    with pytest.raises(IndexFileError, match="damaged"):
        crossencoder.apply_patch(base, damaged)


def test_a_patch_applies_under_a_profiler() -> None:
    """Under a profiler (or anything else that holds a reference to the merge's array) the
    merge raised numpy's "cannot resize an array that references ...", and the process ran
    without its cross-encoder."""
    base = bytes(range(256)) * 20 + b"x"  # not a whole number of blocks
    trained = bytearray(base)
    trained[5000] ^= 1
    patch = crossencoder.make_patch(base, bytes(trained), np.ones(3))
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        merged = crossencoder.apply_patch(base, patch)
    finally:
        profiler.disable()
    assert merged == bytes(trained)


def test_the_merged_file_is_cached_checked_and_merged_again_when_damaged(tmp_path, caplog) -> None:
    patch = crossencoder.read_patch()
    (tmp_path / "crossencoder-0123456789abcdef.bin").write_bytes(b"another release's")
    path = crossencoder.model_file(patch, tmp_path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == str(patch["sha256"])
    assert crossencoder.model_file(patch, tmp_path) == path  # found, not merged again
    with open(path, "r+b") as f:  # a flipped bit on disk
        f.seek(100_000)
        byte = f.read(1)
        f.seek(100_000)
        f.write(bytes([byte[0] ^ 1]))
    with caplog.at_level(logging.WARNING):
        assert crossencoder.model_file(patch, tmp_path) == path
    assert "damaged" in caplog.text
    assert hashlib.sha256(path.read_bytes()).hexdigest() == str(patch["sha256"])
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_a_merge_cut_short_leaves_no_part_behind(tmp_path, monkeypatch) -> None:
    class Full:
        def __init__(self, fd: int, mode: str) -> None:
            crossencoder.os.close(fd)

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            pass

        def write(self, data: bytes) -> None:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(crossencoder.os, "fdopen", Full)
    with pytest.raises(OSError, match="No space"):
        crossencoder.model_file(crossencoder.read_patch(), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_cache_that_cannot_be_written_gets_a_temporary_file(tmp_path, monkeypatch) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setattr(crossencoder.tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    model = crossencoder.CrossEncoder(tmp_path / "a-file" / "cache")
    assert np.isfinite(model.score("星河科技在哪里上市?", ["星河科技计划于2022年在港IPO。"])).all()
    assert list((tmp_path / "tmp").iterdir()) == []  # removed once the engine mapped it


def test_the_shipped_model_prefers_the_sentence_that_answers(shipped) -> None:
    question = "星河科技打算在哪儿上市?"
    right = "星河科技计划于2022年在港IPO,募资10亿美元。"
    wrong = [
        "2021年初,星河数科更名为“星河科技”。",
        "星河科技的CEO是林晓峰,他曾在青松银行工作十年。",
    ]
    scores = shipped.score(question, [right, *wrong])
    assert scores.shape == (3,) and scores[0] > scores[1:].max()
    assert shipped.score(question, []).shape == (0,)


def test_a_pair_is_read_whole_up_to_the_engines_window() -> None:
    text = crossencoder.pair_text("问" * 400, "答" * 400)
    assert text.startswith("问" * 400 + " passage: 答") and len(text) == 500
    assert crossencoder.question_text("他之前在哪工作?", ["a", "星河科技的CEO是谁?", "b"]) == (
        "星河科技的ceo是谁? b 他之前在哪工作?"
    )


class Spy:
    """A cross-encoder that prefers candidates holding `liked`, and notes what it read."""

    def __init__(self, liked: str) -> None:
        self.liked, self.read = liked, []

    def score(self, question: str, candidates: list[str]) -> np.ndarray:
        self.read.append((question, candidates))
        return np.array([500.0 if self.liked in c else 0.0 for c in candidates])


def test_the_second_stage_ranks_the_first_stages_leaders_again(archive, monkeypatch) -> None:
    question = "星河科技计划什么时候在港IPO?"  # a runner-up no check withholds
    query, _, _, found, model = candidates_of(archive, question)
    first, _ = model.choose(found, lambda c: features.evidence_checks(archive.index, query, c))
    leaders = [c.passage.text[c.start : c.end] for c in first[: ranker.RERANKED]]
    runner_up = leaders[1]
    spy = Spy(normalize(runner_up))  # the model reads normalised text
    monkeypatch.setattr(crossencoder, "cross_encoder", lambda: spy)
    monkeypatch.setattr(archive, "min_confidence", 0.0)  # the order, whatever the confidence
    a = archive.ask(question)
    assert len(spy.read) == 1 and len(spy.read[0][1]) == ranker.RERANKED
    assert runner_up[:12] in a.text  # the cross-encoder's choice, not the first stage's
    monkeypatch.setattr(crossencoder, "cross_encoder", lambda: None)
    assert runner_up[:12] not in archive.ask(question).text


def test_a_follow_up_is_read_after_the_question_before_it(archive, monkeypatch) -> None:
    spy = Spy("青松银行")
    monkeypatch.setattr(crossencoder, "cross_encoder", lambda: spy)
    a = archive.ask("他之前在哪家银行工作?", history=["星河科技的CEO是谁?"])
    assert spy.read[-1][0] == "星河科技的ceo是谁? 他之前在哪家银行工作?"  # normalised
    assert a.answered and "青松银行" in a.text


def test_without_the_cross_encoder_the_first_stage_answers(monkeypatch, caplog) -> None:
    def broken(*args) -> None:
        raise OSError("no engine for this platform")

    monkeypatch.setattr(crossencoder._loaded, "make", broken)
    monkeypatch.setattr(crossencoder._loaded, "model", None)
    monkeypatch.setattr(crossencoder._loaded, "failed", None)
    with caplog.at_level(logging.WARNING):
        r = Retriever.from_articles(ARCHIVE)
        a = r.ask("星河科技计划在港IPO募资多少?")
        r.ask("蓝鲸保险2021年保费收入是多少?")
    assert a.answered and "10亿美元" in a.text
    said = [rec for rec in caplog.records if "ranking without it" in rec.getMessage()]
    assert len(said) == 1  # said once


def test_cross_inputs_give_unread_candidates_the_lowest_score() -> None:
    x = ranker.cross_inputs(5, [3, 0, 4], np.array([2.0, 1.0, -1.0]))
    assert x[:, 0].tolist() == [1.0, -1.0, -1.0, 2.0, -1.0]
    assert x[:, 1].tolist() == [-1.0, -3.0, -3.0, 0.0, -3.0]
    assert ranker.cross_inputs(2, [], np.zeros(0)).tolist() == [[0.0] * 4, [0.0] * 4]


def test_cross_inputs_read_the_scores_as_the_cross_encoder_was_trained() -> None:
    """A softmax over the candidates read and "none of these" at score 0."""
    x = ranker.cross_inputs(4, [2, 0], np.array([np.log(3.0), 0.0]))
    assert np.allclose(x[:, 2], [1 / 5, 0, 3 / 5, 0]) and np.allclose(x[:, 3], 1 / 5)
    far = ranker.cross_inputs(2, [0, 1], np.array([800.0, -800.0]))  # no overflow
    assert np.allclose(far[:, 2:], [[1.0, 0.0], [0.0, 0.0]])
