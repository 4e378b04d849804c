"""The archive on a local Sphinx cluster against the in-process index, at the same size.

    .venv/bin/python benchmarks/bench_cluster.py [--size 100] [--shards 1,2,3] [--queries 200]
                                                 [--work DIR] [--out FILE]

Needs Sphinx (`apt-get install sphinxsearch`). The corpus and its queries are bench.py's
(benchmarks/synth.py, fixed seed; 100x is 244,000 paragraphs). Every part runs in a fresh
process, so memory peaks are per part:

* in-process: `Retriever.from_articles` (build chars/s), then a new process that loads the
  saved index and times `search` and `ask` (p50/p95) and reads its resident memory (VmHWM);
* cluster, for each shard count: `cluster.build` (write the shard files, run every shard's
  `indexer` at once, tokenizing in it through `retrieval.xmlpipe`, then the global IDF), start
  the shards and the head, time `search` and `ask` through `Retriever.connect`, read each
  `searchd`'s resident memory, compare every query's top-10 with the in-process one
  (overlap@10, and the same scores in the same order), then time an incremental ingest of
  50 new articles and 10 updated ones (delta indexes rebuilt and rotated in).

Prints a table of ratios against the in-process index and writes JSON (default
bench-results/cluster-SIZEx.json). Times are wall clock on this machine: compare the ratios.
"""

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jobs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TOP = 10


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _clock(fn, items) -> tuple[list[float], list]:
    wall, out = [], []
    for item in items:
        t = time.perf_counter()
        out.append(fn(item))
        wall.append(time.perf_counter() - t)
    return wall, out


def _serve(retriever, queries: list[dict], questions: list[str]) -> dict:
    """search and ask timings, and each query's top-10 (article id, paragraph, score)."""
    for item in queries[:10]:
        retriever.search(item["text"], k=TOP)
    for question in questions[:5]:
        retriever.ask(question)
    search_wall, hits = _clock(lambda it: retriever.search(it["text"], k=TOP), queries)
    ask_wall, answers = _clock(retriever.ask, questions)
    return {
        "search": jobs.summary(search_wall),
        "ask": jobs.summary(ask_wall),
        "answered": sum(a.answered for a in answers),
        "answers": [a.text for a in answers],
        "lists": [[(p.article_id, p.paragraph, p.score) for p in h] for h in hits],
    }


def job_local(size: int, work: Path, opts: dict) -> dict:
    """The in-process index, loaded from what `jobs.job_build` saved."""
    from retrieval import Retriever

    q = jobs.load_queries(work, size)
    retriever = Retriever.load(work / f"index-{size}x", semantic=False)
    out = _serve(retriever, q["queries"], q["questions"])
    out["rss_mb"] = jobs.status_mb("VmHWM")
    return out


def _searchd_mb(folder: Path) -> dict:
    pid = int((folder / "searchd.pid").read_text())
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    values = {ln.split(":")[0]: int(ln.split()[1]) / 1024 for ln in status if ln[:2] == "Vm"}
    return {"rss_mb": values.get("VmRSS"), "peak_mb": values.get("VmHWM")}


def job_cluster(size: int, work: Path, opts: dict) -> dict:
    """Build, start, serve, measure and ingest into a cluster of opts["shards"] shards."""
    import shutil

    from retrieval import Retriever
    from retrieval import cluster as cl

    shards, port = opts["shards"], opts["port"]
    root = work / f"cluster-{size}x-{shards}"
    if root.exists():
        with contextlib.suppress(Exception):  # a leftover of an interrupted run
            cl.stop(cl.Layout.load(root))
        shutil.rmtree(root)
    layout = cl.Layout(root, shards, port=port)
    articles = jobs.load_articles(work, size)
    chars = sum(len(p) for a in articles for p in a.paragraphs)
    q = jobs.load_queries(work, size)
    t = time.perf_counter()
    cl.build(layout, articles)
    build_s = time.perf_counter() - t
    out: dict = {"shards": shards, "build_s": build_s, "chars_per_s": chars / build_s}
    cl.start(layout)
    try:
        retriever = Retriever.connect(layout.url, cluster=root)
        out.update(_serve(retriever, q["queries"], q["questions"]))
        out["searchd"] = {f"shard {s}": _searchd_mb(layout.shard_dir(s)) for s in range(shards)}
        out["searchd"]["head"] = _searchd_mb(layout.root)
        out["disk_mb"] = jobs.dir_mb(root)
        new = [a.model_copy(update={"id": a.id + "#new"}) for a in articles[:50]]
        changed = [
            a.model_copy(update={"paragraphs": [*a.paragraphs[:-1], "本段已更新。"]})
            for a in articles[50:60]
        ]
        t = time.perf_counter()
        report = retriever.add(new + changed)
        out["ingest_s"] = time.perf_counter() - t
        out["ingest"] = [report.added, report.updated, report.unchanged]
        t = time.perf_counter()
        retriever.compact()
        out["merge_s"] = time.perf_counter() - t
    finally:
        cl.stop(layout)
    return out


