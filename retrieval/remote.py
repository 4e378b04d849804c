"""The Retriever over a Sphinx/Manticore cluster: partial-result notes, ingest, merge."""

import os
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from corpus.checks import seconds, whole
from corpus.errors import ConfigError, EngineError

from . import arguments
from .models import Answer, Passage
from .records import summary
from .retriever import AddReport, Retriever
from .sphinx import SphinxIndex

if TYPE_CHECKING:
    from corpus import Article

    from .cluster import Layout

REFRESH_S = 30.0
"""`ClusterRetriever` checks this often whether the cluster changed (another writer)."""

PARTIAL_NOTE = "部分结果 (partial results): {missing} 个分片未响应, 只检索了其余分片"
"""The note an answer carries when some shards did not answer."""


class ClusterRetriever(Retriever):
    """A Retriever whose index is a cluster: answers say when shards did not answer; `add`
    ingests through the cluster's folder (when given) and `compact` merges its deltas."""

    def __init__(self, index: SphinxIndex, *, layout: "Layout | None" = None, **kwargs) -> None:
        super().__init__(index, **kwargs)  # type: ignore[arg-type]
        self._layout = layout
        self._checked = time.monotonic()
        self._partial = threading.local()

    def _fresh(self) -> SphinxIndex:
        index: SphinxIndex = self._index  # type: ignore[assignment]
        if time.monotonic() - self._checked > REFRESH_S:
            self._checked = time.monotonic()
            if index.changed():
                self._reopen()
        index = self._index  # type: ignore[assignment]
        index.begin()
        return index

    def _reopen(self) -> None:
        old: SphinxIndex = self._index  # type: ignore[assignment]
        self._index = SphinxIndex(old.url, old.params, pool=old.pool, timeout=old.timeout)  # type: ignore[assignment]

    def partial_note(self) -> str | None:
        """The note for this thread's last `ask`, `search` or `info`, if some shards did not
        answer."""
        return getattr(self._partial, "note", None)

    def _finish(self, index: SphinxIndex) -> str | None:
        missing = index.missing_shards()
        self._partial.note = PARTIAL_NOTE.format(missing=missing) if missing else None
        return self._partial.note

    def ask(self, question: str, history: Sequence[str] | None = None, k: int = 3) -> Answer:
        index = self._fresh()
        answer = super().ask(question, history, k)
        note = self._finish(index)
        return answer.model_copy(update={"notes": [*answer.notes, note]}) if note else answer

    def _sentences(self, index: object) -> None:
        """No sentence vectors: the cluster keeps paragraphs only, so answers are lexical."""
        return None

    def search(self, query: str, k: int = 5) -> list[Passage]:
        index = self._fresh()
        hits = super().search(query, k)
        self._finish(index)
        return hits

    def info(self) -> dict:
        """As `Retriever.info`, of the shards that answer (`partial_note` says if some did not)."""
        index = self._fresh()
        shards, n_docs, _ = index.stats()
        records = list(index.articles())
        self._finish(index)
        return summary(records, paragraphs=n_docs, segments=len(shards))

    def add(
        self, articles: Iterable["Article"], *, progress: object = None, _log: bool = True
    ) -> AddReport:
        """Route new and changed articles to their shards' delta indexes (the index is opened
        again when they changed it), then merge the shards whose delta is due (a merge that
        fails is noted in `repairs`: the articles are added all the same)."""
        from . import cluster

        if self._layout is None:
            raise ConfigError(f"{self._index.url} was opened without its cluster folder: read only")  # type: ignore[attr-defined]
        with self._lock:
            report = cluster.ingest(self._layout, articles)
            if due := cluster.shards_due(self._layout):
                try:
                    cluster.merge(self._layout, due)
                except (EngineError, OSError) as exc:  # a full disk too: the next add tries again
                    self.repairs.append(f"the cluster's merge of its grown deltas failed: {exc}")
            index: SphinxIndex = self._index  # type: ignore[assignment]
            # nothing new (most feed refreshes): what was read stays cached; a delta the
            # ingest indexed for an earlier one that failed is a change all the same
            if report.added or report.updated or index.changed():
                self._reopen()
        return report

    def compact(self) -> None:
        """Fold every shard's delta index into its main index."""
        from . import cluster

        if self._layout is None:
            raise ConfigError("merging needs the cluster folder")
        with self._lock:
            cluster.merge(self._layout)
            self._reopen()

    def save(self, path: object) -> None:
        raise ConfigError("a cluster keeps its own indexes; use `feedqa cluster` to manage them")


def connect(url: str, *, cluster: "str | Path | None" = None, **kwargs) -> ClusterRetriever:
    """A Retriever over the cluster at `url`; `cluster`: its folder, to ingest and merge."""
    from .cluster import Layout

    if not isinstance(url, str):
        raise ConfigError(f"the engine URL must be a string, not {type(url).__name__}")
    if cluster is not None and not isinstance(cluster, str | os.PathLike):
        raise ConfigError(f"the cluster folder must be a path, not {type(cluster).__name__}")
    layout = Layout.load(Path(cluster).expanduser()) if cluster else None
    options = {k: kwargs.pop(k) for k in ("pool", "timeout", "params") if k in kwargs}
    # checked before the engine is reached: a wrong argument said, not "cannot reach"
    whole(options.get("pool", 1), "pool")
    seconds(options.get("timeout", 1), "timeout", zero=False)
    arguments.switch(kwargs.get("semantic", True), "semantic")
    arguments.probability(kwargs.get("min_confidence"), "min_confidence")
    return ClusterRetriever(SphinxIndex(url, **options), layout=layout, **kwargs)
