"""The scale machinery: chunked and parallel builds, sort-free merges, pruned top-k, mmap."""

import json
import random
import threading

import numpy as np
import pytest

from retrieval import BM25Params, build, tokenize
from retrieval import index as ix
from retrieval.index import (
    Index,
    build_segment,
    drop_articles,
    load_segment,
    merge_segments,
    save_segment,
)

_FIELDS = (
    "doc_article", "doc_para", "doc_len", "text", "text_off", "indptr", "post_doc", "post_tf",
    "max_tf", "min_len", "tf_len",
)  # fmt: skip


def assert_same_segment(a: ix.Segment, b: ix.Segment) -> None:
    assert a.terms == b.terms
    assert json.dumps(a.articles) == json.dumps(b.articles)
    for name in _FIELDS:
        x, y = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        assert x.dtype == y.dtype, name
        assert np.array_equal(x, y), name


@pytest.fixture(scope="module")
def corpus(bundled) -> tuple[list[dict], list[list[str]]]:
    """The bundled articles plus two reshuffled copies (about 7,000 paragraphs)."""
    index = bundled.index
    texts = [index.paragraph(i) for i in range(index.n_docs)]
    recs = [dict(r) for r in index.articles()]
    ends = np.cumsum([r["paragraphs"] for r in recs]).tolist()
    paras = [texts[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]
    records = list(recs)
    rng = random.Random(5)
    for copy in (1, 2):
        shuffled = rng.sample(texts, len(texts))
        for rec in records:
            n = rec["paragraphs"]
            recs.append({**rec, "id": f"{rec['id']}#{copy}"})
            paras.append(
                [t + f" 第{copy}版" if j % 3 == 0 else t for j, t in enumerate(shuffled[:n])]
            )
            shuffled = shuffled[n:]
    return recs, paras


def _queries(index: Index, n: int, seed: int) -> list[list]:
    """Term queries from random paragraphs: plain, repeated, weighted, with an unknown term."""
    rng = random.Random(seed)
    out: list[list] = []
    for i in range(n):
        toks = tokenize(index.paragraph(rng.randrange(index.n_docs)))
        q = rng.sample(toks, min(len(toks), rng.randint(1, 9)))
        if i % 4 == 1:
            q = q + q[:2] + ["不存在的词"]
        elif i % 4 == 2:
            q = [(t, rng.choice([0.6, 1.0, 2.5])) for t in q]
        out.append(q)
    return out


def _check_top(index: Index, query, k: int) -> None:
    dense = index.scores(query)
    top = index.top(query, k)
    expected = sorted(range(len(dense)), key=lambda d: (-dense[d], d))[:k]
    expected = [d for d in expected if dense[d] != 0]
    assert len(top) == len(expected)
    assert [s for _, s in top] == pytest.approx([dense[d] for d in expected], rel=2e-6)
    for (d, s), (d2, s2) in zip(top[:-1], top[1:], strict=True):
        assert (s, -d) > (s2, -d2)
    if top:  # every doc clearly above the k-th score is there
        cut = top[-1][1] * (1 + 1e-5)
        assert {d for d in expected if dense[d] > cut} <= {d for d, _ in top}


def test_chunked_and_parallel_builds_equal_the_serial_build(corpus, monkeypatch) -> None:
    recs, paras = corpus
    one = build_segment("seg-1", recs, paras, tokenize, workers=1)
    monkeypatch.setattr(ix, "CHUNK_CHARS", 50_000)  # about 10 chunks
    chunked = build_segment("seg-1", recs, paras, tokenize, workers=1)
    parallel = build_segment("seg-1", recs, paras, tokenize, workers=2)
    assert_same_segment(one, chunked)
    assert_same_segment(one, parallel)
    assert one.n_docs == sum(map(len, paras))
    assert [one.paragraph(i) for i in (0, 1, one.n_docs - 1)] == [
        paras[0][0], paras[0][1], paras[-1][-1],
    ]  # fmt: skip


def test_build_keeps_article_and_paragraph_numbers(corpus) -> None:
    recs, paras = corpus
    seg = build_segment("seg-1", recs[:5] + [recs[5]], paras[:5] + [[]], tokenize)
    assert seg.doc_article.tolist() == [a for a in range(5) for _ in paras[a]]
    assert seg.doc_para.tolist() == [p for a in range(5) for p in range(len(paras[a]))]
    empty = build_segment("seg-2", [], [], tokenize)
    assert empty.n_docs == 0 and empty.terms == []
    assert Index([empty], BM25Params(), "x").top(["京东"], 5) == []


def test_unpicklable_tokenizer_builds_serially(monkeypatch) -> None:
    monkeypatch.setattr(ix, "PARALLEL_MIN_CHARS", 10)
    assert build._auto_workers(100, lambda t: t.split()) == 1
    assert build._auto_workers(100, tokenize) >= 1
    assert build._auto_workers(5, tokenize) == 1


def test_tf_len_bounds_are_exact_maxima(corpus) -> None:
    recs, paras = corpus
    seg = build_segment("seg-1", recs, paras, tokenize)
    index = Index([seg], BM25Params(), "x")
    rng = random.Random(3)
    for i in rng.sample(range(len(seg.terms)), 300):
        lo, hi = seg.indptr[i], seg.indptr[i + 1]
        tf = seg.post_tf[lo:hi].astype(np.float64)
        k1 = index.params.k1
        exact = (tf * (k1 + 1) / (tf + index._norm[0][seg.post_doc[lo:hi]])).max()
        bound = index._bounds(0, [i])[0]
        assert exact <= bound * (1 + 1e-6)
        if seg.max_tf[i] < ix.TF_GROUPS:  # every tf group is exact
            assert bound == pytest.approx(exact, rel=1e-6)


def test_merge_and_drop_equal_a_fresh_build(corpus) -> None:
    recs, paras = corpus
    cut = [0, 40, 41, 100, len(recs)]
    parts = [
        build_segment(f"seg-{i}", recs[a:b], paras[a:b], tokenize)
        for i, (a, b) in enumerate(zip(cut, cut[1:], strict=False))
    ]
    whole = build_segment("seg-9", recs, paras, tokenize)
    merged = merge_segments("seg-9", parts)
    assert_same_segment(merged, whole)
    drop = {0, 7, 60, len(recs) - 1}
    kept = [i for i in range(len(recs)) if i not in drop]
    rebuilt = build_segment("seg-9", [recs[i] for i in kept], [paras[i] for i in kept], tokenize)
    dropped = drop_articles("seg-9", whole, drop)
    assert sorted(dropped.terms) == sorted(rebuilt.terms)
    assert [dropped.paragraph(i) for i in range(dropped.n_docs)] == [
        rebuilt.paragraph(i) for i in range(rebuilt.n_docs)
    ]
    a, b = Index([dropped], BM25Params(), "x"), Index([rebuilt], BM25Params(), "x")
    for q in _queries(b, 30, seed=4):
        assert a.top(q, 10) == b.top(q, 10)


@pytest.mark.parametrize("params", [BM25Params(), BM25Params.okapi(), BM25Params(k1=1.5)])
def test_pruned_top_k_is_exact(corpus, params) -> None:
    recs, paras = corpus
    index = Index([build_segment("seg-1", recs, paras, tokenize)], params, "x")
    for i, q in enumerate(_queries(index, 120, seed=8)):
        _check_top(index, q, (1, 3, 10, 50)[i % 4])


def test_negative_and_zero_weights(corpus) -> None:
    recs, paras = corpus
    index = Index([build_segment("seg-1", recs, paras, tokenize)], BM25Params(), "x")
    for q in _queries(index, 40, seed=9):
        terms = [t if isinstance(t, str) else t[0] for t in q]
        weighted = [(t, -0.5 if j % 3 == 0 else 1.0) for j, t in enumerate(terms)]
        dense = index.scores(weighted)
        matching = index.scores([(t, 1.0) for t in terms]) > 0  # docs holding a query term
        top = index.top(weighted, 10)
        assert len(top) == min(10, int(matching.sum()))
        expected = sorted(dense[matching], reverse=True)[: len(top)]
        assert [s for _, s in top] == pytest.approx(expected, rel=2e-6, abs=1e-9)
        assert index.top([(t, 0.0) for t in terms], 10) == []


def test_segments_give_bit_identical_results(corpus) -> None:
    """Scores are summed in one order whatever the segments: equal, not just close."""
    recs, paras = corpus
    cut = [0, 50, 90, 140, len(recs)]
    segs = [
        build_segment(f"seg-{i}", recs[a:b], paras[a:b], tokenize)
        for i, (a, b) in enumerate(zip(cut, cut[1:], strict=False))
    ]
    many = Index(segs, BM25Params(), "x")
    one = Index([merge_segments("seg-9", segs)], BM25Params(), "x")
    for i, q in enumerate(_queries(one, 150, seed=10)):
        k = (1, 5, 10, 40)[i % 4]
        assert many.top(q, k) == one.top(q, k)
        _check_top(many, q, k)


def test_mmap_load_gives_the_same_answers(corpus, tmp_path) -> None:
    recs, paras = corpus
    seg = build_segment("seg-1", recs, paras, tokenize)
    save_segment(seg, tmp_path / "seg-1")
    mapped = load_segment(tmp_path / "seg-1", mmap=True)
    read = load_segment(tmp_path / "seg-1", mmap=False, verify=False)
    assert_same_segment(mapped, seg)
    assert type(mapped.post_doc) is np.ndarray  # a plain view of the map, not np.memmap
    a = Index([seg], BM25Params(), "x")
    b = Index([mapped], BM25Params(), "x")
    c = Index([read], BM25Params(), "x")
    for q in _queries(a, 40, seed=11):
        assert a.top(q, 10) == b.top(q, 10) == c.top(q, 10)


def test_segments_saved_without_tf_len_still_load_and_answer(corpus, tmp_path) -> None:
    recs, paras = corpus
    seg = build_segment("seg-1", recs[:60], paras[:60], tokenize)
    save_segment(seg, tmp_path / "seg-1")
    (tmp_path / "seg-1" / "tf_len.npy").unlink()
    manifest = json.loads((tmp_path / "seg-1" / "segment.json").read_text())
    del manifest["files"]["tf_len.npy"]
    (tmp_path / "seg-1" / "segment.json").write_text(json.dumps(manifest))
    old = load_segment(tmp_path / "seg-1")
    assert old.tf_len.shape == (len(old.terms), ix.TF_GROUPS)
    a, b = Index([seg], BM25Params(), "x"), Index([old], BM25Params(), "x")
    for q in _queries(a, 40, seed=12):
        assert a.top(q, 10) == b.top(q, 10)


def test_concurrent_queries_match_sequential_ones(corpus) -> None:
    recs, paras = corpus
    index = Index([build_segment("seg-1", recs, paras, tokenize)], BM25Params(), "x")
    queries = _queries(index, 60, seed=13)
    expected = [index.top(q, 10) for q in queries]
    results: dict[int, list] = {}

    def run(worker: int) -> None:
        results[worker] = [index.top(q, 10) for q in queries[worker::2] * 3]

    threads = [threading.Thread(target=run, args=(w,)) for w in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in (0, 1):
        assert results[w] == expected[w::2] * 3
