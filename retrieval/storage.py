"""Segment files: plain `.npy`, text and JSON (no pickle) with a checksummed manifest.

Arrays are memory-mapped on load. A stale or corrupt segment raises IndexFileError, so the
caller rebuilds it rather than serve it.
"""

import contextlib
import errno
import hashlib
import json
import mmap
import os
import re
import secrets
import shutil
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, TypeVar

import numpy as np

from corpus.errors import IndexFileError

from .segment import TF_GROUPS, Segment

FORMAT = "feedqa-index"
VERSION = 3
"""2: term frequencies as float32; 3: as the smallest unsigned type (`segment.tf_counts`)."""

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
_CRC_CHUNK = 1 << 24
"""Checksums are summed over this many bytes at a time (zlib releases the GIL meanwhile)."""

PARALLEL_VERIFY = 16 << 20
"""Segments this large (bytes) are verified in two threads while the rest of them loads."""


def _load_array(path: Path, mmap: bool) -> np.ndarray:
    """An .npy file, memory-mapped (as a plain ndarray view: np.memmap's subclass hooks cost
    in every query; pages are read in as queries touch them) or read."""
    if not mmap:
        return np.load(path, allow_pickle=False)
    return np.load(path, mmap_mode="r", allow_pickle=False).view(np.ndarray)


def crc(path: Path) -> int:
    """CRC-32 of a file, summed over a read-only memory map (no copies)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if not size:
            return 0
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m, memoryview(m) as view:
            crc = 0
            for start in range(0, size, _CRC_CHUNK):
                with view[start : start + _CRC_CHUNK] as chunk:
                    crc = zlib.crc32(chunk, crc)
    return crc


def _verify(folder: Path, files: dict, pool: ThreadPoolExecutor | None) -> Callable[[], None]:
    """Start checking the files' checksums (in `pool`, largest first, if given); the returned
    function waits for them and raises IndexFileError on a mismatch."""
    names = sorted(files, key=lambda n: -files[n]["size"])
    if pool is None:
        sums = {n: crc(folder / n) for n in names}
        results = {n: (lambda v=v: v) for n, v in sums.items()}
    else:
        results = {n: pool.submit(crc, folder / n).result for n in names}

    def check() -> None:
        for name in names:
            if results[name]() != files[name]["crc32"]:
                raise IndexFileError(f"{folder}: {name} is corrupt (checksum mismatch)")

    return check


def save_segment(seg: Segment, folder: Path) -> None:
    """Write `seg` into `folder` with a checksummed manifest, replacing what is there."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp, _ = beside(folder, os.mkdir)
    try:
        _fill(seg, folder, tmp)
    except BaseException:
        remove(tmp)
        raise


def _fill(seg: Segment, folder: Path, tmp: Path) -> None:
    """Write `seg` into the new folder `tmp`, then move it to `folder`."""
    for name in _ARRAYS:
        np.save(tmp / f"{name}.npy", np.ascontiguousarray(getattr(seg, name)), allow_pickle=False)
    (tmp / "text.bin").write_bytes(np.asarray(seg.text).tobytes())
    (tmp / "terms.txt").write_text("\n".join(seg.terms), encoding="utf-8")
    with open(tmp / "articles.jsonl", "w", encoding="utf-8") as f:
        for a in seg.articles:
            f.write(json.dumps(a, ensure_ascii=False) + "\n")
    files = {p.name: {"size": p.stat().st_size, "crc32": crc(p)} for p in sorted(tmp.iterdir())}
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "name": seg.name,
        "n_docs": seg.n_docs,
        "files": files,
    }
    written = json.dumps(manifest, indent=1).encode("utf-8")
    (tmp / "segment.json").write_bytes(written)
    _fsync_dir(tmp)
    old = tmp.with_suffix(".old")  # as unique as `tmp`
    while True:
        if folder.exists() or folder.is_symlink():  # another index's segment of the same name
            remove(old)
            with contextlib.suppress(FileNotFoundError):  # another save moved it meanwhile
                os.replace(folder, old)
        try:
            os.replace(tmp, folder)
            break
        except OSError as exc:  # another save put its segment there meanwhile: move it aside
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
    remove(old)
    seg.on_disk[folder.resolve()] = _digest(written)


def _remove_stale(folder: Path) -> None:
    """Remove the copies killed writes left in `folder` (not those being written now)."""
    limit = time.time() - STALE_COPY_S
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if _COPY.fullmatch(entry.name) and entry.stat(follow_symlinks=False).st_mtime < limit:
                remove(Path(entry.path))


def remove(path: Path) -> None:
    """Remove a folder or a file, if there is one."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def load_segment(folder: Path, *, verify: bool = True, mmap: bool = True) -> Segment:
    """Read a segment written by `save_segment`; raise IndexFileError if anything is off."""
    try:
        raw = (folder / "segment.json").read_bytes()
        manifest = json.loads(raw.decode("utf-8"))
        if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
            raise IndexFileError(f"{folder}: unsupported index version {manifest.get('version')!r}")
        if manifest.get("name") != folder.name:  # its index lists it by its folder's name
            raise IndexFileError(f"{folder}: segment.json names another segment")
        files = manifest["files"]
        for fname, info in files.items():
            if (folder / fname).stat().st_size != info["size"]:
                raise IndexFileError(f"{folder}: {fname} is corrupt (size mismatch)")
        big = verify and sum(info["size"] for info in files.values()) >= PARALLEL_VERIFY
        with ThreadPoolExecutor(2) if big else contextlib.nullcontext() as pool:
            check = _verify(folder, files, pool) if verify else (lambda: None)
            seg = _read(folder, manifest, mmap)
            check()  # before the segment is used
        if len(seg.indptr) != len(seg.terms) + 1 or len(seg.doc_len) != manifest["n_docs"]:
            raise IndexFileError(f"{folder}: inconsistent segment")
    except IndexFileError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IndexFileError(f"{folder}: unreadable index segment ({exc})") from exc
    seg.on_disk[folder.resolve()] = _digest(raw)
    return seg


def saved_in(seg: Segment, folder: Path) -> bool:
    """Whether `folder` holds `seg` as it was last read from or written there (another
    index's save over it changes its segment.json)."""
    expected = seg.on_disk.get(folder.resolve())
    if expected is None:
        return False
    try:
        return _digest((folder / "segment.json").read_bytes()) == expected
    except OSError:
        return False


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(folder: Path, manifest: dict, mmap: bool) -> Segment:
    """The segment's arrays (memory-mapped if `mmap`), terms and article records."""
    arrays = {
        n: _load_array(folder / f"{n}.npy", mmap)
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
    if "tf_len" in arrays and arrays["tf_len"].shape != (len(terms), TF_GROUPS):
        del arrays["tf_len"]  # written with other tf groups: fall back to the coarser bound
    return Segment(manifest["name"], articles, text=text, terms=terms, **arrays)


T = TypeVar("T")


STALE_COPY_S = 3600.0
"""A copy beside a file or folder older than this was left by a write that was killed (a
write takes seconds): the next write in its folder removes it."""

_COPY = re.compile(r".+\.[0-9a-f]{8}\.(?:tmp|old)")


def beside(path: Path, make: Callable[[Path], T]) -> tuple[Path, T]:
    """A temporary name beside `path` that no other call (in this process or another) is
    using, and what `make` returned making it (it must raise FileExistsError if it is taken).
    The copies killed writes left in the folder are removed first."""
    _remove_stale(path.parent)
    while True:
        tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return tmp, make(tmp)
        except FileExistsError:
            continue


@contextlib.contextmanager
def replacing(path: Path, *, mode: int = 0o666) -> Iterator[BinaryIO]:
    """A new file to write, put in place of `path` atomically and durably when the block
    ends: a reader sees the old or the new file. It is made with `mode` (less the umask)
    under a name of its own, so two writers at once each put a whole file in place; one a
    full disk (or any error) cut short is removed, so it does not hold the disk's last free
    bytes."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    tmp, fd = beside(path, lambda p: os.open(p, flags, mode))
    try:
        with open(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def replace_file(path: Path, data: bytes, *, mode: int = 0o666) -> None:
    """Write `data` to `path` atomically and durably (see `replacing`)."""
    with replacing(path, mode=mode) as f:
        f.write(data)


def _fsync_dir(folder: Path) -> None:
    for p in folder.iterdir():
        with open(p, "rb") as f:
            os.fsync(f.fileno())
