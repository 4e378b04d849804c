# ruff: noqa: F811  (pytest fixtures imported from test_telegram and test_bot_faults)
"""Running the bot as an operator does: start, stop, a second instance, feed refreshes,
the webhook's port and what the log shows, against the fake Bot API (127.0.0.1 only)."""

import asyncio
import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fakebot import FakeBotApi
from telegram import Update
from test_bot_faults import interrupt_after, open_event_loop, stop_when  # noqa: F401  (fixtures)
from test_telegram import (  # noqa: F401  (fixtures)
    ADMIN,
    ALICE,
    ANSWER_CEO,
    TOKEN,
    fake,
    make_settings,
    next_message,
    no_token_in_logs,
    plain,
    reply,
    retriever,
    running,
)

import bot.refresh as bot_refresh
from bot.journal import JournaledQueue, UpdateJournal
from bot.lifecycle import run_bot
from bot.telegram import build_application, refresh_job
from corpus.article import Article
from corpus.errors import ConfigError
from retrieval import Retriever

ROOT = Path(__file__).resolve().parent.parent
CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
    "is running"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- another instance ---------------------------------------------------------------------------


def test_a_second_bot_on_the_same_data_folder_refuses_to_start(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever
) -> None:
    """Two `feedqa telegram` on one FEEDQA_DATA_DIR: the second one rewrote the journal
    under the first one, whose later questions then went to a deleted file (lost at its
    next crash), and answered the first one's questions in flight a second time."""
    settings = make_settings(fake, tmp_path)
    first = UpdateJournal(settings.journal_path)  # the bot already running on this folder
    first.open()
    try:
        with interrupt_after(10), pytest.raises(ConfigError, match="another `feedqa telegram`"):
            run_bot(settings, retriever=retriever)
        message = fake.text_message(ALICE, "星河支付的CEO是谁?")
        assert first.accept({"update_id": 7, "message": message})  # accepted after
    finally:
        first.close()  # ... and the first bot is killed
    again = UpdateJournal(settings.journal_path)
    assert [u["update_id"] for u in again.open()] == [7]  # its question is kept
    again.close()
    assert not fake.calls_of("getUpdates", ok=None)  # the second never polled


def test_another_instance_polling_is_said_in_one_line_not_a_traceback_per_retry(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever, caplog: pytest.LogCaptureFixture
) -> None:
    """Telegram answers 409 Conflict to getUpdates while another process polls with the
    token. Each retry logged "Update None failed" with a 30-line traceback, forever."""
    fake.fail_next("getUpdates", code=409, description=CONFLICT, count=2)
    settings = make_settings(fake, tmp_path, telegram_journal=False)
    pushed: list = []

    def answered() -> bool:
        if len(fake.calls_of("getUpdates", ok=False)) < 2:
            return False
        if not pushed:
            pushed.append(fake.push_message(ALICE, "星河支付的CEO是谁?"))
        return bool(fake.replies_to(pushed[0]))

    stop_when(answered, timeout=20)
    run_bot(settings, retriever=retriever)
    assert fake.replies_to(pushed[0])  # polling went on after the conflict
    mine = [r for r in caplog.records if r.name.startswith("bot.")]
    assert not [r for r in mine if r.exc_info or r.exc_text], "a traceback was logged"
    assert not [r for r in mine if "Update None" in r.getMessage()]
    said = [r for r in mine if "409" in r.getMessage()]
    assert len(said) == 1, [r.getMessage() for r in mine]  # once, not at every retry
    assert "another" in said[0].getMessage()


