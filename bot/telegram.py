"""The Telegram bot: answers questions about the news archive with cited extracts.

`build_application` wires the handlers (bot/handlers.py) around a `Retriever`, with a
journal of accepted updates (bot/journal.py) so a crash loses no question; feeds are
re-read on /reload and on a timer. `bot.lifecycle.run_bot` runs it by long polling or by
webhook.
"""

import asyncio
import logging
import re
import secrets
from urllib.parse import urlsplit

from telegram import Update
from telegram.error import TelegramError
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


def bot_token(settings: Settings) -> str:
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
    token = bot_token(settings)
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
            api_address(settings),
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


def api_address(settings: Settings) -> str:
    """The API's address without the token or any path (for messages)."""
    parts = urlsplit(settings.telegram_api_base_url)
    return f"{parts.scheme}://{parts.netloc}"
