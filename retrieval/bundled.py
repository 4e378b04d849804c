"""The bundled corpus's index, cached on disk per feed, segmenter and index version."""

import contextlib
import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from corpus.errors import IndexFileError, LibraryError

from .storage import VERSION
from .text import SEGMENTER

if TYPE_CHECKING:
    from .retriever import Retriever

STALE_CACHE_DAYS = 30
"""The bundled corpus's caches for other versions are removed, once last built this long ago,
when a new one is built."""


def bundled_cache(feed: Path, cache_dir: str | os.PathLike | None) -> Path:
    """Where the bundled corpus's index is cached: in `cache_dir`, else `$XDG_CACHE_HOME/feedqa`
    or `~/.cache/feedqa`, in a folder named for the feed, the segmenter and the index version
    (`~` expanded, as `save` does); LibraryError if `cache_dir` is not a path."""
    if cache_dir is not None and not isinstance(cache_dir, str | os.PathLike):
        raise LibraryError(f"the cache_dir must be a path, not {type(cache_dir).__name__}")
    digest = hashlib.sha1(
        f"{feed.stat().st_size}:{feed.stat().st_mtime_ns}:{SEGMENTER}:{VERSION}".encode()
    ).hexdigest()[:12]
    base = (
        Path(cache_dir).expanduser()
        if cache_dir
        else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "feedqa"
    )
    return base / f"bundled-{digest}"


def open_bundled(cls: type["Retriever"], cache_dir: str | os.PathLike | None, **kwargs):
    """`Retriever.default`: the bundled corpus, from its cache, else built (and cached, if
    the cache can be written: a read-only one costs start-up time only)."""
    from corpus import bundled_feed_path

    feed = bundled_feed_path()
    path = bundled_cache(feed, cache_dir)
    try:
        return cls.load(path, **kwargs)
    except IndexFileError:
        pass
    from corpus import load_feed  # the feed readers only when the index must be built

    retriever = cls.from_articles(load_feed(feed), **kwargs)
    with contextlib.suppress(OSError, LibraryError):
        retriever.save(path)
        drop_stale_caches(path)
    return retriever


def drop_stale_caches(keep: Path) -> None:
    """Remove the bundled corpus's other caches beside `keep` last built at least
    STALE_CACHE_DAYS ago (another version still using one rebuilds it once)."""
    cutoff = time.time() - STALE_CACHE_DAYS * 86_400
    for old in keep.parent.glob("bundled-*"):
        if old != keep and old.is_dir() and old.stat().st_mtime < cutoff:
            shutil.rmtree(old, ignore_errors=True)
