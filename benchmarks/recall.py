"""Retrieval recall of the answer step: is the answer among the candidates the ranker sees?

    .venv/bin/python benchmarks/recall.py QA.jsonl [QA.jsonl ...]

For each style, over the answerable items: the share whose answer some candidate span holds,
the share whose answer one of the encoder's closest sentences holds, and the share the
ranker puts first (before abstention).
"""

import argparse
import sys
from collections import defaultdict

from corpus.errors import QAFileError
from retrieval import Retriever, answering, evaluate, features


def main(paths: list[str]) -> int:
    try:
        items = [it for path in paths for it in evaluate.read_items(path)]
    except QAFileError as exc:  # a file's problem, in one line, before any work
        print(exc, file=sys.stderr)
        return 1
    r = Retriever.default()
    sentences = r._sentences(r.index)
    rows: dict[str, list[tuple[bool, bool, bool]]] = defaultdict(list)
    for it in items:
        alternatives = it.get("alternatives") or []  # null or absent: none
        gold = [evaluate._norm(g) for g in [it.get("answer"), *alternatives] if g]
        if not gold:
            continue
        query, _, _, found, model = answering.find_candidates(
            r.index, sentences, it["question"], it.get("context") or [], r.min_confidence
        )

        def holds(c, gold: list[str] = gold) -> bool:
            return any(g in evaluate._norm(c.passage.text[c.start : c.end]) for g in gold)

        def check(c, query=query) -> list[float]:
            return features.evidence_checks(r.index, query, c)

        ranked = model.choose(found, check)
        rows[it.get("style", "?")].append(
            (
                any(map(holds, found)),
                any(holds(c) for c in found if c.feature("cos_rank") > 0),
                bool(found) and holds(ranked[0][0]),
            )
        )
    if not rows:
        print(f"no answerable items in {', '.join(paths)}", file=sys.stderr)
        return 1
    print("| style | n | any candidate | the encoder's closest sentences | ranked first |")
    print("|---|---|---|---|---|")
    everything = [x for v in rows.values() for x in v]
    for style, v in [*sorted(rows.items()), ("all", everything)]:
        cells = " | ".join(f"{sum(x[i] for x in v) / len(v):.2f}" for i in range(3))
        print(f"| {style} | {len(v)} | {cells} |")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="+", metavar="QA.jsonl")
    sys.exit(main(parser.parse_args().paths))
