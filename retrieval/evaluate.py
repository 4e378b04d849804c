"""Score a Retriever on a QA file (JSON lines: question, answer, alternatives, link, style, context)."""

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from corpus.errors import QAFileError

from .models import Answer
from .retriever import Retriever
from .semantic import Progress

METRICS = ("ans@1", "cite@1", "cite@3", "verbatim", "abstain", "false_abstain", "accuracy")


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text).lower())


def _link(link: str | None) -> str:
    return re.sub(r"^(https?:)?//", "", link or "").rstrip("/")


@dataclass
class ItemResult:
    """How one QA item went."""

    id: str
    style: str
    answerable: bool
    answered: bool
    ans1: bool
    cite1: bool
    cite3: bool
    verbatim: bool
    length: int
    answer: Answer = field(repr=False)


def score_item(item: dict, answer: Answer) -> ItemResult:
    """Score one answer against its gold item."""
    gold = [g for g in [item.get("answer"), *(item.get("alternatives") or [])] if g]
    text = _norm(answer.text)
    ans1 = answer.answered and len(answer.text) <= 200 and any(_norm(g) in text for g in gold)
    articles: list[str] = []
    for c in answer.citations:
        if _link(c.link) not in articles:
            articles.append(_link(c.link))
    gold_link = _link(item.get("link"))
    cite1 = bool(gold_link) and articles[:1] == [gold_link]
    cite3 = bool(gold_link) and gold_link in articles[:3]
    verbatim = False
    if answer.answered and answer.citations:
        passage = _norm(answer.citations[0].passage)
        pieces = [_norm(p) for p in answer.text.split("…") if _norm(p)]
        verbatim = bool(pieces) and all(p in passage for p in pieces)
    return ItemResult(
        id=str(item.get("id", "")),
        style=item.get("style", "?"),
        answerable=bool(gold),
        answered=answer.answered,
        ans1=ans1,
        cite1=cite1,
        cite3=cite3,
        verbatim=verbatim,
        length=len(answer.text),
        answer=answer,
    )


class _Item(BaseModel):
    """The fields of a QA item that scoring uses (others are kept as written)."""

    model_config = ConfigDict(strict=True, extra="allow")
    id: str | int = ""
    question: str
    answer: str | None  # null: the archive does not answer the question
    alternatives: list[str] | None = None
    link: str | None = None
    style: str = "?"
    context: list[str] | None = None


_EXPECTED = {
    "answer": "a string or null",
    "link": "a string or null",
    "id": "a string or a whole number",
}
_EXPECTED |= dict.fromkeys(("alternatives", "context"), "a list of strings")


def _problem(exc: ValidationError) -> str:
    """What is wrong with an item, as "answer must be a string or null"."""
    err = exc.errors()[0]
    name = err["loc"][0]
    if err["type"] == "missing":
        why = " (null for a question the archive does not answer)" * (name == "answer")
        return f"{name} is missing{why}"
    return f"{name} must be {_EXPECTED.get(name, 'a string')}"


def _is_array(data: bytes) -> bool:
    """Whether `data` is one JSON array (the items written as a list, not a line each)."""
    try:
        return isinstance(json.loads(data.decode("utf-8-sig")), list)
    except (ValueError, RecursionError):
        return False


def read_items(path: str | Path) -> list[dict]:
    """QA items from a JSON-lines file (BOM and blank lines skipped), else QAFileError."""
    items = []
    if Path(path).exists() and not Path(path).is_file():  # /dev/zero would never end
        raise QAFileError(f"{path} is not a regular file")
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise QAFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[") and _is_array(data):
        raise QAFileError(
            f"{path} holds a JSON array: eval reads one JSON object a line (JSON Lines)"
        )
    for n, raw in enumerate(data.splitlines(), start=1):
        try:
            line = raw.decode("utf-8-sig" if n == 1 else "utf-8")
        except UnicodeDecodeError:
            raise QAFileError(f"{path} line {n}: not valid UTF-8") from None
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except (ValueError, RecursionError) as exc:
            raise QAFileError(f"{path} line {n}: not JSON ({exc})") from None
        if not isinstance(item, dict):
            raise QAFileError(f"{path} line {n}: an item must be a JSON object")
        try:
            _Item.model_validate(item)
        except ValidationError as exc:
            raise QAFileError(f"{path} line {n}: {_problem(exc)}") from None
        items.append(item)
    return items


def run(
    retriever: Retriever, items: Sequence[dict], progress: Progress | None = None
) -> list[ItemResult]:
    """Ask every item (follow-ups with their context as history) and score it; `progress`
    hears how many are done."""
    results = []
    for done, it in enumerate(items, start=1):
        answer = retriever.ask(it["question"], history=it.get("context") or [])
        results.append(score_item(it, answer))
        if progress is not None:
            progress("asking questions", done, len(items))
    return results


def summarize(results: list[ItemResult]) -> dict[str, float]:
    """The metrics of a group of results (rates over the items each metric applies to)."""
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    answered = [r for r in results if r.answered]

    def rate(hits: int, n: int) -> float:
        return hits / n if n else float("nan")

    return {
        "n": len(results),
        "ans@1": rate(sum(r.ans1 for r in answerable), len(answerable)),
        "cite@1": rate(sum(r.cite1 for r in answerable), len(answerable)),
        "cite@3": rate(sum(r.cite3 for r in answerable), len(answerable)),
        "verbatim": rate(sum(r.verbatim for r in answered), len(answered)),
        "abstain": rate(sum(not r.answered for r in unanswerable), len(unanswerable)),
        "false_abstain": rate(sum(not r.answered for r in answerable), len(answerable)),
        "accuracy": rate(
            sum(r.ans1 for r in answerable) + sum(not r.answered for r in unanswerable),
            len(results),
        ),
        "mean_len": sum(r.length for r in answered) / len(answered) if answered else 0.0,
    }


def table(results: list[ItemResult]) -> str:
    """A plain-text table of the metrics, by style and overall."""
    styles = sorted({r.style for r in results})
    rows = [(s, summarize([r for r in results if r.style == s])) for s in styles]
    rows.append(("all", summarize(results)))
    cols = ["n", *METRICS, "mean_len"]
    lines = ["style".ljust(13) + "".join(c.rjust(14) for c in cols)]
    for name, m in rows:
        cells = []
        for c in cols:
            v = m[c]
            cells.append(
                str(v)
                if c == "n"
                else "-"
                if v != v
                else f"{v:.2f}"
                if c != "mean_len"
                else f"{v:.1f}"
            )
        lines.append(name.ljust(13) + "".join(cell.rjust(14) for cell in cells))
    return "\n".join(lines)
