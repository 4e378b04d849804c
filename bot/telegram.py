"""The Telegram bot: answers questions about the news archive with cited extracts.

`build_application` wires the handlers (bot/handlers.py) around a `Retriever`; `run_bot`
opens the user's library and runs the bot by long polling or by webhook, with a journal
of accepted updates (bot/journal.py) so a crash loses no question. Feeds are re-read on
/reload and on a timer.
"""

import asyncio
import logging
import re
import secrets
import signal
import socket
from typing import NoReturn
from urllib.parse import urlsplit

from telegram import Update
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from corpus.errors import ConfigError
from retrieval import Retriever

from .api import FloodLimiter, check_base_url, requests
from .buttons import on_button
from .chat import ChatHistory, QuestionLimiter, Threads
from .handlers import (
    ALLOWED_UPDATES,
    MAX_QUESTION_CHARS,
    guard_allowed_chats,
    on_about,
    on_ask,
    on_error,
    on_group_text,
    on_help,
    on_not_text,
    on_private_text,
    on_reset,
    on_start,
    on_stats,
    on_unknown_command,
    rate_limited,
)
from .inline import on_inline_query
from .journal import JOURNAL_KEY, JournaledProcessor, JournaledQueue, UpdateJournal
from .redact import protect_secrets, token_secrets
from .refresh import FeedResult, feed_urls, on_reload, refresh_feeds, refresh_job
from .settings import Settings
from .state import STATE_KEY, BotState
from .texts import COMMANDS

__all__ = [
    "ALLOWED_UPDATES",
    "MAX_QUESTION_CHARS",
    "BotState",
    "FeedResult",
    "FloodLimiter",
    "build_application",
    "feed_urls",
    "refresh_feeds",
    "refresh_job",
    "run_bot",
    "webhook_options",
]

logger = logging.getLogger(__name__)


async def _post_init(application: Application) -> None:
    """Register the command menu, and queue what the journal holds from the last run."""
    application.bot_data[STATE_KEY].started = True
    try:
        await application.bot.set_my_commands(COMMANDS)
    except TelegramError as exc:
        logger.warning("setMyCommands failed: %s", exc)
    if not application.bot.can_read_all_group_messages:
        logger.info(
            "Privacy mode is on: in groups the bot receives /ask@%s and replies to its "
            "messages, not @mentions",
            application.bot.username,
        )
    journal: UpdateJournal | None = application.bot_data.get(JOURNAL_KEY)
    if journal is not None and isinstance(application.update_queue, JournaledQueue):
        try:
            pending = await asyncio.to_thread(journal.open)
        except OSError as exc:
            raise ConfigError(
                f"cannot write the journal {journal.path} ({exc.strerror or exc}): make "
                "FEEDQA_DATA_DIR writable, or set TELEGRAM_JOURNAL=false"
            ) from None
        replayed = 0
        for data in pending:
            update = None
            if "message" in data or "edited_message" in data:
                try:
                    update = Update.de_json(data, application.bot)
                except Exception as exc:  # noqa: BLE001 (whatever a damaged entry raises)
                    logger.warning(
                        "Journal entry %s is no update; dropped (%s)", data["update_id"], exc
                    )
            if update is not None:
                application.update_queue.replay(update)
                replayed += 1
            else:  # dropped: inline queries and button presses expire within seconds
                journal.done(data["update_id"])
        if replayed:
            logger.info("Answering %d messages accepted before the last stop", replayed)
    application.bot_data[STATE_KEY].initialized = True
    logger.info("Bot @%s is ready", application.bot.username)


async def _post_shutdown(application: Application) -> None:
    journal: UpdateJournal | None = application.bot_data.get(JOURNAL_KEY)
    if journal is not None:
        journal.close()


# --- wiring ---------------------------------------------------------------------------------------


