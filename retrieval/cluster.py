"""A sharded archive on Sphinx 2.2 / Manticore: builds, ingest and merges.

The local layout (`retrieval.sphinxconf`; processes in `retrieval.searchd`, shard files in
`retrieval.shardlog`): shard i is one `searchd` on the loopback serving two
plain indexes, `main_i` and `delta_i`; a head `searchd` serves SphinxQL and the distributed
index (`agent = host:port:main_i,delta_i` per shard) that `retrieval.sphinx` queries.

* Routing: an article goes to shard `h % N`, h a stable hash of its id; its slot (the high
  bits of its paragraphs' ids) is `h`, moved on by N in the rare event of a collision, so
  slots never collide across shards.
* Plain indexes, because 2.2 ranks `bm25f` properly only on them (with
  `index_field_lengths`); new and updated articles go to the shard's delta index, whose
  kill-list hides their old paragraphs in `main`; `merge` folds the delta back into main
  (`ClusterRetriever.add` does so for each shard whose delta has grown to an eighth of its
  main: `shards_due`).
* Global IDF: `indextool --buildidf` over every shard's dictionary, referenced by each index's
  `global_idf`, so a shard ranks its candidates with archive-wide statistics. A running
  `searchd` reads that file only as it loads an index, so every build or merge that writes it
  then rotates each running shard's delta index in again (`reread_idf`).
"""

import contextlib
import hashlib
import os
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock

from corpus.errors import EngineError

from . import shardlog
from .library import LOCK_TIMEOUT, locked
from .records import Stored, content_hash
from .searchd import is_running, run_tool, start, status, stop
from .sphinxconf import Layout, write_configs
from .xmlpipe import MAX_PARAS, read_entries

__all__ = [
    "Layout",
    "build",
    "ingest",
    "is_running",
    "merge",
    "start",
    "status",
    "stop",
    "unserved",
]

if TYPE_CHECKING:
    from corpus import Article

    from .retriever import AddReport

ROTATE_WAIT_S = 30.0

MERGE_SHARE = 8
"""`ClusterRetriever.add` merges a shard whose delta log has grown to this share of its main
log…"""
MERGE_MIN_BYTES = 1 << 20
"""… and to this size at least (a smaller delta is quick to rebuild)."""

REBUILDING = "rebuilding.jsonl"
"""Every article a build is writing to the shards, until it has written them all."""


def _hash(article_id: str) -> int:
    """46 bits of a hash of `article_id`: slots stay below 2**47, ids below 2**63."""
    digest = hashlib.blake2b(article_id.encode("utf-8"), digest_size=6).digest()
    return int.from_bytes(digest) >> 2


def route(article_id: str, shards: int) -> int:
    """The shard of an article: a stable hash of its id, modulo the number of shards."""
    return _hash(article_id) % shards


def _content_hash(article: "Article") -> str:
    """The same digest as the in-process index's record: changed text means an update."""
    return content_hash(article.title, article.paragraphs[:MAX_PARAS])


# --- building and ingest ----------------------------------------------------------------------


def _free_slot(h: int, shards: int, taken: set[int]) -> int:
    """Slot `h` or the next free one in steps of `shards` (same residue: same shard)."""
    slot = h + shards  # never 0: ids must be positive
    while slot in taken:
        slot += shards
    return slot


@contextlib.contextmanager
def _writing(layout: Layout):
    """One writer at a time per cluster folder: another waits up to `LOCK_TIMEOUT` seconds,
    then LibraryBusyError."""
    layout.root.mkdir(parents=True, exist_ok=True)
    with locked(FileLock(layout.root / "write.lock", timeout=LOCK_TIMEOUT), layout.root, "cluster"):
        yield


def build(layout: Layout, articles: Iterable["Article"]) -> None:
    """Write configs and build every shard's indexes from `articles` (a full rebuild), in
    parallel, then the global IDF. Running shards are sent the new indexes (rotation)."""
    with _writing(layout):
        return _build(layout, articles)


