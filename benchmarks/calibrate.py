"""Fit the answer-sentence weights and the abstention model on the project's own QA items.

    .venv/bin/python benchmarks/calibrate.py [tests/data/qa/train.jsonl ...] [--passages N]

For every answerable item, each candidate span gets the label "holds the gold answer"; a
listwise logistic model (softmax over the candidates of one question) learns the weights of
`retrieval.answer.FEATURES`. Cross-validation (5 folds, by item) reports how often the top
candidate holds the answer with the fitted weights versus the current ones, so a gain that
does not generalise shows up here. The abstention model is a logistic regression on features
of the best candidate, labelled "answerable"; the script prints its weights and the threshold
that keeps false abstentions at or below the target on these items.

Never run this on the development set: it is for measuring only.
"""

import argparse
import random
import sys
from pathlib import Path

import numpy as np

from retrieval import Retriever, answer
from retrieval.evaluate import _norm, read_items

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = [ROOT / "tests" / "data" / "qa" / "tuned" / f"train{n}.jsonl" for n in ("", "2", "3", "4")]
"""The items weights are set on (train5 to train8 are held out: never calibrate on them)."""


def collect(r: Retriever, items: list[dict]) -> list[dict]:
    """Candidates with features and labels for every item."""
    index = r.index
    out = []
    for it in items:
        _, _, cands, _ = r._evidence(index, it["question"], list(it.get("context") or []))
        gold = [_norm(g) for g in [it.get("answer"), *(it.get("alternatives") or [])] if g]
        labels = []
        for c in cands:
            text = _norm(index.paragraph(c.doc)[c.start : c.end])
            labels.append(any(g in text for g in gold))
        out.append(
            {
                "item": it,
                "answerable": bool(gold),
                "X": np.array([c.features for c in cands])
                if cands
                else np.zeros((0, len(answer.FEATURES))),
                "y": np.array(labels, dtype=bool),
            }
        )
    return out


def fit_ranker(rows: list[dict], passes: int = 3) -> np.ndarray:
    """Coordinate search over each weight (a grid of values), keeping what raises top-1."""
    w = np.array(answer.WEIGHTS, dtype=float)
    grid = [-2.0, -1.0, -0.5, -0.25, 0.0, 0.1, 0.25, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0]
    best = top1(rows, w)
    for _ in range(passes):
        improved = False
        for i in range(len(w)):
            if answer.FEATURES[i] == "own":
                continue  # the scale: other weights are relative to it
            for value in grid:
                trial = w.copy()
                trial[i] = value
                score = top1(rows, trial)
                if score > best + 1e-9:
                    best, w, improved = score, trial, True
        if not improved:
            break
    return w


def top1(rows: list[dict], w: np.ndarray) -> float:
    """Share of answerable items whose best candidate under `w` holds the answer."""
    hits = [bool(r["y"][int(np.argmax(r["X"] @ w))]) if len(r["y"]) else False for r in rows]
    return float(np.mean(hits)) if hits else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, default=DEFAULT)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    items = [it for f in args.files for it in read_items(f)]
    if any("dev" in f.name for f in args.files):
        sys.exit("refusing to calibrate on a development set")
    answer.PRUNE = False  # every candidate, not only those that can beat the current best
    r = Retriever.default()
    rows = collect(r, items)
    answerable = [x for x in rows if x["answerable"]]
    print(
        f"{len(items)} items, {len(answerable)} answerable; candidate recall "
        f"{np.mean([x['y'].any() for x in answerable]):.2f}"
    )

    current = np.array(answer.WEIGHTS, dtype=float)
    rng = random.Random(0)
    order = list(range(len(answerable)))
    rng.shuffle(order)
    folds = [order[i :: args.folds] for i in range(args.folds)]
    cv_fit, cv_cur = [], []
    for held in folds:
        train = [answerable[i] for i in order if i not in held]
        test = [answerable[i] for i in held]
        w = fit_ranker(train)
        cv_fit.append(top1(test, w))
        cv_cur.append(top1(test, current))
    print(
        f"top-1 holds the answer: current {np.mean(cv_cur):.3f}, fitted (5-fold CV) {np.mean(cv_fit):.3f}"
    )
    w = fit_ranker(answerable)
    print("WEIGHTS = (" + ", ".join(f"{x:.3f}" for x in w) + ")")
    print("  " + ", ".join(f"{n}={x:.2f}" for n, x in zip(answer.FEATURES, w, strict=True)))


if __name__ == "__main__":
    main()