def test_alternating_polling_failures_are_each_said_once_per_interval(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever, caplog: pytest.LogCaptureFixture
) -> None:
    """A failure was said again whenever its text differed from the last one's: a network
    that alternates between timing out and refusing logged a line at every retry (about one
    every 30 s for as long as it lasts). Each kind of failure is said once an interval."""
    from types import SimpleNamespace

    from telegram.error import NetworkError, TimedOut

    from bot.handlers import _note_polling_failure
    from bot.state import STATE_KEY

    application = build_application(make_settings(fake, tmp_path), retriever)
    errors = [TimedOut(), NetworkError("httpx.ConnectError: [Errno 111] Connection refused")]
    errors.append(NetworkError("httpx.ReadError: connection reset"))
    with caplog.at_level(logging.WARNING, logger="bot"):
        for n in range(30):
            context = SimpleNamespace(error=errors[n % 3], bot_data=application.bot_data)
            _note_polling_failure(context)  # type: ignore[arg-type]
    said = [r.getMessage() for r in caplog.records if "Polling the Bot API" in r.getMessage()]
    assert len(said) == 2, said  # one a kind: timed out, and the network failing
    assert STATE_KEY in application.bot_data


# --- stopping -----------------------------------------------------------------------------------


def test_a_stop_during_the_start_of_polling_is_a_clean_stop(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever, caplog: pytest.LogCaptureFixture
) -> None:
    """SIGTERM or Ctrl-C in the moment after "ready" (while the updater starts: deleteWebhook,
    retried for long when the API is slow) ended in "the bot stopped: RuntimeError: no
    running event loop", exit 1."""
    fake.delay_next("deleteWebhook", 1.5)
    settings = make_settings(fake, tmp_path, telegram_journal=False)
    ready = threading.Event()
    real = logging.getLogger("bot.telegram")

    class Ready(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            if "is ready" in record.getMessage():
                ready.set()
            return True

    watcher = Ready()
    real.addFilter(watcher)
    try:
        stop_when(lambda: ready.is_set() and time.sleep(0.3) is None, timeout=15)
        run_bot(settings, retriever=retriever)  # stops, without an error
    finally:
        real.removeFilter(watcher)
    assert "Application.stop() complete" in caplog.text  # stopped the way a stop is made


async def test_a_stop_during_a_refresh_reads_no_further_feed(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM while /reload (or the timer) reads the feeds: the stop waited for every
    remaining feed, each up to FEEDQA_FETCH_DEADLINE_SECONDS (two minutes by default), and
    a scheduled refresh could even start meanwhile; a supervisor kills the bot first."""
    feeds = [f"https://feeds.example.com/{i}.xml" for i in range(4)]
    settings = make_settings(fake, tmp_path, feedqa_feeds=feeds, feedqa_refresh_minutes=30)
    fetched: list[str] = []
    release = threading.Event()

    def slow_load(source: str, **limits: Any) -> list[Article]:
        fetched.append(source)
        release.wait(5)
        return []

    monkeypatch.setattr(bot_refresh, "load_feed", slow_load)
    application = build_application(settings, retriever)
    async with running(application):
        reload = fake.push_message(ADMIN, "/reload")
        await next_message(fake, reload, "正在重新读取 4 个新闻源")
        await fake.wait_for(lambda: fetched)
        threading.Timer(0.5, release.set).start()
        started = time.monotonic()
    assert time.monotonic() - started < 3
    assert fetched == feeds[:1]  # none after the stop began

    class Context:
        bot_data = application.bot_data

    Context.application = application  # type: ignore[attr-defined]
    await refresh_job(Context())  # type: ignore[arg-type]  # a timer firing while it stops
    assert fetched == feeds[:1]


# --- webhook ------------------------------------------------------------------------------------


def test_a_webhook_port_already_taken_is_a_clear_error_before_telegram_is_told(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever
) -> None:
    """The port was found taken only after setWebhook had pointed Telegram at this bot, and
    the error was "the bot stopped: OSError: [Errno 98] Address already in use"."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = make_settings(
            fake, tmp_path, telegram_webhook_url="https://bot.example.com/hook",
            telegram_webhook_secret="s3cret", telegram_webhook_port=port,
        )  # fmt: skip
        with interrupt_after(10), pytest.raises(ConfigError, match=rf"127\.0\.0\.1:{port}"):
            run_bot(settings, webhook=True, retriever=retriever)
    assert not fake.calls_of("setWebhook", ok=None)


def test_a_webhook_listen_address_not_on_this_machine_blames_the_address_not_a_program(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever
) -> None:
    """Binding to an address no interface has (a documentation-range address: nothing is
    sent) said another program might use the port."""
    settings = make_settings(
        fake, tmp_path, telegram_webhook_url="https://bot.example.com/hook",
        telegram_webhook_secret="s3cret", telegram_webhook_listen="192.0.2.7",
    )  # fmt: skip
    with interrupt_after(10), pytest.raises(ConfigError) as info:
        run_bot(settings, webhook=True, retriever=retriever)
    message = str(info.value)
    assert "192.0.2.7" in message and "not an address of this machine" in message
    assert "another program" not in message
    assert not fake.calls_of("setWebhook", ok=None)


def test_a_webhook_port_that_needs_root_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """Port 443 for a bot run as a user: the kernel refuses the bind (EACCES), which was
    blamed on another program."""
    import bot.lifecycle

    def refused(self, address) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(bot.lifecycle.socket.socket, "bind", refused)
    with pytest.raises(ConfigError, match="ports below 1024 need root") as info:
        bot.lifecycle._check_listen("127.0.0.1", 443)
    assert "another program" not in str(info.value)


# --- a full disk --------------------------------------------------------------------------------


def test_a_journal_on_a_full_disk_is_reported_once_not_for_every_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Every message logged "Update N not journaled: No space left on device" (a busy bot:
    a line per message, onto the disk that is full); once is enough, and its recovery."""
    import bot.journal

    journal = UpdateJournal(tmp_path / "journal.jsonl")
    journal.open()
    queue = JournaledQueue(journal)
    real_write = bot.journal.os.write

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def update(n: int) -> Update:
        return Update.de_json({"update_id": n, "message": {"message_id": n, "date": 0,
                               "chat": {"id": 1, "type": "private"}, "text": "问题"}}, None)  # fmt: skip

    monkeypatch.setattr(bot.journal.os, "write", full)
    for n in range(1, 21):
        queue.put_nowait(update(n))
        queue.get_nowait()
        journal.done(n)
    errors = [r for r in caplog.records if r.name == "bot.journal" and r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "No space left on device" in errors[0].getMessage()
    monkeypatch.setattr(bot.journal.os, "write", real_write)
    queue.put_nowait(update(21))
    assert journal.pending == 1
    assert any("journal" in r.getMessage().lower() and r.levelno == logging.INFO
               for r in caplog.records if r.name == "bot.journal")  # fmt: skip
    journal.close()


async def test_questions_are_answered_while_the_journal_disk_is_full(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.journal

    settings = make_settings(fake, tmp_path, telegram_questions_per_minute=0)
    journal = UpdateJournal(tmp_path / "journal.jsonl")
    async with running(build_application(settings, retriever, journal=journal)):
        monkeypatch.setattr(
            bot.journal.os, "write", lambda fd, data: (_ for _ in ()).throw(OSError(28, "full"))
        )
        pushed = [fake.push_message(ALICE + i, "星河支付的CEO是谁?") for i in range(5)]
        for p in pushed:
            assert plain(await reply(fake, p)).startswith(ANSWER_CEO)
    await asyncio.sleep(0)


# --- Ctrl-C -------------------------------------------------------------------------------------


def test_ctrl_c_while_the_bot_starts_exits_130_as_documented(tmp_path: Path) -> None:
    """README: "Ctrl-C (exit 130, also while it starts)". `feedqa telegram` interrupted while
    it retried getMe exited 0 without a word, as if it had run and stopped normally."""
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{_free_port()}/bot",  # nothing there
        "TELEGRAM_STARTUP_RETRIES": "100",
        "FEEDQA_DATA_DIR": str(tmp_path / "data"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),  # this checkout's code, not an installed copy
    }
    bot = subprocess.Popen(
        [sys.executable, "-c", "from bot import main; main()", "telegram"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert bot.stderr is not None
        lines = []
        while not any("Starting the bot" in line for line in lines):
            line = bot.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
        time.sleep(0.3)  # in getMe's retries
        bot.send_signal(signal.SIGINT)
        assert bot.wait(15) == 130
        assert "Traceback" not in bot.stderr.read()
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()


# --- start-up -----------------------------------------------------------------------------------


def test_each_failed_start_up_attempt_is_said(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever, caplog: pytest.LogCaptureFixture
) -> None:
    """A Bot API down at start: with the default TELEGRAM_STARTUP_RETRIES the bot showed only
    "Starting the bot with long polling" for 75 s, then the error; as if it were running."""
    fake.fail_next("getMe", code=502, description="Bad Gateway")
    settings = make_settings(fake, tmp_path, telegram_journal=False)
    stop_when(lambda: fake.calls_of("setMyCommands"))
    caplog.set_level(logging.INFO)
    run_bot(settings, retriever=retriever)
    said = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and "attempt 1 of 9" in r.getMessage()
    ]
    assert len(said) == 1, caplog.text
    assert f"127.0.0.1:{fake.port}" in said[0] and "502" in said[0]


def test_a_stop_while_another_instance_polls_logs_no_traceback(
    fake: FakeBotApi, tmp_path: Path, retriever: Retriever, caplog: pytest.LogCaptureFixture
) -> None:
    """Stopped while getUpdates keeps failing (409 from another poller, an API down): the
    updater's last getUpdates at the stop logged "Error while calling `get_updates` one more
    time" with a 25-line traceback, the very traceback the polling note replaced."""
    fake.fail_next("getUpdates", code=409, description=CONFLICT, count=10_000)
    settings = make_settings(fake, tmp_path, telegram_journal=False)
    stop_when(lambda: len(fake.calls_of("getUpdates", ok=False)) >= 2, timeout=20)
    run_bot(settings, retriever=retriever)
    traced = [r for r in caplog.records if r.exc_info or r.exc_text]
    assert not traced, [f"{r.name}: {r.getMessage()}" for r in traced]


def test_a_journal_line_cut_short_by_a_full_disk_spoils_no_later_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a disk that fills up, write() writes what fits and returns less (no error); the
    next write fails with ENOSPC. The journal then said it could be written again, yet the
    first entry written after the recovery was glued to the cut line and lost: the message
    accepted then was not answered after a restart."""
    import bot.journal

    journal = UpdateJournal(tmp_path / "journal.jsonl")
    journal.open()
    real_write = bot.journal.os.write
    calls: list[int] = []

    def filling(fd: int, data: bytes) -> int:
        calls.append(len(data))
        if len(calls) == 1:  # what fits of the line
            return real_write(fd, data[: len(data) // 2])
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    def update(n: int) -> Update:
        return Update.de_json({"update_id": n, "message": {"message_id": n, "date": 0,
                               "chat": {"id": 1, "type": "private"}, "text": "问题"}}, None)  # fmt: skip

    queue = JournaledQueue(journal)
    monkeypatch.setattr(bot.journal.os, "write", filling)
    queue.put_nowait(update(1))  # cut short by the full disk
    queue.put_nowait(update(2))  # fails: the disk is full
    monkeypatch.setattr(bot.journal.os, "write", real_write)
    queue.put_nowait(update(3))  # space again: "can be written again"
    journal.close()
    again = UpdateJournal(tmp_path / "journal.jsonl")
    assert 3 in [u["update_id"] for u in again.open()]  # accepted once it could be written
    again.close()


def test_sigterm_while_the_library_opens_exits_0_as_documented(tmp_path: Path) -> None:
    """README: SIGTERM stops the bot with exit 0. While it opened the library (built from the
    bundled corpus the first time, or repaired) no handler was installed yet: the process
    died of the signal (exit 143 in a shell), without a word."""
    script = (
        "import os, signal, time\n"
        "import bot.lifecycle as lifecycle\n"
        "real = lifecycle._open_library\n"
        "def opening(settings):\n"
        "    os.kill(os.getpid(), signal.SIGTERM)  # a supervisor stops it meanwhile\n"
        "    time.sleep(0.5)\n"
        "    return real(settings)\n"
        "lifecycle._open_library = opening\n"
        "from bot import main\n"
        "main()\n"
    )
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{_free_port()}/bot",  # never reached
        "FEEDQA_DATA_DIR": str(tmp_path / "data"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-c", script, "telegram"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr
