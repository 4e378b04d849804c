"""Segment files: plain `.npy`, text and JSON (no pickle) with a checksummed manifest.

Arrays are memory-mapped on load. A stale or corrupt segment raises IndexFileError, so the
caller rebuilds it rather than serve it.
"""

import contextlib
import json
import os
import shutil
import zlib
from pathlib import Path

import numpy as np

from corpus.errors import IndexFileError

from .segment import TF_GROUPS, Segment

FORMAT = "feedqa-index"
VERSION = 2

_ARRAYS = (
    "doc_article",
    "doc_para",
    "doc_len",
    "text_off",
    "indptr",
    "post_doc",
    "post_tf",
    "max_tf",
    "min_len",
    "tf_len",
)
_OPTIONAL = {"tf_len"}  # absent from segments written before it existed
_POPULATE = {"post_doc", "post_tf"}  # mapped up front: queries touch them all over
_MADV_POPULATE_READ = 22  # Linux >= 5.14 (older kernels refuse it: nothing happens)


def _load_array(path: Path, mmap: bool, populate: bool = False) -> np.ndarray:
    """An .npy file, memory-mapped (as a plain ndarray view: np.memmap's subclass hooks cost
    in every query) or read."""
    if not mmap:
        return np.load(path, allow_pickle=False)
    array = np.load(path, mmap_mode="r", allow_pickle=False)
    if populate and getattr(array, "_mmap", None) is not None:
        # map the pages now rather than fault them in one by one during queries
        with contextlib.suppress(OSError, ValueError, AttributeError):
            array._mmap.madvise(_MADV_POPULATE_READ)
    return array.view(np.ndarray)


def _crc(path: Path) -> int:
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            crc = zlib.crc32(chunk, crc)
    return crc


def save_segment(seg: Segment, folder: Path) -> None:
    """Write `seg` into `folder` (created; must not exist) with a checksummed manifest."""
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in _ARRAYS:
        np.save(tmp / f"{name}.npy", np.ascontiguousarray(getattr(seg, name)), allow_pickle=False)
    (tmp / "text.bin").write_bytes(np.asarray(seg.text).tobytes())
    (tmp / "terms.txt").write_text("\n".join(seg.terms), encoding="utf-8")
    with open(tmp / "articles.jsonl", "w", encoding="utf-8") as f:
        for a in seg.articles:
            f.write(json.dumps(a, ensure_ascii=False) + "\n")
    files = {p.name: {"size": p.stat().st_size, "crc32": _crc(p)} for p in sorted(tmp.iterdir())}
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "name": seg.name,
        "n_docs": seg.n_docs,
        "files": files,
    }
    (tmp / "segment.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    _fsync_dir(tmp)
    os.replace(tmp, folder)


def load_segment(folder: Path, *, verify: bool = True, mmap: bool = True) -> Segment:
    """Read a segment written by `save_segment`; raise IndexFileError if anything is off."""
    try:
        manifest = json.loads((folder / "segment.json").read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
            raise IndexFileError(f"{folder}: unsupported index version {manifest.get('version')!r}")
        for fname, info in manifest["files"].items():
            p = folder / fname
            if p.stat().st_size != info["size"] or (verify and _crc(p) != info["crc32"]):
                raise IndexFileError(f"{folder}: {fname} is corrupt (size or checksum mismatch)")
        arrays = {
            n: _load_array(folder / f"{n}.npy", mmap, populate=n in _POPULATE)
            for n in _ARRAYS
            if n not in _OPTIONAL or f"{n}.npy" in manifest["files"]
        }
        terms_text = (folder / "terms.txt").read_text(encoding="utf-8")
        terms = terms_text.split("\n") if terms_text else []
        text = (
            np.memmap(folder / "text.bin", dtype=np.uint8, mode="r").view(np.ndarray)
            if mmap and (folder / "text.bin").stat().st_size
            else np.fromfile(folder / "text.bin", dtype=np.uint8)
        )
        lines = (folder / "articles.jsonl").read_text(encoding="utf-8").strip()
        articles = json.loads(f"[{lines.replace(chr(10), ',')}]")  # one record a line
    except IndexFileError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexFileError(f"{folder}: unreadable index segment ({exc})") from exc
    if "tf_len" in arrays and arrays["tf_len"].shape != (len(terms), TF_GROUPS):
        del arrays["tf_len"]  # written with other tf groups: fall back to the coarser bound
    seg = Segment(manifest["name"], articles, text=text, terms=terms, **arrays)
    if len(seg.indptr) != len(terms) + 1 or len(seg.doc_len) != manifest["n_docs"]:
        raise IndexFileError(f"{folder}: inconsistent segment")
    return seg


def _fsync_dir(folder: Path) -> None:
    for p in folder.iterdir():
        with open(p, "rb") as f:
            os.fsync(f.fileno())
