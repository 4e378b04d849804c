"""Load run of the Telegram bot against the fake Bot API server (127.0.0.1 only).

Many chats send a burst of questions at once; the run waits for the replies, checks
that every question got exactly one answer (nothing lost, nothing duplicated) and
reports the time from injecting an update to the bot's reply, and the throughput.

    .venv/bin/python benchmarks/load_telegram.py                      # bundled corpus
    .venv/bin/python benchmarks/load_telegram.py --corpus fixture --chats 20
    .venv/bin/python benchmarks/load_telegram.py --no-flood-limit     # the bot alone

By default the bot runs exactly as in production, including flood control
(AIORateLimiter: 30 messages/s overall, as Telegram asks), which then sets the throughput.
Exits 1 if a question was lost or answered twice, 2 on a timeout before all replies.
"""

import argparse
import asyncio
import logging
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fakebot import FakeBotApi, Pushed  # noqa: E402

from bot.format import NOT_FOUND  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.telegram import ALLOWED_UPDATES, FloodLimiter, build_application  # noqa: E402
from bot.texts import ERROR_TEXT  # noqa: E402
from corpus import Article, bundled_feed_path, load_feed  # noqa: E402
from retrieval import Retriever  # noqa: E402

TOKEN = "555000555:LoadRun-token_0123456789abcdefghijkl"


def questions_from(articles: list[Article], n: int) -> list[str]:
    """Up to `n` distinct questions: article titles, then first sentences of paragraphs."""
    seen: dict[str, None] = {}
    for article in articles:
        seen.setdefault(article.title.strip(), None)
    for article in articles:
        for paragraph in article.paragraphs:
            sentence = re.split(r"(?<=[。!?])", paragraph.strip(), maxsplit=1)[0]
            if 8 <= len(sentence) <= 80:
                seen.setdefault(sentence, None)
            if len(seen) >= n:
                break
        if len(seen) >= n:
            break
    questions = [q for q in seen if q]
    return [questions[i % len(questions)] for i in range(n)]


def load_corpus(name: str) -> tuple[Retriever, list[Article]]:
    if name == "fixture":
        from test_telegram import fixture_articles

        articles = fixture_articles()
        return Retriever.from_articles(articles, semantic=False), articles
    return Retriever.default(), load_feed(bundled_feed_path())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def run(args: argparse.Namespace) -> int:
    retriever, articles = load_corpus(args.corpus)
    total = args.chats * args.questions
    questions = questions_from(articles, total)
    with FakeBotApi(TOKEN) as api, tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            _env_file=None,
            feedqa_data_dir=Path(data_dir),
            feedqa_feeds=[],
            telegram_bot_token=TOKEN,
            telegram_api_base_url=api.base_url,
            telegram_admin_ids=[],
            telegram_allowed_chat_ids=[],
            telegram_questions_per_minute=max(20, args.questions),
        )
        limiter = (
            FloodLimiter(overall_max_rate=0, group_max_rate=0) if args.no_flood_limit else None
        )
        application = build_application(settings, retriever, rate_limiter=limiter)
        await application.initialize()
        await application.start()
        await application.updater.start_polling(
            poll_interval=0, timeout=1, allowed_updates=ALLOWED_UPDATES
        )
        try:
            pushed: list[Pushed] = []
            started = time.monotonic()
            for i in range(args.questions):
                for chat in range(args.chats):
                    chat_id = 10_000 + chat
                    pushed.append(api.push_message(chat_id, questions[chat * args.questions + i]))
            wanted = {(p.chat_id, p.message_id) for p in pushed}

            def answered() -> set[tuple[int | None, int | None]]:
                return {(c.chat_id, c.reply_to) for c in api.sent_messages()} & wanted

            deadline = started + args.timeout
            while len(answered()) < len(wanted) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # let any duplicate arrive before counting
            finished = time.monotonic()
        finally:
            await application.updater.stop()
            await application.stop()
            await application.shutdown()

    replies: dict[tuple[int | None, int | None], list] = {}
    for call in api.sent_messages():
        if call.reply_to is not None:
            replies.setdefault((call.chat_id, call.reply_to), []).append(call)
    latencies, lost, duplicated, not_found, errors = [], 0, 0, 0, 0
    for p in pushed:
        got = replies.get((p.chat_id, p.message_id), [])
        if not got:
            lost += 1
            continue
        duplicated += len(got) > 1
        latencies.append((min(c.at for c in got) - p.at) * 1000)
        text = got[0].result["text"]
        not_found += text.startswith(NOT_FOUND)
        errors += text == ERROR_TEXT
    strays = sum(len(v) for k, v in replies.items() if k not in wanted)
    last_reply = max((c.at for v in replies.values() for c in v), default=finished)
    wall = max(last_reply - started, 1e-9)
    timed_out = lost and finished >= started + args.timeout

    flood = "off" if args.no_flood_limit else "30 messages/s (production)"
    info = retriever.info()
    print(
        f"corpus: {args.corpus} ({info['articles']} articles, {info['paragraphs']} paragraphs); "
        f"{args.chats} chats x {args.questions} questions; flood control: {flood}"
    )
    header = (
        "questions",
        "answered",
        "not found",
        "errors",
        "lost",
        "dup",
        "p50 ms",
        "p95 ms",
        "max ms",
        "q/s",
        "wall s",
    )
    row = (
        total,
        len(latencies) - not_found - errors,
        not_found,
        errors,
        lost,
        duplicated + strays,
        f"{percentile(latencies, 0.5):.0f}",
        f"{percentile(latencies, 0.95):.0f}",
        f"{max(latencies, default=float('nan')):.0f}",
        f"{len(latencies) / wall:.1f}",
        f"{wall:.2f}",
    )
    widths = [max(len(str(h)), len(str(v))) for h, v in zip(header, row, strict=True)]
    print("  ".join(str(h).rjust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join(str(v).rjust(w) for v, w in zip(row, widths, strict=True)))
    if latencies:
        print(f"mean {statistics.fmean(latencies):.0f} ms over {len(latencies)} replies")
    if timed_out:
        print(f"TIMEOUT: {lost} questions unanswered after {args.timeout:.0f} s")
        return 2
    if lost or duplicated or strays or errors:
        print(
            f"FAILED: {lost} lost, {duplicated} answered more than once, {strays} stray replies, "
            f"{errors} failed with an error (see the first logged traceback)"
        )
        return 1
    return 0


class FirstOnly(logging.Filter):
    """Let the first error through; count the others (a failing retriever fails every update)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR:
            return True
        self.seen += 1
        return self.seen == 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--questions", type=int, default=10, help="questions per chat")
    parser.add_argument("--corpus", choices=["bundled", "fixture"], default="bundled")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds before giving up")
    parser.add_argument(
        "--no-flood-limit", action="store_true", help="measure without AIORateLimiter's limits"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("bot.telegram").addFilter(FirstOnly())
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
