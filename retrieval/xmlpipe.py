"""A shard's articles as an xmlpipe2 stream for Sphinx's `indexer`.

`indexer` runs `python -m retrieval.xmlpipe SHARD_FILE` (the `xmlpipe_command` of a shard's
source) and indexes what it prints. Each paragraph is one document:

* id: `slot << PARA_BITS | paragraph`, so the paragraphs of an article are consecutive ids
  (the answer step reads a hit's neighbours as doc ± 1);
* the full-text field `body`: feedqa's own tokens joined by spaces (`engine_term` keeps each
  token one engine keyword), so the engine counts exactly our terms;
* attributes: `shard`, `para`, `npara`, `dl` (token count, for exact BM25), `txt` (the
  paragraph itself: the 2.2 series stores no text fields) and `meta` (the article's record as
  JSON, on paragraph 0 only).

A shard file holds JSON lines `{"slot": int, "kill": int, "article": {...}}`; `kill` is the
number of paragraphs the article had in the main index, which a delta index kills.
"""

import hashlib
import json
import re
import sys
from collections.abc import Iterable, Iterator
from typing import IO
from xml.sax.saxutils import escape

PARA_BITS = 16
"""Paragraph bits of a document id: an article keeps at most 65,536 paragraphs."""

MAX_PARAS = 1 << PARA_BITS

_PLAIN = re.compile(r"[0-9a-z\u3400-\u9fff\uf900-\ufaff]{1,40}")
_INVALID_XML = re.compile(r"[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

CHARSET_TABLE = "0..9, a..z, _, U+3400..U+9FFF, U+F900..U+FAFF"
"""The engine's word characters: every character a plain term may hold, plus `_`."""

SCHEMA = (
    '<sphinx:schema><sphinx:field name="body"/>'
    '<sphinx:attr name="shard" type="int" bits="16"/>'
    '<sphinx:attr name="para" type="int" bits="32"/>'
    '<sphinx:attr name="npara" type="int" bits="32"/>'
    '<sphinx:attr name="dl" type="int" bits="32"/>'
    '<sphinx:attr name="txt" type="string"/>'
    '<sphinx:attr name="meta" type="string"/>'
    "</sphinx:schema>"
)


def engine_term(token: str) -> str:
    """The engine keyword of a feedqa token: itself when it holds only word characters (and
    is short), else `_` and a hash, so no token is ever split or merged by the engine."""
    if _PLAIN.fullmatch(token):
        return token
    return "_" + hashlib.blake2b(token.encode("utf-8"), digest_size=10).hexdigest()


def doc_id(slot: int, para: int) -> int:
    """The engine id of paragraph `para` of the article in `slot`."""
    return slot << PARA_BITS | para


def read_entries(path: str) -> list[dict]:
    """The entries of a shard file, the last entry of each article id winning."""
    entries: dict[str, dict] = {}
    try:
        with open(path, "rb") as f:  # bytes: a line torn inside a character spoils only itself
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:  # (UnicodeDecodeError too)
                    continue  # a torn last line after a crash
                old = entries.get(entry["article"]["id"])
                if old:  # the main index's paragraphs die whichever version comes last
                    entry["kill"] = max(entry.get("kill", 0), old.get("kill", 0))
                entries[entry["article"]["id"]] = entry
    except FileNotFoundError:
        pass
    return list(entries.values())


def documents(entries: Iterable[dict], shard: int) -> Iterator[str]:
    """The xmlpipe2 `<sphinx:document>` elements of `entries`."""
    from corpus import Article

    from .records import article_record
    from .text import tokenize

    for entry in entries:
        article = Article.model_validate(entry["article"])
        paragraphs = article.paragraphs[:MAX_PARAS]
        record = article_record(article.model_copy(update={"paragraphs": paragraphs}))
        meta = escape(_clean(json.dumps(record, ensure_ascii=False)))
        for para, text in enumerate(paragraphs):
            terms = [engine_term(t) for t in tokenize(text)]
            yield (
                f'<sphinx:document id="{doc_id(entry["slot"], para)}">'
                f"<body>{' '.join(terms)}</body><shard>{shard}</shard><para>{para}</para>"
                f"<npara>{len(paragraphs)}</npara><dl>{len(terms)}</dl>"
                f"<txt>{escape(_clean(text))}</txt><meta>{meta if para == 0 else ''}</meta>"
                "</sphinx:document>\n"
            )


def _clean(text: str) -> str:
    """Text without characters XML cannot carry."""
    return _INVALID_XML.sub("", text)


def write_stream(out: IO[str], entries: list[dict], shard: int, *, kill: bool) -> None:
    """The whole xmlpipe2 stream of `entries`; with `kill`, the ids of the main index they
    replace go into its kill-list."""
    out.write(f'<?xml version="1.0" encoding="utf-8"?>\n<sphinx:docset>{SCHEMA}\n')
    for doc in documents(entries, shard):
        out.write(doc)
    if kill:
        out.write("<sphinx:killlist>")
        for entry in entries:
            for para in range(entry.get("kill", 0)):
                out.write(f"<id>{doc_id(entry['slot'], para)}</id>")
        out.write("</sphinx:killlist>\n")
    out.write("</sphinx:docset>\n")


def main(argv: list[str]) -> None:
    """`python -m retrieval.xmlpipe FILE SHARD [--kill]`: print the stream of a shard file."""
    path, shard = argv[0], int(argv[1])
    write_stream(sys.stdout, read_entries(path), shard, kill="--kill" in argv[2:])


if __name__ == "__main__":
    main(sys.argv[1:])