JOBS = {"local": job_local, "cluster": job_cluster}


def run(job: str, size: int, work: Path, opts: dict | None = None) -> dict:
    """A job of this file or of jobs.py in a fresh process; its JSON result."""
    script = Path(__file__) if job in JOBS else Path(jobs.__file__)
    cmd = [sys.executable, str(script), job, str(size), str(work), json.dumps(opts or {})]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=7200, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"{job} failed:\n{proc.stderr[-3000:]}")
    log(f"  {job} {opts or ''}: {time.perf_counter() - t:.0f} s")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare(local: list, remote: list) -> dict:
    """overlap@10 of the paragraphs, and how often the scores agree rank by rank."""
    overlap, same = [], 0
    for a, b in zip(local, remote, strict=True):
        keys_a, keys_b = {(x[0], x[1]) for x in a}, {(x[0], x[1]) for x in b}
        overlap.append(len(keys_a & keys_b) / len(keys_a) if keys_a else float(not keys_b))
        same += len(a) == len(b) and all(
            abs(x[2] - y[2]) <= 1e-3 * max(1.0, abs(x[2])) for x, y in zip(a, b, strict=True)
        )
    return {"overlap10": sum(overlap) / len(overlap), "same_scores": same / len(local)}


def _free_port(n: int) -> int:
    import socket

    for base in range(21000, 60000, 97):
        try:
            for p in range(base, base + n):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
    raise SystemExit("no free ports")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--shards", default="1,2,3")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--work", type=Path, default=ROOT / "bench-work")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    size = args.size
    log(f"{size}x (load average {os.getloadavg()[0]:.2f})")
    result: dict = {
        "size": size,
        "corpus": run("corpus", size, args.work, {"queries": args.queries}),
    }
    result["build"] = run("build", size, args.work)
    local = result["local"] = run("local", size, args.work)
    clusters = []
    for n in map(int, args.shards.split(",")):
        c = run("cluster", size, args.work, {"shards": n, "port": _free_port(n + 1)})
        c["parity"] = compare(local["lists"], c.pop("lists"))
        c["same_answers"] = sum(
            a == b for a, b in zip(local["answers"], c.pop("answers"), strict=True)
        ) / len(local["answers"])
        clusters.append(c)
    local.pop("lists")
    local.pop("answers")
    result["clusters"] = clusters
    out = args.out or ROOT / "bench-results" / f"cluster-{size}x.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    print(report(result))


def report(r: dict) -> str:
    """A table: absolute figures, and ratios against the in-process index."""
    build, local = r["build"], r["local"]
    rows = [
        "| system | build chars/s | search p50 / p95 ms | ask p50 / p95 ms | memory MB "
        "| overlap@10 | same scores | same answers |",
        "|---|---|---|---|---|---|---|---|",
        f"| in-process | {build['e2e_chars_per_s'] / 1e6:.2f}M | {local['search']['p50']:.2f} / "
        f"{local['search']['p95']:.2f} | {local['ask']['p50']:.2f} / {local['ask']['p95']:.2f} "
        f"| {local['rss_mb']:.0f} | 1 | 1 | 1 |",
    ]
    for c in r["clusters"]:
        mem = {k: v["rss_mb"] for k, v in c["searchd"].items()}
        shard_mb = [v for k, v in mem.items() if k != "head"]
        rows.append(
            f"| {c['shards']} shard{'s' * (c['shards'] > 1)} | {c['chars_per_s'] / 1e6:.2f}M "
            f"(×{c['chars_per_s'] / build['e2e_chars_per_s']:.2f}) | {c['search']['p50']:.2f} / "
            f"{c['search']['p95']:.2f} (×{c['search']['p50'] / local['search']['p50']:.1f}) | "
            f"{c['ask']['p50']:.2f} / {c['ask']['p95']:.2f} "
            f"(×{c['ask']['p50'] / local['ask']['p50']:.1f}) | "
            f"{' + '.join(f'{v:.0f}' for v in shard_mb)} + head {mem['head']:.0f} "
            f"(×{sum(mem.values()) / local['rss_mb']:.2f}) | {c['parity']['overlap10']:.3f} | "
            f"{c['parity']['same_scores']:.3f} | {c['same_answers']:.3f} |"
        )
    extra = [
        f"{c['shards']} shards: ingest 50 new + 10 updated articles {c['ingest_s']:.2f} s, "
        f"merge {c['merge_s']:.1f} s, full build {c['build_s']:.1f} s, disk {c['disk_mb']:.0f} MB"
        for c in r["clusters"]
    ]
    return "\n".join(rows + [""] + extra)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in JOBS:
        name, size, work, opts = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
        print(json.dumps(JOBS[name](size, work, json.loads(opts))))
    else:
        main()
