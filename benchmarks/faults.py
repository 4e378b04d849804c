"""Re-run the faults of the reliability checks and print the figures (127.0.0.1 only).

    .venv/bin/python benchmarks/faults.py            # all five
    .venv/bin/python benchmarks/faults.py burst kill # some of them

- burst: 30 questions at once while 10 sends fail (5 with 502, 5 dropped connections);
  answers lost.
- kill: `feedqa telegram` in a subprocess, 100 questions fetched and acknowledged, then
  kill -9 and a restart; questions lost.
- flood: one user sends 400 messages while 20 others ask 3 questions each; refusal notices
  to the flooder, and the others' p95 reply time with and without the flood.
- fuzz: 2,000 random strings (lone surrogates, controls, astral, combining, CJK) through
  ask, search and history; exceptions.
- flips: 252 single-bit flips spread over index.json; flips served without an error.

Exits 1 if a figure is not the one the README guarantees.
"""

import argparse
import asyncio
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fakebot import FakeBotApi  # noqa: E402

from bot.settings import Settings  # noqa: E402
from bot.telegram import ALLOWED_UPDATES, build_application  # noqa: E402
from bot.texts import ERROR_TEXT  # noqa: E402
from corpus.errors import IndexFileError  # noqa: E402
from retrieval import Retriever  # noqa: E402

TOKEN = "555000555:FaultRun-token_0123456789abcdefghijkl"
QUESTIONS = [
    "京东科技计划在香港IPO募资多少?",
    "陆金所2019年的总收入是多少?",
    "平安集团首席科学家是谁?",
    "蚂蚁集团什么时候暂停上市?",
]


def settings_for(api: FakeBotApi, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "feedqa_data_dir": data_dir,
        "telegram_bot_token": TOKEN,
        "telegram_api_base_url": api.base_url,
        "telegram_admin_ids": [],
        "telegram_allowed_chat_ids": [],
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


async def _serve(application, body) -> None:
    await application.initialize()
    await application.post_init(application)
    await application.start()
    await application.updater.start_polling(
        poll_interval=0, timeout=1, allowed_updates=ALLOWED_UPDATES
    )
    try:
        await body()
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


# --- the faults -----------------------------------------------------------------------------


def burst(retriever: Retriever, tmp: Path) -> tuple[str, int]:
    """Answers lost in a 30-question burst with 10 failing sends."""
    with FakeBotApi(TOKEN) as api:
        api.fail_next("sendMessage", code=502, description="Bad Gateway", count=5)
        api.drop_next("sendMessage", count=5)
        application = build_application(settings_for(api, tmp / "burst"), retriever)
        pushed = []

        async def body() -> None:
            pushed.extend(api.push_message(30_000 + i, QUESTIONS[i % 4]) for i in range(30))
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not all(api.replies_to(p) for p in pushed):
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)

        asyncio.run(_serve(application, body))
        lost = sum(not api.replies_to(p) for p in pushed)
        notes = sum(c.result["text"] == ERROR_TEXT for c in api.sent_messages())
        twice = sum(len(api.replies_to(p)) > 1 for p in pushed)
        failed = len(api.calls_of("sendMessage", ok=False))
    return f"burst: {failed} failed sends; {lost} of 30 answers lost, {notes} error notes, " \
           f"{twice} answered twice", lost  # fmt: skip


def kill(tmp: Path, in_flight: int = 100) -> tuple[str, int]:
    """Questions lost after kill -9 with `in_flight` questions fetched and acknowledged."""
    with FakeBotApi(TOKEN) as api:
        env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": api.base_url,
            "FEEDQA_DATA_DIR": str(tmp / "kill"),
            "XDG_CACHE_HOME": str(tmp / "cache"),
            "HOME": str(tmp),
        }
        command = [sys.executable, "-c", "from bot import main; main()", "telegram"]

        def start() -> subprocess.Popen:
            return subprocess.Popen(
                command, cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )

        bot = start()
        api.wait_for_sync(lambda: api.calls_of("setMyCommands"), timeout=120)
        pushed = [api.push_message(40_000 + i, QUESTIONS[i % 4]) for i in range(in_flight)]
        api.wait_for_sync(lambda: api.pending_updates() == 0, timeout=30, interval=0.001)
        bot.send_signal(signal.SIGKILL)
        bot.wait(10)
        before = sum(bool(api.replies_to(p)) for p in pushed)
        bot = start()
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not all(api.replies_to(p) for p in pushed):
                time.sleep(0.1)
            time.sleep(0.5)
        finally:
            bot.terminate()
            bot.wait(20)
        lost = sum(not api.replies_to(p) for p in pushed)
        twice = sum(len(api.replies_to(p)) > 1 for p in pushed)
    return (
        f"kill -9: {in_flight} fetched and acknowledged, {before} answered before the kill; "
        f"{lost} lost after the restart, {twice} answered twice"
    ), lost


