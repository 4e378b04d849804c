"""Building a segment from paragraph texts: tokenize, count postings, in parallel when large.

Each worker process tokenizes a chunk of paragraphs and returns its postings with
chunk-local term ids (`segment.Part`: a local vocabulary, int32/float32 arrays); token lists
never cross process boundaries. The parts are merged in chunk order with a vectorised remap,
so the segment is identical to a serial build's.
"""

import math
import multiprocessing
import os
import pickle
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from .segment import Part, Segment, chunk_postings, from_parts

PARALLEL_MIN_CHARS = 4_000_000
"""`build_segment` tokenizes in worker processes from this many characters on."""

CHUNK_CHARS = 1_000_000
"""Paragraphs are tokenized in chunks of about this many characters (bounds the memory)."""


def build_segment(
    name: str,
    articles: Sequence[dict],
    paragraphs: Sequence[Sequence[str]],
    tokenize: Callable[[str], list[str]],
    *,
    workers: int | None = None,
) -> Segment:
    """Index `paragraphs[i]` (the texts of `articles[i]`) with `tokenize`.

    workers: processes that tokenize; None picks all CPUs for inputs of at least
    PARALLEL_MIN_CHARS characters (and a picklable `tokenize`), else 1. The result does not
    depend on it.
    """
    texts = [t for paras in paragraphs for t in paras]
    counts = np.fromiter(map(len, paragraphs), np.int64, len(paragraphs))
    doc_article = np.repeat(np.arange(len(paragraphs), dtype=np.int32), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    doc_para = (np.arange(len(texts), dtype=np.int64) - first).astype(np.int32)
    chunks = _chunks(texts, CHUNK_CHARS)
    if workers is None:
        workers = _auto_workers(sum(map(len, texts)), tokenize)
    if workers > 1 and len(chunks) > 1:
        parts, text = tokenize_chunks(tokenize, chunks, workers, texts)
    else:
        parts = [chunk_postings(tokenize, c) for c in chunks]
        text = "".join(texts).encode("utf-8")
    return from_parts(name, list(articles), doc_article, doc_para, parts, text)


def _auto_workers(chars: int, fn: Callable) -> int:
    """All CPUs for `chars` >= PARALLEL_MIN_CHARS and a picklable `fn`, else 1."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if (cpus or 1) < 2 or chars < PARALLEL_MIN_CHARS:
        return 1
    try:
        pickle.dumps(fn)
    except (pickle.PicklingError, AttributeError, TypeError):
        return 1
    return cpus or 1


def _chunk_bounds(weights: Sequence[int], size: int) -> list[int]:
    """Cut points splitting items of `weights` into consecutive runs of about `size`."""
    if not len(weights):
        return [0, 0]
    ends = np.cumsum(np.asarray(weights, dtype=np.int64))
    n = max(1, math.ceil(int(ends[-1]) / size))
    cuts = np.searchsorted(ends, np.arange(1, n) * (int(ends[-1]) / n))
    return [0, *sorted(set(cuts.tolist()) - {0, len(weights)}), len(weights)]


def _chunks(texts: list[str], size: int) -> list[list[str]]:
    """`texts` cut into consecutive runs of about `size` characters (at least one run)."""
    bounds = _chunk_bounds([len(t) for t in texts], size)
    return [texts[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def _context() -> multiprocessing.context.BaseContext:
    """fork when this process has a single thread (cheap), else forkserver (safe)."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["retrieval.segment", "retrieval.text"])
        return ctx
    return multiprocessing.get_context("spawn")


def tokenize_chunks(
    tokenize: Callable[[str], list[str]],
    chunks: Sequence[Sequence[str]],
    workers: int,
    texts: Sequence[str],
) -> tuple[list[Part], bytes]:
    """`chunk_postings` of every chunk, in order, computed by `workers` processes.

    Also returns the UTF-8 text of all `texts` (the chunks' concatenation), built here
    while the workers run.
    """
    with ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=_context()) as pool:
        futures = [pool.submit(chunk_postings, tokenize, chunk) for chunk in chunks]
        text = "".join(texts).encode("utf-8")
        return [f.result() for f in futures], text
