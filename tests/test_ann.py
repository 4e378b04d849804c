"""The partition of a large segment's sentence vectors: search, persistence, use."""

import json

import numpy as np
import pytest

from retrieval import ann, semantic, vectorstore


def clustered(n: int, dim: int = semantic.DIM, seed: int = 0) -> np.ndarray:
    """`n` unit float16 vectors around 50 directions, like sentences about a few topics."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(50, dim))
    x = centres[rng.integers(0, 50, n)] + rng.normal(scale=0.6, size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16)


@pytest.fixture(scope="module")
def partitioned(request) -> tuple[np.ndarray, ann.Lists]:
    vectors = clustered(ann.MIN_ROWS)
    return vectors, ann.build(vectors)


def exact(vectors: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    cos = vectors.astype(np.float32) @ query
    return np.argsort(-cos, kind="stable")[:k]


def test_small_segments_are_searched_exhaustively() -> None:
    assert ann.build(clustered(ann.MIN_ROWS - 1)) is None


def test_no_sentences_asked_for_none_found(partitioned) -> None:
    vectors, lists = partitioned
    q = clustered(1, seed=3)[0].astype(np.float32)
    assert len(lists.top(vectors, q, 0)[0]) == 0
    n = len(vectors)
    spans = np.c_[np.arange(n), np.zeros(n), np.ones(n)].astype(np.int32)
    for part in (lists, None):
        v = semantic.Vectors(spans, np.arange(n, dtype=np.uint64), vectors, part)
        assert vectorstore.SentenceIndex([0], [v]).top(q, 0) == []
        assert len(vectorstore.SentenceIndex([0], [v]).top(q, 3)) == 3


def test_every_row_is_in_one_list(partitioned) -> None:
    vectors, lists = partitioned
    assert sorted(lists.order.tolist()) == list(range(len(vectors)))
    assert lists.offsets[0] == 0 and lists.offsets[-1] == len(vectors)
    assert np.all(np.diff(lists.offsets) >= 0)


def test_the_codes_are_the_vectors_in_list_order(partitioned) -> None:
    vectors, lists = partitioned
    decoded = lists.codes.astype(np.float32) * lists.scales[:, None]
    original = vectors[lists.order].astype(np.float32)
    assert np.abs(decoded - original).max() <= lists.scales.max() / 2 + 1e-6


def test_all_lists_probed_is_exact_and_the_default_finds_nearly_all(partitioned) -> None:
    vectors, lists = partitioned
    queries = clustered(40, seed=1).astype(np.float32)
    found = 0
    for q in queries:
        rows, cos = lists.top(vectors, q, 10, probes=len(lists.centroids))
        assert rows.tolist() == exact(vectors, q, 10).tolist()
        assert cos == pytest.approx(vectors[rows].astype(np.float32) @ q)
        assert np.all(np.diff(cos) <= 0)
        rows, _ = lists.top(vectors, q, 10)
        found += len(set(rows.tolist()) & set(exact(vectors, q, 10).tolist()))
    assert found / (10 * len(queries)) >= 0.9


def test_the_partition_is_saved_checked_and_made_for_old_files(tmp_path, partitioned) -> None:
    vectors, lists = partitioned
    n = len(vectors)
    spans = np.c_[np.arange(n), np.zeros(n), np.ones(n)].astype(np.int32)
    v = semantic.Vectors(spans, np.arange(n, dtype=np.uint64), vectors, lists)
    vectorstore.save_vectors(v, tmp_path)
    again = vectorstore.load_vectors(tmp_path)
    assert again is not None and np.array_equal(again.lists.order, lists.order)
    # vectors saved without a partition get one, written beside them
    vectorstore.save_vectors(semantic.Vectors(spans, v.hashes, vectors), tmp_path)
    assert "sent-order.npy" not in json.loads((tmp_path / "sentences.json").read_text())["files"]
    inode = (tmp_path / "sent-vectors.npy").stat().st_ino
    made = vectorstore.load_vectors(tmp_path)
    assert (tmp_path / "sent-vectors.npy").stat().st_ino == inode  # not written again
    assert made is not None and made.lists is not None
    assert "sent-order.npy" in json.loads((tmp_path / "sentences.json").read_text())["files"]
    path = tmp_path / "sent-order.npy"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    assert vectorstore.load_vectors(tmp_path) is None  # corrupt: made again


def test_a_partition_that_cannot_be_saved_is_still_used(tmp_path, partitioned, monkeypatch) -> None:
    """A library read-only to this process: the partition is made in memory."""
    vectors, _ = partitioned
    n = len(vectors)
    spans = np.c_[np.arange(n), np.zeros(n), np.ones(n)].astype(np.int32)
    vectorstore.save_vectors(
        semantic.Vectors(spans, np.arange(n, dtype=np.uint64), vectors), tmp_path
    )

    def read_only(*args, **kwargs) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(vectorstore, "save_vectors", read_only)
    made = vectorstore.load_vectors(tmp_path)
    assert made is not None and made.lists is not None


def test_the_sentence_index_searches_a_large_segment_through_its_lists(partitioned) -> None:
    vectors, _ = partitioned
    n = len(vectors)
    # one list holding only the odd rows: a search through it never sees an even one
    odd = np.arange(1, n, 2, dtype=np.int32)
    centroid = np.ones((1, semantic.DIM), np.float32) / np.sqrt(semantic.DIM)
    codes = np.rint(vectors[odd].astype(np.float32) * 127).astype(np.int8)
    lists = ann.Lists(
        centroid, odd, np.array([0, len(odd)], np.int64), codes, np.full(len(odd), 1 / 127)
    )
    spans = np.c_[np.arange(n) // 2, (np.arange(n) % 2) * 10, np.full(n, 5)].astype(np.int32)
    v = semantic.Vectors(spans, np.arange(n, dtype=np.uint64), vectors, lists)
    q = clustered(1, seed=2)[0].astype(np.float32)
    top = vectorstore.SentenceIndex([100], [v]).top(q, 5)
    rows, cos = lists.top(vectors, q, 5)
    assert [(d, s) for d, s, _ in top] == [(100 + r // 2, 10) for r in rows.tolist()]
    assert [c for _, _, c in top] == pytest.approx(cos.tolist())
