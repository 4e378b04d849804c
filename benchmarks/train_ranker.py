"""Fit the answer ranker and the abstention model on the project's tuned-on QA items.

    .venv/bin/python benchmarks/train_ranker.py            # writes retrieval/data/ranker.json
    .venv/bin/python benchmarks/train_ranker.py --dry-run  # only the cross-validated figures
    .venv/bin/python benchmarks/train_ranker.py --outcomes F  # and each item's outcome, to F

Only `tests/data/qa/tuned/` is read: the held-out items and the development set are never
used here. For every item, each candidate gets the label "its span holds the gold answer".
The ranker is a linear model fitted listwise (a softmax over the candidates of one question,
L2-regularised; evidence checks may only lower a score). The abstention model is a logistic
regression on the best candidate of each item as ranked out of fold, labelled "right". The
regularisation and the confidence threshold (for accuracy over the real mix of questions,
telling at most 8% of the answerable ones "not found") are chosen by cross-validation grouped
by article, so that no article is in both the fitted and the scored part. Both are fitted twice:
with the sentence encoder, and without it (for platforms where it cannot load).

A follow-up's candidates depend on the answer to the question before it, which the models
themselves choose. So the fit runs in two rounds and never reads the shipped model file:
the first with no previous answers given, the second with those the first round's models give.
"""

import argparse
import json
import sys
from pathlib import Path
from unittest import mock

import numpy as np
from scipy.optimize import minimize
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from retrieval import Retriever, answering, crossencoder, features, ranker, vectorstore
from retrieval.evaluate import _norm, read_items
from retrieval.text import normalize

ROOT = Path(__file__).resolve().parents[1]
TUNED = sorted((ROOT / "tests" / "data" / "qa" / "tuned").glob("*.jsonl"))
OUT = ROOT / "retrieval" / "data" / ranker.MODEL_FILE
FOLDS = 5
MAX_FALSE_ABSTAIN = 0.08
"""The most answerable questions (cross-validated) the threshold may tell "not found": the
accuracy over the mix barely moves across a wide range of thresholds, and picked on accuracy
alone the threshold drifts from one refit to the next into refusing too many."""
UNANSWERABLE = 0.11
"""The share of questions the archive cannot answer in real chats (as in the development set's
documented mix: 7 of 64). The tuned-on items hold more of them (26%), so the threshold is
chosen for accuracy with items weighted to this mix."""


def collect(r: Retriever, items: list[dict]) -> list[dict]:
    """Every item's candidates: features with all checks (n × inputs), labels, group, and the
    texts the cross-encoder reads (the question, and each candidate's span)."""
    index = r.index
    sentences = r._sentences(index)
    rows = []
    for it in items:
        query, terms, _, found, _ = answering.find_candidates(
            index, sentences, it["question"], it.get("context") or [], r.min_confidence
        )
        gold = [_norm(g) for g in [it.get("answer"), *(it.get("alternatives") or [])] if g]
        X = np.array(
            [c.features + features.evidence_checks(index, query, c) for c in found]
        ).reshape(len(found), len(features.FEATURES) + len(features.CHECKS))
        y = np.array(
            [any(g in _norm(c.passage.text[c.start : c.end]) for g in gold) for c in found]
        )
        links = [c.passage.title for c in found]
        earlier = (it.get("context") or []) if query.needs_context else []
        rows.append(
            {
                "id": it.get("id", ""),
                "X": X,
                "y": y,
                "answerable": bool(gold),
                "group": it.get("link") or (links[0] if links else it["question"]),
                "style": it.get("style", "?"),
                "asked": crossencoder.question_text(it["question"], earlier),
                "spans": [normalize(c.passage.text[c.start : c.end]) for c in found],
            }
        )
    return rows


def fit_rank(rows: list[dict], l2: float) -> np.ndarray:
    """Listwise softmax weights (raw feature space) over the items with a labelled candidate."""
    data = [(r["X"], r["y"]) for r in rows if r["y"].any()]
    allx = np.vstack([x for x, _ in data])
    mu, sd = allx.mean(0), allx.std(0) + 1e-9
    data = [((x - mu) / sd, y / y.sum()) for x, y in data]
    n = allx.shape[1]
    checks = len(features.CHECKS)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = l2 * w @ w, 2 * l2 * w
        for x, t in data:
            s = x @ w
            s = s - s.max()
            p = np.exp(s)
            p /= p.sum()
            value -= float(t @ np.log(p + 1e-12))
            grad = grad + x.T @ (p - t)
        return value, grad

    bounds = [(None, None)] * (n - checks) + [(None, 0.0)] * checks
    w = minimize(loss, np.zeros(n), jac=True, method="L-BFGS-B", bounds=bounds).x
    return w / sd