def _build(layout: Layout, articles: Iterable["Article"]) -> None:
    """The work of `build`, the write lock held."""
    unique = list({a.id: a for a in articles}.values())
    # the whole set first, kept until every shard is indexed: a rebuild cut short (its
    # layout saved, a shard's log or index rewritten for another number of shards, where an
    # article may move to a shard not rewritten yet) leaves it for the next one to start from
    rebuilding = layout.root / REBUILDING
    shardlog.write_entries(rebuilding, [{"article": a.model_dump(mode="json")} for a in unique])
    layout.save()
    write_configs(layout)
    per_shard: list[list[dict]] = [[] for _ in range(layout.shards)]
    taken: list[set[int]] = [set() for _ in range(layout.shards)]
    for a in unique:
        h = _hash(a.id)
        s = h % layout.shards
        slot = _free_slot(h, layout.shards, taken[s])
        taken[s].add(slot)
        per_shard[s].append({"slot": slot, "kill": 0, "article": a.model_dump(mode="json")})
    for s, entries in enumerate(per_shard):
        folder = layout.shard_dir(s)
        shardlog.write_entries(folder / "main.jsonl", entries)
        shardlog.write_entries(folder / "delta.jsonl", [])
        shardlog.write_slots(folder, entries)
    _index_all(layout, [[f"main_{s}"] for s in range(layout.shards)])
    build_idf(layout)  # from the new mains, before the deltas are rotated in and read it
    reread_idf(layout, range(layout.shards))
    rebuilding.unlink()


def _index_all(layout: Layout, targets: Sequence[Sequence[str]]) -> None:
    """Run `indexer` for every shard at once (`targets[s]`: what shard s rebuilds)."""
    procs = []
    failed = []  # every indexer started is waited for, none outlives the write lock
    for s, what in enumerate(targets):
        if not what:
            continue
        conf = layout.shard_dir(s) / "searchd.conf"
        rotate = ["--rotate"] if is_running(layout.shard_dir(s)) else []
        args = ["indexer", "-c", str(conf), "--quiet", *rotate, *what]
        try:
            pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT}  # why it fails
            procs.append((what, s, subprocess.Popen(args, text=True, **pipes)))
        except OSError as exc:  # the shards not started stay stale: the next write indexes them
            if isinstance(exc, FileNotFoundError):
                failed.append("indexer is not installed (apt-get install sphinxsearch)")
            else:
                failed.append(f"cannot start indexer for shard {s}: {exc.strerror or exc}")
            break
    for what, s, proc in procs:
        out, _ = proc.communicate()
        if proc.returncode not in (0, 2):  # 2: built, but searchd could not be signalled
            last = [ln for ln in out.splitlines() if ln.strip()][-1:] or ["no output"]
            failed.append(f"indexer for shard {s} failed: {last[0]}")
            continue
        try:
            if rotate_pending(layout.shard_dir(s)):
                _wait_rotation(layout.shard_dir(s))
        except EngineError as exc:  # the others are waited for all the same
            failed.append(str(exc))
            continue
        if list(what) == [f"delta_{s}"]:  # the delta index now holds its log
            shardlog.mark_indexed(layout.shard_dir(s))
    if failed:
        raise EngineError(failed[0])


def rotate_pending(folder: Path) -> bool:
    return any(folder.glob("*.new.sph"))


def _wait_rotation(folder: Path) -> None:
    deadline = time.monotonic() + ROTATE_WAIT_S
    while rotate_pending(folder) and is_running(folder):
        if time.monotonic() > deadline:
            raise EngineError(f"searchd in {folder} did not load the new index")
        time.sleep(0.05)


