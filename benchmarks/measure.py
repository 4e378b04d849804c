"""Shared helpers of the benchmark jobs: timing summaries, memory, the work folder's files."""

import json
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from synth import GENERATOR

TOP = 10
ROOT = Path(__file__).resolve().parents[1]
QA_FILES = sorted((ROOT / "tests" / "data" / "qa").glob("*/*.jsonl"))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory() -> dict:
    """This process's memory from /proc/self/status, in MB: resident now (rss) and at its
    peak (hwm), and the resident split into anonymous memory and mapped files."""
    fields = {"VmRSS": "rss", "VmHWM": "hwm", "RssAnon": "anon", "RssFile": "file"}
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in fields:
            out[fields[key] + "_mb"] = int(value.split()[0]) / 1024
    return out


def dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def summary(seconds: list[float]) -> dict:
    """Median, p95, mean and max in milliseconds."""
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


def timed(run: Callable, items: list, bound: float = 1e9, budget: float = 1e9) -> tuple:
    """`run(item)` for each item, timed, until one takes more than `bound` s or `budget` s
    have passed (after at least 10). Returns (seconds, results, note)."""
    times, results, note = [], [], ""
    started = time.perf_counter()
    for item in items:
        t = time.perf_counter()
        results.append(run(item))
        dt = time.perf_counter() - t
        times.append(dt)
        if dt > bound:
            note = f"stopped: a query took {dt:.1f} s > {bound:.0f} s"
            break
        if time.perf_counter() - started > budget and len(times) >= 10:
            note = f"stopped after {len(times)} queries ({budget:.0f} s budget)"
            break
    return times, results, note


def corpus_path(work: Path, size: int) -> Path:
    return work / f"corpus-{size}x-{GENERATOR}.jsonl"


def load_articles(work: Path, size: int):
    from corpus import Article

    with open(corpus_path(work, size), encoding="utf-8") as f:
        return [Article.model_validate_json(line) for line in f]


def load_queries(work: Path, size: int) -> dict:
    """{"synthetic": [{"text", "tokens"}], "qa": [...], "questions": [...], "qa_questions": [...]}"""
    return json.loads((work / f"queries-{size}x.json").read_text(encoding="utf-8"))


def qa_questions() -> list[str]:
    """The "question" of every item of the project's own QA files."""
    return [
        json.loads(line)["question"]
        for path in QA_FILES
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def load_tokens(work: Path, size: int) -> tuple[list[str], list[list[int]]]:
    """Each paragraph's term ids (a term repeated tf times), as feedqa indexed it."""
    data = np.load(work / f"tokens-{size}x.npz")
    ptr, ids = data["ptr"], data["ids"]
    terms = (work / f"index-{size}x" / "seg-1" / "terms.txt").read_text(encoding="utf-8")
    flat = ids.tolist()
    docs = [flat[a:b] for a, b in zip(ptr[:-1].tolist(), ptr[1:].tolist(), strict=True)]
    return terms.split("\n"), docs


def top_of_dense(scores: np.ndarray, k: int = TOP) -> list[tuple[int, float]]:
    """The k best of a dense score array (fast on mostly-zero arrays), best first."""
    nz = np.flatnonzero(scores)
    if len(nz) > k:
        nz = nz[np.argpartition(-scores[nz], k - 1)[:k]]
    order = sorted(nz.tolist(), key=lambda d: (-scores[d], d))
    return [(d, float(scores[d])) for d in order]