def best_of(rows: list[dict], w: np.ndarray) -> list[np.ndarray | None]:
    """For each item: the abstention inputs of its best candidate under weights `w`."""
    out = []
    for r in rows:
        if not len(r["X"]):
            out.append(None)
            continue
        s = r["X"] @ w
        order = np.argsort(-s, kind="stable")
        margin = s[order[0]] - s[order[1]] if len(s) > 1 else 1.0
        out.append(np.concatenate([[s[order[0]], margin], r["X"][order[0]]]))
        r["right"] = bool(r["y"][order[0]])
    return out


def fit(rows: list[dict], extra: tuple[str, ...] = ()) -> tuple[dict, dict, list[dict]]:
    """The fitted model (JSON), its cross-validated figures and each item's outcome out of
    fold (id, answerable, top1: its first candidate holds the answer, answered: it clears
    the threshold). extra: the names of the inputs the rows hold between FEATURES and
    CHECKS."""
    groups = np.array([r["group"] for r in rows])
    folds = list(GroupKFold(FOLDS).split(rows, groups=groups))
    answerable = [i for i, r in enumerate(rows) if r["answerable"]]
    best_l2, best_top1 = None, -1.0
    for l2 in (0.03, 0.1, 0.3, 1.0, 3.0):
        hits = 0
        for train, test in folds:
            w = fit_rank([rows[i] for i in train], l2)
            best_of([rows[i] for i in test], w)
            hits += sum(rows[i].get("right", False) for i in test if rows[i]["answerable"])
        top1 = hits / len(answerable)
        print(f"  l2={l2}: cross-validated top-1 {top1:.3f}", file=sys.stderr)
        if top1 > best_top1:
            best_l2, best_top1 = l2, top1
    # out-of-fold best candidates, for the abstention model
    inputs: list[np.ndarray | None] = [None] * len(rows)
    for train, test in folds:
        w = fit_rank([rows[i] for i in train], best_l2)
        for i, x in zip(test, best_of([rows[i] for i in test], w), strict=True):
            inputs[i] = x
    keep = [i for i, x in enumerate(inputs) if x is not None]
    X = np.array([inputs[i] for i in keep])
    y = np.array([rows[i]["answerable"] and rows[i]["right"] for i in keep])
    prob = np.zeros(len(keep))
    best_c, best_loss = 1.0, np.inf
    for c in (0.01, 0.03, 0.1, 0.3, 1.0):
        p = np.zeros(len(keep))
        for train, test in GroupKFold(FOLDS).split(X, groups=groups[keep]):
            lr = _logistic(c).fit(X[train], y[train])
            p[test] = lr.predict_proba(X[test])[:, 1]
        loss = -np.mean(y * np.log(p + 1e-9) + (1 - y) * np.log(1 - p + 1e-9))
        if loss < best_loss:
            best_c, best_loss, prob = c, loss, p
    answerable_kept = np.array([rows[i]["answerable"] for i in keep])
    checks = X[:, 2 + len(features.FEATURES) + len(extra) :]
    vetoed = checks[:, ranker.VETOES].any(axis=1)  # a failed veto check withholds
    threshold, accuracy = choose_threshold(prob, vetoed, answerable_kept, y)
    said = (prob >= threshold) & ~vetoed
    answered = dict(zip(keep, said.tolist(), strict=True))
    outcomes = [
        {
            "id": r["id"],
            "answerable": r["answerable"],
            "top1": bool(r.get("right", False)),
            "answered": answered.get(i, False),
        }
        for i, r in enumerate(rows)
    ]
    withheld = {  # None where the items hold none of that kind (a trial on a few)
        "cv_abstain": _share(~said[~answerable_kept]),
        "cv_false_abstain": _share(~said[answerable_kept]),
    }
    w = fit_rank(rows, best_l2)
    inputs_all = best_of(rows, w)
    Xa = np.array([x for x in inputs_all if x is not None])
    scale, lr = _logistic(best_c).fit(Xa, y)
    # back to raw inputs: w·(x - mean)/sd = (w/sd)·x - (w/sd)·mean
    coef = lr.coef_[0] / scale.scale_
    intercept = float(lr.intercept_[0] - coef @ scale.mean_)
    names = (*features.FEATURES, *extra, *features.CHECKS)
    model = {
        "rank": ranker.Linear(names, w).to_json(),
        "abstain": ranker.Linear(ranker.abstain_inputs(extra), coef, intercept).to_json(),
        "threshold": round(threshold, 2),
    }
    figures = {
        "items": len(rows),
        "l2": best_l2,
        "cv_top1": round(best_top1, 3),
        "abstain_C": best_c,
        "threshold": round(threshold, 2),
        "cv_accuracy": round(accuracy, 3),
        **withheld,
    }
    return model, figures, outcomes


