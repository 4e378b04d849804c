"""The index manifest (`index.json`): what an index is made of, with a SHA-256 of its
content, checked byte for byte and validated field by field before anything is served."""

import hashlib
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from corpus.errors import IndexFileError

from .storage import FORMAT, VERSION, replace_file
from .text import SEGMENTER

if TYPE_CHECKING:
    from .index import Index

MANIFEST = "index.json"

READ_ATTEMPTS = 20
"""Reads of an index that writers keep replacing while it is read, before giving up."""

T = TypeVar("T")

_SEGMENT_NAME = re.compile(r"seg-[1-9][0-9]*")


def manifest_text(manifest: dict) -> str:
    """The manifest as written: its fields plus a SHA-256 of them ("checksum")."""
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return json.dumps({**body, "checksum": "sha256:" + hashlib.sha256(canonical).hexdigest()},
                      indent=1)  # fmt: skip


def write_manifest(path: Path, manifest: dict) -> str:
    """Write the manifest atomically and durably; return its checksum."""
    text = manifest_text(manifest)
    replace_file(path, text.encode("utf-8"))
    return json.loads(text)["checksum"]


def read_manifest(path: Path) -> dict:
    """The manifest at `path`; IndexFileError if it is unreadable or not exactly as written."""
    try:
        text = path.read_text(encoding="utf-8")
        manifest = json.loads(text)
    except (OSError, ValueError) as exc:
        raise IndexFileError(
            f"no readable index at {path.parent} ({exc.__class__.__name__})"
        ) from exc
    if not isinstance(manifest, dict) or "checksum" not in manifest:
        raise IndexFileError(f"{path.parent}: {path.name} has no checksum; rebuild it")
    if manifest_text(manifest) != text:
        raise IndexFileError(f"{path.parent}: {path.name} is corrupt (checksum mismatch)")
    return manifest


def write_index_manifest(path: Path, index: "Index", logged: int) -> str:
    """Write the manifest of `index` saved under `path` (logging `logged` lines of the log),
    then remove the folders of segments it no longer has; return its checksum."""
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "segmenter": SEGMENTER,
        "params": index.params.__dict__,
        "segments": [s.name for s in index.segments],
        "logged": logged,
    }
    checksum = write_manifest(path / MANIFEST, manifest)
    keep = {s.name for s in index.segments}
    for child in path.iterdir():
        if is_segment(child) and child.name not in keep:
            shutil.rmtree(child, ignore_errors=True)
    return checksum


def is_segment(child: Path) -> bool:
    """Whether `child` is a folder named as feedqa names segments (seg-1, seg-2, ...)."""
    return child.is_dir() and _SEGMENT_NAME.fullmatch(child.name) is not None


def read_index_manifest(path: Path) -> dict:
    """The manifest of the index saved under `path`; IndexFileError if it is unreadable,
    corrupt, of another index version or cut by another segmenter."""
    manifest = read_manifest(path / MANIFEST)
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise IndexFileError(
            f"{path}: index version {manifest.get('version')!r} is not {VERSION}; rebuild it"
        )
    if manifest.get("segmenter") != SEGMENTER:
        raise IndexFileError(
            f"{path}: built with segmenter {manifest.get('segmenter')!r}, not {SEGMENTER!r}"
        )
    return manifest


def checked(manifest: dict) -> tuple[dict, list[str], int]:
    """The manifest's BM25 parameters, segment names and logged lines, validated."""
    where = "index.json"
    params, names, logged = (
        manifest.get("params"),
        manifest.get("segments"),
        manifest.get("logged", 0),
    )
    if not isinstance(params, dict):
        raise IndexFileError(f"{where}: params missing")
    from .index import BM25Params  # the parameters' own checks

    try:
        BM25Params(**params)
    except (TypeError, ValueError) as exc:
        raise IndexFileError(f"{where}: {exc}") from None
    if (
        not isinstance(names, list)
        or len(set(map(str, names))) != len(names)
        or not all(isinstance(n, str) and _SEGMENT_NAME.fullmatch(n) for n in names)
    ):
        raise IndexFileError(f"{where}: malformed segment list")
    if isinstance(logged, bool) or not isinstance(logged, int) or logged < 0:
        raise IndexFileError(f"{where}: malformed logged count {logged!r}")
    return params, names, logged


def stamp(path: Path) -> str | None:
    """The checksum of the library's manifest (None if there is no valid one)."""
    try:
        return read_manifest(path / MANIFEST)["checksum"]
    except IndexFileError:
        return None


def read_consistent(path: Path, read: Callable[[dict], tuple[T, bool]]) -> tuple[dict, T, bool]:
    """The manifest of the index saved under `path`, and what `read(manifest)` read of it and
    whether that is whole. A read that failed or came out incomplete because a writer
    replaced the index meanwhile (an ingest beside this process removed the segments it
    merged) is made again; a whole read is kept: it is one version, the one it names."""
    for attempt in range(1, READ_ATTEMPTS + 1):
        saved = read_index_manifest(path)
        last = attempt == READ_ATTEMPTS
        try:
            result, whole = read(saved)
        except IndexFileError:
            if last or stamp(path) == saved["checksum"]:
                raise
            continue
        if whole or last or stamp(path) == saved["checksum"]:
            return saved, result, whole
    raise AssertionError("unreachable")
