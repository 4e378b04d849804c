"""Shared fixtures: tiny fixture feeds and retrievers built from them, a local HTTP server."""

import contextlib
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

# imported at collection: imported first by its plugin in pytest's summary, from a deep stack,
# rewriting it can fail on Python 3.11.7 ("AST constructor recursion depth mismatch")
import hypothesis  # noqa: F401
import pytest

from corpus import Article, load_feed
from retrieval import Retriever

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def tiny_articles() -> list[Article]:
    """Six short articles: three from an RSS 2.0 feed, three from an Atom feed."""
    return load_feed(DATA / "tiny.rss.xml") + load_feed(DATA / "tiny.atom.xml")


@pytest.fixture(scope="session")
def tiny(tiny_articles: list[Article]) -> Retriever:
    """A retriever over the tiny fixture feeds."""
    return Retriever.from_articles(tiny_articles)


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory, tiny_articles: list[Article]) -> Path:
    """A library of the bundled corpus plus the six tiny articles (55), to copy."""
    path = tmp_path_factory.mktemp("seed") / "lib"
    Retriever.open(path).add(tiny_articles)
    return path


@pytest.fixture
def lib(tmp_path: Path, seeded: Path) -> Path:
    """A fresh copy of the seeded library."""
    shutil.copytree(seeded, tmp_path / "lib")
    return tmp_path / "lib"


@pytest.fixture(scope="session")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> Retriever:
    """The bundled corpus, cached in a temporary folder."""
    return Retriever.default(cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture
def asked_histories(retriever: Retriever, monkeypatch: pytest.MonkeyPatch) -> list:
    """The chat history each `retriever.ask` call gets, in order (the module's `retriever`)."""
    seen: list = []
    real_ask = retriever.ask
    monkeypatch.setattr(
        retriever, "ask", lambda q, h=None, k=3: seen.append(h) or real_ask(q, h, k)
    )
    return seen


@contextlib.contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threaded HTTP server on 127.0.0.1 answering with `handler`; yields its base URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy from the environment: requests to the local server go straight to it."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
