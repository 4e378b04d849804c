# ruff: noqa: F811  (pytest fixtures imported from test_telegram)
"""The bot under faults, floods and group use, against the fake Bot API (127.0.0.1 only)."""

import asyncio
import gc
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakebot import BOT_USERNAME, FakeBotApi
from telegram import Update
from telegram.ext import Application
from test_telegram import (  # noqa: F401  (fixtures)
    ALICE,
    ANSWER_CEO,
    BOB,
    GROUP,
    TOKEN,
    app,
    fake,
    fixture_articles,
    make_settings,
    next_message,
    no_token_in_logs,
    on_behalf_of_the_group,
    plain,
    reply,
    retriever,
    running,
    settings,
)

from bot.chat import QuestionLimiter
from bot.journal import MAX_TRIES, RETRIES_KEY, UpdateJournal
from bot.lifecycle import run_bot
from bot.telegram import build_application
from bot.texts import ERROR_TEXT, HELP_TEXT
from corpus.errors import ConfigError
from retrieval import Retriever

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def open_event_loop() -> Iterator[None]:
    """run_polling closes the event loop it ran on; give the next test an open one."""
    yield
    try:
        closed = asyncio.get_event_loop_policy().get_event_loop().is_closed()
    except RuntimeError:
        closed = True
    if closed:
        asyncio.set_event_loop(asyncio.new_event_loop())


@contextmanager
def interrupt_after(seconds: float) -> Iterator[None]:
    """Send SIGINT to this process after `seconds` (stops a blocking run_bot: no test hangs)."""
    timer = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def stop_when(predicate, timeout: float = 15.0) -> threading.Thread:
    """Interrupt run_bot (SIGINT) once `predicate()` holds, or after `timeout` seconds."""

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


# --- 9: the token is never printed; start-up faults are clear ---------------------------------


def test_a_base_url_without_bot_is_a_clear_error_without_the_token(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever
) -> None:
    settings = make_settings(fake, tmp_path, telegram_api_base_url=f"http://127.0.0.1:{fake.port}")
    with pytest.raises(ConfigError, match="must end with /bot") as caught:
        run_bot(settings, retriever=retriever)
    assert TOKEN not in str(caught.value)


def test_feedqa_telegram_ends_any_failure_in_one_redacted_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.lifecycle
    from bot.cli import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("FEEDQA_DATA_DIR", str(tmp_path / "data"))

    def explode(settings, **kwargs) -> None:
        raise RuntimeError(f"Invalid URL 'http://127.0.0.1:8081{TOKEN}/getMe'")

    monkeypatch.setattr(bot.lifecycle, "run_bot", explode)
    result = CliRunner().invoke(cli, ["telegram"])
    assert result.exit_code == 1
    assert TOKEN not in result.output and "Traceback" not in result.output
    assert result.output.strip().splitlines() == [
        "Error: the bot stopped: RuntimeError: Invalid URL 'http://127.0.0.1:8081<redacted>/getMe'"
    ]
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "http://127.0.0.1:8081")
    monkeypatch.undo()


