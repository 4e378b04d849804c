"""`feedqa eval` on malformed QA files: one clear line naming the file and line, never a traceback."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from retrieval import FeedqaError, evaluate

QA = Path(__file__).parent / "data" / "qa"

GOOD = {
    "id": "1",
    "question": "京东科技计划在香港IPO募资多少?",
    "answer": "10亿至20亿美元",
    "alternatives": [],
    "evidence": "京东科技计划在香港IPO,募资10亿至20亿美元。",
    "link": "//www.xyschoolife.com/category/BigTech/sPmMM8JZQzS3TDis.html",
    "style": "lexical",
    "type": "number",
}
UNANSWERABLE = {
    **GOOD,
    "id": "2",
    "question": "红烧肉怎么做?",
    "answer": None,
    "evidence": None,
    "link": None,
    "style": "unanswerable",
    "type": "what",
}


@pytest.fixture
def env(tmp_path, monkeypatch) -> None:
    """An isolated data and cache folder for the command (as in test_cli.py)."""
    monkeypatch.setenv("FEEDQA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)


def _eval(path: Path):
    return CliRunner().invoke(cli, ["--bundled", "eval", str(path)])


def _assert_one_line_error(qa: Path, error: str) -> None:
    """`feedqa eval qa` fails cleanly (not a crash) with exactly one line: the file, then `error`."""
    result = _eval(qa)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not a crash
    assert "Traceback" not in result.output
    assert result.output.strip().splitlines() == [f"Error: {qa} {error}"]


def _line(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({**GOOD, "answer": 5}, "answer must be a string or null"),
        ({**GOOD, "answer": ["a", "b"]}, "answer must be a string or null"),
        ({**GOOD, "link": 3}, "link must be a string or null"),
        ({**GOOD, "style": ["x"]}, "style must be a string"),
        ({**GOOD, "style": None}, "style must be a string"),
        ({**GOOD, "question": None}, "question must be a string"),
        ({k: v for k, v in GOOD.items() if k != "question"}, "question is missing"),
        (
            {"question": "京东科技?", "answers": ["上市"]},  # a typo for "answer"
            "answer is missing (null for a question the archive does not answer)",
        ),
        ({**GOOD, "alternatives": "10亿"}, "alternatives must be a list of strings"),
        ({**GOOD, "alternatives": [1]}, "alternatives must be a list of strings"),
        ({**GOOD, "context": "上一个问题"}, "context must be a list of strings"),
        ({**GOOD, "id": ["1"]}, "id must be a string or a whole number"),
        (["question", "answer"], "an item must be a JSON object"),
        (5, "an item must be a JSON object"),
        ("京东科技?", "an item must be a JSON object"),
    ],
    ids=[
        "answer-int",
        "answer-list",
        "link-int",
        "style-list",
        "style-null",
        "question-null",
        "question-missing",
        "answer-missing",
        "alternatives-str",
        "alternatives-int",
        "context-str",
        "id-list",
        "array",
        "number",
        "string",
    ],
)
def test_eval_names_the_line_of_a_mistyped_item(env, tmp_path, line, message) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_bytes(b"\n".join([_line(GOOD), b"", _line(line), _line(UNANSWERABLE)]))
    _assert_one_line_error(qa, f"line 3: {message}")


@pytest.mark.parametrize("one_line", [True, False], ids=["one-line", "pretty-printed"])
def test_eval_says_a_json_array_file_is_not_json_lines(env, tmp_path, one_line: bool) -> None:
    """A file holding one JSON array of the items (a common way to write them) said "line 1:
    not JSON (Expecting value…)" or "an item must be a JSON object"."""
    qa = tmp_path / "qa.json"
    text = json.dumps([GOOD, UNANSWERABLE], ensure_ascii=False, indent=None if one_line else 2)
    qa.write_text(text, encoding="utf-8")
    _assert_one_line_error(qa, "holds a JSON array: eval reads one JSON object a line (JSON Lines)")


def test_eval_names_the_line_that_is_not_utf8(env, tmp_path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_bytes(_line(GOOD) + b"\n" + _line(UNANSWERABLE).replace("红".encode(), b"\xe7\xba"))
    _assert_one_line_error(qa, "line 2: not valid UTF-8")


def test_eval_names_the_line_that_is_not_json(env, tmp_path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_bytes(_line(GOOD) + b"\n{oops\n")
    result = _eval(qa)
    assert result.exit_code == 1 and "Traceback" not in result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"Error: {qa} line 2: not JSON")


def test_eval_accepts_a_bom_blank_lines_and_crlf(env, tmp_path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_bytes(b"\xef\xbb\xbf" + _line(GOOD) + b"\r\n  \r\n\n" + _line(UNANSWERABLE) + b"\r\n")
    result = _eval(qa)
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].split()[:3] == ["all", "2", "1.00"]


def test_read_items_keeps_the_items_as_written(tmp_path) -> None:
    qa = tmp_path / "qa.jsonl"
    extra = {**UNANSWERABLE, "id": 7, "context": ["京东科技呢?"], "note": {"any": 1}}
    qa.write_bytes(b"\xef\xbb\xbf" + _line(GOOD) + b"\n\n" + _line(extra))
    assert evaluate.read_items(qa) == [GOOD, extra]


def test_read_items_error_is_a_feedqa_value_error(tmp_path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_bytes(_line({**GOOD, "answer": 5}))
    with pytest.raises(FeedqaError, match=r"line 1: answer must be") as caught:
        evaluate.read_items(qa)
    assert isinstance(caught.value, ValueError)  # what `feedqa eval` turns into one line


def test_read_items_accepts_every_shipped_qa_file() -> None:
    files = sorted(QA.glob("*/*.jsonl"))
    assert files
    for path in files:
        assert evaluate.read_items(path)


def test_a_file_that_cannot_be_read_is_one_line(tmp_path: Path, monkeypatch) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_bytes(_line(GOOD))

    def denied(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(FeedqaError, match=r"^cannot read .*qa.jsonl: Permission denied$"):
        evaluate.read_items(qa)
    with pytest.raises(FeedqaError, match=r"is not a regular file$"):
        evaluate.read_items(tmp_path)


def test_a_device_is_refused_before_it_is_read() -> None:
    with pytest.raises(FeedqaError, match="^/dev/zero is not a regular file$"):
        evaluate.read_items("/dev/zero")
