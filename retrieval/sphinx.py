"""The archive on a Sphinx 2.2 / Manticore cluster, queried over SphinxQL (MySQL protocol).

`SphinxIndex` is a `SearchBackend`: the engine retrieves and ranks candidates with its own
BM25 (`bm25f` over our tokens, archive-wide IDF from the `global_idf` file) and returns, per
candidate, its length (`dl`), text and per-term tf (`PACKEDFACTORS()`); feedqa then scores the
candidates exactly as the in-process index does, with the query's term weights and document
frequencies summed over all shards (the query's own statistics, `SHOW META`). So weighted
terms are honoured exactly within the engine's top `pool` candidates (which it ranks without
the weights), and a paragraph's score does not depend on the shard holding it.

A shard that is down or slower than `agent_query_timeout` is left out by the engine; its
warning makes `retrieval.remote.ClusterRetriever` mark the answer as partial.
"""

import json
import re
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from corpus.errors import ConfigError, EngineError

from .index import BM25Params
from .xmlpipe import PARA_BITS, engine_term

POOL = 100
"""Candidates the engine returns per query, for exact rescoring (at least 2 k)."""

WINDOW = 16
"""Paragraphs either side of a paragraph fetched along with it (the answer step reads them)."""

CACHE = 200_000
"""Cached paragraphs, records and document frequencies (each cache is emptied when full)."""

_FACTOR = re.compile(r"word(\d+)=\(tf=(\d+)")
_AGENT = re.compile(r"agent ([^\s:]+:\d+)")
_MASK = (1 << PARA_BITS) - 1


@dataclass(frozen=True)
class EngineURL:
    """`sphinx://host:port/index` (or `manticore://`): the SphinxQL address and the index."""

    host: str
    port: int
    index: str

    @classmethod
    def parse(cls, url: str) -> "EngineURL":
        usage = f"not a search engine URL: {url!r} (sphinx://host:port/index)"
        try:
            parts = urlsplit(url)
            port = parts.port or 9306  # a port out of range is a ValueError here
        except ValueError as exc:
            raise ConfigError(f"{usage}: {exc}") from None
        index = parts.path.strip("/")
        if parts.scheme not in ("sphinx", "manticore") or not parts.hostname or not index:
            raise ConfigError(usage)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", index):
            raise ConfigError(f"not an index name: {index!r}")
        return cls(parts.hostname, port, index)

    def __str__(self) -> str:
        return f"sphinx://{self.host}:{self.port}/{self.index}"