def build_idf(layout: Layout) -> None:
    """The global IDF file from every shard's main dictionary, put in place whole (a searchd
    starting meanwhile reads the last one). A searchd reads it as it loads an index, and again
    only if its mtime changed (in whole seconds): a file written within the second of the one
    it replaces is dated a second later."""
    idf = layout.root / "global.idf"
    try:
        before = int(idf.stat().st_mtime)
    except FileNotFoundError:
        before = None
    dumps = []
    for s in range(layout.shards):
        folder = layout.shard_dir(s)
        dump = folder / "dict.txt"
        conf = str(folder / "searchd.conf")
        with open(dump, "w", encoding="utf-8") as f:
            done = subprocess.run(
                ["indextool", "-c", conf, "--dumpdict", f"main_{s}", "--stats"],
                stdout=f, stderr=subprocess.DEVNULL, check=False,
            )  # fmt: skip
        if done.returncode != 0:
            raise EngineError(f"indextool could not read shard {s}'s dictionary")
        dumps.append(str(dump))
    new = idf.with_name(idf.name + ".new")  # indextool writes as it goes: put in place whole
    try:
        run_tool(["indextool", "--buildidf", *dumps, "--out", str(new)])
        if before is not None and int(new.stat().st_mtime) <= before:
            os.utime(new, (before + 1, before + 1))
        os.replace(new, idf)
    finally:
        new.unlink(missing_ok=True)
        for dump in dumps:
            os.remove(dump)


def reread_idf(layout: Layout, rebuilt: Iterable[int] = ()) -> None:
    """Build the delta index of each shard in `rebuilt`, and of each running one, from its log
    (empty after a build and in a merged shard, else below its merge threshold), and rotate
    it in: a searchd reads the global IDF just written only as it loads an index that uses
    the file (not on a SIGHUP without a new index, nor when its config changed)."""
    again = set(rebuilt)
    _index_all(
        layout,
        [
            [f"delta_{s}"] if s in again or is_running(layout.shard_dir(s)) else []
            for s in range(layout.shards)
        ],
    )


def ingest(layout: Layout, articles: Iterable["Article"]) -> "AddReport":
    """Route new and changed articles to their shards' delta indexes (rebuilt and rotated in);
    an updated article's old paragraphs are killed, not duplicated. Unchanged ones are skipped."""
    with _writing(layout):
        return _ingest(layout, articles)


def _whole(layout: Layout) -> None:
    """EngineError if a rebuild was cut short: its shards hold parts of two versions."""
    if (layout.root / REBUILDING).exists():
        raise EngineError(
            f"a rebuild of the cluster in {layout.root} was cut short: "
            "`feedqa cluster init` builds it again, keeping every article"
        )


def _ingest(layout: Layout, articles: Iterable["Article"]) -> "AddReport":
    """The work of `ingest`, the write lock held."""
    from .retriever import AddReport

    _whole(layout)

    stale = [shardlog.stale(layout.shard_dir(s)) for s in range(layout.shards)]
    stored = Stored()  # as the library tells them: an id it had before, a copy under a new id
    taken: list[set[int]] = [set() for _ in range(layout.shards)]
    for s in range(layout.shards):
        for aid, (slot, npara, digest, link) in shardlog.slots(layout.shard_dir(s)).items():
            stored.keep(aid, link, (slot, npara, digest))
            taken[s].add(slot)
    fresh: list[dict[str, dict]] = [{} for _ in range(layout.shards)]
    added = updated = 0
    for a, old in stored.changed(articles, _content_hash):  # under the id (and shard) it has
        h = _hash(a.id)
        s = h % layout.shards
        if old:
            updated += 1
            slot, kill = old[0], old[1]
        else:
            added += 1
            slot, kill = _free_slot(h, layout.shards, taken[s]), 0
            taken[s].add(slot)
        fresh[s][a.id] = {"slot": slot, "kill": kill, "article": a.model_dump(mode="json")}
    for s, entries in enumerate(fresh):
        if entries:
            shardlog.add_to_delta(layout.shard_dir(s), entries.values())
    targets = [fresh[s] or stale[s] for s in range(layout.shards)]
    _index_all(layout, [[f"delta_{s}"] if t else [] for s, t in enumerate(targets)])
    return AddReport(added, updated, stored.unchanged)


