"""Benchmark jobs of the reference systems, rank-bm25 and bm25s, on feedqa's own tokens.

Each is built in one job and saved to disk (bm25s with its own `save`, rank-bm25 pickled, as
it has no format of its own), then served by a fresh process that loads it from disk, so
memory is what serving costs rather than building.
"""

import gc
import pickle
import shutil
import time
from pathlib import Path

from measure import TOP, dir_mb, load_queries, load_tokens, memory, summary, timed, top_of_dense

QUERY_SETS = ("synthetic", "qa")


def job_rank_bm25_build(size: int, work: Path, opts: dict) -> dict:
    """rank-bm25 BM25Okapi: build from the tokens, pickle."""
    from rank_bm25 import BM25Okapi

    terms, docs = load_tokens(work, size)
    docs = [[terms[i] for i in d] for d in docs]
    gc.collect()
    t = time.perf_counter()
    bm = BM25Okapi(docs)
    build_s = time.perf_counter() - t
    del docs
    path = work / f"rank-bm25-{size}x.pickle"
    with open(path, "wb") as f:
        pickle.dump(bm, f, protocol=pickle.HIGHEST_PROTOCOL)
    return {"build_s": build_s, "disk_mb": path.stat().st_size / 1e6, "build_memory": memory()}


def job_rank_bm25_serve(size: int, work: Path, opts: dict) -> dict:
    """rank-bm25 loaded from its pickle: get_scores + top-10 on both query sets."""
    path = work / f"rank-bm25-{size}x.pickle"
    t = time.perf_counter()
    with open(path, "rb") as f:
        bm = pickle.load(f)
    load_s = time.perf_counter() - t
    queries = load_queries(work, size)
    out: dict = {"load_s": load_s}
    for name in QUERY_SETS:
        times, results, note = timed(
            lambda it: top_of_dense(bm.get_scores(it["tokens"])),
            queries[name],
            opts.get("bound_s", 5.0),
            opts.get("budget_s", 60.0),
        )
        out[name] = {"top": summary(times), "note": note, "lists": results}
    out["memory"] = memory()
    path.unlink(missing_ok=True)
    return out


def job_bm25s_build(size: int, work: Path, opts: dict) -> dict:
    """bm25s (lucene, k1=1.5, b=0.75): build from the tokens, save with its own format."""
    import bm25s

    terms, docs = load_tokens(work, size)
    vocab = {t: i for i, t in enumerate(terms)}
    gc.collect()
    t = time.perf_counter()
    model = bm25s.BM25(k1=1.5, b=0.75, method="lucene", backend="numba")
    model.index((docs, vocab), show_progress=False)
    build_s = time.perf_counter() - t
    path = work / f"bm25s-{size}x"
    shutil.rmtree(path, ignore_errors=True)
    model.save(path)
    return {"build_s": build_s, "disk_mb": dir_mb(path), "build_memory": memory()}


def load_bm25s(work: Path, size: int, backend: str):
    """bm25s's saved index, memory-mapped as feedqa's is, with the given backend."""
    import bm25s

    return bm25s.BM25.load(work / f"bm25s-{size}x", mmap=True, override_params={"backend": backend})


def bm25s_search(model):
    """top-10 of one query's tokens (strings), as [(doc, score)]."""
    vocab = model.vocab_dict

    def run(item: dict) -> list[tuple[int, float]]:
        ids = [vocab[t] for t in item["tokens"] if t in vocab]
        if not ids:
            return []
        res = model.retrieve([ids], k=TOP, show_progress=False, n_threads=0)
        docs, scores = res.documents[0].tolist(), res.scores[0].tolist()
        return [(d, s) for d, s in zip(docs, scores, strict=True) if s > 0]

    return run


def job_bm25s_serve(size: int, work: Path, opts: dict) -> dict:
    """bm25s loaded from disk (numpy or numba backend): top-10 on both query sets."""
    backend = opts["backend"]
    t = time.perf_counter()
    model = load_bm25s(work, size, backend)
    load_s = time.perf_counter() - t
    queries = load_queries(work, size)
    run = bm25s_search(model)
    t = time.perf_counter()
    run(next(q for q in queries["synthetic"] if q["tokens"]))  # compiles (numba)
    warmup_s = time.perf_counter() - t
    out: dict = {"load_s": load_s, "warmup_s": warmup_s}
    for name in QUERY_SETS:
        times, results, note = timed(run, queries[name], opts.get("bound_s", 5.0), 600.0)
        out[name] = {"top": summary(times), "note": note, "lists": results}
    out["memory"] = memory()
    return out


JOBS = {
    "rank-bm25-build": job_rank_bm25_build,
    "rank-bm25-serve": job_rank_bm25_serve,
    "bm25s-build": job_bm25s_build,
    "bm25s-serve": job_bm25s_serve,
}