def flood(retriever: Retriever, tmp: Path) -> tuple[str, int]:
    """Notices to a 400-message flooder, and the other users' p95 with and without it."""

    def run(flooding: bool) -> tuple[int, float]:
        with FakeBotApi(TOKEN) as api:
            application = build_application(settings_for(api, tmp / "flood"), retriever)
            pushed = []

            async def body() -> None:
                if flooding:
                    for _ in range(400):
                        api.push_message(99, QUESTIONS[0])
                for i in range(3):
                    for user in range(20):
                        pushed.append(api.push_message(50_000 + user, QUESTIONS[(user + i) % 4]))
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and not all(api.replies_to(p) for p in pushed):
                    await asyncio.sleep(0.02)
                await asyncio.sleep(0.5)

            asyncio.run(_serve(application, body))
            notices = sum("太频繁" in c.result["text"] for c in api.sent_messages(99))
            times = [min(c.at for c in api.replies_to(p)) - p.at for p in pushed]
        return notices, percentile(times, 0.95)

    _, quiet = run(False)
    notices, loud = run(True)
    return (
        f"flood: {notices} refusal notice{'s' if notices != 1 else ''} to a 400-message "
        f"flooder; other users' p95 {loud:.2f} s (without the flood {quiet:.2f} s)"
    ), int(notices > 7)


def fuzz(retriever: Retriever, n: int = 2000, seed: int = 13) -> tuple[str, int]:
    """Exceptions from ask, search and history over `n` random strings."""
    rng = random.Random(seed)
    pools = [
        (0xD800, 0xDFFF), (0x0000, 0x001F), (0x4E00, 0x9FFF), (0x1F300, 0x1FAFF),
        (0x0300, 0x036F), (0xFF00, 0xFFEF), (0x0020, 0x007E), (0x10000, 0x10FFFF),
        (0x202A, 0x202E), (0xFFF0, 0xFFFF),
    ]  # fmt: skip

    def text() -> str:
        return "".join(
            chr(rng.randint(*rng.choice(pools))) for _ in range(rng.choice([0, 1, 3, 12, 80]))
        )

    errors = 0
    for _ in range(n):
        question, history = text(), [text() for _ in range(rng.randint(0, 3))]
        try:
            retriever.ask(question, history=history).model_dump_json()
            for hit in retriever.search(question, k=3):
                hit.model_dump_json()
        except Exception as exc:  # counted, not hidden
            errors += 1
            if errors <= 3:
                print(f"  {type(exc).__name__}: {exc!s:.120}")
    return f"fuzz: {n} strings through ask, search and history: {errors} exceptions", errors


def flips(retriever: Retriever, tmp: Path, n: int = 252) -> tuple[str, int]:
    """Single-bit flips of index.json served without an error."""
    path = tmp / "flips"
    retriever.save(path)
    manifest = path / "index.json"
    good = manifest.read_bytes()
    bits = len(good) * 8
    served = 0
    for bit in range(0, bits, max(1, bits // n))[:n]:
        flipped = bytearray(good)
        flipped[bit // 8] ^= 1 << (bit % 8)
        manifest.write_bytes(bytes(flipped))
        try:
            Retriever.load(path, verify=False)
        except IndexFileError:
            continue
        served += 1
    manifest.write_bytes(good)
    return f"flips: {n} single-bit flips of index.json: {served} served silently", served


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = ["burst", "kill", "flood", "fuzz", "flips"]
    parser.add_argument("faults", nargs="*", help=f"some of: {', '.join(names)} (default: all)")
    args = parser.parse_args()
    unknown = set(args.faults) - set(names)
    if unknown:
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}")
    logging.basicConfig(level=logging.CRITICAL)
    retriever = Retriever.default()
    failed = 0
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        for name in args.faults or names:
            started = time.monotonic()
            if name == "kill":
                line, bad = kill(tmp)
            elif name == "fuzz":
                line, bad = fuzz(retriever)
            elif name == "flips":
                line, bad = flips(retriever, tmp)
            else:
                line, bad = globals()[name](retriever, tmp)
            print(f"{line} ({time.monotonic() - started:.1f} s)", flush=True)
            failed += bool(bad)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