def test_a_bad_webhook_url_holding_the_token_is_described_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Webhook URLs often carry the token in their path (https://host/<token>); a setting
    that is refused is quoted in the error, and the token must not be quoted with it."""
    from bot.cli import cli
    from bot.settings import Settings

    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_URL", f"http://bot.example.com/{TOKEN}")  # not https
    monkeypatch.setenv("FEEDQA_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(cli, ["telegram", "--webhook"])
    assert result.exit_code == 1 and "TELEGRAM_WEBHOOK_URL" in result.output
    assert TOKEN not in result.output, result.output
    assert TOKEN.split(":")[1] not in result.output
    notes: list[str] = []  # the other commands note the bad bot setting and go on
    Settings.load(bot_only=notes.append)
    assert notes and "TELEGRAM_WEBHOOK_URL" in notes[0]
    assert TOKEN not in notes[0], notes[0]


def test_feedqa_telegram_with_a_base_url_lacking_bot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.cli import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("FEEDQA_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(cli, ["telegram"])
    assert result.exit_code == 1 and TOKEN not in result.output
    assert "Traceback" not in result.output and "must end with /bot" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_transient_502_on_getme_is_retried(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever
) -> None:
    fake.fail_next("getMe", code=502, description="Bad Gateway")
    settings = make_settings(fake, tmp_path, telegram_journal=False)
    stop_when(lambda: fake.calls_of("setMyCommands"))
    run_bot(settings, retriever=retriever)  # returns on the interrupt, not with an error
    assert [c.ok for c in fake.calls_of("getMe", ok=None)][:2] == [False, True]


def test_a_404_is_not_reported_as_a_rejected_token(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever
) -> None:
    fake.fail_next("getMe", code=404, description="Not Found")
    with pytest.raises(ConfigError, match="404 Not Found: check TELEGRAM_API_BASE_URL"):
        run_bot(make_settings(fake, tmp_path), retriever=retriever)


def test_an_unreachable_api_is_one_clear_error(tmp_path: Path, retriever: Retriever) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    class Closed:
        base_url = f"http://127.0.0.1:{port}/bot"

    settings = make_settings(Closed, tmp_path, telegram_startup_retries=0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"cannot reach the Telegram Bot API at http://127"):
        run_bot(settings, retriever=retriever)


def test_a_journal_it_cannot_write_at_start_is_one_clear_error(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever
) -> None:
    (tmp_path / "not-a-folder").write_text("x")
    settings = make_settings(fake, tmp_path, feedqa_data_dir=tmp_path / "not-a-folder")
    with pytest.raises(ConfigError, match=r"cannot write the journal .*TELEGRAM_JOURNAL=false"):
        run_bot(settings, retriever=retriever)


def test_the_bot_starts_while_an_ingest_is_running(
    fake: FakeBotApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from corpus import load_feed
    from retrieval import articlelog, library

    settings = make_settings(
        fake, tmp_path, telegram_journal=False, feedqa_lock_timeout_seconds=0.2
    )
    Retriever.open(settings.index_dir)
    feed = ROOT / "tests" / "data" / "tiny.atom.xml"
    articlelog.append_log(
        settings.index_dir / articlelog.LOG, load_feed(feed)
    )  # logged, not indexed
    with library.writer_lock(settings.index_dir).acquire(timeout=1):  # by a running ingest
        stop_when(lambda: fake.calls_of("setMyCommands"))
        run_bot(settings)  # starts, on the index as it was saved
    assert fake.calls_of("setMyCommands")
    assert "3 articles of articles.jsonl are not indexed yet" in caplog.text


# --- 10: transient send failures lose no answer -----------------------------------------------


async def test_a_burst_with_failing_sends_loses_no_answer(
    fake: FakeBotApi, settings, retriever: Retriever
) -> None:
    fake.fail_next("sendMessage", code=502, description="Bad Gateway", count=5)
    fake.drop_next("sendMessage", count=5)
    async with running(build_application(settings, retriever)):
        pushed = [fake.push_message(10_000 + i, "星河支付的CEO是谁?") for i in range(30)]
        for p in pushed:
            assert plain(await reply(fake, p, timeout=20)).startswith(ANSWER_CEO)
        await asyncio.sleep(0.3)
    assert all(len(fake.replies_to(p)) == 1 for p in pushed)
    assert not [c for c in fake.sent_messages() if plain(c) == ERROR_TEXT]
    assert len(fake.calls_of("sendMessage", ok=False)) == 10


async def test_a_question_whose_answer_an_outage_stopped_is_answered_after_it(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.journal

    monkeypatch.setattr(bot.journal, "RETRY_SECONDS", 0.3)
    settings = make_settings(fake, tmp_path, telegram_send_retries=0)
    journal = UpdateJournal(tmp_path / "journal.jsonl")
    fake.fail_next("sendMessage", code=502, description="Bad Gateway", count=3)  # an outage
    async with running(build_application(settings, retriever, journal=journal)):
        pushed = fake.push_message(ALICE, "星河支付的CEO是谁?")
        assert plain(await reply(fake, pushed, timeout=10)).startswith(ANSWER_CEO)
        await asyncio.sleep(0.3)
        assert journal.pending == 0
    assert not [c for c in fake.sent_messages() if plain(c) == ERROR_TEXT]


async def test_retry_counts_of_messages_answered_long_ago_are_forgotten(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.journal

    monkeypatch.setattr(bot.journal, "RETRY_SECONDS", 0.1)
    monkeypatch.setattr(bot.journal, "RETRIES_KEPT", 0.5, raising=False)  # an hour
    settings = make_settings(fake, tmp_path, telegram_send_retries=0)
    async with running(build_application(settings, retriever)) as application:
        for i in range(4):  # four short outages, each stopping one answer
            fake.fail_next("sendMessage", code=502, description="Bad Gateway")
            pushed = fake.push_message(ALICE + i, "星河支付的CEO是谁?")
            assert plain(await reply(fake, pushed, timeout=10)).startswith(ANSWER_CEO)
            await asyncio.sleep(0.3)
        counted = application.bot_data[RETRIES_KEY]
    assert 1 <= len(counted) <= 2  # was one count for every message ever retried


async def test_a_journal_entry_that_is_no_update_is_dropped_and_the_rest_answered(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever
) -> None:
    journal = UpdateJournal(tmp_path / "journal.jsonl")
    journal.open()
    journal.accept({"update_id": 902, "message": "hi"})  # no message Telegram sends
    journal.accept({"update_id": 903, "message": fake.text_message(ALICE, "星河支付的CEO是谁?")})
    journal.close()
    settings = make_settings(fake, tmp_path)
    async with running(build_application(settings, retriever, journal=journal)):
        await fake.wait_for(lambda: any(
            plain(c).startswith(ANSWER_CEO) for c in fake.sent_messages(ALICE)
        ))  # fmt: skip
        await asyncio.sleep(0.3)
        assert journal.pending == 0


def test_the_journal_of_users_messages_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text("")
    path.chmod(0o644)  # as an earlier version left it
    journal = UpdateJournal(path)
    journal.open()
    journal.accept({"update_id": 7, "message": {"text": "我的私人问题"}})
    journal.close()
    assert path.stat().st_mode & 0o077 == 0


def test_a_question_still_unanswered_stays_in_the_journal(tmp_path: Path) -> None:
    journal = UpdateJournal(tmp_path / "journal.jsonl")
    journal.open()
    journal.accept({"update_id": 9, "message": {"text": "问"}})
    journal.retry_later(9)
    journal.done(9)  # the failed handling ends: kept, to be handled again
    assert journal.pending == 1
    journal.done(9)  # handled again, this time for good
    assert journal.pending == 0


def test_the_journal_stays_small_while_one_update_stays_pending(tmp_path: Path) -> None:
    """It was emptied only at a moment with nothing pending: one update held (a handler that
    hangs, an answer retried through a long outage, minutes of /reload) let it grow by every
    message meanwhile, each written whole."""
    path = tmp_path / "journal.jsonl"
    journal = UpdateJournal(path)
    journal.open()
    journal.accept({"update_id": 1, "message": {"text": "还没有答完的问题"}})
    for n in range(2, 5000):
        journal.accept({"update_id": n, "message": {"text": "问题" * 50}})
        journal.done(n)
    assert path.stat().st_size < 1001 * 700  # at most 1,000 handled updates (670 bytes each)
    journal.close()
    again = UpdateJournal(path)
    assert [u["update_id"] for u in again.open()] == [1]  # still to be handled after a crash


def _compacted_with(path: Path, fault: Callable[[], None]) -> UpdateJournal:
    """A journal holding update 1 unhandled, whose rewrite after COMPACT_AFTER handled ones
    runs with `fault` in place."""
    import bot.journal

    journal = UpdateJournal(path)
    journal.open()
    journal.accept({"update_id": 1, "message": {"text": "还没有答完的问题"}})
    for n in range(2, bot.journal.COMPACT_AFTER + 2):
        journal.accept({"update_id": n, "message": {"text": "问"}})
        if n == bot.journal.COMPACT_AFTER + 1:  # the handled update that compacts
            fault()
        journal.done(n)
    return journal


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_a_journal_that_cannot_be_compacted_goes_on_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """A full disk while the journal is rewritten with its pending updates: the file stays
    as it was and is appended to; nothing accepted is lost. The rewrite's temporary file,
    written as far as the disk allowed, was left behind: it held the disk's last free bytes,
    so the journal could not take the next message."""
    import errno

    import bot.journal

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    path = tmp_path / "journal.jsonl"
    journal = _compacted_with(path, lambda: monkeypatch.setattr(bot.journal.os, failing, full))
    monkeypatch.undo()
    assert path.stat().st_size > 1000 * 40  # not compacted
    assert sorted(p.name for p in tmp_path.iterdir()) == ["journal.jsonl", "journal.lock"]
    journal.accept({"update_id": 5000, "message": {"text": "之后的问题"}})
    journal.close()
    assert [u["update_id"] for u in UpdateJournal(path).open()] == [1, 5000]


def test_a_journal_that_cannot_be_opened_again_after_its_rewrite_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rewritten journal could not be opened again (no descriptor left, its permissions
    changed): the journal went on writing to the file it had replaced, and the messages
    accepted from then on were gone at the next start."""
    import errno

    import bot.journal

    path = tmp_path / "journal.jsonl"
    real_open = os.open

    def no_descriptor_for_the_journal(name, flags, *args, **kwargs):
        if Path(name) == path:
            raise OSError(errno.EMFILE, "Too many open files")
        return real_open(name, flags, *args, **kwargs)

    journal = _compacted_with(
        path, lambda: monkeypatch.setattr(bot.journal.os, "open", no_descriptor_for_the_journal)
    )
    journal.accept({"update_id": 5000, "message": {"text": "之后的问题"}})
    monkeypatch.undo()
    journal.close()
    assert [u["update_id"] for u in UpdateJournal(path).open()] == [1, 5000]


async def test_sources_are_sent_when_answering_the_button_fails(
    fake: FakeBotApi, app: Application
) -> None:
    answer = await reply(fake, fake.push_message(ALICE, "星河支付的CEO是谁?"))
    data = answer.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    fake.fail_next("answerCallbackQuery", code=400, description="Bad Request: query is too old")
    pressed = fake.push_callback(ALICE, answer.result["message_id"], data)
    assert "第1段" in plain(await next_message(fake, pressed, "第1段"))


async def test_explicit_timeouts_outlast_a_slow_api(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever
) -> None:
    settings = make_settings(fake, tmp_path, telegram_api_timeout_seconds=12)
    application = build_application(settings, retriever)
    assert application.bot.request.read_timeout == 12
    fake.delay_next("sendMessage", 1.0)
    async with running(application):
        pushed = fake.push_message(ALICE, "星河支付的CEO是谁?")
        assert plain(await reply(fake, pushed)).startswith(ANSWER_CEO)
        await asyncio.sleep(0.2)
    assert len(fake.sent_messages(ALICE)) == 1  # no error note, no second answer


# --- 11: a 401 while polling stops the bot ---------------------------------------------------


def test_a_401_while_polling_exits_with_a_clear_error(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever
) -> None:
    fake.fail_next("getUpdates", code=401, description="Unauthorized")
    started = time.monotonic()
    with interrupt_after(15), pytest.raises(ConfigError, match="rejected TELEGRAM_BOT_TOKEN while"):
        run_bot(make_settings(fake, tmp_path, telegram_journal=False), retriever=retriever)
    assert time.monotonic() - started < 10
    gc.collect()
    pending = [t for t in gc.get_objects() if isinstance(t, asyncio.Task) and not t.done()]
    assert not [t for t in pending if "update_fetcher" in t.get_name()]  # stopped cleanly


# --- 12: a journal of accepted updates --------------------------------------------------------


def test_the_journal_keeps_what_was_not_handled(tmp_path: Path) -> None:
    journal = UpdateJournal(tmp_path / "journal.jsonl")
    assert journal.open() == []
    assert journal.accept({"update_id": 1, "message": {"text": "一"}})
    assert journal.accept({"update_id": 2, "message": {"text": "二"}})
    assert not journal.accept({"update_id": 1, "message": {"text": "一"}})  # redelivered
    journal.done(1)
    journal.close()
    with open(tmp_path / "journal.jsonl", "ab") as f:
        f.write(b'{"update": {"update_id": 3, "mess')  # torn by a crash
    again = UpdateJournal(tmp_path / "journal.jsonl")
    assert [u["update_id"] for u in again.open()] == [2]
    again.close()
    for _ in range(MAX_TRIES - 1):  # update 2 crashes the bot at every start: given up
        again = UpdateJournal(tmp_path / "journal.jsonl")
        assert [u["update_id"] for u in again.open()] == [2]
        again.close()
    assert UpdateJournal(tmp_path / "journal.jsonl").open() == []


def test_a_lone_surrogate_or_a_stray_line_never_stops_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b'null\n7\n{"update": {}}\n["x"]\n')  # valid JSON, but no entry
    journal = UpdateJournal(path)
    assert journal.open() == []
    odd = {"update_id": 1, "message": {"text": "京东科技\ud800计划"}}
    assert journal.accept(odd)  # written, though it cannot be UTF-8 as it stands
    journal.close()
    again = UpdateJournal(path)
    assert again.open() == [odd]
    again.close()


