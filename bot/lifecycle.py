"""Running the bot as a process: one per data folder (its journal locked), the webhook's
address checked before Telegram is told of it, the library opened, and a clean stop on
SIGINT, SIGTERM or SIGABRT, also while the bot starts."""

import asyncio
import contextlib
import errno
import logging
import signal
import socket
import threading
from collections.abc import Iterator
from typing import NoReturn

from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application

from corpus.errors import ConfigError
from retrieval import Retriever

from .api import check_base_url
from .handlers import ALLOWED_UPDATES
from .journal import UpdateJournal
from .settings import Settings
from .state import STATE_KEY, BotState
from .telegram import api_address, bot_token, build_application, webhook_options

logger = logging.getLogger(__name__)


def run_bot(
    settings: Settings, *, webhook: bool = False, retriever: Retriever | None = None
) -> int | None:
    """Run the bot until interrupted: long polling, or a webhook server with ``webhook=True``;
    the signal that stopped it (SIGINT, SIGTERM or SIGABRT), if one did.

    Opens the user's library (building it from the bundled corpus if needed) unless a
    retriever is given. A failing getMe at start-up is retried TELEGRAM_STARTUP_RETRIES
    times. Raises ConfigError for a missing or rejected token, a wrong API address, an
    API that stays unreachable, a missing webhook URL, or a token revoked while running.
    """
    bot_token(settings)
    check_base_url(settings.telegram_api_base_url)
    options = webhook_options(settings) if webhook else None
    if not logging.getLogger().handlers:
        logging.basicConfig(
            format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO
        )
    journal = UpdateJournal(settings.journal_path) if settings.telegram_journal else None
    try:
        if journal is not None:  # one bot per data folder: refused before anything else
            _lock(journal)
        if options is not None:  # before Telegram is told to post to it
            _check_listen(str(options["listen"]), int(options["port"]))
        if retriever is None:
            try:
                with _sigterm_interrupts():  # as Ctrl-C does (KeyboardInterrupt): exit 0
                    retriever = _open_library(settings)
            except _Terminated:
                logger.info("Stopped (SIGTERM) while the library was being opened")
                return signal.SIGTERM
        return _run(settings, retriever, options, journal)
    finally:
        if journal is not None:
            journal.close()