def merge_due(delta_bytes: int, main_bytes: int) -> bool:
    """Whether a shard's delta is due to be merged: each ingest rebuilds the delta index
    whole, so without merges its time would grow with every article changed since."""
    return delta_bytes >= max(MERGE_MIN_BYTES, main_bytes / MERGE_SHARE)


def shards_due(layout: Layout) -> list[int]:
    """The shards whose delta is due to be merged (`ClusterRetriever.add` merges them)."""
    sizes = [shardlog.log_sizes(layout.shard_dir(s)) for s in range(layout.shards)]
    return [s for s, (main, delta) in enumerate(sizes) if merge_due(delta, main)]


def logged_articles(layout: Layout) -> list["Article"]:
    """Every article the cluster's shard logs hold, the latest version of each (or, after a
    rebuild cut short, every article it was building)."""
    from corpus import Article

    if (layout.root / REBUILDING).exists():
        entries = read_entries(str(layout.root / REBUILDING))
    else:
        entries = [
            entry
            for s in range(layout.shards)
            for entry in shardlog.logged(layout.shard_dir(s)).values()
        ]
    return [Article.model_validate(entry["article"]) for entry in entries]


def unserved(layout: Layout) -> list[str]:
    """A line for each shard that serves fewer paragraphs than its logs hold: its index did
    not load (searchd then serves the rest, and says why only in its own log)."""
    from .sphinx import SphinxIndex

    served = SphinxIndex(layout.url).shards
    out = []
    for s in range(layout.shards):
        folder = layout.shard_dir(s)
        logged = shardlog.logged(folder).values()
        want = sum(min(len(e["article"]["paragraphs"]), MAX_PARAS) for e in logged)
        have = served.get(s, (0, 0))[0]
        if have < want:
            out.append(
                f"shard {s} serves {have} of its {want} paragraphs: an index of it did not "
                f"load (see {folder / 'searchd.log'}; `feedqa cluster init` builds it again)"
            )
    return out


def merge(layout: Layout, shards: Sequence[int] | None = None) -> None:
    """Fold every shard's delta index (or those of `shards`) into its main index with
    `indexer --merge` (the delta's kill-list applied), then empty the deltas and fold their
    logs into the main logs."""
    with _writing(layout):
        return _merge(layout, shards)


def _merge(layout: Layout, shards: Sequence[int] | None = None) -> None:
    """The work of `merge`, the write lock held."""
    _whole(layout)
    chosen = range(layout.shards) if shards is None else shards
    stale = [s in chosen and shardlog.stale(layout.shard_dir(s)) for s in range(layout.shards)]
    _index_all(layout, [[f"delta_{s}"] if t else [] for s, t in enumerate(stale)])
    pending = [
        read_entries(str(layout.shard_dir(s) / "delta.jsonl")) if s in chosen else []
        for s in range(layout.shards)
    ]
    _index_all(
        layout, [["--merge", f"main_{s}", f"delta_{s}"] if d else [] for s, d in enumerate(pending)]
    )
    for s, delta in enumerate(pending):
        if delta:  # a crash before this leaves the delta in both indexes: same results
            folder = layout.shard_dir(s)
            main = {e["article"]["id"]: e for e in shardlog.main_entries(folder)}
            main.update((e["article"]["id"], {**e, "kill": 0}) for e in delta)
            shardlog.write_entries(folder / "main.jsonl", main.values())
            shardlog.write_slots(folder, main.values())
            shardlog.write_entries(folder / "delta.jsonl", [])
    build_idf(layout)
    reread_idf(layout, [s for s, d in enumerate(pending) if d])  # and empties merged deltas
