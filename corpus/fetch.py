"""Reading feed bytes from the network or a file, within a deadline and a size cap."""

import contextlib
import os
import stat
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from corpus.errors import FeedError, FetchError

USER_AGENT = "feedqa/0.1 (+feed reader)"

FETCH_TIMEOUT = 20.0
"""Seconds to connect to a feed server and to wait for each piece of the body."""

FETCH_DEADLINE = 120.0
"""Seconds for a whole download."""

MAX_FEED_BYTES = 20_000_000
"""The largest feed read, counted after decompression."""

MAX_REDIRECTS = 10
"""The most redirects followed for one feed."""


@dataclass(frozen=True)
class Download:
    """A feed's bytes and the charset its server declared (None if it declared none)."""

    data: bytes
    charset: str | None = None
    url: str = ""  # where the feed was found, after redirects
    cut: str = ""  # why the body ended early ('' if it arrived whole)


def fetch_feed(
    url: str,
    *,
    timeout: float = FETCH_TIMEOUT,
    deadline: float = FETCH_DEADLINE,
    max_bytes: int = MAX_FEED_BYTES,
    client: httpx.Client | None = None,
) -> Download:
    """Download a feed over http(s): its bytes and declared charset; FetchError on any failure.

    timeout: seconds to connect and to wait for each piece of the body; deadline: seconds
    for the whole download, redirects and headers included (a server that trickles bytes
    is abandoned after it, at most a second late); max_bytes: the largest body, counted
    after decompression (gzip and deflate are decompressed here, in bounded steps, so a
    compression bomb is refused without being expanded).
    """
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed [ of an IPv6 address
        raise FetchError(f"not a valid URL: {url!r} ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError(f"not an http(s) URL: {url!r}")
    if not parts.netloc:
        raise FetchError(f"not a complete URL: {url!r}")
    stop = time.monotonic() + deadline
    timeout = min(timeout, deadline)
    outcome: list[Download | BaseException] = []

    def download() -> None:
        try:
            outcome.append(_download(url, stop, timeout, deadline, max_bytes, client))
        except BaseException as exc:  # handed to the caller's thread
            outcome.append(exc)

    # in a thread of its own, abandoned at the deadline: a server that trickles its headers
    # a byte at a time never lets a read time out
    worker = threading.Thread(target=download, name="feedqa-fetch", daemon=True)
    worker.start()
    worker.join(deadline + 1)
    if not outcome:
        raise FetchError(f"gave up on {url} after {deadline:g}s (the deadline)")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def _download(
    url: str, stop: float, timeout: float, deadline: float, max_bytes: int,
    client: httpx.Client | None,
) -> Download:  # fmt: skip
    """`fetch_feed`'s download, following redirects itself so the deadline covers them."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"}
    try:
        with contextlib.ExitStack() as stack:
            if client is None:
                client = stack.enter_context(httpx.Client())
            address = url
            for _ in range(MAX_REDIRECTS + 1):  # followed here, so the deadline covers them
                left = stop - time.monotonic()
                if left <= 0:
                    raise FetchError(f"gave up on {url} after {deadline:g}s (the deadline)")
                response = stack.enter_context(
                    client.stream(
                        "GET", address, headers=headers, follow_redirects=False,
                        timeout=httpx.Timeout(min(timeout, left)),
                    )
                )  # fmt: skip
                if not response.has_redirect_location:
                    break
                address = str(response.url.join(response.headers["Location"]))
                if urlsplit(address).scheme.lower() not in ("http", "https"):
                    raise FetchError(f"cannot fetch {url}: redirected to {address!r}")
                response.close()
            else:
                raise FetchError(f"cannot fetch {url}: more than {MAX_REDIRECTS} redirects")
            if response.status_code >= 300:
                raise FetchError(f"cannot fetch {url}: {_status(response)}")
            body, cut = _read_body(response, url, stop, deadline, max_bytes)
            return Download(body, response.charset_encoding, str(response.url), cut)
    except httpx.TimeoutException as exc:
        raise FetchError(f"timed out after {timeout:g}s fetching {url}") from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        reason = str(exc) or type(exc).__name__
        raise FetchError(f"cannot fetch {url}: {reason}") from exc


def _status(response: httpx.Response) -> str:
    """An answer that is no feed, in words: its status, and what the server asks."""
    said = f"HTTP {response.status_code} {response.reason_phrase}"
    wait = response.headers.get("Retry-After", "").strip()
    if response.is_redirect:
        return f"{said} without a Location to go to"
    if wait.isdigit():
        return f"{said} (the server asks to wait {int(wait)} s)"
    return said


def read_file(path: Path, max_bytes: int = MAX_FEED_BYTES) -> bytes:
    """The bytes of a regular file of at most `max_bytes`; FeedError otherwise.

    FIFOs, devices and directories are refused without reading them (opened non-blocking,
    so a FIFO without a writer cannot hang the caller).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise FeedError(f"cannot read feed file {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:  # a NUL in the path
        raise FeedError(f"cannot read feed file {str(path)!r}: {exc}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
        os.close(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FeedError(f"cannot read feed file {path}: not a regular file")
        raise FeedError(f"feed file {path} is larger than {_size(max_bytes)}")
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(max_bytes + 1)
        except OSError as exc:
            raise FeedError(f"cannot read feed file {path}: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise FeedError(f"feed file {path} is larger than {_size(max_bytes)}")
    return data


def _read_body(
    response: httpx.Response, url: str, stop: float, deadline: float, max_bytes: int
) -> tuple[bytes, str]:
    """The decompressed body, read until `stop` (a monotonic time) and `max_bytes`, and why
    it ended early if the server closed the connection after sending some of it."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise FetchError(f"feed at {url} is larger than {_size(max_bytes)}")
    inflate = _inflater(response.headers.get("Content-Encoding", ""), url)
    body = bytearray()
    cut = ""
    try:
        for chunk in response.iter_raw():  # as the bytes arrive, so the deadline is checked
            if time.monotonic() > stop:
                raise FetchError(f"gave up on {url} after {deadline:g}s (the deadline)")
            body += inflate(chunk, max_bytes + 1 - len(body))
            if len(body) > max_bytes:
                raise FetchError(f"feed at {url} is larger than {_size(max_bytes)}")
    except httpx.RemoteProtocolError as exc:  # a truncated feed keeps its complete items
        if not body:
            raise
        cut = str(exc) or type(exc).__name__
    if time.monotonic() > stop:
        raise FetchError(f"gave up on {url} after {deadline:g}s (the deadline)")
    return bytes(body), cut


def _inflater(encoding: str, url: str):
    """A function (chunk, limit) -> at most `limit` more decompressed bytes of the body."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return lambda chunk, limit: chunk
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise FetchError(f"cannot fetch {url}: unsupported Content-Encoding {encoding!r}")
    # gzip, or deflate as zlib data (auto-detected); raw deflate if that fails
    state = {"z": zlib.decompressobj(zlib.MAX_WBITS | 32), "started": False}

    def inflate(chunk: bytes, limit: int) -> bytes:
        z = state["z"]
        try:
            out = z.decompress(chunk, limit)
        except zlib.error:
            if encoding != "deflate" or state["started"]:
                raise FetchError(f"cannot fetch {url}: corrupt {encoding} data") from None
            state["z"] = z = zlib.decompressobj(-zlib.MAX_WBITS)
            out = z.decompress(chunk, limit)
        state["started"] = True
        return out  # input left over past `limit` is never needed: the body is too large

    return inflate


def unpack(data: bytes, max_bytes: int, what: str) -> bytes:
    """`data` unpacked if it is gzip (a .gz feed file, or a body sent as a gzip file), at
    most `max_bytes` of it (a bomb is refused without being expanded); else `data`."""
    if not data.startswith(b"\x1f\x8b"):
        return data
    unzip = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = unzip.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise FeedError(f"{what} is not valid gzip ({exc})") from exc
    if len(out) > max_bytes:
        raise FeedError(f"{what} is larger than {_size(max_bytes)} once unpacked")
    return out


def _size(n: int) -> str:
    return f"{n / 1_000_000:g} MB" if n >= 1_000_000 else f"{n:,} bytes"
