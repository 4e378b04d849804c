"""The bot's handlers: questions, commands and errors (buttons: `buttons.py`; inline
queries: `inline.py`; /reload: `refresh.py`)."""

import asyncio
import contextlib
import functools
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

from telegram import Message, MessageEntity, Update
from telegram.constants import ChatType
from telegram.error import Conflict, Forbidden, TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from retrieval.text import is_blank

from .buttons import answer_markup
from .format import format_answer
from .journal import is_retry, retry_later
from .replies import note, send_html, show_typing
from .state import BotState, Turn, bot_state, is_admin, sender_id
from .texts import (
    EMPTY_MESSAGE,
    EMPTY_QUESTION,
    ERROR_TEXT,
    HELP_TEXT,
    NOT_ADMIN,
    NOT_ALLOWED,
    NOT_TEXT,
    RESET_DONE,
    TOO_LONG,
    TOO_MANY,
    UNKNOWN_COMMAND,
)

logger = logging.getLogger(__name__)

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]

MAX_QUESTION_CHARS = 4000
"""Longer questions get a polite refusal."""
CITATIONS = 3
"""Citations under an answer."""
INLINE_RESULTS = 5
INLINE_CACHE_SECONDS = 10
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "inline_query"]
POLLING_NOTE_SECONDS = 600.0
"""A failure to poll the Bot API that goes on is said again this often, not at each retry."""


async def _answer_question(
    update: Update, context: ContextTypes.DEFAULT_TYPE, question: str
) -> None:
    """Answer one question in the update's chat, with history, limits and buttons."""
    message = update.effective_message
    if message is None:
        return
    state = bot_state(context)
    key = _history_key(update)
    async with _turn(state, key):  # taken before any await: a quick follow-up waits its turn
        await _answer_in_turn(update, context, message, state, key, question.strip())


async def _answer_in_turn(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    message: Message,
    state: BotState,
    key: Any,
    question: str,
) -> None:
    retried = is_retry(context.application, update)
    if not retried and await _flooding(update, state):  # counted when it first came
        return
    if is_blank(question):
        command = (message.text or "").startswith("/")
        await note(message, EMPTY_QUESTION if command else EMPTY_MESSAGE)
        return
    if len(question) > MAX_QUESTION_CHARS:
        await note(message, TOO_LONG.format(limit=MAX_QUESTION_CHARS))
        return
    await show_typing(message)
    chat_id = message.chat_id
    history = _thread_of(message, state, context.bot.id)
    if history is None:  # the questions before this one (an edited question's, before it)
        history = state.history.recent(key, before=message.message_id)
    await asyncio.to_thread(state.retriever.refresh)  # an ingest may have run beside the bot
    answer = await asyncio.to_thread(state.retriever.ask, question, history or None, CITATIONS)
    if not retried:  # remembered and counted when it was first answered (or since edited)
        state.history.remember(key, question, message.message_id)
        state.usage.count(chat_id, answer.answered)
    turns = state.settings.feedqa_history_turns
    thread = [*history, question][-turns:] if turns else []
    markup = answer_markup(state, answer, f"{answer.follows} {question}".strip())
    sent = await send_html(message, format_answer(answer), markup)
    state.threads.remember(chat_id, [m.message_id for m in sent], thread)


@contextlib.asynccontextmanager
async def _turn(state: BotState, key: Any) -> AsyncIterator[None]:
    """One history's turn, keeping its questions (and /reset) in the order they came. Its
    lock is kept while a question holds or awaits it, and forgotten with the last one."""
    turn = state.turns.setdefault(key, Turn())
    turn.users += 1
    try:
        async with turn.lock:
            yield
    finally:
        turn.users -= 1
        if not turn.users:
            del state.turns[key]


def _history_key(update: Update) -> int | tuple[int, int]:
    """Whose history a question joins: the chat's in a private chat, the sender's in a group."""
    chat, sender = update.effective_chat, sender_id(update)
    chat_id = chat.id if chat is not None else 0
    if chat is None or chat.type == ChatType.PRIVATE or sender is None:
        return chat_id
    return (chat_id, sender)


def _thread_of(message: Message, state: BotState, bot_id: int) -> list[str] | None:
    """For a reply to one of the bot's answers, the questions behind that answer."""
    replied = message.reply_to_message
    if replied is None or replied.from_user is None or replied.from_user.id != bot_id:
        return None
    return state.threads.questions(message.chat_id, replied.message_id)


