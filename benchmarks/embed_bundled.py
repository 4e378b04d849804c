"""Regenerate the shipped vectors of the bundled corpus's sentences.

    .venv/bin/python benchmarks/embed_bundled.py

Writes `retrieval/data/bundled-hashes.npy` and `bundled-vectors.npy`: each sentence's hash and
its float16 vector. Sentences already in the shipped table are not embedded again, so this
only does work when the corpus, the sentence splitter or the encoder changes (then delete
the two files first to embed everything anew: about two minutes on two cores).
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from corpus import bundled_feed_path, load_feed
from retrieval import semantic

DATA = Path(semantic.__file__).parent / "data"


def main() -> int:
    enc = semantic.encoder()
    if enc is None:
        print("the sentence encoder cannot load here", file=sys.stderr)
        return 1
    paragraphs = [p for a in load_feed(bundled_feed_path()) for p in a.paragraphs]

    def progress(what: str, done: int, total: int) -> None:
        print(f"\r{what}: {done}/{total}", end="", file=sys.stderr)

    known = semantic.Known([semantic.bundled_table()])
    vectors = semantic.embed(paragraphs, known, enc, progress)
    hashes, order = np.unique(vectors.hashes, return_index=True)
    np.save(DATA / "bundled-hashes.npy", hashes, allow_pickle=False)
    np.save(DATA / "bundled-vectors.npy", np.ascontiguousarray(vectors.vectors[order]))
    print(f"\n{len(hashes)} sentences in {DATA}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()
    sys.exit(main())
