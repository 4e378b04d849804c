"""Sphinx 2.2 / Manticore configuration text for feedqa's shards and distributed index."""

import shlex
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from corpus.errors import ConfigError

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