def _addressed_question(message: Message, bot_id: int, username: str) -> str | None:
    """The question in a group message meant for the bot, or None if it is chatter."""
    text = message.text or ""
    mention = f"@{username}".lower()
    mentioned = any(
        _entity_text(text, entity).lower() == mention
        for entity in message.entities
        if entity.type == MessageEntity.MENTION
    )
    replied = message.reply_to_message
    to_bot = (
        replied is not None and replied.from_user is not None and replied.from_user.id == bot_id
    )
    if not (mentioned or to_bot):
        return None
    return _without_mention(text, username)


def _entity_text(text: str, entity: MessageEntity) -> str:
    """The text an entity covers (offsets in UTF-16 units). Unlike `Message.parse_entity`,
    any string: a lone surrogate does not raise."""
    units = text.encode("utf-16-le", "surrogatepass")
    span = units[entity.offset * 2 : (entity.offset + entity.length) * 2]
    return span.decode("utf-16-le", "surrogatepass")


def _without_mention(text: str, username: str) -> str:
    return re.sub(rf"@{re.escape(username)}\b", " ", text, flags=re.IGNORECASE).strip()


def _sent_via_me(message: Message, bot_id: int) -> bool:
    """True for a message the user posted through the bot's own inline mode."""
    return message.via_bot is not None and message.via_bot.id == bot_id


# --- handlers -----------------------------------------------------------------------------------


async def guard_allowed_chats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stop updates from chats outside TELEGRAM_ALLOWED_CHAT_IDS (when that list is set)."""
    state = bot_state(context)
    allowed = state.settings.telegram_allowed_chat_ids
    if not allowed or is_admin(update, state):
        return
    chat, user = update.effective_chat, update.effective_user
    where = chat.id if chat is not None else (user.id if user is not None else None)
    if where in allowed:
        return
    if update.callback_query is not None:
        await update.callback_query.answer(NOT_ALLOWED)
    elif update.inline_query is not None:
        await update.inline_query.answer([], cache_time=INLINE_CACHE_SECONDS, is_personal=True)
    elif chat is not None and chat.type == ChatType.PRIVATE and update.effective_message:
        await update.effective_message.reply_text(NOT_ALLOWED)
    raise ApplicationHandlerStop


async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Say what the bot is and suggest three questions drawn from the archive."""
    examples = await asyncio.to_thread(bot_state(context).retriever.example_questions, 3)
    lines = [
        "你好!我是新闻问答机器人:向我提问,我从新闻资料库中摘出答案,并注明出处(文章、日期、段落)。",
    ]
    if examples:
        lines += ["", "可以试试这些问题:", *(f"• {q}" for q in examples)]
    lines += ["", "/help 查看用法,/about 查看资料库。"]
    await update.effective_message.reply_text("\n".join(lines))


async def on_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Explain how to ask, follow up, use groups, inline mode and the buttons."""
    mention = "" if not context.bot.can_read_all_group_messages else ",或 @我 并写上问题"
    text = HELP_TEXT.format(username=context.bot.username, mention=mention)
    await update.effective_message.reply_text(text)


async def on_ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer ``/ask question`` (or ``/ask`` in reply to a message holding the question)."""
    message = update.effective_message
    parts = (message.text or "").split(maxsplit=1)
    question = parts[1] if len(parts) > 1 else ""
    replied = message.reply_to_message
    if not question.strip() and replied is not None and replied.text:
        question = replied.text
    await _answer_question(update, context, question)