class _Terminated(Exception):
    """SIGTERM, before the bot's own signal handling is set up."""


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM interrupts the work in this block (opening the library: the first time, it is
    built; a damaged one is repaired), instead of killing the process without a word."""

    def interrupt(signum: int, frame: object) -> NoReturn:
        raise _Terminated

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _lock(journal: UpdateJournal) -> None:
    try:
        journal.lock()
    except OSError as exc:
        raise ConfigError(
            f"cannot write the journal {journal.path} ({exc.strerror or exc}): make "
            "FEEDQA_DATA_DIR writable, or set TELEGRAM_JOURNAL=false"
        ) from None


def _open_library(settings: Settings) -> Retriever:
    try:
        retriever = Retriever.open(
            settings.index_dir,
            min_confidence=settings.feedqa_min_confidence,
            lock_timeout=settings.feedqa_lock_timeout_seconds,
            catch_up=False,  # a running ingest does not hold the bot up
        )
    except OSError as exc:
        raise ConfigError(f"cannot open the library at {settings.index_dir}: {exc}") from exc
    for note in retriever.repairs:
        logger.warning("Library: %s", note)
    return retriever


def _run(
    settings: Settings,
    retriever: Retriever,
    options: dict[str, str | int] | None,
    journal: UpdateJournal | None,
) -> int | None:
    """`run_bot`'s work once the library is open and the data folder is this bot's."""
    application = build_application(settings, retriever, journal=journal)
    for name, kind in (
        ("telegram.ext", _OneLineBootstrapFailure),
        ("telegram.ext.Updater", _OneLineLastPoll),
    ):
        ptb = logging.getLogger(name)  # a logger's filters do not apply to its children
        if not any(isinstance(f, kind) for f in ptb.filters):
            ptb.addFilter(kind())
    state: BotState = application.bot_data[STATE_KEY]
    retries = settings.telegram_startup_retries
    received: list[int] = []
    stop_signals = _stop_on_signals(application, state, received)
    try:
        if options is not None:
            logger.info(
                "Starting the webhook server on %s:%s for %s",
                options["listen"],
                options["port"],
                options["webhook_url"],
            )
            application.run_webhook(
                **options,  # type: ignore[arg-type]
                allowed_updates=ALLOWED_UPDATES,
                bootstrap_retries=retries,
                stop_signals=stop_signals,
            )
        else:
            logger.info("Starting the bot with long polling")
            application.run_polling(
                allowed_updates=ALLOWED_UPDATES,
                bootstrap_retries=retries,
                stop_signals=stop_signals,
            )
    except InvalidToken as exc:
        if state.fatal:  # revoked while running, and seen by a call before the stop
            raise ConfigError(state.fatal) from None
        if "not found" in str(exc.__cause__ or exc).lower():  # 404, not 401 Unauthorized
            raise ConfigError(
                f"the Bot API at {api_address(settings)} answered 404 Not Found: check "
                "TELEGRAM_API_BASE_URL and that TELEGRAM_BOT_TOKEN has the form 123456:ABC..."
            ) from None
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN was rejected by Telegram: check the token @BotFather gave you."
        ) from None
    except RuntimeError:  # python-telegram-bot's start-up, broken by a second stop signal
        if len(received) < 2:
            raise
        logger.warning("Stopped at once, while the bot was starting")
    except NetworkError as exc:
        tries = f"{retries + 1} attempts" if retries else "1 attempt"
        raise ConfigError(
            f"cannot reach the Telegram Bot API at {api_address(settings)} after {tries} "
            f"({exc.message}): check TELEGRAM_API_BASE_URL and the network."
        ) from None
    if state.fatal:
        raise ConfigError(state.fatal)
    return received[0] if received else None


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGABRT)


def _stop_on_signals(
    application: Application, state: BotState, received: list[int]
) -> tuple[int, ...] | None:
    """Stop the bot on SIGINT, SIGTERM and SIGABRT (each one is added to `received`); the
    stop signals for `run_polling` (None: handled here; python-telegram-bot's own where this
    loop cannot take them).

    Like python-telegram-bot's own handler, a signal raises SystemExit in the event loop,
    which `run_polling` takes for a stop. But while the updater starts (deleteWebhook or
    setWebhook, retried for long while the API is down) that broke its start-up half-way
    ("RuntimeError: no running event loop"): a signal then stops the bot as soon as the
    application runs, and only a second one at once.
    """
    try:
        loop = asyncio.get_event_loop()
    except RuntimeError:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    deferred: list[asyncio.Task] = []

    def stop() -> NoReturn:
        raise SystemExit

    async def stop_once_running() -> None:
        while not application.running:
            await asyncio.sleep(0.05)
        loop.call_soon(stop)  # out of the event loop, as from the signal handler itself

    def on_signal(signum: int) -> None:
        received.append(signum)
        if state.initialized and not application.running and not deferred:  # updater starts
            logger.info("Stopping as soon as the bot has started (again to stop at once)")
            deferred.append(loop.create_task(stop_once_running()))
            return
        stop()

    try:
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, on_signal, sig)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, say
        return STOP_SIGNALS
    return None


def _check_listen(listen: str, port: int) -> None:
    """ConfigError unless the webhook server can listen on `listen`:`port` (checked before
    setWebhook tells Telegram to post there)."""
    try:
        infos = socket.getaddrinfo(listen, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
            probe.bind(address)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EADDRNOTAVAIL:
            advice = (
                f"{listen} is not an address of this machine; set TELEGRAM_WEBHOOK_LISTEN to "
                "one of its addresses, or 0.0.0.0 for all of them"
            )
        elif exc.errno == errno.EACCES:
            advice = "ports below 1024 need root; set TELEGRAM_WEBHOOK_PORT to a higher one"
        else:
            advice = (
                "another program (an earlier `feedqa telegram --webhook`?) may use the port; "
                "stop it, or set TELEGRAM_WEBHOOK_PORT or TELEGRAM_WEBHOOK_LISTEN"
            )
        raise ConfigError(
            f"the webhook server cannot listen on {listen}:{port} ({reason}): {advice}"
        ) from None


class _OneLineBootstrapFailure(logging.Filter):
    """Drop the traceback the start-up retry loop logs when it gives up: `run_bot` reports
    the failure itself, in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "Bootstrap" in message and "Aborting" in message:
            record.exc_info, record.exc_text = None, None
        return True


class _OneLineLastPoll(logging.Filter):
    """One warning line, not a traceback, for the updater's last getUpdates at a stop that
    fails as polling did (409 from another poller, an API down): said once while polling."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, TelegramError) and "one more time" in record.getMessage():
            record.msg = (
                "The last getUpdates at the stop failed (%s): updates fetched since the "
                "last one may be fetched again at the next start"
            )
            record.args = (error,)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True
