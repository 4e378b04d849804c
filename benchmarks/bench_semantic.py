"""The sentence encoder's share of `ask` at scale: closest-sentence search and whole answers.

    .venv/bin/python benchmarks/bench_semantic.py [--sizes 1,100,400] [--work DIR]
                                                  [--out bench-results/semantic.json]

For each size the archive of bench.py is used (built in `--work` if missing: the same
corpus and index files). Its sentences get vectors: a sentence of the bundled corpus gets its
shipped vector, and each synthetic sentence (a copy with rare words replaced) the shipped
vector of a bundled sentence chosen by its hash, plus Gaussian noise (σ = 0.02 a dimension,
about 0.93 cosine to it), renormalised: the real vectors' spread of topics, at the real
count. Embedding 1.35 million sentences for real would take days on this machine.

Measured in a fresh process per size, on every third of the project's QA questions (their
real encodings):
- the closest-sentence search, through the partition (`retrieval/ann.py`) where a segment has
  one and exhaustively, with the partition's recall of the exhaustive top 10;
- `ask` with the encoder (question encoding included) and the cross-encoder, with the
  encoder alone, and without either, p50 and p95;
- a follow-up in its chat (its earlier questions asked just before) and alone, with the
  encoder: the chat remembers its previous answer;
- the process's resident memory and the vectors' size on disk and in memory.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import QA_FILES, memory, summary  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOISE = 0.02
EVERY = 3
"""Every third QA question is asked (the exhaustive search takes about a second at 400x)."""


def synthetic_vectors(seg, table: tuple[np.ndarray, np.ndarray], seed: int = 0):
    """Vectors for every sentence of segment `seg` as the module docstring says."""
    from retrieval import ann, semantic

    texts = (seg.paragraph(d) for d in range(seg.n_docs))
    spans, sentences = semantic.segment_sentences(texts)
    hashes = np.fromiter(map(semantic.sentence_hash, sentences), np.uint64, len(sentences))
    known = semantic.Known([table])
    hit, found = known.find(hashes)
    bundled = np.asarray(table[1], np.float32)
    rng = np.random.default_rng(seed)
    vectors = np.empty((len(hashes), semantic.DIM), np.float16)
    vectors[hit] = found
    miss = np.flatnonzero(~hit)
    for lo in range(0, len(miss), 1 << 16):
        rows = miss[lo : lo + (1 << 16)]
        x = bundled[(hashes[rows] % np.uint64(len(bundled))).astype(np.int64)]
        x = x + rng.normal(0, NOISE, x.shape).astype(np.float32)
        vectors[rows] = x / np.linalg.norm(x, axis=1, keepdims=True)
    t = time.perf_counter()
    lists = ann.build(vectors)
    return semantic.Vectors(spans, hashes, vectors, lists), time.perf_counter() - t


def _nbytes(v) -> int:
    """Bytes of a segment's vectors, their sentences and their partition."""
    lists = vars(v.lists).values() if v.lists is not None else ()
    return sum(a.nbytes for a in (v.spans, v.hashes, v.vectors, *lists))


def job(size: int, work: Path) -> dict:
    """One size, in this process: vectors, searches and asks."""
    from retrieval import Retriever, crossencoder, semantic, vectorstore

    r = Retriever.load(work / f"index-{size}x", semantic=False)
    t = time.perf_counter()
    table = semantic.bundled_table()
    out: dict = {"size": size, "paragraphs": r.index.n_docs, "partition_s": 0.0}
    for seg in r.index.segments:
        vectors, partition_s = synthetic_vectors(seg, table)
        r._vectors.by_segment[seg.name] = vectors
        out["partition_s"] += partition_s
    out["vectors_s"] = time.perf_counter() - t
    parts = r._vectors.by_segment.values()
    out["sentences"] = sum(len(v.hashes) for v in parts)
    out["vectors_mb"] = sum(_nbytes(v) for v in parts) / 1e6
    out["partitioned"] = any(v.lists is not None for v in parts)
    questions = json.loads((work / f"queries-{size}x.json").read_text("utf-8"))["qa_questions"]
    questions = questions[::EVERY]
    enc = semantic.encoder()
    vectors = [enc.query(q) for q in questions]  # encoded once: the search is timed alone
    r.semantic = True
    index = r._sentences(r.index)
    exhaustive = vectorstore.SentenceIndex(
        [int(b) for b in r.index.bases[:-1]],
        [semantic.Vectors(v.spans, v.hashes, v.vectors) for v in parts],
    )
    fast, slow, recall = [], [], []
    for v in vectors:
        t = time.perf_counter()
        got = index.top(v, 10)
        fast.append(time.perf_counter() - t)
        t = time.perf_counter()
        want = exhaustive.top(v, 10)
        slow.append(time.perf_counter() - t)
        recall.append(len({(d, s) for d, s, _ in got} & {(d, s) for d, s, _ in want}) / 10)
    out["search"] = summary(fast)
    out["search_exhaustive"] = summary(slow)
    out["recall_at_10"] = statistics.mean(recall)
    enc._asked.clear()  # the asks encode their questions again, as a user's would
    rerank = crossencoder.cross_encoder
    for name, on, second in (
        ("ask_semantic", True, rerank),
        ("ask_first_stage", True, lambda: None),  # the cross-encoder left out
        ("ask_lexical", False, rerank),
    ):
        r.semantic = on
        crossencoder.cross_encoder = second
        r.ask(questions[0])
        times = []
        for q in questions:
            t = time.perf_counter()
            r.ask(q)
            times.append(time.perf_counter() - t)
        out[name] = summary(times)
    crossencoder.cross_encoder = rerank
    r.semantic = True
    out["follow_up_in_chat"], out["follow_up_alone"] = follow_ups(r)
    out["memory"] = memory()
    return out


