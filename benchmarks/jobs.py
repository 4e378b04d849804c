"""Benchmark jobs; `bench.py` runs each in a fresh process so memory peaks are per job.

    python benchmarks/jobs.py JOB SIZE WORKDIR [OPTIONS as JSON]

Prints one JSON object (the job's measurements) as its last line of output.
"""

import gc
import json
import os
import random
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synth import GENERATOR, Synth, split_sentences  # noqa: E402

TOP = 10
QUESTION_FORMS = ["{}是多少?", "{}是谁?", "{}在哪里?", "{}是什么时候?", "{}是什么?", "{}怎么样?"]


# --- helpers ----------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def status_mb(field: str) -> float:
    """VmRSS / VmHWM of this process from /proc, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def summary(seconds: list[float]) -> dict:
    """Median, p95 and mean in milliseconds."""
    if not seconds:
        return {"n": 0}
    ms = sorted(s * 1e3 for s in seconds)
    return {
        "n": len(ms),
        "p50": statistics.median(ms),
        "p95": ms[min(len(ms) - 1, int(0.95 * len(ms)))],
        "mean": sum(ms) / len(ms),
        "max": ms[-1],
    }


def corpus_path(work: Path, size: int) -> Path:
    return work / f"corpus-{size}x-{GENERATOR}.jsonl"


def load_articles(work: Path, size: int):
    from corpus import Article

    with open(corpus_path(work, size), encoding="utf-8") as f:
        return [Article.model_validate_json(line) for line in f]


def load_queries(work: Path, size: int) -> dict:
    return json.loads((work / f"queries-{size}x.json").read_text(encoding="utf-8"))


def load_tokens(work: Path, size: int) -> tuple[list[str], list[list[int]]]:
    """Each paragraph's term ids (a term repeated tf times), as feedqa indexed it."""
    data = np.load(work / f"tokens-{size}x.npz")
    ptr, ids = data["ptr"], data["ids"]
    terms = (work / f"index-{size}x" / "seg-1" / "terms.txt").read_text(encoding="utf-8")
    flat = ids.tolist()
    docs = [flat[a:b] for a, b in zip(ptr[:-1].tolist(), ptr[1:].tolist(), strict=True)]
    return terms.split("\n"), docs


def top_of_dense(scores: np.ndarray, k: int = TOP) -> tuple[list[int], list[float]]:
    """The k best of a dense score array (fast on mostly-zero arrays), best first."""
    nz = np.flatnonzero(scores)
    if len(nz) > k:
        nz = nz[np.argpartition(-scores[nz], k - 1)[:k]]
    order = sorted(nz.tolist(), key=lambda d: (-scores[d], d))
    return order, [float(scores[d]) for d in order]


def timed_queries(run, queries: list, bound: float, budget: float) -> tuple[list, list, str]:
    """Run `run(q)` for each query until one takes more than `bound` s or `budget` s pass."""
    times, results, note = [], [], ""
    started = time.perf_counter()
    for q in queries:
        t = time.perf_counter()
        results.append(run(q))
        dt = time.perf_counter() - t
        times.append(dt)
        if dt > bound:
            note = f"stopped: a query took {dt:.1f} s > {bound:.0f} s"
            break
        if time.perf_counter() - started > budget and len(times) >= 10:
            note = f"stopped after {len(times)} queries ({budget:.0f} s budget)"
            break
    return times, results, note


# --- jobs -------------------------------------------------------------------------------------


def job_corpus(size: int, work: Path, opts: dict) -> dict:
    """Write the size x corpus and its queries and questions (fixed seed)."""
    from retrieval.question import content_terms

    t = time.perf_counter()
    synth = Synth()
    path = corpus_path(work, size)
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for a in synth.corpus(size):
                f.write(a.model_dump_json() + "\n")
        os.replace(tmp, path)
    gen_s = time.perf_counter() - t
    articles = load_articles(work, size)
    paragraphs = [p for a in articles for p in a.paragraphs]
    rng = random.Random(f"queries-{size}")
    queries, questions = [], []
    n = opts.get("queries", 200)
    while len(queries) < n or len(questions) < n:
        sentence = rng.choice(split_sentences(rng.choice(paragraphs)) or [""])
        words = content_terms(sentence)
        if len(words) < 3:
            continue
        if len(queries) < n:
            pick = sorted(rng.sample(range(len(words)), rng.randint(3, min(8, len(words)))))
            text = " ".join(words[i] for i in pick)
            tokens = content_terms(text)
            if tokens:
                queries.append({"text": text, "tokens": tokens})
        if len(questions) < n:
            pick = sorted(rng.sample(range(len(words)), rng.randint(2, min(5, len(words)))))
            questions.append(rng.choice(QUESTION_FORMS).format("".join(words[i] for i in pick)))
    (work / f"queries-{size}x.json").write_text(
        json.dumps({"queries": queries, "questions": questions}, ensure_ascii=False),
        encoding="utf-8",
    )
    return {
        "generate_s": gen_s,
        "articles": len(articles),
        "paragraphs": len(paragraphs),
        "chars": sum(map(len, paragraphs)),
    }


