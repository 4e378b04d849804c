"""feedqa's speed-and-scale benchmark, against rank-bm25 and bm25s on the same tokens.

    .venv/bin/python benchmarks/bench.py [--sizes 1,10,100,400] [--out bench-results/bench.json]
                                         [--quick] [--queries 200] [--work DIR]

Corpora (benchmarks/synth.py, fixed seed): 1x is the bundled corpus (49 articles, 2,440
paragraphs, 149,500 characters); m x adds m - 1 synthetic copies of it (real paragraph
lengths, real clauses, rare words replaced by new variants so the vocabulary keeps growing
like a real archive's). 400x is 976,000 paragraphs, 67M characters.

Two query sets: "synthetic" (3 to 8 query terms of a random paragraph's sentence) and "qa",
the question of every item of the project's own QA files (tests/data/qa/*/*.jsonl); the tokens
every system gets are feedqa's `content_terms` of the text. `ask` is timed on synthetic
questions (2 to 5 terms run together plus a question form) and on the QA questions.

Every job runs in a fresh process (benchmarks/jobs.py, refs.py). Each system's index is
built in one job and saved, then served by a new process that loads it from disk
(memory-mapped for feedqa and bm25s; rank-bm25, which has no format, from a pickle), so
memory is the serving process's, not the builder's: VmRSS after the top-10 queries of both
sets (mapped index pages that were read count; the anonymous and file-backed parts are
reported). feedqa's top-10 and bm25s-numba's are also timed query by query in turn in one
process ("interleaved"); the table's feedqa ÷ bm25s-numba ratios come from that job, the
other systems' from their own jobs against bm25s-numba's. feedqa is timed with its
compiled kernel, which a process uses once it has loaded (after 32 queries, or at the first
query on an index of 2M postings or more); numpy's reference top-k is reported beside it.

Times are wall-clock; the machine has 2 cores and other work on it inflates them, so the
load average is recorded and ratios from the same run are what to compare.
bench-results/ is git-ignored.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import details, feedqa_table, table, targets  # noqa: E402

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


def startup(work: Path, repeats: int = 9) -> dict:
    """Medians of `repeats` new processes (after one warm-up run each)."""
    env = dict(os.environ, XDG_CACHE_HOME=str(work / "cache"))
    feedqa = Path(sys.executable).with_name("feedqa")

    def median_run(cmd: list[str]) -> float:
        subprocess.run(cmd, env=env, capture_output=True, check=True, cwd=ROOT)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            subprocess.run(cmd, env=env, capture_output=True, check=True, cwd=ROOT)
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    return {
        "repeats": repeats,
        "python_s": median_run([sys.executable, "-c", "pass"]),
        "import_numpy_s": median_run([sys.executable, "-c", "import numpy"]),
        "import_retrieval_s": median_run([sys.executable, "-c", "import retrieval"]),
        "feedqa_ask_s": median_run([str(feedqa), "--bundled", "ask", QUESTION]),
    }


def bench_size(size: int, work: Path, args: argparse.Namespace) -> dict:
    load = os.getloadavg()[0]
    log(f"{size}x (load average {load:.2f})")
    out: dict = {"size": size, "loadavg": load}
    out["corpus"] = run_job("corpus", size, work, {"queries": args.queries})
    out["build"] = run_job("build", size, work)
    out["bm25s-build"] = run_job("bm25s-build", size, work)
    out["rank-bm25-build"] = run_job("rank-bm25-build", size, work)
    out["serve"] = run_job("serve", size, work)
    limits = {"bound_s": args.bound, "budget_s": args.budget}
    out["rank-bm25"] = run_job("rank-bm25-serve", size, work, limits)
    out["bm25s"] = run_job("bm25s-serve", size, work, {"backend": "numpy", **limits})
    out["bm25s-numba"] = run_job("bm25s-serve", size, work, {"backend": "numba", **limits})
    out["interleaved"] = run_job("interleaved", size, work)
    out["ingest"] = run_job("ingest", size, work)
    lists = out["serve"].pop("lists", {})
    out["agreement"] = {}
    for name in ("synthetic", "qa"):
        ours = lists.get(name, {})
        out["agreement"][name] = {
            "rank-bm25": agreement(
                ours.get("okapi", []), out["rank-bm25"].get(name, {}).get("lists", [])
            ),
            **{
                system: agreement(
                    ours.get("lucene15", []), out[system].get(name, {}).get("lists", []), 1e-4
                )
                for system in ("bm25s", "bm25s-numba")
            },
        }
    for system in ("rank-bm25", "bm25s", "bm25s-numba"):
        for name in ("synthetic", "qa"):
            out[system].get(name, {}).pop("lists", None)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1,10,100,400")
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "bench.json"))
    parser.add_argument("--quick", action="store_true", help="1x and 10x only")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--bound", type=float, default=5.0, help="per-query limit (s)")
    parser.add_argument("--budget", type=float, default=60.0, help="rank-bm25 time per set")
    parser.add_argument("--work", default=str(ROOT / "bench-results" / "work"))
    args = parser.parse_args()
    sizes = [1, 10] if args.quick else [int(s) for s in args.sizes.split(",")]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    result: dict = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "uptime": uptime,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "sizes": [],
    }
    log(f"start-up ({uptime})")
    result["startup"] = startup(work)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for size in sizes:
        result["sizes"].append(bench_size(size, work, args))
        out.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    result["wall_s"] = time.perf_counter() - started
    result["uptime_end"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    print(f"{result['started']} · {result['cpus']} CPUs · Python {result['python']}")
    print(f"load at start: {result['uptime']}\nload at end:   {result['uptime_end']}\n")
    print(table(result))
    print()
    print(feedqa_table(result))
    print()
    print(details(result))
    print()
    print(targets(result))
    print(f"\n(total {result['wall_s']:.0f} s; JSON in {out})")


if __name__ == "__main__":
    main()
