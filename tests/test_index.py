"""BM25 scoring: agreement with rank-bm25, exact pruned top-k, incremental segments, files."""

import os
import random
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from retrieval import BM25Params, IndexFileError, Retriever, tokenize
from retrieval.index import Index, build_segment, load_segment, merge_segments, save_segment
from retrieval.segment import MAX_SEGMENTS


def _segment(name: str, articles, start: int = 0):
    recs = [{"id": a.id, "title": a.title} for a in articles]
    return build_segment(name, recs, [a.paragraphs for a in articles], tokenize)


def _queries(index: Index, n: int, seed: int = 7) -> list[list[str]]:
    """Queries made of words from random paragraphs (plus one unknown word)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        toks = tokenize(index.paragraph(rng.randrange(index.n_docs)))
        out.append(rng.sample(toks, min(len(toks), rng.randint(1, 6))) + ["不存在的词"])
    return out


def test_okapi_setting_reproduces_rank_bm25(bundled: Retriever) -> None:
    docs = [tokenize(bundled.index.paragraph(i)) for i in range(bundled.index.n_docs)]
    reference = BM25Okapi(docs)
    index = Index(bundled.index.segments, BM25Params.okapi(), "x")
    for query in _queries(index, 40):
        expected = reference.get_scores(query)
        np.testing.assert_allclose(index.scores(query), expected, rtol=1e-9, atol=1e-9)


def test_okapi_setting_on_fixture_scores(tiny_articles) -> None:
    seg = _segment("seg-1", tiny_articles)
    index = Index([seg], BM25Params.okapi(), "x")
    docs = [tokenize(p) for a in tiny_articles for p in a.paragraphs]
    reference = BM25Okapi(docs)
    for query in (["云栖", "支付"], ["融资", "融资"], ["银行"], ["没有"]):
        np.testing.assert_allclose(index.scores(query), reference.get_scores(query), rtol=1e-9)


@pytest.mark.parametrize("params", [BM25Params(), BM25Params.okapi()])
def test_pruned_top_k_equals_exhaustive_ranking(bundled: Retriever, params: BM25Params) -> None:
    index = Index(bundled.index.segments, params, "x")
    for query in _queries(index, 150, seed=3):
        for k in (1, 10):
            dense = index.scores(query)
            top = index.top(query, k)
            expected = sorted(range(len(dense)), key=lambda d: (-dense[d], d))[: len(top)]
            assert [s for _, s in top] == pytest.approx([dense[d] for d in expected], rel=1e-5)
            assert len(top) == min(k, int((dense != 0).sum()))


def test_ranking_on_fixture_matches_rank_bm25(tiny_articles) -> None:
    r = Retriever.from_articles(tiny_articles, params=BM25Params.okapi())
    docs = [tokenize(p) for a in tiny_articles for p in a.paragraphs]
    texts = [p for a in tiny_articles for p in a.paragraphs]
    reference = BM25Okapi(docs)
    for query in ("云栖支付 融资", "银行 AI 客服", "净利润"):
        scores = reference.get_scores(tokenize(query))
        best = [texts[i] for i in np.argsort(-scores, kind="stable")[:3] if scores[i] > 0]
        assert [p.text for p in r.search(query, k=3)] == best


def test_incremental_add_scores_equal_full_rebuild(bundled: Retriever, tiny_articles) -> None:
    from corpus import bundled_feed_path, load_feed

    articles = load_feed(bundled_feed_path())
    grown = Retriever.from_articles(articles[:30])
    grown.add(articles[30:45])
    grown.add(articles[45:] + tiny_articles)
    assert len(grown.index.segments) == 3
    full = Retriever.from_articles(articles + tiny_articles)
    for query in _queries(full.index, 60, seed=11):
        a = {(h.link, h.paragraph): h.score for h in grown.search(" ".join(query), k=10)}
        b = {(h.link, h.paragraph): h.score for h in full.search(" ".join(query), k=10)}
        assert a == b
    grown.compact()
    assert len(grown.index.segments) == 1
    np.testing.assert_allclose(
        sorted(grown.index.scores(["京东", "科技"])),
        sorted(full.index.scores(["京东", "科技"])),
        rtol=1e-6,
    )


def test_many_small_adds_keep_the_segments_few() -> None:
    """A feed refreshed for months adds a few articles at a time, of about one size: the
    index keeps at most MAX_SEGMENTS segments (each query visits every one; each mapped
    array holds a file descriptor), not one more for every dozen adds."""
    from corpus import bundled_feed_path, load_feed

    articles = load_feed(bundled_feed_path())
    grown = Retriever.from_articles(articles[:1], semantic=False)
    for article in articles[1:]:
        grown.add([article])
    assert len(grown.index.segments) <= MAX_SEGMENTS  # was 31, each of 49-186 paragraphs
    full = Retriever.from_articles(articles, semantic=False)
    for query in _queries(full.index, 20, seed=5):
        a = {(h.link, h.paragraph): h.score for h in grown.search(" ".join(query), k=10)}
        b = {(h.link, h.paragraph): h.score for h in full.search(" ".join(query), k=10)}
        assert a == b


def _sized(name: str, n: int):
    """A segment of one article of `n` paragraphs."""
    return build_segment(
        name, [{"id": name, "title": name}], [[f"第{i}段" for i in range(n)]], tokenize
    )


@pytest.mark.parametrize(
    "sizes, merged",
    [
        ([5] * MAX_SEGMENTS, [5] * MAX_SEGMENTS),  # few enough: left as they are
        ([12, 4] + [1] * 7, [12, 4, 7]),  # the small ones (under a quarter of the largest)
        ([6] * 8 + [1, 1], [6, 44]),  # merging the small ones would leave too many: all but one
    ],
)
def test_the_merge_policy(sizes: list[int], merged: list[int]) -> None:
    from retrieval.segment import next_names, tiered_merge

    segments = [_sized(f"seg-{2 * i}", n) for i, n in enumerate(sizes, 1)]  # gaps, as merges leave
    after = tiered_merge(segments, next_names(segments))
    assert [s.n_docs for s in after] == merged
    untouched = [s.name for s in after if any(s is x for x in segments)]
    if merged == sizes:
        assert untouched == [s.name for s in segments]
    else:  # the large ones as they were, then the merged one, named on from the highest
        assert (
            untouched == [s.name for s in after[:-1]]
            and after[-1].name == f"seg-{2 * len(sizes) + 1}"
        )


def test_term_frequencies_above_a_byte_are_kept_whole() -> None:
    from retrieval.segment import merge_postings, tf_counts

    assert tf_counts(np.array([1, 300])).tolist() == [1, 300]
    one = np.array([0, 1])
    parts = [(["甲"], one, np.array([0], np.int32), np.array([300], np.uint16), 1)]
    parts.append((["甲"], one, np.array([0], np.int32), np.array([2], np.uint8), 1))
    assert merge_postings(parts)[3].tolist() == [300, 2]


def test_postings_of_more_terms_than_16_bits_count_sort_stably() -> None:
    from retrieval.segment import _stable_order

    keys = np.array([70000, 5, 70000, 65541, 5, 0], np.int32)
    assert _stable_order(keys, 70001).tolist() == np.argsort(keys, kind="stable").tolist()


def test_update_replaces_the_old_version(tiny_articles) -> None:
    r = Retriever.from_articles(tiny_articles)
    old = tiny_articles[0]
    new = old.model_copy(update={"paragraphs": ["云栖支付今日宣布完成8亿元D轮融资。"]})
    report = r.add([new, tiny_articles[1]])
    assert (report.added, report.updated, report.unchanged) == (0, 1, 1)
    assert r.info()["articles"] == len(tiny_articles)
    texts = [p.text for p in r.search("云栖支付 融资", k=10)]
    assert "云栖支付今日宣布完成8亿元D轮融资。" in texts
    assert not any("5亿元" in t for t in texts)
    rebuilt = Retriever.from_articles([new, *tiny_articles[1:]])
    assert [(p.text, p.score) for p in r.search("融资 支付", k=5)] == [
        (p.text, p.score) for p in rebuilt.search("融资 支付", k=5)
    ]


def test_merge_keeps_every_posting(tiny_articles) -> None:
    a, b = _segment("seg-1", tiny_articles[:3]), _segment("seg-2", tiny_articles[3:])
    merged = merge_segments("seg-3", [a, b])
    whole = _segment("seg-4", tiny_articles)
    assert sorted(merged.terms) == sorted(whole.terms)
    for term in whole.terms:
        assert merged.df(term) == whole.df(term)
    assert [merged.paragraph(i) for i in range(merged.n_docs)] == [
        whole.paragraph(i) for i in range(whole.n_docs)
    ]


def test_segment_files_round_trip_and_detect_corruption(tmp_path, tiny_articles) -> None:
    seg = _segment("seg-1", tiny_articles)
    save_segment(seg, tmp_path / "seg-1")
    again = load_segment(tmp_path / "seg-1")
    assert again.terms == seg.terms and np.array_equal(again.post_doc, seg.post_doc)
    assert [again.paragraph(i) for i in range(again.n_docs)] == [
        seg.paragraph(i) for i in range(seg.n_docs)
    ]
    assert not any(p.suffix == ".pkl" for p in (tmp_path / "seg-1").iterdir())
    data = bytearray((tmp_path / "seg-1" / "post_tf.npy").read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / "seg-1" / "post_tf.npy").write_bytes(bytes(data))
    with pytest.raises(IndexFileError, match="corrupt"):
        load_segment(tmp_path / "seg-1")
    shutil.rmtree(tmp_path / "seg-1")
    with pytest.raises(IndexFileError):
        load_segment(tmp_path / "seg-1")


def _left_long_ago(path: Path) -> None:
    """Date a copy as one a killed write left (older than any write takes)."""
    from retrieval.storage import STALE_COPY_S

    then = time.time() - STALE_COPY_S - 60
    os.utime(path, (then, then))


def test_a_segment_left_half_written_by_a_kill_is_replaced_at_the_next_save(
    tmp_path, tiny_articles
) -> None:
    left = tmp_path / "seg-1.0badc0de.tmp"
    left.mkdir()
    (left / "post_doc.npy").write_bytes(b"torn")
    _left_long_ago(left)
    save_segment(_segment("seg-1", tiny_articles), tmp_path / "seg-1")
    assert load_segment(tmp_path / "seg-1").n_docs and not left.exists()


def test_saving_over_a_segment_leaves_no_old_copy_even_one_a_kill_left(
    tmp_path, tiny_articles
) -> None:
    save_segment(_segment("seg-1", tiny_articles[:1]), tmp_path / "seg-1")
    left = tmp_path / "seg-1.0badc0de.old"  # the copy a kill left before it was removed
    left.mkdir()
    (left / "post_doc.npy").write_bytes(b"old")
    _left_long_ago(left)
    save_segment(_segment("seg-1", tiny_articles), tmp_path / "seg-1")
    assert [p.name for p in tmp_path.iterdir()] == ["seg-1"]
    assert len(load_segment(tmp_path / "seg-1").articles) == len(tiny_articles)


@pytest.mark.parametrize("dangling", [True, False])
def test_a_link_in_a_segment_s_place_is_replaced_and_what_it_links_to_kept(
    tmp_path, tiny_articles, dangling
) -> None:
    if not dangling:
        (tmp_path / "elsewhere").mkdir()
        (tmp_path / "elsewhere" / "a.txt").write_text("precious")
    (tmp_path / "seg-1").symlink_to(tmp_path / "elsewhere")
    save_segment(_segment("seg-1", tiny_articles), tmp_path / "seg-1")
    assert not (tmp_path / "seg-1").is_symlink() and load_segment(tmp_path / "seg-1").n_docs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere"] * (not dangling) + ["seg-1"]
    assert dangling or (tmp_path / "elsewhere" / "a.txt").read_text() == "precious"


@pytest.mark.parametrize(
    "change, error",
    [
        ({"format": "another-index"}, "unsupported index version"),
        ({"version": 2}, "unsupported index version"),
        ({"files": {"terms.txt": 0}}, "unreadable index segment"),
    ],
)
def test_a_segment_of_another_format_is_refused(tmp_path, tiny_articles, change, error) -> None:
    import json

    save_segment(_segment("seg-1", tiny_articles), tmp_path / "seg-1")
    path = tmp_path / "seg-1" / "segment.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    with pytest.raises(IndexFileError, match=error):
        load_segment(tmp_path / "seg-1")


@pytest.mark.parametrize("text", ["[]", "null", '"seg-1"', "3"])
def test_a_segment_json_that_is_no_object_is_refused(tmp_path, tiny_articles, text) -> None:
    save_segment(_segment("seg-1", tiny_articles), tmp_path / "seg-1")
    (tmp_path / "seg-1" / "segment.json").write_text(text)
    with pytest.raises(IndexFileError, match="unreadable index segment"):
        load_segment(tmp_path / "seg-1")


@pytest.mark.parametrize("files", [None, [], "x", 1])
def test_a_segment_json_whose_file_list_is_no_object_is_refused(
    tmp_path, tiny_articles, files
) -> None:
    import json

    save_segment(_segment("seg-1", tiny_articles), tmp_path / "seg-1")
    path = tmp_path / "seg-1" / "segment.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "files": files}))
    with pytest.raises(IndexFileError, match="unreadable index segment"):
        load_segment(tmp_path / "seg-1")


def test_a_cut_file_is_refused_unverified_too(tmp_path, tiny_articles) -> None:
    """Checksums are skipped, sizes are not: a paragraph read past the end of text.bin."""
    save_segment(_segment("seg-1", tiny_articles), tmp_path / "seg-1")
    text = tmp_path / "seg-1" / "text.bin"
    text.write_bytes(text.read_bytes()[:-10])
    with pytest.raises(IndexFileError, match="text.bin is corrupt"):
        load_segment(tmp_path / "seg-1", verify=False)


def test_a_segment_without_paragraphs_saves_and_loads(tmp_path) -> None:
    save_segment(build_segment("seg-1", [], [], tokenize), tmp_path / "seg-1")
    assert load_segment(tmp_path / "seg-1").n_docs == 0


def test_score_bounds_saved_with_other_tf_groups_are_replaced_by_the_coarser_bound(
    tmp_path, tiny_articles
) -> None:
    from retrieval.segment import TF_GROUPS

    seg = _segment("seg-1", tiny_articles)
    seg.tf_len = seg.tf_len[:, :-1]
    save_segment(seg, tmp_path / "seg-1")
    again = load_segment(tmp_path / "seg-1")
    assert again.tf_len.shape == (len(again.terms), TF_GROUPS)
    assert (again.tf_len[:, -1] == again.min_len).all()


def test_a_replaced_file_has_the_mode_asked_for_even_over_a_leftover(tmp_path) -> None:
    from retrieval.storage import replace_file

    left = tmp_path / "history.0badc0de.tmp"
    left.write_bytes(b"left by a kill")
    left.chmod(0o644)
    _left_long_ago(left)
    replace_file(tmp_path / "history", b"new", mode=0o600)
    assert (tmp_path / "history").read_bytes() == b"new"
    assert (tmp_path / "history").stat().st_mode & 0o077 == 0
    assert [p.name for p in tmp_path.iterdir()] == ["history"]


def test_a_checksum_summed_in_chunks_is_that_of_the_whole_file(tmp_path, monkeypatch) -> None:
    import zlib

    from retrieval import storage

    monkeypatch.setattr(storage, "_CRC_CHUNK", 7)
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * 3)
    assert storage.crc(path) == zlib.crc32(path.read_bytes())


@pytest.mark.parametrize("key", [b'"n_docs"', b'"files"', b'"name"'])
def test_a_segment_json_missing_a_field_is_an_index_file_error(tmp_path, tiny_articles, key):
    """A bit flipped in one of its keys: refused as corrupt, not a KeyError."""
    save_segment(_segment("seg-1", tiny_articles), tmp_path / "seg-1")
    path = tmp_path / "seg-1" / "segment.json"
    path.write_bytes(path.read_bytes().replace(key, key[:-2] + bytes([key[-2] ^ 1]) + b'"'))
    with pytest.raises(IndexFileError, match="seg-1"):
        load_segment(tmp_path / "seg-1")


@pytest.mark.parametrize("threads", [False, True])
def test_checksums_catch_a_flipped_byte_in_any_file(
    tmp_path, tiny_articles, monkeypatch, threads
) -> None:
    """Verification in worker threads (large segments) catches what the inline one does."""
    from retrieval import storage

    monkeypatch.setattr(storage, "PARALLEL_VERIFY", 0 if threads else 1 << 60)
    save_segment(_segment("seg-1", tiny_articles), tmp_path / "seg-1")
    for path in sorted((tmp_path / "seg-1").iterdir()):
        if path.name == "segment.json" or not path.stat().st_size:
            continue
        original = path.read_bytes()
        data = bytearray(original)
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        with pytest.raises(IndexFileError):
            load_segment(tmp_path / "seg-1")
        path.write_bytes(original)
        assert load_segment(tmp_path / "seg-1").n_docs
