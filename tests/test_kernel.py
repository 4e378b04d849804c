"""The compiled top-k gives exactly the numpy reference's results, and both the exhaustive ranking."""

import os
import random

import numpy as np
import pytest

from retrieval import BM25Params, jit
from retrieval.index import Index, build_segment, load_segment, save_segment

pytest.importorskip("numba")


@pytest.fixture(scope="module")
def kernel():
    module = jit.load(timeout=300)
    assert module is not None, "the compiled kernel did not load"
    return module


def _corpus(rng: random.Random, n_docs: int, vocab: int) -> list[str]:
    """Paragraphs of Zipf-distributed words (a few very common, most rare)."""
    weights = [1 / (r + 1) for r in range(vocab)]
    words = [f"w{r}" for r in range(vocab)]
    return [" ".join(rng.choices(words, weights, k=rng.randint(1, 60))) for _ in range(n_docs)]


def _segments(rng: random.Random, n_segments: int) -> tuple[list, list[str]]:
    texts_all, segments = [], []
    for s in range(n_segments):
        texts = _corpus(rng, rng.randint(50, 3000), rng.choice([30, 300, 3000]))
        recs = [{"id": f"{s}-{i}"} for i in range(len(texts))]
        segments.append(build_segment(f"seg-{s + 1}", recs, [[t] for t in texts], str.split))
        texts_all += texts
    return segments, texts_all


def _query(rng: random.Random, texts: list[str]) -> list:
    words = rng.choice(texts).split() + rng.choice(texts).split() + ["missing"]
    terms = rng.sample(words, min(len(words), rng.randint(1, 9)))
    if rng.random() < 0.1:  # a negative weight: no pruning, every list read
        return [(t, rng.choice([-0.5, 0.3, 1.0])) for t in terms]
    if rng.random() < 0.5:
        return [(t, rng.choice([0.3, 0.6, 1.0, 2.0])) for t in terms]
    return terms


@pytest.mark.parametrize("seed", range(6))
def test_compiled_equals_numpy_and_exhaustive(kernel, seed: int) -> None:
    _compare(random.Random(seed))


@pytest.mark.parametrize("seed", range(3))
def test_two_halves_on_two_cores_equal_numpy_and_exhaustive(kernel, monkeypatch, seed) -> None:
    """Every query with positive weights split in two halves of the doc ids, which share the
    threshold they learn: the same top-k, bit for bit."""
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one core: queries are never split")
    assert kernel._parallel, "no threading layer for the two halves"
    calls = []
    halves = kernel._halves
    monkeypatch.setattr(kernel, "SPLIT_AT", 0)
    monkeypatch.setattr(kernel, "_halves", lambda *a: calls.append(1) or halves(*a))
    _compare(random.Random(100 + seed))
    assert len(calls) > 100


@pytest.mark.parametrize("n_segments", [1, 3])
def test_idf_tables_hold_exactly_the_idfs(n_segments: int) -> None:
    """idfs come from a table per segment, made once per distinct df: the same floats as the
    formula gives term by term, with df summed over the segments (a term held by one segment
    only, or by several)."""
    segments, _ = _segments(random.Random(n_segments), n_segments)
    for params in (BM25Params(), BM25Params.okapi()):
        index = Index(segments, params, "x", kernel="numpy")
        for s, seg in enumerate(segments):
            table = index.idf_table(s)
            assert table.tolist() == [index._idf_for(index.df(t)) for t in seg.terms]
            assert [index.idf(t) for t in seg.terms[:50]] == table.tolist()[:50]


def _compare(rng: random.Random) -> None:
    """The compiled top-k against numpy's and exhaustive scoring, on random corpora."""
    segments, texts = _segments(rng, rng.choice([1, 1, 2, 3]))
    for params in (BM25Params(), BM25Params.okapi(), BM25Params(k1=1.5, b=0.3)):
        numpy_index = Index(segments, params, "x", kernel="numpy")
        compiled_index = Index(segments, params, "x", kernel="compiled")
        assert compiled_index.kernel == "compiled"
        for _ in range(40):
            query = _query(rng, texts)
            for k in (1, 3, 10, 100):
                expected = numpy_index.top(query, k)
                assert compiled_index.top(query, k) == expected  # ids and scores, bit for bit
                dense = numpy_index.scores(query)
                if (dense < 0).any():
                    continue  # exhaustive ranks docs without the terms too (score 0)
                ranked = sorted(np.flatnonzero(dense).tolist(), key=lambda d: (-dense[d], d))
                assert len(expected) == min(k, len(ranked))
                assert [s for _, s in expected] == pytest.approx(
                    [dense[d] for d in ranked[:k]], rel=1e-5
                )