class SphinxIndex:
    """A `SearchBackend` over a distributed index; safe to use from many threads (one
    connection per thread). Raises EngineError when the engine cannot be reached."""

    MAX_WORDS = 200
    """Words in one engine query at most. The engine's time grows faster than their number
    (on one shard of the bundled corpus: 200 words 11 ms, 800 words 0.27 s, 1,500 over 3 s),
    so a longer query keeps its 200 weightiest words that the archive holds."""

    def __init__(
        self,
        url: "str | EngineURL",
        params: BM25Params | None = None,
        *,
        pool: int = POOL,
        timeout: float = 5.0,
    ) -> None:
        self.url = EngineURL.parse(url) if isinstance(url, str) else url
        self.params = params or BM25Params()
        if self.params.idf != "lucene":
            raise ConfigError("the cluster backend scores with the lucene idf only")
        self.pool = pool
        self.timeout = timeout
        self._local = threading.local()
        self._df: dict[str, int] = {}
        self._rows: dict[int, tuple[str, int]] = {}  # doc -> (text, paragraphs of its article)
        self._records: dict[int, dict] = {}  # slot -> article record
        self.shards, self._sums = self._stats()
        self.n_docs = sum(n for n, _ in self.shards.values())
        total = sum(t for _, t in self.shards.values())
        self.avgdl = total / self.n_docs if self.n_docs else 1.0

    # --- the engine -----------------------------------------------------------------------------

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            import pymysql

            self._check_greeting()
            try:
                conn = pymysql.connect(
                    host=self.url.host, port=self.url.port, user="", autocommit=True,
                    connect_timeout=self.timeout, read_timeout=self.timeout * 4,
                )  # fmt: skip
            except pymysql.err.MySQLError as exc:
                raise EngineError(
                    f"search engine at {self.url.host}:{self.url.port} is not reachable "
                    f"({_reason(exc)})"
                ) from None
            self._local.conn = conn
        return conn

    def _check_greeting(self) -> None:
        """EngineError if what listens at the URL is no SphinxQL server: one greets first
        (protocol 10), while an http server or a shard's agent port would leave the driver
        waiting out its read timeout, or failing on a packet number."""
        where = f"{self.url.host}:{self.url.port}"
        try:
            with socket.create_connection((self.url.host, self.url.port), self.timeout) as sock:
                head = b""
                while len(head) < 5 and (part := sock.recv(5 - len(head))):
                    head += part
        except TimeoutError:
            head = b""
        except OSError:
            return  # refused or unreachable: the driver says so
        if len(head) < 5 or head[3] != 0 or head[4] != 10:
            raise EngineError(f"no SphinxQL server at {where} (is that the head's port?)")

    def _query(self, sql: str, args: Sequence[Any] = (), *, meta: bool = False):
        """Rows of `sql`, and with `meta` the statistics of the query (SHOW META)."""
        import pymysql

        try:
            with self._conn().cursor() as cur:
                cur.execute(sql, tuple(args) or None)
                rows = cur.fetchall()
                info: dict[str, str] = {}
                if meta:
                    cur.execute("SHOW META")
                    info = {str(k): str(v) for k, v in cur.fetchall()}
        except pymysql.err.MySQLError as exc:
            self._local.conn = None
            if isinstance(exc, pymysql.err.OperationalError | pymysql.err.InterfaceError):
                raise EngineError(
                    f"search engine at {self.url.host}:{self.url.port} failed ({_reason(exc)})"
                ) from None
            raise EngineError(f"search engine could not answer a query ({_reason(exc)})") from None
        if "warning" in info:
            self._warnings().add(info["warning"])
        return rows, info

    def _warnings(self) -> set[str]:
        if not hasattr(self._local, "warnings"):
            self._local.warnings = set()
        return self._local.warnings

    def begin(self) -> None:
        """Forget the warnings of this thread's earlier queries."""
        self._local.warnings = set()

    def missing_shards(self) -> int:
        """Shards that did not answer this thread's queries since `begin`."""
        return len({a for w in self._warnings() for a in _AGENT.findall(w)})

    def stats(self) -> tuple[dict[int, tuple[int, int]], int, int]:
        """Paragraphs and their total length by shard (those that answer), and in all."""
        shards, _ = self._stats(sums=False)
        return shards, sum(n for n, _ in shards.values()), sum(t for _, t in shards.values())

    def _stats(
        self, *, sums: bool = True
    ) -> tuple[dict[int, tuple[int, int]], dict[int, tuple[int, int]]]:
        """`stats` by shard, and with `sums` a checksum of each shard's texts and records
        (which an update that keeps every paragraph's length still changes)."""
        crc = "SUM(CRC32(txt)) AS t, SUM(CRC32(meta)) AS m" if sums else "0 AS t, 0 AS m"
        rows, _ = self._query(
            f"SELECT shard, COUNT(*) AS n, SUM(dl) AS len, {crc} FROM {self.url.index} "
            "GROUP BY shard LIMIT 1000",
            meta=True,
        )
        shards = {int(s): (int(n), int(total)) for s, n, total, _, _ in rows}
        return shards, {int(s): (int(t), int(m)) for s, _, _, t, m in rows}

    def changed(self) -> bool:
        """Whether the cluster's paragraphs or records changed since this index was opened
        (by another process: a reader then opens it again, rather than serve cached texts,
        records and statistics)."""
        return self._stats() != (self.shards, self._sums)

    # --- statistics -----------------------------------------------------------------------------

    def df(self, term: str) -> int:
        """Paragraphs holding `term`, summed over the shards that answer.

        A miss also reads ahead the terms the answer step asks about next (the term's
        thesaurus synonyms, parts and halves), in the same engine query.
        """
        if not term:
            return 0
        if term not in self._df:
            self._fetch_df([term, *_related(term)])
        return self._df.get(term, 0)

    def _fetch_df(self, terms: Sequence[str]) -> None:
        """Learn the document frequencies of `terms`, MAX_WORDS to an engine query."""
        keys = list({engine_term(t): t for t in terms if t and t not in self._df}.items())
        for start in range(0, len(keys), self.MAX_WORDS):
            batch = dict(keys[start : start + self.MAX_WORDS])
            _, info = self._query(
                f"SELECT id FROM {self.url.index} WHERE MATCH(%s) LIMIT 1 OPTION ranker=none",
                [" | ".join(batch)],
                meta=True,
            )
            self._remember_df(info, batch)

    def _remember_df(self, info: dict[str, str], keys: dict[str, str]) -> None:
        if len(self._df) > CACHE:
            self._df.clear()
        i = 0
        while f"keyword[{i}]" in info:
            term = keys.get(info[f"keyword[{i}]"])
            if term is not None:
                self._df[term] = int(info[f"docs[{i}]"])
            i += 1
        for term in keys.values():
            self._df.setdefault(term, 0)

    def idf(self, term: str) -> float:
        """The idf of `term` (lucene variant, as the in-process index's default)."""
        df = self.df(term)
        return self.idf_of_df(df) if df else 0.0

    def idf_of_df(self, df: int) -> float:
        import math

        n = self.n_docs
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    # --- retrieval ------------------------------------------------------------------------------

    def top(
        self, terms: Sequence[str] | Sequence[tuple[str, float]], k: int
    ) -> list[tuple[int, float]]:
        """The `k` best (doc, score) pairs: the engine's best `pool` candidates, scored by
        feedqa's BM25 with the query's weights."""
        if k <= 0 or not self.n_docs:
            return []
        weights: dict[str, float] = {}
        for item in terms:
            term, w = (item, 1.0) if isinstance(item, str) else item
            weights[term] = weights.get(term, 0.0) + w
        keys = {engine_term(t): t for t in weights if t}
        if len(keys) > self.MAX_WORDS:  # the weightiest words the archive holds
            self._fetch_df(list(keys.values()))
            held = [t for t in keys.values() if self._df.get(t)]
            held.sort(key=lambda t: -self.idf(t) * weights[t])
            keys = {engine_term(t): t for t in held[: self.MAX_WORDS]}
        if not keys:
            return []
        k1, b = self.params.k1, self.params.b
        pool = max(self.pool, 2 * k)
        rows, info = self._query(
            f"SELECT id, dl, npara, txt, PACKEDFACTORS() FROM {self.url.index} WHERE MATCH(%s) "
            f"LIMIT {pool} OPTION ranker=expr('10000*bm25f({k1},{b})'), "
            f"idf='plain,tfidf_unnormalized', global_idf=1, max_matches={pool}",
            [" | ".join(keys)],
            meta=True,
        )
        self._remember_df(info, keys)
        word_weight: dict[int, float] = {}
        i = 0
        while f"keyword[{i}]" in info:
            term = keys.get(info[f"keyword[{i}]"])
            if term is not None and weights[term]:
                word_weight[i] = self.idf(term) * weights[term]
            i += 1
        hits = []
        for doc, dl, npara, text, factors in rows:
            self._keep_row(int(doc), text, int(npara))
            norm = k1 * (1 - b + b * int(dl) / self.avgdl)
            score = 0.0
            for word, tf in _FACTOR.findall(factors or ""):
                w = word_weight.get(int(word))
                if w and int(tf):
                    score += w * int(tf) * (k1 + 1) / (int(tf) + norm)
            if score > 0:
                hits.append((float(score), int(doc)))
        hits.sort(key=lambda h: (-h[0], h[1]))
        return [(d, s) for s, d in hits[:k]]

    # --- texts and records ----------------------------------------------------------------------

    def _keep_row(self, doc: int, text: str, npara: int) -> None:
        if len(self._rows) > CACHE:
            self._rows.clear()
        self._rows[doc] = (text, npara)

    def _fetch_window(self, doc: int) -> None:
        """Paragraph `doc` and up to WINDOW paragraphs of its article either side."""
        para = doc & _MASK
        lo, hi = doc - min(para, WINDOW), min(doc | _MASK, doc + WINDOW)
        rows, _ = self._query(
            f"SELECT id, npara, txt, meta FROM {self.url.index} WHERE id BETWEEN {lo} AND {hi} "
            f"LIMIT {hi - lo + 1}"
        )
        for d, npara, text, meta in rows:
            self._keep_row(int(d), text, int(npara))
            if meta:
                self._keep_record(int(d) >> PARA_BITS, json.loads(meta))

    def _keep_record(self, slot: int, record: dict) -> None:
        if len(self._records) > CACHE:
            self._records.clear()
        self._records[slot] = record

    def paragraph(self, doc: int) -> str:
        """The text of paragraph `doc` ("" if its shard does not answer)."""
        if doc not in self._rows:
            self._fetch_window(doc)
        row = self._rows.get(doc)
        return row[0] if row else ""

    def article_of(self, doc: int) -> tuple[dict, int]:
        """The record of the article holding `doc`, and the paragraph's 0-based number."""
        slot = doc >> PARA_BITS
        if slot not in self._records:
            self._fetch_window(slot << PARA_BITS)
        record = self._records.get(slot)
        if record is None:
            raise EngineError(f"paragraph {doc} is not in the cluster (a shard is down?)")
        return record, doc & _MASK

    def articles(self) -> Iterator[dict]:
        """Every article record, in id order (pages of 1,000 from the engine)."""
        last, page = 0, 1000
        while True:
            rows, _ = self._query(
                f"SELECT id, meta FROM {self.url.index} WHERE para = 0 AND id > {last} "
                f"ORDER BY id ASC LIMIT {page} OPTION max_matches={page}"
            )
            for doc, meta in rows:
                record = json.loads(meta)
                self._keep_record(int(doc) >> PARA_BITS, record)
                yield record
            if len(rows) < page:
                return
            last = int(rows[-1][0])


def _related(term: str) -> list[str]:
    """Terms whose df the answer step reads along with `term`'s."""
    from .question import pieces
    from .synonyms import synonyms

    halves = [term[:1], term[1:], term[:-1], term[-1:]] if len(term) >= 3 else []
    return [*synonyms(term), *pieces(term), *halves]


def _reason(exc: Exception) -> str:
    """The message of a PyMySQL error, on one line."""
    args = getattr(exc, "args", ())
    text = str(args[-1]) if args else str(exc)
    return " ".join(text.replace("\x00", "").split())[:200]
