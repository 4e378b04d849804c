"""feedqa's speed-and-scale benchmark, against rank-bm25 and bm25s on the same tokens.

    .venv/bin/python benchmarks/bench.py [--sizes 1,10,100,400] [--out bench-results/bench.json]
                                         [--quick] [--queries 200] [--work DIR]

Corpora (benchmarks/synth.py, fixed seed): 1x is the bundled corpus (49 articles, 2,440
paragraphs, 149,500 characters); m x adds m - 1 synthetic copies of it: every paragraph of a
copy has the clause count of a real paragraph (so real paragraph lengths) filled with real
clauses drawn at random, and about half the occurrences of rare words (names, numbers,
uncommon words) become one of ~c ** 0.65 variants, so the vocabulary keeps growing like a real
archive's (Heaps' law) instead of staying at the 1x size. 400x is 976,000 paragraphs,
67M characters, ~540k terms.

Queries: a random paragraph's sentence, 3 to 8 of its query terms (`content_terms`) joined by
spaces; the tokens every system gets are `content_terms` of that text. Questions (for `ask`):
2 to 5 query terms of a sentence run together, plus a question form (是多少?, 是谁?, ...).

Every (system, size) runs in a fresh process (benchmarks/jobs.py) so peak memory is per job:
* feedqa build: `Retriever.from_articles` (tokenization included; parallel from 4M
  characters), saved with `Retriever.save`; chars/s counts paragraph characters.
* feedqa serve: `Retriever.load` (memory-mapped, checksums verified) in a new process, then
  `Index.top` on the tokens (top-10), `Retriever.search` (text in, passages out) and
  `Retriever.ask`; questions/s with 1 thread, 2 threads and 2 forked processes; resident
  memory while serving (VmHWM: includes the pages of the mapped index that were read).
* rank-bm25 0.2.2 `BM25Okapi` and bm25s (lucene, k1=1.5, b=0.75; numpy and numba
  backends), all built from feedqa's own tokens (each paragraph's terms, tf times), so their
  build time excludes tokenization. rank-bm25: `get_scores` + top-10, until a query takes
  more than --bound seconds or --budget seconds have passed.
* agreement: the fraction of queries whose top-10 doc set is identical, feedqa with
  `BM25Params.okapi()` vs rank-bm25 and with lucene k1=1.5 vs bm25s; "ties" counts a query as
  agreeing when the sets differ only among docs tied (1e-5) with the 10th score.
* ingest: 50 new articles added to the saved index (`Retriever.add` + `save`), then every
  query's top-10 (links, paragraphs, scores) compared with a full rebuild.
* start-up: a new `feedqa --bundled ask "…"` process on the warm cached bundled index, and
  `python -c "import retrieval"` (medians of 5).

Times are wall-clock medians/p95 on this machine; the load average at the start of each size
is recorded, since other work on the machine inflates them. bench-results/ is git-ignored.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JOBS = Path(__file__).resolve().with_name("jobs.py")
QUESTION = "京东科技计划在哪里上市?"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_job(job: str, size: int, work: Path, opts: dict | None = None) -> dict:
    cmd = [sys.executable, str(JOBS), job, str(size), str(work), json.dumps(opts or {})]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, cwd=ROOT)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        log(f"  {job} {size}x FAILED:\n{proc.stderr[-3000:]}")
        return {"error": proc.stderr[-3000:], "wall_s": wall}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    log(f"  {job} {size}x {opts or ''}: {wall:.0f} s")
    return result


def agreement(ours: list, ref: list, rel: float = 1e-5) -> dict:
    """Identical top-10 doc sets (strict); or, for "ties", the same docs above the 10th
    score (each system's own, within `rel`) and as many tied with it."""
    n = min(len(ours), len(ref))
    strict = ties = 0
    for a, b in zip(ours[:n], ref[:n], strict=True):
        if {d for d, _ in a} == {d for d, _ in b}:
            strict += 1
            ties += 1
        elif a and len(a) == len(b):
            above_a = {d for d, s in a if s > a[-1][1] * (1 + rel)}
            above_b = {d for d, s in b if s > b[-1][1] * (1 + rel)}
            ties += above_a == above_b
    return {"n": n, "strict": strict / n if n else None, "ties": ties / n if n else None}


def startup(work: Path, repeats: int = 5) -> dict:
    env = dict(os.environ, XDG_CACHE_HOME=str(work / "cache"))
    feedqa = Path(sys.executable).with_name("feedqa")

    def median_run(cmd: list[str]) -> float:
        subprocess.run(cmd, env=env, capture_output=True, check=True, cwd=ROOT)  # warm
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            subprocess.run(cmd, env=env, capture_output=True, check=True, cwd=ROOT)
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    return {
        "feedqa_ask_s": median_run([str(feedqa), "--bundled", "ask", QUESTION]),
        "import_retrieval_s": median_run([sys.executable, "-c", "import retrieval"]),
    }


def bench_size(size: int, work: Path, args: argparse.Namespace) -> dict:
    log(f"{size}x (load average {os.getloadavg()[0]:.2f})")
    out: dict = {"size": size, "loadavg": os.getloadavg()[0]}
    out["corpus"] = run_job("corpus", size, work, {"queries": args.queries})
    out["build"] = run_job("build", size, work)
    out["serve"] = run_job("serve", size, work)
    bounds = {"bound_s": args.bound, "budget_s": args.budget}
    out["rank-bm25"] = run_job("rank-bm25", size, work, bounds)
    out["bm25s"] = run_job("bm25s", size, work, {"backend": "numpy", **bounds})
    out["bm25s-numba"] = run_job("bm25s", size, work, {"backend": "numba", **bounds})
    out["ingest"] = run_job("ingest", size, work)
    serve = out["serve"]
    lists = serve.get("lists", {})
    out["agreement"] = {
        "rank-bm25": agreement(lists.get("okapi", []), out["rank-bm25"].get("lists", [])),
        "bm25s": agreement(lists.get("lucene15", []), out["bm25s"].get("lists", []), 1e-4),
        "bm25s-numba": agreement(
            lists.get("lucene15", []), out["bm25s-numba"].get("lists", []), 1e-4
        ),
    }
    for key in ("serve", "rank-bm25", "bm25s", "bm25s-numba"):
        out[key].pop("lists", None)
    return out


# --- report -----------------------------------------------------------------------------------


def _f(x, fmt: str = "{:.2f}") -> str:
    return "-" if x is None else fmt.format(x)


def _ms(s: dict | None) -> str:
    if not s or not s.get("n"):
        return "-"
    return f"{s['p50']:.2f}/{s['p95']:.2f}"


def rows(result: dict) -> list[list[str]]:
    out = []
    for r in result["sizes"]:
        size, build, serve = r["size"], r["build"], r["serve"]
        ref = r["rank-bm25"].get("top", {}).get("p50")

        def speed(p50, ref=ref):
            return f"{ref / p50:,.0f}x" if ref and p50 else "-"

        agree = r["agreement"]["rank-bm25"]
        out.append([
            f"{size}x", "feedqa", f"{r['corpus'].get('paragraphs', 0):,}",
            f"{_f(build.get('build_s'), '{:.1f}')} / {_f(build.get('e2e_s'), '{:.1f}')}",
            f"{_f(build.get('chars_per_s'), '{:,.0f}')} / {_f(build.get('e2e_chars_per_s'), '{:,.0f}')}",
            _f(build.get("disk_mb"), "{:.0f}"), _f(serve.get("load_s"), "{:.3f}"),
            f"{_f(build.get('peak_rss_mb'), '{:.0f}')} / {_f(serve.get('peak_rss_mb'), '{:.0f}')}",
            _ms(serve.get("top")), _ms(serve.get("search")), _ms(serve.get("ask")),
            f"{_f(agree['strict'])} / {_f(agree['ties'])}", speed(serve.get("top", {}).get("p50")),
        ])  # fmt: skip
        for name in ("rank-bm25", "bm25s", "bm25s-numba"):
            x = r[name]
            if "error" in x:
                out.append([f"{size}x", name, "", "error"] + [""] * (len(HEADER) - 4))
                continue
            top = x.get("top", {})
            agree = r["agreement"][name]
            out.append([
                f"{size}x", name, "", _f(x.get("build_s"), "{:.1f}") + " *", "-",
                _f(x.get("disk_mb"), "{:.0f}"), _f(x.get("load_s"), "{:.3f}"),
                _f(x.get("peak_rss_mb"), "{:.0f}"),
                _ms(top) + (f" ({top.get('n')} q)" if x.get("note") else ""), "-", "-",
                "(reference)" if name == "rank-bm25" else f"{_f(agree['strict'])} / {_f(agree['ties'])}",
                speed(top.get("p50")),
            ])  # fmt: skip
    return out


HEADER = [
    "size", "system", "paragraphs", "build s (index / e2e)", "build chars/s (index / e2e)",
    "disk MB", "load s", "peak RSS MB (build / serve)", "top-10 p50/p95 ms",
    "search p50/p95 ms", "ask p50/p95 ms", "agree@10 strict / ties", "top-10 vs rank-bm25",
]  # fmt: skip


def table(result: dict) -> str:
    body = rows(result)
    widths = [max(len(str(c)) for c in col) for col in zip(HEADER, *body, strict=True)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(HEADER, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in body:
        lines.append(
            "| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        )
    return "\n".join(lines)


def details(result: dict) -> str:
    lines = []
    for r in result["sizes"]:
        s, b, i = r["serve"], r["build"], r["ingest"]
        notes = [
            f"{k}: {r[k]['note']}"
            for k in ("rank-bm25", "bm25s", "bm25s-numba")
            if r[k].get("note")
        ]
        lines.append(
            f"{r['size']}x (load avg {r['loadavg']:.1f}): {b.get('paragraphs', 0):,} paragraphs, "
            f"{b.get('chars', 0):,} chars, {b.get('terms', 0):,} terms, "
            f"{b.get('postings', 0):,} postings; build {b.get('workers')} worker(s); "
            f"load {_f(s.get('load_s'), '{:.3f}')} s verified / {_f(s.get('load_noverify_s'), '{:.3f}')} s not; "
            f"RSS loaded {_f(s.get('rss_loaded_mb'), '{:.0f}')} MB, serving {_f(s.get('rss_serving_mb'), '{:.0f}')} MB "
            f"(peak {_f(s.get('peak_rss_mb'), '{:.0f}')}); top-10 CPU {_ms(s.get('top_cpu'))} ms; "
            f"ask CPU {_ms(s.get('ask_cpu'))} ms; questions/s 1 thread {_f(s.get('qps_1'), '{:.0f}')}, "
            f"2 threads {_f(s.get('qps_2threads'), '{:.0f}')}, 2 processes {_f(s.get('qps_2processes'), '{:.0f}')}; "
            f"ingest of {i.get('added')} articles ({i.get('paragraphs')} paragraphs): add {_f(i.get('add_s'), '{:.2f}')} s "
            f"+ save {_f(i.get('save_s'), '{:.2f}')} s (full rebuild {_f(i.get('rebuild_s'), '{:.1f}')} s), "
            f"top-10 identical to the rebuild for {i.get('identical')}/{i.get('queries_compared')} queries"
            + ("; " + "; ".join(notes) if notes else "")
        )  # fmt: skip
    st = result.get("startup", {})
    if st:
        lines.append(
            f"start-up: `feedqa --bundled ask` {st['feedqa_ask_s']:.2f} s, "
            f"`python -c 'import retrieval'` {st['import_retrieval_s']:.2f} s (medians of 5)"
        )
    return "\n".join("* " + line for line in lines)


def targets(result: dict) -> str:
    by = {r["size"]: r for r in result["sizes"]}
    out = []

    def check(name: str, value, limit, lower_is_better: bool = True, unit: str = "") -> None:
        if value is None:
            out.append(f"- [?] {name}: not measured")
            return
        ok = value <= limit if lower_is_better else value >= limit
        out.append(
            f"- [{'x' if ok else ' '}] {name}: {value:,.3g}{unit} (target {'<=' if lower_is_better else '>='} {limit:,}{unit})"
        )

    if 1 in by:
        check("bundled: ask p50", by[1]["serve"].get("ask", {}).get("p50"), 2, unit=" ms")
    if result.get("startup"):
        check("new `feedqa ask` process", result["startup"]["feedqa_ask_s"], 1.0, unit=" s")
    big = by.get(max(by)) if by else None
    if big and big["size"] >= 100:
        s, b = big["serve"], big["build"]
        label = f"{big['size']}x"
        check(f"{label}: search p50", s.get("search", {}).get("p50"), 2, unit=" ms")
        numba = big["bm25s-numba"].get("top", {}).get("p50")
        ours = s.get("top", {}).get("p50")
        if numba and ours:
            check(f"{label}: top-10 p50 vs bm25s numba (ratio, <1 is faster)", ours / numba, 1.0)
        ref = big["rank-bm25"].get("top", {}).get("p50")
        if ref and ours:
            check(
                f"{label}: speed-up vs rank-bm25", ref / ours, 1000, lower_is_better=False, unit="x"
            )
        check(f"{label}: ask p50", s.get("ask", {}).get("p50"), 20, unit=" ms")
        check(f"{label}: resident memory while serving", s.get("peak_rss_mb"), 1536, unit=" MB")
        check(f"{label}: load", s.get("load_s"), 1.0, unit=" s")
        check(
            f"{label}: build throughput",
            b.get("chars_per_s"),
            2_000_000,
            lower_is_better=False,
            unit=" chars/s",
        )
        i = big["ingest"]
        if i.get("add_s") is not None:
            check(
                f"{label}: ingest of 50 articles (add + save)",
                i["add_s"] + i["save_s"],
                2.0,
                unit=" s",
            )
            out.append(
                f"- [{'x' if i['identical'] == i['queries_compared'] else ' '}] {label}: ingest scores identical to a full rebuild ({i['identical']}/{i['queries_compared']})"
            )
    return "\n".join(out)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1,10,100,400")
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "bench.json"))
    parser.add_argument("--quick", action="store_true", help="1x and 10x only")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--bound", type=float, default=5.0, help="per-query limit (s)")
    parser.add_argument("--budget", type=float, default=120.0, help="rank-bm25 time per size")
    parser.add_argument("--work", default=str(ROOT / "bench-results" / "work"))
    args = parser.parse_args()
    sizes = [1, 10] if args.quick else [int(s) for s in args.sizes.split(",")]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    result: dict = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "sizes": [],
    }
    log("start-up")
    result["startup"] = startup(work)
    for size in sizes:
        result["sizes"].append(bench_size(size, work, args))
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1, ensure_ascii=False))
    result["wall_s"] = time.perf_counter() - started
    Path(args.out).write_text(json.dumps(result, indent=1, ensure_ascii=False))
    print(table(result))
    print(
        "\n* built from feedqa's tokens (tokenization excluded). build/e2e: feedqa's index alone"
        " (build_segment) / Retriever.from_articles (also each article's record)."
    )
    print()
    print(details(result))
    print()
    print(targets(result))
    print(f"\n(total {result['wall_s']:.0f} s; JSON in {args.out})")


if __name__ == "__main__":
    main()