def test_compiled_on_a_loaded_index(kernel, bundled, tmp_path) -> None:
    """Memory-mapped (read-only) arrays, the real tokenizer's terms, many queries."""
    seg = bundled.index.segments[0]
    save_segment(seg, tmp_path / "seg-1")
    loaded = load_segment(tmp_path / "seg-1")
    numpy_index = Index([seg], BM25Params(), "x", kernel="numpy")
    compiled_index = Index([loaded], BM25Params(), "x", kernel="compiled")
    rng = random.Random(1)
    for _ in range(200):
        doc = rng.randrange(numpy_index.n_docs)
        terms = bundled.index.segments[0].terms
        query = [terms[rng.randrange(len(terms))] for _ in range(rng.randint(1, 8))]
        query += [w for w in numpy_index.paragraph(doc)[:12]]
        assert compiled_index.top(query, 10) == numpy_index.top(query, 10)


def test_counts_past_one_byte_are_kept_whole(kernel, tmp_path) -> None:
    """Term frequencies take one byte unless a paragraph repeats a term more than 255 times;
    such a segment keeps its counts exact, in two bytes, saved, loaded and merged."""
    from rank_bm25 import BM25Okapi

    from retrieval.segment import merge_postings, merge_segments

    texts = ["a " * 300 + "b", "a b c", "b c " * 3, "a " * 256, "c d"]
    small = build_segment("seg-1", [{"id": "1"}], [["a b", "b d d"]], str.split)
    big = build_segment("seg-2", [{"id": "2"}], [texts], str.split)
    assert small.post_tf.dtype == np.uint8 and big.post_tf.dtype == np.uint16
    save_segment(big, tmp_path / "seg-2")
    loaded = load_segment(tmp_path / "seg-2")
    merged = merge_segments("seg-3", [small, loaded])
    assert loaded.post_tf.dtype == merged.post_tf.dtype == np.uint16
    assert merge_postings([])[3].dtype == np.uint8  # nothing to merge
    reference = BM25Okapi([t.split() for t in texts])
    okapi = Index([loaded], BM25Params.okapi(), "x", kernel="numpy")
    for query in (["a"], ["a", "b"], ["c", "a"]):
        np.testing.assert_allclose(okapi.scores(query), reference.get_scores(query), rtol=1e-9)
    for segments in ([loaded], [merged], [small, loaded]):
        numpy_index = Index(segments, BM25Params(), "x", kernel="numpy")
        compiled_index = Index(segments, BM25Params(), "x", kernel="compiled")
        for query in (["a"], ["a", "b"], ["d", "a", "c"], [("a", 1.0), ("c", -0.5)]):
            assert compiled_index.top(query, 3) == numpy_index.top(query, 3)


def test_kernel_choice(kernel) -> None:
    segments, _ = _segments(random.Random(9), 1)
    assert Index(segments, BM25Params(), "x").kernel == "compiled"  # loaded in this process
    assert Index(segments, BM25Params(), "x", kernel="numpy").kernel == "numpy"


def test_without_a_writable_cache_it_compiles_in_memory(monkeypatch) -> None:
    import numba

    from retrieval import kernel_parts as module

    real = numba.njit

    def njit(**options):
        if options.get("cache"):
            raise RuntimeError("cannot cache function: no locator available")
        return real(**options)

    monkeypatch.setattr(module, "njit", njit)
    double = module.compiled(lambda x: 2 * x)
    assert double(21) == 42