def follow_ups(r) -> tuple[dict, dict]:
    """`ask` of each QA follow-up, p50 and p95: in its chat (its earlier questions asked just
    before, untimed) and alone. Each is a new question: nothing of it is remembered."""
    from retrieval import answering, semantic

    items = [json.loads(line) for path in QA_FILES for line in path.open(encoding="utf-8")]
    chats = [(it["question"], it["context"]) for it in items if it.get("context")][::EVERY]
    enc = semantic.encoder()
    in_chat, alone = [], []
    for question, context in chats:
        for times, chat in ((in_chat, True), (alone, False)):
            enc._asked.clear()
            answering._given = answering._Given()
            for i in range(len(context) if chat else 0):
                r.ask(context[i], history=context[:i])
            t = time.perf_counter()
            r.ask(question, history=context)
            times.append(time.perf_counter() - t)
    return summary(in_chat), summary(alone)


def ensure_archive(size: int, work: Path) -> None:
    """bench.py's corpus, queries and index of `size`, made if missing."""
    for name, path in (("corpus", f"queries-{size}x.json"), ("build", f"index-{size}x")):
        if not (work / path).exists():
            jobs = ROOT / "benchmarks" / "jobs.py"
            subprocess.run(
                [sys.executable, str(jobs), name, str(size), str(work), "{}"], check=True
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,100,400")
    parser.add_argument("--work", default=str(ROOT / "bench-results" / "work"))
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "semantic.json"))
    parser.add_argument("--job", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    work = Path(args.work)
    if args.job is not None:
        print(json.dumps(job(args.job, work)))
        return 0
    work.mkdir(parents=True, exist_ok=True)
    load = Path("/proc/loadavg").read_text().split()[:3]
    results = {"date": time.strftime("%Y-%m-%d %H:%M"), "load": load, "sizes": []}
    for size in (int(s) for s in args.sizes.split(",")):
        ensure_archive(size, work)
        cmd = [sys.executable, __file__, "--work", str(work), "--job", str(size)]
        line = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        res = json.loads(line.strip().splitlines()[-1])
        results["sizes"].append(res)
        print(
            f"{size}x: {res['sentences']:,} sentences, {res['vectors_mb']:.0f} MB of vectors "
            f"(partition {res['partition_s']:.1f} s); search p50/p95 "
            f"{res['search']['p50']:.1f}/{res['search']['p95']:.1f} ms (exhaustive "
            f"{res['search_exhaustive']['p50']:.1f}), recall@10 {res['recall_at_10']:.3f}; "
            f"ask p50/p95 {res['ask_semantic']['p50']:.1f}/{res['ask_semantic']['p95']:.1f} ms "
            f"with the encoder and the cross-encoder, {res['ask_first_stage']['p50']:.1f}/"
            f"{res['ask_first_stage']['p95']:.1f} with the encoder alone, "
            f"{res['ask_lexical']['p50']:.1f}/{res['ask_lexical']['p95']:.1f} "
            f"without; a follow-up in its chat {res['follow_up_in_chat']['p50']:.1f}/"
            f"{res['follow_up_in_chat']['p95']:.1f} ms, alone {res['follow_up_alone']['p50']:.1f}/"
            f"{res['follow_up_alone']['p95']:.1f}; RSS {res['memory']['rss_mb']:.0f} MB",
            flush=True,
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