def write_outcomes(outcomes: list[dict], path: Path) -> None:
    """The items' outcomes as JSON lines, for `compare_outcomes.py`."""
    path.write_text("".join(json.dumps(o) + "\n" for o in outcomes), encoding="utf-8")


def choose_threshold(
    prob: np.ndarray, vetoed: np.ndarray, answerable: np.ndarray, right: np.ndarray
) -> tuple[float, float]:
    """The confidence threshold and its accuracy over the real mix of questions (UNANSWERABLE
    of them have no answer): the highest within one item of the best accuracy, since where
    abstaining more costs nothing measurable "not found" is the honest answer, among those
    that tell at most MAX_FALSE_ABSTAIN of the answerable items "not found"."""
    share = 1 - answerable.mean()
    if 0 < share < 1:
        weight = np.where(answerable, (1 - UNANSWERABLE) / (1 - share), UNANSWERABLE / share)
    else:  # items of one kind only (a trial on a few): nothing to weigh them against
        weight = np.ones(len(answerable))
    grid, accuracies = [], []
    for t in np.arange(0.01, 0.95, 0.01):
        said = (prob >= t) & ~vetoed
        if grid and answerable.any() and np.mean(~said[answerable]) > MAX_FALSE_ABSTAIN:
            break
        grid.append(float(t))
        accuracies.append(float(weight @ np.where(answerable, said & right, ~said) / weight.sum()))
    best = max(accuracies)
    near = [t for t, a in zip(grid, accuracies, strict=True) if a >= best - 1 / len(prob)]
    return max(near), best


def _share(hits: np.ndarray) -> float | None:
    """The share of true values, rounded; None for no values."""
    return round(float(np.mean(hits)), 3) if len(hits) else None


def _logistic(c: float):
    """Logistic regression on standardised inputs, so that its regularisation weighs every
    input alike (a cosine moves by hundredths, a check by whole units)."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000))


def _answers_nothing() -> ranker.Model:
    """A model whose threshold no confidence reaches: no previous answer is ever given."""
    features_ = (*features.FEATURES, *features.CHECKS)
    return ranker.Model(
        ranker.Linear(features_, np.zeros(len(features_))),
        ranker.Linear(ranker.ABSTAIN_INPUTS, np.zeros(len(ranker.ABSTAIN_INPUTS))),
        threshold=2.0,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print figures, write nothing")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--outcomes", type=Path, help="write each item's cross-validated "
                        "outcome (of the last round's model with the encoder) to this file")  # fmt: skip
    args = parser.parse_args()
    items = [it for f in TUNED for it in read_items(f)]
    in_use = {name: _answers_nothing() for name in ("semantic", "lexical")}
    for round_ in (1, 2):
        models = {}
        for name in in_use:
            r = Retriever.default()
            if name == "lexical":
                r._vectors = vectorstore.SentenceStore()  # none: the encoder's features stay 0
            elif r._sentences(r.index) is None:
                print("the sentence encoder cannot load here", file=sys.stderr)
                return 1
            print(f"round {round_}, {name}: {len(items)} tuned-on items", file=sys.stderr)
            with mock.patch.object(ranker, "load", lambda path=None, m=in_use: m):
                rows = collect(r, items)
            model, figures, each = fit(rows)
            if args.outcomes and round_ == 2 and name == "semantic":
                write_outcomes(each, args.outcomes)
            print(f"round {round_}, {name}: {json.dumps(figures)}", file=sys.stderr)
            models[name] = model
        payload = {"format": ranker.FORMAT, "models": models}
        in_use = ranker.parse(json.dumps(payload))
    if not args.dry_run:
        args.out.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
