"""A cluster shard's files: its article logs (`main.jsonl`, `delta.jsonl`, one JSON entry
per line: slot, kill count, article), the slots of its articles (`slots.tsv`) and how much
of the delta log its delta index holds (`delta.indexed`).

A log is written whole atomically (a kill leaves the old or the new) or appended to, and a
line a kill tore is left unread.
"""

import json
import os
from collections.abc import Iterable
from pathlib import Path

from .records import content_hash
from .storage import replace_file
from .xmlpipe import MAX_PARAS, read_entries


def write_entries(path: Path, entries: Iterable[dict], *, append: bool = False) -> None:
    """Write a shard log whole (in place of the old one at once: a kill or Ctrl-C leaves the
    old or the new), or append to it (after a torn last line, on a line of its own)."""
    text = "".join(json.dumps(entry, ensure_ascii=False) + "\n" for entry in entries)
    if not append:
        replace_file(path, text.encode("utf-8"))
        return
    with open(path, "a+b") as f:
        if f.tell():
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"  # a write killed midway: its line stays unreadable
            text = "\n" * torn + text
        f.write(text.encode("utf-8"))
        f.flush()
        os.fsync(f.fileno())


def add_to_delta(folder: Path, entries: Iterable[dict]) -> None:
    """Append `entries` to a shard's delta log; once it holds more superseded versions than
    current ones (a story revised at every refresh between merges), write it whole, the
    latest version of each article (with the most it kills in `main`, as `read_entries`
    gives them)."""
    path = folder / "delta.jsonl"
    write_entries(path, entries, append=True)
    latest = read_entries(str(path))
    if path.read_bytes().count(b"\n") > 2 * len(latest):
        # its size may be the one indexed again: stale until its delta index is rebuilt
        (folder / "delta.indexed").unlink(missing_ok=True)
        write_entries(path, latest)


def slots(folder: Path) -> dict[str, tuple[int, int, str, str]]:
    """Article id → (slot, paragraphs main may hold, content hash, link) of a shard, deltas
    included. (A slots file written before it kept links has them read from the main log.)"""
    out: dict[str, tuple[int, int, str, str]] = {}
    links: dict[str, str] | None = None
    for line in _read_lines(folder / "slots.tsv"):
        aid, slot, npara, digest, *link = line.split("\t")
        if not link and links is None:
            links = {e["article"]["id"]: e["article"]["link"] for e in main_entries(folder)}
        key = json.loads(aid)
        out[key] = (int(slot), int(npara), digest, json.loads(link[0]) if link else links[key])
    for entry in read_entries(str(folder / "delta.jsonl")):
        a = entry["article"]
        # a merge cut short before the logs were rewritten left this version in main too
        npara = max(entry.get("kill", 0), min(len(a["paragraphs"]), MAX_PARAS))
        out[a["id"]] = (entry["slot"], npara, entry_hash(a), a["link"])
    return out


def main_entries(folder: Path) -> list[dict]:
    return read_entries(str(folder / "main.jsonl"))


def entry_hash(article: dict) -> str:
    """The content hash of a logged article (as the library's records have it)."""
    return content_hash(article["title"], article["paragraphs"][:MAX_PARAS])


def _read_lines(path: Path) -> list[str]:
    """The lines of `path`, split at line feeds alone (ids and links may hold U+2028, CR…)."""
    try:
        return [ln for ln in path.read_bytes().decode("utf-8").split("\n") if ln]
    except FileNotFoundError:
        return []


def write_slots(folder: Path, entries: Iterable[dict]) -> None:
    lines = []
    for e in entries:
        a = e["article"]
        npara = min(len(a["paragraphs"]), MAX_PARAS)
        aid, link = (json.dumps(a[k], ensure_ascii=False) for k in ("id", "link"))
        lines.append(f"{aid}\t{e['slot']}\t{npara}\t{entry_hash(a)}\t{link}")
    replace_file(folder / "slots.tsv", "".join(ln + "\n" for ln in lines).encode("utf-8"))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _delta_size(folder: Path) -> int:
    return _size(folder / "delta.jsonl")


def log_sizes(folder: Path) -> tuple[int, int]:
    """The sizes in bytes of a shard's main and delta logs."""
    return _size(folder / "main.jsonl"), _delta_size(folder)


def stale(folder: Path) -> bool:
    """Whether a shard's delta index lags its log: an ingest failed or was killed after it
    logged its articles, so the next write indexes them."""
    try:
        return int((folder / "delta.indexed").read_text()) != _delta_size(folder)
    except (OSError, ValueError):
        return _delta_size(folder) > 0


def mark_indexed(folder: Path) -> None:
    (folder / "delta.indexed").write_text(str(_delta_size(folder)))


def logged(folder: Path) -> dict[str, dict]:
    """A shard's logged entries by article id, the latest version of each (delta over main)."""
    latest = {e["article"]["id"]: e for e in main_entries(folder)}
    latest.update((e["article"]["id"], e) for e in read_entries(str(folder / "delta.jsonl")))
    return latest
