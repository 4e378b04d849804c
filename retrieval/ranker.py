"""The learned ranker and abstention: which candidate answers, and how likely it is right.

Both are linear models fitted on the project's own QA items (`benchmarks/train_ranker.py`)
and shipped as one small JSON file. The ranker scores each candidate (a softmax over the
candidates of a question was fitted); the abstention model turns the best candidate's
evidence into a calibrated probability that it holds the answer. A best candidate that fails
an evidence check (another year, part of a year or round, another institution or officer,
no answer of the kind asked) is withheld outright: such failures are rare among the items the models are fitted on, too
rare for a fitted weight to carry, and decisive when they occur. There is one pair of
models with the sentence encoder and one without it, for platforms where it cannot load.
With the cross-encoder, a second stage follows: it scores the first stage's leading
candidates, and a third ranker and abstention model, which read its scores as more inputs
(CROSS), rank every candidate again.
Evidence checks only ever lower a score, so they are computed for the leading candidates
only: a candidate whose score without checks cannot beat the runner-up is never checked.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from .features import CHECKS, FEATURES, Candidate

MODEL_FILE = "ranker.json"
FORMAT = "feedqa-ranker-1"


@dataclass(frozen=True)
class Linear:
    """A linear model over named inputs: bias + Σ weight × input."""

    names: tuple[str, ...]
    weights: np.ndarray
    bias: float = 0.0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x @ self.weights + self.bias

    @classmethod
    def from_json(cls, data: dict) -> "Linear":
        return cls(tuple(data["names"]), np.array(data["weights"], float), float(data["bias"]))

    def to_json(self) -> dict:
        return {"names": list(self.names), "weights": self.weights.tolist(), "bias": self.bias}


VETOES = [CHECKS.index(c) for c in CHECKS if c not in ("focus_missing", "unknown_noun")]
"""The checks whose failure withholds an answer outright. A focus the paragraph misses and a
noun the archive never uses are as often a paraphrase (收摊 for 退出, 大牛 for 科学家) as a
thing the archive does not hold: they are left to the abstention model."""

CROSS = ("crossencoder", "crossencoder_gap", "crossencoder_prob", "crossencoder_none")
"""The second stage's extra inputs: the cross-encoder's score, its distance below the best score
of the question (a candidate it did not read gets the lowest score it gave), and, read as it was
trained (a softmax over the candidates it read and "none of these" at score 0), the candidate's
probability (0 if not read) and that of "none of these" (the same for every candidate)."""

RERANKED = 3
"""The first stage's leading candidates the cross-encoder reads. Measured out of fold on the
tuned-on items, reading three ranks as well as reading ten, and two almost as well."""

STAGES = {"semantic": (), "lexical": (), "crossencoder": CROSS}
"""The models a model file holds, and the inputs each reads beyond FEATURES."""


def abstain_inputs(extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """What an abstention model reads: the best candidate's score, its lead over the
    runner-up, and its inputs."""
    return ("score", "margin", *FEATURES, *extra, *CHECKS)


ABSTAIN_INPUTS = abstain_inputs()


@dataclass(frozen=True)
class Model:
    """The ranker and abstention model for one setting (with or without the encoder)."""

    rank: Linear  # over FEATURES + extra inputs + CHECKS
    abstain: Linear  # over abstain_inputs(extra inputs), a logit
    threshold: float  # the confidence below which an answer becomes "not found"

    def choose(
        self,
        candidates: list[Candidate],
        check: Callable[[Candidate], list[float]],
        extra: np.ndarray | None = None,
    ) -> tuple[list[Candidate], float]:
        """The candidates best first (the checked ones lead), and the probability that the
        first holds the answer. extra: the inputs beyond FEATURES, a row per candidate."""
        inputs = np.array([c.features for c in candidates], float)
        if extra is not None:
            inputs = np.hstack([inputs, extra])
        n = inputs.shape[1]
        w_features, w_checks = self.rank.weights[:n], self.rank.weights[n:]
        base = inputs @ w_features
        order = np.argsort(-base, kind="stable")
        scored: list[tuple[float, int]] = []
        for i in order:
            if len(scored) >= 2 and base[i] <= scored[1][0]:
                break  # checks only lower a score: this one cannot reach the top two
            c = candidates[i]
            if c.checks is None:
                c.checks = check(c)
            scored.append((float(base[i] + np.dot(w_checks, c.checks)), int(i)))
            scored.sort(key=lambda s: -s[0])
        first = [i for _, i in scored]
        checked = set(first)
        ranked = [candidates[i] for i in first + [int(i) for i in order if i not in checked]]
        score = scored[0][0]
        margin = score - scored[1][0] if len(scored) > 1 else 1.0
        best = ranked[0]
        if any(best.checks[i] for i in VETOES):  # evidence against it: withheld
            return ranked, 0.0
        x = np.concatenate([[score, margin], inputs[first[0]], best.checks])
        return ranked, float(1 / (1 + np.exp(-self.abstain(x))))


def cross_inputs(n: int, read: list[int], scores: np.ndarray) -> np.ndarray:
    """The CROSS inputs of `n` candidates, of which those at `read` got `scores`."""
    if not len(scores):
        return np.zeros((n, len(CROSS)))
    value = np.full(n, scores.min())
    value[read] = scores
    top = max(0.0, float(scores.max()))  # a softmax with "none of these" at 0, kept finite
    odds, none = np.exp(scores - top), np.exp(-top)
    total = none + odds.sum()
    prob = np.zeros(n)
    prob[read] = odds / total
    return np.stack([value, value - scores.max(), prob, np.full(n, none / total)], axis=1)


@cache
def load(path: str | None = None) -> dict[str, Model]:
    """The shipped models ("semantic" with the encoder, "lexical" without, "crossencoder" after
    them with the cross-encoder), or those at `path`."""
    if path is None:
        text = resources.files(__package__).joinpath("data", MODEL_FILE).read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    return parse(text)


def parse(text: str) -> dict[str, Model]:
    """The models of a model file's text, checked against this version's inputs."""
    data = json.loads(text)
    if data.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} model file")
    models = {}
    for name, m in data["models"].items():
        if name not in STAGES:
            raise ValueError(f"unknown model {name!r}")
        extra = STAGES[name]
        rank = _by_name(Linear.from_json(m["rank"]), (*FEATURES, *extra, *CHECKS))
        abstain = _by_name(Linear.from_json(m["abstain"]), abstain_inputs(extra))
        if (rank.weights[-len(CHECKS) :] > 0).any():
            raise ValueError(f"{name}: an evidence check must not raise a score")
        models[name] = Model(rank, abstain, float(m["threshold"]))
    return models


def _by_name(model: Linear, names: tuple[str, ...]) -> Linear:
    """`model` over `names`: an input it was not fitted with gets no weight (so a new feature can
    be added before the model is fitted again); one it has that is not here is an error."""
    unknown = set(model.names) - set(names)
    if unknown:
        raise ValueError(f"the model reads inputs this version does not have: {sorted(unknown)}")
    given = dict(zip(model.names, model.weights, strict=True))
    return Linear(names, np.array([given.get(n, 0.0) for n in names]), model.bias)
