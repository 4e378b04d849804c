"""Switch off one answer mechanism at a time and measure what it adds.

    .venv/bin/python benchmarks/ablation.py QA.jsonl [NAME=QA.jsonl,QA.jsonl ...]

Prints a Markdown table: accuracy, ans@1, abstain and false abstain of the full system, then
of the system without each mechanism, on each QA file (or on a named group of files, pooled).
"""

import re
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

from retrieval import Retriever, answer, evaluate, retriever


def _without_feature(name: str) -> tuple[object, str, object]:
    """A patch that gives answer feature `name` no weight."""
    weights = tuple(
        0.0 if f == name else w for f, w in zip(answer.FEATURES, answer.WEIGHTS, strict=True)
    )
    return (answer, "WEIGHTS", weights)


_NEVER = re.compile(r"(?!)")

OFF: dict[str, list[tuple[object, str, object]]] = {
    "answer typing": [_without_feature("type")],
    "focus words in the sentence": [_without_feature("focus")],
    "places for where-questions (organisations only when asked)": [
        (answer, "_WHERE_ORGANISATION", re.compile(".")),
        (answer, "_tagged_places", lambda text: ()),
    ],
    "focus check (abstention)": [(retriever, "FOCUS_MISSING", 1.0)],
    "another year, part of a year, round or edition (abstention)": [
        (answer, "contradicts", lambda q, s: False)
    ],
    "another bank, group or university than asked (abstention)": [
        (answer, "other_institution", lambda q, s, e: False)
    ],
    "another chief officer than asked (abstention)": [(answer, "other_chief", lambda q, e: False)],
    "name of the kind asked (哪所大学)": [(answer, "named_kind", lambda q, s: None)],
    "a company's name for 哪家公司": [(answer, "_COMPANY_ASKED", _NEVER)],
    "who said it: the speaker of a quotation": [(answer, "speaker", lambda text, start: None)],
    "the n-th item of a list (第二项 → 二是…)": [
        (answer, "ordinal_asked", lambda question: None),
        (answer, "enumerated", lambda sentence: None),
    ],
    "a date is not a number": [(answer, "_CALENDAR", _NEVER)],
    "continuations (分别是:, 包括, 上述)": [
        (answer, "announces", lambda text: False),
        (answer, "_GOES_ON", _NEVER),
        (answer, "_LISTS", _NEVER),
        (answer, "_REFERS", _NEVER),
    ],
    "confidence threshold": [(retriever, "DEFAULT_MIN_CONFIDENCE", 0.0)],
    "thesaurus synonyms": [(retriever, "SYNONYMS", 0), (retriever, "SYNONYM_CREDIT", 0.0)],
    "mined aliases": [(retriever.Retriever, "_aliases", lambda self, index: {})],
    "gapped character matches": [(answer, "GAP_CREDIT", 0.0)],
    "next-paragraph candidates": [(retriever, "NEXT", 0.0)],
    "rest of the top article": [(retriever, "ARTICLE", 0.0)],
    "follow-up history": [(retriever, "HISTORY", 0.0)],
    "question echo penalty": [_without_feature("echo")],
}


Group = tuple[str, list[Path]]


def measure(
    groups: list[Group], patches: list[tuple[object, str, object]]
) -> list[dict[str, float]]:
    """The summary metrics on each group of files with `patches` applied."""
    with ExitStack() as stack:
        for target, name, value in patches:
            stack.enter_context(mock.patch.object(target, name, value))
        _clear_caches()  # question-level checks are cached: recompute them under the patches
        r = Retriever.default()
        return [
            evaluate.summarize(
                evaluate.run(r, [item for f in files for item in evaluate.read_items(f)])
            )
            for _, files in groups
        ]


def _clear_caches() -> None:
    for module in (answer, retriever):
        for value in vars(module).values():
            if hasattr(value, "cache_clear"):
                value.cache_clear()


def _group(arg: str) -> Group:
    name, _, paths = arg.rpartition("=")
    files = [Path(p) for p in paths.split(",")]
    return name or files[0].stem, files


def main() -> None:
    groups = [_group(a) for a in sys.argv[1:]]
    if not groups:
        sys.exit(__doc__)
    cols = ["accuracy", "ans@1", "abstain", "false_abstain"]
    fmt: Callable[[float], str] = lambda v: f"{v:.2f}"  # noqa: E731
    header = "| system | " + " | ".join(f"{name} {c}" for name, _ in groups for c in cols) + " |"
    print(header)
    print("|" + "---|" * (1 + len(groups) * len(cols)))
    full = measure(groups, [])
    print("| full | " + " | ".join(fmt(m[c]) for m in full for c in cols) + " |")
    for name, patches in OFF.items():
        rows = measure(groups, patches)
        cells = [
            f"{fmt(m[c])} ({m[c] - f[c]:+.2f})"
            for m, f in zip(rows, full, strict=True)
            for c in cols
        ]
        print(f"| without {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