def _token(settings: Settings) -> str:
    token = (
        settings.telegram_bot_token.get_secret_value().strip()
        if settings.telegram_bot_token
        else ""
    )
    if not token:
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather and put its token in "
            ".env (TELEGRAM_BOT_TOKEN=123456:ABC...) or in the environment."
        )
    if any(c.isspace() or not c.isprintable() for c in token):
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN has a space or a line break inside: copy it again from "
            "@BotFather (it has the form 123456:ABC...)."
        )
    return token


def build_application(
    settings: Settings,
    retriever: Retriever,
    *,
    rate_limiter: BaseRateLimiter | None = None,
    journal: UpdateJournal | None = None,
) -> Application:
    """The bot's Application: handlers, shared state, flood control and the refresh job.

    journal: where accepted updates are kept until answered (`run_bot` passes one when
    TELEGRAM_JOURNAL is on); without it a crash loses the questions in flight.
    """
    token = _token(settings)
    check_base_url(settings.telegram_api_base_url)
    webhook_secret = (
        settings.telegram_webhook_secret.get_secret_value()
        if settings.telegram_webhook_secret
        else ""
    )
    protect_secrets(*token_secrets(token), webhook_secret)
    calls, updates = requests(settings.telegram_api_timeout_seconds)
    limiter = rate_limiter or FloodLimiter(max_retries=3, retries=settings.telegram_send_retries)
    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(settings.telegram_api_base_url)
        .base_file_url(_file_url(settings.telegram_api_base_url))
        .request(calls)
        .get_updates_request(updates)
        .rate_limiter(limiter)
        .defaults(Defaults(allow_sending_without_reply=True))
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
    )
    if journal is not None:
        builder = builder.update_queue(JournaledQueue(journal))
        builder = builder.concurrent_updates(JournaledProcessor(journal))
    else:
        builder = builder.concurrent_updates(True)
    application = builder.build()
    if journal is not None:
        application.bot_data[JOURNAL_KEY] = journal
    state = BotState(
        settings=settings,
        retriever=retriever,
        history=ChatHistory(
            settings.feedqa_history_turns, settings.feedqa_history_ttl_minutes * 60
        ),
        limiter=QuestionLimiter(settings.telegram_questions_per_minute),
        inline_limiter=QuestionLimiter(settings.telegram_inline_queries_per_minute),
        threads=Threads(),
    )
    application.bot_data[STATE_KEY] = state

    def unauthorized() -> bool:  # the token was revoked while running: stop, do not go deaf
        if state.started and state.fatal is None:  # at start-up, run_bot says it was rejected
            state.fatal = (
                "Telegram rejected TELEGRAM_BOT_TOKEN while the bot was running (401 "
                "Unauthorized): was it revoked? Stopping so a supervisor can restart it."
            )
            logger.error(state.fatal)
            application.stop_running()
        return state.fatal is not None

    calls.on_unauthorized = updates.on_unauthorized = unauthorized
    attempts = settings.telegram_startup_retries + 1
    failed: list[str] = []

    def get_me_failed(reason: str) -> None:  # at start-up, retried quietly for over a minute
        if state.started:
            return
        failed.append(reason)
        logger.warning(
            "getMe to the Telegram Bot API at %s failed (%s): attempt %d of %d%s",
            _shown(settings),
            reason,
            len(failed),
            attempts,
            "" if len(failed) >= attempts else "; retrying",
        )

    calls.on_get_me_failed = get_me_failed
    messages = filters.UpdateType.MESSAGES  # new and edited: an edit is asked anew
    private = filters.ChatType.PRIVATE & messages
    groups = filters.ChatType.GROUPS & messages
    new = filters.UpdateType.MESSAGE
    new_private = filters.ChatType.PRIVATE & new
    limited = rate_limited  # every reply counts toward the sender's per-minute limit
    application.add_handler(TypeHandler(Update, guard_allowed_chats), group=-1)
    application.add_handlers(
        [
            CommandHandler("start", limited(on_start), filters=new),
            CommandHandler("help", limited(on_help), filters=new),
            CommandHandler("ask", on_ask, filters=messages),  # limited as a question
            CommandHandler("reset", limited(on_reset), filters=new),
            CommandHandler("about", limited(on_about), filters=new),
            CommandHandler("reload", limited(on_reload), filters=new),
            CommandHandler("stats", limited(on_stats), filters=new),
            MessageHandler(private & filters.TEXT & ~filters.COMMAND, on_private_text),
            MessageHandler(groups & filters.TEXT & ~filters.COMMAND, on_group_text),
            MessageHandler(new & filters.COMMAND, on_unknown_command),  # limited if answered
            MessageHandler(private & filters.CAPTION & ~filters.TEXT, on_private_text),
            MessageHandler(
                new_private & ~filters.TEXT & ~filters.StatusUpdate.ALL, limited(on_not_text)
            ),
            CallbackQueryHandler(on_button),
            InlineQueryHandler(on_inline_query),
        ]
    )
    application.add_error_handler(on_error)
    urls = feed_urls(settings)
    if urls and settings.feedqa_refresh_minutes > 0 and application.job_queue is not None:
        interval = settings.feedqa_refresh_minutes * 60
        application.job_queue.run_repeating(
            refresh_job, interval=interval, first=10, name="refresh"
        )
    return application


