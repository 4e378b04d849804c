"""A local cluster's layout (`cluster.json`: where its shards live and listen) and the Sphinx
2.2 / Manticore configuration text for its shards and distributed index."""

import json
import os
import shlex
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from corpus.errors import ConfigError

from .storage import replace_file
from .xmlpipe import CHARSET_TABLE

INDEX = "feedqa"
"""Name of the distributed index."""

AGENT_CONNECT_TIMEOUT_MS = 500
AGENT_QUERY_TIMEOUT_MS = 3000
"""A shard slower than this (per engine query) is left out of an answer, which then says
it is partial; `Layout.agent_query_timeout_ms` overrides it."""


def _block(kind: str, name: str, lines: Iterable[str]) -> str:
    """A config section; a `#` (which would start a comment, in a folder's name) escaped."""
    head = f"{kind} {name}".strip()
    body = "".join(f"    {line.replace('#', chr(92) + '#')}\n" for line in lines)
    return head + "\n{\n" + body + "}\n"


def shard_indexes(folder: Path, shard: int, idf: Path) -> str:
    """The sources and indexes of shard `shard`, its files in `folder`."""
    pipe = f"{shlex.quote(sys.executable)} -m retrieval.xmlpipe"  # run by a shell
    main, delta = (shlex.quote(str(folder / f"{name}.jsonl")) for name in ("main", "delta"))
    return "\n".join(
        [
            _block("source", f"main_{shard}", ["type = xmlpipe2",
                   f"xmlpipe_command = {pipe} {main} {shard}"]),
            _block("source", f"delta_{shard}", ["type = xmlpipe2",
                   f"xmlpipe_command = {pipe} {delta} {shard} --kill"]),
            _block("index", f"main_{shard}", [f"source = main_{shard}",
                   f"path = {folder / 'main'}", f"charset_table = {CHARSET_TABLE}",
                   "index_field_lengths = 1", "min_word_len = 1", f"global_idf = {idf}"]),
            _block("index", f"delta_{shard} : main_{shard}", [f"source = delta_{shard}",
                   f"path = {folder / 'delta'}"]),
        ]
    )  # fmt: skip


def distributed_index(
    agents: Sequence[Sequence[tuple[str, int]]], timeout_ms: int = AGENT_QUERY_TIMEOUT_MS
) -> str:
    """The distributed index: per shard an `agent` line listing its mirrors (host, port)."""
    lines = ["type = distributed"]
    for shard, mirrors in enumerate(agents):
        hosts = "|".join(f"{h}:{p}" for h, p in mirrors)
        lines.append(f"agent = {hosts}:main_{shard},delta_{shard}")
    lines += [
        f"agent_connect_timeout = {AGENT_CONNECT_TIMEOUT_MS}",
        f"agent_query_timeout = {timeout_ms}",
        "ha_strategy = nodeads",
    ]
    return _block("index", INDEX, lines)


def searchd_block(listen: Sequence[str], folder: Path, *, retries: int = 0) -> str:
    """The `indexer` and `searchd` sections of a process keeping its log and pid in `folder`;
    `retries`: how often a failed agent query is retried (on another mirror, when any)."""
    return _block("indexer", "", ["mem_limit = 256M"]) + _block(
        "searchd",
        "",
        [*(f"listen = {a}" for a in listen), f"log = {folder / 'searchd.log'}",
         f"pid_file = {folder / 'searchd.pid'}", "binlog_path =", "watchdog = 0",
         "seamless_rotate = 1", f"agent_retry_count = {retries}", "agent_retry_delay = 50",
         "max_children = 64", "read_timeout = 5"],
    )  # fmt: skip


