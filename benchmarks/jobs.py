"""Benchmark jobs; `bench.py` runs each in a fresh process so memory is per job.

    python benchmarks/jobs.py JOB SIZE WORKDIR [OPTIONS as JSON]

Prints one JSON object (the job's measurements) as its last line of output. feedqa's jobs
are here, the reference systems' in refs.py.
"""

import argparse
import gc
import itertools
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import refs  # noqa: E402
from measure import (  # noqa: E402
    TOP,
    corpus_path,
    dir_mb,
    load_articles,
    load_queries,
    memory,
    peak_rss_mb,
    qa_questions,
    summary,
)
from synth import Synth, split_sentences  # noqa: E402

QUESTION_FORMS = ["{}是多少?", "{}是谁?", "{}在哪里?", "{}是什么时候?", "{}是什么?", "{}怎么样?"]


def job_corpus(size: int, work: Path, opts: dict) -> dict:
    """Write the size x corpus and its query sets (fixed seed): synthetic queries and
    questions, and the project's own QA questions (with their query terms)."""
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
    qa = qa_questions()
    sets = {
        "synthetic": queries,
        "questions": questions,
        "qa": [{"text": q, "tokens": content_terms(q)} for q in qa],
        "qa_questions": qa,
    }
    (work / f"queries-{size}x.json").write_text(json.dumps(sets, ensure_ascii=False), "utf-8")
    return {
        "generate_s": gen_s,
        "articles": len(articles),
        "paragraphs": len(paragraphs),
        "chars": sum(map(len, paragraphs)),
        "queries": {k: len(v) for k, v in sets.items()},
    }


def job_build(size: int, work: Path, opts: dict) -> dict:
    """feedqa: build the index from the articles (tokenization included), save it.

    Timed twice: the index alone (`build_segment`: tokenize, postings) and end to end
    (`Retriever.from_articles`: also each article's record; no sentence vectors).
    """
    import shutil

    from retrieval import Retriever, tokenize
    from retrieval import build as ix

    articles = load_articles(work, size)
    chars = sum(len(p) for a in articles for p in a.paragraphs)
    gc.collect()
    rss_before = memory()["rss_mb"]
    cpus = len(os.sched_getaffinity(0))
    t = time.perf_counter()
    retriever = Retriever.from_articles(articles, semantic=False)
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


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _fork_throughput(fn, items: list) -> float:
    """Items per second with two forked processes, each doing half."""
    t = time.perf_counter()
    children = []
    for half in (0, 1):
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                for item in items[half::2]:
                    fn(item)
                status = 0
            finally:
                os._exit(status)
        children.append(pid)
    failed = [pid for pid in children if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0]
    if failed:
        raise RuntimeError(f"{len(failed)} of the forked processes failed")
    return len(items) / (time.perf_counter() - t)


def job_serve(size: int, work: Path, opts: dict) -> dict:
    """feedqa loaded from disk: load time, top-10, search and ask on both query sets,
    throughput, memory, and top-10 lists for the agreement with the references."""
    from concurrent.futures import ThreadPoolExecutor

    from retrieval import BM25Params, Retriever, jit
    from retrieval.index import Index

    path = work / f"index-{size}x"
    q = load_queries(work, size)
    t = time.perf_counter()
    retriever = Retriever.load(path, semantic=False)
    out: dict = {"load_first_s": time.perf_counter() - t}
    gc.collect()
    out["memory_loaded"] = memory()
    index = retriever.index
    reference = Index(index.segments, index.params, index.segmenter, kernel="numpy")
    for item in q["synthetic"][:10]:  # warm up
        index.top(item["tokens"], TOP)
    t = time.perf_counter()
    jit.load(timeout=600)  # a long-running process has switched to it by now
    out["kernel_wait_s"] = time.perf_counter() - t
    out["kernel"] = index.kernel

    def clock(fn, items) -> tuple[list[float], list]:
        wall, results = [], []
        for item in items:
            t = time.perf_counter()
            results.append(fn(item))
            wall.append(time.perf_counter() - t)
        return wall, results

    for name in ("synthetic", "qa"):
        top, _ = clock(lambda it: index.top(it["tokens"], TOP), q[name])
        out[name] = {"top": summary(top)}
    out["memory_top"] = memory()  # the reference systems are measured after the same
    for name in ("synthetic", "qa"):
        search, _ = clock(lambda it: retriever.search(it["text"], k=TOP), q[name])
        out[name]["search"] = summary(search)
    out["memory_search"] = memory()
    for question in q["questions"][:5]:  # warm up (the thesaurus loads on the first)
        retriever.ask(question)
    for name in ("synthetic", "qa"):
        top_numpy, _ = clock(lambda it: reference.top(it["tokens"], TOP), q[name])
        out[name]["top_numpy"] = summary(top_numpy)
    for name, key in (("synthetic", "questions"), ("qa", "qa_questions")):
        wall, answers = clock(retriever.ask, q[key])
        out[name]["ask"] = summary(wall)
        out[name]["answered"] = sum(a.answered for a in answers)
        out[name]["qps_1"] = len(wall) / sum(wall)
    out["memory_ask"] = memory()
    questions = q["qa_questions"]
    t = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(retriever.ask, questions))
    out["qps_2threads"] = len(questions) / (time.perf_counter() - t)
    out["qps_2processes"] = _fork_throughput(retriever.ask, questions)
    # load times last: the first load above ran on a cold process; these on a warm one
    out["load_s"] = _median_time(lambda: Retriever.load(path, semantic=False), 5)
    out["load_noverify_s"] = _median_time(
        lambda: Retriever.load(path, verify=False, semantic=False), 5
    )
    # top-10 on the same tokens, for agreement with the references
    lists: dict = {}
    for name in ("synthetic", "qa"):
        lists[name] = {}
        for setting, params in (("okapi", BM25Params.okapi()), ("lucene15", BM25Params(k1=1.5))):
            other = Index(index.segments, params, index.segmenter)
            lists[name][setting] = [other.top(it["tokens"], TOP) for it in q[name]]
    out["lists"] = lists
    return out


