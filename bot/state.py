"""What the bot's handlers share, kept in ``application.bot_data``."""

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from telegram import Update
from telegram.ext import ContextTypes

from retrieval import Answer, Retriever

from .chat import ButtonCache, ChatHistory, Presses, QuestionLimiter, Threads, Usage
from .settings import Settings

STATE_KEY = "feedqa"


@dataclass(frozen=True)
class Shown:
    """An answer the bot sent with buttons, and what its "更多" searches for: the question
    with the ones it followed up on, so further results stay on the subject."""

    answer: Answer
    query: str


@dataclass
class Turn:
    """The lock that keeps one history's questions in order, and the questions holding or
    awaiting it."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


@dataclass
class BotState:
    """Everything the handlers share."""

    settings: Settings
    retriever: Retriever
    history: ChatHistory
    limiter: QuestionLimiter
    inline_limiter: QuestionLimiter
    threads: Threads = field(default_factory=Threads)
    buttons: ButtonCache[Shown] = field(default_factory=ButtonCache)
    presses: Presses = field(default_factory=Presses)
    usage: Usage = field(default_factory=Usage)
    refresh_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    refreshed: datetime | None = None
    turns: dict[Any, Turn] = field(default_factory=dict)  # one question at a time
    started: bool = False  # getMe accepted the token: a 401 from now on means it was revoked
    initialized: bool = False  # post_init done: the updater starts next, then the application
    fatal: str | None = None  # why the bot must stop (a token revoked while running)
    polling_noted: dict[str, float] = field(default_factory=dict)  # kind of failed getUpdates:
    # when it was last logged


def bot_state(context: ContextTypes.DEFAULT_TYPE) -> BotState:
    """The state of the bot the handler runs in."""
    return context.bot_data[STATE_KEY]


def sender_id(update: Update) -> int | None:
    """Who sent the update, for limits and histories: the chat a message was sent on behalf
    of (an anonymous group admin's group, a channel), else the user."""
    message, user = update.effective_message, update.effective_user
    if message is not None and message.sender_chat is not None and update.callback_query is None:
        return message.sender_chat.id
    return user.id if user is not None else None


def is_admin(update: Update, state: BotState) -> bool:
    """Whether the update comes from a configured admin.

    Never a message sent on behalf of a chat (an anonymous group admin, a channel): its
    sender is a placeholder account shared by every such message in every chat
    (GroupAnonymousBot, Channel_Bot), so its id names no one. Nor a bot.
    """
    user, message = update.effective_user, update.effective_message
    if user is None or user.is_bot:
        return False
    if message is not None and message.sender_chat is not None:
        return False
    return user.id in state.settings.telegram_admin_ids
