"""Switch off one answer mechanism at a time and measure what it adds.

    .venv/bin/python benchmarks/ablation.py NAME=QA.jsonl[,QA.jsonl...] ...

Prints a Markdown table: accuracy, ans@1, abstain and false abstain of the full system, then
of the system without each mechanism, on each named group of QA files (pooled). The ranker
keeps its fitted weights: a mechanism switched off gives its features nothing to see, so a
row shows what the shipped system would lose without it.
"""

import argparse
import re
import sys
from contextlib import ExitStack
from unittest import mock

from corpus.errors import QAFileError
from retrieval import (
    Retriever,
    answering,
    candidates,
    crossencoder,
    evaluate,
    features,
    kinds,
    ranker,
    spans,
)

_NEVER = re.compile(r"(?!)")

OFF: dict[str, list[tuple[object, str, object]]] = {
    "sentence encoder (lexical model)": [(Retriever, "_sentences", lambda self, index: None)],
    "cross-encoder (the first ranking stands)": [(crossencoder, "cross_encoder", lambda: None)],
    "encoder's own candidates (BM25's only)": [(candidates, "SEMANTIC", 0)],
    "evidence vetoes (checks as features only)": [(ranker, "VETOES", [])],
    "the best hit's article read around it": [(candidates, "ARTICLE_REACH", 0)],
    "follow-ups borrow from the chat": [(candidates, "HISTORY", 0.0)],
    "follow-ups: closeness to the previous answer": [(features, "nearness", lambda *a: {})],
    "answers join neighbouring leading candidates": [
        (answering, "widen", lambda ranked, *a, **k: (ranked[0].start, ranked[0].end))
    ],
    "continuations (分别是:, 包括, 上述)": [
        (spans, "announces", lambda text: False),
        (spans, "GOES_ON", _NEVER),
        (spans, "REFERS", _NEVER),
    ],
    "who said it: the speaker of a quotation": [(spans, "speaker", lambda text, start: None)],
    "name of the kind asked (哪所大学, 哪家公司)": [
        (kinds, "named_kind", lambda q, s: None),
        (features, "named_kind", lambda q, s: None),
    ],
}


def _run(items: list[dict]) -> dict[str, float]:
    r = Retriever.default()
    return evaluate.summarize(evaluate.run(r, items))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("groups", nargs="+", metavar="NAME=QA.jsonl[,QA.jsonl...]")
    groups = {}
    for arg in parser.parse_args(argv).groups:
        name, eq, paths = arg.partition("=")
        if not (name and eq and paths):
            parser.error(f"{arg!r} is not NAME=QA.jsonl[,QA.jsonl...]")
        try:  # every file read first: a file's problem in one line, before any work
            groups[name] = [it for p in paths.split(",") for it in evaluate.read_items(p)]
        except QAFileError as exc:
            print(exc, file=sys.stderr)
            return 1
    header = "| mechanism off | " + " | ".join(
        f"{n}: accuracy / ans@1 / abstain / false abstain" for n in groups
    )
    print(header + " |\n|---|" + "---|" * len(groups))
    for label, patches in [("(none: the full system)", []), *OFF.items()]:
        cells = []
        with ExitStack() as stack:
            for target, attr, value in patches:
                stack.enter_context(mock.patch.object(target, attr, value))
            for items in groups.values():
                m = _run(items)
                cells.append(
                    f"{m['accuracy']:.3f} / {m['ans@1']:.2f} / {m['abstain']:.2f} / "
                    f"{m['false_abstain']:.2f}"
                )
        print(f"| {label} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