def job_build(size: int, work: Path, opts: dict) -> dict:
    """feedqa: build the index from the articles (tokenization included), save it.

    Timed twice: the index alone (`build_segment`: tokenize, postings) and end to end
    (`Retriever.from_articles`: also each article's record, e.g. its mined aliases).
    """
    import shutil

    from retrieval import Retriever, tokenize
    from retrieval import index as ix

    articles = load_articles(work, size)
    chars = sum(len(p) for a in articles for p in a.paragraphs)
    gc.collect()
    rss_before = status_mb("VmRSS")
    cpus = len(os.sched_getaffinity(0))
    t = time.perf_counter()
    retriever = Retriever.from_articles(articles)
    e2e_s = time.perf_counter() - t
    peak_build = peak_rss_mb()
    records = retriever.index.segments[0].articles
    t = time.perf_counter()
    ix.build_segment("seg-x", records, [a.paragraphs for a in articles], tokenize)
    build_s = time.perf_counter() - t
    path = work / f"index-{size}x"
    shutil.rmtree(path, ignore_errors=True)
    t = time.perf_counter()
    retriever.save(path)
    save_s = time.perf_counter() - t
    (seg,) = retriever.index.segments
    # each paragraph's terms (tf times) for the references: the very tokens feedqa indexed
    term = np.repeat(np.arange(len(seg.terms), dtype=np.int32), np.diff(seg.indptr))
    order = np.argsort(seg.post_doc, kind="stable")
    tf = seg.post_tf[order].astype(np.int64)
    ids = np.repeat(term[order], tf)
    ptr = np.zeros(seg.n_docs + 1, np.int64)
    np.cumsum(np.bincount(seg.post_doc, weights=seg.post_tf, minlength=seg.n_docs), out=ptr[1:])
    np.savez(work / f"tokens-{size}x.npz", ptr=ptr, ids=ids)
    return {
        "build_s": build_s,
        "chars": chars,
        "chars_per_s": chars / build_s,
        "e2e_s": e2e_s,
        "e2e_chars_per_s": chars / e2e_s,
        "workers": cpus if chars >= ix.PARALLEL_MIN_CHARS else 1,
        "save_s": save_s,
        "disk_mb": dir_mb(path),
        "peak_rss_mb": peak_build,
        "input_rss_mb": rss_before,
        "paragraphs": seg.n_docs,
        "terms": len(seg.terms),
        "postings": len(seg.post_doc),
        "tokens": int(ptr[-1]),
    }


def job_serve(size: int, work: Path, opts: dict) -> dict:
    """feedqa: load (mmap), search, ask, concurrency, memory, top-10 lists for agreement."""
    from concurrent.futures import ThreadPoolExecutor

    from retrieval import BM25Params, Retriever
    from retrieval.index import Index

    path = work / f"index-{size}x"
    q = load_queries(work, size)
    queries, questions = q["queries"], q["questions"]
    t = time.perf_counter()
    retriever = Retriever.load(path)
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    Retriever.load(path, verify=False)
    load_noverify_s = time.perf_counter() - t
    gc.collect()
    rss_loaded = status_mb("VmRSS")
    index = retriever.index
    for item in queries[:10]:  # warm up
        retriever.search(item["text"], k=TOP)
        index.top(item["tokens"], TOP)
    for question in questions[:5]:
        retriever.ask(question)

    def clock(fn, items) -> tuple[list[float], list[float], list]:
        wall, cpu, out = [], [], []
        for item in items:
            c, t = time.thread_time(), time.perf_counter()
            out.append(fn(item))
            wall.append(time.perf_counter() - t)
            cpu.append(time.thread_time() - c)
        return wall, cpu, out

    top_wall, top_cpu, _ = clock(lambda it: index.top(it["tokens"], TOP), queries)
    search_wall, search_cpu, _ = clock(lambda it: retriever.search(it["text"], k=TOP), queries)
    ask_wall, ask_cpu, answers = clock(retriever.ask, questions)
    answered = sum(a.answered for a in answers)

    # both cores busy: two threads, then two processes (forked after loading)
    t = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(retriever.ask, questions))
    qps_threads = len(questions) / (time.perf_counter() - t)
    t = time.perf_counter()
    children = []
    for half in (0, 1):
        pid = os.fork()
        if pid == 0:
            try:
                for question in questions[half::2]:
                    retriever.ask(question)
            finally:
                os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    qps_processes = len(questions) / (time.perf_counter() - t)

    # top-10 on the same tokens, for agreement with the references
    lists = {}
    for name, params in (("okapi", BM25Params.okapi()), ("lucene15", BM25Params(k1=1.5))):
        other = Index(index.segments, params, index.segmenter)
        lists[name] = [other.top(it["tokens"], TOP) for it in queries]
    return {
        "load_s": load_s,
        "load_noverify_s": load_noverify_s,
        "rss_loaded_mb": rss_loaded,
        "top": summary(top_wall),
        "top_cpu": summary(top_cpu),
        "search": summary(search_wall),
        "search_cpu": summary(search_cpu),
        "ask": summary(ask_wall),
        "ask_cpu": summary(ask_cpu),
        "answered": answered,
        "qps_1": len(questions) / sum(ask_wall),
        "qps_2threads": qps_threads,
        "qps_2processes": qps_processes,
        "rss_serving_mb": status_mb("VmRSS"),
        "peak_rss_mb": status_mb("VmHWM"),
        "lists": lists,
    }