async def on_reset(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Forget the earlier questions (the chat's, or in a group the user's)."""
    state, key = bot_state(context), _history_key(update)
    async with _turn(state, key):  # after the questions sent before it
        state.history.forget(key)
    await update.effective_message.reply_text(RESET_DONE)


def _day(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else "未知"


async def on_about(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Report the archive's size, date range and last refresh."""
    state = bot_state(context)
    info = await asyncio.to_thread(state.retriever.info)
    refreshed = (
        state.refreshed.astimezone().strftime("%Y-%m-%d %H:%M")
        if state.refreshed
        else "启动以来尚未更新"
    )
    await update.effective_message.reply_text(
        "新闻问答机器人:答案摘自资料库中的文章,并注明出处。\n"
        f"资料库:{info['articles']} 篇文章,{info['paragraphs']} 段\n"
        f"时间范围:{_day(info.get('first'))} 至 {_day(info.get('last'))}\n"
        f"最近更新:{refreshed}"
    )


async def on_stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Admins only: questions answered, abstentions, chats, uptime and index size."""
    state = bot_state(context)
    if not is_admin(update, state):
        await update.effective_message.reply_text(NOT_ADMIN)
        return
    info = await asyncio.to_thread(state.retriever.info)
    uptime = int(time.time() - state.usage.started)
    hours, rest = divmod(uptime, 3600)
    await update.effective_message.reply_text(
        f"已回答:{state.usage.answered}\n"
        f"未找到答案:{state.usage.abstained}\n"
        f"聊天数:{len(state.usage.chats)}\n"
        f"运行时间:{hours} 小时 {rest // 60} 分 {rest % 60} 秒\n"
        f"索引:{info['articles']} 篇文章,{info['paragraphs']} 段"
    )


async def on_private_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """In a private chat every text message is a question (except answers shared inline)."""
    message = update.effective_message
    if _sent_via_me(message, context.bot.id):
        return
    text = message.text if message.text is not None else (message.caption or "")
    await _answer_question(update, context, _without_mention(text, context.bot.username))


async def on_group_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """In a group, answer replies to the bot and messages mentioning it; ignore chatter."""
    message = update.effective_message
    if _sent_via_me(message, context.bot.id):
        return
    question = _addressed_question(message, context.bot.id, context.bot.username)
    if question is not None:
        await _answer_question(update, context, question)


async def on_not_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, photos, voice and files get a hint to ask in words."""
    await update.effective_message.reply_text(NOT_TEXT)


def rate_limited(handler: Handler) -> Handler:
    """The handler, run only while its sender is under the per-minute limit: every message
    that gets a reply counts, commands and stickers as much as questions."""

    @functools.wraps(handler)
    async def limited(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await _flooding(update, bot_state(context)):
            await handler(update, context)

    return limited


async def _flooding(update: Update, state: BotState) -> bool:
    """Whether the sender is over the per-minute limit (counted for every message that gets
    a reply); they are told once per window in each chat, not once per message."""
    sender, message = sender_id(update), update.effective_message
    if sender is None or message is None or state.limiter.allow(sender):
        return False
    if state.limiter.notice_due(sender, message.chat_id):
        seconds = state.limiter.retry_after(sender)
        limit = state.settings.telegram_questions_per_minute
        await note(message, TOO_MANY.format(limit=limit, seconds=seconds))
    return True


async def on_unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Point to /help for commands the bot does not know. In a group only a command addressed
    to the bot (/weather@this_bot) is its own: a bare /weather may be another bot's."""
    message = update.effective_message
    if message.chat.type != ChatType.PRIVATE:
        command = (message.text or "").partition(" ")[0]
        if not command.lower().endswith(f"@{context.bot.username}".lower()):
            return
    if not await _flooding(update, bot_state(context)):
        await message.reply_text(UNKNOWN_COMMAND)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure and tell the user something went wrong; the bot keeps running. A
    message whose answer an outage stopped is handled again later instead."""
    if update is None and isinstance(context.error, TelegramError):  # getUpdates failed
        _note_polling_failure(context)
        return
    update_id = update.update_id if isinstance(update, Update) else None
    if isinstance(update, Update) and retry_later(context.application, update, context.error):
        logger.warning("Update %s failed (%s); handled again later", update_id, context.error)
        return
    if isinstance(context.error, Forbidden):  # blocked, or removed from the chat: no one to tell
        logger.warning("Update %s: the chat is closed to the bot (%s)", update_id, context.error)
        return
    logger.error("Update %s failed", update_id, exc_info=context.error)
    if not isinstance(update, Update):
        return
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(ERROR_TEXT)
        elif update.effective_message is not None and update.effective_chat is not None:
            await note(update.effective_message, ERROR_TEXT)
    except TelegramError as exc:
        logger.warning("Could not report the error to the chat: %s", exc)


def _note_polling_failure(context: ContextTypes.DEFAULT_TYPE) -> None:
    """One line for a failed getUpdates (python-telegram-bot retries it, every 30 s at most):
    no traceback, and a failure of the same kind said again only after POLLING_NOTE_SECONDS
    (a network that alternates between two failures says each once)."""
    error = context.error
    if isinstance(error, Conflict):
        line = (
            f"Telegram refused getUpdates (409 {error.message}): another process is polling "
            "with this bot token (a second `feedqa telegram`?) or a webhook was set; each "
            "gets only some of the messages until it stops. Retrying"
        )
    else:
        line = f"Polling the Bot API failed ({error}); retrying"
    noted, kind, now = bot_state(context).polling_noted, type(error).__name__, time.monotonic()
    if kind not in noted or now - noted[kind] >= POLLING_NOTE_SECONDS:
        noted[kind] = now
        logger.warning(line)