@pytest.mark.parametrize("seed", range(3))
def test_long_queries_probe_the_hot_docs(kernel, seed: int) -> None:
    """Long queries of rare and common words: several probes, the later ones among the docs
    with high partial scores (or all candidates when too many are), many tied scores."""
    rng = random.Random(100 + seed)
    texts = _corpus(rng, 8000, 2000)
    texts += rng.sample(texts, 2000)  # repeated paragraphs: tied scores
    recs = [{"id": str(i)} for i in range(len(texts))]
    segments = [build_segment("seg-1", recs, [[t] for t in texts], str.split)]
    numpy_index = Index(segments, BM25Params(), "x", kernel="numpy")
    compiled_index = Index(segments, BM25Params(), "x", kernel="compiled")
    for _ in range(40):
        words = list(set(rng.choice(texts).split() + rng.choice(texts).split()))
        query = rng.sample(words, min(len(words), rng.randint(10, 18)))
        dense = numpy_index.scores(query)
        ranked = sorted(np.flatnonzero(dense).tolist(), key=lambda d: (-dense[d], d))
        for k in (1, 10, 100, 1000):
            expected = numpy_index.top(query, k)
            assert compiled_index.top(query, k) == expected
            assert [s for _, s in expected] == pytest.approx(
                [dense[d] for d in ranked[:k]], rel=1e-5
            )


def test_find_interpolates_on_uneven_lists(kernel) -> None:
    """The look-up of a doc in a posting list, against numpy's search, on lists spread
    evenly, clustered, and skewed (where interpolation guesses badly)."""
    from numba import njit

    from retrieval import kernel_parts

    find = njit(lambda docs, lo, hi, doc: kernel_parts.find(docs, lo, hi, doc))
    rng = np.random.default_rng(0)
    for trial in range(120):
        n = int(rng.integers(1, 3000))
        if trial % 3 == 0:
            docs = rng.integers(0, 5 * n, n)
        elif trial % 3 == 1:
            docs = np.concatenate([rng.integers(0, 40, n), rng.integers(10**6, 10**6 + 50, 3)])
        else:
            docs = (rng.pareto(1.0, n) * 1000).astype(np.int64)
        docs = np.unique(docs).astype(np.int32)
        padded = np.concatenate([[-3, -1], docs, [2**31 - 2]]).astype(np.int32)
        for doc in np.concatenate([docs, rng.integers(-2, docs[-1] + 3, 100)]):
            at = int(np.searchsorted(docs, doc))
            expected = at + 2 if at < len(docs) and docs[at] == doc else -1
            assert find(padded, 2, 2 + len(docs), np.int32(doc)) == expected


def test_a_long_query_is_not_split_while_another_is_scored(kernel, monkeypatch) -> None:
    """Two threads' long queries at once: each on one core (split, they would run four
    threads on two cores); the same top-k either way."""
    calls = []
    halves = kernel._halves
    monkeypatch.setattr(kernel, "SPLIT_AT", 0)
    monkeypatch.setattr(kernel, "_halves", lambda *a: calls.append(1) or halves(*a))
    rng = random.Random(3)
    segments, texts = _segments(rng, 1)
    index = Index(segments, BM25Params(), "x", kernel="compiled")
    query = texts[0].split()[:5]
    alone = index.top(query, 10)
    assert len(calls) == 1
    monkeypatch.setattr(kernel, "_searching", 1)  # another thread's long query
    assert index.top(query, 10) == alone
    assert len(calls) == 1 and kernel._searching == 1


def test_a_forked_child_searches_on_one_core(kernel, monkeypatch) -> None:
    """OpenMP's threads do not survive a fork: a child of a process that split a query must
    not start them again (numba would abort it), and gets the same top-k on one core."""
    rng = random.Random(7)
    segments, texts = _segments(rng, 1)
    index = Index(segments, BM25Params(), "x", kernel="compiled")
    numpy_index = Index(segments, BM25Params(), "x", kernel="numpy")
    monkeypatch.setattr(kernel, "SPLIT_AT", 0)
    queries = [[w for w in _query(rng, texts) if isinstance(w, str)] or ["w0"] for _ in range(20)]
    assert [index.top(q, 10) for q in queries] == [numpy_index.top(q, 10) for q in queries]
    pid = os.fork()
    if pid == 0:  # the child: no pytest here, only an exit status
        same = all(index.top(q, 10) == numpy_index.top(q, 10) for q in queries)
        os._exit(0 if same and not kernel._parallel else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_no_write_outside_the_scratch(tmp_path) -> None:
    """The kernel compiled with bounds checks (in a new process, its own cache): a union that
    makes every doc a candidate and reads on, on one core and split in two halves."""
    import subprocess
    import sys
    from pathlib import Path

    script = """
from retrieval import BM25Params, jit
from retrieval.index import Index, build_segment
texts = ["a b c" if i % 2 else "a b" for i in range(41)]
seg = build_segment("s", [{"id": str(i)} for i in range(41)], [[t] for t in texts], str.split)
index = Index([seg], BM25Params(), "x", kernel="compiled")
kernel = jit.load(timeout=600)
assert kernel is not None
one = index.top(["a", "b", "c"], 3)
kernel.SPLIT_AT = 0
assert index.top(["a", "b", "c"], 3) == one
"""
    env = {**os.environ, "NUMBA_BOUNDSCHECK": "1", "NUMBA_CACHE_DIR": str(tmp_path)}
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=root, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-2000:]