def job_rank_bm25(size: int, work: Path, opts: dict) -> dict:
    """rank-bm25 BM25Okapi on feedqa's tokens: build, get_scores + top-10."""
    from rank_bm25 import BM25Okapi

    terms, docs = load_tokens(work, size)
    docs = [[terms[i] for i in d] for d in docs]
    queries = load_queries(work, size)["queries"]
    gc.collect()
    t = time.perf_counter()
    bm = BM25Okapi(docs)
    build_s = time.perf_counter() - t
    del docs
    gc.collect()
    times, results, note = timed_queries(
        lambda it: top_of_dense(bm.get_scores(it["tokens"])),
        queries,
        opts.get("bound_s", 5.0),
        opts.get("budget_s", 120.0),
    )
    return {
        "build_s": build_s,
        "peak_rss_mb": peak_rss_mb(),
        "top": summary(times),
        "note": note,
        "lists": [list(zip(d, s, strict=True)) for d, s in results],
    }


def job_bm25s(size: int, work: Path, opts: dict) -> dict:
    """bm25s (lucene, k1=1.5, b=0.75) on feedqa's tokens; numpy or numba backend."""
    import shutil

    import bm25s

    backend = opts["backend"]
    terms, docs = load_tokens(work, size)
    vocab = {t: i for i, t in enumerate(terms)}
    queries = load_queries(work, size)["queries"]
    gc.collect()
    t = time.perf_counter()
    model = bm25s.BM25(k1=1.5, b=0.75, method="lucene", backend=backend)
    model.index((docs, vocab), show_progress=False)
    build_s = time.perf_counter() - t
    del docs
    gc.collect()
    path = work / f"bm25s-{backend}-{size}x"
    shutil.rmtree(path, ignore_errors=True)
    model.save(path)
    t = time.perf_counter()
    bm25s.BM25.load(path, mmap=True)
    load_s = time.perf_counter() - t
    disk = dir_mb(path)
    shutil.rmtree(path, ignore_errors=True)
    qids = [[vocab[t] for t in it["tokens"] if t in vocab] for it in queries]
    t = time.perf_counter()
    model.retrieve([next(q for q in qids if q)], k=TOP, show_progress=False)  # compiles (numba)
    warmup_s = time.perf_counter() - t

    def run(ids):
        if not ids:
            return []
        res = model.retrieve([ids], k=TOP, show_progress=False, n_threads=0)
        docs, scores = res.documents[0].tolist(), res.scores[0].tolist()
        return [(d, s) for d, s in zip(docs, scores, strict=True) if s > 0]

    times, results, note = timed_queries(run, qids, opts.get("bound_s", 5.0), 600.0)
    return {
        "build_s": build_s,
        "load_s": load_s,
        "disk_mb": disk,
        "warmup_s": warmup_s,
        "peak_rss_mb": peak_rss_mb(),
        "top": summary(times),
        "note": note,
        "lists": results,
    }


def job_ingest(size: int, work: Path, opts: dict) -> dict:
    """feedqa: add 50 new articles to the saved index; compare with a full rebuild."""
    from retrieval import Retriever

    path = work / f"index-{size}x"
    synth = Synth()
    new = (synth.copy(size) + synth.copy(size + 1))[:50]
    retriever = Retriever.load(path)
    t = time.perf_counter()
    report = retriever.add(new)
    add_s = time.perf_counter() - t
    t = time.perf_counter()
    retriever.save(path)
    save_s = time.perf_counter() - t
    t = time.perf_counter()
    reopened = Retriever.load(path)
    reload_s = time.perf_counter() - t
    articles = load_articles(work, size)
    t = time.perf_counter()
    full = Retriever.from_articles(articles + new)
    rebuild_s = time.perf_counter() - t
    queries = load_queries(work, size)["queries"][:20]
    queries += [{"text": a.paragraphs[0][:20]} for a in new[:10]]  # new articles' words
    same = 0
    for it in queries:
        a = [(p.link, p.paragraph, p.score) for p in reopened.search(it["text"], k=TOP)]
        b = [(p.link, p.paragraph, p.score) for p in full.search(it["text"], k=TOP)]
        same += a == b
    return {
        "added": report.added,
        "paragraphs": sum(len(a.paragraphs) for a in new),
        "add_s": add_s,
        "save_s": save_s,
        "reload_s": reload_s,
        "segments": len(reopened.index.segments),
        "rebuild_s": rebuild_s,
        "queries_compared": len(queries),
        "identical": same,
    }


JOBS = {
    "corpus": job_corpus,
    "build": job_build,
    "serve": job_serve,
    "rank-bm25": job_rank_bm25,
    "bm25s": job_bm25s,
    "ingest": job_ingest,
}

if __name__ == "__main__":
    job, size, work = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    options = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    result = JOBS[job](size, work, options)
    result["job_peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result, ensure_ascii=False))
