"""The ranker's training: the same file from the same items, never read from the shipped one."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from retrieval import ranker

ROOT = Path(__file__).resolve().parents[1]


def test_training_is_reproducible_and_never_reads_the_shipped_model(tmp_path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import train_ranker

    tuned = sorted((ROOT / "tests" / "data" / "qa" / "tuned").glob("*.jsonl"))
    lines = [line for f in tuned for line in f.read_text("utf-8").splitlines()[:6]]
    few = tmp_path / "few.jsonl"
    few.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(train_ranker, "TUNED", [few])

    def shipped(path: str | None = None) -> dict:
        raise AssertionError("the fit read the shipped model file")

    monkeypatch.setattr(ranker, "load", shipped)
    written, outcomes = [], []
    for n in (1, 2):
        out, each = tmp_path / f"ranker{n}.json", tmp_path / f"outcomes{n}.jsonl"
        argv = ["train_ranker.py", "--out", str(out), "--outcomes", str(each)]
        monkeypatch.setattr(sys, "argv", argv)
        assert train_ranker.main() == 0
        written.append(out.read_text("utf-8"))
        outcomes.append(each.read_text("utf-8"))
    assert written[0] == written[1] and outcomes[0] == outcomes[1]
    ids = [json.loads(line)["id"] for line in outcomes[0].splitlines()]
    assert ids == [json.loads(line)["id"] for line in lines]
    assert set(ranker.parse(written[0])) == {"semantic", "lexical"}


def test_the_threshold_tells_few_answerable_questions_not_found(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import train_ranker

    # 100 answerable items, 30 of them answered wrong at low confidence, and 100 that are not
    # answerable, at the same low confidence: refusing more and more of them raises accuracy
    # over the mix, and tells the 30 answerable ones "not found" too
    low = np.linspace(0.1, 0.3, 30)
    prob = np.concatenate([low, np.linspace(0.6, 0.95, 70), np.linspace(0.1, 0.3, 100)])
    answerable = np.arange(200) < 100
    right = answerable & (np.arange(200) >= 30)
    vetoed = np.zeros(200, bool)
    threshold, _ = train_ranker.choose_threshold(prob, vetoed, answerable, right)
    refused = np.mean(prob[answerable] < threshold)
    assert refused <= train_ranker.MAX_FALSE_ABSTAIN
    monkeypatch.setattr(train_ranker, "MAX_FALSE_ABSTAIN", 1.0)  # unbounded: it goes past
    assert train_ranker.choose_threshold(prob, vetoed, answerable, right)[0] > threshold


@pytest.mark.parametrize("answerable", [True, False])
def test_the_threshold_of_items_of_one_kind_only_is_a_number(monkeypatch, answerable) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import train_ranker

    prob = np.linspace(0.1, 0.9, 20)
    kind = np.full(20, answerable)
    with np.errstate(all="raise"):  # no division by an empty share
        threshold, accuracy = train_ranker.choose_threshold(prob, np.zeros(20, bool), kind, kind)
    assert 0 < threshold < 1 and 0 <= accuracy <= 1


def test_recall_reads_every_file_eval_accepts(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import recall

    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        '{"question": "京东科技计划在香港IPO募资多少?", "answer": "10亿至20亿美元", '
        '"alternatives": null}\n',
        encoding="utf-8",
    )
    assert recall.main([str(qa)]) == 0
    assert "| all | 1 | 1.00 |" in capsys.readouterr().out
    qa.write_text('{"question": "蚂蚁集团的猫叫什么?", "answer": null}\n', encoding="utf-8")
    assert recall.main([str(qa)]) == 1  # nothing to measure: said, not a ZeroDivisionError
    assert "no answerable items" in capsys.readouterr().err


def test_recall_and_ablation_name_a_bad_qa_file_in_one_line(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import ablation
    import recall

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": null}\n{oops\n', encoding="utf-8")
    for run in (lambda: recall.main([str(bad)]), lambda: ablation.main([f"dev={bad}"])):
        assert run() == 1
        out, err = capsys.readouterr()
        assert out == "" and err.startswith(f"{bad} line 2: not JSON") and err.count("\n") == 1
    with pytest.raises(SystemExit) as exited:
        ablation.main([str(bad)])  # no NAME=
    assert exited.value.code == 2 and "NAME=QA.jsonl" in capsys.readouterr().err


def test_two_fits_are_compared_on_the_items_both_read(tmp_path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import compare_outcomes

    def outcome(i: str, answerable: bool, top1: bool, answered: bool) -> dict:
        return {"id": i, "answerable": answerable, "top1": top1, "answered": answered}

    before = [
        outcome("a", True, True, True),  # right in both
        outcome("b", True, False, True),  # gained: right after
        outcome("c", False, False, True),  # gained: withheld after
        outcome("d", True, True, True),  # lost: withheld after
    ]
    after = [
        outcome("a", True, True, True),
        outcome("b", True, True, True),
        outcome("c", False, False, False),
        outcome("d", True, True, False),
        outcome("e", True, False, True),  # read only by the later fit: left out
    ]
    files = []
    for name, rows in (("before", before), ("after", after)):
        files.append(tmp_path / f"{name}.jsonl")
        files[-1].write_text("".join(json.dumps(o) + "\n" for o in rows), encoding="utf-8")
    got = compare_outcomes.compare(*map(compare_outcomes.read, files))
    assert got["before"] == {
        "items": 4, "accuracy": 0.5, "top1": 0.667, "abstain": 0.0, "false_abstain": 0.0
    }  # fmt: skip
    assert got["after"]["items"] == 4 and got["after"]["accuracy"] == 0.75
    assert got["after"]["false_abstain"] == 0.333 and got["after"]["abstain"] == 1.0
    assert (got["gained"], got["lost"]) == (2, 1)
    only_answerable = compare_outcomes.figures([outcome("a", True, True, True)])
    assert only_answerable["abstain"] is None  # JSON null, not NaN
    json.dumps(only_answerable, allow_nan=False)