def _file_url(base_url: str) -> str:
    """The file-download base matching a Bot API base URL (``…/bot`` → ``…/file/bot``)."""
    if base_url.endswith("/bot"):
        return f"{base_url[: -len('/bot')]}/file/bot"
    return base_url


def webhook_options(settings: Settings) -> dict[str, str | int]:
    """The arguments of ``run_webhook``/``start_webhook`` taken from the settings.

    Without TELEGRAM_WEBHOOK_SECRET a random secret is used for this run, so that only
    Telegram (which is told the secret by setWebhook) can post updates.
    """
    url = settings.telegram_webhook_url
    if not url:
        raise ConfigError(
            "TELEGRAM_WEBHOOK_URL is not set: webhook mode needs the public https URL "
            "Telegram should post updates to."
        )
    if settings.telegram_webhook_secret:
        secret = settings.telegram_webhook_secret.get_secret_value()
    else:
        secret = secrets.token_urlsafe(32)
        logger.warning("TELEGRAM_WEBHOOK_SECRET is not set; using a random secret for this run")
    protect_secrets(secret)
    return {
        "listen": settings.telegram_webhook_listen,
        "port": settings.telegram_webhook_port,
        "url_path": re.escape(urlsplit(url).path.lstrip("/")),  # the server reads a regex
        "webhook_url": url,
        "secret_token": secret,
    }


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
    _token(settings)
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
            retriever = _open_library(settings)
        return _run(settings, retriever, options, journal)
    finally:
        if journal is not None:
            journal.close()


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
    ptb = logging.getLogger("telegram.ext")
    if not any(isinstance(f, _OneLineBootstrapFailure) for f in ptb.filters):
        ptb.addFilter(_OneLineBootstrapFailure())
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
                f"the Bot API at {_shown(settings)} answered 404 Not Found: check "
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
            f"cannot reach the Telegram Bot API at {_shown(settings)} after {tries} "
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
        raise ConfigError(
            f"the webhook server cannot listen on {listen}:{port} ({reason}): another program "
            "(an earlier `feedqa telegram --webhook`?) may use the port; stop it, or set "
            "TELEGRAM_WEBHOOK_PORT or TELEGRAM_WEBHOOK_LISTEN"
        ) from None


class _OneLineBootstrapFailure(logging.Filter):
    """Drop the traceback the start-up retry loop logs when it gives up: `run_bot` reports
    the failure itself, in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "Bootstrap" in message and "Aborting" in message:
            record.exc_info, record.exc_text = None, None
        return True


def _shown(settings: Settings) -> str:
    """The API's address without the token or any path (for messages)."""
    parts = urlsplit(settings.telegram_api_base_url)
    return f"{parts.scheme}://{parts.netloc}"