def test_a_process_that_exits_while_the_kernel_loads_waits_for_it(tmp_path) -> None:
    """The loading thread was a daemon left running at exit: compiling, it is inside LLVM
    (ctypes calls run without the GIL) while exit runs LLVM's static destructors, and a
    process aborted ("UNREACHABLE executed") after its work was done. The exit now waits
    for the load; here a slow stand-in for the kernel shows it."""
    import subprocess
    import sys
    from pathlib import Path

    marker = tmp_path / "loaded"
    script = f"""
import sys, time, types
from retrieval import jit
slow = types.ModuleType("retrieval.kernel")
def warm():
    time.sleep(1)
    open({str(marker)!r}, "w").close()
slow.warm = lambda width: warm()
sys.modules["retrieval.kernel"] = slow
jit.start()
"""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert marker.exists()
    assert not done.stderr  # a wait as short as a load from the cache goes unsaid


def test_a_child_forked_while_the_kernel_loads_neither_waits_at_exit_nor_for_ever(
    tmp_path,
) -> None:
    """The exit waited for a load the child had no thread for: a child forked while the
    kernel loaded waited EXIT_WAIT_S (120 s) at exit, and `load()` in it never returned.
    The child loads the kernel anew, and its exit waits only for a load of its own."""
    import subprocess
    import sys
    from pathlib import Path

    script = """
import os, sys, threading, time, types
from retrieval import jit
slow = types.ModuleType("retrieval.kernel")
slow.warm = lambda width: time.sleep(0.5 if os.getpid() == parent else 0.1)
parent = os.getpid()
sys.modules["retrieval.kernel"] = slow
jit.start()
pid = os.fork()
if pid == 0:
    assert jit.load(timeout=5) is slow, "the child never loads the kernel"
    sys.exit(0)
started = time.monotonic()
_, status = os.waitpid(pid, 0)
assert time.monotonic() - started < 5, "the child waited at exit"
assert os.waitstatus_to_exitcode(status) == 0, "the child failed"
"""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, timeout=20)
    assert done.returncode == 0, done.stderr.decode()[-2000:]


def test_the_default_scores_compile_only_their_own_variant(kernel) -> None:
    """A first compile made the float64 variant as well (about half of its 30 s on two
    cores), which only okapi's idf uses. The default scores load float32's alone; an okapi
    index loads its own when it needs it."""
    import subprocess
    import sys
    from pathlib import Path

    script = """
from retrieval import BM25Params, jit, kernel_top
from retrieval.index import Index, build_segment
widths = lambda: sorted({str(sig[3].dtype) for sig in kernel_top.segment_top.signatures})
assert jit.load(timeout=600) is not None
assert widths() == ["float32"], widths()
seg = build_segment("s", [{"id": "0"}], [["a b"]], str.split)
assert jit.get("float64") is None
okapi = Index([seg], BM25Params.okapi(), "x", kernel="compiled")
assert okapi.kernel == "compiled" and widths() == ["float32", "float64"], widths()
assert okapi.top(["a"], 1) == Index([seg], BM25Params.okapi(), "x", kernel="numpy").top(["a"], 1)
"""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-2000:]


def test_an_exit_that_waits_for_a_first_compile_says_so_and_a_second_ctrl_c_ends_it(
    tmp_path,
) -> None:
    """A process quit during the kernel's first compile waited for it in silence (half a
    minute on two cores); a Ctrl-C then printed a traceback and the process aborted in
    LLVM. It now says why it waits, and a Ctrl-C ends it at once (exit status 130)."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    script = """
import sys, time, types
from retrieval import jit
slow = types.ModuleType("retrieval.kernel")
slow.warm = lambda dtype: time.sleep(60)
sys.modules["retrieval.kernel"] = slow
jit.start()
"""
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=root, stderr=subprocess.PIPE, text=True
    )
    try:
        line = proc.stderr.readline()
        assert "compile" in line, line
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 130
        assert "Traceback" not in proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()
