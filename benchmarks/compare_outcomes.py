"""Compare two fits on the items both were cross-validated on.

    .venv/bin/python benchmarks/compare_outcomes.py BEFORE.jsonl AFTER.jsonl

Each file is what `train_ranker.py --outcomes` or `train_crossencoder.py --outcomes` wrote:
every tuned-on item's outcome out of fold. Items only one fit read (added since) are left
out, so a fit on more items is judged on the same questions as the one before it. Printed
per fit: items, accuracy (an answerable item right at the first candidate and answered, an
unanswerable one withheld), top-1, abstain, false abstain; then the items each gained and
lost, with a two-sided sign test.
"""

import argparse
import json
import sys
from pathlib import Path

from scipy.stats import binomtest


def read(path: Path) -> dict[str, dict]:
    """The outcomes of a file, by item id."""
    lines = path.read_text("utf-8").splitlines()
    return {o["id"]: o for o in map(json.loads, filter(None, lines))}


def right(o: dict) -> bool:
    """Whether the item was handled right: answered correctly, or withheld without an answer."""
    return o["top1"] and o["answered"] if o["answerable"] else not o["answered"]


def figures(outcomes: list[dict]) -> dict[str, float | None]:
    """Accuracy, top-1, abstain and false abstain over `outcomes`."""
    answerable = [o for o in outcomes if o["answerable"]]
    unanswerable = [o for o in outcomes if not o["answerable"]]

    def share(hits: int, n: int) -> float | None:  # None (JSON null): no items of the kind
        return round(hits / n, 3) if n else None

    return {
        "items": len(outcomes),
        "accuracy": share(sum(map(right, outcomes)), len(outcomes)),
        "top1": share(sum(o["top1"] for o in answerable), len(answerable)),
        "abstain": share(sum(not o["answered"] for o in unanswerable), len(unanswerable)),
        "false_abstain": share(sum(not o["answered"] for o in answerable), len(answerable)),
    }


def compare(before: dict[str, dict], after: dict[str, dict]) -> dict:
    """Both fits' figures on the items they share, and the items gained and lost."""
    common = sorted(before.keys() & after.keys())
    gained = sum(right(after[i]) and not right(before[i]) for i in common)
    lost = sum(right(before[i]) and not right(after[i]) for i in common)
    p = binomtest(gained, gained + lost).pvalue if gained + lost else 1.0
    return {
        "before": figures([before[i] for i in common]),
        "after": figures([after[i] for i in common]),
        "gained": gained,
        "lost": lost,
        "p": round(p, 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args()
    print(json.dumps(compare(read(args.before), read(args.after)), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