def test_a_journal_that_cannot_be_written_leaves_the_bot_answering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import errno

    import bot.journal
    from bot.journal import JournaledQueue

    journal = UpdateJournal(tmp_path / "journal.jsonl")
    journal.open()
    queue = JournaledQueue(journal)

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(bot.journal.os, "write", full)
    update = Update.de_json({"update_id": 5, "message": {"message_id": 1, "date": 0,
                            "chat": {"id": 1, "type": "private"}, "text": "问题"}}, None)  # fmt: skip
    queue.put_nowait(update)  # the disk is full: queued all the same
    assert queue.get_nowait() is update
    journal.done(5)  # and marking it done does not raise either
    assert "journal" in caplog.text and "No space left on device" in caplog.text


def _bot_process(fake: FakeBotApi, tmp_path: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "FEEDQA_DATA_DIR": str(tmp_path / "data"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "HOME": str(tmp_path),
        "TELEGRAM_SEND_RETRIES": "20",
    }
    return subprocess.Popen(
        [sys.executable, "-c", "from bot import main; main()", "telegram"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_kill_9_loses_no_accepted_question(fake: FakeBotApi, tmp_path: Path) -> None:
    fake.fail_next("sendMessage", code=500, description="Internal Server Error", count=10_000)
    bot = _bot_process(fake, tmp_path)
    try:
        fake.wait_for_sync(lambda: fake.calls_of("setMyCommands"), timeout=60)
        pushed = [
            fake.push_message(20_000 + i, "京东科技计划在香港IPO募资多少?") for i in range(20)
        ]
        # all fetched and acknowledged (the next getUpdates offset is past them)
        fake.wait_for_sync(lambda: fake.pending_updates() == 0 and fake.calls_of("getUpdates"))
        time.sleep(0.1)
    finally:
        bot.send_signal(signal.SIGKILL)
        bot.wait(10)
    assert not fake.sent_messages()  # every answer was in flight
    with fake._cond:
        fake._state.failures.clear()
    bot = _bot_process(fake, tmp_path)
    try:
        fake.wait_for_sync(lambda: all(fake.replies_to(p) for p in pushed), timeout=60)
    finally:
        bot.terminate()
        bot.wait(10)
    assert all(len(fake.replies_to(p)) == 1 for p in pushed)


# --- 13: a flooder gets one notice, inline queries their own budget ---------------------------


async def test_a_flooder_gets_one_notice_per_window(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever
) -> None:
    settings = make_settings(fake, tmp_path, telegram_questions_per_minute=2)
    async with running(build_application(settings, retriever)):
        flood = [fake.push_message(ALICE, "星河支付的CEO是谁?") for _ in range(40)]
        other = fake.push_message(BOB, "星河支付的CEO是谁?")
        assert plain(await reply(fake, other)).startswith(ANSWER_CEO)
        await fake.wait_for(lambda: fake.pending_updates() == 0)
        await asyncio.sleep(0.5)
    to_alice = fake.sent_messages(ALICE)
    assert len([c for c in to_alice if "太频繁" in plain(c)]) == 1
    assert len([c for c in to_alice if plain(c).startswith(ANSWER_CEO)]) == 2
    assert len(flood) == 40


async def test_a_flood_of_stickers_or_overlong_messages_counts_too(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever
) -> None:
    settings = make_settings(fake, tmp_path, telegram_questions_per_minute=2)
    async with running(build_application(settings, retriever)):
        for _ in range(6):
            fake.push_sticker(ALICE)
            fake.push_message(BOB, "星河支付" * 1100)  # over the length limit
        await fake.wait_for(lambda: fake.pending_updates() == 0)
        await asyncio.sleep(0.5)
    for user in (ALICE, BOB):
        replies = [plain(c) for c in fake.sent_messages(user)]
        # two replies and one notice (handled concurrently: in any order)
        assert len(replies) == 3 and sum("太频繁" in r for r in replies) == 1, replies


async def test_a_flood_of_commands_counts_too(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever
) -> None:
    settings = make_settings(fake, tmp_path, telegram_questions_per_minute=2)
    async with running(build_application(settings, retriever)):
        for command in ("/start", "/help", "/about", "/reset", "/frobnicate", "/start"):
            fake.push_message(ALICE, command)
        await fake.wait_for(lambda: fake.pending_updates() == 0)
        await asyncio.sleep(0.5)
    replies = [plain(c) for c in fake.sent_messages(ALICE)]
    assert len(replies) == 3 and sum("太频繁" in r for r in replies) == 1, replies


async def test_a_flood_of_button_presses_counts_too(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever
) -> None:
    """Each press of 更多 sends a message, as a question does (a client may send any offset:
    "more:KEY:0", "more:KEY:1", …, none of them a double tap)."""
    settings = make_settings(fake, tmp_path, telegram_questions_per_minute=2)
    async with running(build_application(settings, retriever)):
        answer = await reply(fake, fake.push_message(ALICE, "星河支付的CEO是谁?"))  # 1 of 2
        message_id = answer.result["message_id"]
        data = answer.params["reply_markup"]["inline_keyboard"][0][1]["callback_data"]
        kind, key, _ = data.split(":")
        presses = [fake.push_callback(ALICE, message_id, f"{kind}:{key}:{n}") for n in range(10)]
        await fake.wait_for(lambda: len(fake.calls_of("answerCallbackQuery")) == 10)
        await asyncio.sleep(0.5)
    sent = fake.sent_after(presses[0])
    assert len(sent) <= 1, [plain(c)[:20] for c in sent]  # one press fits the budget
    toasts = [c.params.get("text", "") for c in fake.calls_of("answerCallbackQuery")]
    assert any("太频繁" in t for t in toasts), toasts


async def test_a_press_refused_by_the_limit_is_refused_again_not_ignored(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever
) -> None:
    """A press over the limit shows why; pressed again at once, it was taken for a double tap
    of a press that had shown something, and got nothing at all."""
    settings = make_settings(fake, tmp_path, telegram_questions_per_minute=1)
    async with running(build_application(settings, retriever)):
        answer = await reply(fake, fake.push_message(ALICE, "星河支付的CEO是谁?"))  # 1 of 1
        message_id = answer.result["message_id"]
        data = answer.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        for n in (1, 2):
            fake.push_callback(ALICE, message_id, data)
            await fake.wait_for(lambda n=n: len(fake.calls_of("answerCallbackQuery")) == n)
    toasts = [c.params.get("text", "") for c in fake.calls_of("answerCallbackQuery")]
    assert all("太频繁" in t for t in toasts), toasts


async def test_anonymous_admins_of_other_groups_do_not_use_up_each_others_limit(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever
) -> None:
    """Anonymous admins send as GroupAnonymousBot in every group: counted under that one
    id, an anonymous admin anywhere could silence the anonymous admins of every group."""
    settings = make_settings(fake, tmp_path, telegram_questions_per_minute=1)
    async with running(build_application(settings, retriever)):
        elsewhere = on_behalf_of_the_group(fake, -100777, "/ask 星河支付的CEO是谁?")
        assert plain(await reply(fake, elsewhere)).startswith(ANSWER_CEO)
        here = on_behalf_of_the_group(fake, GROUP, "/ask 星河支付的CEO是谁?")
        assert plain(await reply(fake, here)).startswith(ANSWER_CEO)


async def test_a_flooder_refused_in_another_chat_is_told_there_too(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever
) -> None:
    """The notice was due once a window per user: told in private, the same user asking in a
    group got no reply there at all, and no reason."""
    settings = make_settings(fake, tmp_path, telegram_questions_per_minute=1)
    async with running(build_application(settings, retriever)):
        await reply(fake, fake.push_message(ALICE, "星河支付的CEO是谁?"))  # 1 of 1
        told = fake.push_message(ALICE, "月光银行的CEO是谁?")
        await fake.wait_for(lambda: fake.replies_to(told))
        there = fake.push_message(GROUP, "/ask 星河支付的CEO是谁?", user_id=ALICE)
        notice = await reply(fake, there)
    assert "太频繁" in plain(fake.replies_to(told)[0]) and "太频繁" in plain(notice)


def test_question_limiter_notices_once_per_window() -> None:
    now = [0.0]
    limiter = QuestionLimiter(1, clock=lambda: now[0])
    assert limiter.allow(1) and not limiter.allow(1)
    assert limiter.notice_due(1) and not limiter.notice_due(1)
    now[0] = 61
    assert limiter.allow(1) and not limiter.allow(1) and limiter.notice_due(1)


async def test_inline_queries_have_their_own_budget(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever
) -> None:
    settings = make_settings(
        fake, tmp_path, telegram_questions_per_minute=1, telegram_inline_queries_per_minute=5
    )
    async with running(build_application(settings, retriever)):
        await reply(fake, fake.push_message(ALICE, "星河支付的CEO是谁?"))  # budget used up
        queries = [fake.push_inline_query(ALICE, f"星河支付的CEO是谁{'?' * i}") for i in range(6)]
        await fake.wait_for(lambda: len(fake.calls_of("answerInlineQuery")) == 6)
    results = [c.params["results"] for c in fake.calls_of("answerInlineQuery")]
    assert sum(bool(r) for r in results) == 5 and len(queries) == 6


# --- 14: groups ---------------------------------------------------------------------------------


async def test_a_reply_follows_up_on_the_answer_it_replies_to(
    fake: FakeBotApi, app: Application, asked_histories: list
) -> None:
    first = await reply(fake, fake.push_message(GROUP, "/ask 星河支付的CEO是谁?", user_id=ALICE))
    await reply(fake, fake.push_message(GROUP, "/ask 月光银行的CEO是谁?", user_id=ALICE))
    follow = fake.push_message(
        GROUP, "她什么时候加入公司的?", user_id=ALICE,
        reply_to_bot_message_id=first.result["message_id"],
    )  # fmt: skip
    assert "2018年" in plain(await reply(fake, follow))
    assert asked_histories[-1] == ["星河支付的CEO是谁?"]  # not the group's latest question


async def test_group_history_is_kept_per_user(
    fake: FakeBotApi, app: Application, asked_histories: list
) -> None:
    await reply(fake, fake.push_message(GROUP, "/ask 月光银行的CEO是谁?", user_id=ALICE))
    await reply(fake, fake.push_message(GROUP, "/ask 它的总部在哪里?", user_id=BOB))
    assert asked_histories[-1] is None  # BOB's follow-up does not borrow ALICE's question
    await reply(fake, fake.push_message(GROUP, "/ask 它的总部在哪里?", user_id=ALICE))
    assert asked_histories[-1] == ["月光银行的CEO是谁?"]


async def test_an_edited_question_is_answered_anew(fake: FakeBotApi, app: Application) -> None:
    asked = fake.push_message(ALICE, "火星上有没有水?")
    await reply(fake, asked)
    edited = fake.push_edit(ALICE, asked.message_id, "星河支付的CEO是谁?")
    calls = await fake.wait_for(lambda: fake.sent_after(edited))
    assert plain(calls[0]).startswith(ANSWER_CEO)
    assert calls[0].reply_to == asked.message_id


async def test_help_does_not_promise_mentions_under_privacy_mode(
    fake: FakeBotApi, app: Application
) -> None:
    assert fake.bot_user["can_read_all_group_messages"] is False
    text = plain(await next_message(fake, fake.push_message(ALICE, "/help")))
    assert f"/ask@{BOT_USERNAME}" in text and "@我" not in text
    assert "{mention}" in HELP_TEXT


def test_readme_states_what_privacy_mode_delivers() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("**Groups and privacy mode.**") :].split("\n\n")[0]
    assert "/ask@yourbot" in section and "/setprivacy" in section
    assert "and messages that\n@mention it" not in section


async def test_start_up_answers_journaled_messages_not_stale_inline_queries(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever
) -> None:
    message = fake.text_message(ALICE, "星河支付的CEO是谁?")
    earlier = UpdateJournal(tmp_path / "journal.jsonl")
    earlier.open()
    earlier.accept({"update_id": 7, "message": message})
    earlier.accept(
        {"update_id": 8, "inline_query": {"id": "iq", "from": {"id": ALICE, "is_bot": False,
         "first_name": "A"}, "query": "星河支付", "offset": ""}}
    )  # fmt: skip
    earlier.close()  # the process died here
    journal = UpdateJournal(tmp_path / "journal.jsonl")
    settings = make_settings(fake, tmp_path)
    async with running(build_application(settings, retriever, journal=journal)):
        calls = await fake.wait_for(lambda: fake.sent_messages(ALICE))
        assert plain(calls[0]).startswith(ANSWER_CEO)
        await fake.wait_for(lambda: journal.pending == 0)
    assert not fake.calls_of("answerInlineQuery", ok=None)
    assert UpdateJournal(tmp_path / "journal.jsonl").open() == []
