"""Shared fixtures: tiny fixture feeds and retrievers built from them."""

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