ONE_CORE = "feedqa (one core)"  # the interleaved job's feedqa with every query on one core


def job_interleaved(size: int, work: Path, opts: dict) -> dict:
    """feedqa and bm25s (numba), both loaded from disk in this one process, timed query by
    query in turn (rotating which goes first): their ratio under the same conditions. feedqa
    runs twice, as it serves (a long query on two cores) and on one core, as bm25s does."""
    from retrieval import Retriever, jit

    index = Retriever.load(work / f"index-{size}x", semantic=False).index
    run_bm25s = refs.bm25s_search(refs.load_bm25s(work, size, "numba"))
    q = load_queries(work, size)
    for item in q["synthetic"][:50]:
        index.top(item["tokens"], TOP)
        run_bm25s(item)
    kernel = jit.load(timeout=600)
    out: dict = {"kernel": index.kernel, "two_cores": bool(kernel and kernel._parallel)}

    def one_core(item: dict) -> None:
        two, kernel._parallel = kernel._parallel, False
        try:
            index.top(item["tokens"], TOP)
        finally:
            kernel._parallel = two

    for name in ("synthetic", "qa"):
        times: dict[str, list[float]] = {"feedqa": [], ONE_CORE: [], "bm25s-numba": []}
        runs = [
            ("feedqa", lambda it: index.top(it["tokens"], TOP)),
            (ONE_CORE, one_core),
            ("bm25s-numba", run_bm25s),
        ]
        orders = list(itertools.permutations(runs))
        for i, item in enumerate(q[name]):
            for system, fn in orders[i % len(orders)]:
                t = time.perf_counter()
                fn(item)
                times[system].append(time.perf_counter() - t)
        out[name] = {system: summary(ts) for system, ts in times.items()}
        theirs = out[name]["bm25s-numba"]
        for system, suffix in (("feedqa", ""), (ONE_CORE, "_one_core")):
            out[name][f"ratio_p50{suffix}"] = out[name][system]["p50"] / theirs["p50"]
            out[name][f"ratio_p95{suffix}"] = out[name][system]["p95"] / theirs["p95"]
    return out


def job_ingest(size: int, work: Path, opts: dict) -> dict:
    """feedqa: add 50 new articles to the saved index; compare with a full rebuild."""
    from retrieval import Retriever

    path = work / f"index-{size}x"
    synth = Synth()
    new = (synth.copy(size) + synth.copy(size + 1))[:50]
    retriever = Retriever.load(path, semantic=False)
    t = time.perf_counter()
    report = retriever.add(new)
    add_s = time.perf_counter() - t
    t = time.perf_counter()
    retriever.save(path)
    save_s = time.perf_counter() - t
    t = time.perf_counter()
    reopened = Retriever.load(path, semantic=False)
    reload_s = time.perf_counter() - t
    articles = load_articles(work, size)
    t = time.perf_counter()
    full = Retriever.from_articles(articles + new, semantic=False)
    rebuild_s = time.perf_counter() - t
    queries = load_queries(work, size)["synthetic"][:20]
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
    "interleaved": job_interleaved,
    "ingest": job_ingest,
    **refs.JOBS,
}

if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("job", choices=sorted(JOBS))
    parser.add_argument("size", type=int)
    parser.add_argument("work", type=Path)
    parser.add_argument("options", nargs="?", type=json.loads, default={})
    args = parser.parse_args()
    job, size, work, options = args.job, args.size, args.work, args.options
    result = JOBS[job](size, work, options)
    result["job_peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result, ensure_ascii=False))