def host_configs(
    hosts: Sequence[str],
    shards: int,
    root: str,
    *,
    replicas: int = 1,
    port: int = 9306,
    bind: str = "0.0.0.0",
) -> dict[str, str]:
    """Configs for `shards` shards across `hosts`: shard i on hosts i, i+1, ... (`replicas`
    mirrors), each host serving SphinxQL on `bind:port` (the distributed index: any host can
    answer) and the agent protocol on `port` + 6; shard files under `root` on every host."""
    if replicas > len(hosts):
        raise ConfigError(f"{replicas} replicas need at least as many hosts, not {len(hosts)}")
    placed = {h: [] for h in hosts}
    mirrors = []
    for s in range(shards):
        on = [hosts[(s + r) % len(hosts)] for r in range(replicas)]
        mirrors.append([(h, port + 6) for h in on])
        for h in on:
            placed[h].append(s)
    base, idf = Path(root), Path(root) / "global.idf"
    out = {}
    for h in hosts:
        parts = [shard_indexes(base / f"shard-{s}", s, idf) for s in placed[h]]
        parts += [distributed_index(mirrors), searchd_block(
            [f"{bind}:{port}:mysql41", f"{bind}:{port + 6}"], base, retries=replicas - 1)]  # fmt: skip
        out[h] = "\n".join(parts)
    return out


MAX_SHARDS = 1024
"""The most shards a cluster.json may name (`init` makes at most 64): a larger number is
damage (a digit too many), not a cluster to go through shard by shard."""


@dataclass(frozen=True)
class Layout:
    """Where a cluster's shards live and listen."""

    root: Path
    shards: int
    host: str = "127.0.0.1"
    port: int = 9306  # the head's SphinxQL port; shard i listens on port + 1 + i
    agent_query_timeout_ms: int = AGENT_QUERY_TIMEOUT_MS

    @property
    def url(self) -> str:
        """What `Retriever.connect` takes."""
        return f"sphinx://{self.host}:{self.port}/{INDEX}"

    def shard_dir(self, shard: int) -> Path:
        return self.root / f"shard-{shard}"

    def shard_port(self, shard: int) -> int:
        return self.port + 1 + shard

    def save(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        data = {**asdict(self), "root": None}
        replace_file(self.root / "cluster.json", json.dumps(data, indent=1).encode("utf-8"))

    @classmethod
    def load(cls, root: str | os.PathLike) -> "Layout":
        """The layout saved in `root` (by `init`); ConfigError if there is none, or if it is
        damaged (`init` builds the cluster again, keeping what its shards' logs hold)."""
        root = Path(root)
        path = root / "cluster.json"
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"no cluster in {root} (run `feedqa cluster init`)") from exc
        fields = {"shards": int, "host": str, "port": int, "agent_query_timeout_ms": int}
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not (
            isinstance(data, dict)
            and set(data) <= {"root", *fields}
            and all(type(data[k]) is t for k, t in fields.items() if k in data)
            and 1 <= data.get("shards", 0) <= MAX_SHARDS
            and 1 <= data.get("port", 9306) <= 65535 - data["shards"]  # and every shard's
        ):
            raise ConfigError(
                f"{path} is damaged: `feedqa cluster init` builds the cluster again"
            ) from None
        return cls(**{**data, "root": root})

    @classmethod
    def found(cls, root: str | os.PathLike) -> "Layout | None":
        """The layout of the cluster in `root`, for `init` to build it again: the saved one,
        or when that is damaged, one over the `shard-i` folders there (so that their searchd
        processes can be stopped and their logs kept); None if `root` holds no cluster."""
        root = Path(root)
        if not (root / "cluster.json").exists():
            return None
        try:
            return cls.load(root)
        except ConfigError:
            shards = 0
            while (root / f"shard-{shards}").is_dir():
                shards += 1
            return cls(root, shards) if shards else None


# --- configuration ----------------------------------------------------------------------------


def write_configs(layout: Layout) -> None:
    """One config per shard plus the head's, for the local layout."""
    idf = layout.root / "global.idf"
    for s in range(layout.shards):
        folder = layout.shard_dir(s)
        folder.mkdir(parents=True, exist_ok=True)
        text = shard_indexes(folder, s, idf) + searchd_block(
            [f"{layout.host}:{layout.shard_port(s)}"], folder
        )
        (folder / "searchd.conf").write_text(text, encoding="utf-8")
    agents = [[(layout.host, layout.shard_port(s))] for s in range(layout.shards)]
    head = distributed_index(agents, layout.agent_query_timeout_ms) + searchd_block(
        [f"{layout.host}:{layout.port}:mysql41"], layout.root
    )
    (layout.root / "searchd.conf").write_text(head, encoding="utf-8")
