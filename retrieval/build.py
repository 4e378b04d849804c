"""Parallel work for large builds: chunks of paragraphs (or articles) in worker processes.

Each worker tokenizes a chunk and returns its postings with chunk-local term ids
(`index.Part`: a local vocabulary, int32/float32 arrays); token lists never cross process
boundaries. `index.build_segment` merges the parts in chunk order with a vectorised remap, so
the segment is identical to a serial build's.
"""

import multiprocessing
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from . import index
from .index import Part, chunk_postings

T = TypeVar("T")
R = TypeVar("R")


def _context() -> multiprocessing.context.BaseContext:
    """fork when this process has a single thread (cheap), else forkserver (safe)."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["retrieval.index", "retrieval.text"])
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


def _map_list(fn: Callable, items: Sequence) -> list:
    return [fn(x) for x in items]


def map_chunks(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    size: Callable[[T], int] = len,
    workers: int | None = None,
) -> list[R]:
    """`[fn(x) for x in items]`, computed in worker processes when the items are large.

    size: an item's weight in characters; items go to the workers in consecutive chunks of
    about CHUNK_CHARS, from PARALLEL_MIN_CHARS in all (and a picklable `fn`).
    """
    weights = [size(x) for x in items]
    if workers is None:
        workers = index._auto_workers(sum(weights), fn)
    if workers <= 1 or len(items) < 2:
        return [fn(x) for x in items]
    bounds = index._chunk_bounds(weights, index.CHUNK_CHARS)
    chunks = [items[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    with ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=_context()) as pool:
        futures = [pool.submit(_map_list, fn, chunk) for chunk in chunks]
        return [y for f in futures for y in f.result()]
